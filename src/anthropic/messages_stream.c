/*
 * Messages SSE accumulation. Deltas are appended to per-block buffers and folded into
 * the block's JSON at content_block_stop (or at the end, for a cut stream), so memory
 * is the accumulated message plus the open block's text.
 */
#include <stdlib.h>
#include <string.h>

#include "anthropic/json_util.h"
#include "anthropic/messages_stream.h"
#include "util/buf.h"
#include "util/utf8.h"

/* More blocks than any real message has; a hostile stream stops growing here. */
#define BT__STREAM_MAX_BLOCKS 4096

typedef struct stream_block {
    json_int_t index;
    json_t *block; /* the block object; text fields are folded in at close */
    bt__buf text, thinking, signature, partial_json;
    uint64_t start_ns, stop_ns; /* arrival of content_block_start / _stop; 0 if unseen */
    unsigned has_text : 1, has_thinking : 1, has_signature : 1, has_json : 1, closed : 1;
} stream_block;

struct bt__msg_stream {
    size_t budget, used;
    json_t *message; /* message_start.message, then message_delta fields */
    json_t *usage;   /* merged usage */
    stream_block *blocks;
    size_t n_blocks, cap_blocks;
    int saw_stop, saw_content, truncated;
    char *error_type, *error_message;
    uint64_t now_ns; /* arrival time of the event being handled */
};

bt__msg_stream *bt__msg_stream_new(size_t budget)
{
    bt__msg_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->budget = budget;
    s->usage = json_object();
    if (!s->usage) {
        free(s);
        return NULL;
    }
    return s;
}

static void block_free_buffers(stream_block *b)
{
    bt__buf_free(&b->text);
    bt__buf_free(&b->thinking);
    bt__buf_free(&b->signature);
    bt__buf_free(&b->partial_json);
}

void bt__msg_stream_free(bt__msg_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_blocks; i++) {
        block_free_buffers(&s->blocks[i]);
        json_decref(s->blocks[i].block);
    }
    free(s->blocks);
    json_decref(s->message);
    json_decref(s->usage);
    free(s->error_type);
    free(s->error_message);
    free(s);
}

/* Appends within the budget; the part beyond it is dropped and marked. */
static void append_budgeted(bt__msg_stream *s, bt__buf *b, const char *data, size_t len)
{
    size_t room = s->used < s->budget ? s->budget - s->used : 0;
    if (len > room) {
        len = bt__utf8_cut(data, room);
        s->truncated = 1;
    }
    if (len && bt__buf_append(b, data, len) != 0)
        s->truncated = 1;
    s->used += len;
}

static stream_block *find_block(bt__msg_stream *s, json_int_t index)
{
    if (s->n_blocks && s->blocks[s->n_blocks - 1].index == index)
        return &s->blocks[s->n_blocks - 1];
    for (size_t i = 0; i < s->n_blocks; i++)
        if (s->blocks[i].index == index)
            return &s->blocks[i];
    return NULL;
}

/* Seeds a text buffer from the block's initial string field (e.g. "text":""). */
static void seed(bt__msg_stream *s, stream_block *b, const char *field, bt__buf *buf, unsigned *flag_out)
{
    const json_t *v = json_object_get(b->block, field);
    if (!json_is_string(v))
        return;
    append_budgeted(s, buf, json_string_value(v), json_string_length(v));
    *flag_out = 1;
}

static stream_block *add_block(bt__msg_stream *s, json_int_t index, json_t *block /* stolen */)
{
    if (s->n_blocks >= BT__STREAM_MAX_BLOCKS) {
        s->truncated = 1;
        json_decref(block);
        return NULL;
    }
    if (s->n_blocks == s->cap_blocks) {
        size_t cap = s->cap_blocks ? s->cap_blocks * 2 : 4;
        stream_block *nb = realloc(s->blocks, cap * sizeof *nb);
        if (!nb) {
            s->truncated = 1;
            json_decref(block);
            return NULL;
        }
        s->blocks = nb;
        s->cap_blocks = cap;
    }
    stream_block *b = &s->blocks[s->n_blocks++];
    memset(b, 0, sizeof *b);
    b->index = index;
    b->block = block;
    b->start_ns = s->now_ns;
    bt__buf_init(&b->text, 0);
    bt__buf_init(&b->thinking, 0);
    bt__buf_init(&b->signature, 0);
    bt__buf_init(&b->partial_json, 0);
    unsigned f;
    f = 0;
    seed(s, b, "text", &b->text, &f);
    b->has_text = f;
    f = 0;
    seed(s, b, "thinking", &b->thinking, &f);
    b->has_thinking = f;
    f = 0;
    seed(s, b, "signature", &b->signature, &f);
    b->has_signature = f;
    return b;
}

static void set_text(json_t *block, const char *key, const bt__buf *b)
{
    json_t *v = json_stringn(b->data ? b->data : "", b->len);
    if (v)
        json_object_set_new(block, key, v);
}

/* Folds the buffers into the block JSON and releases them. */
static void close_block(stream_block *b)
{
    if (b->closed)
        return;
    b->closed = 1;
    if (b->has_text)
        set_text(b->block, "text", &b->text);
    if (b->has_thinking)
        set_text(b->block, "thinking", &b->thinking);
    if (b->has_signature)
        set_text(b->block, "signature", &b->signature);
    if (b->has_json) {
        json_t *input;
        if (b->partial_json.len == 0)
            input = json_object(); /* a tool called without arguments */
        else {
            input = json_loadb(b->partial_json.data, b->partial_json.len, JSON_DECODE_ANY, NULL);
            if (!input) /* cut by max_tokens or by a cap: keep what was generated */
                input = json_stringn(b->partial_json.data, b->partial_json.len);
        }
        if (input)
            json_object_set_new(b->block, "input", input);
    }
    block_free_buffers(b);
}

static void on_block_start(bt__msg_stream *s, json_t *ev, size_t data_len)
{
    json_t *idx = json_object_get(ev, "index");
    json_t *block = json_object_get(ev, "content_block");
    if (!json_is_integer(idx) || !json_is_object(block) || find_block(s, json_integer_value(idx)))
        return;
    if (data_len > s->budget - (s->used < s->budget ? s->used : s->budget)) {
        /* a result block larger than what is left: keep its type, mark the cut */
        s->truncated = 1;
        json_t *stub = json_object();
        json_object_set(stub, "type", json_object_get(block, "type"));
        add_block(s, json_integer_value(idx), stub);
        return;
    }
    s->used += data_len;
    add_block(s, json_integer_value(idx), json_incref(block));
}

static const char *delta_block_type(const char *dtype)
{
    if (!strcmp(dtype, "input_json_delta"))
        return "tool_use";
    if (!strcmp(dtype, "thinking_delta") || !strcmp(dtype, "signature_delta"))
        return "thinking";
    return "text";
}

static int on_block_delta(bt__msg_stream *s, json_t *ev)
{
    json_t *idx = json_object_get(ev, "index");
    json_t *delta = json_object_get(ev, "delta");
    const char *dtype = json_string_value(json_object_get(delta, "type"));
    if (!json_is_integer(idx) || !dtype)
        return 0;
    stream_block *b = find_block(s, json_integer_value(idx));
    if (!b) {
        /* a delta without its block start: keep the content under an inferred type */
        json_t *blk = json_pack("{ss}", "type", delta_block_type(dtype));
        if (!blk || !(b = add_block(s, json_integer_value(idx), blk)))
            return 0;
    }
    if (b->closed)
        return 0;

    int content = 0;
    json_t *v;
    if (!strcmp(dtype, "text_delta") && json_is_string(v = json_object_get(delta, "text"))) {
        append_budgeted(s, &b->text, json_string_value(v), json_string_length(v));
        b->has_text = 1;
        content = json_string_length(v) > 0;
    } else if (!strcmp(dtype, "input_json_delta") &&
               json_is_string(v = json_object_get(delta, "partial_json"))) {
        size_t before = b->partial_json.len;
        append_budgeted(s, &b->partial_json, json_string_value(v), json_string_length(v));
        if (b->partial_json.len - before < json_string_length(v))
            b->partial_json.truncated = 1;
        b->has_json = 1;
        content = json_string_length(v) > 0;
    } else if (!strcmp(dtype, "thinking_delta") && json_is_string(v = json_object_get(delta, "thinking"))) {
        append_budgeted(s, &b->thinking, json_string_value(v), json_string_length(v));
        b->has_thinking = 1;
        content = json_string_length(v) > 0;
    } else if (!strcmp(dtype, "signature_delta") && json_is_string(v = json_object_get(delta, "signature"))) {
        append_budgeted(s, &b->signature, json_string_value(v), json_string_length(v));
        b->has_signature = 1;
    } else if (!strcmp(dtype, "citations_delta") && json_is_object(v = json_object_get(delta, "citation"))) {
        json_t *list = json_object_get(b->block, "citations");
        if (!json_is_array(list)) {
            list = json_array();
            json_object_set_new(b->block, "citations", list);
        }
        json_array_append(list, v);
        content = 1;
    }
    /* other delta types (compaction_delta, future ones) carry nothing we keep */
    if (content && !s->saw_content) {
        s->saw_content = 1;
        return 1;
    }
    return 0;
}

static void on_message_delta(bt__msg_stream *s, json_t *ev)
{
    json_t *delta = json_object_get(ev, "delta");
    if (json_is_object(delta)) {
        if (!s->message)
            s->message = json_object();
        json_object_update(s->message, delta); /* stop_reason, stop_sequence, stop_details, container */
    }
    const char *key;
    json_t *v;
    /* usage values are cumulative: each reported field replaces the earlier one */
    json_object_foreach(json_object_get(ev, "usage"), key, v)
    {
        if (!json_is_null(v))
            json_object_set(s->usage, key, v);
    }
}

static void on_message_start(bt__msg_stream *s, json_t *ev)
{
    json_t *msg = json_object_get(ev, "message");
    if (!json_is_object(msg) || (s->message && json_object_get(s->message, "id")))
        return;
    json_t *m = json_copy(msg);
    if (!m)
        return;
    json_object_del(m, "content");
    json_t *usage = json_object_get(m, "usage");
    if (json_is_object(usage))
        json_object_update(s->usage, usage);
    json_object_del(m, "usage");
    if (s->message) /* a message_delta came first (out of order): keep its fields */
        json_object_update(m, s->message);
    json_decref(s->message);
    s->message = m;
}

static void on_error(bt__msg_stream *s, json_t *ev)
{
    json_t *err = json_object_get(ev, "error");
    const char *type = json_string_value(json_object_get(err, "type"));
    const char *msg = json_string_value(json_object_get(err, "message"));
    free(s->error_type);
    free(s->error_message);
    s->error_type = strdup(type && type[0] ? type : "error");
    s->error_message = msg ? strdup(msg) : NULL;
}

int bt__msg_stream_event(bt__msg_stream *s, const char *event, const char *data, size_t len,
                         int data_truncated, uint64_t now_ns)
{
    if (!s)
        return 0;
    s->now_ns = now_ns;
    if (data_truncated) {
        s->truncated = 1; /* the event's JSON is incomplete: nothing to parse */
        return 0;
    }
    json_t *ev = bt__json_parse_lenient(data, len);
    if (!json_is_object(ev)) {
        json_decref(ev);
        return 0;
    }
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        type = event ? event : "";
    int first = 0;
    if (!strcmp(type, "message_start"))
        on_message_start(s, ev);
    else if (!strcmp(type, "content_block_start"))
        on_block_start(s, ev, len);
    else if (!strcmp(type, "content_block_delta"))
        first = on_block_delta(s, ev);
    else if (!strcmp(type, "content_block_stop")) {
        json_t *idx = json_object_get(ev, "index");
        stream_block *b = json_is_integer(idx) ? find_block(s, json_integer_value(idx)) : NULL;
        if (b && !b->closed) {
            b->stop_ns = s->now_ns;
            close_block(b);
        }
    } else if (!strcmp(type, "message_delta"))
        on_message_delta(s, ev);
    else if (!strcmp(type, "message_stop"))
        s->saw_stop = 1;
    else if (!strcmp(type, "error"))
        on_error(s, ev);
    /* ping and unknown events are ignored */
    json_decref(ev);
    return first;
}

static int by_index(const void *x, const void *y)
{
    const stream_block *a = x, *b = y;
    return a->index < b->index ? -1 : a->index > b->index;
}

json_t *bt__msg_stream_message(bt__msg_stream *s)
{
    if (!s || (!s->message && !s->n_blocks))
        return NULL;
    json_t *m = s->message ? json_copy(s->message) : json_object();
    if (!m)
        return NULL;
    if (!json_object_get(m, "role"))
        json_object_set_new(m, "role", json_string("assistant"));
    if (s->n_blocks > 1)
        qsort(s->blocks, s->n_blocks, sizeof *s->blocks, by_index);
    json_t *content = json_array();
    for (size_t i = 0; i < s->n_blocks; i++) {
        close_block(&s->blocks[i]);
        json_array_append(content, s->blocks[i].block);
    }
    json_object_set_new(m, "content", content);
    if (json_object_size(s->usage))
        json_object_set(m, "usage", s->usage);
    return m;
}

size_t bt__msg_stream_block_times(const bt__msg_stream *s, bt__block_time *out, size_t n)
{
    if (!s)
        return 0;
    size_t k = s->n_blocks < n ? s->n_blocks : n;
    for (size_t i = 0; i < k; i++) {
        out[i].start_ns = s->blocks[i].start_ns;
        out[i].stop_ns = s->blocks[i].stop_ns;
    }
    return k;
}

int bt__msg_stream_saw_stop(const bt__msg_stream *s)
{
    return s && s->saw_stop;
}
int bt__msg_stream_truncated(const bt__msg_stream *s)
{
    return s && s->truncated;
}
const char *bt__msg_stream_error_type(const bt__msg_stream *s)
{
    return s ? s->error_type : NULL;
}
const char *bt__msg_stream_error_message(const bt__msg_stream *s)
{
    return s ? s->error_message : NULL;
}
