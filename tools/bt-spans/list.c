/* bt-spans list: recent traces, newest first. */
#include <stdio.h>
#include <string.h>

#include "bt_spans.h"

/* The root is the span whose parent is not in the store (a proxy span continuing an
 * incoming traceparent has a parent elsewhere). Tokens count llm spans only: a batch
 * span's metrics already sum its children. */
static const char LIST_SQL[] =
    "SELECT s.trace_id, min(s.start_ns), max(s.end_ns), count(*),"
    " (SELECT r.name FROM spans r WHERE r.trace_id = s.trace_id AND (r.parent_span_id IS NULL OR"
    "   NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = r.trace_id AND p.span_id = r.parent_span_id))"
    "   ORDER BY r.start_ns LIMIT 1),"
    " group_concat(DISTINCT s.model),"
    " sum(CASE WHEN s.span_type IS NULL OR s.span_type = 'llm' THEN s.prompt_tokens END),"
    " sum(CASE WHEN s.span_type IS NULL OR s.span_type = 'llm' THEN s.completion_tokens END),"
    " sum(s.status_code = 2)"
    " FROM spans s GROUP BY s.trace_id ORDER BY min(s.start_ns) DESC, s.trace_id LIMIT ?1";

int bts_list(const bts_options *o)
{
    sqlite3 *db = bts_open(o, 0);
    if (!db)
        return BTS_EXIT_FAIL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, LIST_SQL, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    sqlite3_bind_int(st, 1, o->limit);
    json_t *arr = o->json ? json_array() : NULL;
    int rows = 0, step;
    if (!o->json)
        printf("%-32s  %-20s  %-36s %9s %5s  %-26s %15s  %s\n", "TRACE", "START (UTC)", "ROOT", "DURATION",
               "SPANS", "MODEL", "TOKENS IN/OUT", "STATUS");
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        rows++;
        const char *trace = (const char *)sqlite3_column_text(st, 0);
        int64_t start = sqlite3_column_int64(st, 1), end = sqlite3_column_int64(st, 2);
        int64_t count = sqlite3_column_int64(st, 3);
        const char *root = (const char *)sqlite3_column_text(st, 4);
        const char *models = (const char *)sqlite3_column_text(st, 5);
        int64_t errors = sqlite3_column_int64(st, 8);
        if (o->json) {
            json_t *t = json_object();
            json_object_set_new(t, "trace_id", json_string(trace));
            json_object_set_new(t, "root", json_string(root ? root : ""));
            json_object_set_new(t, "start_ns", json_integer(start));
            json_object_set_new(t, "duration_ns", json_integer(end - start));
            json_object_set_new(t, "spans", json_integer(count));
            json_object_set_new(t, "models", models ? json_string(models) : json_null());
            json_object_set_new(t, "prompt_tokens", bts_json_count(st, 6));
            json_object_set_new(t, "completion_tokens", bts_json_count(st, 7));
            json_object_set_new(t, "errors", json_integer(errors));
            json_object_set_new(t, "status", json_string(errors ? "error" : "ok"));
            json_array_append_new(arr, t);
            continue;
        }
        char when[32], dur[32], tokens[40] = "-";
        bts_format_time(start, when, sizeof when);
        bts_format_duration(end - start, dur, sizeof dur);
        if (sqlite3_column_type(st, 6) != SQLITE_NULL)
            snprintf(tokens, sizeof tokens, "%lld/%lld", (long long)sqlite3_column_int64(st, 6),
                     (long long)sqlite3_column_int64(st, 7));
        char status[32] = "ok";
        if (errors)
            snprintf(status, sizeof status, "error (%lld)", (long long)errors);
        char root_buf[37], models_buf[27];
        root = bts_clean(root, root_buf, sizeof root_buf);
        models = bts_clean(models, models_buf, sizeof models_buf);
        printf("%-32s  %-20s  %-36s %9s %5lld  %-26s %15s  %s\n", trace, when, root ? root : "?", dur,
               (long long)count, models ? models : "-", tokens, status);
    }
    int ok = step == SQLITE_DONE;
    if (!ok)
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (o->json)
        return ok ? bts_print_json(arr) : (json_decref(arr), BTS_EXIT_FAIL);
    if (ok && rows == 0)
        printf("(no traces in %s)\n", o->store);
    return ok ? BTS_EXIT_OK : BTS_EXIT_FAIL;
}
