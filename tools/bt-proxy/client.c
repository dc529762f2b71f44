/* The client side: accepting connections, parsing requests with llhttp under hard
 * limits, rejecting unsafe shapes, answering the proxy's own endpoints, and handing
 * everything else to forward.c. One request is in flight per connection; bytes a
 * client pipelines meanwhile are kept (bounded) and parsed after the response. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

#define READ_BUF_SIZE (64 * 1024)

static llhttp_settings_t settings;

static px_conn *parser_conn(llhttp_t *p)
{
    return p->data;
}

/* ---- connection teardown ---- */

static void on_handle_closed(uv_handle_t *h)
{
    px_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    px_proxy *px = c->px;
    if (c->prev)
        c->prev->next = c->next;
    else
        px->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    px->m.connections_active--;
    bt__buf_free(&c->head);
    bt__buf_free(&c->stash);
    free(c);
    if (px->shutting_down && !px->conns)
        uv_stop(px->loop); /* main() finishes the shutdown outside the loop */
}

static void close_now(px_conn *c)
{
    if (c->handles_open == 0 || c->closing == 2)
        return;
    c->closing = 2;
    uv_timer_stop(&c->idle);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->idle, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    (void)status;
    px_conn *c = req->data;
    free(req);
    close_now(c);
}

static void on_close_timeout(uv_timer_t *t)
{
    close_now(t->data);
}

/* Closes after the queued response bytes have been written. */
static void close_graceful(px_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    c->state = PX_CONN_CLOSING;
    px_conn_read_pause(c);
    uv_timer_stop(&c->idle);
    uv_shutdown_t *req = malloc(sizeof *req);
    if (!req || uv_shutdown(req, (uv_stream_t *)&c->tcp, on_shutdown) != 0) {
        free(req);
        close_now(c);
        return;
    }
    req->data = c;
    /* A client that never reads its last bytes must not hold the connection. */
    uv_timer_start(&c->idle, on_close_timeout, (uint64_t)c->px->cfg.client_idle_ms, 0);
}

void px_conn_abort(px_conn *c)
{
    if (c->xfer)
        px_xfer_cancel(c->xfer, 499, "client went away");
    close_now(c);
}

void px_close_idle_connections(px_proxy *px)
{
    for (px_conn *c = px->conns, *next; c; c = next) {
        next = c->next;
        if (!c->xfer && !c->closing)
            close_now(c);
    }
}

/* ---- reading ---- */

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(READ_BUF_SIZE);
    buf->len = buf->base ? READ_BUF_SIZE : 0;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf);

void px_conn_read_resume(px_conn *c)
{
    if (c->reading || c->closing || c->read_eof)
        return;
    if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
        c->reading = 1;
}

void px_conn_read_pause(px_conn *c)
{
    if (!c->reading)
        return;
    uv_read_stop((uv_stream_t *)&c->tcp);
    c->reading = 0;
}

static void on_idle_timeout(uv_timer_t *t)
{
    px_conn *c = t->data;
    /* Idle between requests, a head or body that stopped arriving, or a client that
     * stopped reading a response: all end the connection. */
    px_conn_abort(c);
}

static void arm_idle(px_conn *c)
{
    uv_timer_start(&c->idle, on_idle_timeout, (uint64_t)c->px->cfg.client_idle_ms, 0);
}

void px_conn_backpressure_timer(px_conn *c, int on)
{
    if (c->closing)
        return;
    if (on)
        arm_idle(c);
    else
        uv_timer_stop(&c->idle);
}

static void reject(px_conn *c, int status, const char *message)
{
    c->keep_alive = 0;
    c->is_local = 1;
    px_send_error(c, status, status == 401 ? "authentication_error" : "invalid_request_error", message);
    if (!c->logged)
        px_access_log(c, status, NULL, 0, message);
    c->px->m.rejected++;
    close_graceful(c);
}

static void parse(px_conn *c, const char *data, size_t len);

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
    px_conn *c = s->data;
    if (n < 0) {
        free(buf->base);
        c->read_eof = 1;
        px_conn_read_pause(c);
        if (n != UV_EOF || c->state == PX_CONN_BODY) {
            /* A reset, or a body still owed that will never come: cancel. */
            px_conn_abort(c);
        } else if (!c->xfer) {
            close_graceful(c); /* after any queued response bytes */
        }
        /* else half-closed while its response is in flight: finish it, then close */
        return;
    }
    if (n == 0) {
        free(buf->base);
        return;
    }
    c->px->m.bytes_in += (uint64_t)n;
    if (c->state == PX_CONN_BODY)
        arm_idle(c);
    if (c->parser_paused || c->state == PX_CONN_WAIT || c->state == PX_CONN_CLOSING) {
        /* Pipelined: keep for later, bounded. */
        if (!c->closing && bt__buf_append(&c->stash, buf->base, (size_t)n) != 0) {
            /* Unreachable while reads stop at half the cap; never answer in the middle
             * of a response in flight. */
            free(buf->base);
            px_conn_abort(c);
            return;
        }
        if (c->stash.len >= PX_STASH_MAX / 2)
            px_conn_read_pause(c);
        free(buf->base);
        return;
    }
    parse(c, buf->base, (size_t)n);
    free(buf->base);
}

static void parse(px_conn *c, const char *data, size_t len)
{
    c->read_base = data;
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    c->prev_read_lf = len > 0 && data[len - 1] == '\n';
    if (err == HPE_OK || c->closing)
        return;
    if (err == HPE_PAUSED) {
        c->parser_paused = 1;
        /* Paused at the end of a message (or on a rejection): keep what follows. */
        const char *pos = llhttp_get_error_pos(&c->parser);
        if (pos && pos >= data && pos < data + len && !c->closing)
            bt__buf_append(&c->stash, pos, (size_t)(data + len - pos));
        return;
    }
    if (err == HPE_PAUSED_UPGRADE) {
        reject(c, 501, "protocol upgrades are not supported");
        return;
    }
    int status = c->head_error ? c->head_error : 400;
    const char *reason = llhttp_get_error_reason(&c->parser);
    char msg[200];
    snprintf(msg, sizeof msg, "malformed HTTP request: %s", reason ? reason : "parse error");
    if (c->xfer) {
        /* Broken framing in the body of a request already on its way upstream. */
        px_xfer *x = c->xfer;
        if (x->head_sent) {
            px_conn_abort(c);
            return;
        }
        px_xfer_cancel(x, status, "malformed request body");
    }
    reject(c, status,
           c->head_error == 431       ? "request header fields too large"
               : c->head_error == 414 ? "request target too long"
                                      : msg);
}

/* ---- llhttp callbacks ---- */

static int on_message_begin(llhttp_t *p)
{
    px_conn *c = parser_conn(p);
    bt__buf_reset(&c->head);
    c->url_off = c->url_len = 0;
    c->n_hdrs = 0;
    c->in_value = 0;
    c->head_error = 0;
    c->message_complete = 0;
    c->is_local = 0;
    c->logged = 0;
    c->req_start_ns = px_now_ns();
    return 0;
}

static int head_append(px_conn *c, const char *at, size_t len)
{
    if (bt__buf_append(&c->head, at, len) != 0) {
        c->head_error = 431;
        return -1;
    }
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    px_conn *c = parser_conn(p);
    if (c->url_len + len > PX_MAX_URL_BYTES) {
        c->head_error = 414;
        return -1;
    }
    if (c->url_len == 0)
        c->url_off = c->head.len;
    c->url_len += len;
    return head_append(c, at, len);
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    px_conn *c = parser_conn(p);
    if (c->n_hdrs == 0 || c->in_value) {
        if (c->n_hdrs == PX_MAX_HEADERS) {
            c->head_error = 431;
            return -1;
        }
        px_hdr *h = &c->hdrs[c->n_hdrs++];
        h->name_off = c->head.len;
        h->name_len = 0;
        h->value_off = 0;
        h->value_len = 0;
        c->in_value = 0;
    }
    c->hdrs[c->n_hdrs - 1].name_len += len;
    return head_append(c, at, len);
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    px_conn *c = parser_conn(p);
    if (c->n_hdrs == 0)
        return -1;
    px_hdr *h = &c->hdrs[c->n_hdrs - 1];
    /* llhttp delivers an obs-fold continuation as a second, non-adjacent piece of the
     * same value: refuse it (request smuggling shape). */
    if (c->in_value && at != c->value_end &&
        (at != c->read_base || (c->prev_read_lf && len && (at[0] == ' ' || at[0] == '\t')))) {
        c->head_error = 400;
        return -1;
    }
    c->value_end = at + len;
    if (!c->in_value) {
        h->value_off = c->head.len;
        c->in_value = 1;
    }
    h->value_len += len;
    return head_append(c, at, len);
}

const char *px_conn_header(px_conn *c, const char *name, size_t *len)
{
    size_t nl = strlen(name);
    for (size_t i = 0; i < c->n_hdrs; i++) {
        px_hdr *h = &c->hdrs[i];
        if (h->name_len == nl && !strncasecmp(c->head.data + h->name_off, name, nl)) {
            *len = h->value_len;
            return c->head.data + h->value_off;
        }
    }
    *len = 0;
    return NULL;
}

static int token_ok(px_conn *c)
{
    const char *want = c->px->cfg.token;
    if (!want)
        return 1;
    size_t wl = strlen(want), vl;
    const char *v = px_conn_header(c, "x-bt-proxy-token", &vl);
    if (!v) {
        v = px_conn_header(c, "proxy-authorization", &vl);
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
static const char *origin_target(px_conn *c, char *url)
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
    const char *up = c->px->cfg.upstream_authority;
    if (al != strlen(up) || strncasecmp(rest, up, al) != 0)
        return NULL;
    const char *path = rest + al;
    if (*path == '/')
        return path;
    return NULL; /* "http://host?x" or "http://host": nothing sensible to forward */
}

static int header_values_clean(px_conn *c)
{
    for (size_t i = 0; i < c->n_hdrs; i++) {
        const char *v = c->head.data + c->hdrs[i].value_off;
        for (size_t k = 0; k < c->hdrs[i].value_len; k++)
            if (v[k] == '\r' || v[k] == '\n' || v[k] == '\0')
                return 0; /* obs-fold or a bare line break: a smuggling shape */
        if (c->hdrs[i].name_len == 0)
            return 0;
    }
    return 1;
}

static int on_headers_complete(llhttp_t *p)
{
    px_conn *c = parser_conn(p);
    px_proxy *px = c->px;
    /* NUL-terminate the target in place is impossible (headers follow): copy it. */
    char *url = malloc(c->url_len + 1);
    if (!url) {
        reject(c, 503, "out of memory");
        return HPE_PAUSED;
    }
    memcpy(url, c->head.data + c->url_off, c->url_len);
    url[c->url_len] = '\0';
    snprintf(c->method, sizeof c->method, "%s", llhttp_method_name(llhttp_get_method(p)));
    c->http_minor = p->http_minor;
    c->keep_alive = llhttp_should_keep_alive(p) && !px->shutting_down;
    c->is_head = llhttp_get_method(p) == HTTP_HEAD;
    px->m.requests++;

    int rc = 0;
    size_t el;
    const char *expect = px_conn_header(c, "expect", &el);
    const char *target = origin_target(c, url);
    if (!header_values_clean(c)) {
        reject(c, 400, "malformed header value");
        rc = HPE_PAUSED;
    } else if (p->http_major != 1) {
        reject(c, 505, "HTTP version not supported");
        rc = HPE_PAUSED;
    } else if (llhttp_get_method(p) == HTTP_CONNECT) {
        reject(c, 405, "CONNECT is not supported: this is a reverse proxy");
        rc = HPE_PAUSED;
    } else if (!target) {
        reject(c, url[0] == '*' || url[0] == '/' ? 400 : 403,
               "only origin-form targets for the configured upstream are accepted");
        rc = HPE_PAUSED;
    } else if (expect && !(el == 12 && !strncasecmp(expect, "100-continue", 12))) {
        reject(c, 417, "unsupported Expect value");
        rc = HPE_PAUSED;
    } else if (px_is_local_endpoint(target) && (llhttp_get_method(p) == HTTP_GET || c->is_head)) {
        c->is_local = 1; /* answered at message end */
        if (px_local_endpoint_needs_token(target) && !token_ok(c)) {
            reject(c, 401, "missing or wrong proxy token");
            rc = HPE_PAUSED;
        }
    } else if (!token_ok(c)) {
        reject(c, 401, "missing or wrong proxy token");
        rc = HPE_PAUSED;
    } else {
        if (expect && c->http_minor >= 1) {
            static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
            px_conn_write(c, cont, sizeof cont - 1, NULL, 0, NULL, 0);
        }
        c->state = PX_CONN_BODY;
        arm_idle(c);
        if (px_xfer_start(c, target) != 0) {
            reject(c, 502, "could not start the upstream request");
            rc = HPE_PAUSED;
        }
    }
    free(url);
    return rc;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    px_conn *c = parser_conn(p);
    if (c->xfer)
        px_xfer_request_body(c->xfer, at, len);
    return 0;
}

static void answer_local(px_conn *c)
{
    size_t al = 0;
    const char *accept = px_conn_header(c, "accept", &al);
    /* The target as sent (not NUL-terminated in the head buffer); the path of an
     * absolute-form one (already checked to name the upstream). */
    char target[1024];
    size_t n = c->url_len < sizeof target - 1 ? c->url_len : sizeof target - 1;
    memcpy(target, c->head.data + c->url_off, n);
    target[n] = '\0';
    const char *path = target;
    if (path[0] != '/' && (path = strstr(target, "://")) != NULL)
        path = strchr(path + 3, '/');
    px_local_response r;
    px_local_answer(c->px, path ? path : "/", accept, al, &r);
    px_send_local(c, r.status, r.content_type, r.body ? r.body : "", 0);
    px_access_log(c, r.status, NULL, r.len, NULL);
    free(r.body);
}

static int on_message_complete(llhttp_t *p)
{
    px_conn *c = parser_conn(p);
    c->message_complete = 1;
    if (c->closing)
        return HPE_PAUSED;
    c->state = PX_CONN_WAIT;
    uv_timer_stop(&c->idle);
    if (c->is_local) {
        answer_local(c);
        px_conn_request_done(c); /* the next request is parsed from the loop, not here */
    } else if (c->xfer) {
        px_xfer_request_end(c->xfer);
    }
    return HPE_PAUSED;
}

/* ---- writing ---- */

typedef struct px_write {
    uv_write_t req;
    px_conn *conn;
    size_t len;
    char data[];
} px_write;

/* Bytes handed to uv_write whose completion has not been seen yet: what the proxy
 * holds for this client (uv's own queue size misses writes that completed at once but
 * whose buffers are released only on the next loop turn). */
size_t px_conn_write_queue(px_conn *c)
{
    return c->out_pending;
}

static void on_written(uv_write_t *req, int status)
{
    px_write *w = (px_write *)req;
    px_conn *c = w->conn;
    c->out_pending -= w->len;
    free(w);
    if (status < 0) {
        if (status != UV_ECANCELED)
            px_conn_abort(c);
        return;
    }
    if (c->xfer && px_conn_write_queue(c) < PX_RESP_QUEUE_LOW)
        px_xfer_client_drained(c->xfer);
}

int px_conn_write(px_conn *c, const void *a, size_t alen, const void *b, size_t blen, const void *d,
                  size_t dlen)
{
    if (c->closing == 2 || c->handles_open == 0)
        return -1;
    size_t total = alen + blen + dlen;
    px_write *w = malloc(sizeof *w + total);
    if (!w)
        return -1;
    w->conn = c;
    w->len = total;
    if (alen)
        memcpy(w->data, a, alen);
    if (blen)
        memcpy(w->data + alen, b, blen);
    if (dlen)
        memcpy(w->data + alen + blen, d, dlen);
    uv_buf_t buf = uv_buf_init(w->data, (unsigned)total);
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
        free(w);
        return -1;
    }
    c->out_pending += total;
    c->px->m.bytes_out += total;
    return 0;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 405:
        return "Method Not Allowed";
    case 408:
        return "Request Timeout";
    case 414:
        return "URI Too Long";
    case 417:
        return "Expectation Failed";
    case 431:
        return "Request Header Fields Too Large";
    case 501:
        return "Not Implemented";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 505:
        return "HTTP Version Not Supported";
    default:
        return "Status";
    }
}

void px_send_local(px_conn *c, int status, const char *content_type, const char *body, int close_after)
{
    if (close_after)
        c->keep_alive = 0;
    size_t bl = strlen(body);
    char head[512];
    int hl = snprintf(head, sizeof head,
                      "HTTP/1.1 %d %s\r\nContent-Type: %s\r\nContent-Length: %zu\r\n"
                      "Cache-Control: no-store\r\n%s\r\n",
                      status, reason_phrase(status), content_type, bl,
                      c->keep_alive ? "" : "Connection: close\r\n");
    px_conn_write(c, head, (size_t)hl, c->is_head ? NULL : body, c->is_head ? 0 : bl, NULL, 0);
}

void px_send_error(px_conn *c, int status, const char *type, const char *message)
{
    bt__buf b;
    bt__buf_init(&b, 4096);
    bt__buf_append_str(&b, "{\"type\":\"error\",\"error\":{\"type\":");
    bt__buf_append_json_string(&b, type, strlen(type));
    bt__buf_append_str(&b, ",\"message\":");
    bt__buf_append_json_string(&b, message, strlen(message));
    bt__buf_append_str(&b, "}}\n");
    px_send_local(c, status, "application/json", b.data ? b.data : "{}", 0);
    bt__buf_free(&b);
}

/* ---- request lifecycle ---- */

static void process_stash(px_conn *c)
{
    while (c->stash.len && c->state == PX_CONN_IDLE && !c->closing) {
        size_t n;
        char *data = bt__buf_steal(&c->stash, &n);
        if (!data)
            return;
        parse(c, data, n);
        free(data);
    }
}

static void on_next_request(uv_timer_t *t);

void px_conn_request_done(px_conn *c)
{
    px_proxy *px = c->px;
    if (c->closing)
        return;
    if (!c->message_complete || !c->keep_alive || c->read_eof || px->shutting_down) {
        close_graceful(c);
        return;
    }
    c->state = PX_CONN_IDLE;
    arm_idle(c);
    /* Parsing the next pipelined request runs from the loop, never from inside a
     * parser or curl callback. */
    uv_timer_start(&c->idle, on_next_request, 0, 0);
}

static void on_next_request(uv_timer_t *t)
{
    px_conn *c = t->data;
    if (c->closing || c->state != PX_CONN_IDLE)
        return;
    arm_idle(c);
    c->parser_paused = 0;
    llhttp_resume(&c->parser);
    process_stash(c);
    if (c->state == PX_CONN_IDLE)
        px_conn_read_resume(c);
}

/* ---- accepting ---- */

static void free_unaccepted(uv_handle_t *h)
{
    free(h->data);
}

static void on_connection(uv_stream_t *server, int status)
{
    px_proxy *px = server->data;
    if (status < 0 || px->shutting_down)
        return;
    px_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->px = px;
    uv_tcp_init(px->loop, &c->tcp);
    c->tcp.data = c;
    c->handles_open = 1;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->handles_open = 0;
        uv_close((uv_handle_t *)&c->tcp, free_unaccepted);
        return;
    }
    if (px->m.connections_active >= PX_MAX_CONNECTIONS) {
        px_log("connection limit (%d) reached: closing a new connection", PX_MAX_CONNECTIONS);
        c->handles_open = 0;
        uv_close((uv_handle_t *)&c->tcp, free_unaccepted);
        return;
    }
    uv_timer_init(px->loop, &c->idle);
    c->idle.data = c;
    c->handles_open = 2;
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0) {
        if (ss.ss_family == AF_INET6)
            uv_ip6_name((struct sockaddr_in6 *)&ss, c->peer, sizeof c->peer);
        else
            uv_ip4_name((struct sockaddr_in *)&ss, c->peer, sizeof c->peer);
    }
    bt__buf_init(&c->head, PX_MAX_HEADER_BYTES);
    bt__buf_init(&c->stash, PX_STASH_MAX + READ_BUF_SIZE);
    llhttp_init(&c->parser, HTTP_REQUEST, &settings);
    c->parser.data = c;
    c->next = px->conns;
    if (px->conns)
        px->conns->prev = c;
    px->conns = c;
    px->m.connections_total++;
    px->m.connections_active++;
    arm_idle(c);
    px_conn_read_resume(c);
}

int px_listen(px_proxy *px)
{
    llhttp_settings_init(&settings);
    settings.on_message_begin = on_message_begin;
    settings.on_url = on_url;
    settings.on_header_field = on_header_field;
    settings.on_header_value = on_header_value;
    settings.on_headers_complete = on_headers_complete;
    settings.on_body = on_body;
    settings.on_message_complete = on_message_complete;

    struct sockaddr_storage addr;
    const char *host = px->cfg.listen_host;
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    if (uv_ip4_addr(host, px->cfg.listen_port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, px->cfg.listen_port, (struct sockaddr_in6 *)&addr) != 0) {
        fprintf(stderr, "bt-proxy: --listen needs a numeric IP address, got %s\n", host);
        return -1;
    }
    uv_tcp_init(px->loop, &px->listener);
    px->listener.data = px;
    int rc = uv_tcp_bind(&px->listener, (struct sockaddr *)&addr, 0);
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&px->listener, 512, on_connection);
    if (rc != 0) {
        fprintf(stderr, "bt-proxy: cannot listen on %s:%d: %s\n", host, px->cfg.listen_port, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage bound;
    int bl = sizeof bound;
    uv_tcp_getsockname(&px->listener, (struct sockaddr *)&bound, &bl);
    char ip[64] = "";
    int port;
    if (bound.ss_family == AF_INET6) {
        uv_ip6_name((struct sockaddr_in6 *)&bound, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in6 *)&bound)->sin6_port);
        snprintf(px->listen_addr, sizeof px->listen_addr, "[%s]:%d", ip, port);
    } else {
        uv_ip4_name((struct sockaddr_in *)&bound, ip, sizeof ip);
        port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
        snprintf(px->listen_addr, sizeof px->listen_addr, "%s:%d", ip, port);
    }
    printf("listening on http://%s\n", px->listen_addr);
    fflush(stdout);
    return 0;
}
