/*
 * Message Batches: the explicit collect API.
 *
 * For a batch whose create and results traffic was not observed by an exchange, a
 * bt_batch_collector takes the terminal batch object, the create requests and the
 * results stream, and emits the same batch trace as observed traffic does: one task span
 * "anthropic.batch" with one llm span "anthropic.messages.create" per custom_id, with
 * ids derived from the batch id (and custom_id) so collecting twice produces the same
 * ids. Collect-only mode invents no durations: every span runs from the batch's
 * created_at to its ended_at (or, when the batch has not ended, to the time the
 * results were finished, never before the start).
 *
 * Requests and results are parsed incrementally as they are fed, in any chunking;
 * memory stays bounded whatever their size (requests are kept, bounded, in the
 * bt_anthropic's correlation store; results are streamed line by line).
 */
#ifndef BRAINTRUST_BATCH_H
#define BRAINTRUST_BATCH_H

#include "anthropic.h"
#include "common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct bt_batch_collector bt_batch_collector;

/* What a collection saw. */
typedef struct bt_batch_import_stats {
    uint64_t requests; /* create requests read */
    uint64_t results;  /* result lines traced (one llm span each) */
    uint64_t succeeded;
    uint64_t errored;
    uint64_t canceled;
    uint64_t expired;
    uint64_t invalid_lines;   /* not JSON, or no custom_id/result */
    uint64_t duplicate_ids;   /* a custom_id seen again (traced once) */
    uint64_t unknown_ids;     /* a result without a matching request */
    uint64_t oversized_lines; /* longer than the line cap (counted, span marked) */
    int64_t prompt_tokens;    /* summed over succeeded results */
    int64_t completion_tokens;
} bt_batch_import_stats;

/* Creates a collector for the batch described by `batch_json` (a MessageBatch object,
 * borrowed for the call; it needs "id", and "created_at" for the start time). `a` is
 * borrowed and must outlive the collector. BT_EINVAL when the object has no id,
 * BT_EPARSE when it is not JSON. Caller owns *out (bt_batch_collector_free). */
BT_EXTERN int bt_batch_collector_new(bt_anthropic *a, const char *batch_json, size_t len,
                                     bt_batch_collector **out);
/* Create requests: JSONL of {"custom_id","params"} records, or a create request body
 * {"requests":[...]}, in any number of pieces (borrowed). Feed all requests before the
 * first results. BT_ESTATE after results were fed. */
BT_EXTERN int bt_batch_collector_feed_requests(bt_batch_collector *c, const void *data, size_t len);
/* Results JSONL (already decompressed), in any number of pieces (borrowed). Each
 * complete line is traced as soon as it arrives. */
BT_EXTERN int bt_batch_collector_feed_results(bt_batch_collector *c, const void *data, size_t len);
/* Traces the last line and ends the batch span; fills `out` (may be NULL). Returns
 * BT_OK, or BT_EPARSE when the requests or the results were malformed somewhere (the
 * trace is still emitted; the counters say what was wrong). BT_ESTATE if called twice. */
BT_EXTERN int bt_batch_collector_finish(bt_batch_collector *c, bt_batch_import_stats *out);
/* Frees the collector; an unfinished collection is finished first. NULL is fine. */
BT_EXTERN void bt_batch_collector_free(bt_batch_collector *c);

/* Collects from files: the batch object (JSON), the requests (JSONL or create body; may
 * be NULL when unavailable: the spans then have no input) and the results (JSONL).
 * Requests and results may be gzip files (told by their first bytes). Paths are
 * borrowed. BT_EIO when a file cannot be read; otherwise as bt_batch_collector_finish
 * (BT_EPARSE also for corrupt gzip data). `out` may be NULL. */
BT_EXTERN int bt_batch_import_files(bt_anthropic *a, const char *batch_path, const char *requests_path,
                                    const char *results_path, bt_batch_import_stats *out);

#ifdef __cplusplus
}
#endif
#endif
