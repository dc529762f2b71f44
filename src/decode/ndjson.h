/*
 * Newline-delimited JSON line splitter (JSONL). Lines end in LF (a preceding CR is
 * removed); empty lines are skipped; the last line needs no terminator (finish).
 * Memory is bounded by max_line: a longer line is reported with its first max_line
 * bytes and truncated=1, and the rest of it is skipped without buffering.
 */
#ifndef BT_DECODE_NDJSON_H
#define BT_DECODE_NDJSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct bt__ndjson bt__ndjson;

/* `line` is NUL-terminated and borrowed for the call. `full_len` is the line's real
 * length (> len when truncated). Non-zero return stops parsing and is returned. */
typedef int (*bt__ndjson_line_fn)(void *ud, const char *line, size_t len, size_t full_len, int truncated);

/* max_line 0 = 8 MiB. Lines of only spaces/tabs count as empty. */
bt__ndjson *bt__ndjson_new(size_t max_line, bt__ndjson_line_fn fn, void *ud);
int bt__ndjson_feed(bt__ndjson *p, const char *data, size_t len);
int bt__ndjson_finish(bt__ndjson *p);
void bt__ndjson_free(bt__ndjson *p);

#endif
