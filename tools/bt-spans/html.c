/* bt-spans html: one trace as a single self-contained HTML file (the viewer's trace page
 * with its script, style and data inlined) to attach to a bug report. It opens offline,
 * from disk, and its Content-Security-Policy allows exactly its own inline script and
 * style (by hash): nothing in it can load or send anything. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bt_spans.h"
#include "bts_assets.h"
#include "query.h"
#include "util/buf.h"
#include "util/sha256.h"

/* The waterfall shows up to this many spans; a batch has at most 100,000 requests. */
#define HTML_MAX_SPANS 250000
/* Span contents beyond this total are left out (the spans still show in the waterfall,
 * and the page says which were left out). */
#define HTML_MAX_CONTENT ((size_t)64 << 20)
#define HTML_MAX_BYTES ((size_t)512 << 20)

static void base64(const uint8_t *in, size_t n, char *out)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t o = 0;
    for (size_t i = 0; i < n; i += 3) {
        uint32_t v =
            (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0) | (i + 2 < n ? in[i + 2] : 0);
        out[o++] = tbl[v >> 18 & 63];
        out[o++] = tbl[v >> 12 & 63];
        out[o++] = i + 1 < n ? tbl[v >> 6 & 63] : '=';
        out[o++] = i + 2 < n ? tbl[v & 63] : '=';
    }
    out[o] = '\0';
}

void bts_csp_hash(const unsigned char *data, size_t len, char out[64])
{
    bt__sha256 c;
    uint8_t digest[32];
    bt__sha256_init(&c);
    bt__sha256_update(&c, data, len);
    bt__sha256_final(&c, digest);
    base64(digest, sizeof digest, out);
}

/* Appends JSON text so that it is inert inside <script type="application/json">: the
 * characters that could end the element or open a comment are written as \u escapes
 * (they only ever occur inside JSON strings, where the escape means the same). */
static void append_json_for_script(bt__buf *b, const char *json)
{
    for (const char *p = json; *p; p++) {
        switch (*p) {
        case '<':
            bt__buf_append_str(b, "\\u003c");
            break;
        case '>':
            bt__buf_append_str(b, "\\u003e");
            break;
        case '&':
            bt__buf_append_str(b, "\\u0026");
            break;
        default:
            bt__buf_append_char(b, *p);
        }
    }
}

static int has_ci(const unsigned char *s, size_t n, const char *needle)
{
    size_t m = strlen(needle);
    for (size_t i = 0; i + m <= n; i++) {
        size_t j = 0;
        while (j < m && (s[i + j] | 0x20) == (needle[j] | 0x20))
            j++;
        if (j == m)
            return 1;
    }
    return 0;
}

/* Builds the page into `b`. */
static int build_page(json_t *data, bt__buf *b, const char *title)
{
    const struct bts_asset *js = bts_asset_find("app.js"), *css = bts_asset_find("app.css");
    if (!js || !css || has_ci(js->data, js->len, "</script") || has_ci(js->data, js->len, "<!--") ||
        has_ci(css->data, css->len, "</style"))
        return -1; /* a build that embedded unsuitable assets */
    char js_hash[64], css_hash[64];
    bts_csp_hash(js->data, js->len, js_hash);
    bts_csp_hash(css->data, css->len, css_hash);
    char *json = json_dumps(data, JSON_COMPACT);
    if (!json)
        return -1;
    json_t *t = json_string(title); /* a title escaped through JSON, then for HTML below */
    bt__buf_append_str(b,
                       "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                       "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; ");
    bt__buf_printf(b,
                   "script-src 'sha256-%s'; style-src 'sha256-%s'; img-src data:; base-uri 'none'; "
                   "form-action 'none'\">\n",
                   js_hash, css_hash);
    bt__buf_append_str(b,
                       "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>");
    for (const char *p = json_string_value(t); p && *p; p++) {
        if (*p == '<')
            bt__buf_append_str(b, "&lt;");
        else if (*p == '>')
            bt__buf_append_str(b, "&gt;");
        else if (*p == '&')
            bt__buf_append_str(b, "&amp;");
        else
            bt__buf_append_char(b, *p);
    }
    json_decref(t);
    bt__buf_append_str(b, "</title>\n<style>");
    bt__buf_append(b, css->data, css->len);
    bt__buf_append_str(b, "</style>\n</head>\n<body>\n<script type=\"application/json\" id=\"bt-data\">");
    append_json_for_script(b, json);
    free(json);
    bt__buf_append_str(b, "</script>\n<div id=\"app\"></div>\n<script>");
    bt__buf_append(b, js->data, js->len);
    bt__buf_append_str(b, "</script>\n</body>\n</html>\n");
    return b->truncated ? -1 : 0;
}

static int write_file(const char *path, const char *data, size_t len)
{
    if (strcmp(path, "-") == 0)
        return fwrite(data, 1, len, stdout) == len && fflush(stdout) == 0 ? 0 : -1;
    /* Written beside the target and renamed: a reader never sees half a page. */
    size_t n = strlen(path) + 16;
    char *tmp = malloc(n);
    if (!tmp)
        return -1;
    snprintf(tmp, n, "%s.tmpXXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        off += (size_t)w;
    }
    int rc = off == len && fsync(fd) == 0 ? 0 : -1;
    if (close(fd) != 0)
        rc = -1;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -1;
    if (rc != 0)
        unlink(tmp);
    free(tmp);
    return rc;
}

int bts_html(const bts_options *o, const char *want)
{
    if (!o->output)
        return (fprintf(stderr, "bt-spans: html needs -o FILE (or -o - for standard output)\n"),
                BTS_EXIT_USAGE);
    char id[33];
    sqlite3 *db = bts_open_trace(o, want, id);
    if (!db)
        return BTS_EXIT_FAIL;
    json_t *trace = NULL;
    int rc = bts_query_trace(db, id, HTML_MAX_SPANS, &trace);
    if (rc != BTS_Q_OK) {
        fprintf(stderr, "bt-spans: cannot read trace %s: %s\n", id, sqlite3_errmsg(db));
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    size_t nspans = json_array_size(json_object_get(trace, "spans"));
    json_t *lines = json_object();
    size_t content = 0, omitted = 0, i;
    json_t *s;
    json_array_foreach(json_object_get(trace, "spans"), i, s)
    {
        const char *sid = json_string_value(json_object_get(s, "span_id"));
        char *line = NULL;
        size_t len = 0;
        if (!sid || bts_query_span_line(db, id, sid, &line, &len) != BTS_Q_OK)
            continue;
        if (content + len > HTML_MAX_CONTENT) {
            omitted++;
        } else {
            json_t *v = json_stringn(line, len);
            if (v) {
                json_object_set_new(lines, sid, v);
                content += len;
            } else {
                omitted++;
            }
        }
        free(line);
    }
    sqlite3_close(db);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    json_t *data = json_object();
    json_object_set_new(data, "trace", trace);
    json_object_set_new(data, "lines", lines);
    json_object_set_new(data, "lines_omitted", json_integer((json_int_t)omitted));
    /* The file name only: the page goes into bug reports, the user's paths need not. */
    const char *base = strrchr(o->store, '/');
    json_object_set_new(data, "store", json_string(base ? base + 1 : o->store));
    json_object_set_new(data, "exported_ns", json_integer((json_int_t)now.tv_sec * 1000000000 + now.tv_nsec));
    char title[80];
    snprintf(title, sizeof title, "trace %s · bt-spans", id);
    bt__buf page;
    bt__buf_init(&page, HTML_MAX_BYTES);
    rc = build_page(data, &page, title);
    json_decref(data);
    if (rc == 0 && write_file(o->output, page.data, page.len) != 0) {
        fprintf(stderr, "bt-spans: cannot write %s: %s\n", o->output, strerror(errno));
        rc = -1;
    } else if (rc != 0) {
        fprintf(stderr, "bt-spans: cannot build the page\n");
    }
    bt__buf_free(&page);
    if (rc != 0)
        return BTS_EXIT_FAIL;
    if (strcmp(o->output, "-") != 0)
        fprintf(stderr, "bt-spans: wrote trace %s (%zu span%s) to %s\n", id, nspans, nspans == 1 ? "" : "s",
                o->output);
    if (omitted)
        fprintf(stderr, "bt-spans: the content of %zu spans was left out (over %zu MiB in all)\n", omitted,
                HTML_MAX_CONTENT >> 20);
    return BTS_EXIT_OK;
}
