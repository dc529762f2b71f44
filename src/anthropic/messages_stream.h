/*
 * Accumulates a Messages SSE stream, event by event, into the message it describes
 * (the same shape as a non-streaming response), keeping only the accumulated message:
 * content blocks (text, citations, tool input, thinking and signature, and blocks that
 * arrive whole), stop fields and cumulative usage. Each event is read with the
 * validating scanner (decode/json_scan.h); text, thinking and signature deltas are
 * appended, as the escaped text they arrived in, to their block; nothing is parsed
 * into a tree. Accumulated bytes are bounded by a budget; beyond it text is cut (on a
 * UTF-8 boundary) and `truncated` is set.
 */
#ifndef BT_ANTHROPIC_MESSAGES_STREAM_H
#define BT_ANTHROPIC_MESSAGES_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "anthropic/server_tools.h"
#include "util/buf.h"

typedef struct bt__msg_stream bt__msg_stream;

/* `clock(clock_ud)` says when the event being handled arrived; it is read only for the
 * events whose time is kept (a block's start and stop, the first content), so most
 * events cost no clock read. */
bt__msg_stream *bt__msg_stream_new(size_t budget, uint64_t (*clock)(void *), void *clock_ud);
void bt__msg_stream_free(bt__msg_stream *s);

/* One SSE event (`event` name, `data` JSON text), as it arrives. */
void bt__msg_stream_event(bt__msg_stream *s, const char *event, const char *data, size_t len,
                          int data_truncated);

/* Reads every event with the general path, never the one-pass reader of the common
 * deltas: for checking that both give the same message (fuzz/fuzz_stream_events.c). */
void bt__msg_stream_set_general_only(bt__msg_stream *s, int on);

/* When the first event with generated content arrived (the time-to-first-token
 * moment), or 0. */
uint64_t bt__msg_stream_first_content_ns(const bt__msg_stream *s);

/* The accumulated message as canonical JSON text appended to `out`: {id, type, role,
 * model, content:[blocks in index order], stop_reason, ..., usage}. Returns 0 when not
 * even message_start arrived and no block was seen (nothing written), 1 otherwise.
 * Finishes open blocks; call once, at the end. */
int bt__msg_stream_message(bt__msg_stream *s, bt__buf *out);

/* After bt__msg_stream_message: the arrival times of the blocks, by position in its
 * content array, into out[0..n); returns how many were written. */
size_t bt__msg_stream_block_times(const bt__msg_stream *s, bt__block_time *out, size_t n);

/* Events whose data was not a JSON object (not JSON, empty, a raw NUL byte): left out of
 * the message. */
unsigned long bt__msg_stream_malformed(const bt__msg_stream *s);
/* Events read with their invalid UTF-8 bytes replaced by U+FFFD. */
unsigned long bt__msg_stream_invalid_utf8(const bt__msg_stream *s);

int bt__msg_stream_saw_stop(const bt__msg_stream *s);
int bt__msg_stream_truncated(const bt__msg_stream *s);
/* The error event's type and message, or NULL when none arrived. */
const char *bt__msg_stream_error_type(const bt__msg_stream *s);
const char *bt__msg_stream_error_message(const bt__msg_stream *s);

#endif
