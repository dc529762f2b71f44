/* Text from the network (a model name, a request target) made safe for a one-line
 * log: a newline, CR or ESC in it must never start a forged line or reach a terminal. */
#ifndef BT_TOOLS_LOG_TEXT_H
#define BT_TOOLS_LOG_TEXT_H

#include <stddef.h>

#include "util/buf.h"

/* Appends at most `max` bytes of `s` to `out`: printable ASCII as is, except '"' and
 * '\\', which like every other byte (controls, DEL, non-ASCII) become \xNN; "..." marks
 * a cut. */
void log_text_append(bt__buf *out, const char *s, size_t n, size_t max);

#endif
