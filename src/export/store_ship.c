/*
 * Shipping stored spans to another sink and marking them sent: the spool half of the
 * store sink, and `bt-spans send`. A run of spans is marked sent only after the target
 * sink accepted it, in one transaction, so a crash loses nothing; the window between
 * the target's acceptance and that commit is the only place a span can be sent twice.
 *
 * When the receiver refuses spans for their content (HTTP 400/413), the run is sent
 * again one span at a time, and only the spans refused alone are set aside as
 * undeliverable (sent = 2; `bt-spans send --all` sends them again), so one bad span
 * cannot hold back every span after it. A partial success (the receiver took the
 * request and rejected some spans) must not be sent again: the run is marked sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/store.h"
#include "util/log.h"

typedef struct ship_batch {
    int64_t *rowids;
    bt__stored_span *decoded;
    bt_span **spans;
    size_t n;
} ship_batch;

static void batch_clear(ship_batch *b)
{
    for (size_t i = 0; i < b->n; i++)
        bt__stored_span_free(&b->decoded[i]);
    b->n = 0;
}

static int mark(sqlite3 *db, const int64_t *rowids, size_t n, int value)
{
    if (n == 0)
        return BT_OK;
    sqlite3_stmt *st = NULL;
    int ok = sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "UPDATE spans SET sent = ?1 WHERE rowid = ?2", -1, &st, NULL) == SQLITE_OK;
    for (size_t i = 0; ok && i < n; i++) {
        sqlite3_bind_int(st, 1, value);
        sqlite3_bind_int64(st, 2, rowids[i]);
        ok = sqlite3_step(st) == SQLITE_DONE;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    if (ok && sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) == SQLITE_OK)
        return BT_OK;
    sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
    return BT_EDB;
}

static int64_t count_rows(sqlite3 *db, int all, int64_t after)
{
    sqlite3_stmt *st = NULL;
    int64_t n = -1;
    const char *sql = all ? "SELECT count(*) FROM spans WHERE rowid > ?1"
                          : "SELECT count(*) FROM spans WHERE sent = 0 AND rowid > ?1";
    if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK) {
        sqlite3_bind_int64(st, 1, after);
        if (sqlite3_step(st) == SQLITE_ROW)
            n = sqlite3_column_int64(st, 0);
    }
    sqlite3_finalize(st);
    return n;
}

/* The target's last error, for a log line. */
static void last_error(bt_sink *to, char *out, size_t n)
{
    bt__delivery d;
    memset(&d, 0, sizeof d);
    if (to->vt->delivery)
        to->vt->delivery(to, &d);
    snprintf(out, n, "%s", d.last_error[0] ? d.last_error : "refused");
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

/* Sends spans [i, j) of the batch in one export. BT_OK when the target took them (a
 * partial success included: it must not be sent again); else the target's error, with
 * to->last_kind saying why. */
static int export_run(bt_sink *to, ship_batch *b, size_t i, size_t j)
{
    for (size_t k = i; k < j; k++)
        b->spans[k] = b->decoded[k].span;
    to->last_kind = BT__SEND_OK;
    int rc = to->vt->export_spans(to, &b->decoded[i].resource, b->spans + i, j - i);
    return rc != BT_OK && to->last_kind == BT__SEND_PARTIAL ? BT_OK : rc;
}

/* Sends a refused run one span at a time: what goes through is marked sent, what is
 * refused alone is set aside. Stops (BT_EEXPORT) at a failure of another kind. */
static int deliver_one_by_one(sqlite3 *db, bt_sink *to, ship_batch *b, size_t i, size_t j,
                              bt__store_ship_result *res)
{
    for (size_t k = i; k < j; k++) {
        int rc = j - i > 1 ? export_run(to, b, k, k + 1) : BT_EEXPORT;
        int value = BT__STORE_SENT;
        if (rc != BT_OK) {
            if (to->last_kind != BT__SEND_CONTENT)
                return BT_EEXPORT;
            char why[256], tid[33], sid[17];
            last_error(to, why, sizeof why);
            hex(b->decoded[k].span->trace_id, 16, tid);
            hex(b->decoded[k].span->span_id, 8, sid);
            bt__log(to->log, to->log_ud, to->log_level, BT_LOG_ERROR,
                    "span store: span %s/%s (\"%.80s\") refused by the receiver (%s); set aside as "
                    "undeliverable (`bt-spans send --all` sends it again)",
                    tid, sid, b->decoded[k].span->name ? b->decoded[k].span->name : "", why);
            value = BT__STORE_UNDELIVERABLE;
        }
        if (mark(db, &b->rowids[k], 1, value) != BT_OK)
            return BT_EDB;
        if (value == BT__STORE_SENT)
            res->shipped++;
        else
            res->refused++;
    }
    return BT_OK;
}

/* Delivers decoded spans in runs that share a resource (one export call per run),
 * marking each run once the target took it. */
static int deliver(sqlite3 *db, bt_sink *to, ship_batch *b, bt__store_ship_result *res)
{
    size_t i = 0;
    while (i < b->n) {
        size_t j = i;
        while (j < b->n && strcmp(b->decoded[j].resource_key, b->decoded[i].resource_key) == 0)
            j++;
        int rc = export_run(to, b, i, j);
        if (rc == BT_OK) {
            if (mark(db, b->rowids + i, j - i, BT__STORE_SENT) != BT_OK)
                return BT_EDB;
            res->shipped += j - i;
        } else if (to->last_kind == BT__SEND_CONTENT) {
            rc = deliver_one_by_one(db, to, b, i, j, res);
            if (rc != BT_OK)
                return rc;
        } else {
            return BT_EEXPORT;
        }
        i = j;
    }
    return BT_OK;
}

int bt__store_ship(sqlite3 *db, bt_sink *to, int all, size_t batch, unsigned max_batches,
                   bt__store_progress_fn progress, void *ud, bt__store_ship_result *res)
{
    bt__store_ship_result local;
    if (!res)
        res = &local;
    memset(res, 0, sizeof *res);
    if (!db || !to || batch == 0)
        return BT_EINVAL;
    ship_batch b = {0};
    b.rowids = calloc(batch, sizeof *b.rowids);
    b.decoded = calloc(batch, sizeof *b.decoded);
    b.spans = calloc(batch, sizeof *b.spans);
    int64_t *bad = calloc(batch, sizeof *bad);
    sqlite3_stmt *sel = NULL;
    const char *sql = all
        ? "SELECT rowid, line FROM spans WHERE rowid > ?1 ORDER BY rowid LIMIT ?2"
        : "SELECT rowid, line FROM spans WHERE sent = 0 AND rowid > ?1 ORDER BY rowid LIMIT ?2";
    int rc = BT_OK;
    if (!b.rowids || !b.decoded || !b.spans || !bad)
        rc = BT_ENOMEM;
    else if (sqlite3_prepare_v2(db, sql, -1, &sel, NULL) != SQLITE_OK)
        rc = BT_EDB;
    int64_t last = 0, total = rc == BT_OK ? count_rows(db, all, 0) : 0;
    for (unsigned round = 0; rc == BT_OK && (max_batches == 0 || round < max_batches); round++) {
        size_t nbad = 0;
        int64_t *badrows = bad;
        sqlite3_bind_int64(sel, 1, last);
        sqlite3_bind_int64(sel, 2, (sqlite3_int64)batch);
        int step;
        while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
            int64_t rowid = sqlite3_column_int64(sel, 0);
            const char *line = (const char *)sqlite3_column_text(sel, 1);
            size_t len = (size_t)sqlite3_column_bytes(sel, 1);
            last = rowid;
            int drc = line ? bt__stored_span_decode(line, len, &b.decoded[b.n]) : BT_EPARSE;
            if (drc == BT_OK)
                b.rowids[b.n++] = rowid;
            else if (drc == BT_EPARSE)
                badrows[nbad++] = rowid;
            else
                rc = drc;
        }
        sqlite3_reset(sel);
        if (step != SQLITE_DONE && rc == BT_OK)
            rc = BT_EDB;
        if (rc == BT_OK && nbad) {
            bt__log(to->log, to->log_ud, to->log_level, BT_LOG_ERROR,
                    "span store: %zu stored span lines cannot be decoded; set aside as undeliverable", nbad);
            rc = mark(db, badrows, nbad, BT__STORE_UNDELIVERABLE);
            res->undeliverable += nbad;
        }
        if (rc == BT_OK && b.n == 0 && nbad == 0)
            break; /* nothing left */
        if (rc == BT_OK && b.n)
            rc = deliver(db, to, &b, res);
        batch_clear(&b);
        if (rc == BT_OK && progress)
            progress(ud, res->shipped, (uint64_t)(total > 0 ? total : 0));
    }
    batch_clear(&b);
    sqlite3_finalize(sel);
    int64_t pending = count_rows(db, 0, 0);
    res->pending = pending > 0 ? (uint64_t)pending : 0;
    free(b.rowids);
    free(b.decoded);
    free(b.spans);
    free(bad);
    return rc;
}
