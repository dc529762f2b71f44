/* A sink wrapper whose next n exports fail (see failing_sink.h). */
#include "failing_sink.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>

#include "core/sink_internal.h"

typedef struct failing_sink {
    bt_sink base;
    bt_sink *inner;
    pthread_mutex_t lock;
    int fail_next;
} failing_sink;

static int failing_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    failing_sink *f = (failing_sink *)sink;
    pthread_mutex_lock(&f->lock);
    int fail = f->fail_next > 0;
    if (fail)
        f->fail_next--;
    pthread_mutex_unlock(&f->lock);
    return fail ? BT_EEXPORT : f->inner->vt->export_spans(f->inner, res, spans, n);
}

static int failing_flush(bt_sink *sink, int timeout_ms)
{
    failing_sink *f = (failing_sink *)sink;
    return f->inner->vt->flush ? f->inner->vt->flush(f->inner, timeout_ms) : BT_OK;
}

static void failing_shutdown(bt_sink *sink)
{
    failing_sink *f = (failing_sink *)sink;
    if (f->inner->vt->shutdown)
        f->inner->vt->shutdown(f->inner);
}

static void failing_free(bt_sink *sink)
{
    failing_sink *f = (failing_sink *)sink;
    if (f->inner->vt->free)
        f->inner->vt->free(f->inner);
    pthread_mutex_destroy(&f->lock);
    free(f);
}

static const bt__sink_vtable failing_vt = {
    .name = "failing",
    .export_spans = failing_export,
    .flush = failing_flush,
    .shutdown = failing_shutdown,
    .free = failing_free,
};

bt_sink *bt_test_failing_sink(bt_sink *inner)
{
    assert_non_null(inner);
    failing_sink *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->base.vt = &failing_vt;
    f->inner = inner;
    pthread_mutex_init(&f->lock, NULL);
    return &f->base;
}

void bt_test_sink_fail_next(bt_sink *failing, int n)
{
    assert_true(failing && failing->vt == &failing_vt);
    failing_sink *f = (failing_sink *)failing;
    pthread_mutex_lock(&f->lock);
    f->fail_next = n > 0 ? n : 0;
    pthread_mutex_unlock(&f->lock);
}
