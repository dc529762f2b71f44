/*
 * The libcurl adapter: a tee between libcurl's callbacks and the caller's, feeding the
 * tracing exchange on the way. Response headers are gathered per header block and
 * handed over when the block ends (curl reports interim 1xx blocks too; the exchange
 * keeps only the first final one).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "braintrust/curl.h"
#include "util/buf.h"

/* A header block larger than this is not real HTTP; what fits is still used. */
#define BT__CURL_HEADER_BLOCK_MAX ((size_t)256 << 10)
#define BT__CURL_MAX_HEADERS 256

typedef struct tee {
    bt_exchange *ex;
    const bt_curl_request *req;
    bt__buf block;    /* header lines of the current block */
    bt__buf redirect; /* a 3xx block held back: curl may be following it */
    int headers_done;
} tee;

static int block_status(const bt__buf *b)
{
    if (!b->data || strncmp(b->data, "HTTP/", 5) != 0)
        return 0;
    const char *sp = memchr(b->data, ' ', b->len);
    return sp ? atoi(sp + 1) : 0;
}

/* Parses the gathered block and hands it to the exchange. A redirect is held back
 * instead (unless `final`): when curl follows it, the next block is the real response;
 * when it does not, the redirect's body or the end of the transfer delivers it. */
static void deliver_headers(tee *t, int final)
{
    if (!final) {
        int st = block_status(&t->block);
        if (st >= 300 && st < 400) {
            bt__buf tmp = t->redirect;
            t->redirect = t->block;
            t->block = tmp;
            bt__buf_reset(&t->block);
            return;
        }
    }
    bt_header hs[BT__CURL_MAX_HEADERS];
    size_t n = 0;
    char *p = t->block.data;
    char *end = p ? p + t->block.len : NULL;
    int status = 0;
    while (p && p < end) {
        char *eol = memchr(p, '\n', (size_t)(end - p));
        char *line_end = eol ? eol : end;
        size_t len = (size_t)(line_end - p);
        if (len && p[len - 1] == '\r')
            len--;
        if (len > 5 && strncmp(p, "HTTP/", 5) == 0) {
            const char *sp = memchr(p, ' ', len);
            if (sp)
                status = atoi(sp + 1);
        } else {
            char *colon = memchr(p, ':', len);
            if (colon && colon > p && n < BT__CURL_MAX_HEADERS) {
                const char *v = colon + 1;
                size_t vlen = len - (size_t)(v - p);
                while (vlen && (*v == ' ' || *v == '\t')) {
                    v++;
                    vlen--;
                }
                size_t name_len = (size_t)(colon - p);
                int skip = t->req->curl_decodes_body && name_len == 16 &&
                    strncasecmp(p, "content-encoding", 16) == 0;
                if (!skip)
                    hs[n++] = (bt_header){p, name_len, v, vlen};
            }
        }
        p = eol ? eol + 1 : end;
    }
    if (status >= 200 || status == 0) {
        bt_exchange_response_headers(t->ex, status, hs, n);
        t->headers_done = status >= 200;
    }
    bt__buf_reset(&t->block);
}

/* Body bytes or the end arrived before a delivered block: hand over what there is
 * (a redirect that was not followed, or a block without its blank line). */
static void deliver_pending(tee *t)
{
    if (t->block.len) {
        deliver_headers(t, 1);
    } else if (t->redirect.len) {
        bt__buf tmp = t->block;
        t->block = t->redirect;
        t->redirect = tmp;
        deliver_headers(t, 1);
    }
}

static size_t on_header(char *data, size_t size, size_t nmemb, void *ud)
{
    tee *t = ud;
    size_t len = size * nmemb;
    if (t->ex && !t->headers_done) {
        if ((len == 2 && data[0] == '\r' && data[1] == '\n') || (len == 1 && data[0] == '\n'))
            deliver_headers(t, 0);
        else
            bt__buf_append(&t->block, data, len);
    }
    if (t->req->header_fn)
        return t->req->header_fn(data, size, nmemb, t->req->header_userdata);
    return len;
}

static size_t on_write(char *data, size_t size, size_t nmemb, void *ud)
{
    tee *t = ud;
    size_t len = size * nmemb;
    size_t taken = t->req->write_fn ? t->req->write_fn(data, size, nmemb, t->req->write_userdata) : len;
    if (t->ex) {
        if (!t->headers_done)
            deliver_pending(t);
        /* only the bytes the caller accepted were part of the exchange */
        bt_exchange_response_body(t->ex, data, taken < len ? taken : len);
    }
    return taken;
}

static bt_exchange_outcome outcome_of(CURLcode rc)
{
    switch (rc) {
    case CURLE_OK:
        return BT_EXCHANGE_COMPLETED;
    case CURLE_WRITE_ERROR:
    case CURLE_ABORTED_BY_CALLBACK:
        return BT_EXCHANGE_CLIENT_CANCELLED;
    default:
        return BT_EXCHANGE_TRANSPORT_ERROR;
    }
}

static struct curl_slist *header_list(const bt_curl_request *req, int *failed)
{
    struct curl_slist *list = NULL;
    *failed = 0;
    for (size_t i = 0; i < req->n_headers; i++) {
        const bt_header *h = &req->headers[i];
        if (!h->name || !h->value)
            continue;
        size_t n = h->name_len + h->value_len + 3;
        char *line = malloc(n);
        if (!line) {
            *failed = 1;
            break;
        }
        memcpy(line, h->name, h->name_len);
        memcpy(line + h->name_len, ": ", 2);
        memcpy(line + h->name_len + 2, h->value, h->value_len);
        line[n - 1] = '\0';
        struct curl_slist *next = curl_slist_append(list, line);
        free(line);
        if (!next) {
            *failed = 1;
            break;
        }
        list = next;
    }
    return list;
}

CURLcode bt_curl_perform(bt_anthropic *a, CURL *easy, const bt_curl_request *req,
                         const bt_exchange_options *opts, bt_exchange_info *info)
{
    if (info) {
        memset(info, 0, sizeof *info);
        info->input_tokens = info->output_tokens = -1;
    }
    if (!easy || !req || !req->method || !req->url || (req->n_headers && !req->headers))
        return CURLE_BAD_FUNCTION_ARGUMENT;
    int failed;
    struct curl_slist *headers = header_list(req, &failed);
    if (failed) {
        curl_slist_free_all(headers);
        return CURLE_OUT_OF_MEMORY;
    }

    tee t = {0};
    t.req = req;
    bt__buf_init(&t.block, BT__CURL_HEADER_BLOCK_MAX);
    bt__buf_init(&t.redirect, BT__CURL_HEADER_BLOCK_MAX);
    if (a)
        bt_exchange_begin(a, req->method, req->url, req->headers, req->n_headers, opts, &t.ex);
    if (req->body && req->body_len)
        bt_exchange_request_body(t.ex, req->body, req->body_len);

    curl_easy_setopt(easy, CURLOPT_URL, req->url);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, req->method);
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers);
    if (req->body) {
        curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
        curl_easy_setopt(easy, CURLOPT_POSTFIELDS, req->body);
    } else if (strcmp(req->method, "GET") == 0) {
        curl_easy_setopt(easy, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(easy, CURLOPT_NOBODY, 0L);
    }
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, &t);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, &t);

    CURLcode rc = curl_easy_perform(easy);

    if (t.ex && !t.headers_done)
        deliver_pending(&t);
    bt_exchange_end(t.ex, outcome_of(rc), info);

    /* leave nothing on the handle that points at this call's memory */
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, NULL);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, NULL);
    curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, NULL);
    curl_easy_setopt(easy, CURLOPT_HEADERDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, NULL);
    curl_easy_setopt(easy, CURLOPT_WRITEDATA, NULL);
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, NULL);
    curl_slist_free_all(headers);
    bt__buf_free(&t.block);
    bt__buf_free(&t.redirect);
    return rc;
}
