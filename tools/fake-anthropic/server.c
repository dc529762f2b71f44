/*
 * fake-anthropic on tools/common/http_server: each request gets a fake_conn holding
 * what the handlers see (fake_request: headers, body or body sink) and the response in
 * progress, whole or streamed piece by piece (paced, gzip-flushed). Bodies above
 * --max-body (or the batch limit) are answered 413 as soon as that is known.
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

#include "http_server.h"
#include "log_text.h"

#define FAKE_MAX_TARGET 8192
#define FAKE_IDLE_MS 120000 /* a connection with no request in progress and no bytes */
#define FAKE_PIPELINED_MAX (1024 * 1024)
#define FAKE_DRAIN_HIGH (256 * 1024)
#define FAKE_PIECE_MAX (16u * 1024 * 1024)

struct fake_conn {
    hs_request *r; /* NULL once the request finished */
    fake_request req;
    int answered; /* a response began: the rest of the body is not needed */
    z_stream z;
    int z_on;
    fake_produce_fn produce;
    void *state;
    void (*free_state)(void *);
    int pace_ms;
    uv_timer_t pace;
    int pace_active;
};

static hs_server *g_server;

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

/* ---------------------------------------------------------------- request state */

static void request_free(fake_request *r)
{
    for (int i = 0; i < r->nheaders; i++) {
        free(r->headers[i].name);
        free(r->headers[i].value);
    }
    r->nheaders = 0;
    free(r->target);
    free(r->path);
    bt__buf_free(&r->body);
    if (r->sink.free)
        r->sink.free(r->sink.ud);
    memset(&r->sink, 0, sizeof r->sink);
}

/* Copies what the handlers read from the parsed head; 0, or -1 when out of memory. */
static int request_fill(fake_request *q, hs_request *r)
{
    const hp_head *h = hs_request_head(r);
    q->method = h->method_id;
    snprintf(q->request_id, sizeof q->request_id, "req_fake_%06llu", (unsigned long long)hs_request_seq(r));
    bt__buf_init(&q->body, fake_cfg.max_body);
    q->target = strndup(h->target, h->target_len);
    size_t plen = strcspn(h->target, "?");
    q->path = strndup(h->target, plen);
    if (!q->target || !q->path)
        return -1;
    q->query = q->target[plen] == '?' ? q->target + plen + 1 : q->target + plen;
    for (size_t i = 0; i < h->n_fields && i < FAKE_MAX_HEADERS; i++) {
        fake_header *fh = &q->headers[q->nheaders];
        fh->name = strndup(h->fields[i].name, h->fields[i].name_len);
        fh->value = strndup(h->fields[i].value, h->fields[i].value_len);
        if (!fh->name || !fh->value) {
            free(fh->name);
            free(fh->value);
            return -1;
        }
        for (char *s = fh->name; *s; s++)
            *s = (char)tolower((unsigned char)*s);
        q->nheaders++;
    }
    const char *ae = fake_header_get(q, "accept-encoding");
    q->gzip_ok = fake_cfg.gzip && ae && strstr(ae, "gzip") != NULL;
    return 0;
}

static size_t body_limit(const fake_request *r)
{
    return r->sink.feed ? r->sink.limit : fake_cfg.max_body;
}

/* ---------------------------------------------------------------- responses */

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

/* The header lines every response of the fake carries. */
static void common_headers(bt__buf *h, const char *request_id, const char *content_type, int gzip)
{
    char date[64];
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    bt__buf_printf(h, "date: %s\r\n", date);
    if (content_type)
        bt__buf_printf(h, "content-type: %s\r\n", content_type);
    if (request_id[0])
        bt__buf_printf(h, "request-id: %s\r\n", request_id);
    bt__buf_append_str(h, "anthropic-organization-id: 00000000-0000-4000-8000-00000000fa4e\r\n");
    if (gzip)
        bt__buf_append_str(h, "content-encoding: gzip\r\nvary: accept-encoding\r\n");
}

static void start_response(fake_conn *c, const fake_request *req, int status, const char *content_type,
                           const char *extra, int gzip, int64_t content_length)
{
    c->answered = 1;
    bt__buf h;
    bt__buf_init(&h, 0);
    common_headers(&h, req->request_id, content_type, gzip);
    if (extra)
        bt__buf_append_str(&h, extra);
    hs_response_start(c->r, status, NULL, h.data, h.len, content_length);
    bt__buf_free(&h);
}

void fake_respond(fake_conn *c, const fake_request *req, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len)
{
    if (!c->r || c->answered)
        return;
    bt__buf out;
    bt__buf_init(&out, 0);
    int gzip = 0;
    if (req->gzip_ok && len > 0 && req->method != HTTP_HEAD) {
        z_stream z;
        memset(&z, 0, sizeof z);
        gzip = deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK &&
            deflate_into(&z, body, len, Z_FINISH, &out) == 0;
        deflateEnd(&z);
    }
    const char *data = gzip ? out.data : body;
    size_t n = gzip ? out.len : len;
    start_response(c, req, status, content_type, extra_headers, gzip, (int64_t)n);
    hs_response_write(c->r, data, n);
    hs_response_end(c->r);
    bt__buf_free(&out);
}

static void stream_stop(fake_conn *c)
{
    if (c->free_state)
        c->free_state(c->state);
    c->free_state = NULL;
    c->state = NULL;
    c->produce = NULL;
    if (c->z_on)
        deflateEnd(&c->z);
    c->z_on = 0;
    if (c->pace_active)
        uv_timer_stop(&c->pace);
    c->pace_active = 0;
}

static void send_piece(fake_conn *c, const char *data, size_t len, int final)
{
    if (!c->z_on) {
        hs_response_write(c->r, data, len);
        return;
    }
    bt__buf out;
    bt__buf_init(&out, 0);
    if (deflate_into(&c->z, data, len, final ? Z_FINISH : Z_SYNC_FLUSH, &out) == 0)
        hs_response_write(c->r, out.data, out.len);
    bt__buf_free(&out);
}

static void pump(fake_conn *c);

static void on_pace_timer(uv_timer_t *t)
{
    fake_conn *c = t->data;
    c->pace_active = 0;
    pump(c);
}

static void pump(fake_conn *c)
{
    while (c->produce && c->r && !c->pace_active) {
        if (hs_response_busy(c->r))
            return; /* on_drain calls again */
        bt__buf piece;
        bt__buf_init(&piece, FAKE_PIECE_MAX);
        int r = c->produce(c->state, &piece);
        send_piece(c, piece.data ? piece.data : "", piece.len, r == FAKE_PIECE_DONE);
        bt__buf_free(&piece);
        if (r == FAKE_PIECE_DONE) {
            stream_stop(c);
            hs_response_end(c->r);
            return;
        }
        if (r == FAKE_PIECE_ABORT) {
            stream_stop(c);
            hs_response_abort(c->r, "connection closed mid-stream (scenario)");
            return;
        }
        if (c->pace_ms > 0) {
            c->pace_active = 1;
            uv_timer_start(&c->pace, on_pace_timer, (uint64_t)c->pace_ms, 0);
            return;
        }
    }
}

void fake_respond_stream(fake_conn *c, const fake_request *req, int status, const char *content_type,
                         const char *extra_headers, fake_produce_fn produce, void *state,
                         void (*free_state)(void *), int pace_ms)
{
    if (!c->r || c->answered) {
        free_state(state);
        return;
    }
    if (req->gzip_ok) {
        memset(&c->z, 0, sizeof c->z);
        c->z_on = deflateInit2(&c->z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
    }
    start_response(c, req, status, content_type, extra_headers, c->z_on, -1);
    c->produce = produce;
    c->state = state;
    c->free_state = free_state;
    c->pace_ms = pace_ms;
    pump(c);
}

void fake_conn_close_after(fake_conn *c)
{
    if (c->r)
        hs_request_close_after(c->r);
}

void fake_respond_abort(fake_conn *c)
{
    c->answered = 1;
    if (c->r)
        hs_response_abort(c->r, "connection closed without a response (scenario)");
}

/* ---------------------------------------------------------------- the handler */

static void fake_on_request(hs_request *r)
{
    fake_conn *c = calloc(1, sizeof *c);
    if (!c) {
        hs_respond_error(r, 500, "api_error", "out of memory");
        return;
    }
    c->r = r;
    c->req.method = -1;
    hs_request_set_user(r, c);
    uv_timer_init(hs_server_loop(hs_request_server(r)), &c->pace);
    c->pace.data = c;
    if (request_fill(&c->req, r) != 0) {
        hs_respond_error(r, 500, "api_error", "out of memory");
        c->answered = 1;
        return;
    }
    fake_route_body(&c->req);
    const hp_head *h = hs_request_head(r);
    if (h->content_length > 0 && (uint64_t)h->content_length > body_limit(&c->req))
        fake_respond_error(c, &c->req, 413, "request_too_large", "Request body too large.");
}

static void fake_on_body(hs_request *r, const char *data, size_t len)
{
    fake_conn *c = hs_request_user(r);
    if (!c || c->answered)
        return;
    fake_request *q = &c->req;
    q->body_bytes += len;
    if (q->body_bytes > body_limit(q)) {
        fake_respond_error(c, q, 413, "request_too_large", "Request body too large.");
        return;
    }
    if (q->sink.feed) {
        if (!q->sink.stopped && q->sink.feed(q->sink.ud, data, len) != 0)
            q->sink.stopped = 1;
    } else if (bt__buf_append(&q->body, data, len) != 0) {
        fake_respond_error(c, q, 413, "request_too_large", "Request body too large.");
    }
}

static void fake_on_body_end(hs_request *r)
{
    fake_conn *c = hs_request_user(r);
    if (c && !c->answered)
        fake_dispatch(c, &c->req);
}

static void fake_on_drain(hs_request *r)
{
    fake_conn *c = hs_request_user(r);
    if (c)
        pump(c);
}

static void free_conn(uv_handle_t *h)
{
    free(h->data);
}

/* Access log: one line per request. Headers (and so credentials) are never logged. */
static void log_request(hs_request *r, const fake_conn *c, const hs_finish *f)
{
    double ms = (double)(uv_hrtime() - hs_request_start_ns(r)) / 1e6;
    const hp_head *h = hs_request_head(r);
    bt__buf line;
    bt__buf_init(&line, 4096);
    bt__buf_printf(&line, "fake-anthropic: %s ", h ? h->method : "-");
    if (h) {
        size_t at = line.len;
        log_text_append(&line, h->target, h->target_len, 200);
        for (size_t i = at; i < line.len; i++)
            if (line.data[i] == ' ')
                line.data[i] = '+';
    } else {
        bt__buf_append_char(&line, '-');
    }
    bt__buf_printf(&line, " %d req_fake_%06llu %.1fms", f->status, (unsigned long long)hs_request_seq(r), ms);
    if (c && c->req.log_note[0]) {
        bt__buf_append_char(&line, ' ');
        log_text_append(&line, c->req.log_note, strlen(c->req.log_note), 200);
    }
    if (!f->complete && f->reason) {
        bt__buf_append_str(&line, " (");
        log_text_append(&line, f->reason, strlen(f->reason), 200);
        bt__buf_append_char(&line, ')');
    }
    fprintf(stderr, "%s\n", line.data ? line.data : "");
    bt__buf_free(&line);
}

static void fake_on_finish(hs_request *r, const hs_finish *f)
{
    fake_conn *c = hs_request_user(r);
    log_request(r, c, f);
    if (!c)
        return;
    stream_stop(c);
    request_free(&c->req);
    c->r = NULL;
    uv_close((uv_handle_t *)&c->pace, free_conn);
}

static void fake_format_error(hs_request *r, int status, const char *type, const char *message,
                              bt__buf *headers, bt__buf *body)
{
    char id[32];
    snprintf(id, sizeof id, "req_fake_%06llu", (unsigned long long)hs_request_seq(r));
    common_headers(headers, id, "application/json", 0);
    fake_error_parts(id, status, type, message, headers, body);
}

int fake_server_start(uv_loop_t *loop, int *bound_port)
{
    /* Bodies are held (or parsed as they come) and dispatched whole; streamed answers
     * are pumped again on each drain; errors carry the request id like the real API's. */
    hs_handler handler = {0};
    handler.on_request = fake_on_request;
    handler.on_body = fake_on_body;
    handler.on_body_end = fake_on_body_end;
    handler.on_drain = fake_on_drain;
    handler.on_finish = fake_on_finish;
    handler.format_error = fake_format_error;
    hs_limits lim;
    hs_limits_default(&lim);
    lim.head.max_target_bytes = FAKE_MAX_TARGET;
    lim.idle_ms = FAKE_IDLE_MS;
    lim.max_pipelined_bytes = FAKE_PIPELINED_MAX;
    lim.write_high = FAKE_DRAIN_HIGH;
    lim.write_low = FAKE_DRAIN_HIGH / 2;
    g_server = hs_server_new(loop, &handler, &lim, NULL);
    char err[256];
    if (!g_server || hs_server_listen(g_server, fake_cfg.host, fake_cfg.port, 0, err, sizeof err) != 0) {
        fprintf(stderr, "fake-anthropic: %s\n", g_server ? err : "out of memory");
        hs_server_free(g_server);
        g_server = NULL;
        return -1;
    }
    const char *addr = hs_server_address(g_server);
    const char *colon = strrchr(addr, ':');
    *bound_port = colon ? atoi(colon + 1) : fake_cfg.port;
    return 0;
}

void fake_server_stop(void)
{
    /* Every connection closes now, paced streams included. */
    hs_server_free(g_server);
    g_server = NULL;
}
