/*
 * What the layers above the core need from a tracer. bt_tracer_start() itself lives in
 * the export layer (export/tracer_start.c): choosing the default sinks needs the
 * export constructors, which the core must not depend on. It reads the configuration
 * through bt__tracer_config(), adds sinks with bt_tracer_add_sink(), then calls
 * bt__tracer_run().
 */
#ifndef BT_CORE_TRACER_INTERNAL_H
#define BT_CORE_TRACER_INTERNAL_H

#include "braintrust/tracer.h"
#include "core/span_internal.h"

/* Frozen configuration (strings are NULL when unset). Valid until bt_tracer_free().
 * The struct tag and the accessor share a name, so the type is spelled
 * `struct bt__tracer_config` (a typedef of the same name could not coexist). */
struct bt__tracer_config {
    const char *api_key;              /* BRAINTRUST_API_KEY (secret: never log it) */
    const char *api_url;              /* default https://api.braintrust.dev */
    const char *parent;               /* BRAINTRUST_PARENT, "project_name:x" etc. */
    const char *otlp_endpoint;        /* base URL; /v1/traces is appended */
    const char *otlp_traces_endpoint; /* used as is */
    const char *otlp_headers;         /* raw W3C list from env or setter */
    bt_otlp_protocol otlp_protocol;
    int otlp_gzip;
    int export_timeout_ms;  /* OTEL_EXPORTER_OTLP_TIMEOUT, default 10000 */
    const char *store_path; /* BT_STORE_PATH */
    size_t max_request_bytes;
    size_t max_attribute_bytes;
    size_t n_sinks; /* sinks added so far */
    int disabled;
};

const struct bt__tracer_config *bt__tracer_config(const bt_tracer *t);

/* Starts the processor thread with the sinks added so far. BT_EDISABLED when the
 * tracer is disabled, BT_ESTATE if already running. */
int bt__tracer_run(bt_tracer *t);

/* Marks the tracer disabled after a configuration error found while starting
 * (logged by the caller). */
void bt__tracer_disable(bt_tracer *t);

/* The logger, for sinks created by the export layer. */
void bt__tracer_logger(const bt_tracer *t, bt_log_fn *fn, void **ud, bt_log_level *min);

/* The resource shared by exported spans. */
const bt__resource *bt__tracer_resource(const bt_tracer *t);

/* Test hooks, so that no test depends on the scheduler. With a manual clock (set before
 * the tracer runs, starting at start_ns) the processor's schedule delay and shutdown
 * deadline follow only bt__tracer_advance_clock(), and the export thread never sleeps on
 * a timer. bt__tracer_wait_idle() returns BT_OK once the export thread has done all it
 * can at the current time and waits, BT_ETIMEDOUT after timeout_ms of real time (a
 * safety net for a broken build, not a timing), BT_ESTATE when not running. */
int bt__tracer_use_manual_clock(bt_tracer *t, uint64_t start_ns);
void bt__tracer_advance_clock(bt_tracer *t, uint64_t ns);
int bt__tracer_wait_idle(bt_tracer *t, int timeout_ms);

#endif
