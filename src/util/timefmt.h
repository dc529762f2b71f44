/* Time formats on the wire: RFC 3339 (batch timestamps, "Z" or "+00:00" offsets,
 * optional fraction) and HTTP-date (Retry-After). */
#ifndef BT_UTIL_TIMEFMT_H
#define BT_UTIL_TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/* Parses an RFC 3339 timestamp into ns since the epoch. BT_OK or BT_EPARSE. */
int bt__rfc3339_parse(const char *s, size_t len, uint64_t *unix_nano);
/* Parses an IMF-fixdate HTTP-date ("Sun, 06 Nov 1994 08:49:37 GMT") into seconds since
 * the epoch. BT_OK or BT_EPARSE. */
int bt__http_date_parse(const char *s, size_t len, int64_t *unix_sec);
/* Wall clock now in ns since the epoch; monotonic clock in ns. */
uint64_t bt__now_unix_nano(void);
uint64_t bt__monotonic_nano(void);

#endif
