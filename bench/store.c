/*
 * Span store cost: spans/s written to the SQLite store (one transaction per batch,
 * upsert, extracted columns), the same store as a spool shipping to a sink (stored
 * lines decoded back into spans), re-export of identical spans (upserts that change
 * nothing), and, as the baseline measured in the same run, the JSONL file sink writing
 * the same spans.
 *
 *   bench_store [spans]     (default 20000)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "braintrust/braintrust.h"
#include "core/sink_internal.h"
#include "export/store.h"

#define BATCH 512

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* A typical llm span line (about 2.5 KB of braintrust.* JSON); its ids are varied. */
static char *template_line(void)
{
    static const char conversation[] =
        "[{\\\"role\\\":\\\"user\\\",\\\"content\\\":\\\"Summarise the following text in three bullet points. "
        "The quick brown fox jumps over the lazy dog. Pack my box with five dozen liquor jugs. How vexingly "
        "quick daft zebras jump. The five boxing wizards jump quickly. Sphinx of black quartz, judge my vow."
        "\\\"},{\\\"role\\\":\\\"system\\\",\\\"content\\\":\\\"You are a careful summariser.\\\"}]";
    static const char output[] =
        "{\\\"role\\\":\\\"assistant\\\",\\\"content\\\":[{\\\"type\\\":\\\"text\\\",\\\"text\\\":\\\"- A fox "
        "jumps over a dog.\\\\n- Boxes are packed with jugs.\\\\n- Zebras and wizards jump quickly.\\\"}]}";
    char *line = malloc(16384);
    snprintf(
        line, 16384,
        "{\"traceId\":\"0102030405060708090a0b0c0d0e0f10\",\"spanId\":\"a1a2a3a4a5a6a7a8\","
        "\"parentSpanId\":\"\",\"name\":\"anthropic.messages.create\",\"kind\":3,"
        "\"startTimeUnixNano\":\"1700000000000000000\",\"endTimeUnixNano\":\"1700000001500000000\","
        "\"attributes\":["
        "{\"key\":\"braintrust.input_json\",\"value\":{\"stringValue\":\"%s%s%s\"}},"
        "{\"key\":\"braintrust.output_json\",\"value\":{\"stringValue\":\"%s\"}},"
        "{\"key\":\"braintrust.metadata\",\"value\":{\"stringValue\":\"{\\\"provider\\\":\\\"anthropic\\\","
        "\\\"model\\\":\\\"claude-haiku-4-5-20251001\\\",\\\"max_tokens\\\":1024,\\\"stop_reason\\\":\\\"end_turn\\\"}\"}},"
        "{\"key\":\"braintrust.metrics\",\"value\":{\"stringValue\":\"{\\\"prompt_tokens\\\":412,"
        "\\\"completion_tokens\\\":58,\\\"tokens\\\":470,\\\"prompt_cached_tokens\\\":0,"
        "\\\"time_to_first_token\\\":0.412}\"}},"
        "{\"key\":\"braintrust.span_attributes\",\"value\":{\"stringValue\":\"{\\\"type\\\":\\\"llm\\\"}\"}},"
        "{\"key\":\"gen_ai.system\",\"value\":{\"stringValue\":\"anthropic\"}},"
        "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"412\"}}],"
        "\"events\":[],\"links\":[],\"status\":{\"code\":1},"
        "\"resource\":{\"attributes\":[{\"key\":\"service.name\",\"value\":{\"stringValue\":\"bench\"}}]}}",
        conversation, conversation, conversation, output);
    return line;
}

typedef struct spans {
    bt__stored_span *items;
    bt_span **ptrs;
    size_t n;
    size_t line_bytes;
} spans;

static void make_spans(spans *s, size_t n)
{
    char *line = template_line();
    s->items = calloc(n, sizeof *s->items);
    s->ptrs = calloc(n, sizeof *s->ptrs);
    s->n = n;
    s->line_bytes = strlen(line);
    for (size_t i = 0; i < n; i++) {
        if (bt__stored_span_decode(line, strlen(line), &s->items[i]) != BT_OK) {
            fprintf(stderr, "bench_store: template does not decode\n");
            exit(1);
        }
        bt_span *sp = s->items[i].span;
        memcpy(sp->span_id, &i, sizeof i < 8 ? sizeof i : 8);
        sp->trace_id[0] = (uint8_t)(i / BATCH);
        sp->trace_id[1] = (uint8_t)(i / BATCH >> 8);
        s->ptrs[i] = sp;
    }
    free(line);
}

/* Exports all spans in batches; returns spans/s (0 when an export failed). */
static double run(bt_sink *sink, const spans *s)
{
    uint64_t t0 = now_ns();
    for (size_t i = 0; i < s->n; i += BATCH) {
        size_t k = s->n - i < BATCH ? s->n - i : BATCH;
        if (sink->vt->export_spans(sink, &s->items[i].resource, s->ptrs + i, k) != BT_OK)
            return 0;
    }
    if (sink->vt->flush && sink->vt->flush(sink, 60000) != BT_OK)
        return 0;
    double sec = (double)(now_ns() - t0) / 1e9;
    return (double)s->n / sec;
}

static void remove_db(const char *path)
{
    char extra[600];
    unlink(path);
    snprintf(extra, sizeof extra, "%s-wal", path);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", path);
    unlink(extra);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 20000;
    if (n == 0)
        n = 20000;
    char dir[] = "/tmp/bench_store.XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    char db[300], db2[300], jl[300];
    snprintf(db, sizeof db, "%s/store.db", dir);
    snprintf(db2, sizeof db2, "%s/spool.db", dir);
    snprintf(jl, sizeof jl, "%s/spans.jsonl", dir);
    spans s;
    make_spans(&s, n);

    bt_sink *jsonl = NULL, *store = NULL, *mem = NULL, *spool = NULL;
    if (bt_sink_jsonl_new(jl, &jsonl) != BT_OK || bt_sink_store_new(db, NULL, &store) != BT_OK ||
        bt_sink_memory_new(&mem) != BT_OK || bt_sink_store_new(db2, mem, &spool) != BT_OK) {
        fprintf(stderr, "bench_store: cannot create the sinks in %s\n", dir);
        return 1;
    }
    double base = run(jsonl, &s);
    double fresh = run(store, &s);
    double again = run(store, &s); /* identical spans: upserts that change nothing */
    double spooled = run(spool, &s);
    printf("spans: %zu, batch %d, llm span line %zu bytes\n", n, BATCH, s.line_bytes);
    printf("baseline jsonl sink:         %10.0f spans/s\n", base);
    printf("store, new spans:            %10.0f spans/s  (%.2fx baseline)\n", fresh,
           base > 0 ? fresh / base : 0);
    printf("store, same spans again:     %10.0f spans/s  (%.2fx baseline)\n", again,
           base > 0 ? again / base : 0);
    printf("store as spool (write+ship): %10.0f spans/s  (%.2fx baseline), shipped %zu\n", spooled,
           base > 0 ? spooled / base : 0, bt_sink_memory_count(mem));
    bt_sink_free(jsonl);
    bt_sink_free(store);
    bt_sink_free(spool);
    for (size_t i = 0; i < n; i++)
        bt__stored_span_free(&s.items[i]);
    free(s.items);
    free(s.ptrs);
    remove_db(db);
    remove_db(db2);
    unlink(jl);
    rmdir(dir);
    return 0;
}
