/* gzip round trips through zlib's own inflate (with the gzip wrapper required). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include "braintrust/common.h"
#include "export/gzip.h"

static void inflate_gzip(const bt__buf *gz, unsigned char *out, size_t cap, size_t *out_len)
{
    z_stream zs = {0};
    assert_int_equal(inflateInit2(&zs, 16 + 15), Z_OK); /* gzip only, not zlib/raw */
    zs.next_in = (unsigned char *)gz->data;
    zs.avail_in = (uInt)gz->len;
    zs.next_out = out;
    zs.avail_out = (uInt)cap;
    assert_int_equal(inflate(&zs, Z_FINISH), Z_STREAM_END);
    *out_len = cap - zs.avail_out;
    assert_int_equal(zs.avail_in, 0);
    inflateEnd(&zs);
}

static void round_trip(const unsigned char *data, size_t len)
{
    bt__buf gz;
    bt__buf_init(&gz, 0);
    assert_int_equal(bt__gzip_compress(data, len, &gz), BT_OK);
    /* the gzip magic and the deflate method */
    assert_true(gz.len >= 18);
    assert_int_equal((unsigned char)gz.data[0], 0x1f);
    assert_int_equal((unsigned char)gz.data[1], 0x8b);
    assert_int_equal((unsigned char)gz.data[2], 8);
    unsigned char *back = malloc(len + 1);
    size_t back_len = 0;
    inflate_gzip(&gz, back, len + 1, &back_len);
    assert_int_equal(back_len, len);
    if (len)
        assert_memory_equal(back, data, len);
    free(back);
    bt__buf_free(&gz);
}

static void test_empty(void **state)
{
    (void)state;
    round_trip((const unsigned char *)"", 0);
}

static void test_small_text(void **state)
{
    (void)state;
    const char *s = "{\"resourceSpans\":[]}";
    round_trip((const unsigned char *)s, strlen(s));
}

/* Larger than zlib's internal chunking and our 16 KiB output chunk, both compressible
 * (repeated JSON) and incompressible (pseudo-random) data. */
static void test_large_inputs(void **state)
{
    (void)state;
    size_t len = 3u << 20;
    unsigned char *data = malloc(len);
    const char *pat = "{\"key\":\"gen_ai.usage.input_tokens\",\"value\":{\"intValue\":\"1234\"}},";
    for (size_t i = 0; i < len; i++)
        data[i] = (unsigned char)pat[i % strlen(pat)];
    bt__buf gz;
    bt__buf_init(&gz, 0);
    assert_int_equal(bt__gzip_compress(data, len, &gz), BT_OK);
    assert_true(gz.len < len / 50); /* repetitive text shrinks a lot */
    bt__buf_free(&gz);
    round_trip(data, len);
    uint64_t x = 88172645463325252ull;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        data[i] = (unsigned char)x;
    }
    round_trip(data, len);
    free(data);
}

/* A capped output buffer reports the cap instead of a cut stream passing as whole. */
static void test_output_cap(void **state)
{
    (void)state;
    unsigned char data[4096];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (unsigned char)(i * 7919u >> 3);
    bt__buf gz;
    bt__buf_init(&gz, 64);
    assert_int_equal(bt__gzip_compress(data, sizeof data, &gz), BT_ELIMIT);
    assert_true(gz.truncated);
    bt__buf_free(&gz);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_empty),
        cmocka_unit_test(test_small_text),
        cmocka_unit_test(test_large_inputs),
        cmocka_unit_test(test_output_cap),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
