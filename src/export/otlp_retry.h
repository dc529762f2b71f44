/* When and how long to wait before an OTLP export is tried again. */
#ifndef BT_EXPORT_OTLP_RETRY_H
#define BT_EXPORT_OTLP_RETRY_H

#include <stddef.h>
#include <stdint.h>

/* Backoff limits: the first retry waits about BT__BACKOFF_BASE_MS, doubling up to
 * BT__BACKOFF_CAP_MS. */
#define BT__BACKOFF_BASE_MS 200
#define BT__BACKOFF_CAP_MS 30000

/* 1 for the HTTP statuses the OTLP spec calls retryable: 429, 502, 503, 504. */
int bt__otlp_status_retryable(long status);

/* A Retry-After header value (delta seconds, or an HTTP-date compared with
 * `now_unix_sec`) as a delay in ms (a date in the past gives 0). -1 when it is
 * neither. */
int64_t bt__retry_after_ms(const char *value, size_t len, int64_t now_unix_sec);

/* The wait before retry number `attempt` (0 for the first): exponential from
 * BT__BACKOFF_BASE_MS, capped at BT__BACKOFF_CAP_MS, with "equal jitter" (a random
 * point in the upper half) taken from the random value `r`, so that many clients
 * failing together do not come back together. */
int64_t bt__backoff_ms(int attempt, uint64_t r);

#endif
