/*
 * The explicit collect API and bt_batch_import_files: the same batch trace as observed
 * traffic, from a batch object, requests (JSONL or a create body) and results (plain
 * or gzip), with collect-only times (created_at .. ended_at, nothing invented).
 */
#include "test_batch_helpers.h"

#include <zlib.h>

#include "util/buf.h"
#include "util/timefmt.h"

static const char BATCH[] =
    "{\"id\":\"msgbatch_collect\",\"type\":\"message_batch\",\"processing_status\":\"ended\","
    "\"request_counts\":{\"processing\":0,\"succeeded\":2,\"errored\":1,\"canceled\":0,\"expired\":0},"
    "\"created_at\":\"2026-06-01T10:00:00Z\",\"ended_at\":\"2026-06-01T10:30:00.25+00:00\","
    "\"expires_at\":\"2026-06-02T10:00:00Z\"}";

static const char REQUESTS_JSONL[] =
    "{\"custom_id\":\"q1\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":50,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"one\"}]}}\n"
    "{\"custom_id\":\"q2\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":50,\"system\":\"sys\","
    "\"messages\":[{\"role\":\"user\",\"content\":\"two\"}]}}\n"
    "{\"custom_id\":\"q3\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":99999,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"three\"}]}}\n";

static const char RESULTS[] =
    "{\"custom_id\":\"q2\",\"result\":{\"type\":\"succeeded\",\"message\":{\"model\":\"claude-haiku-4-5-20251001\","
    "\"id\":\"msg_2\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"2\"}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":7,\"output_tokens\":1}}}}\n"
    "{\"custom_id\":\"q3\",\"result\":{\"type\":\"errored\",\"error\":{\"type\":\"error\",\"error\":"
    "{\"type\":\"invalid_request_error\",\"message\":\"max_tokens too large\"},\"request_id\":null}}}\n"
    "{\"custom_id\":\"q1\",\"result\":{\"type\":\"succeeded\",\"message\":{\"model\":\"claude-haiku-4-5-20251001\","
    "\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"1\"}],"
    "\"stop_reason\":\"max_tokens\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":5,\"output_tokens\":50}}}}\n";

static uint64_t ns_of(const char *s)
{
    uint64_t ns = 0;
    assert_int_equal(bt__rfc3339_parse(s, strlen(s), &ns), BT_OK);
    return ns;
}

static void check_trace(json_t *spans)
{
    assert_int_equal(tb_count(spans, "anthropic.messages.create"), 3);
    json_t *batch = tb_one(spans, "anthropic.batch");
    char trace_hex[33], span_hex[17], child_hex[17];
    tb_batch_ids("msgbatch_collect", trace_hex, span_hex);
    assert_string_equal(tb_str(batch, "traceId"), trace_hex);
    assert_string_equal(tb_str(batch, "spanId"), span_hex);
    uint64_t start = ns_of("2026-06-01T10:00:00Z"), end = ns_of("2026-06-01T10:30:00.25+00:00");
    assert_int_equal(tb_u64(batch, "startTimeUnixNano"), start);
    assert_int_equal(tb_u64(batch, "endTimeUnixNano"), end);
    const char *ids[] = {"q1", "q2", "q3"};
    for (int i = 0; i < 3; i++) {
        json_t *c = tb_child(spans, ids[i]);
        assert_non_null(c);
        tb_child_id("msgbatch_collect", ids[i], child_hex);
        assert_string_equal(tb_str(c, "spanId"), child_hex);
        assert_string_equal(tb_str(c, "parentSpanId"), span_hex);
        /* collect-only: the batch's own times, no invented durations */
        assert_int_equal(tb_u64(c, "startTimeUnixNano"), start);
        assert_int_equal(tb_u64(c, "endTimeUnixNano"), end);
        assert_non_null(tb_attr(c, "braintrust.input_json"));
    }
    json_t *q2 = tb_child(spans, "q2");
    json_t *in = tb_attr_json(q2, "braintrust.input_json");
    assert_int_equal(json_array_size(in), 2);
    assert_string_equal(tb_str(json_array_get(in, 1), "content"), "sys");
    json_decref(in);
    json_t *q3 = tb_child(spans, "q3");
    assert_string_equal(tb_str(json_object_get(q3, "status"), "message"),
                        "invalid_request_error: max_tokens too large");
}

static void check_stats(const bt_batch_import_stats *st)
{
    assert_int_equal(st->requests, 3);
    assert_int_equal(st->results, 3);
    assert_int_equal(st->succeeded, 2);
    assert_int_equal(st->errored, 1);
    assert_int_equal(st->invalid_lines, 0);
    assert_int_equal(st->unknown_ids, 0);
    assert_int_equal(st->prompt_tokens, 12);
    assert_int_equal(st->completion_tokens, 51);
}

static void test_collector_jsonl_in_pieces(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    bt_batch_collector *c;
    assert_int_equal(bt_batch_collector_new(e.a, BATCH, strlen(BATCH), &c), BT_OK);
    for (size_t off = 0; off < strlen(REQUESTS_JSONL); off += 10)
        assert_int_equal(bt_batch_collector_feed_requests(
                             c, REQUESTS_JSONL + off,
                             strlen(REQUESTS_JSONL) - off < 10 ? strlen(REQUESTS_JSONL) - off : 10),
                         BT_OK);
    for (size_t off = 0; off < strlen(RESULTS); off += 33)
        assert_int_equal(bt_batch_collector_feed_results(
                             c, RESULTS + off, strlen(RESULTS) - off < 33 ? strlen(RESULTS) - off : 33),
                         BT_OK);
    assert_int_equal(bt_batch_collector_feed_requests(c, "{}", 2), BT_ESTATE);
    bt_batch_import_stats st;
    assert_int_equal(bt_batch_collector_finish(c, &st), BT_OK);
    check_stats(&st);
    assert_int_equal(bt_batch_collector_finish(c, &st), BT_ESTATE);
    bt_batch_collector_free(c);
    json_t *spans = tb_spans(&e);
    check_trace(spans);
    /* No lifecycle spans: nothing was called. */
    assert_int_equal(json_array_size(spans), 4);
    json_decref(spans);
    tb_env_close(&e);
}

static void test_collector_create_body(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    bt__buf body;
    bt__buf_init(&body, 0);
    bt__buf_append_str(&body, "{\"requests\":[");
    const char *p = REQUESTS_JSONL;
    int first = 1;
    while (*p) {
        const char *nl = strchr(p, '\n');
        if (!first)
            bt__buf_append_char(&body, ',');
        bt__buf_append(&body, p, (size_t)(nl - p));
        first = 0;
        p = nl + 1;
    }
    bt__buf_append_str(&body, "]}");
    bt_batch_collector *c;
    assert_int_equal(bt_batch_collector_new(e.a, BATCH, strlen(BATCH), &c), BT_OK);
    assert_int_equal(bt_batch_collector_feed_requests(c, body.data, body.len), BT_OK);
    assert_int_equal(bt_batch_collector_feed_results(c, RESULTS, strlen(RESULTS)), BT_OK);
    bt_batch_import_stats st;
    assert_int_equal(bt_batch_collector_finish(c, &st), BT_OK);
    check_stats(&st);
    bt_batch_collector_free(c);
    json_t *spans = tb_spans(&e);
    check_trace(spans);
    json_decref(spans);
    bt__buf_free(&body);
    tb_env_close(&e);
}

static void write_file(const char *path, const char *data, size_t len, int gzip)
{
    if (gzip) {
        gzFile g = gzopen(path, "wb");
        assert_non_null(g);
        assert_int_equal(gzwrite(g, data, (unsigned)len), (int)len);
        gzclose(g);
        return;
    }
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

static void test_import_files(void **state)
{
    (void)state;
    const char *batch = tb_tmp_path("batch.json");
    const char *reqs = tb_tmp_path("requests.jsonl.gz");
    const char *res = tb_tmp_path("results.jsonl.gz");
    write_file(batch, BATCH, strlen(BATCH), 0);
    write_file(reqs, REQUESTS_JSONL, strlen(REQUESTS_JSONL), 1);
    write_file(res, RESULTS, strlen(RESULTS), 1);
    char *first = NULL;
    for (int round = 0; round < 2; round++) {
        tb_env e;
        tb_env_open(&e, NULL);
        bt_batch_import_stats st;
        assert_int_equal(bt_batch_import_files(e.a, batch, reqs, res, &st), BT_OK);
        check_stats(&st);
        json_t *spans = tb_spans(&e);
        check_trace(spans);
        json_decref(spans);
        /* Importing again gives the very same span lines (same ids: no duplicates). */
        char *lines = tb_span_lines(&e);
        if (!first)
            first = lines;
        else {
            assert_string_equal(first, lines);
            free(lines);
        }
        tb_env_close(&e);
    }
    free(first);

    tb_env e;
    tb_env_open(&e, NULL);
    bt_batch_import_stats st;
    /* Without requests: the trace still comes, inputs unknown. */
    assert_int_equal(bt_batch_import_files(e.a, batch, NULL, res, &st), BT_OK);
    assert_int_equal(st.unknown_ids, 3);
    assert_int_equal(bt_batch_import_files(e.a, "/nonexistent/batch.json", reqs, res, &st), BT_EIO);
    assert_int_equal(bt_batch_import_files(e.a, batch, reqs, "/nonexistent/results", &st), BT_EIO);
    write_file(batch, "{\"type\":\"message_batch\"}", 24, 0);
    assert_int_equal(bt_batch_import_files(e.a, batch, reqs, res, &st), BT_EINVAL);
    write_file(batch, "not json", 8, 0);
    assert_int_equal(bt_batch_import_files(e.a, batch, reqs, res, &st), BT_EPARSE);
    /* A corrupt results file still gives a trace, marked incomplete, and says so. */
    write_file(batch, BATCH, strlen(BATCH), 0);
    size_t n;
    char *gz = bt_test_read_file(res, &n);
    write_file(res, gz, n - 12, 0);
    free(gz);
    tb_clear(&e);
    assert_int_equal(bt_batch_import_files(e.a, batch, reqs, res, &st), BT_EPARSE);
    json_t *spans = tb_spans(&e);
    json_t *b = tb_one(spans, "anthropic.batch");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(b, "status"), "code")), 2);
    json_decref(spans);
    tb_env_close(&e);
}

static void test_collector_bad_arguments(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    bt_batch_collector *c = (bt_batch_collector *)&e;
    assert_int_equal(bt_batch_collector_new(e.a, "{\"id\":5}", 8, &c), BT_EINVAL);
    assert_null(c);
    assert_int_equal(bt_batch_collector_new(e.a, "[", 1, &c), BT_EPARSE);
    assert_int_equal(bt_batch_collector_new(NULL, BATCH, strlen(BATCH), &c), BT_EINVAL);
    assert_int_equal(bt_batch_collector_finish(NULL, NULL), BT_EINVAL);
    bt_batch_collector_free(NULL);
    /* Malformed requests: reported at finish, the trace is still emitted. */
    assert_int_equal(bt_batch_collector_new(e.a, BATCH, strlen(BATCH), &c), BT_OK);
    assert_int_equal(bt_batch_collector_feed_requests(c, "]]", 2), BT_EPARSE);
    assert_int_equal(bt_batch_collector_feed_results(c, RESULTS, strlen(RESULTS)), BT_OK);
    bt_batch_import_stats st;
    assert_int_equal(bt_batch_collector_finish(c, &st), BT_EPARSE);
    assert_int_equal(st.results, 3);
    bt_batch_collector_free(c);
    /* Freed without finish: finished on free. */
    assert_int_equal(bt_batch_collector_new(e.a, BATCH, strlen(BATCH), &c), BT_OK);
    assert_int_equal(bt_batch_collector_feed_results(c, RESULTS, strlen(RESULTS)), BT_OK);
    bt_batch_collector_free(c);
    json_t *spans = tb_spans(&e);
    assert_int_equal(tb_count(spans, "anthropic.batch"), 2);
    json_decref(spans);
    tb_env_close(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_collector_jsonl_in_pieces),
        cmocka_unit_test(test_collector_create_body),
        cmocka_unit_test(test_import_files),
        cmocka_unit_test(test_collector_bad_arguments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
