/* bt-spans list: recent traces, newest first (the query is shared with the viewer). */
#include <stdio.h>
#include <string.h>

#include "bt_spans.h"
#include "query.h"

/* Display columns of UTF-8 text (one per character: names and models are not wide). */
static size_t columns(const char *s)
{
    size_t n = 0;
    for (; *s; s++)
        n += ((unsigned char)*s & 0xc0) != 0x80;
    return n;
}

/* Prints `s` in a cell `width` columns wide (left-aligned), cut with an ellipsis when it
 * does not fit; control characters become '?'. */
static void cell(const char *s, size_t width)
{
    char buf[512];
    bts_clean(s ? s : "", buf, sizeof buf);
    size_t cols = columns(buf);
    if (cols > width) {
        /* Keep width-1 characters and add the ellipsis. */
        size_t keep = 0, c = 0;
        while (buf[keep] && c < width - 1) {
            keep++;
            while (((unsigned char)buf[keep] & 0xc0) == 0x80)
                keep++;
            c++;
        }
        buf[keep] = '\0';
        printf("%s\u2026", buf);
        return;
    }
    printf("%s%*s", buf, (int)(width - cols), "");
}

/* The models of a trace in at most `width` columns: whole names, then "+N" for those
 * that did not fit (a name is cut, with an ellipsis, only when it alone is too long). */
static void models_cell(json_t *models, size_t width, char *out, size_t cap)
{
    size_t n = json_array_size(models), used = 0, shown = 0;
    out[0] = '\0';
    if (n == 0) {
        snprintf(out, cap, "-");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const char *m = json_string_value(json_array_get(models, i));
        size_t w = columns(m) + (shown ? 1 : 0);
        size_t rest = n - i - 1;
        size_t suffix = rest ? 3 + (rest > 9) : 0; /* ",+N" */
        if (used + w + suffix > width)
            break;
        size_t len = strlen(out);
        snprintf(out + len, cap - len, "%s%s", shown ? "," : "", m);
        used += w;
        shown++;
    }
    if (shown == 0) {
        snprintf(out, cap, "%s", json_string_value(json_array_get(models, 0)));
        if (n > 1) {
            /* Leave room for the count after the cut name. */
            char cut[256];
            size_t room = width > 4 ? width - 4 : 1, c = 0, keep = 0;
            while (out[keep] && c < room - 1) {
                keep++;
                while (((unsigned char)out[keep] & 0xc0) == 0x80)
                    keep++;
                c++;
            }
            snprintf(cut, sizeof cut, "%.*s\u2026,+%zu", (int)keep, out, n - 1);
            snprintf(out, cap, "%s", cut);
        }
        return;
    }
    if (shown < n) {
        size_t len = strlen(out);
        snprintf(out + len, cap - len, ",+%zu", n - shown);
    }
}

static void status_text(json_t *t, char *out, size_t cap)
{
    const char *root = json_string_value(json_object_get(t, "root_status"));
    json_int_t errors = json_integer_value(json_object_get(t, "errors"));
    int root_failed = root && strcmp(root, "error") == 0;
    json_int_t below = errors - (root_failed ? 1 : 0);
    if (below > 0)
        snprintf(out, cap, "%s, %lld failed span%s", root_failed ? "error" : "ok", (long long)below,
                 below == 1 ? "" : "s");
    else
        snprintf(out, cap, "%s", root_failed ? "error" : "ok");
}

int bts_list(const bts_options *o)
{
    sqlite3 *db = bts_open(o, 0);
    if (!db)
        return BTS_EXIT_FAIL;
    json_t *all = json_array();
    char cursor[80] = "";
    int rc = BTS_Q_OK;
    /* A page can end early on a huge store; the CLI simply continues. */
    while ((int)json_array_size(all) < o->limit) {
        bts_trace_filter f = {.limit = o->limit - (int)json_array_size(all),
                              .cursor = cursor[0] ? cursor : NULL};
        json_t *page = NULL;
        rc = bts_query_traces(db, &f, &page);
        if (rc != BTS_Q_OK)
            break;
        json_array_extend(all, json_object_get(page, "traces"));
        const char *next = json_string_value(json_object_get(page, "next"));
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(page);
        if (!next)
            break;
    }
    if (rc != BTS_Q_OK) {
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        json_decref(all);
        return BTS_EXIT_FAIL;
    }
    sqlite3_close(db);
    size_t i;
    json_t *t;
    if (o->json) {
        json_t *arr = json_array();
        json_array_foreach(all, i, t)
        {
            json_t *r = json_object();
            json_object_set(r, "trace_id", json_object_get(t, "trace_id"));
            json_object_set(r, "root", json_object_get(t, "root"));
            json_object_set(r, "start_ns", json_object_get(t, "start_ns"));
            json_object_set(r, "duration_ns", json_object_get(t, "duration_ns"));
            json_object_set(r, "spans", json_object_get(t, "spans"));
            json_object_set(r, "models", json_object_get(t, "models"));
            json_object_set(r, "prompt_tokens", json_object_get(t, "prompt_tokens"));
            json_object_set(r, "completion_tokens", json_object_get(t, "completion_tokens"));
            /* status is the root span's; errors counts every failed span of the trace */
            json_object_set(r, "status", json_object_get(t, "root_status"));
            json_object_set(r, "errors", json_object_get(t, "errors"));
            json_array_append_new(arr, r);
        }
        json_decref(all);
        return bts_print_json(arr);
    }
    if (json_array_size(all) == 0) {
        printf("(no traces in %s)\n", o->store);
        json_decref(all);
        return BTS_EXIT_OK;
    }
    printf("%-32s  %-20s  %-36s  %9s  %5s  %-28s  %17s  %s\n", "TRACE", "START (UTC)", "ROOT", "DURATION",
           "SPANS", "MODELS", "TOKENS IN/OUT", "STATUS");
    json_array_foreach(all, i, t)
    {
        int64_t start = json_integer_value(json_object_get(t, "start_ns"));
        char when[32], dur[32], tokens[48] = "-", models[300], status[64];
        bts_format_time(start, when, sizeof when);
        bts_format_duration(json_integer_value(json_object_get(t, "duration_ns")), dur, sizeof dur);
        json_t *p = json_object_get(t, "prompt_tokens"), *c = json_object_get(t, "completion_tokens");
        if (!json_is_null(p) || !json_is_null(c))
            snprintf(tokens, sizeof tokens, "%lld/%lld", (long long)json_integer_value(p),
                     (long long)json_integer_value(c));
        models_cell(json_object_get(t, "models"), 28, models, sizeof models);
        status_text(t, status, sizeof status);
        printf("%-32s  %-20s  ", json_string_value(json_object_get(t, "trace_id")), when);
        cell(json_string_value(json_object_get(t, "root")), 36);
        printf("  %9s  %5lld  ", dur, (long long)json_integer_value(json_object_get(t, "spans")));
        cell(models, 28);
        printf("  %17s  %s\n", tokens, status);
    }
    json_decref(all);
    return BTS_EXIT_OK;
}
