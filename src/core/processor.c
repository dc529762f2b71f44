/*
 * The batch span processor: a bounded FIFO of ended spans and one export thread.
 *
 * bt_span_end() only links the span into the queue under a mutex (or drops it when the
 * queue is full), so instrumented code never waits for the network. The thread exports
 * when max_export_batch spans are waiting or when the oldest has waited schedule_delay
 * (at once when every sink is local: the delay only batches network requests),
 * splitting every batch so that no request exceeds max_request_bytes (by each span's
 * approx_bytes), and hands each piece to every sink. Flush waits for the spans ended
 * before it and reports whether all of them were delivered.
 *
 * Time here is the processor's clock (proc_now): CLOCK_MONOTONIC, or a manual clock a
 * test moves, in which case the thread waits for the clock to move instead of sleeping
 * on a timer.
 */
#define _GNU_SOURCE /* pthread_setname_np */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/tracer_impl.h"

/* What a request carries besides its spans: the resource with its attributes, the
 * scope and the envelope. */
#define REQUEST_OVERHEAD_BYTES 1024

static void mono_deadline(uint64_t mono_ns, struct timespec *ts)
{
    ts->tv_sec = (time_t)(mono_ns / 1000000000u);
    ts->tv_nsec = (long)(mono_ns % 1000000000u);
}

static uint64_t ms_to_ns(int ms)
{
    return (uint64_t)(ms > 0 ? ms : 0) * 1000000u;
}

static int is_power_of_two(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* The processor's clock; with a manual clock, call with mu held once running. */
static uint64_t proc_now(const bt_tracer *t)
{
    return t->manual_clock ? t->manual_now_ns : bt__mono_ns();
}

/* Wakes the export thread to look again (mu held). */
static void poke(bt__processor *p)
{
    p->idle = 0;
    pthread_cond_signal(&p->work);
}

void bt__processor_enqueue(bt_tracer *t, bt_span *s)
{
    bt__processor *p = &t->proc;
    pthread_mutex_lock(&p->mu);
    p->ended++;
    if (p->stopping || p->qlen >= (size_t)t->max_queue) {
        uint64_t drops = ++p->queue_drops;
        pthread_mutex_unlock(&p->mu);
        bt__span_free(s);
        /* reported at 1, 2, 4, 8... so a flood of drops cannot flood the log */
        if (is_power_of_two(drops))
            bt_tracer_log(t, BT_LOG_WARN,
                          "braintrust: span export queue full (%d spans); %llu span(s) dropped so far",
                          t->max_queue, (unsigned long long)drops);
        return;
    }
    s->next = NULL;
    if (p->tail)
        p->tail->next = s;
    else
        p->head = s;
    p->tail = s;
    p->qlen++;
    p->enq_seq++;
    if (p->qlen == 1)
        p->oldest_enqueued_mono = proc_now(t);
    /* The thread needs waking only to start the schedule-delay timer (or, with local
     * sinks, to export) or for a full batch; signalled after unlocking, so that it
     * does not wake only to wait for this lock. */
    int wake = p->qlen == 1 || p->qlen == (size_t)t->max_export_batch;
    if (wake)
        p->idle = 0;
    pthread_mutex_unlock(&p->mu);
    if (wake)
        pthread_cond_signal(&p->work);
}

/* Hands spans[0..n) to every sink in pieces under the byte cap. Returns how many of the
 * spans were delivered by every sink; adds the requests and failures made to *req and
 * *fail. A failing sink logs its own reason; this says what it cost, once when a run of
 * failures starts and then at 2, 4, 8... failed exports, so a dead receiver cannot
 * flood the log. */
static size_t export_batch(bt_tracer *t, bt_span **spans, size_t n, uint64_t *req, uint64_t *fail)
{
    bt__processor *p = &t->proc;
    size_t delivered = 0, i = 0;
    while (i < n) {
        size_t j = i, bytes = REQUEST_OVERHEAD_BYTES;
        /* a span larger than the cap still goes, alone */
        while (j < n && (j == i || bytes + spans[j]->approx_bytes <= t->max_request_bytes))
            bytes += spans[j++]->approx_bytes;
        int ok = 1;
        size_t taken_by_all = j - i; /* of this piece, taken by every sink */
        for (size_t k = 0; k < t->n_sinks; k++) {
            bt_sink *sink = t->sinks[k];
            sink->last_taken = BT__TAKEN_UNKNOWN;
            int rc = sink->vt->export_spans(sink, &t->resource, spans + i, j - i);
            (*req)++;
            if (rc != BT_OK) {
                size_t taken =
                    sink->last_taken != BT__TAKEN_UNKNOWN && sink->last_taken < j - i ? sink->last_taken : 0;
                if (taken < taken_by_all)
                    taken_by_all = taken;
                (*fail)++;
                ok = 0;
                uint64_t streak = ++p->fail_streak; /* the export thread's own */
                if (streak == 1 || is_power_of_two(streak))
                    bt_tracer_log(
                        t, BT_LOG_WARN,
                        "braintrust: sink %s could not take %zu span(s) (%s); %llu failed export(s) "
                        "in a row, those spans are dropped",
                        sink->vt->name ? sink->vt->name : "?", j - i, bt_strerror(rc),
                        (unsigned long long)streak);
            }
        }
        delivered += taken_by_all;
        if (ok)
            p->fail_streak = 0;
        i = j;
    }
    return delivered;
}

/* Asks every sink to deliver what it buffers; 1 when all succeeded. */
static int flush_sinks(bt_tracer *t)
{
    int ok = 1;
    for (size_t k = 0; k < t->n_sinks; k++) {
        bt_sink *sink = t->sinks[k];
        if (sink->vt->flush && sink->vt->flush(sink, t->bsp_export_timeout_ms) != BT_OK)
            ok = 0;
    }
    return ok;
}

/* 1 when the thread has something to do at time `now` (mu held). */
static int has_work(const bt_tracer *t, const bt__processor *p, uint64_t now, uint64_t delay)
{
    if (p->stopping || p->flush_req > p->flush_served || p->qlen >= (size_t)t->max_export_batch)
        return 1;
    if (p->qlen == 0)
        return 0;
    return p->all_sinks_local || now >= p->oldest_enqueued_mono + delay;
}

static void *export_thread(void *arg)
{
    bt_tracer *t = arg;
    bt__processor *p = &t->proc;
    /* named, so that a profile or top -H tells its time from the application's */
#ifdef __linux__
    pthread_setname_np(pthread_self(), "bt-export");
#endif
    const uint64_t delay = ms_to_ns(t->schedule_delay_ms);
    size_t abandoned = 0; /* spans still queued when the shutdown deadline passed */
    pthread_mutex_lock(&p->mu);
    for (;;) {
        /* Wait for a full batch, the schedule delay, a flush or shutdown. */
        while (!has_work(t, p, proc_now(t), delay)) {
            p->idle = 1;
            pthread_cond_broadcast(&p->done); /* for bt__tracer_wait_idle */
            if (p->qlen == 0 || t->manual_clock) {
                pthread_cond_wait(&p->work, &p->mu);
            } else {
                struct timespec ts;
                mono_deadline(p->oldest_enqueued_mono + delay, &ts);
                pthread_cond_timedwait(&p->work, &p->mu, &ts);
            }
        }
        p->idle = 0;

        size_t n = 0;
        while (n < (size_t)t->max_export_batch && p->head) {
            bt_span *s = p->head;
            p->head = s->next;
            p->batch[n++] = s;
        }
        if (!p->head)
            p->tail = NULL;
        p->qlen -= n;
        if (p->qlen)
            p->oldest_enqueued_mono = proc_now(t);
        int give_up = p->stopping && proc_now(t) > p->drain_deadline_mono;

        if (n) {
            pthread_mutex_unlock(&p->mu);
            uint64_t req = 0, fail = 0;
            size_t delivered = give_up ? 0 : export_batch(t, p->batch, n, &req, &fail);
            for (size_t i = 0; i < n; i++)
                bt__span_free(p->batch[i]);
            if (give_up)
                abandoned += n;
            pthread_mutex_lock(&p->mu);
            p->done_seq += n;
            p->exported += delivered;
            p->failed_spans += n - delivered;
            p->requests += req;
            p->failures += fail;
            if (delivered < n)
                p->last_fail_seq = p->done_seq;
        }

        /* Every flush call gets a round of sink flushes that starts after it was made
         * (a spool's unsent spans get another attempt each time), once the spans
         * before it are handled. */
        if (p->flush_req > p->flush_served && p->done_seq >= p->flush_want) {
            uint64_t req = p->flush_req;
            pthread_mutex_unlock(&p->mu);
            int ok = flush_sinks(t);
            pthread_mutex_lock(&p->mu);
            p->flush_served = req;
            p->flush_round_ok = ok;
        }
        pthread_cond_broadcast(&p->done);
        if (p->stopping && p->qlen == 0)
            break;
    }
    pthread_mutex_unlock(&p->mu);
    if (abandoned)
        bt_tracer_log(t, BT_LOG_WARN,
                      "braintrust: shutdown export timeout (%d ms) passed; %zu span(s) dropped",
                      t->bsp_export_timeout_ms, abandoned);
    for (size_t k = 0; k < t->n_sinks; k++)
        if (t->sinks[k]->vt->shutdown)
            t->sinks[k]->vt->shutdown(t->sinks[k]);
    return NULL;
}

int bt__processor_start(bt_tracer *t)
{
    bt__processor *p = &t->proc;
    memset(p, 0, sizeof *p);
    p->batch = malloc((size_t)t->max_export_batch * sizeof *p->batch);
    if (!p->batch)
        return BT_ENOMEM;
    p->all_sinks_local = 1;
    for (size_t k = 0; k < t->n_sinks; k++)
        p->all_sinks_local &= t->sinks[k]->vt->local != 0;
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_mutex_init(&p->mu, NULL);
    pthread_cond_init(&p->work, &ca);
    pthread_cond_init(&p->done, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&p->thread, NULL, export_thread, t) != 0) {
        pthread_cond_destroy(&p->work);
        pthread_cond_destroy(&p->done);
        pthread_mutex_destroy(&p->mu);
        free(p->batch);
        p->batch = NULL;
        bt_tracer_log(t, BT_LOG_ERROR, "braintrust: cannot start the export thread");
        return BT_ENOMEM;
    }
    p->thread_started = 1;
    return BT_OK;
}

int bt__processor_flush(bt_tracer *t, int timeout_ms)
{
    bt__processor *p = &t->proc;
    /* A non-positive timeout means the tracer's export timeout. */
    uint64_t deadline = bt__mono_ns() + ms_to_ns(timeout_ms > 0 ? timeout_ms : t->bsp_export_timeout_ms);
    pthread_mutex_lock(&p->mu);
    /* Failures are judged over the spans since the last flush that completed, so a
     * flush that timed out leaves them to be reported by the next one. */
    uint64_t target = p->enq_seq;
    uint64_t base = p->flush_base;
    uint64_t drops_now = p->queue_drops;
    uint64_t drops = drops_now - p->flush_drop_base;
    uint64_t req = ++p->flush_req;
    if (p->flush_want < target)
        p->flush_want = target;
    poke(p);
    int timed_out = 0;
    while (p->flush_served < req && !timed_out) {
        struct timespec ts;
        mono_deadline(deadline, &ts);
        if (pthread_cond_timedwait(&p->done, &p->mu, &ts) == ETIMEDOUT)
            timed_out = p->flush_served < req;
    }
    /* the round that served this call began after it: its sinks' answer is current */
    int failed = drops > 0 || p->last_fail_seq > base || !p->flush_round_ok;
    if (!timed_out) {
        if (p->flush_base < target)
            p->flush_base = target;
        if (p->flush_drop_base < drops_now)
            p->flush_drop_base = drops_now;
    }
    pthread_mutex_unlock(&p->mu);
    if (timed_out)
        return BT_ETIMEDOUT;
    return failed ? BT_EEXPORT : BT_OK;
}

void bt__processor_stop(bt_tracer *t)
{
    bt__processor *p = &t->proc;
    if (!p->thread_started)
        return;
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    p->drain_deadline_mono = proc_now(t) + ms_to_ns(t->bsp_export_timeout_ms);
    poke(p);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->thread, NULL);
    p->thread_started = 0;
    pthread_cond_destroy(&p->work);
    pthread_cond_destroy(&p->done);
    pthread_mutex_destroy(&p->mu);
    free(p->batch);
    p->batch = NULL;
}

void bt__processor_abandon(bt_tracer *t)
{
    bt__processor *p = &t->proc;
    bt_span *s = p->head;
    while (s) {
        bt_span *next = s->next;
        bt__span_free(s);
        s = next;
    }
    p->head = p->tail = NULL;
    p->qlen = 0;
    free(p->batch);
    p->batch = NULL;
}

void bt__processor_stats(bt_tracer *t, bt_tracer_stats *out)
{
    bt__processor *p = &t->proc;
    pthread_mutex_lock(&p->mu);
    out->spans_ended = p->ended;
    out->spans_exported = p->exported;
    out->spans_dropped = p->queue_drops + p->failed_spans;
    out->export_requests = p->requests;
    out->export_failures = p->failures;
    out->queue_length = p->qlen;
    pthread_mutex_unlock(&p->mu);
}

void bt__processor_clock_moved(bt_tracer *t, uint64_t ns)
{
    bt__processor *p = &t->proc;
    pthread_mutex_lock(&p->mu);
    t->manual_now_ns += ns;
    poke(p);
    pthread_mutex_unlock(&p->mu);
}

int bt__processor_wait_idle(bt_tracer *t, int timeout_ms)
{
    bt__processor *p = &t->proc;
    uint64_t deadline = bt__mono_ns() + ms_to_ns(timeout_ms);
    pthread_mutex_lock(&p->mu);
    while (!p->idle) {
        struct timespec ts;
        mono_deadline(deadline, &ts);
        if (pthread_cond_timedwait(&p->done, &p->mu, &ts) == ETIMEDOUT)
            break;
    }
    int idle = p->idle;
    pthread_mutex_unlock(&p->mu);
    return idle ? BT_OK : BT_ETIMEDOUT;
}
