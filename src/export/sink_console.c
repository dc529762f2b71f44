/*
 * The console sink: one readable line per span on stderr, e.g.
 *   [braintrust] anthropic.messages.create 812.4ms trace=4bf92f35 span=00f067aa OK
 * Each line is built first and written with one call, so lines from concurrent
 * programs sharing the terminal do not interleave mid-line.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/sink.h"
#include "core/sink_internal.h"
#include "util/buf.h"
#include "util/text.h"
#include "util/utf8.h"

typedef struct console_sink {
    bt_sink base;
    bt__buf line;
} console_sink;

/* Appends at most `max` bytes of `s`, with control characters shown as '?', so that a
 * span name or error message can never forge extra lines or terminal escapes. */
static void append_printable(bt__buf *b, const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    int cut = n > max;
    if (cut)
        n = bt__utf8_cut(s, max);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        bt__buf_append_char(b, c < 0x20 || c == 0x7f ? '?' : (char)c);
    }
    if (cut)
        bt__buf_append_str(b, "...");
}

static void append_hex(bt__buf *b, const uint8_t *p, size_t n)
{
    char tmp[2 * 16 + 1];
    bt__hex_encode(p, n < 16 ? n : 16, tmp);
    bt__buf_append_str(b, tmp);
}

static int console_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    console_sink *c = (console_sink *)sink;
    for (size_t i = 0; i < n; i++) {
        const bt_span *s = spans[i];
        bt__buf *b = &c->line;
        bt__buf_reset(b);
        bt__buf_append_str(b, "[braintrust] ");
        append_printable(b, s->name, 120);
        uint64_t dur = s->end_unix_nano > s->start_unix_nano ? s->end_unix_nano - s->start_unix_nano : 0;
        bt__buf_printf(b, " %.1fms trace=", (double)dur / 1e6);
        append_hex(b, s->trace_id, 4);
        bt__buf_append_str(b, " span=");
        append_hex(b, s->span_id, 4);
        switch (s->status_code) {
        case BT_STATUS_OK:
            bt__buf_append_str(b, " OK");
            break;
        case BT_STATUS_ERROR:
            bt__buf_append_str(b, " ERROR");
            if (s->status_message && *s->status_message) {
                bt__buf_append_str(b, ": ");
                append_printable(b, s->status_message, 200);
            }
            break;
        default:
            bt__buf_append_str(b, " UNSET");
            break;
        }
        bt__buf_append_char(b, '\n');
        fwrite(b->data, 1, b->len, stderr);
    }
    fflush(stderr);
    return BT_OK;
}

static void console_free(bt_sink *sink)
{
    console_sink *c = (console_sink *)sink;
    bt__buf_free(&c->line);
    free(c);
}

static void console_describe(bt_sink *sink, bt__buf *out)
{
    (void)sink;
    bt__buf_append_str(out, "the console (stderr)");
}

static const bt__sink_vtable console_vt = {
    .describe = console_describe,
    .name = "console",
    .export_spans = console_export,
    .free = console_free,
    .local = 1,
};

int bt_sink_console_new(bt_sink **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    console_sink *c = calloc(1, sizeof *c);
    if (!c)
        return BT_ENOMEM;
    c->base.vt = &console_vt;
    bt__buf_init(&c->line, 4096);
    *out = &c->base;
    return BT_OK;
}
