/*
 * Fuzz target for the OTLP encoders: spans built from the input bytes (arbitrary
 * strings including invalid UTF-8 and NULs, every attribute type, many attributes,
 * events, links, extreme numbers) are encoded both ways. The JSON must parse, hold the
 * right number of spans, and every span line must parse too; the protobuf is walked
 * with a schema-aware reader that checks every length prefix is exactly consistent
 * with its content, every varint is well formed, and every string is valid UTF-8.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "export/otlp_json.h"
#include "export/otlp_proto.h"
#include "span_fixture.h"
#include "util/utf8.h"

#define CHECK(cond)  \
    do {             \
        if (!(cond)) \
            abort(); \
    } while (0)

/* ---- input reader ---- */

typedef struct rd {
    const uint8_t *p;
    size_t n;
} rd;

static uint8_t byte(rd *r)
{
    if (!r->n)
        return 0;
    r->n--;
    return *r->p++;
}

static uint64_t u64(rd *r)
{
    uint64_t v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | byte(r);
    return v;
}

/* A string of up to 255 input bytes (malloc'd, NUL-terminated, may contain NULs). */
static char *str(rd *r, size_t *len_out)
{
    size_t len = byte(r);
    if (len > r->n)
        len = r->n;
    char *s = malloc(len + 1);
    memcpy(s, r->p, len);
    s[len] = '\0';
    r->p += len;
    r->n -= len;
    if (len_out)
        *len_out = len;
    return s;
}

/* ---- span construction ---- */

static void add_attrs(rd *r, bt__attrs *a, size_t max)
{
    size_t n = byte(r) % (max + 1);
    a->items = calloc(n ? n : 1, sizeof *a->items);
    a->cap = n;
    for (size_t i = 0; i < n && r->n; i++) {
        bt__attr *at = &a->items[a->n++];
        at->key = str(r, NULL);
        at->type = (bt__attr_type)(byte(r) % 5);
        switch (at->type) {
        case BT__ATTR_STRING:
            at->v.s.ptr = str(r, &at->v.s.len);
            break;
        case BT__ATTR_BOOL:
            at->v.b = byte(r) & 1;
            break;
        case BT__ATTR_INT:
            at->v.i = (int64_t)u64(r);
            break;
        case BT__ATTR_DOUBLE: {
            uint64_t bits = u64(r);
            memcpy(&at->v.d, &bits, sizeof bits); /* NaN, infinities, subnormals */
            break;
        }
        case BT__ATTR_STRING_ARRAY: {
            size_t k = byte(r) % 9;
            at->v.arr.items = calloc(k ? k : 1, sizeof(char *));
            at->v.arr.lens = calloc(k ? k : 1, sizeof(size_t));
            at->v.arr.n = k;
            for (size_t j = 0; j < k; j++)
                at->v.arr.items[j] = str(r, &at->v.arr.lens[j]);
            break;
        }
        }
    }
}

static bt_span *build_span(rd *r)
{
    bt_span *s = calloc(1, sizeof *s);
    for (int i = 0; i < 16; i++)
        s->trace_id[i] = byte(r);
    for (int i = 0; i < 8; i++)
        s->span_id[i] = byte(r);
    uint8_t bits = byte(r);
    s->has_parent = bits & 1;
    if (s->has_parent)
        for (int i = 0; i < 8; i++)
            s->parent_span_id[i] = byte(r);
    s->trace_flags = byte(r);
    if (bits & 2)
        s->tracestate = str(r, NULL);
    s->name = str(r, NULL);
    s->kind = (bt_span_kind)(byte(r) % 6);
    s->start_unix_nano = u64(r);
    s->end_unix_nano = u64(r);
    add_attrs(r, &s->attrs, 64);
    s->n_events = byte(r) % 5;
    s->events = calloc(s->n_events ? s->n_events : 1, sizeof *s->events);
    for (size_t i = 0; i < s->n_events; i++) {
        s->events[i].name = str(r, NULL);
        s->events[i].time_unix_nano = u64(r);
        add_attrs(r, &s->events[i].attrs, 4);
    }
    s->n_links = byte(r) % 5;
    s->links = calloc(s->n_links ? s->n_links : 1, sizeof *s->links);
    for (size_t i = 0; i < s->n_links; i++) {
        bt__link *l = &s->links[i];
        for (int k = 0; k < 16; k++)
            l->trace_id[k] = byte(r);
        for (int k = 0; k < 8; k++)
            l->span_id[k] = byte(r);
        l->trace_flags = byte(r);
        if (byte(r) & 1)
            l->tracestate = str(r, NULL);
        add_attrs(r, &l->attrs, 4);
    }
    s->status_code = (bt_status_code)(byte(r) % 3);
    if (bits & 4)
        s->status_message = str(r, NULL);
    return s;
}

/* ---- a schema-aware protobuf walker ---- */

typedef enum {
    M_REQUEST,
    M_RESOURCE_SPANS,
    M_RESOURCE,
    M_SCOPE_SPANS,
    M_SCOPE,
    M_SPAN,
    M_EVENT,
    M_LINK,
    M_STATUS,
    M_KEY_VALUE,
    M_ANY_VALUE,
    M_ARRAY_VALUE,
    M_NONE
} msg_type;

/* What a field of a message holds: a nested message, a string (UTF-8 checked), bytes
 * of a fixed length (ids), or a scalar of the expected wire type. */
typedef struct field_kind {
    int wire;      /* 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 */
    msg_type sub;  /* nested message, or M_NONE */
    int utf8;      /* a string field */
    int fixed_len; /* exact byte length for ids, else 0 */
} field_kind;

static int lookup(msg_type m, unsigned f, field_kind *k)
{
    static const field_kind LEN_MSG = {2, M_NONE, 0, 0}, STR = {2, M_NONE, 1, 0}, VAR = {0, M_NONE, 0, 0},
                            F64 = {1, M_NONE, 0, 0}, F32 = {5, M_NONE, 0, 0};
    *k = LEN_MSG;
#define SUB(t) (k->sub = (t), 1)
    switch (m) {
    case M_REQUEST:
        return f == 1 && SUB(M_RESOURCE_SPANS);
    case M_RESOURCE_SPANS:
        return (f == 1 && SUB(M_RESOURCE)) || (f == 2 && SUB(M_SCOPE_SPANS));
    case M_RESOURCE:
        return f == 1 && SUB(M_KEY_VALUE);
    case M_SCOPE_SPANS:
        return (f == 1 && SUB(M_SCOPE)) || (f == 2 && SUB(M_SPAN));
    case M_SCOPE:
        *k = STR;
        return f == 1 || f == 2;
    case M_SPAN:
        switch (f) {
        case 1:
            k->fixed_len = 16;
            return 1;
        case 2:
        case 4:
            k->fixed_len = 8;
            return 1;
        case 3:
        case 5:
            *k = STR;
            return 1;
        case 6:
            *k = VAR;
            return 1;
        case 7:
        case 8:
            *k = F64;
            return 1;
        case 9:
            return SUB(M_KEY_VALUE);
        case 11:
            return SUB(M_EVENT);
        case 13:
            return SUB(M_LINK);
        case 15:
            return SUB(M_STATUS);
        case 16:
            *k = F32;
            return 1;
        default:
            return 0;
        }
    case M_EVENT:
        if (f == 1) {
            *k = F64;
            return 1;
        }
        if (f == 2) {
            *k = STR;
            return 1;
        }
        return f == 3 && SUB(M_KEY_VALUE);
    case M_LINK:
        if (f == 1) {
            k->fixed_len = 16;
            return 1;
        }
        if (f == 2) {
            k->fixed_len = 8;
            return 1;
        }
        if (f == 3) {
            *k = STR;
            return 1;
        }
        if (f == 6) {
            *k = F32;
            return 1;
        }
        return f == 4 && SUB(M_KEY_VALUE);
    case M_STATUS:
        if (f == 2) {
            *k = STR;
            return 1;
        }
        if (f == 3) {
            *k = VAR;
            return 1;
        }
        return 0;
    case M_KEY_VALUE:
        if (f == 1) {
            *k = STR;
            return 1;
        }
        return f == 2 && SUB(M_ANY_VALUE);
    case M_ANY_VALUE:
        switch (f) {
        case 1:
            *k = STR;
            return 1;
        case 2:
        case 3:
            *k = VAR;
            return 1;
        case 4:
            *k = F64;
            return 1;
        case 5:
            return SUB(M_ARRAY_VALUE);
        default:
            return 0;
        }
    case M_ARRAY_VALUE:
        return f == 1 && SUB(M_ANY_VALUE);
    case M_NONE:
        return 0;
    }
#undef SUB
    return 0;
}

static int read_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    *v = 0;
    for (int i = 0; i < 10; i++) {
        if (*p >= end)
            return 0;
        uint8_t b = *(*p)++;
        *v |= (uint64_t)(b & 0x7f) << (7 * i);
        if (!(b & 0x80))
            return i == 0 || b != 0; /* canonical: no trailing zero groups */
    }
    return 0;
}

/* Walks one message occupying exactly [p, end); returns the number of spans seen. */
static size_t walk(msg_type m, const uint8_t *p, const uint8_t *end, int depth)
{
    CHECK(depth < 16);
    size_t spans = m == M_SPAN;
    while (p < end) {
        uint64_t key;
        CHECK(read_varint(&p, end, &key));
        unsigned field = (unsigned)(key >> 3), wire = (unsigned)(key & 7);
        field_kind k;
        CHECK(lookup(m, field, &k));
        CHECK(wire == (unsigned)k.wire);
        uint64_t v;
        switch (wire) {
        case 0:
            CHECK(read_varint(&p, end, &v));
            break;
        case 1:
            CHECK(end - p >= 8);
            p += 8;
            break;
        case 5:
            CHECK(end - p >= 4);
            p += 4;
            break;
        case 2:
            CHECK(read_varint(&p, end, &v));
            CHECK(v <= (uint64_t)(end - p));
            if (k.sub != M_NONE)
                spans += walk(k.sub, p, p + v, depth + 1);
            else if (k.utf8)
                CHECK(bt__utf8_valid((const char *)p, (size_t)v));
            else if (k.fixed_len)
                CHECK(v == (uint64_t)k.fixed_len);
            p += v;
            break;
        default:
            CHECK(0);
        }
    }
    CHECK(p == end);
    return spans;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    rd r = {data, size};
    bt__resource res;
    memset(&res, 0, sizeof res);
    add_attrs(&r, &res.attrs, 4);
    res.scope_name = "braintrust-c";
    res.scope_version = "0.1.0";
    size_t n = 1 + byte(&r) % 3;
    bt_span *spans[3];
    for (size_t i = 0; i < n; i++)
        spans[i] = build_span(&r);

    bt__buf pb;
    bt__buf_init(&pb, 0);
    CHECK(bt__otlp_proto_encode(&res, spans, n, &pb) == BT_OK);
    CHECK(walk(M_REQUEST, (const uint8_t *)pb.data, (const uint8_t *)pb.data + pb.len, 0) == n);
    bt__buf_free(&pb);

    bt__buf js;
    bt__buf_init(&js, 0);
    CHECK(bt__otlp_json_encode(&res, spans, n, &js) == BT_OK);
    json_error_t err;
    json_t *root = json_loadb(js.data, js.len, JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &err);
    CHECK(root != NULL);
    json_t *jspans = json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(root, "resourceSpans"), 0), "scopeSpans"), 0),
        "spans");
    CHECK(json_array_size(jspans) == n);
    json_decref(root);
    for (size_t i = 0; i < n; i++) {
        bt__buf_reset(&js);
        CHECK(bt__otlp_json_span_line(&res, spans[i], &js) == BT_OK);
        CHECK(memchr(js.data, '\n', js.len) == NULL);
        json_t *line = json_loadb(js.data, js.len, JSON_ALLOW_NUL, &err);
        CHECK(line != NULL && json_is_object(line));
        json_decref(line);
    }
    bt__buf_free(&js);

    for (size_t i = 0; i < n; i++)
        fx_span_free(spans[i]);
    fx_attrs_free(&res.attrs);
    return 0;
}
