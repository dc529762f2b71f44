/* The OTLP/HTTP retry policy (retryable statuses, Retry-After, backoff with jitter). */
#include "export/otlp_retry.h"

#include "braintrust/common.h"
#include "util/timefmt.h"

int bt__otlp_status_retryable(long status)
{
    return status == 429 || status == 502 || status == 503 || status == 504;
}

/* A day: a server asking for more than that is treated as asking for that. */
#define RETRY_AFTER_MAX_SEC 86400

int64_t bt__retry_after_ms(const char *value, size_t len, int64_t now_unix_sec)
{
    size_t a = 0, b = len;
    while (a < b && (value[a] == ' ' || value[a] == '\t'))
        a++;
    while (b > a &&
           (value[b - 1] == ' ' || value[b - 1] == '\t' || value[b - 1] == '\r' || value[b - 1] == '\n'))
        b--;
    if (a == b)
        return -1;
    int digits = 1;
    for (size_t i = a; i < b; i++)
        if (value[i] < '0' || value[i] > '9')
            digits = 0;
    if (digits) {
        int64_t sec = 0;
        for (size_t i = a; i < b && sec <= RETRY_AFTER_MAX_SEC; i++)
            sec = sec * 10 + (value[i] - '0');
        if (sec > RETRY_AFTER_MAX_SEC)
            sec = RETRY_AFTER_MAX_SEC;
        return sec * 1000;
    }
    int64_t when;
    if (bt__http_date_parse(value + a, b - a, &when) != BT_OK)
        return -1;
    int64_t sec = when - now_unix_sec;
    if (sec < 0)
        sec = 0;
    if (sec > RETRY_AFTER_MAX_SEC)
        sec = RETRY_AFTER_MAX_SEC;
    return sec * 1000;
}

int64_t bt__backoff_ms(int attempt, uint64_t r)
{
    int64_t d = BT__BACKOFF_BASE_MS;
    for (int i = 0; i < attempt && d < BT__BACKOFF_CAP_MS; i++)
        d *= 2;
    if (d > BT__BACKOFF_CAP_MS)
        d = BT__BACKOFF_CAP_MS;
    int64_t half = d / 2;
    return half + (int64_t)(r % (uint64_t)(half + 1));
}
