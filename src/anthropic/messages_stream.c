/*
 * Messages SSE accumulation. Each event is validated and read in place; deltas are
 * appended to per-block buffers and folded into the block at content_block_stop (or
 * at the end, for a cut stream), so memory is the accumulated message plus the open
 * blocks' text. Text, thinking and signature are kept as the escaped JSON text they
 * arrived in (escaping is per character, so the pieces join into the escaped whole);
 * tool input is kept decoded, since it is JSON text to be read at the end.
 */
#include "anthropic/messages_stream.h"

#include <stdlib.h>
#include <string.h>

#include "decode/json_scan.h"
#include "decode/json_write.h"
#include "util/utf8.h"

/* More blocks than any real message has; a hostile stream stops growing here. */
#define BT__STREAM_MAX_BLOCKS 4096

typedef struct stream_block {
    int64_t index;
    bt__jobj block;                    /* the block's members; text fields folded in at close */
    bt__buf text, thinking, signature; /* escaped (as between the quotes of a JSON string) */
    bt__buf partial_json;              /* decoded: the tool input's JSON text */
    bt__buf citations;                 /* the citations list's elements, comma-separated */
    uint64_t start_ns, stop_ns;        /* arrival of content_block_start / _stop; 0 if unseen */
    unsigned has_text : 1, has_thinking : 1, has_signature : 1, has_json : 1, has_citations : 1, closed : 1;
} stream_block;

struct bt__msg_stream {
    size_t budget, used;
    bt__jobj message; /* message_start.message, then message_delta fields */
    int has_message;
    bt__jobj usage; /* merged usage */
    stream_block *blocks;
    size_t n_blocks, cap_blocks;
    int saw_stop, saw_content, truncated;
    char *error_type, *error_message;
    uint64_t (*clock)(void *); /* when the event being handled arrived */
    void *clock_ud;
    uint64_t first_content_ns;
    unsigned long malformed;    /* events whose data is not a JSON object */
    unsigned long invalid_utf8; /* events read with invalid bytes replaced */
    int general_only;           /* every event through the general path (for testing) */
};

/* The arrival time of the event being handled. */
static uint64_t now(const bt__msg_stream *s)
{
    return s->clock(s->clock_ud);
}

bt__msg_stream *bt__msg_stream_new(size_t budget, uint64_t (*clock)(void *), void *clock_ud)
{
    bt__msg_stream *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->budget = budget;
    s->clock = clock;
    s->clock_ud = clock_ud;
    bt__jobj_init(&s->message);
    bt__jobj_init(&s->usage);
    return s;
}

static void block_free_buffers(stream_block *b)
{
    bt__buf_free(&b->text);
    bt__buf_free(&b->thinking);
    bt__buf_free(&b->signature);
    bt__buf_free(&b->partial_json);
    bt__buf_free(&b->citations);
}

void bt__msg_stream_free(bt__msg_stream *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_blocks; i++) {
        block_free_buffers(&s->blocks[i]);
        bt__jobj_free(&s->blocks[i].block);
    }
    free(s->blocks);
    bt__jobj_free(&s->message);
    bt__jobj_free(&s->usage);
    free(s->error_type);
    free(s->error_message);
    free(s);
}

static size_t room(const bt__msg_stream *s)
{
    return s->used < s->budget ? s->budget - s->used : 0;
}

/* Appends a string value (escaped, as it came) within the budget, which counts decoded
 * bytes; the part beyond it is dropped on a UTF-8 boundary and marked. */
static void append_escaped_len(bt__msg_stream *s, bt__buf *b, bt__jv v, size_t len)
{
    if (len <= room(s)) {
        if (v.len > 2 && bt__buf_append(b, v.p + 1, v.len - 2) != 0)
            s->truncated = 1;
        s->used += len;
        return;
    }
    /* over the budget: decode, cut, write the kept part escaped again */
    bt__buf d, e;
    bt__buf_init(&d, 0);
    bt__buf_init(&e, 0);
    bt__jv_decode(v, &d);
    size_t keep = bt__utf8_cut(d.data ? d.data : "", room(s));
    bt__json_write_string(&e, d.data ? d.data : "", keep);
    if (keep && bt__buf_append(b, e.data + 1, e.len - 2) != 0)
        s->truncated = 1;
    s->used += keep;
    s->truncated = 1;
    bt__buf_free(&d);
    bt__buf_free(&e);
}

static void append_escaped(bt__msg_stream *s, bt__buf *b, bt__jv v)
{
    append_escaped_len(s, b, v, bt__jv_decoded_len(v));
}

/* Appends decoded bytes within the budget (tool input). */
static void append_decoded(bt__msg_stream *s, bt__buf *b, bt__jv v)
{
    size_t before = b->len;
    if (bt__jv_decode(v, b) != 0)
        s->truncated = 1;
    size_t len = b->len - before;
    if (len > room(s)) {
        size_t keep = bt__utf8_cut(b->data + before, room(s));
        b->len = before + keep;
        b->data[b->len] = '\0';
        len = keep;
        s->truncated = 1;
    }
    s->used += len;
}

static stream_block *find_block(bt__msg_stream *s, int64_t index)
{
    if (s->n_blocks && s->blocks[s->n_blocks - 1].index == index)
        return &s->blocks[s->n_blocks - 1];
    for (size_t i = 0; i < s->n_blocks; i++)
        if (s->blocks[i].index == index)
            return &s->blocks[i];
    return NULL;
}

/* Seeds a text buffer from the block's initial string field (e.g. "text":""). */
static void seed(bt__msg_stream *s, stream_block *b, const char *field, bt__buf *buf, int *flag)
{
    long i = bt__jobj_find(&b->block, field);
    if (i < 0)
        return;
    size_t len;
    const char *v = bt__jobj_value(&b->block, (size_t)i, &len);
    bt__jv jv = bt__jv_from(v, len);
    if (jv.type != BT__JV_STRING)
        return;
    append_escaped(s, buf, jv);
    *flag = 1;
}

/* Adds a block with the members of `members` (an object view, or absent). */
static stream_block *add_block(bt__msg_stream *s, int64_t index, bt__jv members)
{
    if (s->n_blocks >= BT__STREAM_MAX_BLOCKS) {
        s->truncated = 1;
        return NULL;
    }
    if (s->n_blocks == s->cap_blocks) {
        size_t cap = s->cap_blocks ? s->cap_blocks * 2 : 4;
        stream_block *nb = realloc(s->blocks, cap * sizeof *nb);
        if (!nb) {
            s->truncated = 1;
            return NULL;
        }
        s->blocks = nb;
        s->cap_blocks = cap;
    }
    stream_block *b = &s->blocks[s->n_blocks++];
    memset(b, 0, sizeof *b);
    b->index = index;
    b->start_ns = now(s);
    bt__jobj_init(&b->block);
    bt__buf_init(&b->text, 0);
    bt__buf_init(&b->thinking, 0);
    bt__buf_init(&b->signature, 0);
    bt__buf_init(&b->partial_json, 0);
    bt__buf_init(&b->citations, 0);
    bt__jv_iter it = bt__jv_iterate(members);
    bt__jv k, v;
    while (members.type == BT__JV_OBJECT && bt__jv_next_member(&it, &k, &v))
        bt__jobj_set_raw(&b->block, k.p + 1, k.len - 2, v.p, v.len);
    int f = 0;
    seed(s, b, "text", &b->text, &f);
    b->has_text = (unsigned)f;
    f = 0;
    seed(s, b, "thinking", &b->thinking, &f);
    b->has_thinking = (unsigned)f;
    f = 0;
    seed(s, b, "signature", &b->signature, &f);
    b->has_signature = (unsigned)f;
    return b;
}

static void set_text(bt__jobj *block, const char *key, const bt__buf *b)
{
    bt__buf v;
    bt__buf_init(&v, 0);
    bt__buf_append(&v, "\"", 1);
    bt__buf_append(&v, b->data ? b->data : "", b->len);
    bt__buf_append(&v, "\"", 1);
    bt__jobj_set(block, key, v.data, v.len);
    bt__buf_free(&v);
}

/* Folds the buffers into the block and releases them. */
static void close_block(stream_block *b)
{
    if (b->closed)
        return;
    b->closed = 1;
    if (b->has_citations) {
        bt__buf list;
        bt__buf_init(&list, 0);
        bt__buf_append(&list, "[", 1);
        bt__buf_append(&list, b->citations.data ? b->citations.data : "", b->citations.len);
        bt__buf_append(&list, "]", 1);
        bt__jobj_set(&b->block, "citations", list.data, list.len);
        bt__buf_free(&list);
    }
    if (b->has_text)
        set_text(&b->block, "text", &b->text);
    if (b->has_thinking)
        set_text(&b->block, "thinking", &b->thinking);
    if (b->has_signature)
        set_text(&b->block, "signature", &b->signature);
    if (b->has_json) {
        if (b->partial_json.len == 0) {
            bt__jobj_set(&b->block, "input", "{}", 2); /* a tool called without arguments */
        } else {
            bt__json_doc d;
            if (bt__json_parse(&d, b->partial_json.data, b->partial_json.len, BT__JSON_ANY) == 0) {
                bt__jobj_set(&b->block, "input", d.text, d.len);
            } else {
                /* cut by max_tokens or by a cap: keep what was generated, as a string */
                bt__buf v;
                bt__buf_init(&v, 0);
                bt__json_write_string(&v, b->partial_json.data, b->partial_json.len);
                bt__jobj_set(&b->block, "input", v.data, v.len);
                bt__buf_free(&v);
            }
            bt__json_doc_free(&d);
        }
    }
    block_free_buffers(b);
}

/* A string value equal to `name` the way strcmp saw jansson's strings: up to a NUL. */
#define string_is(v, name) string_is_n(v, name, sizeof name - 1)
static int string_is_n(bt__jv v, const char *name, size_t n)
{
    if (v.type != BT__JV_STRING)
        return 0;
    /* canonical escaping is unique and only shortens: the same length means the same
     * bytes; a longer text can still decode to `name` (an escape, a NUL cutting it) */
    if (v.len == n + 2)
        return memcmp(v.p + 1, name, n) == 0;
    if (v.len < n + 2 || !memchr(v.p, '\\', v.len))
        return 0;
    char tmp[64];
    return bt__jv_copy(v, tmp, sizeof tmp) >= 0 && strcmp(tmp, name) == 0;
}

/* The members of an event, read in one pass over its root (the scanner indexed it). */
typedef struct event_fields {
    bt__jv type, index, delta, content_block, message, usage, error;
    const bt__json_doc *doc;
    long delta_member; /* the delta's index among the root members, or -1 */
} event_fields;

static int key_is(bt__jv k, const char *name, size_t n)
{
    return k.len == n + 2 && memcmp(k.p + 1, name, n) == 0;
}
#define KEY_IS(k, name) key_is(k, name, sizeof name - 1)

static void read_event(const bt__json_doc *ev, event_fields *f)
{
    memset(f, 0, sizeof *f);
    f->doc = ev;
    f->delta_member = -1;
    const bt__jv_members *m = &ev->members;
    if (!m->complete) { /* a huge object: look each up */
        f->type = bt__json_get(ev, "type");
        f->index = bt__json_get(ev, "index");
        f->delta = bt__json_get(ev, "delta");
        f->content_block = bt__json_get(ev, "content_block");
        f->message = bt__json_get(ev, "message");
        f->usage = bt__json_get(ev, "usage");
        f->error = bt__json_get(ev, "error");
        return;
    }
    for (size_t i = 0; i < m->n; i++) {
        bt__jv k = m->keys[i], v = m->values[i];
        switch (k.len - 2) {
        case 4:
            if (KEY_IS(k, "type"))
                f->type = v;
            break;
        case 5:
            if (KEY_IS(k, "index"))
                f->index = v;
            else if (KEY_IS(k, "delta")) {
                f->delta = v;
                f->delta_member = (long)i;
            } else if (KEY_IS(k, "usage"))
                f->usage = v;
            else if (KEY_IS(k, "error"))
                f->error = v;
            break;
        case 7:
            if (KEY_IS(k, "message"))
                f->message = v;
            break;
        case 13:
            if (KEY_IS(k, "content_block"))
                f->content_block = v;
            break;
        }
    }
}

static void on_block_start(bt__msg_stream *s, const event_fields *ev, size_t data_len)
{
    int64_t index;
    bt__jv block = ev->content_block;
    if (!bt__jv_int64(ev->index, &index) || block.type != BT__JV_OBJECT || find_block(s, index))
        return;
    if (data_len > room(s)) {
        /* a result block larger than what is left: keep its type, mark the cut */
        s->truncated = 1;
        stream_block *b = add_block(s, index, bt__jv_from(NULL, 0));
        bt__jv type = bt__jv_get(block, "type");
        if (b && type.type != BT__JV_NONE)
            bt__jobj_set(&b->block, "type", type.p, type.len);
        return;
    }
    s->used += data_len;
    add_block(s, index, block);
}

static const char *delta_block_type(bt__jv dtype)
{
    if (string_is(dtype, "input_json_delta"))
        return "\"tool_use\"";
    if (string_is(dtype, "thinking_delta") || string_is(dtype, "signature_delta"))
        return "\"thinking\"";
    return "\"text\"";
}

/* The members of a delta, in one pass. */
typedef struct delta_fields {
    bt__jv type, text, partial_json, thinking, signature, citation;
} delta_fields;

static void read_delta(const event_fields *ev, delta_fields *f)
{
    memset(f, 0, sizeof *f);
    if (ev->delta.type != BT__JV_OBJECT)
        return;
    /* the scanner kept the delta's members: no walk over it again */
    size_t cursor = 0;
    bt__jv k, v;
    bt__jv_iter it = bt__jv_iterate(ev->delta);
    while (ev->delta_member >= 0 ? bt__json_next_sub(ev->doc, (size_t)ev->delta_member, &cursor, &k, &v)
                                 : bt__jv_next_member(&it, &k, &v)) {
        if (KEY_IS(k, "type"))
            f->type = v;
        else if (KEY_IS(k, "text"))
            f->text = v;
        else if (KEY_IS(k, "partial_json"))
            f->partial_json = v;
        else if (KEY_IS(k, "thinking"))
            f->thinking = v;
        else if (KEY_IS(k, "signature"))
            f->signature = v;
        else if (KEY_IS(k, "citation"))
            f->citation = v;
    }
}

static void on_block_delta(bt__msg_stream *s, const event_fields *ev)
{
    int64_t index;
    delta_fields d;
    read_delta(ev, &d);
    bt__jv dtype = d.type;
    if (!bt__jv_int64(ev->index, &index) || dtype.type != BT__JV_STRING)
        return;
    stream_block *b = find_block(s, index);
    if (!b) {
        /* a delta without its block start: keep the content under an inferred type */
        if (!(b = add_block(s, index, bt__jv_from(NULL, 0))))
            return;
        const char *t = delta_block_type(dtype);
        bt__jobj_set(&b->block, "type", t, strlen(t));
    }
    if (b->closed)
        return;

    int content = 0;
    bt__jv v;
    if (string_is(dtype, "text_delta") && (v = d.text).type == BT__JV_STRING) {
        append_escaped(s, &b->text, v);
        b->has_text = 1;
        content = v.len > 2;
    } else if (string_is(dtype, "input_json_delta") && (v = d.partial_json).type == BT__JV_STRING) {
        append_decoded(s, &b->partial_json, v);
        b->has_json = 1;
        content = v.len > 2;
    } else if (string_is(dtype, "thinking_delta") && (v = d.thinking).type == BT__JV_STRING) {
        append_escaped(s, &b->thinking, v);
        b->has_thinking = 1;
        content = v.len > 2;
    } else if (string_is(dtype, "signature_delta") && (v = d.signature).type == BT__JV_STRING) {
        append_escaped(s, &b->signature, v);
        b->has_signature = 1;
    } else if (string_is(dtype, "citations_delta") && (v = d.citation).type == BT__JV_OBJECT) {
        if (!b->has_citations) {
            /* the list the block started with, if any, is continued; a new key takes
             * its place in the block now, as the first delta comes */
            long i = bt__jobj_find(&b->block, "citations");
            size_t len = 0;
            const char *cur = i >= 0 ? bt__jobj_value(&b->block, (size_t)i, &len) : NULL;
            bt__jv list = bt__jv_from(cur, len);
            if (list.type == BT__JV_ARRAY && list.len > 2)
                bt__buf_append(&b->citations, list.p + 1, list.len - 2);
            if (list.type != BT__JV_ARRAY)
                bt__jobj_set(&b->block, "citations", "[]", 2);
            b->has_citations = 1;
        }
        if (b->citations.len)
            bt__buf_append(&b->citations, ",", 1);
        bt__buf_append(&b->citations, v.p, v.len);
        content = 1;
    }
    /* other delta types (compaction_delta, future ones) carry nothing we keep */
    if (content && !s->saw_content) {
        s->saw_content = 1;
        s->first_content_ns = now(s);
    }
    return;
}

static void on_message_delta(bt__msg_stream *s, const event_fields *ev)
{
    bt__jv_iter it = bt__jv_iterate(ev->delta);
    bt__jv k, v;
    if (ev->delta.type == BT__JV_OBJECT) {
        s->has_message = 1;
        /* stop_reason, stop_sequence, stop_details, container */
        while (bt__jv_next_member(&it, &k, &v))
            bt__jobj_set_raw(&s->message, k.p + 1, k.len - 2, v.p, v.len);
    }
    /* usage values are cumulative: each reported field replaces the earlier one */
    it = bt__jv_iterate(ev->usage);
    while (bt__jv_next_member(&it, &k, &v))
        if (v.type != BT__JV_NULL)
            bt__jobj_set_raw(&s->usage, k.p + 1, k.len - 2, v.p, v.len);
}

static void on_message_start(bt__msg_stream *s, const event_fields *ev)
{
    bt__jv msg = ev->message;
    if (msg.type != BT__JV_OBJECT || (s->has_message && bt__jobj_find(&s->message, "id") >= 0))
        return;
    bt__jobj m;
    bt__jobj_init(&m);
    bt__jv_iter it = bt__jv_iterate(msg);
    bt__jv k, v;
    while (bt__jv_next_member(&it, &k, &v)) {
        if (k.len == 9 && !memcmp(k.p, "\"content\"", 9))
            continue;
        if (k.len == 7 && !memcmp(k.p, "\"usage\"", 7)) {
            bt__jv_iter ui = bt__jv_iterate(v);
            bt__jv uk, uv;
            while (v.type == BT__JV_OBJECT && bt__jv_next_member(&ui, &uk, &uv))
                bt__jobj_set_raw(&s->usage, uk.p + 1, uk.len - 2, uv.p, uv.len);
            continue;
        }
        bt__jobj_set_raw(&m, k.p + 1, k.len - 2, v.p, v.len);
    }
    if (s->has_message) /* a message_delta came first (out of order): keep its fields */
        bt__jobj_update(&m, &s->message);
    bt__jobj_free(&s->message);
    s->message = m;
    s->has_message = 1;
}

static void on_error(bt__msg_stream *s, const event_fields *ev)
{
    bt__jv err = ev->error;
    bt__jv type = bt__jv_get(err, "type"), msg = bt__jv_get(err, "message");
    free(s->error_type);
    free(s->error_message);
    s->error_type = type.type == BT__JV_STRING ? bt__jv_strdup(type) : NULL;
    if (!s->error_type || !s->error_type[0]) {
        free(s->error_type);
        s->error_type = strdup("error");
    }
    s->error_message = msg.type == BT__JV_STRING ? bt__jv_strdup(msg) : NULL;
}

/* `lit` at p (before end): the position after it, or NULL. */
#define EXPECT(p, end, lit) expect(p, end, lit, sizeof lit - 1)
static const char *expect(const char *p, const char *end, const char *lit, size_t n)
{
    return p && (size_t)(end - p) >= n && memcmp(p, lit, n) == 0 ? p + n : NULL;
}

/* Most of a stream is text and tool-input deltas, sent in one exact form:
 *   {"type":"content_block_delta","index":N,"delta":{"type":"text_delta","text":"..."}}
 *   {"type":"content_block_delta","index":N,"delta":{"type":"input_json_delta","partial_json":"..."}}
 * and pings. Such an event is checked and read in one pass over its bytes: the fixed
 * parts compared as they are, the index as a plain integer, the string validated as the
 * scanner would (bt__json_string_canonical). Returns 1 when the event was handled
 * exactly as the general path would have; 0 for anything else (another shape, spacing
 * or escaping to rewrite, a block not yet started), which the general path then reads.
 * fuzz/fuzz_stream_events.c checks both paths give the same message. */
static int fast_event(bt__msg_stream *s, const char *data, size_t len)
{
    const char *p = data, *end = data + len;
    if ((len == 15 && !memcmp(data, "{\"type\":\"ping\"}", 15)) ||
        (len == 16 && !memcmp(data, "{\"type\": \"ping\"}", 16)))
        return 1; /* valid, an object, ignored */
    if (!(p = EXPECT(p, end, "{\"type\":\"content_block_delta\",\"index\":")))
        return 0;
    /* a non-negative integer without leading zeros, short enough to fit int64 */
    int64_t index = 0;
    const char *digits = p;
    while (p < end && *p >= '0' && *p <= '9' && p - digits < 18)
        index = index * 10 + (*p++ - '0');
    if (p == digits || (*digits == '0' && p - digits > 1))
        return 0;
    if (!(p = EXPECT(p, end, ",\"delta\":{\"type\":\"")))
        return 0;
    int json;
    const char *q;
    if ((q = EXPECT(p, end, "text_delta\",\"text\":")))
        json = 0;
    else if ((q = EXPECT(p, end, "input_json_delta\",\"partial_json\":")))
        json = 1;
    else
        return 0;
    size_t decoded_len;
    const char *after = bt__json_string_canonical(q, end, BT__JSON_ALLOW_NUL, &decoded_len);
    if (!after || end - after != 2 || after[0] != '}' || after[1] != '}')
        return 0;
    stream_block *b = find_block(s, index);
    if (!b)
        return 0; /* the general path infers the block */
    if (b->closed)
        return 1;
    bt__jv v = {q, (size_t)(after - q), BT__JV_STRING};
    if (json) {
        append_decoded(s, &b->partial_json, v);
        b->has_json = 1;
    } else {
        append_escaped_len(s, &b->text, v, decoded_len);
        b->has_text = 1;
    }
    if (v.len > 2 && !s->saw_content) {
        s->saw_content = 1;
        s->first_content_ns = now(s);
    }
    return 1;
}

void bt__msg_stream_event(bt__msg_stream *s, const char *event, const char *data, size_t len,
                          int data_truncated)
{
    if (!s)
        return;
    if (data_truncated) {
        s->truncated = 1; /* the event's JSON is incomplete: nothing to parse */
        return;
    }
    if (!s->general_only && fast_event(s, data, len))
        return;
    bt__json_doc ev;
    if (bt__json_parse(&ev, data, len, BT__JSON_ANY | BT__JSON_ALLOW_NUL | BT__JSON_LENIENT) != 0 ||
        ev.root.type != BT__JV_OBJECT) {
        /* the client got it, the span cannot show it: counted, so the span says so */
        s->malformed++;
        bt__json_doc_free(&ev);
        return;
    }
    if (ev.repaired)
        s->invalid_utf8++;
    event_fields f;
    read_event(&ev, &f);
    bt__jv type = f.type;
    const char *name = type.type == BT__JV_STRING ? NULL : (event ? event : "");
#define IS(t) (name ? strcmp(name, t) == 0 : string_is_n(type, t, sizeof t - 1))
    if (IS("content_block_delta"))
        on_block_delta(s, &f);
    else if (IS("content_block_start"))
        on_block_start(s, &f, len);
    else if (IS("content_block_stop")) {
        int64_t index;
        stream_block *b = bt__jv_int64(f.index, &index) ? find_block(s, index) : NULL;
        if (b && !b->closed) {
            b->stop_ns = now(s);
            close_block(b);
        }
    } else if (IS("message_start"))
        on_message_start(s, &f);
    else if (IS("message_delta"))
        on_message_delta(s, &f);
    else if (IS("message_stop"))
        s->saw_stop = 1;
    else if (IS("error"))
        on_error(s, &f);
#undef IS
    /* ping and unknown events are ignored */
    bt__json_doc_free(&ev);
}

void bt__msg_stream_set_general_only(bt__msg_stream *s, int on)
{
    if (s)
        s->general_only = on;
}

unsigned long bt__msg_stream_malformed(const bt__msg_stream *s)
{
    return s ? s->malformed : 0;
}

unsigned long bt__msg_stream_invalid_utf8(const bt__msg_stream *s)
{
    return s ? s->invalid_utf8 : 0;
}

uint64_t bt__msg_stream_first_content_ns(const bt__msg_stream *s)
{
    return s ? s->first_content_ns : 0;
}

static int by_index(const void *x, const void *y)
{
    const stream_block *a = x, *b = y;
    return a->index < b->index ? -1 : a->index > b->index;
}

int bt__msg_stream_message(bt__msg_stream *s, bt__buf *out)
{
    if (!s || (!s->has_message && !s->n_blocks))
        return 0;
    bt__jobj m;
    bt__jobj_init(&m);
    bt__jobj_update(&m, &s->message);
    if (bt__jobj_find(&m, "role") < 0)
        bt__jobj_set(&m, "role", "\"assistant\"", 11);
    if (s->n_blocks > 1)
        qsort(s->blocks, s->n_blocks, sizeof *s->blocks, by_index);
    bt__buf content;
    bt__buf_init(&content, 0);
    bt__buf_append(&content, "[", 1);
    for (size_t i = 0; i < s->n_blocks; i++) {
        close_block(&s->blocks[i]);
        if (i)
            bt__buf_append(&content, ",", 1);
        bt__jobj_write(&s->blocks[i].block, &content);
    }
    bt__buf_append(&content, "]", 1);
    bt__jobj_set(&m, "content", content.data, content.len);
    bt__buf_free(&content);
    if (s->usage.n) {
        bt__buf u;
        bt__buf_init(&u, 0);
        bt__jobj_write(&s->usage, &u);
        bt__jobj_set(&m, "usage", u.data, u.len);
        bt__buf_free(&u);
    }
    bt__jobj_write(&m, out);
    bt__jobj_free(&m);
    return 1;
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
