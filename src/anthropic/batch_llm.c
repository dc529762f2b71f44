/* Llm span pieces for batch children (see batch_llm.h). */
#include "anthropic/batch_llm.h"

#include <stdlib.h>
#include <string.h>

/* The request parameters a Messages span records in metadata (as in messages.c;
 * "stream" is left out: batched requests cannot stream). */
static const char *const REQUEST_PARAMS[] = {
    "model", "max_tokens", "temperature", "top_p", "top_k", "stop_sequences",
    "tools", "tool_choice", "metadata", "thinking", "service_tier", "container",
    "mcp_servers", "output_config", "output_format", "context_management",
    "inference_geo", "cache_control",
};

json_t *bt__batch_llm_input(json_t *params)
{
    json_t *out = json_array();
    json_t *messages = json_object_get(params, "messages");
    if (json_is_array(messages))
        json_array_extend(out, messages);
    json_t *system = json_object_get(params, "system");
    if (system && !json_is_null(system) && !(json_is_string(system) && json_string_length(system) == 0))
        json_array_append_new(out, json_pack("{s:s,s:O}", "role", "system", "content", system));
    return out;
}

json_t *bt__batch_llm_request_metadata(json_t *params)
{
    json_t *meta = json_object();
    json_object_set_new(meta, "provider", json_string("anthropic"));
    for (size_t i = 0; i < sizeof REQUEST_PARAMS / sizeof REQUEST_PARAMS[0]; i++) {
        json_t *v = json_object_get(params, REQUEST_PARAMS[i]);
        if (v)
            json_object_set(meta, REQUEST_PARAMS[i], v);
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

void bt__batch_set_span_attributes(bt_span *span, const char *type, const char *name)
{
    json_t *attrs = json_pack("{s:s,s:s}", "type", type, "name", name);
    char *text = json_dumps(attrs, JSON_COMPACT);
    if (text)
        bt_span_set_string(span, "braintrust.span_attributes", text);
    free(text);
    json_decref(attrs);
}
