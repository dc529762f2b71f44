/*
 * Streaming splitter for batch create requests (see batch_split.h). The scanner tracks
 * only what it needs: string/escape state, the container kind at each depth, whether
 * the next string in an object is a key, and two keys of interest ("requests" at the
 * top object's first level, "custom_id" at an element's first level). Bytes of the
 * current element are copied in runs, not one by one.
 */
#include "anthropic/batch_split.h"

#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/buf.h"

#define SPLIT_MAX_DEPTH 512
#define KEY_MAX 16

enum { PENDING_NONE = 0, PENDING_CUSTOM_ID, PENDING_REQUESTS };

struct bt__batch_split {
    bt__batch_split_fn fn;
    void *ud;
    int failed;
    int depth;
    unsigned char is_object[SPLIT_MAX_DEPTH + 1];
    int expect_key;
    int in_string, escape;
    int string_is_key;
    int string_depth;
    int string_is_custom_id;
    /* key being read (only at depths of interest); overflow marks "not interesting" */
    char key[KEY_MAX + 1];
    size_t key_len;
    int key_overflow;
    int pending;   /* what the value after the last key of interest is */
    int elem_base; /* element values start at this depth */
    int capturing;
    bt__buf elem;
    char custom_id[BT__BATCH_CUSTOM_ID_MAX + 1];
    size_t custom_id_len;
    int custom_id_bad;
};

bt__batch_split *bt__batch_split_new(size_t max_elem, bt__batch_split_fn fn, void *ud)
{
    bt__batch_split *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->fn = fn;
    s->ud = ud;
    bt__buf_init(&s->elem, max_elem);
    return s;
}

void bt__batch_split_free(bt__batch_split *s)
{
    if (!s)
        return;
    bt__buf_free(&s->elem);
    free(s);
}

static void start_element(bt__batch_split *s)
{
    s->capturing = 1;
    bt__buf_reset(&s->elem);
    s->custom_id[0] = '\0';
    s->custom_id_len = 0;
    s->custom_id_bad = 0;
}

static int emit_element(bt__batch_split *s, int cut)
{
    s->capturing = 0;
    const char *id = (s->custom_id_bad || s->custom_id_len == 0) ? "" : s->custom_id;
    return s->fn(s->ud, s->elem.data ? s->elem.data : "", s->elem.len, s->elem.truncated || cut, id);
}

/* A string character (already unescaped state handled by the caller). */
static void string_byte(bt__batch_split *s, char c)
{
    if (s->string_is_key) {
        if (s->key_len < KEY_MAX)
            s->key[s->key_len++] = c;
        else
            s->key_overflow = 1;
    } else if (s->string_is_custom_id) {
        if (s->custom_id_len < BT__BATCH_CUSTOM_ID_MAX)
            s->custom_id[s->custom_id_len++] = c;
        else
            s->custom_id_bad = 1;
    }
}

static void end_string(bt__batch_split *s)
{
    s->in_string = 0;
    if (s->string_is_key) {
        s->key[s->key_len] = '\0';
        s->pending = PENDING_NONE;
        if (!s->key_overflow) {
            if (s->capturing && s->string_depth == s->elem_base + 1 && strcmp(s->key, "custom_id") == 0)
                s->pending = PENDING_CUSTOM_ID;
            else if (s->capturing && s->elem_base == 0 && s->string_depth == 1 &&
                     strcmp(s->key, "requests") == 0)
                s->pending = PENDING_REQUESTS;
        }
    } else if (s->string_is_custom_id) {
        s->custom_id[s->custom_id_len] = '\0';
    }
    s->string_is_key = 0;
    s->string_is_custom_id = 0;
}

/* Called at the first byte of a value (not inside a string). */
static void value_start(bt__batch_split *s, char c)
{
    int pending = s->pending;
    s->pending = PENDING_NONE;
    if (pending == PENDING_CUSTOM_ID && c == '"') {
        s->string_is_custom_id = 1;
        s->custom_id_len = 0;
    } else if (pending == PENDING_CUSTOM_ID) {
        s->custom_id_bad = 1; /* a non-string custom_id */
    } else if (pending == PENDING_REQUESTS && c == '[') {
        /* A create body: the record being captured is the envelope, not a request. */
        s->capturing = 0;
        bt__buf_reset(&s->elem);
        s->elem_base = 2;
    }
}

int bt__batch_split_feed(bt__batch_split *s, const char *data, size_t len)
{
    if (s->failed)
        return BT_EPARSE;
    size_t run = 0; /* start of the not-yet-copied part of the current element */
    for (size_t i = 0; i < len; i++) {
        char c = data[i];
        if (s->in_string) {
            if (s->escape) {
                s->escape = 0;
                /* escapes never occur in ids we match: make the key/id unmatched */
                if (s->string_is_key)
                    s->key_overflow = 1;
                if (s->string_is_custom_id)
                    s->custom_id_bad = 1;
            } else if (c == '\\') {
                s->escape = 1;
            } else if (c == '"') {
                end_string(s);
            } else {
                string_byte(s, c);
            }
            continue;
        }
        switch (c) {
        case ' ':
        case '\t':
        case '\r':
        case '\n':
        case ':':
            break;
        case ',':
            if (s->depth == 0)
                break;
            if (s->is_object[s->depth])
                s->expect_key = 1;
            break;
        case '"':
            if (s->depth == 0) {
                s->failed = 1;
                return BT_EPARSE;
            }
            s->in_string = 1;
            s->string_depth = s->depth;
            s->string_is_key = s->is_object[s->depth] && s->expect_key;
            s->expect_key = 0;
            s->key_len = 0;
            s->key_overflow = 0;
            if (!s->string_is_key)
                value_start(s, c);
            break;
        case '{':
        case '[':
            if (s->depth >= SPLIT_MAX_DEPTH) {
                s->failed = 1;
                return BT_EPARSE;
            }
            value_start(s, c);
            if (c == '{' && !s->capturing && s->depth == s->elem_base) {
                start_element(s);
                run = i;
            }
            if (c == '[' && s->depth == 0)
                s->elem_base = 1; /* a bare array of requests */
            s->depth++;
            s->is_object[s->depth] = (c == '{');
            s->expect_key = (c == '{');
            break;
        case '}':
        case ']':
            if (s->depth == 0 || s->is_object[s->depth] != (c == '}')) {
                s->failed = 1;
                return BT_EPARSE;
            }
            s->depth--;
            s->expect_key = 0;
            s->pending = PENDING_NONE;
            if (s->capturing && s->depth == s->elem_base) {
                bt__buf_append(&s->elem, data + run, i + 1 - run);
                int rc = emit_element(s, 0);
                if (rc) {
                    s->failed = 1;
                    return rc;
                }
            }
            if (s->depth == 0)
                s->elem_base = 0;
            break;
        default:
            /* numbers and literals: only allowed inside a container */
            if (s->depth == 0) {
                s->failed = 1;
                return BT_EPARSE;
            }
            if (s->pending != PENDING_NONE)
                value_start(s, c);
            break;
        }
    }
    if (s->capturing && !s->elem.truncated)
        bt__buf_append(&s->elem, data + run, len - run);
    return BT_OK;
}

int bt__batch_split_finish(bt__batch_split *s)
{
    if (s->failed)
        return BT_EPARSE;
    if (s->depth == 0 && !s->in_string)
        return BT_OK;
    s->failed = 1;
    if (s->capturing && s->custom_id_len > 0 && !s->custom_id_bad)
        emit_element(s, 1); /* keep the id of a request cut short */
    return BT_EPARSE;
}
