/*
 * What the layers above the core need from a tracer.
 *
 * bt_tracer_start() belongs to the export layer (export/tracer_start.c, declared in
 * braintrust/sink.h): choosing the default sink needs the sink constructors, which the
 * core must not depend on. The core keeps the settings that choice reads in one
 * struct, bt__export_settings, stored once in the tracer and handed out as is; the
 * export layer builds the sink, adds it with bt_tracer_add_sink() and calls
 * bt__tracer_run().
 */
#ifndef BT_CORE_TRACER_INTERNAL_H
#define BT_CORE_TRACER_INTERNAL_H

#include "braintrust/tracer.h"
#include "core/span_internal.h"

#define BT__DEFAULT_API_URL "https://api.braintrust.dev"

/* Where spans go unless the application adds its own sinks: set by the setters and
 * bt_tracer_configure_from_env(), frozen when the tracer starts. Strings are owned by
 * the tracer and NULL when unset. */
typedef struct bt__export_settings {
    char *api_key;              /* BRAINTRUST_API_KEY (secret: never log it) */
    char *api_url;              /* BRAINTRUST_API_URL; NULL: BT__DEFAULT_API_URL */
    char *parent;               /* BRAINTRUST_PARENT, "project_name:x" etc.; also the
                                 * braintrust.parent attribute of root spans */
    char *otlp_endpoint;        /* base URL; /v1/traces is appended */
    char *otlp_traces_endpoint; /* used as is */
    char *otlp_headers;         /* raw W3C list from env or setter */
    char *store_path;           /* BT_STORE_PATH */
    bt_otlp_protocol protocol;
    int gzip;
    int timeout_ms; /* OTEL_EXPORTER_OTLP_TIMEOUT, default 10000 */
} bt__export_settings;

/* The tracer's export settings (valid until bt_tracer_free(); NULL for NULL). */
const bt__export_settings *bt__tracer_export_settings(const bt_tracer *t);

/* The cap on one export request (bt_tracer_set_max_request_bytes). */
size_t bt__tracer_max_request_bytes(const bt_tracer *t);

/* Number of sinks added so far. */
size_t bt__tracer_sink_count(const bt_tracer *t);

/* The resource shared by exported spans (built from the configuration on first use
 * before start; fixed once started). */
const bt__resource *bt__tracer_resource(const bt_tracer *t);

/* Starts the processor thread with the sinks added so far. BT_EDISABLED when the
 * tracer is disabled, BT_ESTATE if already running. */
int bt__tracer_run(bt_tracer *t);

/* Marks the tracer disabled after a configuration error found while starting
 * (logged by the caller). */
void bt__tracer_disable(bt_tracer *t);

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
