/* bt-spans serve: the web viewer over the store, on the tools' shared HTTP server. This
 * file is only the adapter: routes and answers are web.c's; here are the socket, the
 * event stream's clients and the timer that looks for new spans. The store is opened
 * read-only: a running bt-proxy keeps writing it meanwhile (WAL). */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uv.h>

#include "bt_spans.h"
#include "http_server.h"
#include "util/buf.h"
#include "web.h"

#define DEFAULT_LISTEN "127.0.0.1:8790"
#define POLL_MS 500
#define KEEPALIVE_MS 15000
#define MAX_EVENT_CLIENTS 64

typedef struct serve {
    uv_loop_t loop;
    hs_server *server;
    bts_web *web;
    uv_timer_t poll;
    uv_signal_t sigint, sigterm;
    hs_request *clients[MAX_EVENT_CLIENTS]; /* open event streams */
    size_t n_clients;
    uint64_t since_keepalive_ms;
    int stopping;
} serve;

static void headers_for(const bts_web_response *resp, bt__buf *h)
{
    if (resp->content_type)
        bt__buf_printf(h, "Content-Type: %s\r\n", resp->content_type);
    if (resp->cache_control)
        bt__buf_printf(h, "Cache-Control: %s\r\n", resp->cache_control);
    for (size_t i = 0; bts_web_security_headers[i][0]; i++)
        bt__buf_printf(h, "%s: %s\r\n", bts_web_security_headers[i][0], bts_web_security_headers[i][1]);
}

static void drop_client(serve *sv, hs_request *r)
{
    for (size_t i = 0; i < sv->n_clients; i++)
        if (sv->clients[i] == r) {
            sv->clients[i] = sv->clients[--sv->n_clients];
            return;
        }
}

static void on_request(hs_request *r)
{
    serve *sv = hs_server_user(hs_request_server(r));
    const hp_head *head = hs_request_head(r);
    size_t host_len = 0;
    const char *host_raw = hs_request_header(r, "host", &host_len);
    char host[300] = "";
    if (host_raw && host_len < sizeof host) {
        memcpy(host, host_raw, host_len);
        host[host_len] = '\0';
    }
    bts_web_response resp;
    bts_web_handle(sv->web, head->method, head->target, host_raw ? host : NULL, &resp);
    bt__buf h;
    bt__buf_init(&h, 8192);
    headers_for(&resp, &h);
    if (resp.event_stream && strcmp(head->method, "GET") == 0) {
        if (sv->n_clients == MAX_EVENT_CLIENTS || sv->stopping) {
            hs_respond_error(r, 503, "overloaded_error", "too many live-update streams; reload later");
        } else if (hs_response_start(r, 200, NULL, h.data, h.len, -1) == 0) {
            /* The browser reconnects by itself after this long if the stream breaks. */
            static const char hello[] = "retry: 2000\n\n";
            hs_response_write(r, hello, sizeof hello - 1);
            sv->clients[sv->n_clients++] = r;
            hs_request_set_user(r, sv);
        }
    } else {
        hs_respond(r, resp.status, h.data, resp.body, resp.len);
    }
    bt__buf_free(&h);
    bts_web_response_free(&resp);
}

static void on_finish(hs_request *r, const hs_finish *f)
{
    (void)f;
    serve *sv = hs_request_user(r);
    if (sv)
        drop_client(sv, r);
}

/* Sends `data` to every open event stream; a client too slow to keep up is cut (its
 * browser reconnects and reloads what it shows). */
static void broadcast(serve *sv, const char *data, size_t len)
{
    for (size_t i = sv->n_clients; i-- > 0;) {
        hs_request *r = sv->clients[i];
        if (hs_response_busy(r) || hs_response_write(r, data, len) != 0) {
            drop_client(sv, r);
            hs_request_set_user(r, NULL);
            hs_response_abort(r, "live-update client not reading");
        }
    }
}

static void on_poll(uv_timer_t *t)
{
    serve *sv = t->data;
    char *event = NULL;
    size_t len = 0;
    int rc = bts_web_poll(sv->web, &event, &len);
    if (rc < 0)
        fprintf(stderr, "bt-spans: cannot look for new spans (will retry)\n");
    if (rc == 1) {
        broadcast(sv, event, len);
        sv->since_keepalive_ms = 0;
    } else if ((sv->since_keepalive_ms += POLL_MS) >= KEEPALIVE_MS) {
        broadcast(sv, bts_web_keepalive, strlen(bts_web_keepalive));
        sv->since_keepalive_ms = 0;
    }
    free(event);
}

static void on_drained(hs_server *s)
{
    serve *sv = hs_server_user(s);
    uv_stop(&sv->loop);
}

static void on_signal(uv_signal_t *sig, int signum)
{
    serve *sv = sig->data;
    if (sv->stopping) {
        hs_server_close_connections(sv->server);
        uv_stop(&sv->loop);
        return;
    }
    sv->stopping = 1;
    fprintf(stderr, "bt-spans: %s: stopping\n", signum == SIGINT ? "interrupted" : "terminated");
    /* Event streams never end by themselves: end them, then let the rest finish. */
    while (sv->n_clients) {
        hs_request *r = sv->clients[--sv->n_clients];
        hs_request_set_user(r, NULL);
        hs_request_close_after(r);
        hs_response_end(r);
    }
    uv_timer_stop(&sv->poll);
    hs_server_drain(sv->server, on_drained);
}

/* HOST:PORT, [IPv6]:PORT; port 0 picks a free one. */
static int parse_listen(const char *spec, char *host, size_t cap, int *port)
{
    const char *colon = strrchr(spec, ':');
    if (!colon || colon == spec)
        return -1;
    size_t hl = (size_t)(colon - spec);
    const char *h = spec;
    if (h[0] == '[') {
        if (hl < 3 || h[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
    }
    if (hl >= cap)
        return -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char *end = NULL;
    long p = strtol(colon + 1, &end, 10);
    if (!colon[1] || *end || p < 0 || p > 65535)
        return -2;
    *port = (int)p;
    return 0;
}

static void close_walk(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

int bts_serve(const bts_options *o)
{
    const char *spec = o->listen ? o->listen : DEFAULT_LISTEN;
    char host[256];
    int port = 0;
    int pr = parse_listen(spec, host, sizeof host, &port);
    if (pr != 0) {
        fprintf(stderr, "bt-spans: --listen %s: %s\n", spec,
                pr == -2 ? "the port must be a number from 0 to 65535"
                         : "expected HOST:PORT, e.g. 127.0.0.1:8790");
        return BTS_EXIT_USAGE;
    }
    /* A browser that goes away mid-response must cost a write error, not the process. */
    signal(SIGPIPE, SIG_IGN);
    sqlite3 *db = bts_open(o, 0);
    if (!db)
        return BTS_EXIT_FAIL;
    serve *sv = calloc(1, sizeof *sv);
    if (!sv || uv_loop_init(&sv->loop) != 0 || bts_web_new(db, o->store, &sv->web) != 0) {
        fprintf(stderr, "bt-spans: out of memory\n");
        sqlite3_close(db);
        free(sv);
        return BTS_EXIT_FAIL;
    }
    hs_handler handler = {.on_request = on_request, .on_finish = on_finish};
    sv->server = hs_server_new(&sv->loop, &handler, NULL, sv);
    char err[256] = "";
    int rc = BTS_EXIT_FAIL;
    if (!sv->server) {
        fprintf(stderr, "bt-spans: out of memory\n");
    } else if (hs_server_listen(sv->server, host, port, 0, err, sizeof err) != 0) {
        fprintf(stderr, "bt-spans: cannot listen on %s: %s\n", spec, err);
    } else {
        const char *addr = hs_server_address(sv->server);
        const char *p = strrchr(addr, ':');
        bts_web_set_origin(sv->web, host, p ? atoi(p + 1) : port);
        bts_web_poll(sv->web, &(char *){NULL}, &(size_t){0}); /* the position to report changes from */
        uv_timer_init(&sv->loop, &sv->poll);
        sv->poll.data = sv;
        uv_timer_start(&sv->poll, on_poll, POLL_MS, POLL_MS);
        uv_signal_init(&sv->loop, &sv->sigint);
        uv_signal_init(&sv->loop, &sv->sigterm);
        sv->sigint.data = sv->sigterm.data = sv;
        uv_signal_start(&sv->sigint, on_signal, SIGINT);
        uv_signal_start(&sv->sigterm, on_signal, SIGTERM);
        if (strcmp(host, "127.0.0.1") != 0 && strcmp(host, "::1") != 0 && strcmp(host, "localhost") != 0)
            fprintf(stderr,
                    "bt-spans: warning: listening on %s, not loopback: span contents (prompts, answers) "
                    "are readable by whoever can reach it\n",
                    addr);
        printf("listening on http://%s\n", addr);
        fflush(stdout);
        fprintf(stderr, "bt-spans: serving %s read-only; Ctrl-C stops\n", o->store);
        uv_run(&sv->loop, UV_RUN_DEFAULT);
        rc = BTS_EXIT_OK;
    }
    if (sv->server)
        hs_server_free(sv->server);
    uv_walk(&sv->loop, close_walk, NULL);
    uv_run(&sv->loop, UV_RUN_DEFAULT);
    uv_loop_close(&sv->loop);
    bts_web_free(sv->web);
    sqlite3_close(db);
    free(sv);
    return rc;
}
