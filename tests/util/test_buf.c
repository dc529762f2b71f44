/* bt__buf: growth, the hard cap with its truncation flag, printf, JSON strings, steal. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/buf.h"

static void test_append_grows_and_terminates(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 0);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(bt__buf_append(&b, "0123456789", 10), BT_OK);
    assert_int_equal(b.len, 10000);
    assert_int_equal(b.data[b.len], '\0');
    assert_memory_equal(b.data + 9990, "0123456789", 10);
    assert_false(b.truncated);
    bt__buf_free(&b);
}

static void test_cap_truncates_and_flags(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 8);
    assert_int_equal(bt__buf_append_str(&b, "hello"), BT_OK);
    assert_int_equal(bt__buf_append_str(&b, "world"), BT_ELIMIT);
    assert_int_equal(b.len, 8);
    assert_string_equal(b.data, "hellowor");
    assert_true(b.truncated);
    assert_true(b.alloc <= 9); /* never allocates beyond the cap */
    assert_int_equal(bt__buf_append_char(&b, 'x'), BT_ELIMIT);
    assert_int_equal(b.len, 8);
    bt__buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_false(b.truncated);
    assert_string_equal(b.data, "");
    assert_int_equal(bt__buf_append_str(&b, "again"), BT_OK);
    assert_string_equal(b.data, "again");
    bt__buf_free(&b);
}

static void test_printf_small_and_large(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 0);
    assert_int_equal(bt__buf_printf(&b, "%d-%s", 42, "x"), BT_OK);
    assert_string_equal(b.data, "42-x");
    char big[1000];
    memset(big, 'z', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(bt__buf_printf(&b, "[%s]", big), BT_OK);
    assert_int_equal(b.len, 4 + 2 + 999);
    assert_int_equal(b.data[5], 'z');
    assert_int_equal(b.data[b.len - 1], ']');
    bt__buf_free(&b);

    bt__buf_init(&b, 10);
    assert_int_equal(bt__buf_printf(&b, "%s", "0123456789abc"), BT_ELIMIT);
    assert_string_equal(b.data, "0123456789");
    bt__buf_free(&b);
}

static void test_json_string_escapes_and_repairs(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 0);
    const char in[] = "a\"b\\c\n\r\t\x01\xc3\xa9\xff!";
    assert_int_equal(bt__buf_append_json_string(&b, in, sizeof in - 1), BT_OK);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\r\\t\\u0001\xc3\xa9\xef\xbf\xbd!\"");
    bt__buf_reset(&b);
    /* an embedded NUL is data, not the end */
    assert_int_equal(bt__buf_append_json_string(&b, "x\0y", 3), BT_OK);
    assert_string_equal(b.data, "\"x\\u0000y\"");
    bt__buf_reset(&b);
    /* a surrogate (ED A0 80) and an overlong (C0 AF) are invalid: one U+FFFD per byte */
    assert_int_equal(bt__buf_append_json_string(&b, "\xed\xa0\x80\xc0\xaf", 5), BT_OK);
    assert_int_equal(b.len, 2 + 5 * 3);
    bt__buf_free(&b);
}

static void test_json_string_hits_cap(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 6);
    assert_int_equal(bt__buf_append_json_string(&b, "abcdefgh", 8), BT_ELIMIT);
    assert_true(b.truncated);
    assert_int_equal(b.len, 6);
    bt__buf_free(&b);
}

static void test_steal_leaves_empty_buffer(void **state)
{
    (void)state;
    bt__buf b;
    bt__buf_init(&b, 100);
    size_t len = 99;
    char *p = bt__buf_steal(&b, &len);
    assert_non_null(p);
    assert_int_equal(len, 0);
    assert_string_equal(p, "");
    free(p);
    bt__buf_append_str(&b, "data");
    p = bt__buf_steal(&b, &len);
    assert_string_equal(p, "data");
    assert_int_equal(len, 4);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.max, 100); /* the cap survives */
    free(p);
    bt__buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_append_grows_and_terminates),
        cmocka_unit_test(test_cap_truncates_and_flags),
        cmocka_unit_test(test_printf_small_and_large),
        cmocka_unit_test(test_json_string_escapes_and_repairs),
        cmocka_unit_test(test_json_string_hits_cap),
        cmocka_unit_test(test_steal_leaves_empty_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
