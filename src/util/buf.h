/*
 * bt__buf: a growable byte buffer with a hard cap (every growable buffer in the
 * library has one). Appending past the cap appends what fits, sets `truncated` and
 * returns BT_ELIMIT; the buffer stays NUL-terminated and valid.
 */
#ifndef BT_UTIL_BUF_H
#define BT_UTIL_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct bt__buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t alloc;
    size_t max;    /* hard cap on len; 0 means SIZE_MAX/2 */
    int truncated; /* set once an append did not fit */
} bt__buf;

void bt__buf_init(bt__buf *b, size_t max);
int bt__buf_append(bt__buf *b, const void *data, size_t len);
int bt__buf_append_str(bt__buf *b, const char *s);
int bt__buf_append_char(bt__buf *b, char c);
int bt__buf_printf(bt__buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int bt__buf_vprintf(bt__buf *b, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));
/* Appends `s` as a JSON string literal (quotes and escapes; invalid UTF-8 bytes become
 * U+FFFD). */
int bt__buf_append_json_string(bt__buf *b, const char *s, size_t len);
void bt__buf_reset(bt__buf *b); /* len = 0, keeps memory and cap, clears truncated */
/* Makes room for `len` bytes in all (within the cap) up front, so that appending them
 * does not grow the buffer piece by piece. BT_OK or BT_ENOMEM. */
int bt__buf_reserve(bt__buf *b, size_t len);
/* Hands the data to the caller (malloc'd, NUL-terminated, never NULL unless ENOMEM)
 * and leaves the buffer empty. */
char *bt__buf_steal(bt__buf *b, size_t *len_out);
void bt__buf_free(bt__buf *b);

#endif
