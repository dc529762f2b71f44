/*
 * Spans: creation, attributes, events, links, status and end. A span costs one
 * allocation (the struct with its name inline) plus one per attribute; the estimate
 * approx_bytes follows every change so the processor can split batches by size.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tracer_impl.h"
#include "util/utf8.h"

/* Encoded size of a span without attributes (ids, times, kind, status, wrapper). */
#define SPAN_BASE_BYTES 260
#define EVENT_BASE_BYTES 80
#define LINK_BASE_BYTES 130

static int nonzero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 1;
    return 0;
}

static void add_bytes(bt_span *s, long delta)
{
    long v = (long)s->approx_bytes + delta;
    s->approx_bytes = v > 0 ? (size_t)v : 0;
}

/* The attribute count cap: a new key beyond it is refused (replacing is always fine). */
static int refuse_new_key(bt_span *s, const char *key)
{
    if (s->attrs.n < BT__MAX_SPAN_ATTRIBUTES || !key || bt__attrs_find(&s->attrs, key))
        return 0;
    s->dropped_attributes++;
    return 1;
}

static size_t attr_cap(const bt_span *s)
{
    return s->tracer->max_attribute_bytes;
}

/* A copy of a tracestate (at most BT_TRACESTATE_MAX - 1 bytes), or NULL when empty. */
static char *tracestate_dup(const char *ts)
{
    size_t n = strnlen(ts, BT_TRACESTATE_MAX - 1);
    if (n == 0)
        return NULL;
    return bt__string_sanitize(ts, n, 0, NULL, NULL);
}

bt_span *bt_span_start(bt_tracer *t, const char *name, const bt_span_options *opts)
{
    if (!t || t->disabled || !bt__tracer_live(t))
        return NULL;
    if (!name)
        name = "";
    size_t nlen = strlen(name);
    char *fixed = NULL;
    if (!bt__utf8_valid(name, nlen) || nlen > t->max_attribute_bytes) {
        fixed = bt__string_sanitize(name, nlen, t->max_attribute_bytes, &nlen, NULL);
        if (!fixed)
            return NULL;
        name = fixed;
    }
    bt_span *s = calloc(1, sizeof *s + nlen + 1);
    if (!s) {
        free(fixed);
        return NULL;
    }
    s->name = (char *)(s + 1);
    memcpy(s->name, name, nlen + 1);
    free(fixed);
    s->tracer = t;

    const bt_span_context *parent = opts ? opts->parent : NULL;
    if (parent && nonzero(parent->trace_id, 16) && nonzero(parent->span_id, 8)) {
        memcpy(s->trace_id, parent->trace_id, 16);
        memcpy(s->parent_span_id, parent->span_id, 8);
        s->has_parent = 1;
        s->trace_flags = parent->trace_flags;
        s->tracestate = tracestate_dup(parent->tracestate);
    } else {
        bt__new_trace_id(s->trace_id);
        s->trace_flags = 1; /* sampled: every span is recorded and exported */
    }
    if (opts && opts->trace_id && nonzero(opts->trace_id, 16))
        memcpy(s->trace_id, opts->trace_id, 16);
    if (opts && opts->span_id && nonzero(opts->span_id, 8))
        memcpy(s->span_id, opts->span_id, 8);
    else
        bt__new_span_id(s->span_id);

    s->kind = BT_SPAN_KIND_INTERNAL;
    if (opts && opts->kind > BT_SPAN_KIND_UNSPECIFIED && opts->kind <= BT_SPAN_KIND_CONSUMER)
        s->kind = opts->kind;
    s->start_unix_nano = opts && opts->start_unix_nano ? opts->start_unix_nano : bt_tracer_now(t);
    s->approx_bytes = SPAN_BASE_BYTES + nlen + (s->tracestate ? strlen(s->tracestate) : 0);
    atomic_fetch_add_explicit(&t->spans_started, 1, memory_order_relaxed);
    return s;
}

int bt_span_set_string_len(bt_span *s, const char *key, const char *value, size_t len)
{
    if (!s)
        return BT_EINVAL;
    if (refuse_new_key(s, key))
        return BT_ELIMIT;
    long d = 0;
    int rc = bt__attrs_set_string(&s->attrs, key, value, len, attr_cap(s), &d);
    add_bytes(s, d);
    return rc;
}

int bt__span_take_string(bt_span *s, const char *key, char *block, size_t offset, size_t len)
{
    if (!s || refuse_new_key(s, key)) {
        free(block);
        return s ? BT_ELIMIT : BT_EINVAL;
    }
    long d = 0;
    int rc = bt__attrs_take_string(&s->attrs, key, block, offset, len, attr_cap(s), &d);
    add_bytes(s, d);
    return rc;
}

int bt_span_set_string(bt_span *s, const char *key, const char *value)
{
    if (!value)
        return BT_EINVAL;
    return bt_span_set_string_len(s, key, value, strlen(value));
}

static int set_scalar(bt_span *s, const char *key, bt__attr_type type, int64_t i, double dv)
{
    if (!s)
        return BT_EINVAL;
    if (refuse_new_key(s, key))
        return BT_ELIMIT;
    long d = 0;
    int rc = bt__attrs_set_scalar(&s->attrs, key, type, i, dv, &d);
    add_bytes(s, d);
    return rc;
}

int bt_span_set_int(bt_span *s, const char *key, int64_t value)
{
    return set_scalar(s, key, BT__ATTR_INT, value, 0);
}

int bt_span_set_double(bt_span *s, const char *key, double value)
{
    return set_scalar(s, key, BT__ATTR_DOUBLE, 0, value);
}

int bt_span_set_bool(bt_span *s, const char *key, int value)
{
    return set_scalar(s, key, BT__ATTR_BOOL, value != 0, 0);
}

int bt_span_set_string_array(bt_span *s, const char *key, const char *const *values, size_t n)
{
    if (!s)
        return BT_EINVAL;
    if (refuse_new_key(s, key))
        return BT_ELIMIT;
    long d = 0;
    int rc = bt__attrs_set_string_array(&s->attrs, key, values, n, attr_cap(s), &d);
    add_bytes(s, d);
    return rc;
}

int bt_span_set_status(bt_span *s, bt_status_code code, const char *message)
{
    if (!s || code < BT_STATUS_UNSET || code > BT_STATUS_ERROR)
        return BT_EINVAL;
    char *msg = NULL;
    size_t len = 0;
    if (code == BT_STATUS_ERROR && message && *message) {
        msg = bt__string_sanitize(message, strlen(message), attr_cap(s), &len, NULL);
        if (!msg)
            return BT_ENOMEM;
    }
    if (s->status_message)
        add_bytes(s, -(long)strlen(s->status_message));
    free(s->status_message);
    s->status_message = msg;
    s->status_code = code;
    add_bytes(s, (long)len);
    return BT_OK;
}

/* Adds string attributes to an event's or link's list; returns the first error but
 * keeps going so one bad pair does not lose the rest. */
static int add_kvs(bt_span *s, bt__attrs *a, const bt_kv *kv, size_t n)
{
    int first = BT_OK;
    if (n > BT__MAX_ATTRIBUTES_PER_ITEM) {
        s->dropped_attributes += (uint32_t)(n - BT__MAX_ATTRIBUTES_PER_ITEM);
        n = BT__MAX_ATTRIBUTES_PER_ITEM;
        first = BT_ELIMIT;
    }
    for (size_t i = 0; i < n; i++) {
        long d = 0;
        int rc = bt__attrs_set_string(a, kv[i].key, kv[i].value, kv[i].value ? strlen(kv[i].value) : 0,
                                      attr_cap(s), &d);
        add_bytes(s, d);
        if (rc && first == BT_OK)
            first = rc;
    }
    return first;
}

int bt_span_add_event(bt_span *s, const char *name, uint64_t time_unix_nano, const bt_kv *attrs,
                      size_t n_attrs)
{
    if (!s || !name || (!attrs && n_attrs))
        return BT_EINVAL;
    if (s->n_events >= BT__MAX_SPAN_EVENTS) {
        s->dropped_events++;
        return BT_ELIMIT;
    }
    if (s->n_events == s->cap_events) {
        size_t cap = s->cap_events ? s->cap_events * 2 : 4;
        bt__event *p = realloc(s->events, cap * sizeof *p);
        if (!p)
            return BT_ENOMEM;
        s->events = p;
        s->cap_events = cap;
    }
    size_t nlen;
    char *nm = bt__string_sanitize(name, strlen(name), attr_cap(s), &nlen, NULL);
    if (!nm)
        return BT_ENOMEM;
    bt__event *e = &s->events[s->n_events++];
    memset(e, 0, sizeof *e);
    e->name = nm;
    e->time_unix_nano = time_unix_nano ? time_unix_nano : bt_tracer_now(s->tracer);
    add_bytes(s, (long)(EVENT_BASE_BYTES + nlen));
    return add_kvs(s, &e->attrs, attrs, n_attrs);
}

int bt_span_add_link(bt_span *s, const bt_span_context *linked, const bt_kv *attrs, size_t n_attrs)
{
    if (!s || !linked || (!attrs && n_attrs))
        return BT_EINVAL;
    if (!nonzero(linked->trace_id, 16) || !nonzero(linked->span_id, 8))
        return BT_EINVAL;
    if (s->n_links >= BT__MAX_SPAN_LINKS) {
        s->dropped_links++;
        return BT_ELIMIT;
    }
    if (s->n_links == s->cap_links) {
        size_t cap = s->cap_links ? s->cap_links * 2 : 2;
        bt__link *p = realloc(s->links, cap * sizeof *p);
        if (!p)
            return BT_ENOMEM;
        s->links = p;
        s->cap_links = cap;
    }
    bt__link *l = &s->links[s->n_links];
    memset(l, 0, sizeof *l);
    memcpy(l->trace_id, linked->trace_id, 16);
    memcpy(l->span_id, linked->span_id, 8);
    l->trace_flags = linked->trace_flags;
    if (linked->tracestate[0]) {
        l->tracestate = tracestate_dup(linked->tracestate);
        if (!l->tracestate)
            return BT_ENOMEM;
    }
    s->n_links++;
    add_bytes(s, (long)(LINK_BASE_BYTES + (l->tracestate ? strlen(l->tracestate) : 0)));
    return add_kvs(s, &l->attrs, attrs, n_attrs);
}

int bt_span_get_context(const bt_span *s, bt_span_context *out)
{
    if (!out)
        return BT_EINVAL;
    memset(out, 0, sizeof *out);
    if (!s)
        return BT_EINVAL;
    memcpy(out->trace_id, s->trace_id, 16);
    memcpy(out->span_id, s->span_id, 8);
    out->trace_flags = s->trace_flags;
    if (s->tracestate) {
        size_t n = strnlen(s->tracestate, BT_TRACESTATE_MAX - 1);
        memcpy(out->tracestate, s->tracestate, n);
        out->tracestate[n] = '\0';
    }
    return BT_OK;
}

void bt_span_end(bt_span *s, uint64_t end_unix_nano)
{
    if (!s)
        return;
    bt_tracer *t = s->tracer;
    uint64_t end = end_unix_nano ? end_unix_nano : bt_tracer_now(t);
    s->end_unix_nano = end < s->start_unix_nano ? s->start_unix_nano : end;
    /* Braintrust routes each span by this attribute; a span may name its own parent.
     * It is added even past the attribute count cap: without it the span is lost. */
    if (t->exp.parent && !bt__attrs_find(&s->attrs, "braintrust.parent")) {
        long d = 0;
        bt__attrs_set_string(&s->attrs, "braintrust.parent", t->exp.parent, strlen(t->exp.parent), 0, &d);
        add_bytes(s, d);
    }
    if (s->dropped_attributes || s->dropped_events || s->dropped_links)
        bt_tracer_log(
            t, BT_LOG_WARN,
            "braintrust: span \"%.80s\" exceeded its caps: %u attribute(s), %u event(s), %u link(s) dropped",
            s->name, s->dropped_attributes, s->dropped_events, s->dropped_links);
    if (!bt__tracer_live(t)) { /* started before a fork, ended in the child */
        bt__span_free(s);
        return;
    }
    bt__processor_enqueue(t, s);
}

void bt__span_free(bt_span *s)
{
    if (!s)
        return;
    bt__attrs_free(&s->attrs);
    bt__span_free_attachments(s);
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i].name);
        bt__attrs_free(&s->events[i].attrs);
    }
    free(s->events);
    for (size_t i = 0; i < s->n_links; i++) {
        free(s->links[i].tracestate);
        bt__attrs_free(&s->links[i].attrs);
    }
    free(s->links);
    free(s->tracestate);
    free(s->status_message);
    free(s); /* the name lives in the same allocation */
}

void bt_span_discard(bt_span *s)
{
    bt__span_free(s);
}
