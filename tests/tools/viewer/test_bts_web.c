/*
 * The viewer's queries and routes without sockets, on a store written by the real store
 * sink: the trace list (newest first, the root named, keyset pages that neither skip nor
 * repeat, filters, a page ended early by its work budget), one trace, a span's line,
 * totals (count_tokens apart, sums that saturate instead of failing), live-update
 * events, the Host check, the security headers, and the read indexes being used.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>

#include "core/sink_internal.h"
#include "export/store.h"
#include "query.h"
#include "span_fixture.h"
#include "web.h"

static char g_path[512];
static bt__resource g_res;
static bt_sink *g_sink;

#define T0 1700000000000000000ll

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
    snprintf(g_path, sizeof g_path, "%s/bts-web-%d-%d.db", dir ? dir : "/tmp", (int)getpid(), ++counter);
    remove_store();
    fx_resource_init(&g_res, "viewer-test", "braintrust-c", "0.1.0");
    assert_int_equal(bt_sink_store_new(g_path, NULL, &g_sink), BT_OK);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    bt_sink_free(g_sink);
    fx_attrs_free(&g_res.attrs);
    remove_store();
    return 0;
}

typedef struct spec {
    int trace;          /* trace number: its id is 0xTT repeated */
    int span;           /* span number within the trace; 1 is the root */
    int parent;         /* 0: a root */
    int64_t start, dur; /* ns */
    const char *name, *type, *model;
    int64_t prompt, completion; /* -1: none */
    int error;
    const char *input; /* braintrust.input_json, or NULL */
} spec;

static void put(const spec *sp)
{
    bt_span *s = fx_span_new(sp->name);
    memset(s->trace_id, sp->trace, 16);
    memset(s->span_id, 0, 8);
    s->span_id[0] = (uint8_t)sp->trace;
    s->span_id[6] = (uint8_t)(sp->span >> 8);
    s->span_id[7] = (uint8_t)sp->span;
    if (sp->parent) {
        s->has_parent = 1;
        memcpy(s->parent_span_id, s->span_id, 8);
        s->parent_span_id[6] = (uint8_t)(sp->parent >> 8);
        s->parent_span_id[7] = (uint8_t)sp->parent;
    }
    s->start_unix_nano = (uint64_t)sp->start;
    s->end_unix_nano = (uint64_t)(sp->start + sp->dur);
    char buf[512];
    snprintf(buf, sizeof buf, "{\"type\":\"%s\"}", sp->type);
    fx_attr_string(&s->attrs, "braintrust.span_attributes", buf);
    if (sp->model) {
        snprintf(buf, sizeof buf, "{\"provider\":\"anthropic\",\"model\":\"%s\"}", sp->model);
        fx_attr_string(&s->attrs, "braintrust.metadata", buf);
    }
    if (sp->prompt >= 0) {
        snprintf(buf, sizeof buf, "{\"prompt_tokens\":%lld,\"completion_tokens\":%lld}",
                 (long long)sp->prompt, (long long)sp->completion);
        fx_attr_string(&s->attrs, "braintrust.metrics", buf);
    }
    if (sp->input)
        fx_attr_string(&s->attrs, "braintrust.input_json", sp->input);
    s->status_code = sp->error ? BT_STATUS_ERROR : BT_STATUS_OK;
    if (sp->error)
        s->status_message = fx_strdup("overloaded_error: <b>busy</b>");
    assert_int_equal(g_sink->vt->export_spans(g_sink, &g_res, &s, 1), BT_OK);
    fx_span_free(s);
}

static sqlite3 *open_ro(void)
{
    sqlite3 *db = NULL;
    assert_int_equal(bt__store_open(g_path, BT__STORE_READ_ONLY, &db, NULL), BT_OK);
    assert_int_equal(bts_query_register(db), BTS_Q_OK);
    return db;
}

static void trace_hex(int t, char out[33])
{
    for (int i = 0; i < 16; i++)
        snprintf(out + 2 * i, 3, "%02x", t);
}

/* A small store: a batch whose children start with its root (the root must still be
 * named), a single call with an error, a count_tokens call, a trace continued from an
 * outside parent. */
static void small_store(void)
{
    put(&(spec){1, 2, 1, T0, 500, "anthropic.messages.create", "llm", "claude-a", 10, 3, 0, "[]"});
    put(&(spec){1, 3, 1, T0, 500, "anthropic.messages.create", "llm", "claude-b", 20, 4, 1, NULL});
    put(&(spec){1, 1, 0, T0, 600, "anthropic.batch", "task", NULL, 30, 7, 0, NULL});
    put(&(spec){2, 1, 0, T0 + 1000, 50, "anthropic.messages.create", "llm", "claude-a", 5, 1, 1, NULL});
    put(&(spec){3, 1, 0, T0 + 2000, 20, "anthropic.messages.count_tokens", "llm", "claude-a", 900, 0, 0,
                NULL});
    put(&(spec){4, 2, 9, T0 + 3000, 20, "anthropic.messages.stream", "llm", "claude-c", 7, 2, 0, NULL});
}

static json_t *page_of(sqlite3 *db, bts_trace_filter f)
{
    json_t *page = NULL;
    assert_int_equal(bts_query_traces(db, &f, &page), BTS_Q_OK);
    return page;
}

static void test_list_newest_first_with_roots(void **state)
{
    (void)state;
    small_store();
    sqlite3 *db = open_ro();
    json_t *page = page_of(db, (bts_trace_filter){.limit = 10});
    json_t *traces = json_object_get(page, "traces");
    assert_int_equal(json_array_size(traces), 4);
    assert_true(json_is_null(json_object_get(page, "next")));
    assert_true(json_is_true(json_object_get(page, "complete")));
    const char *roots[] = {"anthropic.messages.stream", "anthropic.messages.count_tokens",
                           "anthropic.messages.create", "anthropic.batch"};
    for (int i = 0; i < 4; i++)
        assert_string_equal(json_string_value(json_object_get(json_array_get(traces, (size_t)i), "root")),
                            roots[i]);
    json_t *batch = json_array_get(traces, 3);
    assert_int_equal(json_integer_value(json_object_get(batch, "spans")), 3);
    /* the root is ok; one child failed: the list says both, as show does */
    assert_string_equal(json_string_value(json_object_get(batch, "root_status")), "ok");
    assert_int_equal(json_integer_value(json_object_get(batch, "errors")), 1);
    /* llm children only: the task root's sums are not counted again */
    assert_int_equal(json_integer_value(json_object_get(batch, "prompt_tokens")), 30);
    assert_int_equal(json_integer_value(json_object_get(batch, "duration_ns")), 600);
    assert_int_equal(json_array_size(json_object_get(batch, "models")), 2);
    /* count_tokens counts, it does not use tokens */
    assert_true(json_is_null(json_object_get(json_array_get(traces, 1), "prompt_tokens")));
    json_decref(page);
    sqlite3_close(db);
}

static void test_list_filters(void **state)
{
    (void)state;
    small_store();
    sqlite3 *db = open_ro();
    json_t *p = page_of(db, (bts_trace_filter){.limit = 10, .status = 2});
    assert_int_equal(json_array_size(json_object_get(p, "traces")), 2); /* batch (a child) and trace 2 */
    json_decref(p);
    p = page_of(db, (bts_trace_filter){.limit = 10, .status = 1});
    assert_int_equal(json_array_size(json_object_get(p, "traces")), 2);
    json_decref(p);
    p = page_of(db, (bts_trace_filter){.limit = 10, .model = "CLAUDE-B"});
    assert_int_equal(json_array_size(json_object_get(p, "traces")), 1);
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(p, "traces"), 0), "root")),
        "anthropic.batch");
    json_decref(p);
    p = page_of(db, (bts_trace_filter){.limit = 10, .name = "count_tok"});
    assert_int_equal(json_array_size(json_object_get(p, "traces")), 1);
    json_decref(p);
    p = page_of(db, (bts_trace_filter){.limit = 10, .from_ns = T0 + 1000, .to_ns = T0 + 2001});
    assert_int_equal(json_array_size(json_object_get(p, "traces")), 2);
    json_decref(p);
    json_t *bad = NULL;
    assert_int_equal(bts_query_traces(db, &(bts_trace_filter){.limit = 5, .cursor = "x-y"}, &bad),
                     BTS_Q_EINVAL);
    sqlite3_close(db);
}

/* 60 traces, several starting at the same instant: pages of 7 visit each exactly once. */
static void test_keyset_pages_neither_skip_nor_repeat(void **state)
{
    (void)state;
    for (int t = 1; t <= 60; t++) {
        put(&(spec){t, 1, 0, T0 + (t / 3) * 1000, 100, "root", "task", NULL, -1, 0, 0, NULL});
        put(&(spec){t, 2, 1, T0 + (t / 3) * 1000, 50, "child", "llm", "m", 1, 1, 0, NULL});
    }
    sqlite3 *db = open_ro();
    int seen[61] = {0}, pages = 0, total = 0;
    char cursor[80] = "";
    int64_t last_start = INT64_MAX;
    for (;;) {
        json_t *p = page_of(db, (bts_trace_filter){.limit = 7, .cursor = cursor[0] ? cursor : NULL});
        size_t i;
        json_t *t;
        json_array_foreach(json_object_get(p, "traces"), i, t)
        {
            int64_t start = json_integer_value(json_object_get(t, "start_ns"));
            assert_true(start <= last_start);
            last_start = start;
            unsigned v = 0;
            sscanf(json_string_value(json_object_get(t, "trace_id")), "%2x", &v);
            assert_true(v >= 1 && v <= 60);
            seen[v]++;
            total++;
            assert_string_equal(json_string_value(json_object_get(t, "root")), "root");
        }
        pages++;
        const char *next = json_string_value(json_object_get(p, "next"));
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(p);
        if (!next)
            break;
        assert_true(pages < 20);
    }
    assert_int_equal(total, 60);
    for (int t = 1; t <= 60; t++)
        assert_int_equal(seen[t], 1);
    sqlite3_close(db);
}

/* A filter that matches only the oldest trace, behind a big one: the work budget ends
 * pages early, and following `next` still finds it. */
static void test_budget_ends_page_early_and_continues(void **state)
{
    (void)state;
    put(&(spec){1, 1, 0, T0, 10, "needle", "task", NULL, -1, 0, 0, NULL});
    for (int k = 1; k <= 300; k++)
        put(&(spec){2, k, k == 1 ? 0 : 1, T0 + 1000 + k, 10, "hay", "llm", "m", 1, 1, 0, NULL});
    sqlite3 *db = open_ro();
    char cursor[80] = "";
    int pages = 0, found = 0, incomplete = 0;
    for (;;) {
        json_t *p =
            page_of(db,
                    (bts_trace_filter){
                        .limit = 5, .name = "needle", .budget = 50, .cursor = cursor[0] ? cursor : NULL});
        found += (int)json_array_size(json_object_get(p, "traces"));
        incomplete += json_is_false(json_object_get(p, "complete"));
        assert_true(json_integer_value(json_object_get(p, "scanned")) < 50 + 301 + 5);
        const char *next = json_string_value(json_object_get(p, "next"));
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(p);
        pages++;
        if (!next)
            break;
        assert_true(pages < 50);
    }
    assert_int_equal(found, 1);
    assert_true(incomplete >= 1);
    sqlite3_close(db);
}

static void test_one_trace_and_span_line(void **state)
{
    (void)state;
    small_store();
    sqlite3 *db = open_ro();
    char id[33];
    trace_hex(1, id);
    json_t *t = NULL;
    assert_int_equal(bts_query_trace(db, id, 100, &t), BTS_Q_OK);
    json_t *spans = json_object_get(t, "spans");
    assert_int_equal(json_array_size(spans), 3);
    assert_int_equal(json_integer_value(json_object_get(t, "start_ns")), T0);
    size_t i;
    json_t *s;
    int errors = 0;
    json_array_foreach(spans, i, s)
    {
        assert_int_equal(json_integer_value(json_object_get(s, "start")), 0);
        if (json_integer_value(json_object_get(s, "status")) == 2) {
            errors++;
            assert_string_equal(json_string_value(json_object_get(s, "status_message")),
                                "overloaded_error: <b>busy</b>");
        }
    }
    assert_int_equal(errors, 1);
    json_decref(t);
    assert_int_equal(bts_query_trace(db, id, 2, &t), BTS_Q_OK);
    assert_true(json_is_true(json_object_get(t, "truncated")));
    json_decref(t);
    char *line = NULL;
    size_t len = 0;
    assert_int_equal(bts_query_span_line(db, id, "0100000000000002", &line, &len), BTS_Q_OK);
    assert_non_null(strstr(line, "braintrust.input_json"));
    free(line);
    assert_int_equal(bts_query_span_line(db, id, "0100000000000009", &line, &len), BTS_Q_ENOTFOUND);
    char full[33];
    json_t *cands = NULL;
    assert_int_equal(bts_query_resolve(db, "0101", full, 5, &cands), BTS_Q_OK);
    assert_string_equal(full, id);
    assert_int_equal(bts_query_resolve(db, "0", full, 5, &cands), BTS_Q_EAMBIGUOUS);
    assert_int_equal(json_array_size(cands), 4);
    json_decref(cands);
    assert_int_equal(bts_query_resolve(db, "ff", full, 5, NULL), BTS_Q_ENOTFOUND);
    sqlite3_close(db);
}

static void test_totals_count_tokens_apart_and_saturating(void **state)
{
    (void)state;
    small_store();
    /* two spans whose prompt tokens sum past INT64_MAX */
    put(&(spec){5, 1, 0, T0 + 5000, 1, "anthropic.messages.create", "llm", "claude-huge", INT64_MAX - 5, 1, 0,
                NULL});
    put(&(spec){6, 1, 0, T0 + 86400000000000ll, 1, "anthropic.messages.create", "llm", "claude-huge", 100, 1,
                0, NULL});
    sqlite3 *db = open_ro();
    json_t *t = NULL;
    assert_int_equal(bts_query_totals(db, 1, &t), BTS_Q_OK);
    json_t *total = json_object_get(t, "total");
    assert_int_equal(json_integer_value(json_object_get(t, "count_tokens_calls")), 1);
    assert_int_equal(json_integer_value(json_object_get(total, "prompt_tokens")), INT64_MAX);
    assert_string_equal(json_string_value(json_array_get(json_object_get(total, "saturated"), 0)),
                        "prompt_tokens");
    size_t i;
    json_t *m;
    int64_t claude_a = -1;
    json_array_foreach(json_object_get(t, "models"), i, m)
    {
        if (strcmp(json_string_value(json_object_get(m, "model")), "claude-a") == 0)
            claude_a = json_integer_value(json_object_get(m, "prompt_tokens"));
        if (strcmp(json_string_value(json_object_get(m, "model")), "claude-huge") == 0)
            assert_int_equal(json_array_size(json_object_get(m, "saturated")), 1);
    }
    assert_int_equal(claude_a, 15); /* 10 + 5, without the count_tokens call's 900 */
    assert_int_equal(json_array_size(json_object_get(t, "days")) >= 2, 1);
    json_decref(t);
    sqlite3_close(db);
}

static void test_read_indexes_are_used(void **state)
{
    (void)state;
    small_store();
    sqlite3 *db = open_ro();
    const char *queries[][2] = {
        {"SELECT start_ns, trace_id FROM spans WHERE start_ns >= 0 AND start_ns <= 9 AND (start_ns < 9 OR trace_id < 'g')"
         " ORDER BY start_ns DESC, trace_id DESC, span_id DESC",
         "spans_by_start"},
        {"SELECT count(*), max(end_ns) FROM spans WHERE trace_id = 'x'", "spans_by_trace"},
        {"SELECT model, start_ns, name = 'anthropic.messages.count_tokens', status_code = 2, prompt_tokens,"
         " completion_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens FROM spans"
         " WHERE (span_type = 'llm' OR (span_type IS NULL AND model IS NOT NULL)) ORDER BY model, start_ns",
         "spans_llm_totals"},
        {"SELECT span_id, parent_span_id, name, span_type, model, start_ns, end_ns, status_code, prompt_tokens,"
         " completion_tokens FROM spans WHERE trace_id = 'x' ORDER BY start_ns, span_id",
         "spans_by_trace"}};
    for (size_t q = 0; q < sizeof queries / sizeof *queries; q++) {
        char sql[1024];
        snprintf(sql, sizeof sql, "EXPLAIN QUERY PLAN %s", queries[q][0]);
        sqlite3_stmt *st = NULL;
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &st, NULL), SQLITE_OK);
        int covering = 0, sorts = 0;
        while (sqlite3_step(st) == SQLITE_ROW) {
            const char *d = (const char *)sqlite3_column_text(st, 3);
            if (strstr(d, "COVERING INDEX") && strstr(d, queries[q][1]))
                covering = 1;
            if (strstr(d, "TEMP B-TREE"))
                sorts = 1;
        }
        sqlite3_finalize(st);
        if (!covering)
            fail_msg("%s does not use %s as a covering index", queries[q][0], queries[q][1]);
        if (sorts)
            fail_msg("%s sorts instead of reading %s in order", queries[q][0], queries[q][1]);
    }
    sqlite3_close(db);
}

static void handle(bts_web *w, const char *target, const char *host, bts_web_response *r)
{
    bts_web_handle(w, "GET", target, host, r);
}

static void test_routes_host_and_headers(void **state)
{
    (void)state;
    small_store();
    sqlite3 *db = open_ro();
    bts_web *w = NULL;
    assert_int_equal(bts_web_new(db, g_path, &w), 0);
    bts_web_set_origin(w, "127.0.0.1", 8790);
    bts_web_response r;
    const char *pages[] = {"/", "/totals", "/trace/0101010101"};
    for (size_t i = 0; i < 3; i++) {
        handle(w, pages[i], "127.0.0.1:8790", &r);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.content_type, "text/html; charset=utf-8");
        assert_non_null(strstr(r.body, "<script src=\"/app.js\">"));
        bts_web_response_free(&r);
    }
    handle(w, "/app.js", "localhost:8790", &r);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "innerHTML ="));
    bts_web_response_free(&r);
    /* DNS rebinding: another name, or another port, is refused */
    handle(w, "/api/traces", "evil.example:8790", &r);
    assert_int_equal(r.status, 421);
    bts_web_response_free(&r);
    handle(w, "/api/traces", "127.0.0.1:9999", &r);
    assert_int_equal(r.status, 421);
    bts_web_response_free(&r);
    handle(w, "/api/traces", NULL, &r);
    assert_int_equal(r.status, 421);
    bts_web_response_free(&r);
    bts_web_handle(w, "POST", "/api/traces", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 405);
    bts_web_response_free(&r);
    /* the API */
    handle(w, "/api/traces?limit=2&status=error", "[::1]:8790", &r);
    assert_int_equal(r.status, 200);
    json_t *v = json_loadb(r.body, r.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(v, "traces")), 2);
    json_decref(v);
    bts_web_response_free(&r);
    handle(w, "/api/traces?model=claude%2Db&name=anthropic+batch", "127.0.0.1:8790", &r);
    v = json_loadb(r.body, r.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(v, "traces")), 0); /* "anthropic batch" has a space */
    json_decref(v);
    bts_web_response_free(&r);
    const char *bad[] = {"/api/traces?limit=0", "/api/traces?status=maybe", "/api/traces?cursor=zz",
                         "/api/traces?name=%zz", "/api/traces?from_ns=-5"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        handle(w, bad[i], "127.0.0.1:8790", &r);
        assert_int_equal(r.status, 400);
        bts_web_response_free(&r);
    }
    handle(w, "/api/traces/01010101", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 200);
    v = json_loadb(r.body, r.len, 0, NULL);
    assert_int_equal(json_array_size(json_object_get(v, "spans")), 3);
    json_decref(v);
    bts_web_response_free(&r);
    handle(w, "/api/traces/0", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 409);
    bts_web_response_free(&r);
    handle(w, "/api/traces/%3Cscript%3E", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 404);
    assert_null(strchr(r.body, '<')); /* the JSON error never echoes markup raw */
    bts_web_response_free(&r);
    handle(w, "/api/traces/01010101010101010101010101010101/spans/0100000000000002", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body[0], '{');
    bts_web_response_free(&r);
    handle(w, "/api/totals", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 200);
    bts_web_response_free(&r);
    handle(w, "/api/events", "127.0.0.1:8790", &r);
    assert_true(r.event_stream);
    assert_string_equal(r.content_type, "text/event-stream");
    bts_web_response_free(&r);
    handle(w, "/etc/passwd", "127.0.0.1:8790", &r);
    assert_int_equal(r.status, 404);
    bts_web_response_free(&r);
    int csp = 0;
    for (size_t i = 0; bts_web_security_headers[i][0]; i++)
        if (strcmp(bts_web_security_headers[i][0], "Content-Security-Policy") == 0) {
            csp = 1;
            assert_non_null(strstr(bts_web_security_headers[i][1], "default-src 'none'"));
            assert_null(strstr(bts_web_security_headers[i][1], "unsafe"));
        }
    assert_true(csp);
    bts_web_free(w);
    sqlite3_close(db);
}

static void test_poll_reports_new_traces(void **state)
{
    (void)state;
    small_store();
    sqlite3 *db = open_ro();
    bts_web *w = NULL;
    assert_int_equal(bts_web_new(db, g_path, &w), 0);
    char *ev = NULL;
    size_t len = 0;
    assert_int_equal(bts_web_poll(w, &ev, &len), 0); /* takes the position */
    assert_int_equal(bts_web_poll(w, &ev, &len), 0); /* nothing new */
    put(&(spec){7, 1, 0, T0 + 9000, 10, "new", "task", NULL, -1, 0, 0, NULL});
    put(&(spec){7, 2, 1, T0 + 9000, 5, "new child", "llm", "m", 1, 1, 0, NULL});
    assert_int_equal(bts_web_poll(w, &ev, &len), 1);
    assert_int_equal(strncmp(ev, "event: spans\ndata: {", 20), 0);
    assert_non_null(strstr(ev, "07070707070707070707070707070707"));
    assert_int_equal(len, strlen(ev));
    assert_string_equal(ev + len - 2, "\n\n");
    free(ev);
    assert_int_equal(bts_web_poll(w, &ev, &len), 0);
    bts_web_free(w);
    sqlite3_close(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_list_newest_first_with_roots, setup, teardown),
        cmocka_unit_test_setup_teardown(test_list_filters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keyset_pages_neither_skip_nor_repeat, setup, teardown),
        cmocka_unit_test_setup_teardown(test_budget_ends_page_early_and_continues, setup, teardown),
        cmocka_unit_test_setup_teardown(test_one_trace_and_span_line, setup, teardown),
        cmocka_unit_test_setup_teardown(test_totals_count_tokens_apart_and_saturating, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_indexes_are_used, setup, teardown),
        cmocka_unit_test_setup_teardown(test_routes_host_and_headers, setup, teardown),
        cmocka_unit_test_setup_teardown(test_poll_reports_new_traces, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
