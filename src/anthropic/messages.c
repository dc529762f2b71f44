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
#include "anthropic/json_util.h"
#include "anthropic/llm_request.h"
#include "anthropic/llm_span.h"
#include "anthropic/messages_stream.h"
#include "anthropic/session.h"
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
    uint64_t now = bt__exchange_now(ex); /* as it arrives */
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

/* What went wrong after the headers, for a stream: an error event, a client that went
 * away, or an end before message_stop. Returns the error.type (NULL: none) and sets
 * *message (malloc'd, or a static text when *owned is 0). */
static const char *stream_error(bt_exchange *ex, msg_handler *m, char **message, int *owned)
{
    *owned = 0;
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
            *owned = 1;
        }
        *message = text;
        return type;
    }
    const char *cut_message;
    const char *cut = bt__exchange_cut(ex, &cut_message);
    if (cut) {
        *message = (char *)cut_message; /* static or in ex: not owned */
        return cut;
    }
    /* an undecodable body says nothing about how the stream ended */
    if (!bt__msg_stream_saw_stop(m->stream) && !ex->decode_error[0]) {
        *message = "stream ended before message_stop";
        return "stream_incomplete";
    }
    return NULL;
}

static const char *transport_error(bt_exchange *ex, char **message)
{
    const char *cut_message;
    const char *cut = bt__exchange_cut(ex, &cut_message);
    if (cut) {
        *message = (char *)cut_message; /* static or in ex: not owned */
        return cut;
    }
    if (ex->outcome == BT_EXCHANGE_TRANSPORT_ERROR || ex->status == 0) {
        *message = ex->status ? "transport error: response incomplete" : "transport error: no response";
        return "transport_error";
    }
    return NULL;
}

/* The metadata only an observed call has, placed after the response's keys. */
static json_t *exchange_metadata(bt_exchange *ex, int parse_failed)
{
    json_t *md = json_object();
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

    bt__llm_span call = {
        .a = ex->a,
        .name = name,
        .options = bt__exchange_span_options(ex),
        .braintrust_parent = ex->braintrust_parent,
        .end_ns = ex->end_unix_nano,
        .message = msg,
        .count_tokens = m->count_tokens,
        .stream = stream,
        .first_content_ns = stream ? m->first_content_nano : 0,
        .server_address = ex->server_address,
        .server_port = ex->server_port,
    };
    /* an HTTP error carries the API's error type with its status */
    bt__http_error http;
    char *message = NULL;
    int owned = 0;
    if (bt__exchange_http_error(ex, m->response.data, m->response.len, &http)) {
        call.status_message = http.message;
        call.status_error_type = http.type;
    } else {
        call.genai_error_type =
            m->stream ? stream_error(ex, m, &message, &owned) : transport_error(ex, &message);
        call.status_message = call.genai_error_type ? message : NULL;
    }
    info->is_error = call.status_error_type != NULL || call.genai_error_type != NULL;

    json_t *input = req ? bt__llm_input(req) : NULL;
    json_t *request_md = bt__llm_request_metadata(req);
    call.input = input;
    call.request_metadata = request_md;

    size_t n_content = json_array_size(json_object_get(msg, "content"));
    bt__block_time *times =
        m->stream && !m->count_tokens && n_content ? calloc(n_content, sizeof *times) : NULL;
    if (times) {
        call.times = times;
        call.n_times = bt__msg_stream_block_times(m->stream, times, n_content);
    }
    /* the truncation mark comes last, after the call's own keys */
    json_t *after = exchange_metadata(ex, parse_failed);
    bt__session_turn(ex, m->request.data, m->request.len, after); /* agent sessions: turn, tools */
    call.metadata_after = after;
    call.truncated = ex->is_truncated;

    bt__llm_span_result r;
    bt__llm_span_emit(&call, &r);
    bt__session_record(ex, &r.usage, r.model, msg, info->is_error, m->count_tokens);
    snprintf(info->model, sizeof info->model, "%s", r.model);
    info->input_tokens = r.usage.prompt;
    info->output_tokens = m->count_tokens ? -1 : r.usage.output;

    json_decref(r.metrics);
    json_decref(after);
    json_decref(input);
    json_decref(request_md);
    free(times);
    if (owned)
        free(message);
    json_decref(msg);
    json_decref(req);
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
