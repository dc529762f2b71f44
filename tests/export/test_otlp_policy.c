/*
 * The OTLP sender's rules, without a network: one rule for the OTEL_EXPORTER_OTLP_HEADERS
 * list in the setter and the sink, which statuses are retried, Retry-After in both forms,
 * backoff bounds and jitter, and reading partial-success responses (protobuf and JSON).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "braintrust/sink.h"
#include "export/otlp_response.h"
#include "export/otlp_retry.h"

static void quiet(void *ud, bt_log_level level, const char *msg)
{
}

/* The tracer's setter and the OTLP sink read a header list by one rule: what the
 * setter accepts the sink accepts, what it refuses (disabling the tracer) the sink
 * refuses, so a configuration never passes one check and fails the other. */
static void test_header_list_setter_and_sink_agree(void **state)
{
    (void)state;
    static const struct {
        const char *list;
        int ok;
    } cases[] = {
        {" Authorization = Bearer%20sk-123 ,x-bt-parent=project_name:my%3Aproj,,", 1},
        {"k=", 1},
        {"k=a=b", 1},
        {"k=50%25", 1},
        {"k=Bearer\ttok", 1}, /* a tab is a legal header value character */
        {"k=50%", 0},         /* a '%' without two hex digits */
        {"api-key=a%zz", 0},
        {"k=%4", 0},
        {"novalue", 0},
        {"=v", 0},
        {"bad key=v", 0},
        {"k:x=v", 0},
        {"k=a%0D%0AX-Evil: 1", 0}, /* header injection through an encoded CR LF */
        {"k=a%00b", 0},            /* a NUL that would cut the value */
        {"k=a\x01b", 0},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bt_tracer *t = NULL;
        assert_int_equal(bt_tracer_new(&t), BT_OK);
        bt_tracer_set_logger(t, quiet, NULL);
        int set = bt_tracer_set_otlp_headers(t, cases[i].list);
        bt_tracer_free(t);

        bt_otlp_options o = {0};
        o.traces_url = "http://127.0.0.1:4318/v1/traces";
        o.headers = cases[i].list;
        bt_sink *sink = NULL;
        int made = bt_sink_otlp_new(&o, &sink);
        bt_sink_free(sink);

        if (cases[i].ok != (set == BT_OK) || cases[i].ok != (made == BT_OK))
            fail_msg("%s: expected %s, setter %d, sink %d", cases[i].list, cases[i].ok ? "ok" : "EINVAL", set,
                     made);
        if (!cases[i].ok)
            assert_true(set == BT_EINVAL && made == BT_EINVAL);
    }
}

static void test_retryable_statuses(void **state)
{
    (void)state;
    static const long yes[] = {429, 502, 503, 504};
    static const long no[] = {200, 400, 401, 403, 404, 408, 413, 500, 501, 505};
    for (size_t i = 0; i < sizeof yes / sizeof *yes; i++)
        assert_true(bt__otlp_status_retryable(yes[i]));
    for (size_t i = 0; i < sizeof no / sizeof *no; i++)
        assert_false(bt__otlp_status_retryable(no[i]));
}

static void test_retry_after(void **state)
{
    (void)state;
    /* 784111777 = Sun, 06 Nov 1994 08:49:37 GMT */
    const int64_t now = 784111777;
    assert_int_equal(bt__retry_after_ms("3", 1, now), 3000);
    assert_int_equal(bt__retry_after_ms(" 0 \r\n", 5, now), 0);
    assert_int_equal(bt__retry_after_ms("Sun, 06 Nov 1994 08:49:47 GMT", 29, now), 10000);
    assert_int_equal(bt__retry_after_ms("Sun, 06 Nov 1994 08:49:30 GMT", 29, now), 0); /* past */
    assert_int_equal(bt__retry_after_ms("999999999999999999999", 21, now), 86400 * 1000);
    assert_int_equal(bt__retry_after_ms("", 0, now), -1);
    assert_int_equal(bt__retry_after_ms("-1", 2, now), -1);
    assert_int_equal(bt__retry_after_ms("1.5", 3, now), -1);
    assert_int_equal(bt__retry_after_ms("soon", 4, now), -1);
}

static void test_backoff(void **state)
{
    (void)state;
    /* equal jitter: within [d/2, d] for d = base * 2^attempt, capped */
    for (int attempt = 0; attempt < 20; attempt++) {
        int64_t d = BT__BACKOFF_BASE_MS;
        for (int i = 0; i < attempt && d < BT__BACKOFF_CAP_MS; i++)
            d *= 2;
        if (d > BT__BACKOFF_CAP_MS)
            d = BT__BACKOFF_CAP_MS;
        int64_t lo = INT64_MAX, hi = 0;
        uint64_t r = 12345;
        for (int k = 0; k < 1000; k++) {
            r = r * 6364136223846793005ull + 1442695040888963407ull;
            int64_t v = bt__backoff_ms(attempt, r);
            assert_true(v >= d / 2 && v <= d);
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        /* the jitter really spreads the waits */
        assert_true(hi - lo > d / 4);
    }
    assert_true(bt__backoff_ms(0, 0) >= 100 && bt__backoff_ms(0, UINT64_MAX) <= 500);
    assert_int_equal(bt__backoff_ms(1000, 0), BT__BACKOFF_CAP_MS / 2);
}

static void test_partial_success_protobuf(void **state)
{
    (void)state;
    int64_t rejected = -1;
    bt__buf msg;
    bt__buf_init(&msg, 64);
    /* ExportTraceServiceResponse { partial_success { rejected_spans: 2, error_message: "bad" } } */
    static const uint8_t resp[] = {0x0a, 0x07, 0x08, 0x02, 0x12, 0x03, 'b', 'a', 'd'};
    assert_int_equal(bt__otlp_response_parse(resp, sizeof resp, 0, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 2);
    assert_string_equal(msg.data, "bad");

    /* unknown fields of every wire type are skipped */
    bt__buf_reset(&msg);
    static const uint8_t with_unknown[] = {0x10, 0x05, 0x19, 1,    2,   3,    4,   5,    6,
                                           7,    8,    0x25, 1,    2,   3,    4,   0x0a, 0x05,
                                           0x08, 0x01, 0x1a, 0x01, 'x', 0x2a, 0x00};
    assert_int_equal(bt__otlp_response_parse(with_unknown, sizeof with_unknown, 0, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 1);
    assert_int_equal(msg.len, 0);

    /* empty body and empty partial_success: full success */
    assert_int_equal(bt__otlp_response_parse("", 0, 0, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 0);
    static const uint8_t empty_partial[] = {0x0a, 0x00};
    assert_int_equal(bt__otlp_response_parse(empty_partial, 2, 0, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 0);

    /* truncations and bad lengths are errors, never reads past the end */
    static const uint8_t cut_len[] = {0x0a, 0x09, 0x08, 0x02};
    assert_int_equal(bt__otlp_response_parse(cut_len, sizeof cut_len, 0, &rejected, &msg), BT_EPARSE);
    static const uint8_t cut_varint[] = {0x0a, 0x02, 0x08, 0x82};
    assert_int_equal(bt__otlp_response_parse(cut_varint, sizeof cut_varint, 0, &rejected, &msg), BT_EPARSE);
    static const uint8_t bad_wire[] = {0x0f};
    assert_int_equal(bt__otlp_response_parse(bad_wire, 1, 0, &rejected, &msg), BT_EPARSE);
    static const uint8_t long_varint[] = {0x10, 0xff, 0xff, 0xff, 0xff, 0xff,
                                          0xff, 0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(bt__otlp_response_parse(long_varint, sizeof long_varint, 0, &rejected, &msg), BT_EPARSE);
    bt__buf_free(&msg);
}

static void test_partial_success_json(void **state)
{
    (void)state;
    int64_t rejected = -1;
    bt__buf msg;
    bt__buf_init(&msg, 64);
    const char *a = "{\"partialSuccess\":{\"rejectedSpans\":\"3\",\"errorMessage\":\"span too big\"}}";
    assert_int_equal(bt__otlp_response_parse(a, strlen(a), 1, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 3);
    assert_string_equal(msg.data, "span too big");

    bt__buf_reset(&msg);
    const char *b = "{\"partialSuccess\":{\"rejectedSpans\":4}}";
    assert_int_equal(bt__otlp_response_parse(b, strlen(b), 1, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 4);

    const char *c = "{}";
    assert_int_equal(bt__otlp_response_parse(c, strlen(c), 1, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 0);
    const char *d = "{\"partialSuccess\":{}}";
    assert_int_equal(bt__otlp_response_parse(d, strlen(d), 1, &rejected, &msg), BT_OK);
    assert_int_equal(rejected, 0);

    const char *bad[] = {"{", "[]", "{\"partialSuccess\":{\"rejectedSpans\":\"x\"}}",
                         "{\"partialSuccess\":{\"rejectedSpans\":true}}"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(bt__otlp_response_parse(bad[i], strlen(bad[i]), 1, &rejected, &msg), BT_EPARSE);
    bt__buf_free(&msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_header_list_setter_and_sink_agree),
        cmocka_unit_test(test_retryable_statuses),
        cmocka_unit_test(test_retry_after),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_partial_success_protobuf),
        cmocka_unit_test(test_partial_success_json),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
