/*
 * Small text codecs used across the layers, written once: hex digits, percent-decoding
 * and the W3C "key=value" lists of OTEL_RESOURCE_ATTRIBUTES and
 * OTEL_EXPORTER_OTLP_HEADERS.
 */
#ifndef BT_UTIL_TEXT_H
#define BT_UTIL_TEXT_H

#include <stddef.h>
#include <stdint.h>

/* ---- hex ----------------------------------------------------------------------------- */

/* The value (0-15) of one hex digit, either case; -1 for any other character. */
int bt__hex_digit(int c);

/* Writes the 2*n lowercase hex digits of p[0, n) to out, then a NUL: out holds at least
 * 2*n + 1 bytes. */
void bt__hex_encode(const uint8_t *p, size_t n, char *out);

/* Flags of bt__hex_decode(). */
enum { BT__HEX_LOWERCASE_ONLY = 1 }; /* W3C Trace Context forbids uppercase digits */

/* Reads exactly 2*n hex digits at s into out[0, n). Returns 0, or -1 when one of those
 * characters is not a (permitted) hex digit; out is then left partly written. */
int bt__hex_decode(const char *s, size_t n, uint8_t *out, unsigned flags);

/* ---- percent-decoding ---------------------------------------------------------------- */

/* Flags of bt__percent_decode(). */
enum { BT__PERCENT_PLUS_IS_SPACE = 1 }; /* form encoding, used in query strings */

/*
 * Percent-decoding (RFC 3986 section 2.1), with one contract for every caller:
 * "%XY" with two hex digits (either case) becomes the byte 0xXY and every other byte is
 * copied as it is ('+' becomes a space with BT__PERCENT_PLUS_IS_SPACE). The input is
 * rejected, rather than guessed at, when a '%' is not followed by two hex digits
 * ("50%" must be written "50%25") or when the decoded text holds a NUL byte (which would
 * silently cut it short).
 *
 * Decodes s[0, len) into out (out_size bytes) and NUL-terminates it. Returns the decoded
 * length, or -1 when the input is rejected or the result does not fit in out_size - 1
 * bytes. The decoded text is never longer than the input, so out_size = len + 1 always
 * fits.
 */
long bt__percent_decode(const char *s, size_t len, unsigned flags, char *out, size_t out_size);

/* ---- HTTP field syntax --------------------------------------------------------------- */

/* 1 if s[0, n) is a non-empty RFC 9110 token (a header field name, a list key). */
int bt__http_token(const char *s, size_t n);

/* 1 if s[0, n) can be sent as an HTTP field value as it is: no control characters
 * other than horizontal tab, no DEL (a CR or LF could forge extra header lines). */
int bt__http_value_safe(const char *s, size_t n);

/* ---- W3C key=value lists ------------------------------------------------------------- */

/* Called once per member, in order, with the key and the decoded value (both
 * NUL-terminated, borrowed for the call). Returns 0 (BT_OK) to go on; anything else
 * stops the walk and is returned by bt__kv_list_parse(). */
typedef int (*bt__kv_fn)(void *ud, const char *key, const char *value, size_t value_len);

/*
 * Parses "key1=value1,key2=value2", the W3C Baggage list syntax (without properties)
 * that OpenTelemetry uses for OTEL_RESOURCE_ATTRIBUTES and OTEL_EXPORTER_OTLP_HEADERS.
 * One rule for every list:
 *   - members are separated by ','; empty members and whitespace (space, tab) around
 *     members, keys and values are ignored;
 *   - a key is an RFC 9110 token, taken literally (never decoded);
 *   - a value is percent-decoded by bt__percent_decode() (so "50%" is malformed) and
 *     must then be safe as an HTTP field value (bt__http_value_safe).
 * Returns BT_OK; BT_EINVAL for a member without '=', an empty or non-token key, or a
 * value that is malformed or unsafe (`fn` may already have seen the members before it);
 * BT_ENOMEM; or what `fn` returned. A NULL list is empty.
 */
int bt__kv_list_parse(const char *list, bt__kv_fn fn, void *ud);

#endif
