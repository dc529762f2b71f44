/*
 * The batch trace: turns a results stream (JSONL, already decompressed) into one task
 * span "anthropic.batch" and one llm span "anthropic.messages.create" per custom_id.
 *
 * Lines are parsed one at a time as bytes arrive (bt__ndjson, lines capped at
 * BT__BATCH_LINE_MAX) and each child span is ended at once, so memory stays flat
 * whatever the size of the stream: what grows is only a set of 8-byte child ids (for
 * duplicates), capped at BT__BATCH_SEEN_MAX.
 *
 * Deterministic ids (SHA-256 via bt_derive_id, namespace || 0x00 || key):
 *   trace id       = bt_derive_id("anthropic:batch:trace", batch_id)[0..16]
 *   batch span id  = bt_derive_id("anthropic:batch:span",  batch_id)[0..8]
 *   child span id  = bt_derive_id("anthropic:batch:child", batch_id || 0x00 || custom_id)[0..8]
 * so reading the same results twice, or from two processes, gives the same trace.
 *
 * Times: start = the batch's created_at, end = its ended_at, taken from the latest batch
 * object seen (the correlation store's cache, filled by create/retrieve/list/cancel
 * responses or by the collect API). Without ended_at, a span ends when it is produced
 * (children: when their line is read; the batch span: at finish), never before start;
 * without created_at, the batch starts when the trace is started.
 */
#ifndef BT_ANTHROPIC_BATCH_TRACE_H
#define BT_ANTHROPIC_BATCH_TRACE_H

#include <stddef.h>
#include <stdint.h>

#include "braintrust/anthropic.h"

#define BT__BATCH_LINE_MAX ((size_t)4 << 20)
#define BT__BATCH_SEEN_MAX ((size_t)1 << 20)

typedef struct bt__batch_trace bt__batch_trace;

typedef struct bt__batch_counts {
    uint64_t results; /* lines traced */
    uint64_t succeeded, errored, canceled, expired;
    uint64_t invalid;   /* not JSON, no custom_id, no known result type */
    uint64_t duplicate; /* custom_id already traced in this read */
    uint64_t unknown;   /* no create request on record for the custom_id */
    uint64_t oversized; /* longer than BT__BATCH_LINE_MAX */
} bt__batch_counts;

/* The batch span's context (for links from lifecycle spans and for children). */
void bt__batch_span_context(const char *batch_id, bt_span_context *out);

/* `a` borrowed; batch_id, braintrust_parent and server_address (may be NULL) copied;
 * server_address / server_port name the API server the results came from (the results
 * call's, when observed). `clock(clock_ud)` is the time of the bytes being read, used
 * when the batch object gives none (NULL: the tracer's clock). NULL on ENOMEM or a batch
 * id that is empty or too long. */
bt__batch_trace *bt__batch_trace_new(bt_anthropic *a, const char *batch_id, const char *braintrust_parent,
                                     const char *server_address, int server_port, uint64_t (*clock)(void *),
                                     void *clock_ud);
/* Result bytes in any chunking. Never fails: bad lines are counted. */
void bt__batch_trace_feed(bt__batch_trace *t, const char *data, size_t len);
/* Traces the last line and ends the batch span. `incomplete` (may be NULL) says why the
 * stream did not reach its end (the batch span is then an error saying so). */
void bt__batch_trace_finish(bt__batch_trace *t, const char *incomplete);
/* After finish: why the results were incomplete (also a line cut at the very end), or
 * NULL. */
const char *bt__batch_trace_incomplete(const bt__batch_trace *t);
const bt__batch_counts *bt__batch_trace_counts(const bt__batch_trace *t);
/* A metric summed over the succeeded results (prompt_tokens, ...), or -1 when none. */
int64_t bt__batch_trace_metric(const bt__batch_trace *t, const char *name);
/* A summed metric passed INT64_MAX (it stays there). */
int bt__batch_trace_metrics_saturated(const bt__batch_trace *t);
/* Sets braintrust.metrics on `span` to the summed metrics (nothing when there are none). */
void bt__batch_trace_set_metrics(const bt__batch_trace *t, bt_anthropic *a, bt_span *span);
void bt__batch_trace_free(bt__batch_trace *t);

#endif
