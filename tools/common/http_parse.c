/* Request heads are collected and checked here byte by byte; llhttp then reads the
 * checked head (for method, keep-alive and framing) and frames the body. Since a head
 * reaches llhttp only after passing rules stricter than llhttp's own, both always agree
 * on where the head ends, and llhttp's leniencies never apply. */
#include "http_parse.h"

#include <llhttp.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/buf.h"

/* Blank lines tolerated before a request line (RFC 9112 section 2.2). */
#define MAX_LEADING_BLANK_LINES 8
#define MAX_METHOD_BYTES 20
#define MAX_CONTENT_LENGTH_DIGITS 18

typedef enum { ST_HEAD, ST_BODY, ST_DONE, ST_ERROR } parse_state;

struct hp_parser {
    hp_limits lim;
    llhttp_settings_t settings;
    llhttp_t ll;
    parse_state state;
    bt__buf head;     /* the head being collected, then checked */
    size_t line1_end; /* offset of the CR ending the request line; 0 until seen */
    int blank_lines;  /* blank lines skipped before this request line */
    int ll_head_done; /* llhttp reached the end of the head */
    int ll_msg_done;  /* llhttp reached the end of the message */
    const char *body; /* last body piece */
    size_t body_len;
    int error_status;
    const char *error_reason;
    hp_head h;
    hp_field *fields;
};

void hp_limits_default(hp_limits *l)
{
    l->max_head_bytes = 64 * 1024;
    l->max_fields = 100;
    l->max_target_bytes = 16 * 1024;
}

int hp_is_tchar(unsigned char c)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return 1;
    return c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static int is_value_char(unsigned char c)
{
    return c == '\t' || (c >= 0x20 && c != 0x7f);
}

/* uri-host [":" port] characters (reg-name, IPv4, IP-literal); empty is allowed. */
static int host_value_ok(const char *v, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
            strchr("-._~!$&'()*+,;=%:[]", c) != NULL;
        if (!ok || c == 0)
            return 0;
    }
    return 1;
}

static int name_is(const hp_field *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && !strncasecmp(f->name, name, n);
}

const hp_field *hp_head_field(const hp_head *h, const char *name)
{
    for (size_t i = 0; i < h->n_fields; i++)
        if (name_is(&h->fields[i], name))
            return &h->fields[i];
    return NULL;
}

static hp_event fail(hp_parser *p, int status, const char *reason)
{
    p->state = ST_ERROR;
    p->error_status = status;
    p->error_reason = reason;
    return HP_ERROR;
}

/* ---- llhttp callbacks: framing only ---- */

static int on_headers_complete(llhttp_t *ll)
{
    hp_parser *p = ll->data;
    p->ll_head_done = 1;
    /* An Upgrade offer (h2c, websocket) is declined by answering in HTTP/1.1, which
     * RFC 9110 section 7.8 allows; the body is then framed as usual. */
    ll->upgrade = 0;
    return 0;
}

static int on_body(llhttp_t *ll, const char *at, size_t len)
{
    hp_parser *p = ll->data;
    if (len == 0)
        return 0; /* llhttp closes a span at the end of the input even when empty */
    p->body = at;
    p->body_len = len;
    return HPE_PAUSED; /* one event per piece */
}

static int on_message_complete(llhttp_t *ll)
{
    hp_parser *p = ll->data;
    p->ll_msg_done = 1;
    return HPE_PAUSED;
}

hp_parser *hp_parser_new(const hp_limits *limits)
{
    hp_parser *p = calloc(1, sizeof *p);
    if (!p)
        return NULL;
    if (limits)
        p->lim = *limits;
    else
        hp_limits_default(&p->lim);
    p->fields = calloc(p->lim.max_fields ? p->lim.max_fields : 1, sizeof *p->fields);
    if (!p->fields) {
        free(p);
        return NULL;
    }
    llhttp_settings_init(&p->settings);
    p->settings.on_headers_complete = on_headers_complete;
    p->settings.on_body = on_body;
    p->settings.on_message_complete = on_message_complete;
    llhttp_init(&p->ll, HTTP_REQUEST, &p->settings);
    p->ll.data = p;
    bt__buf_init(&p->head, p->lim.max_head_bytes);
    p->state = ST_HEAD;
    return p;
}

void hp_parser_free(hp_parser *p)
{
    if (!p)
        return;
    bt__buf_free(&p->head);
    free(p->fields);
    free(p);
}

static void start_message(hp_parser *p)
{
    bt__buf_reset(&p->head);
    p->line1_end = 0;
    p->blank_lines = 0;
    p->ll_head_done = p->ll_msg_done = 0;
    p->body = NULL;
    p->body_len = 0;
    memset(&p->h, 0, sizeof p->h);
    p->state = ST_HEAD;
}

/* ---- the head ---- */

static hp_event check_request_line(hp_parser *p, size_t *pos)
{
    char *s = p->head.data;
    size_t end = p->line1_end, i = 0;
    while (i < end && hp_is_tchar((unsigned char)s[i]))
        i++;
    if (i == 0 || i >= end || s[i] != ' ')
        return fail(p, 400, "malformed request line");
    if (i > MAX_METHOD_BYTES)
        return fail(p, 501, "method not implemented");
    if (i == 7 && !memcmp(s, "CONNECT", 7))
        return fail(p, 405, "CONNECT is not supported");
    i++;
    size_t t0 = i;
    while (i < end && s[i] != ' ') {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x21 || c > 0x7e)
            return fail(p, 400, "invalid character in the request target");
        i++;
    }
    size_t target_len = i - t0;
    if (target_len == 0 || i >= end)
        return fail(p, 400, "malformed request line");
    if (target_len > p->lim.max_target_bytes)
        return fail(p, 414, "request target too long");
    const char *v = s + i + 1;
    size_t vl = end - i - 1;
    if (vl == 8 && !memcmp(v, "HTTP/1.", 7) && (v[7] == '0' || v[7] == '1')) {
        p->h.http_minor = v[7] - '0';
    } else if (vl == 8 && !memcmp(v, "HTTP/", 5) && v[5] >= '0' && v[5] <= '9' && v[6] == '.' &&
               v[7] >= '0' && v[7] <= '9') {
        return fail(p, 505, "HTTP version not supported");
    } else {
        return fail(p, 400, "malformed request line");
    }
    /* NUL-terminated in place once llhttp has read the line (see finish_head). */
    p->h.method = s;
    p->h.target = s + t0;
    p->h.target_len = target_len;
    *pos = end + 2;
    return HP_NEED_MORE;
}

static hp_event check_fields(hp_parser *p, size_t pos)
{
    const char *s = p->head.data;
    size_t head_end = p->head.len - 2; /* the final empty line */
    size_t n = 0;
    while (pos < head_end) {
        const char *eol = memchr(s + pos, '\r', head_end - pos);
        size_t le = (size_t)(eol - s); /* every CR here is followed by LF (checked) */
        if (s[pos] == ' ' || s[pos] == '\t')
            return fail(p, 400, "folded header line (obs-fold)");
        size_t i = pos;
        while (i < le && hp_is_tchar((unsigned char)s[i]))
            i++;
        if (i == pos || i >= le || s[i] != ':')
            return fail(p, 400, "invalid header name");
        size_t vs = i + 1, ve = le;
        while (vs < ve && (s[vs] == ' ' || s[vs] == '\t'))
            vs++;
        while (ve > vs && (s[ve - 1] == ' ' || s[ve - 1] == '\t'))
            ve--;
        for (size_t k = vs; k < ve; k++)
            if (!is_value_char((unsigned char)s[k]))
                return fail(p, 400, "control character in a header value");
        if (n >= p->lim.max_fields)
            return fail(p, 431, "too many header fields");
        hp_field *f = &p->fields[n++];
        f->name = s + pos;
        f->name_len = i - pos;
        f->value = s + vs;
        f->value_len = ve - vs;
        pos = le + 2;
    }
    p->h.fields = p->fields;
    p->h.n_fields = n;
    return HP_NEED_MORE;
}

/* Is the list value exactly one coding, "chunked"? 0 = yes, else the status. */
static int transfer_coding_status(const hp_field *f)
{
    const char *v = f->value;
    size_t n = f->value_len;
    /* the last coding of the list */
    size_t last = n;
    while (last > 0 && v[last - 1] != ',')
        last--;
    const char *lv = v + last;
    size_t ll = n - last;
    while (ll && (*lv == ' ' || *lv == '\t')) {
        lv++;
        ll--;
    }
    if (ll != 7 || strncasecmp(lv, "chunked", 7) != 0)
        return 400;             /* chunked must be the final coding (RFC 9112 section 6.3) */
    return last == 0 ? 0 : 501; /* other codings before it are not implemented */
}

static hp_event check_semantics(hp_parser *p)
{
    hp_head *h = &p->h;
    const hp_field *host = NULL, *cl = NULL, *te = NULL, *expect = NULL;
    for (size_t i = 0; i < h->n_fields; i++) {
        const hp_field *f = &h->fields[i];
        if (name_is(f, "host")) {
            if (host)
                return fail(p, 400, "more than one Host header");
            host = f;
        } else if (name_is(f, "content-length")) {
            if (cl)
                return fail(p, 400, "more than one Content-Length header");
            cl = f;
        } else if (name_is(f, "transfer-encoding")) {
            if (te)
                return fail(p, 400, "more than one Transfer-Encoding header");
            te = f;
        } else if (name_is(f, "expect")) {
            if (expect)
                return fail(p, 417, "more than one Expect header");
            expect = f;
        }
    }
    if (!host && h->http_minor >= 1)
        return fail(p, 400, "missing Host header");
    if (host && !host_value_ok(host->value, host->value_len))
        return fail(p, 400, "invalid Host header");
    if (cl) {
        if (cl->value_len == 0 || cl->value_len > MAX_CONTENT_LENGTH_DIGITS)
            return fail(p, 400, "invalid Content-Length");
        for (size_t k = 0; k < cl->value_len; k++)
            if (cl->value[k] < '0' || cl->value[k] > '9')
                return fail(p, 400, "invalid Content-Length");
    }
    if (te) {
        if (h->http_minor == 0)
            return fail(p, 400, "Transfer-Encoding in an HTTP/1.0 request");
        if (cl)
            return fail(p, 400, "both Content-Length and Transfer-Encoding");
        int st = transfer_coding_status(te);
        if (st)
            return fail(p, st,
                        st == 400 ? "Transfer-Encoding does not end in chunked"
                                  : "transfer coding not implemented");
    }
    if (expect && !(expect->value_len == 12 && !strncasecmp(expect->value, "100-continue", 12)))
        return fail(p, 417, "unsupported Expect value");
    h->host = host ? host->value : NULL;
    h->host_len = host ? host->value_len : 0;
    h->chunked = te != NULL;
    h->expect_continue = expect != NULL;
    return HP_NEED_MORE;
}

/* The checked head goes through llhttp, which must end it exactly where we did. */
static hp_event frame_head(hp_parser *p)
{
    llhttp_reset(&p->ll);
    p->ll.data = p;
    llhttp_errno_t err = llhttp_execute(&p->ll, p->head.data, p->head.len);
    const char *stop = err == HPE_OK ? p->head.data + p->head.len : llhttp_get_error_pos(&p->ll);
    if (err == HPE_INVALID_METHOD)
        return fail(p, 501, "method not implemented");
    if ((err != HPE_OK && err != HPE_PAUSED) || !p->ll_head_done || stop != p->head.data + p->head.len)
        return fail(p, 400, "malformed request");
    if (err == HPE_PAUSED)
        llhttp_resume(&p->ll);
    if (!!(p->ll.flags & F_CHUNKED) != p->h.chunked)
        return fail(p, 400, "malformed request");
    hp_head *h = &p->h;
    h->method_id = llhttp_get_method(&p->ll);
    h->keep_alive = llhttp_should_keep_alive(&p->ll);
    h->content_length = h->chunked         ? -1
        : (p->ll.flags & F_CONTENT_LENGTH) ? (int64_t)p->ll.content_length
                                           : 0;
    /* llhttp is done with the bytes: terminate the method and the target in place. */
    p->head.data[strcspn(p->head.data, " ")] = '\0';
    p->head.data[h->target - p->head.data + h->target_len] = '\0';
    return HP_HEAD;
}

static hp_event finish_head(hp_parser *p)
{
    size_t pos = 0;
    if (check_request_line(p, &pos) == HP_ERROR || check_fields(p, pos) == HP_ERROR ||
        check_semantics(p) == HP_ERROR)
        return HP_ERROR;
    hp_event ev = frame_head(p);
    if (ev == HP_HEAD)
        p->state = ST_BODY;
    return ev;
}

static hp_event feed_head(hp_parser *p, const char *data, size_t len, size_t *consumed)
{
    size_t i = 0;
    for (; i < len; i++) {
        unsigned char c = (unsigned char)data[i];
        size_t at = p->head.len;
        char prev = at ? p->head.data[at - 1] : 0;
        if (c == 0)
            return fail(p, 400, "NUL byte in the request head");
        if (prev == '\r' && c != '\n')
            return fail(p, 400, "bare CR in the request head");
        if (c == '\n' && prev != '\r')
            return fail(p, 400, "bare LF in the request head");
        if (c == '\n' && at == 1) {
            /* a blank line before the request line */
            bt__buf_reset(&p->head);
            if (++p->blank_lines > MAX_LEADING_BLANK_LINES)
                return fail(p, 400, "too many blank lines before the request");
            continue;
        }
        if (at >= p->lim.max_head_bytes) {
            if (!p->line1_end)
                return fail(p, 414, "request target too long");
            return fail(p, 431, "request header fields too large");
        }
        if (!p->line1_end && at > p->lim.max_target_bytes + MAX_METHOD_BYTES + 16)
            return fail(p, 414, "request target too long");
        if (bt__buf_append_char(&p->head, (char)c) != 0)
            return fail(p, 431, "request header fields too large");
        if (c != '\n')
            continue;
        if (!p->line1_end) {
            p->line1_end = at - 1;
        } else if (at >= 3 && p->head.data[at - 2] == '\n') {
            *consumed = i + 1;
            return finish_head(p);
        }
    }
    *consumed = len;
    return HP_NEED_MORE;
}

/* ---- the body ---- */

static hp_event feed_body(hp_parser *p, const char *data, size_t len, size_t *consumed)
{
    if (p->ll_msg_done) {
        p->state = ST_DONE;
        return HP_END;
    }
    p->body = NULL;
    p->body_len = 0;
    llhttp_errno_t err = llhttp_execute(&p->ll, data, len);
    if (err == HPE_OK) {
        *consumed = len;
        return HP_NEED_MORE;
    }
    if (err != HPE_PAUSED) {
        *consumed = 0;
        return fail(p, 400, "malformed request body framing");
    }
    *consumed = (size_t)(llhttp_get_error_pos(&p->ll) - data);
    llhttp_resume(&p->ll);
    if (p->body)
        return HP_BODY;
    p->state = ST_DONE;
    return HP_END;
}

hp_event hp_feed(hp_parser *p, const char *data, size_t len, size_t *consumed)
{
    *consumed = 0;
    switch (p->state) {
    case ST_ERROR:
        return HP_ERROR;
    case ST_DONE:
        start_message(p);
        /* fall through */
    case ST_HEAD:
        return feed_head(p, data, len, consumed);
    case ST_BODY:
        return feed_body(p, data, len, consumed);
    }
    return HP_ERROR;
}

const hp_head *hp_parser_head(const hp_parser *p)
{
    return p->state == ST_BODY || p->state == ST_DONE ? &p->h : NULL;
}

const char *hp_parser_body(const hp_parser *p, size_t *len)
{
    *len = p->body_len;
    return p->body;
}

int hp_parser_in_head(const hp_parser *p)
{
    return p->state == ST_HEAD && p->head.len > 0;
}

int hp_parser_error(const hp_parser *p, const char **reason)
{
    if (reason)
        *reason = p->error_reason;
    return p->state == ST_ERROR ? p->error_status : 0;
}
