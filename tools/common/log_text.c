#include "log_text.h"

void log_text_append(bt__buf *out, const char *s, size_t n, size_t max)
{
    static const char hex[] = "0123456789abcdef";
    size_t take = n < max ? n : max;
    for (size_t i = 0; i < take; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            bt__buf_append_char(out, (char)c);
        } else {
            char esc[4] = {'\\', 'x', hex[c >> 4], hex[c & 15]};
            bt__buf_append(out, esc, sizeof esc);
        }
    }
    if (take < n)
        bt__buf_append_str(out, "...");
}
