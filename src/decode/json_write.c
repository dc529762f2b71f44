/* Compact JSON text (see json_write.h). */
#include "decode/json_write.h"

#include "braintrust/common.h"

/* 1 for the bytes a JSON string literal cannot hold as they are. */
static const unsigned char needs_escape[256] = {
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1,
    1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0, 0, 1, ['\\'] = 1,
};

int bt__json_write_string(bt__buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    int rc = bt__buf_append(b, "\"", 1);
    size_t i = 0;
    while (i < len && rc == BT_OK) {
        size_t run = i;
        while (run < len && !needs_escape[(unsigned char)s[run]])
            run++;
        if (run > i) {
            rc = bt__buf_append(b, s + i, run - i);
            i = run;
            continue;
        }
        unsigned char c = (unsigned char)s[i++];
        char esc[6] = {'\\', 0, 0, 0, 0, 0};
        size_t n = 2;
        switch (c) {
        case '"':
        case '\\':
            esc[1] = (char)c;
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            esc[2] = '0';
            esc[3] = '0';
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        rc = bt__buf_append(b, esc, n);
    }
    if (rc == BT_OK)
        rc = bt__buf_append(b, "\"", 1);
    return rc;
}
