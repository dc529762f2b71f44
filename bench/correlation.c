/*
 * Benchmark: the batch correlation store, PostgreSQL against memory.
 *
 * What a proxy's forwarding loop pays, and what the database sustains:
 *   - ingest: N requests' entries (about 1 KB each, like a short prompt) put as a batch
 *     create does, then rekeyed to the batch id: the time the caller spends in put
 *     (PostgreSQL queues, so this is what the loop pays), and the time until every
 *     write is in the database (sync: the database's throughput);
 *   - results: one lookup per result line, in request order, in reverse order (as
 *     fake-anthropic writes results) and in an order with no pattern: lookups per second
 *     and how many went to the database (the rest came from the read-ahead window).
 * The baseline is the in-memory backend doing the same in the same run.
 *
 * Needs a PostgreSQL URL in BT_TEST_PG_URL: scripts/bench runs it through
 * tests/support/with-postgres.sh, which starts a throwaway cluster.
 *
 *   bench_correlation [N]      (default 20000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "anthropic/correlation.h"
#include "braintrust/braintrust.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

typedef struct figures {
    double put_s, sync_s, read_s[3];
    unsigned long long queries[3];
} figures;

static const char *const ORDERS[3] = {"request order", "reverse order", "no pattern"};

static int index_of(int order, int k, int n)
{
    if (order == 0)
        return k;
    if (order == 1)
        return n - 1 - k;
    return (int)(((long long)k * 7919) % n); /* 7919 is prime: a permutation for n < 7919 * x */
}

static int run(struct bt__correlation *c, int n, figures *f)
{
    char entry[1100], id[32];
    memset(entry, 0, sizeof entry);
    int base = snprintf(entry, sizeof entry, "{\"input\":[{\"role\":\"user\",\"content\":\"");
    memset(entry + base, 'q', 1000);
    strcpy(entry + base + 1000, "\"}],\"metadata\":{\"model\":\"claude-haiku-4-5\"}}");
    size_t len = strlen(entry);
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "request-%d", i);
        if (bt__correlation_put(c, "staging:bench", id, entry, len) != BT_OK)
            return -1;
    }
    bt__correlation_rekey(c, "staging:bench", "msgbatch_bench");
    f->put_s = now_s() - t0;
    if (bt__correlation_sync(c, 600000) != BT_OK)
        return -1;
    f->sync_s = now_s() - t0;
    for (int order = 0; order < 3; order++) {
        bt_correlation_stats before, after;
        bt__correlation_get_stats(c, &before);
        t0 = now_s();
        for (int k = 0; k < n; k++) {
            snprintf(id, sizeof id, "request-%d", index_of(order, k, n));
            char *got = NULL;
            if (bt__correlation_get(c, "msgbatch_bench", id, &got, NULL) != BT_OK)
                return -1;
            free(got);
        }
        f->read_s[order] = now_s() - t0;
        bt__correlation_get_stats(c, &after);
        f->queries[order] = after.read_queries - before.read_queries;
    }
    return 0;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    const char *url = getenv("BT_TEST_PG_URL");
    if (!url || !*url) {
        printf("bench_correlation: skipped (no BT_TEST_PG_URL; scripts/bench starts a PostgreSQL)\n");
        return 0;
    }
    if (n < 100 || n % 7919 == 0)
        n = 20000;
    bt_tracer *t;
    bt_tracer_new(&t);
    struct bt__correlation *mem = bt__correlation_new(NULL, t);
    int rc;
    struct bt__correlation *pg = bt__correlation_new_url(url, t, &rc);
    if (!mem || !pg) {
        fprintf(stderr, "bench_correlation: cannot open the stores\n");
        return 1;
    }
    bt__correlation_set_read_wait(pg, 10000); /* measure, do not give up */
    figures fm = {0}, fp = {0};
    if (run(mem, n, &fm) != 0 || run(pg, n, &fp) != 0) {
        fprintf(stderr, "bench_correlation: a put or a lookup failed\n");
        return 1;
    }
    printf("%d requests of about 1 KB, one batch\n", n);
    printf("  put by the caller:    memory %8.0f /s   postgresql %8.0f /s   (%.2fx the memory cost)\n",
           n / fm.put_s, n / fp.put_s, fp.put_s / fm.put_s);
    printf("  in the database:      postgresql %8.0f rows/s (put to last commit)\n", n / fp.sync_s);
    for (int o = 0; o < 3; o++)
        printf("  lookups, %-14s memory %8.0f /s   postgresql %8.0f /s   (%.1fx slower), %llu queries "
               "(%.1f lookups per query)\n",
               ORDERS[o], n / fm.read_s[o], n / fp.read_s[o], fp.read_s[o] / fm.read_s[o], fp.queries[o],
               fp.queries[o] ? (double)n / (double)fp.queries[o] : 0.0);
    bt__correlation_free(mem);
    bt__correlation_free(pg);
    bt_tracer_free(t);
    return 0;
}
