/*
 * bt_exchange_abort(): an exchange the caller cut itself (a proxy shutting down) is
 * named for what happened, never "client cancelled": a stream cut midway, a call cut
 * before its response, a batch call, and a stream the client left, for contrast.
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
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n"
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hel\"}}\n\n";

#define REASON "cut by the proxy at shutdown (a second signal)"

static json_t *take(harness *h)
{
    char *line = harness_take_span(h);
    assert_non_null(line);
    json_t *span = json_loads(line, 0, NULL);
    free(line);
    assert_non_null(span);
    return span;
}

static bt_exchange *stream_started(harness *h)
{
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    assert_non_null(ex);
    bt_exchange_request_body(ex, stream_req, strlen(stream_req));
    bt_exchange_response_headers(ex, 200, sse_ct, 1);
    bt_exchange_response_body(ex, sse_start, strlen(sse_start));
    return ex;
}

static void test_stream_cut_by_the_caller(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    bt_exchange_info info;
    bt_exchange_abort(stream_started(&h), REASON, &info);
    assert_true(info.is_error);
    json_t *s = take(&h);
    assert_int_equal(span_status_code(s), 2);
    assert_string_equal(span_status_message(s), "aborted: " REASON);
    assert_string_equal(span_str(s, "error.type"), "aborted");
    json_t *out = span_json(s, "braintrust.output_json"); /* what arrived is kept */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "Hel");
    json_decref(out);
    json_decref(s);

    /* the client leaving is still told apart */
    bt_exchange_end(stream_started(&h), BT_EXCHANGE_CLIENT_CANCELLED, NULL);
    s = take(&h);
    assert_string_equal(span_status_message(s), "client_cancelled: the client went away before the end");
    json_decref(s);
    harness_free(&h);
}

static void test_call_cut_before_its_response(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    bt_exchange *ex = NULL;
    const char *req = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":8,\"messages\":[]}";
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, req, strlen(req));
    bt_exchange_abort(ex, NULL, NULL); /* no reason given */
    json_t *s = take(&h);
    assert_string_equal(span_status_message(s), "aborted: cut by the caller");
    assert_string_equal(span_str(s, "error.type"), "aborted");
    json_decref(s);
    bt_exchange_abort(NULL, REASON, NULL); /* harmless */
    harness_free(&h);
}

static void test_batch_call_cut(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "GET", "/v1/messages/batches/msgbatch_01", NULL, 0, NULL, &ex),
                     BT_OK);
    assert_non_null(ex);
    bt_exchange_abort(ex, REASON, NULL);
    json_t *s = take(&h);
    assert_string_equal(span_status_message(s), "aborted: " REASON);
    assert_string_equal(span_str(s, "error.type"), "aborted");
    json_decref(s);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stream_cut_by_the_caller),
        cmocka_unit_test(test_call_cut_before_its_response),
        cmocka_unit_test(test_batch_call_cut),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
