/*
 * Spans and span contexts.
 *
 * A span is started on a tracer, given attributes, events, links and a status, and
 * ended; bt_span_end() hands it to the tracer's processor, after which the pointer is
 * invalid. Every function accepts a NULL span and then does nothing (a disabled tracer
 * hands out NULL spans), so instrumentation needs no checks. One span belongs to one
 * thread at a time.
 */
#ifndef BRAINTRUST_SPAN_H
#define BRAINTRUST_SPAN_H

#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_tracer bt_tracer;
typedef struct bt_span bt_span;

#define BT_TRACESTATE_MAX 512

/* W3C trace context of a span. */
typedef struct bt_span_context {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t trace_flags;                /* bit 0: sampled */
    char tracestate[BT_TRACESTATE_MAX]; /* "" when absent */
} bt_span_context;

/* OTLP span kinds (values are the OTLP enum numbers). */
typedef enum {
    BT_SPAN_KIND_UNSPECIFIED = 0,
    BT_SPAN_KIND_INTERNAL = 1,
    BT_SPAN_KIND_SERVER = 2,
    BT_SPAN_KIND_CLIENT = 3,
    BT_SPAN_KIND_PRODUCER = 4,
    BT_SPAN_KIND_CONSUMER = 5
} bt_span_kind;

/* OTLP status codes. */
typedef enum { BT_STATUS_UNSET = 0, BT_STATUS_OK = 1, BT_STATUS_ERROR = 2 } bt_status_code;

/* Options for bt_span_start(). Zero-initialise and set what you need. */
typedef struct bt_span_options {
    const bt_span_context *parent; /* NULL: a new root span (new trace) */
    uint64_t start_unix_nano;      /* 0: the tracer's clock now */
    bt_span_kind kind;             /* 0 means INTERNAL */
    const uint8_t *trace_id;       /* 16 bytes, or NULL: parent's, else random */
    const uint8_t *span_id;        /* 8 bytes, or NULL: random (CSPRNG) */
} bt_span_options;

/* Starts a span named `name` (copied). `opts` may be NULL. Returns NULL when the tracer
 * is disabled, not started, or out of memory. The caller owns the span until
 * bt_span_end(). */
BT_EXTERN bt_span *bt_span_start(bt_tracer *tracer, const char *name, const bt_span_options *opts);

/* Attribute setters. Keys and values are copied. Setting a key again replaces the
 * value. Strings are stored as valid UTF-8 (invalid bytes become U+FFFD). A value
 * longer than the tracer's attribute cap is cut at a character boundary and ends with
 * "...[truncated N bytes]"; it is still set and the setter returns BT_ELIMIT. Other
 * returns: BT_OK, BT_EINVAL (NULL span, NULL or empty key, NULL value), BT_ENOMEM. */
BT_EXTERN int bt_span_set_string(bt_span *span, const char *key, const char *value);
BT_EXTERN int bt_span_set_string_len(bt_span *span, const char *key, const char *value, size_t len);
BT_EXTERN int bt_span_set_int(bt_span *span, const char *key, int64_t value);
BT_EXTERN int bt_span_set_double(bt_span *span, const char *key, double value);
BT_EXTERN int bt_span_set_bool(bt_span *span, const char *key, int value);
BT_EXTERN int bt_span_set_string_array(bt_span *span, const char *key, const char *const *values, size_t n);

/* Sets the status; `message` (copied, may be NULL) is kept only for BT_STATUS_ERROR. */
BT_EXTERN int bt_span_set_status(bt_span *span, bt_status_code code, const char *message);

/* Adds an event at `time_unix_nano` (0: now) with string attributes (copied). */
BT_EXTERN int bt_span_add_event(bt_span *span, const char *name, uint64_t time_unix_nano, const bt_kv *attrs,
                                size_t n_attrs);

/* Adds a link to another span context, with string attributes (all copied). */
BT_EXTERN int bt_span_add_link(bt_span *span, const bt_span_context *linked, const bt_kv *attrs,
                               size_t n_attrs);

/* The span's own context (ids and flags), for children and outgoing traceparent. */
BT_EXTERN int bt_span_get_context(const bt_span *span, bt_span_context *out);

/* Ends the span at `end_unix_nano` (0: now; never before start) and hands it to the
 * tracer. Never blocks: when the export queue is full the span is dropped and counted.
 * The pointer is invalid afterwards. */
BT_EXTERN void bt_span_end(bt_span *span, uint64_t end_unix_nano);

/* Frees a span without exporting it. */
BT_EXTERN void bt_span_discard(bt_span *span);

/* W3C traceparent "00-<32 hex>-<16 hex>-<2 hex>". Parse: returns BT_EPARSE for a
 * malformed value, an all-zero id, or version ff; `tracestate` (may be NULL) is copied
 * into out->tracestate when it fits. Format writes 55 chars plus NUL into `out`. */
BT_EXTERN int bt_traceparent_parse(const char *traceparent, const char *tracestate, bt_span_context *out);
BT_EXTERN int bt_traceparent_format(const bt_span_context *ctx, char out[56]);

/* Derives an id deterministically: the first `out_len` bytes (<= 32) of
 * SHA-256(namespace || 0x00 || key). Never all zero. Used for batch traces so that
 * reading the same results twice produces the same ids. */
BT_EXTERN void bt_derive_id(const char *namespace_, const void *key, size_t key_len, uint8_t *out,
                            size_t out_len);

#ifdef __cplusplus
}
#endif
#endif
