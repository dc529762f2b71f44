/* The llm span builder (see llm_span.h). */
#define _GNU_SOURCE /* memmem */
#include "anthropic/llm_span.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "anthropic/attachments.h"
#include "anthropic/exchange_internal.h"
#include "anthropic/genai.h"
#include "anthropic/json_util.h"
#include "core/span_internal.h"

/* The response's keys of braintrust.metadata: values copied as they are. */
static void set_response_metadata(bt__jobj *md, const bt__jv_members *msg)
{
    bt__jv v = bt__jv_lookup(msg, "model");
    if (v.type == BT__JV_STRING)
        bt__jobj_set(md, "model", v.p, v.len);
    static const char *const stop_fields[] = {"stop_reason", "stop_sequence", "stop_details"};
    for (size_t i = 0; i < 3; i++) {
        v = bt__jv_lookup(msg, stop_fields[i]);
        if (v.type != BT__JV_NONE && v.type != BT__JV_NULL)
            bt__jobj_set(md, stop_fields[i], v.p, v.len);
    }
    bt__jv usage = bt__jv_lookup(msg, "usage");
    if ((v = bt__jv_get(usage, "service_tier")).type == BT__JV_STRING)
        bt__jobj_set(md, "usage_service_tier", v.p, v.len);
    if ((v = bt__jv_get(usage, "inference_geo")).type == BT__JV_STRING)
        bt__jobj_set(md, "usage_inference_geo", v.p, v.len);
}

/* A string for a C-string API: jansson's string values stopped at a NUL there. */
static void put_cstring(bt__buf *out, bt__jv s)
{
    if (!memchr(s.p, '\\', s.len) || (s.len < 8)) {
        bt__buf_append(out, s.p, s.len);
        return;
    }
    bt__buf d;
    bt__buf_init(&d, 0);
    bt__jv_decode(s, &d);
    size_t n = d.data ? strlen(d.data) : 0;
    bt__json_write_string(out, d.data ? d.data : "", n);
    bt__buf_free(&d);
}

/* braintrust.output_json: count_tokens' result as is, else {"role","content":[blocks]}
 * when the message has a content list. Returns 0 when there is none. */
static int output_of(const bt__llm_span *in, const bt__jv_members *msg, bt__buf *out)
{
    if (!msg)
        return 0;
    if (in->count_tokens) {
        bt__buf_append(out, msg->object.p, msg->object.len);
        return 1;
    }
    bt__jv content = bt__jv_lookup(msg, "content");
    if (content.type != BT__JV_ARRAY)
        return 0;
    bt__jv role = bt__jv_lookup(msg, "role");
    bt__buf_append(out, "{\"role\":", 8);
    if (role.type == BT__JV_STRING)
        put_cstring(out, role);
    else
        bt__buf_append(out, "\"assistant\"", 11);
    bt__buf_append(out, ",\"content\":", 11);
    bt__buf_append(out, content.p, content.len);
    bt__buf_append(out, "}", 1);
    return 1;
}

/* Child spans for server and MCP tool calls. The content is read into a tree only when
 * it has such a call (rare, and then the blocks are small). */
static size_t tool_spans(const bt__llm_span *in, bt_span *span, bt__jv content)
{
    /* no block type ends so anywhere in the text: no call (the common case, found fast) */
    if (content.type != BT__JV_ARRAY || !memmem(content.p, content.len, "_tool_use\"", 10))
        return 0;
    bt__jv_iter it = bt__jv_iterate(content);
    bt__jv block;
    int any = 0;
    while (!any && content.type == BT__JV_ARRAY && bt__jv_next(&it, &block)) {
        bt__jv type = bt__jv_get(block, "type");
        any = bt__jv_is(type, "server_tool_use") || bt__jv_is(type, "mcp_tool_use");
    }
    if (!any)
        return 0;
    json_t *tree = json_loadb(content.p, content.len, JSON_ALLOW_NUL, NULL);
    bt__server_tools t = {
        .a = in->a,
        .llm = span,
        .content = tree,
        .start_ns = in->options.start_unix_nano,
        .end_ns = in->end_ns,
        .times = in->times,
        .n_times = in->n_times,
        .braintrust_parent = in->braintrust_parent,
        .derive_ids = in->derive_tool_ids,
    };
    size_t dropped = bt__server_tool_spans(&t);
    json_decref(tree);
    return dropped;
}

void bt__llm_span_emit(const bt__llm_span *in, bt__llm_span_result *out)
{
    bt__llm_span_result local;
    if (!out)
        out = &local;
    memset(out, 0, sizeof *out);
    bt__jobj_init(&out->metrics);
    bt_anthropic *a = in->a;
    bt_span_options o = in->options;
    o.kind = BT_SPAN_KIND_CLIENT;
    bt_span *span = bt_span_start(bt__anthropic_tracer(a), in->name, &o);
    if (in->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", in->braintrust_parent);
    bt__span_set_span_attributes(span, "llm", in->name);
    if (in->status_message)
        bt_span_set_status(span, BT_STATUS_ERROR, in->status_message);
    if (in->status_error_type)
        bt_span_set_string(span, "error.type", in->status_error_type);

    if (in->input) /* base64 media become attachments */
        bt__attachments_take_json_text(a, span, "braintrust.input_json", "input", in->input_owner, in->input,
                                       in->input_len);
    static const bt__jv_members none; /* no message: every lookup finds nothing */
    const bt__jv_members *msg = in->message ? in->message : &none;
    bt__buf text;
    bt__buf_init(&text, 0);
    if (output_of(in, in->message, &text))
        bt__span_set_json_text(a, span, "braintrust.output_json", "output", text.data, text.len);

    bt__jobj *metrics = &out->metrics;
    bt__usage *u = &out->usage;
    if (in->count_tokens) {
        int64_t n = bt__usage_count(bt__jv_lookup(msg, "input_tokens"));
        if (n >= 0)
            bt__jobj_set_int(metrics, "prompt_tokens", n);
        bt__usage_read(bt__jv_from(NULL, 0), u);
        u->prompt = n;
    } else {
        bt__jv usage = bt__jv_lookup(msg, "usage");
        bt__usage_add_metrics(usage, metrics);
        bt__usage_read(usage, u);
    }
    double ttft = -1;
    if (in->stream && in->first_content_ns) {
        uint64_t start = in->options.start_unix_nano;
        uint64_t d = in->first_content_ns > start ? in->first_content_ns - start : 0;
        ttft = (double)d / 1e9;
        bt__jobj_set_double(metrics, "time_to_first_token", ttft);
    }
    if (metrics->n) {
        bt__buf_reset(&text);
        if (bt__jobj_write(metrics, &text) == 0)
            bt__span_set_json_text(a, span, "braintrust.metrics", NULL, text.data, text.len);
    }

    size_t tools_dropped = in->count_tokens ? 0 : tool_spans(in, span, bt__jv_lookup(msg, "content"));

    bt__jobj own;
    bt__jobj *md = in->metadata;
    if (!md) {
        bt__jobj_init(&own);
        bt__jobj_set(&own, "provider", "\"anthropic\"", 11);
        md = &own;
    }
    /* gen_ai.request.* come from the request's own parameters, read before the
     * response's model takes the place of the requested one */
    static const char *const genai_params[] = {"model", "max_tokens", "temperature",
                                               "top_p", "top_k",      "stop_sequences"};
    bt__jobj request;
    bt__jobj_init(&request);
    for (size_t i = 0; i < sizeof genai_params / sizeof *genai_params; i++) {
        long k = bt__jobj_find(md, genai_params[i]);
        size_t len;
        const char *v = k >= 0 ? bt__jobj_value(md, (size_t)k, &len) : NULL;
        if (v)
            bt__jobj_set(&request, genai_params[i], v, len);
    }
    if (in->metadata_before)
        bt__jobj_update(md, in->metadata_before);
    set_response_metadata(md, msg);
    if (in->metadata_after)
        bt__jobj_update(md, in->metadata_after);
    if (tools_dropped)
        bt__jobj_set_int(md, "server_tool_spans_dropped", (int64_t)tools_dropped);
    if (in->truncated || tools_dropped)
        bt__jobj_set_true(md, "truncated");
    if (u->saturated) /* a token sum passed INT64_MAX: the metrics hold INT64_MAX */
        bt__jobj_set_true(md, "token_counts_saturated");
    if (in->metadata_last)
        bt__jobj_update(md, in->metadata_last);
    bt__buf_reset(&text);
    if (bt__jobj_write(md, &text) == 0) { /* no mask applies: the span takes the text */
        size_t len;
        char *block = bt__buf_steal(&text, &len);
        bt__span_take_string(span, "braintrust.metadata", block, 0, len);
    }
    long mi = bt__jobj_find(md, "model");
    if (mi >= 0) {
        size_t len;
        const char *v = bt__jobj_value(md, (size_t)mi, &len);
        bt__jv model = bt__jv_from(v, len);
        if (model.type == BT__JV_STRING) {
            bt__buf b;
            bt__buf_init(&b, 0);
            bt__jv_decode(model, &b);
            snprintf(out->model, sizeof out->model, "%s", b.data ? b.data : "");
            bt__buf_free(&b);
        }
    }

    if (bt__anthropic_genai_enabled(a)) {
        bt__genai_call call = {
            /* count_tokens is no generation: the GenAI conventions have no operation for
             * it and "chat" would count it as one; a system-specific name is allowed */
            .operation = in->count_tokens ? "count_tokens" : "chat",
            .request = &request,
            .response = in->count_tokens ? NULL : in->message,
            .usage = in->count_tokens ? NULL : u,
            .stream = in->stream,
            .ttft_seconds = ttft,
            .error_type = in->genai_error_type,
            .server_address = in->server_address,
            .server_port = in->server_port,
        };
        bt__genai_set(span, &call);
    }
    bt_span_end(span, in->end_ns);
    bt__jobj_free(&request);
    if (md == &own)
        bt__jobj_free(&own);
    bt__buf_free(&text);
    if (out == &local)
        bt__jobj_free(&local.metrics);
}
