/* Human-readable pieces of bt-spans output: durations, times, previews. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bt_spans.h"
#include "util/buf.h"

void bts_format_duration(int64_t ns, char *out, size_t cap)
{
    if (ns < 0)
        ns = 0;
    if (ns < 1000000)
        snprintf(out, cap, "%.2f ms", (double)ns / 1e6);
    else if (ns < 1000000000)
        snprintf(out, cap, "%.0f ms", (double)ns / 1e6);
    else
        snprintf(out, cap, "%.2f s", (double)ns / 1e9);
}

void bts_format_time(int64_t unix_ns, char *out, size_t cap)
{
    time_t sec = (time_t)(unix_ns / 1000000000);
    struct tm tm;
    if (!gmtime_r(&sec, &tm) || strftime(out, cap, "%Y-%m-%d %H:%M:%SZ", &tm) == 0)
        snprintf(out, cap, "?");
}

const char *bts_line_attr(json_t *line, const char *key)
{
    size_t i;
    json_t *kv;
    json_array_foreach(json_object_get(line, "attributes"), i, kv)
    {
        const char *k = json_string_value(json_object_get(kv, "key"));
        if (k && strcmp(k, key) == 0)
            return json_string_value(json_object_get(json_object_get(kv, "value"), "stringValue"));
    }
    return NULL;
}

static const char *str_or(json_t *v, const char *dflt)
{
    const char *s = json_string_value(v);
    return s ? s : dflt;
}

/* Appends the readable text of a content value (a string or a list of blocks). */
static void content_text(json_t *content, bt__buf *b)
{
    if (json_is_string(content)) {
        bt__buf_append_str(b, json_string_value(content));
        return;
    }
    size_t i;
    json_t *block;
    json_array_foreach(content, i, block)
    {
        const char *type = json_string_value(json_object_get(block, "type"));
        if (b->len)
            bt__buf_append_char(b, ' ');
        if (!type)
            continue;
        if (strcmp(type, "text") == 0)
            bt__buf_append_str(b, str_or(json_object_get(block, "text"), ""));
        else if (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0)
            bt__buf_printf(b, "[%s %s]", type, str_or(json_object_get(block, "name"), "?"));
        else
            bt__buf_printf(b, "[%s]", type);
    }
}

char *bts_preview(const char *json_text, size_t max)
{
    if (!json_text)
        return NULL;
    bt__buf b;
    bt__buf_init(&b, 64 * 1024);
    json_t *v = json_loads(json_text, 0, NULL);
    json_t *msg = NULL;
    if (json_is_array(v)) {
        /* The conversation: its last message that is not the appended system prompt. */
        for (size_t i = json_array_size(v); i-- > 0;) {
            const char *role = json_string_value(json_object_get(json_array_get(v, i), "role"));
            if (!role || strcmp(role, "system") != 0) {
                msg = json_array_get(v, i);
                break;
            }
        }
    } else if (json_is_object(v) && json_object_get(v, "content")) {
        msg = v;
    }
    if (msg && json_object_get(msg, "content"))
        content_text(json_object_get(msg, "content"), &b);
    else
        bt__buf_append_str(&b, json_text);
    json_decref(v);
    /* One line, cut at a character boundary. */
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20 || b.data[i] == 0x7f)
            b.data[i] = ' ';
    size_t keep = b.len;
    if (keep > max) {
        keep = max;
        while (keep > 0 && ((unsigned char)b.data[keep] & 0xc0) == 0x80)
            keep--;
    }
    char *out = malloc(keep + 4);
    if (out) {
        memcpy(out, b.data ? b.data : "", keep);
        strcpy(out + keep, keep < b.len ? "..." : "");
    }
    bt__buf_free(&b);
    return out;
}

char *bts_sanitize(char *s)
{
    for (char *p = s; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '?';
    return s;
}

const char *bts_clean(const char *s, char *buf, size_t cap)
{
    if (!s)
        return NULL;
    size_t n = strlen(s);
    if (n >= cap) {
        n = cap - 1;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    return bts_sanitize(buf);
}

int bts_print_json(json_t *v)
{
    int rc = v ? json_dumpf(v, stdout, JSON_INDENT(2)) : -1;
    fputc('\n', stdout);
    json_decref(v);
    return rc == 0 ? BTS_EXIT_OK : BTS_EXIT_FAIL;
}

json_t *bts_json_count(sqlite3_stmt *st, int col)
{
    return sqlite3_column_type(st, col) == SQLITE_NULL ? json_null()
                                                       : json_integer(sqlite3_column_int64(st, col));
}
