/*
 * GET /metrics in the Prometheus text exposition format (version 0.0.4): the proxy's
 * counters and gauges summed over every worker (each worker's as of its last loop turn),
 * the request duration histogram, the upstream connections, the tracing backlog, the
 * tracer's span counts and the batch correlation store's state, each with # HELP and
 * # TYPE. The JSON document
 * (metrics.c) stays available with Accept: application/json.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

/* Upper bounds of the request duration buckets, in seconds: from a quick count_tokens
 * to a long stream or a large batch results download. */
static const double BUCKETS[PX_DURATION_BUCKETS] = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1,
                                                    2.5,   5,    10,    30,   60,  120,  300, 600};

/* On the worker's thread; /metrics reads the counters from any worker's. */
void px_metrics_observe_duration(px_metrics *m, uint64_t ns)
{
    double s = (double)ns / 1e9;
    size_t i = 0;
    while (i < PX_DURATION_BUCKETS && s > BUCKETS[i])
        i++;
    px_counter_add(&m->duration_buckets[i], 1); /* the last slot is +Inf */
    px_counter_add(&m->duration_count, 1);
    px_counter_add(&m->duration_sum_ns, (int64_t)ns);
}

static void metric(bt__buf *b, const char *name, const char *type, const char *help, uint64_t value)
{
    bt__buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, value);
}

char *px_metrics_prometheus(px_proxy *px)
{
    px_metrics totals;
    hs_stats hs;
    px_worker_totals(px->gw, px, &totals, &hs);
    const px_metrics *m = &totals;
    bt_tracer_stats st;
    memset(&st, 0, sizeof st);
    int traced = px->tracer && bt_tracer_is_enabled(px->tracer);
    if (traced)
        bt_tracer_get_stats(px->tracer, &st);
    bt_correlation_stats cs;
    memset(&cs, 0, sizeof cs);
    if (px->anthropic)
        bt_anthropic_get_correlation_stats(px->anthropic, &cs);

    bt__buf b;
    bt__buf_init(&b, 64 * 1024);
    metric(&b, "bt_proxy_requests_total", "counter", "Requests received.", hs.requests);
    metric(&b, "bt_proxy_requests_active", "gauge", "Requests in progress.", m->requests_active);
    metric(&b, "bt_proxy_active_streams", "gauge", "Streamed (SSE) responses in progress.",
           m->streams_active);
    metric(&b, "bt_proxy_connections_total", "counter", "Client connections accepted.", hs.connections_total);
    metric(&b, "bt_proxy_connections_active", "gauge", "Client connections open.", hs.connections_active);
    metric(&b, "bt_proxy_connections_evicted_total", "counter",
           "Idle connections closed to make room at --max-connections.", hs.connections_evicted);
    metric(&b, "bt_proxy_connections_refused_total", "counter",
           "Connections closed unserved: past the limit and its over-limit allowance.",
           hs.connections_refused);
    metric(&b, "bt_proxy_over_limit_requests_total", "counter",
           "Requests answered 503 because every connection was busy.", m->over_limit);
    metric(&b, "bt_proxy_request_timeouts_total", "counter", "Requests answered 408: head or body too slow.",
           hs.timeouts);
    metric(&b, "bt_proxy_received_bytes_total", "counter", "Request bytes read from clients.", hs.bytes_in);
    metric(&b, "bt_proxy_sent_bytes_total", "counter", "Response bytes written to clients.", hs.bytes_out);
    metric(&b, "bt_proxy_upstream_errors_total", "counter",
           "Requests that failed on the way to or from the upstream.", m->upstream_errors);
    metric(&b, "bt_proxy_rejected_requests_total", "counter",
           "Requests answered by the proxy itself with 4xx.", m->rejected + hs.rejected);
    metric(&b, "bt_proxy_ready", "gauge", "1 while the proxy takes new requests, 0 once it drains.",
           !px_draining(px));
    metric(&b, "bt_proxy_workers", "gauge", "Event loops serving clients (--workers).",
           (uint64_t)px->gw->n_workers);
    metric(&b, "bt_proxy_upstream_connections", "gauge", "Upstream connections open.",
           m->upstream_connections);
    metric(&b, "bt_proxy_upstream_connections_opened_total", "counter", "Upstream connections opened.",
           m->upstream_connections_opened);
    metric(&b, "bt_proxy_upstream_connections_limit", "gauge",
           "Upstream connections allowed at once (--max-upstream-connections).",
           (uint64_t)px->cfg.max_upstream_connections);
    metric(&b, "bt_proxy_upstream_over_limit_requests_total", "counter",
           "Requests answered 503 because --max-upstream-connections was reached.", m->upstream_over_limit);
    metric(&b, "bt_proxy_upstream_http2", "gauge", "1 once the upstream has answered over HTTP/2.",
           m->upstream_http2);

    bt__buf_append_str(&b,
                       "# HELP bt_proxy_request_duration_seconds Time from a request's first byte to the "
                       "end of its response.\n# TYPE bt_proxy_request_duration_seconds histogram\n");
    uint64_t cumulative = 0;
    for (size_t i = 0; i < PX_DURATION_BUCKETS; i++) {
        cumulative += m->duration_buckets[i];
        bt__buf_printf(&b, "bt_proxy_request_duration_seconds_bucket{le=\"%g\"} %" PRIu64 "\n", BUCKETS[i],
                       cumulative);
    }
    cumulative += m->duration_buckets[PX_DURATION_BUCKETS];
    bt__buf_printf(
        &b,
        "bt_proxy_request_duration_seconds_bucket{le=\"+Inf\"} %" PRIu64
        "\nbt_proxy_request_duration_seconds_sum %.9f\nbt_proxy_request_duration_seconds_count %" PRIu64 "\n",
        cumulative, (double)m->duration_sum_ns / 1e9, m->duration_count);

    metric(&b, "bt_proxy_tracing_enabled", "gauge", "1 when requests are traced.", (uint64_t)traced);
    metric(&b, "bt_proxy_trace_backlog_bytes", "gauge",
           "Copies of traffic waiting for the tracing threads, all workers together.",
           m->trace_backlog_bytes);
    metric(&b, "bt_proxy_trace_backlog_limit_bytes", "gauge",
           "The tracing backlog's bound (--trace-backlog).", px->cfg.trace_backlog_bytes);
    metric(&b, "bt_proxy_spans_incomplete_total", "counter",
           "Calls whose tracing fell behind past --trace-backlog: span kept, marked truncated.",
           m->spans_incomplete);
    metric(&b, "bt_proxy_spans_started_total", "counter", "Spans started.", st.spans_started);
    metric(&b, "bt_proxy_spans_ended_total", "counter", "Spans ended and queued for export.", st.spans_ended);
    metric(&b, "bt_proxy_spans_exported_total", "counter", "Spans handed to every sink successfully.",
           st.spans_exported);
    metric(&b, "bt_proxy_spans_dropped_total", "counter", "Spans lost: export queue full or export failed.",
           st.spans_dropped);
    metric(&b, "bt_proxy_spans_sent_total", "counter", "Spans accepted by the OTLP receiver.", st.spans_sent);
    metric(&b, "bt_proxy_spans_spooled", "gauge", "Spans kept in the local store, not sent yet.",
           st.spans_spooled);
    metric(&b, "bt_proxy_spans_rejected_total", "counter", "Spans the receiver refused for their content.",
           st.spans_rejected);
    metric(&b, "bt_proxy_span_queue_length", "gauge", "Spans waiting for export.", st.queue_length);
    metric(&b, "bt_proxy_span_export_failures_total", "counter", "Export attempts that failed.",
           st.export_failures);

    const char *backend = cs.backend ? cs.backend : "none";
    bt__buf_printf(&b,
                   "# HELP bt_proxy_correlation_store_up 1 when the batch correlation store answers.\n"
                   "# TYPE bt_proxy_correlation_store_up gauge\n"
                   "bt_proxy_correlation_store_up{backend=\"%s\"} %d\n",
                   backend, cs.backend ? cs.available : 0);
    metric(&b, "bt_proxy_correlation_store_errors_total", "counter",
           "Batch correlation operations that failed (database errors, timeouts, unreachable).", cs.errors);
    metric(&b, "bt_proxy_correlation_writes_queued", "gauge",
           "Batch inputs waiting to be written to the store.", cs.writes_queued);
    metric(&b, "bt_proxy_correlation_writes_dropped_total", "counter",
           "Batch inputs not stored (store or queue full, refused rows).", cs.writes_dropped);
    metric(&b, "bt_proxy_correlation_lookups_total", "counter", "Batch result lines looked up in the store.",
           cs.reads);
    metric(&b, "bt_proxy_correlation_queries_total", "counter",
           "Lookups that went to the database (the others came from its read-ahead window).",
           cs.read_queries);
    metric(&b, "bt_proxy_correlation_connects_total", "counter", "Connections to the database established.",
           cs.connects);
    if (b.truncated) {
        bt__buf_free(&b);
        return NULL;
    }
    return bt__buf_steal(&b, NULL);
}
