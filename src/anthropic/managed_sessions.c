/*
 * Managed Agents sessions (beta): the agent runs on Anthropic's side, and a client sees
 * its work as a stream of events. Each session becomes one trace, the same trace as an
 * agent session of that id (session.h): its root `agent.session` with the totals, and
 * under it
 *   - a task span per call that runs the agent or reads its work: sessions.create,
 *     sessions.events.send (the user's messages), sessions.events.list and
 *     sessions.events.stream;
 *   - an llm span per model request the events report (span.model_request_start ...
 *     span.model_request_end): its input the user turns and tool results since the
 *     previous request, its output the agent's messages, thinking and tool calls, its
 *     metrics the request's model_usage, timed by the events' processed_at;
 *   - a tool span per tool call (agent.tool_use, agent.mcp_tool_use,
 *     agent.custom_tool_use) with its result.
 * Span ids derive from the session id and the event ids, so reading the same events
 * again (a list page after a stream, a reconnect) yields the same spans, and the
 * session's totals count each model request once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic/attachments.h"
#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "anthropic/session.h"
#include "anthropic/usage.h"
#include "decode/sse.h"
#include "util/buf.h"
#include "util/timefmt.h"

#define NS_EVENT "braintrust:managed-agents:event"
#define SOURCE "managed_agents"
/* Bounds on what is held between events. */
#define PENDING_TOOLS_MAX 256
#define TURN_ITEMS_MAX 512
#define RESPONSE_MAX ((size_t)8 << 20)

typedef struct ms_handler {
    bt__handler base;
    char session_id[BT__BATCH_ID_MAX];
    bt__buf request, response;
    bt__sse *sse;
    /* the model request being reported: open from its start event until the next
     * start, a status change or the end of the exchange (its output events may follow
     * its end event) */
    char req_id[96];
    uint64_t req_start_ns, req_end_ns;
    int req_open, req_ended, req_error;
    json_t *req_usage;  /* model_usage of the end event */
    json_t *req_input;  /* the turns it was given */
    json_t *req_output; /* content blocks of its reply */
    json_t *turns;      /* user turns and tool results since the last request */
    json_t *tools;      /* pending tool calls by event id: {name, input, type, start} */
    /* counts for the call's own span */
    int64_t events, model_requests, tool_calls, errors;
    char last_status[64];
    char error_message[256];
    int truncated;
} ms_handler;

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

/* The event's processed_at, else now (when it arrived). */
static uint64_t event_time(bt_exchange *ex, const json_t *ev)
{
    const char *t = str(ev, "processed_at");
    uint64_t ns;
    if (t && bt__rfc3339_parse(t, strlen(t), &ns) == BT_OK)
        return ns;
    return bt__exchange_now(ex); /* when its bytes were seen */
}

static void derived_span_id(const char *session_id, const char *event_id, uint8_t out[8])
{
    char key[2 * BT__BATCH_ID_MAX + 2];
    int n = snprintf(key, sizeof key, "%s%c%s", session_id, 0, event_id);
    bt_derive_id(NS_EVENT, key, n > 0 && (size_t)n < sizeof key ? (size_t)n : sizeof key - 1, out, 8);
}

/* A span of the session's trace, child of its root. */
static bt_span *session_span(bt_exchange *ex, const char *session_id, const char *name, const char *type,
                             const char *event_id, uint64_t start_ns, bt_span_kind kind)
{
    bt_span_context root;
    bt__session_context(session_id, &root);
    bt_span_options o = {0};
    o.parent = &root;
    o.start_unix_nano = start_ns;
    o.kind = kind;
    uint8_t sid[8];
    if (event_id) {
        derived_span_id(session_id, event_id, sid);
        o.span_id = sid;
    }
    bt_span *span = bt_span_start(bt__anthropic_tracer(ex->a), name, &o);
    if (!span)
        return NULL;
    if (ex->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", ex->braintrust_parent);
    bt__span_set_span_attributes(span, type, name);
    return span;
}

/* --- the model requests and tool calls the events report ---------------------------- */

static void usage_from(const json_t *mu, bt__usage *u, json_t *metrics)
{
    /* model_usage has the Messages usage names: read as a Messages usage is, from its
     * canonical text */
    char *text = mu ? json_dumps(mu, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    bt__json_doc d;
    bt__json_doc_init(&d);
    bt__jv usage = bt__jv_from(NULL, 0);
    if (text && bt__json_parse(&d, text, strlen(text), BT__JSON_ANY) == BT_OK)
        usage = d.root;
    bt__usage_read(usage, u);
    if (metrics) {
        bt__jobj m;
        bt__jobj_init(&m);
        bt__usage_add_metrics(usage, &m);
        bt__buf out;
        bt__buf_init(&out, 0);
        json_t *parsed = bt__jobj_write(&m, &out) == BT_OK ? json_loadb(out.data, out.len, 0, NULL) : NULL;
        if (parsed)
            json_object_update(metrics, parsed);
        json_decref(parsed);
        bt__buf_free(&out);
        bt__jobj_free(&m);
    }
    bt__json_doc_free(&d);
    free(text);
}

static void emit_request(ms_handler *m, bt_exchange *ex)
{
    if (!m->req_open)
        return;
    m->req_open = 0;
    uint64_t start = m->req_start_ns ? m->req_start_ns : m->req_end_ns;
    uint64_t end = m->req_end_ns ? m->req_end_ns : start;
    if (end < start)
        end = start;
    static const char name[] = "anthropic.beta.sessions.model_request";
    bt_span *span = session_span(ex, m->session_id, name, "llm", m->req_id, start, BT_SPAN_KIND_CLIENT);
    json_t *output = json_pack("{s:s,s:O}", "role", "assistant", "content", m->req_output);
    bt__usage u;
    json_t *metrics = json_object();
    usage_from(m->req_usage, &u, metrics);
    if (span) {
        bt__attachments_set_json(ex->a, span, "braintrust.input_json", "input", m->req_input);
        bt__span_set_json(ex->a, span, "braintrust.output_json", "output", output);
        if (json_object_size(metrics))
            bt__span_set_json(ex->a, span, "braintrust.metrics", NULL, metrics);
        json_t *md = json_pack("{s:s,s:s,s:s}", "provider", "anthropic", "session_id", m->session_id,
                               "model_request_start_id", m->req_id);
        if (!m->req_ended)
            json_object_set_new(md, "end_missing", json_true());
        if (ex->route.thread_id[0])
            json_object_set_new(md, "session_thread_id", json_string(ex->route.thread_id));
        bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, md);
        json_decref(md);
        if (m->req_error)
            bt_span_set_status(span, BT_STATUS_ERROR, "model_request_error: the model request failed");
        if (bt__anthropic_genai_enabled(ex->a)) {
            bt_span_set_string(span, "gen_ai.operation.name", "chat");
            bt_span_set_string(span, "gen_ai.provider.name", "anthropic");
            bt_span_set_string(span, "gen_ai.conversation.id", m->session_id);
            if (u.prompt >= 0)
                bt_span_set_int(span, "gen_ai.usage.input_tokens", u.prompt);
            if (u.output >= 0)
                bt_span_set_int(span, "gen_ai.usage.output_tokens", u.output);
        }
        bt_span_end(span, end);
    }
    bt__session_call call = {
        .session_id = m->session_id,
        .source = SOURCE,
        .braintrust_parent = ex->braintrust_parent,
        .once_id = m->req_id,
        .start_ns = start,
        .end_ns = end,
        .usage = m->req_usage ? &u : NULL,
        .is_error = m->req_error,
        .input = json_array_size(m->req_input) ? m->req_input : NULL,
        .output = json_array_size(m->req_output) ? output : NULL,
    };
    bt__session_add_call(ex->a, &call);
    json_decref(metrics);
    json_decref(output);
    m->model_requests++;
    json_decref(m->req_usage);
    json_decref(m->req_input);
    json_decref(m->req_output);
    m->req_usage = m->req_input = m->req_output = NULL;
    m->req_id[0] = '\0';
    m->req_start_ns = m->req_end_ns = 0;
    m->req_ended = m->req_error = 0;
}

static void open_request(ms_handler *m, bt_exchange *ex, const json_t *ev)
{
    emit_request(m, ex);
    const char *id = str(ev, "id");
    snprintf(m->req_id, sizeof m->req_id, "%s", id ? id : "");
    m->req_open = 1;
    m->req_start_ns = event_time(ex, ev);
    m->req_input = m->turns;
    m->req_output = json_array();
    m->turns = json_array();
}

static void add_turn(ms_handler *m, const char *role, json_t *content)
{
    if (json_array_size(m->turns) >= TURN_ITEMS_MAX) {
        m->truncated = 1;
        json_decref(content);
        return;
    }
    json_array_append_new(m->turns, json_pack("{s:s,s:o}", "role", role, "content", content));
}

static void add_output(ms_handler *m, json_t *block)
{
    if (!m->req_output || json_array_size(m->req_output) >= TURN_ITEMS_MAX) {
        m->truncated = m->truncated || m->req_output;
        json_decref(block);
        return;
    }
    json_array_append_new(m->req_output, block);
}

static void tool_called(ms_handler *m, bt_exchange *ex, const json_t *ev, const char *type)
{
    const char *id = str(ev, "id");
    const char *name = str(ev, "name");
    json_t *input = json_object_get(ev, "input");
    json_t *block = json_pack("{s:s,s:s,s:s,s:o}", "type", "tool_use", "id", id ? id : "", "name",
                              name ? name : "", "input", input ? json_incref(input) : json_object());
    if (str(ev, "mcp_server_name"))
        json_object_set(block, "server_name", json_object_get(ev, "mcp_server_name"));
    add_output(m, block);
    m->tool_calls++;
    if (!id || json_object_size(m->tools) >= PENDING_TOOLS_MAX)
        return;
    json_t *pending = json_pack("{s:s,s:o,s:s,s:I}", "name", name ? name : type, "input",
                                input ? json_incref(input) : json_object(), "type", type, "start",
                                (json_int_t)event_time(ex, ev));
    if (str(ev, "mcp_server_name"))
        json_object_set(pending, "server_name", json_object_get(ev, "mcp_server_name"));
    json_object_set_new(m->tools, id, pending);
}

/* A tool call's result: its span, and a turn for the next model request. */
static void tool_answered(ms_handler *m, bt_exchange *ex, const json_t *ev, const char *use_id)
{
    json_t *content = json_object_get(ev, "content");
    int is_error = json_is_true(json_object_get(ev, "is_error"));
    add_turn(m, "user",
             json_pack("[{s:s,s:s,s:o,s:b}]", "type", "tool_result", "tool_use_id", use_id ? use_id : "",
                       "content", content ? json_incref(content) : json_array(), "is_error", is_error));
    json_t *pending = use_id ? json_object_get(m->tools, use_id) : NULL;
    if (!pending)
        return;
    const char *name = str(pending, "name");
    uint64_t start = (uint64_t)json_integer_value(json_object_get(pending, "start"));
    uint64_t end = event_time(ex, ev);
    if (end < start)
        end = start;
    bt_span *span = session_span(ex, m->session_id, name, "tool", use_id, start, BT_SPAN_KIND_INTERNAL);
    if (span) {
        bt__span_set_json(ex->a, span, "braintrust.input_json", "input", json_object_get(pending, "input"));
        if (content)
            bt__attachments_set_json(ex->a, span, "braintrust.output_json", "output", content);
        json_t *md = json_pack("{s:s,s:s,s:s,s:s}", "provider", "anthropic", "session_id", m->session_id,
                               "tool_call_type", str(pending, "type"), "tool_use_id", use_id);
        if (str(pending, "server_name"))
            json_object_set(md, "server_name", json_object_get(pending, "server_name"));
        bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, md);
        json_decref(md);
        if (is_error)
            bt_span_set_status(span, BT_STATUS_ERROR, "tool_error: the tool reported an error");
        if (bt__anthropic_genai_enabled(ex->a)) {
            bt_span_set_string(span, "gen_ai.operation.name", "execute_tool");
            bt_span_set_string(span, "gen_ai.tool.name", name);
            bt_span_set_string(span, "gen_ai.tool.call.id", use_id);
        }
        bt_span_end(span, end);
    }
    json_object_del(m->tools, use_id);
}

static void on_event(ms_handler *m, bt_exchange *ex, const json_t *ev)
{
    const char *type = str(ev, "type");
    if (!type)
        return;
    m->events++;
    if (!strcmp(type, "user.message")) {
        add_turn(m, "user", json_incref(json_object_get(ev, "content")));
    } else if (!strcmp(type, "span.model_request_start")) {
        open_request(m, ex, ev);
    } else if (!strcmp(type, "span.model_request_end")) {
        const char *start_id = str(ev, "model_request_start_id");
        if (!m->req_open || (start_id && strcmp(start_id, m->req_id) != 0)) {
            /* its start was not seen here (the read began later): a request of its own */
            emit_request(m, ex);
            snprintf(m->req_id, sizeof m->req_id, "%s",
                     start_id ? start_id : (str(ev, "id") ? str(ev, "id") : ""));
            m->req_open = 1;
            m->req_input = m->turns;
            m->req_output = json_array();
            m->turns = json_array();
        }
        m->req_ended = 1;
        m->req_end_ns = event_time(ex, ev);
        m->req_error = json_is_true(json_object_get(ev, "is_error"));
        json_decref(m->req_usage);
        m->req_usage = json_incref(json_object_get(ev, "model_usage"));
    } else if (!strcmp(type, "agent.message")) {
        json_t *content = json_object_get(ev, "content");
        size_t i;
        json_t *b;
        json_array_foreach(content, i, b) add_output(m, json_incref(b));
    } else if (!strcmp(type, "agent.thinking")) {
        add_output(m, json_pack("{s:s,s:s}", "type", "thinking", "thinking", ""));
    } else if (!strcmp(type, "agent.tool_use") || !strcmp(type, "agent.mcp_tool_use") ||
               !strcmp(type, "agent.custom_tool_use")) {
        tool_called(m, ex, ev, type + 6);
    } else if (!strcmp(type, "agent.tool_result") || !strcmp(type, "agent.mcp_tool_result")) {
        tool_answered(m, ex, ev,
                      str(ev, "tool_use_id") ? str(ev, "tool_use_id") : str(ev, "mcp_tool_use_id"));
    } else if (!strcmp(type, "user.custom_tool_result")) {
        tool_answered(m, ex, ev, str(ev, "custom_tool_use_id"));
    } else if (!strncmp(type, "session.status_", 15)) {
        emit_request(m, ex);
        snprintf(m->last_status, sizeof m->last_status, "%s", type + 15);
    } else if (!strcmp(type, "session.error")) {
        emit_request(m, ex);
        m->errors++;
        json_t *err = json_object_get(ev, "error");
        const char *etype = str(err, "type"), *emsg = str(err, "message");
        snprintf(m->error_message, sizeof m->error_message, "%s%s%s", etype ? etype : "session_error",
                 emsg ? ": " : "", emsg ? emsg : "");
    }
}

static int on_sse_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                        int truncated)
{
    bt_exchange *ex = ud;
    ms_handler *m = (ms_handler *)ex->handler;
    (void)event, (void)event_len;
    if (truncated) {
        m->truncated = 1;
        return 0;
    }
    json_t *ev = bt__json_parse_lenient(data, data_len);
    if (json_is_object(ev))
        on_event(m, ex, ev);
    json_decref(ev);
    return 0;
}

/* --- the exchange ------------------------------------------------------------------- */

static void on_request_body(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    ms_handler *m = (ms_handler *)h;
    if (bt__buf_append(&m->request, data, len) != 0)
        ex->is_truncated = 1;
}

static void on_response_start(bt__handler *h, bt_exchange *ex)
{
    ms_handler *m = (ms_handler *)h;
    if (ex->route.kind == BT__ROUTE_SESSION_EVENTS_STREAM && ex->status < 400 && m->session_id[0])
        m->sse = bt__sse_new(bt__anthropic_body_limit(ex->a), on_sse_event, ex);
}

static void on_response_data(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    ms_handler *m = (ms_handler *)h;
    if (m->sse) {
        bt__sse_feed(m->sse, data, len);
        return;
    }
    if (bt__buf_append(&m->response, data, len) != 0)
        ex->is_truncated = 1;
}

static void on_finish(bt__handler *h, bt_exchange *ex, bt_exchange_info *info)
{
    ms_handler *m = (ms_handler *)h;
    bt__route_kind kind = ex->route.kind;
    const char *name = bt__route_span_name(kind);
    info->span_name = name;
    json_t *req = m->request.len ? bt__json_parse_lenient(m->request.data, m->request.len) : NULL;
    json_t *resp =
        !m->sse && m->response.len ? bt__json_parse_lenient(m->response.data, m->response.len) : NULL;
    if (m->sse && ex->outcome == BT_EXCHANGE_COMPLETED && !ex->decode_error[0])
        bt__sse_feed(m->sse, "\n\n", 2);
    if (kind == BT__ROUTE_SESSION_CREATE && ex->status < 300 && json_is_string(json_object_get(resp, "id")))
        snprintf(m->session_id, sizeof m->session_id, "%s", str(resp, "id"));
    /* a list page: the events it holds, oldest first as listed */
    if (kind == BT__ROUTE_SESSION_EVENTS_LIST && ex->status < 300) {
        size_t i;
        json_t *ev;
        json_array_foreach(json_object_get(resp, "data"), i, ev)
        {
            if (json_is_object(ev))
                on_event(m, ex, ev);
        }
    }
    emit_request(m, ex);

    bt_span *span = NULL;
    if (m->session_id[0])
        span = session_span(ex, m->session_id, name, "task", NULL, ex->start_unix_nano, BT_SPAN_KIND_CLIENT);
    else /* a create that did not create: where the request would have gone */
        span = bt__exchange_start_span(ex, name, "task");
    json_t *md = json_pack("{s:s}", "provider", "anthropic");
    if (m->session_id[0])
        json_object_set_new(md, "session_id", json_string(m->session_id));
    if (ex->route.thread_id[0])
        json_object_set_new(md, "session_thread_id", json_string(ex->route.thread_id));
    if (ex->anthropic_beta[0])
        json_object_set_new(md, "anthropic_beta", json_string(ex->anthropic_beta));
    if (ex->request_id[0])
        json_object_set_new(md, "request_id", json_string(ex->request_id));
    json_t *output = NULL;
    if (kind == BT__ROUTE_SESSION_CREATE || kind == BT__ROUTE_SESSION_EVENTS_SEND) {
        if (req)
            bt__attachments_set_json(ex->a, span, "braintrust.input_json", "input", req);
        output = json_incref(resp);
        json_t *agent = json_object_get(resp, "agent");
        if (json_is_object(agent)) {
            json_object_set(md, "agent_id", json_object_get(agent, "id"));
            json_t *model = json_object_get(json_object_get(agent, "model"), "id");
            if (!model)
                model = json_object_get(agent, "model");
            if (json_is_string(model))
                json_object_set(md, "model", model);
        }
    } else {
        json_t *in = json_pack("{s:s}", "session_id", m->session_id);
        if (ex->route.thread_id[0])
            json_object_set_new(in, "session_thread_id", json_string(ex->route.thread_id));
        bt__span_set_json(ex->a, span, "braintrust.input_json", "input", in);
        json_decref(in);
        output = json_pack("{s:I,s:I,s:I}", "events", (json_int_t)m->events, "model_requests",
                           (json_int_t)m->model_requests, "tool_calls", (json_int_t)m->tool_calls);
        if (m->last_status[0])
            json_object_set_new(output, "last_status", json_string(m->last_status));
        if (kind == BT__ROUTE_SESSION_EVENTS_LIST && json_object_get(resp, "next_page"))
            json_object_set(output, "next_page", json_object_get(resp, "next_page"));
    }
    if (output)
        bt__span_set_json(ex->a, span, "braintrust.output_json", "output", output);
    json_decref(output);
    if (m->truncated || ex->is_truncated)
        json_object_set_new(md, "truncated", json_true());
    if (ex->decode_error[0])
        json_object_set_new(md, "decode_error", json_string(ex->decode_error));
    bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, md);
    json_decref(md);

    if (bt__exchange_set_http_error(ex, span, m->response.data, m->response.len)) {
        info->is_error = 1;
    } else if (m->error_message[0]) {
        bt_span_set_status(span, BT_STATUS_ERROR, m->error_message);
        bt_span_set_string(span, "error.type", "session_error");
        info->is_error = 1;
    } else if (kind != BT__ROUTE_SESSION_EVENTS_STREAM && bt__exchange_set_failure(ex, span)) {
        /* a stream the client closes is how streams end; a cut call is an error */
        info->is_error = 1;
    }
    bt_span_end(span, ex->end_unix_nano);
    json_decref(req);
    json_decref(resp);
}

static void on_free(bt__handler *h)
{
    ms_handler *m = (ms_handler *)h;
    bt__buf_free(&m->request);
    bt__buf_free(&m->response);
    bt__sse_free(m->sse);
    json_decref(m->req_usage);
    json_decref(m->req_input);
    json_decref(m->req_output);
    json_decref(m->turns);
    json_decref(m->tools);
    free(m);
}

static const bt__handler_ops ms_ops = {
    .request_body = on_request_body,
    .response_start = on_response_start,
    .response_data = on_response_data,
    .finish = on_finish,
    .free = on_free,
};

bt__handler *bt__managed_sessions_handler_new(bt_exchange *ex)
{
    ms_handler *m = calloc(1, sizeof *m);
    if (!m)
        return NULL;
    m->base.ops = &ms_ops;
    snprintf(m->session_id, sizeof m->session_id, "%s", ex->route.batch_id);
    size_t limit = bt__anthropic_body_limit(ex->a);
    bt__buf_init(&m->request, limit);
    bt__buf_init(&m->response, limit < RESPONSE_MAX ? limit : RESPONSE_MAX);
    m->turns = json_array();
    m->tools = json_object();
    return &m->base;
}
