/*
 * The Messages and count_tokens handler: one llm span per exchange, built from the
 * request (input, parameters) and the response (a JSON message, an SSE stream parsed
 * as it arrives, a {"input_tokens":N} count, or an error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/genai.h"
#include "anthropic/json_util.h"
#include "anthropic/llm_request.h"
#include "anthropic/messages_stream.h"
#include "anthropic/server_tools.h"
#include "anthropic/usage.h"
#include "decode/sse.h"

typedef struct msg_handler {
    bt__handler base;
    int count_tokens;
    bt__buf request;
    bt__buf response; /* non-streaming body */
    bt__sse *sse;     /* streaming body */
    bt__msg_stream *stream;
    uint64_t first_content_nano; /* 0 until the first content delta arrived */
} msg_handler;

static void on_request_body(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    msg_handler *m = (msg_handler *)h;
    if (bt__buf_append(&m->request, data, len) != 0)
        ex->is_truncated = 1;
}

static int on_sse_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                        int truncated)
{
    bt_exchange *ex = ud;
    msg_handler *m = (msg_handler *)ex->handler;
    (void)event_len;
    uint64_t now = bt_tracer_now(bt__anthropic_tracer(ex->a)); /* as it arrives */
    if (bt__msg_stream_event(m->stream, event, data, data_len, truncated, now) && !m->first_content_nano)
        m->first_content_nano = now;
    return 0;
}

static void on_response_start(bt__handler *h, bt_exchange *ex)
{
    msg_handler *m = (msg_handler *)h;
    if (!ex->is_event_stream || ex->status >= 400 || m->count_tokens)
        return;
    size_t limit = bt__anthropic_body_limit(ex->a);
    m->stream = bt__msg_stream_new(limit);
    m->sse = m->stream ? bt__sse_new(limit, on_sse_event, ex) : NULL;
    if (!m->sse) {
        bt__msg_stream_free(m->stream);
        m->stream = NULL;
        ex->is_truncated = 1;
    }
}

static void on_response_data(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    msg_handler *m = (msg_handler *)h;
    if (m->sse) {
        bt__sse_feed(m->sse, data, len);
        return;
    }
    if (bt__buf_append(&m->response, data, len) != 0)
        ex->is_truncated = 1;
}

static json_t *build_metadata(bt_exchange *ex, const json_t *req, const json_t *msg, int parse_failed)
{
    json_t *md = bt__llm_request_metadata(req);
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
    if (ex->request_id[0])
        json_object_set_new(md, "request_id", json_string(ex->request_id));
    if (ex->anthropic_beta[0])
        json_object_set_new(md, "anthropic_beta", json_string(ex->anthropic_beta));
    if (ex->route.beta)
        json_object_set_new(md, "beta", json_true());
    if (parse_failed)
        json_object_set_new(md, "parse_error", json_string(parse_failed == 1 ? "request" : "response"));
    if (ex->decode_error[0])
        json_object_set_new(md, "decode_error", json_string(ex->decode_error));
    return md;
}

/* Error status for what went wrong after the headers; returns the error.type or NULL. */
static const char *stream_error(bt_exchange *ex, msg_handler *m, bt_span *span)
{
    const char *type = bt__msg_stream_error_type(m->stream);
    if (type) {
        const char *msg = bt__msg_stream_error_message(m->stream);
        size_t n = strlen(type) + (msg ? strlen(msg) : 0) + 3;
        char *text = malloc(n);
        if (text) {
            if (msg && msg[0])
                snprintf(text, n, "%s: %s", type, msg);
            else
                snprintf(text, n, "%s", type);
            bt_span_set_status(span, BT_STATUS_ERROR, text);
            free(text);
        }
        return type;
    }
    const char *cut = bt__exchange_cut_status(ex, span);
    if (cut)
        return cut;
    /* an undecodable body says nothing about how the stream ended */
    if (!bt__msg_stream_saw_stop(m->stream) && !ex->decode_error[0]) {
        bt_span_set_status(span, BT_STATUS_ERROR, "stream ended before message_stop");
        return "stream_incomplete";
    }
    return NULL;
}

static const char *transport_error(bt_exchange *ex, bt_span *span)
{
    const char *cut = bt__exchange_cut_status(ex, span);
    if (cut)
        return cut;
    if (ex->outcome == BT_EXCHANGE_TRANSPORT_ERROR || ex->status == 0) {
        bt_span_set_status(span, BT_STATUS_ERROR,
                           ex->status ? "transport error: response incomplete"
                                      : "transport error: no response");
        return "transport_error";
    }
    return NULL;
}

/* Child tool spans for the server and MCP tool calls of the message. For streams they
 * span the arrival of the call's block to the arrival of its result's block. */
static size_t server_tool_spans(bt_exchange *ex, msg_handler *m, bt_span *span, const json_t *msg)
{
    const json_t *content = json_object_get(msg, "content");
    size_t n = json_array_size(content);
    bt__block_time *times = NULL;
    if (m->stream && n)
        times = calloc(n, sizeof *times);
    bt__server_tools t = {
        .a = ex->a,
        .llm = span,
        .content = content,
        .start_ns = ex->start_unix_nano,
        .end_ns = ex->end_unix_nano,
        .times = times,
        .n_times = times ? bt__msg_stream_block_times(m->stream, times, n) : 0,
        .braintrust_parent = ex->braintrust_parent,
    };
    size_t dropped = bt__server_tool_spans(&t);
    free(times);
    return dropped;
}

static void on_finish(bt__handler *h, bt_exchange *ex, bt_exchange_info *info)
{
    msg_handler *m = (msg_handler *)h;
    int parse_failed = 0;
    json_t *req = m->request.len ? bt__json_parse_lenient(m->request.data, m->request.len) : NULL;
    if (m->request.len && !json_is_object(req)) {
        json_decref(req);
        req = NULL;
        parse_failed = 1;
    }
    int stream = !m->count_tokens && json_is_true(json_object_get(req, "stream"));
    const char *name = m->count_tokens ? "anthropic.messages.count_tokens"
        : stream                       ? "anthropic.messages.stream"
                                       : "anthropic.messages.create";
    info->span_name = name;

    /* the response, as a message object (or the count) */
    json_t *msg = NULL;
    if (m->sse && ex->outcome == BT_EXCHANGE_COMPLETED && !ex->decode_error[0]) {
        /* The connection closed cleanly: a last event that lacks only its blank line
         * (recordings often drop the final newlines) is complete, so dispatch it. */
        bt__sse_feed(m->sse, "\n\n", 2);
    }
    if (m->stream) {
        msg = bt__msg_stream_message(m->stream);
        if (bt__msg_stream_truncated(m->stream))
            ex->is_truncated = 1;
    } else if (ex->status > 0 && ex->status < 400 && m->response.len && !ex->decode_error[0]) {
        msg = bt__json_parse_lenient(m->response.data, m->response.len);
        if (!json_is_object(msg)) {
            json_decref(msg);
            msg = NULL;
            if (!parse_failed)
                parse_failed = 2;
        }
    }

    bt_span *span = bt__exchange_start_span(ex, name, "llm");
    /* error.type for gen_ai; an HTTP error sets its own (the API's error type) */
    const char *error_type = NULL;
    int http_error = bt__exchange_set_http_error(ex, span, m->response.data, m->response.len);
    if (!http_error)
        error_type = m->stream ? stream_error(ex, m, span) : transport_error(ex, span);
    info->is_error = http_error || error_type != NULL;

    if (req) {
        json_t *input = bt__llm_input(req);
        bt__span_set_json(ex->a, span, "braintrust.input_json", "input", input);
        json_decref(input);
    }

    json_t *usage = json_object_get(msg, "usage");
    json_t *metrics = json_object();
    bt__usage u;
    if (m->count_tokens) {
        int64_t n = bt__json_count(json_object_get(msg, "input_tokens"));
        if (n >= 0)
            json_object_set_new(metrics, "prompt_tokens", json_integer(n));
        bt__usage_read(NULL, &u);
        u.prompt = n;
        if (msg)
            bt__span_set_json(ex->a, span, "braintrust.output_json", "output", msg);
    } else {
        bt__usage_add_metrics(usage, metrics);
        bt__usage_read(usage, &u);
        json_t *content = json_object_get(msg, "content");
        if (msg && json_is_array(content)) {
            const char *role = json_string_value(json_object_get(msg, "role"));
            json_t *out = json_pack("{s:s,s:O}", "role", role ? role : "assistant", "content", content);
            bt__span_set_json(ex->a, span, "braintrust.output_json", "output", out);
            json_decref(out);
        }
    }
    double ttft = -1;
    if (stream && m->first_content_nano) {
        uint64_t d =
            m->first_content_nano > ex->start_unix_nano ? m->first_content_nano - ex->start_unix_nano : 0;
        ttft = (double)d / 1e9;
        json_object_set_new(metrics, "time_to_first_token", json_real(ttft));
    }
    if (json_object_size(metrics))
        bt__span_set_json(ex->a, span, "braintrust.metrics", NULL, metrics);
    json_decref(metrics);

    size_t tools_dropped = m->count_tokens ? 0 : server_tool_spans(ex, m, span, msg);
    json_t *md = build_metadata(ex, req, msg, parse_failed);
    if (tools_dropped)
        json_object_set_new(md, "server_tool_spans_dropped", json_integer((json_int_t)tools_dropped));
    if (ex->is_truncated || tools_dropped)
        json_object_set_new(md, "truncated", json_true());
    bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, md);

    const char *model = json_string_value(json_object_get(md, "model"));
    if (model)
        snprintf(info->model, sizeof info->model, "%s", model);
    info->input_tokens = u.prompt;
    info->output_tokens = m->count_tokens ? -1 : u.output;

    bt__genai_call call = {
        /* count_tokens is no generation: the GenAI conventions have no operation for
         * it and "chat" would count it as one; a system-specific name is allowed */
        .operation = m->count_tokens ? "count_tokens" : "chat",
        .request = req,
        .response = m->count_tokens ? NULL : msg,
        .usage = m->count_tokens ? NULL : &u,
        .stream = stream,
        .ttft_seconds = ttft,
        .error_type = error_type,
    };
    bt__genai_set(ex, span, &call);
    json_decref(md);
    json_decref(msg);
    json_decref(req);
    bt_span_end(span, ex->end_unix_nano);
}

static void on_free(bt__handler *h)
{
    msg_handler *m = (msg_handler *)h;
    bt__buf_free(&m->request);
    bt__buf_free(&m->response);
    bt__sse_free(m->sse);
    bt__msg_stream_free(m->stream);
    free(m);
}

static const bt__handler_ops msg_ops = {
    .request_body = on_request_body,
    .response_start = on_response_start,
    .response_data = on_response_data,
    .finish = on_finish,
    .free = on_free,
};

bt__handler *bt__messages_handler_new(bt_exchange *ex)
{
    msg_handler *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base.ops = &msg_ops;
    m->count_tokens = ex->route.kind == BT__ROUTE_COUNT_TOKENS;
    size_t limit = bt__anthropic_body_limit(ex->a);
    bt__buf_init(&m->request, limit);
    bt__buf_init(&m->response, limit);
    return &m->base;
}
