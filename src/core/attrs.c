/*
 * Attribute lists. A key and its string value share one allocation (the value follows
 * the key's NUL), so setting a string attribute costs one malloc; a string array costs
 * two (the key, and one block for its pointers, lengths and texts). Strings are stored as
 * valid UTF-8: invalid bytes become U+FFFD, and a value over the cap is cut at a
 * character boundary and ends with a visible "...[truncated N bytes]" marker.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/tracer_impl.h"
#include "util/utf8.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

/* Per-attribute overhead of the encoded form. Estimates follow OTLP JSON, the larger
 * of the two encodings, so a batch split by them fits either. */
#define ATTR_OVERHEAD 40

static const char REPLACEMENT[3] = {(char)0xef, (char)0xbf, (char)0xbd};

/* Length of s once invalid bytes are replaced by U+FFFD. */
static size_t repaired_len(const unsigned char *s, size_t len)
{
    size_t out = 0, i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            out++;
            i++;
            continue;
        }
        size_t k = bt__utf8_valid_prefix_len(s + i, len - i);
        if (k) {
            out += k;
            i += k;
        } else {
            out += 3;
            i++;
        }
    }
    return out;
}

/* Writes the repaired form of s into dst, at most `limit` bytes and never part of a
 * character. Returns the bytes written. */
static size_t write_repaired(char *dst, const unsigned char *s, size_t len, size_t limit)
{
    size_t o = 0, i = 0;
    while (i < len) {
        if (s[i] < 0x80) {
            if (o + 1 > limit)
                break;
            dst[o++] = (char)s[i++];
            continue;
        }
        size_t k = bt__utf8_valid_prefix_len(s + i, len - i);
        const char *src = k ? (const char *)s + i : REPLACEMENT;
        size_t n = k ? k : 3;
        if (o + n > limit)
            break;
        memcpy(dst + o, src, n);
        o += n;
        i += k ? k : 1;
    }
    return o;
}

static size_t digits(size_t v)
{
    size_t d = 1;
    while (v >= 10) {
        v /= 10;
        d++;
    }
    return d;
}

#define MARKER_FIXED 21 /* strlen("...[truncated ") + strlen(" bytes]") */

/* Plans the stored form of a string: its final length and how much of the repaired
 * text is kept. */
typedef struct plan {
    size_t repaired, kept, total;
    size_t growth; /* JSON escape growth of the input (an upper bound for the stored form) */
    int valid, truncated;
} plan;

#define ONES 0x0101010101010101ull
#define HIGHS 0x8080808080808080ull

/* Lanes (high bit of each byte) of an all-ASCII word that are zero. Exact, unlike the
 * shorter borrow trick, because no lane can carry into the next. */
static uint64_t zero_lanes(uint64_t x)
{
    return ~(((x & ~HIGHS) + ~HIGHS) | x) & HIGHS;
}

/* Number of lanes set in a lane mask (bytes 0/1 summed into the top byte). */
static size_t lane_count(uint64_t lanes)
{
    return (size_t)(((lanes >> 7) * ONES) >> 56);
}

/* One pass over a string: whether it is valid UTF-8, and how much JSON escaping would
 * grow it (control characters counted as \u00XX, quotes and backslashes as one more
 * byte each). ASCII goes 16 bytes at a time (SSE2), else 8, escapes counted per block
 * by lane masks: values are often large JSON texts and this is the span hot path. */
static int scan_string(const char *s, size_t len, size_t *growth)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0, extra = 0;
    int valid = 1;
    while (i < len) {
#if defined(__SSE2__)
        /* 16 ASCII bytes at a time: each kind's matches counted per lane (a compare gives
         * -1, subtracted), summed across lanes every 255 blocks at most */
        if (i + 16 <= len) {
            const __m128i zero = _mm_setzero_si128(), space = _mm_set1_epi8(0x20);
            const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
            __m128i below = zero, quoted = zero;
            size_t blocks = 0;
            while (i + 16 <= len && blocks < 255) {
                __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
                if (_mm_movemask_epi8(v))
                    break;
                below = _mm_sub_epi8(below, _mm_cmplt_epi8(v, space));
                quoted =
                    _mm_sub_epi8(quoted, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
                i += 16;
                blocks++;
            }
            if (blocks) {
                __m128i b = _mm_sad_epu8(below, zero), q = _mm_sad_epu8(quoted, zero);
                extra += 5 * (size_t)(_mm_cvtsi128_si32(b) + _mm_cvtsi128_si32(_mm_unpackhi_epi64(b, b))) +
                    (size_t)(_mm_cvtsi128_si32(q) + _mm_cvtsi128_si32(_mm_unpackhi_epi64(q, q)));
                continue;
            }
        }
#endif
        if (i + 8 <= len) {
            uint64_t w;
            memcpy(&w, p + i, 8);
            if (!(w & HIGHS)) {
                uint64_t below = ~(w + ONES * 0x60) & HIGHS; /* byte < 0x20 */
                uint64_t quoted = zero_lanes(w ^ (ONES * '"')) | zero_lanes(w ^ (ONES * '\\'));
                extra += 5 * lane_count(below) + lane_count(quoted);
                i += 8;
                continue;
            }
        }
        unsigned char c = p[i];
        if (c < 0x80) {
            if (c < 0x20)
                extra += 5;
            else if (c == '"' || c == '\\')
                extra += 1;
            i++;
            continue;
        }
        size_t k = bt__utf8_valid_prefix_len(p + i, len - i);
        if (k) {
            i += k;
        } else {
            valid = 0;
            i++;
        }
    }
    *growth = extra;
    return valid;
}

static plan plan_string(const char *s, size_t len, size_t max_bytes)
{
    plan p;
    p.valid = scan_string(s, len, &p.growth);
    p.repaired = p.valid ? len : repaired_len((const unsigned char *)s, len);
    p.truncated = max_bytes && p.repaired > max_bytes;
    p.kept = p.repaired;
    p.total = p.repaired;
    if (p.truncated) {
        size_t reserve = MARKER_FIXED + digits(p.repaired);
        size_t limit = max_bytes > reserve ? max_bytes - reserve : 0;
        p.kept = p.valid ? bt__utf8_cut(s, limit) : limit; /* exact cut happens on write */
        p.total = p.kept + reserve;
    }
    return p;
}

/* Writes the planned string at dst (room for p->total + 1) and returns its length. */
static size_t write_string(char *dst, const char *s, size_t len, const plan *p)
{
    size_t o;
    if (p->valid) {
        o = p->kept;
        memcpy(dst, s, o);
    } else {
        o = write_repaired(dst, (const unsigned char *)s, len, p->kept);
    }
    if (p->truncated)
        o += (size_t)snprintf(dst + o, p->total + 1 - o, "...[truncated %zu bytes]", p->repaired - o);
    dst[o] = '\0';
    return o;
}

char *bt__string_sanitize(const char *s, size_t len, size_t max_bytes, size_t *out_len, int *truncated)
{
    plan p = plan_string(s, len, max_bytes);
    char *dst = malloc(p.total + 1);
    if (!dst)
        return NULL;
    size_t n = write_string(dst, s, len, &p);
    if (out_len)
        *out_len = n;
    if (truncated)
        *truncated = p.truncated;
    return dst;
}

/* Bytes a string grows by as a JSON string literal: control characters become
 * \u00XX (counted at the worst case), quotes and backslashes gain a backslash. Without
 * this, a value full of control characters would be underestimated sixfold. */
static size_t json_growth(const char *s, size_t len)
{
    size_t extra;
    scan_string(s, len, &extra);
    return extra;
}

/* The estimate for an attribute; `growth` is the string value's JSON growth when the
 * caller already knows it, else SIZE_MAX. */
static size_t attr_size_known(const bt__attr *at, size_t growth)
{
    size_t n = strlen(at->key) + ATTR_OVERHEAD;
    switch (at->type) {
    case BT__ATTR_STRING:
        if (growth == SIZE_MAX)
            growth = json_growth(at->v.s.ptr, at->v.s.len);
        return n + at->v.s.len + growth;
    case BT__ATTR_STRING_ARRAY:
        for (size_t i = 0; i < at->v.arr.n; i++)
            n += at->v.arr.lens[i] + json_growth(at->v.arr.items[i], at->v.arr.lens[i]) + 20;
        return n;
    default:
        return n + 24;
    }
}

static size_t attr_size(const bt__attr *at)
{
    return attr_size_known(at, SIZE_MAX);
}

static void attr_clear(bt__attr *at)
{
    /* An array's pointers, lengths and texts are one block starting at items; a
     * string value lives in the key's allocation, or in its own block when taken. */
    if (at->type == BT__ATTR_STRING_ARRAY)
        free(at->v.arr.items);
    free(at->block);
    free(at->key);
    at->key = NULL;
    at->block = NULL;
}

void bt__attrs_free(bt__attrs *a)
{
    if (!a)
        return;
    for (size_t i = 0; i < a->n; i++)
        attr_clear(&a->items[i]);
    free(a->items);
    a->items = NULL;
    a->n = a->cap = 0;
}

const bt__attr *bt__attrs_find(const bt__attrs *a, const char *key)
{
    if (!a || !key)
        return NULL;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->items[i].key, key) == 0)
            return &a->items[i];
    return NULL;
}

/* The slot for key: the existing attribute (cleared, size subtracted from *delta) or a
 * new one at the end. NULL on ENOMEM. The caller fills key and value. */
static bt__attr *slot_for(bt__attrs *a, const char *key, long *delta)
{
    for (size_t i = 0; i < a->n; i++) {
        if (strcmp(a->items[i].key, key) == 0) {
            *delta -= (long)attr_size(&a->items[i]);
            return &a->items[i];
        }
    }
    if (a->n == a->cap) {
        size_t cap = a->cap ? a->cap * 2 : 8;
        bt__attr *p = realloc(a->items, cap * sizeof *p);
        if (!p)
            return NULL;
        a->items = p;
        a->cap = cap;
    }
    bt__attr *at = &a->items[a->n];
    memset(at, 0, sizeof *at);
    return at;
}

/* Places a fully built attribute into its slot (replacing a previous value).
 * `growth` as for attr_size_known. */
static int commit(bt__attrs *a, const char *key, bt__attr *built, size_t growth, long *delta)
{
    long d = 0;
    bt__attr *at = slot_for(a, key, &d);
    if (!at) {
        attr_clear(built);
        return BT_ENOMEM;
    }
    int is_new = at == &a->items[a->n];
    if (!is_new)
        attr_clear(at);
    *at = *built;
    if (is_new)
        a->n++;
    *delta += d + (long)attr_size_known(at, growth);
    return BT_OK;
}

/* A malloc'd copy of the key (made valid UTF-8, never cut) followed by room for
 * `extra` more bytes. */
static char *key_block(const char *key, size_t extra, size_t *key_len)
{
    size_t klen = strlen(key);
    plan p = plan_string(key, klen, 0);
    char *k = malloc(p.total + 1 + extra);
    if (!k)
        return NULL;
    *key_len = write_string(k, key, klen, &p);
    return k;
}

int bt__attrs_set_string(bt__attrs *a, const char *key, const char *value, size_t len, size_t max_bytes,
                         long *delta)
{
    if (!a || !key || !*key || (!value && len))
        return BT_EINVAL;
    if (!value)
        value = "";
    plan p = plan_string(value, len, max_bytes);
    size_t klen;
    char *k = key_block(key, p.total + 1, &klen);
    if (!k)
        return BT_ENOMEM;
    bt__attr built;
    memset(&built, 0, sizeof built);
    built.key = k;
    built.type = BT__ATTR_STRING;
    built.v.s.ptr = k + klen + 1;
    built.v.s.len = write_string(built.v.s.ptr, value, len, &p);
    /* A cut value is rescanned, so that replacing it later subtracts exactly what was
     * added here. */
    int rc = commit(a, k, &built, p.truncated ? SIZE_MAX : p.growth, delta);
    if (rc)
        return rc;
    return p.truncated ? BT_ELIMIT : BT_OK;
}

int bt__attrs_take_string(bt__attrs *a, const char *key, char *block, size_t offset, size_t len,
                          size_t max_bytes, long *delta)
{
    if (!a || !key || !*key || !block) {
        free(block);
        return BT_EINVAL;
    }
    char *value = block + offset;
    plan p = plan_string(value, len, max_bytes);
    if (!p.valid || p.truncated) { /* repaired or cut: stored as a copy would be */
        int rc = bt__attrs_set_string(a, key, value, len, max_bytes, delta);
        free(block);
        return rc;
    }
    size_t klen;
    char *k = key_block(key, 0, &klen);
    if (!k) {
        free(block);
        return BT_ENOMEM;
    }
    /* the room past the value is given back (a shrink, which allocators do in place) */
    char *trimmed = realloc(block, offset + len + 1);
    if (trimmed)
        block = trimmed;
    value = block + offset;
    value[len] = '\0';
    bt__attr built;
    memset(&built, 0, sizeof built);
    built.key = k;
    built.type = BT__ATTR_STRING;
    built.block = block;
    built.v.s.ptr = value;
    built.v.s.len = len;
    return commit(a, k, &built, p.growth, delta);
}

int bt__attrs_set_scalar(bt__attrs *a, const char *key, bt__attr_type type, int64_t i, double d, long *delta)
{
    if (!a || !key || !*key)
        return BT_EINVAL;
    size_t klen;
    char *k = key_block(key, 0, &klen);
    if (!k)
        return BT_ENOMEM;
    bt__attr built;
    memset(&built, 0, sizeof built);
    built.key = k;
    built.type = type;
    if (type == BT__ATTR_DOUBLE)
        built.v.d = d;
    else if (type == BT__ATTR_BOOL)
        built.v.b = i != 0;
    else
        built.v.i = i;
    return commit(a, k, &built, 0, delta);
}

int bt__attrs_set_string_array(bt__attrs *a, const char *key, const char *const *values, size_t n,
                               size_t max_bytes, long *delta)
{
    if (!a || !key || !*key || (!values && n))
        return BT_EINVAL;
    /* Plan every item first: the whole array shares the cap (each item gets what the
     * earlier ones left), and the pointers, lengths and texts then fit one block. */
    plan small[8];
    plan *plans = n <= 8 ? small : malloc(n * sizeof *plans);
    if (!plans)
        return BT_ENOMEM;
    size_t text = 0, budget = max_bytes;
    int truncated = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        size_t item_max = max_bytes ? (budget ? budget : 1) : 0;
        plans[i] = plan_string(v, strlen(v), item_max);
        truncated |= plans[i].truncated;
        text += plans[i].total + 1;
        if (max_bytes)
            budget = plans[i].total < budget ? budget - plans[i].total : 0;
    }
    size_t klen;
    char *k = key_block(key, 0, &klen);
    char *block = k ? malloc(n * (sizeof(char *) + sizeof(size_t)) + text + 1) : NULL;
    if (!block) {
        free(k);
        if (plans != small)
            free(plans);
        return BT_ENOMEM;
    }
    bt__attr built;
    memset(&built, 0, sizeof built);
    built.key = k;
    built.type = BT__ATTR_STRING_ARRAY;
    built.v.arr.items = (char **)(void *)block;
    built.v.arr.lens = (size_t *)(void *)(block + n * sizeof(char *));
    built.v.arr.n = n;
    char *dst = block + n * (sizeof(char *) + sizeof(size_t));
    for (size_t i = 0; i < n; i++) {
        const char *v = values[i] ? values[i] : "";
        built.v.arr.items[i] = dst;
        built.v.arr.lens[i] = write_string(dst, v, strlen(v), &plans[i]);
        dst += built.v.arr.lens[i] + 1;
    }
    if (plans != small)
        free(plans);
    int rc = commit(a, k, &built, SIZE_MAX, delta);
    if (rc)
        return rc;
    return truncated ? BT_ELIMIT : BT_OK;
}
