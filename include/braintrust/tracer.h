/*
 * The tracer: configuration, span processing and export.
 *
 * Lifecycle: bt_tracer_new() -> setters and/or bt_tracer_configure_from_env() ->
 * bt_tracer_start() (declared in sink.h) -> spans -> bt_tracer_flush() as needed ->
 * bt_tracer_free(). Setters are valid only before bt_tracer_start() (BT_ESTATE after).
 * A started tracer is safe to use from many threads at once. Export runs on the
 * processor's own thread.
 *
 * Sinks: spans go to every sink added with bt_tracer_add_sink(). When none was added,
 * bt_tracer_start() picks the default one (see sink.h): OTLP/HTTP when an OTLP endpoint
 * or a Braintrust API key is configured, else the local SQLite store: at the store path
 * when one is set (BT_STORE_PATH / bt_tracer_set_store_path), else at its default
 * per-user location (bt_store_default_path() in sink.h); the console sink on stderr
 * only when no store can be opened.
 *
 * Bad configuration (unparseable values, a bad endpoint URL) never crashes or exits:
 * it is logged and the tracer is disabled (spans become NULL, flush returns
 * BT_EDISABLED).
 */
#ifndef BRAINTRUST_TRACER_H
#define BRAINTRUST_TRACER_H

#include "common.h"
#include "span.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_sink bt_sink;

typedef enum {
    BT_OTLP_PROTOBUF = 0, /* http/protobuf (default) */
    BT_OTLP_JSON = 1      /* http/json */
} bt_otlp_protocol;

/* Creates a tracer with defaults (no environment read). Caller owns *out and frees it
 * with bt_tracer_free(). Returns BT_ENOMEM only. */
BT_EXTERN int bt_tracer_new(bt_tracer **out);

/* Applies the environment: BRAINTRUST_API_KEY, BRAINTRUST_API_URL, BRAINTRUST_PARENT,
 * OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_EXPORTER_OTLP_TRACES_ENDPOINT,
 * OTEL_EXPORTER_OTLP_(TRACES_)HEADERS, _PROTOCOL, _COMPRESSION, _TIMEOUT,
 * OTEL_SERVICE_NAME, OTEL_RESOURCE_ATTRIBUTES, OTEL_BSP_SCHEDULE_DELAY,
 * OTEL_BSP_EXPORT_TIMEOUT, OTEL_BSP_MAX_QUEUE_SIZE, OTEL_BSP_MAX_EXPORT_BATCH_SIZE,
 * OTEL_SDK_DISABLED, BT_STORE_PATH. A bad value is logged and disables the tracer;
 * the return is then BT_EINVAL (the tracer stays usable, disabled). */
BT_EXTERN int bt_tracer_configure_from_env(bt_tracer *t);

/* Setters. Strings are copied. Return BT_EINVAL for a bad value (tracer disabled),
 * BT_ESTATE after start. */
BT_EXTERN int bt_tracer_set_logger(bt_tracer *t, bt_log_fn fn, void *userdata);
BT_EXTERN int bt_tracer_set_log_level(bt_tracer *t, bt_log_level min_level);
BT_EXTERN int bt_tracer_set_clock(bt_tracer *t, bt_clock_fn fn, void *userdata);
BT_EXTERN int bt_tracer_set_api_key(bt_tracer *t, const char *api_key);
BT_EXTERN int bt_tracer_set_api_url(bt_tracer *t, const char *url);
BT_EXTERN int bt_tracer_set_parent(bt_tracer *t, const char *braintrust_parent);
BT_EXTERN int bt_tracer_set_otlp_endpoint(bt_tracer *t, const char *base_url);
BT_EXTERN int bt_tracer_set_otlp_traces_endpoint(bt_tracer *t, const char *url);
BT_EXTERN int bt_tracer_set_otlp_headers(bt_tracer *t, const char *w3c_header_list);
BT_EXTERN int bt_tracer_set_otlp_protocol(bt_tracer *t, bt_otlp_protocol protocol);
BT_EXTERN int bt_tracer_set_otlp_compression(bt_tracer *t, int gzip);
BT_EXTERN int bt_tracer_set_export_timeout_ms(bt_tracer *t, int timeout_ms);
BT_EXTERN int bt_tracer_set_service_name(bt_tracer *t, const char *name);
BT_EXTERN int bt_tracer_set_resource_attributes(bt_tracer *t, const char *w3c_kv_list);
BT_EXTERN int bt_tracer_set_batch_options(bt_tracer *t, int max_queue_size, int schedule_delay_ms,
                                          int max_export_batch_size, int export_timeout_ms);
BT_EXTERN int bt_tracer_set_max_request_bytes(bt_tracer *t,
                                              size_t bytes); /* default 8 MiB (< Braintrust's 10 MB) */
BT_EXTERN int bt_tracer_set_max_attribute_bytes(bt_tracer *t, size_t bytes); /* default 4 MiB */
BT_EXTERN int bt_tracer_set_store_path(bt_tracer *t, const char *sqlite_path);
BT_EXTERN int bt_tracer_set_disabled(bt_tracer *t, int disabled);

/* Adds a sink; the tracer takes ownership (also on failure). Before start only. */
BT_EXTERN int bt_tracer_add_sink(bt_tracer *t, bt_sink *sink);

BT_EXTERN int bt_tracer_is_enabled(const bt_tracer *t);

/* Waits until every span ended before this call has been exported, or `timeout_ms`
 * passes (<= 0: the batch export timeout, OTEL_BSP_EXPORT_TIMEOUT). Returns BT_OK only
 * if all of them were really delivered by every sink, BT_EEXPORT if some were dropped
 * or rejected since the previous flush that completed, BT_ETIMEDOUT on timeout,
 * BT_EDISABLED for a disabled tracer, BT_ESTATE before start. */
BT_EXTERN int bt_tracer_flush(bt_tracer *t, int timeout_ms);

/* What happened to the spans so far. A span ends, waits in the queue, and is handed to
 * every sink: "exported" counts spans every sink took (committed to a store, written to
 * a file, or accepted by an OTLP receiver), "dropped" the ones lost on the way. With a
 * store as a spool in front of OTLP, the store takes a span when it commits it; the
 * spool then sends it: "sent" counts what OTLP receivers accepted, "spooled" what waits
 * in the store for its turn (a failing receiver only makes it wait). */
typedef struct bt_tracer_stats {
    uint64_t spans_started;
    uint64_t spans_ended;
    uint64_t spans_exported;  /* taken by every sink */
    uint64_t spans_dropped;   /* lost: queue full, or a sink failed (after its retries) */
    uint64_t export_requests; /* export calls to sinks */
    uint64_t export_failures; /* of which failed */
    uint64_t queue_length;
    /* delivery to OTLP receivers (Braintrust, a collector), directly or from a spool */
    uint64_t spans_sent;       /* accepted by the receiver */
    uint64_t spans_spooled;    /* kept in a store, not sent yet */
    uint64_t spans_rejected;   /* refused by the receiver for their content (HTTP 400/413, a
                              * partial success); not sent again */
    uint64_t send_requests;    /* HTTP requests, retries included */
    uint64_t send_failures;    /* of which failed */
    int last_send_status;      /* HTTP status of the last failed request; 0: none, or no answer */
    char last_send_error[256]; /* "" or why the last failed request failed, e.g.
                                * "HTTP 503: overloaded", "Couldn't connect to server" */
} bt_tracer_stats;

BT_EXTERN void bt_tracer_get_stats(bt_tracer *t, bt_tracer_stats *out);

/* Where the spans go, in words and without credentials, for a log line: e.g. "the span
 * store /var/lib/bt/spans.db, sent on from there to OTLP https://api.braintrust.dev/otel/
 * v1/traces". Writes a NUL-terminated text into `out` (cut to out_size). After
 * bt_tracer_start(); BT_EDISABLED for a disabled tracer. */
BT_EXTERN int bt_tracer_describe_export(bt_tracer *t, char *out, size_t out_size);

/* Current time from the tracer's clock (ns since the epoch). */
BT_EXTERN uint64_t bt_tracer_now(const bt_tracer *t);

/* Logs through the tracer's logger (printf-style). */
BT_EXTERN void bt_tracer_log(const bt_tracer *t, bt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Stops accepting spans, drains the queue (bounded by the batch export timeout; what
 * is still queued then is dropped and logged), stops the thread, frees sinks and the
 * tracer. No span of this tracer may be used afterwards. NULL is fine. */
BT_EXTERN void bt_tracer_free(bt_tracer *t);

#ifdef __cplusplus
}
#endif
#endif
