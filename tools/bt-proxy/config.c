/* Command line and environment of bt-proxy. */
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

static void usage(FILE *out)
{
    fputs("usage: bt-proxy [options]\n"
          "\n"
          "A tracing reverse proxy for the Anthropic API. Point a client at it with\n"
          "  ANTHROPIC_BASE_URL=http://127.0.0.1:8787 <your app>\n"
          "Every request is forwarded unchanged to the upstream; Messages, token counting\n"
          "and batch calls become spans.\n"
          "\n"
          "options:\n"
          "  --listen HOST:PORT     address to serve on (default 127.0.0.1:8787; port 0 picks\n"
          "                         a free port). The bound address is printed on stdout as\n"
          "                         \"listening on http://HOST:PORT\".\n"
          "  --upstream URL         the Anthropic API base (default https://api.anthropic.com).\n"
          "                         Fixed: requests for other hosts are refused.\n"
          "  --spans-jsonl PATH     append each finished span to PATH as one OTLP JSON line\n"
          "  --store PATH           SQLite span store (read it with bt-spans). When an OTLP\n"
          "                         endpoint or Braintrust key is configured the store is a\n"
          "                         durable spool in front of it. Also keeps batch inputs\n"
          "                         until their results are read.\n"
          "  --correlation URL      keep batch inputs in PostgreSQL, shared by every replica\n"
          "                         behind a load balancer: postgresql://USER@HOST:PORT/DB\n"
          "                         (also BT_CORRELATION_URL; a password is best given in\n"
          "                         PGPASSWORD or ~/.pgpass). Unreachable: traffic flows,\n"
          "                         batch results are traced without their inputs.\n"
          "  --correlation-wait-ms MS  longest a batch result line may wait for that database\n"
          "                         (default 200); past it the line is traced without its\n"
          "                         input and lookups fail at once until it answers again\n"
          "  --token TOKEN          require clients to send this token, either as the header\n"
          "                         x-bt-proxy-token: TOKEN or as Proxy-Authorization: Bearer\n"
          "                         TOKEN (prefer the BT_PROXY_TOKEN environment variable,\n"
          "                         which keeps the token out of the process list)\n"
          "  --client-idle-timeout SECONDS   close idle keep-alive clients (default 60)\n"
          "  --upstream-idle-timeout SECONDS abort an upstream transfer that sends nothing for\n"
          "                         this long (default 600; streams have no total timeout)\n"
          "  --ca-bundle PATH       CA certificates for the upstream (TLS is always verified)\n"
          "  --max-connections N    client connections served at once (default 10000). At the\n"
          "                         limit the connection idle the longest is closed to make\n"
          "                         room; when none is idle, /healthz, /readyz and /metrics still\n"
          "                         answer and other requests get 503 with a JSON error. Each\n"
          "                         worker serves its share (N / --workers).\n"
          "  --max-upstream-connections N  upstream connections open at once (default 10000).\n"
          "                         Over HTTP/1.1 each request in flight holds one; over HTTP/2\n"
          "                         (preferred when the upstream offers it) one carries up to\n"
          "                         100 streams. A request that would need more gets 503 with\n"
          "                         a JSON error at once: nothing waits in a hidden queue.\n"
          "  --workers N            event loops serving clients, each on its own thread with\n"
          "                         its own connections (default: the number of CPUs)\n"
          "  --trace-backlog MIB    copies of traffic waiting to be traced, all workers\n"
          "                         together (default 256). Tracing runs beside forwarding\n"
          "                         and never holds it back: past this, the rest of a call is\n"
          "                         not traced, its span is marked truncated and /metrics\n"
          "                         counts it (tracing.incomplete).\n"
          "  --min-body-rate BYTES  a request body must arrive at this many bytes/s on average\n"
          "                         over each --min-body-rate-window, else 408 (default 1024;\n"
          "                         0 turns the rule off)\n"
          "  --min-body-rate-window SECONDS  (default 10)\n"
          "  --public-url URL       how clients reach this proxy (e.g. https://llm.example.com),\n"
          "                         for the results_url of batch objects; set it behind a load\n"
          "                         balancer (also BT_PROXY_PUBLIC_URL). Default: the address\n"
          "                         the client connected to.\n"
          "  --shutdown-grace SECONDS  how long in-flight requests may finish after the first\n"
          "                         SIGTERM/SIGINT (default 9, 0 to 13: the proxy exits within\n"
          "                         15 s of the signal, spans flushed)\n"
          "  --drain-delay SECONDS  after the first SIGTERM/SIGINT, keep accepting and serving\n"
          "                         for this long with GET /readyz answering 503, so load\n"
          "                         balancers that poll it stop sending first (default 0,\n"
          "                         0 to 13; counted in the 15 s, the grace period shrinks)\n"
          "  --allow-untraced       start even when the tracing configuration is invalid (a bad\n"
          "                         OTEL_* or BRAINTRUST_* value, an OTLP endpoint that is not a\n"
          "                         URL) and forward requests untraced; without it such a\n"
          "                         configuration stops the proxy at startup with the variable,\n"
          "                         its value and the reason\n"
          "  --session-idle SECONDS emit an agent session's root span once it has been idle\n"
          "                         this long (default 300; 0: as soon as its calls ended)\n"
          "  --help                 this text\n"
          "\n"
          "environment: BRAINTRUST_API_KEY, BRAINTRUST_API_URL, BRAINTRUST_PARENT,\n"
          "OTEL_EXPORTER_OTLP_*, OTEL_BSP_*, OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES,\n"
          "OTEL_SDK_DISABLED, BT_STORE_PATH (as in the library), BT_PROXY_TOKEN, BT_PROXY_PUBLIC_URL,\n"
          "BT_CORRELATION_URL.\n"
          "\n"
          "per request: an incoming traceparent header makes the request's span its child;\n"
          "x-bt-parent: <type>:<value> routes that request's spans to another Braintrust\n"
          "project or experiment and is not forwarded upstream; x-bt-session-id: ID (not\n"
          "forwarded) or Claude Code's x-claude-code-session-id puts the request in its agent\n"
          "session's trace, under one root span with the session's totals.\n"
          "endpoints of the proxy itself: GET /healthz (200 while the process lives), GET /readyz\n"
          "(200, then 503 from the first stop signal), GET /metrics (Prometheus text format;\n"
          "with Accept: application/json, JSON: requests, and spans ended, sent, waiting in\n"
          "the store, dropped, with the last export error, and the batch correlation store).\n"
          "\n"
          "where spans go (logged at startup): --store and --spans-jsonl as given, else the\n"
          "library's choice: OTLP when OTEL_EXPORTER_OTLP_ENDPOINT or BRAINTRUST_API_KEY is\n"
          "set, else the local span store (bt-spans reads it). With --store and OTLP, spans are\n"
          "committed to the store first and sent on from there, so none is lost while the\n"
          "receiver is down or the proxy restarts.\n"
          "\n"
          "shutdown: the first SIGTERM or SIGINT (Ctrl-C) stops accepting connections and lets\n"
          "in-flight requests finish for up to 9 s (--shutdown-grace); requests and streams\n"
          "still running then are cut, and their spans and access-log lines say \"cut by the\n"
          "proxy at shutdown\" (not that the client left). A second signal cuts them at once.\n"
          "Spans are then flushed; the proxy exits within 15 s of the first signal, and its\n"
          "last log line says what became of the spans.\n",
          out);
}

static int parse_listen(px_config *cfg, const char *v)
{
    size_t n = strlen(v);
    if (n == 0 || n >= sizeof cfg->listen_buf)
        return -1;
    memcpy(cfg->listen_buf, v, n + 1);
    char *colon = strrchr(cfg->listen_buf, ':');
    if (!colon)
        return -1;
    *colon = '\0';
    char *end = NULL;
    long port = strtol(colon + 1, &end, 10);
    if (!*(colon + 1) || *end || port < 0 || port > 65535)
        return -1;
    char *host = cfg->listen_buf;
    if (*host == '[') { /* [::1]:8787 */
        size_t hl = strlen(host);
        if (hl < 2 || host[hl - 1] != ']')
            return -1;
        host[hl - 1] = '\0';
        host++;
    }
    if (!*host)
        return -1;
    cfg->listen_host = host;
    cfg->listen_port = (int)port;
    return 0;
}

static int parse_upstream(px_config *cfg, const char *v)
{
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (n == 0 || n >= sizeof cfg->upstream)
        return -1;
    const char *scheme_end = strstr(v, "://");
    if (!scheme_end || scheme_end - v > 5)
        return -1;
    if (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0)
        return -1;
    if (strchr(v, '?') || strchr(v, '#'))
        return -1;
    memcpy(cfg->upstream, v, n);
    cfg->upstream[n] = '\0';
    const char *auth = scheme_end + 3;
    size_t al = strcspn(auth, "/");
    if (al == 0 || al >= sizeof cfg->upstream_authority || memchr(auth, '@', al))
        return -1;
    memcpy(cfg->upstream_authority, auth, al);
    cfg->upstream_authority[al] = '\0';
    return 0;
}

/* http(s)://authority[/path], stored without a trailing slash. */
static int parse_public_url(px_config *cfg, const char *v)
{
    size_t n = strlen(v);
    while (n > 0 && v[n - 1] == '/')
        n--;
    if (n >= sizeof cfg->public_url || (strncmp(v, "http://", 7) != 0 && strncmp(v, "https://", 8) != 0))
        return -1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c <= 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '?' || c == '#')
            return -1;
    }
    const char *auth = strstr(v, "://") + 3;
    if ((size_t)(auth - v) >= n || *auth == '/')
        return -1;
    memcpy(cfg->public_url, v, n);
    cfg->public_url[n] = '\0';
    return 0;
}

static int parse_count(const char *v, int min, int max, int *out)
{
    char *end = NULL;
    long s = strtol(v, &end, 10);
    if (!*v || *end || s < min || s > max)
        return -1;
    *out = (int)s;
    return 0;
}

static int parse_seconds(const char *v, int max, int *out)
{
    char *end = NULL;
    long s = strtol(v, &end, 10);
    if (!*v || *end || s <= 0 || s > max)
        return -1;
    *out = (int)s;
    return 0;
}

/* Returns 0 to run, 1 after --help, -1 on a usage error (already reported). */
int px_config_parse(px_config *cfg, int argc, char **argv)
{
    memset(cfg, 0, sizeof *cfg);
    parse_listen(cfg, "127.0.0.1:8787");
    parse_upstream(cfg, "https://api.anthropic.com");
    cfg->client_idle_ms = 60 * 1000;
    cfg->upstream_idle_s = 600;
    cfg->connect_timeout_s = 30;
    cfg->shutdown_grace_ms = 9000;
    cfg->session_idle_s = 300;
    cfg->max_connections = PX_MAX_CONNECTIONS;
    cfg->max_upstream_connections = PX_MAX_UPSTREAM_CONNECTIONS;
    cfg->workers = 0; /* the number of CPUs, decided in main */
    cfg->trace_backlog_bytes = (uint64_t)PX_TRACE_BACKLOG_MIB << 20;
    cfg->min_body_rate = 1024;
    cfg->min_body_window_s = 10;
    const char *tok = getenv("BT_PROXY_TOKEN");
    if (tok && *tok)
        cfg->token = tok;
    const char *pub = getenv("BT_PROXY_PUBLIC_URL");
    if (pub && *pub && parse_public_url(cfg, pub) != 0) {
        fprintf(stderr, "bt-proxy: bad value for BT_PROXY_PUBLIC_URL (an http(s) URL, see --help)\n");
        return -1;
    }
    const char *corr = getenv("BT_CORRELATION_URL");
    if (corr && *corr)
        cfg->correlation = corr;

    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--allow-untraced")) {
            cfg->allow_untraced = 1;
            continue;
        }
        size_t al = strlen(a);
        const char *eq = strncmp(a, "--", 2) == 0 ? strchr(a, '=') : NULL;
        if (eq)
            al = (size_t)(eq - a);
        static const char *const known[] = {"--listen",
                                            "--upstream",
                                            "--spans-jsonl",
                                            "--store",
                                            "--correlation",
                                            "--correlation-wait-ms",
                                            "--token",
                                            "--client-idle-timeout",
                                            "--upstream-idle-timeout",
                                            "--ca-bundle",
                                            "--shutdown-grace",
                                            "--drain-delay",
                                            "--session-idle",
                                            "--max-connections",
                                            "--max-upstream-connections",
                                            "--workers",
                                            "--trace-backlog",
                                            "--min-body-rate",
                                            "--min-body-rate-window",
                                            "--public-url"};
        int is_known = 0;
        for (size_t k = 0; k < sizeof known / sizeof known[0]; k++)
            is_known |= al == strlen(known[k]) && !strncmp(a, known[k], al);
        if (!is_known) {
            fprintf(stderr, "bt-proxy: unknown option %.*s (see --help)\n", (int)al, a);
            return -1;
        }
        const char *val = eq ? eq + 1 : (i + 1 < argc ? argv[++i] : NULL);
#define FLAG(s) (al == strlen(s) && !strncmp(a, s, al))
        int bad = 0;
        if (!val) {
            fprintf(stderr, "bt-proxy: %s needs a value (see --help)\n", a);
            return -1;
        } else if (FLAG("--listen")) {
            bad = parse_listen(cfg, val);
        } else if (FLAG("--upstream")) {
            bad = parse_upstream(cfg, val);
        } else if (FLAG("--spans-jsonl")) {
            cfg->spans_jsonl = val;
        } else if (FLAG("--store")) {
            cfg->store = val;
        } else if (FLAG("--correlation-wait-ms")) {
            char *end = NULL;
            long ms = strtol(val, &end, 10);
            bad = !*val || *end || ms < 1 || ms > 60000;
            cfg->correlation_wait_ms = (int)ms;
        } else if (FLAG("--correlation")) {
            cfg->correlation = *val ? val : NULL;
        } else if (FLAG("--token")) {
            cfg->token = *val ? val : NULL;
        } else if (FLAG("--client-idle-timeout")) {
            int s = 0;
            bad = parse_seconds(val, 86400, &s);
            if (!bad)
                cfg->client_idle_ms = s * 1000;
        } else if (FLAG("--upstream-idle-timeout")) {
            bad = parse_seconds(val, 86400, &cfg->upstream_idle_s);
        } else if (FLAG("--max-upstream-connections")) {
            bad = parse_count(val, 1, 1000000, &cfg->max_upstream_connections);
            cfg->explicit_upstream_limit = 1;
        } else if (FLAG("--trace-backlog")) {
            int mib = 0;
            bad = parse_count(val, 0, 1 << 20, &mib);
            cfg->trace_backlog_bytes = (uint64_t)mib << 20;
        } else if (FLAG("--workers")) {
            bad = parse_count(val, 1, PX_MAX_WORKERS, &cfg->workers);
        } else if (FLAG("--max-connections")) {
            bad = parse_count(val, 1, 1000000, &cfg->max_connections);
            cfg->explicit_connection_limit = 1;
        } else if (FLAG("--min-body-rate-window")) {
            bad = parse_seconds(val, 3600, &cfg->min_body_window_s);
        } else if (FLAG("--min-body-rate")) {
            bad = parse_count(val, 0, 1 << 30, &cfg->min_body_rate);
        } else if (FLAG("--public-url")) {
            bad = parse_public_url(cfg, val);
        } else if (FLAG("--shutdown-grace")) {
            char *end = NULL;
            long sec = strtol(val, &end, 10);
            bad = !*val || *end || sec < 0 || sec > 13;
            if (!bad)
                cfg->shutdown_grace_ms = (int)sec * 1000;
        } else if (FLAG("--drain-delay")) {
            char *end = NULL;
            long sec = strtol(val, &end, 10);
            bad = !*val || *end || sec < 0 || sec > 13;
            if (!bad)
                cfg->drain_delay_ms = (int)sec * 1000;
        } else if (FLAG("--session-idle")) {
            char *end = NULL;
            long s = strtol(val, &end, 10);
            bad = !*val || *end || s < 0 || s > 7 * 86400;
            if (!bad)
                cfg->session_idle_s = (int)s;
        } else {
            cfg->ca_bundle = val;
        }
#undef FLAG
        if (bad) {
            fprintf(stderr, "bt-proxy: bad value for %.*s (see --help)\n", (int)al, a);
            return -1;
        }
    }
    return 0;
}
