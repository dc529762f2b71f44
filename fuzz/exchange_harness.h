/*
 * Shared by the fuzz targets that drive whole exchanges: one tracer with a memory sink
 * and one bt_anthropic for the life of the process (created on first use, freed at
 * exit), and a periodic flush so the sink does not grow across millions of runs.
 */
#ifndef BT_FUZZ_EXCHANGE_HARNESS_H
#define BT_FUZZ_EXCHANGE_HARNESS_H

#include <stdlib.h>

#include "braintrust/braintrust.h"

static bt_tracer *harness_tracer;
static bt_sink *harness_memory;
static bt_anthropic *harness_anthropic;

static void harness_cleanup(void)
{
    bt_anthropic_free(harness_anthropic);
    bt_tracer_free(harness_tracer);
}

/* The instrumentation, with a small body limit so ordinary inputs reach the caps. */
static bt_anthropic *harness_get(size_t body_limit)
{
    if (!harness_tracer) {
        bt_tracer_new(&harness_tracer);
        bt_sink_memory_new(&harness_memory);
        bt_tracer_add_sink(harness_tracer, harness_memory);
        bt_tracer_start(harness_tracer);
        bt_anthropic_new(harness_tracer, &harness_anthropic);
        bt_anthropic_set_body_limit(harness_anthropic, body_limit);
        atexit(harness_cleanup);
    }
    return harness_anthropic;
}

/* Call after each run: every 64 runs, export and forget the spans. */
static void harness_after_run(void)
{
    static unsigned runs;
    if (++runs % 64 == 0) {
        bt_tracer_flush(harness_tracer, 10000);
        bt_sink_memory_clear(harness_memory);
    }
}

#endif
