/*
 * Fuzz target: Content-Encoding decoding. Byte 0 picks the coding and whether a small
 * output cap applies, bytes 1-2 a split point; the rest is the body. Invariants: the
 * first error, finish() and the decoded bytes are the same in one piece and split
 * (on corrupt input: up to where the corruption was noticed);
 * output never passes the cap; and the body itself, gzip-compressed here, decodes
 * back to exactly itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "braintrust/common.h"
#include "decode/inflate.h"
#include "util/buf.h"

typedef struct {
    bt__buf out;
    int first_error;
    int finish;
} result;

static int on_bytes(void *ud, const char *data, size_t len)
{
    result *r = ud;
    if (len == 0 || len > 16384)
        abort();
    bt__buf_append(&r->out, data, len);
    return 0;
}

static void decode(bt__coding coding, size_t cap, const uint8_t *in, size_t len, size_t cut, result *r)
{
    memset(r, 0, sizeof *r);
    bt__buf_init(&r->out, 0);
    bt__inflate *z = bt__inflate_new(coding, cap, on_bytes, r);
    if (!z) {
        r->finish = BT_EUNSUPPORTED; /* brotli not built in */
        return;
    }
    size_t parts[2][2] = {{0, cut}, {cut, len}};
    for (int i = 0; i < 2; i++) {
        int rc = bt__inflate_feed(z, in + parts[i][0], parts[i][1] - parts[i][0]);
        if (rc != BT_OK && r->first_error == BT_OK)
            r->first_error = rc;
        else if (rc != BT_OK)
            abort(); /* errors are reported once */
    }
    r->finish = bt__inflate_finish(z);
    bt__inflate_free(z);
    if (cap && r->out.len > cap)
        abort();
}

static void round_trip(const uint8_t *in, size_t len)
{
    z_stream zs;
    memset(&zs, 0, sizeof zs);
    if (deflateInit2(&zs, 1, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return;
    uLong bound = deflateBound(&zs, (uLong)len) + 32;
    uint8_t *enc = malloc(bound);
    if (!enc) {
        deflateEnd(&zs);
        return;
    }
    zs.next_in = (uint8_t *)in;
    zs.avail_in = (uInt)len;
    zs.next_out = enc;
    zs.avail_out = (uInt)bound;
    if (deflate(&zs, Z_FINISH) != Z_STREAM_END)
        abort();
    size_t enc_len = bound - zs.avail_out;
    deflateEnd(&zs);
    result r;
    decode(BT__CODING_GZIP, 0, enc, enc_len, enc_len / 2, &r);
    if (r.first_error != BT_OK || r.finish != BT_OK || r.out.len != len ||
        (len && memcmp(r.out.data, in, len) != 0))
        abort();
    bt__buf_free(&r.out);
    free(enc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3)
        return 0;
    static const bt__coding CODINGS[4] = {BT__CODING_GZIP, BT__CODING_DEFLATE, BT__CODING_BR,
                                          BT__CODING_IDENTITY};
    bt__coding coding = CODINGS[data[0] & 3];
    size_t cap = data[0] & 4 ? 1 + (size_t)(data[0] >> 3) * 97 : 0;
    size_t split = (size_t)data[1] << 8 | data[2];
    data += 3;
    size -= 3;
    uint8_t *in = calloc(1, size ? size : 1);
    if (!in)
        return 0;
    if (size)
        memcpy(in, data, size);

    result whole, parts;
    decode(coding, cap, in, size, size, &whole);
    decode(coding, cap, in, size, size ? split % (size + 1) : 0, &parts);
    /* On corrupt input a decoder may flush more or less before noticing, depending on
     * how the input was cut (brotli does), and so may even reach the cap first: then
     * both runs end in EPARSE or ELIMIT and one output is a prefix of the other.
     * Otherwise the runs are identical. */
    int corrupt = whole.first_error == BT_EPARSE || parts.first_error == BT_EPARSE;
    if (!corrupt &&
        (whole.first_error != parts.first_error || whole.finish != parts.finish ||
         whole.out.len != parts.out.len))
        abort();
    if (corrupt &&
        ((whole.first_error != BT_EPARSE && whole.first_error != BT_ELIMIT) ||
         (parts.first_error != BT_EPARSE && parts.first_error != BT_ELIMIT)))
        abort();
    size_t shorter = whole.out.len < parts.out.len ? whole.out.len : parts.out.len;
    if (shorter && memcmp(whole.out.data, parts.out.data, shorter) != 0)
        abort();
    bt__buf_free(&whole.out);
    bt__buf_free(&parts.out);

    if (size <= 65536)
        round_trip(in, size);
    free(in);
    return 0;
}
