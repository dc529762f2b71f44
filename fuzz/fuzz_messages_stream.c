/*
 * Fuzz target: arbitrary bytes as the SSE body of a streamed Messages response,
 * through a full exchange into the memory sink. The first byte picks the chunking and
 * the outcome, so cut streams and cancellations are covered too. Must never crash,
 * hang or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/braintrust.h"
#include "exchange_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bt_anthropic *anthropic = harness_get(4096);
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    static const char req[] = "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":16,\"stream\":true,"
                              "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    static const bt_header rs[] = {{"content-type", 12, "text/event-stream", 17},
                                   {"request-id", 10, "req_fuzz", 8}};
    bt_exchange *ex = NULL;
    bt_exchange_begin(anthropic, "POST", "/v1/messages?beta=true", NULL, 0, NULL, &ex);
    bt_exchange_request_body(ex, req, sizeof req - 1);
    bt_exchange_response_headers(ex, (mode & 0x80) ? 529 : 200, rs, 2);
    size_t step = (mode & 0x0f) + 1;
    for (size_t i = 0; i < size; i += step)
        bt_exchange_response_body(ex, data + i, size - i < step ? size - i : step);
    bt_exchange_end(ex, (bt_exchange_outcome)((mode >> 4) % 3), NULL);
    harness_after_run();
    return 0;
}
