/*
 * OTLP protobuf encoding of ExportTraceServiceRequest.
 *
 * The message is written back to front: each nested message is emitted first and its
 * length prefix and tag are prepended afterwards, when the length is known. That gives
 * canonical (shortest) varint lengths in a single pass, with no size pre-computation
 * and no re-walking of nested messages. Fields are emitted in reverse so that the final
 * bytes come out in ascending field-number order.
 *
 * Field numbers (opentelemetry-proto):
 *   collector/trace/v1 ExportTraceServiceRequest: resource_spans 1
 *   trace/v1 ResourceSpans: resource 1, scope_spans 2
 *            ScopeSpans: scope 1, spans 2
 *            Span: trace_id 1, span_id 2, trace_state 3, parent_span_id 4, name 5,
 *                  kind 6, start_time_unix_nano 7 (fixed64), end_time_unix_nano 8
 *                  (fixed64), attributes 9, events 11, links 13, status 15,
 *                  flags 16 (fixed32)
 *            Span.Event: time_unix_nano 1 (fixed64), name 2, attributes 3
 *            Span.Link: trace_id 1, span_id 2, trace_state 3, attributes 4,
 *                       flags 6 (fixed32)
 *            Status: message 2, code 3
 *   common/v1 AnyValue: string 1, bool 2, int 3, double 4 (fixed64), array 5
 *             ArrayValue: values 1;  KeyValue: key 1, value 2
 *             InstrumentationScope: name 1, version 2
 *   resource/v1 Resource: attributes 1
 */
#include "export/otlp_proto.h"

#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/utf8.h"

enum { WT_VARINT = 0, WT_I64 = 1, WT_LEN = 2, WT_I32 = 5 };

/* Hard cap on one encoded request; the processor keeps batches far below it. */
#define PROTO_MAX_BYTES ((size_t)1 << 30)
/* Most memory reserved up front from the spans' size estimates. */
#define PROTO_PRESIZE_MAX ((size_t)16 << 20)

typedef struct pbw {
    uint8_t *base; /* the encoded bytes are base[pos, cap) */
    size_t cap;
    size_t pos;
    int err;         /* sticky: BT_ENOMEM or BT_ELIMIT */
    bt__buf scratch; /* UTF-8 repair of strings that arrive invalid */
} pbw;

static size_t pbw_len(const pbw *w)
{
    return w->cap - w->pos;
}

/* Makes room for n more bytes in front of the data, moving it to the end of a larger
 * block when needed. */
static int pbw_room(pbw *w, size_t n)
{
    if (w->err)
        return 0;
    if (n <= w->pos)
        return 1;
    size_t used = pbw_len(w);
    if (n > PROTO_MAX_BYTES - used) {
        w->err = BT_ELIMIT;
        return 0;
    }
    size_t ncap = w->cap ? w->cap : 256;
    while (ncap - used < n)
        ncap *= 2;
    uint8_t *nb = malloc(ncap);
    if (!nb) {
        w->err = BT_ENOMEM;
        return 0;
    }
    if (used)
        memcpy(nb + ncap - used, w->base + w->pos, used);
    free(w->base);
    w->base = nb;
    w->cap = ncap;
    w->pos = ncap - used;
    return 1;
}

static void put_raw(pbw *w, const void *p, size_t n)
{
    if (!n || !pbw_room(w, n))
        return;
    w->pos -= n;
    memcpy(w->base + w->pos, p, n);
}

static void put_varint(pbw *w, uint64_t v)
{
    uint8_t tmp[10];
    size_t n = 0;
    do {
        uint8_t byte = v & 0x7f;
        v >>= 7;
        tmp[n++] = v ? (uint8_t)(byte | 0x80) : byte;
    } while (v);
    put_raw(w, tmp, n);
}

static void put_tag(pbw *w, unsigned field, unsigned wire_type)
{
    put_varint(w, ((uint64_t)field << 3) | wire_type);
}

static void put_fixed64_field(pbw *w, unsigned field, uint64_t v)
{
    uint8_t tmp[8];
    for (int i = 0; i < 8; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    put_raw(w, tmp, 8);
    put_tag(w, field, WT_I64);
}

static void put_fixed32_field(pbw *w, unsigned field, uint32_t v)
{
    uint8_t tmp[4];
    for (int i = 0; i < 4; i++)
        tmp[i] = (uint8_t)(v >> (8 * i));
    put_raw(w, tmp, 4);
    put_tag(w, field, WT_I32);
}

static void put_varint_field(pbw *w, unsigned field, uint64_t v)
{
    put_varint(w, v);
    put_tag(w, field, WT_VARINT);
}

/* Closes a length-delimited field whose content was written since `mark`. */
static void put_len_prefix(pbw *w, unsigned field, size_t mark)
{
    if (w->err)
        return;
    put_varint(w, pbw_len(w) - mark);
    put_tag(w, field, WT_LEN);
}

static void put_bytes_field(pbw *w, unsigned field, const void *p, size_t n)
{
    size_t mark = pbw_len(w);
    put_raw(w, p, n);
    put_len_prefix(w, field, mark);
}

/* 1 if s[0, n) is plain ASCII; checked a word at a time, since span attributes are
 * mostly long ASCII JSON and this check runs over every byte the encoder writes. */
static int all_ascii(const char *s, size_t n)
{
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        uint64_t word;
        memcpy(&word, s + i, 8);
        if (word & 0x8080808080808080ull)
            return 0;
    }
    for (; i < n; i++)
        if ((unsigned char)s[i] & 0x80)
            return 0;
    return 1;
}

/* Protobuf strings must be valid UTF-8 (receivers reject the whole request otherwise):
 * invalid bytes become U+FFFD, the same repair the JSON encoding makes. */
static void put_string_field(pbw *w, unsigned field, const char *s, size_t n)
{
    if (all_ascii(s, n) || bt__utf8_valid(s, n)) {
        put_bytes_field(w, field, s, n);
        return;
    }
    bt__buf_reset(&w->scratch);
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = bt__utf8_valid_prefix_len(p + i, n - i);
        int rc = k ? bt__buf_append(&w->scratch, s + i, k) : bt__buf_append(&w->scratch, "\xef\xbf\xbd", 3);
        if (rc) {
            w->err = rc;
            return;
        }
        i += k ? k : 1;
    }
    put_bytes_field(w, field, w->scratch.data, w->scratch.len);
}

static void put_cstring_field(pbw *w, unsigned field, const char *s)
{
    if (s && *s)
        put_string_field(w, field, s, strlen(s));
}

static void put_any_value(pbw *w, const bt__attr *a)
{
    switch (a->type) {
    case BT__ATTR_STRING:
        put_string_field(w, 1, a->v.s.ptr ? a->v.s.ptr : "", a->v.s.ptr ? a->v.s.len : 0);
        break;
    case BT__ATTR_BOOL:
        put_varint_field(w, 2, a->v.b ? 1 : 0);
        break;
    case BT__ATTR_INT:
        put_varint_field(w, 3, (uint64_t)a->v.i);
        break;
    case BT__ATTR_DOUBLE: {
        uint64_t bits;
        memcpy(&bits, &a->v.d, sizeof bits);
        put_fixed64_field(w, 4, bits);
        break;
    }
    case BT__ATTR_STRING_ARRAY: {
        size_t arr_mark = pbw_len(w);
        for (size_t i = a->v.arr.n; i-- > 0;) {
            size_t item_mark = pbw_len(w);
            const char *s = a->v.arr.items[i] ? a->v.arr.items[i] : "";
            put_string_field(w, 1, s, a->v.arr.items[i] ? a->v.arr.lens[i] : 0);
            put_len_prefix(w, 1, item_mark); /* ArrayValue.values: AnyValue */
        }
        put_len_prefix(w, 5, arr_mark);
        break;
    }
    }
}

static void put_attrs(pbw *w, unsigned field, const bt__attrs *attrs)
{
    for (size_t i = attrs->n; i-- > 0;) {
        const bt__attr *a = &attrs->items[i];
        size_t kv_mark = pbw_len(w);
        size_t value_mark = pbw_len(w);
        put_any_value(w, a);
        put_len_prefix(w, 2, value_mark);
        put_cstring_field(w, 1, a->key);
        put_len_prefix(w, field, kv_mark);
    }
}

static void put_event(pbw *w, const bt__event *e)
{
    size_t mark = pbw_len(w);
    put_attrs(w, 3, &e->attrs);
    put_cstring_field(w, 2, e->name);
    if (e->time_unix_nano)
        put_fixed64_field(w, 1, e->time_unix_nano);
    put_len_prefix(w, 11, mark);
}

static void put_link(pbw *w, const bt__link *l)
{
    size_t mark = pbw_len(w);
    if (l->trace_flags)
        put_fixed32_field(w, 6, l->trace_flags);
    put_attrs(w, 4, &l->attrs);
    put_cstring_field(w, 3, l->tracestate);
    put_bytes_field(w, 2, l->span_id, sizeof l->span_id);
    put_bytes_field(w, 1, l->trace_id, sizeof l->trace_id);
    put_len_prefix(w, 13, mark);
}

static void put_span(pbw *w, const bt_span *s)
{
    size_t mark = pbw_len(w);
    if (s->trace_flags)
        put_fixed32_field(w, 16, s->trace_flags);
    if (s->status_code != BT_STATUS_UNSET || (s->status_message && *s->status_message)) {
        size_t st_mark = pbw_len(w);
        if (s->status_code != BT_STATUS_UNSET)
            put_varint_field(w, 3, (uint64_t)s->status_code);
        put_cstring_field(w, 2, s->status_message);
        put_len_prefix(w, 15, st_mark);
    }
    for (size_t i = s->n_links; i-- > 0;)
        put_link(w, &s->links[i]);
    for (size_t i = s->n_events; i-- > 0;)
        put_event(w, &s->events[i]);
    put_attrs(w, 9, &s->attrs);
    if (s->end_unix_nano)
        put_fixed64_field(w, 8, s->end_unix_nano);
    if (s->start_unix_nano)
        put_fixed64_field(w, 7, s->start_unix_nano);
    if (s->kind != BT_SPAN_KIND_UNSPECIFIED)
        put_varint_field(w, 6, (uint64_t)s->kind);
    put_cstring_field(w, 5, s->name);
    if (s->has_parent)
        put_bytes_field(w, 4, s->parent_span_id, sizeof s->parent_span_id);
    put_cstring_field(w, 3, s->tracestate);
    put_bytes_field(w, 2, s->span_id, sizeof s->span_id);
    put_bytes_field(w, 1, s->trace_id, sizeof s->trace_id);
    put_len_prefix(w, 2, mark); /* ScopeSpans.spans */
}

int bt__otlp_proto_encode(const bt__resource *res, bt_span *const *spans, size_t n, bt__buf *out)
{
    pbw w;
    memset(&w, 0, sizeof w);
    bt__buf_init(&w.scratch, 0);
    /* Start from the spans' own size estimate, so a batch is rarely moved while it is
     * written. */
    size_t estimate = 1024;
    for (size_t i = 0; i < n && estimate < PROTO_PRESIZE_MAX; i++)
        estimate += spans[i]->approx_bytes + 64;
    if (estimate > PROTO_PRESIZE_MAX)
        estimate = PROTO_PRESIZE_MAX;
    pbw_room(&w, estimate);

    size_t rs_mark = pbw_len(&w);
    size_t ss_mark = pbw_len(&w);
    for (size_t i = n; i-- > 0;)
        put_span(&w, spans[i]);
    size_t scope_mark = pbw_len(&w);
    put_cstring_field(&w, 2, res->scope_version);
    put_cstring_field(&w, 1, res->scope_name);
    put_len_prefix(&w, 1, scope_mark); /* ScopeSpans.scope */
    put_len_prefix(&w, 2, ss_mark);    /* ResourceSpans.scope_spans */
    size_t res_mark = pbw_len(&w);
    put_attrs(&w, 1, &res->attrs);
    put_len_prefix(&w, 1, res_mark); /* ResourceSpans.resource */
    put_len_prefix(&w, 1, rs_mark);  /* ExportTraceServiceRequest.resource_spans */

    int rc = w.err;
    if (!rc)
        rc = bt__buf_append(out, w.base + w.pos, pbw_len(&w));
    free(w.base);
    bt__buf_free(&w.scratch);
    return rc;
}
