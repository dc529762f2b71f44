/*
 * Managed Agents sessions (beta) and Files uploads: the calls that run the agent or
 * report its work become spans of the session's trace; the event stream's model
 * requests become llm spans with their turns, replies and usage, its tool calls tool
 * spans; reading the same events again (a list page) gives the same spans and does not
 * count them twice in the session's root; a Files upload is a task span naming the file.
 * Event shapes follow @anthropic-ai/sdk 1.16's BetaManagedAgents* types.
 */
#include "msg_harness.h"
#include "util/buf.h"

#define SESSION "sesn_011CZkZAtmR3yMPDzynEDxu7"

static const bt_header beta_hdr[] = {{"anthropic-beta", 14, "managed-agents-2026-04-01", 25}};

static void exchange(harness *h, const char *method, const char *target, const char *req, int status,
                     const char *content_type, const char *const *parts, size_t n_parts)
{
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, method, target, beta_hdr, 1, NULL, &ex), BT_OK);
    assert_non_null(ex);
    if (req)
        bt_exchange_request_body(ex, req, strlen(req));
    bt_header rs[] = {{"content-type", 12, content_type, strlen(content_type)},
                      {"request-id", 10, "req_ms", 6}};
    bt_exchange_response_headers(ex, status, rs, 2);
    for (size_t i = 0; i < n_parts; i++)
        bt_exchange_response_body(ex, parts[i], strlen(parts[i]));
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
}

static json_t *take(harness *h)
{
    size_t n = 0;
    char **lines = harness_take_spans(h, &n);
    json_t *out = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(out, json_loads(lines[i], 0, NULL));
    free_lines(lines);
    return out;
}

static json_t *named(json_t *spans, const char *name, int nth)
{
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        if (!strcmp(json_string_value(json_object_get(s, "name")), name) && nth-- == 0)
            return s;
    }
    return NULL;
}

static const char *id_of(json_t *s, const char *k)
{
    return json_string_value(json_object_get(s, k));
}

/* The agent's work as the stream reports it: a user message, a model request that
 * thinks, says something and calls a tool, the tool's result, a second request that
 * answers, idle. */
static const char *const EVENTS[] = {
    "{\"type\":\"user.message\",\"id\":\"sevt_01\",\"content\":[{\"type\":\"text\",\"text\":\"Where is my "
    "order?\"}],\"processed_at\":\"2026-04-01T10:00:00Z\"}",
    "{\"type\":\"session.status_running\",\"id\":\"sevt_02\",\"processed_at\":\"2026-04-01T10:00:00.100Z\"}",
    "{\"type\":\"span.model_request_start\",\"id\":\"sevt_03\",\"processed_at\":\"2026-04-01T10:00:01Z\"}",
    "{\"type\":\"agent.thinking\",\"id\":\"sevt_04\",\"processed_at\":\"2026-04-01T10:00:02Z\"}",
    "{\"type\":\"agent.message\",\"id\":\"sevt_05\",\"content\":[{\"type\":\"text\",\"text\":\"Let me "
    "look.\"}],\"processed_at\":\"2026-04-01T10:00:02.500Z\"}",
    "{\"type\":\"agent.tool_use\",\"id\":\"sevt_06\",\"name\":\"bash\",\"input\":{\"command\":\"orders "
    "1234\"},\"processed_at\":\"2026-04-01T10:00:03Z\"}",
    "{\"type\":\"span.model_request_end\",\"id\":\"sevt_07\",\"model_request_start_id\":\"sevt_03\","
    "\"is_error\":false,\"model_usage\":{\"input_tokens\":100,\"cache_creation_input_tokens\":20,"
    "\"cache_read_input_tokens\":30,\"output_tokens\":40},\"processed_at\":\"2026-04-01T10:00:03.200Z\"}",
    "{\"type\":\"agent.tool_result\",\"id\":\"sevt_08\",\"tool_use_id\":\"sevt_06\",\"content\":[{\"type\":"
    "\"text\",\"text\":\"shipped\"}],\"processed_at\":\"2026-04-01T10:00:05Z\"}",
    "{\"type\":\"span.model_request_start\",\"id\":\"sevt_09\",\"processed_at\":\"2026-04-01T10:00:05.500Z\"}",
    "{\"type\":\"agent.message\",\"id\":\"sevt_10\",\"content\":[{\"type\":\"text\",\"text\":\"It "
    "shipped.\"}],\"processed_at\":\"2026-04-01T10:00:06Z\"}",
    "{\"type\":\"span.model_request_end\",\"id\":\"sevt_11\",\"model_request_start_id\":\"sevt_09\","
    "\"is_error\":false,\"model_usage\":{\"input_tokens\":150,\"cache_creation_input_tokens\":0,"
    "\"cache_read_input_tokens\":150,\"output_tokens\":10},\"processed_at\":\"2026-04-01T10:00:07Z\"}",
    "{\"type\":\"session.status_idle\",\"id\":\"sevt_12\",\"stop_reason\":{\"type\":\"end_turn\"},"
    "\"stop_details\":null,\"processed_at\":\"2026-04-01T10:00:07.100Z\"}",
};
#define N_EVENTS (sizeof EVENTS / sizeof *EVENTS)

static uint64_t at(const char *rfc3339_seconds, unsigned ms)
{
    /* 2026-04-01T10:00:SS */
    int s = atoi(rfc3339_seconds);
    return 1775037600ull * 1000000000ull + (uint64_t)s * 1000000000ull + (uint64_t)ms * 1000000ull;
}

static void test_event_stream(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    /* the stream, as SSE in odd chunks */
    bt__buf sse;
    bt__buf_init(&sse, 0);
    for (size_t i = 0; i < N_EVENTS; i++) {
        json_t *ev = json_loads(EVENTS[i], 0, NULL);
        bt__buf_printf(&sse, "event: %s\ndata: %s\n\n", json_string_value(json_object_get(ev, "type")),
                       EVENTS[i]);
        json_decref(ev);
    }
    const char *parts[8];
    size_t step = sse.len / 7 + 1;
    size_t n_parts = 0;
    char *copies[8];
    for (size_t o = 0; o < sse.len; o += step) {
        size_t n = sse.len - o < step ? sse.len - o : step;
        copies[n_parts] = strndup(sse.data + o, n);
        parts[n_parts] = copies[n_parts];
        n_parts++;
    }
    exchange(&h, "GET", "/v1/sessions/" SESSION "/events/stream?beta=true", NULL, 200, "text/event-stream",
             parts, n_parts);
    for (size_t i = 0; i < n_parts; i++)
        free(copies[i]);
    bt__buf_free(&sse);
    json_t *spans = take(&h);

    bt_span_context root;
    uint8_t t[16], r[8];
    bt_derive_id("braintrust:session:trace", SESSION, strlen(SESSION), t, 16);
    bt_derive_id("braintrust:session:root", SESSION, strlen(SESSION), r, 8);
    char trace_hex[33], root_hex[17];
    for (int i = 0; i < 16; i++)
        sprintf(trace_hex + 2 * i, "%02x", t[i]);
    for (int i = 0; i < 8; i++)
        sprintf(root_hex + 2 * i, "%02x", r[i]);
    (void)root;
    assert_int_equal(json_array_size(spans), 4); /* 2 model requests, 1 tool, the stream */
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        assert_string_equal(id_of(s, "traceId"), trace_hex);
        assert_string_equal(id_of(s, "parentSpanId"), root_hex);
    }
    json_t *m1 = named(spans, "anthropic.beta.sessions.model_request", 0);
    json_t *m2 = named(spans, "anthropic.beta.sessions.model_request", 1);
    json_t *tool = named(spans, "bash", 0);
    json_t *stream = named(spans, "anthropic.beta.sessions.events.stream", 0);
    assert_non_null(m1), assert_non_null(m2), assert_non_null(tool), assert_non_null(stream);
    assert_string_equal(span_str(m1, "braintrust.span_attributes"),
                        "{\"type\":\"llm\",\"name\":\"anthropic.beta.sessions.model_request\"}");
    /* timed by processed_at */
    char want[32];
    snprintf(want, sizeof want, "%llu", (unsigned long long)at("01", 0));
    assert_string_equal(id_of(m1, "startTimeUnixNano"), want);
    snprintf(want, sizeof want, "%llu", (unsigned long long)at("03", 200));
    assert_string_equal(id_of(m1, "endTimeUnixNano"), want);
    /* input: the user's turn; output: thinking, text and the tool call */
    assert_string_equal(
        span_str(m1, "braintrust.input_json"),
        "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Where is my order?\"}]}]");
    json_t *out = span_json(m1, "braintrust.output_json");
    json_t *content = json_object_get(out, "content");
    assert_int_equal(json_array_size(content), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 0), "type")), "thinking");
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 1), "text")),
                        "Let me look.");
    assert_string_equal(json_string_value(json_object_get(json_array_get(content, 2), "name")), "bash");
    json_decref(out);
    json_t *metrics = span_json(m1, "braintrust.metrics");
    assert_int_equal(json_integer_value(json_object_get(metrics, "prompt_tokens")), 150);
    assert_int_equal(json_integer_value(json_object_get(metrics, "completion_tokens")), 40);
    assert_int_equal(json_integer_value(json_object_get(metrics, "prompt_cached_tokens")), 30);
    json_decref(metrics);
    /* the second request was given the tool's result */
    json_t *in2 = span_json(m2, "braintrust.input_json");
    json_t *tr = json_array_get(json_object_get(json_array_get(in2, 0), "content"), 0);
    assert_string_equal(json_string_value(json_object_get(tr, "type")), "tool_result");
    assert_string_equal(json_string_value(json_object_get(tr, "tool_use_id")), "sevt_06");
    json_decref(in2);
    /* the tool ran from its call to its result */
    assert_string_equal(span_str(tool, "braintrust.input_json"), "{\"command\":\"orders 1234\"}");
    assert_string_equal(span_str(tool, "braintrust.output_json"),
                        "[{\"type\":\"text\",\"text\":\"shipped\"}]");
    snprintf(want, sizeof want, "%llu", (unsigned long long)at("03", 0));
    assert_string_equal(id_of(tool, "startTimeUnixNano"), want);
    snprintf(want, sizeof want, "%llu", (unsigned long long)at("05", 0));
    assert_string_equal(id_of(tool, "endTimeUnixNano"), want);
    /* the stream's own span sums up */
    json_t *sout = span_json(stream, "braintrust.output_json");
    assert_int_equal(json_integer_value(json_object_get(sout, "events")), 12);
    assert_int_equal(json_integer_value(json_object_get(sout, "model_requests")), 2);
    assert_int_equal(json_integer_value(json_object_get(sout, "tool_calls")), 1);
    assert_string_equal(json_string_value(json_object_get(sout, "last_status")), "idle");
    json_decref(sout);
    char m1_id[17], tool_id[17];
    snprintf(m1_id, sizeof m1_id, "%s", id_of(m1, "spanId"));
    snprintf(tool_id, sizeof tool_id, "%s", id_of(tool, "spanId"));
    json_decref(spans);

    /* the same events read again as a list page: the same span ids */
    json_t *page = json_pack("{s:[],s:n}", "data", "next_page");
    for (size_t k = 0; k < N_EVENTS; k++)
        json_array_append_new(json_object_get(page, "data"), json_loads(EVENTS[k], 0, NULL));
    char *page_text = json_dumps(page, JSON_COMPACT);
    exchange(&h, "GET", "/v1/sessions/" SESSION "/events?beta=true", NULL, 200, "application/json",
             (const char *[]){page_text}, 1);
    free(page_text);
    json_decref(page);
    spans = take(&h);
    assert_string_equal(id_of(named(spans, "anthropic.beta.sessions.model_request", 0), "spanId"), m1_id);
    assert_string_equal(id_of(named(spans, "bash", 0), "spanId"), tool_id);
    assert_non_null(named(spans, "anthropic.beta.sessions.events.list", 0));
    json_decref(spans);

    /* the session's root counts each model request once */
    assert_int_equal(bt_anthropic_close_sessions(h.a), 1);
    spans = take(&h);
    json_t *rs = named(spans, "agent.session", 0);
    assert_string_equal(id_of(rs, "spanId"), root_hex);
    json_t *md = span_json(rs, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "session_source")), "managed_agents");
    assert_int_equal(json_integer_value(json_object_get(md, "llm_calls")), 2);
    assert_int_equal(json_integer_value(json_object_get(md, "prompt_tokens")), 150 + 300);
    assert_int_equal(json_integer_value(json_object_get(md, "completion_tokens")), 50);
    json_decref(md);
    json_t *rout = span_json(rs, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(rout, "content"), 0), "text")),
        "It shipped.");
    json_decref(rout);
    json_decref(spans);
    harness_free(&h);
}

static void test_create_send_and_files(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    const char *created = "{\"id\":\"sesn_new\",\"type\":\"session\",\"status\":\"idle\",\"agent\":{\"id\":"
                          "\"agent_1\",\"type\":\"agent\",\"model\":{\"id\":\"claude-opus-5-5\"}}}";
    exchange(&h, "POST", "/v1/sessions?beta=true", "{\"agent\":\"agent_1\",\"environment_id\":\"env_1\"}",
             200, "application/json", &created, 1);
    exchange(&h, "POST", "/v1/sessions/sesn_new/events?beta=true",
             "{\"events\":[{\"type\":\"user.message\",\"content\":[{\"type\":\"text\",\"text\":\"hi\"}]}]}",
             200, "application/json", (const char *[]){"{\"data\":[]}"}, 1);
    const char *refused = "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"no such "
                          "agent\"}}";
    exchange(&h, "POST", "/v1/sessions", "{\"agent\":\"nope\"}", 404, "application/json", &refused, 1);
    const char *file = "{\"id\":\"file_011\",\"type\":\"file\",\"filename\":\"notes.pdf\",\"mime_type\":"
                       "\"application/pdf\",\"size_bytes\":1234,\"created_at\":\"2026-04-01T00:00:00Z\"}";
    exchange(&h, "POST", "/v1/files?beta=true", "--boundary...", 200, "application/json", &file, 1);
    json_t *spans = take(&h);
    assert_int_equal(json_array_size(spans), 4);
    uint8_t t[16];
    bt_derive_id("braintrust:session:trace", "sesn_new", 8, t, 16);
    char trace_hex[33];
    for (int i = 0; i < 16; i++)
        sprintf(trace_hex + 2 * i, "%02x", t[i]);
    json_t *create = json_array_get(spans, 0);
    assert_string_equal(id_of(create, "name"), "anthropic.beta.sessions.create");
    assert_string_equal(id_of(create, "traceId"), trace_hex);
    json_t *md = span_json(create, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "model")), "claude-opus-5-5");
    assert_string_equal(json_string_value(json_object_get(md, "session_id")), "sesn_new");
    assert_string_equal(json_string_value(json_object_get(md, "anthropic_beta")),
                        "managed-agents-2026-04-01");
    json_decref(md);
    json_t *send = json_array_get(spans, 1);
    assert_string_equal(id_of(send, "name"), "anthropic.beta.sessions.events.send");
    assert_string_equal(id_of(send, "traceId"), trace_hex);
    assert_non_null(strstr(span_str(send, "braintrust.input_json"), "user.message"));
    json_t *failed = json_array_get(spans, 2);
    assert_int_equal(span_status_code(failed), 2);
    assert_string_equal(span_status_message(failed), "not_found_error: no such agent");
    json_t *up = json_array_get(spans, 3);
    assert_string_equal(id_of(up, "name"), "anthropic.beta.files.upload");
    assert_string_equal(span_str(up, "braintrust.input_json"),
                        "{\"filename\":\"notes.pdf\",\"mime_type\":\"application/pdf\",\"size_bytes\":1234}");
    md = span_json(up, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "file_id")), "file_011");
    json_decref(md);
    json_decref(spans);
    /* no model request was reported: nothing to close */
    assert_int_equal(bt_anthropic_close_sessions(h.a), 0);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_stream),
        cmocka_unit_test(test_create_send_and_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
