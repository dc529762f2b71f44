/* bt-spans span: one span in full. `show` previews; this prints everything the store
 * holds for a span: with --json the stored OTLP JSON line exactly, otherwise the same
 * line indented, its attributes as an object and their JSON strings expanded. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_spans.h"
#include "query.h"

/* Resolves a span id or unique prefix within a trace. */
static int resolve_span(sqlite3 *db, const char *trace_id, const char *want, char out[17])
{
    size_t n = strlen(want);
    if (n == 0 || n > 16 || strspn(want, "0123456789abcdef") != n)
        return BTS_Q_ENOTFOUND;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "SELECT span_id FROM spans WHERE trace_id = ?1 AND span_id >= ?2 AND span_id < ?2 || 'g'"
            " ORDER BY span_id LIMIT 2",
            -1, &st, NULL) != SQLITE_OK)
        return BTS_Q_EDB;
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(st, 2, want, -1, SQLITE_TRANSIENT);
    int found = 0;
    while (sqlite3_step(st) == SQLITE_ROW)
        if (found++ == 0)
            snprintf(out, 17, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    return found == 1 ? BTS_Q_OK : found ? BTS_Q_EAMBIGUOUS : BTS_Q_ENOTFOUND;
}

/* The OTLP AnyValue as a plain JSON value; strings that hold JSON (braintrust.*) are
 * expanded. */
static json_t *plain_value(json_t *any)
{
    json_t *v;
    if ((v = json_object_get(any, "stringValue"))) {
        const char *s = json_string_value(v);
        json_t *parsed = s && (*s == '{' || *s == '[') ? json_loads(s, 0, NULL) : NULL;
        return parsed ? parsed : json_incref(v);
    }
    if ((v = json_object_get(any, "intValue")))
        return json_is_string(v) ? json_integer(strtoll(json_string_value(v), NULL, 10)) : json_incref(v);
    if ((v = json_object_get(any, "doubleValue")) || (v = json_object_get(any, "boolValue")))
        return json_incref(v);
    if ((v = json_object_get(any, "arrayValue"))) {
        json_t *arr = json_array(), *item;
        size_t i;
        json_array_foreach(json_object_get(v, "values"), i, item)
            json_array_append_new(arr, plain_value(item));
        return arr;
    }
    return json_incref(any);
}

int bts_span(const bts_options *o, const char *want_trace, const char *want_span)
{
    char trace_id[33], span_id[17];
    sqlite3 *db = bts_open_trace(o, want_trace, trace_id);
    if (!db)
        return BTS_EXIT_FAIL;
    int r = resolve_span(db, trace_id, want_span, span_id);
    char *line = NULL;
    size_t len = 0;
    if (r == BTS_Q_OK)
        r = bts_query_span_line(db, trace_id, span_id, &line, &len);
    if (r != BTS_Q_OK) {
        char wbuf[40];
        fprintf(stderr, "bt-spans: %s span id \"%s\" in trace %s%s\n",
                r == BTS_Q_EAMBIGUOUS ? "ambiguous" : "no", bts_clean(want_span, wbuf, sizeof wbuf), trace_id,
                r == BTS_Q_EAMBIGUOUS ? " (type more of it; bt-spans show --json lists span ids)" : "");
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    sqlite3_close(db);
    if (o->json) {
        fwrite(line, 1, len, stdout);
        fputc('\n', stdout);
        free(line);
        return BTS_EXIT_OK;
    }
    json_t *v = json_loadb(line, len, 0, NULL);
    free(line);
    if (!v) {
        fprintf(stderr, "bt-spans: the stored line of span %s is not JSON\n", span_id);
        return BTS_EXIT_FAIL;
    }
    json_t *attrs = json_object(), *kv;
    size_t i;
    json_array_foreach(json_object_get(v, "attributes"), i, kv)
    {
        const char *k = json_string_value(json_object_get(kv, "key"));
        if (k)
            json_object_set_new(attrs, k, plain_value(json_object_get(kv, "value")));
    }
    json_object_set_new(v, "attributes", attrs);
    return bts_print_json(v);
}
