/*
 * Server and MCP tool calls as child tool spans of their llm span: recorded web search,
 * MCP, code execution and pause_turn traffic (streamed and not), error results, calls
 * without a result, redaction of encrypted blobs, stream timing, masking, gen_ai
 * attributes, and a batch result carrying a server tool pair.
 */
#include "conformance.h"
#include "msg_harness.h"

#define PYD "anthropic/pydantic-ai/"

/* --- running recordings ------------------------------------------------------------ */

typedef struct run_result {
    json_t *spans;  /* every span, parsed, in end order */
    json_t *lines;  /* the same as text (strings) */
    json_t *events; /* stream block arrival, see feed_events: {"start:<id>"|"stop:<id>": ns} */
} run_result;

static void run_free(run_result *r)
{
    json_decref(r->spans);
    json_decref(r->lines);
    json_decref(r->events);
}

static void collect(harness *h, run_result *r)
{
    size_t n;
    char **lines = harness_take_spans(h, &n);
    for (size_t i = 0; i < n; i++) {
        json_t *s = json_loads(lines[i], 0, NULL);
        assert_non_null(s);
        json_array_append_new(r->spans, s);
        json_array_append_new(r->lines, json_string(lines[i]));
    }
    free_lines(lines);
}

static const char *find(const char *hay, size_t len, const char *needle)
{
    size_t k = strlen(needle);
    for (size_t i = 0; i + k <= len; i++)
        if (!memcmp(hay + i, needle, k))
            return hay + i;
    return NULL;
}

/* Feeds an SSE body event by event, the clock moving 1 ms before each, and records when
 * each server/MCP call block started and each result block stopped (by tool id). */
static void feed_events(bt_exchange *ex, const char *body, size_t len, json_t *events)
{
    json_t *index_ids = json_object(); /* block index -> "result:<tool_use_id>" */
    size_t i = 0;
    while (i < len) {
        const char *end = find(body + i, len - i, "\n\n");
        size_t n = end ? (size_t)(end - (body + i)) + 2 : len - i;
        h_now += 1000000;
        bt_exchange_response_body(ex, body + i, n);
        const char *d = find(body + i, n, "data: ");
        if (d) {
            const char *nl = memchr(d, '\n', (size_t)(body + i + n - d));
            json_t *ev = json_loadb(d + 6, (size_t)((nl ? nl : body + i + n) - d - 6), 0, NULL);
            const char *type = json_string_value(json_object_get(ev, "type"));
            char key[64], idx[32];
            snprintf(idx, sizeof idx, "%lld", (long long)json_integer_value(json_object_get(ev, "index")));
            if (type && !strcmp(type, "content_block_start")) {
                json_t *cb = json_object_get(ev, "content_block");
                const char *bt = json_string_value(json_object_get(cb, "type"));
                const char *id = json_string_value(json_object_get(cb, "id"));
                const char *use = json_string_value(json_object_get(cb, "tool_use_id"));
                if (id && (!strcmp(bt, "server_tool_use") || !strcmp(bt, "mcp_tool_use"))) {
                    snprintf(key, sizeof key, "start:%s", id);
                    json_object_set_new(events, key, json_integer((json_int_t)h_now));
                } else if (use) {
                    json_object_set_new(index_ids, idx, json_string(use));
                }
            } else if (type && !strcmp(type, "content_block_stop")) {
                const char *use = json_string_value(json_object_get(index_ids, idx));
                if (use) {
                    snprintf(key, sizeof key, "stop:%s", use);
                    json_object_set_new(events, key, json_integer((json_int_t)h_now));
                }
            }
            json_decref(ev);
        }
        i += n;
    }
    json_decref(index_ids);
}

/* Feeds every Messages interaction of a recording; with `timed`, streams event by event. */
static run_result run_recording(harness *h, const char *file, int timed)
{
    run_result r = {json_array(), json_array(), json_object()};
    bt_test_cassette c;
    assert_int_equal(bt_test_cassette_load(bt_test_fixture_path(file), &c), 0);
    int fed = 0;
    for (size_t k = 0; k < c.n; k++) {
        const bt_test_interaction *it = &c.items[k];
        if (strcmp(it->method, "POST") || !strstr(it->target, "/v1/messages"))
            continue;
        const char *ct = bt_test_header_get(it->resp_headers, it->n_resp_headers, "content-type");
        int sse = ct && strstr(ct, "text/event-stream");
        if (timed && sse) {
            assert_null(bt_test_header_get(it->resp_headers, it->n_resp_headers, "content-encoding"));
            bt_header *rq = bt_test_headers_view(it->req_headers, it->n_req_headers);
            bt_exchange *ex = NULL;
            assert_int_equal(
                bt_exchange_begin(h->a, it->method, it->target, rq, it->n_req_headers, NULL, &ex), BT_OK);
            free(rq);
            bt_exchange_request_body(ex, it->req_body, it->req_body_len);
            bt_header *rs = bt_test_headers_view(it->resp_headers, it->n_resp_headers);
            bt_exchange_response_headers(ex, it->status, rs, it->n_resp_headers);
            free(rs);
            feed_events(ex, it->resp_body, it->resp_body_len, r.events);
            h_now += 1000000;
            bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
        } else {
            assert_true(feed_interaction(h, it, FEED_RANDOM, (unsigned)k, BT_EXCHANGE_COMPLETED));
        }
        fed++;
    }
    assert_true(fed > 0);
    bt_test_cassette_free(&c);
    collect(h, &r);
    return r;
}

static json_t *find_span(json_t *spans, const char *key, const char *value)
{
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        if (!strcmp(key, "spanId") ? !strcmp(json_string_value(json_object_get(s, "spanId")), value)
                                   : !strcmp(json_string_value(json_object_get(s, key)), value))
            return s;
    }
    return NULL;
}

static int is_tool_span(json_t *s)
{
    json_t *sa = span_json(s, "braintrust.span_attributes");
    const char *type = json_string_value(json_object_get(sa, "type"));
    int yes = type && !strcmp(type, "tool");
    json_decref(sa);
    return yes;
}

static unsigned long long span_time(json_t *s, const char *key)
{
    return strtoull(json_string_value(json_object_get(s, key)), NULL, 10);
}

/* Every encrypted_content / encrypted_index string of a value, into `out` (strings). */
static void gather_encrypted(json_t *v, json_t *out)
{
    const char *key;
    json_t *child;
    size_t i;
    if (json_is_object(v)) {
        json_object_foreach(v, key, child)
        {
            if (json_is_string(child) &&
                (!strcmp(key, "encrypted_content") || !strcmp(key, "encrypted_index")))
                json_array_append(out, child);
            else
                gather_encrypted(child, out);
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, child) gather_encrypted(child, out);
    }
}

/* The calls and results of every llm span's output, checked against its tool children:
 * one child per call, under the llm span, with the call's name, id, input and the
 * result's redacted content. Returns the number of tool spans checked. */
static int check_children(run_result *r, int want_genai)
{
    int n_tools = 0, n_calls = 0;
    size_t i;
    json_t *llm;
    json_array_foreach(r->spans, i, llm)
    {
        if (is_tool_span(llm))
            continue;
        json_t *out = span_json(llm, "braintrust.output_json");
        json_t *content = json_object_get(out, "content");
        const char *llm_id = json_string_value(json_object_get(llm, "spanId"));
        size_t k;
        json_t *call;
        json_array_foreach(content, k, call)
        {
            const char *type = json_string_value(json_object_get(call, "type"));
            int mcp = !strcmp(type, "mcp_tool_use");
            if (!mcp && strcmp(type, "server_tool_use"))
                continue;
            n_calls++;
            const char *id = json_string_value(json_object_get(call, "id"));
            /* the result, found here independently */
            json_t *result = NULL, *b;
            size_t j;
            json_array_foreach(content, j, b)
            {
                const char *use = json_string_value(json_object_get(b, "tool_use_id"));
                if (use && !strcmp(use, id) && !result)
                    result = b;
            }
            /* the child with this tool id */
            json_t *child = NULL, *s;
            size_t m;
            json_array_foreach(r->spans, m, s)
            {
                if (!is_tool_span(s))
                    continue;
                json_t *md = span_json(s, "braintrust.metadata");
                const char *tid = json_string_value(json_object_get(md, "tool_use_id"));
                if (tid && !strcmp(tid, id))
                    child = s;
                json_decref(md);
            }
            assert_non_null(child);
            n_tools++;
            assert_string_equal(json_string_value(json_object_get(child, "parentSpanId")), llm_id);
            assert_string_equal(json_string_value(json_object_get(child, "traceId")),
                                json_string_value(json_object_get(llm, "traceId")));
            const char *name = json_string_value(json_object_get(call, "name"));
            assert_string_equal(json_string_value(json_object_get(child, "name")), name);
            json_t *sa = span_json(child, "braintrust.span_attributes");
            assert_string_equal(json_string_value(json_object_get(sa, "name")), name);
            json_decref(sa);
            json_t *in = span_json(child, "braintrust.input_json");
            assert_true(json_equal(in, json_object_get(call, "input")));
            json_decref(in);

            json_t *md = span_json(child, "braintrust.metadata");
            assert_string_equal(json_string_value(json_object_get(md, "provider")), "anthropic");
            assert_string_equal(json_string_value(json_object_get(md, "tool_call_type")), type);
            if (mcp)
                assert_true(
                    json_equal(json_object_get(md, "server_name"), json_object_get(call, "server_name")));
            json_t *got = span_json(child, "braintrust.output_json");
            if (result) {
                assert_true(
                    json_equal(json_object_get(md, "tool_result_type"), json_object_get(result, "type")));
                assert_null(json_object_get(md, "result_missing"));
                /* the same content, except each encrypted blob */
                json_t *secrets = json_array(), *left = json_array();
                gather_encrypted(json_object_get(result, "content"), secrets);
                gather_encrypted(got, left);
                assert_int_equal(json_array_size(left), json_array_size(secrets));
                size_t q;
                json_t *v;
                json_array_foreach(left, q, v) assert_string_equal(json_string_value(v), "<redacted>");
                if (!json_array_size(secrets))
                    assert_true(json_equal(got, json_object_get(result, "content")));
                json_decref(secrets);
                json_decref(left);
            } else {
                assert_true(json_is_true(json_object_get(md, "result_missing")));
                assert_null(json_object_get(md, "tool_result_type"));
                assert_null(got);
                assert_int_not_equal(span_status_code(child), 2);
            }
            json_decref(got);
            json_decref(md);
            /* within the llm span */
            assert_true(span_time(child, "startTimeUnixNano") >= span_time(llm, "startTimeUnixNano"));
            assert_true(span_time(child, "endTimeUnixNano") <= span_time(llm, "endTimeUnixNano"));
            assert_true(span_time(child, "startTimeUnixNano") <= span_time(child, "endTimeUnixNano"));
            if (want_genai) {
                assert_string_equal(span_str(child, "gen_ai.operation.name"), "execute_tool");
                assert_string_equal(span_str(child, "gen_ai.tool.name"), name);
                assert_string_equal(span_str(child, "gen_ai.tool.call.id"), id);
            }
            /* no other gen_ai attribute on a tool span */
            size_t a;
            json_t *attr;
            json_array_foreach(json_object_get(child, "attributes"), a, attr)
            {
                const char *key = json_string_value(json_object_get(attr, "key"));
                if (!strncmp(key, "gen_ai.", 7))
                    assert_true(want_genai &&
                                (!strcmp(key, "gen_ai.operation.name") || !strcmp(key, "gen_ai.tool.name") ||
                                 !strcmp(key, "gen_ai.tool.call.id")));
            }
        }
        json_decref(out);
    }
    /* no tool span without a call */
    int n_tool_spans = 0;
    json_t *s;
    json_array_foreach(r->spans, i, s) n_tool_spans += is_tool_span(s);
    assert_int_equal(n_tool_spans, n_calls);
    return n_tools;
}

/* No encrypted blob of any llm output appears in any tool span line. */
static void check_no_encrypted_in_tools(run_result *r)
{
    json_t *secrets = json_array();
    size_t i, j;
    json_t *s, *v;
    json_array_foreach(r->spans, i, s)
    {
        if (is_tool_span(s))
            continue;
        json_t *out = span_json(s, "braintrust.output_json");
        gather_encrypted(out, secrets);
        json_decref(out);
    }
    json_array_foreach(r->spans, i, s)
    {
        if (!is_tool_span(s))
            continue;
        const char *line = json_string_value(json_array_get(r->lines, i));
        json_array_foreach(secrets, j, v)
        {
            if (json_string_length(v) >= 16)
                assert_null(strstr(line, json_string_value(v)));
        }
    }
    json_decref(secrets);
}

static json_t *only_tool(run_result *r)
{
    json_t *found = NULL, *s;
    size_t i;
    json_array_foreach(r->spans, i, s)
    {
        if (is_tool_span(s)) {
            assert_null(found);
            found = s;
        }
    }
    assert_non_null(found);
    return found;
}

/* --- recordings -------------------------------------------------------------------- */

static void test_web_search(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    run_result r = run_recording(&h, PYD "test_anthropic_web_search_tool.yaml", 0);
    assert_true(check_children(&r, 1) >= 1);
    check_no_encrypted_in_tools(&r);
    json_t *tool = find_span(r.spans, "name", "web_search");
    assert_non_null(tool);
    json_t *md = span_json(tool, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "tool_call_type")), "server_tool_use");
    assert_string_equal(json_string_value(json_object_get(md, "tool_result_type")), "web_search_tool_result");
    assert_string_equal(json_string_value(json_object_get(md, "tool_use_id")),
                        "srvtoolu_01EoSNE7k4dUJyGatASCV5qs");
    json_decref(md);
    json_t *in = span_json(tool, "braintrust.input_json");
    assert_string_equal(json_string_value(json_object_get(in, "query")), "San Francisco weather today");
    json_decref(in);
    json_t *out = span_json(tool, "braintrust.output_json");
    json_t *first = json_array_get(out, 0);
    assert_string_equal(json_string_value(json_object_get(first, "encrypted_content")), "<redacted>");
    assert_string_equal(json_string_value(json_object_get(first, "title")),
                        "San Francisco, CA Weather Forecast | AccuWeather");
    json_decref(out);
    assert_int_not_equal(span_status_code(tool), 2);
    assert_int_equal(json_integer_value(json_object_get(tool, "kind")), 1); /* INTERNAL */
    run_free(&r);
    harness_free(&h);
}

static void test_web_search_stream_times(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    run_result r = run_recording(&h, PYD "test_anthropic_web_search_tool_stream.yaml", 1);
    assert_true(check_children(&r, 1) >= 2);
    check_no_encrypted_in_tools(&r);
    /* each child spans the arrival of its call block to the end of its result block */
    size_t i;
    json_t *s;
    int timed = 0;
    json_array_foreach(r.spans, i, s)
    {
        if (!is_tool_span(s))
            continue;
        json_t *md = span_json(s, "braintrust.metadata");
        const char *id = json_string_value(json_object_get(md, "tool_use_id"));
        char key[80];
        snprintf(key, sizeof key, "start:%s", id);
        json_t *start = json_object_get(r.events, key);
        snprintf(key, sizeof key, "stop:%s", id);
        json_t *stop = json_object_get(r.events, key);
        assert_non_null(start);
        assert_non_null(stop);
        assert_true(span_time(s, "startTimeUnixNano") == (unsigned long long)json_integer_value(start));
        assert_true(span_time(s, "endTimeUnixNano") == (unsigned long long)json_integer_value(stop));
        assert_true(json_integer_value(stop) > json_integer_value(start));
        timed++;
        json_decref(md);
    }
    assert_true(timed >= 2);
    run_free(&r);
    harness_free(&h);
}

static void test_mcp(void **state)
{
    (void)state;
    static const char *const files[] = {PYD "test_anthropic_mcp_servers.yaml",
                                        PYD "test_anthropic_mcp_servers_stream.yaml"};
    for (int f = 0; f < 2; f++) {
        harness h;
        harness_init(&h);
        run_result r = run_recording(&h, files[f], f);
        assert_true(check_children(&r, 1) >= 1);
        json_t *tool = find_span(r.spans, "name", "ask_question");
        assert_non_null(tool);
        json_t *md = span_json(tool, "braintrust.metadata");
        assert_string_equal(json_string_value(json_object_get(md, "tool_call_type")), "mcp_tool_use");
        assert_string_equal(json_string_value(json_object_get(md, "tool_result_type")), "mcp_tool_result");
        assert_string_equal(json_string_value(json_object_get(md, "server_name")), "deepwiki");
        json_decref(md);
        assert_int_not_equal(span_status_code(tool), 2);
        run_free(&r);
        harness_free(&h);
    }
}

static void test_code_execution(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    run_result r = run_recording(&h, PYD "test_anthropic_code_execution_tool_stream.yaml", 0);
    assert_int_equal(check_children(&r, 1), 1);
    json_t *tool = only_tool(&r);
    assert_string_equal(json_string_value(json_object_get(tool, "name")), "bash_code_execution");
    json_t *md = span_json(tool, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "tool_result_type")),
                        "bash_code_execution_tool_result");
    json_decref(md);
    json_t *out = span_json(tool, "braintrust.output_json"); /* an object, not a list */
    assert_string_equal(json_string_value(json_object_get(out, "type")), "bash_code_execution_result");
    assert_int_equal(json_integer_value(json_object_get(out, "return_code")), 0);
    json_decref(out);
    assert_int_not_equal(span_status_code(tool), 2);
    run_free(&r);
    harness_free(&h);
}

static void test_pause_turn_missing_result(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    run_result r = run_recording(&h, PYD "test_pause_turn_web_search_streaming_vcr.yaml", 0);
    assert_true(check_children(&r, 1) >= 11);
    check_no_encrypted_in_tools(&r);
    int missing = 0;
    size_t i;
    json_t *s;
    json_array_foreach(r.spans, i, s)
    {
        if (!is_tool_span(s))
            continue;
        json_t *md = span_json(s, "braintrust.metadata");
        if (json_is_true(json_object_get(md, "result_missing"))) {
            missing++;
            assert_string_equal(json_string_value(json_object_get(s, "name")), "web_search");
            assert_int_not_equal(span_status_code(s), 2);
        }
        json_decref(md);
    }
    assert_int_equal(missing, 1); /* 11 searches, the turn paused before the 11th result */
    run_free(&r);
    harness_free(&h);
}

/* --- built responses --------------------------------------------------------------- */

static const char *const req_body =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\",\"content\":\"q\"}]}";

static run_result run_json(harness *h, const char *resp)
{
    run_result r = {json_array(), json_array(), json_object()};
    bt_header rsh[] = {{"content-type", 12, "application/json", 16}};
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, req_body, strlen(req_body));
    bt_exchange_response_headers(ex, 200, rsh, 1);
    bt_exchange_response_body(ex, resp, strlen(resp));
    h_now += 5000;
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    collect(h, &r);
    return r;
}

static void test_error_results(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    const char *resp =
        "{\"id\":\"msg_e\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":["
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_e1\",\"name\":\"web_search\",\"input\":{\"query\":\"x\"},"
        "\"caller\":{\"type\":\"direct\"}},"
        "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_e1\",\"content\":{\"type\":"
        "\"web_search_tool_result_error\",\"error_code\":\"max_uses_exceeded\"}},"
        "{\"type\":\"mcp_tool_use\",\"id\":\"mcptoolu_e2\",\"name\":\"lookup\",\"server_name\":\"wiki\",\"input\":{}},"
        "{\"type\":\"mcp_tool_result\",\"tool_use_id\":\"mcptoolu_e2\",\"is_error\":true,\"content\":[{\"type\":"
        "\"text\",\"text\":\"repository not found\"}]},"
        "{\"type\":\"text\",\"text\":\"sorry\"}],"
        "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":5,\"output_tokens\":3,"
        "\"server_tool_use\":{\"web_search_requests\":1}}}";
    run_result r = run_json(&h, resp);
    assert_int_equal(check_children(&r, 1), 2);
    json_t *llm = find_span(r.spans, "name", "anthropic.messages.create");
    assert_int_not_equal(span_status_code(llm), 2); /* a failed search is no failed call */

    json_t *ws = find_span(r.spans, "name", "web_search");
    assert_int_equal(span_status_code(ws), 2);
    assert_string_equal(span_status_message(ws), "web_search_tool_result_error: max_uses_exceeded");
    assert_string_equal(span_str(ws, "error.type"), "web_search_tool_result_error");
    json_t *md = span_json(ws, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(json_object_get(md, "caller"), "type")), "direct");
    json_decref(md);
    json_t *out = span_json(ws, "braintrust.output_json");
    assert_string_equal(json_string_value(json_object_get(out, "error_code")), "max_uses_exceeded");
    json_decref(out);

    json_t *mcp = find_span(r.spans, "name", "lookup");
    assert_int_equal(span_status_code(mcp), 2);
    assert_string_equal(span_status_message(mcp), "mcp_tool_error: repository not found");
    md = span_json(mcp, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "server_name")), "wiki");
    assert_null(json_object_get(md, "caller"));
    json_decref(md);

    /* the llm span ends last and still holds every block */
    json_t *last = json_array_get(r.spans, json_array_size(r.spans) - 1);
    assert_string_equal(json_string_value(json_object_get(last, "name")), "anthropic.messages.create");
    json_t *lout = span_json(llm, "braintrust.output_json");
    assert_int_equal(json_array_size(json_object_get(lout, "content")), 5);
    json_decref(lout);
    run_free(&r);
    harness_free(&h);
}

/* A stream cut after the call: the call still gets its span, marked result_missing. */
static void test_cut_stream(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    const char *sreq = "{\"model\":\"m\",\"max_tokens\":9,\"stream\":true,\"messages\":[]}";
    const char *body =
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_c\",\"model\":\"m\","
        "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":2,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_c\",\"name\":\"web_fetch\",\"input\":{}}}\n\n"
        "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
        "{\"type\":\"input_json_delta\",\"partial_json\":\"{\\\"url\\\":\\\"https://a\\\"}\"}}\n\n";
    bt_header rsh[] = {{"content-type", 12, "text/event-stream", 17}};
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, sreq, strlen(sreq));
    bt_exchange_response_headers(ex, 200, rsh, 1);
    bt_exchange_response_body(ex, body, strlen(body));
    bt_exchange_end(ex, BT_EXCHANGE_TRANSPORT_ERROR, NULL);
    run_result r = {json_array(), json_array(), json_object()};
    collect(&h, &r);
    assert_int_equal(check_children(&r, 1), 1);
    json_t *tool = only_tool(&r);
    assert_string_equal(json_string_value(json_object_get(tool, "name")), "web_fetch");
    json_t *in = span_json(tool, "braintrust.input_json");
    assert_string_equal(json_string_value(json_object_get(in, "url")), "https://a");
    json_decref(in);
    json_t *llm = find_span(r.spans, "name", "anthropic.messages.stream");
    assert_int_equal(span_status_code(llm), 2); /* the llm span says the stream broke */
    run_free(&r);
    harness_free(&h);
}

static char *mask_everything(void *ud, const char *field, const char *json, size_t len)
{
    (void)json;
    (void)len;
    ++*(int *)ud;
    return strdup(!strcmp(field, "input") ? "\"[input masked]\"" : "\"[output masked]\"");
}

static void test_mask_and_no_genai(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    int calls = 0;
    assert_int_equal(bt_anthropic_set_mask(h.a, mask_everything, &calls), BT_OK);
    assert_int_equal(bt_anthropic_set_genai_attributes(h.a, 0), BT_OK);
    const char *resp =
        "{\"id\":\"msg_m\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":["
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_m\",\"name\":\"web_search\",\"input\":{\"query\":\"secret\"}},"
        "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_m\",\"content\":[{\"type\":"
        "\"web_search_result\",\"title\":\"private\",\"encrypted_content\":\"EncryptedBlobNeverShown\"}]}],"
        "\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}";
    run_result r = run_json(&h, resp);
    json_t *tool = only_tool(&r);
    assert_string_equal(span_str(tool, "braintrust.input_json"), "\"[input masked]\"");
    assert_string_equal(span_str(tool, "braintrust.output_json"), "\"[output masked]\"");
    assert_null(span_attr(tool, "gen_ai.operation.name"));
    assert_null(span_attr(tool, "gen_ai.tool.name"));
    assert_true(calls >= 4); /* the llm span's input and output, the tool's input and output */
    size_t i;
    json_t *line;
    json_array_foreach(r.lines, i, line)
    {
        assert_null(strstr(json_string_value(line), "secret"));
        assert_null(strstr(json_string_value(line), "private"));
    }
    run_free(&r);
    harness_free(&h);
}

/* --- batch ------------------------------------------------------------------------- */

static run_result run_batch_results(const char *line)
{
    harness h;
    harness_init(&h);
    bt_exchange *ex = NULL;
    assert_int_equal(
        bt_exchange_begin(h.a, "GET", "/v1/messages/batches/msgbatch_tools/results", NULL, 0, NULL, &ex),
        BT_OK);
    bt_header rsh[] = {{"content-type", 12, "application/binary", 18}};
    bt_exchange_response_headers(ex, 200, rsh, 1);
    bt_exchange_response_body(ex, line, strlen(line));
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    run_result r = {json_array(), json_array(), json_object()};
    collect(&h, &r);
    harness_free(&h);
    return r;
}

static void test_batch_child(void **state)
{
    (void)state;
    const char *line =
        "{\"custom_id\":\"req-1\",\"result\":{\"type\":\"succeeded\",\"message\":{\"id\":\"msg_b\",\"type\":\"message\","
        "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":["
        "{\"type\":\"server_tool_use\",\"id\":\"srvtoolu_b\",\"name\":\"web_search\",\"input\":{\"query\":\"tides\"}},"
        "{\"type\":\"web_search_tool_result\",\"tool_use_id\":\"srvtoolu_b\",\"content\":[{\"type\":"
        "\"web_search_result\",\"url\":\"https://t\",\"encrypted_content\":\"BatchEncryptedBlob0123456789\"}]},"
        "{\"type\":\"text\",\"text\":\"low tide at 6\"}],\"stop_reason\":\"end_turn\",\"usage\":{\"input_tokens\":4,"
        "\"output_tokens\":5,\"server_tool_use\":{\"web_search_requests\":1}}}}}\n";
    run_result r = run_batch_results(line);
    json_t *llm = find_span(r.spans, "name", "anthropic.messages.create");
    assert_non_null(llm);
    json_t *tool = only_tool(&r);
    assert_string_equal(json_string_value(json_object_get(tool, "name")), "web_search");
    assert_string_equal(json_string_value(json_object_get(tool, "parentSpanId")),
                        json_string_value(json_object_get(llm, "spanId")));
    assert_string_equal(json_string_value(json_object_get(tool, "traceId")),
                        json_string_value(json_object_get(llm, "traceId")));
    assert_int_equal(check_children(&r, 1), 1);
    check_no_encrypted_in_tools(&r);
    json_t *md = span_json(tool, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "tool_use_id")), "srvtoolu_b");
    assert_string_equal(json_string_value(json_object_get(md, "tool_result_type")), "web_search_tool_result");
    json_decref(md);
    /* reading the same results again gives the same ids, the tool span's included */
    char *id1 = strdup(json_string_value(json_object_get(tool, "spanId")));
    run_free(&r);
    r = run_batch_results(line);
    tool = only_tool(&r);
    assert_string_equal(json_string_value(json_object_get(tool, "spanId")), id1);
    free(id1);
    run_free(&r);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_error_results),
        cmocka_unit_test(test_cut_stream),
        cmocka_unit_test(test_mask_and_no_genai),
        cmocka_unit_test(test_batch_child),
    };
    /* replaying the recordings in ../shared/fixtures (see conformance.h) */
    const struct CMUnitTest conformance[] = {
        cmocka_unit_test(test_web_search),
        cmocka_unit_test(test_web_search_stream_times),
        cmocka_unit_test(test_mcp),
        cmocka_unit_test(test_code_execution),
        cmocka_unit_test(test_pause_turn_missing_result),
    };
    return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
}
