/*
 * Span attachments (span_internal.h): the bytes a span refers to by key. The tracer
 * keeps count of the bytes held by spans not yet freed, so a burst of large images
 * cannot hold memory without bound: past the budget, callers keep the data inline.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tracer_impl.h"

#define MAX_ATTACHMENTS_PER_SPAN 64

int bt__tracer_keeps_attachments(const bt_tracer *t)
{
    if (!t)
        return 0;
    for (size_t i = 0; i < t->n_sinks; i++)
        if (t->sinks[i]->keeps_attachments)
            return 1;
    return 0;
}

int bt__span_add_attachment(bt_span *s, const char *key, const char *content_type, const char *filename,
                            unsigned char *data, size_t len)
{
    if (!s || !key || strlen(key) >= sizeof s->attachments[0].key ||
        !bt__tracer_keeps_attachments(s->tracer)) {
        free(data);
        return BT_EINVAL;
    }
    if (s->n_attachments == MAX_ATTACHMENTS_PER_SPAN) {
        free(data);
        return BT_ELIMIT;
    }
    size_t before = atomic_fetch_add(&s->tracer->attachment_bytes, len);
    if (before + len > BT__ATTACHMENT_BUDGET || before + len < before) {
        atomic_fetch_sub(&s->tracer->attachment_bytes, len);
        free(data);
        return BT_ELIMIT;
    }
    bt__attachment *grown = realloc(s->attachments, (s->n_attachments + 1) * sizeof *grown);
    char *ct = strdup(content_type ? content_type : "application/octet-stream");
    char *fn = strdup(filename ? filename : "attachment");
    if (!grown || !ct || !fn) {
        if (grown)
            s->attachments = grown;
        free(ct);
        free(fn);
        free(data);
        atomic_fetch_sub(&s->tracer->attachment_bytes, len);
        return BT_ENOMEM;
    }
    s->attachments = grown;
    bt__attachment *a = &s->attachments[s->n_attachments++];
    memset(a, 0, sizeof *a);
    memcpy(a->key, key, strlen(key) + 1);
    a->content_type = ct;
    a->filename = fn;
    a->data = data;
    a->len = len;
    return BT_OK;
}

void bt__span_free_attachments(bt_span *s)
{
    size_t total = 0;
    for (size_t i = 0; i < s->n_attachments; i++) {
        total += s->attachments[i].len;
        free(s->attachments[i].content_type);
        free(s->attachments[i].filename);
        free(s->attachments[i].data);
    }
    free(s->attachments);
    s->attachments = NULL;
    s->n_attachments = 0;
    /* spans decoded back from the store for shipping belong to no live tracer */
    if (total && s->tracer)
        atomic_fetch_sub(&s->tracer->attachment_bytes, total);
}
