/*
 * The validating JSON scanner: the accept/reject decisions that matter (each checked
 * against jansson, the reference, with the same flags), the canonical text it yields,
 * reading values in place, and that canonical input is used without a copy. The
 * differential fuzz target (fuzz/fuzz_json_scan.c) covers arbitrary input.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "braintrust/common.h"
#include "decode/json_scan.h"

/* Parses `text` (len bytes) with both parsers; asserts they decide alike. */
static int decide(const char *text, size_t len, unsigned flags)
{
    size_t jflags =
        ((flags & BT__JSON_ANY) ? JSON_DECODE_ANY : 0) | ((flags & BT__JSON_ALLOW_NUL) ? JSON_ALLOW_NUL : 0);
    json_t *ref = json_loadb(text, len, jflags, NULL);
    bt__json_doc d;
    int rc = bt__json_parse(&d, text, len, flags);
    if ((rc == 0) != (ref != NULL))
        fail_msg("scanner %s, jansson %s: %.*s", rc == 0 ? "accepts" : "rejects", ref ? "accepts" : "rejects",
                 (int)len, text);
    json_decref(ref);
    bt__json_doc_free(&d);
    return rc == 0;
}

static int accepts(const char *text)
{
    return decide(text, strlen(text), BT__JSON_ANY);
}

static void test_decisions_match_jansson(void **state)
{
    (void)state;
    assert_true(accepts("{\"a\":[1,-0,2.5e-3,true,false,null,\"x\"]}"));
    assert_true(accepts(" \t\r\n[ ] \n"));
    assert_false(accepts(""));
    assert_false(accepts("   "));
    assert_false(accepts("[1,]"));
    assert_false(accepts("{\"a\":1,}"));
    assert_false(accepts("{\"a\" 1}"));
    assert_false(accepts("[01]"));
    assert_false(accepts("[1.]"));
    assert_false(accepts("[.5]"));
    assert_false(accepts("[-]"));
    assert_false(accepts("[1e]"));
    assert_false(accepts("[+1]"));
    assert_false(accepts("[tru]"));
    assert_false(accepts("[truex]"));
    assert_false(accepts("[NaN]"));
    assert_false(accepts("{} {}"));
    assert_false(accepts("{\"a\":1} x"));
    /* 64-bit integers, and reals that overflow a double */
    assert_true(accepts("[9223372036854775807,-9223372036854775808]"));
    assert_false(accepts("[9223372036854775808]"));
    assert_false(accepts("[-9223372036854775809]"));
    assert_false(accepts("[1e400]"));
    assert_false(accepts("[-1.5e309]"));
    assert_true(accepts("[1e-400]"));
    assert_true(accepts("[1.7976931348623157e308]"));
    /* strings: escapes, surrogates, control characters, UTF-8 */
    assert_true(accepts("[\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u00e9\\ud83d\\ude00\"]"));
    assert_false(accepts("[\"\\x\"]"));
    assert_false(accepts("[\"\\u12\"]"));
    assert_false(accepts("[\"\\ud800\"]"));
    assert_false(accepts("[\"\\ud800\\u0041\"]"));
    assert_false(accepts("[\"\\udc00\"]"));
    assert_false(accepts("[\"tab\there\"]"));
    assert_false(accepts("[\"\xff\"]"));
    assert_false(accepts("[\"\xc0\xaf\"]"));     /* overlong */
    assert_false(accepts("[\"\xed\xa0\x80\"]")); /* an encoded surrogate */
    assert_false(accepts("[\"\xf4\x90\x80\x80\"]"));
    assert_true(accepts("[\"\xf4\x8f\xbf\xbf\x7f\"]"));
    /* NUL: only as \u0000 in values, and only when allowed; never in keys */
    assert_false(decide("[\"a\\u0000\"]", 11, BT__JSON_ANY));
    assert_true(decide("[\"a\\u0000\"]", 11, BT__JSON_ANY | BT__JSON_ALLOW_NUL));
    assert_false(decide("{\"a\\u0000\":1}", 13, BT__JSON_ANY | BT__JSON_ALLOW_NUL));
    /* jansson reads one byte past a number or literal and puts it back; a NUL put back
     * is lost, so one (and only one) NUL right after such a token is skipped */
    assert_true(decide("[1\0]", 4, 0));
    assert_true(decide("[true\0,2]", 9, 0));
    assert_false(decide("[1\0\0]", 5, 0));
    assert_false(decide("[1 \0]", 5, 0));
    assert_false(decide("[\"a\"\0]", 6, 0));
    /* objects or arrays at the top unless any value is asked for */
    assert_false(decide("\"s\"", 3, 0));
    assert_true(decide("\"s\"", 3, BT__JSON_ANY));
    assert_true(decide("42", 2, BT__JSON_ANY));
}

static void test_depth_limit(void **state)
{
    (void)state;
    /* jansson counts every value: 2047 arrays around a number is 2048 deep */
    size_t n = BT__JSON_DEPTH_MAX;
    char *s = malloc(2 * n + 2);
    memset(s, '[', n - 1);
    s[n - 1] = '1';
    memset(s + n, ']', n - 1);
    assert_true(decide(s, 2 * n - 1, 0));
    memset(s, '[', n);
    s[n] = '1';
    memset(s + n + 1, ']', n);
    assert_false(decide(s, 2 * n + 1, 0));
    memset(s, '[', n);
    memset(s + n, ']', n);
    assert_true(decide(s, 2 * n, 0)); /* 2048 empty arrays */
    free(s);
}

/* The canonical text of `in`. */
static char *canonical(const char *in)
{
    bt__json_doc d;
    assert_int_equal(bt__json_parse(&d, in, strlen(in), BT__JSON_ANY | BT__JSON_ALLOW_NUL), 0);
    char *out = strndup(d.text, d.len);
    bt__json_doc_free(&d);
    return out;
}

static void test_canonical_text(void **state)
{
    (void)state;
    struct {
        const char *in, *out;
    } cases[] = {
        {" { \"a\" : [ 1 , true ] , \"b\" : { } }\n", "{\"a\":[1,true],\"b\":{}}"},
        {"[\"\\u00e9\\/\\u0041\"]", "[\"\xc3\xa9/A\"]"},
        {"[\"\\u001f\\u0008\\u000A\\u001F\"]", "[\"\\u001F\\b\\n\\u001F\"]"},
        {"[\"\\ud83d\\ude00\"]", "[\"\xf0\x9f\x98\x80\"]"},
        {"[\"a\\u0000b\"]", "[\"a\\u0000b\"]"},
        /* a repeated key: once, at its first position, with its last value */
        {"{\"a\":1,\"b\":2,\"a\":{\"c\":1,\"c\":[3]}}", "{\"a\":{\"c\":[3]},\"b\":2}"},
        {"{\"\\u0061\":1,\"a\":2}", "{\"a\":2}"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char *got = canonical(cases[i].in);
        assert_string_equal(got, cases[i].out);
        free(got);
    }
}

static void test_canonical_input_is_used_in_place(void **state)
{
    (void)state;
    const char *in = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"a \\\"b\\\"\\n\"}]}";
    bt__json_doc d;
    assert_int_equal(bt__json_parse(&d, in, strlen(in), 0), 0);
    assert_null(d.owned);
    assert_ptr_equal(d.text, in);
    bt__jv msgs = bt__json_get(&d, "messages");
    assert_int_equal(msgs.type, BT__JV_ARRAY);
    assert_ptr_equal(msgs.p, strstr(in, "[{"));
    bt__json_doc_free(&d);
}

static void test_reading_values(void **state)
{
    (void)state;
    const char *in = "{\"s\":\"caf\\u00e9 \\\"q\\\"\",\"i\":-42,\"r\":0.5,\"t\":true,\"n\":null,"
                     "\"a\":[1,{\"k\":\"v\"},[2]],\"o\":{\"x\":{\"y\":7}}}";
    bt__json_doc d;
    assert_int_equal(bt__json_parse(&d, in, strlen(in), 0), 0);
    bt__buf b;
    bt__buf_init(&b, 0);
    assert_int_equal(bt__jv_decode(bt__json_get(&d, "s"), &b), 0);
    assert_string_equal(b.data, "caf\xc3\xa9 \"q\"");
    assert_int_equal(bt__jv_decoded_len(bt__json_get(&d, "s")), b.len);
    bt__buf_free(&b);
    char small[5];
    assert_int_equal(bt__jv_copy(bt__json_get(&d, "s"), small, sizeof small), 3); /* cut before é */
    int64_t i;
    assert_true(bt__jv_int64(bt__json_get(&d, "i"), &i));
    assert_int_equal(i, -42);
    assert_false(bt__jv_int64(bt__json_get(&d, "r"), &i));
    assert_true(bt__jv_double(bt__json_get(&d, "r")) == 0.5);
    assert_int_equal(bt__json_get(&d, "t").type, BT__JV_TRUE);
    assert_int_equal(bt__json_get(&d, "n").type, BT__JV_NULL);
    assert_int_equal(bt__json_get(&d, "missing").type, BT__JV_NONE);
    assert_int_equal(bt__jv_count(bt__json_get(&d, "a")), 3);
    bt__jv_iter it = bt__jv_iterate(bt__json_get(&d, "a"));
    bt__jv e;
    assert_true(bt__jv_next(&it, &e) && e.type == BT__JV_INTEGER);
    assert_true(bt__jv_next(&it, &e) && bt__jv_is(bt__jv_get(e, "k"), "v"));
    assert_true(bt__jv_next(&it, &e) && e.type == BT__JV_ARRAY && e.len == 3);
    assert_false(bt__jv_next(&it, &e));
    assert_true(bt__jv_int64(bt__jv_get(bt__jv_get(bt__json_get(&d, "o"), "x"), "y"), &i));
    assert_int_equal(i, 7);
    bt__json_doc_free(&d);
}

static void test_lenient_utf8(void **state)
{
    (void)state;
    const char in[] = "{\"t\":\"bad \xff byte\"}";
    bt__json_doc d;
    assert_int_equal(bt__json_parse(&d, in, sizeof in - 1, 0), BT_EPARSE);
    bt__json_doc_free(&d);
    assert_int_equal(bt__json_parse(&d, in, sizeof in - 1, BT__JSON_LENIENT), 0);
    assert_true(d.repaired);
    assert_true(bt__jv_is(bt__json_get(&d, "t"), "bad \xef\xbf\xbd byte"));
    bt__json_doc_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_decisions_match_jansson),
        cmocka_unit_test(test_depth_limit),
        cmocka_unit_test(test_canonical_text),
        cmocka_unit_test(test_canonical_input_is_used_in_place),
        cmocka_unit_test(test_reading_values),
        cmocka_unit_test(test_lenient_utf8),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
