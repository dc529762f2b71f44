/*
 * The SQLite span store: schema and its checks, the extracted query columns, upsert
 * idempotency, the spool (ship, mark sent, retry after failure, restart, a crash between
 * write and ship), and the exact round trip of stored lines back into spans.
 */
#include <setjmp.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "failing_sink.h"
#include "core/sink_internal.h"
#include "core/tracer_internal.h"
#include "export/otlp_json.h"
#include "export/store.h"
#include "span_fixture.h"

static char g_path[512];
static bt__resource g_res;

static void remove_store(void)
{
    char extra[600];
    unlink(g_path);
    snprintf(extra, sizeof extra, "%s-wal", g_path);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", g_path);
    unlink(extra);
}

static int setup(void **state)
{
    (void)state;
    const char *dir = getenv("BT_TEST_TMPDIR");
    static int counter;
    snprintf(g_path, sizeof g_path, "%s/store-%d-%d.db", dir ? dir : "/tmp", (int)getpid(), ++counter);
    remove_store();
    fx_resource_init(&g_res, "store-test", "braintrust-c", "0.1.0");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_attrs_free(&g_res.attrs);
    remove_store();
    return 0;
}

/* An llm span numbered k in trace t, child of span 1 when k > 1. */
static bt_span *llm_span(int t, int k)
{
    bt_span *s = fx_span_new(k == 1 ? "anthropic.batch" : "anthropic.messages.create");
    s->trace_id[0] = (uint8_t)t;
    s->span_id[7] = (uint8_t)k;
    if (k > 1) {
        s->has_parent = 1;
        memcpy(s->parent_span_id, s->span_id, 8);
        s->parent_span_id[7] = 1;
    }
    s->start_unix_nano = 1700000000000000000ull + (uint64_t)k;
    s->end_unix_nano = s->start_unix_nano + 1500000000ull;
    fx_attr_string(&s->attrs, "braintrust.span_attributes",
                   k == 1 ? "{\"type\":\"task\"}" : "{\"type\":\"llm\"}");
    fx_attr_string(&s->attrs, "braintrust.metadata",
                   "{\"provider\":\"anthropic\",\"model\":\"claude-test-1\"}");
    fx_attr_string(&s->attrs, "braintrust.metrics",
                   "{\"prompt_tokens\":120,\"completion_tokens\":30,\"tokens\":150,"
                   "\"prompt_cached_tokens\":100,\"prompt_cache_creation_5m_tokens\":7,"
                   "\"prompt_cache_creation_1h_tokens\":3,\"completion_reasoning_tokens\":11}");
    s->status_code = BT_STATUS_OK;
    return s;
}

static int export_n(bt_sink *sink, int trace, int first, int n)
{
    bt_span *spans[64];
    for (int i = 0; i < n; i++)
        spans[i] = llm_span(trace, first + i);
    int rc = sink->vt->export_spans(sink, &g_res, spans, (size_t)n);
    for (int i = 0; i < n; i++)
        fx_span_free(spans[i]);
    return rc;
}

static sqlite3 *open_ro(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_ONLY, &db, NULL), BT_OK);
    return db;
}

static int64_t scalar(const char *sql)
{
    sqlite3 *db = open_ro();
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return v;
}

static void test_schema_created_and_versioned(void **state)
{
    (void)state;
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    assert_int_equal(scalar("PRAGMA user_version"), BT__STORE_SCHEMA_VERSION);
    sqlite3 *db = open_ro();
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    bt_sink_free(sink);
    /* Reopening an existing store keeps it. */
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    assert_int_equal(export_n(sink, 1, 1, 1), BT_OK);
    bt_sink_free(sink);
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    bt_sink_free(sink);
    assert_int_equal(scalar("SELECT count(*) FROM spans"), 1);
}

static void test_columns_extracted(void **state)
{
    (void)state;
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    bt_span *s = llm_span(2, 2);
    s->status_code = BT_STATUS_ERROR;
    s->status_message = fx_strdup("overloaded_error: Overloaded");
    assert_int_equal(sink->vt->export_spans(sink, &g_res, &s, 1), BT_OK);
    bt__buf expect;
    bt__buf_init(&expect, 0);
    assert_int_equal(bt__otlp_json_span_line(&g_res, s, &expect), BT_OK);
    fx_span_free(s);
    bt_sink_free(sink);

    sqlite3 *db = open_ro();
    sqlite3_stmt *st = NULL;
    assert_int_equal(
        sqlite3_prepare_v2(db,
                           "SELECT trace_id, span_id, parent_span_id, name, span_type, model, prompt_tokens,"
                           " completion_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens,"
                           " status_code, status_message, end_ns - start_ns, line, sent FROM spans",
                           -1, &st, NULL),
        SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "0202030405060708090a0b0c0d0e0f10");
    assert_string_equal((const char *)sqlite3_column_text(st, 1), "a1a2a3a4a5a6a702");
    assert_string_equal((const char *)sqlite3_column_text(st, 2), "a1a2a3a4a5a6a701");
    assert_string_equal((const char *)sqlite3_column_text(st, 3), "anthropic.messages.create");
    assert_string_equal((const char *)sqlite3_column_text(st, 4), "llm");
    assert_string_equal((const char *)sqlite3_column_text(st, 5), "claude-test-1");
    assert_int_equal(sqlite3_column_int64(st, 6), 120);
    assert_int_equal(sqlite3_column_int64(st, 7), 30);
    assert_int_equal(sqlite3_column_int64(st, 8), 100);
    assert_int_equal(sqlite3_column_int64(st, 9), 10); /* 5m + 1h split summed */
    assert_int_equal(sqlite3_column_int64(st, 10), 11);
    assert_int_equal(sqlite3_column_int(st, 11), BT_STATUS_ERROR);
    assert_string_equal((const char *)sqlite3_column_text(st, 12), "overloaded_error: Overloaded");
    assert_int_equal(sqlite3_column_int64(st, 13), 1500000000);
    assert_string_equal((const char *)sqlite3_column_text(st, 14), expect.data);
    assert_int_equal(sqlite3_column_int(st, 15), BT__STORE_UNSENT);
    assert_int_equal(sqlite3_step(st), SQLITE_DONE);
    sqlite3_finalize(st);
    sqlite3_close(db);
    bt__buf_free(&expect);
}

static void test_root_has_null_parent_and_no_metrics_are_null(void **state)
{
    (void)state;
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    bt_span *s = fx_span_new("custom.root");
    assert_int_equal(sink->vt->export_spans(sink, &g_res, &s, 1), BT_OK);
    fx_span_free(s);
    bt_sink_free(sink);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE parent_span_id IS NULL AND model IS NULL"
                            " AND prompt_tokens IS NULL AND span_type IS NULL"),
                     1);
}

static void test_upsert_is_idempotent(void **state)
{
    (void)state;
    bt_sink *mem = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    assert_int_equal(export_n(sink, 3, 1, 4), BT_OK);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(export_n(sink, 3, 1, 4), BT_OK); /* the batch results read again */
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(scalar("SELECT count(*) FROM spans"), 4);
    /* Identical spans were not shipped twice. */
    assert_int_equal(bt_sink_memory_count(mem), 4);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 4);

    /* A changed span replaces its row and is shipped again. */
    bt_span *s = llm_span(3, 2);
    s->status_code = BT_STATUS_ERROR;
    assert_int_equal(sink->vt->export_spans(sink, &g_res, &s, 1), BT_OK);
    fx_span_free(s);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(scalar("SELECT count(*) FROM spans"), 4);
    assert_int_equal(scalar("SELECT status_code FROM spans WHERE span_id = 'a1a2a3a4a5a6a702'"),
                     BT_STATUS_ERROR);
    assert_int_equal(bt_sink_memory_count(mem), 5);
    bt_sink_free(sink);
}

/* A span is in the store as soon as the export thread is idle, not a schedule delay
 * (OTEL_BSP_SCHEDULE_DELAY, 5 s by default) later: someone looking right after a call
 * sees it. The tracer's clock stands still here, so only promptness can pass. */
static void test_span_committed_when_idle(void **state)
{
    (void)state;
    bt_tracer *t = NULL;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt__tracer_use_manual_clock(t, 0), BT_OK);
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, sink), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    bt_span *s = bt_span_start(t, "seen.at.once", NULL);
    bt_span_end(s, 0);
    assert_int_equal(bt__tracer_wait_idle(t, 60000), BT_OK);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE name = 'seen.at.once'"), 1);
    bt_tracer_free(t);
}

static void test_spool_ships_exact_lines(void **state)
{
    (void)state;
    bt_sink *mem = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    bt_span *s = llm_span(4, 2);
    const char *items[] = {"a", "b\xc3\xa9", ""};
    fx_attr_array(&s->attrs, "tags", items, 3);
    fx_attr_bool(&s->attrs, "flag", 1);
    fx_attr_int(&s->attrs, "neg", -42);
    fx_attr_int(&s->attrs, "big", INT64_MAX);
    fx_attr_double(&s->attrs, "ratio", 0.125);
    s->tracestate = fx_strdup("vendor=x");
    s->trace_flags = 1;
    s->kind = BT_SPAN_KIND_CLIENT;
    bt__event *e = fx_event_add(s, "first_token", 1700000000000000123ull);
    fx_attr_string(&e->attrs, "k", "v\n\"q\"");
    uint8_t tid[16] = {9}, sid[8] = {8};
    bt__link *l = fx_link_add(s, tid, sid);
    l->tracestate = fx_strdup("a=b");
    l->trace_flags = 1;
    fx_attr_int(&l->attrs, "n", 3);
    s->status_code = BT_STATUS_ERROR;
    s->status_message = fx_strdup("api_error: boom");
    bt__buf expect;
    bt__buf_init(&expect, 0);
    assert_int_equal(bt__otlp_json_span_line(&g_res, s, &expect), BT_OK);
    assert_int_equal(sink->vt->export_spans(sink, &g_res, &s, 1), BT_OK);
    fx_span_free(s);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);

    /* The span went through the database and back into a span: the target sees the
     * very line the original span encodes to. */
    assert_int_equal(bt_sink_memory_count(mem), 1);
    char *got = bt_sink_memory_get(mem, 0);
    assert_string_equal(got, expect.data);
    free(got);
    bt__buf_free(&expect);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 1);
    bt_sink_free(sink);
}

static void test_spool_failure_keeps_spans_until_flush(void **state)
{
    (void)state;
    bt_sink *mem = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    bt_sink *target = bt_test_failing_sink(mem);
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, target, &sink), BT_OK);
    bt_test_sink_fail_next(target, 1000000);
    /* Committed: the export succeeds although the target refuses. */
    assert_int_equal(export_n(sink, 5, 1, 3), BT_OK);
    /* A flush tries now, and reports that it could not deliver. */
    assert_int_equal(sink->vt->flush(sink, 10000), BT_EEXPORT);
    assert_int_equal(bt_sink_memory_count(mem), 0);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 3);
    assert_int_equal(export_n(sink, 5, 4, 1), BT_OK);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_EEXPORT);
    /* The target recovers: the next flush does not wait for the backoff. */
    bt_test_sink_fail_next(target, 0);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 4);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 4);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 4);
    bt_sink_free(sink);
}

/* A target that never answers in time: the export thread must not wait for it. */
static atomic_int g_slow_calls;

static int slow_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    (void)sink, (void)res, (void)spans, (void)n;
    atomic_fetch_add(&g_slow_calls, 1);
    usleep(300 * 1000);
    return BT_ETIMEDOUT;
}

static void slow_free(bt_sink *sink)
{
    free(sink);
}

static const bt__sink_vtable slow_vt = {.name = "slow", .export_spans = slow_export, .free = slow_free};

static void test_hanging_target_does_not_block_exports(void **state)
{
    (void)state;
    bt_sink *slow = calloc(1, sizeof *slow);
    slow->vt = &slow_vt;
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, slow, &sink), BT_OK);
    /* Forty exports while the target takes 300 ms per attempt, backing off after each:
     * all are committed, none is shipped. */
    for (int i = 0; i < 40; i++)
        assert_int_equal(export_n(sink, 9, i + 1, 1), BT_OK);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 40);
    /* Exports do not each try the target (that would be 40 calls): the shipper tries,
     * then backs off (1 s, 2 s, 4 s, ...). */
    assert_true(atomic_load(&g_slow_calls) < 10);
    /* A flush with a deadline shorter than an attempt gives up at the deadline. */
    int rc = sink->vt->flush(sink, 50);
    assert_true(rc == BT_ETIMEDOUT || rc == BT_EEXPORT);
    sink->vt->shutdown(sink);
    bt_sink_free(sink);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 40);
}

static void test_restart_ships_unsent_once(void **state)
{
    (void)state;
    bt_sink *mem = NULL, *sink = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    bt_sink *target = bt_test_failing_sink(mem);
    assert_int_equal(bt_sink_store_new(g_path, target, &sink), BT_OK);
    bt_test_sink_fail_next(target, 1000000);
    assert_int_equal(export_n(sink, 6, 1, 5), BT_OK);
    bt_sink_free(sink); /* the process goes away with 5 unsent spans */
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 5);

    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    sink->vt->shutdown(sink); /* a healthy target gets what is pending before exit */
    assert_int_equal(bt_sink_memory_count(mem), 5);
    bt_sink_free(sink);

    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    assert_int_equal(sink->vt->flush(sink, 1000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 0);
    bt_sink_free(sink);
}

/* A tracer started on a store that a previous run left spans in: they are shipped at
 * start, before any span of this run, with the tracer's logger in place. */
static void test_tracer_start_ships_leftovers(void **state)
{
    (void)state;
    bt_sink *mem = NULL, *sink = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    bt_sink *target = bt_test_failing_sink(mem);
    assert_int_equal(bt_sink_store_new(g_path, target, &sink), BT_OK);
    bt_test_sink_fail_next(target, 1000000);
    assert_int_equal(export_n(sink, 17, 1, 2), BT_OK);
    bt_sink_free(sink);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 2);

    bt_tracer *t = NULL;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, sink), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    for (int i = 0; i < 60000 && bt_sink_memory_count(mem) < 2; i++) /* bounded; no span, no flush */
        usleep(1000);
    assert_int_equal(bt_sink_memory_count(mem), 2);
    bt_tracer_free(t);
}

/* A target that kills its own process when asked to export: the crash lands after
 * the store committed and before anything was shipped or marked sent. */
static int killer_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    (void)sink, (void)res, (void)spans, (void)n;
    raise(SIGKILL);
    return BT_EIO;
}

static void killer_free(bt_sink *sink)
{
    free(sink);
}

static const bt__sink_vtable killer_vt = {
    .name = "killer", .export_spans = killer_export, .free = killer_free};

static void test_crash_between_write_and_ship(void **state)
{
    (void)state;
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        bt_sink *killer = calloc(1, sizeof *killer);
        killer->vt = &killer_vt;
        bt_sink *sink = NULL;
        if (bt_sink_store_new(g_path, killer, &sink) != BT_OK)
            _exit(3);
        export_n(sink, 7, 1, 6);
        sink->vt->flush(sink, 10000);
        _exit(4); /* not reached: the target killed us */
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_int_equal(WTERMSIG(status), SIGKILL);

    bt_sink *mem = NULL, *sink = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    assert_int_equal(sink->vt->flush(sink, 1000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 6);
    /* Each span exactly once. */
    for (size_t i = 0; i < 6; i++) {
        char *a = bt_sink_memory_get(mem, i);
        for (size_t j = i + 1; j < 6; j++) {
            char *b = bt_sink_memory_get(mem, j);
            assert_string_not_equal(a, b);
            free(b);
        }
        free(a);
    }
    bt_sink_free(sink);
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    assert_int_equal(sink->vt->flush(sink, 1000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 0);
    bt_sink_free(sink);
}

/* A target that accepts (writes "<n>\n" to a pipe) and then kills its process: the
 * crash lands after the receiver took the spans and before they were marked sent. */
static int g_accept_fd = -1;

static int accept_then_die_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    (void)sink, (void)res, (void)spans;
    char line[32];
    int len = snprintf(line, sizeof line, "%zu\n", n);
    if (write(g_accept_fd, line, (size_t)len) != len)
        _exit(5);
    raise(SIGKILL);
    return BT_OK;
}

static const bt__sink_vtable accept_then_die_vt = {
    .name = "accept-then-die", .export_spans = accept_then_die_export, .free = killer_free};

/* At least once: the batch a receiver took just before the crash is sent again after
 * the restart, exactly that batch, and nothing else twice. */
static void test_crash_between_accept_and_mark(void **state)
{
    (void)state;
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        g_accept_fd = fds[1];
        bt_sink *target = calloc(1, sizeof *target);
        target->vt = &accept_then_die_vt;
        bt_sink *sink = NULL;
        if (bt_sink_store_new(g_path, target, &sink) != BT_OK)
            _exit(3);
        export_n(sink, 11, 1, 4);
        sink->vt->flush(sink, 10000);
        _exit(4);
    }
    close(fds[1]);
    char got[64] = "";
    ssize_t n = read(fds[0], got, sizeof got - 1);
    close(fds[0]);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFSIGNALED(status));
    assert_true(n > 0);
    assert_string_equal(got, "4\n"); /* the receiver took all four */
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 4);

    bt_sink *mem = NULL, *sink = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_OK);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 4); /* the same four, a second time */
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 4);
    assert_int_equal(sink->vt->flush(sink, 10000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 4);
    bt_sink_free(sink);
}

/* A spool target whose answers are scripted, one per export call, with the kind of
 * failure an OTLP sink reports. */
typedef struct scripted_target {
    bt_sink base;
    pthread_mutex_t mu;
    bt__send_kind script[32];
    int64_t retry_after[32];
    size_t n_script, next;
    size_t calls, spans_in, spans_taken;
    size_t call_sizes[64];
    bt__send_kind last_failure; /* like an OTLP sink: the last failed request's */
} scripted_target;

static int scripted_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    (void)res, (void)spans;
    scripted_target *t = (scripted_target *)sink;
    pthread_mutex_lock(&t->mu);
    bt__send_kind k = t->next < t->n_script ? t->script[t->next] : BT__SEND_OK;
    sink->retry_after_ms = t->next < t->n_script ? t->retry_after[t->next] : -1;
    t->next++;
    if (t->calls < 64)
        t->call_sizes[t->calls] = n;
    t->calls++;
    t->spans_in += n;
    if (k == BT__SEND_OK || k == BT__SEND_PARTIAL)
        t->spans_taken += n;
    if (k != BT__SEND_OK)
        t->last_failure = k;
    pthread_mutex_unlock(&t->mu);
    sink->last_kind = k;
    return k == BT__SEND_OK ? BT_OK : BT_EEXPORT;
}

static void scripted_delivery(bt_sink *sink, bt__delivery *out)
{
    scripted_target *t = (scripted_target *)sink;
    pthread_mutex_lock(&t->mu);
    out->sent += t->spans_taken;
    out->requests += t->calls;
    if (t->last_failure != BT__SEND_OK) {
        out->last_status = t->last_failure == BT__SEND_CONTENT ? 400 : 503;
        snprintf(out->last_error, sizeof out->last_error, "HTTP %d: scripted", out->last_status);
    }
    pthread_mutex_unlock(&t->mu);
}

static void scripted_free(bt_sink *sink)
{
    /* the test reads the counters after the store is gone: kept in g_scripted */
    (void)sink;
}

static const bt__sink_vtable scripted_vt = {.name = "scripted",
                                            .export_spans = scripted_export,
                                            .free = scripted_free,
                                            .delivery = scripted_delivery};

static scripted_target g_scripted;

static bt_sink *scripted_new(const bt__send_kind *script, size_t n)
{
    memset(&g_scripted, 0, sizeof g_scripted);
    pthread_mutex_init(&g_scripted.mu, NULL);
    g_scripted.base.vt = &scripted_vt;
    for (size_t i = 0; i < n; i++) {
        g_scripted.script[i] = script[i];
        g_scripted.retry_after[i] = -1;
    }
    g_scripted.n_script = n;
    return &g_scripted.base;
}

static pthread_mutex_t g_log_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_log[16384];

static void keep_log(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    pthread_mutex_lock(&g_log_mu);
    size_t len = strlen(g_log);
    snprintf(g_log + len, sizeof g_log - len, "%s: %s\n", names[level], msg);
    pthread_mutex_unlock(&g_log_mu);
}

static int log_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&g_log_mu);
    for (const char *p = g_log; (p = strstr(p, needle)); p++)
        n++;
    pthread_mutex_unlock(&g_log_mu);
    return n;
}

static bt_sink *store_over(bt_sink *target)
{
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, target, &sink), BT_OK);
    sink->log = keep_log;
    sink->log_level = BT_LOG_DEBUG;
    g_log[0] = '\0';
    return sink;
}

/* Flushes until the store says everything was delivered (each flush makes an attempt;
 * bounded by the script's length, not by time). */
static int flush_until_delivered(bt_sink *sink, int max_flushes)
{
    for (int i = 0; i < max_flushes; i++)
        if (sink->vt->flush(sink, 60000) == BT_OK)
            return i + 1;
    return -1;
}

/* The receiver refuses a batch for its content: it is sent again in halves, and only
 * the span refused on its own is set aside; the others are delivered, nothing waits. */
static void test_spool_sets_aside_only_the_refused_span(void **state)
{
    (void)state;
    /* [1 2 3] refused; [1] taken; [2 3] refused; [2] refused alone; [3] taken */
    const bt__send_kind script[] = {BT__SEND_CONTENT, BT__SEND_OK, BT__SEND_CONTENT, BT__SEND_CONTENT,
                                    BT__SEND_OK};
    bt_sink *sink = store_over(scripted_new(script, 5));
    assert_int_equal(export_n(sink, 12, 1, 3), BT_OK);
    assert_true(flush_until_delivered(sink, 2) > 0);
    assert_int_equal(g_scripted.calls, 5);
    const size_t sizes[] = {3, 1, 2, 1, 1};
    for (size_t i = 0; i < 5; i++)
        assert_int_equal(g_scripted.call_sizes[i], sizes[i]);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 2);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 2 AND span_id LIKE '%02'"), 1);
    assert_int_equal(log_count("set aside as undeliverable"), 1);
    assert_int_equal(log_count("(HTTP 400: scripted) while others got through"), 1);
    bt__delivery d;
    memset(&d, 0, sizeof d);
    sink->vt->delivery(sink, &d);
    assert_int_equal(d.rejected, 1);
    assert_int_equal(d.spooled, 0);
    /* nothing is left to send, and nothing is sent again */
    assert_int_equal(sink->vt->flush(sink, 60000), BT_OK);
    assert_int_equal(g_scripted.calls, 5);
    bt_sink_free(sink);
}

/* A receiver that refuses every span, even alone (a wrong endpoint, a parent it does
 * not know): nothing is set aside, the spans wait, and go once it takes them. */
static void test_spool_keeps_spans_a_receiver_refuses_all(void **state)
{
    (void)state;
    /* each attempt: [1 2 3], [1], [2 3], [2], [3], all refused; two attempts' worth */
    bt__send_kind script[10];
    for (int i = 0; i < 10; i++)
        script[i] = BT__SEND_CONTENT;
    bt_sink *sink = store_over(scripted_new(script, 10));
    assert_int_equal(export_n(sink, 15, 1, 3), BT_OK);
    for (int i = 0; i < 3 && g_scripted.calls < 10; i++) /* bounded by the script */
        assert_int_equal(sink->vt->flush(sink, 60000), BT_EEXPORT);
    assert_int_equal(g_scripted.calls, 10);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 0"), 3);
    assert_int_equal(log_count("set aside"), 0);
    assert_int_equal(flush_until_delivered(sink, 2), 1);
    assert_int_equal(g_scripted.calls, 11);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 3);
    bt_sink_free(sink);
}

/* Spans with different braintrust.parent go in different exports: each is taken or
 * refused whole, so a failure never makes the spool send again what got through. */
static void test_spool_runs_split_by_parent(void **state)
{
    (void)state;
    bt_sink *sink = store_over(scripted_new(NULL, 0));
    bt_span *spans[4];
    for (int i = 0; i < 4; i++) {
        spans[i] = llm_span(16, i + 1);
        fx_attr_string(&spans[i]->attrs, "braintrust.parent", i < 2 ? "project_name:a" : "project_name:b");
    }
    assert_int_equal(sink->vt->export_spans(sink, &g_res, spans, 4), BT_OK);
    for (int i = 0; i < 4; i++)
        fx_span_free(spans[i]);
    assert_true(flush_until_delivered(sink, 2) > 0);
    assert_int_equal(g_scripted.calls, 2);
    assert_int_equal(g_scripted.call_sizes[0], 2);
    assert_int_equal(g_scripted.call_sizes[1], 2);
    bt_sink_free(sink);
}

/* A partial success (the receiver took the request, rejected some spans) must not be
 * sent again: the spans are marked sent. */
static void test_spool_partial_success_is_not_resent(void **state)
{
    (void)state;
    const bt__send_kind script[] = {BT__SEND_PARTIAL};
    bt_sink *sink = store_over(scripted_new(script, 1));
    assert_int_equal(export_n(sink, 13, 1, 3), BT_OK);
    assert_int_equal(flush_until_delivered(sink, 1), 1);
    assert_int_equal(sink->vt->flush(sink, 60000), BT_OK);
    assert_int_equal(g_scripted.calls, 1);
    assert_int_equal(scalar("SELECT count(*) FROM spans WHERE sent = 1"), 3);
    bt_sink_free(sink);
}

/* A receiver failing again and again: the spans wait in the store (counted as spooled,
 * not lost), the failure is logged in full once, then at 2 and 4 attempts, and the
 * recovery once. */
static void test_spool_failures_are_counted_and_logged_once(void **state)
{
    (void)state;
    const bt__send_kind script[] = {BT__SEND_TRANSIENT, BT__SEND_TRANSIENT, BT__SEND_TRANSIENT,
                                    BT__SEND_TRANSIENT, BT__SEND_TRANSIENT};
    bt_sink *sink = store_over(scripted_new(script, 5));
    assert_int_equal(export_n(sink, 14, 1, 3), BT_OK);
    bt__delivery d;
    memset(&d, 0, sizeof d);
    sink->vt->delivery(sink, &d);
    assert_int_equal(d.spooled, 3);
    assert_int_equal(sink->vt->flush(sink, 60000), BT_EEXPORT);
    memset(&d, 0, sizeof d);
    sink->vt->delivery(sink, &d);
    assert_int_equal(d.spooled, 3);
    assert_int_equal(d.sent, 0);
    assert_int_equal(d.last_status, 503);
    assert_true(flush_until_delivered(sink, 6) > 0);
    assert_int_equal(g_scripted.calls, 6);
    memset(&d, 0, sizeof d);
    sink->vt->delivery(sink, &d);
    assert_int_equal(d.spooled, 0);
    assert_int_equal(d.sent, 3);
    assert_int_equal(
        log_count(
            "error: span store: sending to the scripted sink failed (HTTP 503: scripted); 3 span(s) kept in"),
        1);
    assert_int_equal(log_count("still failing after 2 attempts"), 1);
    assert_int_equal(log_count("still failing after 4 attempts"), 1);
    assert_int_equal(log_count("still failing"), 2);
    assert_int_equal(log_count("works again after 5 failed attempt(s)"), 1);
    bt_sink_free(sink);
}

static void progress_count(void *ud, uint64_t shipped, uint64_t total)
{
    (void)shipped;
    int *calls = ud;
    (*calls)++;
    assert_int_equal(total, 7);
}

static void test_ship_all_batches_and_undeliverable(void **state)
{
    (void)state;
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    assert_int_equal(export_n(sink, 8, 1, 7), BT_OK);
    bt_sink_free(sink);

    sqlite3 *db = NULL;
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_WRITE, &db, NULL), BT_OK);
    assert_int_equal(sqlite3_exec(db, "UPDATE spans SET line = 'not json' WHERE span_id = 'a1a2a3a4a5a6a703'",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    bt_sink *mem = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    int calls = 0;
    bt__store_ship_result r;
    assert_int_equal(bt__store_ship(db, mem, 0, 3, 0, progress_count, &calls, &r), BT_OK);
    assert_int_equal(r.shipped, 6);
    assert_int_equal(r.undeliverable, 1);
    assert_int_equal(r.pending, 0);
    assert_int_equal(calls, 3);
    assert_int_equal(bt_sink_memory_count(mem), 6);
    /* --all re-sends what was sent, skipping nothing decodable. */
    calls = 0;
    assert_int_equal(bt__store_ship(db, mem, 1, 100, 0, NULL, NULL, &r), BT_OK);
    assert_int_equal(r.shipped, 6);
    assert_int_equal(bt_sink_memory_count(mem), 12);
    /* A refusing target leaves the spans unsent and says so. */
    assert_int_equal(sqlite3_exec(db, "UPDATE spans SET sent = 0 WHERE sent = 1", NULL, NULL, NULL),
                     SQLITE_OK);
    bt_sink *target = bt_test_failing_sink(mem);
    bt_test_sink_fail_next(target, 1);
    assert_int_equal(bt__store_ship(db, target, 0, 100, 0, NULL, NULL, &r), BT_EEXPORT);
    assert_int_equal(r.shipped, 0);
    assert_int_equal(r.pending, 6);
    sqlite3_close(db);
    bt_sink_free(target);
}

static void write_file(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, len, f), len);
    fclose(f);
}

/* A store made by a build before spans_by_start (4 KB pages, an index on start_ns alone)
 * opens and takes spans; its writer drops the redundant index and the file keeps its
 * page size. A new store has the larger pages and no such index. */
static void test_store_of_a_previous_version_opens(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "PRAGMA page_size=4096; PRAGMA journal_mode=WAL;"
            "CREATE TABLE spans (trace_id TEXT NOT NULL, span_id TEXT NOT NULL, parent_span_id TEXT,"
            " name TEXT NOT NULL, kind INTEGER NOT NULL, start_ns INTEGER NOT NULL, end_ns INTEGER NOT NULL,"
            " status_code INTEGER NOT NULL, status_message TEXT, span_type TEXT, model TEXT,"
            " prompt_tokens INTEGER, completion_tokens INTEGER, cache_read_tokens INTEGER,"
            " cache_creation_tokens INTEGER, reasoning_tokens INTEGER, line TEXT NOT NULL,"
            " sent INTEGER NOT NULL DEFAULT 0, stored_ns INTEGER NOT NULL, PRIMARY KEY (trace_id, span_id));"
            "CREATE INDEX spans_unsent ON spans(sent) WHERE sent = 0;"
            "CREATE INDEX spans_start ON spans(start_ns);"
            "INSERT INTO spans VALUES ('01', '02', NULL, 'old', 1, 5, 6, 0, NULL, NULL, NULL, NULL, NULL,"
            " NULL, NULL, NULL, '{}', 0, 7);"
            "PRAGMA user_version=1;",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    assert_int_equal(export_n(sink, 1, 1, 3), BT_OK);
    bt_sink_free(sink);
    assert_int_equal(scalar("SELECT count(*) FROM spans"), 4);
    assert_int_equal(scalar("PRAGMA page_size"), 4096);
    assert_int_equal(scalar("SELECT count(*) FROM sqlite_master WHERE name = 'spans_start'"), 0);
    assert_int_equal(scalar("SELECT count(*) FROM sqlite_master WHERE name = 'spans_by_start'"), 1);

    remove_store();
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    bt_sink_free(sink);
    assert_int_equal(scalar("PRAGMA page_size"), 32768);
    assert_int_equal(scalar("SELECT count(*) FROM sqlite_master WHERE name = 'spans_start'"), 0);
}

static long file_size(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

/* Past its limit the writer checkpoints the WAL itself, so the WAL file stays bounded
 * (at the limit and one commit) however far behind the checkpointer thread is. Here the
 * checkpointer is never woken (its threshold is out of reach), so only the writer's
 * bound can keep the WAL small: 16 MB of spans through a 1 MiB limit. */
static void test_wal_stays_bounded(void **state)
{
    (void)state;
    enum { BIG = 16 * 1024, PER = 16, BATCHES = 64 };
    char *big = malloc(BIG + 1);
    assert_non_null(big);
    memset(big, 'x', BIG);
    big[BIG] = 0;
    char wal[600];
    snprintf(wal, sizeof wal, "%s-wal", g_path);
    bt_sink *sink = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    assert_int_equal(bt__store_sink_set_checkpoint(sink, (int64_t)1 << 40, 1 << 20), BT_OK);
    long largest = 0;
    for (int b = 0; b < BATCHES; b++) {
        bt_span *spans[PER];
        for (int i = 0; i < PER; i++) {
            spans[i] = llm_span(b + 1, i + 1);
            big[0] = (char)('a' + i % 26); /* no two lines alike */
            fx_attr_string(&spans[i]->attrs, "braintrust.input_json", big);
        }
        assert_int_equal(sink->vt->export_spans(sink, &g_res, spans, PER), BT_OK);
        for (int i = 0; i < PER; i++)
            fx_span_free(spans[i]);
        long n = file_size(wal);
        if (n > largest)
            largest = n;
    }
    bt_sink_free(sink);
    free(big);
    /* a commit here is 16 spans of 16 KB and their index pages: well under 1 MiB */
    assert_true(largest <= (2L << 20));
    assert_int_equal(scalar("SELECT count(*) FROM spans"), PER * BATCHES);
}

static void test_bad_files_are_refused(void **state)
{
    (void)state;
    sqlite3 *db = NULL;
    bt__buf err;
    bt__buf_init(&err, 0);
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_ONLY, &db, &err), BT_ENOTFOUND);
    assert_null(db);

    /* Not SQLite at all: refused, and the file is left as it was. */
    char junk[4096];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = (char)(i * 7 + 3);
    write_file(g_path, junk, sizeof junk);
    bt_sink *mem = NULL, *sink = NULL;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_sink_store_new(g_path, mem, &sink), BT_EDB); /* takes the spool even so */
    assert_null(sink);
    bt__buf_reset(&err);
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_ONLY, &db, &err), BT_EDB);
    assert_non_null(strstr(err.data, "not a readable SQLite database"));
    FILE *f = fopen(g_path, "rb");
    char back[sizeof junk];
    assert_int_equal(fread(back, 1, sizeof back, f), sizeof back);
    fclose(f);
    assert_memory_equal(back, junk, sizeof junk);
    unlink(g_path);

    /* A SQLite database of something else. */
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "CREATE TABLE notes(x)", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_EDB);
    bt__buf_reset(&err);
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_ONLY, &db, &err), BT_EDB);
    assert_non_null(strstr(err.data, "not a span store"));
    unlink(g_path);

    /* The batch correlation store may have created its tables in the file first. */
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(db, "CREATE TABLE batch_requests(x); CREATE TABLE batch_objects(y)", NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    bt_sink_free(sink);
    unlink(g_path);

    /* A store from a newer version. */
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_OK);
    bt_sink_free(sink);
    assert_int_equal(sqlite3_open(g_path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA user_version=99", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    db = NULL;
    bt__buf_reset(&err);
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_ONLY, &db, &err), BT_EDB);
    assert_non_null(strstr(err.data, "newer"));
    assert_int_equal(bt_sink_store_new(g_path, NULL, &sink), BT_EDB);
    bt__buf_free(&err);

    assert_int_equal(bt_sink_store_new(NULL, NULL, &sink), BT_EINVAL);
    assert_int_equal(bt_sink_store_new(g_path, NULL, NULL), BT_EINVAL);
}

static void test_decode_rejects_non_spans(void **state)
{
    (void)state;
    bt__stored_span d;
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"traceId\":\"zz\",\"spanId\":\"a1a2a3a4a5a6a7a8\",\"name\":\"x\"}",
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a1a2a3a4a5a6a7a8\",\"name\":\"x\","
        "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"x\"}",
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a1a2a3a4a5a6a7a8\",\"name\":\"x\","
        "\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\",\"attributes\":[{\"key\":1}]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(bt__stored_span_decode(bad[i], strlen(bad[i]), &d), BT_EPARSE);
    const char *ok =
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a1a2a3a4a5a6a7a8\","
        "\"parentSpanId\":\"\",\"name\":\"x\",\"startTimeUnixNano\":\"1\",\"endTimeUnixNano\":\"2\"}";
    assert_int_equal(bt__stored_span_decode(ok, strlen(ok), &d), BT_OK);
    assert_false(d.span->has_parent);
    assert_int_equal(d.span->end_unix_nano, 2);
    bt__stored_span_free(&d);
}

/* Stored lines come from a file anyone can edit: mutated lines are refused or decoded,
 * never crash, and whatever decodes encodes again. */
static void test_decode_survives_mutations(void **state)
{
    (void)state;
    bt_span *s = llm_span(10, 2);
    const char *items[] = {"x", "y"};
    fx_attr_array(&s->attrs, "tags", items, 2);
    fx_attr_double(&s->attrs, "d", -1.5);
    fx_event_add(s, "e", 5);
    uint8_t tid[16] = {1}, sid[8] = {2};
    fx_link_add(s, tid, sid);
    bt__buf line, again;
    bt__buf_init(&line, 0);
    bt__buf_init(&again, 0);
    assert_int_equal(bt__otlp_json_span_line(&g_res, s, &line), BT_OK);
    fx_span_free(s);
    char *m = malloc(line.len + 1);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    int decoded = 0;
    for (int i = 0; i < 3000; i++) {
        memcpy(m, line.data, line.len + 1);
        size_t len = line.len;
        for (int k = 0; k < 1 + i % 4 && len > 0; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            size_t at = (size_t)(x % len);
            switch ((x >> 32) % 4) {
            case 0:
                m[at] = (char)(x >> 40);
                break; /* any byte */
            case 1:
                m[at] = "{}[]\",:0\\-e"[(x >> 40) % 11];
                break; /* JSON syntax */
            case 2:
                len = at;
                break; /* cut */
            default:
                m[at] = (char)(m[at] ^ 0x20);
                break; /* case flip */
            }
        }
        bt__stored_span d;
        int rc = bt__stored_span_decode(m, len, &d);
        assert_true(rc == BT_OK || rc == BT_EPARSE);
        if (rc == BT_OK) {
            decoded++;
            bt__buf_reset(&again);
            assert_int_equal(bt__otlp_json_span_line(&d.resource, d.span, &again), BT_OK);
            bt__stored_span_free(&d);
        }
    }
    /* Some mutations (inside string values) still decode. */
    assert_true(decoded > 0);
    free(m);
    bt__buf_free(&line);
    bt__buf_free(&again);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_schema_created_and_versioned, setup, teardown),
        cmocka_unit_test_setup_teardown(test_columns_extracted, setup, teardown),
        cmocka_unit_test_setup_teardown(test_root_has_null_parent_and_no_metrics_are_null, setup, teardown),
        cmocka_unit_test_setup_teardown(test_upsert_is_idempotent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_span_committed_when_idle, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_ships_exact_lines, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_failure_keeps_spans_until_flush, setup, teardown),
        cmocka_unit_test_setup_teardown(test_hanging_target_does_not_block_exports, setup, teardown),
        cmocka_unit_test_setup_teardown(test_restart_ships_unsent_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_tracer_start_ships_leftovers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_write_and_ship, setup, teardown),
        cmocka_unit_test_setup_teardown(test_crash_between_accept_and_mark, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_sets_aside_only_the_refused_span, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_keeps_spans_a_receiver_refuses_all, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_runs_split_by_parent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_partial_success_is_not_resent, setup, teardown),
        cmocka_unit_test_setup_teardown(test_spool_failures_are_counted_and_logged_once, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ship_all_batches_and_undeliverable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_store_of_a_previous_version_opens, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_stays_bounded, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_files_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_rejects_non_spans, setup, teardown),
        cmocka_unit_test_setup_teardown(test_decode_survives_mutations, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
