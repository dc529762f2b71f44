/*
 * One libpq connection of the PostgreSQL correlation backend (see correlation_pg.h),
 * driven in non-blocking mode: every wait is a poll() on the connection's socket and
 * the store's wake pipe, with a deadline, so a dead or silent server costs a bounded
 * time and never holds the store's shutdown.
 */
#ifdef BT_HAVE_LIBPQ

#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anthropic/correlation_pg.h"
#include "braintrust/common.h"
#include "util/timefmt.h"

struct bt__pg_link {
    PGconn *conn;
    int wake_fd;
    const _Atomic uint64_t *abort_at;
};

/* Arbitrary, fixed: the advisory lock that serializes schema changes. */
#define SCHEMA_LOCK_KEY "726173736f6369"

/* Each entry: the DDL that brings the schema from version i to i + 1. Additive only,
 * so a replica of an older build keeps working on a newer schema during an upgrade. */
static const char *const MIGRATIONS[BT__PG_SCHEMA_VERSION] = {
    "CREATE TABLE IF NOT EXISTS bt_batch_requests ("
    " batch_key text NOT NULL,"
    " custom_id text NOT NULL,"
    " seq bigint GENERATED ALWAYS AS IDENTITY,"
    " created_ns bigint NOT NULL,"
    " entry bytea NOT NULL,"
    " PRIMARY KEY (batch_key, custom_id));"
    "CREATE INDEX IF NOT EXISTS bt_batch_requests_seq ON bt_batch_requests (batch_key, seq);"
    "CREATE INDEX IF NOT EXISTS bt_batch_requests_created ON bt_batch_requests (created_ns);"
    "CREATE TABLE IF NOT EXISTS bt_batch_objects ("
    " batch_id text PRIMARY KEY,"
    " object text NOT NULL,"
    " seen_ns bigint NOT NULL,"
    " ended boolean NOT NULL DEFAULT false);"
    "CREATE INDEX IF NOT EXISTS bt_batch_objects_seen ON bt_batch_objects (seen_ns);",
};

enum {
    S_PUT,
    S_REKEY_CLEAR,
    S_REKEY,
    S_DROP,
    S_PUT_BATCH,
    S_GET_WINDOW,
    S_GET_BATCH,
    S_PURGE,
    S_SIZE,
    S_COUNT
};

static const struct {
    const char *name, *sql;
} STATEMENTS[S_COUNT] = {
    [S_PUT] = {"bt_put",
               "INSERT INTO bt_batch_requests (batch_key, custom_id, created_ns, entry) "
               "VALUES ($1, $2, $3, $4) ON CONFLICT (batch_key, custom_id) "
               "DO UPDATE SET entry = EXCLUDED.entry, created_ns = EXCLUDED.created_ns"},
    /* A rekey onto a key that already has some custom_ids replaces them. */
    [S_REKEY_CLEAR] = {"bt_rekey_clear",
                       "DELETE FROM bt_batch_requests WHERE batch_key = $2 AND custom_id IN "
                       "(SELECT custom_id FROM bt_batch_requests WHERE batch_key = $1)"},
    [S_REKEY] = {"bt_rekey", "UPDATE bt_batch_requests SET batch_key = $2 WHERE batch_key = $1"},
    [S_DROP] = {"bt_drop", "DELETE FROM bt_batch_requests WHERE batch_key = $1"},
    [S_PUT_BATCH] =
        {"bt_put_batch",
         "INSERT INTO bt_batch_objects (batch_id, object, seen_ns, ended) VALUES ($1, $2, $3, $4) "
         "ON CONFLICT (batch_id) DO UPDATE SET object = EXCLUDED.object, "
         "seen_ns = EXCLUDED.seen_ns, ended = EXCLUDED.ended "
         "WHERE NOT bt_batch_objects.ended OR EXCLUDED.ended"},
    [S_GET_WINDOW] = {"bt_get_window",
                      "WITH s AS (SELECT seq FROM bt_batch_requests "
                      "           WHERE batch_key = $1 AND custom_id = $2 AND created_ns >= $3) "
                      "SELECT custom_id, entry FROM ("
                      " SELECT r.custom_id, r.entry, abs(r.seq - s.seq) AS dist,"
                      "  sum(octet_length(r.entry)) OVER (ORDER BY abs(r.seq - s.seq), r.seq) AS running"
                      " FROM bt_batch_requests r, s"
                      " WHERE r.batch_key = $1 AND r.seq BETWEEN s.seq - $4::bigint AND s.seq + $4::bigint"
                      "  AND r.created_ns >= $3) w "
                      "WHERE running - octet_length(entry) < $5::bigint ORDER BY dist, running"},
    [S_GET_BATCH] = {"bt_get_batch",
                     "SELECT object FROM bt_batch_objects WHERE batch_id = $1 AND seen_ns >= $2"},
    [S_PURGE] = {"bt_purge",
                 "WITH a AS (DELETE FROM bt_batch_requests WHERE created_ns < $1 RETURNING 1),"
                 " b AS (DELETE FROM bt_batch_objects WHERE seen_ns < $1 RETURNING 1) "
                 "SELECT (SELECT count(*) FROM a) + (SELECT count(*) FROM b)"},
    [S_SIZE] = {"bt_size", "SELECT pg_total_relation_size('bt_batch_requests')"},
};

static void set_err(char *err, size_t n, const char *what, const char *detail)
{
    if (!err || !n)
        return;
    snprintf(err, n, "%s%s%s", what, detail && *detail ? ": " : "", detail ? detail : "");
    /* libpq messages end with a newline; keep one line. */
    char *o = err;
    for (const char *p = err; *p; p++) {
        if (*p == '\n' || *p == '\r' || *p == '\t') {
            if (o > err && o[-1] != ' ')
                *o++ = ' ';
        } else {
            *o++ = *p;
        }
    }
    while (o > err && o[-1] == ' ')
        o--;
    *o = '\0';
}

static uint64_t effective_deadline(const bt__pg_link *l, uint64_t deadline)
{
    uint64_t cut = l->abort_at ? atomic_load(l->abort_at) : 0;
    return cut && cut < deadline ? cut : deadline;
}

/* Waits until the socket is ready for `events`. BT_OK, or BT_ETIMEDOUT / BT_EIO. */
static int wait_socket(bt__pg_link *l, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = bt__monotonic_nano(), end = effective_deadline(l, deadline);
        if (now >= end)
            return BT_ETIMEDOUT;
        int sock = PQsocket(l->conn);
        if (sock < 0)
            return BT_EIO;
        struct pollfd p[2] = {{.fd = sock, .events = events}, {.fd = l->wake_fd, .events = POLLIN}};
        uint64_t ms = (end - now) / 1000000 + 1;
        int n = poll(p, l->wake_fd >= 0 ? 2 : 1, ms > 60000 ? 60000 : (int)ms);
        if (n < 0 && errno != EINTR)
            return BT_EIO;
        if (n > 0 && l->wake_fd >= 0 && (p[1].revents & POLLIN)) {
            char drain[16];
            while (read(l->wake_fd, drain, sizeof drain) > 0) {
            }
            continue; /* the deadline may have moved */
        }
        if (n > 0 && p[0].revents)
            return BT_OK;
    }
}

/* Sends what libpq has buffered, reading meanwhile so the server never blocks on us. */
static int flush_all(bt__pg_link *l, uint64_t deadline)
{
    for (;;) {
        int r = PQflush(l->conn);
        if (r == 0)
            return BT_OK;
        if (r < 0 || wait_socket(l, POLLIN | POLLOUT, deadline) != BT_OK)
            return BT_EIO;
        if (!PQconsumeInput(l->conn))
            return BT_EIO;
    }
}

/* The next result (NULL at the end of a query's results, or on a lost connection:
 * then *lost is set). */
static PGresult *next_result(bt__pg_link *l, uint64_t deadline, int *lost)
{
    while (PQisBusy(l->conn)) {
        if (flush_all(l, deadline) != BT_OK || wait_socket(l, POLLIN, deadline) != BT_OK ||
            !PQconsumeInput(l->conn)) {
            *lost = 1;
            return NULL;
        }
    }
    return PQgetResult(l->conn);
}

static int classify(const PGresult *res, const PGconn *conn)
{
    if (PQstatus(conn) != CONNECTION_OK)
        return BT__PG_LOST;
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state)
        return BT__PG_LOST;
    if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
        return BT__PG_LOST; /* connection exceptions, server shutting down */
    if (!strncmp(state, "40", 2) || !strncmp(state, "53", 2) || !strcmp(state, "55P03") ||
        !strcmp(state, "57014"))
        return BT__PG_TRANSIENT;
    return BT__PG_REFUSED;
}

/* Runs SQL text (simple protocol; several statements allowed) outside a pipeline.
 * *tuples (may be NULL) receives the last row-returning result. */
static int exec_simple(bt__pg_link *l, const char *sql, PGresult **tuples, uint64_t deadline, char *err,
                       size_t err_size)
{
    if (tuples)
        *tuples = NULL;
    if (!PQsendQuery(l->conn, sql) || flush_all(l, deadline) != BT_OK) {
        set_err(err, err_size, "sending a query", PQerrorMessage(l->conn));
        return BT__PG_LOST;
    }
    int rc = BT__PG_OK, lost = 0;
    PGresult *res;
    while ((res = next_result(l, deadline, &lost))) {
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_TUPLES_OK && tuples) {
            PQclear(*tuples);
            *tuples = res;
            continue;
        }
        if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == BT__PG_OK) {
            rc = classify(res, l->conn);
            set_err(err, err_size, "query failed", PQresultErrorMessage(res));
        }
        PQclear(res);
    }
    if (lost) {
        set_err(err, err_size, "no answer", PQerrorMessage(l->conn));
        rc = BT__PG_LOST;
    }
    if (rc != BT__PG_OK && tuples) {
        PQclear(*tuples);
        *tuples = NULL;
    }
    return rc;
}

/* Schema creation and migration, one transaction under an advisory lock. */
static int migrate(bt__pg_link *l, int *version_out, uint64_t deadline, char *err, size_t err_size)
{
    PGresult *res = NULL;
    int rc = exec_simple(l,
                         "BEGIN; SELECT pg_advisory_xact_lock(x'" SCHEMA_LOCK_KEY "'::bigint);"
                         "CREATE TABLE IF NOT EXISTS bt_correlation_schema (version integer NOT NULL);"
                         "SELECT COALESCE(max(version), 0) FROM bt_correlation_schema",
                         &res, deadline, err, err_size);
    if (rc != BT__PG_OK)
        return rc;
    int version = res && PQntuples(res) == 1 ? atoi(PQgetvalue(res, 0, 0)) : -1;
    PQclear(res);
    if (version < 0) {
        set_err(err, err_size, "unreadable schema version", NULL);
        return BT__PG_REFUSED;
    }
    for (int v = version; v < BT__PG_SCHEMA_VERSION && rc == BT__PG_OK; v++)
        rc = exec_simple(l, MIGRATIONS[v], NULL, deadline, err, err_size);
    if (rc == BT__PG_OK && version < BT__PG_SCHEMA_VERSION) {
        char sql[160];
        snprintf(sql, sizeof sql,
                 "DELETE FROM bt_correlation_schema; INSERT INTO bt_correlation_schema VALUES (%d)",
                 BT__PG_SCHEMA_VERSION);
        rc = exec_simple(l, sql, NULL, deadline, err, err_size);
        version = BT__PG_SCHEMA_VERSION;
    }
    if (rc == BT__PG_OK)
        rc = exec_simple(l, "COMMIT", NULL, deadline, err, err_size);
    *version_out = version;
    return rc;
}

static int prepare_all(bt__pg_link *l, uint64_t deadline, char *err, size_t err_size)
{
    for (int i = 0; i < S_COUNT; i++) {
        if (!PQsendPrepare(l->conn, STATEMENTS[i].name, STATEMENTS[i].sql, 0, NULL) ||
            flush_all(l, deadline) != BT_OK) {
            set_err(err, err_size, "preparing statements", PQerrorMessage(l->conn));
            return BT__PG_LOST;
        }
        int lost = 0, rc = BT__PG_OK;
        PGresult *res;
        while ((res = next_result(l, deadline, &lost))) {
            if (PQresultStatus(res) != PGRES_COMMAND_OK && rc == BT__PG_OK) {
                rc = classify(res, l->conn);
                set_err(err, err_size, STATEMENTS[i].name, PQresultErrorMessage(res));
            }
            PQclear(res);
        }
        if (lost) {
            set_err(err, err_size, "preparing statements", PQerrorMessage(l->conn));
            return BT__PG_LOST;
        }
        if (rc != BT__PG_OK)
            return rc;
    }
    return BT__PG_OK;
}

static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

int bt__pg_link_open(const char *url, int wake_fd, const _Atomic uint64_t *abort_at, uint64_t deadline,
                     bt__pg_link **out, int *version_out, char *err, size_t err_size)
{
    *out = NULL;
    bt__pg_link *l = calloc(1, sizeof *l);
    if (!l) {
        set_err(err, err_size, "out of memory", NULL);
        return BT__PG_LOST;
    }
    l->wake_fd = wake_fd;
    l->abort_at = abort_at;
    /* Defaults first: anything the URL says overrides them (libpq's expand_dbname). */
    static const char *const keys[] = {
        "application_name", "keepalives",      "keepalives_idle", "keepalives_interval",
        "keepalives_count", "client_encoding", "dbname",          NULL};
    const char *values[] = {"braintrust", "1", "30", "10", "3", "UTF8", url, NULL};
    l->conn = PQconnectStartParams(keys, values, 1);
    if (!l->conn || PQstatus(l->conn) == CONNECTION_BAD) {
        set_err(err, err_size, "cannot connect", l->conn ? PQerrorMessage(l->conn) : "out of memory");
        bt__pg_link_close(l);
        return BT__PG_LOST;
    }
    PostgresPollingStatusType st = PGRES_POLLING_WRITING;
    while (st != PGRES_POLLING_OK) {
        if (st == PGRES_POLLING_FAILED) {
            set_err(err, err_size, "cannot connect", PQerrorMessage(l->conn));
            bt__pg_link_close(l);
            return BT__PG_LOST;
        }
        if (wait_socket(l, st == PGRES_POLLING_READING ? POLLIN : POLLOUT, deadline) != BT_OK) {
            set_err(err, err_size, "cannot connect", "timed out");
            bt__pg_link_close(l);
            return BT__PG_LOST;
        }
        st = PQconnectPoll(l->conn);
    }
    PQsetNoticeProcessor(l->conn, ignore_notice, NULL); /* "already exists, skipping" */
    int rc = PQsetnonblocking(l->conn, 1) == 0 ? BT__PG_OK : BT__PG_LOST;
    if (rc == BT__PG_OK)
        rc = migrate(l, version_out, deadline, err, err_size);
    if (rc == BT__PG_OK)
        rc = prepare_all(l, deadline, err, err_size);
    if (rc != BT__PG_OK) {
        bt__pg_link_close(l);
        return rc;
    }
    *out = l;
    return BT__PG_OK;
}

void bt__pg_link_close(bt__pg_link *l)
{
    if (!l)
        return;
    PQfinish(l->conn);
    free(l);
}

/* Parameters of one statement: text, except the entry (bytea, binary). */
typedef struct params {
    int n;
    const char *v[5];
    int len[5], fmt[5];
    char num[2][24];
} params;

static void p_text(params *p, const char *s)
{
    p->v[p->n] = s;
    p->len[p->n] = 0;
    p->fmt[p->n++] = 0;
}

static void p_int(params *p, int slot, int64_t x)
{
    snprintf(p->num[slot], sizeof p->num[slot], "%lld", (long long)x);
    p_text(p, p->num[slot]);
}

static void p_binary(params *p, const char *data, size_t len)
{
    p->v[p->n] = data;
    p->len[p->n] = (int)len;
    p->fmt[p->n++] = 1;
}

static int send_prepared(bt__pg_link *l, int which, const params *p, int binary_result)
{
    return PQsendQueryPrepared(l->conn, STATEMENTS[which].name, p->n, p->v, p->len, p->fmt, binary_result);
}

static int send_write(bt__pg_link *l, const bt__pg_write *w)
{
    params p = {0};
    switch (w->kind) {
    case BT__PG_PUT:
        p_text(&p, w->a);
        p_text(&p, w->b);
        p_int(&p, 0, (int64_t)w->now);
        p_binary(&p, w->data, w->len);
        return send_prepared(l, S_PUT, &p, 0);
    case BT__PG_REKEY:
        p_text(&p, w->a);
        p_text(&p, w->b);
        return send_prepared(l, S_REKEY_CLEAR, &p, 0) && send_prepared(l, S_REKEY, &p, 0);
    case BT__PG_DROP:
        p_text(&p, w->a);
        return send_prepared(l, S_DROP, &p, 0);
    case BT__PG_PUT_BATCH:
        p_text(&p, w->a);
        p.v[p.n] = w->data; /* text, not NUL-terminated: sent with its length */
        p.len[p.n] = (int)w->len;
        p.fmt[p.n++] = 1; /* binary format of text is its UTF-8 bytes */
        p_int(&p, 0, (int64_t)w->now);
        p_text(&p, w->ended ? "true" : "false");
        return send_prepared(l, S_PUT_BATCH, &p, 0);
    default:
        return 0;
    }
}

static size_t statements_of(const bt__pg_write *w)
{
    return w->kind == BT__PG_REKEY ? 2 : 1;
}

int bt__pg_link_write(bt__pg_link *l, const bt__pg_write *w, size_t n, uint64_t deadline, char *err,
                      size_t err_size)
{
    if (!PQenterPipelineMode(l->conn)) {
        set_err(err, err_size, "pipeline", PQerrorMessage(l->conn));
        return BT__PG_LOST;
    }
    size_t expected = 2; /* BEGIN, COMMIT */
    int ok = PQsendQueryParams(l->conn, "BEGIN", 0, NULL, NULL, NULL, NULL, 0);
    for (size_t i = 0; ok && i < n; i++) {
        ok = send_write(l, &w[i]);
        expected += statements_of(&w[i]);
    }
    ok = ok && PQsendQueryParams(l->conn, "COMMIT", 0, NULL, NULL, NULL, NULL, 0) && PQpipelineSync(l->conn);
    if (!ok || flush_all(l, deadline) != BT_OK) {
        set_err(err, err_size, "sending writes", PQerrorMessage(l->conn));
        return BT__PG_LOST;
    }
    int rc = BT__PG_OK, lost = 0;
    /* Each statement: one result then NULL; an aborted pipeline answers
     * PGRES_PIPELINE_ABORTED for the rest; then the sync point. */
    for (size_t i = 0; i < expected && !lost; i++) {
        PGresult *res = next_result(l, deadline, &lost);
        if (!res)
            break;
        ExecStatusType st = PQresultStatus(res);
        if (st != PGRES_COMMAND_OK && st != PGRES_PIPELINE_ABORTED && rc == BT__PG_OK) {
            rc = classify(res, l->conn);
            set_err(err, err_size, "write failed", PQresultErrorMessage(res));
        }
        PQclear(res);
        PGresult *end = next_result(l, deadline, &lost);
        if (end) { /* a statement answered twice: the protocol is not what we think */
            PQclear(end);
            lost = 1;
        }
    }
    PGresult *sync = lost ? NULL : next_result(l, deadline, &lost);
    if (!sync || PQresultStatus(sync) != PGRES_PIPELINE_SYNC)
        lost = 1;
    PQclear(sync);
    if (lost || !PQexitPipelineMode(l->conn)) {
        set_err(err, err_size, "no answer to writes", PQerrorMessage(l->conn));
        return BT__PG_LOST;
    }
    /* A failed statement leaves the transaction block open and aborted. */
    if (rc != BT__PG_OK && exec_simple(l, "ROLLBACK", NULL, deadline, NULL, 0) != BT__PG_OK)
        return BT__PG_LOST;
    return rc;
}

/* Sends one prepared statement outside a pipeline and returns its single result
 * (owned by the caller) or NULL with the outcome in *rc. */
static PGresult *query(bt__pg_link *l, int which, const params *p, int binary_result, uint64_t deadline,
                       int *rc, char *err, size_t err_size)
{
    *rc = BT__PG_OK;
    if (!send_prepared(l, which, p, binary_result) || flush_all(l, deadline) != BT_OK) {
        set_err(err, err_size, "sending a query", PQerrorMessage(l->conn));
        *rc = BT__PG_LOST;
        return NULL;
    }
    int lost = 0;
    PGresult *res = next_result(l, deadline, &lost), *extra;
    while (!lost && (extra = next_result(l, deadline, &lost)))
        PQclear(extra);
    if (lost) {
        set_err(err, err_size, "no answer", PQerrorMessage(l->conn));
        PQclear(res);
        *rc = BT__PG_LOST;
        return NULL;
    }
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        *rc = classify(res, l->conn);
        set_err(err, err_size, "query failed", PQresultErrorMessage(res));
        PQclear(res);
        return NULL;
    }
    return res;
}

int bt__pg_link_get_window(bt__pg_link *l, const char *key, const char *custom_id, int64_t cutoff,
                           int half_window, size_t budget, bt__pg_row_fn fn, void *ud, size_t *rows_out,
                           uint64_t deadline, char *err, size_t err_size)
{
    params p = {0};
    p_text(&p, key);
    p_text(&p, custom_id);
    p_int(&p, 0, cutoff);
    char half[24], bytes[24];
    snprintf(half, sizeof half, "%d", half_window);
    snprintf(bytes, sizeof bytes, "%zu", budget);
    p_text(&p, half);
    p_text(&p, bytes);
    int rc;
    PGresult *res = query(l, S_GET_WINDOW, &p, 1, deadline, &rc, err, err_size);
    *rows_out = 0;
    if (!res)
        return rc;
    int n = PQntuples(res);
    for (int i = 0; i < n; i++)
        fn(ud, PQgetvalue(res, i, 0), (size_t)PQgetlength(res, i, 0), PQgetvalue(res, i, 1),
           (size_t)PQgetlength(res, i, 1));
    *rows_out = (size_t)n;
    PQclear(res);
    return BT__PG_OK;
}

int bt__pg_link_get_batch(bt__pg_link *l, const char *batch_id, int64_t cutoff, char **json_out,
                          uint64_t deadline, char *err, size_t err_size)
{
    params p = {0};
    p_text(&p, batch_id);
    p_int(&p, 0, cutoff);
    int rc;
    PGresult *res = query(l, S_GET_BATCH, &p, 1, deadline, &rc, err, err_size);
    *json_out = NULL;
    if (!res)
        return rc;
    if (PQntuples(res) == 1) {
        size_t n = (size_t)PQgetlength(res, 0, 0);
        char *copy = malloc(n + 1);
        if (copy) {
            memcpy(copy, PQgetvalue(res, 0, 0), n);
            copy[n] = '\0';
        }
        *json_out = copy;
    }
    PQclear(res);
    return BT__PG_OK;
}

/* A one-row, one-column integer answer (text format). */
static int query_int(bt__pg_link *l, int which, const params *p, int64_t *out, uint64_t deadline, char *err,
                     size_t err_size)
{
    int rc;
    PGresult *res = query(l, which, p, 0, deadline, &rc, err, err_size);
    if (!res)
        return rc;
    *out = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
    PQclear(res);
    return BT__PG_OK;
}

int bt__pg_link_purge(bt__pg_link *l, int64_t cutoff, int64_t *removed_out, uint64_t deadline, char *err,
                      size_t err_size)
{
    params p = {0};
    p_int(&p, 0, cutoff);
    return query_int(l, S_PURGE, &p, removed_out, deadline, err, err_size);
}

int bt__pg_link_entries_size(bt__pg_link *l, uint64_t *bytes_out, uint64_t deadline, char *err,
                             size_t err_size)
{
    params p = {0};
    int64_t v = 0;
    int rc = query_int(l, S_SIZE, &p, &v, deadline, err, err_size);
    *bytes_out = v > 0 ? (uint64_t)v : 0;
    return rc;
}

int bt__pg_check_url(const char *url, char *err, size_t err_size)
{
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    if (!opts) {
        set_err(err, err_size, "not a valid PostgreSQL URL", msg ? msg : "out of memory");
        PQfreemem(msg);
        return BT__PG_REFUSED;
    }
    PQconninfoFree(opts);
    return BT__PG_OK;
}

void bt__pg_describe(const char *url, char *out, size_t out_size)
{
    snprintf(out, out_size, "postgresql");
    char *msg = NULL;
    PQconninfoOption *opts = PQconninfoParse(url, &msg);
    PQfreemem(msg);
    if (!opts)
        return;
    const char *user = "", *host = "", *port = "", *db = "";
    for (PQconninfoOption *o = opts; o->keyword; o++) {
        if (!o->val)
            continue;
        if (!strcmp(o->keyword, "user"))
            user = o->val;
        else if (!strcmp(o->keyword, "host") || (!*host && !strcmp(o->keyword, "hostaddr")))
            host = o->val;
        else if (!strcmp(o->keyword, "port"))
            port = o->val;
        else if (!strcmp(o->keyword, "dbname"))
            db = o->val;
    }
    snprintf(out, out_size, "postgresql://%s%s%s%s%s/%s", user, *user ? "@" : "", *host ? host : "localhost",
             *port ? ":" : "", port, db);
    PQconninfoFree(opts);
}

#else
typedef int bt__correlation_pg_link_not_built; /* built without libpq */
#endif
