/* W3C traceparent/tracestate: valid forms, a table of invalid ones, future versions,
 * formatting and round trips. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "braintrust/span.h"

#define TID "4bf92f3577b34da6a3ce929d0e0e4736"
#define SID "00f067aa0ba902b7"

static void test_parse_valid(void **state)
{
    (void)state;
    bt_span_context c;
    assert_int_equal(bt_traceparent_parse("00-" TID "-" SID "-01", "congo=t61rcWkgMzE", &c), BT_OK);
    static const uint8_t tid[16] = {0x4b, 0xf9, 0x2f, 0x35, 0x77, 0xb3, 0x4d, 0xa6,
                                    0xa3, 0xce, 0x92, 0x9d, 0x0e, 0x0e, 0x47, 0x36};
    static const uint8_t sid[8] = {0x00, 0xf0, 0x67, 0xaa, 0x0b, 0xa9, 0x02, 0xb7};
    assert_memory_equal(c.trace_id, tid, 16);
    assert_memory_equal(c.span_id, sid, 8);
    assert_int_equal(c.trace_flags, 1);
    assert_string_equal(c.tracestate, "congo=t61rcWkgMzE");

    assert_int_equal(bt_traceparent_parse("00-" TID "-" SID "-00", NULL, &c), BT_OK);
    assert_int_equal(c.trace_flags, 0);
    assert_string_equal(c.tracestate, "");
    /* optional whitespace around a header value */
    assert_int_equal(bt_traceparent_parse(" \t00-" TID "-" SID "-01 ", "  a=b ,c=d ", &c), BT_OK);
    assert_string_equal(c.tracestate, "a=b ,c=d");
}

static void test_parse_future_versions(void **state)
{
    (void)state;
    bt_span_context c;
    /* a higher version may be longer, with further fields after a '-' */
    assert_int_equal(bt_traceparent_parse("cc-" TID "-" SID "-01", NULL, &c), BT_OK);
    assert_int_equal(bt_traceparent_parse("cc-" TID "-" SID "-01-what-the-future-holds", NULL, &c), BT_OK);
    assert_int_equal(c.trace_flags, 1);
    assert_int_equal(bt_traceparent_parse("cc-" TID "-" SID "-01.what", NULL, &c), BT_EPARSE);
}

static void test_parse_invalid_table(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "",
        "00",
        "00-" TID "-" SID,        /* no flags */
        "00-" TID "-" SID "-01-", /* version 00 must be exactly 55 */
        "00-" TID "-" SID "-010",
        "ff-" TID "-" SID "-01",                          /* version ff is forbidden */
        "00-00000000000000000000000000000000-" SID "-01", /* zero trace id */
        "00-" TID "-0000000000000000-01",                 /* zero span id */
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-" SID "-01", /* uppercase hex */
        "00-" TID "-00F067AA0BA902B7-01",
        "0g-" TID "-" SID "-01",
        "00-" TID "-" SID "-0x",
        "00_" TID "-" SID "-01",
        "00-" TID "_" SID "-01",
        "00-" TID "-" SID "_01",
        "00-4bf92f3577b34da6a3ce929d0e0e473-" SID "0-01", /* misplaced dash */
        "00-" TID "-" SID "-01\n",                        /* control character */
        "-00-" TID "-" SID "-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bt_span_context c;
        memset(&c, 0x5a, sizeof c);
        int rc = bt_traceparent_parse(bad[i], NULL, &c);
        if (rc != BT_EPARSE)
            fail_msg("accepted invalid traceparent #%zu: \"%s\"", i, bad[i]);
    }
    bt_span_context c;
    assert_int_equal(bt_traceparent_parse(NULL, NULL, &c), BT_EINVAL);
    assert_int_equal(bt_traceparent_parse("00-" TID "-" SID "-01", NULL, NULL), BT_EINVAL);
}

static void test_bad_tracestate_is_dropped_not_fatal(void **state)
{
    (void)state;
    bt_span_context c;
    char longts[700];
    memset(longts, 'a', sizeof longts - 1);
    longts[sizeof longts - 1] = '\0';
    assert_int_equal(bt_traceparent_parse("00-" TID "-" SID "-01", longts, &c), BT_OK);
    assert_string_equal(c.tracestate, "");
    assert_int_equal(bt_traceparent_parse("00-" TID "-" SID "-01", "a=b\r\nx: y", &c), BT_OK);
    assert_string_equal(c.tracestate, "");
}

static void test_format_and_round_trip(void **state)
{
    (void)state;
    bt_span_context c;
    assert_int_equal(bt_traceparent_parse("00-" TID "-" SID "-01", NULL, &c), BT_OK);
    char out[56];
    assert_int_equal(bt_traceparent_format(&c, out), BT_OK);
    assert_string_equal(out, "00-" TID "-" SID "-01");
    assert_int_equal(strlen(out), 55);
    /* a future version is re-emitted as version 00 */
    assert_int_equal(bt_traceparent_parse("cc-" TID "-" SID "-03-extra", NULL, &c), BT_OK);
    assert_int_equal(bt_traceparent_format(&c, out), BT_OK);
    assert_string_equal(out, "00-" TID "-" SID "-03");
    memset(c.span_id, 0, 8);
    assert_int_equal(bt_traceparent_format(&c, out), BT_EINVAL);
    assert_int_equal(bt_traceparent_format(NULL, out), BT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_valid),
        cmocka_unit_test(test_parse_future_versions),
        cmocka_unit_test(test_parse_invalid_table),
        cmocka_unit_test(test_bad_tracestate_is_dropped_not_fatal),
        cmocka_unit_test(test_format_and_round_trip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
