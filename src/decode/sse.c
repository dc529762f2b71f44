/*
 * Server-sent events framing as a byte-level state machine. Field values are copied
 * straight from the input into the event's buffers as they arrive, so every input byte
 * is looked at once (O(n) whatever the chunking) and no line is ever buffered whole:
 * memory is the data buffer (capped at max_event_bytes) plus a short event type.
 *
 * Oversized events are delivered, not dropped: the tracer would rather record the
 * first max_event_bytes of a huge content_block_delta, marked truncated, than lose the
 * event (and with it the fact that the stream continued). Data after the cap is
 * skipped up to the blank line that ends the event, which is where parsing resyncs.
 */
#include "decode/sse.h"

#include <stdlib.h>
#include <string.h>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

#include "braintrust/common.h"
#include "util/buf.h"

/* Longest field name worth recognising ("event", "data", "retry", "id"); longer names
 * are unknown fields and their lines are ignored. */
#define FIELD_NAME_MAX 8
/* Event types are short identifiers ("content_block_delta"); a longer one is cut. */
#define EVENT_TYPE_MAX 256
#define DEFAULT_MAX_EVENT (8u << 20)

typedef enum {
    AT_LINE_START, /* nothing of the current line seen yet */
    IN_NAME,       /* reading the field name */
    AFTER_COLON,   /* just past ':'; one space may follow */
    IN_VALUE,      /* copying the value of a known field */
    SKIP_LINE      /* comment, unknown field, or ignored value: drop to end of line */
} line_state;

typedef enum { FIELD_OTHER, FIELD_DATA, FIELD_EVENT } field_kind;

static const unsigned char BOM[3] = {0xEF, 0xBB, 0xBF};

struct bt__sse {
    bt__sse_event_fn fn;
    void *ud;
    bt__buf data;
    bt__buf type;
    int has_data;       /* at least one data field in the current event */
    int pending;        /* a non-blank line was seen since the last dispatch */
    int data_truncated; /* the current event's data hit the cap */
    line_state state;
    field_kind field;
    char name[FIELD_NAME_MAX];
    size_t name_len;
    int name_overflow;
    int after_cr;    /* the previous byte was CR: a following LF belongs to it */
    size_t bom_seen; /* BOM bytes matched at the start of the stream */
    int bom_done;
    int stopped;                /* callback's non-zero return; parsing has stopped */
    unsigned long without_data; /* field blocks that ended without a data line */
};

bt__sse *bt__sse_new(size_t max_event_bytes, bt__sse_event_fn fn, void *ud)
{
    if (!fn)
        return NULL;
    bt__sse *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    p->fn = fn;
    p->ud = ud;
    bt__buf_init(&p->data, max_event_bytes ? max_event_bytes : DEFAULT_MAX_EVENT);
    bt__buf_init(&p->type, EVENT_TYPE_MAX);
    return p;
}

static void reset_event(bt__sse *p)
{
    bt__buf_reset(&p->data);
    bt__buf_reset(&p->type);
    p->has_data = 0;
    p->pending = 0;
    p->data_truncated = 0;
}

static int dispatch(bt__sse *p)
{
    int rc = 0;
    if (!p->has_data && p->pending)
        p->without_data++; /* fields but no data: per the spec, not an event */
    if (p->has_data) {
        const char *type = p->type.len ? p->type.data : "message";
        size_t type_len = p->type.len ? p->type.len : 7;
        const char *data = p->data.data ? p->data.data : "";
        rc = p->fn(p->ud, type, type_len, data, p->data.len, p->data_truncated || p->type.truncated);
    }
    reset_event(p);
    return rc;
}

static field_kind classify(const bt__sse *p)
{
    if (p->name_overflow)
        return FIELD_OTHER;
    if (p->name_len == 4 && memcmp(p->name, "data", 4) == 0)
        return FIELD_DATA;
    if (p->name_len == 5 && memcmp(p->name, "event", 5) == 0)
        return FIELD_EVENT;
    return FIELD_OTHER; /* id, retry and unknown fields do not affect what we report */
}

/* A field's value starts: set up the buffer it goes to. */
static void begin_value(bt__sse *p)
{
    p->field = classify(p);
    if (p->field == FIELD_DATA) {
        if (p->has_data && !p->data_truncated && bt__buf_append_char(&p->data, '\n') != BT_OK)
            p->data_truncated = 1;
        p->has_data = 1;
    } else if (p->field == FIELD_EVENT) {
        bt__buf_reset(&p->type);
    }
}

static void append_value(bt__sse *p, const char *s, size_t n)
{
    if (p->field == FIELD_DATA) {
        if (!p->data_truncated && bt__buf_append(&p->data, s, n) != BT_OK)
            p->data_truncated = 1;
    } else if (p->field == FIELD_EVENT) {
        bt__buf_append(&p->type, s, n); /* a cut type sets type.truncated */
    }
}

/* End of a line. Returns the callback's result when the line dispatched. */
static int end_line(bt__sse *p)
{
    line_state st = p->state;
    p->state = AT_LINE_START;
    switch (st) {
    case AT_LINE_START:
        return dispatch(p);
    case IN_NAME:
        /* A field without a colon has the whole line as its name and "" as value. */
        begin_value(p);
        break;
    default:
        break;
    }
    return 0;
}

/* The first CR or LF at or after i, or len: the end of the line's bytes in this feed.
 * Lines are mostly long data values, so the search goes 16 bytes at a time. */
static size_t line_end(const char *d, size_t i, size_t len)
{
#if defined(__SSE2__)
    const __m128i cr = _mm_set1_epi8('\r'), lf = _mm_set1_epi8('\n');
    while (i + 16 <= len) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(d + i));
        int bits = _mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(v, cr), _mm_cmpeq_epi8(v, lf)));
        if (bits)
            return i + (size_t)__builtin_ctz((unsigned)bits);
        i += 16;
    }
#endif
    while (i < len && d[i] != '\r' && d[i] != '\n')
        i++;
    return i;
}

/* Nearly every event is "event: NAME\ndata: JSON\n\n", whole within one feed. At the
 * start of an event, such a one is found with two line searches and dispatched at once
 * (the data copied once, to be NUL-terminated), the state machine skipped. Returns the
 * bytes it used (0: not that form, or not whole here; the state machine reads it), and
 * the callback's result in *rc. */
static size_t whole_event(bt__sse *p, const char *d, size_t len, int *rc)
{
    static const char EVENT[] = "event: ", DATA[] = "data: ";
    if (len < 16 || memcmp(d, EVENT, 7) != 0)
        return 0;
    size_t name_end = line_end(d, 7, len);
    if (name_end >= len || d[name_end] != '\n' || name_end - 7 >= EVENT_TYPE_MAX || len - name_end < 7 ||
        memcmp(d + name_end + 1, DATA, 6) != 0)
        return 0;
    size_t data_start = name_end + 7, data_end = line_end(d, data_start, len);
    if (data_end + 1 >= len || d[data_end] != '\n' || d[data_end + 1] != '\n')
        return 0;
    if (bt__buf_append(&p->type, d + 7, name_end - 7) != BT_OK ||
        bt__buf_append(&p->data, d + data_start, data_end - data_start) != BT_OK) {
        reset_event(p);
        return 0; /* over the cap (or no memory): the state machine marks the cut */
    }
    p->has_data = 1;
    *rc = dispatch(p);
    return data_end + 2;
}

static int process(bt__sse *p, const char *d, size_t len)
{
    size_t i = 0;
    while (i < len) {
        char c = d[i];
        if (p->after_cr) {
            p->after_cr = 0;
            if (c == '\n') {
                i++;
                continue;
            }
        }
        if (c == 'e' && p->state == AT_LINE_START && !p->pending) {
            int rc = 0;
            size_t used = whole_event(p, d + i, len - i, &rc);
            if (used) {
                i += used;
                if (rc)
                    return rc;
                continue;
            }
        }
        if (c == '\r' || c == '\n') {
            p->after_cr = c == '\r';
            i++;
            int rc = end_line(p);
            if (rc)
                return rc;
            continue;
        }
        switch (p->state) {
        case AT_LINE_START:
            if (c == ':') {
                p->state = SKIP_LINE; /* a comment is not part of any event */
                i++;
                break;
            }
            p->pending = 1;
            p->name_len = 0;
            p->name_overflow = 0;
            p->state = IN_NAME;
            /* fall through */
        case IN_NAME: {
            size_t j = i;
            while (j < len && d[j] != ':' && d[j] != '\r' && d[j] != '\n')
                j++;
            size_t n = j - i;
            if (!p->name_overflow && n <= FIELD_NAME_MAX - p->name_len) {
                memcpy(p->name + p->name_len, d + i, n);
                p->name_len += n;
            } else {
                p->name_overflow = 1;
            }
            i = j;
            if (j < len && d[j] == ':') {
                i++;
                begin_value(p);
                p->state = p->field == FIELD_OTHER ? SKIP_LINE : AFTER_COLON;
            }
            break;
        }
        case AFTER_COLON:
            p->state = IN_VALUE;
            if (c == ' ') {
                i++;
                break;
            }
            /* fall through */
        case IN_VALUE:
        case SKIP_LINE: {
            size_t j = line_end(d, i, len);
            if (p->state == IN_VALUE)
                append_value(p, d + i, j - i);
            i = j;
            break;
        }
        }
    }
    return 0;
}

int bt__sse_feed(bt__sse *p, const char *data, size_t len)
{
    if (!p)
        return BT_EINVAL;
    if (p->stopped)
        return p->stopped;
    if (!data || len == 0)
        return BT_OK;
    if (!p->bom_done) {
        const unsigned char *u = (const unsigned char *)data;
        while (len > 0 && p->bom_seen < 3 && u[0] == BOM[p->bom_seen]) {
            p->bom_seen++;
            data++;
            u++;
            len--;
        }
        if (p->bom_seen < 3 && len == 0)
            return BT_OK; /* still possibly a BOM: wait for the next byte */
        p->bom_done = 1;
        if (p->bom_seen < 3 && p->bom_seen > 0) {
            /* Not a BOM after all: those bytes were the start of a line. */
            int rc = process(p, (const char *)BOM, p->bom_seen);
            if (rc)
                return p->stopped = rc;
        }
    }
    int rc = process(p, data, len);
    if (rc)
        p->stopped = rc;
    return rc;
}

int bt__sse_finish(bt__sse *p)
{
    if (!p)
        return 0;
    int partial = p->pending || p->state != AT_LINE_START || (!p->bom_done && p->bom_seen > 0);
    reset_event(p);
    p->state = AT_LINE_START;
    return partial;
}

unsigned long bt__sse_events_without_data(const bt__sse *p)
{
    return p ? p->without_data : 0;
}

void bt__sse_free(bt__sse *p)
{
    if (!p)
        return;
    bt__buf_free(&p->data);
    bt__buf_free(&p->type);
    free(p);
}
