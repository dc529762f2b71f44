/*
 * The store sink: every exported span becomes (or replaces) one row of the local span
 * store. With a spool target the store is a durable queue in front of it: a batch is
 * committed first (the export is reported delivered from then on), then a shipper
 * thread of the sink's own, on its own connection, sends unsent rows to the target and
 * marks them sent. The tracer's export thread therefore never waits on the network: a
 * hanging target cannot fill the tracer's queue and lose spans. A failing target is
 * retried with backoff (or when its Retry-After says), and whatever is unsent at exit
 * is shipped after a restart.
 *
 * The shipper is the only retry loop (the target makes one attempt per export), and it
 * speaks for it in the log: the first failure of a run with its reason and how many
 * spans wait, then only at 2, 4, 8... failed attempts, then the recovery.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "decode/json_scan.h"
#include "export/otlp_json.h"
#include "export/store.h"
#include "util/log.h"
#include "util/text.h"

/* A span line is bounded by the tracer's attribute caps; this is the backstop. */
#define STORE_MAX_LINE ((size_t)256 << 20)
/* Spans per shipped batch, and the backoff after a failed attempt. */
#define SHIP_BATCH 512
#define SHIP_BACKOFF_MIN_MS 1000
#define SHIP_BACKOFF_MAX_MS 60000
/* The export thread's connection writes every span into six b-trees (the rows, their
 * wide lines' overflow pages and five indexes): with SQLite's default 2 MiB page cache
 * most of each batch's index pages were read back from the file before being changed. */
#define STORE_WRITER_PRAGMAS "PRAGMA cache_size=-32768; PRAGMA wal_autocheckpoint=8192;"
/* Unsent rows are counted exactly after a commit while fewer than this. */
#define STORE_EXACT_COUNT_BELOW 10000
/* A receiver's Retry-After is honoured up to this. */
#define SHIP_RETRY_AFTER_MAX_MS (15 * 60 * 1000)

typedef struct store_sink {
    bt_sink base;
    sqlite3 *db; /* the export thread's connection */
    sqlite3_stmt *upsert;
    bt__buf line;
    /* The spool: everything below is shared with the shipper thread under `mu`. */
    bt_sink *spool;
    sqlite3 *ship_db; /* the shipper thread's connection */
    pthread_t shipper;
    int shipper_running;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int stop, wake, busy;
    int force;            /* a flush wants an attempt now, backoff or not */
    uint64_t started;     /* shipping attempts started */
    uint64_t attempts;    /* shipping attempts completed */
    int last_rc;          /* result of the last attempt */
    uint64_t pending;     /* unsent rows, as of the last commit or attempt */
    uint64_t refused;     /* spans the receiver refused alone, set aside */
    uint64_t retry_at_ms; /* 0, or no attempt before this (monotonic ms) */
    uint64_t backoff_ms;
    /* the current run of failed attempts, for the log (shipper thread only) */
    uint64_t fail_run;
    uint64_t fail_since_ms;
    long fail_key;
    char *path;
} store_sink;

static const char UPSERT[] =
    "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns,"
    " status_code, status_message, span_type, model, prompt_tokens, completion_tokens,"
    " cache_read_tokens, cache_creation_tokens, reasoning_tokens, line, sent, stored_ns)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, 0, ?18)"
    " ON CONFLICT (trace_id, span_id) DO UPDATE SET"
    " parent_span_id = excluded.parent_span_id, name = excluded.name, kind = excluded.kind,"
    " start_ns = excluded.start_ns, end_ns = excluded.end_ns, status_code = excluded.status_code,"
    " status_message = excluded.status_message, span_type = excluded.span_type,"
    " model = excluded.model, prompt_tokens = excluded.prompt_tokens,"
    " completion_tokens = excluded.completion_tokens, cache_read_tokens = excluded.cache_read_tokens,"
    " cache_creation_tokens = excluded.cache_creation_tokens,"
    " reasoning_tokens = excluded.reasoning_tokens, stored_ns = excluded.stored_ns,"
    /* The same span exported again (a batch's results read twice) keeps its sent flag;
     * a changed span is shipped again. */
    " sent = CASE WHEN spans.line = excluded.line THEN spans.sent ELSE 0 END,"
    " line = excluded.line";

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* The query columns taken from the Braintrust attributes (JSON strings). */
typedef struct span_facts {
    char *span_type;
    char *model;
    int64_t prompt, completion, cache_read, cache_creation, reasoning;
} span_facts;

/* A Braintrust attribute's JSON (a string attribute), validated exactly as json_loadb
 * would; read as slices of its text, without building a tree: these three are parsed
 * for every stored span, and a DOM each made them most of the store's CPU per span. */
static int attr_doc(const bt_span *s, const char *key, bt__json_doc *d)
{
    bt__json_doc_init(d);
    const bt__attr *a = bt__attrs_find(&s->attrs, key);
    if (!a || a->type != BT__ATTR_STRING)
        return 0;
    return bt__json_parse(d, a->v.s.ptr, a->v.s.len, 0) == BT_OK;
}

static int64_t metric(const bt__json_doc *metrics, int ok, const char *key)
{
    if (!ok)
        return -1;
    bt__jv v = bt__json_get(metrics, key);
    int64_t i;
    if (v.type == BT__JV_INTEGER && bt__jv_int64(v, &i))
        return i;
    if (v.type == BT__JV_REAL)
        return (int64_t)bt__jv_double(v);
    return -1;
}

static void facts_extract(const bt_span *s, span_facts *f)
{
    memset(f, 0, sizeof *f);
    bt__json_doc meta, metrics, sattrs;
    int meta_ok = attr_doc(s, "braintrust.metadata", &meta);
    int metrics_ok = attr_doc(s, "braintrust.metrics", &metrics);
    if (attr_doc(s, "braintrust.span_attributes", &sattrs))
        f->span_type = bt__jv_strdup(bt__json_get(&sattrs, "type"));
    if (meta_ok)
        f->model = bt__jv_strdup(bt__json_get(&meta, "model"));
    if (!f->model) {
        const bt__attr *a = bt__attrs_find(&s->attrs, "gen_ai.response.model");
        if (!a)
            a = bt__attrs_find(&s->attrs, "gen_ai.request.model");
        if (a && a->type == BT__ATTR_STRING)
            f->model = strdup(a->v.s.ptr);
    }
    f->prompt = metric(&metrics, metrics_ok, "prompt_tokens");
    f->completion = metric(&metrics, metrics_ok, "completion_tokens");
    f->cache_read = metric(&metrics, metrics_ok, "prompt_cached_tokens");
    f->cache_creation = metric(&metrics, metrics_ok, "prompt_cache_creation_tokens");
    int64_t c5 = metric(&metrics, metrics_ok, "prompt_cache_creation_5m_tokens");
    int64_t c1 = metric(&metrics, metrics_ok, "prompt_cache_creation_1h_tokens");
    if (f->cache_creation < 0 && (c5 >= 0 || c1 >= 0))
        f->cache_creation = (c5 > 0 ? c5 : 0) + (c1 > 0 ? c1 : 0);
    f->reasoning = metric(&metrics, metrics_ok, "completion_reasoning_tokens");
    bt__json_doc_free(&meta);
    bt__json_doc_free(&metrics);
    bt__json_doc_free(&sattrs);
}

static void bind_count(sqlite3_stmt *st, int col, int64_t v)
{
    if (v >= 0)
        sqlite3_bind_int64(st, col, v);
    else
        sqlite3_bind_null(st, col);
}

static void bind_text(sqlite3_stmt *st, int col, const char *s)
{
    if (s)
        sqlite3_bind_text(st, col, s, -1, SQLITE_TRANSIENT);
    else
        sqlite3_bind_null(st, col);
}

/* Writes one span row (inside the caller's transaction). */
static int write_span(store_sink *st, const bt__resource *res, const bt_span *s, int64_t stored_ns)
{
    bt__buf_reset(&st->line);
    int rc = bt__otlp_json_span_line(res, s, &st->line);
    if (rc != BT_OK)
        return rc;
    char trace_id[33], span_id[17], parent[17];
    bt__hex_encode(s->trace_id, 16, trace_id);
    bt__hex_encode(s->span_id, 8, span_id);
    bt__hex_encode(s->parent_span_id, 8, parent);
    span_facts f;
    facts_extract(s, &f);
    sqlite3_stmt *u = st->upsert;
    sqlite3_bind_text(u, 1, trace_id, -1, SQLITE_TRANSIENT);
    sqlite3_bind_text(u, 2, span_id, -1, SQLITE_TRANSIENT);
    bind_text(u, 3, s->has_parent ? parent : NULL);
    sqlite3_bind_text(u, 4, s->name ? s->name : "", -1, SQLITE_TRANSIENT);
    sqlite3_bind_int(u, 5, (int)s->kind);
    sqlite3_bind_int64(u, 6, (sqlite3_int64)s->start_unix_nano);
    sqlite3_bind_int64(u, 7, (sqlite3_int64)s->end_unix_nano);
    sqlite3_bind_int(u, 8, (int)s->status_code);
    bind_text(u, 9, s->status_message);
    bind_text(u, 10, f.span_type);
    bind_text(u, 11, f.model);
    bind_count(u, 12, f.prompt);
    bind_count(u, 13, f.completion);
    bind_count(u, 14, f.cache_read);
    bind_count(u, 15, f.cache_creation);
    bind_count(u, 16, f.reasoning);
    sqlite3_bind_text(u, 17, st->line.data, (int)st->line.len, SQLITE_STATIC);
    sqlite3_bind_int64(u, 18, stored_ns);
    rc = sqlite3_step(u) == SQLITE_DONE ? BT_OK : BT_EDB;
    sqlite3_reset(u);
    sqlite3_clear_bindings(u);
    free(f.span_type);
    free(f.model);
    return rc;
}

static void log_db(store_sink *st, const char *what)
{
    bt__log(st->base.log, st->base.log_ud, st->base.log_level, BT_LOG_ERROR, "span store: %s: %s", what,
            sqlite3_errmsg(st->db));
}

static void deadline_ts(uint64_t at_ms, struct timespec *ts)
{
    /* The condition variable waits on CLOCK_MONOTONIC (set in bt_sink_store_new). */
    ts->tv_sec = (time_t)(at_ms / 1000);
    ts->tv_nsec = (long)(at_ms % 1000) * 1000000L;
}

static int is_power_of_two(uint64_t v)
{
    return v && !(v & (v - 1));
}

static void spool_describe(store_sink *st, bt__buf *out)
{
    if (st->spool->vt->describe)
        st->spool->vt->describe(st->spool, out);
    else
        bt__buf_printf(out, "the %s sink", st->spool->vt->name ? st->spool->vt->name : "spool target");
}

/* Logs an attempt's outcome: a failure when a run of them starts or its reason changes,
 * then at 2, 4, 8... attempts; the recovery once. Called without `mu`. */
static void report_attempt(store_sink *st, int rc, const bt__store_ship_result *r, uint64_t next_ms)
{
    bt__buf dest;
    bt__buf_init(&dest, 512);
    spool_describe(st, &dest);
    const char *to = dest.data ? dest.data : "?";
    if (rc == BT_OK) {
        if (st->fail_run)
            bt__log(st->base.log, st->base.log_ud, st->base.log_level, BT_LOG_INFO,
                    "span store: sending to %s works again after %llu failed attempt(s) over %llu s; "
                    "%llu span(s) sent",
                    to, (unsigned long long)st->fail_run,
                    (unsigned long long)((now_ms() - st->fail_since_ms) / 1000),
                    (unsigned long long)r->shipped);
        st->fail_run = 0;
        bt__buf_free(&dest);
        return;
    }
    bt__delivery d;
    memset(&d, 0, sizeof d);
    if (st->spool->vt->delivery)
        st->spool->vt->delivery(st->spool, &d);
    const char *why = rc == BT_EEXPORT && d.last_error[0] ? d.last_error : bt_strerror(rc);
    long key = rc == BT_EEXPORT ? (long)d.last_status * 16 + (long)st->spool->last_kind : (long)rc;
    int fresh = st->fail_run == 0 || key != st->fail_key;
    if (st->fail_run == 0)
        st->fail_since_ms = now_ms();
    st->fail_run++;
    st->fail_key = key;
    if (fresh)
        bt__log(st->base.log, st->base.log_ud, st->base.log_level, BT_LOG_ERROR,
                "span store: sending to %s failed (%s); %llu span(s) kept in %s, next attempt in %llu ms", to,
                why, (unsigned long long)r->pending, st->path, (unsigned long long)next_ms);
    else if (is_power_of_two(st->fail_run))
        bt__log(st->base.log, st->base.log_ud, st->base.log_level, BT_LOG_WARN,
                "span store: sending to %s still failing after %llu attempts over %llu s (%s); %llu span(s) "
                "kept, next attempt in %llu ms",
                to, (unsigned long long)st->fail_run,
                (unsigned long long)((now_ms() - st->fail_since_ms) / 1000), why,
                (unsigned long long)r->pending, (unsigned long long)next_ms);
    bt__buf_free(&dest);
}

/* One shipping attempt; called with `mu` held, returns with it held. */
static void ship_once(store_sink *st)
{
    st->started++;
    st->busy = 1;
    st->wake = 0;
    st->force = 0;
    /* The target logs through the tracer's logger, set on the store when it was added. */
    st->spool->log = st->base.log;
    st->spool->log_ud = st->base.log_ud;
    st->spool->log_level = st->base.log_level;
    pthread_mutex_unlock(&st->mu);
    bt__store_ship_result r;
    int rc = bt__store_ship(st->ship_db, st->spool, 0, SHIP_BATCH, 0, NULL, NULL, &r);
    uint64_t next_ms = 0;
    if (rc != BT_OK) {
        next_ms = st->backoff_ms ? st->backoff_ms * 2 : SHIP_BACKOFF_MIN_MS;
        if (next_ms > SHIP_BACKOFF_MAX_MS)
            next_ms = SHIP_BACKOFF_MAX_MS;
        int64_t asked = rc == BT_EEXPORT ? st->spool->retry_after_ms : -1;
        if (asked >= 0)
            next_ms = (uint64_t)asked < SHIP_RETRY_AFTER_MAX_MS ? (uint64_t)asked : SHIP_RETRY_AFTER_MAX_MS;
    }
    report_attempt(st, rc, &r, next_ms);
    pthread_mutex_lock(&st->mu);
    st->busy = 0;
    st->attempts++;
    st->last_rc = rc;
    st->pending = r.pending;
    st->refused += r.refused;
    if (rc == BT_OK) {
        st->backoff_ms = 0;
        st->retry_at_ms = 0;
    } else {
        /* Spans that arrived during the attempt wait for the backoff too. */
        st->wake = 0;
        /* the doubling goes on from the backoff, not from a Retry-After */
        st->backoff_ms = st->backoff_ms ? st->backoff_ms * 2 : SHIP_BACKOFF_MIN_MS;
        if (st->backoff_ms > SHIP_BACKOFF_MAX_MS)
            st->backoff_ms = SHIP_BACKOFF_MAX_MS;
        st->retry_at_ms = now_ms() + (next_ms ? next_ms : 1);
    }
    pthread_cond_broadcast(&st->cv);
}

/* The shipper: ships when woken (new spans, a flush, start-up) or when a backoff ends.
 * Asked to stop, it makes one last attempt unless the target is failing (the spans
 * are safe in the store either way). */
static void *shipper_main(void *arg)
{
    store_sink *st = arg;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        while (!st->stop && !st->wake && !st->force) {
            if (st->retry_at_ms) {
                struct timespec ts;
                deadline_ts(st->retry_at_ms, &ts);
                pthread_cond_timedwait(&st->cv, &st->mu, &ts);
                if (!st->stop && now_ms() >= st->retry_at_ms)
                    st->wake = 1;
            } else {
                pthread_cond_wait(&st->cv, &st->mu);
            }
        }
        if (st->stop) {
            if (!st->retry_at_ms)
                ship_once(st);
            break;
        }
        ship_once(st);
    }
    pthread_mutex_unlock(&st->mu);
    return NULL;
}

static void shipper_stop(store_sink *st)
{
    if (!st->shipper_running)
        return;
    pthread_mutex_lock(&st->mu);
    st->stop = 1;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
    pthread_join(st->shipper, NULL);
    st->shipper_running = 0;
}

/* The shipper thread, started once the sink's logger is set: when the tracer starts
 * (store_attached), or at the first export or flush of a sink used on its own. It
 * begins by shipping what a previous run left unsent. */
static void shipper_ensure(store_sink *st)
{
    if (!st->spool)
        return;
    pthread_mutex_lock(&st->mu);
    if (!st->shipper_running && !st->stop) {
        st->wake = 1;
        if (pthread_create(&st->shipper, NULL, shipper_main, st) == 0)
            st->shipper_running = 1;
        else
            bt__log(st->base.log, st->base.log_ud, st->base.log_level, BT_LOG_ERROR,
                    "span store: cannot start the shipper thread; spans stay unsent in %s", st->path);
    }
    pthread_mutex_unlock(&st->mu);
}

static void store_attached(bt_sink *sink)
{
    shipper_ensure((store_sink *)sink);
}

static int store_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    store_sink *st = (store_sink *)sink;
    shipper_ensure(st);
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t stored_ns = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
    if (sqlite3_exec(st->db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK) {
        log_db(st, "cannot begin a write");
        return BT_EDB;
    }
    int lost = 0;
    for (size_t i = 0; i < n; i++) {
        int rc = write_span(st, res, spans[i], stored_ns);
        if (rc == BT_OK)
            rc = bt__store_attachments_put(st->db, spans[i], stored_ns);
        if (rc == BT_EDB) {
            log_db(st, "write failed");
            sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
            return BT_EDB;
        }
        if (rc != BT_OK) {
            /* Too large to encode: this span alone is lost, and reported. */
            bt__log(sink->log, sink->log_ud, sink->log_level, BT_LOG_ERROR,
                    "span store: span \"%.80s\" not stored: %s", spans[i]->name ? spans[i]->name : "",
                    bt_strerror(rc));
            lost++;
        }
    }
    if (sqlite3_exec(st->db, "COMMIT;", NULL, NULL, NULL) != SQLITE_OK) {
        log_db(st, "commit failed");
        sqlite3_exec(st->db, "ROLLBACK;", NULL, NULL, NULL);
        return BT_EDB;
    }
    /* Committed: the spans are safe whatever the spool target does now. A failing
     * target is left alone until its backoff ends. */
    if (st->spool) {
        /* The unsent count for the metrics: exact while the backlog is small (the
         * partial index holds only unsent rows, but counting a million of them takes
         * a fifth of a second); beyond that the rows just written are added, and the
         * shipper's next attempt makes it exact again. */
        pthread_mutex_lock(&st->mu);
        uint64_t known = st->pending;
        pthread_mutex_unlock(&st->mu);
        int64_t unsent = -1;
        if (known < STORE_EXACT_COUNT_BELOW) {
            sqlite3_stmt *q = NULL;
            if (sqlite3_prepare_v2(st->db, "SELECT count(*) FROM spans WHERE sent = 0", -1, &q, NULL) ==
                    SQLITE_OK &&
                sqlite3_step(q) == SQLITE_ROW)
                unsent = sqlite3_column_int64(q, 0);
            sqlite3_finalize(q);
        }
        pthread_mutex_lock(&st->mu);
        st->pending = unsent >= 0 ? (uint64_t)unsent : st->pending + (n - (size_t)lost);
        if (!st->retry_at_ms) {
            st->wake = 1;
            pthread_cond_broadcast(&st->cv);
        }
        pthread_mutex_unlock(&st->mu);
    }
    return lost ? BT_EEXPORT : BT_OK;
}

/* Asks for an attempt now (a failing target included) and waits, at most timeout_ms,
 * until an attempt that started after the call ends with nothing left unsent, or
 * fails. (An attempt already under way may have looked before the spans the caller
 * just committed.) */
static int store_flush(bt_sink *sink, int timeout_ms)
{
    store_sink *st = (store_sink *)sink;
    if (!st->spool)
        return BT_OK;
    shipper_ensure(st);
    uint64_t deadline = now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    struct timespec ts;
    deadline_ts(deadline, &ts);
    int rc = BT_OK;
    pthread_mutex_lock(&st->mu);
    for (;;) {
        uint64_t want = st->started + 1; /* attempts run one after the other */
        st->force = 1;
        pthread_cond_broadcast(&st->cv);
        while (st->attempts < want && now_ms() < deadline)
            pthread_cond_timedwait(&st->cv, &st->mu, &ts);
        if (st->attempts < want) {
            rc = BT_ETIMEDOUT;
            break;
        }
        if (st->last_rc != BT_OK) {
            rc = BT_EEXPORT;
            break;
        }
        if (st->pending == 0)
            break; /* spans that arrived during an attempt get another one */
    }
    pthread_mutex_unlock(&st->mu);
    if (rc == BT_OK && st->spool->vt->flush) {
        int64_t left = (int64_t)deadline - (int64_t)now_ms();
        rc = st->spool->vt->flush(st->spool, left > 0 ? (int)left : 0);
    }
    return rc;
}

static void store_shutdown(bt_sink *sink)
{
    store_sink *st = (store_sink *)sink;
    if (!st->spool)
        return;
    shipper_ensure(st); /* its last attempt ships what is pending */
    shipper_stop(st);
    if (st->spool->vt->shutdown)
        st->spool->vt->shutdown(st->spool);
}

static void store_free(bt_sink *sink)
{
    store_sink *st = (store_sink *)sink;
    shipper_stop(st);
    sqlite3_finalize(st->upsert);
    if (st->db)
        sqlite3_close(st->db);
    if (st->ship_db)
        sqlite3_close(st->ship_db);
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
    bt_sink_free(st->spool);
    bt__buf_free(&st->line);
    free(st->path);
    free(st);
}

static void store_delivery(bt_sink *sink, bt__delivery *out)
{
    store_sink *st = (store_sink *)sink;
    if (!st->spool)
        return;
    if (st->spool->vt->delivery)
        st->spool->vt->delivery(st->spool, out);
    pthread_mutex_lock(&st->mu);
    out->spooled += st->pending;
    out->rejected += st->refused;
    pthread_mutex_unlock(&st->mu);
}

static void store_describe(bt_sink *sink, bt__buf *out)
{
    store_sink *st = (store_sink *)sink;
    bt__buf_printf(out, "the span store %s", st->path);
    if (st->spool) {
        bt__buf_append_str(out, ", sent on from there to ");
        spool_describe(st, out);
    }
}

static const bt__sink_vtable store_vt = {
    .attached = store_attached,
    .delivery = store_delivery,
    .describe = store_describe,
    .name = "store",
    .export_spans = store_export,
    .flush = store_flush,
    .shutdown = store_shutdown,
    .free = store_free,
    .local = 1, /* the commit; shipping to a spool target is the shipper thread's */
};

/* The shipper's connection and thread; it starts by shipping what a previous run left
 * unsent. */
/* The shipper's connection, opened with the sink so that a bad file is reported at
 * once. */
static int spool_open(store_sink *st, const char *path)
{
    int rc = bt__store_open(path, BT__STORE_READ_WRITE, &st->ship_db, NULL);
    if (rc != BT_OK)
        return rc;
    sqlite3_exec(st->ship_db, "PRAGMA synchronous=FULL;", NULL, NULL, NULL);
    return BT_OK;
}

int bt_sink_store_new(const char *path, bt_sink *spool_to, bt_sink **out)
{
    if (!out) {
        bt_sink_free(spool_to);
        return BT_EINVAL;
    }
    *out = NULL;
    store_sink *st = calloc(1, sizeof *st);
    if (!st) {
        bt_sink_free(spool_to);
        return BT_ENOMEM;
    }
    st->base.vt = &store_vt;
    st->spool = spool_to;
    if (spool_to)
        spool_to->single_attempt = 1; /* the shipper retries, on its own schedule */
    st->path = strdup(path ? path : "");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    bt__buf_init(&st->line, STORE_MAX_LINE);
    int rc = st->path ? bt__store_open(path, BT__STORE_CREATE, &st->db, NULL) : BT_ENOMEM;
    if (rc == BT_OK) {
        /* A spool promises that a committed span survives: sync the WAL on commit. */
        const char *sync = spool_to ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;";
        if (sqlite3_exec(st->db, sync, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_exec(st->db, STORE_WRITER_PRAGMAS, NULL, NULL, NULL) != SQLITE_OK ||
            sqlite3_prepare_v2(st->db, UPSERT, -1, &st->upsert, NULL) != SQLITE_OK ||
            bt__store_attachments_prepare(st->db) != BT_OK)
            rc = BT_EDB;
    }
    st->base.keeps_attachments = 1; /* bt-spans writes them back out */
    if (rc == BT_OK && spool_to)
        rc = spool_open(st, path);
    if (rc != BT_OK) {
        store_free(&st->base);
        return rc;
    }
    *out = &st->base;
    return BT_OK;
}
