/*
 * The HTTP/1.1 server of the tools (bt-proxy, fake-anthropic, the local viewer): libuv
 * sockets, requests read with http_parse (framing and header rules), and everything a
 * server owes its clients written once:
 *
 * - keep-alive and pipelining: requests on a connection are served one at a time, in
 *   order; bytes a client sends ahead wait (bounded) until the response before them is
 *   done, so answers never interleave or go missing.
 * - backpressure both ways: a handler can pause the request body (reading stops), and
 *   is told when the queued response fell low enough to write more.
 * - limits and timeouts: the head must arrive within `head_ms`; a body must keep up a
 *   minimum rate in every window of reading (else 408); a client that stops reading its
 *   response for `idle_ms` is cut; at `max_connections` the connection idle the longest
 *   is closed to make room, and when every connection is busy a few more are accepted
 *   "over the limit" so that cheap endpoints (health, metrics) still answer.
 * - early answers: a response sent before its request body arrived (413, 401) says
 *   Connection: close, and the rest of the body is read and dropped for a while before
 *   closing, so the client reads the answer instead of a reset.
 *
 * The program must ignore SIGPIPE (both tools do), since writing to a client that left
 * raises it. One server runs on one uv loop and keeps no global state: running several (one per
 * loop and thread, each with its own listener on the same port via HS_LISTEN_REUSEPORT)
 * is the way to use several cores.
 *
 * A client that shuts its sending side while its response is in flight still gets the
 * response (HTTP allows the half-close); a response that never ends (server-sent
 * events) learns that its client left when a write fails, and on_finish follows: such
 * a handler writes something now and then (an SSE comment line).
 *
 * Callbacks run only from the loop, never from inside an hs_* call the handler makes:
 * a handler may respond, write or pause from any of its callbacks or from its own
 * events (an upstream transfer, a timer).
 */
#ifndef BT_TOOLS_HTTP_SERVER_H
#define BT_TOOLS_HTTP_SERVER_H

#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "http_parse.h"
#include "util/buf.h"

typedef struct hs_server hs_server;
typedef struct hs_request hs_request;

typedef struct hs_limits {
    hp_limits head;             /* request head: 414 and 431 */
    unsigned max_connections;   /* served at once (default 4096) */
    unsigned idle_ms;           /* silent connection, keep-alive gap, client not reading (60 s) */
    unsigned head_ms;           /* a head must be complete this long after its first byte (60 s) */
    unsigned body_window_ms;    /* each window of reading a body (10 s) must bring ... */
    unsigned body_min_rate;     /* ... this many bytes/s on average (1024; 0 = no rule), else 408 */
    unsigned linger_ms;         /* reading and dropping before a close: at most this long (30 s),
                                 * ending sooner once the client is quiet for 2 s */
    size_t max_pipelined_bytes; /* read ahead while a response is in flight (64 KiB) */
    size_t write_high;          /* queued response bytes that make hs_response_busy() true (1 MiB) */
    size_t write_low;           /* ... until they fall under this; then on_drain (256 KiB) */
} hs_limits;

void hs_limits_default(hs_limits *l);

/* How a request ended, for the access log and for releasing the handler's state. */
typedef struct hs_finish {
    int status;         /* status of the response sent, 0 when none was */
    int complete;       /* the handler ended the response (else the server cut it) */
    uint64_t body_out;  /* response body bytes (before chunked framing) */
    const char *reason; /* why the server ended the request, or NULL */
} hs_finish;

typedef struct hs_handler {
    /* A request head passed the rules (hs_request_head). The handler responds now or
     * later, once: hs_respond / hs_respond_error, or hs_response_start, writes and
     * hs_response_end, or hs_response_abort. Required. */
    void (*on_request)(hs_request *r);
    /* A piece of the request body, de-chunked; borrowed for the call. Pieces keep
     * coming after an early response only until that response ends. */
    void (*on_body)(hs_request *r, const char *data, size_t len);
    /* The body is complete (right after on_request when there is none). */
    void (*on_body_end)(hs_request *r);
    /* The response queue fell under write_low after hs_response_busy() said 1. */
    void (*on_drain)(hs_request *r);
    /* Last call for a request, from every path (answered, rejected by the server before
     * on_request, timed out, client gone): release what the handler holds. `r` and its
     * head are valid during the call only. */
    void (*on_finish)(hs_request *r, const hs_finish *f);
    /* Shapes error responses (the server's own and hs_respond_error): appends header
     * lines ("Name: value\r\n") to `headers` and the body to `body`. NULL: a JSON body
     * {"type":"error","error":{"type":..,"message":..}}. */
    void (*format_error)(hs_request *r, int status, const char *type, const char *message, bt__buf *headers,
                         bt__buf *body);
} hs_handler;

typedef struct hs_stats {
    uint64_t connections_total;
    uint64_t connections_active;
    uint64_t connections_evicted; /* idle connections closed to make room at the limit */
    uint64_t connections_refused; /* closed unserved: even the over-limit allowance was used */
    uint64_t requests;            /* request heads started */
    uint64_t rejected;            /* answered by the server itself (bad request, 408, ...) */
    uint64_t timeouts;            /* 408s: slow head or body */
    uint64_t over_limit;          /* requests on connections accepted over the limit */
    uint64_t bytes_in;
    uint64_t bytes_out;
} hs_stats;

/* Returns NULL when out of memory. `limits` NULL means the defaults; `handler` is
 * copied; `user` is the caller's (hs_server_user). */
hs_server *hs_server_new(uv_loop_t *loop, const hs_handler *handler, const hs_limits *limits, void *user);

enum { HS_LISTEN_REUSEPORT = 1 };
/* Binds HOST:PORT (a numeric IPv4/IPv6 address or "localhost"; port 0 picks one) and
 * starts accepting. Returns 0, or -1 with a message in err. */
int hs_server_listen(hs_server *s, const char *host, int port, unsigned flags, char *err, size_t errlen);
/* "IP:PORT" ("[IP]:PORT" for IPv6) actually bound; "" before listening. */
const char *hs_server_address(const hs_server *s);
uv_loop_t *hs_server_loop(const hs_server *s);
void *hs_server_user(const hs_server *s);
void hs_server_stats(const hs_server *s, hs_stats *out);
/* Graceful stop: no new connections; idle ones close now, busy ones after their current
 * response (which says Connection: close). `on_drained` runs once none is left. */
void hs_server_drain(hs_server *s, void (*on_drained)(hs_server *s));
/* Cuts every connection now (requests in flight get on_finish, incomplete). */
void hs_server_close_connections(hs_server *s);
/* Closes what is left and frees the server once the loop has run its close callbacks.
 * No callback of `handler` runs after this returns. */
void hs_server_free(hs_server *s);

/* ---- the request ---- */

/* NULL until the head passed (e.g. in on_finish of a request rejected early). */
const hp_head *hs_request_head(const hs_request *r);
/* Value of the first field `name` (case-insensitive), or NULL; *len its length. */
const char *hs_request_header(const hs_request *r, const char *name, size_t *len);
void hs_request_set_user(hs_request *r, void *user);
void *hs_request_user(const hs_request *r);
hs_server *hs_request_server(const hs_request *r);
uint64_t hs_request_seq(const hs_request *r);      /* 1, 2, ... per server */
uint64_t hs_request_start_ns(const hs_request *r); /* uv_hrtime() at its first byte */
const char *hs_request_peer(const hs_request *r);  /* client IP address */
/* This connection's local address as an URL authority ("127.0.0.1:8787", "[::1]:8787"):
 * where the client reached the server, never taken from what the client sent. */
const char *hs_request_local_authority(const hs_request *r);
/* The connection was accepted over max_connections: answer cheaply (or with 503); it
 * closes after this response. */
int hs_request_over_limit(const hs_request *r);
/* Stop (1) or resume (0) reading the body. Time spent paused does not count against the
 * body's minimum rate. */
void hs_request_pause_body(hs_request *r, int pause);
/* The connection closes after this response. */
void hs_request_close_after(hs_request *r);

/* ---- the response ---- */

/* Sends the status line, `headers` ("Name: value\r\n" lines, without Content-Length,
 * Transfer-Encoding or Connection: the server adds those) and the framing:
 * content_length >= 0 is sent as Content-Length; -1 means unknown, and the body is
 * chunked (HTTP/1.1) or ends with the connection (HTTP/1.0). HEAD, 204 and 304 get no
 * body. `reason` NULL takes the text from http_status. Returns 0, or -1 when the
 * connection is gone (on_finish follows). */
int hs_response_start(hs_request *r, int status, const char *reason, const char *headers, size_t headers_len,
                      int64_t content_length);
/* Queues body bytes (copied). Returns 0, or -1 when the connection is gone. */
int hs_response_write(hs_request *r, const void *data, size_t len);
/* 1 when the queue reached write_high: write no more until on_drain. */
int hs_response_busy(hs_request *r);
size_t hs_response_queued(const hs_request *r);
/* The body is complete. */
int hs_response_end(hs_request *r);
/* A whole response with a Content-Length. */
int hs_respond(hs_request *r, int status, const char *headers, const void *body, size_t len);
/* Appends the Anthropic API's error body {"type":"error","error":{"type":..,"message":..}}
 * (what the default format_error sends). */
void hs_error_json(bt__buf *body, const char *type, const char *message);
/* An error response shaped by the handler's format_error, with a Content-Length. */
int hs_respond_error(hs_request *r, int status, const char *type, const char *message);
/* Ends the request without completing the response: what was queued is still sent, then
 * the connection closes with the body visibly unfinished (no final chunk, fewer bytes
 * than announced, or no response at all). `reason` (static) is reported in on_finish. */
void hs_response_abort(hs_request *r, const char *reason);

#endif
