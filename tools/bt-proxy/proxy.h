/*
 * bt-proxy internals shared by its files: a tracing reverse proxy for the Anthropic
 * API. Each worker thread runs one libuv loop for its own client connections
 * (tools/common/http_server) and their upstream transfers (libcurl multi driven by the
 * same loop); the main thread handles signals, the shutdown clock and housekeeping.
 * Tracing sees a copy of the bytes through the library's exchange API, on the worker's
 * tracing thread, and can never change what the client receives.
 */
#ifndef BT_PROXY_H
#define BT_PROXY_H

#include <curl/curl.h>
#include <llhttp.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <uv.h>

#include "braintrust/anthropic.h"
#include "braintrust/tracer.h"
#include "http_server.h"
#include "util/buf.h"

/* Hard limits on what a client may send before the body. */
#define PX_MAX_HEADER_BYTES (64 * 1024) /* request line + headers, else 431 */
#define PX_MAX_HEADERS 100              /* header fields, else 431 */
#define PX_MAX_URL_BYTES (16 * 1024)    /* request target, else 414 */
/* Request body bytes queued for upstream before the proxy stops reading the client.
 * The upstream transfer starts only once the body is complete or this much of it has
 * arrived, so that a client sending slowly holds no upstream connection meanwhile. */
#define PX_REQ_QUEUE_HIGH (1024 * 1024)
/* A request body complete before the transfer starts and no larger than this is sent
 * with the request head in one write. */
#define PX_INLINE_BODY_MAX (64 * 1024)
/* Response bytes queued on the client socket before the upstream read is paused, and
 * the level below which it resumes. */
#define PX_RESP_QUEUE_HIGH (1024 * 1024)
#define PX_RESP_QUEUE_LOW (256 * 1024)
/* Client connections served at once, by default (--max-connections), and upstream
 * connections open at once (--max-upstream-connections); both are lowered at startup,
 * with a log line, when the file descriptor limit cannot hold them. */
#define PX_MAX_CONNECTIONS 10000
#define PX_MAX_UPSTREAM_CONNECTIONS 10000
/* Streams one HTTP/2 upstream connection carries (CURLMOPT_MAX_CONCURRENT_STREAMS). */
#define PX_H2_STREAMS 100
/* --trace-backlog by default, in MiB. */
#define PX_TRACE_BACKLOG_MIB 256
/* --workers at most. */
#define PX_MAX_WORKERS 256
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
    char public_url[2048];        /* base of rewritten results_url; "" = the listen address */
    const char *spans_jsonl;
    const char *store;
    const char *correlation; /* PostgreSQL URL of a correlation store shared by replicas */
    int correlation_wait_ms; /* 0: the library's default */
    const char *token;       /* NULL: no inbound token required */
    int client_idle_ms;      /* idle client between requests / stalled client / head deadline */
    int upstream_idle_s;     /* no upstream byte for this long aborts the transfer */
    int connect_timeout_s;
    int shutdown_grace_ms; /* in-flight requests get this long after SIGTERM */
    int drain_delay_ms;    /* keep serving this long after SIGTERM with /readyz at 503 */
    const char *ca_bundle; /* optional CURLOPT_CAINFO */
    int max_connections;   /* client connections served at once */
    int max_upstream_connections;
    int explicit_connection_limit, explicit_upstream_limit; /* given on the command line */
    int workers;                  /* event loops; 0 until main picks the number of CPUs */
    uint64_t trace_backlog_bytes; /* copies waiting to be traced, all workers (--trace-backlog) */
    int min_body_rate;            /* bytes/s a request body must keep up (0: no rule) */
    int min_body_window_s;        /* ... over each window of this many seconds */
    int allow_untraced;           /* forward untraced when tracing cannot be set up */
    int session_idle_s;           /* --session-idle */
} px_config;

#define PX_DURATION_BUCKETS 16

/* A worker's counters (connections and bytes are the HTTP server's, hs_stats), read by
 * /metrics from any worker's thread: touch them with px_counter_*. Only uint64_t
 * fields: px_gateway_totals sums the workers' structs field by field. */
typedef struct px_metrics {
    uint64_t requests;
    uint64_t requests_active; /* upstream transfers in flight */
    uint64_t upstream_errors;
    uint64_t rejected;                    /* requests answered by the proxy itself with 4xx */
    uint64_t over_limit;                  /* 503s: the connection limit was reached */
    uint64_t streams_active;              /* SSE responses in progress */
    uint64_t upstream_over_limit;         /* 503s: --max-upstream-connections was reached */
    uint64_t upstream_connections;        /* open now */
    uint64_t upstream_connections_opened; /* since the start */
    uint64_t upstream_http2;              /* 1 once the upstream answered over HTTP/2 */
    uint64_t trace_backlog_bytes;         /* copies waiting for the lane, now */
    uint64_t spans_incomplete;            /* exchanges whose tracing fell behind: marked */
    /* request durations: counts per bucket of metrics_prom.c, the last one +Inf */
    uint64_t duration_buckets[PX_DURATION_BUCKETS + 1];
    uint64_t duration_count, duration_sum_ns;
} px_metrics;

static inline void px_counter_add(uint64_t *c, int64_t d)
{
    __atomic_fetch_add(c, (uint64_t)d, __ATOMIC_RELAXED);
}
static inline uint64_t px_counter_get(const uint64_t *c)
{
    return __atomic_load_n(c, __ATOMIC_RELAXED);
}
static inline void px_counter_set(uint64_t *c, uint64_t v)
{
    __atomic_store_n(c, v, __ATOMIC_RELAXED);
}

typedef struct px_xfer px_xfer;
typedef struct px_gateway px_gateway;
typedef struct px_trace px_trace;
typedef struct px_lane px_lane;

/* Commands the main thread gives a worker (bits of px_proxy.cmd, then uv_async_send). */
enum { PX_CMD_DRAIN = 1, PX_CMD_CUT = 2 };

/* One worker: an event loop on its own thread serving its own client connections (its
 * listener shares the port through SO_REUSEPORT) with its own curl multi for their
 * upstream transfers. Everything here is touched by that thread only, except `m` and
 * `published` (read by any worker for /metrics) and cmd / cut_why (set by the main
 * thread). */
typedef struct px_proxy {
    uv_loop_t *loop; /* &own_loop */
    uv_loop_t own_loop;
    px_gateway *gw;
    int id;
    px_config cfg; /* a copy of the gateway's */
    hs_server *server;
    CURLM *multi;
    uv_timer_t curl_timer;
    bt_tracer *tracer;       /* shared by every worker (thread-safe) */
    bt_anthropic *anthropic; /* shared; each exchange stays on the worker that began it */
    px_metrics m;
    uv_thread_t thread;
    uv_async_t wake;    /* the main thread has set cmd */
    int cmd;            /* PX_CMD_* bits, atomic */
    char cut_why[192];  /* for PX_CMD_CUT, written before the bit is set */
    int exited;         /* atomic: the thread is done */
    uv_check_t publish; /* copies the server's stats after every loop iteration */
    pthread_mutex_t pub_mu;
    hs_stats published;
    uv_timer_t sweep;       /* upstream idle checks, once a second */
    px_lane *lane;          /* the worker's tracing thread (tracelane.c); NULL untraced */
    px_xfer *xfers;         /* transfers with an upstream side (started or waiting to) */
    const char *cut_reason; /* set while px_server_cut runs */
    struct px_sock **socks; /* upstream sockets by file descriptor (upstream.c) */
    long curl_conn_bound;   /* CURLMOPT_MAX_HOST_CONNECTIONS now (0: none) */
    size_t n_socks;
} px_proxy;

/* The process: configuration, the tracer and instrumentation shared by the workers,
 * and the main thread's loop, which only handles signals, the shutdown clock and the
 * once-a-second housekeeping. */
struct px_gateway {
    px_config cfg;
    bt_tracer *tracer;
    bt_anthropic *anthropic;
    int n_workers;
    px_proxy *workers;
    uv_loop_t *loop;
    uv_signal_t sigterm, sigint;
    uv_timer_t shutdown_timer, sweep;
    uv_async_t worker_exited;
    int draining;      /* atomic: a stop signal came, /readyz answers 503 (read by workers) */
    int shutting_down; /* main thread only: no longer accepting, in the grace period */
    uint64_t shutdown_start_ns;
    int workers_left; /* main thread only */
    char listen_addr[160];
};

/* One queued piece of request body waiting for curl's read callback. */
typedef struct px_chunk {
    struct px_chunk *next;
    size_t len, off;
    char data[];
} px_chunk;

/* One request: answered by the proxy itself, or forwarded (then `easy` is set until the
 * upstream transfer is over). Lives until the server's on_finish, which writes its
 * access-log line. */
struct px_xfer {
    px_proxy *px;
    hs_request *r;
    px_xfer *prev, *next; /* in px->xfers while easy is set */
    CURL *easy;
    int local;   /* answered by the proxy itself (endpoints.c) */
    int started; /* handed to curl */
    struct curl_slist *req_headers;
    char *url;
    char *target;    /* origin-form request target */
    int gzip;        /* response Content-Encoding: gzip */
    px_trace *trace; /* its tracing, on the worker's lane; NULL when untraced */
    uint64_t start_ns;
    uint64_t last_activity_ns; /* last byte to or from the upstream */
    /* request body on its way upstream */
    px_chunk *q_head, *q_tail;
    size_t q_bytes;
    int body_done; /* client finished sending the body */
    int uploading; /* the request has a body */
    int send_paused, recv_paused;
    int client_read_paused; /* request body queue full: not reading the client */
    /* response */
    bt__buf resp_head; /* raw upstream header block of the final response */
    int status;
    int head_sent; /* the response head reached the client socket */
    int head_done; /* the final upstream header block is complete */
    int no_body;   /* HEAD, 1xx, 204, 304 */
    int rewrite;   /* buffering a batch object for results_url rewriting */
    int is_sse;
    int stream_counted; /* in px->m.streams_active */
    bt__buf rewrite_buf;
    int failed_client; /* writing to the client failed inside a curl callback */
    uint64_t resp_bytes;
    int finished; /* the upstream transfer is over */
    /* the access-log line */
    int log_status;     /* 0: the status sent */
    const char *note;   /* static text, or NULL */
    char note_buf[160]; /* ... or this */
};

/* main.c */
uint64_t px_now_ns(void);

/* config.c */
int px_config_parse(px_config *cfg, int argc, char **argv);

/* upstream.c: curl multi on the uv loop */
int px_upstream_init(px_proxy *px);
void px_upstream_close(px_proxy *px);
void px_upstream_kick(px_proxy *px);
void px_upstream_setup_easy(px_proxy *px, CURL *e);
void px_upstream_reserve(px_proxy *px);
void px_upstream_response_seen(px_proxy *px, CURL *e);
int px_upstream_has_room(px_proxy *px);

/* tracelane.c: tracing beside the worker's loop. Every px_trace_* call takes its own
 * copy and returns at once; NULL traces are ignored. After px_trace_log the trace
 * belongs to the lane. */
px_trace *px_trace_begin(px_proxy *px, const char *method, const char *target, const bt_header *h, size_t n,
                         const bt_span_context *parent, const char *braintrust_parent);
void px_trace_request_body(px_proxy *px, px_trace *t, const void *data, size_t len);
void px_trace_response_headers(px_proxy *px, px_trace *t, int status, const bt_header *h, size_t n);
void px_trace_response_body(px_proxy *px, px_trace *t, const void *data, size_t len);
/* `reason` (borrowed) names why the proxy aborted it, for BT_EXCHANGE_ABORTED. */
void px_trace_end(px_proxy *px, px_trace *t, bt_exchange_outcome outcome, const char *reason);
/* The access-log line: `prefix` (malloc'd, taken; NULL: no line) is completed with the
 * span's summary and `note` (borrowed) once the lane has ended the exchange. */
void px_trace_log(px_proxy *px, px_trace *t, char *prefix, const char *note);
void px_lane_flush(px_proxy *px); /* end of a loop turn */
int px_lane_start(px_proxy *px);
void px_lane_stop(px_proxy *px);

/* workers.c */
int px_workers_start(px_gateway *gw); /* listen on every worker, then run their threads */
void px_workers_command(px_gateway *gw, int cmd, const char *cut_why);
void px_workers_join(px_gateway *gw);
/* Sums over the workers (any thread): their counters and their servers' stats. */
void px_gateway_totals(px_gateway *gw, px_metrics *m, hs_stats *hs);
/* The same from worker `self`'s thread, its own server numbers taken live. */
void px_worker_totals(px_gateway *gw, px_proxy *self, px_metrics *m, hs_stats *hs);
int px_default_workers(void);

/* client.c: the proxy's request handler on the shared HTTP server */
/* Binds the worker's listener: `port` as given (worker 0, maybe 0 for any), shared
 * with the others through SO_REUSEPORT when `reuse`. */
int px_listen(px_proxy *px, int port, int reuse);
void px_server_drain(px_proxy *px); /* stop accepting; uv_stop once no connection is left */
/* Cuts every connection now; requests in flight are logged, and their spans end, with
 * `why` (the proxy cut them, no client left). */
void px_server_cut(px_proxy *px, const char *why);
void px_server_close(px_proxy *px);

/* forward.c: one proxied request */
int px_xfer_start(px_xfer *x, const char *target);
void px_xfer_request_body(px_xfer *x, const char *data, size_t len);
void px_xfer_request_end(px_xfer *x);
void px_xfer_done(px_xfer *x, CURLcode result);
void px_xfer_client_drained(px_xfer *x);
/* The client side is gone (or cut): stop the upstream side, end the exchange. */
void px_xfer_cancel(px_xfer *x, int status, const char *why);
/* The proxy cuts the transfer itself (shutdown): the span and the access log name that
 * reason, not a client that left. */
void px_xfer_cut(px_xfer *x, const char *why);
void px_xfer_free(px_xfer *x);
void px_check_idle_transfers(px_proxy *px, uint64_t now_ns);

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
/* 1 from the first stop signal on (any thread). */
int px_draining(const px_proxy *px);

/* memory.c: from the main thread's once-a-second sweep */
void px_release_memory_when_idle(px_gateway *gw);

/* accesslog.c */
void px_access_log(hs_request *r, int status, const bt_exchange_info *info, uint64_t resp_bytes,
                   const char *note);
/* The same line in two steps: what the worker knows (malloc'd), then the span's
 * summary and the note, added where the exchange ended (the lane). */
char *px_access_log_prefix(hs_request *r, int status, uint64_t resp_bytes);
void px_access_log_finish(const char *prefix, const bt_exchange_info *info, const char *note);
void px_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Writes this thread's gathered access-log lines (end of every loop turn). */
void px_log_flush(void);

#endif
