/*
 * Fuzz target for the span store's line decoder (stored OTLP JSON span lines back into
 * spans, for shipping after a restart). Invariant: whatever decodes, re-encodes to a
 * line that decodes again to the same line — the store never ships something other
 * than what it can read back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/otlp_json.h"
#include "export/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bt__stored_span first;
    if (bt__stored_span_decode((const char *)data, size, &first) != 0)
        return 0;
    bt__buf line1, line2;
    bt__buf_init(&line1, 64u << 20);
    bt__buf_init(&line2, 64u << 20);
    if (bt__otlp_json_span_line(&first.resource, first.span, &line1) == 0) {
        bt__stored_span second;
        if (bt__stored_span_decode(line1.data, line1.len, &second) != 0)
            abort(); /* our own encoding must always decode */
        if (bt__otlp_json_span_line(&second.resource, second.span, &line2) != 0)
            abort();
        if (line1.len != line2.len || memcmp(line1.data, line2.data, line1.len) != 0)
            abort(); /* decode(encode(x)) must be a fixed point */
        bt__stored_span_free(&second);
    }
    bt__buf_free(&line1);
    bt__buf_free(&line2);
    bt__stored_span_free(&first);
    return 0;
}
