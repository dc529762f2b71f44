/*
 * The viewer's queries on a big store (default 1,000,000 spans): the newest page of the
 * trace list, a page deep into it (keyset: its cost must not grow with depth), filtered
 * pages (a rare model, errors only), one 20,000-span batch trace, and the totals. The
 * baseline, measured in the same run on the same store, is the list query bt-spans used
 * before the read indexes: one GROUP BY over every span.
 *
 *   bench_trace_list [spans]     (default 1000000; the store is built in $TMPDIR)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "braintrust/braintrust.h"
#include "export/store.h"
#include "query.h"

#define BIG_BATCH 20000
#define REPEAT 5

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

/* About 1 KB: the size of a short call's line (input, output, metadata, metrics). */
static const char LINE[] =
    "{\"traceId\":\"%s\",\"spanId\":\"%s\",\"name\":\"%s\",\"kind\":3,\"attributes\":["
    "{\"key\":\"braintrust.input_json\",\"value\":{\"stringValue\":\"[{\\\"role\\\":\\\"user\\\",\\\"content\\\":"
    "\\\"Summarise the following text in three bullet points. The quick brown fox jumps over the lazy dog. "
    "Pack my box with five dozen liquor jugs. How vexingly quick daft zebras jump.\\\"}]\"}},"
    "{\"key\":\"braintrust.output_json\",\"value\":{\"stringValue\":\"{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":"
    "[{\\\"type\\\":\\\"text\\\",\\\"text\\\":\\\"- A fox jumps over a dog.\\\\n- Boxes are packed with jugs.\\\"}]}\"}},"
    "{\"key\":\"braintrust.metadata\",\"value\":{\"stringValue\":\"{\\\"provider\\\":\\\"anthropic\\\",\\\"model\\\":"
    "\\\"%s\\\",\\\"max_tokens\\\":1024,\\\"stop_reason\\\":\\\"end_turn\\\"}\"}},"
    "{\"key\":\"braintrust.metrics\",\"value\":{\"stringValue\":\"{\\\"prompt_tokens\\\":412,\\\"completion_tokens\\\":58}\"}}"
    "],\"status\":{\"code\":1}}";

static const char *MODELS[] = {"claude-haiku-4-5-20251001", "claude-sonnet-4-5-20250929",
                               "claude-opus-4-1-20250805"};

typedef struct gen {
    sqlite3 *db;
    sqlite3_stmt *ins;
    long spans;
    char big_trace[33];
} gen;

static void put(gen *g, long trace, int span, int parent, int64_t start, int64_t dur, const char *name,
                const char *type, const char *model, int error)
{
    char tid[33], sid[17], pid[17], line[2048];
    snprintf(tid, sizeof tid, "%016lx%016lx", (unsigned long)trace * 2654435761u, (unsigned long)trace);
    snprintf(sid, sizeof sid, "%08lx%08x", (unsigned long)trace & 0xffffffffu, (unsigned)span);
    snprintf(pid, sizeof pid, "%08lx%08x", (unsigned long)trace & 0xffffffffu, (unsigned)parent);
    snprintf(line, sizeof line, LINE, tid, sid, name, model ? model : "");
    sqlite3_stmt *s = g->ins;
    sqlite3_bind_text(s, 1, tid, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(s, 2, sid, -1, SQLITE_TRANSIENT);
    if (parent)
        sqlite3_bind_text(s, 3, pid, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(s, 3);
    sqlite3_bind_text(s, 4, name, -1, SQLITE_STATIC);
    sqlite3_bind_int64(s, 5, start);
    sqlite3_bind_int64(s, 6, start + dur);
    sqlite3_bind_int(s, 7, error ? 2 : 1);
    sqlite3_bind_text(s, 8, type, -1, SQLITE_STATIC);
    if (model) {
        sqlite3_bind_text(s, 9, model, -1, SQLITE_STATIC);
        sqlite3_bind_int(s, 10, 412);
        sqlite3_bind_int(s, 11, 58);
    } else {
        sqlite3_bind_null(s, 9);
        sqlite3_bind_null(s, 10);
        sqlite3_bind_null(s, 11);
    }
    sqlite3_bind_text(s, 12, line, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(s) != SQLITE_DONE) {
        fprintf(stderr, "bench_trace_list: insert: %s\n", sqlite3_errmsg(g->db));
        exit(1);
    }
    sqlite3_reset(s);
    g->spans++;
    if (g->spans % 100000 == 0) {
        sqlite3_exec(g->db, "COMMIT; BEGIN;", NULL, NULL, NULL);
    }
    if (span == 1 && strcmp(type, "task") == 0 && strcmp(name, "anthropic.batch") == 0)
        memcpy(g->big_trace, tid, 33);
}

/* Traffic of a busy month: single calls (some failing), 4-span agent turns with a tool
 * call, a rare model, and one batch of 20,000 requests in the middle. */
static void build(gen *g, long target)
{
    const int64_t t0 = 1767225600000000000ll; /* 2026-01-01 */
    long trace = 0;
    int64_t t = t0;
    while (g->spans < target) {
        trace++;
        t += 2000000000ll + (trace % 7) * 100000000ll;
        if (!g->big_trace[0] && g->spans >= target / 2) {
            put(g, trace, 1, 0, t, 3600000000000ll, "anthropic.batch", "task", NULL, 0);
            for (int k = 2; k <= BIG_BATCH + 1; k++)
                put(g, trace, k, 1, t, 3600000000000ll, "anthropic.messages.create", "llm", MODELS[k % 2],
                    k % 1000 == 0);
        } else if (trace % 10 == 0) {
            put(g, trace, 1, 0, t, 9000000000ll, "agent.turn", "task", NULL, 0);
            put(g, trace, 2, 1, t + 1000, 4000000000ll, "anthropic.messages.create", "llm", MODELS[1], 0);
            put(g, trace, 3, 2, t + 2000000000ll, 1000000000ll, "web_search", "tool", NULL, 0);
            put(g, trace, 4, 1, t + 4500000000ll, 4000000000ll, "anthropic.messages.create", "llm", MODELS[1],
                0);
        } else {
            const char *model = trace % 997 == 0 ? "claude-rare-model" : MODELS[trace % 3 == 0 ? 2 : 0];
            put(g, trace, 1, 0, t, 1500000000ll,
                trace % 3 == 1 ? "anthropic.messages.stream" : "anthropic.messages.create", "llm", model,
                trace % 50 == 1);
        }
    }
}

static double median(double *v, int n)
{
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && v[j - 1] > v[j]; j--) {
            double x = v[j];
            v[j] = v[j - 1];
            v[j - 1] = x;
        }
    return v[n / 2];
}

/* Median time of one page; *json_out keeps the last page (caller frees). */
static double time_page(sqlite3 *db, bts_trace_filter f, json_t **json_out)
{
    double t[REPEAT];
    for (int i = 0; i < REPEAT; i++) {
        json_t *page = NULL;
        double a = now_ms();
        if (bts_query_traces(db, &f, &page) != BTS_Q_OK) {
            fprintf(stderr, "bench_trace_list: list query failed: %s\n", sqlite3_errmsg(db));
            exit(1);
        }
        t[i] = now_ms() - a;
        if (json_out && i == REPEAT - 1)
            *json_out = page;
        else
            json_decref(page);
    }
    return median(t, REPEAT);
}

static const char OLD_LIST_SQL[] =
    "SELECT s.trace_id, min(s.start_ns), max(s.end_ns), count(*),"
    " (SELECT r.name FROM spans r WHERE r.trace_id = s.trace_id AND (r.parent_span_id IS NULL OR"
    "   NOT EXISTS (SELECT 1 FROM spans p WHERE p.trace_id = r.trace_id AND p.span_id = r.parent_span_id))"
    "   ORDER BY r.start_ns LIMIT 1),"
    " group_concat(DISTINCT s.model),"
    " sum(CASE WHEN s.span_type IS NULL OR s.span_type = 'llm' THEN s.prompt_tokens END),"
    " sum(CASE WHEN s.span_type IS NULL OR s.span_type = 'llm' THEN s.completion_tokens END),"
    " sum(s.status_code = 2)"
    " FROM spans s GROUP BY s.trace_id ORDER BY min(s.start_ns) DESC, s.trace_id LIMIT 50";

int main(int argc, char **argv)
{
    long target = argc > 1 ? strtol(argv[1], NULL, 10) : 1000000;
    if (target < BIG_BATCH * 2)
        target = BIG_BATCH * 2;
    const char *tmp = getenv("TMPDIR");
    char dir[512], path[600];
    snprintf(dir, sizeof dir, "%s/bench_trace_list.XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("bench_trace_list: mkdtemp");
        return 1;
    }
    snprintf(path, sizeof path, "%s/spans.db", dir);

    gen g = {0};
    if (bt__store_open(path, BT__STORE_CREATE, &g.db, NULL) != BT_OK) {
        fprintf(stderr, "bench_trace_list: cannot create %s\n", path);
        return 1;
    }
    sqlite3_prepare_v2(
        g.db,
        "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,"
        " span_type, model, prompt_tokens, completion_tokens, line, stored_ns)"
        " VALUES (?1, ?2, ?3, ?4, 3, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, 0)",
        -1, &g.ins, NULL);
    double a = now_ms();
    sqlite3_exec(g.db, "BEGIN;", NULL, NULL, NULL);
    build(&g, target);
    sqlite3_exec(g.db, "COMMIT;", NULL, NULL, NULL);
    sqlite3_finalize(g.ins);
    sqlite3_close(g.db);
    printf("store: %ld spans built in %.1f s (%s)\n", g.spans, (now_ms() - a) / 1e3, path);

    sqlite3 *db = NULL;
    if (bt__store_open(path, BT__STORE_READ_ONLY, &db, NULL) != BT_OK || bts_query_register(db) != BTS_Q_OK) {
        fprintf(stderr, "bench_trace_list: cannot open the store\n");
        return 1;
    }
    /* Warm the page cache for both sides alike: one untimed pass of the baseline. */
    sqlite3_stmt *old = NULL;
    sqlite3_prepare_v2(db, OLD_LIST_SQL, -1, &old, NULL);
    while (sqlite3_step(old) == SQLITE_ROW) {
    }
    sqlite3_reset(old);
    a = now_ms();
    int rows = 0;
    while (sqlite3_step(old) == SQLITE_ROW)
        rows++;
    double baseline = now_ms() - a;
    sqlite3_finalize(old);
    printf("baseline: GROUP BY over every span (50 rows):  %9.1f ms\n", baseline);

    json_t *page = NULL;
    double first = time_page(db, (bts_trace_filter){.limit = 50}, &page);
    printf("list, newest page of 50:                     %9.2f ms  (%.0fx faster than baseline)\n", first,
           baseline / first);
    /* Walk 2,000 pages back (100,000 traces) and time the page there. */
    char cursor[128];
    snprintf(cursor, sizeof cursor, "%s", json_string_value(json_object_get(page, "next")));
    json_decref(page);
    for (int p = 0; p < 2000; p++) {
        json_t *pg = NULL;
        bts_query_traces(db, &(bts_trace_filter){.limit = 50, .cursor = cursor}, &pg);
        const char *next = json_string_value(json_object_get(pg, "next"));
        if (next)
            snprintf(cursor, sizeof cursor, "%s", next);
        json_decref(pg);
        if (!next)
            break;
    }
    double deep = time_page(db, (bts_trace_filter){.limit = 50, .cursor = cursor}, NULL);
    printf("list, page 2,001 (keyset cursor):            %9.2f ms  (%.0fx faster than baseline)\n", deep,
           baseline / deep);
    double errors = time_page(db, (bts_trace_filter){.limit = 50, .status = 2}, &page);
    printf("list, errors only, 50 traces:                %9.2f ms  (%.0fx faster than baseline), %zu found\n",
           errors, baseline / errors, json_array_size(json_object_get(page, "traces")));
    json_decref(page);
    double rare = time_page(db, (bts_trace_filter){.limit = 50, .model = "rare"}, &page);
    printf("list, rare model (1 trace in 1,000):         %9.2f ms  (%.0fx faster than baseline), %zu found, "
           "page %s\n",
           rare, baseline / rare, json_array_size(json_object_get(page, "traces")),
           json_is_true(json_object_get(page, "complete")) ? "complete" : "ended by its work budget");
    json_decref(page);

    double tt[REPEAT];
    for (int i = 0; i < REPEAT; i++) {
        json_t *t = NULL;
        a = now_ms();
        bts_query_trace(db, g.big_trace, 250000, &t);
        tt[i] = now_ms() - a;
        if (i == 0)
            printf("one trace: the %zu-span batch", json_array_size(json_object_get(t, "spans")));
        json_decref(t);
    }
    double one = median(tt, REPEAT);
    printf(":           %9.2f ms  (%.2fx baseline)\n", one, one / baseline);
    for (int i = 0; i < REPEAT; i++) {
        json_t *t = NULL;
        a = now_ms();
        bts_query_totals(db, 1, &t);
        tt[i] = now_ms() - a;
        json_decref(t);
    }
    double totals = median(tt, REPEAT);
    printf("totals by model and day (every llm span):    %9.1f ms  (%.2fx baseline)\n", totals,
           totals / baseline);
    sqlite3_close(db);
    char extra[700];
    unlink(path);
    snprintf(extra, sizeof extra, "%s-wal", path);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", path);
    unlink(extra);
    rmdir(dir);
    return rows == 50 ? 0 : 1;
}
