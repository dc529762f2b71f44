/*
 * SQLite backend of the batch correlation store. WAL so readers (another process
 * reading results) never block the writer; a busy timeout for concurrent processes;
 * prepared statements reused for every row; puts grouped into transactions of up to
 * PUTS_PER_TXN rows (a 100,000-request create is a few hundred commits, not 100,000),
 * committed before any read or other write so results see every input.
 */
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
    [ST_PUT_BATCH] = "INSERT OR REPLACE INTO batch_objects(batch_id, object, seen_ns) VALUES(?,?,?)",
    [ST_GET_BATCH] = "SELECT object FROM batch_objects WHERE batch_id=? AND seen_ns>=?",
    [ST_TRIM_BATCHES] = "DELETE FROM batch_objects WHERE batch_id IN (SELECT batch_id FROM batch_objects "
                        "ORDER BY seen_ns DESC LIMIT -1 OFFSET ?)",
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

struct bt__corr_db {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    int in_txn;
    uint64_t txn_started; /* monotonic ns */
    unsigned puts_in_txn;
    unsigned puts_since_purge;
    uint64_t total_bytes; /* entry bytes stored (kept from a SUM at open and purge) */
};

static int64_t cutoff(uint64_t now)
{
    return now > BT__CORR_TTL_NANO ? (int64_t)(now - BT__CORR_TTL_NANO) : 0;
}

static int commit(struct bt__corr_db *d)
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

static void sum_bytes(struct bt__corr_db *d)
{
    sqlite3_stmt *st = NULL;
    d->total_bytes = 0;
    if (sqlite3_prepare_v2(d->db, "SELECT COALESCE(SUM(length(entry)),0) FROM batch_requests", -1, &st,
                           NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        d->total_bytes = (uint64_t)sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
}

int bt__corr_db_open(const char *path, uint64_t now, struct bt__corr_db **out, char *err, size_t err_size)
{
    *out = NULL;
    struct bt__corr_db *d = calloc(1, sizeof *d);
    if (!d)
        return BT_ENOMEM;
    int flags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX;
    if (sqlite3_open_v2(path, &d->db, flags, NULL) != SQLITE_OK)
        goto fail;
    sqlite3_busy_timeout(d->db, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(d->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK)
        goto fail;
    for (int i = 0; i < ST_COUNT; i++)
        if (sqlite3_prepare_v3(d->db, SQL[i], -1, SQLITE_PREPARE_PERSISTENT, &d->st[i], NULL) != SQLITE_OK)
            goto fail;
    bt__corr_db_purge(d, now);
    *out = d;
    return BT_OK;
fail:
    snprintf(err, err_size, "%s", d->db ? sqlite3_errmsg(d->db) : "cannot open");
    bt__corr_db_close(d);
    return BT_EDB;
}

void bt__corr_db_close(struct bt__corr_db *d)
{
    if (!d)
        return;
    commit(d);
    for (int i = 0; i < ST_COUNT; i++)
        sqlite3_finalize(d->st[i]);
    sqlite3_close(d->db);
    free(d);
}

int bt__corr_db_put(struct bt__corr_db *d, const char *key, const char *custom_id, const char *entry,
                    size_t len, uint64_t now)
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
        bt__corr_db_purge(d, now);
    }
    return rc;
}

static int run_keyed(struct bt__corr_db *d, int which, const char *a, const char *b)
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

int bt__corr_db_rekey(struct bt__corr_db *d, const char *from_key, const char *to_key)
{
    return run_keyed(d, ST_REKEY, to_key, from_key);
}

int bt__corr_db_drop(struct bt__corr_db *d, const char *key)
{
    int rc = run_keyed(d, ST_DROP, key, NULL);
    sum_bytes(d);
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

int bt__corr_db_get(struct bt__corr_db *d, const char *key, const char *custom_id, uint64_t now,
                    char **entry_out, size_t *len_out)
{
    int rc = commit(d);
    if (rc)
        return rc;
    sqlite3_stmt *st = d->st[ST_GET];
    sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, custom_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, cutoff(now));
    return fetch_text(st, entry_out, len_out);
}

int bt__corr_db_put_batch(struct bt__corr_db *d, const char *batch_id, const char *json, size_t len,
                          uint64_t now)
{
    int rc = commit(d);
    if (rc)
        return rc;
    sqlite3_stmt *st = d->st[ST_PUT_BATCH];
    sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 3, (int64_t)now);
    rc = run(st);
    sqlite3_bind_int(d->st[ST_TRIM_BATCHES], 1, BT__CORR_BATCHES_MAX);
    run(d->st[ST_TRIM_BATCHES]);
    return rc;
}

int bt__corr_db_get_batch(struct bt__corr_db *d, const char *batch_id, uint64_t now, char **json_out)
{
    int rc = commit(d);
    if (rc)
        return rc;
    sqlite3_stmt *st = d->st[ST_GET_BATCH];
    sqlite3_bind_text(st, 1, batch_id, -1, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, cutoff(now));
    return fetch_text(st, json_out, NULL);
}

int bt__corr_db_purge(struct bt__corr_db *d, uint64_t now)
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
