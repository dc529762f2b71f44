/*
 * The batch correlation store front (see correlation.h): one mutex, the clock, and
 * either the SQLite backend or this file's bounded in-memory map.
 *
 * The map is a chained hash table of (key, custom_id) -> entry, with every entry also
 * on a FIFO list so that, when the byte budget is spent, the oldest entries of other
 * batches are evicted first. Entries of the batch being written are never evicted to
 * make room for that same batch: the put is refused (BT_ELIMIT) instead, so the caller
 * marks those requests as not kept.
 */
#include "anthropic/correlation.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/timefmt.h"

typedef struct mem_entry {
    struct mem_entry *chain;         /* hash bucket */
    struct mem_entry *older, *newer; /* FIFO list */
    char *key;
    char *custom_id;
    char *entry;
    size_t len;
    uint64_t created;
    size_t hash;
} mem_entry;

typedef struct mem_batch {
    char batch_id[128];
    char *json;
    uint64_t seen;
} mem_batch;

struct bt__correlation {
    pthread_mutex_t mu;
    bt_tracer *tracer;
    struct bt__corr_db *db; /* NULL: the in-memory map */
    mem_entry **buckets;
    size_t n_buckets, n_entries;
    mem_entry *oldest, *newest;
    size_t total_bytes;
    mem_batch batches[BT__CORR_BATCHES_MAX];
};

static uint64_t now_ns(const struct bt__correlation *c)
{
    return c->tracer ? bt_tracer_now(c->tracer) : bt__now_unix_nano();
}

static int expired(const struct bt__correlation *c, uint64_t created)
{
    uint64_t now = now_ns(c);
    return now > BT__CORR_TTL_NANO && created < now - BT__CORR_TTL_NANO;
}

/* FNV-1a over key, a separator and custom_id. */
static size_t hash_pair(const char *key, const char *custom_id)
{
    uint64_t h = 1469598103934665603ull;
    for (const char *p = key; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    h = (h ^ 0xff) * 1099511628211ull;
    for (const char *p = custom_id; *p; p++)
        h = (h ^ (unsigned char)*p) * 1099511628211ull;
    return (size_t)h;
}

struct bt__correlation *bt__correlation_new(const char *sqlite_path, bt_tracer *t)
{
    struct bt__correlation *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->tracer = t;
    pthread_mutex_init(&c->mu, NULL);
    if (sqlite_path) {
        char err[256] = "";
        if (bt__corr_db_open(sqlite_path, now_ns(c), &c->db, err, sizeof err) != BT_OK) {
            if (t)
                bt_tracer_log(t, BT_LOG_ERROR, "batch correlation store %s: %s", sqlite_path, err);
            pthread_mutex_destroy(&c->mu);
            free(c);
            return NULL;
        }
    }
    return c;
}

static void mem_unlink(struct bt__correlation *c, mem_entry *e)
{
    mem_entry **pp = &c->buckets[e->hash % c->n_buckets];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        c->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        c->newest = e->older;
    c->total_bytes -= e->len;
    c->n_entries--;
}

static void mem_free_entry(mem_entry *e)
{
    free(e->key);
    free(e->custom_id);
    free(e->entry);
    free(e);
}

void bt__correlation_free(struct bt__correlation *c)
{
    if (!c)
        return;
    bt__corr_db_close(c->db);
    for (mem_entry *e = c->oldest; e;) {
        mem_entry *next = e->newer;
        mem_free_entry(e);
        e = next;
    }
    free(c->buckets);
    for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++)
        free(c->batches[i].json);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

static mem_entry *mem_find(struct bt__correlation *c, const char *key, const char *custom_id)
{
    if (!c->n_buckets)
        return NULL;
    size_t h = hash_pair(key, custom_id);
    for (mem_entry *e = c->buckets[h % c->n_buckets]; e; e = e->chain)
        if (e->hash == h && strcmp(e->key, key) == 0 && strcmp(e->custom_id, custom_id) == 0)
            return e;
    return NULL;
}

static void mem_link(struct bt__correlation *c, mem_entry *e)
{
    size_t b = e->hash % c->n_buckets;
    e->chain = c->buckets[b];
    c->buckets[b] = e;
    e->older = c->newest;
    e->newer = NULL;
    if (c->newest)
        c->newest->newer = e;
    else
        c->oldest = e;
    c->newest = e;
    c->total_bytes += e->len;
    c->n_entries++;
}

static int mem_grow(struct bt__correlation *c)
{
    if (c->n_entries < c->n_buckets)
        return BT_OK;
    size_t n = c->n_buckets ? c->n_buckets * 2 : 1024;
    mem_entry **b = calloc(n, sizeof *b);
    if (!b)
        return BT_ENOMEM;
    /* Rehash in FIFO order; chains need no particular order. */
    free(c->buckets);
    c->buckets = b;
    c->n_buckets = n;
    for (mem_entry *e = c->oldest; e; e = e->newer) {
        e->chain = b[e->hash % n];
        b[e->hash % n] = e;
    }
    return BT_OK;
}

static int mem_put(struct bt__correlation *c, const char *key, const char *custom_id, const char *entry,
                   size_t len)
{
    mem_entry *old = mem_find(c, key, custom_id);
    if (old) {
        mem_unlink(c, old);
        mem_free_entry(old);
    }
    /* Make room: drop expired entries and other batches' oldest entries. */
    while (c->oldest &&
           (expired(c, c->oldest->created) ||
            (c->total_bytes + len > BT__CORR_MEM_TOTAL_MAX && strcmp(c->oldest->key, key) != 0))) {
        mem_entry *e = c->oldest;
        mem_unlink(c, e);
        mem_free_entry(e);
    }
    if (c->total_bytes + len > BT__CORR_MEM_TOTAL_MAX)
        return BT_ELIMIT;
    if (mem_grow(c) != BT_OK)
        return BT_ENOMEM;
    mem_entry *e = calloc(1, sizeof *e);
    if (!e)
        return BT_ENOMEM;
    e->key = strdup(key);
    e->custom_id = strdup(custom_id);
    e->entry = malloc(len + 1);
    if (!e->key || !e->custom_id || !e->entry) {
        mem_free_entry(e);
        return BT_ENOMEM;
    }
    memcpy(e->entry, entry, len);
    e->entry[len] = '\0';
    e->len = len;
    e->created = now_ns(c);
    e->hash = hash_pair(key, custom_id);
    mem_link(c, e);
    return BT_OK;
}

int bt__correlation_put(struct bt__correlation *c, const char *key, const char *custom_id, const char *entry,
                        size_t len)
{
    if (!c || !key || !custom_id || !entry)
        return BT_EINVAL;
    if (len > BT__CORR_ENTRY_MAX)
        return BT_ELIMIT;
    pthread_mutex_lock(&c->mu);
    int rc = c->db ? bt__corr_db_put(c->db, key, custom_id, entry, len, now_ns(c))
                   : mem_put(c, key, custom_id, entry, len);
    pthread_mutex_unlock(&c->mu);
    return rc;
}

/* Collects the entries under `key` (unlinked from the table) into a list via `chain`. */
static mem_entry *mem_take_key(struct bt__correlation *c, const char *key)
{
    mem_entry *taken = NULL;
    for (mem_entry *e = c->oldest; e;) {
        mem_entry *next = e->newer;
        if (strcmp(e->key, key) == 0) {
            mem_unlink(c, e);
            e->chain = taken;
            taken = e;
        }
        e = next;
    }
    return taken;
}

int bt__correlation_rekey(struct bt__correlation *c, const char *from_key, const char *to_key)
{
    if (!c || !from_key || !to_key)
        return BT_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = BT_OK;
    if (c->db) {
        rc = bt__corr_db_rekey(c->db, from_key, to_key);
    } else {
        mem_entry *list = mem_take_key(c, from_key);
        while (list) {
            mem_entry *e = list;
            list = e->chain;
            char *k = strdup(to_key);
            mem_entry *clash = k ? mem_find(c, to_key, e->custom_id) : NULL;
            if (!k) {
                mem_free_entry(e);
                rc = BT_ENOMEM;
                continue;
            }
            if (clash) {
                mem_unlink(c, clash);
                mem_free_entry(clash);
            }
            free(e->key);
            e->key = k;
            e->hash = hash_pair(k, e->custom_id);
            mem_link(c, e);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bt__correlation_drop(struct bt__correlation *c, const char *key)
{
    if (!c || !key)
        return BT_EINVAL;
    pthread_mutex_lock(&c->mu);
    int rc = BT_OK;
    if (c->db) {
        rc = bt__corr_db_drop(c->db, key);
    } else {
        for (mem_entry *e = mem_take_key(c, key); e;) {
            mem_entry *next = e->chain;
            mem_free_entry(e);
            e = next;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bt__correlation_get(struct bt__correlation *c, const char *key, const char *custom_id, char **entry_out,
                        size_t *len_out)
{
    if (!c || !key || !custom_id || !entry_out)
        return BT_EINVAL;
    *entry_out = NULL;
    pthread_mutex_lock(&c->mu);
    int rc;
    if (c->db) {
        rc = bt__corr_db_get(c->db, key, custom_id, now_ns(c), entry_out, len_out);
    } else {
        mem_entry *e = mem_find(c, key, custom_id);
        if (!e || expired(c, e->created)) {
            rc = BT_ENOTFOUND;
        } else if (!(*entry_out = malloc(e->len + 1))) {
            rc = BT_ENOMEM;
        } else {
            memcpy(*entry_out, e->entry, e->len + 1);
            if (len_out)
                *len_out = e->len;
            rc = BT_OK;
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bt__correlation_put_batch(struct bt__correlation *c, const char *batch_id, const char *json, size_t len)
{
    if (!c || !batch_id || !json)
        return BT_EINVAL;
    if (len > BT__CORR_BATCH_OBJECT_MAX || strlen(batch_id) >= sizeof c->batches[0].batch_id)
        return BT_ELIMIT;
    pthread_mutex_lock(&c->mu);
    int rc = BT_OK;
    uint64_t now = now_ns(c);
    if (c->db) {
        rc = bt__corr_db_put_batch(c->db, batch_id, json, len, now);
    } else {
        /* Same id, else a free slot, else the least recently seen. */
        mem_batch *slot = NULL;
        for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++) {
            mem_batch *b = &c->batches[i];
            if (b->json && strcmp(b->batch_id, batch_id) == 0) {
                slot = b;
                break;
            }
            if (!slot || (slot->json && (!b->json || b->seen < slot->seen)))
                slot = b;
        }
        char *copy = malloc(len + 1);
        if (!copy) {
            rc = BT_ENOMEM;
        } else {
            memcpy(copy, json, len);
            copy[len] = '\0';
            free(slot->json);
            slot->json = copy;
            slot->seen = now;
            strcpy(slot->batch_id, batch_id);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bt__correlation_get_batch(struct bt__correlation *c, const char *batch_id, char **json_out)
{
    if (!c || !batch_id || !json_out)
        return BT_EINVAL;
    *json_out = NULL;
    pthread_mutex_lock(&c->mu);
    int rc = BT_ENOTFOUND;
    if (c->db) {
        rc = bt__corr_db_get_batch(c->db, batch_id, now_ns(c), json_out);
    } else {
        for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++) {
            mem_batch *b = &c->batches[i];
            if (b->json && strcmp(b->batch_id, batch_id) == 0 && !expired(c, b->seen)) {
                *json_out = strdup(b->json);
                rc = *json_out ? BT_OK : BT_ENOMEM;
                break;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

int bt__correlation_purge(struct bt__correlation *c)
{
    if (!c)
        return BT_EINVAL;
    pthread_mutex_lock(&c->mu);
    int removed = 0;
    if (c->db) {
        removed = bt__corr_db_purge(c->db, now_ns(c));
    } else {
        for (mem_entry *e = c->oldest; e;) {
            mem_entry *next = e->newer;
            if (expired(c, e->created)) {
                mem_unlink(c, e);
                mem_free_entry(e);
                removed++;
            }
            e = next;
        }
        for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++) {
            mem_batch *b = &c->batches[i];
            if (b->json && expired(c, b->seen)) {
                free(b->json);
                b->json = NULL;
                removed++;
            }
        }
    }
    pthread_mutex_unlock(&c->mu);
    return removed;
}
