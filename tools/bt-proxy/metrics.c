/* GET /metrics: a small JSON document of the proxy's counters and the tracer's. */
#include <inttypes.h>
#include <stdlib.h>

#include "proxy.h"

char *px_metrics_json(px_proxy *px)
{
    bt_tracer_stats st = {0};
    if (px->tracer)
        bt_tracer_get_stats(px->tracer, &st);
    const px_metrics *m = &px->m;
    hs_stats hs = {0};
    if (px->server)
        hs_server_stats(px->server, &hs);
    bt__buf b;
    bt__buf_init(&b, 4096);
    bt__buf_printf(&b,
                   "{\"requests\":%" PRIu64 ",\"requests_active\":%" PRIu64 ",\"connections_total\":%" PRIu64
                   ",\"connections_active\":%" PRIu64 ",\"bytes_in\":%" PRIu64 ",\"bytes_out\":%" PRIu64
                   ",\"upstream_errors\":%" PRIu64 ",\"rejected\":%" PRIu64 ",\"timeouts\":%" PRIu64
                   ",\"connections_evicted\":%" PRIu64 ",\"connections_refused\":%" PRIu64
                   ",\"over_limit\":%" PRIu64 ",\"spans\":{\"started\":%" PRIu64 ",\"ended\":%" PRIu64
                   ",\"exported\":%" PRIu64 ",\"dropped\":%" PRIu64 ",\"queue_length\":%" PRIu64
                   ",\"export_failures\":%" PRIu64 "},\"tracing_enabled\":%s}\n",
                   hs.requests, m->requests_active, hs.connections_total, hs.connections_active, hs.bytes_in,
                   hs.bytes_out, m->upstream_errors, m->rejected + hs.rejected, hs.timeouts,
                   hs.connections_evicted, hs.connections_refused, m->over_limit, st.spans_started,
                   st.spans_ended, st.spans_exported, st.spans_dropped, st.queue_length, st.export_failures,
                   px->tracer && bt_tracer_is_enabled(px->tracer) ? "true" : "false");
    if (b.truncated) {
        bt__buf_free(&b);
        return NULL;
    }
    return bt__buf_steal(&b, NULL);
}
