/* The decoders and the router over every recording in ../shared/fixtures/anthropic:
 * each request routes the same from its path and its absolute URL (Messages, batch
 * and count_tokens calls are all recognised), and every compressed response body
 * inflates cleanly in random chunks into JSON or into an SSE stream of JSON events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "braintrust/common.h"
#include "cassette.h"
#include "decode/inflate.h"
#include "decode/router.h"
#include "decode/sse.h"
#include "util/buf.h"

static const char *const SUFFIXES[] = {".yaml", ".yml", ".json", NULL};

static int on_bytes(void *ud, const char *data, size_t len)
{
    return bt__buf_append(ud, data, len) == BT_OK ? 0 : 1;
}

typedef struct {
    size_t events;
    size_t bad;
} sse_check;

static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                    int truncated)
{
    sse_check *c = ud;
    c->events++;
    json_t *j = json_loadb(data, data_len, 0, NULL);
    const char *type = json_string_value(json_object_get(j, "type"));
    if (truncated || !type || strlen(type) != event_len || memcmp(type, event, event_len) != 0)
        c->bad++;
    json_decref(j);
    return 0;
}

static int has_path(const char *target, const char *path)
{
    size_t n = strlen(path);
    const char *p = strstr(target, path);
    return p && (p[n] == '\0' || p[n] == '?');
}

static void check_route(const bt_test_interaction *it, size_t *routed)
{
    if (!it->method || !it->target || !it->url)
        return;
    bt__route a, b;
    bt__route_match(it->method, it->target, strlen(it->target), &a);
    bt__route_match(it->method, it->url, strlen(it->url), &b);
    if (a.kind != b.kind || a.beta != b.beta || strcmp(a.batch_id, b.batch_id) != 0)
        fail_msg("%s %s: path and URL route differently", it->method, it->url);
    int expect_routed = strcmp(it->method, "POST") == 0 &&
        (has_path(it->target, "/v1/messages") || has_path(it->target, "/v1/messages/count_tokens"));
    if (expect_routed && a.kind == BT__ROUTE_NONE)
        fail_msg("%s %s: not routed", it->method, it->target);
    if (strstr(it->target, "/v1/messages/batches") && a.kind == BT__ROUTE_NONE &&
        strcmp(it->method, "HEAD") != 0)
        fail_msg("%s %s: batch call not routed", it->method, it->target);
    if (strstr(it->target, "beta=true") && a.kind != BT__ROUTE_NONE && !a.beta)
        fail_msg("%s %s: beta flag lost", it->method, it->target);
    if (a.kind != BT__ROUTE_NONE)
        (*routed)++;
}

/* Inflates a recorded body in pseudo-random chunks and checks what comes out. */
static void check_body(const bt_test_interaction *it, const char *file, unsigned seed, size_t *decoded)
{
    const char *enc = bt_test_header_get(it->resp_headers, it->n_resp_headers, "content-encoding");
    if (!enc || !it->resp_body || it->resp_body_missing || it->resp_body_len == 0)
        return;
    bt__coding coding;
    if (bt__coding_parse(enc, strlen(enc), &coding) != BT_OK)
        fail_msg("%s: content-encoding '%s' not supported", file, enc);
    if (coding == BT__CODING_IDENTITY)
        return;
    bt__buf out;
    bt__buf_init(&out, 0);
    bt__inflate *z = bt__inflate_new(coding, 64u << 20, on_bytes, &out);
    assert_non_null(z);
    srand(seed);
    for (size_t at = 0; at < it->resp_body_len;) {
        size_t n = 1 + (size_t)rand() % 300;
        if (n > it->resp_body_len - at)
            n = it->resp_body_len - at;
        if (bt__inflate_feed(z, it->resp_body + at, n) != BT_OK)
            fail_msg("%s: body does not inflate", file);
        at += n;
    }
    if (bt__inflate_finish(z) != BT_OK)
        fail_msg("%s: compressed body cut short", file);
    bt__inflate_free(z);
    assert_true(out.len > 0);

    const char *ct = bt_test_header_get(it->resp_headers, it->n_resp_headers, "content-type");
    if (ct && strncmp(ct, "text/event-stream", 17) == 0) {
        sse_check c = {0, 0};
        bt__sse *p = bt__sse_new(1u << 20, on_event, &c);
        bt__sse_feed(p, out.data, out.len);
        bt__sse_feed(p, "\n\n", 2); /* the connection's end ends the last event */
        bt__sse_free(p);
        if (c.events < 2 || c.bad)
            fail_msg("%s: %zu events, %zu not matching JSON", file, c.events, c.bad);
    } else {
        json_error_t err;
        json_t *j = json_loadb(out.data, out.len, 0, &err);
        if (!j)
            fail_msg("%s: inflated body is not JSON: %s", file, err.text);
        json_decref(j);
    }
    bt__buf_free(&out);
    (*decoded)++;
}

static void test_recorded_traffic(void **state)
{
    (void)state;
    char **files = bt_test_list_fixtures("anthropic", SUFFIXES);
    assert_non_null(files);
    size_t loaded = 0, interactions = 0, routed = 0, decoded = 0;
    for (size_t f = 0; files[f]; f++) {
        if (strstr(files[f], "SOURCES"))
            continue;
        bt_test_cassette cas;
        if (bt_test_cassette_load(files[f], &cas) != 0)
            continue; /* not a cassette (e.g. a plain JSON body) */
        loaded++;
        for (size_t i = 0; i < cas.n; i++) {
            interactions++;
            check_route(&cas.items[i], &routed);
            check_body(&cas.items[i], files[f], (unsigned)(f * 131 + i), &decoded);
        }
        bt_test_cassette_free(&cas);
    }
    bt_test_free_list(files);
    printf("recordings: %zu cassettes, %zu interactions, %zu routed, %zu compressed bodies decoded\n", loaded,
           interactions, routed, decoded);
    assert_true(loaded >= 20);
    assert_true(routed >= interactions / 2);
    assert_true(decoded >= 10);
}

int main(void)
{
    bt_test_require_fixtures(__FILE__);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_traffic),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
