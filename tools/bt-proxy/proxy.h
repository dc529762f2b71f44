/*
 * bt-proxy internals shared by its files: a tracing reverse proxy for the Anthropic
 * API. One libuv loop runs everything: client connections (parsed with llhttp), the
 * upstream transfers (libcurl multi driven by the same loop), timers and signals.
 * Tracing sees a copy of the bytes through the library's exchange API and can never
 * change what the client receives.
 */
#ifndef BT_PROXY_H
#define BT_PROXY_H

#include <curl/curl.h>
#include <llhttp.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "braintrust/anthropic.h"
#include "braintrust/tracer.h"
#include "util/buf.h"

/* Hard limits on what a client may send before the body. */
#define PX_MAX_HEADER_BYTES (64 * 1024) /* request line + headers, else 431 */
#define PX_MAX_HEADERS 100              /* header fields, else 431 */
#define PX_MAX_URL_BYTES (16 * 1024)    /* request target, else 414 */
/* Request body bytes queued for upstream before the proxy stops reading the client. */
#define PX_REQ_QUEUE_HIGH (1024 * 1024)
/* Response bytes queued on the client socket before the upstream read is paused, and
 * the level below which it resumes. */
#define PX_RESP_QUEUE_HIGH (1024 * 1024)
#define PX_RESP_QUEUE_LOW (256 * 1024)
/* Client connections served at once; more are closed on accept. */
#define PX_MAX_CONNECTIONS 4096
/* Pipelined bytes kept while a response is still in flight. */
#define PX_STASH_MAX (64 * 1024)
/* Upstream response header block. */
#define PX_MAX_RESP_HEADER_BYTES (256 * 1024)
/* Batch objects buffered for results_url rewriting (list pages hold up to 1000). */
#define PX_REWRITE_MAX (16 * 1024 * 1024)

typedef struct px_config {
    const char *listen_host; /* points into listen_buf */
    int listen_port;
    char listen_buf[256];
    char upstream[2048];          /* base URL without trailing slash */
    char upstream_authority[512]; /* host[:port] of the upstream, for absolute-form checks */
    const char *spans_jsonl;
    const char *store;
    const char *correlation; /* PostgreSQL URL of a correlation store shared by replicas */
    int correlation_wait_ms; /* 0: the library's default */
    const char *token;       /* NULL: no inbound token required */
    int client_idle_ms;      /* idle client between requests / stalled client */
    int upstream_idle_s;     /* no upstream byte for this long aborts the transfer */
    int connect_timeout_s;
    int shutdown_grace_ms; /* in-flight requests get this long after SIGTERM */
    int drain_delay_ms;    /* keep serving this long after SIGTERM with /readyz at 503 */
    const char *ca_bundle; /* optional CURLOPT_CAINFO */
    int allow_untraced;    /* forward untraced when tracing cannot be set up */
    int session_idle_s;    /* --session-idle */
} px_config;

#define PX_DURATION_BUCKETS 16

typedef struct px_metrics {
    uint64_t requests;
    uint64_t requests_active;
    uint64_t connections_total;
    uint64_t connections_active;
    uint64_t bytes_in;  /* request bytes read from clients (heads and bodies) */
    uint64_t bytes_out; /* response bytes written to clients */
    uint64_t upstream_errors;
    uint64_t rejected; /* requests answered by the proxy itself with 4xx */
    /* request durations: counts per bucket of metrics_prom.c, the last one +Inf */
    uint64_t duration_buckets[PX_DURATION_BUCKETS + 1];
    uint64_t duration_count, duration_sum_ns;
} px_metrics;

typedef struct px_conn px_conn;
typedef struct px_xfer px_xfer;

typedef struct px_proxy {
    uv_loop_t *loop;
    px_config cfg;
    uv_tcp_t listener;
    char listen_addr[128]; /* "127.0.0.1:PORT" actually bound */
    CURLM *multi;
    uv_timer_t curl_timer;
    bt_tracer *tracer;
    bt_anthropic *anthropic;
    px_metrics m;
    int shutting_down;
    int draining; /* a stop signal came: /readyz answers 503 (also while shutting down) */
    uv_signal_t sigterm, sigint;
    uv_timer_t shutdown_timer;
    uint64_t shutdown_start_ns;
    uv_timer_t sweep; /* upstream idle checks, once a second */
    px_conn *conns;   /* intrusive list of live connections */
} px_proxy;

/* One header as offsets into a connection's header buffer. */
typedef struct px_hdr {
    size_t name_off, name_len, value_off, value_len;
} px_hdr;

/* One queued piece of request body waiting for curl's read callback. */
typedef struct px_chunk {
    struct px_chunk *next;
    size_t len, off;
    char data[];
} px_chunk;

struct px_xfer {
    px_conn *conn;
    CURL *easy;
    struct curl_slist *req_headers;
    char *url;
    char *target; /* origin-form request target */
    int gzip;     /* response Content-Encoding: gzip */
    bt_exchange *ex;
    uint64_t start_ns;
    uint64_t last_activity_ns; /* last byte to or from the upstream */
    /* request body on its way upstream */
    px_chunk *q_head, *q_tail;
    size_t q_bytes;
    int body_done; /* client finished sending the body */
    int send_paused, recv_paused;
    int client_read_paused; /* request body queue full: not reading the client */
    /* response */
    bt__buf resp_head; /* raw upstream header block of the final response */
    int status;
    int head_sent;   /* the response head reached the client socket */
    int head_done;   /* the final upstream header block is complete */
    int chunked_out; /* chunked framing towards the client */
    int no_body;     /* HEAD, 1xx, 204, 304 */
    int rewrite;     /* buffering a batch object for results_url rewriting */
    int is_sse;
    bt__buf rewrite_buf;
    int failed_client; /* writing to the client failed inside a curl callback */
    uint64_t resp_bytes;
    int finished;
};

typedef enum {
    PX_CONN_IDLE = 0, /* waiting for (the rest of) a request head */
    PX_CONN_BODY,     /* forwarding a request; request body still arriving */
    PX_CONN_WAIT,     /* request complete, response in flight */
    PX_CONN_CLOSING
} px_conn_state;

struct px_conn {
    px_conn *next, *prev;
    px_proxy *px;
    uv_tcp_t tcp;
    uv_timer_t idle;
    llhttp_t parser;
    char peer[64];
    px_conn_state state;
    /* request head being parsed */
    bt__buf head; /* url + header bytes, NUL separated */
    size_t url_off, url_len;
    px_hdr hdrs[PX_MAX_HEADERS];
    size_t n_hdrs;
    int in_value;          /* last callback was a header value */
    const char *value_end; /* end of the last header value piece (obs-fold check) */
    const char *read_base; /* start of the buffer being parsed */
    int prev_read_lf;      /* the previous buffer ended with a line feed */
    int head_error;        /* 0 or the HTTP status to reject with (431, 414) */
    int message_complete;
    int reading;       /* uv_read_start active */
    int parser_paused; /* llhttp paused at a message end or rejection */
    int read_eof;
    int keep_alive;
    int is_local; /* answered by the proxy itself (healthz, errors) */
    int logged;   /* the access-log line of this request was written */
    int http_minor;
    int is_head;
    char method[16];
    px_xfer *xfer;
    size_t out_pending; /* bytes written but not yet confirmed by uv */
    bt__buf stash;      /* pipelined bytes read past the current request */
    int closing;
    int handles_open;
    uint64_t req_start_ns;
};

/* main.c */
uint64_t px_now_ns(void);

/* config.c */
int px_config_parse(px_config *cfg, int argc, char **argv);

/* upstream.c: curl multi on the uv loop */
int px_upstream_init(px_proxy *px);
void px_upstream_close(px_proxy *px);
void px_upstream_kick(px_proxy *px);

/* client.c */
int px_listen(px_proxy *px);
void px_conn_request_done(px_conn *c);
void px_conn_abort(px_conn *c);
int px_conn_write(px_conn *c, const void *a, size_t alen, const void *b, size_t blen, const void *d,
                  size_t dlen);
void px_conn_read_resume(px_conn *c);
void px_conn_read_pause(px_conn *c);
size_t px_conn_write_queue(px_conn *c);
void px_conn_backpressure_timer(px_conn *c, int on);
void px_close_idle_connections(px_proxy *px);
const char *px_conn_header(px_conn *c, const char *name, size_t *len);
void px_send_local(px_conn *c, int status, const char *content_type, const char *body, int close_after);
void px_send_error(px_conn *c, int status, const char *type, const char *message);

/* forward.c: one proxied request */
int px_xfer_start(px_conn *c, const char *target);
void px_xfer_request_body(px_xfer *x, const char *data, size_t len);
void px_xfer_request_end(px_xfer *x);
void px_xfer_done(px_xfer *x, CURLcode result);
void px_xfer_client_drained(px_xfer *x);
void px_xfer_cancel(px_xfer *x, int status, const char *why);
/* The proxy cuts the transfer itself (shutdown): the span and the access log name that
 * reason, not a client that left. Logged with the status the client saw, 0 for none. */
void px_xfer_cut(px_xfer *x, const char *why);
void px_xfer_check_idle(px_xfer *x, uint64_t now_ns);

/* rewrite.c */
int px_rewrite_wanted(const char *method, const char *target);
/* Rewrites every "results_url" value of a JSON text to start at `base` (scheme and
 * authority). Returns 1 when something changed (*out malloc'd), 0 when not, <0 on error. */
int px_rewrite_results_url(const char *json, size_t len, const char *base, char **out, size_t *out_len);
/* Same on a gzip body: inflate (bounded), rewrite, deflate. */
int px_rewrite_results_url_gzip(const char *gz, size_t len, const char *base, char **out, size_t *out_len);

/* metrics.c */
char *px_metrics_json(px_proxy *px);
/* endpoints.c: /healthz, /readyz and /metrics for any front end. */
typedef struct px_local_response {
    int status;
    const char *content_type; /* static */
    char *body;               /* malloc'd (free it); NULL only when out of memory */
    size_t len;
} px_local_response;
int px_is_local_endpoint(const char *target);
int px_local_endpoint_needs_token(const char *target);
/* `accept` (the request's Accept header, may be NULL) chooses the metrics format. */
void px_local_answer(px_proxy *px, const char *target, const char *accept, size_t accept_len,
                     px_local_response *out);

/* metrics_prom.c: the Prometheus text format; durations for its histogram. */
char *px_metrics_prometheus(px_proxy *px);
void px_metrics_observe_duration(px_metrics *m, uint64_t ns);
uint64_t px_active_streams(const px_proxy *px);

/* accesslog.c */
void px_access_log(px_conn *c, int status, const bt_exchange_info *info, uint64_t resp_bytes,
                   const char *note);
void px_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
