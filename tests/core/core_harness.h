/*
 * Test doubles for the core tests: a sink whose exports can be blocked or made to fail
 * and that records what reached it (into a state struct the test owns, so it can be
 * read after the tracer has freed the sink), and a logger that keeps every message.
 * Core tests cannot link the export layer, so the tracer is started with
 * bt__tracer_run() instead of bt_tracer_start().
 */
#ifndef BT_TEST_CORE_HARNESS_H
#define BT_TEST_CORE_HARNESS_H

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/sink_internal.h"
#include "core/tracer_internal.h"

typedef struct sink_state {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int block;        /* exports wait while this is set */
    int blocked_now;  /* an export is waiting */
    int fail_exports; /* this many next exports fail */
    int fail_flush;   /* flush() fails while set */
    int delay_ms;     /* each export takes this long (real time) */
    bt_tracer *clock; /* with a manual clock: each export moves it by advance_ms */
    int advance_ms;
    size_t calls, spans, max_batch, max_batch_bytes, flushes;
    int64_t sum_i; /* sum of the int attribute "i" over exported spans */
    char last_name[64];
    struct {
        char name[64];
        char parent[64]; /* the braintrust.parent attribute, "" when absent */
        uint64_t start, end;
    } rec[16]; /* the first 16 spans delivered */
    int shutdown, freed;
} sink_state;

typedef struct test_sink {
    bt_sink base;
    sink_state *st;
} test_sink;

static inline void sink_state_init(sink_state *st)
{
    memset(st, 0, sizeof *st);
    pthread_mutex_init(&st->mu, NULL);
    pthread_cond_init(&st->cv, NULL);
}

static inline void sink_state_destroy(sink_state *st)
{
    pthread_mutex_destroy(&st->mu);
    pthread_cond_destroy(&st->cv);
}

static inline void sink_set_block(sink_state *st, int block)
{
    pthread_mutex_lock(&st->mu);
    st->block = block;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

/* Waits (bounded, 10 s) until an export is parked on the block. */
static inline int sink_wait_blocked(sink_state *st)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += 10;
    pthread_mutex_lock(&st->mu);
    int rc = 0;
    while (!st->blocked_now && rc == 0)
        rc = pthread_cond_timedwait(&st->cv, &st->mu, &ts);
    int ok = st->blocked_now;
    pthread_mutex_unlock(&st->mu);
    return ok;
}

static inline int ts_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    sink_state *st = ((test_sink *)sink)->st;
    (void)res;
    pthread_mutex_lock(&st->mu);
    while (st->block) {
        st->blocked_now = 1;
        pthread_cond_broadcast(&st->cv);
        pthread_cond_wait(&st->cv, &st->mu);
    }
    st->blocked_now = 0;
    if (st->delay_ms) {
        struct timespec d = {st->delay_ms / 1000, (long)(st->delay_ms % 1000) * 1000000L};
        pthread_mutex_unlock(&st->mu);
        nanosleep(&d, NULL);
        pthread_mutex_lock(&st->mu);
    }
    st->calls++;
    size_t bytes = 0;
    for (size_t i = 0; i < n; i++) {
        bytes += spans[i]->approx_bytes;
        const bt__attr *a = bt__attrs_find(&spans[i]->attrs, "i");
        if (a && a->type == BT__ATTR_INT)
            st->sum_i += a->v.i;
        strncpy(st->last_name, spans[i]->name, sizeof st->last_name - 1);
        size_t k = st->spans + i;
        if (k < 16) {
            strncpy(st->rec[k].name, spans[i]->name, 63);
            const bt__attr *p = bt__attrs_find(&spans[i]->attrs, "braintrust.parent");
            if (p && p->type == BT__ATTR_STRING)
                strncpy(st->rec[k].parent, p->v.s.ptr, 63);
            st->rec[k].start = spans[i]->start_unix_nano;
            st->rec[k].end = spans[i]->end_unix_nano;
        }
    }
    if (n > st->max_batch)
        st->max_batch = n;
    if (bytes > st->max_batch_bytes)
        st->max_batch_bytes = bytes;
    int rc = BT_OK;
    if (st->fail_exports > 0) {
        st->fail_exports--;
        rc = BT_EEXPORT;
    } else {
        st->spans += n;
    }
    bt_tracer *clock = st->clock;
    int advance_ms = st->advance_ms;
    pthread_mutex_unlock(&st->mu);
    if (clock && advance_ms)
        bt__tracer_advance_clock(clock, (uint64_t)advance_ms * 1000000u);
    return rc;
}

static inline int ts_flush(bt_sink *sink, int timeout_ms)
{
    sink_state *st = ((test_sink *)sink)->st;
    (void)timeout_ms;
    pthread_mutex_lock(&st->mu);
    st->flushes++;
    int rc = st->fail_flush ? BT_EIO : BT_OK;
    pthread_mutex_unlock(&st->mu);
    return rc;
}

static inline void ts_shutdown(bt_sink *sink)
{
    sink_state *st = ((test_sink *)sink)->st;
    pthread_mutex_lock(&st->mu);
    st->shutdown = 1;
    pthread_mutex_unlock(&st->mu);
}

static inline void ts_free(bt_sink *sink)
{
    sink_state *st = ((test_sink *)sink)->st;
    pthread_mutex_lock(&st->mu);
    st->freed = 1;
    pthread_mutex_unlock(&st->mu);
    free(sink);
}

static const bt__sink_vtable test_sink_vt = {
    .name = "test", .export_spans = ts_export, .flush = ts_flush, .shutdown = ts_shutdown, .free = ts_free};
static const bt__sink_vtable test_local_sink_vt = {.name = "test-local",
                                                   .export_spans = ts_export,
                                                   .flush = ts_flush,
                                                   .shutdown = ts_shutdown,
                                                   .free = ts_free,
                                                   .local = 1};

static inline bt_sink *test_sink_new(sink_state *st)
{
    test_sink *s = calloc(1, sizeof *s);
    s->base.vt = &test_sink_vt;
    s->st = st;
    return &s->base;
}

/* The same sink declared local (a file or a database): exported to as soon as idle. */
static inline bt_sink *test_local_sink_new(sink_state *st)
{
    test_sink *s = calloc(1, sizeof *s);
    s->base.vt = &test_local_sink_vt;
    s->st = st;
    return &s->base;
}

static inline size_t sink_spans(sink_state *st)
{
    pthread_mutex_lock(&st->mu);
    size_t n = st->spans;
    pthread_mutex_unlock(&st->mu);
    return n;
}

/* ---- log capture ---- */

typedef struct log_capture {
    pthread_mutex_t mu;
    char text[8192];
    size_t len;
    int n_errors;
} log_capture;

static inline void capture_log(void *ud, bt_log_level level, const char *msg)
{
    log_capture *c = ud;
    pthread_mutex_lock(&c->mu);
    if (level == BT_LOG_ERROR)
        c->n_errors++;
    size_t n = strlen(msg);
    if (c->len + n + 2 < sizeof c->text) {
        memcpy(c->text + c->len, msg, n);
        c->len += n;
        c->text[c->len++] = '\n';
        c->text[c->len] = '\0';
    }
    pthread_mutex_unlock(&c->mu);
}

static inline void log_capture_init(log_capture *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
}

/* A tracer with a test sink and a captured logger, running. */
static inline bt_tracer *running_tracer(sink_state *st, log_capture *lc)
{
    bt_tracer *t = NULL;
    if (bt_tracer_new(&t) != BT_OK)
        return NULL;
    if (lc)
        bt_tracer_set_logger(t, capture_log, lc);
    bt_tracer_add_sink(t, test_sink_new(st));
    if (bt__tracer_run(t) != BT_OK) {
        bt_tracer_free(t);
        return NULL;
    }
    return t;
}

#endif
