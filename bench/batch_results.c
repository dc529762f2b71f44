/*
 * Benchmark: tracing a Message Batches results stream.
 *
 * Generates a results JSONL stream on the fly (never held whole; 10,000+ requests,
 * message text padded to reach the target size), after tracing the batch's create call
 * so every result re-joins its input, and feeds it through a results exchange in
 * 64 KiB pieces with a sink that discards spans. Prints, for a 1 MB run and a large run
 * (default 1024 MB; argv[1] sets it in MB for quick runs), the peak RSS (VmHWM) after
 * each, and the traced MB per CPU-second next to a parse-only baseline: jansson
 * json_loadb on each line of the same bytes, measured in the same process.
 *
 *   bench_batch_results [large_MB]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include <jansson.h>

#include "braintrust/braintrust.h"
#include "core/sink_internal.h"

#define CHUNK ((size_t)64 << 10)

/* ---- a sink that counts and discards ---- */
typedef struct discard_sink {
    struct bt_sink base;
    unsigned long long spans;
} discard_sink;

static int discard_export(bt_sink *s, const bt__resource *res, bt_span *const *spans, size_t n)
{
    (void)res;
    (void)spans;
    ((discard_sink *)s)->spans += n;
    return BT_OK;
}

static void discard_free(bt_sink *s)
{
    free(s);
}

static const bt__sink_vtable DISCARD = {
    .name = "discard", .export_spans = discard_export, .free = discard_free};

/* ---- measurements ---- */
static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
        ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmHWM: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    if (kb < 0) {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        kb = ru.ru_maxrss;
    }
    return kb;
}

/* ---- the generated stream ---- */
typedef struct gen {
    unsigned n_requests;
    size_t pad;
    const char *pad_text;
    unsigned next;
    char *buf;
    size_t len;
} gen;

/* Appends the next result line; returns 0 when all were produced. */
static int gen_line(gen *g)
{
    if (g->next >= g->n_requests)
        return 0;
    unsigned i = g->next++;
    /* Results come in no particular order: walk the ids with a stride. */
    unsigned id = (unsigned)(((unsigned long long)i * 7919u) % g->n_requests);
    char *p = g->buf + g->len;
    int n;
    if (i % 97 == 13)
        n = sprintf(
            p,
            "{\"custom_id\":\"req-%06u\",\"result\":{\"type\":\"errored\",\"error\":{\"type\":\"error\","
            "\"error\":{\"type\":\"invalid_request_error\",\"message\":\"max_tokens too large\"},"
            "\"request_id\":null}}}\n",
            id);
    else if (i % 211 == 5)
        n = sprintf(p, "{\"custom_id\":\"req-%06u\",\"result\":{\"type\":\"expired\"}}\n", id);
    else
        n = sprintf(p,
                    "{\"custom_id\":\"req-%06u\",\"result\":{\"type\":\"succeeded\",\"message\":{"
                    "\"model\":\"claude-haiku-4-5-20251001\",\"id\":\"msg_%06u\",\"type\":\"message\","
                    "\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"%.*s\"}],"
                    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":%u,"
                    "\"cache_creation_input_tokens\":0,\"cache_read_input_tokens\":%u,"
                    "\"cache_creation\":{\"ephemeral_5m_input_tokens\":0,\"ephemeral_1h_input_tokens\":0},"
                    "\"output_tokens\":%u,\"service_tier\":\"batch\"}}}}\n",
                    id, id, (int)g->pad, g->pad_text, 10 + id % 50, id % 3, 20 + id % 300);
    g->len += (size_t)n;
    return 1;
}

static char *make_pad(size_t n)
{
    static const char words[] =
        "The quick brown fox jumps over the lazy dog; batches are traced line by line. ";
    char *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = words[i % (sizeof words - 1)];
    p[n] = '\0';
    return p;
}

static size_t line_cap(const gen *g)
{
    return g->pad + 1024;
}

/* Streams the results through `fn` in CHUNK pieces; returns the bytes produced. */
static unsigned long long stream(gen *g, void (*fn)(void *, const char *, size_t), void *ud)
{
    unsigned long long total = 0;
    g->next = 0;
    g->len = 0;
    while (gen_line(g)) {
        if (g->len >= CHUNK) {
            fn(ud, g->buf, g->len);
            total += g->len;
            g->len = 0;
        }
    }
    if (g->len) {
        fn(ud, g->buf, g->len);
        total += g->len;
    }
    return total;
}

static void feed_exchange(void *ud, const char *data, size_t len)
{
    bt_exchange_response_body(ud, data, len);
}

/* Parse-only baseline: split lines and json_loadb each one. */
typedef struct baseline {
    char *carry;
    size_t carry_len;
    unsigned long long parsed;
} baseline;

static void parse_lines(void *ud, const char *data, size_t len)
{
    baseline *b = ud;
    const char *p = data, *end = data + len;
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        if (!nl) {
            memcpy(b->carry + b->carry_len, p, (size_t)(end - p));
            b->carry_len += (size_t)(end - p);
            return;
        }
        const char *line = p;
        size_t n = (size_t)(nl - p);
        if (b->carry_len) {
            memcpy(b->carry + b->carry_len, p, n);
            line = b->carry;
            n += b->carry_len;
            b->carry_len = 0;
        }
        json_t *v = json_loadb(line, n, 0, NULL);
        if (v)
            b->parsed++;
        json_decref(v);
        p = nl + 1;
    }
}

/* Traces a create of n requests so results re-join their inputs. */
static void trace_create(bt_anthropic *a, const char *batch_id, unsigned n)
{
    bt_exchange *ex = NULL;
    bt_exchange_begin(a, "POST", "/v1/messages/batches", NULL, 0, NULL, &ex);
    char req[512];
    bt_exchange_request_body(ex, "{\"requests\":[", 13);
    for (unsigned i = 0; i < n; i++) {
        int k = snprintf(
            req, sizeof req,
            "%s{\"custom_id\":\"req-%06u\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":1024,"
            "\"system\":\"You are terse.\",\"messages\":[{\"role\":\"user\",\"content\":\"Question %u?\"}]}}",
            i ? "," : "", i, i);
        bt_exchange_request_body(ex, req, (size_t)k);
    }
    bt_exchange_request_body(ex, "]}", 2);
    bt_exchange_response_headers(ex, 200, NULL, 0);
    char resp[512];
    int k = snprintf(
        resp, sizeof resp,
        "{\"id\":\"%s\",\"type\":\"message_batch\",\"processing_status\":\"in_progress\","
        "\"request_counts\":{\"processing\":%u,\"succeeded\":0,\"errored\":0,\"canceled\":0,\"expired\":0},"
        "\"created_at\":\"2026-06-22T17:34:30.651249+00:00\",\"ended_at\":null}",
        batch_id, n);
    bt_exchange_response_body(ex, resp, (size_t)k);
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
}

typedef struct result {
    double mb, traced_cpu, parse_cpu;
    long rss_kb;
    unsigned long long spans_started, dropped;
} result;

static result run(bt_anthropic *a, bt_tracer *t, const char *batch_id, unsigned n_requests, size_t pad)
{
    result r = {0};
    gen g = {.n_requests = n_requests, .pad = pad, .pad_text = make_pad(pad)};
    g.buf = malloc(CHUNK + line_cap(&g) * 2);
    trace_create(a, batch_id, n_requests);

    bt_tracer_stats before, after;
    bt_tracer_get_stats(t, &before);
    char target[128];
    snprintf(target, sizeof target, "/v1/messages/batches/%s/results", batch_id);
    double c0 = cpu_seconds();
    bt_exchange *ex = NULL;
    bt_exchange_begin(a, "GET", target, NULL, 0, NULL, &ex);
    bt_exchange_response_headers(ex, 200, NULL, 0);
    unsigned long long bytes = stream(&g, feed_exchange, ex);
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    bt_tracer_flush(t, 60000);
    r.traced_cpu = cpu_seconds() - c0;
    bt_tracer_get_stats(t, &after);
    r.spans_started = after.spans_started - before.spans_started;
    r.dropped = after.spans_dropped - before.spans_dropped;
    r.rss_kb = peak_rss_kb();

    baseline b = {.carry = malloc(line_cap(&g) * 2)};
    c0 = cpu_seconds();
    stream(&g, parse_lines, &b);
    r.parse_cpu = cpu_seconds() - c0;
    r.mb = (double)bytes / 1e6;
    free(b.carry);
    free(g.buf);
    free((char *)g.pad_text);
    return r;
}

static void print(const char *label, const result *r)
{
    printf("%-8s %9.1f MB  peak RSS %7.1f MB  traced %8.1f MB/cpu-s  parse-only %8.1f MB/cpu-s  "
           "ratio %.2f  spans %llu (dropped by a full queue: %llu)\n",
           label, r->mb, r->rss_kb / 1024.0, r->mb / (r->traced_cpu > 0 ? r->traced_cpu : 1e-9),
           r->mb / (r->parse_cpu > 0 ? r->parse_cpu : 1e-9),
           r->parse_cpu > 0 ? r->traced_cpu / r->parse_cpu : 0.0, r->spans_started, r->dropped);
}

int main(int argc, char **argv)
{
    double large_mb = argc > 1 ? atof(argv[1]) : 1024.0;
    if (large_mb < 1)
        large_mb = 1;
    bt_tracer *t;
    bt_tracer_new(&t);
    discard_sink *sink = calloc(1, sizeof *sink);
    sink->base.vt = &DISCARD;
    bt_tracer_add_sink(t, &sink->base);
    bt_tracer_set_batch_options(t, 8192, 200, 512, 10000);
    if (bt_tracer_start(t) != BT_OK) {
        fprintf(stderr, "tracer did not start\n");
        return 1;
    }
    bt_anthropic *a;
    bt_anthropic_new(t, &a);

    /* 1 MB: 1,000 requests of ~1 KB. Large: 20,000+ requests padded to the size. */
    result small = run(a, t, "msgbatch_bench_small", 1000, 600);
    unsigned n_large = 20000;
    double per_line = large_mb * 1e6 / n_large;
    size_t pad = per_line > 700 ? (size_t)(per_line - 600) : 100;
    result large = run(a, t, "msgbatch_bench_large", n_large, pad);

    printf("batch results tracing (peak RSS is the process high-water mark after each run)\n");
    print("small", &small);
    print("large", &large);
    printf("flat memory: large/small peak RSS = %.2f (goal: under 64 MB at 1 GB)\n",
           (double)large.rss_kb / (double)(small.rss_kb ? small.rss_kb : 1));
    bt_anthropic_free(a);
    bt_tracer_free(t);
    return 0;
}
