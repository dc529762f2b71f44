/*
 * The tracer's private state, shared by the files of the core (tracer.c, config.c,
 * span.c, attrs.c, processor.c, ids.c). Nothing outside src/core includes this.
 */
#ifndef BT_CORE_TRACER_IMPL_H
#define BT_CORE_TRACER_IMPL_H

#include <pthread.h>
#include <stdatomic.h>

#include "core/sink_internal.h"
#include "core/tracer_internal.h"

#define BT__DEFAULT_MAX_REQUEST_BYTES ((size_t)8 << 20)
#define BT__DEFAULT_MAX_ATTRIBUTE_BYTES ((size_t)4 << 20)
/* Per-span count caps (the OTel SDK defaults), so no span grows without bound. */
#define BT__MAX_SPAN_ATTRIBUTES 128
#define BT__MAX_SPAN_EVENTS 128
#define BT__MAX_SPAN_LINKS 128
#define BT__MAX_ATTRIBUTES_PER_ITEM 128 /* per event or link */

/* The batch span processor (processor.c). Everything is guarded by mu. Spans are
 * numbered in queue order (seq); since the queue is FIFO, "every span accepted before
 * sequence S has been handled" is simply done_seq >= S. */
typedef struct bt__processor {
    pthread_mutex_t mu;
    pthread_cond_t work; /* wakes the export thread */
    pthread_cond_t done; /* wakes flush waiters */
    pthread_t thread;
    int thread_started;
    int stopping; /* shutdown begun: no span is accepted any more */
    bt_span *head, *tail;
    size_t qlen;
    uint64_t oldest_enqueued_mono; /* when the oldest queued span arrived (schedule delay) */
    uint64_t enq_seq;              /* spans accepted so far */
    uint64_t done_seq;             /* spans handled (delivered or failed) so far */
    uint64_t flush_want;           /* sinks are flushed once this many spans are handled */
    uint64_t flush_req;            /* flush calls so far */
    uint64_t flush_served;         /* flush calls answered by a completed round of sink flushes */
    int flush_round_ok;            /* every sink flushed in the last round */
    uint64_t last_fail_seq;        /* highest seq whose delivery failed (0: none) */
    uint64_t flush_base;           /* enq_seq when the last completed flush was called */
    uint64_t flush_drop_base;      /* queue_drops when the last completed flush was called */
    uint64_t drain_deadline_mono;  /* shutdown: spans still queued after this are dropped */
    bt_span **batch;               /* the export thread's batch buffer (max_export_batch) */
    int all_sinks_local;           /* export as soon as idle (see bt__sink_vtable.local) */
    int idle;                      /* the thread waits with nothing it can do at this time */
    uint64_t fail_streak;          /* failed sink exports in a row (export thread only) */
    /* statistics */
    uint64_t ended, exported, queue_drops, failed_spans, requests, failures;
} bt__processor;

struct bt_tracer {
    /* configuration (owned strings; NULL when unset), frozen by bt__tracer_run */
    bt__export_settings exp; /* where spans go, read by bt_tracer_start() */
    char *service_name, *resource_attributes;
    int max_queue, schedule_delay_ms, max_export_batch, bsp_export_timeout_ms;
    size_t max_request_bytes, max_attribute_bytes;
    int disabled;

    bt_log_fn log_fn;
    void *log_ud;
    bt_log_level log_level;
    bt_clock_fn clock_fn;
    void *clock_ud;

    bt_sink **sinks;
    size_t n_sinks, cap_sinks;

    bt__resource resource;
    int resource_built;

    atomic_int running;      /* set once by bt__tracer_run */
    unsigned run_generation; /* bt__fork_generation() at start: the export thread
                                 * exists only in that process */
    atomic_uint_fast64_t spans_started;
    atomic_size_t attachment_bytes; /* held by spans not yet freed (attachment.c) */
    /* The processor's clock: CLOCK_MONOTONIC, or a manual one that tests move
     * (bt__tracer_use_manual_clock); manual_now_ns is guarded by proc.mu once running. */
    int manual_clock;
    uint64_t manual_now_ns;
    bt__processor proc;
};

/* ids.c */
void bt__random_bytes(uint8_t *out, size_t n);
/* Changes in a child process after fork(). */
unsigned bt__fork_generation(void);
void bt__new_trace_id(uint8_t out[16]);
void bt__new_span_id(uint8_t out[8]);

/* attrs.c: set key to a string / array value; strings are made valid UTF-8 and cut to
 * max_bytes with a visible marker (then BT_ELIMIT). *delta receives the change of the
 * approximate encoded size. */
int bt__attrs_set_string(bt__attrs *a, const char *key, const char *value, size_t len, size_t max_bytes,
                         long *delta);
/* As bt__attrs_set_string for the `len` bytes at `block + offset`, taking `block` (see
 * bt__span_take_string). */
int bt__attrs_take_string(bt__attrs *a, const char *key, char *block, size_t offset, size_t len,
                          size_t max_bytes, long *delta);
int bt__attrs_set_scalar(bt__attrs *a, const char *key, bt__attr_type type, int64_t i, double d, long *delta);
int bt__attrs_set_string_array(bt__attrs *a, const char *key, const char *const *values, size_t n,
                               size_t max_bytes, long *delta);
/* A copy of s as valid UTF-8 (invalid bytes become U+FFFD), cut to max_bytes with the
 * marker. malloc'd; NULL on ENOMEM. *truncated is set when cut. */
char *bt__string_sanitize(const char *s, size_t len, size_t max_bytes, size_t *out_len, int *truncated);

/* config.c: adds the members of a W3C list "k=v,k2=v2" to attrs (NULL: only checks the
 * list), by the rule of bt__kv_list_parse() in util/text.h. BT_EINVAL when malformed. */
int bt__parse_kv_list(const char *list, bt__attrs *out);
/* Checks an http(s) URL with a host. */
int bt__valid_http_url(const char *url);
int bt__valid_parent(const char *parent);

/* processor.c */
int bt__processor_start(bt_tracer *t);
void bt__processor_enqueue(bt_tracer *t, bt_span *s);
int bt__processor_flush(bt_tracer *t, int timeout_ms);
void bt__processor_stop(bt_tracer *t);
/* In a forked child: frees the inherited queue and buffers without locking or joining. */
void bt__processor_abandon(bt_tracer *t);
void bt__processor_stats(bt_tracer *t, bt_tracer_stats *out);
/* The manual clock moved: the thread re-reads it. */
void bt__processor_clock_moved(bt_tracer *t, uint64_t ns);
int bt__processor_wait_idle(bt_tracer *t, int timeout_ms);

/* tracer.c */
/* 1 when the processor runs in this process: started, and not a forked child (which
 * has no export thread, and whose processor lock may have been held at the fork). */
int bt__tracer_live(const bt_tracer *t);
uint64_t bt__mono_ns(void);

#endif
