/*
 * W3C Trace Context (https://www.w3.org/TR/trace-context/): the traceparent header
 * "version-traceid-parentid-flags" and the opaque tracestate list we carry along.
 */
#include <string.h>

#include "core/tracer_impl.h"
#include "util/text.h"

static int parse_hex(const char *s, uint8_t *out, size_t n)
{
    return bt__hex_decode(s, n, out, BT__HEX_LOWERCASE_ONLY); /* uppercase is invalid per the spec */
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

/* tracestate is carried opaquely, but only when it is printable ASCII and fits. */
static void copy_tracestate(const char *ts, char out[BT_TRACESTATE_MAX])
{
    out[0] = '\0';
    if (!ts)
        return;
    while (is_ows(*ts))
        ts++;
    size_t n = strlen(ts);
    while (n && is_ows(ts[n - 1]))
        n--;
    if (n >= BT_TRACESTATE_MAX)
        return;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)ts[i] < 0x20 || (unsigned char)ts[i] > 0x7e)
            return;
    memcpy(out, ts, n);
    out[n] = '\0';
}

int bt_traceparent_parse(const char *traceparent, const char *tracestate, bt_span_context *out)
{
    if (!traceparent || !out)
        return BT_EINVAL;
    bt_span_context c;
    memset(&c, 0, sizeof c);
    const char *s = traceparent;
    while (is_ows(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_ows(s[n - 1]))
        n--;
    if (n < 55 || s[2] != '-' || s[35] != '-' || s[52] != '-')
        return BT_EPARSE;
    uint8_t version, flags;
    if (parse_hex(s, &version, 1) || version == 0xff)
        return BT_EPARSE;
    /* Version 00 is exactly 55 characters; a later version may append fields after
     * another '-', which we ignore while still reading the four we know. */
    if (version == 0 ? n != 55 : (n > 55 && s[55] != '-'))
        return BT_EPARSE;
    if (parse_hex(s + 3, c.trace_id, 16) || parse_hex(s + 36, c.span_id, 8) || parse_hex(s + 53, &flags, 1))
        return BT_EPARSE;
    if (all_zero(c.trace_id, 16) || all_zero(c.span_id, 8))
        return BT_EPARSE;
    c.trace_flags = flags;
    copy_tracestate(tracestate, c.tracestate);
    *out = c;
    return BT_OK;
}

int bt_traceparent_format(const bt_span_context *ctx, char out[56])
{
    if (!ctx || !out)
        return BT_EINVAL;
    if (all_zero(ctx->trace_id, 16) || all_zero(ctx->span_id, 8)) {
        out[0] = '\0';
        return BT_EINVAL;
    }
    char *p = out;
    *p++ = '0';
    *p++ = '0';
    *p++ = '-';
    bt__hex_encode(ctx->trace_id, 16, p);
    p += 32;
    *p++ = '-';
    bt__hex_encode(ctx->span_id, 8, p);
    p += 16;
    *p++ = '-';
    bt__hex_encode(&ctx->trace_flags, 1, p);
    return BT_OK;
}
