/*
 * Stored span lines back into spans, so that spans written while an export target was
 * unreachable (or before a restart) can be shipped by the ordinary sinks. The decoder
 * reads exactly what otlp_json.c writes (the OTLP JSON mapping); everything it builds
 * is allocated here and released by bt__stored_span_free().
 */
#include <jansson.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/version.h"
#include "export/store.h"
#include "util/text.h"

static char *dup_n(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Reads a hex id of exactly n bytes; an empty string leaves `out` zero and returns 0. */
static int parse_hex(json_t *v, uint8_t *out, size_t n, int *present)
{
    memset(out, 0, n);
    *present = 0;
    const char *s = json_string_value(v);
    if (!s)
        return v ? -1 : 0;
    size_t len = strlen(s);
    if (len == 0)
        return 0;
    if (len != 2 * n)
        return -1;
    if (bt__hex_decode(s, n, out, 0) != 0)
        return -1;
    *present = 1;
    return 0;
}

/* A 64-bit integer written as a decimal string (or, leniently, a JSON number). */
static int parse_u64(json_t *v, uint64_t *out)
{
    if (json_is_integer(v)) {
        *out = (uint64_t)json_integer_value(v);
        return 0;
    }
    const char *s = json_string_value(v);
    if (!s || !*s)
        return -1;
    char *end = NULL;
    *out = strtoull(s, &end, 10);
    return *end ? -1 : 0;
}

static bt__attr *attr_push(bt__attrs *a, const char *key)
{
    if (a->n == a->cap) {
        size_t ncap = a->cap ? a->cap * 2 : 8;
        bt__attr *grown = realloc(a->items, ncap * sizeof *grown);
        if (!grown)
            return NULL;
        a->items = grown;
        a->cap = ncap;
    }
    bt__attr *at = &a->items[a->n];
    memset(at, 0, sizeof *at);
    at->key = strdup(key);
    if (!at->key)
        return NULL;
    a->n++;
    return at;
}

static void attrs_release(bt__attrs *a)
{
    for (size_t i = 0; i < a->n; i++) {
        bt__attr *at = &a->items[i];
        free(at->key);
        if (at->type == BT__ATTR_STRING) {
            free(at->v.s.ptr);
        } else if (at->type == BT__ATTR_STRING_ARRAY) {
            for (size_t k = 0; k < at->v.arr.n; k++)
                free(at->v.arr.items[k]);
            free(at->v.arr.items);
            free(at->v.arr.lens);
        }
    }
    free(a->items);
    memset(a, 0, sizeof *a);
}

static int set_string(bt__attr *at, const char *s, size_t len)
{
    at->type = BT__ATTR_STRING;
    at->v.s.ptr = dup_n(s, len);
    at->v.s.len = len;
    return at->v.s.ptr ? 0 : -1;
}

/* One AnyValue. Kinds our encoder never writes (kvlist, bytes, mixed arrays) are kept
 * as their JSON text rather than dropped. */
static int decode_value(bt__attr *at, json_t *v)
{
    json_t *x;
    if ((x = json_object_get(v, "stringValue")) && json_is_string(x))
        return set_string(at, json_string_value(x), json_string_length(x));
    if ((x = json_object_get(v, "boolValue")) && json_is_boolean(x)) {
        at->type = BT__ATTR_BOOL;
        at->v.b = json_is_true(x);
        return 0;
    }
    if ((x = json_object_get(v, "intValue"))) {
        uint64_t u;
        const char *s = json_string_value(x);
        if (s && *s == '-') {
            char *end = NULL;
            long long ll = strtoll(s, &end, 10);
            if (*end)
                return -1;
            at->type = BT__ATTR_INT;
            at->v.i = ll;
            return 0;
        }
        if (parse_u64(x, &u) != 0)
            return -1;
        at->type = BT__ATTR_INT;
        at->v.i = (int64_t)u;
        return 0;
    }
    if ((x = json_object_get(v, "doubleValue"))) {
        at->type = BT__ATTR_DOUBLE;
        if (json_is_number(x)) {
            at->v.d = json_number_value(x);
            return 0;
        }
        const char *s = json_string_value(x);
        if (!s)
            return -1;
        at->v.d = strcmp(s, "NaN") == 0   ? NAN
            : strcmp(s, "Infinity") == 0  ? INFINITY
            : strcmp(s, "-Infinity") == 0 ? -INFINITY
                                          : strtod(s, NULL);
        return 0;
    }
    json_t *arr = json_object_get(json_object_get(v, "arrayValue"), "values");
    if (json_is_array(arr)) {
        size_t n = json_array_size(arr), i;
        json_t *item;
        int all_strings = 1;
        json_array_foreach(arr, i, item) if (!json_is_string(json_object_get(item, "stringValue")))
            all_strings = 0;
        if (all_strings) {
            at->type = BT__ATTR_STRING_ARRAY;
            at->v.arr.items = calloc(n ? n : 1, sizeof(char *));
            at->v.arr.lens = calloc(n ? n : 1, sizeof(size_t));
            if (!at->v.arr.items || !at->v.arr.lens)
                return -1;
            json_array_foreach(arr, i, item)
            {
                json_t *s = json_object_get(item, "stringValue");
                at->v.arr.items[i] = dup_n(json_string_value(s), json_string_length(s));
                at->v.arr.lens[i] = json_string_length(s);
                at->v.arr.n = i + 1;
                if (!at->v.arr.items[i])
                    return -1;
            }
            return 0;
        }
    }
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    if (!text)
        return -1;
    int rc = set_string(at, text, strlen(text));
    free(text);
    return rc;
}

static int decode_attrs(json_t *list, bt__attrs *out)
{
    if (!list)
        return 0;
    if (!json_is_array(list))
        return -1;
    size_t i;
    json_t *kv;
    json_array_foreach(list, i, kv)
    {
        const char *key = json_string_value(json_object_get(kv, "key"));
        json_t *value = json_object_get(kv, "value");
        if (!key || !json_is_object(value))
            return -1;
        bt__attr *at = attr_push(out, key);
        if (!at || decode_value(at, value) != 0)
            return -1;
    }
    return 0;
}

static int decode_events(json_t *list, bt_span *s)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return list && !json_is_array(list) ? -1 : 0;
    s->events = calloc(json_array_size(list), sizeof *s->events);
    if (!s->events)
        return -1;
    s->cap_events = json_array_size(list);
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        bt__event *ev = &s->events[i];
        s->n_events = i + 1;
        const char *name = json_string_value(json_object_get(e, "name"));
        ev->name = strdup(name ? name : "");
        if (!ev->name || parse_u64(json_object_get(e, "timeUnixNano"), &ev->time_unix_nano) != 0 ||
            decode_attrs(json_object_get(e, "attributes"), &ev->attrs) != 0)
            return -1;
    }
    return 0;
}

static int decode_links(json_t *list, bt_span *s)
{
    if (!json_is_array(list) || json_array_size(list) == 0)
        return list && !json_is_array(list) ? -1 : 0;
    s->links = calloc(json_array_size(list), sizeof *s->links);
    if (!s->links)
        return -1;
    s->cap_links = json_array_size(list);
    size_t i;
    json_t *l;
    json_array_foreach(list, i, l)
    {
        bt__link *lk = &s->links[i];
        s->n_links = i + 1;
        int present;
        if (parse_hex(json_object_get(l, "traceId"), lk->trace_id, 16, &present) != 0 || !present ||
            parse_hex(json_object_get(l, "spanId"), lk->span_id, 8, &present) != 0 || !present)
            return -1;
        const char *ts = json_string_value(json_object_get(l, "traceState"));
        if (ts && *ts && !(lk->tracestate = strdup(ts)))
            return -1;
        lk->trace_flags = (uint8_t)json_integer_value(json_object_get(l, "flags"));
        if (decode_attrs(json_object_get(l, "attributes"), &lk->attrs) != 0)
            return -1;
    }
    return 0;
}

static void span_release(bt_span *s)
{
    if (!s)
        return;
    attrs_release(&s->attrs);
    bt__span_free_attachments(s); /* loaded for a target that uploads them */
    for (size_t i = 0; i < s->n_events; i++) {
        free(s->events[i].name);
        attrs_release(&s->events[i].attrs);
    }
    free(s->events);
    for (size_t i = 0; i < s->n_links; i++) {
        free(s->links[i].tracestate);
        attrs_release(&s->links[i].attrs);
    }
    free(s->links);
    free(s->tracestate);
    free(s->status_message);
    free(s->name);
    free(s);
}

static int decode_span(json_t *root, bt_span *s)
{
    int present;
    if (parse_hex(json_object_get(root, "traceId"), s->trace_id, 16, &present) != 0 || !present ||
        parse_hex(json_object_get(root, "spanId"), s->span_id, 8, &present) != 0 || !present ||
        parse_hex(json_object_get(root, "parentSpanId"), s->parent_span_id, 8, &s->has_parent) != 0)
        return -1;
    const char *name = json_string_value(json_object_get(root, "name"));
    if (!name || !(s->name = strdup(name)))
        return -1;
    const char *ts = json_string_value(json_object_get(root, "traceState"));
    if (ts && *ts && !(s->tracestate = strdup(ts)))
        return -1;
    s->trace_flags = (uint8_t)json_integer_value(json_object_get(root, "flags"));
    s->kind = (bt_span_kind)json_integer_value(json_object_get(root, "kind"));
    if (parse_u64(json_object_get(root, "startTimeUnixNano"), &s->start_unix_nano) != 0 ||
        parse_u64(json_object_get(root, "endTimeUnixNano"), &s->end_unix_nano) != 0)
        return -1;
    json_t *status = json_object_get(root, "status");
    s->status_code = (bt_status_code)json_integer_value(json_object_get(status, "code"));
    const char *msg = json_string_value(json_object_get(status, "message"));
    if (msg && *msg && !(s->status_message = strdup(msg)))
        return -1;
    if (decode_attrs(json_object_get(root, "attributes"), &s->attrs) != 0 ||
        decode_events(json_object_get(root, "events"), s) != 0 ||
        decode_links(json_object_get(root, "links"), s) != 0)
        return -1;
    return 0;
}

int bt__stored_span_decode(const char *line, size_t len, bt__stored_span *out)
{
    memset(out, 0, sizeof *out);
    json_error_t jerr;
    json_t *root = json_loadb(line, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(root)) {
        json_decref(root);
        return BT_EPARSE;
    }
    int rc = BT_OK;
    out->span = calloc(1, sizeof *out->span);
    if (!out->span)
        rc = BT_ENOMEM;
    else if (decode_span(root, out->span) != 0)
        rc = BT_EPARSE;
    json_t *resource = json_object_get(json_object_get(root, "resource"), "attributes");
    if (rc == BT_OK && decode_attrs(resource, &out->resource.attrs) != 0)
        rc = BT_EPARSE;
    if (rc == BT_OK) {
        out->resource.scope_name = "braintrust-c";
        out->resource.scope_version = BT_VERSION_STRING;
        out->resource_key = json_dumps(resource ? resource : json_null(), JSON_COMPACT | JSON_ENCODE_ANY);
        if (!out->resource_key)
            rc = BT_ENOMEM;
    }
    json_decref(root);
    if (rc != BT_OK)
        bt__stored_span_free(out);
    return rc;
}

void bt__stored_span_free(bt__stored_span *s)
{
    if (!s)
        return;
    span_release(s->span);
    attrs_release(&s->resource.attrs);
    free(s->resource_key);
    memset(s, 0, sizeof *s);
}
