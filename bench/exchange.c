/*
 * Tracer CPU per Messages call, per call shape, in the same run against:
 *   - a parse-only baseline: jansson parsing the request and the response (each event
 *     of a stream), the least any tracer reading the call must do;
 *   - Braintrust's own JS tracer: @anthropic-ai/sdk wrapped with braintrust's
 *     wrapAnthropic (bench/node, pinned in its package-lock.json), on the same bytes
 *     from a mock fetch, spans to braintrust's in-memory test logger; its overhead is
 *     wrapped minus plain.
 * The C side goes through the public API (bt_exchange_*), spans encoded as OTLP JSON
 * lines to /dev/null by the export thread; CPU is the whole process's
 * (CLOCK_PROCESS_CPUTIME_ID), so the export thread is included. Each figure is the
 * median of interleaved rounds (C, baseline, JS, C, ...), because the machine is shared.
 *
 * Shapes: a small create (113-byte request, ~350-byte reply); a Claude-Code-sized
 * create (40 KB request: system blocks, 10 tools, 20 messages; ~4 KB reply); a stream
 * of 500 SSE events (~70 KB). Then the heap held per in-flight stream.
 *
 *   bench_exchange [rounds]            (BT_BENCH_NODE_DIR: bench/node by default;
 *                                       BT_BENCH_NO_JS=1 skips the JS side)
 *   bench_exchange --profile SHAPE N   (C only, for perf/callgrind)
 */
#include <errno.h>
#include <malloc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "braintrust/braintrust.h"

#define IN_FLIGHT 200
#define ROUNDS_DEFAULT 5

static double cpu_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* --- the call shapes ---------------------------------------------------------------- */

typedef struct shape {
    const char *name, *label;
    char *request, *response;
    size_t request_len, response_len;
    int stream;
    int c_iters, js_iters;
} shape;

static char *dump(json_t *v, size_t *len)
{
    char *s = json_dumps(v, JSON_COMPACT);
    json_decref(v);
    *len = strlen(s);
    return s;
}

/* Deterministic filler text shaped like what agents send: English prose and code, a
 * newline every dozen words or so, quoted names and paths, an indented line now and
 * then, a rare non-ASCII character. */
static char *filler(unsigned seed, size_t n)
{
    static const char *const words[] = {
        "the",    "function", "returns", "a",       "value",  "when",   "called", "with", "file",   "this",
        "error",  "test",     "if",      "we",      "should", "update", "config", "and",  "then",   "run",
        "build",  "it",       "fails",   "because", "of",     "path",   "line",   "code", "change", "to",
        "return", "x",        "=",       "y",       "+",      "1;",     "{",      "}",    "(),",    "in"};
    char *s = malloc(n + 32);
    size_t o = 0;
    while (o + 24 < n) {
        seed = seed * 1103515245u + 12345u;
        unsigned r = seed >> 8;
        const char *w = words[r % (sizeof words / sizeof *words)];
        if (r % 97 == 3)
            w = "\"src/util/buf.c\"";
        else if (r % 53 == 7)
            w = "\"value\"";
        else if (r % 211 == 11)
            w = "caf\xc3\xa9";
        else if (r % 307 == 5)
            w = "\xe2\x80\x94";
        size_t k = strlen(w);
        memcpy(s + o, w, k);
        o += k;
        s[o++] = r % 13 == 0 ? '\n' : ' ';
        if (r % 41 == 0) {
            memcpy(s + o, "    ", 4); /* indentation */
            o += 4;
        }
    }
    s[o] = '\0';
    return s;
}

static void make_small(shape *s)
{
    /* 113 bytes, as the issue measured */
    s->request = strdup(
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":256,\"messages\":[{\"role\":\"user\",\"content\":"
        "\"Say the capital of France.\"}]}");
    s->request_len = strlen(s->request);
    json_t *m = json_pack("{s:s,s:s,s:s,s:s,s:[{s:s,s:s}],s:s,s:n,s:{s:i,s:i,s:i,s:i,s:s}}", "id",
                          "msg_01XFDUDYJgAACzvnptvVoYEL", "type", "message", "role", "assistant", "model",
                          "claude-haiku-4-5-20251001", "content", "type", "text", "text",
                          "The capital of France is Paris. It has been the capital since the 10th century.",
                          "stop_reason", "end_turn", "stop_sequence", "usage", "input_tokens", 14,
                          "cache_creation_input_tokens", 0, "cache_read_input_tokens", 0, "output_tokens", 22,
                          "service_tier", "standard");
    s->response = dump(m, &s->response_len);
}

static json_t *tool(int i)
{
    char name[32], desc[64];
    snprintf(name, sizeof name, "tool_%d", i);
    snprintf(desc, sizeof desc, "Tool number %d: does one thing well.", i);
    char *long_desc = filler(100u + (unsigned)i, 600);
    json_t *t = json_pack("{s:s,s:s,s:{s:s,s:{s:{s:s,s:s},s:{s:s,s:s},s:{s:s,s:[s,s,s]}},s:[s]}}", "name",
                          name, "description", long_desc, "input_schema", "type", "object", "properties",
                          "path", "type", "string", "description", desc, "limit", "type", "integer",
                          "description", "How many lines to read", "mode", "type", "string", "enum", "fast",
                          "careful", "auto", "required", "path");
    free(long_desc);
    return t;
}

static void make_claude_code(shape *s)
{
    json_t *system = json_array();
    for (int i = 0; i < 3; i++) {
        char *text = filler(7u + (unsigned)i, i == 0 ? 5000 : 1500);
        json_t *block = json_pack("{s:s,s:s}", "type", "text", "text", text);
        if (i == 2)
            json_object_set_new(block, "cache_control", json_pack("{s:s}", "type", "ephemeral"));
        json_array_append_new(system, block);
        free(text);
    }
    json_t *tools = json_array();
    for (int i = 0; i < 10; i++)
        json_array_append_new(tools, tool(i));
    json_t *messages = json_array();
    for (int i = 0; i < 20; i++) {
        char *text = filler(1000u + (unsigned)i, 1050);
        if (i % 2 == 0) {
            json_array_append_new(
                messages,
                json_pack("{s:s,s:[{s:s,s:s}]}", "role", "user", "content", "type", "text", "text", text));
        } else {
            char id[32];
            snprintf(id, sizeof id, "toolu_%02d", i);
            json_array_append_new(messages,
                                  json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s,s:s,s:{s:s,s:i}}]}", "role",
                                            "assistant", "content", "type", "text", "text", text, "type",
                                            "tool_use", "id", id, "name", "tool_1", "input", "path",
                                            "src/main.c", "limit", 200));
        }
        free(text);
    }
    json_t *req = json_pack("{s:s,s:i,s:o,s:o,s:o,s:{s:s},s:b}", "model", "claude-sonnet-4-5", "max_tokens",
                            8192, "system", system, "tools", tools, "messages", messages, "metadata",
                            "user_id", "user_abc123_account_def456_session_789", "stream", 0);
    json_object_set_new(req, "temperature", json_real(1.0));
    s->request = dump(req, &s->request_len);

    char *answer = filler(42, 3300);
    json_t *resp = json_pack(
        "{s:s,s:s,s:s,s:s,s:[{s:s,s:s},{s:s,s:s,s:s,s:{s:s,s:i}}],s:s,s:n,s:{s:i,s:i,s:i,s:i,s:s}}", "id",
        "msg_01CC", "type", "message", "role", "assistant", "model", "claude-sonnet-4-5-20250929", "content",
        "type", "text", "text", answer, "type", "tool_use", "id", "toolu_final", "name", "tool_3", "input",
        "path", "src/util/buf.c", "limit", 50, "stop_reason", "tool_use", "stop_sequence", "usage",
        "input_tokens", 12, "cache_creation_input_tokens", 1200, "cache_read_input_tokens", 9800,
        "output_tokens", 820, "service_tier", "standard");
    free(answer);
    s->response = dump(resp, &s->response_len);
}

static void make_stream(shape *s, int events)
{
    json_t *req = json_pack("{s:s,s:i,s:b,s:s,s:[{s:s,s:s}]}", "model", "claude-sonnet-4-5", "max_tokens",
                            1024, "stream", 1, "system", "You are terse.", "messages", "role", "user",
                            "content", "Write a short poem about the sea, then explain it.");
    s->request = dump(req, &s->request_len);
    size_t cap = 1 << 20, n = 0;
    char *b = malloc(cap);
    n += (size_t)snprintf(
        b + n, cap - n,
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01Stream\","
        "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[],"
        "\"stop_reason\":null,\"stop_sequence\":null,\"usage\":{\"input_tokens\":30,\"cache_creation_input_tokens\":0,"
        "\"cache_read_input_tokens\":0,\"output_tokens\":1,\"service_tier\":\"standard\"}}}\n\n"
        "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
        "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    for (int i = 0; i < events - 5; i++) {
        if (i % 100 == 50) {
            n += (size_t)snprintf(b + n, cap - n, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
            continue;
        }
        n += (size_t)snprintf(
            b + n, cap - n,
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
            "\"delta\":{\"type\":\"text_delta\",\"text\":\"token %d of the answer, \\\"said\\\"\\n\"}}\n\n",
            i);
    }
    n +=
        (size_t)snprintf(b + n, cap - n,
                         "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
                         "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
                         "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":%d}}\n\n"
                         "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
                         events * 4);
    s->response = b;
    s->response_len = n;
    s->stream = 1;
}

/* --- the C tracer ------------------------------------------------------------------- */

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

static bt_exchange *begin(bt_anthropic *a, const shape *s)
{
    /* what an SDK sends (a proxy hands the library every header it got) */
    char length[24];
    int n = snprintf(length, sizeof length, "%zu", s->request_len);
    const bt_header request_headers[] = {{"anthropic-version", 17, "2023-06-01", 10},
                                         {"content-type", 12, "application/json", 16},
                                         {"content-length", 14, length, (size_t)n},
                                         {"host", 4, "api.anthropic.com", 17}};
    bt_exchange *ex = NULL;
    bt_exchange_begin(a, "POST", "/v1/messages", request_headers, 4, NULL, &ex);
    bt_exchange_request_body(ex, s->request, s->request_len);
    bt_exchange_response_headers(ex, 200, s->stream ? sse_headers : json_headers, 2);
    return ex;
}

/* CPU per exchange, the export of its span included. */
static double c_traced(bt_tracer *t, bt_anthropic *a, const shape *s, int iters)
{
    double t0 = cpu_now();
    for (int i = 0; i < iters; i++) {
        bt_exchange *ex = begin(a, s);
        feed(ex, s->response, s->response_len);
        bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
        if (i % 256 == 255)
            bt_tracer_flush(t, 30000); /* keeps the queue short: nothing is dropped */
    }
    bt_tracer_flush(t, 30000);
    return (cpu_now() - t0) / iters;
}

/* Parse-only: jansson reads the request and the response (every event of a stream). */
static double c_parse_only(const shape *s, int iters)
{
    double t0 = cpu_now();
    for (int i = 0; i < iters; i++) {
        json_decref(json_loadb(s->request, s->request_len, 0, NULL));
        if (!s->stream) {
            json_decref(json_loadb(s->response, s->response_len, 0, NULL));
            continue;
        }
        const char *p = s->response, *end = s->response + s->response_len;
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

/* --- the JS tracer (a node child process) --------------------------------------------- */

typedef struct js {
    pid_t pid;
    FILE *to, *from;
} js;

static int js_start(js *j, const char *node_dir, const char *shapes_dir)
{
    memset(j, 0, sizeof *j);
    char script[4096], modules[4096];
    snprintf(script, sizeof script, "%s/js_tracer.mjs", node_dir);
    snprintf(modules, sizeof modules, "%s/node_modules/braintrust", node_dir);
    struct stat st;
    if (stat(script, &st) != 0 || stat(modules, &st) != 0) {
        printf("JS tracer: not measured (%s or its node_modules missing: scripts/bench installs them)\n",
               script);
        return -1;
    }
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    j->pid = fork();
    if (j->pid < 0)
        return -1;
    if (j->pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execlp("node", "node", script, shapes_dir, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    j->to = fdopen(in[1], "w");
    j->from = fdopen(out[0], "r");
    return 0;
}

/* One interleaved round of the JS side: CPU us per call, plain and wrapped. */
static int js_round(js *j, const shape *s, double *plain, double *wrapped)
{
    if (!j->to)
        return -1;
    fprintf(j->to, "run %s %d\n", s->name, s->js_iters);
    fflush(j->to);
    char line[512];
    if (!fgets(line, sizeof line, j->from) || sscanf(line, "%lf %lf", plain, wrapped) != 2) {
        printf("JS tracer: %s", line[0] ? line : "no answer\n");
        return -1;
    }
    return 0;
}

static void js_stop(js *j)
{
    if (!j->to)
        return;
    fprintf(j->to, "quit\n");
    fclose(j->to);
    fclose(j->from);
    waitpid(j->pid, NULL, 0);
}

static int write_file(const char *dir, const char *name, const char *ext, const char *data, size_t len)
{
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.%s", dir, name, ext);
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    int ok = fwrite(data, 1, len, f) == len;
    return fclose(f) == 0 && ok ? 0 : -1;
}

/* --- reporting ------------------------------------------------------------------------ */

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static bt_tracer *start_tracer(bt_anthropic **a)
{
    bt_tracer *t;
    bt_sink *sink;
    bt_tracer_new(&t);
    if (bt_sink_jsonl_new("/dev/null", &sink) != BT_OK || bt_tracer_add_sink(t, sink) != BT_OK) {
        fprintf(stderr, "cannot open the /dev/null sink\n");
        exit(1);
    }
    bt_tracer_set_batch_options(t, 8192, 50, 512, 30000);
    if (bt_tracer_start(t) != BT_OK || bt_anthropic_new(t, a) != BT_OK) {
        fprintf(stderr, "tracer setup failed\n");
        exit(1);
    }
    return t;
}

int main(int argc, char **argv)
{
    shape shapes[3] = {
        {.name = "small", .label = "small create", .c_iters = 20000, .js_iters = 2000},
        {.name = "claude_code", .label = "Claude-Code-sized create", .c_iters = 2000, .js_iters = 300},
        {.name = "stream", .label = "stream, 500 events", .c_iters = 2000, .js_iters = 300},
    };
    make_small(&shapes[0]);
    make_claude_code(&shapes[1]);
    make_stream(&shapes[2], 500);
    bt_anthropic *a;
    bt_tracer *t = start_tracer(&a);

    if (argc > 3 && !strcmp(argv[1], "--profile")) {
        for (int i = 0; i < 3; i++)
            if (!strcmp(argv[2], shapes[i].name))
                printf("%s: %.1f us/exchange\n", shapes[i].label,
                       c_traced(t, a, &shapes[i], atoi(argv[3])) * 1e6);
        bt_anthropic_free(a);
        bt_tracer_free(t);
        return 0;
    }
    int rounds = argc > 1 ? atoi(argv[1]) : ROUNDS_DEFAULT;
    if (rounds < 1)
        rounds = 1;

    char shapes_dir[] = "/tmp/bt-bench-shapes-XXXXXX";
    js j = {0};
    int have_js = 0;
    const char *no_js = getenv("BT_BENCH_NO_JS");
    if (!(no_js && *no_js && strcmp(no_js, "0")) && mkdtemp(shapes_dir)) {
        int ok = 1;
        for (int i = 0; i < 3; i++)
            ok &= write_file(shapes_dir, shapes[i].name, "request", shapes[i].request,
                             shapes[i].request_len) == 0 &&
                write_file(shapes_dir, shapes[i].name, "response", shapes[i].response,
                           shapes[i].response_len) == 0;
        const char *node_dir = getenv("BT_BENCH_NODE_DIR");
        have_js = ok && js_start(&j, node_dir && *node_dir ? node_dir : "bench/node", shapes_dir) == 0;
    }

    printf("Tracer CPU per call: median of %d interleaved rounds (us of CPU per exchange; the C export "
           "thread included)\n",
           rounds);
    printf("%-26s %15s %9s %10s %8s %11s %11s %8s\n", "call shape", "request/reply", "C traced", "parse-only",
           "C/parse", "JS overhead", "(JS plain)", "JS / C");
    int all_met = have_js;
    char spread[3][160];
    for (int i = 0; i < 3; i++) {
        shape *s = &shapes[i];
        double c[64], p[64], jo[64], jp[64], ratio[64];
        int n = 0, nj = 0;
        spread[i][0] = '\0';
        c_traced(t, a, s, s->c_iters / 4); /* warm-up */
        for (int r = 0; r < rounds && r < 64; r++, n++) {
            c[n] = c_traced(t, a, s, s->c_iters) * 1e6;
            p[n] = c_parse_only(s, s->c_iters) * 1e6;
            double plain, wrapped;
            if (have_js && js_round(&j, s, &plain, &wrapped) == 0) {
                jo[nj] = wrapped - plain;
                jp[nj] = plain;
                ratio[nj] = jo[nj] / c[n];
                nj++;
            }
        }
        /* the spread, before median() sorts the rounds */
        double cmin = c[0], cmax = c[0];
        for (int r = 1; r < n; r++)
            cmin = c[r] < cmin ? c[r] : cmin, cmax = c[r] > cmax ? c[r] : cmax;
        int at = snprintf(spread[i], sizeof spread[i], "%-26s C %.1f-%.1f us", s->label, cmin, cmax);
        if (nj) {
            double omin = jo[0], omax = jo[0], rmin = ratio[0], rmax = ratio[0];
            for (int r = 1; r < nj; r++) {
                omin = jo[r] < omin ? jo[r] : omin, omax = jo[r] > omax ? jo[r] : omax;
                rmin = ratio[r] < rmin ? ratio[r] : rmin, rmax = ratio[r] > rmax ? ratio[r] : rmax;
            }
            snprintf(spread[i] + at, sizeof spread[i] - (size_t)at,
                     ", JS overhead %.1f-%.1f us, JS / C of each round %.1fx-%.1fx", omin, omax, rmin, rmax);
        }
        double cm = median(c, n), pm = median(p, n);
        char sizes[32];
        snprintf(sizes, sizeof sizes, "%zu/%zu B", s->request_len, s->response_len);
        printf("%-26s %15s %9.1f %10.1f %7.2fx", s->label, sizes, cm, pm, cm / pm);
        if (nj) {
            double om = median(jo, nj), jpm = median(jp, nj);
            printf(" %11.1f %11.1f %7.1fx\n", om, jpm, om / cm);
            all_met &= om / cm >= 10;
        } else {
            printf(" %11s %11s %8s\n", "-", "-", "-");
            all_met = 0;
        }
    }
    printf("spread over the rounds (lowest-highest):\n");
    for (int i = 0; i < 3; i++)
        printf("  %s\n", spread[i]);
    if (have_js)
        printf("goal, at least 10x less CPU than the JS tracer's overhead on every shape: %s\n",
               all_met ? "met" : "NOT met");
    js_stop(&j);
    for (int i = 0; i < 3; i++) {
        char path[4200];
        snprintf(path, sizeof path, "%s/%s.request", shapes_dir, shapes[i].name);
        unlink(path);
        snprintf(path, sizeof path, "%s/%s.response", shapes_dir, shapes[i].name);
        unlink(path);
    }
    rmdir(shapes_dir);

    /* heap held by in-flight exchanges, half-way through their streams */
    shape *st = &shapes[2];
    bt_exchange *open[IN_FLIGHT];
    struct mallinfo2 m0 = mallinfo2();
    for (int i = 0; i < IN_FLIGHT; i++) {
        open[i] = begin(a, st);
        feed(open[i], st->response, st->response_len / 2);
    }
    struct mallinfo2 m1 = mallinfo2();
    for (int i = 0; i < IN_FLIGHT; i++)
        bt_exchange_end(open[i], BT_EXCHANGE_CLIENT_CANCELLED, NULL);
    long delta = (long)m1.uordblks - (long)m0.uordblks;
    if (delta <= 0)
        printf("memory per in-flight stream: not measurable here (mallinfo2 unsupported, e.g. under ASan)\n");
    else
        printf(
            "memory per in-flight stream (half-way through %zu bytes): %ld bytes (%.2fx the bytes seen so far)\n",
            st->response_len, delta / IN_FLIGHT, (double)delta / IN_FLIGHT / (double)(st->response_len / 2));

    /* what a bt_anthropic costs before it sees any call: heap held, and CPU for a new
     * and a free (a tracer per test or per short-lived process makes many) */
    {
        struct mallinfo2 h0 = mallinfo2();
        bt_anthropic *fresh = NULL;
        bt_anthropic_new(t, &fresh);
        struct mallinfo2 h1 = mallinfo2();
        bt_anthropic_free(fresh);
        long held = (long)(h1.uordblks + h1.hblkhd) - (long)(h0.uordblks + h0.hblkhd);
        enum { NEW_FREE = 200 };
        double t0 = cpu_now();
        for (int i = 0; i < NEW_FREE; i++) {
            bt_anthropic_new(t, &fresh);
            bt_anthropic_free(fresh);
        }
        double per = (cpu_now() - t0) / NEW_FREE * 1e6;
        if (held <= 0)
            printf("a bt_anthropic (new, then free): heap not measurable here; %.1f us of CPU\n", per);
        else
            printf("a bt_anthropic (new, then free): %ld bytes of heap held; %.1f us of CPU\n", held, per);
    }

    bt_tracer_flush(t, 30000);
    bt_tracer_stats stats;
    bt_tracer_get_stats(t, &stats);
    printf("spans exported %llu, dropped %llu\n", (unsigned long long)stats.spans_exported,
           (unsigned long long)stats.spans_dropped);
    for (int i = 0; i < 3; i++) {
        free(shapes[i].request);
        free(shapes[i].response);
    }
    bt_anthropic_free(a);
    bt_tracer_free(t);
    return 0;
}
