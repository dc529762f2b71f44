/* Tolerant JSON parsing and JSON-valued span attributes. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "decode/json_write.h"
#include "util/utf8.h"

/* Copy of `data` with every invalid UTF-8 byte replaced by U+FFFD (EF BF BD). */
static char *replace_invalid_utf8(const char *data, size_t len, size_t *out_len)
{
    if (len > SIZE_MAX / 3)
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

json_t *bt__json_parse_lenient(const char *data, size_t len)
{
    if (!data)
        return NULL;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v || bt__utf8_valid(data, len))
        return v;
    size_t fixed_len;
    char *fixed = replace_invalid_utf8(data, len, &fixed_len);
    if (!fixed)
        return NULL;
    v = json_loadb(fixed, fixed_len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    free(fixed);
    return v;
}

int64_t bt__json_count(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i >= 0 ? (int64_t)i : -1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (isfinite(d) && d >= 0 && d < 9.0e18 && floor(d) == d)
            return (int64_t)d;
    }
    return -1;
}

void bt__span_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                       const json_t *value)
{
    if (!span || !value)
        return;
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return;
    char *use = text;
    if (mask_field)
        use = bt__anthropic_mask(a, mask_field, text, strlen(text));
    bt_span_set_string(span, key, use);
    if (use != text)
        free(use);
    free(text);
}

void bt__span_set_span_attributes(bt_span *span, const char *type, const char *name)
{
    if (!span)
        return;
    bt__buf b;
    bt__buf_init(&b, 0);
    int rc = bt__buf_append_str(&b, "{\"type\":");
    if (!rc)
        rc = bt__json_write_string(&b, type, strlen(type));
    if (!rc)
        rc = bt__buf_append_str(&b, ",\"name\":");
    if (!rc)
        rc = bt__json_write_string(&b, name, strlen(name));
    if (!rc)
        rc = bt__buf_append_str(&b, "}");
    if (!rc)
        bt_span_set_string_len(span, "braintrust.span_attributes", b.data, b.len);
    bt__buf_free(&b);
}
