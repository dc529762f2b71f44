/*
 * Messages tracing edge cases: broken and hostile streams, errors, caps, timing,
 * secrets, masking and the settings of bt_anthropic.
 */
#include "conformance.h"
#include "msg_harness.h"

#define H(n, v)                            \
    {                                      \
        n, sizeof(n) - 1, v, sizeof(v) - 1 \
    }

static const bt_header json_ct[] = {H("content-type", "application/json"), H("request-id", "req_test_1")};
static const bt_header sse_ct[] = {H("content-type", "text/event-stream; charset=utf-8"),
                                   H("request-id", "req_test_2")};

static const char *const stream_req =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"stream\":true,"
    "\"system\":\"be brief\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char *const plain_req =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,"
    "\"messages\":[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}";

static const char *const sse_head =
    "event: message_start\n"
    "data: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\","
    "\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":10,"
    "\"cache_read_input_tokens\":5,\"output_tokens\":1}}   }\n\n"
    "event: content_block_start\n"
    "data: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
static const char *const sse_delta_hello =
    "event: content_block_delta\n"
    "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello\"}}\n\n";
static const char *const sse_tail =
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\n"
    "data: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\",\"stop_sequence\":null},"
    "\"usage\":{\"output_tokens\":7}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* Runs one exchange; parts of the response body are fed in order, with the clock
 * advanced by `step_ns` before each. Returns the span (parsed) or NULL. */
static json_t *run(harness *h, const char *target, const bt_header *rqh, size_t n_rqh, const char *req,
                   size_t req_len, int status, const bt_header *rsh, size_t n_rsh, const char *const *parts,
                   const size_t *part_lens, size_t n_parts, uint64_t step_ns, bt_exchange_outcome outcome,
                   char **line_out)
{
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", target, rqh, n_rqh, NULL, &ex), BT_OK);
    assert_non_null(ex);
    if (req)
        bt_exchange_request_body(ex, req, req_len);
    h_now += step_ns;
    bt_exchange_response_headers(ex, status, rsh, n_rsh);
    for (size_t i = 0; i < n_parts; i++) {
        h_now += step_ns;
        bt_exchange_response_body(ex, parts[i], part_lens ? part_lens[i] : strlen(parts[i]));
    }
    h_now += step_ns;
    bt_exchange_info info;
    bt_exchange_end(ex, outcome, &info);
    char *line = harness_take_span(h);
    assert_non_null(line);
    assert_non_null(info.span_name);
    json_t *span = json_loads(line, 0, NULL);
    assert_non_null(span);
    if (line_out)
        *line_out = line;
    else
        free(line);
    return span;
}

static json_t *run_stream(harness *h, const char *const *parts, size_t n, bt_exchange_outcome outcome)
{
    return run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, NULL, n, 0,
               outcome, NULL);
}

static int setup(void **state)
{
    harness *h = malloc(sizeof *h);
    harness_init(h);
    *state = h;
    return 0;
}

static int teardown(void **state)
{
    harness_free(*state);
    free(*state);
    return 0;
}

static void test_complete_stream(void **state)
{
    harness *h = *state;
    const char *parts[] = {sse_head, sse_delta_hello, sse_tail};
    json_t *s = run_stream(h, parts, 3, BT_EXCHANGE_COMPLETED);
    assert_string_equal(json_string_value(json_object_get(s, "name")), "anthropic.messages.stream");
    assert_int_not_equal(span_status_code(s), 2);
    json_t *out = span_json(s, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "Hello");
    json_t *in = span_json(s, "braintrust.input_json");
    assert_int_equal(json_array_size(in), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "role")), "system");
    json_t *m = span_json(s, "braintrust.metrics");
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_tokens")), 15);
    assert_int_equal(json_integer_value(json_object_get(m, "completion_tokens")), 7);
    assert_int_equal(json_integer_value(json_object_get(m, "tokens")), 22);
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_cached_tokens")), 5);
    assert_null(json_object_get(m, "prompt_cache_creation_tokens")); /* not reported: not invented */
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "model")), "claude-sonnet-4-5-20250929");
    assert_string_equal(json_string_value(json_object_get(md, "request_id")), "req_test_2");
    assert_string_equal(json_string_value(json_object_get(md, "stop_reason")), "end_turn");
    assert_true(json_is_true(json_object_get(md, "stream")));
    assert_null(json_object_get(md, "truncated"));
    assert_string_equal(span_str(s, "gen_ai.operation.name"), "chat");
    assert_string_equal(span_str(s, "gen_ai.provider.name"), "anthropic");
    assert_int_equal(span_int(s, "gen_ai.usage.input_tokens", -1), 15);
    assert_int_equal(json_integer_value(json_object_get(s, "kind")), 3); /* CLIENT */
    json_decref(out);
    json_decref(in);
    json_decref(m);
    json_decref(md);
    json_decref(s);
}

static void test_midstream_error_event(void **state)
{
    harness *h = *state;
    const char *parts[] = {sse_head, sse_delta_hello,
                           "event: error\ndata: {\"type\":\"error\",\"error\":{\"details\":null,"
                           "\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}   }\n\n"};
    json_t *s = run_stream(h, parts, 3, BT_EXCHANGE_COMPLETED);
    assert_int_equal(span_status_code(s), 2);
    assert_string_equal(span_status_message(s), "overloaded_error: Overloaded");
    assert_string_equal(span_str(s, "error.type"), "overloaded_error");
    json_t *out = span_json(s, "braintrust.output_json"); /* partial output kept */
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "Hello");
    json_t *m = span_json(s, "braintrust.metrics"); /* and the usage seen */
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_tokens")), 15);
    json_decref(m);
    json_decref(out);
    json_decref(s);
}

static void test_cut_stream(void **state)
{
    harness *h = *state;
    const char *parts[] = {sse_head, sse_delta_hello};
    static const bt_exchange_outcome outcomes[] = {BT_EXCHANGE_COMPLETED, BT_EXCHANGE_TRANSPORT_ERROR,
                                                   BT_EXCHANGE_CLIENT_CANCELLED};
    for (int i = 0; i < 3; i++) {
        json_t *s = run_stream(h, parts, 2, outcomes[i]);
        assert_int_equal(span_status_code(s), 2);
        assert_string_equal(span_status_message(s),
                            i == 2 ? "client_cancelled: the client went away before the end"
                                   : "stream_incomplete: the stream ended before message_stop");
        json_t *out = span_json(s, "braintrust.output_json");
        assert_string_equal(
            json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
            "Hello");
        json_decref(out);
        json_decref(s);
    }
}

static void test_tool_input_cut_by_max_tokens(void **state)
{
    harness *h = *state;
    size_t len;
    char *body = bt_test_read_file(
        bt_test_fixture_path("anthropic/anthropic-sdk-python/incomplete_partial_json_response.sse.txt"),
        &len);
    assert_non_null(body);
    const char *parts[] = {body};
    const size_t lens[] = {len};
    json_t *s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, lens,
                    1, 0, BT_EXCHANGE_COMPLETED, NULL);
    assert_int_not_equal(span_status_code(s), 2);
    json_t *out = span_json(s, "braintrust.output_json");
    json_t *tool = json_array_get(json_object_get(out, "content"), 1);
    assert_string_equal(json_string_value(json_object_get(tool, "type")), "tool_use");
    const char *raw = json_string_value(json_object_get(tool, "input")); /* kept as the raw text */
    assert_non_null(raw);
    assert_true(strncmp(raw, "{\"filename\": \"taxes.txt\"", 24) == 0);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "stop_reason")), "max_tokens");
    json_decref(md);
    json_decref(out);
    json_decref(s);
    free(body);
}

static void test_refusal_and_pause_turn(void **state)
{
    harness *h = *state;
    const char *refusal =
        "{\"id\":\"msg_r\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-opus-4-5\",\"content\":[],"
        "\"stop_reason\":\"refusal\",\"stop_sequence\":null,\"stop_details\":{\"type\":\"refusal\",\"category\":\"cyber\","
        "\"explanation\":\"no\"},\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}";
    const char *parts[] = {refusal};
    json_t *s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1,
                    0, BT_EXCHANGE_COMPLETED, NULL);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "stop_reason")), "refusal");
    assert_string_equal(json_string_value(json_object_get(json_object_get(md, "stop_details"), "category")),
                        "cyber");
    assert_int_not_equal(span_status_code(s), 2); /* a refusal is an answer, not a failure */
    json_t *m = span_json(s, "braintrust.metrics");
    assert_int_equal(json_integer_value(json_object_get(m, "completion_tokens")), 0); /* reported zero kept */
    json_decref(m);
    json_decref(md);
    json_decref(s);

    const char *pause =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_p\",\"model\":\"m\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":2,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_1\",\"content\":[{\"type\":\"web_search_result\","
        "\"url\":\"https://x\",\"title\":\"t\"}]}}\n\n"
        "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
        "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"pause_turn\"},"
        "\"usage\":{\"output_tokens\":9,\"server_tool_use\":{\"web_search_requests\":1}}}\n\n"
        "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";
    const char *pparts[] = {pause};
    s = run_stream(h, pparts, 1, BT_EXCHANGE_COMPLETED);
    md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "stop_reason")), "pause_turn");
    assert_int_not_equal(span_status_code(s), 2);
    json_t *out = span_json(s, "braintrust.output_json");
    json_t *blk = json_array_get(json_object_get(out, "content"), 0);
    assert_string_equal(json_string_value(json_object_get(blk, "type")), "web_search_tool_result");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(blk, "content"), 0), "url")),
        "https://x");
    m = span_json(s, "braintrust.metrics");
    assert_int_equal(json_integer_value(json_object_get(m, "server_tool_use_web_search_requests")), 1);
    json_decref(m);
    json_decref(out);
    json_decref(md);
    json_decref(s);
}

static void test_invalid_utf8_in_text_delta(void **state)
{
    harness *h = *state;
    const char *bad =
        "event: content_block_delta\n"
        "data: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\","
        "\"text\":\"ok \xff\xfe end\"}}\n\n";
    const char *parts[] = {sse_head, bad, sse_tail};
    char *line = NULL;
    json_t *s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, NULL,
                    3, 0, BT_EXCHANGE_COMPLETED, &line);
    json_t *out = span_json(s, "braintrust.output_json");
    const char *text =
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text"));
    assert_string_equal(text, "ok \xEF\xBF\xBD\xEF\xBF\xBD end"); /* each bad byte became U+FFFD */
    json_decref(out);
    json_decref(s);
    free(line);
}

/* Events the client received but the span cannot show are counted in its metadata
 * (they used to vanish while the span said nothing): data that is not JSON, an event
 * with no data line, a raw NUL byte; invalid UTF-8 is read, repaired, and counted. */
static void test_malformed_events_mark_the_span(void **state)
{
    harness *h = *state;
    static const char not_json[] = "event: content_block_delta\ndata: this is not json\n\n";
    static const char no_data[] = "event: content_block_delta\n\n";
    static const char with_nul[] =
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\"a\0b\"}}\n\n";
    static const char bad_utf8[] =
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
        "\"delta\":{\"type\":\"text_delta\",\"text\":\" \xff\"}}\n\n";
    const char *parts[] = {sse_head, sse_delta_hello, not_json, no_data, with_nul, bad_utf8, sse_tail};
    size_t lens[] = {strlen(sse_head),    strlen(sse_delta_hello), sizeof not_json - 1, sizeof no_data - 1,
                     sizeof with_nul - 1, sizeof bad_utf8 - 1,     strlen(sse_tail)};
    json_t *s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, lens,
                    7, 0, BT_EXCHANGE_COMPLETED, NULL);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_int_equal(json_integer_value(json_object_get(md, "malformed_events")), 3);
    assert_int_equal(json_integer_value(json_object_get(md, "invalid_utf8_events")), 1);
    assert_string_equal(json_string_value(json_object_get(md, "parse_error")), "response");
    assert_int_not_equal(span_status_code(s), 2); /* the call itself went through */
    json_t *out = span_json(s, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "Hello \xEF\xBF\xBD");
    json_decref(out);
    json_decref(md);
    json_decref(s);
}

static void test_ten_megabyte_sse_line(void **state)
{
    harness *h = *state;
    size_t n = (size_t)10 << 20;
    const char *pre = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                      "\"delta\":{\"type\":\"text_delta\",\"text\":\"";
    const char *post = "\"}}\n\n";
    size_t len = strlen(pre) + n + strlen(post);
    char *big = malloc(len + 1);
    memcpy(big, pre, strlen(pre));
    memset(big + strlen(pre), 'a', n);
    memcpy(big + strlen(pre) + n, post, strlen(post) + 1);
    const char *parts[] = {sse_head, big, sse_tail};
    const size_t lens[] = {strlen(sse_head), len, strlen(sse_tail)};
    json_t *s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, lens,
                    3, 0, BT_EXCHANGE_COMPLETED, NULL);
    assert_int_not_equal(span_status_code(s), 2);
    json_t *m = span_json(s, "braintrust.metrics");
    assert_int_equal(json_integer_value(json_object_get(m, "completion_tokens")), 7);
    json_decref(m);
    json_decref(s);

    /* with a 1 MiB body limit the same stream is kept, cut and marked */
    assert_int_equal(bt_anthropic_set_body_limit(h->a, (size_t)1 << 20), BT_OK);
    s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, lens, 3, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_true(json_is_true(json_object_get(md, "truncated")));
    m = span_json(s, "braintrust.metrics"); /* the usage after the cut is still read */
    assert_int_equal(json_integer_value(json_object_get(m, "completion_tokens")), 7);
    json_decref(m);
    json_decref(md);
    json_decref(s);
    assert_int_equal(bt_anthropic_set_body_limit(h->a, (size_t)32 << 20), BT_OK);
    free(big);
}

static char *deep_json(size_t depth, const char *prefix, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix);
    char *s = malloc(pl + 2 * depth + sl + 1);
    memcpy(s, prefix, pl);
    memset(s + pl, '[', depth);
    memset(s + pl + depth, ']', depth);
    memcpy(s + pl + 2 * depth, suffix, sl + 1);
    return s;
}

static void test_deep_nesting(void **state)
{
    harness *h = *state;
    char *req = deep_json(100000, "{\"model\":\"m\",\"max_tokens\":1,\"messages\":", "}");
    char *resp = deep_json(100000, "{\"model\":\"m\",\"content\":", "}");
    const char *parts[] = {resp};
    json_t *s = run(h, "/v1/messages", NULL, 0, req, strlen(req), 200, json_ct, 2, parts, NULL, 1, 0,
                    BT_EXCHANGE_COMPLETED, NULL);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "parse_error")), "request");
    assert_null(span_attr(s, "braintrust.input_json"));
    json_decref(md);
    json_decref(s);

    /* deep stream events are dropped one by one; the rest of the stream still counts */
    char *deep_ev = deep_json(
        100000, "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"x\":", "}\n\n");
    const char *sparts[] = {sse_head, deep_ev, sse_delta_hello, sse_tail};
    s = run_stream(h, sparts, 4, BT_EXCHANGE_COMPLETED);
    json_t *out = span_json(s, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "Hello");
    json_decref(out);
    json_decref(s);
    free(deep_ev);
    free(req);
    free(resp);
}

static void test_gateway_html_error(void **state)
{
    harness *h = *state;
    static const bt_header html_ct[] = {H("content-type", "text/html")};
    const char *page = "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
                       "<center><h1>502 Bad Gateway</h1></center>\r\n</body>\r\n</html>\r\n";
    const char *parts[] = {page};
    json_t *s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 502, html_ct, 1, parts, NULL, 1,
                    0, BT_EXCHANGE_COMPLETED, NULL);
    assert_int_equal(span_status_code(s), 2);
    assert_string_equal(span_status_message(s), "HTTP 502: 502 Bad Gateway 502 Bad Gateway");
    assert_string_equal(span_str(s, "error.type"), "502");
    json_decref(s);

    const char *api =
        "{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"},"
        "\"request_id\":\"req_from_body\"}";
    const char *aparts[] = {api};
    static const bt_header no_id[] = {H("content-type", "application/json")};
    s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 429, no_id, 1, aparts, NULL, 1, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(span_status_message(s), "rate_limit_error: slow down");
    assert_string_equal(span_str(s, "error.type"), "rate_limit_error");
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "request_id")), "req_from_body");
    json_decref(md);
    json_decref(s);
}

static void test_ttft_at_first_content_arrival(void **state)
{
    harness *h = *state;
    /* one second passes before the headers and before each part: message_start at
     * +2 s, an empty delta at +3 s (no content yet), "Hello" at +4 s, the end at +6 s */
    const char *empty = "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
                        "\"delta\":{\"type\":\"text_delta\",\"text\":\"\"}}\n\n";
    const char *parts[] = {sse_head, empty, sse_delta_hello, sse_tail};
    json_t *s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, NULL,
                    4, 1000000000ull, BT_EXCHANGE_COMPLETED, NULL);
    json_t *m = span_json(s, "braintrust.metrics");
    assert_true(json_real_value(json_object_get(m, "time_to_first_token")) == 4.0);
    json_t *v = json_object_get(span_attr(s, "gen_ai.response.time_to_first_chunk"), "doubleValue");
    assert_true(json_number_value(v) == 4.0);
    json_decref(m);
    json_decref(s);

    /* a non-streaming call has no time_to_first_token */
    const char *msg =
        "{\"model\":\"m\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}";
    const char *mparts[] = {msg};
    s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 200, json_ct, 2, mparts, NULL, 1,
            1000000000ull, BT_EXCHANGE_COMPLETED, NULL);
    m = span_json(s, "braintrust.metrics");
    assert_null(json_object_get(m, "time_to_first_token"));
    json_decref(m);
    json_decref(s);
}

static void test_secrets_never_recorded(void **state)
{
    harness *h = *state;
    static const bt_header rq[] = {H("x-api-key", "sk-ant-api03-SECRETSECRETSECRET"),
                                   H("authorization", "Bearer TOKEN-SECRET-123"),
                                   H("cookie", "session=COOKIE-SECRET-456"),
                                   H("proxy-authorization", "Basic PROXY-SECRET-789"),
                                   H("anthropic-beta", "a-2025"),
                                   H("anthropic-beta", "b-2025"),
                                   H("anthropic-version", "2023-06-01"),
                                   H("host", "api.anthropic.com:443")};
    static const bt_header rs[] = {H("content-type", "application/json"),
                                   H("set-cookie", "_cfuvid=SETCOOKIE-SECRET")};
    const char *msg =
        "{\"model\":\"m\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}";
    const char *parts[] = {msg};
    const char *req =
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":\"x\"}],"
        "\"mcp_servers\":[{\"type\":\"url\",\"url\":\"https://mcp.example/sse\",\"name\":\"ex\","
        "\"authorization_token\":\"MCP-TOKEN-SECRET\"}]}";
    char *line = NULL;
    json_t *s = run(h, "/v1/messages?beta=true", rq, 8, req, strlen(req), 200, rs, 2, parts, NULL, 1, 0,
                    BT_EXCHANGE_COMPLETED, &line);
    static const char *const secrets[] = {"SECRETSECRET", "TOKEN-SECRET",     "COOKIE-SECRET",
                                          "PROXY-SECRET", "SETCOOKIE-SECRET", "MCP-TOKEN-SECRET"};
    for (size_t i = 0; i < 6; i++)
        assert_null(strstr(line, secrets[i]));
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "anthropic_beta")), "a-2025,b-2025");
    assert_true(json_is_true(json_object_get(md, "beta")));
    json_t *mcp = json_array_get(json_object_get(md, "mcp_servers"), 0); /* kept, minus its credential */
    assert_string_equal(json_string_value(json_object_get(mcp, "url")), "https://mcp.example/sse");
    assert_string_equal(json_string_value(json_object_get(mcp, "authorization_token")), "[redacted]");
    assert_string_equal(span_str(s, "server.address"), "api.anthropic.com");
    assert_int_equal(span_int(s, "server.port", 0), 443);
    json_decref(md);
    json_decref(s);
    free(line);
}

static char *mask_fn(void *ud, const char *field, const char *json, size_t len)
{
    (void)json;
    (void)len;
    int *calls = ud;
    (*calls)++;
    return strdup(!strcmp(field, "input") ? "[\"masked input\"]" : "{\"masked\":\"output\"}");
}

static void test_mask_and_genai_switch(void **state)
{
    harness *h = *state;
    int calls = 0;
    assert_int_equal(bt_anthropic_set_mask(h->a, mask_fn, &calls), BT_OK);
    assert_int_equal(bt_anthropic_set_genai_attributes(h->a, 0), BT_OK);
    const char *parts[] = {sse_head, sse_delta_hello, sse_tail};
    char *line = NULL;
    json_t *s = run(h, "/v1/messages", NULL, 0, stream_req, strlen(stream_req), 200, sse_ct, 2, parts, NULL,
                    3, 0, BT_EXCHANGE_COMPLETED, &line);
    assert_int_equal(calls, 2);
    assert_string_equal(span_str(s, "braintrust.input_json"), "[\"masked input\"]");
    assert_string_equal(span_str(s, "braintrust.output_json"), "{\"masked\":\"output\"}");
    assert_null(strstr(line, "Hello"));
    assert_null(strstr(line, "gen_ai."));
    json_decref(s);
    free(line);
    bt_anthropic_set_mask(h->a, NULL, NULL);
    bt_anthropic_set_genai_attributes(h->a, 1);
}

static void test_count_tokens(void **state)
{
    harness *h = *state;
    const char *req = "{\"model\":\"claude-haiku-4-5\",\"system\":[{\"type\":\"text\",\"text\":\"sys\"}],"
                      "\"messages\":[{\"role\":\"user\",\"content\":\"count me\"}],\"tools\":[]}";
    const char *parts[] = {"{\"input_tokens\":16}"};
    json_t *s = run(h, "/gateway/v1/messages/count_tokens?beta=true", NULL, 0, req, strlen(req), 200, json_ct,
                    2, parts, NULL, 1, 0, BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(json_string_value(json_object_get(s, "name")), "anthropic.messages.count_tokens");
    json_t *m = span_json(s, "braintrust.metrics");
    assert_int_equal(json_object_size(m), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_tokens")), 16);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "model")), "claude-haiku-4-5");
    assert_true(json_is_array(json_object_get(md, "tools")));
    json_t *in = span_json(s, "braintrust.input_json");
    assert_true(json_is_array(json_object_get(json_array_get(in, 1), "content"))); /* system blocks as sent */
    assert_string_equal(span_str(s, "gen_ai.operation.name"), "count_tokens");
    assert_null(span_attr(s, "gen_ai.usage.input_tokens")); /* counted, not consumed */
    json_decref(in);
    json_decref(md);
    json_decref(m);
    json_decref(s);
}

static void test_cache_split_metrics(void **state)
{
    harness *h = *state;
    const char *msg =
        "{\"model\":\"m\",\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":4,"
        "\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":0,\"cache_creation\":"
        "{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":100},\"output_tokens\":2,"
        "\"output_tokens_details\":{\"thinking_tokens\":1},\"service_tier\":\"standard\"}}";
    const char *parts[] = {msg};
    json_t *s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1,
                    0, BT_EXCHANGE_COMPLETED, NULL);
    json_t *m = span_json(s, "braintrust.metrics");
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_tokens")), 104);
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_cache_creation_1h_tokens")), 100);
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_cache_creation_5m_tokens")), 0);
    assert_null(json_object_get(m, "prompt_cache_creation_tokens"));
    assert_int_equal(json_integer_value(json_object_get(m, "completion_reasoning_tokens")), 1);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "usage_service_tier")), "standard");
    assert_int_equal(span_int(s, "gen_ai.usage.cache_creation.input_tokens", -1), 100);
    assert_int_equal(span_int(s, "gen_ai.usage.reasoning.output_tokens", -1), 1);
    json_decref(md);
    json_decref(m);
    json_decref(s);
}

static void test_unknown_encoding_and_corrupt_gzip(void **state)
{
    harness *h = *state;
    static const bt_header zstd[] = {H("content-type", "application/json"), H("content-encoding", "zstd")};
    const char *parts[] = {"\x28\xb5\x2f\xfd garbage"};
    json_t *s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 200, zstd, 2, parts, NULL, 1, 0,
                    BT_EXCHANGE_COMPLETED, NULL);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_true(json_is_true(json_object_get(md, "truncated")));
    assert_non_null(strstr(json_string_value(json_object_get(md, "decode_error")), "zstd"));
    assert_null(span_attr(s, "braintrust.output_json"));
    json_decref(md);
    json_decref(s);

    static const bt_header gz[] = {H("content-type", "application/json"), H("content-encoding", "gzip")};
    const char *junk[] = {"\x1f\x8b\x08\x00not really gzip at all"};
    s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 200, gz, 2, junk, NULL, 1, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    md = span_json(s, "braintrust.metadata");
    assert_true(json_is_true(json_object_get(md, "truncated")));
    assert_non_null(json_object_get(md, "decode_error"));
    json_decref(md);
    json_decref(s);
}

/* A transport failure whose cause the caller names (a refused connection, say) puts
 * that cause in the span's status, on a plain call, a stream and a batch call alike. */
static void test_failure_names_its_cause(void **state)
{
    harness *h = *state;
    static const struct {
        const char *target, *body;
        int stream_started;
    } cases[] = {
        {"/v1/messages", "{\"model\":\"claude-x\",\"max_tokens\":5,\"messages\":[]}", 0},
        {"/v1/messages", "{\"model\":\"claude-x\",\"max_tokens\":5,\"stream\":true,\"messages\":[]}", 1},
        {"/v1/messages/batches", "{\"requests\":[]}", 0},
    };
    static const bt_header sse[] = {H("content-type", "text/event-stream")};
    static const char first[] = "event: message_start\ndata: {\"type\":\"message_start\",\"message\":"
                                "{\"id\":\"msg_1\",\"model\":\"claude-x\",\"role\":\"assistant\","
                                "\"content\":[],\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}}\n\n";
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bt_exchange *ex = NULL;
        assert_int_equal(bt_exchange_begin(h->a, "POST", cases[i].target, NULL, 0, NULL, &ex), BT_OK);
        assert_non_null(ex);
        bt_exchange_request_body(ex, cases[i].body, strlen(cases[i].body));
        if (cases[i].stream_started) {
            bt_exchange_response_headers(ex, 200, sse, 1);
            bt_exchange_response_body(ex, first, strlen(first));
        }
        bt_exchange_info info;
        bt_exchange_fail(ex, "upstream: Couldn't connect to server", &info);
        assert_true(info.is_error);
        char *line = harness_take_span(h);
        json_t *s = json_loads(line, 0, NULL);
        assert_string_equal(span_status_message(s), "transport_error: upstream: Couldn't connect to server");
        assert_string_equal(span_str(s, "error.type"), "transport_error");
        json_decref(s);
        free(line);
    }
    /* without a cause: the generic text, as bt_exchange_end gives */
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_fail(ex, NULL, NULL);
    char *line = harness_take_span(h);
    json_t *s = json_loads(line, 0, NULL);
    assert_string_equal(span_status_message(s), "transport_error: no response");
    json_decref(s);
    free(line);
    bt_exchange_fail(NULL, "nothing to end", NULL);
}

static void test_parent_and_untraced(void **state)
{
    harness *h = *state;
    bt_span_context parent;
    assert_int_equal(
        bt_traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL, &parent),
        BT_OK);
    bt_exchange_options o = {.parent = &parent, .braintrust_parent = "project_name:demo"};
    bt_exchange *ex = NULL;
    assert_int_equal(
        bt_exchange_begin(h->a, "POST", "https://api.anthropic.com/v1/messages", NULL, 0, &o, &ex), BT_OK);
    assert_non_null(ex);
    bt_exchange_end(ex, BT_EXCHANGE_TRANSPORT_ERROR, NULL);
    char *line = harness_take_span(h);
    json_t *s = json_loads(line, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(s, "traceId")), "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(json_string_value(json_object_get(s, "parentSpanId")), "b7ad6b7169203331");
    assert_string_equal(span_str(s, "braintrust.parent"), "project_name:demo");
    assert_string_equal(span_status_message(s), "transport_error: no response");
    json_decref(s);
    free(line);

    /* untraced endpoints and NULL exchanges are no-ops */
    ex = (bt_exchange *)1;
    assert_int_equal(bt_exchange_begin(h->a, "GET", "/v1/models", NULL, 0, NULL, &ex), BT_OK);
    assert_null(ex);
    bt_exchange_request_body(NULL, "x", 1);
    bt_exchange_response_headers(NULL, 200, NULL, 0);
    bt_exchange_response_body(NULL, "x", 1);
    bt_exchange_info info;
    bt_exchange_end(NULL, BT_EXCHANGE_COMPLETED, &info);
    assert_null(info.span_name);
    assert_int_equal(info.input_tokens, -1);
    assert_null(harness_take_span(h));
    assert_int_equal(bt_anthropic_set_body_limit(h->a, 0), BT_EINVAL);
    assert_int_equal(bt_anthropic_new(NULL, NULL), BT_EINVAL);
    bt_anthropic_free(NULL);
}

static void test_body_limit_marks_truncation(void **state)
{
    harness *h = *state;
    assert_int_equal(bt_anthropic_set_body_limit(h->a, 64), BT_OK);
    const char *msg = "{\"model\":\"m\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":"
                      "\"a reply that is longer than sixty-four bytes in total\"}]}";
    const char *parts[] = {msg};
    /* the request is over the limit: kept up to it, marked, and not parsed */
    json_t *s = run(h, "/v1/messages", NULL, 0, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1,
                    0, BT_EXCHANGE_COMPLETED, NULL);
    json_t *md = span_json(s, "braintrust.metadata");
    assert_true(json_is_true(json_object_get(md, "truncated")));
    assert_string_equal(json_string_value(json_object_get(md, "parse_error")), "request");
    assert_null(span_attr(s, "braintrust.output_json")); /* the body was cut too */
    assert_int_not_equal(span_status_code(s), 2);        /* the call itself succeeded */
    json_decref(md);
    json_decref(s);
    assert_int_equal(bt_anthropic_set_body_limit(h->a, (size_t)32 << 20), BT_OK);
}

/* server.address / server.port name the API server, also behind a proxy whose clients'
 * Host header names the proxy: the proxy sets its upstream. */
static void test_upstream_names_the_server(void **state)
{
    harness *h = *state;
    static const bt_header to_proxy[] = {H("Host", "127.0.0.1:8787")};
    const char *parts[] = {"{\"id\":\"m\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[]}"};
    json_t *s = run(h, "/v1/messages", to_proxy, 1, plain_req, strlen(plain_req), 200, json_ct, 2, parts,
                    NULL, 1, 0, BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(span_str(s, "server.address"), "127.0.0.1"); /* no upstream set: the Host header */
    assert_int_equal(span_int(s, "server.port", -1), 8787);
    json_decref(s);

    assert_int_equal(bt_anthropic_set_upstream(h->a, "https://api.anthropic.com"), BT_OK);
    s = run(h, "/v1/messages", to_proxy, 1, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(span_str(s, "server.address"), "api.anthropic.com");
    assert_int_equal(span_int(s, "server.port", -1), 443);
    json_decref(s);

    assert_int_equal(bt_anthropic_set_upstream(h->a, "http://user:pw@[::1]:9000/base/"), BT_OK);
    s = run(h, "/v1/messages", to_proxy, 1, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(span_str(s, "server.address"), "[::1]");
    assert_int_equal(span_int(s, "server.port", -1), 9000);
    json_decref(s);

    assert_int_equal(bt_anthropic_set_upstream(h->a, "gateway.internal:8443"), BT_OK);
    s = run(h, "/v1/messages", to_proxy, 1, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(span_str(s, "server.address"), "gateway.internal");
    assert_int_equal(span_int(s, "server.port", -1), 8443);
    json_decref(s);

    assert_int_equal(bt_anthropic_set_upstream(h->a, "https://"), BT_EINVAL);
    assert_int_equal(bt_anthropic_set_upstream(NULL, "x"), BT_EINVAL);
    assert_int_equal(bt_anthropic_set_upstream(h->a, NULL), BT_OK); /* back to the Host header */
    s = run(h, "/v1/messages", to_proxy, 1, plain_req, strlen(plain_req), 200, json_ct, 2, parts, NULL, 1, 0,
            BT_EXCHANGE_COMPLETED, NULL);
    assert_string_equal(span_str(s, "server.address"), "127.0.0.1");
    json_decref(s);
}

static void test_interim_status_and_deflate(void **state)
{
    harness *h = *state;
    const char *msg = "{\"model\":\"claude-deflated\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\","
                      "\"text\":\"squeezed\"}],\"usage\":{\"input_tokens\":2,\"output_tokens\":3}}";
    unsigned char z[512];
    uLongf zlen = sizeof z;
    assert_int_equal(compress(z, &zlen, (const Bytef *)msg, strlen(msg)), Z_OK); /* zlib-wrapped deflate */
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", "https://user:pw@gw.example:8443/anthropic/v1/messages",
                                       NULL, 0, NULL, &ex),
                     BT_OK);
    bt_exchange_request_body(ex, plain_req, strlen(plain_req));
    bt_exchange_response_headers(ex, 100, NULL, 0); /* interim: ignored */
    static const bt_header rs[] = {H("Content-Type", "application/json"), H("Content-Encoding", " deflate ")};
    bt_exchange_response_headers(ex, 200, rs, 2);
    bt_exchange_response_headers(ex, 500, NULL, 0); /* only the first final response counts */
    for (uLongf i = 0; i < zlen; i += 5)
        bt_exchange_response_body(ex, z + i, zlen - i < 5 ? zlen - i : 5);
    bt_exchange_info info;
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, &info);
    assert_string_equal(info.model, "claude-deflated");
    assert_int_equal(info.input_tokens, 2);
    assert_int_equal(info.output_tokens, 3);
    assert_false(info.is_error);
    char *line = harness_take_span(h);
    assert_null(strstr(line, "pw@")); /* URL userinfo is never kept */
    json_t *s = json_loads(line, 0, NULL);
    assert_string_equal(span_str(s, "server.address"), "gw.example");
    assert_int_equal(span_int(s, "server.port", 0), 8443);
    json_t *out = span_json(s, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "squeezed");
    json_decref(out);
    json_decref(s);
    free(line);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_complete_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_midstream_error_event, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cut_stream, setup, teardown),
        cmocka_unit_test_setup_teardown(test_refusal_and_pause_turn, setup, teardown),
        cmocka_unit_test_setup_teardown(test_invalid_utf8_in_text_delta, setup, teardown),
        cmocka_unit_test_setup_teardown(test_malformed_events_mark_the_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ten_megabyte_sse_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_deep_nesting, setup, teardown),
        cmocka_unit_test_setup_teardown(test_gateway_html_error, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttft_at_first_content_arrival, setup, teardown),
        cmocka_unit_test_setup_teardown(test_secrets_never_recorded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_mask_and_genai_switch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_count_tokens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache_split_metrics, setup, teardown),
        cmocka_unit_test_setup_teardown(test_unknown_encoding_and_corrupt_gzip, setup, teardown),
        cmocka_unit_test_setup_teardown(test_parent_and_untraced, setup, teardown),
        cmocka_unit_test_setup_teardown(test_failure_names_its_cause, setup, teardown),
        cmocka_unit_test_setup_teardown(test_body_limit_marks_truncation, setup, teardown),
        cmocka_unit_test_setup_teardown(test_interim_status_and_deflate, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upstream_names_the_server, setup, teardown),
    };
    /* replaying the recordings in ../shared/fixtures (see conformance.h) */
    const struct CMUnitTest conformance[] = {
        cmocka_unit_test_setup_teardown(test_tool_input_cut_by_max_tokens, setup, teardown),
    };
    return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
}
