/* Parsing the W3C-style header list of OTEL_EXPORTER_OTLP_HEADERS. */
#include "export/otlp_headers.h"

#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

int bt__http_token_valid(const char *s)
{
    if (!s || !*s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p >= '0' && *p <= '9')
            continue;
        if ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')
            continue;
        if (!strchr("!#$%&'*+-.^_`|~", *p))
            return 0;
    }
    return 1;
}

int bt__http_value_safe(const char *s)
{
    if (!s)
        return 0;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if ((*p < 0x20 && *p != '\t') || *p == 0x7f)
            return 0;
    return 1;
}

static int hex_val(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Percent-decodes s[0, n) into out (at least n+1 bytes). A '%' not followed by two hex
 * digits is kept literally, as the W3C baggage format allows. Returns the length, or
 * (size_t)-1 when the result holds a NUL (which would silently cut the value). */
static size_t percent_decode(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int hi, lo;
        if (s[i] == '%' && i + 2 < n && (hi = hex_val(s[i + 1])) >= 0 && (lo = hex_val(s[i + 2])) >= 0) {
            char c = (char)(hi * 16 + lo);
            if (c == '\0')
                return (size_t)-1;
            out[k++] = c;
            i += 2;
        } else {
            out[k++] = s[i];
        }
    }
    out[k] = '\0';
    return k;
}

int bt__otlp_header_list_parse(const char *list, bt__header_pair_fn fn, void *ud)
{
    if (!list)
        return BT_OK;
    size_t total = strlen(list);
    char *scratch = malloc(total + 2);
    if (!scratch)
        return BT_ENOMEM;
    int rc = BT_OK;
    const char *p = list;
    while (rc == BT_OK && *p) {
        const char *end = strchr(p, ',');
        if (!end)
            end = p + strlen(p);
        const char *a = p, *b = end;
        while (a < b && is_ows(*a))
            a++;
        while (b > a && is_ows(b[-1]))
            b--;
        if (a < b) {
            const char *eq = memchr(a, '=', (size_t)(b - a));
            if (!eq) {
                rc = BT_EINVAL;
                break;
            }
            const char *ke = eq;
            while (ke > a && is_ows(ke[-1]))
                ke--;
            const char *vs = eq + 1;
            while (vs < b && is_ows(*vs))
                vs++;
            size_t klen = (size_t)(ke - a);
            char *key = scratch;
            memcpy(key, a, klen);
            key[klen] = '\0';
            char *value = scratch + klen + 1;
            size_t vlen = percent_decode(vs, (size_t)(b - vs), value);
            if (vlen == (size_t)-1 || !bt__http_token_valid(key) || !bt__http_value_safe(value))
                rc = BT_EINVAL;
            else
                rc = fn(ud, key, value);
        }
        p = *end ? end + 1 : end;
    }
    free(scratch);
    return rc;
}
