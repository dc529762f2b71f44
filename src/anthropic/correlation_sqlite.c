/*
 * SQLite backend of the batch correlation store. WAL so readers (another process
 * reading results) never block the writer; a busy timeout for concurrent processes;
 * prepared statements reused for every row; puts grouped into transactions of up to
 * PUTS_PER_TXN rows (a 100,000-request create is a few hundred commits, not 100,000),
 * committed before any read or other write so results see every input. One mutex per
 * store: the statements and the open transaction belong to one caller at a time.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic/correlation.h"
#include "braintrust/common.h"
#include "util/timefmt.h"

#define PUTS_PER_TXN 1000
/* A write transaction blocks other processes' writers: never hold one longer than this,
 * even when a create body trickles in slowly. */
#define TXN_MAX_NS (200ull * 1000000ull)
#define PURGE_EVERY_PUTS 20000
#define BUSY_TIMEOUT_MS 5000

enum {
    ST_PUT,
    ST_GET,
    ST_REKEY,
    ST_DROP,
    ST_PUT_BATCH,
    ST_GET_BATCH,
    ST_TRIM_BATCHES,
    ST_PURGE_REQ,
    ST_PURGE_BATCH,
    ST_COUNT
};

static const char *const SQL[ST_COUNT] = {
    [ST_PUT] =
        "INSERT OR REPLACE INTO batch_requests(batch_key, custom_id, entry, created_ns) VALUES(?,?,?,?)",
    [ST_GET] = "SELECT entry FROM batch_requests WHERE batch_key=? AND custom_id=? AND created_ns>=?",
    [ST_REKEY] = "UPDATE OR REPLACE batch_requests SET batch_key=? WHERE batch_key=?",
    [ST_DROP] = "DELETE FROM batch_requests WHERE batch_key=?",
    /* An ended view is never replaced by an older one recorded late. */
    [ST_PUT_BATCH] = "INSERT INTO batch_objects(batch_id, object, seen_ns) VALUES(?,?,?) "
                     "ON CONFLICT(batch_id) DO UPDATE SET object=excluded.object, seen_ns=excluded.seen_ns "
                     "WHERE CASE WHEN json_valid(batch_objects.object) THEN "
                     "json_extract(batch_objects.object,'$.processing_status') END IS NOT 'ended' OR ?",
    [ST_GET_BATCH] = "SELECT object FROM batch_objects WHERE batch_id=? AND seen_ns>=?",
    [ST_TRIM_BATCHES] = ("DELETE FROM batch_objects WHERE batch_id IN (SELECT batch_id FROM batch_objects "
                         "ORDER BY seen_ns DESC LIMIT -1 OFFSET ?)"),
    [ST_PURGE_REQ] = "DELETE FROM batch_requests WHERE created_ns<?",
    [ST_PURGE_BATCH] = "DELETE FROM batch_objects WHERE seen_ns<?",
};

static const char SCHEMA[] =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS batch_requests("
    " batch_key TEXT NOT NULL, custom_id TEXT NOT NULL, entry BLOB NOT NULL,"
    " created_ns INTEGER NOT NULL, PRIMARY KEY(batch_key, custom_id)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS batch_requests_created ON batch_requests(created_ns);"
    "CREATE TABLE IF NOT EXISTS batch_objects("
    " batch_id TEXT PRIMARY KEY, object TEXT NOT NULL, seen_ns INTEGER NOT NULL);";

typedef struct corr_db {
    pthread_mutex_t mu;
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int in_txn;
    uint64_t txn_started; /* monotonic ns */
    unsigned puts_in_txn;
    unsigned puts_since_purge;
    uint64_t total_bytes; /* entry bytes stored (kept from a SUM at open and purge) */
} corr_db;

static int64_t cutoff(uint64_t now)
{
    return bt__corr_cutoff(now);
}

static int commit(corr_db *d)
{
    if (!d->in_txn)
        return BT_OK;
    d->in_txn = 0;
    d->puts_in_txn = 0;
    return sqlite3_exec(d->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK ? BT_OK : BT_EDB;
}

/* Runs a prepared statement that returns no rows, then resets it. */
static int run(sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return rc == SQLITE_DONE ? BT_OK : BT_EDB;
}

static void sum_bytes(corr_db *d)
{
    sqlite3_stmt *st = NULL;
    d->total_bytes = 0;
    if (sqlite3_prepare_v2(d->db, "SELECT COALESCE(SUM(length(entry)),0) FROM batch_requests", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        d->total_bytes = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
}

static int purge_locked(corr_db *d, uint64_t now);
static void db_close(void *be);

int bt__corr_sqlite_open(const char *path, uint64_t now, void **out, char *err, size_t err_size)
{
    *out = NULL;
    corr_db *d = calloc(1, sizeof *d);
    if (!d)
        return BT_ENOMEM;
    pthread_mutex_init(&d->mu, NULL);
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(d->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(d->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i], NULL) != SQLITE_OK)
            goto fail;
    purge_locked(d, now);
    *out = d;
    return BT_OK;
fail:
    snprintf(err, err_size, "%s", d->db ? sqlite3_errmsg(d->db) : "cannot open");
    db_close(d);
    return BT_EDB;
}

static void db_close(void *be)
{
    corr_db *d = be;
    if (!d)
        return;
    commit(d);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(d->st[i]);
    sqlite3_close(d->db);
    pthread_mutex_destroy(&d->mu);
    free(d);
}

static int put_locked(corr_db *d, const char *key, const char *custom_id, const char *entry, size_t len,
                      uint64_t now)
{
    if (d->total_bytes + len > BT__CORR_DB_TOTAL_MAX)
        return BT_ELIMIT;
    if (!d->in_txn) {
        if (sqlite3_exec(d->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
            return BT_EDB;
        d->in_txn = 1;
        d->txn_started = bt__monotonic_nano();
    }
    sqlite3_stmt *st = d->st[ST_PUT];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, custom_id, -1, SQLITE_STATIC);
    sqlite3_bind_blob(st, 3, entry, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 4, (int64_t)now);
    int rc = run(st);
    if (rc == BT_OK)
        d->total_bytes += len;
    if (++d->puts_in_txn >= PUTS_PER_TXN || bt__monotonic_nano() - d->txn_started > TXN_MAX_NS)
        commit(d);
    if (++d->puts_since_purge >= PURGE_EVERY_PUTS) {
        d->puts_since_purge = 0;
        purge_locked(d, now);
    }
    return rc;
}

static int db_put(void *be, const char *key, const char *custom_id, const char *entry, size_t len,
                  uint64_t now)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = put_locked(d, key, custom_id, entry, len, now);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int run_keyed(corr_db *d, int which, const char *a, const char *b)
{
    int rc = commit(d);
    if (rc)
        return rc;
    sqlite3_stmt *st = d->st[which];
    sqlite3_bind_text(st, 1, a, -1, SQLITE_STATIC);
    if (b)
        sqlite3_bind_text(st, 2, b, -1, SQLITE_STATIC);
    return run(st);
}

static int db_rekey(void *be, const char *from_key, const char *to_key)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = run_keyed(d, ST_REKEY, to_key, from_key);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int db_drop(void *be, const char *key)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = run_keyed(d, ST_DROP, key, NULL);
    sum_bytes(d);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Steps a one-column SELECT; copies the value into a malloc'd NUL-terminated string. */
static int fetch_text(sqlite3_stmt *st, char **out, size_t *len_out)
{
    int rc = sqlite3_step(st);
    int result = BT_ENOTFOUND;
    if (rc == SQLITE_ROW) {
        const void *p = sqlite3_column_blob(st, 0);
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        char *copy = malloc(n + 1);
        if (!copy) {
            result = BT_ENOMEM;
        } else {
            if (n)
                memcpy(copy, p, n);
            copy[n] = '\0';
            *out = copy;
            if (len_out)
                *len_out = n;
            result = BT_OK;
        }
    } else if (rc != SQLITE_DONE) {
        result = BT_EDB;
    }
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    return result;
}

static int db_get(void *be, const char *key, const char *custom_id, uint64_t now, char **entry_out,
                  size_t *len_out)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = commit(d);
    if (rc == BT_OK) {
        sqlite3_stmt *st = d->st[ST_GET];
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, custom_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, cutoff(now));
        rc = fetch_text(st, entry_out, len_out);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int db_put_batch(void *be, const char *batch_id, const char *json, size_t len, int ended, uint64_t now)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = commit(d);
    if (rc == BT_OK) {
        sqlite3_stmt *st = d->st[ST_PUT_BATCH];
        sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
        sqlite3_bind_int64(st, 3, (int64_t)now);
        sqlite3_bind_int(st, 4, ended);
        rc = run(st);
        sqlite3_bind_int(d->st[ST_TRIM_BATCHES], 1, BT__CORR_BATCHES_MAX);
        run(d->st[ST_TRIM_BATCHES]);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int db_get_batch(void *be, const char *batch_id, uint64_t now, char **json_out)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = commit(d);
    if (rc == BT_OK) {
        sqlite3_stmt *st = d->st[ST_GET_BATCH];
        sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, cutoff(now));
        rc = fetch_text(st, json_out, NULL);
    }
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static int purge_locked(corr_db *d, uint64_t now)
{
    int rc = commit(d);
    if (rc)
        return rc;
    sqlite3_bind_int64(d->st[ST_PURGE_REQ], 1, cutoff(now));
    rc = run(d->st[ST_PURGE_REQ]);
    int removed = sqlite3_changes(d->db);
    sqlite3_bind_int64(d->st[ST_PURGE_BATCH], 1, cutoff(now));
    if (rc == BT_OK)
        rc = run(d->st[ST_PURGE_BATCH]);
    removed += sqlite3_changes(d->db);
    sum_bytes(d);
    return rc == BT_OK ? removed : rc;
}

static int db_purge(void *be, uint64_t now)
{
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = purge_locked(d, now);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

/* Other processes see the writes once the open transaction is committed. */
static int db_sync(void *be, int timeout_ms)
{
    (void)timeout_ms;
    corr_db *d = be;
    pthread_mutex_lock(&d->mu);
    int rc = commit(d);
    pthread_mutex_unlock(&d->mu);
    return rc;
}

static void db_stats(void *be, bt_correlation_stats *out)
{
    (void)be;
    out->available = 1;
}

const bt__corr_ops bt__corr_sqlite_ops = {
    .name = "sqlite",
    .put = db_put,
    .rekey = db_rekey,
    .drop = db_drop,
    .get = db_get,
    .put_batch = db_put_batch,
    .get_batch = db_get_batch,
    .purge = db_purge,
    .sync = db_sync,
    .stats = db_stats,
    .close = db_close,
};
