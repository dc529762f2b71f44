/*
 * The protobuf writer, byte for byte against encodings computed by hand from the
 * opentelemetry-proto field numbers and the protobuf wire format. Each expected array
 * is annotated with the field it encodes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "export/otlp_proto.h"
#include "span_fixture.h"

#define TID 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f, 0x10
#define SID 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8

static void expect_bytes(const bt__buf *got, const uint8_t *want, size_t want_len)
{
    if (got->len != want_len || memcmp(got->data, want, want_len) != 0) {
        fprintf(stderr, "encoded %zu bytes, expected %zu\n got:", got->len, want_len);
        for (size_t i = 0; i < got->len; i++)
            fprintf(stderr, " %02x", (uint8_t)got->data[i]);
        fprintf(stderr, "\nwant:");
        for (size_t i = 0; i < want_len; i++)
            fprintf(stderr, " %02x", want[i]);
        fprintf(stderr, "\n");
    }
    assert_int_equal(got->len, want_len);
    assert_memory_equal(got->data, want, want_len);
}

static void encode(const bt__resource *res, bt_span *span, bt__buf *out)
{
    bt_span *spans[1] = {span};
    bt__buf_init(out, 0);
    assert_int_equal(bt__otlp_proto_encode(res, spans, 1, out), BT_OK);
}

/* Ids, name, kind, both fixed64 times, flags (fixed32, field 16 => two-byte tag),
 * resource service.name, scope name and version. */
static void test_minimal_span(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, "x", "s", "1");
    bt_span *s = fx_span_new("n");
    s->kind = BT_SPAN_KIND_INTERNAL;
    s->start_unix_nano = 1;
    s->end_unix_nano = 2;
    s->trace_flags = 1;
    /* clang-format off */
    static const uint8_t want[] = {
        0x0a, 0x5c,                         /* ExportTraceServiceRequest.resource_spans, 92 */
        0x0a, 0x15,                         /*  ResourceSpans.resource, 21 */
        0x0a, 0x13,                         /*   Resource.attributes (KeyValue), 19 */
        0x0a, 0x0c, 's', 'e', 'r', 'v', 'i', 'c', 'e', '.', 'n', 'a', 'm', 'e', /* key */
        0x12, 0x03, 0x0a, 0x01, 'x',        /*    value: AnyValue.string_value "x" */
        0x12, 0x43,                         /*  ResourceSpans.scope_spans, 67 */
        0x0a, 0x06,                         /*   ScopeSpans.scope, 6 */
        0x0a, 0x01, 's', 0x12, 0x01, '1',   /*    name "s", version "1" */
        0x12, 0x39,                         /*   ScopeSpans.spans, 57 */
        0x0a, 0x10, TID,                    /*    trace_id */
        0x12, 0x08, SID,                    /*    span_id */
        0x2a, 0x01, 'n',                    /*    name */
        0x30, 0x01,                         /*    kind INTERNAL */
        0x39, 1, 0, 0, 0, 0, 0, 0, 0,       /*    start_time_unix_nano (fixed64) */
        0x41, 2, 0, 0, 0, 0, 0, 0, 0,       /*    end_time_unix_nano (fixed64) */
        0x85, 0x01, 1, 0, 0, 0,             /*    flags (field 16, fixed32) */
    };
    /* clang-format on */
    bt__buf out;
    encode(&res, s, &out);
    expect_bytes(&out, want, sizeof want);
    bt__buf_free(&out);
    fx_span_free(s);
    fx_attrs_free(&res.attrs);
}

/* One attribute of every type: string, bool, negative int (ten-byte varint), double
 * (fixed64 little-endian IEEE 754), string array (ArrayValue of AnyValues). */
static void test_every_attribute_type(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *s = fx_span_new("");
    fx_attr_string(&s->attrs, "s", "v");
    fx_attr_bool(&s->attrs, "b", 1);
    fx_attr_int(&s->attrs, "i", -1);
    fx_attr_double(&s->attrs, "d", 1.5);
    const char *items[] = {"x", "yz"};
    fx_attr_array(&s->attrs, "a", items, 2);
    /* clang-format off */
    static const uint8_t want[] = {
        0x0a, 0x6d,                         /* resource_spans, 109 */
        0x0a, 0x00,                         /*  resource (no attributes) */
        0x12, 0x69,                         /*  scope_spans, 105 */
        0x0a, 0x00,                         /*   scope (no name, no version) */
        0x12, 0x65,                         /*   spans, 101 */
        0x0a, 0x10, TID,
        0x12, 0x08, SID,
        0x4a, 0x08, 0x0a, 0x01, 's', 0x12, 0x03, 0x0a, 0x01, 'v',            /* string */
        0x4a, 0x07, 0x0a, 0x01, 'b', 0x12, 0x02, 0x10, 0x01,                 /* bool */
        0x4a, 0x10, 0x0a, 0x01, 'i', 0x12, 0x0b,                             /* int -1 */
        0x18, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        0x4a, 0x0e, 0x0a, 0x01, 'd', 0x12, 0x09,                             /* double 1.5 */
        0x21, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xf8, 0x3f,
        0x4a, 0x12, 0x0a, 0x01, 'a', 0x12, 0x0d,                             /* array */
        0x2a, 0x0b,                                                          /*  array_value */
        0x0a, 0x03, 0x0a, 0x01, 'x',                                         /*   values[0] */
        0x0a, 0x04, 0x0a, 0x02, 'y', 'z',                                    /*   values[1] */
    };
    /* clang-format on */
    bt__buf out;
    encode(&res, s, &out);
    expect_bytes(&out, want, sizeof want);
    bt__buf_free(&out);
    fx_span_free(s);
}

/* bool false, int 0 and "" are oneof members: they must still be written. */
static void test_zero_values_in_oneof_are_kept(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *s = fx_span_new("");
    fx_attr_bool(&s->attrs, "b", 0);
    fx_attr_int(&s->attrs, "i", 0);
    fx_attr_string(&s->attrs, "s", "");
    /* clang-format off */
    static const uint8_t want[] = {
        0x0a, 0x3f, 0x0a, 0x00, 0x12, 0x3b, 0x0a, 0x00, 0x12, 0x37,
        0x0a, 0x10, TID,
        0x12, 0x08, SID,
        0x4a, 0x07, 0x0a, 0x01, 'b', 0x12, 0x02, 0x10, 0x00,
        0x4a, 0x07, 0x0a, 0x01, 'i', 0x12, 0x02, 0x18, 0x00,
        0x4a, 0x07, 0x0a, 0x01, 's', 0x12, 0x02, 0x0a, 0x00,
    };
    /* clang-format on */
    bt__buf out;
    encode(&res, s, &out);
    expect_bytes(&out, want, sizeof want);
    bt__buf_free(&out);
    fx_span_free(s);
}

/* Parent, trace state, kind, an event, a link (with trace state, attribute and
 * flags), an error status: the span is 132 bytes, so every enclosing length is a
 * two-byte varint. */
static void test_events_links_status_and_long_lengths(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *s = fx_span_new("n");
    s->kind = BT_SPAN_KIND_CLIENT;
    s->tracestate = fx_strdup("t=1");
    s->has_parent = 1;
    for (int i = 0; i < 8; i++)
        s->parent_span_id[i] = (uint8_t)(0xb1 + i);
    bt__event *e = fx_event_add(s, "e", 5);
    fx_attr_string(&e->attrs, "k", "v");
    static const uint8_t ltid[16] = {0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
                                     0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0};
    static const uint8_t lsid[8] = {0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8};
    bt__link *l = fx_link_add(s, ltid, lsid);
    l->tracestate = fx_strdup("a=b");
    l->trace_flags = 1;
    fx_attr_string(&l->attrs, "k", "v");
    s->status_code = BT_STATUS_ERROR;
    s->status_message = fx_strdup("boom");
    /* clang-format off */
    static const uint8_t want[] = {
        0x0a, 0x8e, 0x01,                   /* resource_spans, 142 */
        0x0a, 0x00,                         /*  resource */
        0x12, 0x89, 0x01,                   /*  scope_spans, 137 */
        0x0a, 0x00,                         /*   scope */
        0x12, 0x84, 0x01,                   /*   spans, 132 */
        0x0a, 0x10, TID,
        0x12, 0x08, SID,
        0x1a, 0x03, 't', '=', '1',          /*    trace_state */
        0x22, 0x08, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, /* parent_span_id */
        0x2a, 0x01, 'n',
        0x30, 0x03,                         /*    kind CLIENT */
        0x5a, 0x16,                         /*    events, 22 */
        0x09, 5, 0, 0, 0, 0, 0, 0, 0,       /*     time_unix_nano (fixed64) */
        0x12, 0x01, 'e',                    /*     name */
        0x1a, 0x08, 0x0a, 0x01, 'k', 0x12, 0x03, 0x0a, 0x01, 'v', /* attributes */
        0x6a, 0x30,                         /*    links, 48 */
        0x0a, 0x10, 0xc1, 0xc2, 0xc3, 0xc4, 0xc5, 0xc6, 0xc7, 0xc8,
        0xc9, 0xca, 0xcb, 0xcc, 0xcd, 0xce, 0xcf, 0xd0,
        0x12, 0x08, 0xd1, 0xd2, 0xd3, 0xd4, 0xd5, 0xd6, 0xd7, 0xd8,
        0x1a, 0x03, 'a', '=', 'b',          /*     trace_state */
        0x22, 0x08, 0x0a, 0x01, 'k', 0x12, 0x03, 0x0a, 0x01, 'v', /* attributes */
        0x35, 1, 0, 0, 0,                   /*     flags (field 6, fixed32) */
        0x7a, 0x08,                         /*    status, 8 */
        0x12, 0x04, 'b', 'o', 'o', 'm',     /*     message */
        0x18, 0x02,                         /*     code ERROR */
    };
    /* clang-format on */
    bt__buf out;
    encode(&res, s, &out);
    expect_bytes(&out, want, sizeof want);
    bt__buf_free(&out);
    fx_span_free(s);
}

/* A 200-byte string: every length from the AnyValue up is a two-byte varint. */
static void test_long_string_attribute(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *s = fx_span_new("");
    char big[200];
    memset(big, 'x', sizeof big);
    fx_attr_string_len(&s->attrs, "k", big, sizeof big);
    static const uint8_t head[] = {
        0x0a, 0xfa, 0x01,                                     /* resource_spans, 250 */
        0x0a, 0x00, 0x12, 0xf5, 0x01,                         /*  scope_spans, 245 */
        0x0a, 0x00, 0x12, 0xf0, 0x01,                         /*   spans, 240 */
        0x0a, 0x10, TID,  0x12, 0x08, SID,  0x4a, 0xd1, 0x01, /*    attributes, 209 */
        0x0a, 0x01, 'k',  0x12, 0xcb, 0x01,                   /*     value, 203 */
        0x0a, 0xc8, 0x01,                                     /*      string_value, 200 */
    };
    uint8_t want[sizeof head + sizeof big];
    memcpy(want, head, sizeof head);
    memcpy(want + sizeof head, big, sizeof big);
    bt__buf out;
    encode(&res, s, &out);
    expect_bytes(&out, want, sizeof want);
    bt__buf_free(&out);
    fx_span_free(s);
}

/* Invalid UTF-8 would make receivers reject the whole request: it is repaired with
 * U+FFFD, in names and keys as well as values. */
static void test_invalid_utf8_is_repaired(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *s = fx_span_new("a\xff");
    fx_attr_string_len(&s->attrs, "k\xc3", "\xe2\x82", 2);
    bt__buf out;
    encode(&res, s, &out);
    /* the value "\xe2\x82" is a cut 3-byte sequence: each byte becomes U+FFFD */
    /* clang-format off */
    static const uint8_t want_exact[] = {
        0x0a, 0x3c, 0x0a, 0x00, 0x12, 0x38, 0x0a, 0x00, 0x12, 0x34,
        0x0a, 0x10, TID,
        0x12, 0x08, SID,
        0x2a, 0x04, 'a', 0xef, 0xbf, 0xbd,
        0x4a, 0x10,
        0x0a, 0x04, 'k', 0xef, 0xbf, 0xbd,
        0x12, 0x08, 0x0a, 0x06, 0xef, 0xbf, 0xbd, 0xef, 0xbf, 0xbd,
    };
    /* clang-format on */
    expect_bytes(&out, want_exact, sizeof want_exact);
    bt__buf_free(&out);
    fx_span_free(s);
}

/* Several spans share one ResourceSpans/ScopeSpans, in the order given. */
static void test_several_spans_in_order(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *a = fx_span_new("a");
    bt_span *b = fx_span_new("b");
    b->span_id[7] = 0xff;
    bt_span *spans[2] = {a, b};
    /* clang-format off */
    static const uint8_t want[] = {
        0x0a, 0x48, 0x0a, 0x00, 0x12, 0x44, 0x0a, 0x00,
        0x12, 0x1f, 0x0a, 0x10, TID, 0x12, 0x08, SID, 0x2a, 0x01, 'a',
        0x12, 0x1f, 0x0a, 0x10, TID, 0x12, 0x08, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xff,
        0x2a, 0x01, 'b',
    };
    /* clang-format on */
    bt__buf out;
    bt__buf_init(&out, 0);
    assert_int_equal(bt__otlp_proto_encode(&res, spans, 2, &out), BT_OK);
    expect_bytes(&out, want, sizeof want);
    bt__buf_free(&out);
    fx_span_free(a);
    fx_span_free(b);
}

/* An output buffer too small for the request: BT_ELIMIT, never a cut message that a
 * receiver would misread. */
static void test_output_cap_is_reported(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    bt_span *s = fx_span_new("a span name");
    bt_span *spans[1] = {s};
    bt__buf out;
    bt__buf_init(&out, 16);
    assert_int_equal(bt__otlp_proto_encode(&res, spans, 1, &out), BT_ELIMIT);
    bt__buf_free(&out);
    fx_span_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_minimal_span),
        cmocka_unit_test(test_every_attribute_type),
        cmocka_unit_test(test_zero_values_in_oneof_are_kept),
        cmocka_unit_test(test_events_links_status_and_long_lengths),
        cmocka_unit_test(test_long_string_attribute),
        cmocka_unit_test(test_invalid_utf8_is_repaired),
        cmocka_unit_test(test_several_spans_in_order),
        cmocka_unit_test(test_output_cap_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
