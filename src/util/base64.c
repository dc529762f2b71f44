/* Strict base64 decoding (see base64.h). */
#include "util/base64.h"

static int value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

size_t bt__base64_decoded_max(size_t len)
{
    return (len + 3) / 4 * 3;
}

long bt__base64_decode(const char *s, size_t len, unsigned char *out)
{
    /* padding: at most two '=' at the very end, and only on a full last quantum */
    size_t pad = 0;
    while (pad < 2 && len > pad && s[len - 1 - pad] == '=')
        pad++;
    if (pad && len % 4 != 0)
        return -1;
    size_t n = len - pad; /* characters that carry bits */
    if (n % 4 == 1)
        return -1; /* a lone character cannot encode a byte */
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = value((unsigned char)s[i]);
        if (v < 0)
            return -1;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return -1; /* non-zero unused bits: not the canonical encoding */
    return (long)o;
}
