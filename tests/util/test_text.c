/* util/text: hex digits, the percent-decoding contract, HTTP field syntax and the W3C
 * key=value list rule. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/text.h"

static void test_hex_digit(void **state)
{
    (void)state;
    assert_int_equal(bt__hex_digit('0'), 0);
    assert_int_equal(bt__hex_digit('9'), 9);
    assert_int_equal(bt__hex_digit('a'), 10);
    assert_int_equal(bt__hex_digit('F'), 15);
    assert_int_equal(bt__hex_digit('g'), -1);
    assert_int_equal(bt__hex_digit('G'), -1);
    assert_int_equal(bt__hex_digit('/'), -1);
    assert_int_equal(bt__hex_digit(':'), -1);
    assert_int_equal(bt__hex_digit('\0'), -1);
    assert_int_equal(bt__hex_digit(0xe9), -1);
}

static void test_hex_round_trip(void **state)
{
    (void)state;
    uint8_t all[256];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    char text[513];
    memset(text, 'x', sizeof text);
    bt__hex_encode(all, 256, text);
    assert_int_equal(strlen(text), 512);
    assert_memory_equal(text, "000102", 6);
    assert_memory_equal(text + 506, "fdfeff", 6);
    uint8_t back[256];
    assert_int_equal(bt__hex_decode(text, 256, back, 0), 0);
    assert_memory_equal(back, all, 256);
    assert_int_equal(bt__hex_decode(text, 256, back, BT__HEX_LOWERCASE_ONLY), 0);

    bt__hex_encode(all, 0, text);
    assert_string_equal(text, "");
}

static void test_hex_decode_rejects(void **state)
{
    (void)state;
    uint8_t out[4];
    assert_int_equal(bt__hex_decode("0aFf", 2, out, 0), 0);
    assert_int_equal(out[0], 0x0a);
    assert_int_equal(out[1], 0xff);
    assert_int_equal(bt__hex_decode("0aFf", 2, out, BT__HEX_LOWERCASE_ONLY), -1);
    assert_int_equal(bt__hex_decode("0A", 1, out, BT__HEX_LOWERCASE_ONLY), -1);
    assert_int_equal(bt__hex_decode("0g", 1, out, 0), -1);
    assert_int_equal(bt__hex_decode("g0", 1, out, 0), -1);
    assert_int_equal(bt__hex_decode("0", 1, out, 0), -1); /* stops at the NUL */
    assert_int_equal(bt__hex_decode(" 1", 1, out, 0), -1);
}

static long decode(const char *s, unsigned flags, char *out, size_t out_size)
{
    return bt__percent_decode(s, strlen(s), flags, out, out_size);
}

static void test_percent_decode_contract(void **state)
{
    (void)state;
    char out[64];
    assert_int_equal(decode("a%20b%2fc%2F", 0, out, sizeof out), 6);
    assert_string_equal(out, "a b/c/");
    assert_int_equal(decode("%e2%82%AC", 0, out, sizeof out), 3);
    assert_string_equal(out, "\xe2\x82\xac");
    assert_int_equal(decode("50%25", 0, out, sizeof out), 3);
    assert_string_equal(out, "50%");
    assert_int_equal(decode("", 0, out, sizeof out), 0);
    assert_string_equal(out, "");

    /* '+' is a space only in form encoding */
    assert_int_equal(decode("a+b", 0, out, sizeof out), 3);
    assert_string_equal(out, "a+b");
    assert_int_equal(decode("a+b%2B", BT__PERCENT_PLUS_IS_SPACE, out, sizeof out), 4);
    assert_string_equal(out, "a b+");

    /* malformed escapes are refused, not guessed at */
    assert_int_equal(decode("50%", 0, out, sizeof out), -1);
    assert_int_equal(decode("%4", 0, out, sizeof out), -1);
    assert_int_equal(decode("%zz", 0, out, sizeof out), -1);
    assert_int_equal(decode("%4g", 0, out, sizeof out), -1);
    assert_int_equal(decode("%%41", 0, out, sizeof out), -1);
    /* a NUL would silently cut the text */
    assert_int_equal(decode("a%00b", 0, out, sizeof out), -1);
    assert_int_equal(bt__percent_decode("a\0b", 3, 0, out, sizeof out), -1);
}

static void test_percent_decode_bounds(void **state)
{
    (void)state;
    char out[8];
    memset(out, 'x', sizeof out);
    assert_int_equal(decode("abcdefg", 0, out, 8), 7);
    assert_string_equal(out, "abcdefg");
    assert_int_equal(decode("abcdefgh", 0, out, 8), -1); /* does not fit with its NUL */
    assert_int_equal(decode("%41%42%43%44%45%46%47", 0, out, 8), 7);
    assert_string_equal(out, "ABCDEFG");
    assert_int_equal(decode("", 0, out, 1), 0);
    assert_int_equal(decode("", 0, out, 0), -1);
    /* only len bytes are read: a '%' at the end of the slice is malformed even when
     * hex digits follow it in memory */
    assert_int_equal(bt__percent_decode("ab%41", 3, 0, out, sizeof out), -1);
}

static void test_http_syntax(void **state)
{
    (void)state;
    assert_true(bt__http_token("x-bt-parent", 11));
    assert_true(bt__http_token("k%33", 4));
    assert_false(bt__http_token("", 0));
    assert_false(bt__http_token("bad key", 7));
    assert_false(bt__http_token("k:x", 3));
    assert_false(bt__http_token("k\0x", 3));
    assert_false(bt__http_token("caf\xc3\xa9", 5));
    assert_true(bt__http_value_safe("project_name:a b\tc", 18));
    assert_true(bt__http_value_safe("", 0));
    assert_false(bt__http_value_safe("a\r\nb", 4));
    assert_false(bt__http_value_safe("a\x7f", 2));
    assert_false(bt__http_value_safe("a\0b", 3));
}

typedef struct pairs {
    char text[512];
    int n;
    int stop_at; /* the callback fails on this member (1-based); 0: never */
} pairs;

static int collect(void *ud, const char *key, const char *value, size_t value_len)
{
    pairs *p = ud;
    assert_int_equal(strlen(value), value_len);
    size_t len = strlen(p->text);
    snprintf(p->text + len, sizeof p->text - len, "[%s|%s]", key, value);
    p->n++;
    return p->n == p->stop_at ? BT_ELIMIT : BT_OK;
}

static void test_kv_list_rule(void **state)
{
    (void)state;
    pairs p = {"", 0, 0};
    assert_int_equal(
        bt__kv_list_parse(" Authorization = Bearer%20sk-123 ,\tx-bt-parent=project_name:my%3Aproj,,"
                          " k%33 = a=b ,empty=",
                          collect, &p),
        BT_OK);
    /* trimmed; values percent-decoded, keys as written; empty members skipped; only the
     * first '=' separates */
    assert_string_equal(p.text,
                        "[Authorization|Bearer sk-123][x-bt-parent|project_name:my:proj][k%33|a=b][empty|]");
    assert_int_equal(p.n, 4);

    pairs q = {"", 0, 0};
    assert_int_equal(bt__kv_list_parse("", collect, &q), BT_OK);
    assert_int_equal(bt__kv_list_parse(" , ,", collect, &q), BT_OK);
    assert_int_equal(bt__kv_list_parse(NULL, collect, &q), BT_OK);
    assert_int_equal(q.n, 0);
    /* a NULL callback only checks the list */
    assert_int_equal(bt__kv_list_parse("a=1,b=2", NULL, NULL), BT_OK);
    assert_int_equal(bt__kv_list_parse("a=1,b=50%", NULL, NULL), BT_EINVAL);
}

static void test_kv_list_rejects(void **state)
{
    (void)state;
    static const char *const bad[] = {
        "novalue", "=v",           " = v",          "bad key=v",          "k:x=v",
        "k=50%",   "k=%4",         "k=%zz",         "k=a%0D%0AX-Evil: 1", "k=a%00b",
        "k=a\rb",  "ok=1,novalue", "caf\xc3\xa9=1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        pairs p = {"", 0, 0};
        if (bt__kv_list_parse(bad[i], collect, &p) != BT_EINVAL)
            fail_msg("accepted: %s", bad[i]);
    }
    /* members before a bad one have been seen; the walk stops there */
    pairs p = {"", 0, 0};
    assert_int_equal(bt__kv_list_parse("a=1,b,c=3", collect, &p), BT_EINVAL);
    assert_string_equal(p.text, "[a|1]");
}

static void test_kv_list_callback_error_stops(void **state)
{
    (void)state;
    pairs p = {"", 0, 2};
    assert_int_equal(bt__kv_list_parse("a=1,b=2,c=3", collect, &p), BT_ELIMIT);
    assert_int_equal(p.n, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hex_digit),
        cmocka_unit_test(test_hex_round_trip),
        cmocka_unit_test(test_hex_decode_rejects),
        cmocka_unit_test(test_percent_decode_contract),
        cmocka_unit_test(test_percent_decode_bounds),
        cmocka_unit_test(test_http_syntax),
        cmocka_unit_test(test_kv_list_rule),
        cmocka_unit_test(test_kv_list_rejects),
        cmocka_unit_test(test_kv_list_callback_error_stops),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
