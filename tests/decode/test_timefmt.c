/* Time formats: RFC 3339 parsing (offsets, fractions, calendar validity, garbage) and
 * round trips against the C library's calendar, IMF-fixdate, and the clocks. (timefmt lives in util;
 * its tests live with the decoders, which own it.) */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "braintrust/common.h"
#include "util/timefmt.h"

#define S 1000000000ull

static const struct {
    const char *in;
    int rc;
    uint64_t ns;
} RFC3339[] = {
    {"1970-01-01T00:00:00Z", BT_OK, 0},
    {"2024-10-08T18:30:45Z", BT_OK, 1728412245ull * S},
    {"2024-10-08T18:30:45+00:00", BT_OK, 1728412245ull * S},
    {"2024-10-08T18:30:45-00:00", BT_OK, 1728412245ull * S},
    {"2024-10-08T18:30:45-07:00", BT_OK, 1728437445ull * S},
    {"2024-10-08T18:30:45+05:30", BT_OK, 1728392445ull * S},
    {"2024-10-08t18:30:45z", BT_OK, 1728412245ull * S},
    {"2024-10-08 18:30:45Z", BT_OK, 1728412245ull * S},
    {"2024-10-08T18:30:45.1Z", BT_OK, 1728412245ull * S + 100000000},
    {"2024-10-08T18:30:45.123456Z", BT_OK, 1728412245ull * S + 123456000},
    {"2024-10-08T18:30:45.123456789Z", BT_OK, 1728412245ull * S + 123456789},
    {"2024-10-08T18:30:45.000000001+00:00", BT_OK, 1728412245ull * S + 1},
    {"2000-02-29T12:00:00Z", BT_OK, 951825600ull * S},
    {"2016-12-31T23:59:60Z", BT_OK, 1483228800ull * S}, /* leap second folds forward */
    {"2262-04-11T23:47:16Z", BT_OK, 9223372036ull * S},
    {"2024-10-08T18:30:45.1234567890Z", BT_EPARSE, 0},
    {"2024-10-08T18:30:45.Z", BT_EPARSE, 0},
    {"2024-10-08T18:30:45", BT_EPARSE, 0},
    {"2024-10-08T18:30:45+0000", BT_EPARSE, 0},
    {"2024-10-08T18:30:45+24:00", BT_EPARSE, 0},
    {"2024-10-08T18:30:45+05:60", BT_EPARSE, 0},
    {"2024-10-08T18:30:45Z ", BT_EPARSE, 0},
    {" 2024-10-08T18:30:45Z", BT_EPARSE, 0},
    {"2024-10-08T18:30:45ZZ", BT_EPARSE, 0},
    {"2024-10-08", BT_EPARSE, 0},
    {"2024-10-08T18:30Z", BT_EPARSE, 0},
    {"2024-1-08T18:30:45Z", BT_EPARSE, 0},
    {"2024-13-01T00:00:00Z", BT_EPARSE, 0},
    {"2024-00-01T00:00:00Z", BT_EPARSE, 0},
    {"2024-01-00T00:00:00Z", BT_EPARSE, 0},
    {"2024-04-31T00:00:00Z", BT_EPARSE, 0},
    {"2023-02-29T00:00:00Z", BT_EPARSE, 0},
    {"2100-02-29T00:00:00Z", BT_EPARSE, 0},
    {"2024-01-01T24:00:00Z", BT_EPARSE, 0},
    {"2024-01-01T23:60:00Z", BT_EPARSE, 0},
    {"2024-01-01T23:59:61Z", BT_EPARSE, 0},
    {"1969-12-31T23:59:59Z", BT_EPARSE, 0},
    {"1970-01-01T00:00:00+01:00", BT_EPARSE, 0},
    {"2024-10-08X18:30:45Z", BT_EPARSE, 0},
    {"2024/10/08T18:30:45Z", BT_EPARSE, 0},
    {"abcd-ef-ghTij:kl:mnZ", BT_EPARSE, 0},
    {"", BT_EPARSE, 0},
    {"Sun, 06 Nov 1994 08:49:37 GMT", BT_EPARSE, 0},
};

static void test_rfc3339_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof RFC3339 / sizeof RFC3339[0]; i++) {
        uint64_t ns = 42;
        int rc = bt__rfc3339_parse(RFC3339[i].in, strlen(RFC3339[i].in), &ns);
        if (rc != RFC3339[i].rc || (rc == BT_OK && ns != RFC3339[i].ns))
            fail_msg("'%s': rc %d ns %llu", RFC3339[i].in, rc, (unsigned long long)ns);
        if (rc != BT_OK && ns != 42)
            fail_msg("'%s': output written on error", RFC3339[i].in);
    }
}

static void test_rfc3339_bounds(void **state)
{
    (void)state;
    uint64_t ns;
    /* Only `len` bytes are read. */
    assert_int_equal(bt__rfc3339_parse("2024-10-08T18:30:45Zjunk", 20, &ns), BT_OK);
    assert_int_equal(ns, 1728412245ull * S);
    assert_int_equal(bt__rfc3339_parse("2024-10-08T18:30:45Z", 19, &ns), BT_EPARSE);
    for (size_t n = 0; n < 20; n++)
        assert_int_equal(bt__rfc3339_parse("2024-10-08T18:30:45Z", n, &ns), BT_EPARSE);
    /* Past what unsigned nanoseconds hold (year 2554). */
    assert_int_equal(bt__rfc3339_parse("9999-12-31T23:59:59Z", 20, &ns), BT_EPARSE);
    assert_int_equal(bt__rfc3339_parse(NULL, 0, &ns), BT_EINVAL);
    assert_int_equal(bt__rfc3339_parse("1970-01-01T00:00:00Z", 20, NULL), BT_EINVAL);
}

/* "YYYY-MM-DDTHH:MM:SS.ffffffZ" by the C library's calendar (gmtime_r), independent of
 * the parser's own day arithmetic. */
static void format_rfc3339(uint64_t unix_nano, char out[40])
{
    time_t secs = (time_t)(unix_nano / S);
    struct tm tm;
    assert_non_null(gmtime_r(&secs, &tm));
    size_t n = strftime(out, 40, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out + n, 40 - n, ".%06uZ", (unsigned)(unix_nano % S / 1000));
}

static void test_rfc3339_round_trip(void **state)
{
    (void)state;
    char out[40];
    format_rfc3339(1728412245ull * S + 123456789, out);
    assert_string_equal(out, "2024-10-08T18:30:45.123456Z");

    /* Round trip at microsecond precision over four centuries of pseudo-random
     * instants (leap years, month ends, century rules). */
    uint64_t x = 88172645463325252ull;
    for (int i = 0; i < 20000; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t t = x % (13000000000ull * S);
        format_rfc3339(t, out);
        assert_int_equal(strlen(out), 27);
        uint64_t back;
        assert_int_equal(bt__rfc3339_parse(out, strlen(out), &back), BT_OK);
        assert_int_equal(back, t - t % 1000);
    }
}

static void test_http_date(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        int rc;
        int64_t s;
    } T[] = {
        {"Sun, 06 Nov 1994 08:49:37 GMT", BT_OK, 784111777},
        {"Thu, 01 Jan 1970 00:00:00 GMT", BT_OK, 0},
        {"Tue, 08 Oct 2024 18:30:45 GMT", BT_OK, 1728412245},
        {"Tue, 29 Feb 2000 12:00:00 GMT", BT_OK, 951825600},
        {"Mon, 06 Nov 1994 08:49:37 GMT", BT_EPARSE, 0}, /* wrong weekday */
        {"Sun, 06 Nov 1994 08:49:37 UTC", BT_EPARSE, 0},
        {"Sun, 06 Nov 1994 08:49:37 gmt", BT_EPARSE, 0},
        {"Sun, 6 Nov 1994 08:49:37 GMT", BT_EPARSE, 0},
        {"Sun, 06 nov 1994 08:49:37 GMT", BT_EPARSE, 0},
        {"Sun, 06 Nov 1994 08:49:37 GMT ", BT_EPARSE, 0},
        {"Sun, 31 Nov 1994 08:49:37 GMT", BT_EPARSE, 0},
        {"Sun, 06 Nov 1994 25:49:37 GMT", BT_EPARSE, 0},
        {"Sun, 06 Nov 1994 08:49 37 GMT", BT_EPARSE, 0},
        {"Sunday, 06-Nov-94 08:49:37 GMT", BT_EPARSE, 0}, /* obsolete RFC 850 form */
        {"Sun Nov  6 08:49:37 1994", BT_EPARSE, 0},       /* obsolete asctime form */
        {"120", BT_EPARSE, 0},
        {"", BT_EPARSE, 0},
        {"Xyz, 06 Nov 1994 08:49:37 GMT", BT_EPARSE, 0},
        {"Sun, 0x Nov 1994 08:49:37 GMT", BT_EPARSE, 0},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        int64_t s = 42;
        int rc = bt__http_date_parse(T[i].in, strlen(T[i].in), &s);
        if (rc != T[i].rc || (rc == BT_OK && s != T[i].s))
            fail_msg("'%s': rc %d s %lld", T[i].in, rc, (long long)s);
    }
    int64_t s;
    assert_int_equal(bt__http_date_parse(NULL, 0, &s), BT_EINVAL);
    assert_int_equal(bt__http_date_parse("Sun, 06 Nov 1994 08:49:37 GMT", 29, NULL), BT_EINVAL);
}

static void test_clocks(void **state)
{
    (void)state;
    /* Wall clock: after this code was written (2024-01-01). */
    assert_true(bt__now_unix_nano() > 1704067200ull * S);
    uint64_t prev = bt__monotonic_nano();
    for (int i = 0; i < 1000; i++) {
        uint64_t now = bt__monotonic_nano();
        assert_true(now >= prev);
        prev = now;
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc3339_table),
        cmocka_unit_test(test_rfc3339_bounds),
        cmocka_unit_test(test_rfc3339_round_trip),
        cmocka_unit_test(test_http_date),
        cmocka_unit_test(test_clocks),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
