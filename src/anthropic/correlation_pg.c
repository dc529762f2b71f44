/*
 * The PostgreSQL backend of the batch correlation store (see correlation.h and
 * correlation_pg.h): what lets several replicas share batch inputs.
 *
 * The callers are the proxy's forwarding loop (through exchange processing), so
 * nothing here may make them wait on the network for long:
 *   - Writes (put, rekey, drop, put_batch) are copied onto a FIFO queue (at most
 *     BT__CORR_PG_QUEUE_MAX bytes, else refused and counted) and return at once. One
 *     thread owns the connection and runs queued writes in pipelined transactions of up
 *     to WRITES_PER_TXN, so a 100,000-request create is about a hundred round trips.
 *   - Reads (get, get_batch) go through the same queue (so a process always reads its
 *     own earlier writes) and wait at most BT__CORR_PG_READ_WAIT_MS. While the database
 *     is unreachable, or after a read timed out and until the thread answers again,
 *     reads fail at once: the batch child is traced without its input, and traffic
 *     never waits.
 *   - A read that goes to the database also fetches its neighbours in write order (a
 *     window of up to 2 * MAX_HALF_WINDOW entries and READ_AHEAD_BUDGET bytes), since
 *     results files follow the request order, forwards or backwards, more often than
 *     not; the next lookups are then answered from memory. The window grows while it
 *     serves lookups and shrinks when it does not (random orders), so a miss never
 *     costs much more than a single-row query.
 * The thread reconnects with exponential backoff (RETRY_MIN_MS..RETRY_MAX_MS), logs
 * each change between reachable and unreachable once, and purges expired rows at
 * connection and every PURGE_EVERY_NS. On close it keeps writing what is queued for
 * at most DRAIN_MS.
 */
#include "anthropic/correlation.h"

#ifdef BT_HAVE_LIBPQ

#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "anthropic/correlation_pg.h"
#include "braintrust/common.h"
#include "util/timefmt.h"

#define MS ((uint64_t)1000000)
#define CONNECT_WAIT_MS 5000    /* one connection attempt, schema included */
#define OPEN_WAIT_MS 3000       /* the opener waits this long for the first attempt */
#define STATEMENT_WAIT_MS 30000 /* one transaction or query on a connected link */
#define DRAIN_MS 3000           /* writing what is queued, when closing */
#define RETRY_MIN_MS 100
#define RETRY_MAX_MS 5000
#define WRITES_PER_TXN 1000
#define TXN_BYTES_MAX ((size_t)8 << 20)
#define WRITE_ATTEMPTS 5
#define PURGE_EVERY_NS (3600ull * 1000 * MS)
#define SIZE_CHECK_EVERY_PUTS 10000
#define MAX_HALF_WINDOW 128
#define START_HALF_WINDOW 16
#define READ_AHEAD_BUDGET ((size_t)4 << 20)
#define READ_AHEAD_TTL_NS (30000 * MS)
#define WAIT_OP_MS 10000 /* purge and sync, which are not on the forwarding path */
#define ERROR_LOG_EVERY_NS (60000 * MS)

typedef struct pg_op {
    struct pg_op *next;
    bt__pg_kind kind;
    char *a, *b, *data;
    size_t len;
    int ended;
    uint64_t now;
    int attempts;
    /* callers waiting for an answer */
    uint64_t gen; /* write generation when the read was queued */
    int done, abandoned, rc;
    char *out;
    size_t out_len;
    int64_t removed;
} pg_op;

/* The read-ahead window: entries of one key, found by custom_id. */
typedef struct window_row {
    char *custom_id;
    char *entry;
    size_t len;
} window_row;

typedef struct window {
    char *key;
    window_row *rows;
    size_t n, cap, bytes;
    size_t hits;
    uint64_t filled; /* monotonic ns */
} window;

typedef struct pg_store {
    pthread_mutex_t mu;
    pthread_cond_t work;     /* the queue or the state changed: the thread looks */
    pthread_cond_t answered; /* an operation was answered: its caller looks */
    pthread_t thread;
    int wake[2]; /* written on close: cuts the thread's socket waits short */
    _Atomic uint64_t abort_at;
    bt_tracer *tracer;
    char *url;
    char where[256]; /* for logs: no password */

    pg_op *head, *tail;
    size_t queued_bytes;
    uint64_t writes_queued;
    uint64_t write_gen;

    int available;      /* connected and answering */
    int stalled;        /* a read timed out: reads fail fast until the thread answers again */
    int first_attempt;  /* the first connection attempt is over */
    int ever_connected; /* for the log: "unreachable" vs "lost" */
    int full;           /* the entries table is over BT__CORR_PG_TOTAL_MAX */
    int stopping;
    unsigned puts_since_size_check;

    uint64_t async_errors, async_dropped, read_queries, connects;
    uint64_t last_error_log;

    window win;
    int half_window;
    int read_wait_ms;
} pg_store;

static uint64_t mono(void)
{
    return bt__monotonic_nano();
}

static uint64_t clock_now(const pg_store *s)
{
    return s->tracer ? bt_tracer_now(s->tracer) : bt__now_unix_nano();
}

/* Logs "batch correlation store <where>: <message>". */
static void log_msg(pg_store *s, bt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void log_msg(pg_store *s, bt_log_level level, const char *fmt, ...)
{
    if (!s->tracer)
        return;
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    bt_tracer_log(s->tracer, level, "batch correlation store %s: %s", s->where, msg);
}

/* ---- the read-ahead window (under s->mu) ---- */

static void window_clear(window *w)
{
    for (size_t i = 0; i < w->n; i++) {
        free(w->rows[i].custom_id);
        free(w->rows[i].entry);
    }
    free(w->rows);
    free(w->key);
    memset(w, 0, sizeof *w);
}

static void window_add(void *ud, const char *custom_id, size_t id_len, const char *entry, size_t len)
{
    window *w = ud;
    if (w->n == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 32;
        window_row *rows = realloc(w->rows, cap * sizeof *rows);
        if (!rows)
            return;
        w->rows = rows;
        w->cap = cap;
    }
    window_row *r = &w->rows[w->n];
    r->custom_id = malloc(id_len + 1);
    r->entry = malloc(len + 1);
    if (!r->custom_id || !r->entry) {
        free(r->custom_id);
        free(r->entry);
        return;
    }
    memcpy(r->custom_id, custom_id, id_len);
    r->custom_id[id_len] = '\0';
    memcpy(r->entry, entry, len);
    r->entry[len] = '\0';
    r->len = len;
    w->bytes += len;
    w->n++;
}

static const window_row *window_find(const window *w, const char *key, const char *custom_id)
{
    if (!w->key || strcmp(w->key, key) != 0 || mono() - w->filled > READ_AHEAD_TTL_NS)
        return NULL;
    for (size_t i = 0; i < w->n; i++)
        if (strcmp(w->rows[i].custom_id, custom_id) == 0)
            return &w->rows[i];
    return NULL;
}

/* A write that may change entries under `key`: the window of that key is stale. */
static void window_invalidate(pg_store *s, const char *key)
{
    s->write_gen++;
    if (s->win.key && (!key || strcmp(s->win.key, key) == 0))
        window_clear(&s->win);
}

/* ---- the queue (under s->mu) ---- */

static size_t op_bytes(const pg_op *op)
{
    return sizeof *op + op->len + (op->a ? strlen(op->a) : 0) + (op->b ? strlen(op->b) : 0);
}

static int is_write(const pg_op *op)
{
    return op->kind <= BT__PG_PUT_BATCH;
}

static void op_free(pg_op *op)
{
    if (!op)
        return;
    free(op->a);
    free(op->b);
    free(op->data);
    free(op->out);
    free(op);
}

static pg_op *op_new(bt__pg_kind kind, const char *a, const char *b, const char *data, size_t len)
{
    pg_op *op = calloc(1, sizeof *op);
    if (!op)
        return NULL;
    op->kind = kind;
    op->a = a ? strdup(a) : NULL;
    op->b = b ? strdup(b) : NULL;
    op->data = data ? malloc(len ? len : 1) : NULL;
    op->len = len;
    if ((a && !op->a) || (b && !op->b) || (data && !op->data)) {
        op_free(op);
        return NULL;
    }
    if (data && len)
        memcpy(op->data, data, len);
    return op;
}

static void push_tail(pg_store *s, pg_op *op)
{
    op->next = NULL;
    if (s->tail)
        s->tail->next = op;
    else
        s->head = op;
    s->tail = op;
}

/* Puts a list of operations back at the head, in order. */
static void push_front(pg_store *s, pg_op *list)
{
    if (!list)
        return;
    pg_op *last = list;
    while (last->next)
        last = last->next;
    last->next = s->head;
    if (!s->head)
        s->tail = last;
    s->head = list;
}

/* Answers a waiting operation; frees it when its caller gave up. */
static void answer(pg_store *s, pg_op *op, int rc)
{
    if (op->abandoned) {
        op_free(op);
        return;
    }
    op->rc = rc;
    op->done = 1;
    pthread_cond_broadcast(&s->answered);
}

static void write_done(pg_store *s, pg_op *op, int stored)
{
    s->queued_bytes -= op_bytes(op);
    s->writes_queued--;
    if (!stored) {
        s->async_errors++;
        s->async_dropped++;
    }
    op_free(op);
}

/* Reads and purges cannot wait for a connection: answered with an error. Writes and
 * sync points stay queued for the next connection. */
static void fail_waiting_reads(pg_store *s)
{
    pg_op *keep = NULL, **tail = &keep;
    for (pg_op *op = s->head, *next; op; op = next) {
        next = op->next;
        op->next = NULL;
        if (is_write(op) || op->kind == BT__PG_SYNC) {
            *tail = op;
            tail = &op->next;
        } else {
            answer(s, op, BT_EDB);
        }
    }
    s->head = keep;
    s->tail = NULL;
    for (pg_op *op = keep; op; op = op->next)
        s->tail = op;
}

static int enqueue_write(pg_store *s, pg_op *op)
{
    if (!op)
        return BT_ENOMEM;
    size_t bytes = op_bytes(op);
    pthread_mutex_lock(&s->mu);
    int rc = BT_OK;
    if (s->stopping)
        rc = BT_ESTATE;
    else if (op->kind == BT__PG_PUT && s->full)
        rc = BT_ELIMIT;
    else if (s->queued_bytes + bytes > BT__CORR_PG_QUEUE_MAX)
        rc = BT_ELIMIT;
    if (rc == BT_OK) {
        if (op->kind != BT__PG_PUT_BATCH)
            window_invalidate(s, op->kind == BT__PG_REKEY ? NULL : op->a);
        s->queued_bytes += bytes;
        s->writes_queued++;
        push_tail(s, op);
        pthread_cond_signal(&s->work);
    }
    pthread_mutex_unlock(&s->mu);
    if (rc != BT_OK)
        op_free(op);
    return rc;
}

/* Queues `op` and waits up to wait_ms for its answer (under s->mu). On timeout the op is
 * left to the thread, which frees it. */
static int enqueue_and_wait(pg_store *s, pg_op *op, int wait_ms, int stall_on_timeout)
{
    op->gen = s->write_gen;
    push_tail(s, op);
    pthread_cond_signal(&s->work);
    struct timespec until;
    clock_gettime(CLOCK_MONOTONIC, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    while (!op->done && pthread_cond_timedwait(&s->answered, &s->mu, &until) == 0) {
    }
    if (!op->done) {
        op->abandoned = 1;
        if (stall_on_timeout && !s->stalled) {
            s->stalled = 1;
            s->available = 0;
            log_msg(s, BT_LOG_WARN,
                    "no answer within %d ms; batch results are traced without their inputs until it "
                    "answers again",
                    wait_ms);
        }
        return BT_ETIMEDOUT;
    }
    return BT_OK;
}

/* ---- the operations ---- */

static int pg_put(void *be, const char *key, const char *custom_id, const char *entry, size_t len,
                  uint64_t now)
{
    pg_op *op = op_new(BT__PG_PUT, key, custom_id, entry, len);
    if (op)
        op->now = now;
    return enqueue_write(be, op);
}

static int pg_rekey(void *be, const char *from_key, const char *to_key)
{
    return enqueue_write(be, op_new(BT__PG_REKEY, from_key, to_key, NULL, 0));
}

static int pg_drop(void *be, const char *key)
{
    return enqueue_write(be, op_new(BT__PG_DROP, key, NULL, NULL, 0));
}

static int pg_put_batch(void *be, const char *batch_id, const char *json, size_t len, int ended, uint64_t now)
{
    pg_op *op = op_new(BT__PG_PUT_BATCH, batch_id, NULL, json, len);
    if (op) {
        op->ended = ended;
        op->now = now;
    }
    return enqueue_write(be, op);
}

/* A read: from the window, else from the database within the read wait, else an
 * error at once. */
static int read_op(pg_store *s, bt__pg_kind kind, const char *a, const char *b, uint64_t now, char **out,
                   size_t *len_out)
{
    pthread_mutex_lock(&s->mu);
    if (kind == BT__PG_GET) {
        const window_row *r = window_find(&s->win, a, b);
        if (r) {
            s->win.hits++;
            *out = malloc(r->len + 1);
            if (*out) {
                memcpy(*out, r->entry, r->len + 1);
                if (len_out)
                    *len_out = r->len;
            }
            pthread_mutex_unlock(&s->mu);
            return *out ? BT_OK : BT_ENOMEM;
        }
    }
    if (!s->available || s->stalled || s->stopping) {
        int rc = s->stalled ? BT_ETIMEDOUT : BT_EDB;
        pthread_mutex_unlock(&s->mu);
        return rc;
    }
    pg_op *op = op_new(kind, a, b, NULL, 0);
    if (!op) {
        pthread_mutex_unlock(&s->mu);
        return BT_ENOMEM;
    }
    op->now = now;
    int rc = enqueue_and_wait(s, op, s->read_wait_ms, 1);
    if (rc == BT_OK) {
        rc = op->rc;
        if (rc == BT_OK) {
            *out = op->out;
            op->out = NULL;
            if (len_out)
                *len_out = op->out_len;
        }
        op_free(op);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int pg_get(void *be, const char *key, const char *custom_id, uint64_t now, char **entry_out,
                  size_t *len_out)
{
    return read_op(be, BT__PG_GET, key, custom_id, now, entry_out, len_out);
}

static int pg_get_batch(void *be, const char *batch_id, uint64_t now, char **json_out)
{
    return read_op(be, BT__PG_GET_BATCH, batch_id, NULL, now, json_out, NULL);
}

/* Purge and sync wait longer: they are maintenance, not traffic. */
static int wait_op(pg_store *s, bt__pg_kind kind, uint64_t now, int wait_ms, int64_t *removed)
{
    pthread_mutex_lock(&s->mu);
    if (kind == BT__PG_PURGE && !s->available) {
        pthread_mutex_unlock(&s->mu);
        return BT_EDB;
    }
    pg_op *op = op_new(kind, NULL, NULL, NULL, 0);
    if (!op) {
        pthread_mutex_unlock(&s->mu);
        return BT_ENOMEM;
    }
    op->now = now;
    int rc = enqueue_and_wait(s, op, wait_ms, 0);
    if (rc == BT_OK) {
        rc = op->rc;
        if (removed)
            *removed = op->removed;
        op_free(op);
    }
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static int pg_purge(void *be, uint64_t now)
{
    int64_t removed = 0;
    int rc = wait_op(be, BT__PG_PURGE, now, WAIT_OP_MS, &removed);
    return rc == BT_OK ? (int)(removed > 1000000000 ? 1000000000 : removed) : rc;
}

static int pg_sync(void *be, int timeout_ms)
{
    return wait_op(be, BT__PG_SYNC, 0, timeout_ms > 0 ? timeout_ms : 1, NULL);
}

static void pg_set_read_wait(void *be, int ms)
{
    pg_store *s = be;
    pthread_mutex_lock(&s->mu);
    s->read_wait_ms = ms;
    pthread_mutex_unlock(&s->mu);
}

static void pg_stats(void *be, bt_correlation_stats *out)
{
    pg_store *s = be;
    pthread_mutex_lock(&s->mu);
    out->available = s->available && !s->stalled;
    out->writes_queued = s->writes_queued;
    out->errors = s->async_errors;
    out->writes_dropped = s->async_dropped;
    out->read_queries = s->read_queries;
    out->connects = s->connects;
    pthread_mutex_unlock(&s->mu);
}

/* ---- the thread ---- */

/* Takes the next unit of work: a run of writes (one transaction), or one other op. */
static pg_op *take_work(pg_store *s, size_t *n_out)
{
    pg_op *first = s->head;
    size_t n = 1, bytes = first->len;
    pg_op *last = first;
    if (is_write(first))
        while (last->next && is_write(last->next) && n < WRITES_PER_TXN &&
               bytes + last->next->len <= TXN_BYTES_MAX) {
            last = last->next;
            bytes += last->len;
            n++;
        }
    s->head = last->next;
    if (!s->head)
        s->tail = NULL;
    last->next = NULL;
    *n_out = n;
    return first;
}

static void note_error(pg_store *s, const char *what, const char *err)
{
    uint64_t now = mono();
    if (s->last_error_log && now - s->last_error_log < ERROR_LOG_EVERY_NS)
        return;
    s->last_error_log = now;
    log_msg(s, BT_LOG_ERROR, "%s: %s", what, err);
}

/* Runs a run of writes; on a refused transaction, each write alone, so one bad row
 * does not cost the others. Writes that met a lost connection or a transient refusal
 * go back to the head of the queue (WRITE_ATTEMPTS at most). Returns BT__PG_LOST when
 * the link must be dropped. Called without the lock. */
static int run_writes(pg_store *s, bt__pg_link *link, pg_op *list, size_t n)
{
    static _Thread_local bt__pg_write w[WRITES_PER_TXN];
    static _Thread_local int result[WRITES_PER_TXN];
    size_t i = 0;
    for (pg_op *op = list; op; op = op->next, i++)
        w[i] = (bt__pg_write){op->kind, op->a, op->b, op->data, op->len, op->ended, op->now};
    char err[256] = "";
    int rc = bt__pg_link_write(link, w, n, mono() + STATEMENT_WAIT_MS * MS, err, sizeof err);
    for (i = 0; i < n; i++)
        result[i] = rc;
    if (rc == BT__PG_REFUSED && n > 1)
        for (i = 0; i < n; i++)
            result[i] = rc == BT__PG_LOST
                ? BT__PG_LOST
                : (rc = bt__pg_link_write(link, &w[i], 1, mono() + STATEMENT_WAIT_MS * MS, err, sizeof err));
    pthread_mutex_lock(&s->mu);
    pg_op *retry = NULL, **tail = &retry;
    int lost = 0, refused = 0;
    i = 0;
    for (pg_op *op = list, *next; op; op = next, i++) {
        next = op->next;
        op->next = NULL;
        lost |= result[i] == BT__PG_LOST;
        refused |= result[i] == BT__PG_REFUSED || result[i] == BT__PG_TRANSIENT;
        if (result[i] == BT__PG_OK) {
            if (op->kind == BT__PG_PUT)
                s->puts_since_size_check++;
            write_done(s, op, 1);
        } else if (result[i] == BT__PG_REFUSED || ++op->attempts >= WRITE_ATTEMPTS) {
            write_done(s, op, 0);
        } else {
            *tail = op;
            tail = &op->next;
        }
    }
    push_front(s, retry);
    if (refused)
        note_error(s, "write refused", err);
    pthread_mutex_unlock(&s->mu);
    return lost ? BT__PG_LOST : BT__PG_OK;
}

/* A read: the answer and, for entries, the read-ahead window. Called without the lock. */
static int run_read(pg_store *s, bt__pg_link *link, pg_op *op)
{
    char err[256] = "";
    uint64_t deadline = mono() + STATEMENT_WAIT_MS * MS;
    int64_t cutoff = bt__corr_cutoff(op->now);
    int rc;
    window w = {0};
    char *json = NULL;
    int64_t removed = 0;
    int half = 0;
    if (op->kind == BT__PG_GET) {
        pthread_mutex_lock(&s->mu);
        /* Grow the window while it serves lookups, shrink it when it does not. */
        if (s->win.filled && s->win.n > 1) {
            if (s->win.hits * 4 >= s->win.n)
                s->half_window = s->half_window * 2 > MAX_HALF_WINDOW ? MAX_HALF_WINDOW : s->half_window * 2;
            else if (s->half_window > 1)
                s->half_window /= 2;
        }
        half = s->half_window;
        s->read_queries++;
        pthread_mutex_unlock(&s->mu);
        size_t rows = 0;
        rc = bt__pg_link_get_window(link, op->a, op->b, cutoff, half, READ_AHEAD_BUDGET, window_add, &w,
                                    &rows, deadline, err, sizeof err);
    } else if (op->kind == BT__PG_GET_BATCH) {
        rc = bt__pg_link_get_batch(link, op->a, cutoff, &json, deadline, err, sizeof err);
    } else {
        rc = bt__pg_link_purge(link, cutoff, &removed, deadline, err, sizeof err);
    }
    pthread_mutex_lock(&s->mu);
    int result = BT_EDB;
    if (rc == BT__PG_OK) {
        result = BT_ENOTFOUND;
        if (op->kind == BT__PG_GET && w.n > 0 && strcmp(w.rows[0].custom_id, op->b) == 0) {
            op->out = malloc(w.rows[0].len + 1);
            if (op->out) {
                memcpy(op->out, w.rows[0].entry, w.rows[0].len + 1);
                op->out_len = w.rows[0].len;
            }
            result = op->out ? BT_OK : BT_ENOMEM;
            if (op->gen == s->write_gen && w.n > 1) { /* no write since: the window is current */
                window_clear(&s->win);
                s->win = w;
                s->win.key = strdup(op->a);
                s->win.filled = mono();
                s->win.hits = 0;
                memset(&w, 0, sizeof w);
            }
        } else if (op->kind == BT__PG_GET_BATCH && json) {
            op->out = json;
            json = NULL;
            result = BT_OK;
        } else if (op->kind == BT__PG_PURGE) {
            op->removed = removed;
            result = BT_OK;
        }
    } else {
        note_error(s, "read failed", err);
    }
    answer(s, op, result);
    if (s->win.key == NULL && s->win.rows) /* strdup failed */
        window_clear(&s->win);
    pthread_mutex_unlock(&s->mu);
    window_clear(&w);
    free(json);
    return rc == BT__PG_LOST ? BT__PG_LOST : BT__PG_OK;
}

/* Purge and size check, when idle. Called without the lock. */
static int maintain(pg_store *s, bt__pg_link *link)
{
    char err[256] = "";
    int64_t removed = 0;
    uint64_t bytes = 0;
    uint64_t deadline = mono() + STATEMENT_WAIT_MS * MS;
    int rc = bt__pg_link_purge(link, bt__corr_cutoff(clock_now(s)), &removed, deadline, err, sizeof err);
    if (rc == BT__PG_OK)
        rc = bt__pg_link_entries_size(link, &bytes, deadline, err, sizeof err);
    pthread_mutex_lock(&s->mu);
    if (rc == BT__PG_OK) {
        int full = bytes > BT__CORR_PG_TOTAL_MAX;
        if (full && !s->full)
            log_msg(s, BT_LOG_ERROR, "full (%llu bytes); new batch inputs are not kept until entries expire",
                    (unsigned long long)bytes);
        s->full = full;
        s->puts_since_size_check = 0;
    } else {
        note_error(s, "maintenance failed", err);
    }
    pthread_mutex_unlock(&s->mu);
    return rc == BT__PG_LOST ? BT__PG_LOST : BT__PG_OK;
}

static void timed_wait(pg_store *s, uint64_t until_mono)
{
    uint64_t now = mono();
    if (until_mono <= now)
        return;
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (until_mono - now);
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    pthread_cond_timedwait(&s->work, &s->mu, &ts);
}

static void *run_thread(void *arg)
{
    pg_store *s = arg;
    bt__pg_link *link = NULL;
    uint64_t retry_ms = RETRY_MIN_MS, next_attempt = 0, next_purge = 0;
    pthread_mutex_lock(&s->mu);
    for (;;) {
        if (s->stopping && (!link || !s->head || mono() >= atomic_load(&s->abort_at)))
            break;
        if (!link) {
            if (mono() < next_attempt) {
                timed_wait(s, next_attempt);
                continue;
            }
            pthread_mutex_unlock(&s->mu);
            char err[256] = "";
            int version = 0;
            int rc = bt__pg_link_open(s->url, s->wake[0], &s->abort_at, mono() + CONNECT_WAIT_MS * MS, &link,
                                      &version, err, sizeof err);
            pthread_mutex_lock(&s->mu);
            s->first_attempt = 1;
            pthread_cond_broadcast(&s->answered);
            if (rc != BT__PG_OK) {
                /* Once per outage, then a reminder a minute. */
                if (!s->last_error_log || mono() - s->last_error_log >= ERROR_LOG_EVERY_NS) {
                    s->last_error_log = mono();
                    log_msg(s, BT_LOG_ERROR,
                            "unreachable (%s); batch results are traced without their inputs until it is "
                            "back, retrying",
                            err);
                }
                s->available = 0;
                fail_waiting_reads(s);
                next_attempt = mono() + retry_ms * MS;
                retry_ms = retry_ms * 2 > RETRY_MAX_MS ? RETRY_MAX_MS : retry_ms * 2;
                continue;
            }
            /* A first connection is routine; a newer schema or a return after an outage
             * is worth an operator's eye. */
            log_msg(s,
                    version > BT__PG_SCHEMA_VERSION || s->ever_connected || s->last_error_log ? BT_LOG_WARN
                                                                                              : BT_LOG_INFO,
                    "connected (schema version %d%s)", version,
                    version > BT__PG_SCHEMA_VERSION ? ", newer than this build: used as it is" : "");
            s->available = 1;
            s->stalled = 0;
            s->ever_connected = 1;
            s->last_error_log = 0;
            s->connects++;
            retry_ms = RETRY_MIN_MS;
            next_purge = 0;
            continue;
        }
        if (!s->head) {
            if (s->stopping)
                break;
            if (mono() >= next_purge || s->puts_since_size_check >= SIZE_CHECK_EVERY_PUTS) {
                pthread_mutex_unlock(&s->mu);
                int rc = maintain(s, link);
                pthread_mutex_lock(&s->mu);
                next_purge = mono() + PURGE_EVERY_NS;
                if (rc == BT__PG_LOST)
                    goto lost;
                continue;
            }
            timed_wait(s, next_purge);
            continue;
        }
        size_t n = 0;
        pg_op *work = take_work(s, &n);
        if (work->kind == BT__PG_SYNC) {
            answer(s, work, BT_OK); /* every write queued before it is in */
            continue;
        }
        pthread_mutex_unlock(&s->mu);
        int rc = is_write(work) ? run_writes(s, link, work, n) : run_read(s, link, work);
        pthread_mutex_lock(&s->mu);
        if (rc != BT__PG_LOST) {
            if (s->stalled) {
                s->stalled = 0;
                log_msg(s, BT_LOG_WARN, "answering again");
            }
            s->available = 1;
            continue;
        }
    lost:
        bt__pg_link_close(link);
        link = NULL;
        if (!s->stopping) {
            log_msg(s, BT_LOG_ERROR,
                    "connection lost; batch results are traced without their inputs until "
                    "it is back, reconnecting");
            s->last_error_log = mono();
        }
        s->available = 0;
        fail_waiting_reads(s);
        next_attempt = mono() + retry_ms * MS;
    }
    /* Closing: what could not be written in time is given up. */
    while (s->head) {
        pg_op *op = s->head;
        s->head = op->next;
        op->next = NULL;
        if (is_write(op))
            write_done(s, op, 0);
        else
            answer(s, op, BT_EDB);
    }
    s->tail = NULL;
    s->available = 0;
    pthread_mutex_unlock(&s->mu);
    bt__pg_link_close(link);
    return NULL;
}

static void store_free(pg_store *s)
{
    window_clear(&s->win);
    if (s->wake[0] >= 0)
        close(s->wake[0]);
    if (s->wake[1] >= 0)
        close(s->wake[1]);
    pthread_cond_destroy(&s->work);
    pthread_cond_destroy(&s->answered);
    pthread_mutex_destroy(&s->mu);
    free(s->url);
    free(s);
}

int bt__corr_pg_open(const char *url, bt_tracer *t, void **be, char *err, size_t err_size)
{
    *be = NULL;
    if (bt__pg_check_url(url, err, err_size) != BT__PG_OK)
        return BT_EINVAL;
    pg_store *s = calloc(1, sizeof *s);
    if (!s)
        return BT_ENOMEM;
    s->wake[0] = s->wake[1] = -1;
    s->tracer = t;
    s->half_window = START_HALF_WINDOW;
    s->read_wait_ms = BT__CORR_PG_READ_WAIT_MS;
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->work, &ca);
    pthread_cond_init(&s->answered, &ca);
    pthread_condattr_destroy(&ca);
    bt__pg_describe(url, s->where, sizeof s->where);
    if (!(s->url = strdup(url)) || pipe(s->wake) != 0 || fcntl(s->wake[0], F_SETFL, O_NONBLOCK) != 0 ||
        fcntl(s->wake[0], F_SETFD, FD_CLOEXEC) != 0 || fcntl(s->wake[1], F_SETFD, FD_CLOEXEC) != 0 ||
        pthread_create(&s->thread, NULL, run_thread, s) != 0) {
        snprintf(err, err_size, "cannot start the store's thread");
        store_free(s);
        return BT_ENOMEM;
    }
    /* The first attempt, so that a reachable database is in use from the first request. */
    pthread_mutex_lock(&s->mu);
    uint64_t until = mono() + OPEN_WAIT_MS * MS;
    while (!s->first_attempt && mono() < until) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += 50 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&s->answered, &s->mu, &ts);
    }
    pthread_mutex_unlock(&s->mu);
    *be = s;
    return BT_OK;
}

static void pg_close(void *be)
{
    pg_store *s = be;
    pthread_mutex_lock(&s->mu);
    s->stopping = 1;
    atomic_store(&s->abort_at, mono() + DRAIN_MS * MS);
    pthread_cond_broadcast(&s->work);
    pthread_mutex_unlock(&s->mu);
    ssize_t w = write(s->wake[1], "x", 1);
    (void)w;
    pthread_join(s->thread, NULL);
    store_free(s);
}

const bt__corr_ops bt__corr_pg_ops = {
    .name = "postgresql",
    .put = pg_put,
    .rekey = pg_rekey,
    .drop = pg_drop,
    .get = pg_get,
    .put_batch = pg_put_batch,
    .get_batch = pg_get_batch,
    .purge = pg_purge,
    .sync = pg_sync,
    .stats = pg_stats,
    .set_read_wait = pg_set_read_wait,
    .close = pg_close,
};

#else /* built without libpq */

#include <stdio.h>

int bt__corr_pg_open(const char *url, bt_tracer *t, void **be, char *err, size_t err_size)
{
    (void)url;
    (void)t;
    *be = NULL;
    snprintf(err, err_size, "this build of the library has no PostgreSQL support (libpq)");
    return BT_EUNSUPPORTED;
}

const bt__corr_ops bt__corr_pg_ops = {.name = "postgresql"};
#endif
