/*
 * Base64 (RFC 4648, standard alphabet): the form images and documents take inside
 * Anthropic requests, decoded to the bytes Braintrust stores as attachments.
 */
#ifndef BT_UTIL_BASE64_H
#define BT_UTIL_BASE64_H

#include <stddef.h>

/* The most bytes `len` characters of base64 can decode to. */
size_t bt__base64_decoded_max(size_t len);

/* Decodes s[0, len) into out (at least bt__base64_decoded_max(len) bytes). Strict: the
 * standard alphabet only, '=' padding only at the end (a missing final padding is
 * accepted), no whitespace or other characters, and unused bits of the last character
 * zero, so one byte string has one encoding. Returns the decoded length, or -1. */
long bt__base64_decode(const char *s, size_t len, unsigned char *out);

#endif
