/*
 * The in-memory sink: keeps each exported span as its OTLP JSON line, and the bytes of
 * their attachments by key, for tests. The export thread appends while test code reads,
 * so every access takes the lock.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/sink.h"
#include "core/sink_internal.h"
#include "export/otlp_json.h"
#include "util/log.h"

/* Hard cap on spans held; an export past it fails (and says so) rather than growing
 * without bound. */
#define MEMORY_SINK_MAX_SPANS ((size_t)1 << 20)
#define MEMORY_SINK_MAX_ATTACHMENT_BYTES ((size_t)256 << 20)

typedef struct kept_attachment {
    char key[37];
    unsigned char *data;
    size_t len;
} kept_attachment;

typedef struct memory_sink {
    bt_sink base;
    pthread_mutex_t lock;
    char **lines;
    size_t n, cap;
    kept_attachment *att;
    size_t n_att, att_bytes;
} memory_sink;

/* Keeps a copy of each attachment not held yet (same key, same bytes). */
static int keep_attachments(memory_sink *m, const bt_span *s)
{
    for (size_t i = 0; i < s->n_attachments; i++) {
        const bt__attachment *a = &s->attachments[i];
        int have = 0;
        for (size_t k = 0; k < m->n_att && !have; k++)
            have = !strcmp(m->att[k].key, a->key);
        if (have)
            continue;
        if (m->att_bytes + a->len > MEMORY_SINK_MAX_ATTACHMENT_BYTES)
            return BT_ELIMIT;
        kept_attachment *grown = realloc(m->att, (m->n_att + 1) * sizeof *grown);
        if (!grown)
            return BT_ENOMEM;
        m->att = grown;
        kept_attachment *k = &m->att[m->n_att];
        k->data = malloc(a->len ? a->len : 1);
        if (!k->data)
            return BT_ENOMEM;
        memcpy(k->data, a->data, a->len);
        memcpy(k->key, a->key, sizeof k->key);
        k->len = a->len;
        m->n_att++;
        m->att_bytes += a->len;
    }
    return BT_OK;
}

static int memory_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    memory_sink *m = (memory_sink *)sink;
    /* Encode outside the lock; readers only wait for the pointer appends. */
    char **fresh = calloc(n ? n : 1, sizeof *fresh);
    if (!fresh)
        return BT_ENOMEM;
    int rc = BT_OK;
    bt__buf line;
    for (size_t i = 0; i < n && rc == BT_OK; i++) {
        bt__buf_init(&line, 0);
        rc = bt__otlp_json_span_line(res, spans[i], &line);
        fresh[i] = rc == BT_OK ? bt__buf_steal(&line, NULL) : NULL;
        bt__buf_free(&line);
        if (rc == BT_OK && !fresh[i])
            rc = BT_ENOMEM;
    }
    if (rc == BT_OK) {
        pthread_mutex_lock(&m->lock);
        if (m->n + n > MEMORY_SINK_MAX_SPANS) {
            rc = BT_ELIMIT;
        } else if (m->n + n > m->cap) {
            size_t ncap = m->cap ? m->cap : 64;
            while (ncap < m->n + n)
                ncap *= 2;
            char **grown = realloc(m->lines, ncap * sizeof *grown);
            if (grown) {
                m->lines = grown;
                m->cap = ncap;
            } else {
                rc = BT_ENOMEM;
            }
        }
        for (size_t i = 0; i < n && rc == BT_OK; i++)
            rc = keep_attachments(m, spans[i]);
        if (rc == BT_OK) {
            memcpy(m->lines + m->n, fresh, n * sizeof *fresh);
            m->n += n;
        }
        pthread_mutex_unlock(&m->lock);
    }
    if (rc != BT_OK) {
        bt__log(sink->log, sink->log_ud, sink->log_level, BT_LOG_ERROR,
                "memory sink: could not keep %zu spans: %s", n, bt_strerror(rc));
        for (size_t i = 0; i < n; i++)
            free(fresh[i]);
    }
    free(fresh);
    return rc;
}

static void memory_clear_locked(memory_sink *m)
{
    for (size_t i = 0; i < m->n; i++)
        free(m->lines[i]);
    m->n = 0;
    for (size_t i = 0; i < m->n_att; i++)
        free(m->att[i].data);
    m->n_att = 0;
    m->att_bytes = 0;
}

static void memory_free(bt_sink *sink)
{
    memory_sink *m = (memory_sink *)sink;
    memory_clear_locked(m);
    free(m->lines);
    free(m->att);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

static void memory_describe(bt_sink *sink, bt__buf *out)
{
    (void)sink;
    bt__buf_append_str(out, "memory");
}

static const bt__sink_vtable memory_vt = {
    .describe = memory_describe,
    .name = "memory",
    .export_spans = memory_export,
    .free = memory_free,
    .local = 1,
};

int bt_sink_memory_new(bt_sink **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    memory_sink *m = calloc(1, sizeof *m);
    if (!m)
        return BT_ENOMEM;
    m->base.vt = &memory_vt;
    m->base.keeps_attachments = 1;
    pthread_mutex_init(&m->lock, NULL);
    *out = &m->base;
    return BT_OK;
}

/* The accessors take any sink: they answer nothing for one that is not a memory sink
 * rather than reading a foreign struct. */
static memory_sink *as_memory(bt_sink *sink)
{
    return sink && sink->vt == &memory_vt ? (memory_sink *)sink : NULL;
}

size_t bt_sink_memory_count(bt_sink *sink)
{
    memory_sink *m = as_memory(sink);
    if (!m)
        return 0;
    pthread_mutex_lock(&m->lock);
    size_t n = m->n;
    pthread_mutex_unlock(&m->lock);
    return n;
}

char *bt_sink_memory_get(bt_sink *sink, size_t i)
{
    memory_sink *m = as_memory(sink);
    if (!m)
        return NULL;
    pthread_mutex_lock(&m->lock);
    char *copy = i < m->n ? strdup(m->lines[i]) : NULL;
    pthread_mutex_unlock(&m->lock);
    return copy;
}

void bt_sink_memory_clear(bt_sink *sink)
{
    memory_sink *m = as_memory(sink);
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    memory_clear_locked(m);
    pthread_mutex_unlock(&m->lock);
}

unsigned char *bt_sink_memory_get_attachment(bt_sink *sink, const char *key, size_t *len)
{
    memory_sink *m = as_memory(sink);
    if (len)
        *len = 0;
    if (!m || !key)
        return NULL;
    unsigned char *copy = NULL;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < m->n_att; i++) {
        if (strcmp(m->att[i].key, key) != 0)
            continue;
        copy = malloc(m->att[i].len ? m->att[i].len : 1);
        if (copy) {
            memcpy(copy, m->att[i].data, m->att[i].len);
            if (len)
                *len = m->att[i].len;
        }
        break;
    }
    pthread_mutex_unlock(&m->lock);
    return copy;
}
