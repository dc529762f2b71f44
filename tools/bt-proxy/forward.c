/* One proxied request: the upstream transfer on libcurl, the request body streamed
 * up as it arrives, the response streamed down chunk by chunk, backpressure both ways,
 * and a copy of every byte fed to the tracing exchange (which can only observe).
 * Upstream response headers are forwarded minus hop-by-hop fields, and made safe: a
 * line folding (obs-fold) becomes a space, and so does a CR, LF or other control
 * character inside a value (RFC 9110 section 5.5), so nothing the upstream sends can
 * split a header line on its way to the client. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

static int name_is(const char *name, size_t len, const char *want)
{
    size_t wl = strlen(want);
    return len == wl && !strncasecmp(name, want, wl);
}

/* Is `name` listed in a Connection header value ("close, x-foo")? */
static int named_in_connection(const char *name, size_t len, const char *conn, size_t cl)
{
    size_t i = 0;
    while (i < cl) {
        while (i < cl && (conn[i] == ' ' || conn[i] == '\t' || conn[i] == ','))
            i++;
        size_t s = i;
        while (i < cl && conn[i] != ',' && conn[i] != ' ' && conn[i] != '\t')
            i++;
        if (i - s == len && !strncasecmp(conn + s, name, len))
            return 1;
    }
    return 0;
}

static int is_hop_by_hop(const char *name, size_t len, const char *connection_hdr, size_t conn_len)
{
    if (name_is(name, len, "connection") || name_is(name, len, "keep-alive") || name_is(name, len, "te") ||
        name_is(name, len, "trailer") || name_is(name, len, "transfer-encoding") ||
        name_is(name, len, "upgrade") || (len >= 6 && !strncasecmp(name, "proxy-", 6)))
        return 1;
    return connection_hdr && named_in_connection(name, len, connection_hdr, conn_len);
}

/* Headers addressed to the proxy itself, never forwarded. */
static int is_proxy_header(const char *name, size_t len)
{
    return name_is(name, len, "x-bt-parent") || name_is(name, len, "x-bt-session-id") ||
        name_is(name, len, "x-bt-proxy-token");
}

/* ---- the upstream side's lifetime ---- */

static void set_pause(px_xfer *x)
{
    if (!x->started || !x->easy)
        return;
    int mask = (x->recv_paused ? CURLPAUSE_RECV : 0) | (x->send_paused ? CURLPAUSE_SEND : 0);
    curl_easy_pause(x->easy, mask);
    px_upstream_kick(x->px);
}

static void free_queue(px_xfer *x)
{
    for (px_chunk *ch = x->q_head, *next; ch; ch = next) {
        next = ch->next;
        free(ch);
    }
    x->q_head = x->q_tail = NULL;
    x->q_bytes = 0;
}

/* Ends the upstream side (curl handle, queued body); the request itself lives on. */
static void release_upstream(px_xfer *x)
{
    if (!x->easy)
        return;
    px_proxy *px = x->px;
    if (x->started) {
        curl_multi_remove_handle(px->multi, x->easy);
        px_counter_add(&px->m.requests_active, -1);
    }
    if (x->stream_counted) {
        x->stream_counted = 0;
        px_counter_add(&px->m.streams_active, -1);
    }
    curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->req_headers);
    x->req_headers = NULL;
    free_queue(x);
    if (x->prev)
        x->prev->next = x->next;
    else
        px->xfers = x->next;
    if (x->next)
        x->next->prev = x->prev;
    x->prev = x->next = NULL;
}

/* Hands the transfer to curl: once the body is complete or PX_REQ_QUEUE_HIGH of it has
 * arrived, never earlier, so a client trickling its body holds no upstream connection. */
static void refuse_over_limit(px_xfer *x);

/* A body complete before the transfer starts (most API calls) goes out in the same
 * write as the request head, as POSTFIELDS, instead of through the read callback in a
 * second one. The queue becomes one piece that stays put until the transfer is over. */
static int inline_body(px_xfer *x)
{
    if (x->q_head && x->q_head->next) {
        px_chunk *one = malloc(sizeof *one + x->q_bytes);
        if (!one)
            return -1;
        one->next = NULL;
        one->len = x->q_bytes;
        one->off = 0;
        size_t n = 0;
        for (px_chunk *ch = x->q_head, *next; ch; ch = next) {
            next = ch->next;
            memcpy(one->data + n, ch->data + ch->off, ch->len - ch->off);
            n += ch->len - ch->off;
            free(ch);
        }
        x->q_head = x->q_tail = one;
    }
    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_UPLOAD, 0L);
    curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)x->q_bytes);
    curl_easy_setopt(e, CURLOPT_POSTFIELDS, x->q_head ? x->q_head->data + x->q_head->off : "");
    size_t ctl;
    if (!hs_request_header(x->r, "content-type", &ctl)) {
        /* curl would add a form Content-Type to a POSTFIELDS body: the client sent none */
        struct curl_slist *l = curl_slist_append(x->req_headers, "Content-Type:");
        if (!l)
            return -1;
        x->req_headers = l;
    }
    return 0;
}

static void start_transfer(px_xfer *x)
{
    if (x->started || !x->easy || x->finished)
        return;
    if (!px_upstream_has_room(x->px)) {
        refuse_over_limit(x);
        return;
    }
    if (x->uploading && x->body_done && x->q_bytes <= PX_INLINE_BODY_MAX && inline_body(x) != 0) {
        px_xfer_done(x, CURLE_OUT_OF_MEMORY);
        return;
    }
    px_upstream_reserve(x->px);
    if (curl_multi_add_handle(x->px->multi, x->easy) != CURLM_OK) {
        px_xfer_done(x, CURLE_FAILED_INIT);
        return;
    }
    x->started = 1;
    x->last_activity_ns = px_now_ns();
    px_counter_add(&x->px->m.requests_active, 1);
    px_upstream_kick(x->px);
}

/* ---- request side ---- */

static size_t read_cb(char *buffer, size_t size, size_t nitems, void *userp)
{
    px_xfer *x = userp;
    x->last_activity_ns = px_now_ns();
    size_t room = size * nitems, n = 0;
    while (n < room && x->q_head) {
        px_chunk *ch = x->q_head;
        size_t take = ch->len - ch->off;
        if (take > room - n)
            take = room - n;
        memcpy(buffer + n, ch->data + ch->off, take);
        ch->off += take;
        n += take;
        if (ch->off == ch->len) {
            x->q_head = ch->next;
            if (!x->q_head)
                x->q_tail = NULL;
            free(ch);
        }
    }
    x->q_bytes -= n;
    if (x->client_read_paused && x->q_bytes < PX_REQ_QUEUE_HIGH / 2) {
        x->client_read_paused = 0;
        hs_request_pause_body(x->r, 0); /* the client is on the clock again */
    }
    if (n > 0)
        return n;
    if (x->body_done)
        return 0;
    x->send_paused = 1;
    return CURL_READFUNC_PAUSE;
}

void px_xfer_request_body(px_xfer *x, const char *data, size_t len)
{
    px_trace_request_body(x->px, x->trace, data, len);
    if (x->finished || !x->easy || len == 0)
        return; /* the upstream already answered; the rest of the body is dropped */
    px_chunk *ch = malloc(sizeof *ch + len);
    if (!ch) {
        px_xfer_cancel(x, 503, "out of memory");
        hs_response_abort(x->r, "out of memory");
        return;
    }
    ch->next = NULL;
    ch->len = len;
    ch->off = 0;
    memcpy(ch->data, data, len);
    if (x->q_tail)
        x->q_tail->next = ch;
    else
        x->q_head = ch;
    x->q_tail = ch;
    x->q_bytes += len;
    if (!x->started) {
        if (x->q_bytes >= PX_REQ_QUEUE_HIGH)
            start_transfer(x);
        return;
    }
    if (x->q_bytes > PX_REQ_QUEUE_HIGH && !x->client_read_paused) {
        /* The upstream is slower than the client: stop reading (the wait is not the
         * client's doing, so its body-rate clock stops too). */
        x->client_read_paused = 1;
        hs_request_pause_body(x->r, 1);
    }
    if (x->send_paused) {
        x->send_paused = 0;
        set_pause(x);
    }
}

void px_xfer_request_end(px_xfer *x)
{
    x->body_done = 1;
    if (!x->started) {
        start_transfer(x);
    } else if (x->send_paused && !x->finished) {
        x->send_paused = 0;
        set_pause(x);
    }
}

/* ---- response side ---- */

typedef struct resp_hdrs {
    bt_header h[512];
    size_t n;
} resp_hdrs;

/* Splits the raw header block (status line first) into headers, for tracing. */
static void split_head(const char *block, size_t len, resp_hdrs *out)
{
    out->n = 0;
    const char *p = memchr(block, '\n', len);
    if (!p)
        return;
    p++;
    const char *end = block + len;
    while (p < end && out->n < sizeof out->h / sizeof out->h[0]) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        const char *le = eol;
        if (le > p && le[-1] == '\r')
            le--;
        const char *colon = memchr(p, ':', (size_t)(le - p));
        if (colon && colon > p && *p != ' ' && *p != '\t') {
            const char *v = colon + 1;
            while (v < le && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = le;
            while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
                ve--;
            bt_header *h = &out->h[out->n++];
            h->name = p;
            h->name_len = (size_t)(colon - p);
            h->value = v;
            h->value_len = (size_t)(ve - v);
        }
        p = eol + 1;
    }
}

static const bt_header *find_hdr(const resp_hdrs *r, const char *name)
{
    for (size_t i = 0; i < r->n; i++)
        if (name_is(r->h[i].name, r->h[i].name_len, name))
            return &r->h[i];
    return NULL;
}

/* The reason phrase of the status line ("HTTP/1.1 200 OK"), copied into `out`. */
static void status_reason(const char *block, size_t len, char *out, size_t outlen)
{
    out[0] = '\0';
    const char *eol = memchr(block, '\n', len);
    const char *sp = memchr(block, ' ', len);
    if (!eol || !sp || sp > eol)
        return;
    const char *r = sp + 1;
    while (r < eol && *r != ' ' && *r != '\r')
        r++;
    if (r < eol && *r == ' ')
        r++;
    const char *re = eol;
    if (re > r && re[-1] == '\r')
        re--;
    snprintf(out, outlen, "%.*s", (int)(re - r), r);
}

static int is_token(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!hp_is_tchar((unsigned char)s[i]))
            return 0;
    return n > 0;
}

/* A field value for the client: white space trimmed, any control character (a CR, LF,
 * NUL, ESC...) but HTAB replaced by a space. */
static void append_clean_value(bt__buf *out, const char *v, size_t n)
{
    while (n && (*v == ' ' || *v == '\t')) {
        v++;
        n--;
    }
    while (n && (v[n - 1] == ' ' || v[n - 1] == '\t' || v[n - 1] == '\r'))
        n--;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)v[i];
        bt__buf_append_char(out, c == '\t' || (c >= 0x20 && c != 0x7f) ? (char)c : ' ');
    }
}

/* The upstream's end-to-end header fields as lines for the client: hop-by-hop ones and
 * the framing (which the server writes) left out, names that are not tokens dropped,
 * obs-fold joined with a space. Returns whether X-Accel-Buffering was among them. */
static int client_header_lines(const px_xfer *x, const bt_header *conn_h, bt__buf *out)
{
    const char *block = x->resp_head.data, *end = block + x->resp_head.len;
    const char *p = memchr(block, '\n', x->resp_head.len);
    int have_accel = 0, open_line = 0, kept = 0;
    for (p = p ? p + 1 : end; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            eol = end;
        size_t n = (size_t)(eol - p);
        if (n == 0 || (n == 1 && *p == '\r'))
            break;
        if (*p == ' ' || *p == '\t') {
            if (kept) { /* obs-fold: one space, then the continuation */
                bt__buf_append_char(out, ' ');
                append_clean_value(out, p, n);
            }
        } else {
            if (open_line)
                bt__buf_append_str(out, "\r\n");
            open_line = kept = 0;
            const char *colon = memchr(p, ':', n);
            size_t nl = colon ? (size_t)(colon - p) : 0;
            int drop = !colon || !is_token(p, nl) ||
                is_hop_by_hop(p, nl, conn_h ? conn_h->value : NULL, conn_h ? conn_h->value_len : 0) ||
                name_is(p, nl, "content-length");
            if (!drop) {
                if (name_is(p, nl, "x-accel-buffering"))
                    have_accel = 1;
                bt__buf_append(out, p, nl);
                bt__buf_append_str(out, ": ");
                append_clean_value(out, colon + 1, n - nl - 1);
                open_line = kept = 1;
            }
        }
        p = eol + 1;
    }
    if (open_line)
        bt__buf_append_str(out, "\r\n");
    return have_accel;
}

static long long parse_length(const bt_header *h)
{
    if (!h || h->value_len == 0 || h->value_len > 18)
        return -1;
    long long v = 0;
    for (size_t i = 0; i < h->value_len; i++) {
        if (h->value[i] < '0' || h->value[i] > '9')
            return -1;
        v = v * 10 + (h->value[i] - '0');
    }
    return v;
}

/* Writes the response head to the client. `rewritten_len` >= 0 replaces the
 * upstream's body length (a rewritten batch object); -1 keeps the upstream framing. */
static int send_head(px_xfer *x, long long rewritten_len)
{
    resp_hdrs r;
    split_head(x->resp_head.data, x->resp_head.len, &r);
    const bt_header *te = find_hdr(&r, "transfer-encoding");
    bt__buf out;
    bt__buf_init(&out, PX_MAX_RESP_HEADER_BYTES + 1024);
    int have_accel = client_header_lines(x, find_hdr(&r, "connection"), &out);
    if (x->is_sse && !have_accel)
        bt__buf_append_str(&out, "X-Accel-Buffering: no\r\n");
    long long length = rewritten_len >= 0 ? rewritten_len
        : te                              ? -1
                                          : parse_length(find_hdr(&r, "content-length"));
    char reason[128];
    status_reason(x->resp_head.data, x->resp_head.len, reason, sizeof reason);
    int rc = out.truncated ? -1 : hs_response_start(x->r, x->status, reason, out.data, out.len, length);
    bt__buf_free(&out);
    x->head_sent = 1;
    return rc;
}

static void head_complete(px_xfer *x)
{
    px_upstream_response_seen(x->px, x->easy);
    resp_hdrs r;
    split_head(x->resp_head.data, x->resp_head.len, &r);
    px_trace_response_headers(x->px, x->trace, x->status, r.h, r.n);
    const bt_header *ct = find_hdr(&r, "content-type");
    const bt_header *ce = find_hdr(&r, "content-encoding");
    const hp_head *req = hs_request_head(x->r);
    x->is_sse = ct && ct->value_len >= 17 && !strncasecmp(ct->value, "text/event-stream", 17);
    if (x->is_sse && !x->stream_counted) {
        x->stream_counted = 1;
        px_counter_add(&x->px->m.streams_active, 1);
    }
    x->no_body = req->method_id == HTTP_HEAD || x->status == 204 || x->status == 304 || x->status < 200;
    int plain_or_gzip =
        !ce || name_is(ce->value, ce->value_len, "gzip") || name_is(ce->value, ce->value_len, "identity");
    x->gzip = ce && name_is(ce->value, ce->value_len, "gzip");
    x->rewrite = !x->no_body && !x->is_sse && x->status >= 200 && x->status < 300 && plain_or_gzip &&
        px_rewrite_wanted(req->method, x->target);
    if (!x->rewrite && send_head(x, -1) != 0)
        x->failed_client = 1;
}

static size_t header_cb(char *buf, size_t size, size_t n, void *userp)
{
    px_xfer *x = userp;
    x->last_activity_ns = px_now_ns();
    size_t len = size * n;
    if (len >= 5 && !strncmp(buf, "HTTP/", 5)) {
        /* A new header block: 1xx interim responses come before the final one. */
        bt__buf_reset(&x->resp_head);
        const char *sp = memchr(buf, ' ', len);
        x->status = sp ? atoi(sp + 1) : 0;
        x->head_done = 0;
    }
    if (x->head_done)
        return len; /* trailers are not forwarded */
    if (bt__buf_append(&x->resp_head, buf, len) != 0)
        return 0; /* oversized upstream head: fail the transfer (502) */
    if ((len == 2 && buf[0] == '\r') || (len == 1 && buf[0] == '\n')) {
        if (x->status >= 200) {
            x->head_done = 1;
            head_complete(x);
            if (x->failed_client)
                return 0;
        }
    }
    return len;
}

/* Stops buffering a batch object that turned out too large: it goes out untouched. */
static int give_up_rewrite(px_xfer *x)
{
    x->rewrite = 0;
    px_log("results_url rewrite skipped: batch response larger than %d bytes", PX_REWRITE_MAX);
    if (send_head(x, -1) != 0)
        return -1;
    int rc = x->rewrite_buf.len ? hs_response_write(x->r, x->rewrite_buf.data, x->rewrite_buf.len) : 0;
    bt__buf_free(&x->rewrite_buf);
    bt__buf_init(&x->rewrite_buf, PX_REWRITE_MAX);
    return rc;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    px_xfer *x = userp;
    x->last_activity_ns = px_now_ns();
    size_t len = size * n;
    if (!x->head_done || x->no_body)
        return len;
    if (x->rewrite) {
        if (x->rewrite_buf.len + len <= PX_REWRITE_MAX) {
            bt__buf_append(&x->rewrite_buf, data, len);
            px_trace_response_body(x->px, x->trace, data, len);
            x->resp_bytes += len;
            return len;
        }
        if (give_up_rewrite(x) != 0) {
            x->failed_client = 1;
            return 0;
        }
    }
    if (hs_response_busy(x->r)) {
        /* A slow client: leave the bytes in curl and stop reading the upstream until
         * the server's on_drain. */
        x->recv_paused = 1;
        return CURL_WRITEFUNC_PAUSE;
    }
    if (hs_response_write(x->r, data, len) != 0) {
        x->failed_client = 1;
        return 0;
    }
    px_trace_response_body(x->px, x->trace, data, len);
    x->resp_bytes += len;
    return len;
}

void px_xfer_client_drained(px_xfer *x)
{
    if (!x->recv_paused || x->finished)
        return;
    x->recv_paused = 0;
    x->last_activity_ns = px_now_ns(); /* the wait was the client's, not the upstream's */
    set_pause(x);
}

/* ---- start and finish ---- */

static int add_header(px_xfer *x, const char *name, size_t nl, const char *value, size_t vl)
{
    /* curl sends "Name;" as an empty header; "Name:" would remove it. */
    char *line = malloc(nl + vl + 3);
    if (!line)
        return -1;
    memcpy(line, name, nl);
    if (vl == 0) {
        line[nl] = ';';
        line[nl + 1] = '\0';
    } else {
        line[nl] = ':';
        line[nl + 1] = ' ';
        memcpy(line + nl + 2, value, vl);
        line[nl + 2 + vl] = '\0';
    }
    struct curl_slist *l = curl_slist_append(x->req_headers, line);
    free(line);
    if (!l)
        return -1;
    x->req_headers = l;
    return 0;
}

static void begin_exchange(px_xfer *x, const char *target)
{
    px_proxy *px = x->px;
    if (!px->anthropic)
        return;
    const hp_head *h = hs_request_head(x->r);
    bt_header hs[PX_MAX_HEADERS];
    size_t n = 0;
    for (size_t i = 0; i < h->n_fields && n < PX_MAX_HEADERS; i++) {
        const hp_field *f = &h->fields[i];
        if (name_is(f->name, f->name_len, "x-bt-proxy-token") ||
            name_is(f->name, f->name_len, "proxy-authorization"))
            continue;
        hs[n].name = f->name;
        hs[n].name_len = f->name_len;
        hs[n].value = f->value;
        hs[n].value_len = f->value_len;
        n++;
    }
    size_t tl, sl, pl;
    const char *tp = hs_request_header(x->r, "traceparent", &tl);
    const char *ts = hs_request_header(x->r, "tracestate", &sl);
    const char *bp = hs_request_header(x->r, "x-bt-parent", &pl);
    bt_span_context parent;
    const bt_span_context *parent_p = NULL;
    char *tp_s = tp ? strndup(tp, tl) : NULL;
    char *ts_s = ts ? strndup(ts, sl) : NULL;
    char *bp_s = bp && pl ? strndup(bp, pl) : NULL;
    if (tp_s && bt_traceparent_parse(tp_s, ts_s, &parent) == BT_OK)
        parent_p = &parent;
    x->trace = px_trace_begin(px, h->method, target, hs, n, parent_p, bp_s);
    free(tp_s);
    free(ts_s);
    free(bp_s);
}

int px_xfer_start(px_xfer *x, const char *target)
{
    px_proxy *px = x->px;
    const hp_head *h = hs_request_head(x->r);
    x->start_ns = x->last_activity_ns = px_now_ns();
    size_t ul = strlen(px->cfg.upstream), tl = strlen(target);
    x->url = malloc(ul + tl + 1);
    x->target = strndup(target, tl);
    x->easy = curl_easy_init();
    if (!x->url || !x->target || !x->easy)
        goto fail;
    memcpy(x->url, px->cfg.upstream, ul);
    memcpy(x->url + ul, target, tl + 1);

    size_t connl;
    const char *conn_h = hs_request_header(x->r, "connection", &connl);
    int have_accept = 0, has_body = h->chunked || hp_head_field(h, "content-length");
    for (size_t i = 0; i < h->n_fields; i++) {
        const hp_field *f = &h->fields[i];
        if (name_is(f->name, f->name_len, "content-length") ||
            is_hop_by_hop(f->name, f->name_len, conn_h, connl) || name_is(f->name, f->name_len, "host") ||
            name_is(f->name, f->name_len, "expect") || is_proxy_header(f->name, f->name_len))
            continue;
        if (name_is(f->name, f->name_len, "accept"))
            have_accept = 1;
        if (add_header(x, f->name, f->name_len, f->value, f->value_len) != 0)
            goto fail;
    }
    /* Keep curl from adding headers the client did not send. */
    struct curl_slist *l = curl_slist_append(x->req_headers, "Expect:");
    if (l)
        x->req_headers = l;
    if (!have_accept && (l = curl_slist_append(x->req_headers, "Accept:")))
        x->req_headers = l;

    CURL *e = x->easy;
    curl_easy_setopt(e, CURLOPT_URL, x->url);
    curl_easy_setopt(e, CURLOPT_PRIVATE, (char *)x);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, h->method);
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, x->req_headers);
    curl_easy_setopt(e, CURLOPT_HTTP_CONTENT_DECODING, 0L);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, header_cb);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, x);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, write_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    /* Larger reads cut per-chunk overhead on big bodies; a stream's bytes are still
     * handed over as soon as any arrive. */
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, 128L * 1024);
    px_upstream_setup_easy(px, e);
    if (h->method_id == HTTP_HEAD) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        x->uploading = 1;
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)h->content_length);
    }
    begin_exchange(x, target);
    x->next = px->xfers;
    if (px->xfers)
        px->xfers->prev = x;
    px->xfers = x;
    return 0; /* handed to curl by px_xfer_request_end or once enough body arrived */
fail:
    if (x->easy)
        curl_easy_cleanup(x->easy);
    x->easy = NULL;
    curl_slist_free_all(x->req_headers);
    x->req_headers = NULL;
    return -1;
}

void px_xfer_free(px_xfer *x)
{
    release_upstream(x);
    if (x->trace) { /* not logged (px_on_finish always logs): end it, then log without a line */
        px_trace_end(x->px, x->trace, BT_EXCHANGE_CLIENT_CANCELLED, NULL);
        px_trace_log(x->px, x->trace, NULL, NULL);
        x->trace = NULL;
    }
    free(x->url);
    free(x->target);
    bt__buf_free(&x->resp_head);
    bt__buf_free(&x->rewrite_buf);
    free(x);
}

static void end_exchange(px_xfer *x, bt_exchange_outcome outcome, int log_status, const char *note)
{
    /* the reason names what cut or broke the exchange, for its span's status */
    int named = outcome == BT_EXCHANGE_ABORTED || outcome == BT_EXCHANGE_TRANSPORT_ERROR;
    px_trace_end(x->px, x->trace, outcome, named ? note : NULL);
    if (log_status)
        x->log_status = log_status;
    if (note && !x->note)
        x->note = note;
}

/* Sends the buffered batch object, with results_url pointing at this proxy: the
 * --public-url, else the address the client reached (never the client's Host header,
 * which the client chooses). */
static int send_rewritten(px_xfer *x)
{
    char base[2100];
    if (x->px->cfg.public_url[0])
        snprintf(base, sizeof base, "%s", x->px->cfg.public_url);
    else
        snprintf(base, sizeof base, "http://%s", hs_request_local_authority(x->r));
    char *out = NULL;
    size_t out_len = 0;
    const char *body = x->rewrite_buf.data ? x->rewrite_buf.data : "";
    int changed = x->gzip ? px_rewrite_results_url_gzip(body, x->rewrite_buf.len, base, &out, &out_len)
                          : px_rewrite_results_url(body, x->rewrite_buf.len, base, &out, &out_len);
    int rc;
    if (changed == 1) {
        rc = send_head(x, (long long)out_len);
        if (rc == 0 && out_len)
            rc = hs_response_write(x->r, out, out_len);
    } else {
        /* Nothing to rewrite (or not decodable): the upstream bytes, untouched. */
        rc = send_head(x, (long long)x->rewrite_buf.len);
        if (rc == 0 && x->rewrite_buf.len)
            rc = hs_response_write(x->r, body, x->rewrite_buf.len);
    }
    free(out);
    return rc;
}

/* No upstream connection left for this request under --max-upstream-connections: a
 * 503 now, never a wait in a queue nobody sees. The span says the proxy refused it. */
static void refuse_over_limit(px_xfer *x)
{
    px_counter_add(&x->px->m.upstream_over_limit, 1);
    x->finished = 1;
    snprintf(x->note_buf, sizeof x->note_buf,
             "upstream connection limit reached (--max-upstream-connections %d)",
             x->px->cfg.max_upstream_connections);
    end_exchange(x, BT_EXCHANGE_ABORTED, 503, x->note_buf);
    release_upstream(x);
    char msg[200];
    snprintf(msg, sizeof msg,
             "bt-proxy: all %d upstream connections are in use (--max-upstream-connections); retry shortly",
             x->px->cfg.max_upstream_connections);
    hs_respond_error(x->r, 503, "overloaded_error", msg);
}

void px_xfer_done(px_xfer *x, CURLcode result)
{
    hs_request *r = x->r;
    x->finished = 1;
    if (result == CURLE_OK && !x->head_done)
        result = CURLE_RECV_ERROR;
    if (result == CURLE_OK) {
        int rc = x->rewrite ? send_rewritten(x) : 0;
        end_exchange(x, BT_EXCHANGE_COMPLETED, 0, NULL);
        release_upstream(x);
        if (rc == 0)
            hs_response_end(r);
        else
            hs_response_abort(r, "client went away");
        return;
    }
    if (x->failed_client) {
        end_exchange(x, BT_EXCHANGE_CLIENT_CANCELLED, 499, "client went away");
        release_upstream(x);
        hs_response_abort(r, "client went away");
        return;
    }
    px_counter_add(&x->px->m.upstream_errors, 1);
    snprintf(x->note_buf, sizeof x->note_buf, "upstream: %s", curl_easy_strerror(result));
    end_exchange(x, BT_EXCHANGE_TRANSPORT_ERROR, 0, x->note_buf);
    release_upstream(x);
    if (!x->head_sent) {
        int status = result == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
        char message[160];
        /* curl's text for the cause ("Couldn't connect to server"): a fixed string */
        snprintf(message, sizeof message, "upstream request failed: %s", curl_easy_strerror(result));
        hs_request_close_after(r);
        hs_respond_error(r, status, "api_error", status == 504 ? "upstream timed out" : message);
        return;
    }
    /* Mid-body failure: cut the connection so the client sees a truncated response
     * (no final chunk), never a complete-looking one. */
    hs_response_abort(r, x->note_buf);
}

/* Idle, never total: a transfer fails only when the upstream neither sent nor took a
 * byte for the configured time while the proxy was ready for it (a slow client or a
 * client still sending its body do not count). Runs from a loop timer, outside curl. */
static void check_idle(px_xfer *x, uint64_t now_ns)
{
    int waiting_on_others = x->recv_paused || (x->send_paused && !x->body_done);
    if (waiting_on_others) {
        x->last_activity_ns = now_ns;
        return;
    }
    if (now_ns - x->last_activity_ns > (uint64_t)x->px->cfg.upstream_idle_s * 1000000000ull)
        px_xfer_done(x, CURLE_OPERATION_TIMEDOUT);
}

void px_check_idle_transfers(px_proxy *px, uint64_t now_ns)
{
    for (px_xfer *x = px->xfers, *next; x; x = next) {
        next = x->next;
        if (x->started && !x->finished)
            check_idle(x, now_ns);
    }
}

void px_xfer_cancel(px_xfer *x, int status, const char *why)
{
    if (x->easy && !x->finished) {
        x->finished = 1;
        end_exchange(x, BT_EXCHANGE_CLIENT_CANCELLED, status, why);
    }
    release_upstream(x);
}

void px_xfer_cut(px_xfer *x, const char *why)
{
    if (x->easy && !x->finished) {
        x->finished = 1;
        end_exchange(x, BT_EXCHANGE_ABORTED, x->head_sent ? x->status : 0, why);
    }
    release_upstream(x);
}
