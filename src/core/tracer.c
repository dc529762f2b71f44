/*
 * The tracer's lifecycle: creation with the OTel defaults, sinks, the resource,
 * starting the processor, flush, statistics, logging, clock and shutdown.
 * (bt_tracer_start, which picks the default sink, is in the export layer.)
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "braintrust/version.h"
#include "core/tracer_impl.h"
#include "util/buf.h"
#include "util/log.h"

#define SCOPE_NAME "braintrust-c"

/* Without a logger of its own, a tracer reports warnings and errors on stderr: a bad
 * configuration must be visible somewhere. */
static void stderr_logger(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    static const char *const names[] = {"debug", "info", "warn", "error"};
    fprintf(stderr, "[%s] %s\n", names[level >= BT_LOG_DEBUG && level <= BT_LOG_ERROR ? level : 3], msg);
}

int bt_tracer_new(bt_tracer **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    bt_tracer *t = calloc(1, sizeof *t);
    if (!t)
        return BT_ENOMEM;
    t->exp.protocol = BT_OTLP_PROTOBUF;
    t->exp.timeout_ms = 10000;
    t->max_queue = 2048;
    t->schedule_delay_ms = 5000;
    t->max_export_batch = 512;
    t->bsp_export_timeout_ms = 30000;
    t->max_request_bytes = BT__DEFAULT_MAX_REQUEST_BYTES;
    t->max_attribute_bytes = BT__DEFAULT_MAX_ATTRIBUTE_BYTES;
    t->log_fn = stderr_logger;
    t->log_level = BT_LOG_WARN;
    atomic_init(&t->running, 0);
    atomic_init(&t->spans_started, 0);
    *out = t;
    return BT_OK;
}

/* The tracer owns its sinks. (bt_sink_free lives in the export layer, above the core,
 * so the core frees through the vtable itself.) */
static void free_sink(bt_sink *s)
{
    if (s && s->vt && s->vt->free)
        s->vt->free(s);
}

int bt_tracer_add_sink(bt_tracer *t, bt_sink *sink)
{
    if (!sink)
        return BT_EINVAL;
    if (!t || atomic_load(&t->running)) {
        free_sink(sink);
        return t ? BT_ESTATE : BT_EINVAL;
    }
    if (t->n_sinks == t->cap_sinks) {
        size_t cap = t->cap_sinks ? t->cap_sinks * 2 : 2;
        bt_sink **p = realloc(t->sinks, cap * sizeof *p);
        if (!p) {
            free_sink(sink);
            return BT_ENOMEM;
        }
        t->sinks = p;
        t->cap_sinks = cap;
    }
    sink->log = t->log_fn;
    sink->log_ud = t->log_ud;
    sink->log_level = t->log_level;
    t->sinks[t->n_sinks++] = sink;
    return BT_OK;
}

static int build_resource(bt_tracer *t)
{
    if (t->resource_built)
        return BT_OK;
    bt__attrs_free(&t->resource.attrs);
    long d = 0;
    int rc = bt__parse_kv_list(t->resource_attributes, &t->resource.attrs);
    if (rc == BT_EINVAL)
        rc = BT_OK; /* validated by the setter; nothing malformed can reach here */
    if (!rc)
        rc = bt__attrs_set_string(&t->resource.attrs, "telemetry.sdk.name", SCOPE_NAME, strlen(SCOPE_NAME), 0,
                                  &d);
    if (!rc)
        rc = bt__attrs_set_string(&t->resource.attrs, "telemetry.sdk.language", "c", 1, 0, &d);
    if (!rc)
        rc = bt__attrs_set_string(&t->resource.attrs, "telemetry.sdk.version", BT_VERSION_STRING,
                                  strlen(BT_VERSION_STRING), 0, &d);
    /* OTEL_SERVICE_NAME wins over a service.name in OTEL_RESOURCE_ATTRIBUTES. */
    if (!rc && t->service_name)
        rc = bt__attrs_set_string(&t->resource.attrs, "service.name", t->service_name,
                                  strlen(t->service_name), 0, &d);
    else if (!rc && !bt__attrs_find(&t->resource.attrs, "service.name"))
        rc = bt__attrs_set_string(&t->resource.attrs, "service.name", "unknown_service", 15, 0, &d);
    t->resource.scope_name = SCOPE_NAME;
    t->resource.scope_version = BT_VERSION_STRING;
    t->resource_built = rc == BT_OK;
    return rc;
}

const bt__resource *bt__tracer_resource(const bt_tracer *t)
{
    if (!t)
        return NULL;
    bt_tracer *m = (bt_tracer *)t; /* built lazily, before start, on the configuring thread */
    if (!atomic_load(&m->running))
        build_resource(m);
    return &m->resource;
}

const bt__export_settings *bt__tracer_export_settings(const bt_tracer *t)
{
    return t ? &t->exp : NULL;
}

size_t bt__tracer_max_request_bytes(const bt_tracer *t)
{
    return t ? t->max_request_bytes : 0;
}

size_t bt__tracer_sink_count(const bt_tracer *t)
{
    return t ? t->n_sinks : 0;
}

int bt__tracer_run(bt_tracer *t)
{
    if (!t)
        return BT_EINVAL;
    if (atomic_load(&t->running))
        return BT_ESTATE;
    if (t->disabled)
        return BT_EDISABLED;
    int rc = build_resource(t);
    if (rc)
        return rc;
    for (size_t i = 0; i < t->n_sinks; i++) {
        t->sinks[i]->log = t->log_fn;
        t->sinks[i]->log_ud = t->log_ud;
        t->sinks[i]->log_level = t->log_level;
    }
    for (size_t i = 0; i < t->n_sinks; i++)
        if (t->sinks[i]->vt->attached)
            t->sinks[i]->vt->attached(t->sinks[i]);
    rc = bt__processor_start(t);
    if (rc)
        return rc;
    t->run_generation = bt__fork_generation();
    atomic_store_explicit(&t->running, 1, memory_order_release);
    return BT_OK;
}

int bt__tracer_live(const bt_tracer *t)
{
    return atomic_load_explicit(&t->running, memory_order_acquire) &&
        t->run_generation == bt__fork_generation();
}

void bt__tracer_disable(bt_tracer *t)
{
    if (t)
        t->disabled = 1;
}

int bt_tracer_is_enabled(const bt_tracer *t)
{
    return t && !t->disabled;
}

int bt_tracer_flush(bt_tracer *t, int timeout_ms)
{
    if (!t)
        return BT_EINVAL;
    if (t->disabled)
        return BT_EDISABLED;
    if (!bt__tracer_live(t))
        return BT_ESTATE;
    return bt__processor_flush(t, timeout_ms);
}

void bt_tracer_get_stats(bt_tracer *t, bt_tracer_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!t)
        return;
    out->spans_started = atomic_load_explicit(&t->spans_started, memory_order_relaxed);
    if (!bt__tracer_live(t))
        return;
    bt__processor_stats(t, out);
    /* Sinks live until bt_tracer_free(), and their delivery accessors lock. */
    bt__delivery d;
    memset(&d, 0, sizeof d);
    for (size_t i = 0; i < t->n_sinks; i++)
        if (t->sinks[i]->vt->delivery)
            t->sinks[i]->vt->delivery(t->sinks[i], &d);
    out->spans_sent = d.sent;
    out->spans_spooled = d.spooled;
    out->spans_rejected = d.rejected;
    out->send_requests = d.requests;
    out->send_failures = d.failed_requests;
    out->last_send_status = d.last_status;
    memcpy(out->last_send_error, d.last_error, sizeof out->last_send_error);
}

int bt_tracer_describe_export(bt_tracer *t, char *out, size_t out_size)
{
    if (!t || !out || !out_size)
        return BT_EINVAL;
    out[0] = '\0';
    if (t->disabled)
        return BT_EDISABLED;
    if (!atomic_load(&t->running))
        return BT_ESTATE;
    bt__buf b;
    bt__buf_init(&b, out_size - 1);
    for (size_t i = 0; i < t->n_sinks; i++) {
        if (i)
            bt__buf_append_str(&b, i + 1 == t->n_sinks ? " and " : ", ");
        if (t->sinks[i]->vt->describe)
            t->sinks[i]->vt->describe(t->sinks[i], &b);
        else
            bt__buf_printf(&b, "the %s sink", t->sinks[i]->vt->name ? t->sinks[i]->vt->name : "unnamed");
    }
    if (!t->n_sinks)
        bt__buf_append_str(&b, "nowhere (no sink)");
    if (b.data)
        memcpy(out, b.data, b.len + 1);
    bt__buf_free(&b);
    return BT_OK;
}

int bt__tracer_use_manual_clock(bt_tracer *t, uint64_t start_ns)
{
    if (!t)
        return BT_EINVAL;
    if (atomic_load(&t->running))
        return BT_ESTATE;
    t->manual_clock = 1;
    t->manual_now_ns = start_ns;
    return BT_OK;
}

void bt__tracer_advance_clock(bt_tracer *t, uint64_t ns)
{
    if (!t || !t->manual_clock)
        return;
    if (bt__tracer_live(t))
        bt__processor_clock_moved(t, ns);
    else
        t->manual_now_ns += ns;
}

int bt__tracer_wait_idle(bt_tracer *t, int timeout_ms)
{
    if (!t)
        return BT_EINVAL;
    if (!bt__tracer_live(t))
        return BT_ESTATE;
    return bt__processor_wait_idle(t, timeout_ms);
}

uint64_t bt__mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bt_tracer_now(const bt_tracer *t)
{
    if (t && t->clock_fn)
        return t->clock_fn(t->clock_ud);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void bt_tracer_log(const bt_tracer *t, bt_log_level level, const char *fmt, ...)
{
    if (!t || !fmt)
        return;
    va_list ap;
    va_start(ap, fmt);
    bt__logv(t->log_fn, t->log_ud, t->log_level, level, fmt, ap);
    va_end(ap);
}

void bt_tracer_free(bt_tracer *t)
{
    if (!t)
        return;
    /* A forked child frees its copy without touching the processor: the thread is the
     * parent's, and its lock may have been held when the process was forked. Spans
     * still queued there belong to the parent. */
    if (bt__tracer_live(t))
        bt__processor_stop(t);
    else if (atomic_load(&t->running))
        bt__processor_abandon(t);
    for (size_t i = 0; i < t->n_sinks; i++)
        free_sink(t->sinks[i]);
    free(t->sinks);
    bt__attrs_free(&t->resource.attrs);
    free(t->exp.api_key);
    free(t->exp.api_url);
    free(t->exp.parent);
    free(t->exp.otlp_endpoint);
    free(t->exp.otlp_traces_endpoint);
    free(t->exp.otlp_headers);
    free(t->exp.store_path);
    free(t->service_name);
    free(t->resource_attributes);
    free(t);
}
