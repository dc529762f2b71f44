/*
 * Anthropic API instrumentation: turns observed HTTP exchanges into spans.
 *
 * A bt_anthropic holds instrumentation settings and the batch correlation store; it
 * borrows a started tracer, which must outlive it. It is safe to share between threads;
 * each bt_exchange belongs to one thread at a time.
 *
 * Nothing here can fail or delay the traced request: every exchange function accepts
 * a NULL exchange (untraced endpoint, disabled tracer) and does nothing; a tracing
 * problem (bad JSON, a cap reached, a cut stream) degrades the span, never the caller.
 */
#ifndef BRAINTRUST_ANTHROPIC_H
#define BRAINTRUST_ANTHROPIC_H

#include "common.h"
#include "span.h"
#include "tracer.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_anthropic bt_anthropic;
typedef struct bt_exchange bt_exchange;

/* Masking callback: given the JSON text of a span's input or output (`field` is
 * "input" or "output"; `json` borrowed), return a malloc'd replacement JSON text (the
 * library frees it) or NULL to keep it as is. Called on the thread that ends the
 * exchange. */
typedef char *(*bt_mask_fn)(void *userdata, const char *field, const char *json, size_t len);

BT_EXTERN int bt_anthropic_new(bt_tracer *tracer, bt_anthropic **out);
/* Emits the open sessions' roots (bt_anthropic_close_sessions), then frees. */
BT_EXTERN void bt_anthropic_free(bt_anthropic *a);

/* gen_ai.* OpenTelemetry GenAI attributes (default on). */
BT_EXTERN int bt_anthropic_set_genai_attributes(bt_anthropic *a, int on);
/* anthropic.messages.batches.* lifecycle task spans (default on). The batch trace from
 * results is produced either way. */
BT_EXTERN int bt_anthropic_set_lifecycle_spans(bt_anthropic *a, int on);
BT_EXTERN int bt_anthropic_set_mask(bt_anthropic *a, bt_mask_fn fn, void *userdata);
/* Cap on a request or a non-streaming response body kept for tracing (default 32 MiB);
 * beyond it the span is marked metadata.truncated. */
BT_EXTERN int bt_anthropic_set_body_limit(bt_anthropic *a, size_t bytes);
/* The API server the traced requests go to, for the spans' server.address and
 * server.port (the OpenTelemetry meaning: the server the call is for). A proxy, whose
 * clients' Host header names the proxy itself, sets its upstream here:
 * bt_anthropic_set_upstream(a, "https://api.anthropic.com") gives api.anthropic.com and
 * 443. `url` (copied) is an absolute URL, whose port defaults to its scheme's, or an
 * authority ("host:port"). NULL, or never called: each request's absolute URL target,
 * else its Host header. BT_EINVAL when `url` names no host. */
BT_EXTERN int bt_anthropic_set_upstream(bt_anthropic *a, const char *url);
/* SQLite file of the batch correlation store (create inputs kept until results are
 * read). NULL or never called: an in-memory bounded map. */
BT_EXTERN int bt_anthropic_set_correlation_store(bt_anthropic *a, const char *sqlite_path);
/* A batch correlation store shared by several processes (replicas behind a load
 * balancer) in PostgreSQL: `url` is a libpq URL, postgresql://USER@HOST:PORT/DB (a
 * password is best given through PGPASSWORD or ~/.pgpass than in the URL). The schema
 * is created on first use and migrated by version. Waits at most a few seconds for the
 * first connection and succeeds even when the database is unreachable: the store then
 * keeps reconnecting in the background (with backoff), batch results are traced without
 * their inputs meanwhile, and bt_anthropic_get_correlation_stats() says so. Writes are
 * queued for a thread of the store and reads wait a bounded time, so traffic never
 * waits on the database. BT_OK, BT_EINVAL (not a postgresql:// or postgres:// URL),
 * BT_EUNSUPPORTED (library built without libpq), BT_ENOMEM; the previous store stays in
 * use on an error. `url` is copied. */
BT_EXTERN int bt_anthropic_set_correlation_url(bt_anthropic *a, const char *url);

/* The longest a lookup in the PostgreSQL correlation store may hold the calling thread
 * (1..60000 ms, default 200): past it the batch child is traced without its input and
 * lookups fail at once until the database answers again. Before or after
 * bt_anthropic_set_correlation_url. */
BT_EXTERN int bt_anthropic_set_correlation_wait(bt_anthropic *a, int ms);

/* What the batch correlation store is doing, for health checks and metrics. */
typedef struct bt_correlation_stats {
    const char *backend;     /* "memory", "sqlite" or "postgresql" (static string) */
    int available;           /* 0 while the database cannot be reached or is stalled */
    uint64_t errors;         /* operations that failed: database errors, timeouts, unreachable */
    uint64_t writes_queued;  /* writes accepted and not yet in the database */
    uint64_t writes_dropped; /* writes not stored: store full, queue full, or failed for good */
    uint64_t reads;          /* entry lookups */
    uint64_t read_queries;   /* PostgreSQL: lookups that went to the database (the rest came
                                from its read-ahead window); 0 for the others */
    uint64_t connects;       /* PostgreSQL: connections established */
} bt_correlation_stats;
/* Fills *out (never fails on a valid `a`). */
BT_EXTERN int bt_anthropic_get_correlation_stats(bt_anthropic *a, bt_correlation_stats *out);

/* Agent sessions. The requests of one agent session become one trace: a request with
 * an `x-bt-session-id` header (any tool) or an `x-claude-code-session-id` header (Claude
 * Code), and no parent context of its own (bt_exchange_options.parent wins), has its
 * spans made children of the session's root span. Trace and root span ids derive from
 * the session id alone, so every process agrees on them. The root, a task span
 * "agent.session" carrying the session's totals, is emitted once the session has been
 * idle for the idle time, by bt_anthropic_tick(), and by bt_anthropic_close_sessions()
 * and bt_anthropic_free(). See docs/SPANS.md. */
/* Seconds without a call after which a session's root is emitted (default 300; 0:
 * at the first tick after its calls ended). BT_EINVAL when negative. */
BT_EXTERN int bt_anthropic_set_session_idle(bt_anthropic *a, int seconds);
/* Emits the root of every session idle for the idle time, by the tracer's clock; call it
 * regularly (bt-proxy does once a second). Returns how many roots were emitted. */
BT_EXTERN size_t bt_anthropic_tick(bt_anthropic *a);
/* Emits the root of every session with calls not yet covered by one, idle or not (at
 * shutdown). Returns how many. bt_anthropic_free() calls it. */
BT_EXTERN size_t bt_anthropic_close_sessions(bt_anthropic *a);

typedef enum {
    BT_EXCHANGE_COMPLETED = 0,        /* the response was read to its end */
    BT_EXCHANGE_TRANSPORT_ERROR = 1,  /* connection failed or broke */
    BT_EXCHANGE_CLIENT_CANCELLED = 2, /* the client went away before the end */
    BT_EXCHANGE_ABORTED = 3           /* the caller cut it before the end, for a reason of its
                                       * own (see bt_exchange_abort) */
} bt_exchange_outcome;

typedef struct bt_exchange_options {
    const bt_span_context *parent; /* e.g. from an incoming traceparent; may be NULL */
    const char *braintrust_parent; /* per-request braintrust.parent override; may be NULL */
    uint64_t start_unix_nano;      /* when the request arrived (the tracer's clock, Unix ns);
                                    * 0: now. For an adapter that begins the exchange later
                                    * than it saw the request (from a queue). */
} bt_exchange_options;

/* Starts observing one exchange. `target` is the request target (path and query, or an
 * absolute URL). Headers are borrowed for the call (secrets are never recorded; the
 * session headers above are read).
 * *out is NULL when the endpoint is not traced; the return is then still BT_OK. */
BT_EXTERN int bt_exchange_begin(bt_anthropic *a, const char *method, const char *target,
                                const bt_header *headers, size_t n_headers, const bt_exchange_options *opts,
                                bt_exchange **out);
/* Request body bytes, in any number of pieces. */
BT_EXTERN void bt_exchange_request_body(bt_exchange *ex, const void *data, size_t len);
/* Response status and headers (borrowed for the call). */
BT_EXTERN void bt_exchange_response_headers(bt_exchange *ex, int status, const bt_header *headers,
                                            size_t n_headers);
/* Response body bytes as received (still content-encoded), in any chunking. */
BT_EXTERN void bt_exchange_response_body(bt_exchange *ex, const void *data, size_t len);

/* Dates the calls that follow on `ex` (response headers, body bytes, end): they happened
 * at `unix_nano`, on the tracer's clock (0: the tracer's clock again). For an adapter that
 * hands bytes to the exchange later than they arrived, so that the span's times, time to
 * first token included, stay those of the traffic. */
BT_EXTERN void bt_exchange_set_time(bt_exchange *ex, uint64_t unix_nano);

/* The adapter could not hand over the rest of the exchange (it fell behind and dropped
 * bytes): decoding stops here, and the span, still ended by bt_exchange_end, is marked
 * metadata.truncated with decode_error = `reason` (borrowed for the call). */
BT_EXTERN void bt_exchange_lost(bt_exchange *ex, const char *reason);

/* A summary for access logs. */
typedef struct bt_exchange_info {
    const char *span_name; /* static string, or NULL when untraced */
    char model[128];       /* "" when unknown */
    int64_t input_tokens;  /* prompt tokens (incl. cache); -1 when unknown */
    int64_t output_tokens; /* -1 when unknown */
    int is_error;
} bt_exchange_info;

/* Finishes the exchange: builds and ends its span(s), frees the exchange. `info`
 * (may be NULL) receives a summary. */
BT_EXTERN void bt_exchange_end(bt_exchange *ex, bt_exchange_outcome outcome, bt_exchange_info *info);

/* Finishes an exchange the caller cut itself before its end, when neither the client
 * nor the network did anything (a proxy shutting down, say): the span's error status
 * is "aborted: <reason>" and its error.type "aborted". `reason` is borrowed for the
 * call and may be NULL. Otherwise as bt_exchange_end(ex, BT_EXCHANGE_ABORTED, info). */
BT_EXTERN void bt_exchange_abort(bt_exchange *ex, const char *reason, bt_exchange_info *info);

/* Finishes an exchange whose transport failed, naming the cause (the connection was
 * refused, a timeout, a TLS error): the span's error status is
 * "transport_error: <reason>" instead of a generic one. `reason` is borrowed for the
 * call and may be NULL. Otherwise as bt_exchange_end(ex, BT_EXCHANGE_TRANSPORT_ERROR,
 * info). */
BT_EXTERN void bt_exchange_fail(bt_exchange *ex, const char *reason, bt_exchange_info *info);

#ifdef __cplusplus
}
#endif
#endif
