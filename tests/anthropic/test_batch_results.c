/*
 * The batch trace from results: re-joined inputs, deterministic ids and times, every
 * result type, bad and duplicate lines, gzip, cut streams, oversized lines,
 * idempotency, restart with a SQLite store, expiry, and the result lines observed in
 * real API output (observed-excerpts).
 */
#include "conformance.h"
#include "test_batch_helpers.h"

#include <pthread.h>
#include <zlib.h>

#include "util/buf.h"
#include "util/timefmt.h"

#define PY_CREATE \
    "braintrust-sdk-python/integrations-latest/TestBatchesCreateSpans.test_sync_batches_create_produces_span.yaml"
#define CREATED_AT "2026-09-28T18:58:01.180445+00:00"
#define ENDED_AT "2026-09-28T19:03:11.5Z"

static uint64_t ns_of(const char *rfc3339)
{
    uint64_t ns = 0;
    assert_int_equal(bt__rfc3339_parse(rfc3339, strlen(rfc3339), &ns), BT_OK);
    return ns;
}

static char *batch_object(const char *id, const char *status, const char *ended_at)
{
    char *s = malloc(1024);
    snprintf(
        s, 1024,
        "{\"id\":\"%s\",\"type\":\"message_batch\",\"processing_status\":\"%s\","
        "\"request_counts\":{\"processing\":0,\"succeeded\":2,\"errored\":1,\"canceled\":1,\"expired\":1},"
        "\"ended_at\":%s%s%s,\"created_at\":\"" CREATED_AT "\",\"expires_at\":\"2026-09-29T18:58:01Z\"}",
        id, status, ended_at ? "\"" : "", ended_at ? ended_at : "null", ended_at ? "\"" : "");
    return s;
}

static void retrieve(tb_env *e, const char *id, const char *ended_at)
{
    char target[256];
    snprintf(target, sizeof target, "/v1/messages/batches/%s", id);
    char *obj = batch_object(id, ended_at ? "ended" : "in_progress", ended_at);
    tb_call c = {.method = "GET", .target = target, .status = 200, .resp_body = obj};
    tb_exchange(e, &c, NULL);
    free(obj);
}

/* A succeeded line with the given text and token counts. */
static void succeeded(bt__buf *b, const char *id, const char *text, int in, int out)
{
    bt__buf_printf(
        b,
        "{\"custom_id\":\"%s\",\"result\":{\"type\":\"succeeded\",\"message\":{\"model\":"
        "\"claude-haiku-4-5-20251001\",\"id\":\"msg_%s\",\"type\":\"message\",\"role\":\"assistant\","
        "\"content\":[{\"type\":\"text\",\"text\":\"%s\"}],\"stop_reason\":\"end_turn\","
        "\"stop_sequence\":null,\"usage\":{\"input_tokens\":%d,\"cache_creation_input_tokens\":0,"
        "\"cache_read_input_tokens\":4,\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,"
        "\"ephemeral_1h_input_tokens\":0},\"output_tokens\":%d,\"service_tier\":\"batch\"}}}}\n",
        id, id, text, in, out);
}

static void results(tb_env *e, const char *id, const char *body, size_t len, size_t chunk,
                    bt_exchange_outcome outcome, const bt_header *h, size_t nh, bt_exchange_info *info)
{
    char target[256];
    snprintf(target, sizeof target, "/v1/messages/batches/%s/results", id);
    tb_call c = {.method = "GET",
                 .target = target,
                 .status = 200,
                 .resp_body = body,
                 .resp_body_len = len,
                 .chunk = chunk,
                 .outcome = outcome,
                 .resp_headers = h,
                 .n_resp_headers = nh};
    tb_exchange(e, &c, info);
}

/* Replays the recorded create; returns its batch id (static buffer). */
static const char *recorded_create(tb_env *e)
{
    static char id[128];
    bt_test_cassette cas;
    tb_cassette(PY_CREATE, &cas);
    tb_replay(e, &cas.items[0], NULL);
    json_t *resp = json_loadb(cas.items[0].resp_body, cas.items[0].resp_body_len, 0, NULL);
    snprintf(id, sizeof id, "%s", tb_str(resp, "id"));
    json_decref(resp);
    bt_test_cassette_free(&cas);
    return id;
}

/* The batch-trace spans (anthropic.batch and its children) in a canonical form: each
 * span with sorted keys, ordered by span id. Lifecycle spans (random ids) excluded. */
static char *trace_fingerprint(json_t *spans)
{
    json_t *picked = json_object();
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        const char *name = tb_str(s, "name");
        if (strcmp(name, "anthropic.batch") == 0 || strcmp(name, "anthropic.messages.create") == 0)
            json_object_set(picked, tb_str(s, "spanId"), s);
    }
    char *text = json_dumps(picked, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(picked);
    return text;
}

static json_t *meta_of(json_t *span)
{
    json_t *md = tb_attr_json(span, "braintrust.metadata");
    assert_non_null(md);
    return md;
}

static int64_t meta_int(json_t *span, const char *key)
{
    json_t *md = meta_of(span);
    int64_t v = json_integer_value(json_object_get(md, key));
    json_decref(md);
    return v;
}

static int64_t metric(json_t *span, const char *key)
{
    json_t *m = tb_attr_json(span, "braintrust.metrics");
    json_t *v = json_object_get(m, key);
    int64_t out = json_is_integer(v) ? json_integer_value(v) : -1;
    json_decref(m);
    return out;
}

static void test_full_flow_joins_inputs(void **state)
{
    (void)state;
    tb_clock_now = ns_of("2026-09-28T19:10:00Z");
    tb_env e;
    tb_env_open(&e, NULL);
    const char *id = recorded_create(&e);
    retrieve(&e, id, ENDED_AT);
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "req-2", "6", 15, 3); /* out of order */
    succeeded(&b, "req-1", "4", 14, 2);
    bt_exchange_info info;
    results(&e, id, b.data, b.len, 11, BT_EXCHANGE_COMPLETED, NULL, 0, &info);
    assert_string_equal(info.span_name, "anthropic.messages.batches.results");
    assert_false(info.is_error);
    assert_int_equal(info.input_tokens, 15 + 4 + 14 + 4);
    assert_int_equal(info.output_tokens, 5);

    json_t *spans = tb_spans(&e);
    char trace_hex[33], batch_hex[17], child_hex[17];
    tb_batch_ids(id, trace_hex, batch_hex);
    json_t *batch = tb_one(spans, "anthropic.batch");
    assert_string_equal(tb_str(batch, "traceId"), trace_hex);
    assert_string_equal(tb_str(batch, "spanId"), batch_hex);
    assert_true(!json_object_get(batch, "parentSpanId") || strcmp(tb_str(batch, "parentSpanId"), "") == 0);
    assert_int_equal(tb_u64(batch, "startTimeUnixNano"), ns_of(CREATED_AT));
    assert_int_equal(tb_u64(batch, "endTimeUnixNano"), ns_of(ENDED_AT));
    json_t *md = meta_of(batch);
    assert_string_equal(tb_str(md, "batch_id"), id);
    assert_string_equal(tb_str(md, "processing_status"), "ended");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(md, "results"), "succeeded")), 2);
    assert_int_equal(json_integer_value(json_object_get(md, "unknown_ids")), 0);
    json_t *sa = tb_attr_json(batch, "braintrust.span_attributes");
    assert_string_equal(tb_str(sa, "type"), "task");
    json_decref(sa);
    json_decref(md);
    assert_int_equal(metric(batch, "prompt_tokens"), 37);
    assert_int_equal(metric(batch, "completion_tokens"), 5);
    assert_int_equal(metric(batch, "tokens"), 42);
    assert_int_equal(metric(batch, "prompt_cached_tokens"), 8);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(batch, "status"), "code")), 0);

    json_t *child = tb_child(spans, "req-1");
    assert_non_null(child);
    tb_child_id(id, "req-1", child_hex);
    assert_string_equal(tb_str(child, "spanId"), child_hex);
    assert_string_equal(tb_str(child, "traceId"), trace_hex);
    assert_string_equal(tb_str(child, "parentSpanId"), batch_hex);
    assert_int_equal(tb_u64(child, "startTimeUnixNano"), ns_of(CREATED_AT));
    assert_int_equal(tb_u64(child, "endTimeUnixNano"), ns_of(ENDED_AT));
    json_t *in = tb_attr_json(child, "braintrust.input_json");
    assert_int_equal(json_array_size(in), 1);
    assert_string_equal(tb_str(json_array_get(in, 0), "role"), "user");
    assert_string_equal(tb_str(json_array_get(in, 0), "content"), "What is 2+2?");
    json_decref(in);
    json_t *out = tb_attr_json(child, "braintrust.output_json");
    assert_string_equal(tb_str(out, "role"), "assistant");
    assert_string_equal(tb_str(json_array_get(json_object_get(out, "content"), 0), "text"), "4");
    json_decref(out);
    md = meta_of(child);
    assert_string_equal(tb_str(md, "custom_id"), "req-1");
    assert_string_equal(tb_str(md, "model"), "claude-haiku-4-5-20251001");
    assert_string_equal(tb_str(md, "stop_reason"), "end_turn");
    assert_string_equal(tb_str(md, "provider"), "anthropic");
    assert_string_equal(tb_str(md, "batch_id"), id);
    assert_int_equal(json_integer_value(json_object_get(md, "max_tokens")), 100);
    assert_null(json_object_get(md, "input_unavailable"));
    json_decref(md);
    sa = tb_attr_json(child, "braintrust.span_attributes");
    assert_string_equal(tb_str(sa, "type"), "llm");
    json_decref(sa);
    assert_int_equal(metric(child, "prompt_tokens"), 18);
    assert_int_equal(metric(child, "completion_tokens"), 2);
    assert_int_equal(metric(child, "tokens"), 20);
    assert_string_equal(tb_attr_str(child, "gen_ai.provider.name"), "anthropic");
    assert_string_equal(tb_attr_str(child, "gen_ai.response.model"), "claude-haiku-4-5-20251001");
    assert_int_equal(tb_attr_int(child, "gen_ai.usage.input_tokens"), 18);

    /* Lifecycle spans point at the batch span. */
    const char *names[] = {"anthropic.messages.batches.create", "anthropic.messages.batches.retrieve",
                           "anthropic.messages.batches.results"};
    for (int i = 0; i < 3; i++) {
        json_t *s = tb_one(spans, names[i]);
        json_t *l = json_array_get(json_object_get(s, "links"), 0);
        assert_string_equal(tb_str(l, "traceId"), trace_hex);
        assert_string_equal(tb_str(l, "spanId"), batch_hex);
    }
    json_t *rs = tb_one(spans, "anthropic.messages.batches.results");
    assert_int_equal(metric(rs, "prompt_tokens"), 37);
    json_t *rout = tb_attr_json(rs, "braintrust.output_json");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rout, "results"), "succeeded")), 2);
    json_decref(rout);
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
    tb_clock_now = TB_T0;
}

/* The mixed stream used by several tests: every result type and every kind of bad line. */
static void mixed_results(bt__buf *b)
{
    bt__buf_printf(b, "{\"custom_id\":\"d\",\"result\":{\"type\":\"expired\"}}\n");
    succeeded(b, "a", "first", 10, 1);
    bt__buf_printf(
        b,
        "{\"custom_id\":\"b\",\"result\":{\"type\":\"errored\",\"error\":{\"type\":\"error\","
        "\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"},\"request_id\":null}}}\n");
    bt__buf_printf(b, "{\"custom_id\":\"c\",\"result\":{\"type\":\"canceled\"}}\r\n");
    succeeded(b, "a", "again", 99, 99);                           /* duplicate */
    succeeded(b, "zzz", "who?", 1, 1);                            /* unknown id */
    bt__buf_printf(b, "this is not json\n\n");                    /* invalid + empty */
    bt__buf_printf(b, "{\"result\":{\"type\":\"succeeded\"}}\n"); /* no custom_id */
    bt__buf_printf(b, "{\"custom_id\":\"e\",\"result\":{\"type\":\"weird\"}}\n");
}

static void generated_create(tb_env *e, const char *id)
{
    static const char body[] =
        "{\"requests\":["
        "{\"custom_id\":\"a\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"system\":\"S\","
        "\"messages\":[{\"role\":\"user\",\"content\":\"A?\"}]}},"
        "{\"custom_id\":\"b\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"B?\"}]}},"
        "{\"custom_id\":\"c\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"C?\"}]}},"
        "{\"custom_id\":\"d\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"D?\"}]}},"
        "{\"custom_id\":\"e\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"E?\"}]}}]}";
    char resp[512];
    snprintf(
        resp, sizeof resp,
        "{\"id\":\"%s\",\"type\":\"message_batch\",\"processing_status\":\"in_progress\","
        "\"request_counts\":{\"processing\":5,\"succeeded\":0,\"errored\":0,\"canceled\":0,\"expired\":0},"
        "\"ended_at\":null,\"created_at\":\"" CREATED_AT "\"}",
        id);
    tb_call c = {.method = "POST",
                 .target = "/v1/messages/batches",
                 .req_body = body,
                 .status = 200,
                 .resp_body = resp,
                 .chunk = 9};
    tb_exchange(e, &c, NULL);
}

static void test_result_types_and_bad_lines(void **state)
{
    (void)state;
    tb_clock_now = ns_of("2026-09-28T19:10:00Z");
    tb_env e;
    tb_env_open(&e, NULL);
    generated_create(&e, "msgbatch_mixed");
    retrieve(&e, "msgbatch_mixed", ENDED_AT);
    bt__buf b;
    bt__buf_init(&b, 0);
    mixed_results(&b);
    bt_exchange_info info;
    results(&e, "msgbatch_mixed", b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, &info);
    json_t *spans = tb_spans(&e);
    assert_int_equal(tb_count(spans, "anthropic.messages.create"), 5); /* a b c d zzz */
    json_t *batch = tb_one(spans, "anthropic.batch");
    json_t *md = meta_of(batch);
    json_t *counts = json_object_get(md, "results");
    assert_int_equal(json_integer_value(json_object_get(counts, "succeeded")), 2);
    assert_int_equal(json_integer_value(json_object_get(counts, "errored")), 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "canceled")), 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "expired")), 1);
    assert_int_equal(json_integer_value(json_object_get(md, "invalid_lines")), 3);
    assert_int_equal(json_integer_value(json_object_get(md, "duplicate_ids")), 1);
    assert_int_equal(json_integer_value(json_object_get(md, "unknown_ids")), 1);
    assert_int_equal(json_integer_value(json_object_get(md, "oversized_lines")), 0);
    /* request_counts from the batch object, as the API reported them */
    assert_int_equal(json_integer_value(json_object_get(json_object_get(md, "request_counts"), "errored")),
                     1);
    json_decref(md);
    assert_string_equal(tb_str(json_object_get(batch, "status"), "message"),
                        "Anthropic batch completed with 1 canceled and 1 expired requests");

    /* The first line of a duplicate pair wins. */
    json_t *a = tb_child(spans, "a");
    json_t *out = tb_attr_json(a, "braintrust.output_json");
    assert_string_equal(tb_str(json_array_get(json_object_get(out, "content"), 0), "text"), "first");
    json_decref(out);
    json_t *in = tb_attr_json(a, "braintrust.input_json");
    assert_int_equal(json_array_size(in), 2);
    assert_string_equal(tb_str(json_array_get(in, 1), "role"), "system"); /* system last */
    json_decref(in);

    json_t *berr = tb_child(spans, "b");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(berr, "status"), "code")), 2);
    assert_string_equal(tb_str(json_object_get(berr, "status"), "message"), "overloaded_error: Overloaded");
    assert_string_equal(tb_attr_str(berr, "error.type"), "overloaded_error");
    in = tb_attr_json(berr, "braintrust.input_json");
    assert_string_equal(tb_str(json_array_get(in, 0), "content"), "B?"); /* input even on error */
    json_decref(in);
    json_t *cc = tb_child(spans, "c");
    assert_string_equal(tb_str(json_object_get(cc, "status"), "message"),
                        "batch_request_canceled: Anthropic batch request canceled");
    json_t *dd = tb_child(spans, "d");
    assert_string_equal(tb_str(json_object_get(dd, "status"), "message"),
                        "batch_request_expired: Anthropic batch request expired");
    json_t *z = tb_child(spans, "zzz");
    md = meta_of(z);
    assert_true(json_is_true(json_object_get(md, "input_unavailable")));
    json_decref(md);
    assert_null(tb_attr(z, "braintrust.input_json"));
    assert_null(tb_child(spans, "e"));

    json_t *rs = tb_one(spans, "anthropic.messages.batches.results");
    assert_int_equal(meta_int(rs, "invalid_lines"), 3);
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
    tb_clock_now = TB_T0;
}

static char *gzip_bytes(const char *data, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, len) + 64;
    char *out = malloc(cap);
    z.next_in = (Bytef *)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = z.total_out;
    deflateEnd(&z);
    return out;
}

/* Reads the mixed results in a fresh process-like environment; returns the fingerprint. */
static char *read_mixed(int gzip, size_t chunk)
{
    tb_env e;
    tb_env_open(&e, NULL);
    generated_create(&e, "msgbatch_idem");
    retrieve(&e, "msgbatch_idem", ENDED_AT);
    bt__buf b;
    bt__buf_init(&b, 0);
    mixed_results(&b);
    bt_header h[] = {{"content-encoding", 16, "gzip", 4}};
    if (gzip) {
        size_t zlen;
        char *z = gzip_bytes(b.data, b.len, &zlen);
        results(&e, "msgbatch_idem", z, zlen, chunk, BT_EXCHANGE_COMPLETED, h, 1, NULL);
        free(z);
    } else {
        results(&e, "msgbatch_idem", b.data, b.len, chunk, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    }
    json_t *spans = tb_spans(&e);
    assert_int_equal(tb_count(spans, "anthropic.messages.create"), 5);
    char *fp = trace_fingerprint(spans);
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
    return fp;
}

static void test_idempotent_and_gzip(void **state)
{
    (void)state;
    tb_clock_now = ns_of("2026-09-28T19:10:00Z");
    char *first = read_mixed(0, 0);
    char *again = read_mixed(0, 5);
    assert_string_equal(first, again); /* same ids and contents, any chunking */
    char *gz = read_mixed(1, 17);
    assert_string_equal(first, gz); /* gzip decodes to the same trace */
    /* Later reads at another time still produce the same spans (times come from the batch). */
    tb_clock_now += 3 * TB_DAY_NS;
    char *later = read_mixed(0, 64);
    assert_string_equal(first, later);
    free(first);
    free(again);
    free(gz);
    free(later);

    /* Twice in the same process: the second read repeats the same span ids. */
    tb_env e;
    tb_env_open(&e, NULL);
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "x", "y", 1, 1);
    results(&e, "msgbatch_twice", b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *s1 = tb_spans(&e);
    tb_clear(&e);
    results(&e, "msgbatch_twice", b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *s2 = tb_spans(&e);
    assert_string_equal(tb_str(tb_child(s1, "x"), "spanId"), tb_str(tb_child(s2, "x"), "spanId"));
    assert_string_equal(tb_str(tb_one(s1, "anthropic.batch"), "traceId"),
                        tb_str(tb_one(s2, "anthropic.batch"), "traceId"));
    json_decref(s1);
    json_decref(s2);
    bt__buf_free(&b);
    tb_env_close(&e);
    tb_clock_now = TB_T0;
}

static void expect_incomplete(json_t *spans, size_t children)
{
    assert_int_equal(tb_count(spans, "anthropic.messages.create"), children);
    json_t *batch = tb_one(spans, "anthropic.batch");
    json_t *st = json_object_get(batch, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
    assert_non_null(strstr(tb_str(st, "message"), "incomplete_results: batch results incomplete"));
    json_t *md = meta_of(batch);
    assert_true(json_is_true(json_object_get(md, "truncated")));
    json_decref(md);
    json_t *rs = tb_one(spans, "anthropic.messages.batches.results");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(rs, "status"), "code")), 2);
}

static void test_cut_streams(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "one", "1", 1, 1);
    succeeded(&b, "two", "2", 1, 1);
    succeeded(&b, "three", "3", 1, 1);
    size_t cut = b.len - 40; /* inside the third line */

    /* The connection broke. */
    tb_env e;
    tb_env_open(&e, NULL);
    bt_exchange_info info;
    results(&e, "msgbatch_cut", b.data, cut, 7, BT_EXCHANGE_TRANSPORT_ERROR, NULL, 0, &info);
    assert_true(info.is_error);
    json_t *spans = tb_spans(&e);
    expect_incomplete(spans, 2);
    json_decref(spans);
    tb_clear(&e);

    /* The body ended cleanly at the HTTP level but inside a line. */
    results(&e, "msgbatch_cut", b.data, cut, 0, BT_EXCHANGE_COMPLETED, NULL, 0, &info);
    spans = tb_spans(&e);
    expect_incomplete(spans, 2);
    assert_non_null(strstr(tb_str(json_object_get(tb_one(spans, "anthropic.batch"), "status"), "message"),
                           "inside a line"));
    json_decref(spans);
    tb_clear(&e);

    /* A gzip body cut short. */
    size_t zlen;
    char *z = gzip_bytes(b.data, b.len, &zlen);
    bt_header h[] = {{"content-encoding", 16, "gzip", 4}};
    results(&e, "msgbatch_cut", z, zlen - 30, 0, BT_EXCHANGE_COMPLETED, h, 1, &info);
    spans = tb_spans(&e);
    json_t *batch = tb_one(spans, "anthropic.batch");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(batch, "status"), "code")), 2);
    json_decref(spans);
    free(z);
    bt__buf_free(&b);
    tb_env_close(&e);
}

static void test_oversized_line(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    size_t big = 5u << 20;
    char *text = malloc(big + 1);
    memset(text, 'q', big);
    text[big] = '\0';
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "small", "ok", 1, 1);
    succeeded(&b, "huge", text, 1, 1);
    succeeded(&b, "after", "ok", 1, 1);
    free(text);
    results(&e, "msgbatch_big", b.data, b.len, 65536, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *spans = tb_spans(&e);
    assert_int_equal(tb_count(spans, "anthropic.messages.create"), 3);
    json_t *batch = tb_one(spans, "anthropic.batch");
    assert_int_equal(meta_int(batch, "oversized_lines"), 1);
    assert_int_equal(meta_int(batch, "invalid_lines"), 0);
    json_t *huge = tb_child(spans, "huge");
    assert_non_null(huge);
    json_t *md = meta_of(huge);
    assert_true(json_is_true(json_object_get(md, "truncated")));
    assert_true(json_integer_value(json_object_get(md, "result_line_bytes")) > (json_int_t)big);
    json_decref(md);
    assert_null(tb_attr(huge, "braintrust.output_json"));
    assert_non_null(tb_child(spans, "after"));
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
}

static void test_restart_with_store(void **state)
{
    (void)state;
    tb_clock_now = ns_of("2026-09-28T19:00:00Z");
    const char *store = tb_tmp_path("restart.db");
    tb_env first;
    tb_env_open(&first, store);
    const char *id = recorded_create(&first);
    char batch_id[128];
    snprintf(batch_id, sizeof batch_id, "%s", id);
    retrieve(&first, batch_id, ENDED_AT);
    tb_env_close(&first);

    /* A new process: new tracer, new bt_anthropic, the same store file. */
    tb_clock_now += TB_DAY_NS;
    tb_env second;
    tb_env_open(&second, store);
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "req-1", "4", 14, 2);
    succeeded(&b, "req-2", "6", 15, 3);
    results(&second, batch_id, b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *spans = tb_spans(&second);
    json_t *child = tb_child(spans, "req-2");
    json_t *in = tb_attr_json(child, "braintrust.input_json");
    assert_non_null(in);
    assert_non_null(strstr(tb_str(json_array_get(in, 0), "content"), "What"));
    json_decref(in);
    /* Times from the batch object remembered before the restart. */
    assert_int_equal(tb_u64(tb_one(spans, "anthropic.batch"), "endTimeUnixNano"), ns_of(ENDED_AT));
    assert_int_equal(meta_int(tb_one(spans, "anthropic.batch"), "unknown_ids"), 0);
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&second);
    tb_clock_now = TB_T0;
}

static void test_inputs_expire(void **state)
{
    (void)state;
    tb_clock_now = ns_of("2026-09-28T19:00:00Z");
    tb_env e;
    tb_env_open(&e, tb_tmp_path("expire.db"));
    generated_create(&e, "msgbatch_old");
    tb_clock_now += 30 * TB_DAY_NS;
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "a", "late", 1, 1);
    results(&e, "msgbatch_old", b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *spans = tb_spans(&e);
    json_t *a = tb_child(spans, "a");
    assert_null(tb_attr(a, "braintrust.input_json"));
    assert_int_equal(meta_int(tb_one(spans, "anthropic.batch"), "unknown_ids"), 1);
    /* No batch object either: the trace starts when the results are read, never ends before. */
    json_t *batch = tb_one(spans, "anthropic.batch");
    assert_true(tb_u64(batch, "endTimeUnixNano") >= tb_u64(batch, "startTimeUnixNano"));
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
    tb_clock_now = TB_T0;
}

static void test_observed_excerpts(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    static const char *const files[] = {
        "anthropic/observed-excerpts/batch-results.succeeded.DelphiAnthropic.jsonl",
        "anthropic/observed-excerpts/batch-results.errored.BatchBridge.jsonl",
        "anthropic/observed-excerpts/batch-results.succeeded.prompting-with-buffer.jsonl",
    };
    bt__buf all;
    bt__buf_init(&all, 0);
    for (size_t i = 0; i < 3; i++) {
        size_t len;
        char *data = bt_test_read_file(bt_test_fixture_path(files[i]), &len);
        assert_non_null(data);
        bt__buf_append(&all, data, len);
        if (len && data[len - 1] != '\n')
            bt__buf_append_char(&all, '\n');
        free(data);
    }
    results(&e, "msgbatch_excerpts", all.data, all.len, 3, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *spans = tb_spans(&e);
    assert_int_equal(tb_count(spans, "anthropic.messages.create"), 4);
    json_t *first = tb_child(spans, "my-first-request");
    json_t *md = meta_of(first);
    assert_string_equal(tb_str(md, "model"), "claude-sonnet-4-5-20250929");
    assert_string_equal(tb_str(md, "stop_reason"), "end_turn");
    json_decref(md);
    assert_int_equal(metric(first, "prompt_tokens"), 10);
    assert_int_equal(metric(first, "completion_tokens"), 12);
    assert_int_equal(metric(first, "tokens"), 22);
    assert_int_equal(metric(first, "prompt_cache_creation_5m_tokens"), 0);
    json_t *out = tb_attr_json(first, "braintrust.output_json");
    assert_string_equal(tb_str(json_array_get(json_object_get(out, "content"), 0), "text"),
                        "Hello! How can I help you today?");
    json_decref(out);

    json_t *err = tb_child(spans, "23");
    json_t *st = json_object_get(err, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
    assert_string_equal(
        tb_str(st, "message"),
        "invalid_request_error: max_tokens: 100000 > 64000, which is the maximum allowed number "
        "of output tokens for claude-haiku-4-5-20251001");
    assert_null(tb_attr(err, "braintrust.metrics"));

    json_t *emoji = tb_child(spans, "my-custom-id-1");
    out = tb_attr_json(emoji, "braintrust.output_json");
    assert_string_equal(tb_str(json_array_get(json_object_get(out, "content"), 0), "text"),
                        "Hello! \xF0\x9F\x91\x8B How can I help you today?");
    json_decref(out);

    json_t *batch = tb_one(spans, "anthropic.batch");
    assert_int_equal(metric(batch, "prompt_tokens"), 10 + 11 + 10);
    assert_int_equal(metric(batch, "completion_tokens"), 12 + 19 + 16);
    assert_int_equal(meta_int(batch, "unknown_ids"), 4); /* no create seen for any of them */
    json_decref(spans);
    bt__buf_free(&all);
    tb_env_close(&e);
}

static void test_http_error_no_trace(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    tb_call c = {.method = "GET",
                 .target = "/v1/messages/batches/msgbatch_gone/results?beta=true",
                 .status = 404,
                 .resp_body =
                     "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"gone\"}}"};
    bt_exchange_info info;
    tb_exchange(&e, &c, &info);
    assert_true(info.is_error);
    json_t *spans = tb_spans(&e);
    assert_int_equal(tb_count(spans, "anthropic.batch"), 0);
    json_t *rs = tb_one(spans, "anthropic.messages.batches.results");
    assert_string_equal(tb_str(json_object_get(rs, "status"), "message"), "not_found_error: gone");
    json_t *md = meta_of(rs);
    assert_true(json_is_true(json_object_get(md, "beta")));
    json_decref(md);
    json_decref(spans);
    tb_env_close(&e);
}

static void test_lifecycle_off_and_parent(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    assert_int_equal(bt_anthropic_set_lifecycle_spans(e.a, 0), BT_OK);
    generated_create(&e, "msgbatch_quiet");
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "a", "x", 1, 1);
    tb_call c = {.method = "GET",
                 .target = "/v1/messages/batches/msgbatch_quiet/results",
                 .status = 200,
                 .resp_body = b.data,
                 .braintrust_parent = "project_name:batches-test"};
    bt_exchange_info info;
    tb_exchange(&e, &c, &info);
    assert_string_equal(info.span_name, "anthropic.batch");
    json_t *spans = tb_spans(&e);
    assert_int_equal(json_array_size(spans), 2); /* the batch span and its child only */
    json_t *a = tb_child(spans, "a");
    assert_non_null(tb_attr(a, "braintrust.input_json")); /* create still recorded the input */
    assert_string_equal(tb_attr_str(a, "braintrust.parent"), "project_name:batches-test");
    assert_string_equal(tb_attr_str(tb_one(spans, "anthropic.batch"), "braintrust.parent"),
                        "project_name:batches-test");
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
}

/* A create of 3,000 requests streamed in small pieces into a SQLite store: every input
 * is kept (in grouped transactions) and re-joined by custom_id. */
static void test_large_create_streamed(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, tb_tmp_path("large.db"));
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(e.a, "POST", "/v1/messages/batches", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, "{\"requests\":[", 13);
    char piece[512];
    for (int i = 0; i < 3000; i++) {
        int n = snprintf(
            piece, sizeof piece,
            "%s{\"custom_id\":\"r-%04d\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":16,"
            "\"messages\":[{\"role\":\"user\",\"content\":\"question number %d\"}]}}",
            i ? "," : "", i, i);
        /* split each request across two calls to cut elements anywhere */
        bt_exchange_request_body(ex, piece, (size_t)n / 2);
        bt_exchange_request_body(ex, piece + n / 2, (size_t)n - (size_t)n / 2);
    }
    bt_exchange_request_body(ex, "]}", 2);
    bt_exchange_response_headers(ex, 200, NULL, 0);
    static const char resp[] =
        "{\"id\":\"msgbatch_large\",\"type\":\"message_batch\",\"processing_status\":\"in_progress\"}";
    bt_exchange_response_body(ex, resp, sizeof resp - 1);
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);

    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "r-2999", "last", 1, 1);
    succeeded(&b, "r-0000", "first", 1, 1);
    succeeded(&b, "r-1500", "middle", 1, 1);
    results(&e, "msgbatch_large", b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *spans = tb_spans(&e);
    json_t *create = tb_one(spans, "anthropic.messages.batches.create");
    assert_int_equal(meta_int(create, "num_requests"), 3000);
    json_t *in = tb_attr_json(create, "braintrust.input_json");
    assert_int_equal(json_array_size(json_object_get(in, "custom_ids")), 100);
    assert_true(json_is_true(json_object_get(in, "custom_ids_truncated")));
    json_decref(in);
    const char *ids[] = {"r-2999", "r-0000", "r-1500"};
    const char *want[] = {"question number 2999", "question number 0", "question number 1500"};
    for (int i = 0; i < 3; i++) {
        in = tb_attr_json(tb_child(spans, ids[i]), "braintrust.input_json");
        assert_string_equal(tb_str(json_array_get(in, 0), "content"), want[i]);
        json_decref(in);
    }
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
}

/* One bt_anthropic shared by threads, each tracing its own batch's create and results. */
typedef struct batch_thread {
    tb_env *e;
    char id[32];
} batch_thread;

static void *trace_one_batch(void *arg)
{
    batch_thread *bt = arg;
    generated_create(bt->e, bt->id);
    bt__buf b;
    bt__buf_init(&b, 0);
    mixed_results(&b);
    results(bt->e, bt->id, b.data, b.len, 13, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    bt__buf_free(&b);
    return NULL;
}

static void test_threads_share_one_instance(void **state)
{
    (void)state;
    const char *paths[2] = {NULL, tb_tmp_path("threads-results.db")};
    for (int p = 0; p < 2; p++) {
        tb_env e;
        tb_env_open(&e, paths[p]);
        pthread_t th[4];
        batch_thread args[4];
        for (int i = 0; i < 4; i++) {
            args[i].e = &e;
            snprintf(args[i].id, sizeof args[i].id, "msgbatch_thread%d", i);
            assert_int_equal(pthread_create(&th[i], NULL, trace_one_batch, &args[i]), 0);
        }
        for (int i = 0; i < 4; i++)
            pthread_join(th[i], NULL);
        json_t *spans = tb_spans(&e);
        assert_int_equal(tb_count(spans, "anthropic.batch"), 4);
        assert_int_equal(tb_count(spans, "anthropic.messages.create"), 20);
        size_t i;
        json_t *s;
        json_array_foreach(spans, i, s)
        {
            if (strcmp(tb_str(s, "name"), "anthropic.batch") == 0)
                assert_int_equal(meta_int(s, "unknown_ids"), 1); /* only "zzz": every input joined */
        }
        json_decref(spans);
        tb_env_close(&e);
    }
}

/* Python and TS SDKs fetch the batch's absolute results_url; beta adds ?beta=true. */
static void test_results_url_beta(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "a", "x", 2, 3);
    bt_header h[] = {{"anthropic-beta", 14, "message-batches-2024-09-24", 26},
                     {"accept", 6, "application/binary", 18}};
    tb_call c = {.method = "GET",
                 .target = "https://api.anthropic.com/v1/messages/batches/msgbatch_abs/results?beta=true",
                 .req_headers = h,
                 .n_req_headers = 2,
                 .status = 200,
                 .resp_body = b.data};
    tb_exchange(&e, &c, NULL);
    json_t *spans = tb_spans(&e);
    char trace_hex[33], span_hex[17];
    tb_batch_ids("msgbatch_abs", trace_hex, span_hex);
    assert_string_equal(tb_str(tb_one(spans, "anthropic.batch"), "spanId"), span_hex);
    assert_string_equal(tb_str(tb_child(spans, "a"), "traceId"), trace_hex);
    json_t *md = meta_of(tb_one(spans, "anthropic.messages.batches.results"));
    assert_true(json_is_true(json_object_get(md, "beta")));
    assert_string_equal(tb_str(md, "batch_id"), "msgbatch_abs");
    json_decref(md);
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
}

static char *mask_input(void *ud, const char *field, const char *json, size_t len)
{
    (void)ud;
    (void)json;
    (void)len;
    return strcmp(field, "input") == 0 ? strdup("\"[masked]\"") : NULL;
}

static void test_mask(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    assert_int_equal(bt_anthropic_set_mask(e.a, mask_input, NULL), BT_OK);
    generated_create(&e, "msgbatch_mask");
    bt__buf b;
    bt__buf_init(&b, 0);
    succeeded(&b, "a", "visible", 1, 1);
    results(&e, "msgbatch_mask", b.data, b.len, 0, BT_EXCHANGE_COMPLETED, NULL, 0, NULL);
    json_t *spans = tb_spans(&e);
    json_t *a = tb_child(spans, "a");
    assert_string_equal(tb_attr_str(a, "braintrust.input_json"), "\"[masked]\"");
    assert_non_null(strstr(tb_attr_str(a, "braintrust.output_json"), "visible"));
    json_decref(spans);
    bt__buf_free(&b);
    tb_env_close(&e);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_result_types_and_bad_lines),
        cmocka_unit_test(test_idempotent_and_gzip),
        cmocka_unit_test(test_cut_streams),
        cmocka_unit_test(test_oversized_line),
        cmocka_unit_test(test_inputs_expire),
        cmocka_unit_test(test_http_error_no_trace),
        cmocka_unit_test(test_lifecycle_off_and_parent),
        cmocka_unit_test(test_large_create_streamed),
        cmocka_unit_test(test_results_url_beta),
        cmocka_unit_test(test_threads_share_one_instance),
        cmocka_unit_test(test_mask),
    };
    /* replaying the recordings in ../shared/fixtures (see conformance.h) */
    const struct CMUnitTest conformance[] = {
        cmocka_unit_test(test_full_flow_joins_inputs),
        cmocka_unit_test(test_restart_with_store),
        cmocka_unit_test(test_observed_excerpts),
    };
    return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
}
