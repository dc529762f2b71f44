/* Llm span pieces for batch children (see batch_llm.h). */
#include "anthropic/batch_llm.h"

#include <stdlib.h>
#include <string.h>

json_t *bt__batch_llm_output(json_t *message)
{
    json_t *role = json_object_get(message, "role");
    json_t *content = json_object_get(message, "content");
    if (!json_is_array(content))
        return NULL; /* as for a Messages span: no blocks, no output */
    return json_pack("{s:s,s:O}", "role", json_is_string(role) ? json_string_value(role) : "assistant",
                     "content", content);
}

void bt__batch_llm_metrics_add(json_t *into, json_t *from)
{
    const char *key;
    json_t *value;
    json_object_foreach(from, key, value)
    {
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
