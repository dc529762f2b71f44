/*
 * Fuzz target for what an OTLP receiver sends back, the only input the exporter reads
 * from the network: the export response body (protobuf or JSON partial success, the
 * first byte picks which) and the Retry-After header (delta seconds or an HTTP-date),
 * also used by the store's shipper to schedule its next attempt.
 * Invariants: the parsers return BT_OK or BT_EPARSE, the message stays within its cap,
 * a Retry-After delay is -1 or between 0 and a day, and an HTTP-date that parses
 * formats back to a date that parses to the same second.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "braintrust/common.h"
#include "export/otlp_response.h"
#include "export/otlp_retry.h"
#include "util/timefmt.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

#define MSG_CAP 1024

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_http_date(const char *s, size_t len)
{
    int64_t sec;
    if (bt__http_date_parse(s, len, &sec) != BT_OK)
        return;
    if (sec < 0 || sec >= 253402300800LL) /* formats only years 1970..9999 back */
        return;
    time_t t = (time_t)sec;
    struct tm tm;
    CHECK(gmtime_r(&t, &tm));
    char again[64];
    size_t n = strftime(again, sizeof again, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    CHECK(n > 0);
    int64_t back;
    CHECK(bt__http_date_parse(again, n, &back) == BT_OK);
    CHECK(back == sec);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    int is_json = data[0] & 1;
    const uint8_t *body = data + 1;
    size_t len = size - 1;

    int64_t rejected = -7;
    bt__buf msg;
    bt__buf_init(&msg, MSG_CAP);
    int rc = bt__otlp_response_parse(body, len, is_json, &rejected, &msg);
    CHECK(rc == BT_OK || rc == BT_EPARSE);
    CHECK(msg.len <= MSG_CAP);
    CHECK(!msg.data || msg.data[msg.len] == '\0');
    if (len == 0)
        CHECK(rc == BT_OK && rejected == 0 && msg.len == 0);
    bt__buf_free(&msg);

    /* the same bytes as a Retry-After value, with "now" taken from the input */
    int64_t now = 0;
    for (size_t i = 0; i < 5 && i < len; i++)
        now = now * 256 + body[i];
    int64_t ms = bt__retry_after_ms((const char *)body, len, now);
    CHECK(ms == -1 || (ms >= 0 && ms <= 86400LL * 1000));
    check_http_date((const char *)body, len);
    return 0;
}
