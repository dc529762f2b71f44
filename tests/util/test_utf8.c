/* UTF-8 validation (RFC 3629 table) and boundary-safe cutting. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "util/utf8.h"

static void test_prefix_len_table(void **state)
{
    (void)state;
    static const struct {
        const char *s;
        size_t n, want;
    } cases[] = {
        {"A", 1, 1},
        {"\xc2\x80", 2, 2},         /* U+0080, smallest two-byte */
        {"\xdf\xbf", 2, 2},         /* U+07FF */
        {"\xe0\xa0\x80", 3, 3},     /* U+0800 */
        {"\xef\xbf\xbf", 3, 3},     /* U+FFFF */
        {"\xf0\x90\x80\x80", 4, 4}, /* U+10000 */
        {"\xf4\x8f\xbf\xbf", 4, 4}, /* U+10FFFF, the last code point */
        {"\x80", 1, 0},             /* lone continuation */
        {"\xc0\x80", 2, 0},         /* overlong NUL */
        {"\xc1\xbf", 2, 0},         /* overlong */
        {"\xe0\x9f\xbf", 3, 0},     /* overlong three-byte */
        {"\xed\xa0\x80", 3, 0},     /* surrogate U+D800 */
        {"\xf0\x8f\xbf\xbf", 4, 0}, /* overlong four-byte */
        {"\xf4\x90\x80\x80", 4, 0}, /* above U+10FFFF */
        {"\xf5\x80\x80\x80", 4, 0},
        {"\xff", 1, 0},
        {"\xe2\x82", 2, 0},     /* cut short */
        {"\xe2\x28\xa1", 3, 0}, /* bad continuation */
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++)
        assert_int_equal(bt__utf8_valid_prefix_len((const unsigned char *)cases[i].s, cases[i].n),
                         cases[i].want);
    assert_int_equal(bt__utf8_valid_prefix_len((const unsigned char *)"x", 0), 0);
}

static void test_valid(void **state)
{
    (void)state;
    const char *ok = "h\xc3\xa9llo \xe2\x82\xac \xf0\x9f\x98\x80";
    assert_true(bt__utf8_valid(ok, strlen(ok)));
    assert_true(bt__utf8_valid("", 0));
    assert_true(bt__utf8_valid("a\0b", 3));
    assert_false(bt__utf8_valid("ab\xff", 3));
    assert_false(bt__utf8_valid(ok, strlen(ok) - 1)); /* emoji cut short */
}

static void test_cut_never_splits(void **state)
{
    (void)state;
    const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z"; /* a é € 😀 z : 1+2+3+4+1 */
    size_t expect[] = {0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11};
    for (size_t n = 0; n <= 11; n++) {
        size_t c = bt__utf8_cut(s, n);
        assert_int_equal(c, expect[n]);
        assert_true(bt__utf8_valid(s, c));
    }
}

static void test_cut_of_invalid_input_stays_in_bounds(void **state)
{
    (void)state;
    assert_true(bt__utf8_cut("\x80\x80\x80\x80\x80", 5) <= 5);
    assert_true(bt__utf8_cut("ab\xff", 3) <= 3);
    assert_int_equal(bt__utf8_cut("abc", 2), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_prefix_len_table),
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_cut_never_splits),
        cmocka_unit_test(test_cut_of_invalid_input_stays_in_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
