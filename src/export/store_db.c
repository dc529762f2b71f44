/*
 * Opening the span store: WAL journal (readers never block the writer), a busy timeout
 * (bt-spans and a running proxy share the file), and a versioned schema. A file that is
 * not a span store is refused with a clear reason instead of being modified.
 */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "export/store.h"

#define STORE_BUSY_TIMEOUT_MS 5000
#define STORE_PAGE_SIZE "32768"

static const char SCHEMA[] = "CREATE TABLE spans ("
                             " trace_id TEXT NOT NULL,"
                             " span_id TEXT NOT NULL,"
                             " parent_span_id TEXT," /* NULL for a root span */
                             " name TEXT NOT NULL,"
                             " kind INTEGER NOT NULL,"
                             " start_ns INTEGER NOT NULL,"
                             " end_ns INTEGER NOT NULL,"
                             " status_code INTEGER NOT NULL," /* 0 unset, 1 ok, 2 error */
                             " status_message TEXT,"
                             " span_type TEXT," /* braintrust.span_attributes.type: llm, task, ... */
                             " model TEXT,"
                             " prompt_tokens INTEGER,"
                             " completion_tokens INTEGER,"
                             " cache_read_tokens INTEGER,"
                             " cache_creation_tokens INTEGER,"
                             " reasoning_tokens INTEGER,"
                             " line TEXT NOT NULL," /* the OTLP JSON span line, resource included */
                             " sent INTEGER NOT NULL DEFAULT 0,"
                             " stored_ns INTEGER NOT NULL,"
                             " PRIMARY KEY (trace_id, span_id));"
                             "CREATE INDEX spans_unsent ON spans(sent) WHERE sent = 0;";

/* Read-side indexes for bt-spans (the trace list, one trace, totals), each covering its
 * query so that reading a million-span store never touches the wide `line` rows. Writers
 * add them to stores created before they existed; a read-only opener cannot, and its
 * queries still work, only slower. */
static const char READ_INDEXES[] =
    /* Stores created before spans_by_start had this one on start_ns alone: every query
     * on start_ns uses spans_by_start, and each index costs the writer pages per span. */
    "DROP INDEX IF EXISTS spans_start;"
    /* newest traces first: walk span starts backwards, find each trace's first span */
    "CREATE INDEX IF NOT EXISTS spans_by_start ON spans(start_ns, trace_id, span_id);"
    /* one trace: its spans in start order, and its summary for the list */
    "CREATE INDEX IF NOT EXISTS spans_by_trace ON spans(trace_id, start_ns, span_id, parent_span_id, end_ns,"
    " status_code, span_type, model, prompt_tokens, completion_tokens, name);"
    /* token totals by model and day over llm spans (span_type too: SQLite reads the
     * columns of a partial index's condition from the index, not from its definition) */
    "CREATE INDEX IF NOT EXISTS spans_llm_totals ON spans(model, start_ns, name, status_code, span_type,"
    " prompt_tokens, completion_tokens, cache_read_tokens, cache_creation_tokens, reasoning_tokens)"
    " WHERE span_type = 'llm' OR (span_type IS NULL AND model IS NOT NULL);";

/* Tables that are not ours. The batch correlation store (batch_requests, batch_objects)
 * may share the file: bt-proxy --store keeps both in one database. */
static const char FOREIGN_TABLES[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'batch\\_%' ESCAPE '\\'";

static int fail(sqlite3 *db, bt__buf *err, int rc, const char *what)
{
    if (err)
        bt__buf_printf(err, "%s%s%s", what, db ? ": " : "", db ? sqlite3_errmsg(db) : "");
    return rc;
}

static int query_int(sqlite3 *db, const char *sql, int64_t *out)
{
    sqlite3_stmt *st = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc == SQLITE_OK) {
        rc = sqlite3_step(st);
        if (rc == SQLITE_ROW) {
            *out = sqlite3_column_int64(st, 0);
            rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return rc;
}

/* Checks the schema; creates it on an empty database when allowed. */
static int check_schema(sqlite3 *db, int may_create, bt__buf *err)
{
    int64_t version = 0, tables = 0;
    if (query_int(db, "PRAGMA user_version", &version) != SQLITE_OK ||
        query_int(db, FOREIGN_TABLES, &tables) != SQLITE_OK)
        return fail(db, err, BT_EDB, "not a readable SQLite database");
    if (version == BT__STORE_SCHEMA_VERSION) {
        int64_t has_spans = 0;
        if (query_int(db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='spans'",
                      &has_spans) != SQLITE_OK ||
            !has_spans)
            return fail(NULL, err, BT_EDB, "schema version matches but the spans table is missing");
        return BT_OK;
    }
    if (version > BT__STORE_SCHEMA_VERSION) {
        if (err)
            bt__buf_printf(err, "span store schema version %lld is newer than this build's %d",
                           (long long)version, BT__STORE_SCHEMA_VERSION);
        return BT_EDB;
    }
    if (tables > 0)
        return fail(NULL, err, BT_EDB, "SQLite database that is not a span store");
    if (!may_create)
        return fail(NULL, err, BT_EDB, "empty database, not a span store");
    char *msg = NULL;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA user_version=%d;", BT__STORE_SCHEMA_VERSION);
    if (sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK)
        return fail(db, err, BT_EDB, "cannot create the schema");
    /* Another writer may have created it between our check and the lock. */
    int64_t again = 0;
    if (query_int(db, "PRAGMA user_version", &again) == SQLITE_OK && again == BT__STORE_SCHEMA_VERSION) {
        sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL);
        return BT_OK;
    }
    if (sqlite3_exec(db, SCHEMA, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, sql, NULL, NULL, &msg) != SQLITE_OK ||
        sqlite3_exec(db, "COMMIT;", NULL, NULL, &msg) != SQLITE_OK) {
        if (err)
            bt__buf_printf(err, "cannot create the schema: %s", msg ? msg : sqlite3_errmsg(db));
        sqlite3_free(msg);
        sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
        return BT_EDB;
    }
    return BT_OK;
}

int bt__store_open(const char *path, bt__store_mode mode, sqlite3 **out, bt__buf *err)
{
    *out = NULL;
    if (!path || !*path)
        return fail(NULL, err, BT_EINVAL, "no store path");
    struct stat st;
    if (mode != BT__STORE_CREATE && stat(path, &st) != 0)
        return fail(NULL, err, BT_ENOTFOUND, "no such file");
    int flags = SQLITE_OPEN_NOMUTEX;
    flags |= mode == BT__STORE_READ_ONLY ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE;
    if (mode == BT__STORE_CREATE)
        flags |= SQLITE_OPEN_CREATE;
    sqlite3 *db = NULL;
    if (sqlite3_open_v2(path, &db, flags, NULL) != SQLITE_OK) {
        int rc = fail(db, err, BT_EDB, "cannot open");
        sqlite3_close(db);
        return rc;
    }
    sqlite3_busy_timeout(db, STORE_BUSY_TIMEOUT_MS);
    sqlite3_extended_result_codes(db, 1);
    int rc = BT_OK;
    /* Only a new, empty file takes it (before WAL mode writes its header); a store made
     * with another page size keeps it. A span row is 2 to 3 KB: on 4 KB pages each
     * takes a page of its own, and every page is two writes to the WAL and one more at
     * the checkpoint, so larger pages mean fewer, fuller writes per span. */
    if (mode == BT__STORE_CREATE)
        sqlite3_exec(db, "PRAGMA page_size=" STORE_PAGE_SIZE ";", NULL, NULL, NULL);
    if (mode != BT__STORE_READ_ONLY) {
        /* WAL is a property of the file: set by writers, seen by every reader. */
        char *mode_now = NULL;
        sqlite3_stmt *jm = NULL;
        if (sqlite3_prepare_v2(db, "PRAGMA journal_mode=WAL", -1, &jm, NULL) != SQLITE_OK ||
            sqlite3_step(jm) != SQLITE_ROW)
            rc = fail(db, err, BT_EDB, "not a usable SQLite database");
        else
            mode_now = (char *)sqlite3_column_text(jm, 0);
        if (rc == BT_OK && (!mode_now || strcmp(mode_now, "wal") != 0))
            rc = fail(NULL, err, BT_EDB, "cannot switch the database to WAL mode");
        sqlite3_finalize(jm);
    }
    if (rc == BT_OK)
        rc = check_schema(db, mode == BT__STORE_CREATE, err);
    if (rc == BT_OK && mode != BT__STORE_READ_ONLY) {
        char *msg = NULL;
        if (sqlite3_exec(db, READ_INDEXES, NULL, NULL, &msg) != SQLITE_OK) {
            if (err)
                bt__buf_printf(err, "cannot add the read indexes: %s", msg ? msg : sqlite3_errmsg(db));
            rc = BT_EDB;
        }
        sqlite3_free(msg);
    }
    if (rc != BT_OK) {
        sqlite3_close(db);
        return rc;
    }
    *out = db;
    return BT_OK;
}
