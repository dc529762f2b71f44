/*
 * Fuzz target for the tracing core's parsers of outside input: W3C traceparent and
 * tracestate (from incoming HTTP headers), the W3C key=value lists of
 * OTEL_EXPORTER_OTLP_HEADERS / OTEL_RESOURCE_ATTRIBUTES, endpoint URL checks, and the
 * string sanitizer every attribute value goes through. The first byte picks a small
 * attribute cap; the rest is split at the first newline into two strings.
 * Invariants checked: an accepted traceparent formats back to a valid one with the same
 * ids; stored strings are valid UTF-8, NUL-terminated, and within the cap.
 */
#include <stdlib.h>
#include <string.h>

#include "core/tracer_impl.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *dup_range(const uint8_t *p, size_t n)
{
    char *s = malloc(n + 1);
    if (!s)
        abort();
    memcpy(s, p, n);
    s[n] = '\0';
    return s;
}

static void check_traceparent(const char *a, const char *b)
{
    bt_span_context c;
    if (bt_traceparent_parse(a, b, &c) != BT_OK)
        return;
    if (strlen(c.tracestate) >= BT_TRACESTATE_MAX)
        abort();
    char out[56];
    if (bt_traceparent_format(&c, out) != BT_OK || strlen(out) != 55)
        abort();
    bt_span_context again;
    if (bt_traceparent_parse(out, c.tracestate, &again) != BT_OK)
        abort();
    if (memcmp(again.trace_id, c.trace_id, 16) || memcmp(again.span_id, c.span_id, 8) ||
        again.trace_flags != c.trace_flags || strcmp(again.tracestate, c.tracestate))
        abort();
}

static void check_kv_list(const char *s)
{
    bt__attrs a = {0};
    if (bt__parse_kv_list(s, &a) == BT_OK) {
        for (size_t i = 0; i < a.n; i++) {
            const bt__attr *at = &a.items[i];
            if (!*at->key || at->type != BT__ATTR_STRING)
                abort();
            if (!bt__utf8_valid(at->v.s.ptr, at->v.s.len) || at->v.s.ptr[at->v.s.len] != '\0')
                abort();
            if (bt__attrs_find(&a, at->key) != at) /* keys are unique */
                abort();
        }
    }
    bt__attrs_free(&a);
}

static int contains(const char *s, size_t len, const char *needle)
{
    size_t n = strlen(needle);
    for (size_t i = 0; i + n <= len; i++)
        if (memcmp(s + i, needle, n) == 0)
            return 1;
    return 0;
}

static void check_sanitize(const uint8_t *p, size_t n, size_t cap)
{
    size_t len = 0;
    int cut = 0;
    char *s = bt__string_sanitize((const char *)p, n, cap, &len, &cut);
    if (!s)
        abort();
    if (s[len] != '\0' || !bt__utf8_valid(s, len))
        abort();
    if (len > cap + 64 || (cap >= 64 && len > cap))
        abort();
    /* the value may hold NULs (they are valid UTF-8), so look for the marker by length */
    if (cut && !contains(s, len, "...[truncated "))
        abort();
    free(s);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size == 0)
        return 0;
    size_t cap = 64 + (size_t)data[0] * 4;
    data++;
    size--;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t n1 = nl ? (size_t)(nl - data) : size;
    char *a = dup_range(data, n1);
    char *b = nl ? dup_range(nl + 1, size - n1 - 1) : NULL;

    check_traceparent(a, b);
    check_kv_list(a);
    (void)bt__valid_http_url(a);
    (void)bt__valid_parent(a);
    check_sanitize(data, size, cap);

    free(a);
    free(b);
    return 0;
}
