/*
 * Export: starting a tracer with its default sink, and the sinks that receive finished
 * spans from the tracer's export thread. Each constructor returns a sink that the
 * caller owns until it is passed to bt_tracer_add_sink(), which takes ownership.
 */
#ifndef BRAINTRUST_SINK_H
#define BRAINTRUST_SINK_H

#include "common.h"
#include "tracer.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Freezes the tracer's configuration, builds the default sink when the application
 * added none (see tracer.h: OTLP/HTTP when an OTLP endpoint or a Braintrust API key is
 * configured, else the local span store, else the console), and starts the background
 * export thread. Returns BT_EDISABLED when the tracer is disabled, by configuration or
 * because the default sink could not be built (logged; the tracer stays safe to use). */
BT_EXTERN int bt_tracer_start(bt_tracer *t);

/* OTLP/HTTP exporter options. Strings are copied by bt_sink_otlp_new(). */
typedef struct bt_otlp_options {
    const char *traces_url;        /* full URL, e.g. https://api.braintrust.dev/otel/v1/traces */
    const char *headers;           /* W3C list "k=v,k2=v2" (values URL-decoded), may be NULL */
    const char *bearer_token;      /* sent as Authorization: Bearer ..., may be NULL */
    const char *braintrust_parent; /* sent as x-bt-parent, may be NULL */
    bt_otlp_protocol protocol;
    int gzip;
    int timeout_ms;           /* per export, all retries included; 0: 10000 */
    int max_retries;          /* 0: the default 5; negative: never retry */
    size_t max_request_bytes; /* a batch encoding to more is sent in several requests;
                                    0: 8 MiB (Braintrust rejects requests over 10 MB) */
    /* Braintrust's API base URL, for a sink that exports to Braintrust: span attachments
     * (base64 images and documents, see docs/SPANS.md) are uploaded through its
     * attachment API with bearer_token before their spans are sent. NULL: none are. */
    const char *attachments_api_url;
} bt_otlp_options;

/* Creates an OTLP/HTTP sink. Retries HTTP 429/502/503/504 and network errors only
 * (honouring Retry-After, else exponential backoff with jitter), within timeout_ms.
 * BT_EINVAL for a URL that is not http(s) with a host, an unparseable header list, or
 * a header value with control characters. Caller owns *out (see the top of this
 * file). */
BT_EXTERN int bt_sink_otlp_new(const bt_otlp_options *opts, bt_sink **out);

/* The OTLP sink that `t`'s configuration (setters, then bt_tracer_configure_from_env)
 * asks for, as bt_tracer_start() would build it: the OTLP traces endpoint, else the
 * OTLP endpoint + /v1/traces (both with the OTLP headers), else, with a Braintrust API
 * key, {api_url}/otel/v1/traces with the key as Bearer token; the parent goes in
 * x-bt-parent. The API key is never sent to an OTLP endpoint. For applications that
 * add their own sinks (which replaces the default) and still want this one, e.g. as
 * the store's spool target. Call before bt_tracer_start(). BT_ENOTFOUND when no OTLP
 * export is configured; BT_EINVAL (logged) for a bad URL or header list. Caller owns
 * *out. */
BT_EXTERN int bt_sink_otlp_from_tracer(bt_tracer *t, bt_sink **out);

/* One OTLP JSON Span object per line (plus "resource" with service.name), appended to
 * `path` (borrowed; the file is created if needed, BT_EIO if it cannot be opened).
 * Each batch is flushed before the export is reported delivered. */
BT_EXTERN int bt_sink_jsonl_new(const char *path, bt_sink **out);

/* Human-readable one-line summary per span to stderr. */
BT_EXTERN int bt_sink_console_new(bt_sink **out);

/* Keeps every exported span in memory as its OTLP JSON Span line, and the bytes of the
 * spans' attachments (base64 images and documents that spans refer to by key, see
 * docs/SPANS.md); for tests. */
BT_EXTERN int bt_sink_memory_new(bt_sink **out);
/* Number of spans held. Thread-safe. */
BT_EXTERN size_t bt_sink_memory_count(bt_sink *sink);
/* Copy of span i as an OTLP JSON Span line (malloc'd; caller frees), or NULL. */
BT_EXTERN char *bt_sink_memory_get(bt_sink *sink, size_t i);
BT_EXTERN void bt_sink_memory_clear(bt_sink *sink);
/* Copy of the bytes of the attachment with this key (malloc'd; caller frees; *len gets
 * the size), or NULL when the sink holds none. Thread-safe. */
BT_EXTERN unsigned char *bt_sink_memory_get_attachment(bt_sink *sink, const char *key, size_t *len);

/* The local SQLite span store (WAL). With `spool_to` non-NULL the store is a durable
 * spool: spans are written first, then shipped to that sink (which the store takes
 * ownership of) and marked sent; unsent spans are shipped after a restart. */
BT_EXTERN int bt_sink_store_new(const char *path, bt_sink *spool_to, bt_sink **out);

/* The store's default location, used by bt_tracer_start() when nothing else is
 * configured and by bt-spans: $BT_STORE_PATH, else $XDG_STATE_HOME/braintrust/spans.db,
 * else $HOME/.local/state/braintrust/spans.db. Writes the path into `out`. Returns
 * BT_ENOTFOUND when none of those variables is set, BT_ELIMIT when out is too small. */
BT_EXTERN int bt_store_default_path(char *out, size_t out_size);

/* Frees a sink that was never handed to a tracer. */
BT_EXTERN void bt_sink_free(bt_sink *sink);

#ifdef __cplusplus
}
#endif
#endif
