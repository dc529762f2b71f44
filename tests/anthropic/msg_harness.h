/*
 * Shared helpers of the Messages tests (included by each test program): a tracer with
 * an injected clock and the memory sink, feeding one recorded interaction through an
 * exchange in a chosen chunking, and reading attributes of OTLP JSON span lines.
 */
#ifndef BT_TEST_MSG_HARNESS_H
#define BT_TEST_MSG_HARNESS_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "braintrust/braintrust.h"
#include "cassette.h"

static uint64_t h_now = 1750000000000000000ull;
static inline uint64_t h_clock(void *ud)
{
    (void)ud;
    return h_now;
}

typedef struct harness {
    bt_tracer *t;
    bt_sink *mem; /* owned by the tracer */
    bt_anthropic *a;
} harness;

static inline void harness_init(harness *h)
{
    memset(h, 0, sizeof *h);
    assert_int_equal(bt_tracer_new(&h->t), BT_OK);
    assert_int_equal(bt_tracer_set_clock(h->t, h_clock, NULL), BT_OK);
    assert_int_equal(bt_sink_memory_new(&h->mem), BT_OK);
    assert_int_equal(bt_tracer_add_sink(h->t, h->mem), BT_OK);
    assert_int_equal(bt_tracer_start(h->t), BT_OK);
    assert_int_equal(bt_anthropic_new(h->t, &h->a), BT_OK);
}

static inline void harness_free(harness *h)
{
    bt_anthropic_free(h->a);
    bt_tracer_free(h->t);
}

/* The one span produced since the last call (malloc'd OTLP JSON line), or NULL. */
static inline char *harness_take_span(harness *h)
{
    assert_int_equal(bt_tracer_flush(h->t, 10000), BT_OK);
    size_t n = bt_sink_memory_count(h->mem);
    char *line = n ? bt_sink_memory_get(h->mem, n - 1) : NULL;
    assert_true(n <= 1);
    bt_sink_memory_clear(h->mem);
    return line;
}

/* Every span produced since the last call, in the order they ended: malloc'd OTLP JSON
 * lines, NULL-terminated (free each and the array); *n_out gets the count. */
static inline char **harness_take_spans(harness *h, size_t *n_out)
{
    assert_int_equal(bt_tracer_flush(h->t, 10000), BT_OK);
    size_t n = bt_sink_memory_count(h->mem);
    char **lines = calloc(n + 1, sizeof *lines);
    assert_non_null(lines);
    for (size_t i = 0; i < n; i++)
        lines[i] = bt_sink_memory_get(h->mem, i);
    bt_sink_memory_clear(h->mem);
    *n_out = n;
    return lines;
}

static inline void free_lines(char **lines)
{
    for (char **l = lines; l && *l; l++)
        free(*l);
    free(lines);
}

enum { FEED_WHOLE = 0, FEED_BYTES = 1, FEED_RANDOM = 2 };

static inline void feed_chunks(bt_exchange *ex, const char *body, size_t len, int mode, unsigned seed)
{
    size_t i = 0;
    while (i < len) {
        size_t n = len - i;
        if (mode == FEED_BYTES)
            n = 1;
        else if (mode == FEED_RANDOM) {
            seed = seed * 1103515245u + 12345u;
            size_t r = (seed >> 8) % 97 + 1;
            n = r < n ? r : n;
        }
        bt_exchange_response_body(ex, body + i, n);
        i += n;
    }
}

/* Feeds a recorded interaction; returns 1 if the endpoint was traced. */
static inline int feed_interaction(harness *h, const bt_test_interaction *it, int mode, unsigned seed,
                                   bt_exchange_outcome outcome)
{
    bt_header *rq = bt_test_headers_view(it->req_headers, it->n_req_headers);
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, it->method, it->target, rq, it->n_req_headers, NULL, &ex),
                     BT_OK);
    free(rq);
    if (!ex)
        return 0;
    if (it->req_body)
        bt_exchange_request_body(ex, it->req_body, it->req_body_len);
    bt_header *rs = bt_test_headers_view(it->resp_headers, it->n_resp_headers);
    bt_exchange_response_headers(ex, it->status, rs, it->n_resp_headers);
    free(rs);
    if (it->resp_body)
        feed_chunks(ex, it->resp_body, it->resp_body_len, mode, seed);
    bt_exchange_end(ex, outcome, NULL);
    return 1;
}

/* --- OTLP JSON span access --------------------------------------------------------- */

static inline json_t *span_attr(json_t *span, const char *key)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(span, "attributes"), i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "key")), key))
            return json_object_get(a, "value");
    }
    return NULL;
}

static inline const char *span_str(json_t *span, const char *key)
{
    return json_string_value(json_object_get(span_attr(span, key), "stringValue"));
}

/* intValue is a decimal string in OTLP JSON (int64); accept a number too. */
static inline long long span_int(json_t *span, const char *key, long long dflt)
{
    json_t *v = json_object_get(span_attr(span, key), "intValue");
    if (json_is_string(v))
        return atoll(json_string_value(v));
    if (json_is_integer(v))
        return (long long)json_integer_value(v);
    return dflt;
}

/* A braintrust.*_json attribute parsed (new reference) or NULL. */
static inline json_t *span_json(json_t *span, const char *key)
{
    const char *s = span_str(span, key);
    return s ? json_loads(s, JSON_DECODE_ANY, NULL) : NULL;
}

static inline int span_status_code(json_t *span)
{
    json_t *st = json_object_get(span, "status");
    json_t *c = json_object_get(st, "code");
    if (json_is_integer(c))
        return (int)json_integer_value(c);
    const char *s = json_string_value(c);
    if (s && strstr(s, "ERROR"))
        return 2;
    if (s && strstr(s, "OK"))
        return 1;
    return 0;
}

static inline const char *span_status_message(json_t *span)
{
    return json_string_value(json_object_get(json_object_get(span, "status"), "message"));
}

/* The span without what legitimately differs between runs (ids, times). */
static inline json_t *span_normalized(const char *line)
{
    json_t *s = json_loads(line, 0, NULL);
    assert_non_null(s);
    static const char *const vary[] = {"traceId", "spanId", "parentSpanId", "startTimeUnixNano",
                                       "endTimeUnixNano"};
    for (size_t i = 0; i < sizeof vary / sizeof *vary; i++)
        json_object_del(s, vary[i]);
    return s;
}

/* gunzip (incl. concatenated members); malloc'd, NUL-terminated. */
static inline char *test_gunzip(const char *in, size_t in_len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(inflateInit2(&z, 15 + 32), Z_OK);
    size_t cap = in_len * 8 + 1024, len = 0;
    char *out = malloc(cap + 1);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)in_len;
    for (;;) {
        if (cap - len < 4096) {
            cap *= 2;
            out = realloc(out, cap + 1);
        }
        z.next_out = (Bytef *)out + len;
        z.avail_out = (uInt)(cap - len);
        int rc = inflate(&z, Z_NO_FLUSH);
        len = cap - z.avail_out;
        if (rc == Z_STREAM_END) {
            if (z.avail_in == 0)
                break;
            inflateReset(&z);
            continue;
        }
        if (rc != Z_OK && rc != Z_BUF_ERROR)
            break;
        if (rc == Z_BUF_ERROR && z.avail_in == 0)
            break;
    }
    inflateEnd(&z);
    out[len] = '\0';
    *out_len = len;
    return out;
}

#endif
