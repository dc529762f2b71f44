/*
 * The OTLP JSON mapping: every output is parsed back with jansson and checked field by
 * field (hex ids, int64 as strings, lowerCamelCase, integer enums, AnyValue shapes).
 */
#include <jansson.h>
#include <math.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "export/otlp_json.h"
#include "span_fixture.h"

static json_t *parse(const bt__buf *b)
{
    json_error_t err;
    json_t *j = json_loadb(b->data, b->len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &err);
    if (!j)
        fprintf(stderr, "not JSON (%s at %d): %.*s\n", err.text, err.position, (int)b->len, b->data);
    assert_non_null(j);
    return j;
}

static const char *str_at(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    assert_true(json_is_string(v));
    return json_string_value(v);
}

/* The value object of attribute `key` in an OTLP attribute array. */
static json_t *attr_value(json_t *attrs, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(attrs, i, kv)
    {
        if (strcmp(str_at(kv, "key"), key) == 0)
            return json_object_get(kv, "value");
    }
    fail_msg("attribute %s missing", key);
    return NULL;
}

static bt_span *rich_span(void)
{
    bt_span *s = fx_span_new("anthropic.messages.create");
    s->kind = BT_SPAN_KIND_CLIENT;
    s->has_parent = 1;
    memset(s->parent_span_id, 0xbc, 8);
    s->trace_flags = 1;
    s->tracestate = fx_strdup("bt=1");
    s->start_unix_nano = 1700000000123456789ull;
    s->end_unix_nano = UINT64_MAX; /* beyond 2^53: must survive as a string */
    fx_attr_string(&s->attrs, "braintrust.input_json",
                   "[{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\"}]");
    fx_attr_bool(&s->attrs, "ok", 0);
    fx_attr_int(&s->attrs, "big", INT64_MIN);
    fx_attr_double(&s->attrs, "ratio", 0.1);
    fx_attr_double(&s->attrs, "nan", NAN);
    fx_attr_double(&s->attrs, "inf", -INFINITY);
    const char *items[] = {"a", "b\nc"};
    fx_attr_array(&s->attrs, "list", items, 2);
    bt__event *e = fx_event_add(s, "first_token", 42);
    fx_attr_string(&e->attrs, "k", "v");
    static const uint8_t tid[16] = {0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x01};
    static const uint8_t sid[8] = {0, 0, 0, 0, 0, 0, 0, 0x2a};
    bt__link *l = fx_link_add(s, tid, sid);
    l->trace_flags = 1;
    fx_attr_string(&l->attrs, "custom_id", "req-1");
    s->status_code = BT_STATUS_ERROR;
    s->status_message = fx_strdup("overloaded_error: Overloaded");
    return s;
}

static void check_rich_span(json_t *sp)
{
    assert_string_equal(str_at(sp, "traceId"), "0102030405060708090a0b0c0d0e0f10");
    assert_string_equal(str_at(sp, "spanId"), "a1a2a3a4a5a6a7a8");
    assert_string_equal(str_at(sp, "parentSpanId"), "bcbcbcbcbcbcbcbc");
    assert_string_equal(str_at(sp, "traceState"), "bt=1");
    assert_string_equal(str_at(sp, "name"), "anthropic.messages.create");
    assert_int_equal(json_integer_value(json_object_get(sp, "kind")), 3);
    assert_int_equal(json_integer_value(json_object_get(sp, "flags")), 1);
    assert_string_equal(str_at(sp, "startTimeUnixNano"), "1700000000123456789");
    assert_string_equal(str_at(sp, "endTimeUnixNano"), "18446744073709551615");

    json_t *attrs = json_object_get(sp, "attributes");
    assert_int_equal(json_array_size(attrs), 7);
    assert_string_equal(str_at(attr_value(attrs, "braintrust.input_json"), "stringValue"),
                        "[{\"role\":\"user\",\"content\":\"hi \\\"there\\\"\"}]");
    assert_true(json_is_false(json_object_get(attr_value(attrs, "ok"), "boolValue")));
    assert_string_equal(str_at(attr_value(attrs, "big"), "intValue"), "-9223372036854775808");
    assert_true(json_real_value(json_object_get(attr_value(attrs, "ratio"), "doubleValue")) == 0.1);
    assert_string_equal(str_at(attr_value(attrs, "nan"), "doubleValue"), "NaN");
    assert_string_equal(str_at(attr_value(attrs, "inf"), "doubleValue"), "-Infinity");
    json_t *values = json_object_get(json_object_get(attr_value(attrs, "list"), "arrayValue"), "values");
    assert_int_equal(json_array_size(values), 2);
    assert_string_equal(str_at(json_array_get(values, 1), "stringValue"), "b\nc");

    json_t *events = json_object_get(sp, "events");
    assert_int_equal(json_array_size(events), 1);
    json_t *ev = json_array_get(events, 0);
    assert_string_equal(str_at(ev, "name"), "first_token");
    assert_string_equal(str_at(ev, "timeUnixNano"), "42");
    assert_string_equal(str_at(attr_value(json_object_get(ev, "attributes"), "k"), "stringValue"), "v");

    json_t *links = json_object_get(sp, "links");
    assert_int_equal(json_array_size(links), 1);
    json_t *ln = json_array_get(links, 0);
    assert_string_equal(str_at(ln, "traceId"), "ff000000000000000000000000000001");
    assert_string_equal(str_at(ln, "spanId"), "000000000000002a");
    assert_int_equal(json_integer_value(json_object_get(ln, "flags")), 1);
    assert_string_equal(str_at(attr_value(json_object_get(ln, "attributes"), "custom_id"), "stringValue"),
                        "req-1");

    json_t *st = json_object_get(sp, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
    assert_string_equal(str_at(st, "message"), "overloaded_error: Overloaded");
}

static void test_request_structure(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, "svc", "braintrust-c", "0.1.0");
    fx_attr_string(&res.attrs, "telemetry.sdk.language", "c");
    bt_span *s = rich_span();
    bt_span *plain = fx_span_new("second");
    bt_span *spans[2] = {s, plain};
    bt__buf out;
    bt__buf_init(&out, 0);
    assert_int_equal(bt__otlp_json_encode(&res, spans, 2, &out), BT_OK);
    json_t *root = parse(&out);
    json_t *rs = json_object_get(root, "resourceSpans");
    assert_int_equal(json_array_size(rs), 1);
    json_t *rs0 = json_array_get(rs, 0);
    json_t *rattrs = json_object_get(json_object_get(rs0, "resource"), "attributes");
    assert_string_equal(str_at(attr_value(rattrs, "service.name"), "stringValue"), "svc");
    assert_string_equal(str_at(attr_value(rattrs, "telemetry.sdk.language"), "stringValue"), "c");
    json_t *ss = json_array_get(json_object_get(rs0, "scopeSpans"), 0);
    json_t *scope = json_object_get(ss, "scope");
    assert_string_equal(str_at(scope, "name"), "braintrust-c");
    assert_string_equal(str_at(scope, "version"), "0.1.0");
    json_t *jspans = json_object_get(ss, "spans");
    assert_int_equal(json_array_size(jspans), 2);
    check_rich_span(json_array_get(jspans, 0));
    /* the request carries no per-span resource */
    assert_null(json_object_get(json_array_get(jspans, 0), "resource"));
    assert_string_equal(str_at(json_array_get(jspans, 1), "name"), "second");
    json_decref(root);
    bt__buf_free(&out);
    fx_span_free(s);
    fx_span_free(plain);
    fx_attrs_free(&res.attrs);
}

/* The JSONL line: one Span object with every contract field, plus the resource. */
static void test_span_line(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, "bt-proxy", "braintrust-c", "0.1.0");
    bt_span *s = rich_span();
    bt__buf out;
    bt__buf_init(&out, 0);
    assert_int_equal(bt__otlp_json_span_line(&res, s, &out), BT_OK);
    assert_null(memchr(out.data, '\n', out.len));
    json_t *sp = parse(&out);
    check_rich_span(sp);
    json_t *rattrs = json_object_get(json_object_get(sp, "resource"), "attributes");
    assert_string_equal(str_at(attr_value(rattrs, "service.name"), "stringValue"), "bt-proxy");
    json_decref(sp);
    bt__buf_free(&out);
    fx_span_free(s);
    fx_attrs_free(&res.attrs);
}

/* A root span with nothing set still has every contract field, empty. */
static void test_empty_span_has_all_contract_fields(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, "svc", NULL, NULL);
    bt_span *s = fx_span_new("root");
    bt__buf out;
    bt__buf_init(&out, 0);
    assert_int_equal(bt__otlp_json_span_line(&res, s, &out), BT_OK);
    json_t *sp = parse(&out);
    static const char *const fields[] = {
        "traceId",         "spanId",     "parentSpanId", "name",  "kind",   "startTimeUnixNano",
        "endTimeUnixNano", "attributes", "events",       "links", "status", "resource"};
    for (size_t i = 0; i < sizeof fields / sizeof *fields; i++)
        assert_non_null(json_object_get(sp, fields[i]));
    assert_string_equal(str_at(sp, "parentSpanId"), "");
    assert_int_equal(json_object_size(json_object_get(sp, "status")), 0);
    assert_null(json_object_get(sp, "traceState"));
    assert_null(json_object_get(sp, "flags"));
    json_decref(sp);
    bt__buf_free(&out);
    fx_span_free(s);
    fx_attrs_free(&res.attrs);
}

/* Invalid UTF-8 and control characters still give valid JSON (jansson rejects
 * invalid UTF-8, so parsing at all proves the repair). */
static void test_hostile_strings_stay_valid_json(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, "s\xff", NULL, NULL);
    bt_span *s = fx_span_new("bad\xc3(\x01\x1f\"\\");
    fx_attr_string_len(&s->attrs, "k\xed\xa0\x80", "a\0b\xf4\x90\x80\x80", 7);
    s->status_code = BT_STATUS_ERROR;
    s->status_message = fx_strdup("\xe2\x28\xa1");
    bt__buf out;
    bt__buf_init(&out, 0);
    assert_int_equal(bt__otlp_json_span_line(&res, s, &out), BT_OK);
    json_t *sp = parse(&out);
    assert_string_equal(str_at(sp, "name"), "bad\xef\xbf\xbd(\x01\x1f\"\\");
    json_t *v = attr_value(json_object_get(sp, "attributes"), "k\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd");
    json_t *sv = json_object_get(v, "stringValue");
    assert_int_equal(json_string_length(sv), 3 + 4 * 3);
    assert_memory_equal(json_string_value(sv), "a\0b", 3);
    json_decref(sp);
    bt__buf_free(&out);
    fx_span_free(s);
    fx_attrs_free(&res.attrs);
}

/* Doubles print in their shortest exact form, whatever the locale. */
static void test_doubles_round_trip(void **state)
{
    (void)state;
    static const double values[] = {
        0.0, -0.0, 1.0, 0.1, 1e300, 5e-324, 123456.789, -2.5e-10, 9007199254740993.0};
    bt__resource res;
    fx_resource_init(&res, NULL, NULL, NULL);
    for (size_t i = 0; i < sizeof values / sizeof *values; i++) {
        bt_span *s = fx_span_new("d");
        fx_attr_double(&s->attrs, "v", values[i]);
        bt__buf out;
        bt__buf_init(&out, 0);
        assert_int_equal(bt__otlp_json_span_line(&res, s, &out), BT_OK);
        json_t *sp = parse(&out);
        json_t *dv = json_object_get(attr_value(json_object_get(sp, "attributes"), "v"), "doubleValue");
        assert_true(json_is_number(dv));
        assert_true(json_number_value(dv) == values[i]);
        json_decref(sp);
        bt__buf_free(&out);
        fx_span_free(s);
    }
}

static void test_output_cap_is_reported(void **state)
{
    (void)state;
    bt__resource res;
    fx_resource_init(&res, "svc", NULL, NULL);
    bt_span *s = fx_span_new("x");
    bt__buf out;
    bt__buf_init(&out, 40);
    assert_int_equal(bt__otlp_json_span_line(&res, s, &out), BT_ELIMIT);
    bt__buf_free(&out);
    fx_span_free(s);
    fx_attrs_free(&res.attrs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_structure),
        cmocka_unit_test(test_span_line),
        cmocka_unit_test(test_empty_span_has_all_contract_fields),
        cmocka_unit_test(test_hostile_strings_stay_valid_json),
        cmocka_unit_test(test_doubles_round_trip),
        cmocka_unit_test(test_output_cap_is_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
