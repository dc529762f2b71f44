/* The client side: bt-proxy's handler on the shared HTTP server (tools/common), which
 * owns framing, header rules, limits, keep-alive and pipelining. Here: the proxy's own
 * endpoints (/healthz, /metrics), the inbound token, what may be forwarded (origin-form
 * targets, absolute-form only for the upstream itself), the answer at the connection
 * limit, and one access-log line per request. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

static px_proxy *proxy_of(hs_request *r)
{
    return hs_server_user(hs_request_server(r));
}

static int token_ok(px_proxy *px, hs_request *r)
{
    const char *want = px->cfg.token;
    if (!want)
        return 1;
    size_t wl = strlen(want), vl;
    const char *v = hs_request_header(r, "x-bt-proxy-token", &vl);
    if (!v) {
        v = hs_request_header(r, "proxy-authorization", &vl);
        if (v && vl > 7 && !strncasecmp(v, "Bearer ", 7)) {
            v += 7;
            vl -= 7;
        } else {
            v = NULL;
        }
    }
    if (!v || vl != wl)
        return 0;
    /* Constant time over the token length. */
    unsigned char diff = 0;
    for (size_t i = 0; i < wl; i++)
        diff |= (unsigned char)(v[i] ^ want[i]);
    return diff == 0;
}

/* Absolute-form targets are accepted only for the upstream itself (no open relay);
 * they are reduced to origin form. Returns the origin-form target or NULL. */
static const char *origin_target(px_proxy *px, const char *url)
{
    if (url[0] == '/')
        return url;
    const char *rest = NULL;
    if (!strncasecmp(url, "http://", 7))
        rest = url + 7;
    else if (!strncasecmp(url, "https://", 8))
        rest = url + 8;
    if (!rest)
        return NULL;
    size_t al = strcspn(rest, "/?");
    const char *up = px->cfg.upstream_authority;
    if (al != strlen(up) || strncasecmp(rest, up, al) != 0)
        return NULL;
    const char *path = rest + al;
    if (*path == '/')
        return path;
    return NULL; /* "http://host?x" or "http://host": nothing sensible to forward */
}

/* Errors in the Anthropic API's shape, never cached. */
static void px_format_error(hs_request *r, int status, const char *type, const char *message,
                            bt__buf *headers, bt__buf *body)
{
    (void)r;
    bt__buf_append_str(headers, "Content-Type: application/json\r\nCache-Control: no-store\r\n");
    if (status == 503)
        bt__buf_append_str(headers, "Retry-After: 1\r\n");
    hs_error_json(body, type, message);
}

static void reject(px_xfer *x, int status, const char *type, const char *message)
{
    x->note = message;
    px_counter_add(&x->px->m.rejected, 1);
    hs_request_close_after(x->r);
    hs_respond_error(x->r, status, type, message);
}

/* /healthz, /readyz, /metrics (endpoints.c), for the origin-form target. */
static void answer_local(px_xfer *x)
{
    const char *target = origin_target(x->px, hs_request_head(x->r)->target);
    size_t al = 0;
    const char *accept = hs_request_header(x->r, "accept", &al);
    px_local_response lr;
    px_local_answer(x->px, target ? target : "/", accept, al, &lr);
    char headers[160];
    snprintf(headers, sizeof headers, "Content-Type: %s\r\nCache-Control: no-store\r\n", lr.content_type);
    hs_respond(x->r, lr.status, headers, lr.body ? lr.body : "", lr.len);
    x->resp_bytes = lr.len;
    free(lr.body);
}

static int is_local_endpoint(const hp_head *h, const char *target)
{
    return target && px_is_local_endpoint(target) && (h->method_id == HTTP_GET || h->method_id == HTTP_HEAD);
}

static void px_on_request(hs_request *r)
{
    px_proxy *px = proxy_of(r);
    const hp_head *h = hs_request_head(r);
    px_xfer *x = calloc(1, sizeof *x);
    if (!x) {
        hs_respond_error(r, 503, "overloaded_error", "out of memory");
        return;
    }
    x->px = px;
    x->r = r;
    bt__buf_init(&x->resp_head, PX_MAX_RESP_HEADER_BYTES);
    bt__buf_init(&x->rewrite_buf, PX_REWRITE_MAX);
    hs_request_set_user(r, x);
    px_counter_add(&px->m.requests, 1);
    const char *target = origin_target(px, h->target);
    if (!target) {
        reject(x, h->target[0] == '*' || h->target[0] == '/' ? 400 : 403, "invalid_request_error",
               "only origin-form targets for the configured upstream are accepted");
    } else if (is_local_endpoint(h, target)) {
        if (px_local_endpoint_needs_token(target) && !token_ok(px, r))
            reject(x, 401, "authentication_error", "missing or wrong proxy token");
        else
            x->local = 1; /* answered once the (empty) body is in */
    } else if (hs_request_over_limit(r)) {
        px_counter_add(&px->m.over_limit, 1);
        x->note = "connection limit reached";
        hs_respond_error(r, 503, "overloaded_error",
                         "bt-proxy is at its connection limit (--max-connections); retry shortly");
    } else if (!token_ok(px, r)) {
        reject(x, 401, "authentication_error", "missing or wrong proxy token");
    } else if (px_xfer_start(x, target) != 0) {
        reject(x, 502, "api_error", "could not start the upstream request");
    }
}

static void px_on_body(hs_request *r, const char *data, size_t len)
{
    px_xfer *x = hs_request_user(r);
    if (x && x->easy)
        px_xfer_request_body(x, data, len);
}

static void px_on_body_end(hs_request *r)
{
    px_xfer *x = hs_request_user(r);
    if (!x)
        return;
    if (x->easy)
        px_xfer_request_end(x);
    else if (x->local)
        answer_local(x);
}

static void px_on_drain(hs_request *r)
{
    px_xfer *x = hs_request_user(r);
    if (x && x->easy)
        px_xfer_client_drained(x);
}

/* The request is over, whatever happened: stop its upstream side, log it, free it. */
static void px_on_finish(hs_request *r, const hs_finish *f)
{
    px_xfer *x = hs_request_user(r);
    if (!x) {
        /* answered by the server itself (malformed, too large, too slow) */
        px_access_log(r, f->status, NULL, 0, f->reason);
        return;
    }
    int status = f->status;
    if (!f->complete && x->easy && !x->finished && x->px->cut_reason)
        px_xfer_cut(x, x->px->cut_reason);
    else if (!f->complete && x->easy && !x->finished)
        px_xfer_cancel(x, status >= 400 ? status : 499, f->reason ? f->reason : "client went away");
    if (x->log_status)
        status = x->log_status;
    else if (!status && !x->px->cut_reason)
        status = 499; /* the client left before any answer */
    const char *note = x->note ? x->note : f->reason;
    if (x->trace) { /* the line waits for the span's summary, on the lane */
        px_trace_log(x->px, x->trace, px_access_log_prefix(r, status, x->resp_bytes), note);
        x->trace = NULL;
    } else {
        px_access_log(r, status, NULL, x->resp_bytes, note);
    }
    px_xfer_free(x);
}

static void on_drained(hs_server *s)
{
    px_proxy *px = hs_server_user(s);
    uv_stop(px->loop); /* main() finishes the shutdown outside the loop */
}

void px_server_drain(px_proxy *px)
{
    hs_server_drain(px->server, on_drained);
}

void px_server_cut(px_proxy *px, const char *why)
{
    px->cut_reason = why; /* read by px_on_finish, which runs for each request here */
    hs_server_close_connections(px->server);
    px->cut_reason = NULL;
}

void px_server_close(px_proxy *px)
{
    hs_server_free(px->server);
    px->server = NULL;
}

/* The server's limits from the command line (see --help and docs/RELIABILITY.md). */
static void server_limits(const px_config *cfg, hs_limits *lim)
{
    hs_limits_default(lim);
    lim->head.max_head_bytes = PX_MAX_HEADER_BYTES;
    lim->head.max_fields = PX_MAX_HEADERS;
    lim->head.max_target_bytes = PX_MAX_URL_BYTES;
    lim->max_connections = (unsigned)cfg->max_connections;
    lim->idle_ms = lim->head_ms = (unsigned)cfg->client_idle_ms;
    lim->body_min_rate = (unsigned)cfg->min_body_rate;
    lim->body_window_ms = (unsigned)cfg->min_body_window_s * 1000;
    lim->max_pipelined_bytes = PX_STASH_MAX;
    lim->write_high = PX_RESP_QUEUE_HIGH;
    lim->write_low = PX_RESP_QUEUE_LOW;
}

static const hs_handler proxy_handler = {
    .on_request = px_on_request,
    .on_body = px_on_body,
    .on_body_end = px_on_body_end,
    .on_drain = px_on_drain,
    .on_finish = px_on_finish,
    .format_error = px_format_error,
};

int px_listen(px_proxy *px, int port, int reuse)
{
    hs_limits lim;
    server_limits(&px->cfg, &lim);
    px->server = hs_server_new(px->loop, &proxy_handler, &lim, px);
    char err[256];
    if (!px->server ||
        hs_server_listen(px->server, px->cfg.listen_host, port, reuse ? HS_LISTEN_REUSEPORT : 0, err,
                         sizeof err) != 0) {
        fprintf(stderr, "bt-proxy: %s\n", px->server ? err : "out of memory");
        return -1;
    }
    return 0;
}
