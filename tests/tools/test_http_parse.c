/* http_parse: request heads, bodies and pipelines, fed whole and byte by byte with the
 * same result; every smuggling shape and limit answered with its status. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_parse.h"
#include "util/buf.h"

/* Feeds `in` in pieces of `step` bytes (0: whole) the way a server does, and writes the
 * events as text: "HEAD POST /x 1 cl=3 te=0 ka=1|BODY abc|END|...|ERROR 400". */
static char *transcript(const char *in, size_t len, size_t step, const hp_limits *lim)
{
    hp_parser *p = hp_parser_new(lim);
    bt__buf out, body;
    bt__buf_init(&out, 0);
    bt__buf_init(&body, 0);
    size_t off = 0;
    int done = 0;
    while (!done) {
        size_t n = step && len - off > step ? step : len - off;
        const char *d = in + off;
        int again = 1;
        while (again) {
            size_t used = 0;
            hp_event ev = hp_feed(p, d, n, &used);
            d += used;
            n -= used;
            off += used;
            again = ev == HP_HEAD || ev == HP_BODY || (ev == HP_END && n > 0);
            if (ev == HP_BODY) {
                /* pieces depend on the feeding: one BODY per request */
                size_t bl;
                const char *b = hp_parser_body(p, &bl);
                bt__buf_append(&body, b, bl);
                continue;
            }
            if (ev != HP_NEED_MORE && body.len) {
                bt__buf_printf(&out, "BODY %s|", body.data);
                bt__buf_reset(&body);
            }
            if (ev == HP_HEAD) {
                const hp_head *h = hp_parser_head(p);
                bt__buf_printf(&out, "HEAD %s %s %d cl=%lld te=%d ka=%d host=%.*s|", h->method, h->target,
                               h->http_minor, (long long)h->content_length, h->chunked, h->keep_alive,
                               h->host ? (int)h->host_len : 1, h->host ? h->host : "-");
            } else if (ev == HP_END) {
                bt__buf_append_str(&out, "END|");
            } else if (ev == HP_ERROR) {
                bt__buf_printf(&out, "ERROR %d", hp_parser_error(p, NULL));
                done = 1;
            }
        }
        if (off >= len)
            done = 1;
    }
    hp_parser_free(p);
    bt__buf_free(&body);
    if (!out.data)
        bt__buf_append_str(&out, "");
    return bt__buf_steal(&out, NULL);
}

/* The transcript must not depend on how the bytes were split. */
static char *parse(const char *in)
{
    size_t len = strlen(in);
    char *whole = transcript(in, len, 0, NULL);
    for (size_t step = 1; step <= 7; step++) {
        char *t = transcript(in, len, step, NULL);
        if (strcmp(t, whole) != 0)
            fail_msg("step %zu gave\n  %s\nwhole gave\n  %s", step, t, whole);
        free(t);
    }
    return whole;
}

static void expect(const char *in, const char *want)
{
    char *got = parse(in);
    if (strcmp(got, want) != 0)
        fail_msg("for %s\n got  %s\n want %s", in, got, want);
    free(got);
}

static void test_simple_requests(void **state)
{
    (void)state;
    expect("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD GET /healthz 1 cl=0 te=0 ka=1 host=x|END|");
    expect("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
           "HEAD GET / 1 cl=0 te=0 ka=0 host=x|END|");
    expect("POST /v1/messages?beta=true HTTP/1.1\r\nHost: a:1\r\nContent-Length: 3\r\n\r\nabc",
           "HEAD POST /v1/messages?beta=true 1 cl=3 te=0 ka=1 host=a:1|BODY abc|END|");
    /* HTTP/1.0 needs no Host; blank lines before a request are skipped */
    expect("\r\n\r\nPOST /e HTTP/1.0\r\nContent-Length: 2\r\n\r\nhi",
           "HEAD POST /e 0 cl=2 te=0 ka=0 host=-|BODY hi|END|");
    /* an Upgrade offer is declined: the request is read as a plain one */
    expect("POST / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: h2c\r\nContent-Length: 1\r\n\r\nz",
           "HEAD POST / 1 cl=1 te=0 ka=1 host=x|BODY z|END|");
    /* empty Host is allowed (RFC 9112 section 3.2) */
    expect("GET / HTTP/1.1\r\nHost:\r\n\r\n", "HEAD GET / 1 cl=0 te=0 ka=1 host=|END|");
}

static void test_chunked_and_pipelined(void **state)
{
    (void)state;
    expect(
        "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n"
        "Trailer-Field: t\r\n\r\n",
        "HEAD POST /c 1 cl=-1 te=1 ka=1 host=x|BODY abcde|END|");
    expect(
        "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nPOST /2 HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nAGET /3 "
        "HTTP/1.1\r\nHost: x\r\n\r\n",
        "HEAD GET /1 1 cl=0 te=0 ka=1 host=x|END|HEAD POST /2 1 cl=1 te=0 ka=1 host=x|BODY A|END|"
        "HEAD GET /3 1 cl=0 te=0 ka=1 host=x|END|");
    expect("POST / HTTP/1.1\r\nHost: x\r\ntransfer-encoding: CHUNKED\r\n\r\n0\r\n\r\n",
           "HEAD POST / 1 cl=-1 te=1 ka=1 host=x|END|");
}

static void test_smuggling_shapes(void **state)
{
    (void)state;
    /* obs-fold, including a value that starts on the folded line */
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length:\r\n 3\r\n\r\nabc", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n\tb\r\n\r\n", "ERROR 400");
    /* names with a space, or white space before the colon */
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent Length: 3\r\n\r\nabc", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: x\r\n: empty\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: x\r\nno colon\r\n\r\n", "ERROR 400");
    /* Host: missing or twice on HTTP/1.1, twice on 1.0, invalid */
    expect("GET / HTTP/1.1\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.0\r\nHost: a\r\nHost: a\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: a b\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n", "ERROR 400");
    /* framing conflicts */
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
           "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999\r\n\r\n", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, gzip\r\n\r\n", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", "ERROR 501");
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n",
           "ERROR 400");
    expect("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", "ERROR 400");
    expect("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n",
           "HEAD POST / 1 cl=-1 te=1 ka=1 host=x|ERROR 400");
    /* line endings and control bytes */
    expect("GET / HTTP/1.1\nHost: x\n\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x01\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x7f\r\n\r\n", "ERROR 400");
    expect("GET /a\tb HTTP/1.1\r\nHost: x\r\n\r\n", "ERROR 400");
    expect("GET  / HTTP/1.1\r\nHost: x\r\n\r\n", "ERROR 400");
    expect("GET / HTTP/1.1 \r\nHost: x\r\n\r\n", "ERROR 400");
    /* versions, methods, Expect */
    expect("GET / HTTP/2.0\r\nHost: x\r\n\r\n", "ERROR 505");
    expect("GET / HTTP/1.10\r\nHost: x\r\n\r\n", "ERROR 400");
    expect("GET / http/1.1\r\nHost: x\r\n\r\n", "ERROR 400");
    expect("BREW / HTTP/1.1\r\nHost: x\r\n\r\n", "ERROR 501");
    expect("CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n", "ERROR 405");
    expect("POST / HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\na", "ERROR 417");
    expect("BROKEN\r\n\r\n", "ERROR 400");
}

static void test_obs_text_and_tabs_are_kept(void **state)
{
    (void)state;
    char *t = parse("GET / HTTP/1.1\r\nHost: x\r\nX-A: \t caf\xc3\xa9 \tb \t\r\n\r\n");
    assert_string_equal(t, "HEAD GET / 1 cl=0 te=0 ka=1 host=x|END|");
    free(t);
    hp_parser *p = hp_parser_new(NULL);
    const char req[] = "GET / HTTP/1.1\r\nHost: x\r\nX-A: \t caf\xc3\xa9 \tb \t\r\n\r\n";
    size_t used;
    assert_int_equal(hp_feed(p, req, sizeof req - 1, &used), HP_HEAD);
    const hp_field *f = hp_head_field(hp_parser_head(p), "x-a");
    assert_non_null(f);
    assert_int_equal(f->value_len, 8);
    assert_memory_equal(f->value, "caf\xc3\xa9 \tb", 8);
    hp_parser_free(p);
}

static void test_limits(void **state)
{
    (void)state;
    hp_limits lim = {.max_head_bytes = 256, .max_fields = 4, .max_target_bytes = 32};
    char req[1024];
    snprintf(req, sizeof req, "GET /%040d HTTP/1.1\r\nHost: x\r\n\r\n", 0);
    char *t = transcript(req, strlen(req), 0, &lim);
    assert_string_equal(t, "ERROR 414");
    free(t);
    /* an endless request line is cut early, without waiting for its end */
    memset(req, 'a', sizeof req);
    memcpy(req, "GET /", 5);
    t = transcript(req, sizeof req, 0, &lim);
    assert_string_equal(t, "ERROR 414");
    free(t);
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n\r\n");
    t = transcript(req, strlen(req), 0, &lim);
    assert_string_equal(t, "ERROR 431");
    free(t);
    snprintf(req, sizeof req, "GET / HTTP/1.1\r\nHost: x\r\nA: %0300d\r\n\r\n", 0);
    t = transcript(req, strlen(req), 0, &lim);
    assert_string_equal(t, "ERROR 431");
    free(t);
    snprintf(req, sizeof req, "%s", "\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n");
    t = transcript(req, strlen(req), 0, &lim);
    assert_string_equal(t, "ERROR 400");
    free(t);
}

static void test_in_head_and_error_reason(void **state)
{
    (void)state;
    hp_parser *p = hp_parser_new(NULL);
    size_t used;
    assert_int_equal(hp_feed(p, "\r\n", 2, &used), HP_NEED_MORE);
    assert_false(hp_parser_in_head(p));
    assert_int_equal(hp_feed(p, "GET / HT", 8, &used), HP_NEED_MORE);
    assert_true(hp_parser_in_head(p));
    assert_int_equal(hp_feed(p, "TP/1.1\r\nX-A:\r\n b\r\n\r\n", 21, &used), HP_ERROR);
    const char *why = NULL;
    assert_int_equal(hp_parser_error(p, &why), 400);
    assert_non_null(strstr(why, "obs-fold"));
    hp_parser_free(p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_simple_requests),  cmocka_unit_test(test_chunked_and_pipelined),
        cmocka_unit_test(test_smuggling_shapes), cmocka_unit_test(test_obs_text_and_tabs_are_kept),
        cmocka_unit_test(test_limits),           cmocka_unit_test(test_in_head_and_error_reason),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
