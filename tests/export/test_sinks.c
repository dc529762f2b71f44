/*
 * The local sinks driven through their vtables, as the tracer's export thread does:
 * memory (lines, failure injection, concurrent readers), JSONL (one parseable line per
 * span, append, write errors reported) and console (one sanitised line per span).
 */
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "failing_sink.h"
#include "braintrust/sink.h"
#include "core/sink_internal.h"
#include "span_fixture.h"

static bt__resource res;

static int setup(void **state)
{
    (void)state;
    fx_resource_init(&res, "sink-test", "braintrust-c", "0.1.0");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_attrs_free(&res.attrs);
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("BT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/export_sinks_%ld_%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
    return path;
}

static json_t *parse_line(const char *line)
{
    json_error_t err;
    json_t *j = json_loads(line, 0, &err);
    assert_non_null(j);
    return j;
}

static void test_memory_sink_keeps_lines(void **state)
{
    (void)state;
    bt_sink *sink;
    assert_int_equal(bt_sink_memory_new(&sink), BT_OK);
    bt_span *a = fx_span_new("first");
    bt_span *b = fx_span_new("second");
    bt_span *spans[2] = {a, b};
    assert_int_equal(sink->vt->export_spans(sink, &res, spans, 2), BT_OK);
    assert_int_equal(bt_sink_memory_count(sink), 2);
    char *line = bt_sink_memory_get(sink, 1);
    json_t *j = parse_line(line);
    assert_string_equal(json_string_value(json_object_get(j, "name")), "second");
    json_t *rattr = json_array_get(json_object_get(json_object_get(j, "resource"), "attributes"), 0);
    assert_string_equal(json_string_value(json_object_get(rattr, "key")), "service.name");
    json_decref(j);
    free(line);
    assert_null(bt_sink_memory_get(sink, 2));

    /* failure injection (test support): exactly the next n exports fail and keep
     * nothing */
    bt_sink *failing = bt_test_failing_sink(sink);
    bt_test_sink_fail_next(failing, 2);
    assert_int_equal(failing->vt->export_spans(failing, &res, spans, 1), BT_EEXPORT);
    assert_int_equal(failing->vt->export_spans(failing, &res, spans, 1), BT_EEXPORT);
    assert_int_equal(bt_sink_memory_count(sink), 2);
    assert_int_equal(failing->vt->export_spans(failing, &res, spans, 1), BT_OK);
    assert_int_equal(bt_sink_memory_count(sink), 3);

    bt_sink_memory_clear(sink);
    assert_int_equal(bt_sink_memory_count(sink), 0);
    bt_sink_free(failing);
    fx_span_free(a);
    fx_span_free(b);
}

/* The memory accessors ignore sinks of other kinds instead of misreading them. */
static void test_memory_accessors_reject_other_sinks(void **state)
{
    (void)state;
    bt_sink *console;
    assert_int_equal(bt_sink_console_new(&console), BT_OK);
    assert_int_equal(bt_sink_memory_count(console), 0);
    assert_null(bt_sink_memory_get(console, 0));
    bt_sink_memory_clear(console);
    bt_sink_free(console);
    bt_sink_free(NULL);
    assert_int_equal(bt_sink_memory_count(NULL), 0);
}

typedef struct reader_arg {
    bt_sink *sink;
    int done;
    pthread_mutex_t lock;
} reader_arg;

/* Checks run off the main thread, so they are counted rather than asserted (cmocka's
 * failure path is not thread-safe). */
static void *reader(void *p)
{
    reader_arg *r = p;
    uintptr_t bad = 0;
    for (;;) {
        pthread_mutex_lock(&r->lock);
        int done = r->done;
        pthread_mutex_unlock(&r->lock);
        size_t n = bt_sink_memory_count(r->sink);
        if (n) {
            char *line = bt_sink_memory_get(r->sink, n - 1);
            if (!line || line[0] != '{')
                bad++;
            free(line);
        }
        if (done)
            return (void *)bad;
    }
}

/* Test code reads while the export thread appends (run under TSan/ASan in CI). */
static void test_memory_sink_concurrent_readers(void **state)
{
    (void)state;
    bt_sink *sink;
    assert_int_equal(bt_sink_memory_new(&sink), BT_OK);
    reader_arg r = {sink, 0, PTHREAD_MUTEX_INITIALIZER};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, reader, &r), 0);
    bt_span *s = fx_span_new("concurrent");
    bt_span *spans[1] = {s};
    for (int i = 0; i < 2000; i++)
        assert_int_equal(sink->vt->export_spans(sink, &res, spans, 1), BT_OK);
    pthread_mutex_lock(&r.lock);
    r.done = 1;
    pthread_mutex_unlock(&r.lock);
    void *bad = NULL;
    pthread_join(th, &bad);
    assert_int_equal((uintptr_t)bad, 0);
    assert_int_equal(bt_sink_memory_count(sink), 2000);
    fx_span_free(s);
    bt_sink_free(sink);
}

static char *read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static void test_jsonl_sink_appends_lines(void **state)
{
    (void)state;
    const char *path = tmp_path("spans.jsonl");
    unlink(path);
    FILE *pre = fopen(path, "w");
    fputs("{\"existing\":true}\n", pre);
    fclose(pre);

    bt_sink *sink;
    assert_int_equal(bt_sink_jsonl_new(path, &sink), BT_OK);
    bt_span *a = fx_span_new("one\nline"); /* a newline in a name must not split the line */
    fx_attr_string(&a->attrs, "text", "multi\nline\r\nvalue");
    bt_span *b = fx_span_new("two");
    bt_span *spans[2] = {a, b};
    assert_int_equal(sink->vt->export_spans(sink, &res, spans, 2), BT_OK);
    /* flushed per batch: visible before the sink is closed */
    char *text = read_file(path);
    char *save = NULL;
    char *line = strtok_r(text, "\n", &save);
    assert_string_equal(line, "{\"existing\":true}");
    static const char *const names[] = {"one\nline", "two"};
    for (int i = 0; i < 2; i++) {
        line = strtok_r(NULL, "\n", &save);
        assert_non_null(line);
        json_t *j = parse_line(line);
        assert_string_equal(json_string_value(json_object_get(j, "name")), names[i]);
        assert_non_null(json_object_get(j, "resource"));
        json_decref(j);
    }
    assert_null(strtok_r(NULL, "\n", &save));
    free(text);
    bt_sink_free(sink);
    fx_span_free(a);
    fx_span_free(b);
    unlink(path);
}

/* A full disk: the export reports failure instead of claiming delivery. */
static void test_jsonl_sink_reports_write_errors(void **state)
{
    (void)state;
    if (access("/dev/full", W_OK) != 0)
        fail_msg("/dev/full is needed to simulate a full disk");
    bt_sink *sink;
    assert_int_equal(bt_sink_jsonl_new("/dev/full", &sink), BT_OK);
    bt_span *s = fx_span_new("lost");
    bt_span *spans[1] = {s};
    assert_int_equal(sink->vt->export_spans(sink, &res, spans, 1), BT_EIO);
    fx_span_free(s);
    bt_sink_free(sink);

    assert_int_equal(bt_sink_jsonl_new("/nonexistent-dir/x.jsonl", &sink), BT_EIO);
    assert_null(sink);
    assert_int_equal(bt_sink_jsonl_new("", &sink), BT_EINVAL);
}

static void test_console_sink_line(void **state)
{
    (void)state;
    const char *path = tmp_path("console.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);

    bt_sink *sink;
    assert_int_equal(bt_sink_console_new(&sink), BT_OK);
    bt_span *s = fx_span_new("anthropic.messages.create");
    s->start_unix_nano = 1000000000ull;
    s->end_unix_nano = 1812400000ull;
    s->status_code = BT_STATUS_ERROR;
    s->status_message = fx_strdup("overloaded\n\x1b[31mforged");
    bt_span *spans[1] = {s};
    assert_int_equal(sink->vt->export_spans(sink, &res, spans, 1), BT_OK);
    bt_sink_free(sink);
    fx_span_free(s);

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    char *text = read_file(path);
    assert_string_equal(text,
                        "[braintrust] anthropic.messages.create 812.4ms trace=01020304 span=a1a2a3a4 "
                        "ERROR: overloaded??[31mforged\n");
    free(text);
    unlink(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_sink_keeps_lines),
        cmocka_unit_test(test_memory_accessors_reject_other_sinks),
        cmocka_unit_test(test_memory_sink_concurrent_readers),
        cmocka_unit_test(test_jsonl_sink_appends_lines),
        cmocka_unit_test(test_jsonl_sink_reports_write_errors),
        cmocka_unit_test(test_console_sink_line),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
