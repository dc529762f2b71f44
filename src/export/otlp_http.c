/*
 * The OTLP/HTTP sink: encodes a batch (protobuf or JSON, optionally gzip), POSTs it
 * with libcurl and reads the response.
 *
 * - One easy handle is reused for every request, so the connection (and TLS session)
 *   stays open between batches.
 * - Spans whose braintrust.parent attribute differs from the sink's default parent are
 *   sent in their own request with that parent in x-bt-parent, so Braintrust routes
 *   every span where its attribute says, whatever precedence it gives the header.
 * - A batch that encodes to more than max_request_bytes is split, so no request
 *   passes the receiver's size limit (Braintrust: 10 MB).
 * - Retries only what the OTLP spec calls transient: HTTP 429/502/503/504 and network
 *   failures, waiting Retry-After when given, else exponential backoff with jitter;
 *   every request and wait of one export fits in the export timeout (the meaning of
 *   OTEL_EXPORTER_OTLP_TIMEOUT). Other statuses fail at once.
 * - A 2xx response with partial_success.rejected_spans > 0 is a failure.
 * - Header values (API key, extra headers) and URL credentials never reach the log.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "braintrust/sink.h"
#include "braintrust/version.h"
#include "core/sink_internal.h"
#include "export/gzip.h"
#include "export/otlp_json.h"
#include "export/otlp_proto.h"
#include "export/otlp_response.h"
#include "export/otlp_retry.h"
#include "util/log.h"
#include "util/text.h"
#include "util/timefmt.h"

#define OTLP_DEFAULT_TIMEOUT_MS 10000
#define OTLP_DEFAULT_MAX_RETRIES 5
#define OTLP_DEFAULT_MAX_REQUEST ((size_t)8 << 20)
/* Hard caps: one encoded span batch (a lone span bigger than max_request_bytes is
 * still sent, up to this), and how much of a response body is kept (only the
 * partial-success message matters). */
#define OTLP_MAX_BODY ((size_t)64 << 20)
#define OTLP_MAX_RESPONSE ((size_t)64 << 10)

typedef struct otlp_sink {
    bt_sink base;
    CURL *curl;
    char *display_url;        /* scheme://host[:port]/path: no credentials, no query */
    char *default_parent;     /* x-bt-parent for spans without their own; may be NULL */
    char *bearer;             /* secret */
    struct curl_slist *fixed; /* Content-Type, Content-Encoding, Authorization, extras */
    bt_otlp_protocol protocol;
    int gzip;
    int timeout_ms;
    int max_retries;
    size_t max_request; /* split batches that encode to more than this */
    bt__buf body, gz, resp, msg;
    char retry_after[128]; /* of the last response; "" when absent */
    int resp_is_json;
    char curl_err[CURL_ERROR_SIZE];
    uint64_t rng;
} otlp_sink;

#define SINK_LOG(s, level, ...) \
    bt__log((s)->base.log, (s)->base.log_ud, (s)->base.log_level, (level), __VA_ARGS__)

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t next_random(otlp_sink *s)
{
    /* xorshift64*: jitter only needs to differ between processes, not be secret */
    s->rng ^= s->rng >> 12;
    s->rng ^= s->rng << 25;
    s->rng ^= s->rng >> 27;
    return s->rng * 0x2545F4914F6CDD1Dull;
}

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    otlp_sink *s = ud;
    size_t len = size * n;
    size_t room = OTLP_MAX_RESPONSE - s->resp.len;
    /* Past the cap the rest is read and dropped: refusing it would look like a network
     * error and trigger a retry of a request that was accepted. */
    bt__buf_append(&s->resp, p, len < room ? len : room);
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *ud)
{
    otlp_sink *s = ud;
    size_t len = size * n;
    if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
        /* a new response (after a 100 Continue, say): forget the previous one's */
        s->retry_after[0] = '\0';
        s->resp_is_json = s->protocol == BT_OTLP_JSON;
        return len;
    }
    const char *colon = memchr(p, ':', len);
    if (!colon)
        return len;
    size_t nlen = (size_t)(colon - p);
    const char *v = colon + 1;
    size_t vlen = len - nlen - 1;
    while (vlen && (*v == ' ' || *v == '\t')) {
        v++;
        vlen--;
    }
    while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
        vlen--;
    if (nlen == 11 && strncasecmp(p, "retry-after", 11) == 0 && vlen < sizeof s->retry_after) {
        memcpy(s->retry_after, v, vlen);
        s->retry_after[vlen] = '\0';
    } else if (nlen == 12 && strncasecmp(p, "content-type", 12) == 0) {
        int json = 0, proto = 0;
        for (size_t i = 0; i + 4 <= vlen; i++) {
            if (strncasecmp(v + i, "json", 4) == 0)
                json = 1;
            if (i + 8 <= vlen && strncasecmp(v + i, "protobuf", 8) == 0)
                proto = 1;
        }
        if (json || proto)
            s->resp_is_json = json;
    }
    return len;
}

static int curl_error_retryable(CURLcode cc)
{
    switch (cc) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return 1;
    default:
        return 0;
    }
}

static void sleep_ms(int64_t ms)
{
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) != 0)
        ;
}

/* A short, printable excerpt of an error response for the log; withheld when it
 * would echo the API key back. */
static void log_response_excerpt(otlp_sink *s, long status)
{
    char excerpt[201];
    size_t n = s->resp.len < sizeof excerpt - 1 ? s->resp.len : sizeof excerpt - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->resp.data[i];
        excerpt[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    excerpt[n] = '\0';
    if (s->bearer && s->resp.len && strstr(s->resp.data, s->bearer))
        strcpy(excerpt, "(withheld: the response echoes a credential)");
    SINK_LOG(s, BT_LOG_ERROR, "OTLP export to %s failed: HTTP %ld, not retried: %s", s->display_url, status,
             excerpt);
}

/* One POST. Returns the curl result; *status gets the HTTP status (0 if none). */
static CURLcode post_once(otlp_sink *s, const void *data, size_t len, const char *parent, int64_t timeout_ms,
                          long *status)
{
    struct curl_slist *hdrs = NULL, *tmp;
    for (const struct curl_slist *h = s->fixed; h; h = h->next) {
        tmp = curl_slist_append(hdrs, h->data);
        if (!tmp)
            goto oom;
        hdrs = tmp;
    }
    if (parent) {
        size_t plen = strlen(parent);
        char *line = malloc(plen + sizeof "x-bt-parent: ");
        if (!line)
            goto oom;
        memcpy(line, "x-bt-parent: ", sizeof "x-bt-parent: " - 1);
        memcpy(line + sizeof "x-bt-parent: " - 1, parent, plen + 1);
        tmp = curl_slist_append(hdrs, line);
        free(line);
        if (!tmp)
            goto oom;
        hdrs = tmp;
    }
    bt__buf_reset(&s->resp);
    s->retry_after[0] = '\0';
    s->resp_is_json = s->protocol == BT_OTLP_JSON;
    s->curl_err[0] = '\0';
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, data);
    curl_easy_setopt(s->curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)(timeout_ms > 0 ? timeout_ms : 1));
    CURLcode cc = curl_easy_perform(s->curl);
    *status = 0;
    if (cc == CURLE_OK)
        curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
    curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hdrs);
    return cc;
oom:
    curl_slist_free_all(hdrs);
    *status = 0;
    return CURLE_OUT_OF_MEMORY;
}

/* Delivers one encoded body, retrying transient failures until `deadline` (monotonic
 * ns): the export timeout bounds the whole export, every request and wait included. */
static int deliver(otlp_sink *s, const void *data, size_t len, const char *parent, size_t n_spans,
                   uint64_t deadline)
{
    for (int attempt = 0;; attempt++) {
        uint64_t now = bt__monotonic_nano();
        if (now >= deadline) {
            SINK_LOG(s, BT_LOG_ERROR,
                     "OTLP export to %s failed: export timeout (%d ms) reached after %d attempts",
                     s->display_url, s->timeout_ms, attempt);
            return BT_EEXPORT;
        }
        long status;
        CURLcode cc = post_once(s, data, len, parent, (int64_t)((deadline - now) / 1000000u), &status);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            int64_t rejected = 0;
            bt__buf_reset(&s->msg);
            if (bt__otlp_response_parse(s->resp.data, s->resp.len, s->resp_is_json, &rejected, &s->msg) !=
                BT_OK) {
                /* The receiver said 2xx; an unreadable body does not undo that. */
                SINK_LOG(s, BT_LOG_DEBUG, "OTLP export to %s: unreadable response body ignored",
                         s->display_url);
                return BT_OK;
            }
            if (rejected > 0) {
                SINK_LOG(s, BT_LOG_ERROR, "OTLP receiver %s rejected %lld of %zu spans: %.300s",
                         s->display_url, (long long)rejected, n_spans,
                         s->msg.len ? s->msg.data : "(no message)");
                return BT_EEXPORT;
            }
            if (s->msg.len)
                SINK_LOG(s, BT_LOG_WARN, "OTLP receiver %s accepted the spans with a warning: %.300s",
                         s->display_url, s->msg.data);
            return BT_OK;
        }
        int retryable = cc == CURLE_OK ? bt__otlp_status_retryable(status) : curl_error_retryable(cc);
        if (!retryable) {
            if (cc == CURLE_OK)
                log_response_excerpt(s, status);
            else
                SINK_LOG(s, BT_LOG_ERROR, "OTLP export to %s failed: %s", s->display_url,
                         s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
            return BT_EEXPORT;
        }
        char what[64];
        if (cc == CURLE_OK)
            snprintf(what, sizeof what, "HTTP %ld", status);
        else
            snprintf(what, sizeof what, "%s", curl_easy_strerror(cc));
        if (attempt >= s->max_retries) {
            SINK_LOG(s, BT_LOG_ERROR, "OTLP export to %s failed: %s, giving up after %d attempts",
                     s->display_url, what, attempt + 1);
            return BT_EEXPORT;
        }
        int64_t delay = -1;
        if (cc == CURLE_OK && s->retry_after[0])
            delay = bt__retry_after_ms(s->retry_after, strlen(s->retry_after),
                                       (int64_t)(bt__now_unix_nano() / 1000000000u));
        if (delay < 0)
            delay = bt__backoff_ms(attempt, next_random(s));
        now = bt__monotonic_nano();
        if (now + (uint64_t)delay * 1000000u >= deadline) {
            SINK_LOG(
                s, BT_LOG_ERROR,
                "OTLP export to %s failed: %s, and the next retry (in %lld ms) would pass the export timeout",
                s->display_url, what, (long long)delay);
            return BT_EEXPORT;
        }
        SINK_LOG(s, BT_LOG_WARN, "OTLP export to %s: %s, retrying in %lld ms", s->display_url, what,
                 (long long)delay);
        sleep_ms(delay);
    }
}

/* Encodes and delivers one group of spans sharing an x-bt-parent. A group whose
 * encoding is larger than max_request_bytes is split in halves: the processor sizes
 * batches from an estimate, and this keeps every request under the receiver's limit
 * whatever the estimate missed. */
static int export_group(otlp_sink *s, const bt__resource *res, bt_span *const *spans, size_t n,
                        const char *parent, uint64_t deadline)
{
    bt__buf_reset(&s->body);
    int rc = s->protocol == BT_OTLP_JSON ? bt__otlp_json_encode(res, spans, n, &s->body)
                                         : bt__otlp_proto_encode(res, spans, n, &s->body);
    if (n > 1 && (rc == BT_ELIMIT || (rc == BT_OK && s->body.len > s->max_request))) {
        size_t half = n / 2;
        int a = export_group(s, res, spans, half, parent, deadline);
        int b = export_group(s, res, spans + half, n - half, parent, deadline);
        return a != BT_OK ? a : b;
    }
    if (rc != BT_OK) {
        SINK_LOG(s, BT_LOG_ERROR, "OTLP export: could not encode %zu spans: %s", n, bt_strerror(rc));
        return BT_EEXPORT;
    }
    const bt__buf *send = &s->body;
    if (s->gzip) {
        bt__buf_reset(&s->gz);
        rc = bt__gzip_compress(s->body.data, s->body.len, &s->gz);
        if (rc != BT_OK) {
            SINK_LOG(s, BT_LOG_ERROR, "OTLP export: gzip failed: %s", bt_strerror(rc));
            return BT_EEXPORT;
        }
        send = &s->gz;
    }
    return deliver(s, send->data, send->len, parent, n, deadline);
}

/* The span's own braintrust.parent, when it can be sent as a header value. */
static const char *span_parent(const bt_span *sp)
{
    const bt__attr *a = bt__attrs_find(&sp->attrs, "braintrust.parent");
    if (!a || a->type != BT__ATTR_STRING || !a->v.s.ptr || !*a->v.s.ptr || strlen(a->v.s.ptr) != a->v.s.len ||
        !bt__http_value_safe(a->v.s.ptr, a->v.s.len))
        return NULL;
    return a->v.s.ptr;
}

static int same_parent(const char *a, const char *b)
{
    return a == b || (a && b && strcmp(a, b) == 0);
}

static int otlp_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    otlp_sink *s = (otlp_sink *)sink;
    if (n == 0)
        return BT_OK;
    const char **parents = malloc(n * sizeof *parents);
    bt_span **group = malloc(n * sizeof *group);
    unsigned char *done = calloc(n, 1);
    if (!parents || !group || !done) {
        free(parents);
        free(group);
        free(done);
        SINK_LOG(s, BT_LOG_ERROR, "OTLP export: out of memory");
        return BT_ENOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        const char *p = span_parent(spans[i]);
        parents[i] = p ? p : s->default_parent;
    }
    /* Groups in order of first appearance; order within a group is kept. */
    uint64_t deadline = bt__monotonic_nano() + (uint64_t)s->timeout_ms * 1000000u;
    int rc = BT_OK;
    for (size_t i = 0; i < n; i++) {
        if (done[i])
            continue;
        size_t k = 0;
        for (size_t j = i; j < n; j++) {
            if (!done[j] && same_parent(parents[j], parents[i])) {
                group[k++] = spans[j];
                done[j] = 1;
            }
        }
        int grc = export_group(s, res, group, k, parents[i], deadline);
        if (grc != BT_OK && rc == BT_OK)
            rc = grc;
    }
    free(parents);
    free(group);
    free(done);
    return rc;
}

static void otlp_free(bt_sink *sink)
{
    otlp_sink *s = (otlp_sink *)sink;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    curl_slist_free_all(s->fixed);
    free(s->display_url);
    free(s->default_parent);
    if (s->bearer) {
        /* volatile so the wipe of the key is not optimised away */
        volatile char *v = s->bearer;
        while (*v)
            *v++ = 0;
        free(s->bearer);
    }
    bt__buf_free(&s->body);
    bt__buf_free(&s->gz);
    bt__buf_free(&s->resp);
    bt__buf_free(&s->msg);
    free(s);
}

static const bt__sink_vtable otlp_vt = {
    .name = "otlp",
    .export_spans = otlp_export,
    .free = otlp_free,
};

static int add_fixed(otlp_sink *s, const char *name, const char *value)
{
    size_t len = strlen(name) + 2 + strlen(value) + 1;
    char *line = malloc(len);
    if (!line)
        return BT_ENOMEM;
    snprintf(line, len, "%s: %s", name, value);
    struct curl_slist *tmp = curl_slist_append(s->fixed, line);
    free(line);
    if (!tmp)
        return BT_ENOMEM;
    s->fixed = tmp;
    return BT_OK;
}

typedef struct extra_ctx {
    otlp_sink *s;
    int has_explicit_parent;
} extra_ctx;

/* One entry of the user's header list. The sink owns the headers that describe the
 * body; x-bt-parent becomes the default parent (unless one was given explicitly);
 * Authorization gives way to an explicit bearer token. */
static int add_extra(void *ud, const char *key, const char *value, size_t value_len)
{
    extra_ctx *c = ud;
    if (!strcasecmp(key, "content-type") || !strcasecmp(key, "content-encoding") ||
        !strcasecmp(key, "content-length"))
        return BT_OK;
    if (!strcasecmp(key, "x-bt-parent")) {
        if (c->has_explicit_parent || !*value)
            return BT_OK;
        free(c->s->default_parent);
        c->s->default_parent = strdup(value);
        return c->s->default_parent ? BT_OK : BT_ENOMEM;
    }
    if (!strcasecmp(key, "authorization") && c->s->bearer)
        return BT_OK;
    return add_fixed(c->s, key, value);
}

/* Checks the URL (http or https, with a host) and builds the form used in logs. */
static int check_url(const char *url, char **display)
{
    *display = NULL;
    CURLU *u = curl_url();
    if (!u)
        return BT_ENOMEM;
    int rc = BT_EINVAL;
    char *scheme = NULL, *host = NULL, *port = NULL, *path = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host && *host &&
        (!strcasecmp(scheme, "http") || !strcasecmp(scheme, "https"))) {
        curl_url_get(u, CURLUPART_PORT, &port, 0);
        curl_url_get(u, CURLUPART_PATH, &path, 0);
        size_t len =
            strlen(scheme) + strlen(host) + (port ? strlen(port) : 0) + (path ? strlen(path) : 0) + 8;
        *display = malloc(len);
        if (*display) {
            snprintf(*display, len, "%s://%s%s%s%s", scheme, host, port ? ":" : "", port ? port : "",
                     path ? path : "");
            rc = BT_OK;
        } else {
            rc = BT_ENOMEM;
        }
    }
    curl_free(scheme);
    curl_free(host);
    curl_free(port);
    curl_free(path);
    curl_url_cleanup(u);
    return rc;
}

int bt_sink_otlp_new(const bt_otlp_options *opts, bt_sink **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    if (!opts || !opts->traces_url)
        return BT_EINVAL;
    if ((opts->bearer_token && !bt__http_value_safe(opts->bearer_token, strlen(opts->bearer_token))) ||
        (opts->braintrust_parent &&
         !bt__http_value_safe(opts->braintrust_parent, strlen(opts->braintrust_parent))) ||
        (opts->protocol != BT_OTLP_PROTOBUF && opts->protocol != BT_OTLP_JSON) || opts->timeout_ms < 0)
        return BT_EINVAL;
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return BT_EIO;

    otlp_sink *s = calloc(1, sizeof *s);
    if (!s)
        return BT_ENOMEM;
    s->base.vt = &otlp_vt;
    s->protocol = opts->protocol;
    s->gzip = opts->gzip != 0;
    s->timeout_ms = opts->timeout_ms > 0 ? opts->timeout_ms : OTLP_DEFAULT_TIMEOUT_MS;
    s->max_retries = opts->max_retries > 0 ? opts->max_retries
        : opts->max_retries == 0           ? OTLP_DEFAULT_MAX_RETRIES
                                           : 0;
    s->max_request = opts->max_request_bytes ? opts->max_request_bytes : OTLP_DEFAULT_MAX_REQUEST;
    s->rng = bt__monotonic_nano() ^ ((uint64_t)(uintptr_t)s << 16) ^ 0x9e3779b97f4a7c15ull;
    if (!s->rng)
        s->rng = 1;
    bt__buf_init(&s->body, OTLP_MAX_BODY);
    bt__buf_init(&s->gz, OTLP_MAX_BODY);
    bt__buf_init(&s->resp, OTLP_MAX_RESPONSE);
    bt__buf_init(&s->msg, 1024);

    int rc = check_url(opts->traces_url, &s->display_url);
    if (rc == BT_OK && opts->bearer_token && *opts->bearer_token && !(s->bearer = strdup(opts->bearer_token)))
        rc = BT_ENOMEM;
    if (rc == BT_OK && opts->braintrust_parent && *opts->braintrust_parent &&
        !(s->default_parent = strdup(opts->braintrust_parent)))
        rc = BT_ENOMEM;
    if (rc == BT_OK)
        rc = add_fixed(s, "Content-Type",
                       s->protocol == BT_OTLP_JSON ? "application/json" : "application/x-protobuf");
    if (rc == BT_OK && s->gzip)
        rc = add_fixed(s, "Content-Encoding", "gzip");
    if (rc == BT_OK) {
        /* libcurl would otherwise wait for "100 Continue" before sending large bodies */
        struct curl_slist *tmp = curl_slist_append(s->fixed, "Expect:");
        rc = tmp ? BT_OK : BT_ENOMEM;
        if (tmp)
            s->fixed = tmp;
    }
    if (rc == BT_OK && s->bearer) {
        size_t len = strlen(s->bearer) + sizeof "Bearer ";
        char *v = malloc(len);
        rc = v ? BT_OK : BT_ENOMEM;
        if (v) {
            snprintf(v, len, "Bearer %s", s->bearer);
            rc = add_fixed(s, "Authorization", v);
            memset(v, 0, len);
            free(v);
        }
    }
    if (rc == BT_OK && opts->headers) {
        extra_ctx c = {s, s->default_parent != NULL};
        rc = bt__kv_list_parse(opts->headers, add_extra, &c);
    }
    if (rc == BT_OK && !(s->curl = curl_easy_init()))
        rc = BT_ENOMEM;
    if (rc == BT_OK) {
        CURL *c = s->curl;
        curl_easy_setopt(c, CURLOPT_URL, opts->traces_url);
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
        curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
        curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
        curl_easy_setopt(c, CURLOPT_USERAGENT, "braintrust-c/" BT_VERSION_STRING);
        curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
        curl_easy_setopt(c, CURLOPT_WRITEDATA, s);
        curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(c, CURLOPT_HEADERDATA, s);
        curl_easy_setopt(c, CURLOPT_ERRORBUFFER, s->curl_err);
#if LIBCURL_VERSION_NUM >= 0x075500
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
        curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    }
    if (rc != BT_OK) {
        otlp_free(&s->base);
        return rc;
    }
    *out = &s->base;
    return BT_OK;
}
