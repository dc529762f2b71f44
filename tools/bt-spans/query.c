/*
 * The read queries of bt-spans and its viewer. Each uses one of the store's covering
 * read indexes (store_db.c): the list walks span starts backwards (spans_by_start) and
 * keeps the spans that are their trace's earliest, summarising each such trace from
 * spans_by_trace; one trace reads spans_by_trace alone; totals read spans_llm_totals.
 * None of them reads the wide `line` column except the span detail, by primary key.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "query.h"

#define DEFAULT_BUDGET 50000
#define MAX_MODELS_PER_TRACE 16
#define STATUS_MESSAGE_MAX 2000
#define FIRST_CACHE 64

/* The predicate of an llm span, written exactly as in the spans_llm_totals index so
 * that the planner can use it. */
#define LLM_SPAN "(span_type = 'llm' OR (span_type IS NULL AND model IS NOT NULL))"
#define COUNT_TOKENS_NAME "'anthropic.messages.count_tokens'"

int64_t bts_sat_add(int64_t a, int64_t b)
{
    if (b > 0 && a > INT64_MAX - b)
        return INT64_MAX;
    if (b < 0 && a < INT64_MIN - b)
        return INT64_MIN;
    return a + b;
}

/* bts_sat_sum(x): sum() that saturates at the int64 range instead of failing the whole
 * query with "integer overflow" (token counts come from untrusted responses). Once it
 * saturates it stays there. */
typedef struct sat_acc {
    int64_t sum;
    int any, saturated;
} sat_acc;

static void sat_step(sqlite3_context *ctx, int argc, sqlite3_value **argv)
{
    (void)argc;
    int type = sqlite3_value_type(argv[0]);
    if (type == SQLITE_NULL)
        return;
    sat_acc *a = sqlite3_aggregate_context(ctx, sizeof *a);
    if (!a) {
        sqlite3_result_error_nomem(ctx);
        return;
    }
    int64_t x;
    if (type == SQLITE_FLOAT) {
        double d = sqlite3_value_double(argv[0]);
        x = d >= 9.2e18 ? INT64_MAX : d <= -9.2e18 ? INT64_MIN : (int64_t)d;
    } else {
        x = sqlite3_value_int64(argv[0]);
    }
    a->any = 1;
    if (a->saturated)
        return;
    a->sum = bts_sat_add(a->sum, x);
    if (a->sum == INT64_MAX || a->sum == INT64_MIN)
        a->saturated = 1;
}

static void sat_final(sqlite3_context *ctx)
{
    sat_acc *a = sqlite3_aggregate_context(ctx, 0);
    if (!a || !a->any)
        sqlite3_result_null(ctx);
    else
        sqlite3_result_int64(ctx, a->sum);
}

int bts_query_register(sqlite3 *db)
{
    return sqlite3_create_function(db, "bts_sat_sum", 1, SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, NULL,
                                   sat_step, sat_final) == SQLITE_OK
        ? BTS_Q_OK
        : BTS_Q_EDB;
}

static json_t *col_json_int(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                       : json_integer(sqlite3_column_int64(st, col));
}

static json_t *col_json_str(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? json_string(s) : json_null();
}

/* A string that jansson accepts: stored text is normally UTF-8, but a foreign writer
 * could have put anything there; invalid bytes become U+FFFD rather than a NULL. */
static json_t *json_text(const char *s, size_t max)
{
    if (!s)
        return json_null();
    size_t n = strlen(s);
    if (n > max) {
        n = max;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    json_t *v = json_stringn(s, n);
    if (v)
        return v;
    char *fixed = malloc(n * 3 + 1);
    if (!fixed)
        return json_null();
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80 && c != 0) {
            fixed[o++] = (char)c;
        } else {
            fixed[o++] = (char)0xef, fixed[o++] = (char)0xbf, fixed[o++] = (char)0xbd;
        }
    }
    v = json_stringn(fixed, o);
    free(fixed);
    return v ? v : json_null();
}

static int prepare(sqlite3 *db, const char *sql, sqlite3_stmt **st)
{
    return sqlite3_prepare_v2(db, sql, -1, st, NULL) == SQLITE_OK ? BTS_Q_OK : BTS_Q_EDB;
}

/* ---- the trace list ---------------------------------------------------------------- */

/* ?2 is the upper bound (the cursor's start, or the end of the time filter): the scan
 * seeks there, whatever the depth of the page; the OR only sorts out the traces that
 * start at the cursor's very instant. */
static const char SCAN_SQL[] = "SELECT start_ns, trace_id FROM spans"
                               " WHERE start_ns >= ?1 AND start_ns <= ?2 AND (start_ns < ?3 OR trace_id < ?4)"
                               " ORDER BY start_ns DESC, trace_id DESC, span_id DESC";

static const char FIRST_SQL[] = "SELECT min(start_ns) FROM spans WHERE trace_id = ?1";

/* The root: the earliest span without a parent; a trace continued from elsewhere (an
 * incoming traceparent) has none here, and then its earliest span stands for it. */
static const char ROOT_SQL[] =
    "SELECT name, status_code, start_ns FROM spans WHERE trace_id = ?1 ORDER BY start_ns, span_id LIMIT 1";
static const char ROOT_NO_PARENT_SQL[] = "SELECT name, status_code, start_ns FROM spans"
                                         " WHERE trace_id = ?1 AND parent_span_id IS NULL"
                                         " ORDER BY start_ns, span_id LIMIT 1";

static const char SUMMARY_SQL[] =
    "SELECT count(*), max(end_ns), sum(status_code = 2),"
    " bts_sat_sum(CASE WHEN " LLM_SPAN " AND name <> " COUNT_TOKENS_NAME " THEN prompt_tokens END),"
    " bts_sat_sum(CASE WHEN " LLM_SPAN " AND name <> " COUNT_TOKENS_NAME " THEN completion_tokens END),"
    " max(?2 IS NULL OR instr(lower(name), lower(?2)) > 0),"
    " max(?3 IS NULL OR instr(lower(coalesce(model, '')), lower(?3)) > 0)"
    " FROM spans WHERE trace_id = ?1";

static const char MODELS_SQL[] =
    "SELECT DISTINCT model FROM spans WHERE trace_id = ?1 AND model IS NOT NULL ORDER BY model LIMIT ?2";

typedef struct first_start {
    char trace_id[33];
    int64_t start;
} first_start;

typedef struct list_ctx {
    sqlite3_stmt *scan, *first, *summary, *models, *root, *root_np;
    first_start cache[FIRST_CACHE];
} list_ctx;

static unsigned hash_id(const char *s)
{
    unsigned h = 2166136261u;
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* Whether `start` is the earliest start in its trace. Consecutive rows of one big trace
 * (a batch's children) hit the cache instead of the index. */
static int is_first(list_ctx *c, const char *trace_id, int64_t start, int *err)
{
    first_start *slot = &c->cache[hash_id(trace_id) % FIRST_CACHE];
    if (strcmp(slot->trace_id, trace_id) != 0) {
        sqlite3_reset(c->first);
        sqlite3_bind_text(c->first, 1, trace_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(c->first) != SQLITE_ROW) {
            *err = 1;
            return 0;
        }
        snprintf(slot->trace_id, sizeof slot->trace_id, "%s", trace_id);
        slot->start = sqlite3_column_int64(c->first, 0);
    }
    return slot->start == start;
}

/* The root's name and status into `row`. */
static void set_root(sqlite3_stmt *no_parent, sqlite3_stmt *any, const char *trace_id, json_t *row)
{
    sqlite3_stmt *st = no_parent;
    for (int pass = 0; pass < 2; pass++, st = any) {
        sqlite3_reset(st);
        sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_TRANSIENT);
        if (sqlite3_step(st) == SQLITE_ROW) {
            json_object_set_new(row, "root", json_text((const char *)sqlite3_column_text(st, 0), 500));
            json_object_set_new(row, "root_status",
                                json_string(sqlite3_column_int(st, 1) == 2 ? "error" : "ok"));
            if (!json_object_get(row, "start_ns"))
                json_object_set_new(row, "start_ns", json_integer(sqlite3_column_int64(st, 2)));
            return;
        }
    }
    json_object_set_new(row, "root", json_string(""));
    json_object_set_new(row, "root_status", json_string("ok"));
}

static int parse_cursor(const char *cursor, int64_t *start, char trace_id[33])
{
    char *end = NULL;
    long long v = strtoll(cursor, &end, 10);
    if (end == cursor || *end != '-')
        return BTS_Q_EINVAL;
    const char *id = end + 1;
    size_t n = strlen(id);
    if (n == 0 || n > 32 || strspn(id, "0123456789abcdef") != n)
        return BTS_Q_EINVAL;
    *start = v;
    memcpy(trace_id, id, n + 1);
    return BTS_Q_OK;
}

static json_t *trace_models(list_ctx *c, const char *trace_id)
{
    json_t *arr = json_array();
    sqlite3_reset(c->models);
    sqlite3_bind_text(c->models, 1, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(c->models, 2, MAX_MODELS_PER_TRACE);
    while (sqlite3_step(c->models) == SQLITE_ROW)
        json_array_append_new(arr, json_text((const char *)sqlite3_column_text(c->models, 0), 200));
    return arr;
}

/* Summarises one trace into *row when it passes the filter; returns its span count. */
static int64_t summarise(list_ctx *c, const bts_trace_filter *f, const char *trace_id, int64_t start,
                         json_t **row, int *err)
{
    sqlite3_stmt *s = c->summary;
    sqlite3_reset(s);
    sqlite3_bind_text(s, 1, trace_id, -1, SQLITE_TRANSIENT);
    if (f->name && *f->name)
        sqlite3_bind_text(s, 2, f->name, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 2);
    if (f->model && *f->model)
        sqlite3_bind_text(s, 3, f->model, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 3);
    *row = NULL;
    if (sqlite3_step(s) != SQLITE_ROW) {
        *err = 1;
        return 0;
    }
    int64_t spans = sqlite3_column_int64(s, 0);
    int64_t errors = sqlite3_column_int64(s, 2);
    int pass = sqlite3_column_int(s, 5) && sqlite3_column_int(s, 6);
    if (f->status == 1 && errors > 0)
        pass = 0;
    if (f->status == 2 && errors == 0)
        pass = 0;
    if (!pass)
        return spans;
    json_t *t = json_object();
    json_object_set_new(t, "trace_id", json_string(trace_id));
    set_root(c->root_np, c->root, trace_id, t);
    json_object_set_new(t, "start_ns", json_integer(start));
    json_object_set_new(t, "duration_ns", json_integer(sqlite3_column_int64(s, 1) - start));
    json_object_set_new(t, "spans", json_integer(spans));
    json_object_set_new(t, "prompt_tokens", col_json_int(s, 3));
    json_object_set_new(t, "completion_tokens", col_json_int(s, 4));
    json_object_set_new(t, "errors", json_integer(errors));
    json_object_set_new(t, "models", trace_models(c, trace_id));
    *row = t;
    return spans;
}

int bts_query_traces(sqlite3 *db, const bts_trace_filter *f, json_t **out)
{
    *out = NULL;
    int64_t cur_start = INT64_MAX;
    char cur_trace[33] = "g"; /* above every hex id */
    if (f->cursor && *f->cursor && parse_cursor(f->cursor, &cur_start, cur_trace) != BTS_Q_OK)
        return BTS_Q_EINVAL;
    int limit = f->limit < 1 ? 1 : f->limit > 1000 ? 1000 : f->limit;
    int64_t budget = f->budget > 0 ? f->budget : DEFAULT_BUDGET;
    list_ctx *c = calloc(1, sizeof *c);
    if (!c)
        return BTS_Q_EDB;
    int rc = prepare(db, SCAN_SQL, &c->scan);
    if (rc == BTS_Q_OK)
        rc = prepare(db, FIRST_SQL, &c->first);
    if (rc == BTS_Q_OK)
        rc = prepare(db, SUMMARY_SQL, &c->summary);
    if (rc == BTS_Q_OK)
        rc = prepare(db, MODELS_SQL, &c->models);
    if (rc == BTS_Q_OK)
        rc = prepare(db, ROOT_SQL, &c->root);
    if (rc == BTS_Q_OK)
        rc = prepare(db, ROOT_NO_PARENT_SQL, &c->root_np);
    json_t *traces = json_array();
    int64_t scanned = 0;
    int complete = 0, err = 0;
    char stop_trace[33] = "";
    int64_t stop_start = 0;
    int have_stop = 0, over = 0;
    if (rc == BTS_Q_OK) {
        int64_t upper = f->to_ns > 0 ? f->to_ns - 1 : INT64_MAX;
        if (cur_start < upper)
            upper = cur_start;
        sqlite3_bind_int64(c->scan, 1, f->from_ns > 0 ? f->from_ns : INT64_MIN);
        sqlite3_bind_int64(c->scan, 2, upper);
        sqlite3_bind_int64(c->scan, 3, cur_start);
        sqlite3_bind_text(c->scan, 4, cur_trace, -1, SQLITE_TRANSIENT);
        int step;
        while ((step = sqlite3_step(c->scan)) == SQLITE_ROW) {
            int64_t start = sqlite3_column_int64(c->scan, 0);
            const char *tid = (const char *)sqlite3_column_text(c->scan, 1);
            if (!tid)
                continue;
            /* Over budget, a page ends only between (start, trace) keys, so that the
             * cursor skips nothing unexamined. */
            if (over && (start != stop_start || strcmp(tid, stop_trace) != 0))
                break;
            scanned++;
            /* A trace is listed at its earliest start, once: rows with the same
             * (start, trace) key are consecutive. */
            int same_key = have_stop && start == stop_start && strcmp(tid, stop_trace) == 0;
            if (!same_key && is_first(c, tid, start, &err)) {
                json_t *row = NULL;
                scanned += summarise(c, f, tid, start, &row, &err);
                if (row)
                    json_array_append_new(traces, row);
            }
            if (err)
                break;
            stop_start = start;
            snprintf(stop_trace, sizeof stop_trace, "%s", tid);
            have_stop = 1;
            if ((int)json_array_size(traces) >= limit)
                break;
            if (scanned >= budget)
                over = 1;
        }
        if (step == SQLITE_DONE)
            complete = 1;
        else if (step != SQLITE_ROW || err)
            rc = BTS_Q_EDB;
    }
    sqlite3_finalize(c->scan);
    sqlite3_finalize(c->first);
    sqlite3_finalize(c->summary);
    sqlite3_finalize(c->models);
    sqlite3_finalize(c->root);
    sqlite3_finalize(c->root_np);
    free(c);
    if (rc != BTS_Q_OK) {
        json_decref(traces);
        return rc;
    }
    json_t *page = json_object();
    json_object_set_new(page, "traces", traces);
    if (!complete && have_stop)
        json_object_set_new(page, "next", json_sprintf("%lld-%s", (long long)stop_start, stop_trace));
    else
        json_object_set_new(page, "next", json_null());
    /* "complete": the page holds every match it could (full, or the store's end). */
    json_object_set_new(page, "complete", json_boolean(complete || (int)json_array_size(traces) >= limit));
    json_object_set_new(page, "scanned", json_integer(scanned));
    *out = page;
    return BTS_Q_OK;
}

/* ---- one trace --------------------------------------------------------------------- */

static const char TRACE_SQL[] =
    "SELECT span_id, parent_span_id, name, span_type, model, start_ns, end_ns, status_code, prompt_tokens,"
    " completion_tokens FROM spans WHERE trace_id = ?1 ORDER BY start_ns, span_id LIMIT ?2";
/* Status messages only for the error spans, by primary key: the rest of the trace comes
 * from the covering index alone. */
static const char STATUS_MESSAGE_SQL[] =
    "SELECT status_message FROM spans WHERE trace_id = ?1 AND span_id = ?2";

int bts_query_trace(sqlite3 *db, const char *trace_id, size_t max_spans, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    if (prepare(db, TRACE_SQL, &st) != BTS_Q_OK)
        return BTS_Q_EDB;
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)max_spans + 1);
    json_t *spans = json_array(), *failed = json_array();
    int64_t t0 = 0, end = 0;
    int truncated = 0, step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (json_array_size(spans) == max_spans) {
            truncated = 1;
            break;
        }
        int64_t s = sqlite3_column_int64(st, 5), e = sqlite3_column_int64(st, 6);
        if (json_array_size(spans) == 0)
            t0 = end = s;
        if (e > end)
            end = e;
        json_t *o = json_object();
        const char *sid = (const char *)sqlite3_column_text(st, 0);
        json_object_set_new(o, "span_id", json_string(sid ? sid : ""));
        json_object_set_new(o, "parent_span_id", col_json_str(st, 1));
        json_object_set_new(o, "name", json_text((const char *)sqlite3_column_text(st, 2), 500));
        json_object_set_new(o, "type", json_text((const char *)sqlite3_column_text(st, 3), 100));
        json_object_set_new(o, "model", json_text((const char *)sqlite3_column_text(st, 4), 200));
        json_object_set_new(o, "start", json_integer(s - t0));
        json_object_set_new(o, "end", json_integer(e - t0));
        json_object_set_new(o, "status", json_integer(sqlite3_column_int(st, 7)));
        json_object_set_new(o, "status_message", json_null());
        json_object_set_new(o, "prompt_tokens", col_json_int(st, 8));
        json_object_set_new(o, "completion_tokens", col_json_int(st, 9));
        if (sid && sqlite3_column_int(st, 7) == 2)
            json_array_append(failed, o);
        json_array_append_new(spans, o);
    }
    int rc = step == SQLITE_ROW || step == SQLITE_DONE ? BTS_Q_OK : BTS_Q_EDB;
    sqlite3_finalize(st);
    if (rc == BTS_Q_OK && json_array_size(spans) == 0)
        rc = BTS_Q_ENOTFOUND;
    if (rc == BTS_Q_OK && json_array_size(failed) && prepare(db, STATUS_MESSAGE_SQL, &st) == BTS_Q_OK) {
        size_t i;
        json_t *o;
        json_array_foreach(failed, i, o)
        {
            sqlite3_reset(st);
            sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text(st, 2, json_string_value(json_object_get(o, "span_id")), -1, SQLITE_TRANSIENT);
            if (sqlite3_step(st) == SQLITE_ROW)
                json_object_set_new(o, "status_message",
                                    json_text((const char *)sqlite3_column_text(st, 0), STATUS_MESSAGE_MAX));
        }
        sqlite3_finalize(st);
    }
    json_decref(failed);
    if (rc != BTS_Q_OK) {
        json_decref(spans);
        return rc;
    }
    json_t *t = json_object();
    json_object_set_new(t, "trace_id", json_string(trace_id));
    json_object_set_new(t, "start_ns", json_integer(t0));
    json_object_set_new(t, "end_ns", json_integer(end));
    json_object_set_new(t, "truncated", json_boolean(truncated));
    json_object_set_new(t, "spans", spans);
    *out = t;
    return BTS_Q_OK;
}

/* ---- ids and single spans ---------------------------------------------------------- */

int bts_query_resolve(sqlite3 *db, const char *prefix, char out[33], size_t max_candidates,
                      json_t **candidates)
{
    if (candidates)
        *candidates = NULL;
    size_t n = strlen(prefix);
    if (n > 32 || strspn(prefix, "0123456789abcdef") != n)
        return BTS_Q_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    if (prepare(db,
                "SELECT DISTINCT trace_id FROM spans WHERE trace_id >= ?1 AND trace_id < ?1 || 'g'"
                " ORDER BY trace_id LIMIT ?2",
                &st) != BTS_Q_OK)
        return BTS_Q_EDB;
    sqlite3_bind_text(st, 1, prefix, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int64(st, 2, (sqlite3_int64)(max_candidates > 1 ? max_candidates : 2));
    json_t *ids = json_array();
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_array_append_new(ids, col_json_str(st, 0));
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        json_decref(ids);
        return BTS_Q_EDB;
    }
    size_t found = json_array_size(ids);
    if (found == 1) {
        snprintf(out, 33, "%s", json_string_value(json_array_get(ids, 0)));
        json_decref(ids);
        return BTS_Q_OK;
    }
    if (found == 0) {
        json_decref(ids);
        return BTS_Q_ENOTFOUND;
    }
    if (candidates) {
        json_t *list = json_array();
        sqlite3_stmt *root = NULL;
        sqlite3_stmt *root_np = NULL;
        if (prepare(db, ROOT_SQL, &root) == BTS_Q_OK &&
            prepare(db, ROOT_NO_PARENT_SQL, &root_np) == BTS_Q_OK) {
            size_t i;
            json_t *id;
            json_array_foreach(ids, i, id)
            {
                if (i >= max_candidates)
                    break;
                json_t *c = json_object();
                json_object_set(c, "trace_id", id);
                set_root(root_np, root, json_string_value(id), c);
                json_array_append_new(list, c);
            }
        }
        sqlite3_finalize(root);
        sqlite3_finalize(root_np);
        *candidates = list;
    }
    json_decref(ids);
    return BTS_Q_EAMBIGUOUS;
}

int bts_query_span_line(sqlite3 *db, const char *trace_id, const char *span_id, char **line, size_t *len)
{
    *line = NULL;
    *len = 0;
    sqlite3_stmt *st = NULL;
    if (prepare(db, "SELECT line FROM spans WHERE trace_id = ?1 AND span_id = ?2", &st) != BTS_Q_OK)
        return BTS_Q_EDB;
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, span_id, -1, SQLITE_TRANSIENT);
    int rc = BTS_Q_ENOTFOUND;
    int step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        const char *s = (const char *)sqlite3_column_text(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        *line = malloc(n + 1);
        if (*line) {
            memcpy(*line, s ? s : "", n);
            (*line)[n] = '\0';
            *len = n;
            rc = BTS_Q_OK;
        } else {
            rc = BTS_Q_EDB;
        }
    } else if (step != SQLITE_DONE) {
        rc = BTS_Q_EDB;
    }
    sqlite3_finalize(st);
    return rc;
}

/* ---- totals ------------------------------------------------------------------------ */

static int cmp_day(const void *a, const void *b)
{
    json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    int c =
        strcmp(json_string_value(json_object_get(x, "day")), json_string_value(json_object_get(y, "day")));
    return c ? c
             : strcmp(json_string_value(json_object_get(x, "model")),
                      json_string_value(json_object_get(y, "model")));
}

const char *const bts_total_keys[BTS_N_TOTAL_KEYS] = {"spans",
                                                      "errors",
                                                      "prompt_tokens",
                                                      "completion_tokens",
                                                      "cache_read_tokens",
                                                      "cache_creation_tokens",
                                                      "reasoning_tokens"};

/* One pass over the llm spans in the totals index's own order (model, then start), so
 * that no sort is needed: the rows of one model and day are consecutive, and are summed
 * here, count_tokens calls apart. */
static const char TOTALS_SQL[] =
    "SELECT model, start_ns, name = " COUNT_TOKENS_NAME ", status_code = 2, prompt_tokens, completion_tokens,"
    " cache_read_tokens, cache_creation_tokens, reasoning_tokens FROM spans WHERE " LLM_SPAN
    " ORDER BY model, start_ns";

static int saturated(int64_t v)
{
    return v == INT64_MAX || v == INT64_MIN;
}

/* Adds v to row[key] (saturating) and notes a saturated sum in row.saturated. */
static void add_to(json_t *row, const char *key, int64_t v)
{
    json_t *cur = json_object_get(row, key);
    int64_t sum = bts_sat_add(cur ? json_integer_value(cur) : 0, v);
    json_object_set_new(row, key, json_integer(sum));
    json_t *sat = json_object_get(row, "saturated");
    if (saturated(v) || saturated(sum)) {
        size_t i;
        json_t *k;
        json_array_foreach(sat, i, k) if (strcmp(json_string_value(k), key) == 0) return;
        json_array_append_new(sat, json_string(key));
    }
}

static json_t *totals_row(const char *model)
{
    json_t *row = json_object();
    if (model)
        json_object_set_new(row, "model", json_text(model, 200));
    for (size_t k = 0; k < BTS_N_TOTAL_KEYS; k++)
        json_object_set_new(row, bts_total_keys[k], json_integer(0));
    json_object_set_new(row, "saturated", json_array());
    return row;
}

/* The sums of one (model, day): spans, errors, then the five token counts. */
typedef struct day_sums {
    int64_t v[BTS_N_TOTAL_KEYS];
    int64_t day;
    int any;
} day_sums;

static void flush_day(day_sums *d, const char *model, json_t *row, json_t *total, json_t *days)
{
    if (!d->any)
        return;
    for (size_t k = 0; k < BTS_N_TOTAL_KEYS; k++) {
        add_to(row, bts_total_keys[k], d->v[k]);
        add_to(total, bts_total_keys[k], d->v[k]);
    }
    if (days) {
        time_t secs = (time_t)(d->day * 86400);
        struct tm tm;
        char day[16] = "?";
        if (gmtime_r(&secs, &tm))
            strftime(day, sizeof day, "%Y-%m-%d", &tm);
        json_t *o = json_object();
        json_object_set_new(o, "day", json_string(day));
        json_object_set_new(o, "model", json_text(model, 200));
        json_object_set_new(o, "spans", json_integer(d->v[0]));
        json_object_set_new(o, "prompt_tokens", json_integer(d->v[2]));
        json_object_set_new(o, "completion_tokens", json_integer(d->v[3]));
        json_array_append_new(days, o);
    }
    memset(d, 0, sizeof *d);
}

int bts_query_totals(sqlite3 *db, int with_days, json_t **out)
{
    *out = NULL;
    sqlite3_stmt *st = NULL;
    if (prepare(db, TOTALS_SQL, &st) != BTS_Q_OK)
        return BTS_Q_EDB;
    json_t *models = json_array(), *days = json_array(), *total = totals_row(NULL), *row = NULL;
    char model[256] = "";
    int have_model = 0, step;
    int64_t count_tokens = 0;
    day_sums d = {0};
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *m = (const char *)sqlite3_column_text(st, 0);
        if (!m)
            m = "(unknown)";
        int64_t day = sqlite3_column_int64(st, 1) / 86400000000000ll;
        if (!have_model || strncmp(model, m, sizeof model - 1) != 0) {
            flush_day(&d, model, row, total, with_days ? days : NULL);
            row = totals_row(m);
            json_array_append_new(models, row);
            snprintf(model, sizeof model, "%s", m);
            have_model = 1;
        } else if (d.any && day != d.day) {
            flush_day(&d, model, row, total, with_days ? days : NULL);
        }
        if (sqlite3_column_int(st, 2)) {
            count_tokens++;
            continue;
        }
        d.any = 1;
        d.day = day;
        d.v[0]++;
        d.v[1] += sqlite3_column_int(st, 3);
        for (int k = 2; k < (int)BTS_N_TOTAL_KEYS; k++)
            d.v[k] = bts_sat_add(d.v[k], sqlite3_column_int64(st, k + 2));
    }
    flush_day(&d, model, row, total, with_days ? days : NULL);
    sqlite3_finalize(st);
    if (step != SQLITE_DONE) {
        json_decref(models);
        json_decref(days);
        json_decref(total);
        return BTS_Q_EDB;
    }
    /* A model seen only in count_tokens calls has no totals row. */
    for (size_t i = json_array_size(models); i-- > 0;)
        if (json_integer_value(json_object_get(json_array_get(models, i), "spans")) == 0)
            json_array_remove(models, i);
    json_t *o = json_object();
    json_object_set_new(o, "models", models);
    json_object_set_new(o, "total", total);
    json_object_set_new(o, "count_tokens_calls", json_integer(count_tokens));
    if (with_days) {
        /* Rows came by model, then day: charts want them by day. */
        size_t n = json_array_size(days);
        json_t **v = malloc((n ? n : 1) * sizeof *v);
        if (v) {
            for (size_t i = 0; i < n; i++)
                v[i] = json_incref(json_array_get(days, i));
            qsort(v, n, sizeof *v, cmp_day);
            json_array_clear(days);
            for (size_t i = 0; i < n; i++)
                json_array_append_new(days, v[i]);
            free(v);
        }
        json_object_set_new(o, "days", days);
    } else {
        json_decref(days);
    }
    *out = o;
    return BTS_Q_OK;
}

/* ---- changes, for live updates ----------------------------------------------------- */

int bts_query_changes(sqlite3 *db, int64_t *rowid, size_t max, json_t **traces)
{
    *traces = NULL;
    sqlite3_stmt *st = NULL;
    if (prepare(db, "SELECT max(rowid) FROM spans", &st) != BTS_Q_OK)
        return BTS_Q_EDB;
    int64_t newest = *rowid;
    if (sqlite3_step(st) == SQLITE_ROW && sqlite3_column_type(st, 0) != SQLITE_NULL)
        newest = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    json_t *ids = json_array();
    if (newest > *rowid) {
        if (prepare(db, "SELECT DISTINCT trace_id FROM spans WHERE rowid > ?1 AND rowid <= ?2 LIMIT ?3",
                    &st) != BTS_Q_OK) {
            json_decref(ids);
            return BTS_Q_EDB;
        }
        sqlite3_bind_int64(st, 1, *rowid);
        sqlite3_bind_int64(st, 2, newest);
        sqlite3_bind_int64(st, 3, (sqlite3_int64)max);
        while (sqlite3_step(st) == SQLITE_ROW)
            json_array_append_new(ids, col_json_str(st, 0));
        sqlite3_finalize(st);
    }
    *rowid = newest;
    *traces = ids;
    return BTS_Q_OK;
}
