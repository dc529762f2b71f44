/*
 * Hand-built finished spans for the export tests: the encoders and sinks read the
 * span data model directly, so these tests need no tracer. Everything a fixture span
 * owns is malloc'd here and released by fx_span_free().
 */
#ifndef BT_TEST_SPAN_FIXTURE_H
#define BT_TEST_SPAN_FIXTURE_H

#include <stdlib.h>
#include <string.h>

#include "core/span_internal.h"

static inline char *fx_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static inline char *fx_strdup(const char *s)
{
    return s ? fx_strndup(s, strlen(s)) : NULL;
}

static inline bt__attr *fx_attr_push(bt__attrs *a, const char *key)
{
    if (a->n == a->cap) {
        a->cap = a->cap ? a->cap * 2 : 4;
        a->items = realloc(a->items, a->cap * sizeof *a->items);
    }
    bt__attr *at = &a->items[a->n++];
    memset(at, 0, sizeof *at);
    at->key = fx_strdup(key);
    return at;
}

static inline void fx_attr_string_len(bt__attrs *a, const char *key, const char *v, size_t len)
{
    bt__attr *at = fx_attr_push(a, key);
    at->type = BT__ATTR_STRING;
    at->v.s.ptr = fx_strndup(v, len);
    at->v.s.len = len;
}

static inline void fx_attr_string(bt__attrs *a, const char *key, const char *v)
{
    fx_attr_string_len(a, key, v, strlen(v));
}

static inline void fx_attr_bool(bt__attrs *a, const char *key, int v)
{
    bt__attr *at = fx_attr_push(a, key);
    at->type = BT__ATTR_BOOL;
    at->v.b = v;
}

static inline void fx_attr_int(bt__attrs *a, const char *key, int64_t v)
{
    bt__attr *at = fx_attr_push(a, key);
    at->type = BT__ATTR_INT;
    at->v.i = v;
}

static inline void fx_attr_double(bt__attrs *a, const char *key, double v)
{
    bt__attr *at = fx_attr_push(a, key);
    at->type = BT__ATTR_DOUBLE;
    at->v.d = v;
}

static inline void fx_attr_array(bt__attrs *a, const char *key, const char *const *items, size_t n)
{
    bt__attr *at = fx_attr_push(a, key);
    at->type = BT__ATTR_STRING_ARRAY;
    at->v.arr.items = calloc(n ? n : 1, sizeof(char *));
    at->v.arr.lens = calloc(n ? n : 1, sizeof(size_t));
    at->v.arr.n = n;
    for (size_t i = 0; i < n; i++) {
        at->v.arr.items[i] = fx_strdup(items[i]);
        at->v.arr.lens[i] = strlen(items[i]);
    }
}

static inline void fx_attrs_free(bt__attrs *a)
{
    for (size_t i = 0; i < a->n; i++) {
        bt__attr *at = &a->items[i];
        free(at->key);
        if (at->type == BT__ATTR_STRING)
            free(at->v.s.ptr);
        if (at->type == BT__ATTR_STRING_ARRAY) {
            for (size_t j = 0; j < at->v.arr.n; j++)
                free(at->v.arr.items[j]);
            free(at->v.arr.items);
            free(at->v.arr.lens);
        }
    }
    free(a->items);
    memset(a, 0, sizeof *a);
}

/* A span with ids 01 02 .. 10 / a1 .. a8 and the given name. */
static inline bt_span *fx_span_new(const char *name)
{
    bt_span *s = calloc(1, sizeof *s);
    for (int i = 0; i < 16; i++)
        s->trace_id[i] = (uint8_t)(i + 1);
    for (int i = 0; i < 8; i++)
        s->span_id[i] = (uint8_t)(0xa1 + i);
    s->name = fx_strdup(name);
    return s;
}

static inline bt__event *fx_event_add(bt_span *s, const char *name, uint64_t t)
{
    s->events = realloc(s->events, (s->n_events + 1) * sizeof *s->events);
    bt__event *e = &s->events[s->n_events++];
    memset(e, 0, sizeof *e);
    e->name = fx_strdup(name);
    e->time_unix_nano = t;
    return e;
}

static inline bt__link *fx_link_add(bt_span *s, const uint8_t tid[16], const uint8_t sid[8])
{
    s->links = realloc(s->links, (s->n_links + 1) * sizeof *s->links);
    bt__link *l = &s->links[s->n_links++];
    memset(l, 0, sizeof *l);
    memcpy(l->trace_id, tid, 16);
    memcpy(l->span_id, sid, 8);
    return l;
}

static inline void fx_span_free(bt_span *s)
{
    if (!s)
        return;
    fx_attrs_free(&s->attrs);
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i].name);
        fx_attrs_free(&s->events[i].attrs);
    }
    free(s->events);
    for (size_t i = 0; i < s->n_links; i++) {
        free(s->links[i].tracestate);
        fx_attrs_free(&s->links[i].attrs);
    }
    free(s->links);
    free(s->name);
    free(s->tracestate);
    free(s->status_message);
    free(s);
}

/* A resource with service.name and the given scope. */
static inline void fx_resource_init(bt__resource *r, const char *service, const char *scope,
                                    const char *version)
{
    memset(r, 0, sizeof *r);
    if (service)
        fx_attr_string(&r->attrs, "service.name", service);
    r->scope_name = scope;
    r->scope_version = version;
}

#endif
