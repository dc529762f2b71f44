/*
 * A sink that makes another sink's exports fail on demand, to test how failures are
 * reported and retried. It forwards everything else (flush, shutdown) to the sink it
 * wraps, which it owns: freeing the wrapper frees both.
 */
#ifndef BT_TEST_FAILING_SINK_H
#define BT_TEST_FAILING_SINK_H

#include "braintrust/tracer.h"

/* Wraps `inner` (taking ownership). Fails the test on allocation failure. */
bt_sink *bt_test_failing_sink(bt_sink *inner);

/* The next `n` exports through `failing` return BT_EEXPORT without reaching the inner
 * sink; 0 lets every export through again. Thread-safe. */
void bt_test_sink_fail_next(bt_sink *failing, int n);

#endif
