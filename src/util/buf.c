#include "util/buf.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/text.h"
#include "util/utf8.h"

void bt__buf_init(bt__buf *b, size_t max)
{
    memset(b, 0, sizeof *b);
    b->max = max ? max : SIZE_MAX / 2;
}

static int reserve(bt__buf *b, size_t want)
{
    if (want + 1 <= b->alloc)
        return BT_OK;
    size_t n = b->alloc ? b->alloc : 64;
    while (n < want + 1)
        n = n > SIZE_MAX / 4 ? want + 1 : n * 2;
    if (n > b->max + 1)
        n = b->max + 1;
    char *p = realloc(b->data, n);
    if (!p)
        return BT_ENOMEM;
    b->data = p;
    b->alloc = n;
    return BT_OK;
}

int bt__buf_append(bt__buf *b, const void *data, size_t len)
{
    int rc = BT_OK;
    if (len > b->max - b->len) {
        len = b->max - b->len;
        b->truncated = 1;
        rc = BT_ELIMIT;
    }
    int r = reserve(b, b->len + len);
    if (r)
        return r;
    if (len)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    b->data[b->len] = '\0';
    return rc;
}

int bt__buf_append_str(bt__buf *b, const char *s)
{
    return bt__buf_append(b, s, strlen(s));
}

int bt__buf_append_char(bt__buf *b, char c)
{
    return bt__buf_append(b, &c, 1);
}

int bt__buf_vprintf(bt__buf *b, const char *fmt, va_list ap)
{
    char small[256];
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(small, sizeof small, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return BT_EINVAL;
    if ((size_t)n < sizeof small)
        return bt__buf_append(b, small, (size_t)n);
    char *big = malloc((size_t)n + 1);
    if (!big)
        return BT_ENOMEM;
    vsnprintf(big, (size_t)n + 1, fmt, ap);
    int rc = bt__buf_append(b, big, (size_t)n);
    free(big);
    return rc;
}

int bt__buf_printf(bt__buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int rc = bt__buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

/* The slow, piece-by-piece writer: used when the result may not fit under the cap, so
 * that a cut string stops exactly where the cap is. */
static int append_json_string_capped(bt__buf *b, const char *s, size_t len)
{
    int rc = bt__buf_append_char(b, '"');
    size_t i = 0;
    while (i < len && rc == BT_OK) {
        unsigned char c = (unsigned char)s[i];
        size_t run = i;
        /* copy plain ASCII runs in one go */
        while (run < len && (unsigned char)s[run] >= 0x20 && (unsigned char)s[run] < 0x80 && s[run] != '"' &&
               s[run] != '\\')
            run++;
        if (run > i) {
            rc = bt__buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        if (c >= 0x80) {
            size_t n = bt__utf8_valid_prefix_len((const unsigned char *)s + i, len - i);
            if (n) {
                rc = bt__buf_append(b, s + i, n);
                i += n;
            } else {
                rc = bt__buf_append(b, "\xef\xbf\xbd", 3); /* U+FFFD */
                i++;
            }
            continue;
        }
        char esc[7];
        switch (c) {
        case '"':
            rc = bt__buf_append(b, "\\\"", 2);
            break;
        case '\\':
            rc = bt__buf_append(b, "\\\\", 2);
            break;
        case '\n':
            rc = bt__buf_append(b, "\\n", 2);
            break;
        case '\r':
            rc = bt__buf_append(b, "\\r", 2);
            break;
        case '\t':
            rc = bt__buf_append(b, "\\t", 2);
            break;
        default:
            esc[0] = '\\';
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            bt__hex_encode(&c, 1, esc + 4);
            rc = bt__buf_append(b, esc, 6);
        }
        i++;
    }
    if (rc == BT_OK)
        rc = bt__buf_append_char(b, '"');
    return rc;
}

int bt__buf_append_json_string(bt__buf *b, const char *str, size_t len)
{
    /* Escaping writes at most 6 bytes a byte: when even that fits under the cap, write in
     * place in one pass; otherwise piece by piece, so the cut lands exactly at the cap. */
    if (len > (SIZE_MAX / 2 - 64) / 6 || len * 6 + 2 > b->max - b->len)
        return append_json_string_capped(b, str, len);
    const unsigned char *s = (const unsigned char *)str;
    static const char hex[] = "0123456789abcdef";
    /* Room for every byte doubled (quotes, backslashes, \n \r \t) and 16 bytes of slack
     * for whole-block stores; \u00XX and U+FFFD make sure of more when they come. */
    int rc = reserve(b, b->len + 2 * len + 2 + 16);
    if (rc)
        return rc;
    char *o = b->data + b->len;
    *o++ = '"';
    size_t i = 0;
    for (;;) {
#if defined(__SSE2__)
        /* 16 bytes at a time: stored whole, then the output only advances to the first
         * special byte (the rest is overwritten next) */
        const __m128i quote = _mm_set1_epi8('"'), bslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
        char block[32] = {0};
        while (i + 16 <= len) {
            __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, bslash)),
                                     _mm_cmplt_epi8(v, space));
            _mm_storeu_si128((__m128i *)(void *)o, v);
            unsigned bits = (unsigned)_mm_movemask_epi8(m);
            if (!bits) {
                o += 16;
                i += 16;
                continue;
            }
            /* JSON text as a string value has a quote or an escape every few bytes:
             * every '"', '\\', \n, \r and \t of the block is escaped here, the bytes
             * after each stored again one place further on; anything else (another
             * control byte, a non-ASCII byte) stops the block for the careful way */
            size_t at = 0, k = 0;
            int other = 0;
            _mm_storeu_si128((__m128i *)(void *)block, v); /* read back from here: never past the input */
            while (bits) {
                k = (size_t)__builtin_ctz(bits);
                unsigned char c = s[i + k];
                char e = c == '"' ? '"'
                    : c == '\\'   ? '\\'
                    : c == '\n'   ? 'n'
                    : c == '\r'   ? 'r'
                    : c == '\t'   ? 't'
                                  : 0;
                o += k - at;
                if (!e) {
                    other = 1;
                    break;
                }
                o[0] = '\\';
                o[1] = e;
                o += 2;
                at = k + 1;
                _mm_storeu_si128((__m128i *)(void *)o,
                                 _mm_loadu_si128((const __m128i *)(const void *)(block + at)));
                bits &= bits - 1;
            }
            if (other) {
                i += k;
                break;
            }
            o += 16 - at;
            i += 16;
        }
#endif
        while (i < len && s[i] >= 0x20 && s[i] < 0x80 && s[i] != '"' && s[i] != '\\')
            *o++ = (char)s[i++];
        if (i == len)
            break;
        unsigned char c = s[i];
        if (c == '"' || c == '\\' || c == '\n' || c == '\r' || c == '\t') {
            o[0] = '\\';
            o[1] = c == '\n' ? 'n' : c == '\r' ? 'r' : c == '\t' ? 't' : (char)c;
            o += 2;
            i++;
            continue;
        }
        if (c >= 0x80) {
            size_t n = bt__utf8_valid_prefix_len(s + i, len - i);
            if (n) {
                memcpy(o, s + i, n);
                o += n;
                i += n;
                continue;
            }
        }
        /* another control byte (\u00XX: 6) or an invalid one (U+FFFD: 3): make sure the
         * rest still fits at two bytes a byte */
        size_t at = (size_t)(o - b->data);
        if ((rc = reserve(b, at + 6 + 2 * (len - i) + 2 + 16)) != BT_OK)
            return rc;
        o = b->data + at;
        if (c >= 0x80) {
            memcpy(o, "\xef\xbf\xbd", 3);
            o += 3;
        } else {
            memcpy(o, "\\u00", 4);
            o[4] = hex[c >> 4];
            o[5] = hex[c & 15];
            o += 6;
        }
        i++;
    }
    *o++ = '"';
    b->len = (size_t)(o - b->data);
    b->data[b->len] = '\0';
    return BT_OK;
}

int bt__buf_reserve(bt__buf *b, size_t len)
{
    return reserve(b, len < b->max ? len : b->max);
}

void bt__buf_reset(bt__buf *b)
{
    b->len = 0;
    b->truncated = 0;
    if (b->data)
        b->data[0] = '\0';
}

char *bt__buf_steal(bt__buf *b, size_t *len_out)
{
    char *p = b->data;
    size_t len = b->len;
    if (!p) {
        p = malloc(1);
        if (!p)
            return NULL;
        p[0] = '\0';
    }
    if (len_out)
        *len_out = len;
    size_t max = b->max;
    bt__buf_init(b, max);
    return p;
}

void bt__buf_free(bt__buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->alloc = 0;
}
