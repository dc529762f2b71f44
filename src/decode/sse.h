/*
 * Server-sent events parser per the WHATWG framing rules: lines end in LF, CR or CRLF
 * (a CRLF split across feeds is handled); "event:" sets the type, "data:" lines are
 * joined with LF; one leading space after the colon is removed; lines starting with
 * ':' are comments; "id:"/"retry:" and unknown fields are ignored; a blank line
 * dispatches. A UTF-8 BOM at the very start is skipped. No "[DONE]" sentinel is needed.
 */
#ifndef BT_DECODE_SSE_H
#define BT_DECODE_SSE_H

#include <stddef.h>

typedef struct bt__sse bt__sse;

/* Called per dispatched event. `event` is "message" when no event: line was seen.
 * Both strings are NUL-terminated and borrowed for the call. A non-zero return stops
 * parsing: bt__sse_feed returns that value. `truncated` is 1 when the event's data
 * exceeded the cap and was cut at the cap (the rest of the event was skipped). */
typedef int (*bt__sse_event_fn)(void *ud, const char *event, size_t event_len, const char *data,
                                size_t data_len, int truncated);

/* max_event_bytes caps the data of one event (0 = 8 MiB). Field values are copied
 * as they arrive, so no line is buffered whole; event types are capped at 256 bytes
 * (a longer one is cut and the event reported truncated). */
bt__sse *bt__sse_new(size_t max_event_bytes, bt__sse_event_fn fn, void *ud);
/* Returns BT_OK, or the callback's non-zero return. Never fails on malformed input. */
int bt__sse_feed(bt__sse *p, const char *data, size_t len);
/* End of stream. Per the spec, an event without its terminating blank line is not
 * dispatched; returns 1 if such a partial event (or partial line) was pending, else 0. */
int bt__sse_finish(bt__sse *p);
/* Blocks of fields ended by a blank line without any data line ("event: x" alone):
 * not dispatched, as the spec says, but counted, since the sender did send them. */
unsigned long bt__sse_events_without_data(const bt__sse *p);
void bt__sse_free(bt__sse *p);

#endif
