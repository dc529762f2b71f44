/*
 * The SSE form of a reply, with the real event sequence: message_start (placeholder
 * output_tokens), content blocks with their deltas and a ping after the first block
 * start, message_delta with cumulative usage, message_stop. Data JSON carries the
 * real API's padding spaces before its closing brace. Events are produced one per
 * piece so the server paces and flushes each on its own.
 */
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define TEXT_WORDS_PER_DELTA 3
#define JSON_BYTES_PER_DELTA 12

typedef struct sse_state {
    char **events;
    size_t count, next;
    int abort_after_last; /* close without ending the body (abrupt close scenario) */
} sse_state;

/* Appends an SSE event whose data is `data` plus padding spaces before its final '}'. */
static void sse_event(bt__buf *out, const char *event, const char *data, uint64_t pad_seed)
{
    bt__buf_printf(out, "event: %s\ndata: ", event);
    size_t len = strlen(data);
    if (len > 0 && data[len - 1] == '}') {
        int pad = 1 + (int)(fake_hash(&pad_seed, sizeof pad_seed, 99) % 12);
        bt__buf_append(out, data, len - 1);
        for (int i = 0; i < pad; i++)
            bt__buf_append_char(out, ' ');
        bt__buf_append_char(out, '}');
    } else {
        bt__buf_append(out, data, len);
    }
    bt__buf_append_str(out, "\n\n");
}

typedef struct event_list {
    char **items;
    size_t count, alloc;
    uint64_t seed;
} event_list;

static void push_raw(event_list *l, char *formatted)
{
    if (!formatted)
        return;
    if (l->count == l->alloc) {
        size_t n = l->alloc ? l->alloc * 2 : 32;
        char **grown = realloc(l->items, n * sizeof *grown);
        if (!grown) {
            free(formatted);
            return;
        }
        l->items = grown;
        l->alloc = n;
    }
    l->items[l->count++] = formatted;
}

/* Serializes `data` (stolen) as the event named by its "type". */
static void push(event_list *l, json_t *data)
{
    char *json = json_dumps(data, JSON_COMPACT | JSON_PRESERVE_ORDER);
    const char *type = json_string_value(json_object_get(data, "type"));
    bt__buf ev;
    bt__buf_init(&ev, 0);
    sse_event(&ev, type ? type : "unknown", json ? json : "{}", l->seed + l->count);
    push_raw(l, bt__buf_steal(&ev, NULL));
    free(json);
    json_decref(data);
}

static void push_delta(event_list *l, int index, json_t *delta)
{
    push(l, json_pack("{s:s, s:i, s:o}", "type", "content_block_delta", "index", index, "delta", delta));
}

/* Splits text after every few words. */
static void push_text_deltas(event_list *l, int index, const char *text, const char *delta_type,
                             const char *field)
{
    const char *p = text;
    while (*p) {
        const char *end = p;
        for (int w = 0; w < TEXT_WORDS_PER_DELTA && *end; w++) {
            while (*end == ' ')
                end++;
            while (*end && *end != ' ')
                end++;
        }
        json_t *piece = json_stringn(p, (size_t)(end - p));
        push_delta(l, index,
                   json_pack("{s:s, s:o}", "type", delta_type, field, piece ? piece : json_string("")));
        p = end;
    }
}

/* input_json_delta fragments: "" first, then short slices cut on UTF-8 boundaries. */
static void push_json_deltas(event_list *l, int index, const char *json)
{
    push_delta(l, index, json_pack("{s:s, s:s}", "type", "input_json_delta", "partial_json", ""));
    size_t len = strlen(json), at = 0;
    while (at < len) {
        size_t n = len - at < JSON_BYTES_PER_DELTA ? len - at : JSON_BYTES_PER_DELTA;
        while (at + n < len && ((unsigned char)json[at + n] & 0xC0) == 0x80)
            n++;
        push_delta(
            l, index,
            json_pack("{s:s, s:o}", "type", "input_json_delta", "partial_json", json_stringn(json + at, n)));
        at += n;
    }
}

static void push_block_stop(event_list *l, int index)
{
    push(l, json_pack("{s:s, s:i}", "type", "content_block_stop", "index", index));
}

static void push_ping(event_list *l)
{
    bt__buf ev;
    bt__buf_init(&ev, 0);
    bt__buf_append_str(&ev, "event: ping\ndata: {\"type\": \"ping\"}\n\n");
    push_raw(l, bt__buf_steal(&ev, NULL));
}

static int produce_event(void *state, bt__buf *out)
{
    sse_state *s = state;
    if (s->next < s->count) {
        bt__buf_append_str(out, s->events[s->next]);
        s->next++;
        if (s->next == s->count && !s->abort_after_last)
            return FAKE_PIECE_DONE;
        return FAKE_PIECE_MORE;
    }
    /* The abrupt close comes one pace interval after the last event, as a connection
     * dropping mid-generation would. */
    return FAKE_PIECE_ABORT;
}

static void free_sse_state(void *state)
{
    sse_state *s = state;
    for (size_t i = 0; i < s->count; i++)
        free(s->events[i]);
    free(s->events);
    free(s);
}

void fake_stream_reply(fake_conn *c, const fake_request *req, fake_reply *r, int mode)
{
    event_list l = {.seed = fake_hash(r->msg_id, strlen(r->msg_id), 3)};
    json_t *final = fake_reply_message_json(r);
    json_t *msg = fake_reply_message_json(r);
    json_object_set_new(msg, "content", json_array());
    json_object_set_new(msg, "stop_reason", json_null());
    json_object_set_new(msg, "stop_sequence", json_null());
    json_t *usage = json_object_get(msg, "usage");
    long placeholder = r->output_tokens < 1 ? 1 : r->output_tokens > 8 ? 8 : r->output_tokens;
    json_object_set_new(usage, "output_tokens", json_integer(placeholder));
    json_object_del(usage, "output_tokens_details");
    json_object_del(usage, "server_tool_use");
    json_object_set_new(msg, "container", json_null()); /* known at the end: message_delta */
    json_object_del(msg, "context_management");
    push(&l, json_pack("{s:s, s:o}", "type", "message_start", "message", msg));

    int index = 0;
    size_t cut_at = 0; /* event count after which a failure scenario strikes */
    if (r->thinking) {
        push(&l,
             json_pack("{s:s, s:i, s:{s:s, s:s, s:s}}", "type", "content_block_start", "index", index,
                       "content_block", "type", "thinking", "thinking", "", "signature", ""));
        if (index == 0)
            push_ping(&l);
        push_text_deltas(&l, index, r->thinking, "thinking_delta", "thinking");
        push_delta(&l, index, json_pack("{s:s, s:s}", "type", "thinking_delta", "thinking", ""));
        push_delta(&l, index, json_pack("{s:s, s:s}", "type", "signature_delta", "signature", r->signature));
        push_block_stop(&l, index++);
    }
    /* Server tools ran inside the turn: the call streams its input like a tool_use
     * block; the result arrives whole in its content_block_start. */
    size_t k;
    json_t *block;
    json_array_foreach(r->server_blocks, k, block)
    {
        const char *type = json_string_value(json_object_get(block, "type"));
        if (type && strcmp(type, "server_tool_use") == 0) {
            json_t *start = json_copy(block);
            json_object_set_new(start, "input", json_object());
            push(&l,
                 json_pack("{s:s, s:i, s:o}", "type", "content_block_start", "index", index, "content_block",
                           start));
            if (index == 0)
                push_ping(&l);
            char *input = json_dumps(json_object_get(block, "input"), JSON_COMPACT | JSON_PRESERVE_ORDER);
            push_json_deltas(&l, index, input ? input : "{}");
            free(input);
        } else {
            push(&l,
                 json_pack("{s:s, s:i, s:O}", "type", "content_block_start", "index", index, "content_block",
                           block));
            if (index == 0)
                push_ping(&l);
        }
        push_block_stop(&l, index++);
    }
    if (r->text && *r->text) {
        push(&l,
             json_pack("{s:s, s:i, s:{s:s, s:s}}", "type", "content_block_start", "index", index,
                       "content_block", "type", "text", "text", ""));
        if (index == 0)
            push_ping(&l);
        cut_at = l.count + 1;
        push_text_deltas(&l, index, r->text, "text_delta", "text");
        push_block_stop(&l, index++);
    }
    if (r->tool_name) {
        push(&l,
             json_pack("{s:s, s:i, s:{s:s, s:s, s:s, s:{}, s:{s:s}}}", "type", "content_block_start", "index",
                       index, "content_block", "type", "tool_use", "id", r->tool_id, "name", r->tool_name,
                       "input", "caller", "type", "direct"));
        if (index == 0)
            push_ping(&l);
        push_json_deltas(&l, index, r->tool_input_json);
        push_block_stop(&l, index++);
    }
    json_t *delta_usage =
        json_pack("{s:I, s:I, s:I, s:I}", "input_tokens", (json_int_t)r->input_tokens,
                  "cache_creation_input_tokens", (json_int_t)r->cache_creation, "cache_read_input_tokens",
                  (json_int_t)r->cache_read, "output_tokens", (json_int_t)r->output_tokens);
    if (r->thinking)
        json_object_set_new(delta_usage, "output_tokens_details",
                            json_pack("{s:I}", "thinking_tokens", (json_int_t)r->thinking_tokens));
    json_t *final_usage = json_object_get(json_object_get(final, "usage"), "server_tool_use");
    if (final_usage)
        json_object_set(delta_usage, "server_tool_use", final_usage);
    json_t *delta = json_pack("{s:s, s:o, s:n}", "stop_reason", r->stop_reason, "stop_sequence",
                              r->stop_sequence ? json_string(r->stop_sequence) : json_null(), "stop_details");
    if (r->container_id[0])
        json_object_set_new(delta, "container", fake_reply_container_json(r));
    json_t *md = json_pack("{s:s, s:o, s:o}", "type", "message_delta", "delta", delta, "usage", delta_usage);
    if (r->context_management)
        json_object_set_new(md, "context_management", json_pack("{s:[]}", "applied_edits"));
    push(&l, md);
    json_decref(final);
    push(&l, json_pack("{s:s}", "type", "message_stop"));

    sse_state *s = calloc(1, sizeof *s);
    if (!s) {
        for (size_t i = 0; i < l.count; i++)
            free(l.items[i]);
        free(l.items);
        fake_reply_free(r);
        fake_respond_abort(c);
        return;
    }
    s->events = l.items;
    s->count = l.count;
    if (mode != 0) {
        /* Cut inside the first text block (or after two events), never at the end. */
        if (cut_at == 0 || cut_at >= l.count)
            cut_at = 2;
        for (size_t i = cut_at; i < l.count; i++)
            free(l.items[i]);
        s->count = cut_at;
        if (mode == 1) {
            /* The real API's mid-stream error: HTTP 200 already sent, then an error event
             * and the end of the connection, with no message_stop. */
            bt__buf ev;
            bt__buf_init(&ev, 0);
            char data[256];
            snprintf(
                data, sizeof data,
                "{\"type\":\"error\",\"error\":{\"details\":null,\"type\":\"overloaded_error\",\"message\":\"Overloaded\"},\"request_id\":\"%s\"}",
                req->request_id);
            sse_event(&ev, "error", data, l.seed);
            s->events[s->count++] = bt__buf_steal(&ev, NULL);
            fake_conn_close_after(c);
        } else {
            s->abort_after_last = 1;
        }
    }
    fake_reply_free(r);
    fake_respond_stream(c, req, 200, "text/event-stream; charset=utf-8",
                        "cache-control: no-cache\r\nx-accel-buffering: no\r\n", produce_event, s,
                        free_sse_state, fake_cfg.pace_ms);
}
