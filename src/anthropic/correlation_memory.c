/*
 * The in-memory backend of the batch correlation store (see correlation.h): a bounded
 * map, the default when no database is configured.
 *
 * A chained hash table of (key, custom_id) -> entry, with every entry also on a FIFO
 * list so that, when the byte budget is spent, the oldest entries of other batches are
 * evicted first. Entries of the batch being written are never evicted to make room for
 * that same batch: the put is refused (BT_ELIMIT) instead, so the caller marks those
 * requests as not kept. Batch objects live in a fixed array of BT__CORR_BATCHES_MAX
 * slots, the least recently seen replaced first.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic/correlation.h"
#include "braintrust/common.h"

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
    int ended;
} mem_batch;

typedef struct mem_store {
    pthread_mutex_t mu;
    mem_entry **buckets;
    size_t n_buckets, n_entries;
    mem_entry *oldest, *newest;
    size_t total_bytes;
    mem_batch batches[BT__CORR_BATCHES_MAX];
} mem_store;

static int expired(uint64_t created, uint64_t now)
{
    return (int64_t)created < bt__corr_cutoff(now);
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

int bt__corr_memory_open(void **be)
{
    mem_store *m = calloc(1, sizeof *m);
    if (!m)
        return BT_ENOMEM;
    pthread_mutex_init(&m->mu, NULL);
    *be = m;
    return BT_OK;
}

static void unlink_entry(mem_store *m, mem_entry *e)
{
    mem_entry **pp = &m->buckets[e->hash % m->n_buckets];
    while (*pp != e)
        pp = &(*pp)->chain;
    *pp = e->chain;
    if (e->older)
        e->older->newer = e->newer;
    else
        m->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        m->newest = e->older;
    m->total_bytes -= e->len;
    m->n_entries--;
}

static void free_entry(mem_entry *e)
{
    free(e->key);
    free(e->custom_id);
    free(e->entry);
    free(e);
}

static void mem_close(void *be)
{
    mem_store *m = be;
    for (mem_entry *e = m->oldest; e;) {
        mem_entry *next = e->newer;
        free_entry(e);
        e = next;
    }
    free(m->buckets);
    for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++)
        free(m->batches[i].json);
    pthread_mutex_destroy(&m->mu);
    free(m);
}

static mem_entry *find(mem_store *m, const char *key, const char *custom_id)
{
    if (!m->n_buckets)
        return NULL;
    size_t h = hash_pair(key, custom_id);
    for (mem_entry *e = m->buckets[h % m->n_buckets]; e; e = e->chain)
        if (e->hash == h && strcmp(e->key, key) == 0 && strcmp(e->custom_id, custom_id) == 0)
            return e;
    return NULL;
}

static void link_entry(mem_store *m, mem_entry *e)
{
    size_t b = e->hash % m->n_buckets;
    e->chain = m->buckets[b];
    m->buckets[b] = e;
    e->older = m->newest;
    e->newer = NULL;
    if (m->newest)
        m->newest->newer = e;
    else
        m->oldest = e;
    m->newest = e;
    m->total_bytes += e->len;
    m->n_entries++;
}

static int grow(mem_store *m)
{
    if (m->n_entries < m->n_buckets)
        return BT_OK;
    size_t n = m->n_buckets ? m->n_buckets * 2 : 1024;
    mem_entry **b = calloc(n, sizeof *b);
    if (!b)
        return BT_ENOMEM;
    /* Rehash in FIFO order; chains need no particular order. */
    free(m->buckets);
    m->buckets = b;
    m->n_buckets = n;
    for (mem_entry *e = m->oldest; e; e = e->newer) {
        e->chain = b[e->hash % n];
        b[e->hash % n] = e;
    }
    return BT_OK;
}

static int put_locked(mem_store *m, const char *key, const char *custom_id, const char *entry, size_t len,
                      uint64_t now)
{
    mem_entry *old = find(m, key, custom_id);
    if (old) {
        unlink_entry(m, old);
        free_entry(old);
    }
    /* Make room: drop expired entries and other batches' oldest entries. */
    while (m->oldest &&
           (expired(m->oldest->created, now) ||
            (m->total_bytes + len > BT__CORR_MEM_TOTAL_MAX && strcmp(m->oldest->key, key) != 0))) {
        mem_entry *e = m->oldest;
        unlink_entry(m, e);
        free_entry(e);
    }
    if (m->total_bytes + len > BT__CORR_MEM_TOTAL_MAX)
        return BT_ELIMIT;
    if (grow(m) != BT_OK)
        return BT_ENOMEM;
    mem_entry *e = calloc(1, sizeof *e);
    if (!e)
        return BT_ENOMEM;
    e->key = strdup(key);
    e->custom_id = strdup(custom_id);
    e->entry = malloc(len + 1);
    if (!e->key || !e->custom_id || !e->entry) {
        free_entry(e);
        return BT_ENOMEM;
    }
    memcpy(e->entry, entry, len);
    e->entry[len] = '\0';
    e->len = len;
    e->created = now;
    e->hash = hash_pair(key, custom_id);
    link_entry(m, e);
    return BT_OK;
}

static int mem_put(void *be, const char *key, const char *custom_id, const char *entry, size_t len,
                   uint64_t now)
{
    mem_store *m = be;
    pthread_mutex_lock(&m->mu);
    int rc = put_locked(m, key, custom_id, entry, len, now);
    pthread_mutex_unlock(&m->mu);
    return rc;
}

/* Collects the entries under `key` (unlinked from the table) into a list via `chain`. */
static mem_entry *take_key(mem_store *m, const char *key)
{
    mem_entry *taken = NULL;
    for (mem_entry *e = m->oldest; e;) {
        mem_entry *next = e->newer;
        if (strcmp(e->key, key) == 0) {
            unlink_entry(m, e);
            e->chain = taken;
            taken = e;
        }
        e = next;
    }
    return taken;
}

static int mem_rekey(void *be, const char *from_key, const char *to_key)
{
    mem_store *m = be;
    int rc = BT_OK;
    pthread_mutex_lock(&m->mu);
    mem_entry *list = take_key(m, from_key);
    while (list) {
        mem_entry *e = list;
        list = e->chain;
        char *k = strdup(to_key);
        if (!k) {
            free_entry(e);
            rc = BT_ENOMEM;
            continue;
        }
        mem_entry *clash = find(m, to_key, e->custom_id);
        if (clash) {
            unlink_entry(m, clash);
            free_entry(clash);
        }
        free(e->key);
        e->key = k;
        e->hash = hash_pair(k, e->custom_id);
        link_entry(m, e);
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_drop(void *be, const char *key)
{
    mem_store *m = be;
    pthread_mutex_lock(&m->mu);
    for (mem_entry *e = take_key(m, key); e;) {
        mem_entry *next = e->chain;
        free_entry(e);
        e = next;
    }
    pthread_mutex_unlock(&m->mu);
    return BT_OK;
}

static int mem_get(void *be, const char *key, const char *custom_id, uint64_t now, char **entry_out,
                   size_t *len_out)
{
    mem_store *m = be;
    int rc;
    pthread_mutex_lock(&m->mu);
    mem_entry *e = find(m, key, custom_id);
    if (!e || expired(e->created, now)) {
        rc = BT_ENOTFOUND;
    } else if (!(*entry_out = malloc(e->len + 1))) {
        rc = BT_ENOMEM;
    } else {
        memcpy(*entry_out, e->entry, e->len + 1);
        if (len_out)
            *len_out = e->len;
        rc = BT_OK;
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_put_batch(void *be, const char *batch_id, const char *json, size_t len, int ended,
                         uint64_t now)
{
    mem_store *m = be;
    if (strlen(batch_id) >= sizeof m->batches[0].batch_id)
        return BT_ELIMIT;
    int rc = BT_OK;
    pthread_mutex_lock(&m->mu);
    /* Same id, else a free slot, else the least recently seen. */
    mem_batch *slot = NULL;
    for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++) {
        mem_batch *b = &m->batches[i];
        if (b->json && strcmp(b->batch_id, batch_id) == 0) {
            slot = b;
            break;
        }
        if (!slot || (slot->json && (!b->json || b->seen < slot->seen)))
            slot = b;
    }
    if (slot->json && strcmp(slot->batch_id, batch_id) == 0 && slot->ended && !ended) {
        slot->seen = now; /* an older view arriving late: keep the ended one */
    } else {
        char *copy = malloc(len + 1);
        if (!copy) {
            rc = BT_ENOMEM;
        } else {
            memcpy(copy, json, len);
            copy[len] = '\0';
            free(slot->json);
            slot->json = copy;
            slot->seen = now;
            slot->ended = ended;
            strcpy(slot->batch_id, batch_id);
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_get_batch(void *be, const char *batch_id, uint64_t now, char **json_out)
{
    mem_store *m = be;
    int rc = BT_ENOTFOUND;
    pthread_mutex_lock(&m->mu);
    for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++) {
        mem_batch *b = &m->batches[i];
        if (b->json && strcmp(b->batch_id, batch_id) == 0 && !expired(b->seen, now)) {
            *json_out = strdup(b->json);
            rc = *json_out ? BT_OK : BT_ENOMEM;
            break;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return rc;
}

static int mem_purge(void *be, uint64_t now)
{
    mem_store *m = be;
    int removed = 0;
    pthread_mutex_lock(&m->mu);
    for (mem_entry *e = m->oldest; e;) {
        mem_entry *next = e->newer;
        if (expired(e->created, now)) {
            unlink_entry(m, e);
            free_entry(e);
            removed++;
        }
        e = next;
    }
    for (size_t i = 0; i < BT__CORR_BATCHES_MAX; i++) {
        mem_batch *b = &m->batches[i];
        if (b->json && expired(b->seen, now)) {
            free(b->json);
            b->json = NULL;
            removed++;
        }
    }
    pthread_mutex_unlock(&m->mu);
    return removed;
}

static int mem_sync(void *be, int timeout_ms)
{
    (void)be;
    (void)timeout_ms;
    return BT_OK; /* nothing is shared with other processes */
}

static void mem_stats(void *be, bt_correlation_stats *out)
{
    (void)be;
    out->available = 1;
}

const bt__corr_ops bt__corr_memory_ops = {
    .name = "memory",
    .put = mem_put,
    .rekey = mem_rekey,
    .drop = mem_drop,
    .get = mem_get,
    .put_batch = mem_put_batch,
    .get_batch = mem_get_batch,
    .purge = mem_purge,
    .sync = mem_sync,
    .stats = mem_stats,
    .close = mem_close,
};
