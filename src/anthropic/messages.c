/*
 * The Messages and count_tokens handler: one llm span per exchange, built from the
 * request (input, parameters) and the response (a JSON message, an SSE stream parsed
 * as it arrives, a {"input_tokens":N} count, or an error).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic/exchange_internal.h"
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
} msg_handler;

/* A body's stated length, for sizing its buffer in one allocation; a large claim is
 * not trusted further than this (the buffer then grows as bytes really come). */
#define SIZE_HINT_MAX ((size_t)4 << 20)

static size_t size_hint(size_t stated)
{
    return stated < SIZE_HINT_MAX ? stated : SIZE_HINT_MAX;
}

static void on_request_body(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    msg_handler *m = (msg_handler *)h;
    if (!m->request.alloc && ex->request_length)
        bt__buf_reserve(&m->request, size_hint(ex->request_length));
    if (bt__buf_append(&m->request, data, len) != 0)
        ex->is_truncated = 1;
}

static int on_sse_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                        int truncated)
{
    bt_exchange *ex = ud;
    msg_handler *m = (msg_handler *)ex->handler;
    (void)event_len;
    bt__msg_stream_event(m->stream, event, data, data_len, truncated);
    return 0;
}

/* When the event being read arrived: when the adapter saw its bytes
 * (bt_exchange_set_time), else now. */
static uint64_t arrival_time(void *ex)
{
    return bt__exchange_now(ex);
}

static void on_response_start(bt__handler *h, bt_exchange *ex)
{
    msg_handler *m = (msg_handler *)h;
    if (!ex->is_event_stream || ex->status >= 400 || m->count_tokens)
        return;
    size_t limit = bt__anthropic_body_limit(ex->a);
    m->stream = bt__msg_stream_new(limit, arrival_time, ex);
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
    if (!m->response.alloc && ex->response_length && !ex->inflater)
        bt__buf_reserve(&m->response, size_hint(ex->response_length));
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
        *message = "stream_incomplete: the stream ended before message_stop";
        return "stream_incomplete";
    }
    return NULL;
}

static const char *transport_error(bt_exchange *ex, char **message)
{
    const char *text = NULL;
    const char *type = bt__exchange_failure(ex, &text);
    *message = (char *)text; /* static or in ex: not owned */
    return type;
}

/* The metadata only an observed call has, placed after the response's keys. */
static void exchange_metadata(bt_exchange *ex, const msg_handler *m, int parse_failed, bt__jobj *md)
{
    /* events the client received but the span cannot show */
    unsigned long malformed =
        bt__msg_stream_malformed(m->stream) + (m->sse ? bt__sse_events_without_data(m->sse) : 0);
    unsigned long invalid_utf8 = bt__msg_stream_invalid_utf8(m->stream);
    if (malformed && !parse_failed)
        parse_failed = 2;
    if (ex->request_id[0])
        bt__jobj_set_string(md, "request_id", ex->request_id, strlen(ex->request_id));
    if (ex->anthropic_beta[0])
        bt__jobj_set_string(md, "anthropic_beta", ex->anthropic_beta, strlen(ex->anthropic_beta));
    if (ex->route.beta)
        bt__jobj_set_true(md, "beta");
    if (parse_failed)
        bt__jobj_set(md, "parse_error", parse_failed == 1 ? "\"request\"" : "\"response\"",
                     parse_failed == 1 ? 9 : 10);
    if (ex->decode_error[0])
        bt__jobj_set_string(md, "decode_error", ex->decode_error, strlen(ex->decode_error));
    if (malformed)
        bt__jobj_set_int(md, "malformed_events", (int64_t)malformed);
    if (invalid_utf8)
        bt__jobj_set_int(md, "invalid_utf8_events", (int64_t)invalid_utf8);
}

/* Every text an exchange's span is built from, freed together. */
typedef struct finish_texts {
    bt__json_doc request, response; /* the bodies, read */
    bt__buf input;                  /* braintrust.input_json */
    bt__buf streamed;               /* a stream's accumulated message */
    bt__jobj metadata, after;
} finish_texts;

static void on_finish(bt__handler *h, bt_exchange *ex, bt_exchange_info *info)
{
    msg_handler *m = (msg_handler *)h;
    finish_texts t;
    bt__json_doc_init(&t.request);
    bt__json_doc_init(&t.response);
    bt__buf_init(&t.input, 0);
    bt__buf_init(&t.streamed, 0);
    bt__jobj_init(&t.metadata);
    bt__jobj_init(&t.after);
    const unsigned lenient = BT__JSON_ANY | BT__JSON_ALLOW_NUL | BT__JSON_LENIENT;

    int parse_failed = 0;
    int have_request = 0;
    if (m->request.len) {
        have_request = bt__json_parse(&t.request, m->request.data, m->request.len, lenient) == 0 &&
            t.request.root.type == BT__JV_OBJECT;
        if (!have_request)
            parse_failed = 1;
    }
    const bt__jv_members *params = have_request ? &t.request.members : NULL;
    int stream = !m->count_tokens && have_request && bt__json_get(&t.request, "stream").type == BT__JV_TRUE;
    const char *name = m->count_tokens ? "anthropic.messages.count_tokens"
        : stream                       ? "anthropic.messages.stream"
                                       : "anthropic.messages.create";
    info->span_name = name;

    /* the response, as a message object (or the count) */
    const bt__jv_members *msg = NULL;
    if (m->sse && ex->outcome == BT_EXCHANGE_COMPLETED && !ex->decode_error[0]) {
        /* The connection closed cleanly: a last event that lacks only its blank line
         * (recordings often drop the final newlines) is complete, so dispatch it. */
        bt__sse_feed(m->sse, "\n\n", 2);
    }
    if (m->stream) {
        /* the accumulated message is written canonical: read in place */
        if (bt__msg_stream_message(m->stream, &t.streamed) &&
            bt__json_parse(&t.response, t.streamed.data, t.streamed.len, BT__JSON_ALLOW_NUL) == 0)
            msg = &t.response.members;
        if (bt__msg_stream_truncated(m->stream))
            ex->is_truncated = 1;
    } else if (ex->status > 0 && ex->status < 400 && m->response.len && !ex->decode_error[0]) {
        if (bt__json_parse(&t.response, m->response.data, m->response.len, lenient) == 0 &&
            t.response.root.type == BT__JV_OBJECT)
            msg = &t.response.members;
        else if (!parse_failed)
            parse_failed = 2;
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
        .first_content_ns = stream ? bt__msg_stream_first_content_ns(m->stream) : 0,
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

    if (params)
        bt__llm_request_metadata(params, &t.metadata);
    else
        bt__jobj_set(&t.metadata, "provider", "\"anthropic\"", 11);
    call.metadata = &t.metadata;
    /* after the response's keys: what only an observed call knows; an agent session's
     * turn and its client tool calls (read from the request, before it is reused) */
    exchange_metadata(ex, m, parse_failed, &t.after);
    if (params)
        bt__session_turn(ex, bt__jv_lookup(params, "messages"), &t.after);

    /* The input is the largest text of a call: it is written over the request body, in
     * place when the body is the text it was read from (no other copy to allocate). */
    size_t offset;
    if (params && !t.request.owned && bt__llm_input_in_place(&m->request, params, &offset) == 0) {
        call.input = m->request.data + offset;
        call.input_len = m->request.len - offset;
        call.input_owner = &m->request; /* the body is not read again */
    } else if (params && bt__llm_input(params, &t.input) == 0) {
        call.input = t.input.data;
        call.input_len = t.input.len;
        call.input_owner = &t.input;
    }
    bt__json_doc_free(&t.request); /* its views are no longer used */

    size_t n_content = m->stream && msg ? bt__jv_count(bt__jv_lookup(msg, "content")) : 0;
    bt__block_time *times =
        m->stream && !m->count_tokens && n_content ? calloc(n_content, sizeof *times) : NULL;
    if (times) {
        call.times = times;
        call.n_times = bt__msg_stream_block_times(m->stream, times, n_content);
    }
    /* the truncation mark comes last, after the call's own keys */
    call.metadata_after = &t.after;
    call.truncated = ex->is_truncated;

    bt__llm_span_result r;
    bt__llm_span_emit(&call, &r);
    bt__session_record(ex, &r.usage, r.model, msg, info->is_error, m->count_tokens);
    snprintf(info->model, sizeof info->model, "%s", r.model);
    info->input_tokens = r.usage.prompt;
    info->output_tokens = m->count_tokens ? -1 : r.usage.output;

    bt__jobj_free(&r.metrics);
    free(times);
    if (owned)
        free(message);
    bt__jobj_free(&t.after);
    bt__jobj_free(&t.metadata);
    bt__buf_free(&t.input);
    bt__buf_free(&t.streamed);
    bt__json_doc_free(&t.response);
    bt__json_doc_free(&t.request);
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
