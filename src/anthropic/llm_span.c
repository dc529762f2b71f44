/* The llm span builder (see llm_span.h). */
#include "anthropic/llm_span.h"

#include <stdio.h>
#include <string.h>

#include "anthropic/attachments.h"
#include "anthropic/exchange_internal.h"
#include "anthropic/genai.h"
#include "anthropic/json_util.h"

/* The response's keys of braintrust.metadata. */
static void set_response_metadata(json_t *md, const json_t *msg)
{
    json_t *model = json_object_get(msg, "model");
    if (json_is_string(model))
        json_object_set(md, "model", model);
    static const char *const stop_fields[] = {"stop_reason", "stop_sequence", "stop_details"};
    for (size_t i = 0; i < 3; i++) {
        json_t *v = json_object_get(msg, stop_fields[i]);
        if (v && !json_is_null(v))
            json_object_set(md, stop_fields[i], v);
    }
    json_t *usage = json_object_get(msg, "usage");
    json_t *tier = json_object_get(usage, "service_tier");
    json_t *geo = json_object_get(usage, "inference_geo");
    if (json_is_string(tier))
        json_object_set(md, "usage_service_tier", tier);
    if (json_is_string(geo))
        json_object_set(md, "usage_inference_geo", geo);
}

static void update(json_t *md, const json_t *more)
{
    if (json_is_object(more))
        json_object_update(md, (json_t *)more);
}

/* braintrust.output_json: count_tokens' result as is, else {"role","content":[blocks]}
 * when the message has a content list. */
static json_t *output_of(const bt__llm_span *in)
{
    const json_t *msg = in->message;
    if (!msg)
        return NULL;
    if (in->count_tokens)
        return json_incref((json_t *)msg);
    json_t *content = json_object_get(msg, "content");
    if (!json_is_array(content))
        return NULL;
    const char *role = json_string_value(json_object_get(msg, "role"));
    return json_pack("{s:s,s:O}", "role", role ? role : "assistant", "content", content);
}

void bt__llm_span_emit(const bt__llm_span *in, bt__llm_span_result *out)
{
    bt__llm_span_result local;
    if (!out)
        out = &local;
    memset(out, 0, sizeof *out);
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
        bt__attachments_set_json(a, span, "braintrust.input_json", "input", in->input);
    json_t *output = output_of(in);
    if (output)
        bt__span_set_json(a, span, "braintrust.output_json", "output", output);
    json_decref(output);

    const json_t *msg = in->message;
    json_t *metrics = json_object();
    bt__usage *u = &out->usage;
    if (in->count_tokens) {
        int64_t n = bt__json_count(json_object_get(msg, "input_tokens"));
        if (n >= 0)
            json_object_set_new(metrics, "prompt_tokens", json_integer(n));
        bt__usage_read(NULL, u);
        u->prompt = n;
    } else {
        const json_t *usage = json_object_get(msg, "usage");
        bt__usage_add_metrics(usage, metrics);
        bt__usage_read(usage, u);
    }
    double ttft = -1;
    if (in->stream && in->first_content_ns) {
        uint64_t start = in->options.start_unix_nano;
        uint64_t d = in->first_content_ns > start ? in->first_content_ns - start : 0;
        ttft = (double)d / 1e9;
        json_object_set_new(metrics, "time_to_first_token", json_real(ttft));
    }
    if (json_object_size(metrics))
        bt__span_set_json(a, span, "braintrust.metrics", NULL, metrics);
    out->metrics = metrics;

    size_t tools_dropped = 0;
    if (!in->count_tokens) {
        bt__server_tools t = {
            .a = a,
            .llm = span,
            .content = json_object_get(msg, "content"),
            .start_ns = in->options.start_unix_nano,
            .end_ns = in->end_ns,
            .times = in->times,
            .n_times = in->n_times,
            .braintrust_parent = in->braintrust_parent,
            .derive_ids = in->derive_tool_ids,
        };
        tools_dropped = bt__server_tool_spans(&t);
    }

    json_t *md = json_is_object(in->request_metadata) ? json_copy((json_t *)in->request_metadata)
                                                      : json_pack("{s:s}", "provider", "anthropic");
    update(md, in->metadata_before);
    set_response_metadata(md, msg);
    update(md, in->metadata_after);
    if (tools_dropped)
        json_object_set_new(md, "server_tool_spans_dropped", json_integer((json_int_t)tools_dropped));
    if (in->truncated || tools_dropped)
        json_object_set_new(md, "truncated", json_true());
    update(md, in->metadata_last);
    bt__span_set_json(a, span, "braintrust.metadata", NULL, md);
    const char *model = json_string_value(json_object_get(md, "model"));
    if (model)
        snprintf(out->model, sizeof out->model, "%s", model);
    json_decref(md);

    if (bt__anthropic_genai_enabled(a)) {
        bt__genai_call call = {
            /* count_tokens is no generation: the GenAI conventions have no operation for
             * it and "chat" would count it as one; a system-specific name is allowed */
            .operation = in->count_tokens ? "count_tokens" : "chat",
            .request = in->request_metadata,
            .response = in->count_tokens ? NULL : msg,
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
    if (out == &local)
        json_decref(local.metrics);
}
