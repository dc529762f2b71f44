/*
 * Fuzz target: SSE framing. Byte 0 picks the event cap (tiny caps make truncation
 * common), bytes 1-2 a split point. Invariants: the events and the finish() result
 * are the same whether the input comes in one piece, split at that point, or byte by
 * byte; no event's data exceeds the cap; a truncated event is exactly at the cap.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "decode/sse.h"
#include "util/buf.h"

typedef struct {
    bt__buf log;
    size_t cap;
} run_log;

static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                    int truncated)
{
    run_log *r = ud;
    if (data_len > r->cap || event_len > 256 || data[data_len] != '\0' || event[event_len] != '\0')
        abort();
    char sep[3] = {'\x1f', truncated ? '1' : '0', '\x1f'};
    bt__buf_append(&r->log, event, event_len);
    bt__buf_append(&r->log, sep, 3);
    bt__buf_append(&r->log, data, data_len);
    bt__buf_append_char(&r->log, '\x1e');
    return 0;
}

/* Parses `in` cut at the given points (ascending, each <= len). */
static int parse(const char *in, size_t len, size_t cap, const size_t *cuts, size_t ncuts, run_log *r)
{
    bt__buf_init(&r->log, 0);
    r->cap = cap;
    bt__sse *p = bt__sse_new(cap, on_event, r);
    if (!p)
        abort();
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (bt__sse_feed(p, in + at, end - at) != 0)
            abort();
        at = end;
    }
    int partial = bt__sse_finish(p);
    /* events without data are counted the same whatever the chunking */
    char count[32];
    int n = snprintf(count, sizeof count, "\x1d%lu", bt__sse_events_without_data(p));
    bt__buf_append(&r->log, count, (size_t)n);
    bt__sse_free(p);
    return partial;
}

static void same(run_log *a, int pa, run_log *b, int pb)
{
    if (pa != pb || a->log.len != b->log.len ||
        (a->log.len && memcmp(a->log.data, b->log.data, a->log.len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t cap = data[0] < 200 ? 1 + (size_t)(data[0] % 64) : (size_t)1 << 20;
    size_t split = ((size_t)data[1] << 8 | data[2]);
    data += 3;
    size -= 3;
    /* An exact-size copy so ASan sees any read past the end. */
    char *in = calloc(1, size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);

    run_log whole, other;
    int pw = parse(in, size, cap, NULL, 0, &whole);

    size_t cut = size ? split % (size + 1) : 0;
    int po = parse(in, size, cap, &cut, 1, &other);
    same(&whole, pw, &other, po);
    bt__buf_free(&other.log);

    if (size <= 4096) {
        size_t *cuts = malloc((size + 1) * sizeof *cuts);
        if (cuts) {
            for (size_t i = 0; i < size; i++)
                cuts[i] = i;
            po = parse(in, size, cap, cuts, size, &other);
            same(&whole, pw, &other, po);
            bt__buf_free(&other.log);
            free(cuts);
        }
    }
    bt__buf_free(&whole.log);
    free(in);
    return 0;
}
