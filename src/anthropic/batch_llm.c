/* Shared Messages-span pieces for batch children (see batch_llm.h). */
#include "anthropic/batch_llm.h"

#include <stdlib.h>
#include <string.h>

#include "anthropic/exchange_internal.h"

json_t *bt__batch_llm_input(json_t *params)
{
    json_t *out = json_array();
    json_t *messages = json_object_get(params, "messages");
    if (json_is_array(messages))
        json_array_extend(out, messages);
    json_t *system = json_object_get(params, "system");
    if (system && !json_is_null(system))
        json_array_append_new(out, json_pack("{s:s,s:O}", "role", "system", "content", system));
    return out;
}

json_t *bt__batch_llm_request_metadata(json_t *params)
{
    json_t *meta = json_object();
    json_object_set_new(meta, "provider", json_string("anthropic"));
    const char *key;
    json_t *value;
    json_object_foreach(params, key, value) {
        if (strcmp(key, "messages") == 0 || strcmp(key, "system") == 0 || strcmp(key, "stream") == 0)
            continue;
        json_object_set(meta, key, value);
    }
    return meta;
}

json_t *bt__batch_llm_output(json_t *message)
{
    json_t *role = json_object_get(message, "role");
    json_t *content = json_object_get(message, "content");
    return json_pack("{s:s,s:O}", "role", json_is_string(role) ? json_string_value(role) : "assistant",
                     "content", content ? content : json_null());
}

/* The value of an integer usage field, or -1 when absent. */
static json_int_t usage_int(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    return json_is_integer(v) && json_integer_value(v) >= 0 ? json_integer_value(v) : -1;
}

json_t *bt__batch_llm_metrics(json_t *usage)
{
    json_t *m = json_object();
    if (!json_is_object(usage))
        return m;
    json_int_t input = usage_int(usage, "input_tokens");
    json_int_t output = usage_int(usage, "output_tokens");
    json_int_t cache_read = usage_int(usage, "cache_read_input_tokens");
    json_int_t cache_write = usage_int(usage, "cache_creation_input_tokens");
    json_t *split = json_object_get(usage, "cache_creation");
    json_int_t w5m = usage_int(split, "ephemeral_5m_input_tokens");
    json_int_t w1h = usage_int(split, "ephemeral_1h_input_tokens");
    /* The effective cache write is the larger of the aggregate and the TTL split. */
    json_int_t split_sum = (w5m > 0 ? w5m : 0) + (w1h > 0 ? w1h : 0);
    json_int_t effective_write = cache_write > split_sum ? cache_write : split_sum;
    if (input >= 0) {
        json_int_t prompt = input + (cache_read > 0 ? cache_read : 0) + effective_write;
        json_object_set_new(m, "prompt_tokens", json_integer(prompt));
        if (output >= 0)
            json_object_set_new(m, "tokens", json_integer(prompt + output));
    }
    if (output >= 0)
        json_object_set_new(m, "completion_tokens", json_integer(output));
    if (cache_read >= 0)
        json_object_set_new(m, "prompt_cached_tokens", json_integer(cache_read));
    if (json_is_object(split)) {
        if (w5m >= 0)
            json_object_set_new(m, "prompt_cache_creation_5m_tokens", json_integer(w5m));
        if (w1h >= 0)
            json_object_set_new(m, "prompt_cache_creation_1h_tokens", json_integer(w1h));
    } else if (cache_write >= 0) {
        json_object_set_new(m, "prompt_cache_creation_tokens", json_integer(cache_write));
    }
    json_int_t thinking = usage_int(json_object_get(usage, "output_tokens_details"), "thinking_tokens");
    if (thinking >= 0)
        json_object_set_new(m, "completion_reasoning_tokens", json_integer(thinking));
    return m;
}

void bt__batch_llm_metrics_add(json_t *into, json_t *from)
{
    const char *key;
    json_t *value;
    json_object_foreach(from, key, value) {
        if (!json_is_integer(value))
            continue;
        json_t *cur = json_object_get(into, key);
        json_int_t base = json_is_integer(cur) ? json_integer_value(cur) : 0;
        json_object_set_new(into, key, json_integer(base + json_integer_value(value)));
    }
}

void bt__batch_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                        json_t *value)
{
    if (!span || !value)
        return;
    char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return;
    char *use = mask_field ? bt__anthropic_mask(a, mask_field, text, strlen(text)) : text;
    bt_span_set_string(span, key, use);
    if (use != text)
        free(use);
    free(text);
}

void bt__batch_set_span_attributes(bt_span *span, const char *type, const char *name)
{
    json_t *attrs = json_pack("{s:s,s:s}", "type", type, "name", name);
    char *text = json_dumps(attrs, JSON_COMPACT);
    if (text)
        bt_span_set_string(span, "braintrust.span_attributes", text);
    free(text);
    json_decref(attrs);
}
