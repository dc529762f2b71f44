/*
 * An adapter that feeds the exchange later than the bytes arrived (bt-proxy hands them
 * to a tracing thread through a queue): bt_exchange_options.start_unix_nano and
 * bt_exchange_set_time keep the span's start, end and time to first token those of the
 * traffic, whatever the clock says when the calls are made; bt_exchange_lost marks a
 * span whose bytes the adapter could not all hand over.
 */
#include "msg_harness.h"

#define H(n, v)                            \
    {                                      \
        n, sizeof(n) - 1, v, sizeof(v) - 1 \
    }

static const bt_header sse_ct[] = {H("content-type", "text/event-stream")};
static const char *const stream_req = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"stream\":true,"
                                      "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *const sse_start =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":10,"
    "\"output_tokens\":1}}}\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
static const char *const sse_delta =
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n";
static const char *const sse_end =
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":5}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

#define SEC 1000000000ull

static json_t *take(harness *h)
{
    char *line = harness_take_span(h);
    assert_non_null(line);
    json_t *span = json_loads(line, 0, NULL);
    free(line);
    assert_non_null(span);
    return span;
}

static uint64_t u64(json_t *span, const char *key)
{
    json_t *v = json_object_get(span, key);
    return json_is_string(v) ? strtoull(json_string_value(v), NULL, 10) : (uint64_t)json_integer_value(v);
}

static void test_times_are_the_traffic_s(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    uint64_t t0 = h_now - 100 * SEC; /* the traffic happened well before the calls */
    bt_exchange_options opts = {0};
    opts.start_unix_nano = t0;
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", NULL, 0, &opts, &ex), BT_OK);
    assert_non_null(ex);
    bt_exchange_request_body(ex, stream_req, strlen(stream_req));
    bt_exchange_set_time(ex, t0 + 1 * SEC);
    bt_exchange_response_headers(ex, 200, sse_ct, 1);
    bt_exchange_response_body(ex, sse_start, strlen(sse_start));
    bt_exchange_set_time(ex, t0 + 3 * SEC); /* the first content arrived 3 s in */
    bt_exchange_response_body(ex, sse_delta, strlen(sse_delta));
    bt_exchange_set_time(ex, t0 + 5 * SEC);
    bt_exchange_response_body(ex, sse_end, strlen(sse_end));
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);

    json_t *s = take(&h);
    assert_true(u64(s, "startTimeUnixNano") == t0);
    assert_true(u64(s, "endTimeUnixNano") == t0 + 5 * SEC);
    json_t *m = span_json(s, "braintrust.metrics");
    assert_true(json_real_value(json_object_get(m, "time_to_first_token")) == 3.0);
    json_decref(m);
    assert_int_equal(span_status_code(s), 0);
    json_decref(s);

    /* without the dates, the clock at each call is used, as before */
    ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, stream_req, strlen(stream_req));
    bt_exchange_response_headers(ex, 200, sse_ct, 1);
    bt_exchange_response_body(ex, sse_start, strlen(sse_start));
    bt_exchange_end(ex, BT_EXCHANGE_CLIENT_CANCELLED, NULL);
    s = take(&h);
    assert_true(u64(s, "startTimeUnixNano") == h_now);
    assert_true(u64(s, "endTimeUnixNano") == h_now);
    json_decref(s);
    harness_free(&h);
}

static void test_lost_bytes_mark_the_span(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, stream_req, strlen(stream_req));
    bt_exchange_response_headers(ex, 200, sse_ct, 1);
    bt_exchange_response_body(ex, sse_start, strlen(sse_start));
    bt_exchange_lost(ex, "tracing fell behind");
    bt_exchange_lost(ex, "a second reason is not kept");
    bt_exchange_response_body(ex, sse_delta, strlen(sse_delta)); /* ignored after the loss */
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    json_t *s = take(&h);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_true(json_is_true(json_object_get(md, "truncated")));
    assert_string_equal(json_string_value(json_object_get(md, "decode_error")), "tracing fell behind");
    json_decref(md);
    json_decref(s);

    bt_exchange_lost(NULL, "nothing to mark"); /* accepted like every exchange call */
    bt_exchange_set_time(NULL, 1);
    harness_free(&h);
}

/* A batch's results read from bytes fed later: with no batch object on record (its
 * create and retrieve were not seen), the batch trace is dated by when the results
 * bytes were seen, not by when the tracing thread got to them. */
static void test_batch_results_without_a_batch_object(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    uint64_t t0 = h_now - 100 * SEC;
    static const bt_header jsonl_ct[] = {H("content-type", "application/binary")};
    static const char line[] =
        "{\"custom_id\":\"r1\",\"result\":{\"type\":\"succeeded\",\"message\":{\"id\":\"msg_b\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-haiku-4-5\",\"content\":[{\"type\":"
        "\"text\",\"text\":\"hi\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":3,"
        "\"output_tokens\":1}}}}\n";
    bt_exchange_options opts = {0};
    opts.start_unix_nano = t0;
    bt_exchange *ex = NULL;
    assert_int_equal(
        bt_exchange_begin(h.a, "GET", "/v1/messages/batches/msgbatch_fed/results", NULL, 0, &opts, &ex),
        BT_OK);
    assert_non_null(ex);
    bt_exchange_set_time(ex, t0 + 1 * SEC);
    bt_exchange_response_headers(ex, 200, jsonl_ct, 1);
    bt_exchange_set_time(ex, t0 + 2 * SEC);
    bt_exchange_response_body(ex, line, strlen(line));
    bt_exchange_set_time(ex, t0 + 4 * SEC);
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    int seen_batch = 0, seen_child = 0;
    size_t n = 0;
    char **lines = harness_take_spans(&h, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_loads(lines[i], 0, NULL);
        free(lines[i]);
        const char *name = json_string_value(json_object_get(s, "name"));
        if (!strcmp(name, "anthropic.batch") || !strcmp(name, "anthropic.messages.create")) {
            /* started when the results began to arrive, ended when they were read */
            assert_true(u64(s, "startTimeUnixNano") >= t0 && u64(s, "startTimeUnixNano") <= t0 + 2 * SEC);
            assert_true(u64(s, "endTimeUnixNano") >= t0 + 2 * SEC &&
                        u64(s, "endTimeUnixNano") <= t0 + 4 * SEC);
            seen_batch += !strcmp(name, "anthropic.batch");
            seen_child += !strcmp(name, "anthropic.messages.create");
        }
        json_decref(s);
    }
    free(lines);
    assert_int_equal(seen_batch, 1);
    assert_int_equal(seen_child, 1);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_times_are_the_traffic_s),
        cmocka_unit_test(test_lost_bytes_mark_the_span),
        cmocka_unit_test(test_batch_results_without_a_batch_object),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
