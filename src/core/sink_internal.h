/*
 * The sink interface. Sinks are implemented in the export layer; the tracer calls them
 * from its export thread only, one call at a time, so a sink needs no locking unless it
 * offers accessors to other threads (the memory sink does).
 */
#ifndef BT_CORE_SINK_INTERNAL_H
#define BT_CORE_SINK_INTERNAL_H

#include "braintrust/tracer.h"
#include "core/span_internal.h"
#include "util/buf.h"

/* How the last export of a sink that sends to a remote receiver went. */
typedef enum {
    BT__SEND_OK = 0,
    BT__SEND_TRANSIENT, /* no answer, a timeout, HTTP 429/502/503/504: may work later */
    BT__SEND_REFUSED,   /* the request was refused (HTTP 401, 403, 404, ...): a setup
                         * problem, not a problem of these spans */
    BT__SEND_CONTENT,   /* these very spans were refused (HTTP 400, 413): sent again as
                         * they are, they would be refused again */
    BT__SEND_PARTIAL    /* accepted with some spans rejected (OTLP partial success):
                         * the request must not be sent again */
} bt__send_kind;

#define BT__TAKEN_UNKNOWN ((size_t)-1)

/* What a sink knows about delivery to a remote receiver: counters since it was
 * created, and the last failure. */
typedef struct bt__delivery {
    uint64_t sent;            /* spans a receiver accepted */
    uint64_t rejected;        /* spans a receiver refused for their content */
    uint64_t requests;        /* requests made, retries included */
    uint64_t failed_requests; /* of which failed */
    uint64_t spooled;         /* spans kept in a spool, not sent yet */
    int last_status;          /* HTTP status of the last failed request; 0: none or no answer */
    char last_error[256];     /* "" or why the last failed request failed (no secrets) */
} bt__delivery;

typedef struct bt__sink_vtable {
    const char *name;
    /* Delivers n finished spans (borrowed for the call). Returns BT_OK only when they
     * were durably accepted (HTTP 2xx without rejected spans, written and flushed, ...). */
    int (*export_spans)(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n);
    /* Optional: deliver anything buffered; BT_OK when nothing is pending. */
    int (*flush)(bt_sink *sink, int timeout_ms);
    /* Optional: called once before free, on the export thread, at tracer shutdown. */
    void (*shutdown)(bt_sink *sink);
    /* Optional: the tracer is starting, the sink's logger is set; a sink with a thread
     * of its own starts it here (on the thread starting the tracer). */
    void (*attached)(bt_sink *sink);
    void (*free)(bt_sink *sink);
    /* 1 when delivery is local and cheap (a file, a database, memory): when every sink
     * is local the processor hands spans over as soon as it is idle instead of waiting
     * out the schedule delay, so a span is visible right after it ends. The delay
     * exists to batch network requests, which a local write does not need. */
    int local;
    /* Optional: adds what the sink knows about remote delivery to *out (counters add
     * up; the last error is set when the sink has one). Called from any thread. */
    void (*delivery)(bt_sink *sink, bt__delivery *out);
    /* Optional: appends where the sink puts spans, in words and without credentials,
     * e.g. "OTLP http://collector:4318/v1/traces". */
    void (*describe)(bt_sink *sink, bt__buf *out);
} bt__sink_vtable;

/* Every sink struct begins with this header. */
struct bt_sink {
    const bt__sink_vtable *vt;
    bt_log_fn log; /* set by the tracer when the sink is added */
    void *log_ud;
    bt_log_level log_level;
    /* Set by a spool that retries on its own schedule (the store): one attempt per
     * export, and quiet about failures the spool reports itself. */
    int single_attempt;
    /* How the last export_spans call went, for the thread that made it. */
    bt__send_kind last_kind;
    int64_t retry_after_ms; /* -1, or the delay a failed request's Retry-After asked */
    /* Of the spans of a failed export, how many the receiver took all the same (a
     * batch sent in halves, one of which got through); BT__TAKEN_UNKNOWN (the caller
     * sets it before each call) when the sink cannot tell, meaning none. */
    size_t last_taken;
    /* Set by a sink that delivers span attachments (uploads or stores their bytes). */
    int keeps_attachments;
};

#endif
