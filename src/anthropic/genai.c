/* gen_ai.* attributes per the OpenTelemetry GenAI conventions for Anthropic. */
#include "anthropic/genai.h"

#include <stdlib.h>

static void set_count(bt_span *span, const char *key, int64_t v)
{
    if (v >= 0)
        bt_span_set_int(span, key, v);
}

static void set_number(bt_span *span, const char *key, bt__jv v)
{
    int64_t i;
    if (bt__jv_int64(v, &i))
        bt_span_set_int(span, key, i);
    else if (v.type == BT__JV_REAL)
        bt_span_set_double(span, key, bt__jv_double(v));
}

static void set_str(bt_span *span, const char *key, bt__jv v)
{
    if (v.type != BT__JV_STRING)
        return;
    bt__buf b;
    bt__buf_init(&b, 0);
    if (bt__jv_decode(v, &b) == 0)
        bt_span_set_string_len(span, key, b.data ? b.data : "", b.len);
    bt__buf_free(&b);
}

static void set_stop_sequences(bt_span *span, bt__jv arr)
{
    size_t n = bt__jv_count(arr);
    if (!n || n > 256)
        return;
    const char **items = calloc(n, sizeof *items);
    bt__buf *texts = calloc(n, sizeof *texts);
    if (!items || !texts) {
        free(items);
        free(texts);
        return;
    }
    size_t k = 0;
    bt__jv_iter it = bt__jv_iterate(arr);
    bt__jv v;
    while (bt__jv_next(&it, &v)) {
        if (v.type != BT__JV_STRING)
            continue;
        bt__buf_init(&texts[k], 0);
        bt__jv_decode(v, &texts[k]);
        items[k] = texts[k].data ? texts[k].data : "";
        k++;
    }
    if (k)
        bt_span_set_string_array(span, "gen_ai.request.stop_sequences", items, k);
    for (size_t i = 0; i < k; i++)
        bt__buf_free(&texts[i]);
    free(texts);
    free(items);
}

/* A request parameter from the request metadata. */
static bt__jv param(const bt__jobj *request, const char *name)
{
    long i = request ? bt__jobj_find(request, name) : -1;
    if (i < 0)
        return bt__jv_from(NULL, 0);
    size_t len;
    const char *text = bt__jobj_value(request, (size_t)i, &len);
    return bt__jv_from(text, len);
}

void bt__genai_set(bt_span *span, const bt__genai_call *c)
{
    if (!span)
        return;
    const bt__jobj *rq = c->request;
    static const bt__jv_members none; /* no message: every lookup finds nothing */
    const bt__jv_members *rs = c->response ? c->response : &none;
    bt_span_set_string(span, "gen_ai.provider.name", "anthropic");
    bt_span_set_string(span, "gen_ai.operation.name", c->operation);
    set_str(span, "gen_ai.request.model", param(rq, "model"));
    set_number(span, "gen_ai.request.max_tokens", param(rq, "max_tokens"));
    set_number(span, "gen_ai.request.temperature", param(rq, "temperature"));
    set_number(span, "gen_ai.request.top_p", param(rq, "top_p"));
    set_number(span, "gen_ai.request.top_k", param(rq, "top_k"));
    set_stop_sequences(span, param(rq, "stop_sequences"));
    if (c->stream)
        bt_span_set_bool(span, "gen_ai.request.stream", 1);

    set_str(span, "gen_ai.response.id", bt__jv_lookup(rs, "id"));
    set_str(span, "gen_ai.response.model", bt__jv_lookup(rs, "model"));
    bt__jv stop = bt__jv_lookup(rs, "stop_reason");
    if (stop.type == BT__JV_STRING) {
        bt__buf b;
        bt__buf_init(&b, 0);
        bt__jv_decode(stop, &b);
        const char *s = b.data ? b.data : "";
        bt_span_set_string_array(span, "gen_ai.response.finish_reasons", &s, 1);
        bt__buf_free(&b);
    }
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
