/* Content-Encoding decoding: header parsing, gzip (multi-member), zlib and raw
 * deflate, brotli, identity; any chunking; cut and corrupt streams; the output cap
 * against a decompression bomb; fixed-size output chunks. Compressed inputs are made
 * in the test (zlib here; brotli with a stored-block writer, see brotli_stored). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "braintrust/common.h"
#include "decode/inflate.h"
#include "util/buf.h"

#ifdef BT_HAVE_BROTLI_ENCODER
#include <brotli/encode.h>
#endif

#define OUT_CHUNK_MAX 16384

typedef struct {
    bt__buf out;
    size_t calls;
    size_t biggest;
    int stop_rc; /* returned once out.len passes stop_after */
    size_t stop_after;
} sink;

static int on_bytes(void *ud, const char *data, size_t len)
{
    sink *s = ud;
    assert_true(len > 0);
    s->calls++;
    if (len > s->biggest)
        s->biggest = len;
    bt__buf_append(&s->out, data, len);
    return s->stop_rc && s->out.len > s->stop_after ? s->stop_rc : 0;
}

static void sink_init(sink *s)
{
    memset(s, 0, sizeof *s);
    bt__buf_init(&s->out, 0);
}

/* Sample text that compresses, but not to nothing. */
static char *sample(size_t len)
{
    char *p = malloc(len + 1);
    assert_non_null(p);
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < len; i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        p[i] = (x & 7) ? "event: data {\"type\":\"text\"}\n"[i % 29] : (char)(x >> 24);
    }
    p[len] = '\0';
    return p;
}

/* windowBits: 15 zlib, 31 gzip, -15 raw. */
static void compress_zlib(const void *in, size_t len, int window_bits, bt__buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY), Z_OK);
    z.next_in = (unsigned char *)in;
    z.avail_in = (uInt)len;
    unsigned char buf[8192];
    int rc;
    do {
        z.next_out = buf;
        z.avail_out = sizeof buf;
        rc = deflate(&z, Z_FINISH);
        bt__buf_append(out, buf, sizeof buf - z.avail_out);
    } while (rc == Z_OK);
    assert_int_equal(rc, Z_STREAM_END);
    deflateEnd(&z);
}

/* Brotli (RFC 7932) with uncompressed meta-blocks only: WBITS=16, then per block of
 * up to 64 KiB ISLAST=0, MNIBBLES=4, MLEN-1, ISUNCOMPRESSED=1, byte-aligned payload;
 * then an empty last meta-block. A valid stream any decoder must accept. */
typedef struct {
    bt__buf *out;
    uint32_t acc;
    int nbits;
} bitw;

static void put_bits(bitw *w, uint32_t v, int n)
{
    for (int i = 0; i < n; i++) {
        w->acc |= ((v >> i) & 1u) << w->nbits;
        if (++w->nbits == 8) {
            bt__buf_append_char(w->out, (char)w->acc);
            w->acc = 0;
            w->nbits = 0;
        }
    }
}

static void align(bitw *w)
{
    if (w->nbits)
        put_bits(w, 0, 8 - w->nbits);
}

static void brotli_stored(const char *in, size_t len, bt__buf *out)
{
    bitw w = {out, 0, 0};
    put_bits(&w, 0, 1); /* WBITS = 16 */
    for (size_t at = 0; at < len; at += 65536) {
        size_t n = len - at < 65536 ? len - at : 65536;
        put_bits(&w, 0, 1);                  /* ISLAST */
        put_bits(&w, 0, 2);                  /* MNIBBLES = 4 */
        put_bits(&w, (uint32_t)(n - 1), 16); /* MLEN - 1 */
        put_bits(&w, 1, 1);                  /* ISUNCOMPRESSED */
        align(&w);
        bt__buf_append(out, in + at, n);
    }
    put_bits(&w, 1, 1); /* ISLAST */
    put_bits(&w, 1, 1); /* ISLASTEMPTY */
    align(&w);
}

/* Decodes `in` fed in pieces of `piece` bytes (0 = one piece). Returns finish(). */
static int decode(bt__coding coding, const char *in, size_t len, size_t piece, size_t max, sink *s,
                  int *first_error)
{
    sink_init(s);
    bt__inflate *z = bt__inflate_new(coding, max, on_bytes, s);
    assert_non_null(z);
    *first_error = BT_OK;
    for (size_t at = 0; at < len;) {
        size_t n = piece && len - at > piece ? piece : len - at;
        int rc = bt__inflate_feed(z, in + at, n);
        if (rc != BT_OK && *first_error == BT_OK)
            *first_error = rc;
        else if (rc != BT_OK)
            fail_msg("error %d reported twice", rc);
        at += n;
    }
    int rc = bt__inflate_finish(z);
    bt__inflate_free(z);
    return rc;
}

static void assert_round_trip(bt__coding coding, const bt__buf *enc, const char *plain, size_t plain_len)
{
    static const size_t PIECES[] = {0, 1, 2, 3, 7, 100, 4096, 65537};
    for (size_t i = 0; i < sizeof PIECES / sizeof PIECES[0]; i++) {
        sink s;
        int err;
        assert_int_equal(decode(coding, enc->data, enc->len, PIECES[i], 0, &s, &err), BT_OK);
        assert_int_equal(err, BT_OK);
        assert_int_equal(s.out.len, plain_len);
        assert_memory_equal(s.out.data, plain, plain_len);
        assert_true(s.biggest <= OUT_CHUNK_MAX);
        bt__buf_free(&s.out);
    }
}

static void test_coding_parse(void **state)
{
    (void)state;
    static const struct {
        const char *v;
        int rc;
        bt__coding c;
    } T[] = {
        {"gzip", BT_OK, BT__CODING_GZIP},       {" GZip\t", BT_OK, BT__CODING_GZIP},
        {"x-gzip", BT_OK, BT__CODING_GZIP},     {"deflate", BT_OK, BT__CODING_DEFLATE},
        {"DEFLATE", BT_OK, BT__CODING_DEFLATE}, {"identity", BT_OK, BT__CODING_IDENTITY},
        {"", BT_OK, BT__CODING_IDENTITY},       {"  ", BT_OK, BT__CODING_IDENTITY},
        {"gzip, br", BT_EUNSUPPORTED, 0},       {"gzip,gzip", BT_EUNSUPPORTED, 0},
        {"compress", BT_EUNSUPPORTED, 0},       {"zstd", BT_EUNSUPPORTED, 0},
        {"gzipx", BT_EUNSUPPORTED, 0},          {"gz", BT_EUNSUPPORTED, 0},
#ifdef BT_HAVE_BROTLI
        {"br", BT_OK, BT__CODING_BR},           {" BR ", BT_OK, BT__CODING_BR},
#else
        {"br", BT_EUNSUPPORTED, 0},
#endif
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        bt__coding c = (bt__coding)99;
        int rc = bt__coding_parse(T[i].v, strlen(T[i].v), &c);
        if (rc != T[i].rc || (rc == BT_OK && c != T[i].c))
            fail_msg("'%s': rc %d coding %d", T[i].v, rc, (int)c);
    }
    bt__coding c;
    assert_int_equal(bt__coding_parse(NULL, 0, &c), BT_EINVAL);
    assert_int_equal(bt__coding_parse("gzip", 4, NULL), BT_EINVAL);
    /* Length-bounded: the bytes after len are not looked at. */
    assert_int_equal(bt__coding_parse("gzipXXXX", 4, &c), BT_OK);
    assert_int_equal(c, BT__CODING_GZIP);
}

static void test_gzip_round_trip(void **state)
{
    (void)state;
    size_t n = 200000;
    char *plain = sample(n);
    bt__buf enc;
    bt__buf_init(&enc, 0);
    compress_zlib(plain, n, 31, &enc);
    assert_true(enc.len < n);
    assert_round_trip(BT__CODING_GZIP, &enc, plain, n);
    bt__buf_free(&enc);
    free(plain);
}

static void test_gzip_multi_member(void **state)
{
    (void)state;
    const char *a = "first member|", *b = "second member";
    bt__buf enc;
    bt__buf_init(&enc, 0);
    compress_zlib(a, strlen(a), 31, &enc);
    size_t boundary = enc.len;
    compress_zlib(b, strlen(b), 31, &enc);
    assert_round_trip(BT__CODING_GZIP, &enc, "first member|second member", 26);

    /* Split exactly at the member boundary. */
    sink s;
    sink_init(&s);
    bt__inflate *z = bt__inflate_new(BT__CODING_GZIP, 0, on_bytes, &s);
    assert_int_equal(bt__inflate_feed(z, enc.data, boundary), BT_OK);
    assert_int_equal(bt__inflate_finish(z), BT_OK); /* a complete member so far */
    assert_int_equal(bt__inflate_feed(z, enc.data + boundary, enc.len - boundary), BT_OK);
    assert_int_equal(bt__inflate_finish(z), BT_OK);
    bt__inflate_free(z);
    assert_int_equal(s.out.len, 26);
    assert_memory_equal(s.out.data, "first member|second member", 26);
    bt__buf_free(&s.out);
    bt__buf_free(&enc);
}

static void test_deflate_zlib_and_raw(void **state)
{
    (void)state;
    size_t n = 50000;
    char *plain = sample(n);
    for (int raw = 0; raw <= 1; raw++) {
        bt__buf enc;
        bt__buf_init(&enc, 0);
        compress_zlib(plain, n, raw ? -15 : 15, &enc);
        assert_round_trip(BT__CODING_DEFLATE, &enc, plain, n);
        bt__buf_free(&enc);
    }
    /* A one-byte raw deflate stream body still decodes after the header sniff. */
    bt__buf enc;
    bt__buf_init(&enc, 0);
    compress_zlib("", 0, -15, &enc);
    sink s;
    int err;
    assert_int_equal(decode(BT__CODING_DEFLATE, enc.data, enc.len, 1, 0, &s, &err), BT_OK);
    assert_int_equal(s.out.len, 0);
    bt__buf_free(&s.out);
    bt__buf_free(&enc);
    free(plain);
}

static void test_identity_and_cap(void **state)
{
    (void)state;
    sink s;
    int err;
    assert_int_equal(decode(BT__CODING_IDENTITY, "hello world", 11, 3, 0, &s, &err), BT_OK);
    assert_string_equal(s.out.data, "hello world");
    bt__buf_free(&s.out);
    assert_int_equal(decode(BT__CODING_IDENTITY, "hello world", 11, 3, 5, &s, &err), BT_OK);
    assert_int_equal(err, BT_ELIMIT);
    assert_string_equal(s.out.data, "hello");
    bt__buf_free(&s.out);
}

/* Every proper prefix of a compressed stream is "cut short" at finish, and what was
 * decodable from it is a prefix of the plain text. */
static void test_every_cut_is_reported(void **state)
{
    (void)state;
    const char *plain = "The quick brown fox jumps over the lazy dog, twice: the quick brown fox.";
    size_t n = strlen(plain);
    static const struct {
        bt__coding coding;
        int bits;
    } KINDS[] = {{BT__CODING_GZIP, 31}, {BT__CODING_DEFLATE, 15}, {BT__CODING_DEFLATE, -15}};
    for (size_t k = 0; k < 3; k++) {
        bt__buf enc;
        bt__buf_init(&enc, 0);
        compress_zlib(plain, n, KINDS[k].bits, &enc);
        for (size_t cut = 1; cut < enc.len; cut++) {
            sink s;
            int err;
            int rc = decode(KINDS[k].coding, enc.data, cut, 0, 0, &s, &err);
            if (rc != BT_EPARSE)
                fail_msg("kind %zu cut %zu/%zu: finish %d", k, cut, enc.len, rc);
            assert_true(s.out.len <= n);
            if (s.out.len)
                assert_memory_equal(s.out.data, plain, s.out.len);
            bt__buf_free(&s.out);
        }
        bt__buf_free(&enc);
    }
}

static void test_corrupt_reported_once(void **state)
{
    (void)state;
    size_t n = 100000;
    char *plain = sample(n);
    bt__buf enc;
    bt__buf_init(&enc, 0);
    compress_zlib(plain, n, 31, &enc);
    for (size_t i = enc.len / 2; i < enc.len / 2 + 64; i++)
        enc.data[i] ^= 0x5a;
    sink s;
    int err;
    assert_int_equal(decode(BT__CODING_GZIP, enc.data, enc.len, 1000, 0, &s, &err), BT_EPARSE);
    assert_int_equal(err, BT_EPARSE); /* decode() fails the test if reported twice */
    assert_true(s.out.len < n || memcmp(s.out.data, plain, n) != 0);
    bt__buf_free(&s.out);

    /* Not compressed at all. */
    const char *junk = "{\"type\":\"error\"} this is not gzip";
    assert_int_equal(decode(BT__CODING_GZIP, junk, strlen(junk), 0, 0, &s, &err), BT_EPARSE);
    assert_int_equal(err, BT_EPARSE);
    assert_int_equal(s.out.len, 0);
    bt__buf_free(&s.out);

    /* Garbage after a complete member is not a second member. */
    bt__buf_reset(&enc);
    compress_zlib("ok", 2, 31, &enc);
    bt__buf_append_str(&enc, "garbage!");
    assert_int_equal(decode(BT__CODING_GZIP, enc.data, enc.len, 0, 0, &s, &err), BT_EPARSE);
    assert_int_equal(err, BT_EPARSE);
    assert_string_equal(s.out.data, "ok");
    bt__buf_free(&s.out);
    bt__buf_free(&enc);
    free(plain);
}

/* 64 MiB of zeros compress to ~64 KiB; with a 1 MiB cap exactly 1 MiB comes out,
 * ELIMIT is reported once and the rest of the input is ignored cheaply. */
static void test_bomb_is_capped(void **state)
{
    (void)state;
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 9, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    static unsigned char zeros[1 << 16];
    bt__buf enc;
    bt__buf_init(&enc, 0);
    unsigned char buf[8192];
    for (int i = 0; i < 1024; i++) {
        z.next_in = zeros;
        z.avail_in = sizeof zeros;
        int flush = i == 1023 ? Z_FINISH : Z_NO_FLUSH;
        do {
            z.next_out = buf;
            z.avail_out = sizeof buf;
            deflate(&z, flush);
            bt__buf_append(&enc, buf, sizeof buf - z.avail_out);
        } while (z.avail_out == 0);
    }
    deflateEnd(&z);
    assert_true(enc.len < (1u << 20) / 4);

    sink s;
    int err;
    int rc = decode(BT__CODING_GZIP, enc.data, enc.len, 4096, 1u << 20, &s, &err);
    assert_int_equal(err, BT_ELIMIT);
    assert_int_equal(rc, BT_OK); /* the limit was already reported by feed */
    assert_int_equal(s.out.len, 1u << 20);
    assert_true(s.biggest <= OUT_CHUNK_MAX);
    bt__buf_free(&s.out);
    bt__buf_free(&enc);
}

static void test_callback_stop_and_empty(void **state)
{
    (void)state;
    size_t n = 100000;
    char *plain = sample(n);
    bt__buf enc;
    bt__buf_init(&enc, 0);
    compress_zlib(plain, n, 31, &enc);
    sink s;
    sink_init(&s);
    s.stop_rc = 42;
    s.stop_after = 20000;
    bt__inflate *z = bt__inflate_new(BT__CODING_GZIP, 0, on_bytes, &s);
    assert_int_equal(bt__inflate_feed(z, enc.data, enc.len), 42);
    size_t got = s.out.len;
    assert_int_equal(bt__inflate_feed(z, enc.data, enc.len), BT_OK); /* ignored */
    assert_int_equal(s.out.len, got);
    bt__inflate_free(z);
    bt__buf_free(&s.out);

    /* No body at all (HEAD, 204) is not a cut stream. */
    int err;
    assert_int_equal(decode(BT__CODING_GZIP, "", 0, 0, 0, &s, &err), BT_OK);
    bt__buf_free(&s.out);

    assert_null(bt__inflate_new(BT__CODING_GZIP, 0, NULL, NULL));
    assert_int_equal(bt__inflate_feed(NULL, "x", 1), BT_EINVAL);
    assert_int_equal(bt__inflate_finish(NULL), BT_EINVAL);
    bt__inflate_free(NULL);
    bt__buf_free(&enc);
    free(plain);
}

static void test_brotli(void **state)
{
    (void)state;
#ifdef BT_HAVE_BROTLI
    size_t n = 150000; /* three meta-blocks */
    char *plain = sample(n);
    bt__buf enc;
    bt__buf_init(&enc, 0);
    brotli_stored(plain, n, &enc);
    assert_round_trip(BT__CODING_BR, &enc, plain, n);
#ifdef BT_HAVE_BROTLI_ENCODER
    {
        /* Really compressed data too (quality 5, a 4 MiB window), not only stored blocks. */
        size_t clen = BrotliEncoderMaxCompressedSize(n);
        uint8_t *compressed = malloc(clen);
        assert_non_null(compressed);
        assert_int_equal(
            BrotliEncoderCompress(5, 22, BROTLI_MODE_TEXT, n, (const uint8_t *)plain, &clen, compressed),
            BROTLI_TRUE);
        assert_true(clen < n / 2);
        bt__buf real;
        bt__buf_init(&real, 0);
        bt__buf_append(&real, compressed, clen);
        free(compressed);
        assert_round_trip(BT__CODING_BR, &real, plain, n);
        bt__buf_free(&real);
    }
#endif

    sink s;
    int err;
    /* Cut before the last meta-block. */
    assert_int_equal(decode(BT__CODING_BR, enc.data, enc.len - 1, 999, 0, &s, &err), BT_EPARSE);
    assert_int_equal(err, BT_OK);
    bt__buf_free(&s.out);
    /* Cap. */
    assert_int_equal(decode(BT__CODING_BR, enc.data, enc.len, 999, 1000, &s, &err), BT_OK);
    assert_int_equal(err, BT_ELIMIT);
    assert_int_equal(s.out.len, 1000);
    bt__buf_free(&s.out);
    /* Non-zero padding bits before a stored block are an error (RFC 7932 9.2): the
     * header takes 21 bits, so the top bits of byte 2 are padding. */
    enc.data[2] |= (char)0x80;
    assert_int_equal(decode(BT__CODING_BR, enc.data, enc.len, 0, 0, &s, &err), BT_EPARSE);
    assert_int_equal(err, BT_EPARSE);
    assert_int_equal(s.out.len, 0);
    bt__buf_free(&s.out);
    bt__buf_free(&enc);
    free(plain);
#else
    assert_null(bt__inflate_new(BT__CODING_BR, 0, on_bytes, NULL));
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_coding_parse),
        cmocka_unit_test(test_gzip_round_trip),
        cmocka_unit_test(test_gzip_multi_member),
        cmocka_unit_test(test_deflate_zlib_and_raw),
        cmocka_unit_test(test_identity_and_cap),
        cmocka_unit_test(test_every_cut_is_reported),
        cmocka_unit_test(test_corrupt_reported_once),
        cmocka_unit_test(test_bomb_is_capped),
        cmocka_unit_test(test_callback_stop_and_empty),
        cmocka_unit_test(test_brotli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
