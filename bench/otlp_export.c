/*
 * OTLP export cost: spans/s for create + end + encode (protobuf and JSON) of spans
 * carrying typical Anthropic attributes (a few KB of braintrust.* JSON plus gen_ai.*),
 * bytes per encoded span (plain and gzip), and the encoders alone, printed beside a
 * baseline measured in the same run: a plain memcpy of the same attribute bytes.
 *
 * The spans go through a real started tracer (batch processor thread) into a sink that
 * encodes each batch the way the OTLP sink does, without the network.
 *
 *   bench_otlp_export [spans]     (default 20000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "braintrust/braintrust.h"
#include "core/sink_internal.h"
#include "export/gzip.h"
#include "export/otlp_json.h"
#include "export/otlp_proto.h"

typedef enum { ENC_NONE, ENC_PROTO, ENC_JSON } encoding;

typedef struct bench_sink {
    bt_sink base;
    encoding enc;
    int gzip;
    bt__buf body, gz;
    uint64_t spans, bytes, gz_bytes, encode_ns;
} bench_sink;

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static int bench_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    bench_sink *b = (bench_sink *)sink;
    b->spans += n;
    if (b->enc == ENC_NONE)
        return BT_OK;
    uint64_t t0 = now_ns();
    bt__buf_reset(&b->body);
    int rc = b->enc == ENC_PROTO ? bt__otlp_proto_encode(res, spans, n, &b->body)
                                 : bt__otlp_json_encode(res, spans, n, &b->body);
    b->encode_ns += now_ns() - t0;
    b->bytes += b->body.len;
    if (rc == BT_OK && b->gzip) {
        bt__buf_reset(&b->gz);
        rc = bt__gzip_compress(b->body.data, b->body.len, &b->gz);
        b->gz_bytes += b->gz.len;
    }
    return rc;
}

static void bench_free(bt_sink *sink)
{
    bench_sink *b = (bench_sink *)sink;
    bt__buf_free(&b->body);
    bt__buf_free(&b->gz);
    free(b);
}

static const bt__sink_vtable bench_vt = {.name = "bench", .export_spans = bench_export, .free = bench_free};

/* ---- a typical traced Messages call ---- */

/* A pool of distinct conversations, so that gzip sees realistic (not identical)
 * consecutive spans. */
#define POOL 64
static char input_json[POOL][2048], output_json[POOL][2048];
static const char *metadata_json =
    "{\"provider\":\"anthropic\",\"model\":\"claude-sonnet-4-5-20250929\",\"max_tokens\":1024,"
    "\"temperature\":0.7,\"stop_reason\":\"end_turn\",\"stream\":true,\"request_id\":"
    "\"req_011CVd8yHs5H2aB1bXyZ9kQp\"}";
static const char *metrics_json =
    "{\"prompt_tokens\":1503,\"completion_tokens\":412,\"tokens\":1915,\"prompt_cached_tokens\":1024,"
    "\"prompt_cache_creation_tokens\":0,\"time_to_first_token\":0.412}";
static size_t attr_bytes;

/* The string attributes of one span (values filled in by make_payloads). */
static struct {
    const char *key;
    const char *value;
} string_attrs[] = {
    {"braintrust.input_json", NULL},  /* from the pool, per span */
    {"braintrust.output_json", NULL}, /* from the pool, per span */
    {"braintrust.metadata", NULL},
    {"braintrust.metrics", NULL},
    {"braintrust.span_attributes", "{\"type\":\"llm\"}"},
    {"braintrust.parent", "project_name:bench"},
    {"gen_ai.system", "anthropic"},
    {"gen_ai.request.model", "claude-sonnet-4-5-20250929"},
};
#define N_STRING_ATTRS (sizeof string_attrs / sizeof *string_attrs)

static void random_text(char *out, size_t len, uint64_t *rng)
{
    static const char *const words[] = {
        "the",    "model",      "returns", "a",       "list",      "of",     "content", "blocks", "for",
        "each",   "request",    "tool",    "use",     "citations", "are",    "kept",    "with",   "their",
        "source", "documents",  "stream",  "tokens",  "arrive",    "as",     "deltas",  "and",    "usage",
        "is",     "cumulative", "batch",   "results", "carry",     "custom", "ids",     "which",  "join",
        "inputs", "to",         "outputs", "across",  "restarts"};
    size_t k = 0;
    while (k + 16 < len) {
        *rng ^= *rng << 13;
        *rng ^= *rng >> 7;
        *rng ^= *rng << 17;
        const char *w = words[*rng % (sizeof words / sizeof *words)];
        size_t wl = strlen(w);
        memcpy(out + k, w, wl);
        k += wl;
        out[k++] = ' ';
    }
    out[k] = '\0';
}

static void make_payloads(void)
{
    uint64_t rng = 0x243f6a8885a308d3ull;
    char text[1400];
    for (int i = 0; i < POOL; i++) {
        random_text(text, 1200, &rng);
        snprintf(input_json[i], sizeof input_json[i],
                 "[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]},"
                 "{\"role\":\"system\",\"content\":\"You are a helpful assistant.\"}]",
                 text);
        random_text(text, 1350, &rng);
        snprintf(output_json[i], sizeof output_json[i],
                 "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"%s\"}]}", text);
    }
    string_attrs[2].value = metadata_json;
    string_attrs[3].value = metrics_json;
    string_attrs[0].value = input_json[0];
    string_attrs[1].value = output_json[0];
    attr_bytes = 0;
    for (size_t i = 0; i < N_STRING_ATTRS; i++)
        attr_bytes += strlen(string_attrs[i].value);
}

static void emit_span(bt_tracer *t, int i)
{
    bt_span *s = bt_span_start(t, "anthropic.messages.create", NULL);
    for (size_t k = 0; k < N_STRING_ATTRS; k++)
        bt_span_set_string(s, string_attrs[k].key,
                           k == 0       ? input_json[i % POOL]
                               : k == 1 ? output_json[i % POOL]
                                        : string_attrs[k].value);
    bt_span_set_int(s, "gen_ai.usage.input_tokens", 1503);
    bt_span_set_int(s, "gen_ai.usage.output_tokens", 412);
    const char *reasons[] = {"end_turn"};
    bt_span_set_string_array(s, "gen_ai.response.finish_reasons", reasons, 1);
    bt_span_set_status(s, BT_STATUS_OK, NULL);
    bt_span_end(s, 0);
}

typedef struct result {
    double secs;
    uint64_t delivered, dropped;
    bench_sink *sink;
} result;

/* Creates, ends and exports `n` spans through a started tracer, in chunks that fit the
 * queue (flushing after each), so nothing is dropped and the time covers the export. */
static result run(encoding enc, int gzip, int n)
{
    result r = {0};
    bench_sink *b = calloc(1, sizeof *b);
    b->base.vt = &bench_vt;
    b->enc = enc;
    b->gzip = gzip;
    bt__buf_init(&b->body, 0);
    bt__buf_init(&b->gz, 0);
    bt_tracer *t;
    bt_tracer_new(&t);
    bt_tracer_set_service_name(t, "bench");
    bt_tracer_set_batch_options(t, 4096, 5, 512, 30000);
    bt_tracer_add_sink(t, &b->base);
    if (bt_tracer_start(t) != BT_OK) {
        fprintf(stderr, "tracer did not start\n");
        exit(1);
    }
    const int chunk = 2000;
    uint64_t t0 = now_ns();
    for (int done = 0; done < n; done += chunk) {
        for (int i = 0; i < chunk && done + i < n; i++)
            emit_span(t, done + i);
        bt_tracer_flush(t, 60000);
    }
    r.secs = (double)(now_ns() - t0) / 1e9;
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    r.delivered = b->spans;
    r.dropped = st.spans_dropped;
    r.sink = calloc(1, sizeof *r.sink);
    *r.sink = *b; /* keep the counters; the buffers are freed with the tracer */
    r.sink->body.data = r.sink->gz.data = NULL;
    bt_tracer_free(t);
    return r;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    if (n <= 0)
        n = 20000;
    make_payloads();

    /* baseline: copying the same attribute bytes once per span */
    size_t lens[N_STRING_ATTRS], in_lens[POOL], out_lens[POOL];
    for (size_t k = 0; k < N_STRING_ATTRS; k++)
        lens[k] = strlen(string_attrs[k].value);
    for (int p = 0; p < POOL; p++) {
        in_lens[p] = strlen(input_json[p]);
        out_lens[p] = strlen(output_json[p]);
    }
    char *dst = malloc(attr_bytes + 4096);
    uint64_t t0 = now_ns();
    for (int i = 0; i < n; i++) {
        size_t off = 0;
        memcpy(dst, input_json[i % POOL], in_lens[i % POOL]);
        off += in_lens[i % POOL];
        memcpy(dst + off, output_json[i % POOL], out_lens[i % POOL]);
        off += out_lens[i % POOL];
        for (size_t k = 2; k < N_STRING_ATTRS; k++) {
            memcpy(dst + off, string_attrs[k].value, lens[k]);
            off += lens[k];
        }
        __asm__ volatile("" : : "r"(dst) : "memory"); /* keep the copies */
    }
    double base_secs = (double)(now_ns() - t0) / 1e9;
    free(dst);
    double base_rate = n / base_secs;

    printf("OTLP export benchmark: %d spans, %zu attribute bytes per span\n", n, attr_bytes);
    printf("%-38s %12.0f spans/s   (%.1f MB/s)\n", "baseline: memcpy of the attribute bytes", base_rate,
           base_rate * (double)attr_bytes / 1e6);

    /* warm-up (page faults, allocator arenas), not reported */
    result warm = run(ENC_PROTO, 0, n / 10 > 0 ? n / 10 : 1);
    free(warm.sink);

    result none = run(ENC_NONE, 0, n);
    result proto = run(ENC_PROTO, 0, n);
    result json = run(ENC_JSON, 0, n);
    result proto_gz = run(ENC_PROTO, 1, n);

    struct {
        const char *label;
        result *r;
    } rows[] = {
        {"create+end (no encoding)", &none},
        {"create+end+encode protobuf", &proto},
        {"create+end+encode JSON", &json},
        {"create+end+encode protobuf+gzip", &proto_gz},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        result *r = rows[i].r;
        double rate = (double)r->delivered / r->secs;
        printf("%-38s %12.0f spans/s   %6.1fx slower than baseline   delivered %llu, dropped %llu\n",
               rows[i].label, rate, base_rate / rate, (unsigned long long)r->delivered,
               (unsigned long long)r->dropped);
    }
    printf("\nencoders alone (time inside the sink):\n");
    struct {
        const char *label;
        result *r;
    } enc[] = {{"protobuf", &proto}, {"JSON", &json}};
    for (size_t i = 0; i < 2; i++) {
        bench_sink *b = enc[i].r->sink;
        double rate = (double)b->spans / ((double)b->encode_ns / 1e9);
        printf(
            "  %-9s %12.0f spans/s   %6.1fx slower than baseline   %7.0f bytes/span (%.2fx attribute bytes)\n",
            enc[i].label, rate, base_rate / rate, (double)b->bytes / (double)b->spans,
            (double)b->bytes / (double)b->spans / (double)attr_bytes);
    }
    printf("  protobuf+gzip: %7.0f bytes/span on the wire\n",
           (double)proto_gz.sink->gz_bytes / (double)proto_gz.sink->spans);
    free(none.sink);
    free(proto.sink);
    free(json.sink);
    free(proto_gz.sink);
    return 0;
}
