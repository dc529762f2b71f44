/*
 * Differential fuzz target: the fast JSON scanner (decode/json_scan.h) against jansson,
 * the reference it replaces on the hot paths. The first byte picks the flags (any
 * value at the top, NUL allowed, lenient UTF-8). For every input:
 *   - both accept it or both reject it (jansson with the same flags; lenient = jansson
 *     again on the text with invalid UTF-8 replaced, as the tracer did before);
 *   - the canonical text is jansson's own compact dump of the value, byte for byte,
 *     once every number in both is written jansson's way (the scanner keeps numbers as
 *     spelled, on purpose);
 *   - the values read through the scanner's accessors (members by key, array elements,
 *     decoded strings, integers, reals, decoded lengths) equal jansson's.
 * Any difference aborts.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "decode/json_scan.h"
#include "util/buf.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                           \
    do {                                                                                      \
        if (!(cond)) {                                                                        \
            fprintf(stderr, "fuzz_json_scan: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                          \
        }                                                                                     \
    } while (0)

static char *replace_invalid(const char *p, size_t len, size_t *out_len)
{
    char *out = malloc(len * 3 + 1);
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = bt__utf8_valid_prefix_len((const unsigned char *)p + i, len - i);
        if (!n) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, p + i, n);
            o += n;
            i += n;
        }
    }
    *out_len = o;
    return out;
}

/* A number token written the way jansson dumps the value it parses to. */
static void jansson_number(bt__buf *b, const char *p, size_t n)
{
    json_t *v = json_loadb(p, n, JSON_DECODE_ANY, NULL);
    CHECK(v && json_is_number(v));
    char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    bt__buf_append(b, d, strlen(d));
    free(d);
    json_decref(v);
}

/* The canonical text with every number token re-written jansson's way. */
static char *with_jansson_numbers(const char *p, size_t len)
{
    bt__buf b;
    bt__buf_init(&b, 0);
    size_t i = 0;
    while (i < len) {
        char c = p[i];
        if (c == '"') {
            size_t j = i + 1;
            while (j < len && p[j] != '"')
                j += p[j] == '\\' ? 2 : 1;
            bt__buf_append(&b, p + i, j + 1 - i);
            i = j + 1;
        } else if (c == '-' || (c >= '0' && c <= '9')) {
            size_t j = i;
            while (j < len && p[j] != ',' && p[j] != ']' && p[j] != '}')
                j++;
            jansson_number(&b, p + i, j - i);
            i = j;
        } else {
            bt__buf_append(&b, &c, 1);
            i++;
        }
    }
    return bt__buf_steal(&b, NULL);
}

static void compare_value(bt__jv v, json_t *ref, int depth);

/* A name the accessors take as is: no quote, backslash or control character. */
static int plain_name(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == '"' || s[i] == '\\')
            return 0;
    return 1;
}

static void compare_object(bt__jv v, json_t *ref, int depth)
{
    CHECK(v.type == BT__JV_OBJECT);
    size_t n = 0;
    bt__jv_iter it = bt__jv_iterate(v);
    bt__jv k, val;
    while (bt__jv_next_member(&it, &k, &val)) {
        bt__buf key;
        bt__buf_init(&key, 0);
        CHECK(bt__jv_decode(k, &key) == 0);
        json_t *r = json_object_getn(ref, key.data ? key.data : "", key.len);
        CHECK(r != NULL);
        compare_value(val, r, depth + 1);
        /* a plain key is found by name too */
        if (key.data && plain_name(key.data, key.len)) {
            bt__jv g = bt__jv_get(v, key.data);
            CHECK(g.p == val.p && g.len == val.len);
        }
        bt__buf_free(&key);
        n++;
    }
    CHECK(n == json_object_size(ref));
}

static void compare_value(bt__jv v, json_t *ref, int depth)
{
    if (depth > 64)
        return; /* deep enough: the canonical text check covers the rest */
    switch (json_typeof(ref)) {
    case JSON_OBJECT:
        compare_object(v, ref, depth);
        break;
    case JSON_ARRAY: {
        CHECK(v.type == BT__JV_ARRAY);
        CHECK(bt__jv_count(v) == json_array_size(ref));
        bt__jv_iter it = bt__jv_iterate(v);
        bt__jv e;
        size_t i = 0;
        while (bt__jv_next(&it, &e))
            compare_value(e, json_array_get(ref, i++), depth + 1);
        break;
    }
    case JSON_STRING: {
        CHECK(v.type == BT__JV_STRING);
        bt__buf s;
        bt__buf_init(&s, 0);
        CHECK(bt__jv_decode(v, &s) == 0);
        CHECK(s.len == json_string_length(ref));
        CHECK(s.len == 0 || memcmp(s.data, json_string_value(ref), s.len) == 0);
        CHECK(bt__jv_decoded_len(v) == s.len);
        char small[16];
        long n = bt__jv_copy(v, small, sizeof small);
        CHECK(n >= 0 && (size_t)n <= s.len && memcmp(small, s.data ? s.data : "", (size_t)n) == 0);
        bt__buf_free(&s);
        break;
    }
    case JSON_INTEGER: {
        int64_t i;
        CHECK(bt__jv_int64(v, &i) && i == json_integer_value(ref));
        break;
    }
    case JSON_REAL: {
        CHECK(v.type == BT__JV_REAL);
        double d = bt__jv_double(v);
        CHECK(d == json_real_value(ref) || (isnan(d) && isnan(json_real_value(ref))));
        break;
    }
    case JSON_TRUE:
        CHECK(v.type == BT__JV_TRUE);
        break;
    case JSON_FALSE:
        CHECK(v.type == BT__JV_FALSE);
        break;
    case JSON_NULL:
        CHECK(v.type == BT__JV_NULL);
        break;
    }
}

/* The one-string reader the stream's common deltas use (bt__json_string_canonical):
 * on the input read as a string value (with a quote put before it when it has none),
 * it accepts exactly the strings jansson accepts and writes back unchanged, stops where
 * the string ends, and gives the decoded length jansson's value has. */
static void check_string_reader(const char *p, size_t len, unsigned flags)
{
    char *s = malloc(len + 1);
    size_t n = 0;
    if (len == 0 || p[0] != '"')
        s[n++] = '"';
    memcpy(s + n, p, len);
    n += len;
    size_t decoded = 0;
    const char *after = bt__json_string_canonical(s, s + n, flags, &decoded);
    /* the reference: jansson on the string alone, as far as the scanner says it goes */
    const char *q = s + 1;
    while (q < s + n && *q != '"')
        q += *q == '\\' && q + 1 < s + n ? 2 : 1;
    size_t tok = q < s + n ? (size_t)(q + 1 - s) : n;
    json_t *ref =
        json_loadb(s, tok, JSON_DECODE_ANY | ((flags & BT__JSON_ALLOW_NUL) ? JSON_ALLOW_NUL : 0), NULL);
    int canonical = 0;
    if (ref) {
        CHECK(json_is_string(ref));
        char *dumped = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
        canonical = strlen(dumped) == tok && memcmp(dumped, s, tok) == 0;
        free(dumped);
    }
    CHECK((after != NULL) == canonical);
    if (after) {
        CHECK(after == s + tok);
        CHECK(decoded == json_string_length(ref));
        bt__jv v = bt__jv_from(s, tok);
        CHECK(v.type == BT__JV_STRING && bt__jv_decoded_len(v) == decoded);
    }
    json_decref(ref);
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *p = (const char *)data + 1;
    size_t len = size - 1;
    unsigned flags = mode & (BT__JSON_ANY | BT__JSON_ALLOW_NUL | BT__JSON_LENIENT);
    size_t jflags =
        ((flags & BT__JSON_ANY) ? JSON_DECODE_ANY : 0) | ((flags & BT__JSON_ALLOW_NUL) ? JSON_ALLOW_NUL : 0);

    json_t *ref = json_loadb(p, len, jflags, NULL);
    if (!ref && (flags & BT__JSON_LENIENT) && !bt__utf8_valid(p, len)) {
        size_t fixed_len;
        char *fixed = replace_invalid(p, len, &fixed_len);
        ref = json_loadb(fixed, fixed_len, jflags, NULL);
        free(fixed);
    }

    bt__json_doc d;
    int rc = bt__json_parse(&d, p, len, flags);
    CHECK((rc == 0) == (ref != NULL));
    if (ref) {
        /* the canonical text is what jansson writes, numbers aside */
        char *want = json_dumps(ref, JSON_COMPACT | JSON_ENCODE_ANY);
        char *got = with_jansson_numbers(d.text, d.len);
        if (strcmp(want, got) != 0) {
            fprintf(stderr, "fuzz_json_scan: canonical text differs\n  jansson: %s\n  scanner: %s\n", want,
                    got);
            abort();
        }
        free(want);
        free(got);
        CHECK(d.root.p >= d.text && d.root.p + d.root.len <= d.text + d.len);
        compare_value(d.root, ref, 0);
        if (json_is_object(ref)) {
            const char *key;
            json_t *v;
            json_object_foreach(ref, key, v)
            {
                if (!plain_name(key, strlen(key)))
                    continue;
                bt__jv g = bt__json_get(&d, key);
                CHECK(g.type != BT__JV_NONE);
                compare_value(g, v, 1);
                bt__jv_members idx;
                bt__jv_index(d.root, &idx);
                bt__jv l = bt__jv_lookup(&idx, key);
                CHECK(l.p == g.p && l.len == g.len);
            }
        }
        /* the members of the root's object members, as the scan kept them, are the
         * members a walk finds */
        for (size_t i = 0; d.root.type == BT__JV_OBJECT && i < d.members.n; i++) {
            bt__jv_iter it = bt__jv_iterate(d.members.values[i]);
            size_t cursor = 0;
            bt__jv k1, v1, k2, v2;
            for (;;) {
                int a = bt__json_next_sub(&d, i, &cursor, &k1, &v1);
                int b = d.members.values[i].type == BT__JV_OBJECT && bt__jv_next_member(&it, &k2, &v2);
                CHECK(a == b);
                if (!a)
                    break;
                CHECK(k1.p == k2.p && k1.len == k2.len && v1.p == v2.p && v1.len == v2.len &&
                      v1.type == v2.type);
            }
        }
        /* the canonical text is canonical: parsing it again gives it back */
        bt__json_doc again;
        CHECK(bt__json_parse(&again, d.text, d.len, flags | BT__JSON_ANY) == 0);
        CHECK(again.len == d.len && memcmp(again.text, d.text, d.len) == 0);
        bt__json_doc_free(&again);
    }
    json_decref(ref);
    bt__json_doc_free(&d);
    check_string_reader(p, len, flags);
    return 0;
}
