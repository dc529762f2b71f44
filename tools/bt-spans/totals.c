/* bt-spans totals: token and cost-relevant totals by model, over llm spans (task spans
 * such as anthropic.batch carry their children's sums and are not counted again). */
#include <stdio.h>

#include "bt_spans.h"

static const char TOTALS_SQL[] =
    "SELECT coalesce(model, '(unknown)'), count(*), sum(status_code = 2),"
    " coalesce(sum(prompt_tokens), 0), coalesce(sum(completion_tokens), 0),"
    " coalesce(sum(cache_read_tokens), 0), coalesce(sum(cache_creation_tokens), 0),"
    " coalesce(sum(reasoning_tokens), 0)"
    " FROM spans WHERE span_type = 'llm' OR (span_type IS NULL AND model IS NOT NULL)"
    " GROUP BY 1 ORDER BY 1";

enum { T_SPANS, T_ERRORS, T_PROMPT, T_COMPLETION, T_CACHE_READ, T_CACHE_CREATION, T_REASONING, T_N };
static const char *const KEYS[T_N] = {"spans",
                                      "errors",
                                      "prompt_tokens",
                                      "completion_tokens",
                                      "cache_read_tokens",
                                      "cache_creation_tokens",
                                      "reasoning_tokens"};

static void print_row(const char *model, const int64_t *v)
{
    printf("%-32.32s %7lld %7lld %12lld %12lld %12lld %14lld %10lld\n", model, (long long)v[T_SPANS],
           (long long)v[T_ERRORS], (long long)v[T_PROMPT], (long long)v[T_COMPLETION],
           (long long)v[T_CACHE_READ], (long long)v[T_CACHE_CREATION], (long long)v[T_REASONING]);
}

static json_t *row_json(const char *model, const int64_t *v)
{
    json_t *o = json_object();
    if (model)
        json_object_set_new(o, "model", json_string(model));
    for (int k = 0; k < T_N; k++)
        json_object_set_new(o, KEYS[k], json_integer(v[k]));
    return o;
}

int bts_totals(const bts_options *o)
{
    sqlite3 *db = bts_open(o, 0);
    if (!db)
        return BTS_EXIT_FAIL;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db, TOTALS_SQL, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    int64_t sum[T_N] = {0};
    json_t *models = o->json ? json_array() : NULL;
    if (!o->json)
        printf("%-32s %7s %7s %12s %12s %12s %14s %10s\n", "MODEL", "SPANS", "ERRORS", "PROMPT", "COMPLETION",
               "CACHE READ", "CACHE CREATION", "REASONING");
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        const char *model = (const char *)sqlite3_column_text(st, 0);
        int64_t v[T_N];
        for (int k = 0; k < T_N; k++) {
            v[k] = sqlite3_column_int64(st, k + 1);
            sum[k] += v[k];
        }
        if (o->json)
            json_array_append_new(models, row_json(model, v));
        else {
            char buf[33];
            print_row(bts_clean(model, buf, sizeof buf), v);
        }
    }
    int ok = step == SQLITE_DONE;
    if (!ok)
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
    sqlite3_finalize(st);
    sqlite3_close(db);
    if (o->json) {
        json_t *out = json_object();
        json_object_set_new(out, "models", models);
        json_object_set_new(out, "total", row_json(NULL, sum));
        return ok ? bts_print_json(out) : (json_decref(out), BTS_EXIT_FAIL);
    }
    if (ok)
        print_row("TOTAL", sum);
    return ok ? BTS_EXIT_OK : BTS_EXIT_FAIL;
}
