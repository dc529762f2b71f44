/* What every sink shares: freeing one that never reached a tracer. */
#include "braintrust/sink.h"
#include "core/sink_internal.h"

void bt_sink_free(bt_sink *sink)
{
    if (sink && sink->vt && sink->vt->free)
        sink->vt->free(sink);
}
