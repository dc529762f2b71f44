/*
 * Fuzz target for util/text, the small codecs every layer shares: percent-decoding (both
 * modes), hex, and the W3C key=value list rule. The whole input is one string.
 * Invariants checked:
 *   - percent-decoding never grows the text, never yields a NUL, and re-encoding every
 *     decoded byte as %XY decodes back to the same bytes;
 *   - any run of hex digits decodes, and encodes back to the same digits (lowercased);
 *   - every member the list parser hands out has a token key and a decoded value that is
 *     safe as an HTTP field value, and re-encoding the members gives a list that parses to
 *     the same members.
 */
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/buf.h"
#include "util/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_percent(const char *s, size_t n, unsigned flags)
{
    char *out = malloc(n + 1);
    if (!out)
        abort();
    long len = bt__percent_decode(s, n, flags, out, n + 1);
    if (len >= 0) {
        if ((size_t)len > n || out[len] != '\0' || memchr(out, '\0', (size_t)len))
            abort();
        char *enc = malloc(3 * (size_t)len + 1);
        char *again = malloc((size_t)len + 1);
        if (!enc || !again)
            abort();
        for (long i = 0; i < len; i++) {
            enc[3 * i] = '%';
            bt__hex_encode((const uint8_t *)out + i, 1, enc + 3 * i + 1);
        }
        if (bt__percent_decode(enc, 3 * (size_t)len, 0, again, (size_t)len + 1) != len ||
            memcmp(again, out, (size_t)len + 1))
            abort();
        /* one byte less room never fits */
        if (bt__percent_decode(s, n, flags, again, (size_t)len) != -1)
            abort();
        free(enc);
        free(again);
    }
    free(out);
}

static void check_hex(const char *s, size_t n)
{
    size_t run = 0;
    while (run < n && bt__hex_digit((unsigned char)s[run]) >= 0)
        run++;
    size_t bytes = run / 2;
    uint8_t *raw = malloc(bytes + 1);
    char *text = malloc(2 * bytes + 1);
    if (!raw || !text)
        abort();
    if (bt__hex_decode(s, bytes, raw, 0) != 0)
        abort();
    bt__hex_encode(raw, bytes, text);
    for (size_t i = 0; i < 2 * bytes; i++) {
        char c = s[i] >= 'A' && s[i] <= 'F' ? (char)(s[i] - 'A' + 'a') : s[i];
        if (text[i] != c)
            abort();
    }
    /* one byte more reaches the first non-digit */
    if (run < n && bt__hex_decode(s, bytes + 1, raw, 0) != -1)
        abort();
    free(raw);
    free(text);
}

typedef struct members {
    bt__buf reencoded;
    size_t n;
    bt__buf seen;
} members;

static int on_member(void *ud, const char *key, const char *value, size_t value_len)
{
    members *m = ud;
    if (!bt__http_token(key, strlen(key)) || strlen(value) != value_len ||
        !bt__http_value_safe(value, value_len))
        abort();
    if (m->n++)
        bt__buf_append_char(&m->reencoded, ',');
    bt__buf_append_str(&m->reencoded, key);
    bt__buf_append_char(&m->reencoded, '=');
    for (size_t i = 0; i < value_len; i++) {
        char hex[3];
        bt__hex_encode((const uint8_t *)value + i, 1, hex);
        bt__buf_append_char(&m->reencoded, '%');
        bt__buf_append(&m->reencoded, hex, 2);
    }
    bt__buf_append_str(&m->seen, key);
    bt__buf_append_char(&m->seen, '\n');
    bt__buf_append(&m->seen, value, value_len);
    bt__buf_append_char(&m->seen, '\n');
    return BT_OK;
}

static void check_kv_list(const char *s)
{
    members a = {{0}, 0, {0}}, b = {{0}, 0, {0}};
    bt__buf_init(&a.reencoded, 0);
    bt__buf_init(&a.seen, 0);
    bt__buf_init(&b.reencoded, 0);
    bt__buf_init(&b.seen, 0);
    if (bt__kv_list_parse(s, on_member, &a) == BT_OK) {
        if (bt__kv_list_parse(a.reencoded.data ? a.reencoded.data : "", on_member, &b) != BT_OK ||
            a.n != b.n || a.seen.len != b.seen.len ||
            (a.seen.len && memcmp(a.seen.data, b.seen.data, a.seen.len)))
            abort();
    }
    bt__buf_free(&a.reencoded);
    bt__buf_free(&a.seen);
    bt__buf_free(&b.reencoded);
    bt__buf_free(&b.seen);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s)
        abort();
    memcpy(s, data, size);
    s[size] = '\0';
    check_percent(s, size, 0);
    check_percent(s, size, BT__PERCENT_PLUS_IS_SPACE);
    check_hex(s, size);
    check_kv_list(s); /* up to the first NUL, like a C string from the environment */
    free(s);
    return 0;
}
