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
#include "util/utf8.h"

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

/* The escaper, a byte at a time: what the 16-byte blocks must give. */
static void escape_slowly(bt__buf *b, const unsigned char *s, size_t len)
{
    bt__buf_append_char(b, '"');
    for (size_t i = 0; i < len;) {
        unsigned char c = s[i];
        size_t n = c >= 0x80 ? bt__utf8_valid_prefix_len(s + i, len - i) : 1;
        if (c >= 0x80 && n) {
            bt__buf_append(b, s + i, n);
            i += n;
            continue;
        }
        if (c >= 0x80)
            bt__buf_append(b, "\xef\xbf\xbd", 3);
        else if (c == '"' || c == '\\')
            bt__buf_printf(b, "\\%c", c);
        else if (c == '\n' || c == '\r' || c == '\t')
            bt__buf_printf(b, "\\%c", c == '\n' ? 'n' : c == '\r' ? 'r' : 't');
        else if (c < 0x20)
            bt__buf_printf(b, "\\u%04x", c);
        else
            bt__buf_append_char(b, (char)c);
        i++;
    }
    bt__buf_append_char(b, '"');
}

/* Dense escapes (JSON text as a string value has them every few bytes), runs of them,
 * and the bytes that stop a block (other control bytes, UTF-8, invalid bytes) at every
 * position of a 16-byte block: the same output as byte by byte. */
static void test_json_string_dense_escapes_match_bytewise(void **state)
{
    (void)state;
    static const char *const pieces[] = {"a",  "b",    "\"",   "\\",       "\n",   "\r",
                                         "\t", "\x01", "\x1f", "\xc3\xa9", "\xff", "xyz"};
    unsigned seed = 12345;
    unsigned char in[200];
    bt__buf got, want;
    bt__buf_init(&got, 0);
    bt__buf_init(&want, 0);
    for (int round = 0; round < 4000; round++) {
        size_t len = 0, target = (size_t)(round % 97);
        while (len < target) {
            seed = seed * 1103515245u + 12345u;
            unsigned r = seed >> 16;
            /* mostly plain and quotes, now and then anything */
            const char *pc = pieces[r % 4 == 0 ? (r >> 4) % 12 : (r >> 4) % 4];
            size_t n = strlen(pc);
            if (len + n > sizeof in)
                break;
            memcpy(in + len, pc, n);
            len += n;
        }
        bt__buf_reset(&got);
        bt__buf_reset(&want);
        assert_int_equal(bt__buf_append_json_string(&got, (const char *)in, len), BT_OK);
        escape_slowly(&want, in, len);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
    }
    bt__buf_free(&got);
    bt__buf_free(&want);
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
        cmocka_unit_test(test_json_string_dense_escapes_match_bytewise),
        cmocka_unit_test(test_json_string_hits_cap),
        cmocka_unit_test(test_steal_leaves_empty_buffer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
