/*
 * Shipping stored spans to another sink and marking them sent: the spool half of the
 * store sink, and `bt-spans send`. A run of spans is marked sent only after the target
 * sink accepted it, in one transaction, so a crash loses nothing; the window between
 * the target's acceptance and that commit is the only place a span can be sent twice.
 *
 * When the receiver refuses spans for their content (HTTP 400/413), the run is sent
 * again in halves, and spans refused on their own are set aside as undeliverable
 * (sent = 2; `bt-spans send --all` sends them again) once the receiver has taken
 * others, so one bad span cannot hold back every span after it, while a receiver that
 * refuses everything keeps them all waiting. A partial success (the receiver took the
 * request and rejected some spans) must not be sent again: the run is marked sent.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "export/store.h"
#include "util/log.h"

/* A batch's stored lines add up to at most this (a single larger span goes alone), so
 * that its export fits in one request (8 MiB by default) and is taken or refused
 * whole. */
#define SHIP_MAX_BYTES ((size_t)4 << 20)

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

/* Sends spans [i, j). A content refusal (a request too large, or a bad span among good
 * ones) splits the range in halves, so what the receiver takes is marked sent and only
 * spans refused on their own remain, noted in `refused`. Returns BT_OK to go on, or
 * BT_EEXPORT / BT_EDB to stop (to->last_kind says why). */
static int deliver_split(sqlite3 *db, bt_sink *to, ship_batch *b, size_t i, size_t j,
                         bt__store_ship_result *res, unsigned char *refused)
{
    int rc = export_run(to, b, i, j);
    if (rc == BT_OK) {
        if (mark(db, b->rowids + i, j - i, BT__STORE_SENT) != BT_OK)
            return BT_EDB;
        res->shipped += j - i;
        return BT_OK;
    }
    if (to->last_kind != BT__SEND_CONTENT)
        return BT_EEXPORT;
    if (j - i == 1) {
        refused[i] = 1;
        return BT_OK;
    }
    size_t mid = i + (j - i) / 2;
    rc = deliver_split(db, to, b, i, mid, res, refused);
    return rc == BT_OK ? deliver_split(db, to, b, mid, j, res, refused) : rc;
}

/* Spans refused on their own are set aside, but only once the receiver has taken some
 * others: a receiver that refuses everything (a wrong endpoint, a bad parent) has a
 * problem of its own, and the spans wait for it to be fixed. */
static int set_aside(sqlite3 *db, bt_sink *to, ship_batch *b, const unsigned char *refused,
                     bt__store_ship_result *res)
{
    size_t n_refused = 0;
    for (size_t k = 0; k < b->n; k++)
        n_refused += refused[k];
    if (!n_refused)
        return BT_OK;
    if (res->shipped == 0) {
        to->last_kind = BT__SEND_REFUSED;
        return BT_EEXPORT;
    }
    char why[256];
    last_error(to, why, sizeof why);
    for (size_t k = 0; k < b->n; k++) {
        if (!refused[k])
            continue;
        char tid[33], sid[17];
        hex(b->decoded[k].span->trace_id, 16, tid);
        hex(b->decoded[k].span->span_id, 8, sid);
        bt__log(to->log, to->log_ud, to->log_level, BT_LOG_ERROR,
                "span store: span %s/%s (\"%.80s\") refused by the receiver (%s) while others got through; "
                "set aside as undeliverable (`bt-spans send --all` sends it again)",
                tid, sid, b->decoded[k].span->name ? b->decoded[k].span->name : "", why);
        if (mark(db, &b->rowids[k], 1, BT__STORE_UNDELIVERABLE) != BT_OK)
            return BT_EDB;
        res->refused++;
    }
    return BT_OK;
}

/* The span's own braintrust.parent: spans with different ones go in different
 * requests, so a run is sent whole or not at all. */
static const char *span_parent(const bt_span *s)
{
    const bt__attr *a = bt__attrs_find(&s->attrs, "braintrust.parent");
    return a && a->type == BT__ATTR_STRING && a->v.s.ptr ? a->v.s.ptr : "";
}

/* Delivers decoded spans in runs that share a resource and a parent (one request per
 * run), marking each run once the target took it. */
static int deliver(sqlite3 *db, bt_sink *to, ship_batch *b, bt__store_ship_result *res)
{
    unsigned char *refused = calloc(b->n ? b->n : 1, 1);
    if (!refused)
        return BT_ENOMEM;
    int rc = BT_OK;
    size_t i = 0;
    while (rc == BT_OK && i < b->n) {
        size_t j = i;
        while (j < b->n && strcmp(b->decoded[j].resource_key, b->decoded[i].resource_key) == 0 &&
               strcmp(span_parent(b->decoded[j].span), span_parent(b->decoded[i].span)) == 0)
            j++;
        rc = deliver_split(db, to, b, i, j, res, refused);
        i = j;
    }
    if (rc == BT_OK)
        rc = set_aside(db, to, b, refused, res);
    free(refused);
    return rc;
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
        size_t bytes = 0;
        while ((step = sqlite3_step(sel)) == SQLITE_ROW) {
            int64_t rowid = sqlite3_column_int64(sel, 0);
            const char *line = (const char *)sqlite3_column_text(sel, 1);
            size_t len = (size_t)sqlite3_column_bytes(sel, 1);
            if (b.n + nbad > 0 && bytes + len > SHIP_MAX_BYTES) {
                step = SQLITE_DONE; /* the rest in the next batch */
                break;
            }
            bytes += len;
            last = rowid;
            int drc = line ? bt__stored_span_decode(line, len, &b.decoded[b.n]) : BT_EPARSE;
            /* a target that uploads attachments gets the bytes the span refers to */
            if (drc == BT_OK && to->keeps_attachments &&
                bt__store_attachments_load(db, b.decoded[b.n].span) != BT_OK) {
                bt__stored_span_free(&b.decoded[b.n]);
                drc = BT_ENOMEM;
            }
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
