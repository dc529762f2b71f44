/*
 * The batch correlation store: keeps each batched request's traceable input from the
 * create call until its result is read, and a small cache of the batch objects seen
 * (created_at / ended_at / status / request_counts), keyed by batch id.
 *
 * Two backends behind one handle: SQLite (WAL, busy timeout, prepared statements,
 * writes grouped in transactions) when a path is given, so entries survive a restart of
 * the process that traced the create; otherwise a bounded in-memory map. Entries expire
 * 29 days after they were written (the results retention period), measured on the
 * tracer's clock. Every call is thread-safe (one mutex per store).
 *
 * Bounds: an entry is at most BT__CORR_ENTRY_MAX bytes (callers shorten and mark
 * inputs before putting them); the store holds at most a fixed total of entry bytes
 * (in memory: BT__CORR_MEM_TOTAL_MAX, oldest batches evicted first; SQLite:
 * BT__CORR_DB_TOTAL_MAX) and refuses entries beyond it with BT_ELIMIT.
 */
#ifndef BT_ANTHROPIC_CORRELATION_H
#define BT_ANTHROPIC_CORRELATION_H

#include <stddef.h>
#include <stdint.h>

#include "braintrust/tracer.h"

#define BT__CORR_ENTRY_MAX ((size_t)1 << 20)      /* 1 MiB per request */
#define BT__CORR_MEM_TOTAL_MAX ((size_t)64 << 20) /* 64 MiB in memory */
#define BT__CORR_DB_TOTAL_MAX ((uint64_t)4 << 30) /* 4 GiB on disk */
#define BT__CORR_BATCHES_MAX 1024                 /* batch objects kept */
#define BT__CORR_BATCH_OBJECT_MAX 4096            /* bytes per batch object */
#define BT__CORR_TTL_NANO ((uint64_t)29 * 24 * 3600 * 1000000000ull)

struct bt__correlation;

/* Opens the store: SQLite at `sqlite_path` (created when missing), or the in-memory map
 * when `sqlite_path` is NULL. `t` (borrowed, must outlive the store) gives the clock
 * and the logger. Returns NULL when the database cannot be opened or memory runs out
 * (the reason is logged); the caller then keeps its previous store. */
struct bt__correlation *bt__correlation_new(const char *sqlite_path, bt_tracer *t);
/* Commits pending writes and closes. NULL is fine. */
void bt__correlation_free(struct bt__correlation *c);

/* Stores (replaces) the entry of `custom_id` under `key` (a batch id, or a staging key
 * while the batch id is not yet known). `entry` is JSON text (copied). BT_OK, BT_ELIMIT
 * (entry too large or store full: not stored), BT_EDB, BT_ENOMEM. */
int bt__correlation_put(struct bt__correlation *c, const char *key, const char *custom_id, const char *entry,
                        size_t len);
/* Moves every entry staged under `from_key` to `to_key` (the batch id from the create
 * response). */
int bt__correlation_rekey(struct bt__correlation *c, const char *from_key, const char *to_key);
/* Deletes every entry under `key` (a failed create's staging key). */
int bt__correlation_drop(struct bt__correlation *c, const char *key);
/* Looks up an entry: *entry_out is malloc'd, NUL-terminated (free() it). BT_OK or
 * BT_ENOTFOUND (also when expired). */
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

/* The SQLite backend (correlation_sqlite.c). The front (correlation.c) holds the store
 * mutex around every call. `now` is the tracer clock in ns. */
struct bt__corr_db;
int bt__corr_db_open(const char *path, uint64_t now, struct bt__corr_db **out, char *err, size_t err_size);
void bt__corr_db_close(struct bt__corr_db *db);
int bt__corr_db_put(struct bt__corr_db *db, const char *key, const char *custom_id, const char *entry,
                    size_t len, uint64_t now);
int bt__corr_db_rekey(struct bt__corr_db *db, const char *from_key, const char *to_key);
int bt__corr_db_drop(struct bt__corr_db *db, const char *key);
int bt__corr_db_get(struct bt__corr_db *db, const char *key, const char *custom_id, uint64_t now,
                    char **entry_out, size_t *len_out);
int bt__corr_db_put_batch(struct bt__corr_db *db, const char *batch_id, const char *json, size_t len,
                          uint64_t now);
int bt__corr_db_get_batch(struct bt__corr_db *db, const char *batch_id, uint64_t now, char **json_out);
int bt__corr_db_purge(struct bt__corr_db *db, uint64_t now);
#endif
