/*
 * Agent sessions as traces: the calls of one session share a trace under a root
 * `agent.session` span whose ids derive from the session id; turn numbers come from the
 * request; client tool round trips become tool spans between the turns; the root comes
 * with the totals once the session is idle (driven by the test's clock), again with the
 * same ids when the session resumes, and at close. In-conversation system turns are told
 * apart from the top-level system. Without a session header nothing changes.
 */
#include "msg_harness.h"

#define H(n, v)                            \
    {                                      \
        n, sizeof(n) - 1, v, sizeof(v) - 1 \
    }

static const bt_header json_ct[] = {H("content-type", "application/json")};
static const uint64_t SEC = 1000000000ull;

/* A Messages reply with the given usage; tool_use set asks for a tool. */
static char *reply(const char *model, int input, int cache_read, int cache_write, int output,
                   const char *tool_id, const char *tool_name)
{
    json_t *content = json_pack("[{s:s,s:s}]", "type", "text", "text", tool_id ? "Let me look." : "Done.");
    if (tool_id)
        json_array_append_new(content,
                              json_pack("{s:s,s:s,s:s,s:{s:s}}", "type", "tool_use", "id", tool_id, "name",
                                        tool_name, "input", "command", "ls"));
    json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:{s:i,s:i,s:i,s:i}}", "id", "msg_s", "type", "message",
                          "role", "assistant", "model", model, "content", content, "stop_reason",
                          tool_id ? "tool_use" : "end_turn", "usage", "input_tokens", input,
                          "cache_read_input_tokens", cache_read, "cache_creation_input_tokens", cache_write,
                          "output_tokens", output);
    char *text = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    return text;
}

typedef struct call {
    const bt_header *headers;
    size_t n_headers;
    const bt_span_context *parent;
    const char *target;
    json_t *messages; /* borrowed */
    const char *body; /* the response */
    int status;
    uint64_t duration_ns;
} call;

/* Runs one exchange at the harness clock; the clock moves on by the duration. */
static void run(harness *h, const call *c)
{
    json_t *req = json_pack("{s:s,s:i,s:s,s:O}", "model", "claude-opus-5-5", "max_tokens", 100, "system",
                            "You are an agent.", "messages", c->messages);
    char *req_text = json_dumps(req, JSON_COMPACT);
    bt_exchange_options o = {.parent = c->parent};
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", c->target ? c->target : "/v1/messages?beta=true",
                                       c->headers, c->n_headers, &o, &ex),
                     BT_OK);
    assert_non_null(ex);
    bt_exchange_request_body(ex, req_text, strlen(req_text));
    h_now += c->duration_ns / 2;
    bt_exchange_response_headers(ex, c->status ? c->status : 200, json_ct, 1);
    bt_exchange_response_body(ex, c->body, strlen(c->body));
    h_now += c->duration_ns - c->duration_ns / 2;
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    free(req_text);
    json_decref(req);
}

/* The spans produced since the last call, parsed, in the order they ended. */
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

static json_t *find_named(json_t *spans, const char *name, int nth)
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

static const char *sid(json_t *s, const char *key)
{
    return json_string_value(json_object_get(s, key));
}

static json_t *md_of(json_t *s)
{
    return span_json(s, "braintrust.metadata");
}

static long long md_int(json_t *s, const char *key)
{
    json_t *md = md_of(s);
    long long v =
        json_is_integer(json_object_get(md, key)) ? json_integer_value(json_object_get(md, key)) : -1;
    json_decref(md);
    return v;
}

/* The ids derived the way the library documents: SHA-256 of namespace, 0, session id. */
static void expected_ids(const char *session, char trace_hex[33], char root_hex[17])
{
    uint8_t t[16], r[8];
    bt_derive_id("braintrust:session:trace", session, strlen(session), t, 16);
    bt_derive_id("braintrust:session:root", session, strlen(session), r, 8);
    for (int i = 0; i < 16; i++)
        sprintf(trace_hex + 2 * i, "%02x", t[i]);
    for (int i = 0; i < 8; i++)
        sprintf(root_hex + 2 * i, "%02x", r[i]);
}

static const bt_header cc_session[] = {H("x-claude-code-session-id", "4b24707d-ff6f-41a4-88ed-f289a313690a"),
                                       H("anthropic-version", "2023-06-01"), H("x-api-key", "sk-secret-key")};
#define CC_ID "4b24707d-ff6f-41a4-88ed-f289a313690a"

/* Claude Code's conversation after k tool round trips: [user, system, (assistant, user)*k]. */
static json_t *conversation(int rounds, int error_last)
{
    json_t *m = json_pack("[{s:s,s:[{s:s,s:s}]},{s:s,s:[{s:s,s:s}]}]", "role", "user", "content", "type",
                          "text", "text", "List the files", "role", "system", "content", "type", "text",
                          "text", "# Environment");
    for (int k = 1; k <= rounds; k++) {
        char id[32], out[32];
        snprintf(id, sizeof id, "toolu_%d", k);
        snprintf(out, sizeof out, "file%d.txt", k);
        json_array_append_new(m,
                              json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s,s:s,s:{s:s}}]}", "role", "assistant",
                                        "content", "type", "text", "text", "Let me look.", "type", "tool_use",
                                        "id", id, "name", "Bash", "input", "command", "ls"));
        json_t *result = json_pack("{s:s,s:s,s:s}", "type", "tool_result", "tool_use_id", id, "content", out);
        if (error_last && k == rounds)
            json_object_set_new(result, "is_error", json_true());
        json_array_append_new(m, json_pack("{s:s,s:[o]}", "role", "user", "content", result));
    }
    return m;
}

static void test_claude_code_session_is_one_trace(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    assert_int_equal(bt_anthropic_set_session_idle(h.a, 300), BT_OK);
    char trace_hex[33], root_hex[17];
    expected_ids(CC_ID, trace_hex, root_hex);

    uint64_t t0 = h_now;
    char *r1 = reply("claude-opus-5-5-20260101", 100, 0, 2000, 20, "toolu_1", "Bash");
    char *r2 = reply("claude-opus-5-5-20260101", 30, 2000, 0, 15, "toolu_2", "Bash");
    char *r3 = reply("claude-opus-5-5-20260101", 40, 2000, 0, 10, NULL, NULL);
    json_t *c1 = conversation(0, 0), *c2 = conversation(1, 0), *c3 = conversation(2, 1);
    run(&h, &(call){cc_session, 3, NULL, NULL, c1, r1, 200, 2 * SEC});
    h_now += 1 * SEC; /* the tool runs on the client */
    run(&h, &(call){cc_session, 3, NULL, NULL, c2, r2, 200, 2 * SEC});
    h_now += 3 * SEC;
    run(&h, &(call){cc_session, 3, NULL, NULL, c3, r3, 200, 1 * SEC});
    uint64_t t_end = h_now;

    json_t *spans = take(&h);
    /* three turns and two tool spans, no root yet: the session is not idle */
    assert_int_equal(json_array_size(spans), 5);
    for (int i = 0; i < 3; i++) {
        json_t *turn = find_named(spans, "anthropic.messages.create", i);
        assert_non_null(turn);
        assert_string_equal(sid(turn, "traceId"), trace_hex);
        assert_string_equal(sid(turn, "parentSpanId"), root_hex);
        assert_int_equal(md_int(turn, "turn"), i + 1);
        /* the Claude Code system turn is index 1 of the input; the top-level system is last */
        json_t *md = md_of(turn);
        json_t *st = json_object_get(md, "system_turns");
        assert_int_equal(json_array_size(st), 1);
        assert_int_equal(json_integer_value(json_array_get(st, 0)), 1);
        json_decref(md);
        json_t *in = span_json(turn, "braintrust.input_json");
        assert_string_equal(json_string_value(json_object_get(json_array_get(in, 1), "role")), "system");
        json_t *last = json_array_get(in, json_array_size(in) - 1);
        assert_string_equal(json_string_value(json_object_get(last, "role")), "system");
        assert_string_equal(json_string_value(json_object_get(last, "content")), "You are an agent.");
        json_decref(in);
        char *text = json_dumps(turn, 0);
        assert_null(strstr(text, "sk-secret-key"));
        free(text);
    }
    for (int i = 0; i < 2; i++) {
        json_t *tool = find_named(spans, "Bash", i);
        assert_non_null(tool);
        assert_string_equal(sid(tool, "traceId"), trace_hex);
        assert_string_equal(sid(tool, "parentSpanId"), root_hex);
        assert_string_equal(span_str(tool, "braintrust.span_attributes"),
                            "{\"type\":\"tool\",\"name\":\"Bash\"}");
        assert_string_equal(span_str(tool, "braintrust.input_json"), "{\"command\":\"ls\"}");
        assert_string_equal(span_str(tool, "braintrust.output_json"),
                            i == 0 ? "\"file1.txt\"" : "\"file2.txt\"");
        assert_int_equal(md_int(tool, "turn"), i + 1);
        /* between the turns: from the end of the reply that asked to the next request */
        json_t *asked = find_named(spans, "anthropic.messages.create", i);
        json_t *next = find_named(spans, "anthropic.messages.create", i + 1);
        assert_string_equal(sid(tool, "startTimeUnixNano"), sid(asked, "endTimeUnixNano"));
        assert_string_equal(sid(tool, "endTimeUnixNano"), sid(next, "startTimeUnixNano"));
        /* the second result is marked is_error */
        assert_int_equal(span_status_code(tool), i == 1 ? 2 : 0);
    }
    assert_string_equal(span_status_message(find_named(spans, "Bash", 1)), "tool_error: file2.txt");
    json_decref(spans);

    /* idle for less than the idle time: nothing; then the root with the totals */
    h_now += 299 * SEC;
    assert_int_equal(bt_anthropic_tick(h.a), 0);
    h_now += 2 * SEC;
    assert_int_equal(bt_anthropic_tick(h.a), 1);
    assert_int_equal(bt_anthropic_tick(h.a), 0); /* once */
    spans = take(&h);
    assert_int_equal(json_array_size(spans), 1);
    json_t *root = json_array_get(spans, 0);
    assert_string_equal(sid(root, "name"), "agent.session");
    assert_string_equal(sid(root, "traceId"), trace_hex);
    assert_string_equal(sid(root, "spanId"), root_hex);
    assert_null(json_object_get(root, "parentSpanId") && sid(root, "parentSpanId")[0] ? "parent" : NULL);
    assert_string_equal(span_str(root, "braintrust.span_attributes"),
                        "{\"type\":\"task\",\"name\":\"agent.session\"}");
    char want_start[32], want_end[32];
    snprintf(want_start, sizeof want_start, "%llu", (unsigned long long)t0);
    snprintf(want_end, sizeof want_end, "%llu", (unsigned long long)t_end);
    assert_string_equal(sid(root, "startTimeUnixNano"), want_start);
    assert_string_equal(sid(root, "endTimeUnixNano"), want_end);
    json_t *md = md_of(root);
    assert_string_equal(json_string_value(json_object_get(md, "session_id")), CC_ID);
    assert_string_equal(json_string_value(json_object_get(md, "session_source")), "x-claude-code-session-id");
    assert_int_equal(json_integer_value(json_object_get(md, "llm_calls")), 3);
    assert_int_equal(json_integer_value(json_object_get(md, "errors")), 0);
    assert_int_equal(json_integer_value(json_object_get(md, "turns")), 3);
    assert_int_equal(json_integer_value(json_object_get(md, "tool_calls")), 2);
    assert_int_equal(json_integer_value(json_object_get(md, "prompt_tokens")), 2100 + 2030 + 2040);
    assert_int_equal(json_integer_value(json_object_get(md, "completion_tokens")), 45);
    assert_int_equal(json_integer_value(json_object_get(md, "tokens")), 6170 + 45);
    assert_int_equal(json_integer_value(json_object_get(md, "prompt_cached_tokens")), 4000);
    assert_int_equal(json_integer_value(json_object_get(md, "prompt_cache_creation_tokens")), 2000);
    assert_true(json_real_value(json_object_get(md, "wall_time_seconds")) == 9.0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(md, "models"), 0)),
                        "claude-opus-5-5-20260101");
    json_decref(md);
    /* no token metrics on the root: Braintrust sums metrics up the trace */
    assert_null(span_str(root, "braintrust.metrics"));
    /* input: the first prompt; output: the last reply */
    json_t *in = span_json(root, "braintrust.input_json");
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(json_array_get(in, 0), "content"), 0), "text")),
                        "List the files");
    json_decref(in);
    json_t *out = span_json(root, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(out, "content"), 0), "text")),
        "Done.");
    json_decref(out);
    assert_string_equal(span_str(root, "gen_ai.conversation.id"), CC_ID);
    json_decref(spans);

    /* the session resumes: same ids, cumulative totals, root emitted again once idle */
    json_t *c4 = conversation(3, 0);
    run(&h, &(call){cc_session, 3, NULL, NULL, c4, r3, 200, SEC});
    h_now += 301 * SEC;
    assert_int_equal(bt_anthropic_tick(h.a), 1);
    spans = take(&h);
    root = find_named(spans, "agent.session", 0);
    assert_non_null(root);
    assert_string_equal(sid(root, "spanId"), root_hex);
    assert_string_equal(sid(root, "startTimeUnixNano"), want_start);
    assert_int_equal(md_int(root, "llm_calls"), 4);
    assert_int_equal(md_int(root, "turns"), 4);
    assert_int_equal(md_int(root, "tool_calls"), 3);
    json_decref(spans);

    /* closing with nothing new emits nothing */
    assert_int_equal(bt_anthropic_close_sessions(h.a), 0);
    json_decref(c1), json_decref(c2), json_decref(c3), json_decref(c4);
    free(r1), free(r2), free(r3);
    harness_free(&h);
}

/* Another process (a replica) sees a later call of the same session: same trace, same
 * root id, same turn number, same tool span id. */
static void test_replicas_agree(void **state)
{
    (void)state;
    json_t *roots[2], *tools[2], *turns[2];
    char *r = reply("claude-opus-5-5", 10, 0, 0, 5, NULL, NULL);
    json_t *conv = conversation(1, 0);
    for (int k = 0; k < 2; k++) {
        harness h;
        harness_init(&h);
        h_now += 7 * SEC * (uint64_t)(k + 1); /* at different times */
        run(&h, &(call){cc_session, 3, NULL, NULL, conv, r, 200, SEC});
        bt_anthropic_free(h.a); /* shutdown: the open session's root */
        h.a = NULL;
        json_t *spans = take(&h);
        roots[k] = json_incref(find_named(spans, "agent.session", 0));
        tools[k] = json_incref(find_named(spans, "Bash", 0));
        turns[k] = json_incref(find_named(spans, "anthropic.messages.create", 0));
        assert_non_null(roots[k]);
        assert_non_null(tools[k]);
        json_decref(spans);
        bt_tracer_free(h.t);
    }
    assert_string_equal(sid(roots[0], "spanId"), sid(roots[1], "spanId"));
    assert_string_equal(sid(roots[0], "traceId"), sid(roots[1], "traceId"));
    assert_string_equal(sid(tools[0], "spanId"), sid(tools[1], "spanId"));
    assert_string_equal(sid(turns[0], "parentSpanId"), sid(roots[1], "spanId"));
    assert_int_equal(md_int(turns[0], "turn"), 2);
    assert_int_equal(md_int(turns[1], "turn"), 2);
    for (int k = 0; k < 2; k++)
        json_decref(roots[k]), json_decref(tools[k]), json_decref(turns[k]);
    json_decref(conv);
    free(r);
}

static void test_without_session_nothing_changes(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    static const bt_header plain[] = {H("anthropic-version", "2023-06-01")};
    char *r = reply("claude-opus-5-5", 10, 0, 0, 5, NULL, NULL);
    json_t *conv = conversation(1, 0);
    run(&h, &(call){plain, 1, NULL, NULL, conv, r, 200, SEC});
    run(&h, &(call){plain, 1, NULL, NULL, conv, r, 200, SEC});
    json_t *spans = take(&h);
    assert_int_equal(json_array_size(spans), 2); /* no tool spans */
    json_t *a = json_array_get(spans, 0), *b = json_array_get(spans, 1);
    assert_string_not_equal(sid(a, "traceId"), sid(b, "traceId"));
    assert_null(json_object_get(a, "parentSpanId") && sid(a, "parentSpanId")[0] ? "parent" : NULL);
    assert_int_equal(md_int(a, "turn"), -1);
    json_decref(spans);
    h_now += 1000 * SEC;
    assert_int_equal(bt_anthropic_tick(h.a), 0);
    assert_int_equal(bt_anthropic_close_sessions(h.a), 0);
    /* malformed ids are no sessions */
    static const bt_header bad[] = {H("x-bt-session-id", "   "), H("x-claude-code-session-id", "a\x01")};
    run(&h, &(call){bad, 2, NULL, NULL, conv, r, 200, SEC});
    char longid[BT_TRACESTATE_MAX];
    memset(longid, 'x', 300);
    longid[300] = '\0';
    bt_header too_long[] = {{"x-bt-session-id", 15, longid, 300}};
    run(&h, &(call){too_long, 1, NULL, NULL, conv, r, 200, SEC});
    spans = take(&h);
    assert_int_equal(json_array_size(spans), 2);
    assert_int_equal(md_int(json_array_get(spans, 0), "turn"), -1);
    assert_int_equal(md_int(json_array_get(spans, 1), "turn"), -1);
    json_decref(spans);
    assert_int_equal(bt_anthropic_close_sessions(h.a), 0);
    json_decref(conv);
    free(r);
    harness_free(&h);
}

/* x-bt-session-id wins over Claude Code's header; an explicit parent context wins over
 * both; errors and count_tokens are counted apart. */
static void test_precedence_and_counts(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    assert_int_equal(bt_anthropic_set_session_idle(h.a, 0), BT_OK);
    assert_int_equal(bt_anthropic_set_session_idle(h.a, -1), BT_EINVAL);
    static const bt_header both[] = {H("x-claude-code-session-id", "cc-1"), H("X-BT-Session-Id", " mine ")};
    char trace_hex[33], root_hex[17];
    expected_ids("mine", trace_hex, root_hex);
    char *ok = reply("claude-haiku-4-5", 10, 0, 0, 5, NULL, NULL);
    static const char err_body[] =
        "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}";
    json_t *conv = conversation(0, 0);
    run(&h, &(call){both, 2, NULL, NULL, conv, ok, 200, SEC});
    run(&h, &(call){both, 2, NULL, NULL, conv, err_body, 529, SEC});
    run(&h, &(call){both, 2, NULL, "/v1/messages/count_tokens", conv, "{\"input_tokens\":99}", 200, SEC});
    bt_span_context explicit_parent;
    assert_int_equal(bt_traceparent_parse("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", NULL,
                                          &explicit_parent),
                     BT_OK);
    run(&h, &(call){both, 2, &explicit_parent, NULL, conv, ok, 200, SEC});
    json_t *spans = take(&h);
    assert_int_equal(json_array_size(spans), 4);
    for (int i = 0; i < 3; i++) {
        assert_string_equal(sid(json_array_get(spans, i), "traceId"), trace_hex);
        assert_string_equal(sid(json_array_get(spans, i), "parentSpanId"), root_hex);
    }
    json_t *outside = json_array_get(spans, 3);
    assert_string_equal(sid(outside, "traceId"), "0af7651916cd43dd8448eb211c80319c");
    assert_string_equal(sid(outside, "parentSpanId"), "b7ad6b7169203331");
    assert_int_equal(md_int(outside, "turn"), -1);
    json_decref(spans);
    /* idle time 0: the root at the first tick */
    assert_int_equal(bt_anthropic_tick(h.a), 1);
    spans = take(&h);
    json_t *root = json_array_get(spans, 0);
    assert_string_equal(sid(root, "spanId"), root_hex);
    json_t *md = md_of(root);
    assert_string_equal(json_string_value(json_object_get(md, "session_source")), "x-bt-session-id");
    assert_int_equal(json_integer_value(json_object_get(md, "llm_calls")), 2);
    assert_int_equal(json_integer_value(json_object_get(md, "errors")), 1);
    assert_int_equal(json_integer_value(json_object_get(md, "count_tokens_calls")), 1);
    assert_int_equal(json_integer_value(json_object_get(md, "prompt_tokens")), 10);
    json_decref(md);
    json_decref(spans);
    json_decref(conv);
    free(ok);
    harness_free(&h);
}

/* A session in flight is not idle; the table is bounded and makes room by emitting the
 * root of the session idle the longest. */
static void test_in_flight_and_bounded_table(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    assert_int_equal(bt_anthropic_set_session_idle(h.a, 10), BT_OK);
    static const bt_header s1[] = {H("x-bt-session-id", "long-running")};
    json_t *req = json_pack("{s:s,s:i,s:[{s:s,s:s}]}", "model", "m", "max_tokens", 5, "messages", "role",
                            "user", "content", "hi");
    char *req_text = json_dumps(req, JSON_COMPACT);
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", s1, 1, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, req_text, strlen(req_text));
    h_now += 3600 * SEC; /* a very long stream */
    assert_int_equal(bt_anthropic_tick(h.a), 0);
    char *r = reply("m", 1, 0, 0, 1, NULL, NULL);
    bt_exchange_response_headers(ex, 200, json_ct, 1);
    bt_exchange_response_body(ex, r, strlen(r));
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    assert_int_equal(bt_anthropic_tick(h.a), 0); /* just ended: not idle yet */
    h_now += 11 * SEC;
    assert_int_equal(bt_anthropic_tick(h.a), 1);
    json_t *spans = take(&h);
    assert_int_equal(json_array_size(spans), 2);
    json_decref(spans);

    /* fill the table: one more session than it holds */
    json_t *conv = conversation(0, 0);
    char id[32];
    json_t *roots = json_array();
    for (int i = 0; i <= 4096; i++) {
        snprintf(id, sizeof id, "session-%05d", i);
        bt_header hs[] = {{"x-bt-session-id", 15, id, strlen(id)}};
        run(&h, &(call){hs, 1, NULL, NULL, conv, r, 200, SEC});
        if (i % 512 == 0 || i == 4096) { /* drained as we go: the export queue is bounded */
            spans = take(&h);
            json_t *root = find_named(spans, "agent.session", 0);
            if (root)
                json_array_append(roots, root);
            json_decref(spans);
        }
    }
    /* the root of the session idle the longest (the first one) made room for the last */
    assert_int_equal(json_array_size(roots), 1);
    json_t *md = md_of(json_array_get(roots, 0));
    assert_string_equal(json_string_value(json_object_get(md, "session_id")), "session-00000");
    json_decref(md);
    json_decref(roots);
    /* nothing lost: every session still open gets its root at close */
    assert_int_equal(bt_anthropic_close_sessions(h.a), 4096);
    json_decref(conv);
    json_decref(req);
    free(req_text);
    free(r);
    harness_free(&h);
}

/* Without a session, system turns are still told apart; no system turn, no key. */
static void test_system_turns_without_session(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    char *r = reply("m", 1, 0, 0, 1, NULL, NULL);
    json_t *conv = json_pack("[{s:s,s:s},{s:s,s:s},{s:s,s:s},{s:s,s:s}]", "role", "user", "content", "a",
                             "role", "system", "content", "reminder", "role", "assistant", "content", "b",
                             "role", "user", "content", "c");
    static const bt_header none[] = {H("anthropic-version", "2023-06-01")};
    run(&h, &(call){none, 1, NULL, NULL, conv, r, 200, SEC});
    json_t *spans = take(&h);
    json_t *md = md_of(json_array_get(spans, 0));
    json_t *want = json_pack("[i]", 1);
    assert_true(json_equal(json_object_get(md, "system_turns"), want));
    json_decref(want);
    json_decref(md);
    json_t *in = span_json(json_array_get(spans, 0), "braintrust.input_json");
    assert_int_equal(json_array_size(in), 5); /* the 4 turns, then the top-level system */
    json_decref(in);
    json_decref(spans);
    json_t *plain = json_pack("[{s:s,s:s}]", "role", "user", "content", "a");
    run(&h, &(call){none, 1, NULL, NULL, plain, r, 200, SEC});
    spans = take(&h);
    md = md_of(json_array_get(spans, 0));
    assert_null(json_object_get(md, "system_turns"));
    json_decref(md);
    json_decref(spans);
    json_decref(plain);
    json_decref(conv);
    free(r);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_claude_code_session_is_one_trace),
        cmocka_unit_test(test_replicas_agree),
        cmocka_unit_test(test_without_session_nothing_changes),
        cmocka_unit_test(test_precedence_and_counts),
        cmocka_unit_test(test_in_flight_and_bounded_table),
        cmocka_unit_test(test_system_turns_without_session),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
