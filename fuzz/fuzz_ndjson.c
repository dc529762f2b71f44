/*
 * Fuzz target: JSONL splitting. Byte 0 picks the line cap, bytes 1-2 a split point.
 * Invariants: the same lines in one piece, split, or byte by byte; len <= cap;
 * truncated exactly when full_len > len; no line contains LF; the full lengths of all
 * lines never exceed the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/ndjson.h"
#include "util/buf.h"

typedef struct {
    bt__buf log;
    size_t cap;
    size_t total;
} run_log;

static int on_line(void *ud, const char *line, size_t len, size_t full_len, int truncated)
{
    run_log *r = ud;
    if (len > r->cap || full_len < len || truncated != (full_len > len) || line[len] != '\0' ||
        memchr(line, '\n', len) || len == 0)
        abort();
    r->total += full_len;
    bt__buf_append(&r->log, line, len);
    bt__buf_printf(&r->log, "\x1f%zu\x1e", full_len);
    return 0;
}

static void parse(const char *in, size_t len, size_t cap, const size_t *cuts, size_t ncuts, run_log *r)
{
    bt__buf_init(&r->log, 0);
    r->cap = cap;
    r->total = 0;
    bt__ndjson *p = bt__ndjson_new(cap, on_line, r);
    if (!p)
        abort();
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        if (bt__ndjson_feed(p, in + at, end - at) != 0)
            abort();
        at = end;
    }
    if (bt__ndjson_finish(p) != 0)
        abort();
    bt__ndjson_free(p);
    if (r->total > len)
        abort();
}

static void same(const run_log *a, const run_log *b)
{
    if (a->log.len != b->log.len || (a->log.len && memcmp(a->log.data, b->log.data, a->log.len) != 0))
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    size_t cap = 1 + data[0] % 48;
    size_t split = ((size_t)data[1] << 8 | data[2]);
    data += 3;
    size -= 3;
    char *in = calloc(1, size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);

    run_log whole, other;
    parse(in, size, cap, NULL, 0, &whole);
    size_t cut = size ? split % (size + 1) : 0;
    parse(in, size, cap, &cut, 1, &other);
    same(&whole, &other);
    bt__buf_free(&other.log);
    if (size <= 4096) {
        size_t *cuts = malloc((size + 1) * sizeof *cuts);
        if (cuts) {
            for (size_t i = 0; i < size; i++)
                cuts[i] = i;
            parse(in, size, cap, cuts, size, &other);
            same(&whole, &other);
            bt__buf_free(&other.log);
            free(cuts);
        }
    }
    bt__buf_free(&whole.log);
    free(in);
    return 0;
}
