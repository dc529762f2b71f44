/*
 * Writing compact JSON text the way every braintrust.* attribute is written: no
 * insignificant whitespace, strings as UTF-8 with only '"', '\\' and control characters
 * escaped (\b \f \n \r \t, else \u00XX with upper-case hex digits).
 */
#ifndef BT_DECODE_JSON_WRITE_H
#define BT_DECODE_JSON_WRITE_H

#include <stddef.h>

#include "util/buf.h"

/* Appends `s` (valid UTF-8, may contain NUL) as a JSON string literal. */
int bt__json_write_string(bt__buf *b, const char *s, size_t len);

#endif
