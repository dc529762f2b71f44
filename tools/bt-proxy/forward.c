/* One proxied request: the upstream transfer on libcurl, the request body streamed
 * up as it arrives, the response streamed down chunk by chunk, backpressure both ways,
 * and a copy of every byte fed to the tracing exchange (which can only observe). */
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

/* ---- request side ---- */

static void set_pause(px_xfer *x)
{
    int mask = (x->recv_paused ? CURLPAUSE_RECV : 0) | (x->send_paused ? CURLPAUSE_SEND : 0);
    curl_easy_pause(x->easy, mask);
    px_upstream_kick(x->conn->px);
}

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
        px_conn_read_resume(x->conn);
        px_conn_backpressure_timer(x->conn, 1); /* the client is on the clock again */
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
    bt_exchange_request_body(x->ex, data, len);
    if (x->finished || len == 0)
        return; /* the upstream already answered; the rest of the body is drained */
    px_chunk *ch = malloc(sizeof *ch + len);
    if (!ch) {
        px_conn_abort(x->conn);
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
    if (x->q_bytes > PX_REQ_QUEUE_HIGH && !x->client_read_paused) {
        /* The upstream is slower than the client: stop reading, and stop the client's
         * idle clock since the wait is not the client's doing. */
        x->client_read_paused = 1;
        px_conn_read_pause(x->conn);
        px_conn_backpressure_timer(x->conn, 0);
    }
    if (x->send_paused) {
        x->send_paused = 0;
        set_pause(x);
    }
}

void px_xfer_request_end(px_xfer *x)
{
    x->body_done = 1;
    if (x->send_paused && !x->finished) {
        x->send_paused = 0;
        set_pause(x);
    }
}

/* ---- response side ---- */

typedef struct resp_hdrs {
    bt_header h[512];
    size_t n;
} resp_hdrs;

/* Splits the raw header block (status line first) into headers. */
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
        if (colon && colon > p) {
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

static const char *status_reason(const char *block, size_t len, size_t *rl)
{
    /* "HTTP/1.1 200 OK\r\n": the reason is whatever follows the code. */
    const char *eol = memchr(block, '\n', len);
    const char *sp = memchr(block, ' ', len);
    *rl = 0;
    if (!eol || !sp || sp > eol)
        return NULL;
    const char *r = sp + 1;
    while (r < eol && *r != ' ' && *r != '\r')
        r++;
    if (r < eol && *r == ' ')
        r++;
    const char *re = eol;
    if (re > r && re[-1] == '\r')
        re--;
    *rl = (size_t)(re - r);
    return r;
}

static const char *default_reason(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 201:
        return "Created";
    case 204:
        return "No Content";
    case 304:
        return "Not Modified";
    case 400:
        return "Bad Request";
    case 401:
        return "Unauthorized";
    case 403:
        return "Forbidden";
    case 404:
        return "Not Found";
    case 409:
        return "Conflict";
    case 413:
        return "Payload Too Large";
    case 429:
        return "Too Many Requests";
    case 500:
        return "Internal Server Error";
    case 502:
        return "Bad Gateway";
    case 503:
        return "Service Unavailable";
    case 504:
        return "Gateway Timeout";
    case 529:
        return "Overloaded";
    default:
        return "Status";
    }
}

/* Writes the response head to the client. `rewritten_len` >= 0 replaces the
 * upstream's body length (a rewritten batch object); -1 keeps the upstream framing. */
static int send_head(px_xfer *x, long long rewritten_len)
{
    px_conn *c = x->conn;
    resp_hdrs r;
    split_head(x->resp_head.data, x->resp_head.len, &r);
    const bt_header *conn_h = find_hdr(&r, "connection");
    const bt_header *cl = find_hdr(&r, "content-length");
    const bt_header *te = find_hdr(&r, "transfer-encoding");

    if (c->px->shutting_down)
        c->keep_alive = 0;
    bt__buf out;
    bt__buf_init(&out, PX_MAX_RESP_HEADER_BYTES + 1024);
    size_t rl;
    const char *reason = status_reason(x->resp_head.data, x->resp_head.len, &rl);
    if (reason && rl)
        bt__buf_printf(&out, "HTTP/1.1 %d %.*s\r\n", x->status, (int)rl, reason);
    else
        bt__buf_printf(&out, "HTTP/1.1 %d %s\r\n", x->status, default_reason(x->status));
    int have_accel = 0;
    for (size_t i = 0; i < r.n; i++) {
        const bt_header *h = &r.h[i];
        if (is_hop_by_hop(h->name, h->name_len, conn_h ? conn_h->value : NULL,
                          conn_h ? conn_h->value_len : 0))
            continue;
        if (name_is(h->name, h->name_len, "content-length") && !x->no_body && (rewritten_len >= 0 || te))
            continue;
        if (name_is(h->name, h->name_len, "x-accel-buffering"))
            have_accel = 1;
        bt__buf_printf(&out, "%.*s: %.*s\r\n", (int)h->name_len, h->name, (int)h->value_len, h->value);
    }
    if (x->is_sse && !have_accel)
        bt__buf_append_str(&out, "X-Accel-Buffering: no\r\n");
    if (!x->no_body) {
        if (rewritten_len >= 0) {
            bt__buf_printf(&out, "Content-Length: %lld\r\n", rewritten_len);
        } else if (cl && !te) {
            /* kept above, byte counts match since the body is forwarded untouched */
        } else if (c->http_minor >= 1) {
            bt__buf_append_str(&out, "Transfer-Encoding: chunked\r\n");
            x->chunked_out = 1;
        } else {
            c->keep_alive = 0; /* HTTP/1.0: the body ends when the connection closes */
        }
    }
    if (!c->keep_alive)
        bt__buf_append_str(&out, "Connection: close\r\n");
    else if (c->http_minor == 0)
        bt__buf_append_str(&out, "Connection: keep-alive\r\n");
    bt__buf_append_str(&out, "\r\n");
    int rc = out.truncated ? -1 : px_conn_write(c, out.data, out.len, NULL, 0, NULL, 0);
    bt__buf_free(&out);
    x->head_sent = 1;
    return rc;
}

static void head_complete(px_xfer *x)
{
    px_conn *c = x->conn;
    resp_hdrs r;
    split_head(x->resp_head.data, x->resp_head.len, &r);
    bt_exchange_response_headers(x->ex, x->status, r.h, r.n);
    const bt_header *ct = find_hdr(&r, "content-type");
    const bt_header *ce = find_hdr(&r, "content-encoding");
    x->is_sse = ct && ct->value_len >= 17 && !strncasecmp(ct->value, "text/event-stream", 17);
    x->no_body = c->is_head || x->status == 204 || x->status == 304 || x->status < 200;
    int plain_or_gzip =
        !ce || name_is(ce->value, ce->value_len, "gzip") || name_is(ce->value, ce->value_len, "identity");
    x->gzip = ce && name_is(ce->value, ce->value_len, "gzip");
    x->rewrite = !x->no_body && !x->is_sse && x->status >= 200 && x->status < 300 && plain_or_gzip &&
        px_rewrite_wanted(c->method, x->target);
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

static int write_body(px_xfer *x, const char *data, size_t len)
{
    px_conn *c = x->conn;
    if (x->chunked_out) {
        char pre[24];
        int pl = snprintf(pre, sizeof pre, "%zx\r\n", len);
        return px_conn_write(c, pre, (size_t)pl, data, len, "\r\n", 2);
    }
    return px_conn_write(c, data, len, NULL, 0, NULL, 0);
}

/* Stops buffering a batch object that turned out too large: it goes out untouched. */
static int give_up_rewrite(px_xfer *x)
{
    x->rewrite = 0;
    px_log("results_url rewrite skipped: batch response larger than %d bytes", PX_REWRITE_MAX);
    if (send_head(x, -1) != 0)
        return -1;
    int rc = x->rewrite_buf.len ? write_body(x, x->rewrite_buf.data, x->rewrite_buf.len) : 0;
    bt__buf_free(&x->rewrite_buf);
    bt__buf_init(&x->rewrite_buf, PX_REWRITE_MAX);
    return rc;
}

static size_t write_cb(char *data, size_t size, size_t n, void *userp)
{
    px_xfer *x = userp;
    x->last_activity_ns = px_now_ns();
    px_conn *c = x->conn;
    size_t len = size * n;
    if (!x->head_done || x->no_body)
        return len;
    if (x->rewrite) {
        if (x->rewrite_buf.len + len <= PX_REWRITE_MAX) {
            bt__buf_append(&x->rewrite_buf, data, len);
            bt_exchange_response_body(x->ex, data, len);
            x->resp_bytes += len;
            return len;
        }
        if (give_up_rewrite(x) != 0) {
            x->failed_client = 1;
            return 0;
        }
    }
    if (px_conn_write_queue(c) > PX_RESP_QUEUE_HIGH) {
        /* A slow client: leave the bytes in curl and stop reading the upstream. */
        x->recv_paused = 1;
        px_conn_backpressure_timer(c, 1);
        return CURL_WRITEFUNC_PAUSE;
    }
    if (write_body(x, data, len) != 0) {
        x->failed_client = 1;
        return 0;
    }
    bt_exchange_response_body(x->ex, data, len);
    x->resp_bytes += len;
    return len;
}

void px_xfer_client_drained(px_xfer *x)
{
    if (!x->recv_paused || x->finished)
        return;
    x->recv_paused = 0;
    x->last_activity_ns = px_now_ns(); /* the wait was the client's, not the upstream's */
    px_conn_backpressure_timer(x->conn, 0);
    set_pause(x);
}

/* ---- start and finish ---- */

static char *dup_range(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

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
    px_conn *c = x->conn;
    px_proxy *px = c->px;
    if (!px->anthropic)
        return;
    bt_header hs[PX_MAX_HEADERS];
    size_t n = 0;
    for (size_t i = 0; i < c->n_hdrs; i++) {
        const char *name = c->head.data + c->hdrs[i].name_off;
        size_t nl = c->hdrs[i].name_len;
        if (name_is(name, nl, "x-bt-proxy-token") || name_is(name, nl, "proxy-authorization"))
            continue;
        hs[n].name = name;
        hs[n].name_len = nl;
        hs[n].value = c->head.data + c->hdrs[i].value_off;
        hs[n].value_len = c->hdrs[i].value_len;
        n++;
    }
    size_t tl, sl, pl;
    const char *tp = px_conn_header(c, "traceparent", &tl);
    const char *ts = px_conn_header(c, "tracestate", &sl);
    const char *bp = px_conn_header(c, "x-bt-parent", &pl);
    bt_span_context parent;
    bt_exchange_options opts = {0};
    char *tp_s = tp ? dup_range(tp, tl) : NULL;
    char *ts_s = ts ? dup_range(ts, sl) : NULL;
    char *bp_s = bp && pl ? dup_range(bp, pl) : NULL;
    if (tp_s && bt_traceparent_parse(tp_s, ts_s, &parent) == BT_OK)
        opts.parent = &parent;
    opts.braintrust_parent = bp_s;
    bt_exchange_begin(px->anthropic, c->method, target, hs, n, &opts, &x->ex);
    free(tp_s);
    free(ts_s);
    free(bp_s);
}

int px_xfer_start(px_conn *c, const char *target)
{
    px_proxy *px = c->px;
    px_xfer *x = calloc(1, sizeof *x);
    if (!x)
        return -1;
    x->conn = c;
    x->start_ns = x->last_activity_ns = px_now_ns();
    bt__buf_init(&x->resp_head, PX_MAX_RESP_HEADER_BYTES);
    bt__buf_init(&x->rewrite_buf, PX_REWRITE_MAX);
    size_t ul = strlen(px->cfg.upstream), tl = strlen(target);
    x->url = malloc(ul + tl + 1);
    x->target = dup_range(target, tl);
    x->easy = curl_easy_init();
    if (!x->url || !x->target || !x->easy)
        goto fail;
    memcpy(x->url, px->cfg.upstream, ul);
    memcpy(x->url + ul, target, tl + 1);

    size_t connl;
    const char *conn_h = px_conn_header(c, "connection", &connl);
    int have_accept = 0, has_body = 0;
    long long content_length = -1;
    for (size_t i = 0; i < c->n_hdrs; i++) {
        const char *name = c->head.data + c->hdrs[i].name_off;
        size_t nl = c->hdrs[i].name_len;
        const char *value = c->head.data + c->hdrs[i].value_off;
        size_t vl = c->hdrs[i].value_len;
        if (name_is(name, nl, "content-length")) {
            content_length = (long long)c->parser.content_length;
            has_body = 1;
            continue;
        }
        if (name_is(name, nl, "transfer-encoding"))
            has_body = 1;
        if (is_hop_by_hop(name, nl, conn_h, connl) || name_is(name, nl, "host") ||
            name_is(name, nl, "expect") || name_is(name, nl, "x-bt-parent") ||
            name_is(name, nl, "x-bt-session-id") || name_is(name, nl, "x-bt-proxy-token"))
            continue;
        if (name_is(name, nl, "accept"))
            have_accept = 1;
        if (add_header(x, name, nl, value, vl) != 0)
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
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, c->method);
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
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)px->cfg.connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (px->cfg.ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, px->cfg.ca_bundle);
    if (c->is_head) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (has_body) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, read_cb);
        curl_easy_setopt(e, CURLOPT_READDATA, x);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)content_length);
    }
    begin_exchange(x, target);
    if (curl_multi_add_handle(px->multi, e) != CURLM_OK)
        goto fail;
    c->xfer = x;
    px->m.requests_active++;
    px_upstream_kick(px);
    return 0;
fail:
    if (x->ex)
        bt_exchange_end(x->ex, BT_EXCHANGE_TRANSPORT_ERROR, NULL);
    if (x->easy)
        curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->req_headers);
    free(x->url);
    free(x->target);
    bt__buf_free(&x->resp_head);
    bt__buf_free(&x->rewrite_buf);
    free(x);
    return -1;
}

static void xfer_free(px_xfer *x)
{
    px_proxy *px = x->conn->px;
    curl_multi_remove_handle(px->multi, x->easy);
    curl_easy_cleanup(x->easy);
    curl_slist_free_all(x->req_headers);
    for (px_chunk *ch = x->q_head, *next; ch; ch = next) {
        next = ch->next;
        free(ch);
    }
    free(x->url);
    free(x->target);
    bt__buf_free(&x->resp_head);
    bt__buf_free(&x->rewrite_buf);
    x->conn->xfer = NULL;
    px->m.requests_active--;
    free(x);
}

static void end_exchange(px_xfer *x, bt_exchange_outcome outcome, int status, const char *note)
{
    bt_exchange_info info;
    memset(&info, 0, sizeof info);
    info.input_tokens = info.output_tokens = -1;
    if (x->ex && outcome == BT_EXCHANGE_ABORTED)
        bt_exchange_abort(x->ex, note, &info);
    else if (x->ex)
        bt_exchange_end(x->ex, outcome, &info);
    x->ex = NULL;
    px_access_log(x->conn, status, &info, x->resp_bytes, note);
}

/* Sends the buffered batch object, with results_url pointing at this proxy. */
static int send_rewritten(px_xfer *x)
{
    px_conn *c = x->conn;
    size_t hl;
    const char *host = px_conn_header(c, "host", &hl);
    char base[300];
    int host_ok = host && hl > 0 && hl < 256;
    for (size_t i = 0; host_ok && i < hl; i++) {
        char ch = host[i];
        host_ok = (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
            ch == '.' || ch == '-' || ch == ':' || ch == '[' || ch == ']';
    }
    if (host_ok)
        snprintf(base, sizeof base, "http://%.*s", (int)hl, host);
    else
        snprintf(base, sizeof base, "http://%s", c->px->listen_addr);
    char *out = NULL;
    size_t out_len = 0;
    const char *body = x->rewrite_buf.data ? x->rewrite_buf.data : "";
    int changed = x->gzip ? px_rewrite_results_url_gzip(body, x->rewrite_buf.len, base, &out, &out_len)
                          : px_rewrite_results_url(body, x->rewrite_buf.len, base, &out, &out_len);
    int rc;
    if (changed == 1) {
        rc = send_head(x, (long long)out_len);
        if (rc == 0 && out_len)
            rc = px_conn_write(c, out, out_len, NULL, 0, NULL, 0);
    } else {
        /* Nothing to rewrite (or not decodable): the upstream bytes, untouched. */
        rc = send_head(x, (long long)x->rewrite_buf.len);
        if (rc == 0 && x->rewrite_buf.len)
            rc = px_conn_write(c, body, x->rewrite_buf.len, NULL, 0, NULL, 0);
    }
    free(out);
    return rc;
}

void px_xfer_done(px_xfer *x, CURLcode result)
{
    px_conn *c = x->conn;
    x->finished = 1;
    if (result == CURLE_OK && !x->head_done)
        result = CURLE_RECV_ERROR;
    if (result == CURLE_OK) {
        int rc = 0;
        if (x->rewrite)
            rc = send_rewritten(x);
        else if (x->chunked_out)
            rc = px_conn_write(c, "0\r\n\r\n", 5, NULL, 0, NULL, 0);
        end_exchange(x, BT_EXCHANGE_COMPLETED, x->status, NULL);
        xfer_free(x);
        if (rc != 0)
            px_conn_abort(c);
        else
            px_conn_request_done(c); /* close-delimited bodies cleared keep_alive */
        return;
    }
    if (x->failed_client) {
        end_exchange(x, BT_EXCHANGE_CLIENT_CANCELLED, 499, "client went away");
        xfer_free(x);
        px_conn_abort(c);
        return;
    }
    c->px->m.upstream_errors++;
    char note[160];
    snprintf(note, sizeof note, "upstream: %s", curl_easy_strerror(result));
    if (!x->head_sent) {
        int status = result == CURLE_OPERATION_TIMEDOUT ? 504 : 502;
        end_exchange(x, BT_EXCHANGE_TRANSPORT_ERROR, status, note);
        xfer_free(x);
        c->keep_alive = 0;
        px_send_error(c, status, "api_error",
                      status == 504 ? "upstream timed out" : "upstream request failed");
        /* the access log line was written by end_exchange */
        px_conn_request_done(c);
        return;
    }
    /* Mid-body failure: cut the connection so the client sees a truncated response
     * (no final chunk), never a complete-looking one. */
    end_exchange(x, BT_EXCHANGE_TRANSPORT_ERROR, x->status, note);
    xfer_free(x);
    px_conn_abort(c);
}

/* Idle, never total: a transfer fails only when the upstream neither sent nor took a
 * byte for the configured time while the proxy was ready for it (a slow client or a
 * client still sending its body do not count). Runs from a loop timer, outside curl. */
void px_xfer_check_idle(px_xfer *x, uint64_t now_ns)
{
    px_conn *c = x->conn;
    int waiting_on_others = x->recv_paused || (x->send_paused && !x->body_done);
    if (waiting_on_others) {
        x->last_activity_ns = now_ns;
        return;
    }
    if (now_ns - x->last_activity_ns > (uint64_t)c->px->cfg.upstream_idle_s * 1000000000ull)
        px_xfer_done(x, CURLE_OPERATION_TIMEDOUT);
}

void px_xfer_cancel(px_xfer *x, int status, const char *why)
{
    if (!x->finished)
        end_exchange(x, BT_EXCHANGE_CLIENT_CANCELLED, status, why);
    xfer_free(x);
}

void px_xfer_cut(px_xfer *x, const char *why)
{
    if (!x->finished)
        end_exchange(x, BT_EXCHANGE_ABORTED, x->head_sent ? x->status : 0, why);
    xfer_free(x);
}
