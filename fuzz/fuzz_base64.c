/*
 * Fuzz target for util/base64: the whole input is one base64 text. Invariants: a decode
 * never writes past bt__base64_decoded_max, and whatever decodes encodes back to exactly
 * the input (the decoder accepts one encoding per byte string, padding aside).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t max = bt__base64_decoded_max(size);
    unsigned char *out = malloc(max + 1);
    if (!out)
        abort();
    long n = bt__base64_decode((const char *)data, size, out);
    if (n >= 0) {
        if ((size_t)n > max)
            abort();
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        char *enc = malloc((size_t)n / 3 * 4 + 8);
        if (!enc)
            abort();
        size_t o = 0;
        for (size_t i = 0; i < (size_t)n; i += 3) {
            unsigned x = (unsigned)out[i] << 16 | (i + 1 < (size_t)n ? (unsigned)out[i + 1] << 8 : 0) |
                (i + 2 < (size_t)n ? out[i + 2] : 0);
            enc[o++] = tab[x >> 18 & 63];
            enc[o++] = tab[x >> 12 & 63];
            if (i + 1 < (size_t)n)
                enc[o++] = tab[x >> 6 & 63];
            if (i + 2 < (size_t)n)
                enc[o++] = tab[x & 63];
        }
        /* the input without its padding is the canonical unpadded encoding */
        size_t in = size;
        while (in && data[in - 1] == '=')
            in--;
        if (o != in || memcmp(enc, data, in) != 0)
            abort();
        free(enc);
    }
    free(out);
    return 0;
}
