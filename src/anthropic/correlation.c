/*
 * The batch correlation store front (see correlation.h): argument checks, the clock,
 * the caps every backend shares, and the failure counters; the work is done by the
 * backend behind the ops table.
 */
#include "anthropic/correlation.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "braintrust/common.h"
#include "util/timefmt.h"

struct bt__correlation {
    const bt__corr_ops *ops;
    void *be;
    bt_tracer *tracer;
    atomic_uint_fast64_t errors, writes_dropped, reads;
};

static uint64_t now_ns(const struct bt__correlation *c)
{
    return c->tracer ? bt_tracer_now(c->tracer) : bt__now_unix_nano();
}

static struct bt__correlation *wrap(const bt__corr_ops *ops, void *be, bt_tracer *t)
{
    struct bt__correlation *c = calloc(1, sizeof *c);
    if (!c) {
        ops->close(be);
        return NULL;
    }
    c->ops = ops;
    c->be = be;
    c->tracer = t;
    return c;
}

struct bt__correlation *bt__correlation_new(const char *sqlite_path, bt_tracer *t)
{
    void *be = NULL;
    if (!sqlite_path)
        return bt__corr_memory_open(&be) == BT_OK ? wrap(&bt__corr_memory_ops, be, t) : NULL;
    char err[256] = "";
    uint64_t now = t ? bt_tracer_now(t) : bt__now_unix_nano();
    if (bt__corr_sqlite_open(sqlite_path, now, &be, err, sizeof err) != BT_OK) {
        if (t)
            bt_tracer_log(t, BT_LOG_ERROR, "batch correlation store %s: %s", sqlite_path, err);
        return NULL;
    }
    return wrap(&bt__corr_sqlite_ops, be, t);
}

struct bt__correlation *bt__correlation_new_url(const char *url, bt_tracer *t, int *rc_out)
{
    int rc = BT_EINVAL;
    void *be = NULL;
    struct bt__correlation *c = NULL;
    char err[256] = "";
    if (url && (strncmp(url, "postgresql://", 13) == 0 || strncmp(url, "postgres://", 11) == 0)) {
        rc = bt__corr_pg_open(url, t, &be, err, sizeof err);
        if (rc == BT_OK && !(c = wrap(&bt__corr_pg_ops, be, t)))
            rc = BT_ENOMEM;
    } else {
        snprintf(err, sizeof err, "not a postgresql:// URL");
    }
    if (rc != BT_OK && t)
        bt_tracer_log(t, BT_LOG_ERROR, "batch correlation store: %s", err);
    if (rc_out)
        *rc_out = rc;
    return c;
}

void bt__correlation_free(struct bt__correlation *c)
{
    if (!c)
        return;
    c->ops->close(c->be);
    free(c);
}

/* Counts a failed operation: a refused write, or a store that could not answer. */
static int count(struct bt__correlation *c, int rc, int is_write)
{
    if (rc == BT_OK || rc == BT_ENOTFOUND || rc > 0)
        return rc;
    if (is_write)
        atomic_fetch_add(&c->writes_dropped, 1);
    if (rc != BT_ELIMIT)
        atomic_fetch_add(&c->errors, 1);
    return rc;
}

int bt__correlation_put(struct bt__correlation *c, const char *key, const char *custom_id, const char *entry,
                        size_t len)
{
    if (!c || !key || !custom_id || !entry)
        return BT_EINVAL;
    if (len > BT__CORR_ENTRY_MAX)
        return count(c, BT_ELIMIT, 1);
    return count(c, c->ops->put(c->be, key, custom_id, entry, len, now_ns(c)), 1);
}

int bt__correlation_rekey(struct bt__correlation *c, const char *from_key, const char *to_key)
{
    if (!c || !from_key || !to_key)
        return BT_EINVAL;
    return count(c, c->ops->rekey(c->be, from_key, to_key), 0);
}

int bt__correlation_drop(struct bt__correlation *c, const char *key)
{
    if (!c || !key)
        return BT_EINVAL;
    return count(c, c->ops->drop(c->be, key), 0);
}

int bt__correlation_get(struct bt__correlation *c, const char *key, const char *custom_id, char **entry_out,
                        size_t *len_out)
{
    if (!c || !key || !custom_id || !entry_out)
        return BT_EINVAL;
    *entry_out = NULL;
    atomic_fetch_add(&c->reads, 1);
    int rc = count(c, c->ops->get(c->be, key, custom_id, now_ns(c), entry_out, len_out), 0);
    if (rc != BT_OK) {
        free(*entry_out);
        *entry_out = NULL;
    }
    return rc;
}

/* processing_status "ended" (only ever followed by more "ended" views). */
static int object_ended(const char *json, size_t len)
{
    json_t *o = json_loadb(json, len, 0, NULL);
    json_t *st = json_object_get(o, "processing_status");
    int ended = json_is_string(st) && strcmp(json_string_value(st), "ended") == 0;
    json_decref(o);
    return ended;
}

int bt__correlation_put_batch(struct bt__correlation *c, const char *batch_id, const char *json, size_t len)
{
    if (!c || !batch_id || !json)
        return BT_EINVAL;
    if (len > BT__CORR_BATCH_OBJECT_MAX)
        return BT_ELIMIT;
    return count(c, c->ops->put_batch(c->be, batch_id, json, len, object_ended(json, len), now_ns(c)), 0);
}

int bt__correlation_get_batch(struct bt__correlation *c, const char *batch_id, char **json_out)
{
    if (!c || !batch_id || !json_out)
        return BT_EINVAL;
    *json_out = NULL;
    int rc = count(c, c->ops->get_batch(c->be, batch_id, now_ns(c), json_out), 0);
    if (rc != BT_OK) {
        free(*json_out);
        *json_out = NULL;
    }
    return rc;
}

int bt__correlation_purge(struct bt__correlation *c)
{
    if (!c)
        return BT_EINVAL;
    return count(c, c->ops->purge(c->be, now_ns(c)), 0);
}

int bt__correlation_sync(struct bt__correlation *c, int timeout_ms)
{
    if (!c)
        return BT_EINVAL;
    return c->ops->sync(c->be, timeout_ms);
}

void bt__correlation_set_read_wait(struct bt__correlation *c, int ms)
{
    if (c && c->ops->set_read_wait && ms > 0)
        c->ops->set_read_wait(c->be, ms);
}

void bt__correlation_get_stats(struct bt__correlation *c, bt_correlation_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    out->backend = c->ops->name;
    c->ops->stats(c->be, out); /* available, queue, asynchronous failures, queries */
    out->errors += atomic_load(&c->errors);
    out->writes_dropped += atomic_load(&c->writes_dropped);
    out->reads = atomic_load(&c->reads);
}
