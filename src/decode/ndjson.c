/*
 * JSONL splitter. Bytes of the current line are gathered into a buffer capped at
 * max_line; a line longer than that keeps its first max_line bytes, counts the rest
 * without storing it, and is reported truncated when its LF arrives. Each byte is
 * scanned once (memchr for LF), whatever the chunking.
 */
#include "decode/ndjson.h"

#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/buf.h"

#define DEFAULT_MAX_LINE (8u << 20)

struct bt__ndjson {
    bt__ndjson_line_fn fn;
    void *ud;
    bt__buf line;
    size_t full_len; /* bytes of the current line seen, stored or not */
    int last_cr;     /* the last byte of the current line so far is CR */
    int stopped;     /* callback's non-zero return */
};

bt__ndjson *bt__ndjson_new(size_t max_line, bt__ndjson_line_fn fn, void *ud)
{
    if (!fn)
        return NULL;
    bt__ndjson *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fn = fn;
    p->ud = ud;
    bt__buf_init(&p->line, max_line ? max_line : DEFAULT_MAX_LINE);
    return p;
}

static int blank(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t')
            return 0;
    return 1;
}

static int emit(bt__ndjson *p)
{
    size_t len = p->line.len;
    size_t full = p->full_len;
    if (p->last_cr) {
        /* CR before LF ends the line; it is stored only when the line was not cut. */
        if (len == full)
            len--;
        full--;
    }
    const char *s = p->line.data ? p->line.data : "";
    int rc = 0;
    if (!(len == full && blank(s, len))) {
        if (p->line.data)
            p->line.data[len] = '\0'; /* drops a stored CR from the borrowed string */
        rc = p->fn(p->ud, s, len, full, full > len);
    }
    bt__buf_reset(&p->line);
    p->full_len = 0;
    p->last_cr = 0;
    return rc;
}

int bt__ndjson_feed(bt__ndjson *p, const char *data, size_t len)
{
    if (!p)
        return BT_EINVAL;
    if (p->stopped)
        return p->stopped;
    while (len > 0) {
        const char *nl = memchr(data, '\n', len);
        size_t n = nl ? (size_t)(nl - data) : len;
        if (n > 0) {
            if (!p->line.truncated)
                bt__buf_append(&p->line, data, n); /* past the cap: counted, not stored */
            p->full_len += n;
            p->last_cr = data[n - 1] == '\r';
        }
        if (!nl)
            break;
        data += n + 1;
        len -= n + 1;
        int rc = emit(p);
        if (rc)
            return p->stopped = rc;
    }
    return BT_OK;
}

int bt__ndjson_finish(bt__ndjson *p)
{
    if (!p)
        return BT_EINVAL;
    if (p->stopped)
        return p->stopped;
    if (p->full_len == 0)
        return BT_OK;
    /* The last line needs no LF; a lone trailing CR still is a line ending. */
    int rc = emit(p);
    if (rc)
        p->stopped = rc;
    return rc;
}

void bt__ndjson_free(bt__ndjson *p)
{
    if (!p)
        return;
    bt__buf_free(&p->line);
    free(p);
}
