/*
 * HTTP/1.1 server for fake-anthropic: libuv sockets, llhttp parsing, keep-alive,
 * Content-Length and chunked request bodies with a hard cap, header limits, and
 * responses that are either whole or streamed piece by piece (paced, gzip-flushed).
 *
 * One request is served at a time per connection: when a request completes the parser
 * pauses, reading stops, and any bytes already received for the next (pipelined)
 * request wait in `pending` until the response has been queued.
 */
#include "fake.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <llhttp.h>
#include <uv.h>
#include <zlib.h>

#define FAKE_READ_SIZE (64 * 1024)
#define FAKE_MAX_URL 8192
#define FAKE_PENDING_MAX (1024 * 1024)
#define FAKE_DRAIN_HIGH (256 * 1024)
#define FAKE_LINGER_MS 2000
#define FAKE_IDLE_MS 120000 /* a connection with no request in progress and no bytes */
#define FAKE_PIECE_MAX (16u * 1024 * 1024)

struct fake_conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_shutdown_t shutdown_req;
    int handles_open;
    int closing;
    int discarding; /* after an early error: read and drop until EOF or timeout */
    llhttp_t parser;
    fake_request req;
    bt__buf cur_name, cur_value;
    size_t header_bytes;
    int req_error; /* HTTP status to answer with when parsing stops (413, 414, 431) */
    int busy;      /* a request is being answered */
    int keep_alive;
    bt__buf pending; /* received bytes not yet parsed (next request) */
    /* the response in progress */
    int status;
    uint64_t start_ns;
    z_stream z;
    int z_on;
    fake_produce_fn produce;
    void *state;
    void (*free_state)(void *);
    int pace_ms;
    int timer_active;
    int waiting_drain;
    int unframed;    /* HTTP/1.0 client: the stream body ends when the connection does */
    size_t inflight; /* bytes handed to uv_write whose callback has not run yet */
    fake_conn *prev, *next;
};

typedef struct fake_write {
    uv_write_t req;
    fake_conn *conn;
    size_t len;
    char data[];
} fake_write;

static uv_loop_t *g_loop;
static uv_tcp_t g_server;
static fake_conn *g_conns;
static uint64_t g_request_counter;
static int g_stopping;
static llhttp_settings_t g_settings;

static void conn_close(fake_conn *c);
static void conn_feed(fake_conn *c, const char *data, size_t len);
static void pump(fake_conn *c);
static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf);
static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf);

const char *fake_header_get(const fake_request *req, const char *name)
{
    for (int i = 0; i < req->nheaders; i++)
        if (strcmp(req->headers[i].name, name) == 0)
            return req->headers[i].value;
    return NULL;
}

const char *fake_request_host(const fake_request *req)
{
    static char fallback[96];
    const char *h = fake_header_get(req, "host");
    if (h && *h)
        return h;
    snprintf(fallback, sizeof fallback, "%s:%d", fake_cfg.host, fake_cfg.port);
    return fallback;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 100:
        return "Continue";
    case 200:
        return "OK";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 413:
        return "Payload Too Large";
    case 414:
        return "URI Too Long";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 529:
        return "Site Overloaded";
    default:
        return "Status";
    }
}

/* ---------------------------------------------------------------- request state */

static void request_reset(fake_request *r)
{
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
    free(r->target);
    free(r->path);
    r->target = r->path = NULL;
    r->query = NULL;
    bt__buf_free(&r->body);
    bt__buf_init(&r->body, fake_cfg.max_body);
    if (r->sink.free)
        r->sink.free(r->sink.ud);
    memset(&r->sink, 0, sizeof r->sink);
    r->body_bytes = 0;
    r->gzip_ok = 0;
    r->method = -1;
    r->request_id[0] = '\0';
    r->log_note[0] = '\0';
}

static fake_conn *conn_of(llhttp_t *p)
{
    return (fake_conn *)p->data;
}

static int on_message_begin(llhttp_t *p)
{
    fake_conn *c = conn_of(p);
    request_reset(&c->req);
    bt__buf_reset(&c->cur_name);
    bt__buf_reset(&c->cur_value);
    c->header_bytes = 0;
    c->start_ns = uv_hrtime();
    return 0;
}

static int on_url(llhttp_t *p, const char *at, size_t len)
{
    fake_conn *c = conn_of(p);
    if (c->cur_value.len + len > FAKE_MAX_URL || bt__buf_append(&c->cur_value, at, len) != 0) {
        c->req_error = 414;
        return -1;
    }
    return 0;
}

static int on_url_complete(llhttp_t *p)
{
    fake_conn *c = conn_of(p);
    c->req.target = bt__buf_steal(&c->cur_value, NULL);
    bt__buf_init(&c->cur_value, FAKE_MAX_HEADER_BYTES);
    if (!c->req.target)
        return -1;
    size_t plen = strcspn(c->req.target, "?");
    c->req.path = malloc(plen + 1);
    if (!c->req.path)
        return -1;
    memcpy(c->req.path, c->req.target, plen);
    c->req.path[plen] = '\0';
    c->req.query = c->req.target[plen] == '?' ? c->req.target + plen + 1 : c->req.target + plen;
    return 0;
}

static int header_bytes_ok(fake_conn *c, size_t len)
{
    c->header_bytes += len;
    if (c->header_bytes > FAKE_MAX_HEADER_BYTES) {
        c->req_error = 431;
        return 0;
    }
    return 1;
}

static int on_header_field(llhttp_t *p, const char *at, size_t len)
{
    fake_conn *c = conn_of(p);
    if (!header_bytes_ok(c, len))
        return -1;
    bt__buf_append(&c->cur_name, at, len);
    return 0;
}

static int on_header_value(llhttp_t *p, const char *at, size_t len)
{
    fake_conn *c = conn_of(p);
    if (!header_bytes_ok(c, len))
        return -1;
    bt__buf_append(&c->cur_value, at, len);
    return 0;
}

static int on_header_value_complete(llhttp_t *p)
{
    fake_conn *c = conn_of(p);
    if (c->req.nheaders >= FAKE_MAX_HEADERS) {
        c->req_error = 431;
        return -1;
    }
    bt__buf_append(&c->cur_value, "", 0); /* ensure data is allocated */
    bt__buf_append(&c->cur_name, "", 0);
    fake_header *h = &c->req.headers[c->req.nheaders];
    h->name = bt__buf_steal(&c->cur_name, NULL);
    h->value = bt__buf_steal(&c->cur_value, NULL);
    if (!h->name || !h->value) {
        free(h->name);
        free(h->value);
        return -1;
    }
    for (char *s = h->name; *s; s++)
        *s = (char)tolower((unsigned char)*s);
    c->req.nheaders++;
    return 0;
}

static void write_raw(fake_conn *c, const char *data, size_t len);

static size_t body_limit(const fake_request *r)
{
    return r->sink.feed ? r->sink.limit : fake_cfg.max_body;
}

static int on_headers_complete(llhttp_t *p)
{
    fake_conn *c = conn_of(p);
    snprintf(c->req.request_id, sizeof c->req.request_id, "req_fake_%06llu",
             (unsigned long long)++g_request_counter);
    c->req.method = llhttp_get_method(p);
    fake_route_body(&c->req);
    if ((p->flags & F_CONTENT_LENGTH) && p->content_length > body_limit(&c->req)) {
        c->req_error = 413;
        return -1;
    }
    const char *ae = fake_header_get(&c->req, "accept-encoding");
    c->req.gzip_ok = fake_cfg.gzip && ae && strstr(ae, "gzip") != NULL;
    const char *expect = fake_header_get(&c->req, "expect");
    if (expect && strcasecmp(expect, "100-continue") == 0) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        write_raw(c, cont, sizeof cont - 1);
    }
    return 0;
}

static int on_body(llhttp_t *p, const char *at, size_t len)
{
    fake_conn *c = conn_of(p);
    fake_request *r = &c->req;
    r->body_bytes += len;
    if (r->body_bytes > body_limit(r)) {
        c->req_error = 413;
        return -1;
    }
    if (r->sink.feed) {
        if (!r->sink.stopped && r->sink.feed(r->sink.ud, at, len) != 0)
            r->sink.stopped = 1;
        return 0;
    }
    if (bt__buf_append(&r->body, at, len) != 0) {
        c->req_error = 413;
        return -1;
    }
    return 0;
}

static int on_message_complete(llhttp_t *p)
{
    fake_conn *c = conn_of(p);
    c->keep_alive = llhttp_should_keep_alive(p);
    return HPE_PAUSED;
}

/* ---------------------------------------------------------------- writing */

static void on_write(uv_write_t *w, int status)
{
    fake_write *fw = (fake_write *)w;
    fake_conn *c = fw->conn;
    c->inflight -= fw->len;
    free(fw);
    if (status < 0 || c->closing)
        return;
    if (c->waiting_drain && c->inflight < FAKE_DRAIN_HIGH / 2) {
        c->waiting_drain = 0;
        pump(c);
    }
}

static void write_raw(fake_conn *c, const char *data, size_t len)
{
    if (c->closing || len == 0)
        return;
    fake_write *fw = malloc(sizeof *fw + len);
    if (!fw) {
        conn_close(c);
        return;
    }
    fw->conn = c;
    fw->len = len;
    c->inflight += len;
    memcpy(fw->data, data, len);
    uv_buf_t b = uv_buf_init(fw->data, (unsigned)len);
    if (uv_write(&fw->req, (uv_stream_t *)&c->tcp, &b, 1, on_write) != 0) {
        c->inflight -= len;
        free(fw);
        conn_close(c);
    }
}

static void write_chunk(fake_conn *c, const char *data, size_t len)
{
    if (len == 0)
        return;
    char head[24];
    int n = snprintf(head, sizeof head, "%zx\r\n", len);
    bt__buf b;
    bt__buf_init(&b, 0);
    bt__buf_append(&b, head, (size_t)n);
    bt__buf_append(&b, data, len);
    bt__buf_append(&b, "\r\n", 2);
    write_raw(c, b.data, b.len);
    bt__buf_free(&b);
}

/* Runs deflate over `in` with `flush`, appending the output to `out`. */
static int deflate_into(z_stream *z, const char *in, size_t len, int flush, bt__buf *out)
{
    unsigned char tmp[16384];
    z->next_in = (unsigned char *)(uintptr_t)in;
    z->avail_in = (uInt)len;
    int rc;
    do {
        z->next_out = tmp;
        z->avail_out = sizeof tmp;
        rc = deflate(z, flush);
        if (rc == Z_STREAM_ERROR)
            return -1;
        if (bt__buf_append(out, tmp, sizeof tmp - z->avail_out) != 0)
            return -1;
    } while (z->avail_out == 0 || (flush == Z_FINISH && rc != Z_STREAM_END));
    return 0;
}

static void format_http_date(char *out, size_t size)
{
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(out, size, "%a, %d %b %Y %H:%M:%S GMT", &tm);
}

static void write_head(fake_conn *c, const fake_request *req, int status, const char *content_type,
                       const char *extra, int gzip, long long content_length)
{
    char date[64];
    format_http_date(date, sizeof date);
    bt__buf h;
    bt__buf_init(&h, 0);
    bt__buf_printf(&h, "HTTP/1.1 %d %s\r\ndate: %s\r\n", status, reason_phrase(status), date);
    if (content_type)
        bt__buf_printf(&h, "content-type: %s\r\n", content_type);
    if (req->request_id[0])
        bt__buf_printf(&h, "request-id: %s\r\n", req->request_id);
    bt__buf_append_str(&h, "anthropic-organization-id: 00000000-0000-4000-8000-00000000fa4e\r\n");
    if (gzip)
        bt__buf_append_str(&h, "content-encoding: gzip\r\nvary: accept-encoding\r\n");
    if (content_length >= 0)
        bt__buf_printf(&h, "content-length: %lld\r\n", content_length);
    else if (content_length == -1)
        bt__buf_append_str(&h, "transfer-encoding: chunked\r\n");
    bt__buf_printf(&h, "connection: %s\r\n", c->keep_alive ? "keep-alive" : "close");
    if (extra)
        bt__buf_append_str(&h, extra);
    bt__buf_append_str(&h, "\r\n");
    write_raw(c, h.data, h.len);
    bt__buf_free(&h);
}

/* Copies client-supplied text for the log: printable ASCII as is, the rest as \xNN,
 * capped to the output size. */
static void log_escape(const char *s, char *out, size_t size)
{
    size_t o = 0;
    for (; *s && o + 5 < size; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch >= 0x20 && ch < 0x7f)
            out[o++] = (char)ch;
        else
            o += (size_t)snprintf(out + o, size - o, "\\x%02x", ch);
    }
    out[o] = '\0';
}

/* Access log: one line per request. Headers (and so credentials) are never logged. */
static void log_request(fake_conn *c)
{
    double ms = (double)(uv_hrtime() - c->start_ns) / 1e6;
    char target[256], note[256];
    log_escape(c->req.target ? c->req.target : "-", target, sizeof target);
    for (char *p = target; *p; p++)
        if (*p == ' ')
            *p = '+';
    log_escape(c->req.log_note, note, sizeof note);
    const char *method = c->req.method >= 0 ? llhttp_method_name((llhttp_method_t)c->req.method) : "-";
    fprintf(stderr, "fake-anthropic: %s %s %d %s %.1fms%s%s\n", method, target, c->status, c->req.request_id,
            ms, note[0] ? " " : "", note);
}

static void on_linger_timeout(uv_timer_t *t)
{
    conn_close(t->data);
}

/* Between requests the connection timer closes connections that stay silent. */
static void arm_idle(fake_conn *c)
{
    if (!c->closing)
        uv_timer_start(&c->timer, on_linger_timeout, FAKE_IDLE_MS, 0);
}

static void on_shutdown(uv_shutdown_t *s, int status)
{
    fake_conn *c = s->data;
    (void)status;
    if (c->discarding && !c->closing) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        uv_timer_start(&c->timer, on_linger_timeout, FAKE_LINGER_MS, 0);
        return;
    }
    conn_close(c);
}

static void conn_shutdown(fake_conn *c)
{
    if (c->closing)
        return;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        conn_close(c);
}

/* The response has been fully queued: go on with the next request or close. */
static void response_done(fake_conn *c, int clean)
{
    log_request(c);
    if (c->free_state)
        c->free_state(c->state);
    c->produce = NULL;
    c->state = NULL;
    c->free_state = NULL;
    if (c->z_on)
        deflateEnd(&c->z);
    c->z_on = 0;
    c->busy = 0;
    request_reset(&c->req);
    if (c->closing)
        return;
    if (!clean || !c->keep_alive || g_stopping) {
        conn_shutdown(c);
        return;
    }
    llhttp_resume(&c->parser);
    if (c->pending.len) {
        bt__buf rest = c->pending;
        bt__buf_init(&c->pending, FAKE_PENDING_MAX);
        conn_feed(c, rest.data, rest.len);
        bt__buf_free(&rest);
    }
    if (!c->busy && !c->closing) {
        uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
        arm_idle(c);
    }
}

void fake_respond(fake_conn *c, const fake_request *req, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len)
{
    c->status = status;
    int head_only = req->method == HTTP_HEAD;
    if (req->gzip_ok && len > 0 && !head_only) {
        z_stream z;
        memset(&z, 0, sizeof z);
        bt__buf out;
        bt__buf_init(&out, 0);
        if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK &&
            deflate_into(&z, body, len, Z_FINISH, &out) == 0) {
            deflateEnd(&z);
            write_head(c, req, status, content_type, extra_headers, 1, (long long)out.len);
            write_raw(c, out.data, out.len);
            bt__buf_free(&out);
            response_done(c, 1);
            return;
        }
        deflateEnd(&z);
        bt__buf_free(&out);
    }
    write_head(c, req, status, content_type, extra_headers, 0, (long long)len);
    if (!head_only)
        write_raw(c, body, len);
    response_done(c, 1);
}

static void send_framed(fake_conn *c, const char *data, size_t len)
{
    if (c->unframed)
        write_raw(c, data, len);
    else
        write_chunk(c, data, len);
}

static void send_piece(fake_conn *c, const char *data, size_t len, int final)
{
    if (!c->z_on) {
        send_framed(c, data, len);
        return;
    }
    bt__buf out;
    bt__buf_init(&out, 0);
    if (deflate_into(&c->z, data, len, final ? Z_FINISH : Z_SYNC_FLUSH, &out) == 0)
        send_framed(c, out.data, out.len);
    bt__buf_free(&out);
}

static void on_pace_timer(uv_timer_t *t)
{
    fake_conn *c = t->data;
    c->timer_active = 0;
    pump(c);
}

static void pump(fake_conn *c)
{
    while (c->produce && !c->closing && !c->timer_active) {
        /* Counted until the write callback runs (not just until the kernel took the
         * bytes), so a fast reader still lets the loop turn and free buffers. */
        if (c->inflight > FAKE_DRAIN_HIGH) {
            c->waiting_drain = 1;
            return;
        }
        bt__buf piece;
        bt__buf_init(&piece, FAKE_PIECE_MAX);
        int r = c->produce(c->state, &piece);
        if (r == FAKE_PIECE_DONE) {
            send_piece(c, piece.data ? piece.data : "", piece.len, 1);
            if (!c->unframed)
                write_raw(c, "0\r\n\r\n", 5);
            bt__buf_free(&piece);
            response_done(c, 1);
            return;
        }
        send_piece(c, piece.data ? piece.data : "", piece.len, 0);
        bt__buf_free(&piece);
        if (r == FAKE_PIECE_ABORT) {
            c->keep_alive = 0;
            response_done(c, 0);
            return;
        }
        if (c->pace_ms > 0) {
            c->timer_active = 1;
            uv_timer_start(&c->timer, on_pace_timer, (uint64_t)c->pace_ms, 0);
            return;
        }
    }
}

void fake_respond_stream(fake_conn *c, const fake_request *req, int status, const char *content_type,
                         const char *extra_headers, fake_produce_fn produce, void *state,
                         void (*free_state)(void *), int pace_ms)
{
    c->status = status;
    if (req->gzip_ok) {
        memset(&c->z, 0, sizeof c->z);
        c->z_on = deflateInit2(&c->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    }
    /* HTTP/1.0 has no chunked encoding: the body is delimited by closing. */
    c->unframed = c->parser.http_major == 1 && c->parser.http_minor == 0;
    if (c->unframed)
        c->keep_alive = 0;
    write_head(c, req, status, content_type, extra_headers, c->z_on, c->unframed ? -2 : -1);
    c->produce = produce;
    c->state = state;
    c->free_state = free_state;
    c->pace_ms = pace_ms;
    c->timer.data = c;
    pump(c);
}

void fake_conn_close_after(fake_conn *c)
{
    c->keep_alive = 0;
}

void fake_respond_abort(fake_conn *c)
{
    c->status = 0;
    c->keep_alive = 0;
    response_done(c, 0);
}

/* ---------------------------------------------------------------- reading */

static void respond_parse_error(fake_conn *c)
{
    int status = c->req_error ? c->req_error : 400;
    const char *msg = status == 413 ? "Request body too large."
        : status == 414             ? "Request target too long."
        : status == 431             ? "Request headers too large."
                                    : "Malformed HTTP request.";
    const char *type = status == 413 ? "request_too_large" : "invalid_request_error";
    c->busy = 1;
    c->keep_alive = 0;
    c->discarding = 1; /* drain what the client still sends so it can read our answer */
    if (!c->req.request_id[0])
        snprintf(c->req.request_id, sizeof c->req.request_id, "req_fake_%06llu",
                 (unsigned long long)++g_request_counter);
    fake_respond_error(c, &c->req, status, type, msg);
}

static void conn_feed(fake_conn *c, const char *data, size_t len)
{
    if (c->busy) {
        if (bt__buf_append(&c->pending, data, len) != 0)
            conn_close(c);
        return;
    }
    llhttp_errno_t err = llhttp_execute(&c->parser, data, len);
    if (err == HPE_OK)
        return;
    if (err == HPE_PAUSED) {
        const char *pos = llhttp_get_error_pos(&c->parser);
        size_t used = pos ? (size_t)(pos - data) : len;
        if (used < len && bt__buf_append(&c->pending, data + used, len - used) != 0) {
            conn_close(c);
            return;
        }
        uv_read_stop((uv_stream_t *)&c->tcp);
        uv_timer_stop(&c->timer);
        c->busy = 1;
        c->req_error = 0;
        fake_dispatch(c, &c->req);
        return;
    }
    uv_read_stop((uv_stream_t *)&c->tcp);
    uv_timer_stop(&c->timer);
    respond_parse_error(c);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)h;
    (void)suggested;
    buf->base = malloc(FAKE_READ_SIZE);
    buf->len = buf->base ? FAKE_READ_SIZE : 0;
}

static void on_read(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
    fake_conn *c = s->data;
    if (nread < 0) {
        free(buf->base);
        if (!c->busy || c->discarding)
            conn_close(c);
        else
            uv_read_stop(s); /* the response in progress still gets written */
        return;
    }
    if (nread > 0 && !c->discarding) {
        if (!c->busy)
            arm_idle(c);
        conn_feed(c, buf->base, (size_t)nread);
    }
    free(buf->base);
}

static void on_handle_closed(uv_handle_t *h)
{
    fake_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    request_reset(&c->req);
    bt__buf_free(&c->req.body);
    bt__buf_free(&c->cur_name);
    bt__buf_free(&c->cur_value);
    bt__buf_free(&c->pending);
    free(c);
}

static void conn_close(fake_conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    if (c->free_state)
        c->free_state(c->state);
    c->free_state = NULL;
    c->produce = NULL;
    if (c->z_on)
        deflateEnd(&c->z);
    c->z_on = 0;
    if (c->prev)
        c->prev->next = c->next;
    else
        g_conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    fake_conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    uv_tcp_init(g_loop, &c->tcp);
    uv_timer_init(g_loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    c->handles_open = 2;
    if (uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        c->closing = 1;
        uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
        uv_close((uv_handle_t *)&c->timer, on_handle_closed);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    bt__buf_init(&c->req.body, fake_cfg.max_body);
    c->req.method = -1;
    bt__buf_init(&c->cur_name, FAKE_MAX_HEADER_BYTES);
    bt__buf_init(&c->cur_value, FAKE_MAX_HEADER_BYTES);
    bt__buf_init(&c->pending, FAKE_PENDING_MAX);
    llhttp_init(&c->parser, HTTP_REQUEST, &g_settings);
    c->parser.data = c;
    c->next = g_conns;
    if (g_conns)
        g_conns->prev = c;
    g_conns = c;
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
    arm_idle(c);
}

int fake_server_start(uv_loop_t *loop, int *bound_port)
{
    g_loop = loop;
    llhttp_settings_init(&g_settings);
    g_settings.on_message_begin = on_message_begin;
    g_settings.on_url = on_url;
    g_settings.on_url_complete = on_url_complete;
    g_settings.on_header_field = on_header_field;
    g_settings.on_header_value = on_header_value;
    g_settings.on_header_value_complete = on_header_value_complete;
    g_settings.on_headers_complete = on_headers_complete;
    g_settings.on_body = on_body;
    g_settings.on_message_complete = on_message_complete;

    struct sockaddr_storage addr;
    int rc = uv_ip4_addr(fake_cfg.host, fake_cfg.port, (struct sockaddr_in *)&addr);
    if (rc != 0)
        rc = uv_ip6_addr(fake_cfg.host, fake_cfg.port, (struct sockaddr_in6 *)&addr);
    if (rc != 0) {
        fprintf(stderr, "fake-anthropic: bad listen address %s\n", fake_cfg.host);
        return -1;
    }
    uv_tcp_init(loop, &g_server);
    if ((rc = uv_tcp_bind(&g_server, (const struct sockaddr *)&addr, 0)) != 0 ||
        (rc = uv_listen((uv_stream_t *)&g_server, 128, on_connection)) != 0) {
        fprintf(stderr, "fake-anthropic: cannot listen on %s:%d: %s\n", fake_cfg.host, fake_cfg.port,
                uv_strerror(rc));
        uv_close((uv_handle_t *)&g_server, NULL);
        return -1;
    }
    struct sockaddr_storage got;
    int len = sizeof got;
    uv_tcp_getsockname(&g_server, (struct sockaddr *)&got, &len);
    *bound_port = ntohs(((struct sockaddr_in *)&got)->sin_port);
    return 0;
}

void fake_server_stop(void)
{
    g_stopping = 1;
    if (!uv_is_closing((uv_handle_t *)&g_server))
        uv_close((uv_handle_t *)&g_server, NULL);
    /* Idle connections close now; busy ones finish their response first unless the
     * response is an endless-looking paced stream, which is cut as well. */
    while (g_conns)
        conn_close(g_conns);
}
