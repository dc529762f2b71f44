/*
 * Managed Agents sessions (beta) under /v1/sessions: create a session, send it events,
 * read its events as a list page or an SSE stream, retrieve it. The fake agent works at
 * once and deterministically: each user.message it is sent makes it report the real
 * event sequence of one turn (session.status_running, span.model_request_start,
 * agent.thinking, agent.message echoing the user, span.model_request_end with
 * model_usage, session.status_idle), with usage counted like a Messages reply. A stream
 * replays the session's events so far and ends (a real stream stays open for what comes
 * next). Sessions live in memory, bounded.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <llhttp.h>

#include "fake.h"

#define SESSIONS_MAX 1024
#define EVENTS_MAX 4096

typedef struct fake_session {
    char id[48];
    json_t *object; /* the session as retrieve returns it */
    json_t *events; /* every event so far, in order */
    unsigned long turns;
} fake_session;

static fake_session g_sessions[SESSIONS_MAX];
static size_t g_n_sessions;
static unsigned long g_counter;

void fake_sessions_free_all(void)
{
    for (size_t i = 0; i < g_n_sessions; i++) {
        json_decref(g_sessions[i].object);
        json_decref(g_sessions[i].events);
    }
    g_n_sessions = 0;
}

static fake_session *find(const char *id, size_t len)
{
    for (size_t i = 0; i < g_n_sessions; i++)
        if (strlen(g_sessions[i].id) == len && !memcmp(g_sessions[i].id, id, len))
            return &g_sessions[i];
    return NULL;
}

/* A timestamp that moves forward with every event, so spans built from processed_at
 * have their real order and non-zero durations. */
static json_t *timestamp(void)
{
    static unsigned long tick;
    unsigned long ms = tick++ * 150;
    char out[48];
    snprintf(out, sizeof out, "2026-04-01T10:%02lu:%02lu.%03luZ", (ms / 60000) % 60, (ms / 1000) % 60,
             ms % 1000);
    return json_string(out);
}

static void add_event(fake_session *s, json_t *ev)
{
    if (json_array_size(s->events) >= EVENTS_MAX) {
        json_decref(ev);
        return;
    }
    char id[48];
    snprintf(id, sizeof id, "sevt_fake_%06lu", ++g_counter);
    json_object_set_new(ev, "id", json_string(id));
    json_object_set_new(ev, "processed_at", timestamp());
    json_array_append_new(s->events, ev);
}

/* The text of a user.message's content blocks. */
static void said(const json_t *content, bt__buf *out)
{
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *t = json_string_value(json_object_get(b, "text"));
        if (t) {
            if (out->len)
                bt__buf_append_char(out, ' ');
            bt__buf_append_str(out, t);
        }
    }
}

/* The agent's turn after a user message, as the real event sequence. */
static void agent_turn(fake_session *s, const json_t *content)
{
    bt__buf text;
    bt__buf_init(&text, 4096);
    bt__buf_append_str(&text, "fake-anthropic agent: ");
    said(content, &text);
    long out_tokens = 0;
    for (size_t i = 0, word = 0; i < text.len; i++) {
        int space = text.data[i] == ' ';
        if (!space && !word)
            out_tokens++;
        word = !space;
    }
    long in_tokens = 200 + (long)s->turns * 50 + (long)text.len / 4;
    s->turns++;
    add_event(s, json_pack("{s:s}", "type", "session.status_running"));
    add_event(s, json_pack("{s:s}", "type", "span.model_request_start"));
    const char *start_id =
        json_string_value(json_object_get(json_array_get(s->events, json_array_size(s->events) - 1), "id"));
    char start[48];
    snprintf(start, sizeof start, "%s", start_id ? start_id : "");
    add_event(s, json_pack("{s:s}", "type", "agent.thinking"));
    add_event(s,
              json_pack("{s:s, s:[{s:s, s:s%}]}", "type", "agent.message", "content", "type", "text", "text",
                        text.data ? text.data : "", text.len));
    /* the first turn writes the prompt cache, later ones read it */
    long cache_write = s->turns == 1 ? 1000 : 0, cache_read = s->turns == 1 ? 0 : 1000;
    add_event(s,
              json_pack("{s:s, s:s, s:b, s:{s:I, s:I, s:I, s:I}}", "type", "span.model_request_end",
                        "model_request_start_id", start, "is_error", 0, "model_usage", "input_tokens",
                        (json_int_t)in_tokens, "cache_creation_input_tokens", (json_int_t)cache_write,
                        "cache_read_input_tokens", (json_int_t)cache_read, "output_tokens",
                        (json_int_t)out_tokens));
    add_event(s,
              json_pack("{s:s, s:{s:s}, s:n}", "type", "session.status_idle", "stop_reason", "type",
                        "end_turn", "stop_details"));
    bt__buf_free(&text);
}

/* Takes the events a client sends: user messages get the agent's turn. Returns the
 * accepted events (with ids) or NULL with *err set. */
static json_t *take_events(fake_session *s, const json_t *events, const char **err)
{
    if (!json_is_array(events)) {
        *err = "events: Field required";
        return NULL;
    }
    json_t *accepted = json_array();
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        const char *type = json_string_value(json_object_get(ev, "type"));
        if (!type) {
            json_decref(accepted);
            *err = "events: each event needs a type";
            return NULL;
        }
        add_event(s, json_deep_copy(ev));
        json_array_append(accepted, json_array_get(s->events, json_array_size(s->events) - 1));
        if (!strcmp(type, "user.message"))
            agent_turn(s, json_object_get(ev, "content"));
    }
    return accepted;
}

static void respond_json(fake_conn *c, const fake_request *req, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER);
    fake_respond(c, req, 200, "application/json", NULL, text, strlen(text));
    free(text);
}

static void create(fake_conn *c, fake_request *req)
{
    json_t *params = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
    const json_t *agent = json_object_get(params, "agent");
    const char *agent_id =
        json_is_string(agent) ? json_string_value(agent) : json_string_value(json_object_get(agent, "id"));
    if (!json_is_object(params) || !agent || !json_is_string(json_object_get(params, "environment_id"))) {
        fake_respond_error(c, req, 400, "invalid_request_error",
                           !json_is_object(params) ? "Request body must be a JSON object"
                               : !agent            ? "agent: Field required"
                                                   : "environment_id: Field required");
        json_decref(params);
        return;
    }
    if (g_n_sessions == SESSIONS_MAX) {
        fake_respond_error(c, req, 429, "rate_limit_error", "fake-anthropic holds no more sessions");
        json_decref(params);
        return;
    }
    fake_session *s = &g_sessions[g_n_sessions++];
    memset(s, 0, sizeof *s);
    snprintf(s->id, sizeof s->id, "sesn_fake_%06lu", ++g_counter);
    s->events = json_array();
    json_t *meta = json_object_get(params, "metadata");
    s->object = json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s, s:{s:s}, s:i}, s:O, s:s, s:o, s:n, s:n}", "id",
                          s->id, "type", "session", "status", "idle", "agent", "id",
                          agent_id ? agent_id : "agent_fake", "type", "agent", "name", "fake agent", "model",
                          "id", "claude-opus-5-5", "version", 1, "environment_id",
                          json_object_get(params, "environment_id"), "created_at", "2026-04-01T10:00:00Z",
                          "metadata", meta ? json_incref(meta) : json_object(), "archived_at", "title");
    const char *err = NULL;
    json_t *initial = json_object_get(params, "initial_events");
    json_t *accepted = initial ? take_events(s, initial, &err) : NULL;
    json_decref(accepted);
    respond_json(c, req, s->object);
    json_decref(params);
}

typedef struct sse_replay {
    json_t *events;
    size_t next;
} sse_replay;

static int produce_event(void *state, bt__buf *out)
{
    sse_replay *r = state;
    if (r->next >= json_array_size(r->events))
        return FAKE_PIECE_DONE;
    json_t *ev = json_array_get(r->events, r->next++);
    char *data = json_dumps(ev, JSON_COMPACT | JSON_PRESERVE_ORDER);
    bt__buf_printf(out, "event: %s\ndata: %s\n\n", json_string_value(json_object_get(ev, "type")), data);
    free(data);
    return r->next < json_array_size(r->events) ? FAKE_PIECE_MORE : FAKE_PIECE_DONE;
}

static void free_replay(void *state)
{
    sse_replay *r = state;
    json_decref(r->events);
    free(r);
}

void fake_handle_sessions(fake_conn *c, fake_request *req)
{
    const char *path = req->path;
    if (!strcmp(path, "/v1/sessions")) {
        if (req->method != HTTP_POST) {
            fake_respond_error(c, req, 405, "invalid_request_error", "Method Not Allowed");
            return;
        }
        create(c, req);
        return;
    }
    const char *id = path + strlen("/v1/sessions/");
    size_t id_len = strcspn(id, "/");
    fake_session *s = find(id, id_len);
    if (!s) {
        fake_respond_error(c, req, 404, "not_found_error", "session not found");
        return;
    }
    const char *tail = id + id_len;
    if (!*tail && req->method == HTTP_GET) {
        respond_json(c, req, s->object);
    } else if (!strcmp(tail, "/events") && req->method == HTTP_POST) {
        json_t *params = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, NULL);
        const char *err = NULL;
        json_t *accepted = take_events(s, json_object_get(params, "events"), &err);
        if (!accepted) {
            fake_respond_error(c, req, 400, "invalid_request_error", err);
        } else {
            json_t *body = json_pack("{s:o}", "data", accepted);
            respond_json(c, req, body);
            json_decref(body);
        }
        json_decref(params);
    } else if (!strcmp(tail, "/events") && req->method == HTTP_GET) {
        json_t *body = json_pack("{s:O, s:n}", "data", s->events, "next_page");
        respond_json(c, req, body);
        json_decref(body);
    } else if (!strcmp(tail, "/events/stream") && req->method == HTTP_GET) {
        sse_replay *r = calloc(1, sizeof *r);
        if (!r) {
            fake_respond_error(c, req, 500, "api_error", "out of memory");
            return;
        }
        r->events = json_copy(s->events);
        if (json_array_size(r->events) == 0) {
            free_replay(r);
            fake_respond(c, req, 200, "text/event-stream; charset=utf-8", "cache-control: no-cache\r\n", "",
                         0);
            return;
        }
        fake_respond_stream(c, req, 200, "text/event-stream; charset=utf-8", "cache-control: no-cache\r\n",
                            produce_event, r, free_replay, fake_cfg.pace_ms);
    } else {
        fake_respond_error(c, req, 404, "not_found_error", "Not Found");
    }
}
