/*
 * The batch correlation store: keeps each batched request's traceable input from the
 * create call until its result is read, and a small cache of the batch objects seen
 * (created_at / ended_at / status / request_counts), keyed by batch id.
 *
 * One interface, interchangeable backends behind a small ops table, so the batch code
 * never knows which one it talks to:
 *   - memory (correlation_memory.c): a bounded in-memory map, the default;
 *   - SQLite (correlation_sqlite.c): a file, so entries survive a restart of the
 *     process that traced the create;
 *   - PostgreSQL (correlation_pg*.c, built when libpq is found): one database shared by
 *     several processes or machines (replicas behind a load balancer), so results read
 *     through one replica find the inputs of a create traced by another.
 * Entries expire 29 days after they were written (the results retention period),
 * measured on the tracer's clock. Every call is thread-safe.
 *
 * Calls made while traffic flows never wait long on I/O: memory and SQLite answer from
 * the process; PostgreSQL queues writes for its own thread and bounds a read's wait
 * (BT__CORR_PG_READ_WAIT_MS), answering at once with an error while the database is
 * unreachable or stalled. An error on a read means "no input": the batch child is still
 * traced, marked input_unavailable.
 *
 * A batch object whose processing_status is "ended" is never replaced by one that is
 * not: responses can be recorded out of order (concurrent calls, several replicas).
 *
 * Bounds: an entry is at most BT__CORR_ENTRY_MAX bytes (callers shorten and mark
 * inputs before putting them); a store holds at most a fixed total of entry bytes
 * (memory: BT__CORR_MEM_TOTAL_MAX, oldest batches evicted first; SQLite:
 * BT__CORR_DB_TOTAL_MAX; PostgreSQL: BT__CORR_PG_TOTAL_MAX, plus BT__CORR_PG_QUEUE_MAX
 * of writes waiting for the database) and refuses entries beyond it with BT_ELIMIT.
 */
#ifndef BT_ANTHROPIC_CORRELATION_H
#define BT_ANTHROPIC_CORRELATION_H

#include <stddef.h>
#include <stdint.h>

#include "braintrust/anthropic.h"
#include "braintrust/tracer.h"

#define BT__CORR_ENTRY_MAX ((size_t)1 << 20)       /* 1 MiB per request */
#define BT__CORR_MEM_TOTAL_MAX ((size_t)64 << 20)  /* 64 MiB in memory */
#define BT__CORR_DB_TOTAL_MAX ((uint64_t)4 << 30)  /* 4 GiB in a SQLite file */
#define BT__CORR_PG_TOTAL_MAX ((uint64_t)64 << 30) /* 64 GiB in a shared PostgreSQL table */
#define BT__CORR_PG_QUEUE_MAX ((size_t)64 << 20)   /* writes waiting for PostgreSQL */
#define BT__CORR_PG_READ_WAIT_MS 200               /* longest wait of a read on PostgreSQL */
#define BT__CORR_BATCHES_MAX 1024                  /* batch objects kept (memory, SQLite) */
#define BT__CORR_BATCH_OBJECT_MAX 4096             /* bytes per batch object */
#define BT__CORR_TTL_NANO ((uint64_t)29 * 24 * 3600 * 1000000000ull)

struct bt__correlation;

/* Opens the store: SQLite at `sqlite_path` (created when missing), or the in-memory map
 * when `sqlite_path` is NULL. `t` (borrowed, must outlive the store; may be NULL) gives
 * the clock and the logger. Returns NULL when the database cannot be opened or memory
 * runs out (the reason is logged); the caller then keeps its previous store. */
struct bt__correlation *bt__correlation_new(const char *sqlite_path, bt_tracer *t);
/* Opens a PostgreSQL store from a libpq URL (postgresql://USER@HOST:PORT/DB or
 * postgres://...). Waits at most a few seconds for the first connection, and succeeds
 * even when the database cannot be reached now (it keeps retrying in the background).
 * *rc_out: BT_OK, BT_EINVAL (not a PostgreSQL URL), BT_EUNSUPPORTED (built without
 * libpq), BT_ENOMEM. */
struct bt__correlation *bt__correlation_new_url(const char *url, bt_tracer *t, int *rc_out);
/* Writes what is still queued (bounded wait) and closes. NULL is fine. */
void bt__correlation_free(struct bt__correlation *c);

/* Stores (replaces) the entry of `custom_id` under `key` (a batch id, or a staging key
 * while the batch id is not yet known). `entry` is JSON text (copied). BT_OK (stored, or
 * queued for the database), BT_ELIMIT (entry too large or store full: not stored),
 * BT_EDB, BT_ENOMEM. */
int bt__correlation_put(struct bt__correlation *c, const char *key, const char *custom_id, const char *entry,
                        size_t len);
/* Moves every entry staged under `from_key` to `to_key` (the batch id from the create
 * response). */
int bt__correlation_rekey(struct bt__correlation *c, const char *from_key, const char *to_key);
/* Deletes every entry under `key` (a failed create's staging key). */
int bt__correlation_drop(struct bt__correlation *c, const char *key);
/* Looks up an entry: *entry_out is malloc'd, NUL-terminated (free() it). BT_OK,
 * BT_ENOTFOUND (also when expired), or an error when the store cannot answer now
 * (BT_EDB, BT_ETIMEDOUT). */
int bt__correlation_get(struct bt__correlation *c, const char *key, const char *custom_id, char **entry_out,
                        size_t *len_out);

/* Remembers the latest batch object seen for `batch_id` (JSON text, copied; longer
 * than BT__CORR_BATCH_OBJECT_MAX is refused with BT_ELIMIT). */
int bt__correlation_put_batch(struct bt__correlation *c, const char *batch_id, const char *json, size_t len);
/* The latest batch object seen (malloc'd) or BT_ENOTFOUND. */
int bt__correlation_get_batch(struct bt__correlation *c, const char *batch_id, char **json_out);

/* Deletes expired entries and batch objects now (also done on open and from time to
 * time on writes). Returns the number of rows removed, or a BT_E* code. */
int bt__correlation_purge(struct bt__correlation *c);
/* Waits (at most timeout_ms) until every write accepted so far is visible to other
 * processes sharing the store. BT_OK or BT_ETIMEDOUT / BT_EDB. */
int bt__correlation_sync(struct bt__correlation *c, int timeout_ms);
/* The longest a read may wait for a shared database (default BT__CORR_PG_READ_WAIT_MS);
 * no effect on the memory and SQLite backends. */
void bt__correlation_set_read_wait(struct bt__correlation *c, int ms);
/* Counters and state (see bt_correlation_stats). */
void bt__correlation_get_stats(struct bt__correlation *c, bt_correlation_stats *out);

/*
 * The backend interface. The front (correlation.c) checks arguments, reads the clock,
 * applies the entry size cap and counts failures; a backend does its own locking.
 * `now` is the tracer clock in ns. `ended`: the batch object's processing_status is
 * "ended" (see above).
 */
typedef struct bt__corr_ops {
    const char *name; /* "memory", "sqlite", "postgresql" */
    int (*put)(void *be, const char *key, const char *custom_id, const char *entry, size_t len, uint64_t now);
    int (*rekey)(void *be, const char *from_key, const char *to_key);
    int (*drop)(void *be, const char *key);
    int (*get)(void *be, const char *key, const char *custom_id, uint64_t now, char **entry_out,
               size_t *len_out);
    int (*put_batch)(void *be, const char *batch_id, const char *json, size_t len, int ended, uint64_t now);
    int (*get_batch)(void *be, const char *batch_id, uint64_t now, char **json_out);
    int (*purge)(void *be, uint64_t now);
    int (*sync)(void *be, int timeout_ms);
    /* Fills what the backend knows: available, writes_queued, and its own counts of
     * failures that happened away from the caller (asynchronous writes). */
    void (*stats)(void *be, bt_correlation_stats *out);
    /* Longest wait of a read (NULL: reads never wait on a network). */
    void (*set_read_wait)(void *be, int ms);
    void (*close)(void *be);
} bt__corr_ops;

extern const bt__corr_ops bt__corr_memory_ops;
extern const bt__corr_ops bt__corr_sqlite_ops;
extern const bt__corr_ops bt__corr_pg_ops;

/* Backend constructors: BT_OK and *be set, or a BT_E* code with `err` filled. */
int bt__corr_memory_open(void **be);
int bt__corr_sqlite_open(const char *path, uint64_t now, void **be, char *err, size_t err_size);
/* `t` (borrowed) gives the clock for the background purge and the logger. */
int bt__corr_pg_open(const char *url, bt_tracer *t, void **be, char *err, size_t err_size);

/* The oldest write time still alive at `now` (entries written before it have expired). */
static inline int64_t bt__corr_cutoff(uint64_t now)
{
    return now > BT__CORR_TTL_NANO ? (int64_t)(now - BT__CORR_TTL_NANO) : 0;
}
#endif
