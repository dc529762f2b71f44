/*
 * The validating JSON scanner (see json_scan.h).
 *
 * One pass over the bytes decides validity the way jansson's json_loadb does and
 * notes whether the text is already canonical (no whitespace between tokens, strings
 * escaped as jansson writes them, no repeated key). Canonical text is used in place;
 * other text is rewritten by canon_value() and scanned again. Every later read walks
 * the canonical text, which can no longer surprise: strings end at the first quote not
 * preceded by an odd run of backslashes, tokens are never separated by whitespace.
 */
#define _GNU_SOURCE /* strtod_l: numbers are read in the C locale whatever the host's */
#include "decode/json_scan.h"

#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "braintrust/common.h"
#include "decode/json_write.h"
#include "util/text.h"
#include "util/utf8.h"

/* Keys remembered per document to find repeated keys (in the objects open at once);
 * past this a document is conservatively treated as having one. */
#define KEYS_MAX 256
/* Longest escaped key decoded to compare it; a longer one counts as a possible repeat. */
#define KEY_DECODE_MAX 256

typedef struct key_rec {
    const char *p; /* between the quotes */
    uint32_t len;
    uint32_t hash;
    int escaped;
} key_rec;

typedef struct scanner {
    const char *start, *end;
    unsigned flags;
    int canonical; /* nothing to rewrite so far */
    int repeats;   /* a repeated key (or one that could not be ruled out) */
    size_t n_keys;
    key_rec keys[KEYS_MAX];
    uint32_t first_key[BT__JSON_DEPTH_MAX + 1]; /* per open object: its first key record */
    uint64_t seen[BT__JSON_DEPTH_MAX + 1];      /* per open object: a bit per key shape seen */
    uint8_t stack[BT__JSON_DEPTH_MAX + 1];      /* '{' or '[' per open container */
    bt__json_doc *doc;
} scanner;

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static long hex4(const char *p)
{
    long v = 0;
    for (int i = 0; i < 4; i++) {
        int h = bt__hex_digit((unsigned char)p[i]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* The first byte at or after p (before end) that is '"', '\\', a control byte or not
 * ASCII; end when there is none. */
static inline __attribute__((always_inline)) const char *string_stop(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        /* signed compare: bytes >= 0x80 are negative, so < 0x20 catches them too */
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                 _mm_cmplt_epi8(v, space));
        int bits = _mm_movemask_epi8(m);
        if (bits)
            return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < end) {
        unsigned char c = (unsigned char)*p;
        if (c == '"' || c == '\\' || c < 0x20 || c >= 0x80)
            return p;
        p++;
    }
    return end;
}

/* FNV-1a, for finding keys again in a hash table. */
static uint32_t hash_bytes(const char *p, size_t n, uint32_t h)
{
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 16777619u;
    return h;
}

/* Decodes a validated string body (between the quotes) into out[0..cap); returns the
 * decoded length, or (size_t)-1 when it does not fit. */
static size_t decode_into(const char *p, size_t len, char *out, size_t cap);

static int key_equal(const key_rec *a, const key_rec *b)
{
    if (!a->escaped && !b->escaped)
        return a->len == b->len && memcmp(a->p, b->p, a->len) == 0;
    char x[KEY_DECODE_MAX], y[KEY_DECODE_MAX];
    size_t nx = decode_into(a->p, a->len, x, sizeof x), ny = decode_into(b->p, b->len, y, sizeof y);
    if (nx == (size_t)-1 || ny == (size_t)-1)
        return 1; /* cannot tell: assume the worst (the rewrite handles repeats exactly) */
    return nx == ny && memcmp(x, y, nx) == 0;
}

/* Two keys' bytes are the same (keys are short: compared in place, not by a call). */
static inline int same_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    if (alen != blen)
        return 0;
    for (size_t i = 0; i < alen; i++)
        if (a[i] != b[i])
            return 0;
    return 1;
}

/* The hash of a key's decoded text; 0 when it cannot be decoded here (too long). */
static uint32_t key_hash(const key_rec *k)
{
    if (!k->escaped)
        return hash_bytes(k->p, k->len, 2166136261u) | 1;
    char tmp[KEY_DECODE_MAX];
    size_t n = decode_into(k->p, k->len, tmp, sizeof tmp);
    return n == (size_t)-1 ? 0 : hash_bytes(tmp, n, 2166136261u) | 1;
}

/* A key of the object open at `depth`: remember it and look for an earlier equal one.
 * Objects have few keys, so comparing with each earlier key is the fast way; from
 * SMALL_OBJECT keys on, keys carry a hash and only equal hashes are compared. */
#define SMALL_OBJECT 16

static __attribute__((noinline)) void note_key_slow(scanner *s, size_t depth, const char *p, size_t len,
                                                    int escaped)
{
    if (s->repeats)
        return; /* already decided: the document is rewritten with repeats resolved */
    key_rec k = {p, (uint32_t)len, 0, escaped};
    size_t first = s->first_key[depth], have = s->n_keys - first;
    /* A key whose shape (length and last byte) no earlier key of the object had cannot
     * repeat one: recorded without comparing (escaped keys are always compared). */
    uint64_t bit = (uint64_t)1 << ((len * 7 + (len ? (unsigned char)p[len - 1] : 0)) & 63);
    int maybe = escaped || (s->seen[depth] & bit) || have >= SMALL_OBJECT;
    /* an escaped key's shape is not its raw one: every later key compares with it */
    s->seen[depth] |= escaped ? ~(uint64_t)0 : bit;
    if (!maybe)
        goto record;
    if (have >= SMALL_OBJECT) {
        if (have == SMALL_OBJECT) /* the object just got large: hash what it has */
            for (size_t i = first; i < s->n_keys; i++)
                if (!(s->keys[i].hash = key_hash(&s->keys[i]))) {
                    s->repeats = 1;
                    return;
                }
        if (!(k.hash = key_hash(&k))) {
            s->repeats = 1;
            return;
        }
    }
    for (size_t i = first; i < s->n_keys; i++) {
        const key_rec *o = &s->keys[i];
        if (k.hash && o->hash != k.hash)
            continue;
        if (o->escaped || escaped ? key_equal(o, &k) : same_bytes(o->p, o->len, p, len)) {
            s->repeats = 1;
            return;
        }
    }
record:
    if (s->n_keys == KEYS_MAX) {
        s->repeats = 1;
        return;
    }
    /* field by field: copying `k` whole would reload what was just stored piecewise */
    key_rec *r = &s->keys[s->n_keys++];
    r->p = p;
    r->len = (uint32_t)len;
    r->hash = k.hash;
    r->escaped = escaped;
}

/* A key: the common case (a plain key of a small object whose shape no earlier key
 * had) is only recorded, here; the rest is note_key_slow's. */
static inline void note_key(scanner *s, size_t depth, const char *p, size_t len, int escaped)
{
    uint64_t bit = (uint64_t)1 << ((len * 7 + (len ? (unsigned char)p[len - 1] : 0)) & 63);
    if (escaped || s->repeats || (s->seen[depth] & bit) || s->n_keys - s->first_key[depth] >= SMALL_OBJECT ||
        s->n_keys == KEYS_MAX) {
        note_key_slow(s, depth, p, len, escaped);
        return;
    }
    s->seen[depth] |= bit;
    key_rec *r = &s->keys[s->n_keys++];
    r->p = p;
    r->len = (uint32_t)len;
    r->hash = 0;
    r->escaped = 0;
}

/* The body of a string, from p (just past its opening quote): returns its closing
 * quote, or NULL when jansson would reject it. Clears *canonical on an escape jansson
 * would not write, sets *escaped on any escape, and adds to *shrink how many bytes the
 * escapes take beyond what they stand for (so a canonical body decodes to its length
 * minus *shrink). A NUL ("\u0000") is accepted only when `allow_nul`. Shared by the
 * document scanner and bt__json_string_canonical, so both decide alike. */
static inline __attribute__((always_inline)) const char *string_body(const char *p, const char *end,
                                                                     int allow_nul, int *canonical,
                                                                     int *escaped, size_t *shrink)
{
    for (;;) {
        p = string_stop(p, end);
        if (p >= end)
            return NULL;
        unsigned char c = (unsigned char)*p;
        if (c == '"')
            return p;
        if (c < 0x20)
            return NULL;
        if (c >= 0x80) {
            size_t n = bt__utf8_valid_prefix_len((const unsigned char *)p, (size_t)(end - p));
            if (!n)
                return NULL;
            p += n;
            continue;
        }
        /* a backslash */
        *escaped = 1;
        if (end - p < 2)
            return NULL;
        char e = p[1];
        if (e == '"' || e == '\\' || e == 'b' || e == 'f' || e == 'n' || e == 'r' || e == 't') {
            *shrink += 1;
            p += 2;
            continue;
        }
        if (e == '/') {
            *canonical = 0;
            p += 2;
            continue;
        }
        if (e != 'u' || end - p < 6)
            return NULL;
        long v = hex4(p + 2);
        if (v < 0)
            return NULL;
        if (v >= 0xD800 && v <= 0xDBFF) {
            /* a high surrogate must be followed at once by an escaped low one */
            if (end - p < 12 || p[6] != '\\' || p[7] != 'u')
                return NULL;
            long lo = hex4(p + 8);
            if (lo < 0xDC00 || lo > 0xDFFF)
                return NULL;
            *canonical = 0;
            p += 12;
            continue;
        }
        if (v >= 0xDC00 && v <= 0xDFFF)
            return NULL;
        if (v == 0 && !allow_nul)
            return NULL;
        /* jansson writes control characters as \b \f \n \r \t or \u00XX (upper case) */
        if (v >= 0x20 || v == 8 || v == 9 || v == 10 || v == 12 || v == 13 || (p[4] >= 'a' && p[4] <= 'f') ||
            (p[5] >= 'a' && p[5] <= 'f'))
            *canonical = 0;
        *shrink += 5; /* a canonical \u00XX is one control byte */
        p += 6;
    }
}

/* Scans a string starting at *pp (the opening quote). For keys, remembers it at
 * `depth`. Returns 0 and moves *pp past the closing quote, or -1. */
static int scan_string_slow(scanner *s, const char **pp, int is_key, size_t depth)
{
    const char *body = *pp + 1;
    int escaped = 0;
    size_t shrink = 0;
    const char *q = string_body(body, s->end, !is_key && (s->flags & BT__JSON_ALLOW_NUL), &s->canonical,
                                &escaped, &shrink);
    if (!q)
        return -1;
    if (is_key)
        note_key(s, depth, body, (size_t)(q - body), escaped);
    *pp = q + 1;
    return 0;
}

const char *bt__json_string_canonical(const char *p, const char *end, unsigned flags, size_t *decoded_len)
{
    if (!p || p >= end || *p != '"')
        return NULL;
    int canonical = 1, escaped = 0;
    size_t shrink = 0;
    const char *q = string_body(p + 1, end, (flags & BT__JSON_ALLOW_NUL) != 0, &canonical, &escaped, &shrink);
    if (!q || !canonical)
        return NULL;
    *decoded_len = (size_t)(q - (p + 1)) - shrink;
    return q + 1;
}

/* The common string: plain ASCII up to its closing quote, found 16 bytes at a time;
 * anything else (an escape, a control byte, UTF-8) goes the careful way. */
static inline int scan_string(scanner *s, const char **pp, int is_key, size_t depth)
{
    const char *body = *pp + 1, *q = string_stop(body, s->end);
    if (q >= s->end || *q != '"')
        return scan_string_slow(s, pp, is_key, depth);
    if (is_key)
        note_key(s, depth, body, (size_t)(q - body), 0);
    *pp = q + 1;
    return 0;
}

static locale_t c_locale(void)
{
    static locale_t loc;
    if (!loc) /* a benign race: every thread creates the same locale; one is kept */
        loc = newlocale(LC_NUMERIC_MASK, "C", (locale_t)0);
    return loc;
}

/* strtod in the C locale over a number token (not NUL-terminated). */
static double number_value(const char *p, size_t len, int *overflow)
{
    char small[64];
    char *buf = len < sizeof small ? small : malloc(len + 1);
    if (!buf) {
        *overflow = 0;
        return 0;
    }
    memcpy(buf, p, len);
    buf[len] = '\0';
    errno = 0;
    locale_t loc = c_locale();
    double d = loc ? strtod_l(buf, NULL, loc) : strtod(buf, NULL);
    *overflow = (d == HUGE_VAL || d == -HUGE_VAL) && errno == ERANGE;
    if (buf != small)
        free(buf);
    return d;
}

/* Scans a number at *pp. Returns 0 and moves past it, or -1 (malformed, an integer
 * outside int64, a real that overflows a double). */
static int scan_number(scanner *s, const char **pp, int *is_real)
{
    const char *p = *pp, *end = s->end;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    if (p >= end || *p < '0' || *p > '9')
        return -1;
    const char *int_start = p;
    if (*p == '0') {
        p++;
        if (p < end && *p >= '0' && *p <= '9')
            return -1;
    } else {
        while (p < end && *p >= '0' && *p <= '9')
            p++;
    }
    size_t int_digits = (size_t)(p - int_start);
    int real = 0;
    if (p < end && *p == '.') {
        p++;
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9')
            p++;
        real = 1;
    }
    long exp10 = 0;
    if (p < end && (*p == 'e' || *p == 'E')) {
        p++;
        int eneg = 0;
        if (p < end && (*p == '+' || *p == '-'))
            eneg = *p++ == '-';
        if (p >= end || *p < '0' || *p > '9')
            return -1;
        while (p < end && *p >= '0' && *p <= '9') {
            if (exp10 < 100000)
                exp10 = exp10 * 10 + (*p - '0');
            p++;
        }
        if (eneg)
            exp10 = -exp10;
        real = 1;
    }
    if (!real) {
        /* within int64: at most 19 digits, and then compared with the limit */
        if (int_digits > 19)
            return -1;
        if (int_digits == 19) {
            const char *lim = neg ? "9223372036854775808" : "9223372036854775807";
            if (memcmp(int_start, lim, 19) > 0)
                return -1;
        }
    } else if ((long)int_digits + exp10 > 300) {
        /* possibly beyond DBL_MAX (about 1.8e308): let strtod decide, as jansson does */
        int overflow;
        number_value(*pp, (size_t)(p - *pp), &overflow);
        if (overflow)
            return -1;
    }
    *pp = p;
    *is_real = real;
    return 0;
}

static inline bt__jv_type type_of(const char *p, size_t len)
{
    switch (*p) {
    case '{':
        return BT__JV_OBJECT;
    case '[':
        return BT__JV_ARRAY;
    case '"':
        return BT__JV_STRING;
    case 't':
        return BT__JV_TRUE;
    case 'f':
        return BT__JV_FALSE;
    case 'n':
        return BT__JV_NULL;
    default:
        for (size_t i = 0; i < len; i++)
            if (p[i] == '.' || p[i] == 'e' || p[i] == 'E')
                return BT__JV_REAL;
        return BT__JV_INTEGER;
    }
}

static bt__jv make_jv(const char *p, size_t len)
{
    bt__jv v = {p, len, type_of(p, len)};
    return v;
}

/* Skips whitespace; inside a container it makes the text non-canonical. */
static inline const char *skip_ws(scanner *s, const char *p, size_t depth)
{
    if (p < s->end && !is_ws(*p))
        return p; /* canonical text: the common case */
    const char *q = p;
    while (q < s->end && is_ws(*q))
        q++;
    if (q != p && depth)
        s->canonical = 0;
    return q;
}

/* The whole document. Returns 0 when jansson would accept it. */
static int scan(scanner *s)
{
    const char *p = s->start, *end = s->end;
    bt__json_doc *d = s->doc;
    size_t depth = 0;
    const char *root_start, *member_start = NULL;
    const char *member_key_p = NULL;
    size_t member_key_len = 0;
    bt__jv_type member_type = BT__JV_NONE;
    int root_object;
    const char *end_of_token = NULL, *value_stop, *sub_start = NULL;
    int sub_open = 0;

    p = skip_ws(s, p, 0);
    if (p >= end)
        return -1;
    if (!(s->flags & BT__JSON_ANY) && *p != '{' && *p != '[')
        return -1;
    root_start = p;
    root_object = *p == '{';
    d->members.complete = root_object;
    d->n_sub = 0;
    d->sub_complete = root_object;

value:
    if (depth + 1 > BT__JSON_DEPTH_MAX)
        return -1;
    if (p >= end)
        return -1;
    if (depth == 1) {
        member_start = p;
        member_type = type_of(p, 1); /* a number's kind is known only after it */
    } else if (depth == 2 && sub_open) {
        sub_start = p;
    }
    switch (*p) {
    case '{':
        s->stack[++depth] = '{';
        s->first_key[depth] = (uint32_t)s->n_keys;
        s->seen[depth] = 0;
        p = skip_ws(s, p + 1, depth);
        if (p < end && *p == '}') {
            p++;
            depth--;
            goto after_value;
        }
        goto key;
    case '[':
        s->stack[++depth] = '[';
        p = skip_ws(s, p + 1, depth);
        if (p < end && *p == ']') {
            p++;
            depth--;
            goto after_value;
        }
        goto value;
    case '"':
        if (scan_string(s, &p, 0, depth))
            return -1;
        goto after_value;
    case 't':
        if (end - p < 4 || memcmp(p, "true", 4))
            return -1;
        p += 4;
        goto after_token;
    case 'f':
        if (end - p < 5 || memcmp(p, "false", 5))
            return -1;
        p += 5;
        goto after_token;
    case 'n':
        if (end - p < 4 || memcmp(p, "null", 4))
            return -1;
        p += 4;
        goto after_token;
    default:
        if (*p != '-' && (*p < '0' || *p > '9'))
            return -1;
        int real;
        if (scan_number(s, &p, &real))
            return -1;
        if (depth == 1)
            member_type = real ? BT__JV_REAL : BT__JV_INTEGER;
        goto after_token;
    }

after_token:
    /* jansson reads one byte past a number or a literal and puts it back; a NUL put
     * back that way is lost, so one NUL right after such a token is skipped */
    if (p < end && *p == '\0') {
        s->canonical = 0;
        end_of_token = p++;
        goto after_value;
    }
    end_of_token = NULL;
    goto after_value;

key:
    if (p >= end || *p != '"')
        return -1;
    {
        const char *k = p;
        if (scan_string(s, &p, 1, depth))
            return -1;
        if (depth == 1) {
            member_key_p = k;
            member_key_len = (size_t)(p - k);
        } else if (depth == 2 && root_object && d->sub_complete) {
            if (d->n_sub == BT__JSON_SUB_MAX || d->members.n >= 255) {
                d->sub_complete = 0;
            } else {
                bt__jv *sk = &d->sub_keys[d->n_sub];
                sk->p = k;
                sk->len = (size_t)(p - k);
                sk->type = BT__JV_STRING;
                sub_open = 1;
            }
        }
    }
    p = skip_ws(s, p, depth);
    if (p >= end || *p != ':')
        return -1;
    p = skip_ws(s, p + 1, depth);
    goto value;

after_value:
    value_stop = end_of_token ? end_of_token : p;
    end_of_token = NULL;
    if (depth == 2 && sub_open) {
        bt__jv *sv = &d->sub_values[d->n_sub];
        sv->p = sub_start;
        sv->len = (size_t)(value_stop - sub_start);
        sv->type = type_of(sub_start, sv->len);
        d->sub_parent[d->n_sub] = (uint8_t)d->members.n;
        d->n_sub++;
        sub_open = 0;
    }
    if (depth == 1 && root_object && d->members.complete) {
        bt__jv_members *m = &d->members;
        if (m->n == BT__JSON_INDEX_MAX) {
            m->complete = 0;
        } else {
            bt__jv *k = &m->keys[m->n], *v = &m->values[m->n];
            k->p = member_key_p;
            k->len = member_key_len;
            k->type = BT__JV_STRING;
            v->p = member_start;
            v->len = (size_t)(value_stop - member_start);
            v->type = member_type;
            m->n++;
        }
    }
    if (depth == 0) {
        /* field by field (a struct copy of what was just stored stalls the CPU) */
        bt__jv_type root_type = type_of(root_start, (size_t)(value_stop - root_start));
        d->root.p = d->members.object.p = root_start;
        d->root.len = d->members.object.len = (size_t)(value_stop - root_start);
        d->root.type = d->members.object.type = root_type;
        p = skip_ws(s, p, 0);
        return p == end ? 0 : -1;
    }
    p = skip_ws(s, p, depth);
    if (p >= end)
        return -1;
    if (*p == ',') {
        p = skip_ws(s, p + 1, depth);
        if (s->stack[depth] == '{')
            goto key;
        goto value;
    }
    if (*p == '}' && s->stack[depth] == '{') {
        s->n_keys = s->first_key[depth];
        p++;
        depth--;
        goto after_value;
    }
    if (*p == ']' && s->stack[depth] == '[') {
        p++;
        depth--;
        goto after_value;
    }
    return -1;
}

/* --- reading canonical text ---------------------------------------------------------- */

/* The end of the string whose opening quote is at p (validated text): past the first
 * quote that no backslash escapes. Searched 16 bytes at a time for a quote or a
 * backslash; a backslash skips the byte after it. */
static const char *string_end(const char *p, const char *end)
{
    p++;
    for (;;) {
#if defined(__SSE2__)
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\');
        while (end - p >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
            int bits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)));
            if (bits) {
                p += __builtin_ctz((unsigned)bits);
                break;
            }
            p += 16;
        }
#endif
        while (p < end && *p != '"' && *p != '\\')
            p++;
        if (p >= end)
            return end;
        if (*p == '"')
            return p + 1;
        p += 2; /* an escape: its second byte is never the end */
    }
}

/* The next byte at or after p that matters to the structure outside strings: a quote
 * or a bracket (canonical text has nothing else to skip but scalars and separators). */
static const char *structural(const char *p, const char *end)
{
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), open_b = _mm_set1_epi8('['), close_b = _mm_set1_epi8(']');
    /* '{' and '}' are '[' and ']' with bit 0x20 set */
    const __m128i fold = _mm_set1_epi8(0x20);
    while (end - p >= 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)p);
        __m128i f = _mm_andnot_si128(fold, v);
        int bits = _mm_movemask_epi8(_mm_or_si128(
            _mm_cmpeq_epi8(v, quote), _mm_or_si128(_mm_cmpeq_epi8(f, open_b), _mm_cmpeq_epi8(f, close_b))));
        if (bits)
            return p + __builtin_ctz((unsigned)bits);
        p += 16;
    }
#endif
    while (p < end && *p != '"' && *p != '{' && *p != '}' && *p != '[' && *p != ']')
        p++;
    return p;
}

/* The end of the value at p (validated text). */
static const char *value_end(const char *p, const char *end)
{
    if (p >= end)
        return end;
    if (*p == '"')
        return string_end(p, end);
    if (*p == '{' || *p == '[') {
        size_t depth = 0;
        while ((p = structural(p, end)) < end) {
            char c = *p;
            if (c == '"') {
                p = string_end(p, end);
                continue;
            }
            if (c == '{' || c == '[')
                depth++;
            else if (--depth == 0)
                return p + 1;
            p++;
        }
        return end;
    }
    while (p < end && *p != ',' && *p != '}' && *p != ']')
        p++;
    return p;
}

bt__jv bt__jv_from(const char *p, size_t len)
{
    bt__jv none = {NULL, 0, BT__JV_NONE};
    return p && len ? make_jv(p, len) : none;
}

bt__jv_iter bt__jv_iterate(bt__jv c)
{
    bt__jv_iter it = {NULL, NULL};
    if ((c.type == BT__JV_OBJECT || c.type == BT__JV_ARRAY) && c.len >= 2) {
        it.p = c.p + 1;
        it.end = c.p + c.len - 1;
    }
    return it;
}

int bt__jv_next(bt__jv_iter *it, bt__jv *value)
{
    if (!it->p || it->p >= it->end)
        return 0;
    const char *e = value_end(it->p, it->end);
    *value = make_jv(it->p, (size_t)(e - it->p));
    it->p = e < it->end ? e + 1 : e; /* past the comma */
    return 1;
}

int bt__jv_next_member(bt__jv_iter *it, bt__jv *key, bt__jv *value)
{
    if (!it->p || it->p >= it->end)
        return 0;
    const char *k = it->p, *ke = string_end(k, it->end);
    *key = (bt__jv){k, (size_t)(ke - k), BT__JV_STRING};
    const char *v = ke + 1; /* past the colon */
    if (v > it->end)
        return 0;
    const char *e = value_end(v, it->end);
    *value = make_jv(v, (size_t)(e - v));
    it->p = e < it->end ? e + 1 : e;
    return 1;
}

size_t bt__jv_count(bt__jv array)
{
    if (array.type != BT__JV_ARRAY)
        return 0;
    bt__jv_iter it = bt__jv_iterate(array);
    bt__jv v;
    size_t n = 0;
    while (bt__jv_next(&it, &v))
        n++;
    return n;
}

/* A canonical key equals `key` (a plain NUL-terminated name) when its text between the
 * quotes is the same bytes: canonical escaping is unique, and names have no escapes. */
static inline int key_is(bt__jv k, const char *key, size_t klen)
{
    if (k.len != klen + 2)
        return 0;
    for (size_t i = 0; i < klen; i++) /* names are short: no call */
        if (k.p[1 + i] != key[i])
            return 0;
    return 1;
}

bt__jv bt__jv_get(bt__jv obj, const char *key)
{
    bt__jv none = {NULL, 0, BT__JV_NONE};
    if (obj.type != BT__JV_OBJECT)
        return none;
    size_t klen = strlen(key);
    bt__jv_iter it = bt__jv_iterate(obj);
    bt__jv k, v;
    while (bt__jv_next_member(&it, &k, &v))
        if (key_is(k, key, klen))
            return v;
    return none;
}

int bt__json_next_sub(const bt__json_doc *d, size_t parent, size_t *cursor, bt__jv *key, bt__jv *value)
{
    if (!d->sub_complete || !d->members.complete) {
        /* walk the object; *cursor is where the next member starts (0: the first) */
        if (parent >= d->members.n || d->members.values[parent].type != BT__JV_OBJECT)
            return 0;
        bt__jv obj = d->members.values[parent];
        bt__jv_iter it = bt__jv_iterate(obj);
        it.p += *cursor;
        if (!bt__jv_next_member(&it, key, value))
            return 0;
        *cursor = (size_t)(it.p - (obj.p + 1));
        return 1;
    }
    for (size_t i = *cursor; i < d->n_sub; i++) {
        if (d->sub_parent[i] == parent) {
            *key = d->sub_keys[i];
            *value = d->sub_values[i];
            *cursor = i + 1;
            return 1;
        }
    }
    *cursor = d->n_sub;
    return 0;
}

void bt__jv_index(bt__jv obj, bt__jv_members *out)
{
    out->object = obj;
    out->n = 0;
    out->complete = 1;
    bt__jv_iter it = bt__jv_iterate(obj);
    bt__jv k, v;
    while (obj.type == BT__JV_OBJECT && bt__jv_next_member(&it, &k, &v)) {
        if (out->n == BT__JSON_INDEX_MAX) {
            out->complete = 0;
            return;
        }
        out->keys[out->n] = k;
        out->values[out->n] = v;
        out->n++;
    }
}

bt__jv bt__jv_lookup(const bt__jv_members *m, const char *key)
{
    size_t klen = strlen(key);
    for (size_t i = 0; i < m->n; i++)
        if (key_is(m->keys[i], key, klen))
            return m->values[i];
    if (!m->complete)
        return bt__jv_get(m->object, key);
    bt__jv none = {NULL, 0, BT__JV_NONE};
    return none;
}

bt__jv bt__json_get(const bt__json_doc *d, const char *key)
{
    return bt__jv_lookup(&d->members, key);
}

int bt__jv_is(bt__jv v, const char *s)
{
    size_t n = strlen(s);
    return v.type == BT__JV_STRING && v.len == n + 2 && memcmp(v.p + 1, s, n) == 0 && !memchr(s, '"', n) &&
        !memchr(s, '\\', n);
}

static size_t put_utf8(char *out, unsigned long c)
{
    if (c < 0x80) {
        out[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        out[0] = (char)(0xC0 | (c >> 6));
        out[1] = (char)(0x80 | (c & 0x3F));
        return 2;
    }
    if (c < 0x10000) {
        out[0] = (char)(0xE0 | (c >> 12));
        out[1] = (char)(0x80 | ((c >> 6) & 0x3F));
        out[2] = (char)(0x80 | (c & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (c >> 18));
    out[1] = (char)(0x80 | ((c >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((c >> 6) & 0x3F));
    out[3] = (char)(0x80 | (c & 0x3F));
    return 4;
}

/* One escape at p (a backslash, validated): the code point, and how many bytes. */
static unsigned long escape_at(const char *p, size_t *used)
{
    *used = 2;
    switch (p[1]) {
    case 'b':
        return '\b';
    case 'f':
        return '\f';
    case 'n':
        return '\n';
    case 'r':
        return '\r';
    case 't':
        return '\t';
    case 'u': {
        unsigned long v = (unsigned long)hex4(p + 2);
        *used = 6;
        if (v >= 0xD800 && v <= 0xDBFF) {
            unsigned long lo = (unsigned long)hex4(p + 8);
            *used = 12;
            return 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
        }
        return v;
    }
    default:
        return (unsigned char)p[1]; /* " \ / */
    }
}

static size_t decode_into(const char *p, size_t len, char *out, size_t cap)
{
    size_t o = 0, i = 0;
    while (i < len) {
        const char *bs = memchr(p + i, '\\', len - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : len - i;
        if (o + run > cap)
            return (size_t)-1;
        memcpy(out + o, p + i, run);
        o += run;
        i += run;
        if (!bs)
            break;
        size_t used;
        unsigned long c = escape_at(p + i, &used);
        if (o + 4 > cap)
            return (size_t)-1;
        o += put_utf8(out + o, c);
        i += used;
    }
    return o;
}

int bt__jv_decode(bt__jv v, bt__buf *out)
{
    if (v.type != BT__JV_STRING)
        return BT_EINVAL;
    const char *p = v.p + 1;
    size_t len = v.len - 2, i = 0;
    int rc = BT_OK;
    while (i < len && rc == BT_OK) {
        const char *bs = memchr(p + i, '\\', len - i);
        size_t run = bs ? (size_t)(bs - (p + i)) : len - i;
        rc = bt__buf_append(out, p + i, run);
        i += run;
        if (!bs || rc)
            break;
        size_t used;
        char tmp[4];
        size_t n = put_utf8(tmp, escape_at(p + i, &used));
        rc = bt__buf_append(out, tmp, n);
        i += used;
    }
    return rc;
}

long bt__jv_copy(bt__jv v, char *out, size_t out_size)
{
    if (v.type != BT__JV_STRING || out_size == 0)
        return -1;
    bt__buf b;
    bt__buf_init(&b, out_size - 1);
    bt__jv_decode(v, &b);
    size_t n = b.truncated ? bt__utf8_cut(b.data, b.len) : b.len;
    if (n)
        memcpy(out, b.data, n);
    out[n] = '\0';
    bt__buf_free(&b);
    return (long)n;
}

char *bt__jv_strdup(bt__jv v)
{
    if (v.type != BT__JV_STRING)
        return NULL;
    bt__buf b;
    bt__buf_init(&b, 0);
    if (bt__jv_decode(v, &b) != BT_OK) {
        bt__buf_free(&b);
        return NULL;
    }
    return bt__buf_steal(&b, NULL);
}

size_t bt__jv_decoded_len(bt__jv v)
{
    if (v.type != BT__JV_STRING)
        return 0;
    /* Canonical escapes each stand for one byte: \X (two bytes) or \u00XX (six, for a
     * control character); everything else is itself. */
    const char *p = v.p + 1, *end = v.p + v.len - 1;
    size_t n = (size_t)(end - p);
    while (p < end) {
        const char *bs = memchr(p, '\\', (size_t)(end - p));
        if (!bs)
            break;
        size_t used = bs[1] == 'u' ? 6 : 2;
        n -= used - 1;
        p = bs + used;
    }
    return n;
}

int bt__jv_int64(bt__jv v, int64_t *out)
{
    if (v.type != BT__JV_INTEGER)
        return 0;
    int neg = *v.p == '-';
    uint64_t u = 0;
    for (size_t i = neg; i < v.len; i++)
        u = u * 10 + (uint64_t)(v.p[i] - '0');
    *out = neg ? (int64_t)(0 - u) : (int64_t)u;
    return 1;
}

double bt__jv_double(bt__jv v)
{
    if (v.type == BT__JV_INTEGER) {
        int64_t i;
        bt__jv_int64(v, &i);
        return (double)i;
    }
    if (v.type != BT__JV_REAL)
        return 0;
    int overflow;
    return number_value(v.p, v.len, &overflow);
}

/* --- rewriting into canonical text ---------------------------------------------------- */

typedef struct canon {
    bt__buf *out;
    int rc;
    int dedupe; /* objects may repeat a key */
} canon;

static void put(canon *w, const char *p, size_t n)
{
    if (!w->rc)
        w->rc = bt__buf_append(w->out, p, n);
}

static const char *ws(const char *p, const char *end)
{
    while (p < end && is_ws(*p))
        p++;
    return p;
}

/* A code point written inside a string the way jansson writes it. */
static void put_char(canon *w, unsigned long c)
{
    static const char hex[] = "0123456789ABCDEF";
    char tmp[6];
    if (c >= 0x20 && c != '"' && c != '\\') {
        put(w, tmp, put_utf8(tmp, c));
        return;
    }
    tmp[0] = '\\';
    switch (c) {
    case '"':
    case '\\':
        tmp[1] = (char)c;
        break;
    case '\b':
        tmp[1] = 'b';
        break;
    case '\f':
        tmp[1] = 'f';
        break;
    case '\n':
        tmp[1] = 'n';
        break;
    case '\r':
        tmp[1] = 'r';
        break;
    case '\t':
        tmp[1] = 't';
        break;
    default:
        tmp[1] = 'u';
        tmp[2] = '0';
        tmp[3] = '0';
        tmp[4] = hex[(c >> 4) & 15];
        tmp[5] = hex[c & 15];
        put(w, tmp, 6);
        return;
    }
    put(w, tmp, 2);
}

/* A validated string at p, written the way jansson writes it. Returns its end. */
static const char *canon_string(canon *w, const char *p, const char *end)
{
    const char *q = p + 1;
    put(w, "\"", 1);
    for (;;) {
        const char *r = q;
        while (r < end && *r != '"' && *r != '\\')
            r++;
        put(w, q, (size_t)(r - q));
        if (r >= end || *r == '"') {
            put(w, "\"", 1);
            return r < end ? r + 1 : end;
        }
        size_t used;
        put_char(w, escape_at(r, &used));
        q = r + used;
    }
}

static const char *canon_value(canon *w, const char *p, const char *end);

/* An object that may repeat a key: each key once, at its first position, with its last
 * value (what jansson keeps). Keys are found again through a hash table. */
static const char *canon_object_dedupe(canon *w, const char *p, const char *end)
{
    typedef struct member {
        size_t key_off, key_len; /* canonical key text in `keys` */
        uint32_t hash;
        const char *value; /* the last value seen */
    } member;
    member *m = NULL;
    size_t n = 0, cap = 0, slots = 0;
    uint32_t *table = NULL; /* member index + 1; 0 = empty */
    bt__buf keys;
    bt__buf_init(&keys, 0);
    canon kw = {&keys, 0, 0};
    p = ws(p + 1, end);
    while (p < end && *p == '"' && !w->rc) {
        size_t off = keys.len;
        p = canon_string(&kw, p, end);
        size_t klen = keys.len - off;
        uint32_t h = hash_bytes(keys.data + off, klen, 2166136261u);
        p = ws(ws(p, end) + 1, end); /* past ':' */
        if (n + 1 > slots / 2) {
            size_t ns = slots ? slots * 2 : 16;
            uint32_t *nt = calloc(ns, sizeof *nt);
            if (!nt) {
                w->rc = BT_ENOMEM;
                break;
            }
            for (size_t i = 0; i < n; i++) {
                size_t j = m[i].hash & (ns - 1);
                while (nt[j])
                    j = (j + 1) & (ns - 1);
                nt[j] = (uint32_t)i + 1;
            }
            free(table);
            table = nt;
            slots = ns;
        }
        size_t j = h & (slots - 1);
        member *found = NULL;
        while (table[j]) {
            member *c = &m[table[j] - 1];
            if (c->hash == h && c->key_len == klen &&
                !memcmp(keys.data + c->key_off, keys.data + off, klen)) {
                found = c;
                break;
            }
            j = (j + 1) & (slots - 1);
        }
        if (found) {
            keys.len = off; /* a known key: its first position stays */
            found->value = p;
        } else {
            if (n == cap) {
                cap = cap ? cap * 2 : 8;
                member *grown = realloc(m, cap * sizeof *m);
                if (!grown) {
                    w->rc = BT_ENOMEM;
                    break;
                }
                m = grown;
            }
            m[n] = (member){off, klen, h, p};
            table[j] = (uint32_t)++n;
        }
        p = ws(value_end(p, end), end);
        if (p < end && *p == ',')
            p = ws(p + 1, end);
    }
    if (kw.rc)
        w->rc = kw.rc;
    put(w, "{", 1);
    for (size_t i = 0; i < n && !w->rc; i++) {
        if (i)
            put(w, ",", 1);
        put(w, keys.data + m[i].key_off, m[i].key_len);
        put(w, ":", 1);
        canon_value(w, m[i].value, end);
    }
    put(w, "}", 1);
    free(m);
    free(table);
    bt__buf_free(&keys);
    return p < end ? p + 1 : end; /* past '}' */
}

/* Writes the validated value at p in canonical form; returns where it ends. */
static const char *canon_value(canon *w, const char *p, const char *end)
{
    p = ws(p, end);
    if (p >= end)
        return end;
    char close;
    switch (*p) {
    case '{':
        if (w->dedupe)
            return canon_object_dedupe(w, p, end);
        close = '}';
        break;
    case '[':
        close = ']';
        break;
    case '"':
        return canon_string(w, p, end);
    default: {
        const char *q = p;
        while (q < end && !is_ws(*q) && *q != ',' && *q != '}' && *q != ']' && *q != '\0')
            q++;
        put(w, p, (size_t)(q - p));               /* numbers keep their spelling; literals are as they are */
        return q < end && *q == '\0' ? q + 1 : q; /* the NUL jansson skips (see scan) */
    }
    }
    /* a container written member by member (keys are strings, written by canon_value) */
    put(w, p, 1);
    p = ws(p + 1, end);
    while (p < end && *p != close && !w->rc) {
        p = ws(canon_value(w, p, end), end);
        if (p < end && *p == ':') {
            put(w, ":", 1);
            p = ws(canon_value(w, p + 1, end), end);
        }
        if (p < end && *p == ',') {
            put(w, ",", 1);
            p = ws(p + 1, end);
        }
    }
    put(w, &close, 1);
    return p < end ? p + 1 : end;
}

int bt__json_canonical(const char *p, size_t len, bt__buf *out)
{
    canon w = {out, 0, 1};
    canon_value(&w, p, p + len);
    return w.rc;
}

/* --- documents ------------------------------------------------------------------------- */

/* The scanner's tables are large (about 16 KB) and reused: one per thread. */
static _Thread_local scanner tls_scanner;

/* The thread's scanner, through a plain pointer: were the thread-local address folded
 * into the scanning functions, every field access would go through the TLS base. */
static __attribute__((noinline)) scanner *thread_scanner(void)
{
    return &tls_scanner;
}

static int scan_doc(bt__json_doc *d, const char *p, size_t len, unsigned flags, int *canonical, int *repeats)
{
    scanner *s = thread_scanner();
    s->start = p;
    s->end = p + len;
    s->flags = flags;
    s->canonical = 1;
    s->repeats = 0;
    s->n_keys = 0;
    s->doc = d;
    /* only the counts: the index arrays are written before they are read */
    d->members.n = 0;
    d->members.complete = 0;
    int rc = scan(s) ? BT_EPARSE : BT_OK;
    *canonical = s->canonical && !s->repeats;
    *repeats = s->repeats;
    return rc;
}

/* Copy of `data` with every invalid UTF-8 byte replaced by U+FFFD (EF BF BD). */
static char *replace_invalid_utf8(const char *data, size_t len, size_t *out_len)
{
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *out = malloc(len * 3 + 1);
    if (!out)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < len;) {
        size_t n = bt__utf8_valid_prefix_len((const unsigned char *)data + i, len - i);
        if (n == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
        } else {
            memcpy(out + o, data + i, n);
            o += n;
            i += n;
        }
    }
    out[o] = '\0';
    *out_len = o;
    return out;
}

/* A document with nothing in it (the index arrays are left as they are: they are
 * written before they are read). */
static void doc_clear(bt__json_doc *d)
{
    d->text = NULL;
    d->len = 0;
    d->root.p = d->members.object.p = NULL;
    d->root.len = d->members.object.len = 0;
    d->root.type = d->members.object.type = BT__JV_NONE;
    d->members.n = 0;
    d->members.complete = 0;
    d->n_sub = 0;
    d->sub_complete = 0;
    d->owned = NULL;
    d->repaired = 0;
}

void bt__json_doc_init(bt__json_doc *d)
{
    doc_clear(d);
}

int bt__json_parse(bt__json_doc *d, const char *p, size_t len, unsigned flags)
{
    doc_clear(d);
    if (!p)
        return BT_EPARSE;
    int canonical, repeats;
    int rc = scan_doc(d, p, len, flags, &canonical, &repeats);
    if (rc == BT_EPARSE && (flags & BT__JSON_LENIENT) && !bt__utf8_valid(p, len)) {
        size_t fixed_len;
        char *fixed = replace_invalid_utf8(p, len, &fixed_len);
        if (!fixed)
            return BT_ENOMEM;
        rc = scan_doc(d, fixed, fixed_len, flags, &canonical, &repeats);
        if (rc != BT_OK) {
            free(fixed);
            return rc;
        }
        d->owned = fixed;
        d->repaired = 1;
        p = fixed;
        len = fixed_len;
    }
    if (rc != BT_OK)
        return rc;
    if (!canonical) {
        bt__buf out;
        bt__buf_init(&out, 0);
        canon w = {&out, 0, repeats};
        canon_value(&w, d->root.p, d->root.p + d->root.len);
        rc = w.rc;
        if (rc != BT_OK) {
            bt__buf_free(&out);
            bt__json_doc_free(d);
            return rc;
        }
        size_t clen;
        char *text = bt__buf_steal(&out, &clen);
        free(d->owned);
        d->owned = NULL;
        int repaired = d->repaired;
        rc = scan_doc(d, text, clen, flags, &canonical, &repeats);
        d->owned = text;
        d->repaired = repaired;
        if (rc != BT_OK) { /* cannot happen: canonical text of a valid document */
            bt__json_doc_free(d);
            return BT_EPARSE;
        }
        p = text;
        len = clen;
    }
    /* the text is the value itself, without the whitespace around it */
    d->text = d->root.p;
    d->len = d->root.len;
    (void)p;
    (void)len;
    return BT_OK;
}

void bt__json_doc_free(bt__json_doc *d)
{
    if (!d)
        return;
    free(d->owned);
    doc_clear(d);
}
