/*
 * What an endpoint handler sees of an exchange. exchange.c owns the common work:
 * routing, timing, secret-free header capture, Content-Encoding inflation of the
 * response, and the outcome. Each traced endpoint (messages.c for Messages and
 * count_tokens, batches.c, batch_results.c) is a handler fed the raw request bytes and
 * the decoded response bytes; at finish it builds and ends its span(s). Llm spans, of
 * plain calls, streams and batch children alike, come from one builder (llm_span.h).
 */
#ifndef BT_ANTHROPIC_EXCHANGE_INTERNAL_H
#define BT_ANTHROPIC_EXCHANGE_INTERNAL_H

#include <stdint.h>

#include "braintrust/anthropic.h"
#include "decode/router.h"
#include "util/buf.h"

typedef struct bt__handler bt__handler;

typedef struct bt__handler_ops {
    /* Raw request body bytes, in pieces. */
    void (*request_body)(bt__handler *h, bt_exchange *ex, const char *data, size_t len);
    /* Called once when the response status and headers are known (ex fields set). */
    void (*response_start)(bt__handler *h, bt_exchange *ex);
    /* Decoded (inflated) response body bytes, in pieces, as they arrive. */
    void (*response_data)(bt__handler *h, bt_exchange *ex, const char *data, size_t len);
    /* Build and end the span(s); fill info. ex->outcome and ex->end_unix_nano are set. */
    void (*finish)(bt__handler *h, bt_exchange *ex, bt_exchange_info *info);
    void (*free)(bt__handler *h);
} bt__handler_ops;

struct bt__handler {
    const bt__handler_ops *ops;
};

struct bt_exchange {
    bt_anthropic *a;
    bt__route route;
    char method[16];
    uint64_t start_unix_nano;          /* tracer clock at begin */
    uint64_t response_start_unix_nano; /* when response headers arrived; 0 before */
    uint64_t end_unix_nano;
    uint64_t fed_at_unix_nano; /* bt_exchange_set_time: when the bytes being fed arrived; 0 */
    /* request headers worth keeping (never secrets) */
    char anthropic_beta[512]; /* repeated headers joined with "," */
    char anthropic_version[64];
    char server_address[256]; /* host of the upstream (Host header or URL), "" if unknown */
    int server_port;          /* 0 when not stated */
    size_t request_length;    /* the request's Content-Length, 0 when not stated */
    /* response */
    int status; /* 0 until response_headers */
    char request_id[128];
    char content_type[128];
    size_t response_length; /* the response's Content-Length, 0 when not stated */
    int is_event_stream;    /* content-type text/event-stream */
    int is_truncated;       /* some cap was hit: metadata.truncated */
    char decode_error[128]; /* "" or why the response body could not be decoded */
    bt_exchange_outcome outcome;
    char abort_status[160]; /* "aborted: <why the caller cut it>" (bt_exchange_abort) or
                             * "transport_error: <cause>" (bt_exchange_fail); "" otherwise */
    bt_span_context parent;
    int has_parent;
    char *braintrust_parent; /* per-request override or NULL */
    bt__handler *handler;
    struct bt__inflate *inflater;         /* NULL for identity */
    struct bt__exchange_session *session; /* NULL outside an agent session (session.c) */
};

/* Accessors to instrumentation settings (anthropic.c). */
int bt__anthropic_genai_enabled(const bt_anthropic *a);
int bt__anthropic_lifecycle_enabled(const bt_anthropic *a);
size_t bt__anthropic_body_limit(const bt_anthropic *a);
bt_tracer *bt__anthropic_tracer(const bt_anthropic *a);
/* Applies the mask callback to a JSON text (NUL-terminated); returns the text to use:
 * `json` itself, or a malloc'd replacement the caller frees. */
const char *bt__anthropic_mask(const bt_anthropic *a, const char *field, const char *json, size_t len);
/* Whether a mask callback is set (it reads NUL-terminated text). */
int bt__anthropic_masks(const bt_anthropic *a);
/* The API server set with bt_anthropic_set_upstream, or NULL. */
const struct bt__server *bt__anthropic_upstream(const bt_anthropic *a);
/* The correlation store (never NULL after bt_anthropic_new). */
struct bt__correlation *bt__anthropic_correlation(bt_anthropic *a);
/* The agent sessions table (session.h); NULL only if it could not be allocated. */
struct bt__sessions *bt__anthropic_sessions(bt_anthropic *a);

/* The options of a span for this exchange: parent context, start time, kind CLIENT. */
bt_span_options bt__exchange_span_options(const bt_exchange *ex);

/* Starts a span for this exchange (bt__exchange_span_options), with the braintrust.parent
 * override and braintrust.span_attributes {"type":type,"name":name}. */
bt_span *bt__exchange_start_span(bt_exchange *ex, const char *name, const char *type);

/* An HTTP error: error.type and the status message "<type>: <message>". */
typedef struct bt__http_error {
    char type[128];
    char message[1024];
} bt__http_error;

/* When the HTTP status is >= 400, reads an Anthropic error body ({"type":"error",
 * "error":{"type","message"},"request_id"}) or falls back to the status and an excerpt
 * of the page into `out` and returns 1 (the body's request_id fills a missing one);
 * otherwise returns 0. */
int bt__exchange_http_error(bt_exchange *ex, const char *body, size_t len, bt__http_error *out);
/* The same, set on `span` as its error status and error.type. */
int bt__exchange_set_http_error(bt_exchange *ex, bt_span *span, const char *body, size_t len);

/* For an exchange cut before its end by the client or by the caller itself, or failed
 * with a cause the caller named (bt_exchange_fail): returns the error type and points
 * *message at the status text (static, or in ex); NULL otherwise. */
const char *bt__exchange_cut(const bt_exchange *ex, const char **message);

/* For an exchange that did not complete (cut, failed, or no response at all): returns
 * the error type and points *message at "<type>: <why>" (static, or in ex); NULL when
 * it completed with a response. */
const char *bt__exchange_failure(const bt_exchange *ex, const char **message);

/* The same, set on `span` as its error status and error.type; returns 1 when set. */
int bt__exchange_set_failure(const bt_exchange *ex, bt_span *span);

/* Handler constructors (one file each). */
bt__handler *bt__messages_handler_new(bt_exchange *ex);         /* messages + count_tokens */
bt__handler *bt__batches_handler_new(bt_exchange *ex);          /* create/retrieve/list/cancel/delete */
bt__handler *bt__batch_results_handler_new(bt_exchange *ex);    /* results + the batch trace */
bt__handler *bt__managed_sessions_handler_new(bt_exchange *ex); /* Managed Agents sessions */
bt__handler *bt__files_handler_new(bt_exchange *ex);            /* Files API uploads */

/* The time of what the exchange is being fed: bt_exchange_set_time's, else the tracer's
 * clock now. */
uint64_t bt__exchange_now(const bt_exchange *ex);

/* The time of what the exchange is being fed: bt_exchange_set_time's, else the tracer's
 * clock now. */
uint64_t bt__exchange_now(const bt_exchange *ex);

#endif
