/*
 * Streaming Content-Encoding decoder: identity, gzip (incl. concatenated members),
 * deflate (zlib-wrapped, and raw deflate as sent by some servers), and brotli when
 * built with it. Output goes to a callback in pieces; memory is bounded by the zlib
 * window plus a fixed output chunk. `max_output` (0 = unlimited) caps the total
 * decoded bytes, protecting against decompression bombs.
 */
#ifndef BT_DECODE_INFLATE_H
#define BT_DECODE_INFLATE_H

#include <stddef.h>

typedef enum { BT__CODING_IDENTITY = 0, BT__CODING_GZIP, BT__CODING_DEFLATE, BT__CODING_BR } bt__coding;

/* Parses a Content-Encoding header value (case-insensitive, surrounding spaces
 * ignored; "x-gzip" = gzip). A list of several codings or an unknown one returns
 * BT_EUNSUPPORTED; "br" without brotli support returns BT_EUNSUPPORTED. */
int bt__coding_parse(const char *value, size_t len, bt__coding *out);

typedef int (*bt__bytes_fn)(void *ud, const char *data, size_t len);

typedef struct bt__inflate bt__inflate;

bt__inflate *bt__inflate_new(bt__coding coding, size_t max_output, bt__bytes_fn fn, void *ud);
/* BT_OK, BT_EPARSE (corrupt data: further feeds are ignored), BT_ELIMIT (max_output
 * reached: output stops), or the callback's non-zero return. */
int bt__inflate_feed(bt__inflate *z, const void *data, size_t len);
/* BT_OK if the compressed stream ended properly, BT_EPARSE if it was cut short. */
int bt__inflate_finish(bt__inflate *z);
void bt__inflate_free(bt__inflate *z);

#endif
