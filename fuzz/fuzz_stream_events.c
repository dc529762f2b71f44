/*
 * Differential fuzz target: the stream accumulator's one-pass reader of the common
 * deltas (text and tool-input deltas, pings) against its general path (every event
 * validated by the scanner, itself checked against jansson by fuzz_json_scan). The
 * same events go to two accumulators, one forced through the general path; the
 * messages they build, their counters (malformed, invalid UTF-8, truncated, stop) and
 * the clock reads (when content and blocks arrived) must be identical.
 *
 * Input: byte 0 is the mode (bits 0-1: how each piece becomes an event's data: as it
 * is, or as the string of a text delta, of a tool-input delta, or after a delta's
 * index; bit 2: start blocks 0 and 1 first; bit 3: a small budget, so cuts happen;
 * bit 4: a block stop halfway). The rest is split into pieces at 0x1e bytes.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic/messages_stream.h"
#include "util/buf.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define CHECK(cond)                                                                               \
    do {                                                                                          \
        if (!(cond)) {                                                                            \
            fprintf(stderr, "fuzz_stream_events: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                              \
        }                                                                                         \
    } while (0)

/* A clock that counts its reads: the two paths must read it at the same events. */
static uint64_t ticks(void *ud)
{
    return ++*(uint64_t *)ud;
}

typedef struct side {
    bt__msg_stream *s;
    uint64_t clock;
} side;

static void both(side *a, side *b, const char *event, const char *d, size_t n)
{
    bt__msg_stream_event(a->s, event, d, n, 0);
    bt__msg_stream_event(b->s, event, d, n, 0);
}

static void event_of(bt__buf *out, unsigned how, const char *piece, size_t n)
{
    static const char *const pre[] = {
        "", "{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"",
        "{\"type\":\"content_block_delta\",\"index\":1,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"",
        "{\"type\":\"content_block_delta\",\"index\":"};
    static const char *const post[] = {"", "\"}}", "\"}}",
                                       ",\"delta\":{\"type\":\"text_delta\",\"text\":\"x\"}}"};
    bt__buf_reset(out);
    bt__buf_append(out, pre[how], strlen(pre[how]));
    bt__buf_append(out, piece, n);
    bt__buf_append(out, post[how], strlen(post[how]));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    unsigned mode = data[0];
    const char *p = (const char *)data + 1, *end = (const char *)data + size;
    size_t budget = (mode & 8) ? 40 : 1u << 20;
    side general = {bt__msg_stream_new(budget, ticks, &general.clock), 0};
    side fast = {bt__msg_stream_new(budget, ticks, &fast.clock), 0};
    CHECK(general.s && fast.s);
    bt__msg_stream_set_general_only(general.s, 1);

    if (mode & 4) {
        static const char start0[] =
            "{\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}";
        static const char start1[] =
            "{\"type\":\"content_block_start\",\"index\":1,\"content_block\":{\"type\":"
            "\"tool_use\",\"id\":\"t\",\"name\":\"n\",\"input\":{}}}";
        both(&general, &fast, "content_block_start", start0, sizeof start0 - 1);
        both(&general, &fast, "content_block_start", start1, sizeof start1 - 1);
    }
    bt__buf ev;
    bt__buf_init(&ev, 0);
    size_t pieces = 0;
    while (p <= end) {
        const char *sep = memchr(p, 0x1e, (size_t)(end - p));
        const char *stop = sep ? sep : end;
        event_of(&ev, mode & 3, p, (size_t)(stop - p));
        both(&general, &fast, "content_block_delta", ev.data ? ev.data : "", ev.len);
        if ((mode & 16) && ++pieces == 2) {
            static const char stop0[] = "{\"type\":\"content_block_stop\",\"index\":0}";
            both(&general, &fast, "content_block_stop", stop0, sizeof stop0 - 1);
        }
        if (!sep)
            break;
        p = sep + 1;
    }
    bt__buf_free(&ev);

    bt__buf ma, mb;
    bt__buf_init(&ma, 0);
    bt__buf_init(&mb, 0);
    int ra = bt__msg_stream_message(general.s, &ma), rb = bt__msg_stream_message(fast.s, &mb);
    CHECK(ra == rb);
    if (ma.len != mb.len || (ma.len && memcmp(ma.data, mb.data, ma.len) != 0)) {
        fprintf(stderr, "fuzz_stream_events: messages differ\n  general: %.*s\n  fast:    %.*s\n",
                (int)ma.len, ma.data ? ma.data : "", (int)mb.len, mb.data ? mb.data : "");
        abort();
    }
    CHECK(general.clock == fast.clock);
    CHECK(bt__msg_stream_first_content_ns(general.s) == bt__msg_stream_first_content_ns(fast.s));
    CHECK(bt__msg_stream_malformed(general.s) == bt__msg_stream_malformed(fast.s));
    CHECK(bt__msg_stream_invalid_utf8(general.s) == bt__msg_stream_invalid_utf8(fast.s));
    CHECK(bt__msg_stream_truncated(general.s) == bt__msg_stream_truncated(fast.s));
    bt__block_time ta[8], tb[8];
    size_t na = bt__msg_stream_block_times(general.s, ta, 8), nb = bt__msg_stream_block_times(fast.s, tb, 8);
    CHECK(na == nb);
    for (size_t i = 0; i < na; i++)
        CHECK(ta[i].start_ns == tb[i].start_ns && ta[i].stop_ns == tb[i].stop_ns);
    bt__buf_free(&ma);
    bt__buf_free(&mb);
    bt__msg_stream_free(general.s);
    bt__msg_stream_free(fast.s);
    return 0;
}
