/*
 * Validated JSON without a tree: the hot paths' parser (request bodies, SSE events,
 * batch result lines). One pass checks a document exactly as jansson's json_loadb
 * would (the same accept/reject decision for every input: strict UTF-8, escapes and
 * surrogate pairs, NUL only where allowed, 64-bit integers, real overflow, nesting
 * at most 2048 deep, nothing after the value), and yields the document as canonical
 * text: the compact form jansson would dump (no insignificant whitespace, strings as
 * UTF-8 with only '"', '\\' and control characters escaped, a repeated key once, at its
 * first position, with its last value), except that numbers keep their spelling.
 * Typical input (what the SDKs send and the API answers) already is canonical and is
 * used in place; other input is rewritten once.
 *
 * Values are then read as slices of that text (bt__jv): a span's input and output are
 * copies of slices, never a parse and a re-serialisation; only the small fields that
 * need values (model, usage, stop_reason, ids) are decoded.
 *
 * Memory: a document that must be rewritten gets one buffer of at most its size (three
 * times with BT__JSON_LENIENT, which replaces invalid UTF-8); nothing else is
 * allocated (the parser's stack and key tables are fixed arrays).
 */
#ifndef BT_DECODE_JSON_SCAN_H
#define BT_DECODE_JSON_SCAN_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Parse flags (jansson's: JSON_DECODE_ANY, JSON_ALLOW_NUL). */
enum {
    BT__JSON_ANY = 1,       /* any value at the top, not only an object or array */
    BT__JSON_ALLOW_NUL = 2, /* "\u0000" in string values (never in keys) */
    BT__JSON_LENIENT = 4    /* input that is not valid UTF-8 is read with each bad byte
                             * replaced by U+FFFD (one stray byte loses no event) */
};

/* jansson's limit: a value nested deeper than this is rejected. */
#define BT__JSON_DEPTH_MAX 2048

typedef enum {
    BT__JV_NONE = 0, /* absent */
    BT__JV_OBJECT,
    BT__JV_ARRAY,
    BT__JV_STRING,
    BT__JV_INTEGER, /* no fraction or exponent; fits int64 */
    BT__JV_REAL,
    BT__JV_TRUE,
    BT__JV_FALSE,
    BT__JV_NULL
} bt__jv_type;

/* A value: a slice of a canonical document's text (borrowed from the document). */
typedef struct bt__jv {
    const char *p;
    size_t len;
    bt__jv_type type;
} bt__jv;

/* The members of an object, found in one walk, for reading many of them: the first
 * BT__JSON_INDEX_MAX are indexed; `complete` says whether that was all of them. */
#define BT__JSON_INDEX_MAX 64

typedef struct bt__jv_members {
    bt__jv object;
    size_t n;
    int complete;
    bt__jv keys[BT__JSON_INDEX_MAX], values[BT__JSON_INDEX_MAX];
} bt__jv_members;

#define BT__JSON_SUB_MAX 32

typedef struct bt__json_doc {
    const char *text; /* the canonical text (the input itself, or `owned`) */
    size_t len;
    bt__jv root;
    bt__jv_members members; /* of a root object (found while scanning) */
    /* The members of the objects that are members of a root object (an event's "delta",
     * a result line's "result"), found while scanning: sub_parent[i] is the index in
     * `members` of the object holding sub_keys[i]. `sub_complete` says all were kept. */
    size_t n_sub;
    int sub_complete;
    uint8_t sub_parent[BT__JSON_SUB_MAX];
    bt__jv sub_keys[BT__JSON_SUB_MAX], sub_values[BT__JSON_SUB_MAX];
    char *owned;  /* the rewritten text, or NULL */
    int repaired; /* BT__JSON_LENIENT replaced invalid UTF-8 */
} bt__json_doc;

/* An empty document (safe to free, as after any bt__json_parse). */
void bt__json_doc_init(bt__json_doc *d);

/* Parses `len` bytes (borrowed: the document may point into them, so they must outlive
 * it). BT_OK, BT_EPARSE (jansson would reject it), BT_ENOMEM. `d` is always safe to
 * free afterwards. */
int bt__json_parse(bt__json_doc *d, const char *p, size_t len, unsigned flags);
void bt__json_doc_free(bt__json_doc *d);

/* One string value starting at p (its opening quote, before `end`), read as
 * bt__json_parse reads a string value with `flags` (BT__JSON_ALLOW_NUL admits
 * "\u0000"; invalid UTF-8 is refused whatever BT__JSON_LENIENT says). When it is valid
 * and already canonical, returns the position just past its closing quote and sets
 * *decoded_len; otherwise NULL (invalid, or to be rewritten: read the whole document
 * with bt__json_parse then). For hot paths that know the shape of what they read. */
const char *bt__json_string_canonical(const char *p, const char *end, unsigned flags, size_t *decoded_len);

/* A view of canonical JSON text (one value, e.g. a bt__jobj member); NONE when empty. */
bt__jv bt__jv_from(const char *p, size_t len);

/* A member of the root object (absent: type BT__JV_NONE). */
bt__jv bt__json_get(const bt__json_doc *d, const char *key);

/* The members of root member number `parent` (an object), in order: *cursor starts
 * at 0; returns 0 after the last. Falls back to walking the object when the scan could
 * not keep them all. */
int bt__json_next_sub(const bt__json_doc *d, size_t parent, size_t *cursor, bt__jv *key, bt__jv *value);

/* Indexes the members of `obj` (none when it is not an object). */
void bt__jv_index(bt__jv obj, bt__jv_members *out);
/* A member from an index (absent: type BT__JV_NONE). */
bt__jv bt__jv_lookup(const bt__jv_members *m, const char *key);

/* A member of an object value (absent: type BT__JV_NONE; also when `obj` is not an
 * object). */
bt__jv bt__jv_get(bt__jv obj, const char *key);

/* Iterating an array's elements or an object's members in order. */
typedef struct bt__jv_iter {
    const char *p, *end;
} bt__jv_iter;
bt__jv_iter bt__jv_iterate(bt__jv container);
int bt__jv_next(bt__jv_iter *it, bt__jv *value);                     /* arrays */
int bt__jv_next_member(bt__jv_iter *it, bt__jv *key, bt__jv *value); /* objects */
/* Elements of an array (0 when not an array). */
size_t bt__jv_count(bt__jv array);

/* Strings. The escaped text between the quotes is v.p + 1, v.len - 2 (canonical
 * escaping, so it can be copied into other JSON as is). */
int bt__jv_is(bt__jv v, const char *s); /* a string equal to s */
/* Appends the decoded string to `out` (BT_OK, or the buffer's error). */
int bt__jv_decode(bt__jv v, bt__buf *out);
/* The decoded string into a fixed buffer, NUL-terminated, cut (on a UTF-8 boundary) to
 * fit; returns its length, or -1 when v is not a string. */
long bt__jv_copy(bt__jv v, char *out, size_t out_size);
/* The decoded string as a malloc'd C string (so up to its first NUL, as a C string
 * reads it), or NULL when v is not a string or memory ran out. */
char *bt__jv_strdup(bt__jv v);
/* Length of the decoded string. */
size_t bt__jv_decoded_len(bt__jv v);

/* Numbers. */
int bt__jv_int64(bt__jv v, int64_t *out); /* BT__JV_INTEGER only: 1 and *out, else 0 */
double bt__jv_double(bt__jv v);           /* an integer or real; 0 otherwise */

/* Rewrites the validated JSON text `p` (one value) in canonical form into `out`. */
int bt__json_canonical(const char *p, size_t len, bt__buf *out);

#endif
