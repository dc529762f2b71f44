/* bt-spans totals: token and cost-relevant totals by model, over llm spans (task spans
 * such as anthropic.batch carry their children's sums and are not counted again;
 * count_tokens calls count tokens, they do not use them, and are counted apart). */
#include <stdio.h>
#include <string.h>

#include "bt_spans.h"
#include "query.h"

static const char *const HEADS[BTS_N_TOTAL_KEYS] = {"SPANS",      "ERRORS",         "PROMPT",   "COMPLETION",
                                                    "CACHE READ", "CACHE CREATION", "REASONING"};
#define MODEL_MAX 48

/* A number as printed: "+" after a sum that reached the int64 limit. */
static void number(json_t *row, size_t k, char *out, size_t cap)
{
    int sat = 0;
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(row, "saturated"), i, s) sat |=
        strcmp(json_string_value(s), bts_total_keys[k]) == 0;
    snprintf(out, cap, "%lld%s", (long long)json_integer_value(json_object_get(row, bts_total_keys[k])),
             sat ? "+" : "");
}

static void print_row(const char *model, json_t *row, const size_t *w)
{
    char buf[MODEL_MAX + 1];
    printf("%-*s", (int)w[0], bts_clean(model, buf, sizeof buf));
    for (size_t k = 0; k < BTS_N_TOTAL_KEYS; k++) {
        char n[32];
        number(row, k, n, sizeof n);
        printf("  %*s", (int)w[k + 1], n);
    }
    putchar('\n');
}

int bts_totals(const bts_options *o)
{
    sqlite3 *db = bts_open(o, 0);
    if (!db)
        return BTS_EXIT_FAIL;
    json_t *t = NULL;
    if (bts_query_totals(db, 0, &t) != BTS_Q_OK) {
        fprintf(stderr, "bt-spans: query failed: %s\n", sqlite3_errmsg(db));
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    sqlite3_close(db);
    if (o->json)
        return bts_print_json(t);
    json_t *models = json_object_get(t, "models"), *total = json_object_get(t, "total"), *row;
    /* Column widths from the data, two spaces between columns: wide numbers never run
     * into each other. */
    size_t w[BTS_N_TOTAL_KEYS + 1], i;
    w[0] = strlen("MODEL");
    for (size_t k = 0; k < BTS_N_TOTAL_KEYS; k++)
        w[k + 1] = strlen(HEADS[k]);
    json_array_foreach(models, i, row)
    {
        char buf[MODEL_MAX + 1];
        size_t n = strlen(bts_clean(json_string_value(json_object_get(row, "model")), buf, sizeof buf));
        if (n > w[0])
            w[0] = n;
    }
    for (size_t pass = 0; pass <= json_array_size(models); pass++) {
        row = pass < json_array_size(models) ? json_array_get(models, pass) : total;
        for (size_t k = 0; k < BTS_N_TOTAL_KEYS; k++) {
            char n[32];
            number(row, k, n, sizeof n);
            if (strlen(n) > w[k + 1])
                w[k + 1] = strlen(n);
        }
    }
    printf("%-*s", (int)w[0], "MODEL");
    for (size_t k = 0; k < BTS_N_TOTAL_KEYS; k++)
        printf("  %*s", (int)w[k + 1], HEADS[k]);
    putchar('\n');
    json_array_foreach(models, i, row) print_row(json_string_value(json_object_get(row, "model")), row, w);
    print_row("TOTAL", total, w);
    json_int_t ct = json_integer_value(json_object_get(t, "count_tokens_calls"));
    if (ct)
        printf("(%lld count_tokens call%s not included: counting tokens uses none)\n", (long long)ct,
               ct == 1 ? "" : "s");
    if (json_array_size(json_object_get(total, "saturated")))
        printf("(+: a sum reached the 64-bit limit and stopped there)\n");
    json_decref(t);
    return BTS_EXIT_OK;
}
