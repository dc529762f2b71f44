/*
 * Writing compact JSON text the way every braintrust.* attribute is written: no
 * insignificant whitespace, strings as UTF-8 with only '"', '\\' and control characters
 * escaped (\b \f \n \r \t, else \u00XX with upper-case hex digits) -- jansson's compact
 * form, so that text copied from a canonical document (json_scan.h) and text written
 * here read the same.
 */
#ifndef BT_DECODE_JSON_WRITE_H
#define BT_DECODE_JSON_WRITE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Appends `s` (valid UTF-8, may contain NUL) as a JSON string literal. */
int bt__json_write_string(bt__buf *b, const char *s, size_t len);
/* Appends a double the shortest way that reads back to the same value ("0.1", not
 * "0.10000000000000001"); non-finite values as null. */
int bt__json_write_double(bt__buf *b, double d);

/*
 * An object built member by member, in order, from canonical JSON texts: setting a key
 * again replaces its value in place (its position stays); deleting keeps the others'
 * order. Keys and values are copied. A build that ran out of memory remembers it and
 * writes nothing (bt__jobj_write returns the error).
 */
typedef struct bt__jobj_member {
    size_t key_off, key_len; /* the key's escaped text (between the quotes) in `text` */
    size_t val_off, val_len; /* the value's canonical JSON text in `text` */
} bt__jobj_member;

typedef struct bt__jobj {
    bt__buf text;
    bt__jobj_member *m;
    size_t n, cap;
    int rc;
} bt__jobj;

void bt__jobj_init(bt__jobj *o);
void bt__jobj_free(bt__jobj *o);
void bt__jobj_clear(bt__jobj *o);
/* `key` is a key's escaped text (between the quotes, as in canonical JSON), `value` a
 * canonical JSON value. */
void bt__jobj_set_raw(bt__jobj *o, const char *key, size_t key_len, const char *value, size_t value_len);
/* Keys given as plain names (no quote, backslash or control character). */
void bt__jobj_set(bt__jobj *o, const char *name, const char *value, size_t value_len);
/* A string member; `s` that is not valid UTF-8 sets nothing (as jansson's json_string). */
void bt__jobj_set_string(bt__jobj *o, const char *name, const char *s, size_t len);
void bt__jobj_set_int(bt__jobj *o, const char *name, int64_t v);
void bt__jobj_set_double(bt__jobj *o, const char *name, double v);
void bt__jobj_set_true(bt__jobj *o, const char *name);
/* Index of a member by plain name, or -1. */
long bt__jobj_find(const bt__jobj *o, const char *name);
void bt__jobj_del(bt__jobj *o, const char *name);
/* Copies every member of `from` into `o` (bt__jobj_set_raw each, in order). */
void bt__jobj_update(bt__jobj *o, const bt__jobj *from);
/* A member's value text (borrowed until the next change). */
const char *bt__jobj_value(const bt__jobj *o, size_t i, size_t *len);
/* Appends the object's text. */
int bt__jobj_write(const bt__jobj *o, bt__buf *out);

#endif
