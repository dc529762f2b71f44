/*
 * Fuzz target: arbitrary bytes split into a Messages request body and a JSON response
 * body (at the first NUL byte), through a full exchange into the memory sink. The
 * first byte picks the endpoint, the status and the chunking. Must never crash, hang
 * or leak.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/braintrust.h"

static bt_tracer *tracer;
static bt_sink *memory;
static bt_anthropic *anthropic;
static unsigned runs;

static void cleanup(void)
{
    bt_anthropic_free(anthropic);
    bt_tracer_free(tracer);
}

static void setup(void)
{
    if (tracer)
        return;
    bt_tracer_new(&tracer);
    bt_sink_memory_new(&memory);
    bt_tracer_add_sink(tracer, memory);
    bt_tracer_start(tracer);
    bt_anthropic_new(tracer, &anthropic);
    bt_anthropic_set_body_limit(anthropic, 8192);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    setup();
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
    bt_exchange *ex = NULL;
    bt_exchange_begin(anthropic, "POST", (mode & 1) ? "/v1/messages/count_tokens" : "/proxy/v1/messages", NULL, 0,
                      NULL, &ex);
    size_t step = ((mode >> 4) & 7) * 13 + 1;
    for (size_t i = 0; i < req_len; i += step)
        bt_exchange_request_body(ex, data + i, req_len - i < step ? req_len - i : step);
    bt_exchange_response_headers(ex, statuses[(mode >> 1) & 7], rs, 1);
    for (size_t i = 0; i < resp_len; i += step)
        bt_exchange_response_body(ex, resp + i, resp_len - i < step ? resp_len - i : step);
    bt_exchange_end(ex, (mode & 0x80) ? BT_EXCHANGE_TRANSPORT_ERROR : BT_EXCHANGE_COMPLETED, NULL);
    if (++runs % 64 == 0) {
        bt_tracer_flush(tracer, 10000);
        bt_sink_memory_clear(memory);
    }
    return 0;
}
