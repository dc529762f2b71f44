/*
 * Streaming splitter for batch create requests. A create body can be 256 MB, so it is
 * never held whole: this byte-level scanner (strings, escapes and nesting only; it does
 * not validate JSON) finds each element of the top-level "requests" array and hands it,
 * bounded, to a callback, which parses it with jansson.
 *
 * Accepted shapes, in any chunking: a create body {"requests":[...]}, a bare array of
 * requests, or JSONL / concatenated objects each being one {"custom_id","params"}
 * request. The custom_id of each element is captured as it streams by, so an element
 * longer than the cap is still reported with its id.
 */
#ifndef BT_ANTHROPIC_BATCH_SPLIT_H
#define BT_ANTHROPIC_BATCH_SPLIT_H

#include <stddef.h>

#define BT__BATCH_CUSTOM_ID_MAX 64

typedef struct bt__batch_split bt__batch_split;

/* One request element: `elem` (borrowed, NUL-terminated) holds its first `len` bytes;
 * `truncated` when the element was longer than the cap (then `elem` is not complete
 * JSON). `custom_id` is "" when none was seen as a string of at most 64 bytes at the
 * element's top level. Non-zero return stops the splitter and is returned by feed. */
typedef int (*bt__batch_split_fn)(void *ud, const char *elem, size_t len, int truncated,
                                  const char *custom_id);

bt__batch_split *bt__batch_split_new(size_t max_elem, bt__batch_split_fn fn, void *ud);
/* BT_OK, BT_EPARSE once the input cannot be JSON (nesting deeper than 512, a stray
 * closing bracket, garbage between values; later feeds are ignored), or the callback's
 * return. */
int bt__batch_split_feed(bt__batch_split *s, const char *data, size_t len);
/* BT_OK, or BT_EPARSE when the input ended inside a value. */
int bt__batch_split_finish(bt__batch_split *s);
void bt__batch_split_free(bt__batch_split *s);

#endif
