/*
 * Fuzz target: arbitrary bytes split into a Messages request body and a JSON response
 * body (at the first NUL byte), through a full exchange into the memory sink. The
 * first byte picks the endpoint, the status and the chunking; an odd-length request is
 * a call of an agent session. Must never crash, hang or leak.
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
    const uint8_t *nul = memchr(data, 0, size);
    size_t req_len = nul ? (size_t)(nul - data) : 0;
    const uint8_t *resp = nul ? nul + 1 : data;
    size_t resp_len = size - (nul ? req_len + 1 : 0);
    static const int statuses[] = {200, 200, 400, 404, 429, 500, 502, 529};
    static const bt_header rs[] = {{"content-type", 12, "application/json", 16}};
    /* odd request lengths are calls of an agent session: turns, tool round trips, roots */
    static const bt_header session[] = {{"x-claude-code-session-id", 24, "fuzz-session", 12}};
    bt_exchange *ex = NULL;
    bt_exchange_begin(anthropic, "POST", (mode & 1) ? "/v1/messages/count_tokens" : "/proxy/v1/messages",
                      session, req_len & 1, NULL, &ex);
    size_t step = ((mode >> 4) & 7) * 13 + 1;
    for (size_t i = 0; i < req_len; i += step)
        bt_exchange_request_body(ex, data + i, req_len - i < step ? req_len - i : step);
    bt_exchange_response_headers(ex, statuses[(mode >> 1) & 7], rs, 1);
    for (size_t i = 0; i < resp_len; i += step)
        bt_exchange_response_body(ex, resp + i, resp_len - i < step ? resp_len - i : step);
    bt_exchange_end(ex, (mode & 0x80) ? BT_EXCHANGE_TRANSPORT_ERROR : BT_EXCHANGE_COMPLETED, NULL);
    if ((mode & 0x0f) == 0x0f)
        bt_anthropic_close_sessions(anthropic);
    harness_after_run();
    return 0;
}
