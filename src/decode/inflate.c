/*
 * Streaming Content-Encoding decoder. Decoded bytes go to the callback through one
 * fixed output chunk, so memory is the decompressor's state plus OUT_CHUNK whatever
 * the body size. Errors are reported once (the caller marks its span and stops
 * feeding); later input is ignored, never half-decoded.
 */
#include "decode/inflate.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#ifdef BT_HAVE_BROTLI
#include <brotli/decode.h>
#endif

#include "braintrust/common.h"

#define OUT_CHUNK 16384

typedef enum {
    RUNNING,
    DONE,   /* the compressed stream ended properly */
    FAILED, /* corrupt input, limit, or callback stop: already reported, input ignored */
} run_state;

struct bt__inflate {
    bt__coding coding;
    size_t max_output; /* 0 = unlimited */
    size_t out_total;
    bt__bytes_fn fn;
    void *ud;
    run_state state;
    int corrupt; /* FAILED because of bad input (finish reports it) */
    int fed;     /* any input seen: an empty body is a complete one */
    /* deflate: the first two bytes decide between a zlib header and raw deflate */
    unsigned char head[2];
    size_t head_len;
    int z_ready;
    z_stream z;
#ifdef BT_HAVE_BROTLI
    BrotliDecoderState *br;
#endif
    unsigned char out[OUT_CHUNK];
};

int bt__coding_parse(const char *value, size_t len, bt__coding *out)
{
    if (!value || !out)
        return BT_EINVAL;
    while (len > 0 && (*value == ' ' || *value == '\t')) {
        value++;
        len--;
    }
    while (len > 0 && (value[len - 1] == ' ' || value[len - 1] == '\t'))
        len--;
#define IS(lit) (len == sizeof(lit) - 1 && strncasecmp(value, lit, len) == 0)
    if (len == 0 || IS("identity"))
        *out = BT__CODING_IDENTITY;
    else if (IS("gzip") || IS("x-gzip"))
        *out = BT__CODING_GZIP;
    else if (IS("deflate"))
        *out = BT__CODING_DEFLATE;
#ifdef BT_HAVE_BROTLI
    else if (IS("br"))
        *out = BT__CODING_BR;
#endif
    else
        return BT_EUNSUPPORTED; /* unknown, "br" without brotli, or a list of codings */
#undef IS
    return BT_OK;
}

bt__inflate *bt__inflate_new(bt__coding coding, size_t max_output, bt__bytes_fn fn, void *ud)
{
    if (!fn)
        return NULL;
#ifndef BT_HAVE_BROTLI
    if (coding == BT__CODING_BR)
        return NULL;
#endif
    bt__inflate *z = calloc(1, sizeof *z);
    if (!z)
        return NULL;
    z->coding = coding;
    z->max_output = max_output;
    z->fn = fn;
    z->ud = ud;
    if (coding == BT__CODING_GZIP) {
        if (inflateInit2(&z->z, 15 + 16) != Z_OK) {
            free(z);
            return NULL;
        }
        z->z_ready = 1;
    }
#ifdef BT_HAVE_BROTLI
    if (coding == BT__CODING_BR) {
        z->br = BrotliDecoderCreateInstance(NULL, NULL, NULL);
        if (!z->br) {
            free(z);
            return NULL;
        }
    }
#endif
    return z;
}

static int fail(bt__inflate *z, int rc)
{
    z->state = FAILED;
    z->corrupt = rc == BT_EPARSE;
    return rc;
}

/* Hands decoded bytes to the callback, enforcing max_output. */
static int deliver(bt__inflate *z, const void *data, size_t len)
{
    if (len == 0)
        return BT_OK;
    int over = 0;
    if (z->max_output && len > z->max_output - z->out_total) {
        len = z->max_output - z->out_total;
        over = 1;
    }
    if (len > 0) {
        z->out_total += len;
        int rc = z->fn(z->ud, data, len);
        if (rc)
            return fail(z, rc);
    }
    return over ? fail(z, BT_ELIMIT) : BT_OK;
}

/* RFC 1952 allows concatenated gzip members; each one ends in its own trailer. */
static void next_member(bt__inflate *z)
{
    inflateReset(&z->z);
    z->state = RUNNING;
}

/* zlib wrapper header (RFC 1950): CM=8, CINFO<=7, FCHECK makes it a multiple of 31. */
static int looks_like_zlib(const unsigned char h[2])
{
    return (h[0] & 0x0f) == 8 && (h[0] >> 4) <= 7 && ((h[0] << 8) | h[1]) % 31 == 0;
}

static int run_zlib(bt__inflate *z, const unsigned char *in, size_t len)
{
    while (len > 0 && z->state == RUNNING) {
        /* zlib counts in uInt: huge inputs go in slices */
        uInt slice = len > (1u << 30) ? (1u << 30) : (uInt)len;
        z->z.next_in = (unsigned char *)in;
        z->z.avail_in = slice;
        int zr;
        do {
            z->z.next_out = z->out;
            z->z.avail_out = OUT_CHUNK;
            zr = inflate(&z->z, Z_NO_FLUSH);
            int rc = deliver(z, z->out, OUT_CHUNK - z->z.avail_out);
            if (rc)
                return rc;
            if (zr == Z_BUF_ERROR && z->z.avail_in > 0)
                return fail(z, BT_EPARSE); /* no progress with input left: never spin */
            if (zr == Z_STREAM_END || zr == Z_BUF_ERROR)
                break; /* end of stream, or all input consumed and all output flushed */
            if (zr != Z_OK)
                return fail(z, zr == Z_MEM_ERROR ? BT_ENOMEM : BT_EPARSE);
        } while (z->z.avail_in > 0 || z->z.avail_out == 0);
        size_t used = slice - z->z.avail_in;
        in += used;
        len -= used;
        if (zr == Z_STREAM_END) {
            z->state = DONE;
            if (z->coding == BT__CODING_GZIP && len > 0)
                next_member(z);
        }
    }
    /* Bytes after a complete zlib/raw deflate stream carry nothing decodable. */
    return BT_OK;
}

static int start_deflate(bt__inflate *z, const unsigned char **in, size_t *len)
{
    while (z->head_len < 2 && *len > 0) {
        z->head[z->head_len++] = **in;
        (*in)++;
        (*len)--;
    }
    if (z->head_len < 2)
        return BT_OK;
    /* Some servers send raw deflate despite RFC 9110 asking for the zlib format. A raw
     * stream can only pass the zlib header check if it opens with a stored block
     * whose padding bits are non-zero, which encoders do not produce. */
    int window = looks_like_zlib(z->head) ? 15 : -15;
    if (inflateInit2(&z->z, window) != Z_OK)
        return fail(z, BT_ENOMEM);
    z->z_ready = 1;
    return run_zlib(z, z->head, 2);
}

#ifdef BT_HAVE_BROTLI
static int run_brotli(bt__inflate *z, const unsigned char *in, size_t len)
{
    size_t avail_in = len;
    const uint8_t *next_in = in;
    for (;;) {
        size_t avail_out = OUT_CHUNK;
        uint8_t *next_out = z->out;
        BrotliDecoderResult r =
            BrotliDecoderDecompressStream(z->br, &avail_in, &next_in, &avail_out, &next_out, NULL);
        int rc = deliver(z, z->out, OUT_CHUNK - avail_out);
        if (rc)
            return rc;
        if (r == BROTLI_DECODER_RESULT_ERROR)
            return fail(z, BT_EPARSE);
        if (r == BROTLI_DECODER_RESULT_SUCCESS) {
            z->state = DONE; /* anything after the final meta-block is ignored */
            return BT_OK;
        }
        if (r == BROTLI_DECODER_RESULT_NEEDS_MORE_INPUT)
            return BT_OK;
        /* NEEDS_MORE_OUTPUT: the chunk was delivered, go round again */
    }
}
#endif

int bt__inflate_feed(bt__inflate *z, const void *data, size_t len)
{
    if (!z)
        return BT_EINVAL;
    if (!data || len == 0)
        return BT_OK;
    if (z->state == DONE && z->coding == BT__CODING_GZIP)
        next_member(z); /* a member ended exactly at the end of the previous feed */
    if (z->state != RUNNING)
        return BT_OK;
    z->fed = 1;
    const unsigned char *in = data;
    switch (z->coding) {
    case BT__CODING_IDENTITY:
        return deliver(z, in, len);
    case BT__CODING_GZIP:
        return run_zlib(z, in, len);
    case BT__CODING_DEFLATE:
        if (!z->z_ready) {
            int rc = start_deflate(z, &in, &len);
            if (rc || !z->z_ready || z->state != RUNNING)
                return rc;
        }
        return run_zlib(z, in, len);
    case BT__CODING_BR:
#ifdef BT_HAVE_BROTLI
        return run_brotli(z, in, len);
#else
        return fail(z, BT_EUNSUPPORTED);
#endif
    }
    return BT_EINVAL;
}

int bt__inflate_finish(bt__inflate *z)
{
    if (!z)
        return BT_EINVAL;
    if (z->coding == BT__CODING_IDENTITY || !z->fed)
        return BT_OK; /* no body at all (204, HEAD) encodes nothing and is not cut */
    if (z->state == DONE)
        return BT_OK;
    if (z->state == FAILED && !z->corrupt)
        return BT_OK; /* limit or callback stop: reported by feed already */
    return BT_EPARSE; /* cut short, corrupt, or never started */
}

void bt__inflate_free(bt__inflate *z)
{
    if (!z)
        return;
    if (z->z_ready)
        inflateEnd(&z->z);
#ifdef BT_HAVE_BROTLI
    if (z->br)
        BrotliDecoderDestroyInstance(z->br);
#endif
    free(z);
}
