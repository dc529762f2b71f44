/* The server's connections: reading and parsing, one request at a time; responses and
 * their framing; the timers; the connection limit. See http_server.h for the contract.
 *
 * Every loop entry point (read, write done, timer, shutdown done, the deferred tick)
 * ends in conn_run(), the only place that finishes requests, parses what is waiting and
 * closes connections. Calls the handler makes (respond, write, pause) only change state
 * and schedule conn_run() for the next tick, so a handler never sees one of its own
 * callbacks run inside a call it made. */
#include "http_server.h"

#include <llhttp.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>

#include "http_status.h"

#define READ_BUF_SIZE (64 * 1024)
/* A connection accepted over the limit gets this long to send its request. */
#define OVER_LIMIT_IDLE_MS 5000
/* Lingering ends after this long without a byte from the client (or at linger_ms). */
#define LINGER_QUIET_MS 2000
#define NO_DEADLINE UINT64_MAX

typedef enum { RQ_HEAD, RQ_BODY, RQ_DONE } rq_in;
typedef enum { RS_NONE, RS_STARTED, RS_ENDED, RS_ABORTED } rs_out;
typedef enum { CS_OPEN, CS_LINGER, CS_CLOSED } conn_state;

typedef struct hs_conn hs_conn;

struct hs_request {
    hs_conn *c;
    void *user;
    uint64_t seq, start_ns;
    const hp_head *head;
    rq_in in;
    rs_out out;
    int server_answered; /* the server answered (or cut) in the handler's place */
    int body_paused;
    int close_after;
    int keep;        /* the response allows another request on the connection */
    int chunked_out; /* chunked framing towards the client */
    int no_body_out; /* HEAD, 1xx, 204, 304 */
    int want_drain;
    int status;
    uint64_t body_out;
    /* the head's clock, then the body's minimum-rate window */
    uint64_t window_start_ms, window_bytes;
    const char *reason;
};

struct hs_conn {
    hs_server *s;
    uv_tcp_t tcp;
    uv_timer_t timer;
    int handles_open;
    conn_state cs;
    hp_parser *parser;
    hs_request *req;
    bt__buf stash; /* read but not parsed yet */
    size_t stash_off;
    hs_conn *prev, *next;           /* every connection */
    hs_conn *idle_prev, *idle_next; /* no request in flight, least recently active first */
    int in_idle;
    hs_conn *pend_prev, *pend_next; /* waiting for the tick */
    int pending;
    int depth;     /* > 0 while the server is calling the handler */
    int close_now; /* cut at the next conn_run */
    int no_more;   /* serve no further request (after an error) */
    int feed_owed; /* the parser may have an event with no input left (see conn_parse) */
    int reading, read_eof;
    int over_limit;
    int shutdown_sent;
    uv_shutdown_t shutdown_req;
    size_t out_pending;       /* bytes handed to uv_write, not completed yet */
    uint64_t write_wait_ms;   /* last progress of the output queue */
    uint64_t last_read_ms;    /* last byte from the client */
    uint64_t linger_start_ms; /* CS_LINGER: when the output was flushed */
    uint64_t linger_until;    /* ... and the latest close (0 until then) */
    const char *close_reason;
    char peer[64];
    char local[80];
};

struct hs_server {
    uv_loop_t *loop;
    hs_handler h;
    hs_limits lim;
    void *user;
    uv_tcp_t listener;
    int listener_open;
    uv_idle_t tick;
    int handles_open; /* listener (when open) and tick */
    int freeing;
    hs_conn *conns;
    unsigned n_conns, n_over;
    hs_conn *idle_head, *idle_tail;
    hs_conn *pend_head;
    int draining;
    int drained_called;
    void (*on_drained)(hs_server *s);
    uint64_t seq;
    hs_stats st;
    char address[80];
    char readbuf[READ_BUF_SIZE];
};

typedef struct hs_write {
    uv_write_t req;
    hs_conn *c;
    size_t len;
    char data[];
} hs_write;

static void conn_run(hs_conn *c);
static void maybe_free_server(hs_server *s);

void hs_limits_default(hs_limits *l)
{
    hp_limits_default(&l->head);
    l->max_connections = 4096;
    l->idle_ms = 60000;
    l->head_ms = 60000;
    l->body_window_ms = 10000;
    l->body_min_rate = 1024;
    l->linger_ms = 30000;
    l->max_pipelined_bytes = 64 * 1024;
    l->write_high = 1024 * 1024;
    l->write_low = 256 * 1024;
}

static uint64_t now_ms(hs_conn *c)
{
    return uv_now(c->s->loop);
}

/* ---- lists ---- */

static void idle_remove(hs_conn *c)
{
    if (!c->in_idle)
        return;
    hs_server *s = c->s;
    if (c->idle_prev)
        c->idle_prev->idle_next = c->idle_next;
    else
        s->idle_head = c->idle_next;
    if (c->idle_next)
        c->idle_next->idle_prev = c->idle_prev;
    else
        s->idle_tail = c->idle_prev;
    c->idle_prev = c->idle_next = NULL;
    c->in_idle = 0;
}

/* Adds at the most recently active end, or (`front`) at the end evicted first. */
static void idle_add(hs_conn *c, int front)
{
    hs_server *s = c->s;
    if (c->over_limit)
        return; /* not counted against the limit, so never evicted to make room */
    idle_remove(c);
    c->in_idle = 1;
    if (front) {
        c->idle_next = s->idle_head;
        if (s->idle_head)
            s->idle_head->idle_prev = c;
        else
            s->idle_tail = c;
        s->idle_head = c;
    } else {
        c->idle_prev = s->idle_tail;
        if (s->idle_tail)
            s->idle_tail->idle_next = c;
        else
            s->idle_head = c;
        s->idle_tail = c;
    }
}

static void pend_remove(hs_conn *c)
{
    if (!c->pending)
        return;
    if (c->pend_prev)
        c->pend_prev->pend_next = c->pend_next;
    else
        c->s->pend_head = c->pend_next;
    if (c->pend_next)
        c->pend_next->pend_prev = c->pend_prev;
    c->pend_prev = c->pend_next = NULL;
    c->pending = 0;
}

static void on_tick(uv_idle_t *t);

static void start_tick(hs_server *s)
{
    if (!s->freeing)
        uv_idle_start(&s->tick, on_tick);
}

/* conn_run() at the next loop turn. */
static void conn_schedule(hs_conn *c)
{
    if (c->cs == CS_CLOSED || c->pending)
        return;
    hs_server *s = c->s;
    c->pending = 1;
    c->pend_prev = NULL;
    c->pend_next = s->pend_head;
    if (s->pend_head)
        s->pend_head->pend_prev = c;
    s->pend_head = c;
    start_tick(s);
}

static void on_tick(uv_idle_t *t)
{
    hs_server *s = t->data;
    while (s->pend_head) {
        hs_conn *c = s->pend_head;
        pend_remove(c);
        conn_run(c);
    }
    uv_idle_stop(&s->tick);
    if (s->draining && !s->conns && s->on_drained && !s->drained_called) {
        s->drained_called = 1;
        s->on_drained(s);
    }
}

/* ---- closing ---- */

static void on_handle_closed(uv_handle_t *h)
{
    hs_conn *c = h->data;
    if (--c->handles_open > 0)
        return;
    hs_server *s = c->s;
    if (c->prev)
        c->prev->next = c->next;
    else
        s->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    hp_parser_free(c->parser);
    bt__buf_free(&c->stash);
    free(c);
    if (s->draining && !s->conns)
        start_tick(s); /* on_drained runs from the tick */
    maybe_free_server(s);
}

static void call_finish(hs_conn *c)
{
    hs_request *r = c->req;
    c->req = NULL;
    if (!r)
        return;
    hs_finish f;
    f.status = r->status;
    f.complete = r->out == RS_ENDED && !r->server_answered;
    f.body_out = r->body_out;
    f.reason = r->reason;
    if (!f.complete && !f.reason)
        f.reason = c->close_reason ? c->close_reason : "connection closed";
    if (c->s->h.on_finish) {
        c->depth++;
        c->s->h.on_finish(r, &f);
        c->depth--;
    }
    free(r);
}

/* Closes at once; a request in flight ends incomplete. From loop context only. */
static void conn_close(hs_conn *c, const char *why)
{
    if (c->cs == CS_CLOSED)
        return;
    if (why && !c->close_reason)
        c->close_reason = why;
    hs_request *r = c->req;
    if (r && r->out != RS_ENDED && r->out != RS_ABORTED) {
        r->out = RS_ABORTED;
        if (!r->reason)
            r->reason = c->close_reason;
    }
    /* a partial request that never got past blank lines is not a request */
    if (r && r->in == RQ_HEAD && r->out == RS_ABORTED && !r->status && !hp_parser_in_head(c->parser)) {
        c->req = NULL;
        free(r);
    }
    call_finish(c);
    c->cs = CS_CLOSED;
    idle_remove(c);
    pend_remove(c);
    hs_server *s = c->s;
    if (c->over_limit)
        s->n_over--;
    else
        s->n_conns--;
    s->st.connections_active--;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_handle_closed);
    uv_close((uv_handle_t *)&c->timer, on_handle_closed);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    hs_conn *c = req->data;
    if (c->cs == CS_CLOSED)
        return;
    if (status < 0 || c->read_eof) {
        conn_close(c, status < 0 ? "client went away" : NULL);
        return;
    }
    /* Everything was written: read and drop for a while, so that a client still
     * sending gets our answer and a FIN rather than a reset. */
    c->linger_start_ms = now_ms(c);
    c->linger_until = c->linger_start_ms + c->s->lim.linger_ms;
    idle_add(c, 1);
    conn_run(c);
}

/* Graceful close: what is queued goes out, then a FIN, then the lingering. */
static void conn_linger(hs_conn *c)
{
    if (c->cs != CS_OPEN)
        return;
    c->cs = CS_LINGER;
    idle_remove(c);
    bt__buf_reset(&c->stash);
    c->stash_off = 0;
    c->shutdown_req.data = c;
    if (uv_shutdown(&c->shutdown_req, (uv_stream_t *)&c->tcp, on_shutdown) != 0)
        c->close_now = 1;
    else
        c->shutdown_sent = 1;
    if (!c->out_pending)
        idle_add(c, 1); /* nothing owed to the client: the first to go under pressure */
}

/* ---- writing ---- */

static void on_written(uv_write_t *req, int status)
{
    hs_write *w = (hs_write *)req;
    hs_conn *c = w->c;
    c->out_pending -= w->len;
    free(w);
    if (c->cs == CS_CLOSED)
        return;
    c->write_wait_ms = now_ms(c);
    if (status < 0) {
        conn_close(c, "client went away");
        return;
    }
    if (c->cs == CS_LINGER && !c->out_pending && !c->in_idle)
        idle_add(c, 1);
    hs_request *r = c->req;
    if (r && r->want_drain && c->out_pending < c->s->lim.write_low) {
        r->want_drain = 0;
        if (c->s->h.on_drain) {
            c->depth++;
            c->s->h.on_drain(r);
            c->depth--;
        }
    }
    conn_run(c);
}

static int conn_write(hs_conn *c, const void *a, size_t al, const void *b, size_t bl, const void *d,
                      size_t dl)
{
    if (c->cs == CS_CLOSED || c->close_now)
        return -1;
    size_t total = al + bl + dl;
    hs_write *w = malloc(sizeof *w + total);
    if (w) {
        w->c = c;
        w->len = total;
        if (al)
            memcpy(w->data, a, al);
        if (bl)
            memcpy(w->data + al, b, bl);
        if (dl)
            memcpy(w->data + al + bl, d, dl);
        uv_buf_t buf = uv_buf_init(w->data, (unsigned)total);
        if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &buf, 1, on_written) != 0) {
            free(w);
            w = NULL;
        }
    }
    if (!w) {
        c->close_now = 1;
        if (!c->close_reason)
            c->close_reason = "client went away";
        conn_schedule(c);
        return -1;
    }
    if (c->out_pending == 0)
        c->write_wait_ms = now_ms(c);
    c->out_pending += total;
    c->s->st.bytes_out += total;
    return 0;
}

/* ---- the response ---- */

static int can_respond(const hs_request *r)
{
    return r && r->c->cs == CS_OPEN && !r->c->close_now && !r->server_answered && r->out != RS_ENDED &&
        r->out != RS_ABORTED;
}

/* Every line "Name: value\r\n", a token name and no control character but HTAB in the
 * value: nothing a tool sends can split or fold a header line. */
static int headers_text_ok(const char *h, size_t n)
{
    size_t i = 0;
    while (i < n) {
        size_t s = i;
        while (i < n && hp_is_tchar((unsigned char)h[i]))
            i++;
        if (i == s || i >= n || h[i] != ':')
            return 0;
        for (i++; i < n && h[i] != '\r'; i++) {
            unsigned char ch = (unsigned char)h[i];
            if (ch != '\t' && (ch < 0x20 || ch == 0x7f))
                return 0;
        }
        if (i + 1 >= n || h[i + 1] != '\n')
            return 0;
        i += 2;
    }
    return 1;
}

int hs_response_start(hs_request *r, int status, const char *reason, const char *headers, size_t headers_len,
                      int64_t content_length)
{
    if (!can_respond(r) || r->out != RS_NONE)
        return -1;
    hs_conn *c = r->c;
    if (!headers)
        headers_len = 0;
    if (status < 100 || status > 999 || !headers_text_ok(headers, headers_len)) {
        hs_response_abort(r, "invalid response head");
        return -1;
    }
    for (const char *p = reason; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            reason = NULL;
    if (!reason || !*reason)
        reason = http_status_text(status);
    int is_head = r->head && r->head->method_id == HTTP_HEAD;
    int bodiless = status < 200 || status == 204 || status == 304;
    int minor = r->head ? r->head->http_minor : 1;
    int keep = r->head && r->head->keep_alive && !r->close_after && !c->over_limit && !c->no_more &&
        !c->s->draining && r->in == RQ_DONE;
    bt__buf h;
    bt__buf_init(&h, headers_len + 1024);
    bt__buf_printf(&h, "HTTP/1.1 %d %s\r\n", status, reason);
    bt__buf_append(&h, headers, headers_len);
    if (!bodiless) {
        if (content_length >= 0) {
            bt__buf_printf(&h, "Content-Length: %lld\r\n", (long long)content_length);
        } else if (!is_head) {
            if (minor >= 1) {
                bt__buf_append_str(&h, "Transfer-Encoding: chunked\r\n");
                r->chunked_out = 1;
            } else {
                keep = 0; /* HTTP/1.0: the body ends when the connection does */
            }
        }
    }
    if (!keep)
        bt__buf_append_str(&h, "Connection: close\r\n");
    else if (minor == 0)
        bt__buf_append_str(&h, "Connection: keep-alive\r\n");
    bt__buf_append_str(&h, "\r\n");
    r->keep = keep;
    r->status = status;
    r->out = RS_STARTED;
    r->no_body_out = is_head || bodiless;
    int rc = h.truncated ? -1 : conn_write(c, h.data, h.len, NULL, 0, NULL, 0);
    bt__buf_free(&h);
    return rc;
}

int hs_response_write(hs_request *r, const void *data, size_t len)
{
    if (!can_respond(r) || r->out != RS_STARTED)
        return -1;
    if (len == 0 || r->no_body_out)
        return 0;
    r->body_out += len;
    if (!r->chunked_out)
        return conn_write(r->c, data, len, NULL, 0, NULL, 0);
    char size[24];
    int n = snprintf(size, sizeof size, "%zx\r\n", len);
    return conn_write(r->c, size, (size_t)n, data, len, "\r\n", 2);
}

int hs_response_busy(hs_request *r)
{
    if (r->c->out_pending < r->c->s->lim.write_high)
        return 0;
    r->want_drain = 1;
    return 1;
}

size_t hs_response_queued(const hs_request *r)
{
    return r->c->out_pending;
}

int hs_response_end(hs_request *r)
{
    if (!can_respond(r) || r->out != RS_STARTED)
        return -1;
    int rc = 0;
    if (r->chunked_out && !r->no_body_out)
        rc = conn_write(r->c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
    r->out = RS_ENDED;
    conn_schedule(r->c);
    return rc;
}

int hs_respond(hs_request *r, int status, const char *headers, const void *body, size_t len)
{
    if (hs_response_start(r, status, NULL, headers, headers ? strlen(headers) : 0, (int64_t)len) != 0)
        return -1;
    if (len && hs_response_write(r, body, len) != 0)
        return -1;
    return hs_response_end(r);
}

void hs_error_json(bt__buf *body, const char *type, const char *message)
{
    bt__buf_append_str(body, "{\"type\":\"error\",\"error\":{\"type\":");
    bt__buf_append_json_string(body, type, strlen(type));
    bt__buf_append_str(body, ",\"message\":");
    bt__buf_append_json_string(body, message, strlen(message));
    bt__buf_append_str(body, "}}\n");
}

int hs_respond_error(hs_request *r, int status, const char *type, const char *message)
{
    if (!can_respond(r) || r->out != RS_NONE)
        return -1;
    bt__buf headers, body;
    bt__buf_init(&headers, 16 * 1024);
    bt__buf_init(&body, 64 * 1024);
    if (r->c->s->h.format_error) {
        r->c->s->h.format_error(r, status, type, message, &headers, &body);
    } else {
        bt__buf_append_str(&headers, "Content-Type: application/json\r\n");
        hs_error_json(&body, type, message);
    }
    int rc = hs_response_start(r, status, NULL, headers.data, headers.len, (int64_t)body.len);
    if (rc == 0 && body.len)
        rc = hs_response_write(r, body.data, body.len);
    if (rc == 0)
        rc = hs_response_end(r);
    bt__buf_free(&headers);
    bt__buf_free(&body);
    return rc;
}

void hs_response_abort(hs_request *r, const char *reason)
{
    if (r->out == RS_ENDED || r->out == RS_ABORTED)
        return;
    r->out = RS_ABORTED;
    if (!r->reason)
        r->reason = reason;
    conn_schedule(r->c);
}

/* The server answers in the handler's place (bad request, timeout): the error when no
 * response began, else a cut. No further request is read on this connection. */
static void server_answer(hs_conn *c, int status, const char *reason)
{
    hs_request *r = c->req;
    c->no_more = 1;
    if (!r || r->out == RS_ENDED || r->out == RS_ABORTED)
        return;
    c->s->st.rejected++;
    if (status == 408)
        c->s->st.timeouts++;
    if (r->out == RS_NONE && can_respond(r)) {
        r->close_after = 1;
        hs_respond_error(r, status, anthropic_error_type(status), reason);
        if (r->out != RS_ENDED)
            r->out = RS_ABORTED;
    } else {
        r->out = RS_ABORTED;
    }
    r->server_answered = 1;
    r->reason = reason;
}

/* ---- reading ---- */

static void req_begin(hs_conn *c)
{
    hs_request *r = calloc(1, sizeof *r);
    if (!r) {
        c->close_now = 1;
        return;
    }
    r->c = c;
    r->seq = ++c->s->seq;
    r->start_ns = uv_hrtime();
    r->window_start_ms = now_ms(c);
    c->req = r;
    c->s->st.requests++;
    if (c->over_limit)
        c->s->st.over_limit++;
}

static void on_head(hs_conn *c)
{
    hs_request *r = c->req;
    hs_server *s = c->s;
    r->head = hp_parser_head(c->parser);
    r->in = RQ_BODY;
    if (!r->head->chunked && r->head->content_length == 0) {
        /* The end of a request without a body is known now: the handler sees a whole
         * request, and the connection can be kept if it answers at once. */
        size_t unused;
        if (hp_feed(c->parser, "", 0, &unused) == HP_END)
            r->in = RQ_DONE;
    }
    r->window_start_ms = now_ms(c);
    r->window_bytes = 0;
    idle_remove(c);
    c->depth++;
    s->h.on_request(r);
    if (r->in == RQ_DONE && can_respond(r) && s->h.on_body_end)
        s->h.on_body_end(r);
    c->depth--;
    if (r->out == RS_NONE && r->in == RQ_BODY && r->head->expect_continue && r->head->http_minor >= 1) {
        static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
        conn_write(c, cont, sizeof cont - 1, NULL, 0, NULL, 0);
    }
}

/* Parses what it can and returns the bytes consumed. Stops at the end of a request
 * (what follows is the next one, read once this one is answered), when the handler
 * paused the body or answered early, and on errors. */
static size_t conn_parse(hs_conn *c, const char *data, size_t len)
{
    size_t used_total = 0;
    /* The end of a request can follow its last byte with no input: after a head or a
     * body piece the parser is fed once more, empty. When parsing stops before that
     * (the handler paused the body during its last piece), it is owed for later. */
    int feed_empty = c->feed_owed;
    c->feed_owed = 0;
    while (c->cs == CS_OPEN && !c->close_now && !c->no_more) {
        hs_request *r = c->req;
        if (r && (r->in == RQ_DONE || r->out == RS_ENDED || r->out == RS_ABORTED))
            break;
        if (r && r->in == RQ_BODY && r->body_paused) {
            c->feed_owed = feed_empty;
            break;
        }
        if (len == 0 && !feed_empty)
            break;
        feed_empty = 0;
        size_t used = 0;
        hp_event ev = hp_feed(c->parser, data, len, &used);
        data += used;
        len -= used;
        used_total += used;
        if (!c->req && (ev != HP_NEED_MORE || hp_parser_in_head(c->parser))) {
            req_begin(c);
            if (!c->req)
                break;
        }
        r = c->req;
        if (ev == HP_NEED_MORE) {
            break;
        } else if (ev == HP_HEAD) {
            on_head(c);
            feed_empty = 1;
        } else if (ev == HP_BODY) {
            size_t bl;
            const char *b = hp_parser_body(c->parser, &bl);
            r->window_bytes += bl;
            if (can_respond(r) && c->s->h.on_body) {
                c->depth++;
                c->s->h.on_body(r, b, bl);
                c->depth--;
            }
            feed_empty = 1;
        } else if (ev == HP_END) {
            r->in = RQ_DONE;
            if (can_respond(r) && c->s->h.on_body_end) {
                c->depth++;
                c->s->h.on_body_end(r);
                c->depth--;
            }
        } else {
            const char *reason = NULL;
            int status = hp_parser_error(c->parser, &reason);
            server_answer(c, status, reason ? reason : "bad request");
            break;
        }
    }
    return used_total;
}

static size_t stash_len(const hs_conn *c)
{
    return c->stash.len - c->stash_off;
}

static void stash_consume(hs_conn *c, size_t n)
{
    c->stash_off += n;
    if (c->stash_off >= c->stash.len) {
        bt__buf_reset(&c->stash);
        c->stash_off = 0;
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    (void)suggested;
    hs_conn *c = h->data;
    buf->base = c->s->readbuf; /* parsed (or stashed) before the next read */
    buf->len = sizeof c->s->readbuf;
}

static void update_reading(hs_conn *c);

static void on_read(uv_stream_t *st, ssize_t n, const uv_buf_t *buf)
{
    hs_conn *c = st->data;
    if (n == 0 || c->cs == CS_CLOSED)
        return;
    if (n < 0) {
        c->read_eof = 1;
        update_reading(c);
        hs_request *r = c->req;
        if (n != UV_EOF)
            conn_close(c, "client went away");
        else if (c->cs == CS_LINGER)
            conn_close(c, NULL);
        else if (r && r->in == RQ_BODY && r->out != RS_ENDED && r->out != RS_ABORTED)
            conn_close(c, "client closed before the request body was complete");
        else if (r && r->in == RQ_HEAD && hp_parser_in_head(c->parser))
            conn_close(c, "client closed before the request head was complete");
        conn_run(c); /* a response in flight still goes out, then the close */
        return;
    }
    c->s->st.bytes_in += (uint64_t)n;
    c->last_read_ms = now_ms(c);
    if (c->cs == CS_LINGER) {
        conn_run(c); /* dropped */
        return;
    }
    if (c->in_idle)
        idle_add(c, 0); /* most recently active now */
    size_t used = 0;
    if (stash_len(c) == 0)
        used = conn_parse(c, buf->base, (size_t)n);
    if (used < (size_t)n && c->cs == CS_OPEN && !c->no_more &&
        bt__buf_append(&c->stash, buf->base + used, (size_t)n - used) != 0)
        c->close_now = 1; /* unreachable: reading stops before the stash can fill */
    conn_run(c);
}

static void update_reading(hs_conn *c)
{
    int want = 0;
    if (c->cs == CS_LINGER) {
        want = !c->read_eof;
    } else if (c->cs == CS_OPEN && !c->read_eof && !c->close_now) {
        hs_request *r = c->req;
        want = !(r && r->in == RQ_BODY && r->body_paused) && stash_len(c) < c->s->lim.max_pipelined_bytes;
    }
    if (want && !c->reading) {
        if (uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read) == 0)
            c->reading = 1;
    } else if (!want && c->reading) {
        uv_read_stop((uv_stream_t *)&c->tcp);
        c->reading = 0;
    }
}

/* ---- timers ---- */

static uint64_t min_u64(uint64_t a, uint64_t b)
{
    return a < b ? a : b;
}

/* No request in flight: between requests, or only blank lines of the next so far. */
static int conn_between_requests(const hs_conn *c)
{
    return !c->req || (c->req->in == RQ_HEAD && c->req->out == RS_NONE && !hp_parser_in_head(c->parser));
}

static int body_clock_running(const hs_request *r)
{
    return r->in == RQ_BODY && !r->body_paused && r->out != RS_ENDED && r->out != RS_ABORTED &&
        !r->server_answered;
}

/* A lingering connection closes once the client went quiet, or at the latest at
 * linger_until. */
static uint64_t linger_deadline(const hs_conn *c)
{
    uint64_t quiet =
        (c->last_read_ms > c->linger_start_ms ? c->last_read_ms : c->linger_start_ms) + LINGER_QUIET_MS;
    return min_u64(quiet, c->linger_until);
}

static uint64_t conn_deadline(hs_conn *c)
{
    const hs_limits *l = &c->s->lim;
    uint64_t d = NO_DEADLINE;
    if (c->out_pending)
        d = c->write_wait_ms + l->idle_ms;
    if (c->cs == CS_LINGER)
        return c->linger_until ? min_u64(d, linger_deadline(c)) : d;
    hs_request *r = c->req;
    if (conn_between_requests(c)) {
        d = min_u64(d, c->last_read_ms + (c->over_limit ? OVER_LIMIT_IDLE_MS : l->idle_ms));
    } else if (r->in == RQ_HEAD && r->out == RS_NONE) {
        d = min_u64(d, r->window_start_ms + l->head_ms);
    } else if (body_clock_running(r)) {
        d = min_u64(d, c->last_read_ms + l->idle_ms);
        if (l->body_min_rate)
            d = min_u64(d, r->window_start_ms + l->body_window_ms);
    }
    return d;
}

static void on_timer(uv_timer_t *t);

static void arm_timer(hs_conn *c)
{
    if (c->cs == CS_CLOSED)
        return;
    uint64_t d = conn_deadline(c), now = now_ms(c);
    if (d == NO_DEADLINE)
        uv_timer_stop(&c->timer);
    else
        uv_timer_start(&c->timer, on_timer, d > now ? d - now : 0, 0);
}

static void on_timer(uv_timer_t *t)
{
    hs_conn *c = t->data;
    const hs_limits *l = &c->s->lim;
    uint64_t now = now_ms(c);
    hs_request *r = c->req;
    if (c->cs == CS_CLOSED)
        return;
    if (c->out_pending && now >= c->write_wait_ms + l->idle_ms) {
        conn_close(c, "client stopped reading the response");
    } else if (c->cs == CS_LINGER) {
        if (c->linger_until && now >= linger_deadline(c))
            conn_close(c, NULL);
    } else if (conn_between_requests(c)) {
        if (now >= c->last_read_ms + (c->over_limit ? OVER_LIMIT_IDLE_MS : l->idle_ms))
            conn_close(c, "idle");
    } else if (r->in == RQ_HEAD && r->out == RS_NONE) {
        if (now >= r->window_start_ms + l->head_ms)
            server_answer(c, 408, "request head not received in time");
    } else if (body_clock_running(r)) {
        if (now >= c->last_read_ms + l->idle_ms) {
            server_answer(c, 408, "request body stopped arriving");
        } else if (l->body_min_rate && now >= r->window_start_ms + l->body_window_ms) {
            uint64_t need = (uint64_t)l->body_min_rate * (now - r->window_start_ms) / 1000;
            if (r->window_bytes < need) {
                server_answer(c, 408, "request body arrived slower than the minimum rate");
            } else {
                r->window_start_ms = now;
                r->window_bytes = 0;
            }
        }
    }
    conn_run(c);
}

/* ---- the driver ---- */

static void finish_request(hs_conn *c)
{
    hs_request *r = c->req;
    /* An aborted response, or one that ended before its request did (the rest of the
     * body is never read), ends the connection too. */
    int keep = r->keep && r->out == RS_ENDED && r->in == RQ_DONE && !c->no_more && !c->s->draining;
    call_finish(c);
    if (keep) {
        c->last_read_ms = now_ms(c);
        idle_add(c, 0);
    } else {
        conn_linger(c);
    }
}

static void conn_run(hs_conn *c)
{
    if (c->cs == CS_CLOSED || c->depth)
        return;
    for (;;) {
        if (c->close_now) {
            conn_close(c, NULL);
            return;
        }
        hs_request *r = c->req;
        if (r && (r->out == RS_ENDED || r->out == RS_ABORTED)) {
            finish_request(c);
            continue;
        }
        if (c->cs != CS_OPEN)
            break;
        int owed = c->feed_owed && c->req && c->req->in == RQ_BODY && !c->req->body_paused;
        if ((stash_len(c) || owed) && !c->no_more) {
            rq_in before = c->req ? c->req->in : RQ_HEAD;
            size_t used = conn_parse(c, c->stash.data ? c->stash.data + c->stash_off : "", stash_len(c));
            stash_consume(c, used);
            if (used ||
                (c->req && (c->req->in != before || c->req->out == RS_ENDED || c->req->out == RS_ABORTED)) ||
                c->close_now)
                continue;
        }
        if (conn_between_requests(c) && (c->read_eof || c->no_more || c->s->draining)) {
            /* nothing more will be served: every complete request was answered */
            conn_linger(c);
            continue;
        }
        break;
    }
    update_reading(c);
    arm_timer(c);
}

/* ---- the request ---- */

const hp_head *hs_request_head(const hs_request *r)
{
    return r->head;
}

const char *hs_request_header(const hs_request *r, const char *name, size_t *len)
{
    const hp_field *f = r->head ? hp_head_field(r->head, name) : NULL;
    *len = f ? f->value_len : 0;
    return f ? f->value : NULL;
}

void hs_request_set_user(hs_request *r, void *user)
{
    r->user = user;
}

void *hs_request_user(const hs_request *r)
{
    return r->user;
}

hs_server *hs_request_server(const hs_request *r)
{
    return r->c->s;
}

uint64_t hs_request_seq(const hs_request *r)
{
    return r->seq;
}

uint64_t hs_request_start_ns(const hs_request *r)
{
    return r->start_ns;
}

const char *hs_request_peer(const hs_request *r)
{
    return r->c->peer;
}

const char *hs_request_local_authority(const hs_request *r)
{
    return r->c->local;
}

int hs_request_over_limit(const hs_request *r)
{
    return r->c->over_limit;
}

void hs_request_pause_body(hs_request *r, int pause)
{
    if (!!pause == r->body_paused)
        return;
    r->body_paused = !!pause;
    if (!pause) {
        /* the wait was the handler's: the client's clocks start again */
        r->window_start_ms = now_ms(r->c);
        r->window_bytes = 0;
        r->c->last_read_ms = r->window_start_ms;
    } else if (r->c->depth == 0) {
        update_reading(r->c);
    }
    conn_schedule(r->c);
}

void hs_request_close_after(hs_request *r)
{
    r->close_after = 1;
}

/* ---- accepting ---- */

static void format_addr(const struct sockaddr_storage *ss, char *ip, size_t iplen, char *auth, size_t authlen)
{
    int port = 0;
    ip[0] = '\0';
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)ss;
        uv_ip6_name(a, ip, iplen);
        port = ntohs(a->sin6_port);
        if (auth)
            snprintf(auth, authlen, "[%s]:%d", ip, port);
    } else if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)ss;
        uv_ip4_name(a, ip, iplen);
        port = ntohs(a->sin_port);
        if (auth)
            snprintf(auth, authlen, "%s:%d", ip, port);
    } else if (auth) {
        auth[0] = '\0';
    }
}

static void free_handle(uv_handle_t *h)
{
    free(h);
}

static void free_unlinked_conn(uv_handle_t *h)
{
    free(h->data);
}

/* Takes a connection off the backlog and closes it unserved. */
static void refuse(hs_server *s)
{
    uv_tcp_t *t = malloc(sizeof *t);
    if (!t)
        return;
    uv_tcp_init(s->loop, t);
    if (uv_accept((uv_stream_t *)&s->listener, (uv_stream_t *)t) == 0)
        s->st.connections_refused++;
    uv_close((uv_handle_t *)t, free_handle);
}

static void on_connection(uv_stream_t *listener, int status)
{
    hs_server *s = listener->data;
    if (status < 0 || s->freeing || s->draining)
        return;
    int over = 0;
    if (s->n_conns >= s->lim.max_connections && s->idle_head) {
        /* Make room: the connection idle the longest goes (no request is in flight on
         * it; a client may always find an idle keep-alive connection closed). */
        s->st.connections_evicted++;
        conn_close(s->idle_head, "closed to make room (connection limit)");
    }
    if (s->n_conns >= s->lim.max_connections) {
        /* Every connection is busy: a few more may still ask for cheap answers. */
        if (s->n_over >= s->lim.max_connections / 16 + 16) {
            refuse(s);
            return;
        }
        over = 1;
    }
    hs_conn *c = calloc(1, sizeof *c);
    hp_parser *parser = c ? hp_parser_new(&s->lim.head) : NULL;
    if (!parser) {
        free(c);
        refuse(s);
        return;
    }
    c->s = s;
    c->parser = parser;
    uv_tcp_init(s->loop, &c->tcp);
    c->tcp.data = c;
    if (uv_accept(listener, (uv_stream_t *)&c->tcp) != 0) {
        hp_parser_free(parser);
        uv_close((uv_handle_t *)&c->tcp, free_unlinked_conn);
        return;
    }
    uv_timer_init(s->loop, &c->timer);
    c->timer.data = c;
    c->handles_open = 2;
    c->over_limit = over;
    if (over)
        s->n_over++;
    else
        s->n_conns++;
    s->st.connections_total++;
    s->st.connections_active++;
    uv_tcp_nodelay(&c->tcp, 1);
    struct sockaddr_storage ss;
    int sl = sizeof ss;
    char ip[64];
    if (uv_tcp_getpeername(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        format_addr(&ss, c->peer, sizeof c->peer, NULL, 0);
    sl = sizeof ss;
    if (uv_tcp_getsockname(&c->tcp, (struct sockaddr *)&ss, &sl) == 0)
        format_addr(&ss, ip, sizeof ip, c->local, sizeof c->local);
    bt__buf_init(&c->stash, s->lim.max_pipelined_bytes + READ_BUF_SIZE);
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    c->last_read_ms = now_ms(c);
    idle_add(c, 0);
    conn_run(c);
}

/* ---- the server ---- */

hs_server *hs_server_new(uv_loop_t *loop, const hs_handler *handler, const hs_limits *limits, void *user)
{
    hs_server *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->loop = loop;
    s->h = *handler;
    if (limits)
        s->lim = *limits;
    else
        hs_limits_default(&s->lim);
    if (s->lim.write_low > s->lim.write_high)
        s->lim.write_low = s->lim.write_high;
    s->user = user;
    uv_idle_init(loop, &s->tick);
    s->tick.data = s;
    s->handles_open = 1;
    return s;
}

int hs_server_listen(hs_server *s, const char *host, int port, unsigned flags, char *err, size_t errlen)
{
    struct sockaddr_storage addr;
    memset(&addr, 0, sizeof addr);
    if (!strcmp(host, "localhost"))
        host = "127.0.0.1";
    if (uv_ip4_addr(host, port, (struct sockaddr_in *)&addr) != 0 &&
        uv_ip6_addr(host, port, (struct sockaddr_in6 *)&addr) != 0) {
        snprintf(err, errlen, "not a numeric IP address: %s", host);
        return -1;
    }
    uv_tcp_init_ex(s->loop, &s->listener, addr.ss_family);
    s->listener.data = s;
    s->listener_open = 1;
    s->handles_open++;
    int rc = 0;
    if (flags & HS_LISTEN_REUSEPORT) {
        uv_os_fd_t fd;
        int one = 1;
        if (uv_fileno((uv_handle_t *)&s->listener, &fd) != 0 ||
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0)
            rc = UV_EINVAL;
    }
    if (rc == 0)
        rc = uv_tcp_bind(&s->listener, (struct sockaddr *)&addr, 0);
    /* A burst of new clients (thousands of agents starting at once) waits in the kernel
     * rather than having its SYNs dropped and retried a second later. */
    if (rc == 0)
        rc = uv_listen((uv_stream_t *)&s->listener, SOMAXCONN, on_connection);
    if (rc != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", host, port, uv_strerror(rc));
        return -1;
    }
    struct sockaddr_storage bound;
    int bl = sizeof bound;
    char ip[64];
    if (uv_tcp_getsockname(&s->listener, (struct sockaddr *)&bound, &bl) == 0)
        format_addr(&bound, ip, sizeof ip, s->address, sizeof s->address);
    return 0;
}

const char *hs_server_address(const hs_server *s)
{
    return s->address;
}

uv_loop_t *hs_server_loop(const hs_server *s)
{
    return s->loop;
}

void *hs_server_user(const hs_server *s)
{
    return s->user;
}

void hs_server_stats(const hs_server *s, hs_stats *out)
{
    *out = s->st;
}

static void on_server_handle_closed(uv_handle_t *h)
{
    hs_server *s = h->data;
    s->handles_open--;
    maybe_free_server(s);
}

static void close_listener(hs_server *s)
{
    if (s->listener_open) {
        s->listener_open = 0;
        uv_close((uv_handle_t *)&s->listener, on_server_handle_closed);
    }
}

void hs_server_drain(hs_server *s, void (*on_drained)(hs_server *s))
{
    s->draining = 1;
    s->on_drained = on_drained;
    close_listener(s);
    for (hs_conn *c = s->conns; c; c = c->next)
        if (c->cs == CS_OPEN && conn_between_requests(c))
            conn_close(c, "shutting down");
        else if (c->cs != CS_CLOSED)
            conn_schedule(c); /* its response will say Connection: close */
    start_tick(s);            /* on_drained at once when nothing is left */
}

void hs_server_close_connections(hs_server *s)
{
    for (hs_conn *c = s->conns; c; c = c->next)
        conn_close(c, "server closing");
}

static void maybe_free_server(hs_server *s)
{
    if (s->freeing && s->handles_open == 0 && !s->conns)
        free(s);
}

void hs_server_free(hs_server *s)
{
    if (!s)
        return;
    close_listener(s);
    hs_server_close_connections(s);
    s->freeing = 1;
    s->h.on_finish = NULL;
    uv_idle_stop(&s->tick);
    uv_close((uv_handle_t *)&s->tick, on_server_handle_closed);
}
