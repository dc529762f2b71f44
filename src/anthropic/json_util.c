/* JSON-valued span attributes. */
#include <stdlib.h>
#include <string.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "decode/json_write.h"
#include "util/utf8.h"

void bt__span_set_json_text(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                            const char *json, size_t len)
{
    if (!span || !json)
        return;
    const char *use = mask_field ? bt__anthropic_mask(a, mask_field, json, len) : json;
    if (use == json) {
        bt_span_set_string_len(span, key, json, len);
    } else {
        bt_span_set_string(span, key, use);
        free((void *)use); /* the callback's malloc'd replacement */
    }
}

void bt__span_set_json_slice(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                             bt__jv value)
{
    if (!span || value.type == BT__JV_NONE)
        return;
    if (!mask_field || !bt__anthropic_masks(a)) {
        bt_span_set_string_len(span, key, value.p, value.len);
        return;
    }
    char *text = malloc(value.len + 1); /* the callback reads a NUL-terminated text */
    if (!text)
        return;
    memcpy(text, value.p, value.len);
    text[value.len] = '\0';
    bt__span_set_json_text(a, span, key, mask_field, text, value.len);
    free(text);
}

json_t *bt__json_parse_lenient(const char *data, size_t len)
{
    if (!data)
        return NULL;
    json_t *v = json_loadb(data, len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    if (v || bt__utf8_valid(data, len))
        return v;
    /* the scanner's repaired text is valid UTF-8 and what jansson would read */
    bt__json_doc d;
    if (bt__json_parse(&d, data, len, BT__JSON_ANY | BT__JSON_ALLOW_NUL | BT__JSON_LENIENT) == 0)
        v = json_loadb(d.text, d.len, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
    bt__json_doc_free(&d);
    return v;
}

void bt__span_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                       const json_t *value)
{
    if (!span || !value)
        return;
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (text)
        bt__span_set_json_text(a, span, key, mask_field, text, strlen(text));
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
