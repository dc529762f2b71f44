/* GET /metrics: a small JSON document of the proxy's counters and the tracer's. The
 * span counters tell apart what was sent to a receiver, what waits in the store to be
 * sent, and what was lost, with the last export error and its HTTP status, so a
 * failing exporter is visible here and not only in the log. */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

char *px_metrics_json(px_proxy *px)
{
    bt_tracer_stats st;
    memset(&st, 0, sizeof st);
    int traced = px->tracer && bt_tracer_is_enabled(px->tracer);
    char where[1024] = "";
    if (traced) {
        bt_tracer_get_stats(px->tracer, &st);
        bt_tracer_describe_export(px->tracer, where, sizeof where);
    }
    px_metrics totals;
    hs_stats hs;
    px_worker_totals(px->gw, px, &totals, &hs); /* the other workers' as of their last loop turn */
    const px_metrics *m = &totals;
    bt__buf b;
    bt__buf_init(&b, 8192);
    bt__buf_printf(
        &b,
        "{\"requests\":%" PRIu64 ",\"requests_active\":%" PRIu64 ",\"connections_total\":%" PRIu64
        ",\"connections_active\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
        ",\"upstream_errors\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"timeouts\":%" PRIu64
        ",\"connections_evicted\":%" PRIu64 ",\"connections_refused\":%" PRIu64 ",\"over_limit\":%" PRIu64
        ",\"workers\":%d,\"upstream\":{\"connections\":%" PRIu64 ",\"connections_opened\":%" PRIu64
        ",\"http2\":%s,\"over_limit\":%" PRIu64 ",\"max_connections\":%d}"
        ",\"tracing\":{\"backlog_bytes\":%" PRIu64 ",\"backlog_limit\":%" PRIu64 ",\"incomplete\":%" PRIu64
        "}"
        ",\"spans\":{\"started\":%" PRIu64 ",\"ended\":%" PRIu64 ",\"queue_length\":%" PRIu64
        ",\"exported\":%" PRIu64 ",\"sent\":%" PRIu64 ",\"spooled\":%" PRIu64 ",\"rejected\":%" PRIu64
        ",\"dropped\":%" PRIu64 "},\"export\":{\"to\":",
        hs.requests, m->requests_active, hs.connections_total, hs.connections_active, hs.bytes_in,
        hs.bytes_out, m->upstream_errors, m->rejected + hs.rejected, hs.timeouts, hs.connections_evicted,
        hs.connections_refused, m->over_limit, px->gw->n_workers, m->upstream_connections,
        m->upstream_connections_opened, m->upstream_http2 ? "true" : "false", m->upstream_over_limit,
        px->cfg.max_upstream_connections, m->trace_backlog_bytes, px->cfg.trace_backlog_bytes,
        m->spans_incomplete, st.spans_started, st.spans_ended, st.queue_length, st.spans_exported,
        st.spans_sent, st.spans_spooled, st.spans_rejected, st.spans_dropped);
    if (where[0])
        bt__buf_append_json_string(&b, where, strlen(where));
    else
        bt__buf_append_str(&b, "null");
    bt__buf_printf(&b,
                   ",\"sink_failures\":%" PRIu64 ",\"send_requests\":%" PRIu64 ",\"send_failures\":%" PRIu64
                   ",\"last_error\":",
                   st.export_failures, st.send_requests, st.send_failures);
    if (st.last_send_error[0]) {
        bt__buf_printf(&b, "{\"status\":%d,\"message\":", st.last_send_status);
        bt__buf_append_json_string(&b, st.last_send_error, strlen(st.last_send_error));
        bt__buf_append_char(&b, '}');
    } else {
        bt__buf_append_str(&b, "null");
    }
    bt_correlation_stats cs;
    memset(&cs, 0, sizeof cs);
    if (px->anthropic)
        bt_anthropic_get_correlation_stats(px->anthropic, &cs);
    bt__buf_printf(&b,
                   "},\"correlation\":{\"backend\":\"%s\",\"available\":%s,\"errors\":%" PRIu64
                   ",\"writes_queued\":%" PRIu64 ",\"writes_dropped\":%" PRIu64 ",\"lookups\":%" PRIu64
                   ",\"queries\":%" PRIu64 ",\"connects\":%" PRIu64 "}",
                   cs.backend ? cs.backend : "none", cs.available ? "true" : "false", cs.errors,
                   cs.writes_queued, cs.writes_dropped, cs.reads, cs.read_queries, cs.connects);
    bt__buf_printf(&b, ",\"ready\":%s,\"tracing_enabled\":%s}\n", px_draining(px) ? "false" : "true",
                   traced ? "true" : "false");
    if (b.truncated) {
        bt__buf_free(&b);
        return NULL;
    }
    return bt__buf_steal(&b, NULL);
}
