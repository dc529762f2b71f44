/*
 * OTLP JSON encoding (the OTLP/HTTP JSON mapping): trace and span ids as lowercase hex,
 * 64-bit integers (times, intValue) as decimal strings, lowerCamelCase field names,
 * enum values (kind, status code) as integers, AnyValue as {"stringValue": ...} etc.
 *
 * A span always carries every field of the JSONL contract (traceId, spanId,
 * parentSpanId, name, kind, startTimeUnixNano, endTimeUnixNano, attributes, events,
 * links, status), empty when unset, so that line readers need no special cases; the
 * OTLP JSON mapping accepts empty values for all of them.
 */
#include "export/otlp_json.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/text.h"

/* An output buffer with a sticky error, so encoding code reads straight through. */
typedef struct jw {
    bt__buf *b;
    int rc;
} jw;

static void put(jw *w, const char *s, size_t n)
{
    if (!w->rc)
        w->rc = bt__buf_append(w->b, s, n);
}

static void put_lit(jw *w, const char *s)
{
    put(w, s, strlen(s));
}

static void put_str(jw *w, const char *s, size_t n)
{
    if (!w->rc)
        w->rc = bt__buf_append_json_string(w->b, s ? s : "", s ? n : 0);
}

static void put_cstr(jw *w, const char *s)
{
    put_str(w, s, s ? strlen(s) : 0);
}

static void put_hex(jw *w, const uint8_t *p, size_t n)
{
    char tmp[2 * 16 + 2];
    if (n > 16)
        n = 16;
    tmp[0] = '"';
    bt__hex_encode(p, n, tmp + 1);
    tmp[2 * n + 1] = '"';
    put(w, tmp, 2 * n + 2);
}

static void put_u64_string(jw *w, uint64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "\"%llu\"", (unsigned long long)v);
    put(w, tmp, (size_t)n);
}

static void put_uint(jw *w, unsigned v)
{
    char tmp[16];
    int n = snprintf(tmp, sizeof tmp, "%u", v);
    put(w, tmp, (size_t)n);
}

/* Shortest of %.15g / %.17g that reads back exactly; non-finite values as the strings
 * the proto3 JSON mapping defines. The decimal separator is forced to '.' whatever
 * the host program's locale. */
static void put_double(jw *w, double d)
{
    if (isnan(d)) {
        put_lit(w, "\"NaN\"");
        return;
    }
    if (isinf(d)) {
        put_lit(w, d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
        return;
    }
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        n = snprintf(tmp, sizeof tmp, "%.17g", d);
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',')
            tmp[i] = '.';
    put(w, tmp, (size_t)n);
}

static void put_any_value(jw *w, const bt__attr *a)
{
    char tmp[48]; /* fits {"intValue":"-9223372036854775808"} */
    switch (a->type) {
    case BT__ATTR_STRING:
        put_lit(w, "{\"stringValue\":");
        put_str(w, a->v.s.ptr, a->v.s.len);
        put_lit(w, "}");
        break;
    case BT__ATTR_BOOL:
        put_lit(w, a->v.b ? "{\"boolValue\":true}" : "{\"boolValue\":false}");
        break;
    case BT__ATTR_INT: {
        int n = snprintf(tmp, sizeof tmp, "{\"intValue\":\"%lld\"}", (long long)a->v.i);
        put(w, tmp, (size_t)n);
        break;
    }
    case BT__ATTR_DOUBLE:
        put_lit(w, "{\"doubleValue\":");
        put_double(w, a->v.d);
        put_lit(w, "}");
        break;
    case BT__ATTR_STRING_ARRAY:
        put_lit(w, "{\"arrayValue\":{\"values\":[");
        for (size_t i = 0; i < a->v.arr.n; i++) {
            put_lit(w, i ? ",{\"stringValue\":" : "{\"stringValue\":");
            put_str(w, a->v.arr.items[i], a->v.arr.items[i] ? a->v.arr.lens[i] : 0);
            put_lit(w, "}");
        }
        put_lit(w, "]}}");
        break;
    }
}

static void put_attrs(jw *w, const bt__attrs *attrs)
{
    put_lit(w, "[");
    for (size_t i = 0; i < attrs->n; i++) {
        put_lit(w, i ? ",{\"key\":" : "{\"key\":");
        put_cstr(w, attrs->items[i].key);
        put_lit(w, ",\"value\":");
        put_any_value(w, &attrs->items[i]);
        put_lit(w, "}");
    }
    put_lit(w, "]");
}

static void put_event(jw *w, const bt__event *e)
{
    put_lit(w, "{\"timeUnixNano\":");
    put_u64_string(w, e->time_unix_nano);
    put_lit(w, ",\"name\":");
    put_cstr(w, e->name);
    put_lit(w, ",\"attributes\":");
    put_attrs(w, &e->attrs);
    put_lit(w, "}");
}

static void put_link(jw *w, const bt__link *l)
{
    put_lit(w, "{\"traceId\":");
    put_hex(w, l->trace_id, sizeof l->trace_id);
    put_lit(w, ",\"spanId\":");
    put_hex(w, l->span_id, sizeof l->span_id);
    if (l->tracestate && *l->tracestate) {
        put_lit(w, ",\"traceState\":");
        put_cstr(w, l->tracestate);
    }
    put_lit(w, ",\"attributes\":");
    put_attrs(w, &l->attrs);
    if (l->trace_flags) {
        put_lit(w, ",\"flags\":");
        put_uint(w, l->trace_flags);
    }
    put_lit(w, "}");
}

/* The Span object; with `res` non-NULL it also carries "resource" (the JSONL line). */
static void put_span(jw *w, const bt_span *s, const bt__resource *res)
{
    put_lit(w, "{\"traceId\":");
    put_hex(w, s->trace_id, sizeof s->trace_id);
    put_lit(w, ",\"spanId\":");
    put_hex(w, s->span_id, sizeof s->span_id);
    if (s->tracestate && *s->tracestate) {
        put_lit(w, ",\"traceState\":");
        put_cstr(w, s->tracestate);
    }
    put_lit(w, ",\"parentSpanId\":");
    if (s->has_parent)
        put_hex(w, s->parent_span_id, sizeof s->parent_span_id);
    else
        put_lit(w, "\"\"");
    if (s->trace_flags) {
        put_lit(w, ",\"flags\":");
        put_uint(w, s->trace_flags);
    }
    put_lit(w, ",\"name\":");
    put_cstr(w, s->name);
    put_lit(w, ",\"kind\":");
    put_uint(w, (unsigned)s->kind);
    put_lit(w, ",\"startTimeUnixNano\":");
    put_u64_string(w, s->start_unix_nano);
    put_lit(w, ",\"endTimeUnixNano\":");
    put_u64_string(w, s->end_unix_nano);
    put_lit(w, ",\"attributes\":");
    put_attrs(w, &s->attrs);
    put_lit(w, ",\"events\":[");
    for (size_t i = 0; i < s->n_events; i++) {
        if (i)
            put_lit(w, ",");
        put_event(w, &s->events[i]);
    }
    put_lit(w, "],\"links\":[");
    for (size_t i = 0; i < s->n_links; i++) {
        if (i)
            put_lit(w, ",");
        put_link(w, &s->links[i]);
    }
    put_lit(w, "],\"status\":{");
    int have_code = s->status_code != BT_STATUS_UNSET;
    if (have_code) {
        put_lit(w, "\"code\":");
        put_uint(w, (unsigned)s->status_code);
    }
    if (s->status_message && *s->status_message) {
        put_lit(w, have_code ? ",\"message\":" : "\"message\":");
        put_cstr(w, s->status_message);
    }
    put_lit(w, "}");
    if (res) {
        put_lit(w, ",\"resource\":{\"attributes\":");
        put_attrs(w, &res->attrs);
        put_lit(w, "}");
    }
    put_lit(w, "}");
}

int bt__otlp_json_encode(const bt__resource *res, bt_span *const *spans, size_t n, bt__buf *out)
{
    jw w = {out, BT_OK};
    put_lit(&w, "{\"resourceSpans\":[{\"resource\":{\"attributes\":");
    put_attrs(&w, &res->attrs);
    put_lit(&w, "},\"scopeSpans\":[{\"scope\":{\"name\":");
    put_cstr(&w, res->scope_name);
    put_lit(&w, ",\"version\":");
    put_cstr(&w, res->scope_version);
    put_lit(&w, "},\"spans\":[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            put_lit(&w, ",");
        put_span(&w, spans[i], NULL);
    }
    put_lit(&w, "]}]}]}");
    return w.rc;
}

int bt__otlp_json_span_line(const bt__resource *res, const bt_span *span, bt__buf *out)
{
    jw w = {out, BT_OK};
    put_span(&w, span, res);
    return w.rc;
}
