/*
 * Fuzz target: arbitrary bytes as a batch results body, traced through a real
 * exchange (routing, the results handler, the NDJSON splitter, the batch trace and its
 * correlation lookups) on an enabled tracer. The first byte picks the chunk size so
 * line boundaries fall everywhere. Spans go to a memory sink that is cleared each run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/braintrust.h"

static bt_tracer *tracer;
static bt_anthropic *anthropic;
static bt_sink *sink;

static uint64_t fixed_clock(void *ud)
{
    (void)ud;
    return 1782149670000000000ull;
}

static void setup(void)
{
    if (bt_tracer_new(&tracer) || bt_sink_memory_new(&sink))
        abort();
    bt_tracer_set_clock(tracer, fixed_clock, NULL);
    bt_tracer_add_sink(tracer, sink);
    bt_tracer_start(tracer);
    if (bt_anthropic_new(tracer, &anthropic))
        abort();
    /* One create so that some custom_ids have an input to re-join. */
    static const char body[] =
        "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"model\":\"m\",\"max_tokens\":5,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"system\":\"s\"}}]}";
    static const char resp[] =
        "{\"id\":\"msgbatch_fuzz\",\"type\":\"message_batch\",\"processing_status\":\"ended\","
        "\"created_at\":\"2026-06-22T17:34:30.651249+00:00\","
        "\"ended_at\":\"2026-06-22T17:40:00Z\"}";
    bt_exchange *ex = NULL;
    bt_exchange_begin(anthropic, "POST", "/v1/messages/batches", NULL, 0, NULL, &ex);
    bt_exchange_request_body(ex, body, sizeof body - 1);
    bt_exchange_response_headers(ex, 200, NULL, 0);
    bt_exchange_response_body(ex, resp, sizeof resp - 1);
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!tracer)
        setup();
    size_t chunk = size ? (size_t)data[0] * 7 + 1 : 1;
    bt_exchange *ex = NULL;
    bt_exchange_begin(anthropic, "GET", "/v1/messages/batches/msgbatch_fuzz/results", NULL, 0, NULL, &ex);
    if (!ex)
        abort();
    bt_exchange_response_headers(ex, 200, NULL, 0);
    for (size_t off = 0; off < size; off += chunk)
        bt_exchange_response_body(ex, data + off, size - off < chunk ? size - off : chunk);
    bt_exchange_info info;
    bt_exchange_end(ex, (size && data[0] & 1) ? BT_EXCHANGE_TRANSPORT_ERROR : BT_EXCHANGE_COMPLETED, &info);
    if (!info.span_name)
        abort();
    bt_sink_memory_clear(sink);
    return 0;
}
