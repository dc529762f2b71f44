/* Strict base64 decoding: RFC 4648 vectors, padding rules, refusals. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

static long decode(const char *s, unsigned char *out)
{
    return bt__base64_decode(s, strlen(s), out);
}

static void test_rfc4648_vectors(void **state)
{
    (void)state;
    static const struct {
        const char *b64, *plain;
    } v[] = {{"", ""},
             {"Zg==", "f"},
             {"Zm8=", "fo"},
             {"Zm9v", "foo"},
             {"Zm9vYg==", "foob"},
             {"Zm9vYmE=", "fooba"},
             {"Zm9vYmFy", "foobar"}};
    unsigned char out[16];
    for (size_t i = 0; i < sizeof v / sizeof *v; i++) {
        long n = decode(v[i].b64, out);
        assert_int_equal(n, (long)strlen(v[i].plain));
        assert_memory_equal(out, v[i].plain, (size_t)n);
        assert_true(bt__base64_decoded_max(strlen(v[i].b64)) >= (size_t)n);
    }
    /* padding may be left out */
    assert_int_equal(decode("Zg", out), 1);
    assert_int_equal(decode("Zm8", out), 2);
    /* all 256 byte values, through + and / */
    unsigned char all[256], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    char enc[345];
    size_t o = 0;
    for (size_t i = 0; i < 256; i += 3) {
        unsigned x = (unsigned)all[i] << 16 | (i + 1 < 256 ? (unsigned)all[i + 1] << 8 : 0) |
            (i + 2 < 256 ? all[i + 2] : 0);
        enc[o++] = tab[x >> 18 & 63];
        enc[o++] = tab[x >> 12 & 63];
        enc[o++] = i + 1 < 256 ? tab[x >> 6 & 63] : '=';
        enc[o++] = i + 2 < 256 ? tab[x & 63] : '=';
    }
    enc[o] = '\0';
    assert_int_equal(bt__base64_decode(enc, o, back), 256);
    assert_memory_equal(back, all, 256);
}

static void test_refusals(void **state)
{
    (void)state;
    unsigned char out[64];
    static const char *const bad[] = {
        "Z",        /* a lone character */
        "Zg=",      /* padding on a short quantum */
        "Zg===",    /* too much padding */
        "Z===",     /* padding where data belongs */
        "Zh==",     /* non-zero unused bits: not canonical */
        "Zm9=",     /* the same with one pad */
        "Zm9v\n",   /* whitespace */
        "Zm 9v",    /* inside too */
        "Zm9v-_==", /* the URL alphabet */
        "=Zm9",     /* padding first */
        "Zg==Zg==", /* padding in the middle */
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_int_equal(decode(bad[i], out), -1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rfc4648_vectors),
        cmocka_unit_test(test_refusals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
