/* JSONL splitting: line endings, empty lines, the unterminated last line, the cap
 * (prefix + truncated, rest skipped), callback stop, chunking invariance. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "braintrust/common.h"
#include "cassette.h"
#include "decode/ndjson.h"
#include "heap.h"
#include "util/buf.h"

/* Lines are logged as "<line>|<full_len>|<truncated>" + 0x1e. */
typedef struct {
    bt__buf log;
    size_t count;
    int stop_at;
} collector;

static int on_line(void *ud, const char *line, size_t len, size_t full_len, int truncated)
{
    collector *c = ud;
    assert_int_equal(line[len], '\0');
    assert_true(full_len >= len);
    assert_int_equal(truncated, full_len > len);
    bt__buf_append(&c->log, line, len);
    bt__buf_printf(&c->log, "|%zu|%d\x1e", full_len, truncated);
    c->count++;
    return c->stop_at && (int)c->count == c->stop_at ? 9 : 0;
}

static void run_split(const char *in, size_t len, size_t max, const size_t *cuts, size_t ncuts, collector *c)
{
    memset(c, 0, sizeof *c);
    bt__buf_init(&c->log, 0);
    bt__ndjson *p = bt__ndjson_new(max, on_line, c);
    assert_non_null(p);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(bt__ndjson_feed(p, in + at, end - at), BT_OK);
        at = end;
    }
    assert_int_equal(bt__ndjson_finish(p), BT_OK);
    bt__ndjson_free(p);
}

static const char *log_str(const collector *c)
{
    return c->log.data ? c->log.data : "";
}

static void assert_chunking_invariant(const char *in, size_t len, size_t max)
{
    collector whole, other;
    run_split(in, len, max, NULL, 0, &whole);
    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    run_split(in, len, max, cuts, len > 1 ? len - 1 : 0, &other);
    assert_string_equal(log_str(&other), log_str(&whole));
    bt__buf_free(&other.log);
    srand(777);
    for (int round = 0; round < 40; round++) {
        size_t n = 0, at = 0;
        for (;;) {
            at += 1 + (size_t)rand() % (len / 3 + 2);
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        run_split(in, len, max, cuts, n, &other);
        assert_string_equal(log_str(&other), log_str(&whole));
        bt__buf_free(&other.log);
    }
    free(cuts);
    bt__buf_free(&whole.log);
}

static const struct {
    const char *name;
    const char *in;
    size_t max;
    const char *expect; /* '~' = 0x1e */
} CASES[] = {
    {"two lines", "{\"a\":1}\n{\"b\":2}\n", 64, "{\"a\":1}|7|0~{\"b\":2}|7|0~"},
    {"crlf", "{\"a\":1}\r\n{\"b\":2}\r\n", 64, "{\"a\":1}|7|0~{\"b\":2}|7|0~"},
    {"last line without lf", "{\"a\":1}\n{\"b\":2}", 64, "{\"a\":1}|7|0~{\"b\":2}|7|0~"},
    {"last line with lone cr", "x\r", 64, "x|1|0~"},
    {"cr inside a line kept", "a\rb\n", 64, "a\rb|3|0~"},
    {"empty lines skipped", "\n\nx\n\r\n\n", 64, "x|1|0~"},
    {"blank lines skipped", "  \t\nx\n \r\n", 64, "x|1|0~"},
    {"spaces around content kept", " x \n", 64, " x |3|0~"},
    {"cap exact fits", "12345\n", 5, "12345|5|0~"},
    {"cap exact fits with cr", "12345\r\n", 5, "12345|5|0~"},
    {"cap cuts", "123456789\nok\n", 5, "12345|9|1~ok|2|0~"},
    {"cap cuts with cr", "123456789\r\nok\n", 5, "12345|9|1~ok|2|0~"},
    {"cap cuts last line", "ok\n123456789", 5, "ok|2|0~12345|9|1~"},
    {"cap one over with cr", "123456\r\n", 5, "12345|6|1~"},
    {"invalid utf-8 untouched", "\xff\xfe\xc0\x80\n", 64, "\xff\xfe\xc0\x80|4|0~"},
    {"empty input", "", 64, ""},
    {"only newlines", "\n\n\n", 64, ""},
};

static void test_line_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        char want[256];
        size_t k = 0;
        for (; CASES[i].expect[k]; k++)
            want[k] = CASES[i].expect[k] == '~' ? 0x1e : CASES[i].expect[k];
        want[k] = '\0';
        collector c;
        run_split(CASES[i].in, strlen(CASES[i].in), CASES[i].max, NULL, 0, &c);
        if (strcmp(log_str(&c), want) != 0)
            fail_msg("case '%s': got '%s'", CASES[i].name, log_str(&c));
        bt__buf_free(&c.log);
        assert_chunking_invariant(CASES[i].in, strlen(CASES[i].in), CASES[i].max);
    }
}

static void test_callback_stop(void **state)
{
    (void)state;
    collector c;
    memset(&c, 0, sizeof c);
    bt__buf_init(&c.log, 0);
    c.stop_at = 1;
    bt__ndjson *p = bt__ndjson_new(64, on_line, &c);
    assert_int_equal(bt__ndjson_feed(p, "a\nb\nc", 5), 9);
    assert_int_equal(c.count, 1);
    assert_int_equal(bt__ndjson_feed(p, "d\n", 2), 9);
    assert_int_equal(bt__ndjson_finish(p), 9);
    assert_int_equal(c.count, 1);
    bt__ndjson_free(p);
    bt__buf_free(&c.log);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(bt__ndjson_new(10, NULL, NULL));
    assert_int_equal(bt__ndjson_feed(NULL, "x", 1), BT_EINVAL);
    assert_int_equal(bt__ndjson_finish(NULL), BT_EINVAL);
    bt__ndjson_free(NULL);
}

/* 10 MB in one line under a 1 MB cap, then a normal line: the prefix is reported with
 * the real length, and the following line is intact. */
static void test_huge_line(void **state)
{
    (void)state;
    const size_t piece = 65536, huge = 10u << 20, cap = 1u << 20;
    char *blob = malloc(piece);
    assert_non_null(blob);
    memset(blob, 'x', piece);
    collector c;
    memset(&c, 0, sizeof c);
    bt__buf_init(&c.log, 0);
    size_t base = heap_in_use(), peak = base;
    bt__ndjson *p = bt__ndjson_new(cap, on_line, &c);
    for (size_t sent = 0; sent < huge; sent += piece) {
        assert_int_equal(bt__ndjson_feed(p, blob, piece), BT_OK);
        size_t now = heap_in_use();
        peak = now > peak ? now : peak;
    }
    /* Only the capped prefix is held, not the 10 MB line. */
    assert_true(peak - base <= cap + 16384);
    assert_int_equal(bt__ndjson_feed(p, "\n{}\n", 4), BT_OK);
    assert_int_equal(bt__ndjson_finish(p), BT_OK);
    bt__ndjson_free(p);
    assert_int_equal(c.count, 2);
    char tail[64];
    snprintf(tail, sizeof tail, "|%zu|1\x1e{}|2|0\x1e", huge);
    assert_int_equal(c.log.len, cap + strlen(tail));
    assert_string_equal(c.log.data + cap, tail);
    bt__buf_free(&c.log);
    free(blob);
}

/* Real batch results excerpts: every line is a result object with a custom_id and a
 * result.type, and any chunking gives the same lines. */
static void test_recorded_batch_results(void **state)
{
    (void)state;
    static const char *const FILES[] = {
        "anthropic/observed-excerpts/batch-results.succeeded.DelphiAnthropic.jsonl",
        "anthropic/observed-excerpts/batch-results.errored.BatchBridge.jsonl",
        "anthropic/observed-excerpts/batch-results.succeeded.prompting-with-buffer.jsonl",
    };
    for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++) {
        size_t len;
        char *body = bt_test_read_file(bt_test_fixture_path(FILES[f]), &len);
        assert_non_null(body);
        size_t want = 0;
        for (size_t i = 0; i < len; i++)
            if (body[i] != '\n' && (i + 1 == len || body[i + 1] == '\n'))
                want++; /* a line with content ends here */
        collector c;
        run_split(body, len, 1u << 20, NULL, 0, &c);
        assert_int_equal(c.count, want);
        assert_true(want >= 1);
        const char *rec = c.log.data;
        for (size_t i = 0; i < c.count; i++) {
            const char *bar = strchr(rec, '|');
            json_t *j = json_loadb(rec, (size_t)(bar - rec), 0, NULL);
            if (!j)
                fail_msg("%s line %zu: not JSON", FILES[f], i);
            assert_true(json_is_string(json_object_get(j, "custom_id")));
            assert_true(json_is_string(json_object_get(json_object_get(j, "result"), "type")));
            json_decref(j);
            rec = strchr(rec, 0x1e) + 1;
        }
        bt__buf_free(&c.log);
        assert_chunking_invariant(body, len, 1u << 20);
        free(body);
    }
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_line_table),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_huge_line),
    };
    /* replaying the recordings in ../shared/fixtures (see conformance.h) */
    const struct CMUnitTest conformance[] = {
        cmocka_unit_test(test_recorded_batch_results),
    };
    return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
}
