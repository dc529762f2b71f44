/*
 * MessageBatch objects as seen in create/retrieve/list/cancel responses: the compact
 * form kept in the correlation store's batch cache (what the batch trace needs for its
 * times, status and counts) and the form shown as a lifecycle span's output.
 */
#ifndef BT_ANTHROPIC_BATCH_OBJECT_H
#define BT_ANTHROPIC_BATCH_OBJECT_H

#include <jansson.h>

struct bt__correlation;

/* {id, type, processing_status, request_counts, created_at, ended_at, expires_at,
 *  cancel_initiated_at, archived_at, results_url} as present in `batch`. New reference. */
json_t *bt__batch_object_summary(json_t *batch);
/* Remembers `batch` (a MessageBatch with a string id) in the store's batch cache.
 * Returns BT_OK, BT_EINVAL when it has no id, or the store's error. */
int bt__batch_object_remember(struct bt__correlation *c, json_t *batch);

#endif
