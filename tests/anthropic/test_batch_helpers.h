/*
 * Shared by the tests/anthropic/test_batch*.c programs (each includes it once): a
 * started tracer with a controllable clock and a memory sink, exchanges driven from
 * strings, and reading exported spans (OTLP JSON lines) back as jansson values.
 */
#ifndef BT_TEST_BATCH_HELPERS_H
#define BT_TEST_BATCH_HELPERS_H

#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <jansson.h>

#include "braintrust/braintrust.h"
#include "cassette.h"

/* 2026-06-22T18:00:00Z, after the recorded batches were created. */
#define TB_T0 1782151200000000000ull
#define TB_DAY_NS (86400ull * 1000000000ull)

static uint64_t tb_clock_now = TB_T0;

static inline uint64_t tb_clock(void *ud)
{
    (void)ud;
    return tb_clock_now;
}

typedef struct tb_env {
    bt_tracer *tracer;
    bt_sink *sink; /* owned by the tracer */
    bt_anthropic *a;
} tb_env;

/* A started tracer with the test clock and a memory sink; store_path may be NULL. */
static inline void tb_env_open(tb_env *e, const char *store_path)
{
    memset(e, 0, sizeof *e);
    assert_int_equal(bt_tracer_new(&e->tracer), BT_OK);
    assert_int_equal(bt_tracer_set_clock(e->tracer, tb_clock, NULL), BT_OK);
    assert_int_equal(bt_sink_memory_new(&e->sink), BT_OK);
    assert_int_equal(bt_tracer_add_sink(e->tracer, e->sink), BT_OK);
    assert_int_equal(bt_tracer_start(e->tracer), BT_OK);
    assert_int_equal(bt_anthropic_new(e->tracer, &e->a), BT_OK);
    if (store_path)
        assert_int_equal(bt_anthropic_set_correlation_store(e->a, store_path), BT_OK);
}

static inline void tb_env_close(tb_env *e)
{
    bt_anthropic_free(e->a);
    bt_tracer_free(e->tracer);
    memset(e, 0, sizeof *e);
}

/* A scratch file path under BT_TEST_TMPDIR, removed first (with its WAL files). */
static inline const char *tb_tmp_path(const char *name)
{
    static char path[4][1024];
    static int slot;
    char *p = path[slot++ % 4];
    const char *dir = getenv("BT_TEST_TMPDIR");
    snprintf(p, 1024, "%s/batches-%ld-%s", dir ? dir : "/tmp", (long)getpid(), name);
    char side[1100];
    unlink(p);
    snprintf(side, sizeof side, "%s-wal", p);
    unlink(side);
    snprintf(side, sizeof side, "%s-shm", p);
    unlink(side);
    return p;
}

typedef struct tb_call {
    const char *method;
    const char *target;
    const bt_header *req_headers;
    size_t n_req_headers;
    const char *req_body;
    size_t req_body_len; /* 0: strlen */
    int status;
    const bt_header *resp_headers;
    size_t n_resp_headers;
    const char *resp_body;
    size_t resp_body_len; /* 0: strlen */
    size_t chunk;         /* 0: one piece */
    bt_exchange_outcome outcome;
    const char *braintrust_parent;
} tb_call;

static inline void tb_feed(void (*fn)(bt_exchange *, const void *, size_t), bt_exchange *ex, const char *data,
                           size_t len, size_t chunk)
{
    if (!data)
        return;
    if (!chunk)
        chunk = len ? len : 1;
    for (size_t off = 0; off < len; off += chunk)
        fn(ex, data + off, len - off < chunk ? len - off : chunk);
}

static inline void tb_exchange(tb_env *e, const tb_call *c, bt_exchange_info *info)
{
    bt_exchange *ex = NULL;
    bt_exchange_options o = {0};
    o.braintrust_parent = c->braintrust_parent;
    assert_int_equal(bt_exchange_begin(e->a, c->method, c->target, c->req_headers, c->n_req_headers, &o, &ex),
                     BT_OK);
    assert_non_null(ex);
    tb_feed(bt_exchange_request_body, ex, c->req_body,
            c->req_body ? (c->req_body_len ? c->req_body_len : strlen(c->req_body)) : 0, c->chunk);
    bt_exchange_response_headers(ex, c->status, c->resp_headers, c->n_resp_headers);
    tb_feed(bt_exchange_response_body, ex, c->resp_body,
            c->resp_body ? (c->resp_body_len ? c->resp_body_len : strlen(c->resp_body)) : 0, c->chunk);
    bt_exchange_end(ex, c->outcome, info);
}

/* Every span exported so far, as a JSON array of OTLP Span objects (new reference). */
static inline json_t *tb_spans(tb_env *e)
{
    assert_int_equal(bt_tracer_flush(e->tracer, 10000), BT_OK);
    json_t *all = json_array();
    size_t n = bt_sink_memory_count(e->sink);
    for (size_t i = 0; i < n; i++) {
        char *line = bt_sink_memory_get(e->sink, i);
        assert_non_null(line);
        json_error_t err;
        json_t *span = json_loads(line, 0, &err);
        if (!span)
            fail_msg("span line %zu is not JSON: %s", i, err.text);
        json_array_append_new(all, span);
        free(line);
    }
    return all;
}

/* Raw exported lines joined by '\n' (malloc'd), to compare runs byte for byte. */
static inline char *tb_span_lines(tb_env *e)
{
    assert_int_equal(bt_tracer_flush(e->tracer, 10000), BT_OK);
    size_t n = bt_sink_memory_count(e->sink), len = 0;
    char *out = calloc(1, 1);
    for (size_t i = 0; i < n; i++) {
        char *line = bt_sink_memory_get(e->sink, i);
        size_t k = strlen(line);
        out = realloc(out, len + k + 2);
        memcpy(out + len, line, k);
        len += k;
        out[len++] = '\n';
        out[len] = '\0';
        free(line);
    }
    return out;
}

static inline void tb_clear(tb_env *e)
{
    assert_int_equal(bt_tracer_flush(e->tracer, 10000), BT_OK);
    bt_sink_memory_clear(e->sink);
}

/* The attribute value object {"stringValue":...} etc. of `key`, or NULL. */
static inline json_t *tb_attr(json_t *span, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(span, "attributes"), i, kv)
    {
        if (strcmp(json_string_value(json_object_get(kv, "key")), key) == 0)
            return json_object_get(kv, "value");
    }
    return NULL;
}

static inline const char *tb_attr_str(json_t *span, const char *key)
{
    return json_string_value(json_object_get(tb_attr(span, key), "stringValue"));
}

static inline int64_t tb_attr_int(json_t *span, const char *key)
{
    json_t *v = json_object_get(tb_attr(span, key), "intValue");
    if (json_is_string(v))
        return strtoll(json_string_value(v), NULL, 10);
    return json_is_integer(v) ? json_integer_value(v) : INT64_MIN;
}

/* A JSON-valued attribute (braintrust.metadata, ...) parsed; new reference or NULL. */
static inline json_t *tb_attr_json(json_t *span, const char *key)
{
    const char *s = tb_attr_str(span, key);
    return s ? json_loads(s, 0, NULL) : NULL;
}

/* Number of spans named `name`. */
static inline size_t tb_count(json_t *spans, const char *name)
{
    size_t i, n = 0;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            n++;
    }
    return n;
}

/* The only span named `name` (fails when there are 0 or several). Borrowed. */
static inline json_t *tb_one(json_t *spans, const char *name)
{
    assert_int_equal(tb_count(spans, name), 1);
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), name) == 0)
            return s;
    }
    return NULL;
}

/* The child llm span of `custom_id` (by its metadata), or NULL. Borrowed. */
static inline json_t *tb_child(json_t *spans, const char *custom_id)
{
    size_t i;
    json_t *s, *found = NULL;
    json_array_foreach(spans, i, s)
    {
        if (strcmp(json_string_value(json_object_get(s, "name")), "anthropic.messages.create") != 0)
            continue;
        json_t *md = tb_attr_json(s, "braintrust.metadata");
        const char *id = json_string_value(json_object_get(md, "custom_id"));
        if (id && strcmp(id, custom_id) == 0) {
            assert_null(found);
            found = s;
        }
        json_decref(md);
    }
    return found;
}

static inline const char *tb_str(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static inline uint64_t tb_u64(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_string(v) ? strtoull(json_string_value(v), NULL, 10) : (uint64_t)json_integer_value(v);
}

/* Hex of a derived id, as OTLP JSON writes it. */
static inline void tb_hex(const uint8_t *id, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", id[i]);
}

static inline void tb_batch_ids(const char *batch_id, char trace_hex[33], char span_hex[17])
{
    uint8_t trace[16], span[8];
    bt_derive_id("anthropic:batch:trace", batch_id, strlen(batch_id), trace, 16);
    bt_derive_id("anthropic:batch:span", batch_id, strlen(batch_id), span, 8);
    tb_hex(trace, 16, trace_hex);
    tb_hex(span, 8, span_hex);
}

static inline void tb_child_id(const char *batch_id, const char *custom_id, char span_hex[17])
{
    char key[256];
    size_t b = strlen(batch_id), c = strlen(custom_id);
    memcpy(key, batch_id, b);
    key[b] = '\0';
    memcpy(key + b + 1, custom_id, c);
    uint8_t span[8];
    bt_derive_id("anthropic:batch:child", key, b + 1 + c, span, 8);
    tb_hex(span, 8, span_hex);
}

/* Loads a recorded cassette from ../shared/fixtures/anthropic. */
static inline void tb_cassette(const char *relative, bt_test_cassette *out)
{
    char rel[512];
    snprintf(rel, sizeof rel, "anthropic/%s", relative);
    assert_int_equal(bt_test_cassette_load(bt_test_fixture_path(rel), out), BT_OK);
    assert_true(out->n > 0);
}

/* Replays one recorded interaction through an exchange. */
static inline void tb_replay(tb_env *e, const bt_test_interaction *it, bt_exchange_info *info)
{
    bt_header *rq = bt_test_headers_view(it->req_headers, it->n_req_headers);
    bt_header *rs = bt_test_headers_view(it->resp_headers, it->n_resp_headers);
    tb_call c = {.method = it->method,
                 .target = it->target,
                 .req_headers = rq,
                 .n_req_headers = it->n_req_headers,
                 .req_body = it->req_body,
                 .req_body_len = it->req_body_len,
                 .status = it->status,
                 .resp_headers = rs,
                 .n_resp_headers = it->n_resp_headers,
                 .resp_body = it->resp_body,
                 .resp_body_len = it->resp_body_len};
    tb_exchange(e, &c, info);
    free(rq);
    free(rs);
}

#endif
