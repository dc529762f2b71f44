/* RFC 3339 and IMF-fixdate parsing/formatting, and the two clocks the library reads.
 * Calendar arithmetic is done by hand (days from civil date) so results never depend
 * on the process time zone or on timegm() being available. */
#define _POSIX_C_SOURCE 200809L
#include "util/timefmt.h"

#include <string.h>
#include <time.h>

#include "braintrust/common.h"

/* Days since 1970-01-01 for a proleptic Gregorian date (valid for any year >= 0). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

static int is_leap(int64_t y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static unsigned days_in_month(int64_t y, unsigned m)
{
    static const unsigned dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && is_leap(y) ? 29 : dm[m - 1];
}

/* Reads exactly `n` decimal digits at s[*i]; -1 when any is missing. */
static int digits(const char *s, size_t len, size_t *i, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[(*i)++] - '0');
    }
    return v;
}

static int expect(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return 0;
    (*i)++;
    return 1;
}

static int valid_fields(int64_t y, int mo, int d, int h, int mi, int sec)
{
    /* Second 60 is accepted as a leap second and folded into the next one by the
     * arithmetic below, as POSIX time does. */
    return mo >= 1 && mo <= 12 && d >= 1 && (unsigned)d <= days_in_month(y, (unsigned)mo) && h >= 0 &&
        h <= 23 && mi >= 0 && mi <= 59 && sec >= 0 && sec <= 60;
}

int bt__rfc3339_parse(const char *s, size_t len, uint64_t *unix_nano)
{
    if (!s || !unix_nano)
        return BT_EINVAL;
    size_t i = 0;
    int y = digits(s, len, &i, 4);
    if (y < 0 || !expect(s, len, &i, '-'))
        return BT_EPARSE;
    int mo = digits(s, len, &i, 2);
    if (mo < 0 || !expect(s, len, &i, '-'))
        return BT_EPARSE;
    int d = digits(s, len, &i, 2);
    if (d < 0 || i >= len || (s[i] != 'T' && s[i] != 't' && s[i] != ' '))
        return BT_EPARSE;
    i++;
    int h = digits(s, len, &i, 2);
    if (h < 0 || !expect(s, len, &i, ':'))
        return BT_EPARSE;
    int mi = digits(s, len, &i, 2);
    if (mi < 0 || !expect(s, len, &i, ':'))
        return BT_EPARSE;
    int sec = digits(s, len, &i, 2);
    if (sec < 0 || !valid_fields(y, mo, d, h, mi, sec))
        return BT_EPARSE;

    uint64_t frac_ns = 0;
    if (i < len && s[i] == '.') {
        i++;
        size_t start = i;
        uint64_t scale = 100000000u;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            if (i - start >= 9)
                return BT_EPARSE; /* more precision than a nanosecond is not a timestamp we emit or receive */
            frac_ns += (uint64_t)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
        if (i == start)
            return BT_EPARSE;
    }

    int64_t offset_s = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z')) {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        int sign = s[i] == '-' ? -1 : 1;
        i++;
        int oh = digits(s, len, &i, 2);
        if (oh < 0 || oh > 23 || !expect(s, len, &i, ':'))
            return BT_EPARSE;
        int om = digits(s, len, &i, 2);
        if (om < 0 || om > 59)
            return BT_EPARSE;
        offset_s = sign * (int64_t)(oh * 3600 + om * 60);
    } else {
        return BT_EPARSE;
    }
    if (i != len)
        return BT_EPARSE;

    int64_t secs =
        days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec - offset_s;
    if (secs < 0 || (uint64_t)secs > UINT64_MAX / 1000000000u - 1)
        return BT_EPARSE; /* before the epoch: not representable as unsigned ns */
    *unix_nano = (uint64_t)secs * 1000000000u + frac_ns;
    return BT_OK;
}

int bt__http_date_parse(const char *s, size_t len, int64_t *unix_sec)
{
    static const char *const wdays[7] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static const char *const months[12] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    if (!s || !unix_sec)
        return BT_EINVAL;
    /* IMF-fixdate is fixed width: "Sun, 06 Nov 1994 08:49:37 GMT" (29 bytes). */
    if (len != 29 || s[3] != ',' || s[4] != ' ' || s[7] != ' ' || s[11] != ' ' || s[16] != ' ' ||
        memcmp(s + 25, " GMT", 4) != 0)
        return BT_EPARSE;
    int wday = -1, mon = -1;
    for (int k = 0; k < 7; k++)
        if (memcmp(s, wdays[k], 3) == 0)
            wday = k;
    for (int k = 0; k < 12; k++)
        if (memcmp(s + 8, months[k], 3) == 0)
            mon = k + 1;
    if (wday < 0 || mon < 0)
        return BT_EPARSE;
    size_t i = 5;
    int d = digits(s, len, &i, 2);
    i = 12;
    int y = digits(s, len, &i, 4);
    i = 17;
    int h = digits(s, len, &i, 2);
    if (h < 0 || !expect(s, len, &i, ':'))
        return BT_EPARSE;
    int mi = digits(s, len, &i, 2);
    if (mi < 0 || !expect(s, len, &i, ':'))
        return BT_EPARSE;
    int sec = digits(s, len, &i, 2);
    if (d < 0 || y < 0 || sec < 0 || !valid_fields(y, mon, d, h, mi, sec))
        return BT_EPARSE;
    int64_t days = days_from_civil(y, (unsigned)mon, (unsigned)d);
    /* 1970-01-01 was a Thursday; a wrong weekday means a forged or garbled date. */
    if ((int)(((days % 7) + 7 + 4) % 7) != wday)
        return BT_EPARSE;
    *unix_sec = days * 86400 + h * 3600 + mi * 60 + sec;
    return BT_OK;
}

uint64_t bt__now_unix_nano(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

uint64_t bt__monotonic_nano(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
