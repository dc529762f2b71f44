/* MessageBatch object helpers (see batch_object.h). */
#include "anthropic/batch_object.h"

#include <stdlib.h>
#include <string.h>

#include "anthropic/correlation.h"
#include "braintrust/common.h"

static const char *const FIELDS[] = {
    "id",       "type",       "processing_status",   "request_counts", "created_at",
    "ended_at", "expires_at", "cancel_initiated_at", "archived_at",    "results_url",
};

json_t *bt__batch_object_summary(json_t *batch)
{
    json_t *out = json_object();
    for (size_t i = 0; i < sizeof FIELDS / sizeof FIELDS[0]; i++) {
        json_t *v = json_object_get(batch, FIELDS[i]);
        if (v)
            json_object_set(out, FIELDS[i], v);
    }
    return out;
}

int bt__batch_object_remember(struct bt__correlation *c, json_t *batch)
{
    json_t *id = json_object_get(batch, "id");
    if (!json_is_string(id) || json_string_length(id) == 0)
        return BT_EINVAL;
    json_t *summary = bt__batch_object_summary(batch);
    /* not needed by the trace; keeps rows small */
    json_object_del(summary, "type");
    json_object_del(summary, "results_url");
    char *text = json_dumps(summary, JSON_COMPACT);
    json_decref(summary);
    if (!text)
        return BT_ENOMEM;
    int rc = bt__correlation_put_batch(c, json_string_value(id), text, strlen(text));
    free(text);
    return rc;
}
