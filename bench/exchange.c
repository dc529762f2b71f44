/*
 * Cost of tracing one Messages exchange on the caller's side.
 *
 * Prints CPU time per exchange (CLOCK_PROCESS_CPUTIME_ID, so the export thread's work
 * is included) for a non-streaming response and for a 500-event stream, each next to a
 * baseline measured in the same run: a plain jansson parse of the same bytes (what any
 * client must at least do to read the response). Then the heap held per in-flight
 * exchange (mallinfo2 deltas with 200 streams open half-way), against the size of the
 * bytes seen so far. Build without sanitizers for meaningful figures.
 */
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "braintrust/braintrust.h"

#define N_EVENTS 500
#define IN_FLIGHT 200

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static const char request[] =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"system\":\"You are terse.\",\"messages\":["
    "{\"role\":\"user\",\"content\":\"Write a short poem about the sea, then explain it.\"}]}";
static const char stream_request[] =
    "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":1024,\"stream\":true,\"system\":\"You are terse.\","
    "\"messages\":[{\"role\":\"user\",\"content\":\"Write a short poem about the sea, then explain it.\"}]}";

static char *make_message(size_t *len)
{
    json_t *content = json_array();
    char text[4096];
    for (size_t i = 0; i < sizeof text - 1; i++)
        text[i] = "abcdefgh ijklmnop "[i % 18];
    text[sizeof text - 1] = '\0';
    json_array_append_new(content, json_pack("{s:s,s:s}", "type", "text", "text", text));
    json_t *m =
        json_pack("{s:s,s:s,s:s,s:s,s:o,s:s,s:n,s:{s:i,s:i,s:i,s:i}}", "id", "msg_bench", "type", "message",
                  "role", "assistant", "model", "claude-sonnet-4-5-20250929", "content", content,
                  "stop_reason", "end_turn", "stop_sequence", "usage", "input_tokens", 30,
                  "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0, "output_tokens", 900);
    char *s = json_dumps(m, JSON_COMPACT);
    json_decref(m);
    *len = strlen(s);
    return s;
}

static char *make_stream(size_t *len)
{
    size_t cap = 1 << 20, n = 0;
    char *s = malloc(cap);
    n += (size_t)snprintf(
        s + n, cap - n,
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_b\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\","
        "\"content\":[],\"stop_reason\":null,\"usage\":{\"input_tokens\":30,\"output_tokens\":1}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for (int i = 0; i < N_EVENTS - 5; i++)
        n += (size_t)snprintf(
            s + n, cap - n,
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"token %d of the answer \"}}        \n\n",
            i);
    n +=
        (size_t)snprintf(s + n, cap - n,
                         "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                         "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                         "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":495}}\n\n"
                         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
    *len = n;
    return s;
}

static const bt_header json_headers[] = {{"content-type", 12, "application/json", 16},
                                         {"request-id", 10, "req_b", 5}};
static const bt_header sse_headers[] = {{"content-type", 12, "text/event-stream", 17},
                                        {"request-id", 10, "req_b", 5}};

/* Feeds in network-sized pieces (1400-byte segments). */
static void feed(bt_exchange *ex, const char *body, size_t len)
{
    for (size_t i = 0; i < len; i += 1400)
        bt_exchange_response_body(ex, body + i, len - i < 1400 ? len - i : 1400);
}

static bt_exchange *begin(bt_anthropic *a, const char *req, const bt_header *rs)
{
    bt_exchange *ex = NULL;
    bt_exchange_begin(a, "POST", "/v1/messages", NULL, 0, NULL, &ex);
    bt_exchange_request_body(ex, req, strlen(req));
    bt_exchange_response_headers(ex, 200, rs, 2);
    return ex;
}

static double per_exchange(bt_tracer *t, bt_sink *mem, bt_anthropic *a, const char *req, const bt_header *rs,
                           const char *body, size_t len, int iters)
{
    double t0 = cpu_now();
    for (int i = 0; i < iters; i++) {
        bt_exchange *ex = begin(a, req, rs);
        feed(ex, body, len);
        bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
        if (i % 100 == 99) {
            bt_tracer_flush(t, 30000);
            bt_sink_memory_clear(mem);
        }
    }
    bt_tracer_flush(t, 30000);
    bt_sink_memory_clear(mem);
    return (cpu_now() - t0) / iters;
}

static double baseline_parse(const char *body, size_t len, int stream, int iters)
{
    double t0 = cpu_now();
    for (int i = 0; i < iters; i++) {
        if (!stream) {
            json_decref(json_loadb(body, len, 0, NULL));
            continue;
        }
        /* each event's data line parsed once */
        const char *p = body, *end = body + len;
        while (p < end) {
            const char *d = strstr(p, "data: ");
            if (!d || d >= end)
                break;
            const char *nl = memchr(d, '\n', (size_t)(end - d));
            json_decref(json_loadb(d + 6, (size_t)(nl - d - 6), 0, NULL));
            p = nl + 1;
        }
    }
    return (cpu_now() - t0) / iters;
}

int main(void)
{
    bt_tracer *t;
    bt_sink *mem;
    bt_anthropic *a;
    bt_tracer_new(&t);
    bt_sink_memory_new(&mem);
    bt_tracer_add_sink(t, mem);
    bt_tracer_set_batch_options(t, 4096, 50, 512, 30000);
    if (bt_tracer_start(t) != BT_OK || bt_anthropic_new(t, &a) != BT_OK) {
        fprintf(stderr, "tracer setup failed\n");
        return 1;
    }
    size_t msg_len, sse_len;
    char *msg = make_message(&msg_len);
    char *sse = make_stream(&sse_len);

    int iters = 2000;
    double ms = per_exchange(t, mem, a, request, json_headers, msg, msg_len, iters);
    double mb = baseline_parse(msg, msg_len, 0, iters);
    printf(
        "non-streaming (%zu-byte body): %.1f us/exchange traced; baseline jansson parse %.1f us; ratio %.2fx\n",
        msg_len, ms * 1e6, mb * 1e6, ms / mb);

    iters = 300;
    double ss = per_exchange(t, mem, a, stream_request, sse_headers, sse, sse_len, iters);
    double sb = baseline_parse(sse, sse_len, 1, iters);
    printf(
        "stream (%d events, %zu bytes): %.1f us/exchange traced; baseline jansson parse of every event %.1f us; "
        "ratio %.2fx\n",
        N_EVENTS, sse_len, ss * 1e6, sb * 1e6, ss / sb);

    /* heap held by in-flight exchanges, half-way through their streams */
    bt_exchange *open[IN_FLIGHT];
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < IN_FLIGHT; i++) {
        open[i] = begin(a, stream_request, sse_headers);
        feed(open[i], sse, sse_len / 2);
    }
    struct mallinfo2 m1 = mallinfo2();
    for (int i = 0; i < IN_FLIGHT; i++)
        bt_exchange_end(open[i], BT_EXCHANGE_CLIENT_CANCELLED, NULL);
    long delta = (long)m1.uordblks - (long)m0.uordblks;
    if (delta <= 0)
        printf(
            "memory per in-flight exchange: not measurable here (mallinfo2 unsupported, e.g. under ASan)\n");
    else
        printf("memory per in-flight exchange (half-way through a %zu-byte stream): %ld bytes "
               "(%.2fx the %zu stream bytes seen so far)\n",
               sse_len, delta / IN_FLIGHT, (double)delta / IN_FLIGHT / (double)(sse_len / 2), sse_len / 2);

    bt_tracer_flush(t, 30000);
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    printf("spans exported %llu, dropped %llu\n", (unsigned long long)st.spans_exported,
           (unsigned long long)st.spans_dropped);
    free(msg);
    free(sse);
    bt_anthropic_free(a);
    bt_tracer_free(t);
    return 0;
}
