/*
 * The sink interface. Sinks are implemented in the export layer; the tracer calls them
 * from its export thread only, one call at a time, so a sink needs no locking unless it
 * offers accessors to other threads (the memory sink does).
 */
#ifndef BT_CORE_SINK_INTERNAL_H
#define BT_CORE_SINK_INTERNAL_H

#include "braintrust/tracer.h"
#include "core/span_internal.h"

typedef struct bt__sink_vtable {
    const char *name;
    /* Delivers n finished spans (borrowed for the call). Returns BT_OK only when they
     * were durably accepted (HTTP 2xx without rejected spans, written and flushed, ...). */
    int (*export_spans)(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n);
    /* Optional: deliver anything buffered; BT_OK when nothing is pending. */
    int (*flush)(bt_sink *sink, int timeout_ms);
    /* Optional: called once before free, on the export thread, at tracer shutdown. */
    void (*shutdown)(bt_sink *sink);
    void (*free)(bt_sink *sink);
} bt__sink_vtable;

/* Every sink struct begins with this header. */
struct bt_sink {
    const bt__sink_vtable *vt;
    bt_log_fn log; /* set by the tracer when the sink is added */
    void *log_ud;
    bt_log_level log_level;
};

#endif
