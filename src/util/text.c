/* Hex digits, percent-decoding, HTTP field syntax and W3C key=value lists. */
#include "util/text.h"

#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"

static const char hex_lower[] = "0123456789abcdef";

int bt__hex_digit(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

void bt__hex_encode(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = hex_lower[p[i] >> 4];
        out[2 * i + 1] = hex_lower[p[i] & 15];
    }
    out[2 * n] = '\0';
}

int bt__hex_decode(const char *s, size_t n, uint8_t *out, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        char a = s[2 * i], b = s[2 * i + 1];
        if ((flags & BT__HEX_LOWERCASE_ONLY) && ((a >= 'A' && a <= 'F') || (b >= 'A' && b <= 'F')))
            return -1;
        int hi = bt__hex_digit((unsigned char)a), lo = hi < 0 ? -1 : bt__hex_digit((unsigned char)b);
        if (lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

long bt__percent_decode(const char *s, size_t len, unsigned flags, char *out, size_t out_size)
{
    if (out_size == 0)
        return -1;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = len - i >= 3 ? bt__hex_digit((unsigned char)s[i + 1]) : -1;
            int lo = hi >= 0 ? bt__hex_digit((unsigned char)s[i + 2]) : -1;
            if (lo < 0)
                return -1;
            c = (char)(hi << 4 | lo);
            i += 2;
        } else if (c == '+' && (flags & BT__PERCENT_PLUS_IS_SPACE)) {
            c = ' ';
        }
        if (c == '\0' || o + 1 >= out_size)
            return -1;
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

int bt__http_token(const char *s, size_t n)
{
    if (!s || n == 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z'))
            continue;
        if (c == '\0' || !strchr("!#$%&'*+-.^_`|~", c))
            return 0;
    }
    return 1;
}

int bt__http_value_safe(const char *s, size_t n)
{
    if (!s)
        return 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f)
            return 0;
    }
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int bt__kv_list_parse(const char *list, bt__kv_fn fn, void *ud)
{
    if (!list)
        return BT_OK;
    /* One scratch for every member: key + NUL + decoded value + NUL fit in len + 2. */
    size_t total = strlen(list);
    char *scratch = malloc(total + 2);
    if (!scratch)
        return BT_ENOMEM;
    int rc = BT_OK;
    const char *p = list;
    while (rc == BT_OK && *p) {
        size_t n = strcspn(p, ",");
        const char *m = p, *e = p + n;
        p = *e ? e + 1 : e;
        while (m < e && is_ows(*m))
            m++;
        while (e > m && is_ows(e[-1]))
            e--;
        if (m == e)
            continue; /* empty members are allowed */
        const char *eq = memchr(m, '=', (size_t)(e - m));
        if (!eq) {
            rc = BT_EINVAL;
            break;
        }
        const char *ke = eq;
        while (ke > m && is_ows(ke[-1]))
            ke--;
        const char *vs = eq + 1;
        while (vs < e && is_ows(*vs))
            vs++;
        size_t klen = (size_t)(ke - m);
        if (!bt__http_token(m, klen)) {
            rc = BT_EINVAL;
            break;
        }
        char *key = scratch;
        memcpy(key, m, klen);
        key[klen] = '\0';
        char *value = scratch + klen + 1;
        long vlen = bt__percent_decode(vs, (size_t)(e - vs), 0, value, total + 1 - klen);
        if (vlen < 0 || !bt__http_value_safe(value, (size_t)vlen)) {
            rc = BT_EINVAL;
            break;
        }
        rc = fn ? fn(ud, key, value, (size_t)vlen) : BT_OK;
    }
    free(scratch);
    return rc;
}
