/* Giving memory back after a burst. Large traced bodies (request copies, accumulated
 * responses, span attributes on the export thread) are freed when their exchange ends,
 * but glibc keeps freed heap pages mapped unless they sit at the top of a heap: after
 * 200 concurrent 1 MB requests RSS stayed at about 200 MB for good (peak 400 MB, idle
 * 12 MB before). malloc_trim(0) returns every free page of every arena, so it runs once
 * per busy period, after a full sweep interval in which nothing moved: no new request,
 * none in flight, no span exported (the export thread frees its share last). Never on
 * the hot path, never while memory is about to be reused. (bench/proxy_rss measures
 * it.) */
#include <malloc.h>

#include "proxy.h"

void px_release_memory_when_idle(px_gateway *gw)
{
    static uint64_t requests_seen, exported_seen;
    static int trim_due;
    bt_tracer_stats st = {0};
    if (gw->tracer)
        bt_tracer_get_stats(gw->tracer, &st);
    px_metrics m;
    hs_stats hs;
    px_gateway_totals(gw, &m, &hs);
    uint64_t exported = st.spans_exported + st.spans_dropped;
    if (m.requests != requests_seen || exported != exported_seen || m.requests_active > 0) {
        requests_seen = m.requests;
        exported_seen = exported;
        trim_due = 1; /* busy during this interval: look again at the next */
        return;
    }
    if (trim_due) {
        malloc_trim(0);
        trim_due = 0;
    }
}
