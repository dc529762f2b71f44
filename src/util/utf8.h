/* UTF-8 validation (RFC 3629: no overlongs, no surrogates, max U+10FFFF). */
#ifndef BT_UTIL_UTF8_H
#define BT_UTIL_UTF8_H

#include <stddef.h>

/* Length (1-4) of the valid UTF-8 sequence starting at s, or 0 if it is invalid or
 * cut short by n. */
size_t bt__utf8_valid_prefix_len(const unsigned char *s, size_t n);
/* 1 if all n bytes are valid UTF-8. */
int bt__utf8_valid(const char *s, size_t n);
/* Largest length <= n that does not split a UTF-8 sequence (for truncation). */
size_t bt__utf8_cut(const char *s, size_t n);

#endif
