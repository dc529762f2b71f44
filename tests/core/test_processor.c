/* The batch span processor: queue limits and drops (the caller never blocks), flush
 * results, batch size and byte-cap splitting, the schedule delay, many threads, and
 * shutdown draining the queue. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "core/tracer_impl.h"
#include "core_harness.h"

#define LONG_DELAY_MS 600000 /* effectively never: exports happen by size or flush */

static bt_tracer *tracer_with(sink_state *st, log_capture *lc, int queue, int delay, int batch,
                              int export_timeout)
{
    bt_tracer *t;
    bt_tracer_new(&t);
    bt_tracer_set_logger(t, capture_log, lc);
    assert_int_equal(bt_tracer_set_batch_options(t, queue, delay, batch, export_timeout), BT_OK);
    bt_tracer_add_sink(t, test_sink_new(st));
    assert_int_equal(bt__tracer_run(t), BT_OK);
    return t;
}

static void end_spans(bt_tracer *t, int n, int64_t i_value)
{
    for (int k = 0; k < n; k++) {
        bt_span *s = bt_span_start(t, "s", NULL);
        assert_non_null(s);
        bt_span_set_int(s, "i", i_value);
        bt_span_end(s, 0);
    }
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static void test_full_queue_drops_and_caller_never_blocks(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = tracer_with(&st, &lc, 8, LONG_DELAY_MS, 4, 5000);
    sink_set_block(&st, 1);
    end_spans(t, 4, 1); /* a full batch: the export thread takes it and parks in the sink */
    assert_true(sink_wait_blocked(&st));
    /* With the sink stuck, 8 more fit in the queue and the rest are dropped. If
     * bt_span_end ever waited for the sink, this loop would never finish. */
    end_spans(t, 20, 1);
    bt_tracer_stats s;
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_started, 24);
    assert_int_equal(s.spans_ended, 24);
    assert_int_equal(s.spans_dropped, 12);
    assert_int_equal(s.queue_length, 8);
    assert_non_null(strstr(lc.text, "dropped"));

    assert_int_equal(bt_tracer_flush(t, 100), BT_ETIMEDOUT);
    sink_set_block(&st, 0);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_EEXPORT); /* the drops are reported */
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_exported, 12);
    assert_int_equal(s.queue_length, 0);
    assert_int_equal(st.spans, 12);

    /* the next flush judges only what came after */
    end_spans(t, 3, 1);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_exported, 15);
    assert_int_equal(s.spans_dropped, 12);
    assert_int_equal(s.export_failures, 0);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_flush_reports_sink_failure_then_success(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = tracer_with(&st, &lc, 64, LONG_DELAY_MS, 16, 5000);
    assert_int_equal(bt_tracer_flush(t, 1000), BT_OK); /* nothing pending */

    pthread_mutex_lock(&st.mu);
    st.fail_exports = 1;
    pthread_mutex_unlock(&st.mu);
    end_spans(t, 3, 1);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_EEXPORT);
    bt_tracer_stats s;
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.export_failures, 1);
    assert_int_equal(s.spans_dropped, 3);
    assert_int_equal(s.spans_exported, 0);
    assert_non_null(strstr(lc.text, "sink test could not take 3 span(s)"));

    end_spans(t, 2, 1);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_exported, 2);

    /* a sink that cannot flush what it buffered fails the flush too */
    pthread_mutex_lock(&st.mu);
    st.fail_flush = 1;
    pthread_mutex_unlock(&st.mu);
    end_spans(t, 1, 1);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_EEXPORT);
    assert_true(st.flushes >= 1);
    /* every flush asks the sinks again, new spans or not: a spool that could not
     * deliver then can now, and the flush says so (and the reverse) */
    size_t flushes = st.flushes;
    assert_int_equal(bt_tracer_flush(t, 10000), BT_EEXPORT);
    assert_int_equal(st.flushes, flushes + 1);
    pthread_mutex_lock(&st.mu);
    st.fail_flush = 0;
    pthread_mutex_unlock(&st.mu);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    assert_int_equal(st.flushes, flushes + 2);
    pthread_mutex_lock(&st.mu);
    st.fail_flush = 1;
    pthread_mutex_unlock(&st.mu);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_EEXPORT);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_batches_respect_max_batch(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = tracer_with(&st, &lc, 1000, LONG_DELAY_MS, 5, 5000);
    end_spans(t, 23, 2);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    assert_int_equal(st.spans, 23);
    assert_int_equal(st.sum_i, 46);
    assert_int_equal(st.max_batch, 5);
    assert_true(st.calls >= 5);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_byte_cap_splits_batches(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t;
    bt_tracer_new(&t);
    bt_tracer_set_logger(t, capture_log, &lc);
    bt_tracer_set_batch_options(t, 1000, LONG_DELAY_MS, 500, 5000);
    assert_int_equal(bt_tracer_set_max_request_bytes(t, 8192), BT_OK);
    bt_tracer_add_sink(t, test_sink_new(&st));
    assert_int_equal(bt__tracer_run(t), BT_OK);

    char *blob = malloc(2000);
    memset(blob, 'b', 2000);
    for (int k = 0; k < 40; k++) {
        bt_span *s = bt_span_start(t, "big", NULL);
        bt_span_set_string_len(s, "payload", blob, 2000);
        assert_true(s->approx_bytes > 2000);
        bt_span_end(s, 0);
    }
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    assert_int_equal(st.spans, 40);
    assert_true(st.max_batch_bytes <= 8192);
    assert_true(st.max_batch >= 2); /* pieces are filled, not one span each */
    assert_true(st.calls >= 40 * 2000 / 8192);

    /* a span over the cap on its own still goes out, alone */
    pthread_mutex_lock(&st.mu);
    st.max_batch_bytes = 0;
    size_t calls_before = st.calls;
    pthread_mutex_unlock(&st.mu);
    char *huge = malloc(20000);
    memset(huge, 'h', 20000);
    end_spans(t, 1, 0);
    bt_span *s = bt_span_start(t, "huge", NULL);
    bt_span_set_string_len(s, "payload", huge, 20000);
    bt_span_end(s, 0);
    end_spans(t, 1, 0);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    assert_int_equal(st.spans, 43);
    assert_int_equal(st.calls - calls_before, 3);
    free(blob);
    free(huge);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

#define IDLE_MS 60000 /* safety net only: waits end when the export thread is idle */

/* A tracer on a manual clock: the test alone moves time, so what is exported when does
 * not depend on how the threads are scheduled. */
static bt_tracer *manual_tracer(sink_state *st, log_capture *lc, bt_sink *sink, int delay, int batch,
                                int export_timeout)
{
    bt_tracer *t;
    bt_tracer_new(&t);
    bt_tracer_set_logger(t, capture_log, lc);
    assert_int_equal(bt__tracer_use_manual_clock(t, 1000000000ull), BT_OK);
    assert_int_equal(bt_tracer_set_batch_options(t, 1000, delay, batch, export_timeout), BT_OK);
    bt_tracer_add_sink(t, sink ? sink : test_sink_new(st));
    assert_int_equal(bt__tracer_run(t), BT_OK);
    return t;
}

static void advance_ms(bt_tracer *t, int ms)
{
    bt__tracer_advance_clock(t, (uint64_t)ms * 1000000u);
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
}

static void test_schedule_delay_exports_without_flush(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = manual_tracer(&st, &lc, NULL, 20, 50, 5000);
    end_spans(t, 3, 1);
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
    assert_int_equal(sink_spans(&st), 0); /* under a batch, before the delay: waiting */
    advance_ms(t, 19);
    assert_int_equal(sink_spans(&st), 0);
    advance_ms(t, 1); /* the oldest span has waited the schedule delay */
    assert_int_equal(sink_spans(&st), 3);
    bt_tracer_stats s;
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_exported, 3);
    assert_int_equal(s.queue_length, 0);

    /* the delay counts from the oldest span still queued */
    end_spans(t, 1, 1);
    advance_ms(t, 10);
    end_spans(t, 1, 1);
    advance_ms(t, 9);
    assert_int_equal(sink_spans(&st), 3);
    advance_ms(t, 1);
    assert_int_equal(sink_spans(&st), 5);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_full_batch_exports_before_the_delay(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = manual_tracer(&st, &lc, NULL, LONG_DELAY_MS, 4, 5000);
    end_spans(t, 3, 1);
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
    assert_int_equal(sink_spans(&st), 0);
    end_spans(t, 1, 1); /* the fourth fills a batch: exported with the clock standing still */
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
    assert_int_equal(sink_spans(&st), 4);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

/* A local sink (a file, a database) gets each span as soon as the thread is idle: a
 * span is visible right after it ends, not a schedule delay later. */
static void test_local_sinks_get_spans_without_delay(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = manual_tracer(&st, &lc, test_local_sink_new(&st), LONG_DELAY_MS, 512, 5000);
    end_spans(t, 1, 1);
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
    assert_int_equal(sink_spans(&st), 1);
    end_spans(t, 2, 1);
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
    assert_int_equal(sink_spans(&st), 3);
    bt_tracer_free(t);
    sink_state_destroy(&st);

    /* one network sink beside it: the schedule delay applies again, to batch requests */
    sink_state remote;
    sink_state_init(&st);
    sink_state_init(&remote);
    bt_tracer_new(&t);
    bt_tracer_set_logger(t, capture_log, &lc);
    assert_int_equal(bt__tracer_use_manual_clock(t, 0), BT_OK);
    assert_int_equal(bt_tracer_set_batch_options(t, 1000, 5000, 512, 5000), BT_OK);
    bt_tracer_add_sink(t, test_local_sink_new(&st));
    bt_tracer_add_sink(t, test_sink_new(&remote));
    assert_int_equal(bt__tracer_run(t), BT_OK);
    end_spans(t, 2, 1);
    assert_int_equal(bt__tracer_wait_idle(t, IDLE_MS), BT_OK);
    assert_int_equal(sink_spans(&st) + sink_spans(&remote), 0);
    advance_ms(t, 5000);
    assert_int_equal(sink_spans(&st), 2);
    assert_int_equal(sink_spans(&remote), 2);
    bt_tracer_free(t);
    sink_state_destroy(&st);
    sink_state_destroy(&remote);
}

typedef struct worker {
    bt_tracer *t;
    int n;
    int64_t base;
} worker;

static void *worker_main(void *arg)
{
    worker *w = arg;
    for (int k = 0; k < w->n; k++) {
        bt_span *s = bt_span_start(w->t, "w", NULL);
        bt_span_set_int(s, "i", w->base + k);
        bt_span_set_string(s, "gen_ai.system", "anthropic");
        bt_span_end(s, 0);
    }
    return NULL;
}

static void run_workers(bt_tracer *t, int threads, int per_thread)
{
    pthread_t th[8];
    worker w[8];
    for (int i = 0; i < threads; i++) {
        w[i].t = t;
        w[i].n = per_thread;
        w[i].base = (int64_t)i * 1000000;
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &w[i]), 0);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
}

typedef struct flusher {
    bt_tracer *t;
    atomic_int stop;
    int flushes;
} flusher;

static void *flusher_main(void *arg)
{
    flusher *fl = arg;
    do {
        int rc = bt_tracer_flush(fl->t, 60000);
        if (rc != BT_OK)
            return (void *)1;
        fl->flushes++;
        sleep_ms(1);
    } while (!atomic_load(&fl->stop));
    return NULL;
}

static void test_many_threads_counts_add_up(void **state)
{
    (void)state;
    enum { THREADS = 4, PER = 5000 };
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = tracer_with(&st, &lc, THREADS * PER, LONG_DELAY_MS, 512, 10000);
    /* flushes run concurrently with the producers and must all succeed */
    flusher fl = {.t = t, .flushes = 0};
    atomic_init(&fl.stop, 0);
    pthread_t fth;
    assert_int_equal(pthread_create(&fth, NULL, flusher_main, &fl), 0);
    run_workers(t, THREADS, PER);
    atomic_store(&fl.stop, 1);
    void *frc;
    pthread_join(fth, &frc);
    assert_null(frc);
    assert_true(fl.flushes >= 1);
    assert_int_equal(bt_tracer_flush(t, 60000), BT_OK);
    bt_tracer_stats s;
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_started, THREADS * PER);
    assert_int_equal(s.spans_ended, THREADS * PER);
    assert_int_equal(s.spans_exported, THREADS * PER);
    assert_int_equal(s.spans_dropped, 0);
    assert_int_equal(st.spans, THREADS * PER);
    int64_t want = 0;
    for (int i = 0; i < THREADS; i++)
        want += (int64_t)i * 1000000 * PER + (int64_t)PER * (PER - 1) / 2;
    assert_int_equal(st.sum_i, want);
    bt_tracer_free(t);
    sink_state_destroy(&st);

    /* a small queue under the same load: whatever is not exported was counted dropped */
    sink_state_init(&st);
    t = tracer_with(&st, &lc, 16, 1, 8, 10000);
    run_workers(t, THREADS, PER);
    int rc = bt_tracer_flush(t, 60000);
    assert_true(rc == BT_OK || rc == BT_EEXPORT);
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_ended, THREADS * PER);
    assert_int_equal(s.spans_exported + s.spans_dropped, THREADS * PER);
    assert_int_equal(st.spans, s.spans_exported);
    assert_int_equal(rc == BT_OK, s.spans_dropped == 0);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_shutdown_drains_queue(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = tracer_with(&st, &lc, 1000, LONG_DELAY_MS, 64, 10000);
    end_spans(t, 300, 1);
    bt_tracer_free(t); /* no flush: shutdown must deliver the queue */
    assert_int_equal(st.spans, 300);
    assert_int_equal(st.sum_i, 300);
    assert_true(st.shutdown);
    assert_true(st.freed);
    sink_state_destroy(&st);
}

static void *free_tracer_main(void *arg)
{
    bt_tracer_free(arg);
    return NULL;
}

static int tracer_stopping(bt_tracer *t)
{
    pthread_mutex_lock(&t->proc.mu);
    int stopping = t->proc.stopping;
    pthread_mutex_unlock(&t->proc.mu);
    return stopping;
}

static void test_shutdown_gives_up_at_export_timeout(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    /* One span per export, each moving the clock 20 ms: draining 200 would take 4 s,
     * but the export timeout allows 100 ms after shutdown begins, after which the rest
     * is dropped and reported. The first export is held until shutdown has begun, so
     * exactly 6 get out: the held one, then those that start at +20 ... +100 ms. */
    bt_tracer *t = manual_tracer(&st, &lc, NULL, LONG_DELAY_MS, 1, 100);
    st.clock = t;
    st.advance_ms = 20;
    sink_set_block(&st, 1);
    end_spans(t, 200, 1);
    assert_true(sink_wait_blocked(&st));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, free_tracer_main, t), 0);
    /* bounded; the held export keeps the tracer alive until it is released */
    for (int i = 0; i < 60000 && !tracer_stopping(t); i++)
        sleep_ms(1);
    assert_true(tracer_stopping(t));
    sink_set_block(&st, 0);
    pthread_join(th, NULL);
    assert_int_equal(st.spans, 6);
    assert_true(st.shutdown);
    assert_non_null(strstr(lc.text, "shutdown export timeout (100 ms) passed; 194 span(s) dropped"));
    sink_state_destroy(&st);
}

/* A forked child inherits the tracer but not its export thread: it must neither hang
 * nor export, and the parent must carry on. */
static void test_forked_child_is_inert(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t = tracer_with(&st, &lc, 100, LONG_DELAY_MS, 50, 5000);
    bt_span *before = bt_span_start(t, "started before fork", NULL);
    end_spans(t, 3, 1); /* queued in the parent at the fork */
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int ok = bt_span_start(t, "child", NULL) == NULL;
        ok &= bt_tracer_flush(t, 100) == BT_ESTATE;
        bt_span_end(before, 0); /* discarded, without touching the parent's lock */
        bt_tracer_stats s;
        bt_tracer_get_stats(t, &s);
        bt_tracer_free(t);
        _exit(ok ? 0 : 3);
    }
    int status = 0;
    pid_t done = 0;
    for (int i = 0; i < 1000 && done == 0; i++) {
        done = waitpid(pid, &status, WNOHANG);
        if (done == 0)
            sleep_ms(10);
    }
    if (done == 0) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        fail_msg("the forked child hung");
    }
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    bt_span_end(before, 0);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    assert_int_equal(st.spans, 4);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_no_sink_counts_as_delivered(void **state)
{
    (void)state;
    bt_tracer *t;
    bt_tracer_new(&t);
    assert_int_equal(bt__tracer_run(t), BT_OK);
    end_spans(t, 5, 1);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    bt_tracer_stats s;
    bt_tracer_get_stats(t, &s);
    assert_int_equal(s.spans_exported, 5);
    bt_tracer_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_queue_drops_and_caller_never_blocks),
        cmocka_unit_test(test_flush_reports_sink_failure_then_success),
        cmocka_unit_test(test_batches_respect_max_batch),
        cmocka_unit_test(test_byte_cap_splits_batches),
        cmocka_unit_test(test_schedule_delay_exports_without_flush),
        cmocka_unit_test(test_full_batch_exports_before_the_delay),
        cmocka_unit_test(test_local_sinks_get_spans_without_delay),
        cmocka_unit_test(test_many_threads_counts_add_up),
        cmocka_unit_test(test_shutdown_drains_queue),
        cmocka_unit_test(test_shutdown_gives_up_at_export_timeout),
        cmocka_unit_test(test_forked_child_is_inert),
        cmocka_unit_test(test_no_sink_counts_as_delivered),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
