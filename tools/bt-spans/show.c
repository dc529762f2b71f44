/* bt-spans show: one trace as a tree, children in start order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_spans.h"
#include "query.h"

/* A trace larger than this (a batch has at most 100,000 requests) is shown cut, and
 * says so. */
#define SHOW_MAX_SPANS 250000
#define PREVIEW_BYTES 100
#define MAX_DEPTH 64

typedef struct node {
    char span_id[17];
    char parent[17];
    char *name, *type, *model, *status_message, *input, *output;
    int64_t start, end;
    int status;
    int64_t prompt, completion; /* -1 when unknown */
    int first_child, last_child, next_sibling, has_parent_here;
    json_t *full; /* --full: {"input","output","metadata","metrics"} parsed, or NULL */
} node;

typedef struct trace {
    node *nodes;
    size_t n;
    int *by_id; /* node indexes sorted by span_id */
    int truncated;
} trace;

static char *col_dup(sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    return s ? strdup(s) : NULL;
}

static int64_t col_count(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, col);
}

static void copy_id(char *dst, sqlite3_stmt *st, int col)
{
    const char *s = (const char *)sqlite3_column_text(st, col);
    snprintf(dst, 17, "%s", s ? s : "");
}

static const trace *sort_ctx;
static int cmp_by_id(const void *a, const void *b)
{
    return strcmp(sort_ctx->nodes[*(const int *)a].span_id, sort_ctx->nodes[*(const int *)b].span_id);
}

static int find(const trace *t, const char *span_id)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        int c = strcmp(t->nodes[t->by_id[mid]].span_id, span_id);
        if (c == 0)
            return t->by_id[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

static void trace_free(trace *t)
{
    for (size_t i = 0; i < t->n; i++) {
        node *x = &t->nodes[i];
        free(x->name), free(x->type), free(x->model), free(x->status_message), free(x->input),
            free(x->output);
        json_decref(x->full);
    }
    free(t->nodes);
    free(t->by_id);
}

int bts_resolve_or_explain(sqlite3 *db, const bts_options *o, const char *want, char out[33])
{
    enum { SHOWN = 10 };
    json_t *cands = NULL;
    int r;
    if (!*want) {
        /* Nothing to match: offer the most recent traces. */
        bts_trace_filter f = {.limit = SHOWN};
        json_t *page = NULL;
        r = bts_query_traces(db, &f, &page) == BTS_Q_OK ? BTS_Q_EAMBIGUOUS : BTS_Q_EDB;
        if (page) {
            cands = json_incref(json_object_get(page, "traces"));
            json_decref(page);
        }
        if (r == BTS_Q_EAMBIGUOUS && json_array_size(cands) == 0)
            r = BTS_Q_ENOTFOUND;
    } else {
        r = bts_query_resolve(db, want, out, SHOWN + 1, &cands);
    }
    char wbuf[80];
    const char *w = bts_clean(want, wbuf, sizeof wbuf);
    if (r == BTS_Q_OK) {
        json_decref(cands);
        return 0;
    }
    if (r == BTS_Q_ENOTFOUND) {
        size_t n = strlen(want);
        fprintf(stderr, "bt-spans: no trace with id \"%s\" in %s%s\n", w, o->store,
                n > 32 || strspn(want, "0123456789abcdef") != n ? " (trace ids are 32 lowercase hex digits)"
                                                                : "");
    } else if (r == BTS_Q_EAMBIGUOUS) {
        if (*want)
            fprintf(stderr, "bt-spans: trace id prefix \"%s\" matches several traces in %s:\n", w, o->store);
        else
            fprintf(stderr, "bt-spans: an empty trace id matches every trace; the most recent in %s:\n",
                    o->store);
        size_t i;
        json_t *c;
        json_array_foreach(cands, i, c)
        {
            if (i == SHOWN) {
                fprintf(stderr, "  ... and more: type more of the id\n");
                break;
            }
            char when[32] = "?", root[60];
            if (json_object_get(c, "start_ns"))
                bts_format_time(json_integer_value(json_object_get(c, "start_ns")), when, sizeof when);
            const char *name = bts_clean(json_string_value(json_object_get(c, "root")), root, sizeof root);
            fprintf(stderr, "  %s  %s  %s\n", json_string_value(json_object_get(c, "trace_id")), when,
                    name ? name : "?");
        }
    } else {
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
    }
    json_decref(cands);
    return 1;
}

/* The content attributes of a stored line, parsed (a value that is not JSON stays a
 * string). */
static json_t *full_content(json_t *line)
{
    static const char *const keys[][2] = {{"input", "braintrust.input_json"},
                                          {"output", "braintrust.output_json"},
                                          {"metadata", "braintrust.metadata"},
                                          {"metrics", "braintrust.metrics"}};
    json_t *o = json_object();
    for (size_t k = 0; k < sizeof keys / sizeof *keys; k++) {
        const char *v = bts_line_attr(line, keys[k][1]);
        if (!v)
            continue;
        json_t *parsed = json_loads(v, JSON_DECODE_ANY, NULL);
        json_object_set_new(o, keys[k][0], parsed ? parsed : json_string(v));
    }
    return o;
}

static int load(sqlite3 *db, const char *trace_id, int full, trace *t)
{
    memset(t, 0, sizeof *t);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(
            db,
            "SELECT span_id, parent_span_id, name, span_type, model, start_ns, end_ns, status_code,"
            " status_message, prompt_tokens, completion_tokens, line FROM spans WHERE trace_id = ?1"
            " ORDER BY start_ns, span_id LIMIT ?2",
            -1, &st, NULL) != SQLITE_OK)
        return -1;
    sqlite3_bind_text(st, 1, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(st, 2, SHOW_MAX_SPANS + 1);
    size_t cap = 0;
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (t->n == SHOW_MAX_SPANS) {
            t->truncated = 1;
            break;
        }
        if (t->n == cap) {
            cap = cap ? cap * 2 : 64;
            node *grown = realloc(t->nodes, cap * sizeof *grown);
            if (!grown)
                break;
            t->nodes = grown;
        }
        node *x = &t->nodes[t->n++];
        memset(x, 0, sizeof *x);
        copy_id(x->span_id, st, 0);
        copy_id(x->parent, st, 1);
        x->name = bts_sanitize(col_dup(st, 2));
        x->type = bts_sanitize(col_dup(st, 3));
        x->model = bts_sanitize(col_dup(st, 4));
        x->start = sqlite3_column_int64(st, 5);
        x->end = sqlite3_column_int64(st, 6);
        x->status = sqlite3_column_int(st, 7);
        x->status_message = bts_sanitize(col_dup(st, 8));
        x->prompt = col_count(st, 9);
        x->completion = col_count(st, 10);
        json_t *line = json_loads((const char *)sqlite3_column_text(st, 11), 0, NULL);
        x->input = bts_preview(bts_line_attr(line, "braintrust.input_json"), PREVIEW_BYTES);
        x->output = bts_preview(bts_line_attr(line, "braintrust.output_json"), PREVIEW_BYTES);
        if (full)
            x->full = full_content(line);
        json_decref(line);
        x->first_child = x->last_child = x->next_sibling = -1;
    }
    sqlite3_finalize(st);
    t->by_id = malloc((t->n ? t->n : 1) * sizeof *t->by_id);
    if (!t->by_id)
        return -1;
    for (size_t i = 0; i < t->n; i++)
        t->by_id[i] = (int)i;
    sort_ctx = t;
    qsort(t->by_id, t->n, sizeof *t->by_id, cmp_by_id);
    /* Children in start order: nodes arrive sorted by start. */
    for (size_t i = 0; i < t->n; i++) {
        node *x = &t->nodes[i];
        int p = x->parent[0] ? find(t, x->parent) : -1;
        if (p < 0 || p == (int)i)
            continue;
        x->has_parent_here = 1;
        if (t->nodes[p].last_child < 0)
            t->nodes[p].first_child = (int)i;
        else
            t->nodes[t->nodes[p].last_child].next_sibling = (int)i;
        t->nodes[p].last_child = (int)i;
    }
    return 0;
}

/* Prints a whole value under a tree node, one indented line per line of its text (a
 * string as is, anything else as indented JSON), control characters replaced. */
static void print_full(json_t *full, const char *key, const char *label, const char *prefix, const char *bar)
{
    json_t *v = json_object_get(full, key);
    if (!v)
        return;
    char *text =
        json_is_string(v) ? strdup(json_string_value(v)) : json_dumps(v, JSON_INDENT(2) | JSON_ENCODE_ANY);
    if (!text)
        return;
    printf("%s%s   %s:\n", prefix, bar, label);
    for (char *line = text, *next; line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = '\0';
        printf("%s%s     %s\n", prefix, bar, bts_sanitize(line));
    }
    free(text);
}

static void print_node(const trace *t, int i, char *prefix, size_t plen, int last, int depth)
{
    const node *x = &t->nodes[i];
    char dur[32], tokens[64] = "";
    bts_format_duration(x->end - x->start, dur, sizeof dur);
    if (x->prompt >= 0 || x->completion >= 0)
        snprintf(tokens, sizeof tokens, "  tokens %lld in / %lld out",
                 (long long)(x->prompt > 0 ? x->prompt : 0),
                 (long long)(x->completion > 0 ? x->completion : 0));
    const char *branch = depth == 0 ? "" : last ? "\u2514\u2500 " : "\u251c\u2500 ";
    printf("%s%s%s", prefix, branch, x->name ? x->name : "?");
    if (x->type)
        printf("  [%s]", x->type);
    printf("  %s", dur);
    if (x->model)
        printf("  %s", x->model);
    printf("%s  %s", tokens, x->status == 2 ? "ERROR" : "ok");
    if (x->status == 2 && x->status_message)
        printf(": %.200s", x->status_message);
    putchar('\n');
    /* The prefix under this node: continue the parent's line unless this was last. */
    size_t add = 0;
    if (depth > 0) {
        const char *cont = last ? "   " : "\u2502  ";
        add = strlen(cont);
        if (plen + add < 4096)
            memcpy(prefix + plen, cont, add + 1);
        else
            add = 0;
    }
    const char *kid_bar = x->first_child >= 0 ? "\u2502  " : "   ";
    if (x->full) {
        print_full(x->full, "input", "in", prefix, kid_bar);
        print_full(x->full, "output", "out", prefix, kid_bar);
    } else {
        if (x->input)
            printf("%s%s   in:  %s\n", prefix, kid_bar, x->input);
        if (x->output)
            printf("%s%s   out: %s\n", prefix, kid_bar, x->output);
    }
    if (depth < MAX_DEPTH)
        for (int c = x->first_child; c >= 0; c = t->nodes[c].next_sibling)
            print_node(t, c, prefix, plen + add, t->nodes[c].next_sibling < 0, depth + 1);
    prefix[plen] = '\0';
}

static json_t *node_json(const trace *t, int i, int depth)
{
    const node *x = &t->nodes[i];
    json_t *o = json_object();
    json_object_set_new(o, "span_id", json_string(x->span_id));
    json_object_set_new(o, "parent_span_id", x->parent[0] ? json_string(x->parent) : json_null());
    json_object_set_new(o, "name", json_string(x->name ? x->name : ""));
    json_object_set_new(o, "type", x->type ? json_string(x->type) : json_null());
    json_object_set_new(o, "start_ns", json_integer(x->start));
    json_object_set_new(o, "duration_ns", json_integer(x->end - x->start));
    json_object_set_new(o, "model", x->model ? json_string(x->model) : json_null());
    json_object_set_new(o, "prompt_tokens", x->prompt >= 0 ? json_integer(x->prompt) : json_null());
    json_object_set_new(o, "completion_tokens",
                        x->completion >= 0 ? json_integer(x->completion) : json_null());
    /* "ok" unless an error; status_code keeps the OTLP distinction (0 unset, 1 ok). */
    json_object_set_new(o, "status", json_string(x->status == 2 ? "error" : "ok"));
    json_object_set_new(o, "status_code", json_integer(x->status));
    json_object_set_new(o, "status_message",
                        x->status_message ? json_string(x->status_message) : json_null());
    json_object_set_new(o, "input_preview", x->input ? json_string(x->input) : json_null());
    json_object_set_new(o, "output_preview", x->output ? json_string(x->output) : json_null());
    if (x->full)
        json_object_update(o, x->full);
    json_t *kids = json_array();
    if (depth < MAX_DEPTH)
        for (int c = x->first_child; c >= 0; c = t->nodes[c].next_sibling)
            json_array_append_new(kids, node_json(t, c, depth + 1));
    json_object_set_new(o, "children", kids);
    return o;
}

sqlite3 *bts_open_trace(const bts_options *o, const char *want, char out[33])
{
    sqlite3 *db = bts_open(o, 0);
    if (db && bts_resolve_or_explain(db, o, want, out) != 0) {
        sqlite3_close(db);
        db = NULL;
    }
    return db;
}

int bts_show(const bts_options *o, const char *want)
{
    char id[33];
    sqlite3 *db = bts_open_trace(o, want, id);
    if (!db)
        return BTS_EXIT_FAIL;
    trace t;
    if (load(db, id, o->full, &t) != 0) {
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
        trace_free(&t);
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    sqlite3_close(db);
    int rc = BTS_EXIT_OK;
    if (o->json) {
        json_t *out = json_object(), *roots = json_array();
        json_object_set_new(out, "trace_id", json_string(id));
        json_object_set_new(out, "spans", json_integer((json_int_t)t.n));
        json_object_set_new(out, "truncated", json_boolean(t.truncated));
        for (size_t i = 0; i < t.n; i++)
            if (!t.nodes[i].has_parent_here)
                json_array_append_new(roots, node_json(&t, (int)i, 0));
        json_object_set_new(out, "roots", roots);
        rc = bts_print_json(out);
    } else {
        int64_t start = t.n ? t.nodes[0].start : 0, end = start;
        for (size_t i = 0; i < t.n; i++)
            if (t.nodes[i].end > end)
                end = t.nodes[i].end;
        char when[32], dur[32];
        bts_format_time(start, when, sizeof when);
        bts_format_duration(end - start, dur, sizeof dur);
        size_t errors = 0;
        for (size_t i = 0; i < t.n; i++)
            errors += t.nodes[i].status == 2;
        printf("trace %s  %s  %zu span%s  %s", id, when, t.n, t.n == 1 ? "" : "s", dur);
        if (errors)
            printf("  %zu failed span%s", errors, errors == 1 ? "" : "s");
        putchar('\n');
        char prefix[4200] = "";
        for (size_t i = 0; i < t.n; i++)
            if (!t.nodes[i].has_parent_here)
                print_node(&t, (int)i, prefix, 0, 1, 0);
        if (t.truncated)
            printf("(trace cut at %d spans)\n", SHOW_MAX_SPANS);
    }
    trace_free(&t);
    return rc;
}
