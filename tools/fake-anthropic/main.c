/*
 * fake-anthropic: command line, signals and the event loop. See --help.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "fake.h"

fake_config fake_cfg;

static const char usage[] =
    "usage: fake-anthropic [options]\n"
    "\n"
    "A deterministic stand-in for api.anthropic.com over plain HTTP, for tests, benchmarks\n"
    "and offline demos. Point a client at it with ANTHROPIC_BASE_URL=http://HOST:PORT.\n"
    "\n"
    "options:\n"
    "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8788). Port 0 picks a\n"
    "                       free port; the actual address is printed on stdout as\n"
    "                       \"listening on http://HOST:PORT\".\n"
    "  --pace-ms N          delay between streamed SSE events (default 5)\n"
    "  --batch-polls N      a batch ends after N retrieves (default 2) ...\n"
    "  --batch-seconds N    ... or N seconds after creation, whichever first (default 10)\n"
    "  --no-gzip            never compress, even when the client sends accept-encoding: gzip\n"
    "  --max-body BYTES     largest request body accepted; larger ones get 413\n"
    "                       (default 67108864; /v1/messages and count_tokens also stop at\n"
    "                       32 MB like the real API)\n"
    "  --max-batch-body BYTES  the same for batch create (default 268435456, the real\n"
    "                       limit); that body is parsed as it arrives, one request at a\n"
    "                       time, and never held whole\n"
    "  --replay PATH        serve recorded bodies for POST /v1/messages instead of generated\n"
    "                       replies. PATH is a file, or a directory whose files (sorted by\n"
    "                       name, dot-files skipped) are served one per request in turn,\n"
    "                       wrapping around. A body starting with \"event:\", \"data:\" or \":\"\n"
    "                       is streamed as SSE, one paced event at a time; anything else is\n"
    "                       served as JSON. Recorded cassettes contribute each of their\n"
    "                       POST /v1/messages responses in recorded order, with the recorded\n"
    "                       status, content-type and body: braintrust-js *.json cassettes and\n"
    "                       go-vcr / vcrpy / pydantic-ai *.yaml cassettes (a body recorded\n"
    "                       gzip-compressed is decompressed and served as identity; the\n"
    "                       server compresses again when the client asks). Authentication\n"
    "                       and error scenarios still apply.\n"
    "  --help               this text\n"
    "\n"
    "endpoints: POST /v1/messages, POST /v1/messages/count_tokens, the batch API under\n"
    "/v1/messages/batches (create, retrieve, list, cancel, delete, results), and Managed\n"
    "Agents sessions under /v1/sessions (create, retrieve, send events, list and stream\n"
    "events: each user message gets one deterministic agent turn, reported as the real\n"
    "event sequence; a stream replays the events so far and ends); ?beta=true is\n"
    "accepted everywhere. GET /healthz answers {\"status\":\"ok\"}.\n"
    "\n"
    "behaviour:\n"
    "  Requests need x-api-key (any non-empty value; \"bad-key\" gets 401) and\n"
    "  anthropic-version. Replies echo the last user turn; tools offered => a tool_use\n"
    "  block with input built from the tool's input_schema; thinking enabled => a\n"
    "  thinking block; cache_control present => cache write on first sight of a prompt\n"
    "  prefix, cache read afterwards. Every response carries request-id: req_fake_<n>.\n"
    "  Scripted tool calls: lines \"fake-anthropic: call NAME {json input}\" in the user\n"
    "  turns' text make the n-th reply of the conversation call the n-th scripted tool\n"
    "  (client tools as tool_use; web_search, web_fetch and code_execution run inside\n"
    "  the turn as server tools), then reply with text: how an agent such as Claude Code\n"
    "  is driven through a deterministic multi-turn run. Also accepted as today's\n"
    "  clients send them: \"system\" turns inside messages (with the per-turn control\n"
    "  beta), context_management, container, defer_loading tools (never called or\n"
    "  counted), server tool blocks echoed back in assistant turns.\n"
    "\n"
    "error scenarios (header \"x-fake-scenario: S\" or model \"fake-error-S\"):\n"
    "  400 401 403 404 413 429 500 529  that HTTP error with the real error body\n"
    "                                   (429 adds retry-after: 1)\n"
    "  stream-error                     streams start, then event: error (overloaded_error)\n"
    "                                   and no message_stop; non-streaming requests get 529\n"
    "  stream-close                     the connection closes mid-stream (or, for a\n"
    "                                   non-streaming request, before any response)\n"
    "\n"
    "batches: results are generated from the created requests. custom_ids starting with\n"
    "\"errored\", \"canceled\" or \"expired\" get that result; invalid params or a\n"
    "\"fake-error-S\" model give errored; everything else succeeds (usage.service_tier\n"
    "\"batch\"). Canceling marks the requests not yet reached as canceled. results_url is\n"
    "absolute, built from the request's Host header.\n";

static uv_signal_t g_sigterm, g_sigint;

static void on_signal(uv_signal_t *s, int signum)
{
    (void)s;
    fprintf(stderr, "fake-anthropic: signal %d, shutting down\n", signum);
    fake_server_stop();
    uv_close((uv_handle_t *)&g_sigterm, NULL);
    uv_close((uv_handle_t *)&g_sigint, NULL);
}

static int parse_int(const char *flag, const char *v, long min, long max, long *out)
{
    char *end;
    long n = v ? strtol(v, &end, 10) : 0;
    if (!v || *end || n < min || n > max) {
        fprintf(stderr, "fake-anthropic: %s needs a number between %ld and %ld\n", flag, min, max);
        return -1;
    }
    *out = n;
    return 0;
}

static int parse_listen(const char *v)
{
    const char *colon = v ? strrchr(v, ':') : NULL;
    long port;
    if (!colon || colon == v || (size_t)(colon - v) >= sizeof fake_cfg.host ||
        parse_int("--listen port", colon + 1, 0, 65535, &port) != 0) {
        fprintf(stderr, "fake-anthropic: --listen needs HOST:PORT\n");
        return -1;
    }
    memcpy(fake_cfg.host, v, (size_t)(colon - v));
    fake_cfg.host[colon - v] = '\0';
    if (strcmp(fake_cfg.host, "localhost") == 0)
        snprintf(fake_cfg.host, sizeof fake_cfg.host, "127.0.0.1");
    fake_cfg.port = (int)port;
    return 0;
}

int main(int argc, char **argv)
{
    snprintf(fake_cfg.host, sizeof fake_cfg.host, "127.0.0.1");
    fake_cfg.port = 8788;
    fake_cfg.pace_ms = 5;
    fake_cfg.batch_polls = 2;
    fake_cfg.batch_seconds = 10;
    fake_cfg.gzip = 1;
    fake_cfg.max_body = 64u * 1024 * 1024;
    fake_cfg.max_batch_body = 256u * 1024 * 1024;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long n;
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return 0;
        } else if (strcmp(a, "--listen") == 0) {
            if (parse_listen(v) != 0)
                return 2;
            i++;
        } else if (strcmp(a, "--pace-ms") == 0) {
            if (parse_int(a, v, 0, 60000, &n) != 0)
                return 2;
            fake_cfg.pace_ms = (int)n;
            i++;
        } else if (strcmp(a, "--batch-polls") == 0) {
            if (parse_int(a, v, 0, 1000000, &n) != 0)
                return 2;
            fake_cfg.batch_polls = (int)n;
            i++;
        } else if (strcmp(a, "--batch-seconds") == 0) {
            if (parse_int(a, v, 0, 86400, &n) != 0)
                return 2;
            fake_cfg.batch_seconds = (int)n;
            i++;
        } else if (strcmp(a, "--max-body") == 0) {
            if (parse_int(a, v, 1024, 1L << 30, &n) != 0)
                return 2;
            fake_cfg.max_body = (size_t)n;
            i++;
        } else if (strcmp(a, "--max-batch-body") == 0) {
            if (parse_int(a, v, 1024, 1L << 32, &n) != 0)
                return 2;
            fake_cfg.max_batch_body = (size_t)n;
            i++;
        } else if (strcmp(a, "--no-gzip") == 0) {
            fake_cfg.gzip = 0;
        } else if (strcmp(a, "--replay") == 0) {
            if (!v) {
                fprintf(stderr, "fake-anthropic: --replay needs a path\n");
                return 2;
            }
            fake_cfg.replay = v;
            i++;
        } else {
            fprintf(stderr, "fake-anthropic: unknown option %s (see --help)\n", a);
            return 2;
        }
    }
    if (fake_cfg.replay && fake_replay_init(fake_cfg.replay) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);

    uv_loop_t *loop = uv_default_loop();
    int port;
    if (fake_server_start(loop, &port) != 0) {
        fake_replay_free();
        return 1;
    }
    fake_cfg.port = port;
    uv_signal_init(loop, &g_sigterm);
    uv_signal_init(loop, &g_sigint);
    uv_signal_start(&g_sigterm, on_signal, SIGTERM);
    uv_signal_start(&g_sigint, on_signal, SIGINT);
    printf("listening on http://%s:%d\n", fake_cfg.host, port);
    fflush(stdout);

    uv_run(loop, UV_RUN_DEFAULT);
    uv_loop_close(loop);
    fake_batches_free_all();
    fake_sessions_free_all();
    fake_replay_free();
    return 0;
}
