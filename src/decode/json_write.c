/* Compact JSON text (see json_write.h). */
#include "decode/json_write.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "util/utf8.h"

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

int bt__json_write_double(bt__buf *b, double d)
{
    if (!isfinite(d))
        return bt__buf_append(b, "null", 4);
    char tmp[40];
    int n = snprintf(tmp, sizeof tmp, "%.15g", d);
    if (strtod(tmp, NULL) != d)
        n = snprintf(tmp, sizeof tmp, "%.17g", d);
    for (int i = 0; i < n; i++)
        if (tmp[i] == ',') /* a host locale's decimal comma */
            tmp[i] = '.';
    /* a real stays a real when read back: 3 -> 3.0 */
    if (!strpbrk(tmp, ".eEn") && n + 2 < (int)sizeof tmp) {
        tmp[n++] = '.';
        tmp[n++] = '0';
        tmp[n] = '\0';
    }
    return bt__buf_append(b, tmp, (size_t)n);
}

void bt__jobj_init(bt__jobj *o)
{
    memset(o, 0, sizeof *o);
    bt__buf_init(&o->text, 0);
}

void bt__jobj_free(bt__jobj *o)
{
    bt__buf_free(&o->text);
    free(o->m);
    memset(o, 0, sizeof *o);
}

void bt__jobj_clear(bt__jobj *o)
{
    bt__buf_reset(&o->text);
    o->n = 0;
    o->rc = 0;
}

static long find_raw(const bt__jobj *o, const char *key, size_t key_len)
{
    for (size_t i = 0; i < o->n; i++)
        if (o->m[i].key_len == key_len && memcmp(o->text.data + o->m[i].key_off, key, key_len) == 0)
            return (long)i;
    return -1;
}

static size_t keep(bt__jobj *o, const char *p, size_t n)
{
    size_t off = o->text.len;
    if (!o->rc && bt__buf_append(&o->text, p, n) != BT_OK)
        o->rc = BT_ENOMEM;
    return off;
}

void bt__jobj_set_raw(bt__jobj *o, const char *key, size_t key_len, const char *value, size_t value_len)
{
    if (o->rc)
        return;
    long i = find_raw(o, key, key_len);
    size_t val_off = keep(o, value, value_len);
    if (i >= 0) {
        o->m[i].val_off = val_off;
        o->m[i].val_len = value_len;
        return;
    }
    if (o->n == o->cap) {
        size_t cap = o->cap ? o->cap * 2 : 16;
        bt__jobj_member *m = realloc(o->m, cap * sizeof *m);
        if (!m) {
            o->rc = BT_ENOMEM;
            return;
        }
        o->m = m;
        o->cap = cap;
    }
    size_t key_off = keep(o, key, key_len);
    o->m[o->n++] = (bt__jobj_member){key_off, key_len, val_off, value_len};
}

void bt__jobj_set(bt__jobj *o, const char *name, const char *value, size_t value_len)
{
    bt__jobj_set_raw(o, name, strlen(name), value, value_len);
}

void bt__jobj_set_string(bt__jobj *o, const char *name, const char *s, size_t len)
{
    if (!bt__utf8_valid(s, len))
        return; /* as jansson's json_string: no value, so no member */
    bt__buf v;
    bt__buf_init(&v, 0);
    if (bt__json_write_string(&v, s, len) == BT_OK)
        bt__jobj_set(o, name, v.data, v.len);
    else
        o->rc = BT_ENOMEM;
    bt__buf_free(&v);
}

void bt__jobj_set_int(bt__jobj *o, const char *name, int64_t v)
{
    char tmp[24];
    int n = snprintf(tmp, sizeof tmp, "%lld", (long long)v);
    bt__jobj_set(o, name, tmp, (size_t)n);
}

void bt__jobj_set_double(bt__jobj *o, const char *name, double v)
{
    bt__buf b;
    bt__buf_init(&b, 0);
    if (bt__json_write_double(&b, v) == BT_OK)
        bt__jobj_set(o, name, b.data, b.len);
    else
        o->rc = BT_ENOMEM;
    bt__buf_free(&b);
}

void bt__jobj_set_true(bt__jobj *o, const char *name)
{
    bt__jobj_set(o, name, "true", 4);
}

long bt__jobj_find(const bt__jobj *o, const char *name)
{
    return find_raw(o, name, strlen(name));
}

void bt__jobj_del(bt__jobj *o, const char *name)
{
    long i = bt__jobj_find(o, name);
    if (i < 0)
        return;
    memmove(o->m + i, o->m + i + 1, (o->n - (size_t)i - 1) * sizeof *o->m);
    o->n--;
}

void bt__jobj_update(bt__jobj *o, const bt__jobj *from)
{
    for (size_t i = 0; i < from->n; i++)
        bt__jobj_set_raw(o, from->text.data + from->m[i].key_off, from->m[i].key_len,
                         from->text.data + from->m[i].val_off, from->m[i].val_len);
    if (from->rc && !o->rc)
        o->rc = from->rc;
}

const char *bt__jobj_value(const bt__jobj *o, size_t i, size_t *len)
{
    *len = o->m[i].val_len;
    return o->text.data + o->m[i].val_off;
}

int bt__jobj_write(const bt__jobj *o, bt__buf *out)
{
    if (o->rc)
        return o->rc;
    int rc = bt__buf_append(out, "{", 1);
    for (size_t i = 0; i < o->n && rc == BT_OK; i++) {
        const bt__jobj_member *m = &o->m[i];
        if (i)
            rc = bt__buf_append(out, ",\"", 2);
        else
            rc = bt__buf_append(out, "\"", 1);
        if (!rc)
            rc = bt__buf_append(out, o->text.data + m->key_off, m->key_len);
        if (!rc)
            rc = bt__buf_append(out, "\":", 2);
        if (!rc)
            rc = bt__buf_append(out, o->text.data + m->val_off, m->val_len);
    }
    if (!rc)
        rc = bt__buf_append(out, "}", 1);
    return rc;
}
