/*
 * The PostgreSQL backend of the batch correlation store, in two parts:
 *   - correlation_pg.c: the store: a queue of operations served by one thread of its
 *     own, reconnection with backoff, bounded waits for readers, a read-ahead window;
 *   - correlation_pg_link.c (this header's functions): one libpq connection driven
 *     without blocking: connect, schema creation and migration, statements. Every
 *     wait has a deadline and can be cut short by the store closing (see abort_at),
 *     so no call here can hang the thread that owns the link.
 *
 * Tables (prefixed so they can share a database with others):
 *   bt_correlation_schema(version)              one row: the schema version
 *   bt_batch_requests(batch_key, custom_id, seq, created_ns, entry)
 *   bt_batch_objects(batch_id, object, seen_ns, ended)
 * `seq` is the order entries were written in, which results files mostly follow (or
 * follow backwards): the read-ahead window fetches a request's neighbours in that order.
 */
#ifndef BT_ANTHROPIC_CORRELATION_PG_H
#define BT_ANTHROPIC_CORRELATION_PG_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The schema version this build creates and migrates to. */
#define BT__PG_SCHEMA_VERSION 1

typedef enum {
    BT__PG_PUT,
    BT__PG_REKEY,
    BT__PG_DROP,
    BT__PG_PUT_BATCH,
    /* below: operations whose caller waits for the answer */
    BT__PG_GET,
    BT__PG_GET_BATCH,
    BT__PG_PURGE,
    BT__PG_SYNC
} bt__pg_kind;

/* One write, as the link executes it. */
typedef struct bt__pg_write {
    bt__pg_kind kind; /* PUT, REKEY, DROP, PUT_BATCH */
    const char *a;    /* key / from_key / batch_id */
    const char *b;    /* custom_id / to_key */
    const char *data; /* entry / batch object */
    size_t len;
    int ended;
    uint64_t now;
} bt__pg_write;

/* Link outcomes. */
enum {
    BT__PG_OK = 0,
    BT__PG_LOST = -1,      /* connection broken or a deadline passed: close and reconnect */
    BT__PG_TRANSIENT = -2, /* the server refused for now (deadlock, lock or statement timeout,
                              resources): try again */
    BT__PG_REFUSED = -3    /* the statement failed and would fail again (bad data) */
};

typedef struct bt__pg_link bt__pg_link;

/* Connects to `url` (libpq URL or key=value string), creates or migrates the schema
 * under an advisory lock (replicas starting together take turns) and prepares the
 * statements. `wake_fd` (readable when the store closes) and `abort_at` (monotonic ns,
 * 0 = none) cut every wait short. *version_out: the schema version found in the
 * database afterwards (newer than ours when a newer build migrated it). BT__PG_OK or
 * an error with `err` filled (never containing a password). */
int bt__pg_link_open(const char *url, int wake_fd, const _Atomic uint64_t *abort_at, uint64_t deadline,
                     bt__pg_link **out, int *version_out, char *err, size_t err_size);
void bt__pg_link_close(bt__pg_link *l);

/* Runs `n` writes in one transaction (pipelined: one round trip). */
int bt__pg_link_write(bt__pg_link *l, const bt__pg_write *w, size_t n, uint64_t deadline, char *err,
                      size_t err_size);

/* One row of a read-ahead window (borrowed until the callback returns). */
typedef void (*bt__pg_row_fn)(void *ud, const char *custom_id, size_t id_len, const char *entry, size_t len);
/* Looks up (key, custom_id) among entries written at or after `cutoff`, with the
 * entries of the same key within `half_window` positions of it in write order, nearest
 * first, while their bytes stay under `budget`. The first row, when any, is the one
 * asked for. *rows_out: how many rows were passed to `fn`. */
int bt__pg_link_get_window(bt__pg_link *l, const char *key, const char *custom_id, int64_t cutoff,
                           int half_window, size_t budget, bt__pg_row_fn fn, void *ud, size_t *rows_out,
                           uint64_t deadline, char *err, size_t err_size);
/* The batch object of `batch_id` seen at or after `cutoff`: *json_out malloc'd, or NULL
 * when there is none. */
int bt__pg_link_get_batch(bt__pg_link *l, const char *batch_id, int64_t cutoff, char **json_out,
                          uint64_t deadline, char *err, size_t err_size);
/* Deletes what was written before `cutoff`; *removed_out rows. */
int bt__pg_link_purge(bt__pg_link *l, int64_t cutoff, int64_t *removed_out, uint64_t deadline, char *err,
                      size_t err_size);
/* Bytes on disk of the entries table (with its indexes and TOAST). */
int bt__pg_link_entries_size(bt__pg_link *l, uint64_t *bytes_out, uint64_t deadline, char *err,
                             size_t err_size);

/* BT__PG_OK when libpq can parse `url`, else BT__PG_REFUSED with `err` filled. */
int bt__pg_check_url(const char *url, char *err, size_t err_size);
/* "user@host:port/dbname" of a URL, for logs: never the password. */
void bt__pg_describe(const char *url, char *out, size_t out_size);
#endif
