/*
 * Fuzz target: Managed Agents session calls through a full exchange. The first byte
 * picks the call (create, send, list page, SSE stream), the status and the chunking; the
 * rest is the response body (for send and create the request body is the same bytes).
 * Event shapes that make model requests, tool calls and their results are in the seeds.
 * Must never crash, hang or leak; the session roots are closed now and then.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/braintrust.h"
#include "exchange_harness.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    bt_anthropic *anthropic = harness_get(8192);
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    data++;
    size--;
    static const char *const targets[] = {"/v1/sessions?beta=true", "/v1/sessions/sesn_f/events?beta=true",
                                          "/v1/sessions/sesn_f/events?beta=true",
                                          "/v1/sessions/sesn_f/threads/sthr_1/stream?beta=true"};
    static const char *const methods[] = {"POST", "POST", "GET", "GET"};
    unsigned call = mode & 3;
    static const int statuses[] = {200, 200, 200, 404};
    const char *ct = call == 3 ? "text/event-stream" : "application/json";
    bt_header rs[] = {{"content-type", 12, ct, strlen(ct)}};
    bt_exchange *ex = NULL;
    bt_exchange_begin(anthropic, methods[call], targets[call], NULL, 0, NULL, &ex);
    if (call < 2)
        bt_exchange_request_body(ex, data, size);
    bt_exchange_response_headers(ex, statuses[(mode >> 2) & 3], rs, 1);
    size_t step = ((mode >> 4) & 7) * 17 + 1;
    for (size_t i = 0; i < size; i += step)
        bt_exchange_response_body(ex, data + i, size - i < step ? size - i : step);
    bt_exchange_end(ex, (mode & 0x80) ? BT_EXCHANGE_CLIENT_CANCELLED : BT_EXCHANGE_COMPLETED, NULL);
    if ((mode & 0x3c) == 0x3c)
        bt_anthropic_close_sessions(anthropic);
    harness_after_run();
    return 0;
}
