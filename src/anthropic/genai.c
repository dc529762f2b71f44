/* gen_ai.* attributes per the OpenTelemetry GenAI conventions for Anthropic. */
#include <stdlib.h>

#include "anthropic/genai.h"
#include "anthropic/json_util.h"

static void set_count(bt_span *span, const char *key, int64_t v)
{
    if (v >= 0)
        bt_span_set_int(span, key, v);
}

static void set_number(bt_span *span, const char *key, const json_t *v)
{
    if (json_is_integer(v))
        bt_span_set_int(span, key, (int64_t)json_integer_value(v));
    else if (json_is_real(v))
        bt_span_set_double(span, key, json_real_value(v));
}

static void set_str(bt_span *span, const char *key, const json_t *v)
{
    if (json_is_string(v))
        bt_span_set_string_len(span, key, json_string_value(v), json_string_length(v));
}

static void set_stop_sequences(bt_span *span, const json_t *arr)
{
    size_t n = json_array_size(arr);
    if (!n || n > 256)
        return;
    const char **items = calloc(n, sizeof *items);
    if (!items)
        return;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        const char *s = json_string_value(json_array_get(arr, i));
        if (s)
            items[k++] = s;
    }
    if (k)
        bt_span_set_string_array(span, "gen_ai.request.stop_sequences", items, k);
    free(items);
}

void bt__genai_set(bt_span *span, const bt__genai_call *c)
{
    if (!span)
        return;
    const json_t *rq = c->request, *rs = c->response;
    bt_span_set_string(span, "gen_ai.provider.name", "anthropic");
    bt_span_set_string(span, "gen_ai.operation.name", c->operation);
    set_str(span, "gen_ai.request.model", json_object_get(rq, "model"));
    set_number(span, "gen_ai.request.max_tokens", json_object_get(rq, "max_tokens"));
    set_number(span, "gen_ai.request.temperature", json_object_get(rq, "temperature"));
    set_number(span, "gen_ai.request.top_p", json_object_get(rq, "top_p"));
    set_number(span, "gen_ai.request.top_k", json_object_get(rq, "top_k"));
    set_stop_sequences(span, json_object_get(rq, "stop_sequences"));
    if (c->stream)
        bt_span_set_bool(span, "gen_ai.request.stream", 1);

    set_str(span, "gen_ai.response.id", json_object_get(rs, "id"));
    set_str(span, "gen_ai.response.model", json_object_get(rs, "model"));
    const char *stop = json_string_value(json_object_get(rs, "stop_reason"));
    if (stop)
        bt_span_set_string_array(span, "gen_ai.response.finish_reasons", &stop, 1);
    if (c->usage) {
        /* Anthropic's input_tokens excludes cached input; the convention's input count
         * includes cache reads and writes. */
        set_count(span, "gen_ai.usage.input_tokens", c->usage->prompt);
        set_count(span, "gen_ai.usage.output_tokens", c->usage->output);
        set_count(span, "gen_ai.usage.cache_read.input_tokens", c->usage->cache_read);
        set_count(span, "gen_ai.usage.cache_creation.input_tokens", c->usage->cache_creation);
        set_count(span, "gen_ai.usage.reasoning.output_tokens", c->usage->reasoning);
    }
    if (c->stream && c->ttft_seconds >= 0)
        bt_span_set_double(span, "gen_ai.response.time_to_first_chunk", c->ttft_seconds);
    if (c->error_type)
        bt_span_set_string(span, "error.type", c->error_type);
    if (c->server_address && c->server_address[0]) {
        bt_span_set_string(span, "server.address", c->server_address);
        if (c->server_port)
            bt_span_set_int(span, "server.port", c->server_port);
    }
}
