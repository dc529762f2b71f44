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
 * - A 2xx response with partial_success.rejected_spans > 0 is a failure that must not
 *   be retried; a 413 splits the batch in halves (unless a spool does that itself), so
 *   one span too large for the receiver does not take the others down with it. A
 *   failed export says how many of its spans got through all the same (last_taken).
 * - Each export's outcome is classified (bt__send_kind) for a spool that retries on its
 *   own; counters and the last error are kept for metrics (any thread may read them).
 * - A run of identical failures is logged once, then at 2, 4, 8... failed exports,
 *   and the recovery once: a dead receiver cannot flood the log.
 * - Header values (API key, extra headers) and URL credentials never reach the log.
 */
#include <curl/curl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "braintrust/sink.h"
#include "braintrust/version.h"
#include "core/sink_internal.h"
#include "export/attachments_upload.h"
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
    /* the current export's failures (export thread only): the last request's, and the
     * export's as a whole (the most retry-worthy kind, in base.last_kind) */
    long fail_status; /* HTTP status of the last failure, 0 when no answer came */
    bt__send_kind fail_kind;
    char fail_what[256];   /* "HTTP 503: <excerpt>", "Couldn't connect to server", ... */
    char export_what[256]; /* the failure that decided base.last_kind */
    long export_status;
    size_t taken;    /* spans of the current export a receiver accepted */
    uint64_t streak; /* failed exports in a row */
    long streak_key; /* HTTP status, or -(curl code), of the streak's first failure */
    /* counters for metrics, read from any thread under stats_mu */
    pthread_mutex_t stats_mu;
    bt__delivery stats;
    bt__uploader *uploader; /* Braintrust: span attachments go up first (NULL: none) */
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

/* "HTTP <status>: <printable excerpt of the body>", the excerpt withheld when it would
 * echo the API key back. */
static void describe_http_failure(otlp_sink *s, long status, char *out, size_t out_size)
{
    char excerpt[161];
    size_t n = s->resp.len < sizeof excerpt - 1 ? s->resp.len : sizeof excerpt - 1;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s->resp.data[i];
        excerpt[i] = c < 0x20 || c == 0x7f ? ' ' : (char)c;
    }
    excerpt[n] = '\0';
    if (s->bearer && s->resp.len && strstr(s->resp.data, s->bearer))
        strcpy(excerpt, "(withheld: the response echoes a credential)");
    snprintf(out, out_size, "HTTP %ld%s%s", status, n ? ": " : "", excerpt);
}

/* Counts one request for the metrics; a failed one becomes the last error. */
static void count_request(otlp_sink *s, int ok, long status, const char *what)
{
    pthread_mutex_lock(&s->stats_mu);
    s->stats.requests++;
    if (!ok) {
        s->stats.failed_requests++;
        s->stats.last_status = (int)status;
        snprintf(s->stats.last_error, sizeof s->stats.last_error, "%s", what);
    }
    pthread_mutex_unlock(&s->stats_mu);
}

static void count_spans(otlp_sink *s, uint64_t sent, uint64_t rejected)
{
    pthread_mutex_lock(&s->stats_mu);
    s->stats.sent += sent;
    s->stats.rejected += rejected;
    pthread_mutex_unlock(&s->stats_mu);
}

/* Why a failed request failed, for a spool deciding what to do with the spans. */
static bt__send_kind classify(CURLcode cc, long status)
{
    if (cc != CURLE_OK)
        return curl_error_retryable(cc) ? BT__SEND_TRANSIENT : BT__SEND_REFUSED;
    if (bt__otlp_status_retryable(status))
        return BT__SEND_TRANSIENT;
    if (status == 400 || status == 413)
        return BT__SEND_CONTENT;
    return BT__SEND_REFUSED;
}

/* How much a failure says "keep these spans and try again": an export made of several
 * requests reports its most retry-worthy failure. */
static int retry_rank(bt__send_kind k)
{
    static const int rank[] = {[BT__SEND_OK] = 0,
                               [BT__SEND_PARTIAL] = 1,
                               [BT__SEND_CONTENT] = 2,
                               [BT__SEND_REFUSED] = 3,
                               [BT__SEND_TRANSIENT] = 4};
    return rank[k];
}

/* Records a failed delivery of the current export (the caller returns BT_EEXPORT). */
static int failed(otlp_sink *s, bt__send_kind kind, long status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int failed(otlp_sink *s, bt__send_kind kind, long status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(s->fail_what, sizeof s->fail_what, fmt, ap);
    va_end(ap);
    s->fail_status = status;
    s->fail_kind = kind;
    if (retry_rank(kind) > retry_rank(s->base.last_kind)) {
        s->base.last_kind = kind;
        s->export_status = status;
        memcpy(s->export_what, s->fail_what, sizeof s->export_what);
        s->base.retry_after_ms = kind == BT__SEND_TRANSIENT && s->retry_after[0]
            ? bt__retry_after_ms(s->retry_after, strlen(s->retry_after),
                                 (int64_t)(bt__now_unix_nano() / 1000000000u))
            : -1;
    }
    return BT_EEXPORT;
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
 * ns): the export timeout bounds the whole export, every request and wait included.
 * With single_attempt (a spool retries on its own schedule) there is no retry here. */
static int deliver(otlp_sink *s, const void *data, size_t len, const char *parent, size_t n_spans,
                   uint64_t deadline)
{
    int max_retries = s->base.single_attempt ? 0 : s->max_retries;
    char what[256];
    for (int attempt = 0;; attempt++) {
        uint64_t now = bt__monotonic_nano();
        if (now >= deadline)
            return failed(s, BT__SEND_TRANSIENT, s->fail_status,
                          "%s; export timeout (%d ms) reached after %d attempts",
                          attempt ? s->fail_what : "not sent", s->timeout_ms, attempt);
        long status;
        CURLcode cc = post_once(s, data, len, parent, (int64_t)((deadline - now) / 1000000u), &status);
        if (cc == CURLE_OK && status >= 200 && status < 300) {
            count_request(s, 1, status, NULL);
            int64_t rejected = 0;
            bt__buf_reset(&s->msg);
            if (bt__otlp_response_parse(s->resp.data, s->resp.len, s->resp_is_json, &rejected, &s->msg) !=
                BT_OK) {
                /* The receiver said 2xx; an unreadable body does not undo that. */
                SINK_LOG(s, BT_LOG_DEBUG, "OTLP export to %s: unreadable response body ignored",
                         s->display_url);
                rejected = 0;
            }
            /* The receiver's words go to the log: no control character may forge a line. */
            for (size_t i = 0; i < s->msg.len; i++)
                if ((unsigned char)s->msg.data[i] < 0x20 || s->msg.data[i] == 0x7f)
                    s->msg.data[i] = ' ';
            if (rejected > 0) {
                uint64_t r = (uint64_t)rejected < n_spans ? (uint64_t)rejected : n_spans;
                count_spans(s, n_spans - r, r);
                s->taken += n_spans - (size_t)r;
                return failed(s, BT__SEND_PARTIAL, status, "the receiver rejected %lld of %zu spans: %.160s",
                              (long long)rejected, n_spans, s->msg.len ? s->msg.data : "(no message)");
            }
            count_spans(s, n_spans, 0);
            s->taken += n_spans;
            if (s->msg.len)
                SINK_LOG(s, BT_LOG_WARN, "OTLP receiver %s accepted the spans with a warning: %.300s",
                         s->display_url, s->msg.data);
            return BT_OK;
        }
        if (cc == CURLE_OK)
            describe_http_failure(s, status, what, sizeof what);
        else
            snprintf(what, sizeof what, "%s", s->curl_err[0] ? s->curl_err : curl_easy_strerror(cc));
        count_request(s, 0, cc == CURLE_OK ? status : 0, what);
        bt__send_kind kind = classify(cc, cc == CURLE_OK ? status : 0);
        if (kind != BT__SEND_TRANSIENT)
            return failed(s, kind, status, "%s", what);
        if (attempt >= max_retries)
            return failed(s, kind, status, max_retries ? "%s (%d attempts)" : "%s", what, attempt + 1);
        int64_t delay = -1;
        if (cc == CURLE_OK && s->retry_after[0])
            delay = bt__retry_after_ms(s->retry_after, strlen(s->retry_after),
                                       (int64_t)(bt__now_unix_nano() / 1000000000u));
        if (delay < 0)
            delay = bt__backoff_ms(attempt, next_random(s));
        now = bt__monotonic_nano();
        if (now + (uint64_t)delay * 1000000u >= deadline)
            return failed(s, kind, status, "%s; the next retry (in %lld ms) would pass the export timeout",
                          what, (long long)delay);
        SINK_LOG(s, BT_LOG_DEBUG, "OTLP export to %s: %s, retrying in %lld ms", s->display_url, what,
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
    if (rc != BT_OK)
        return failed(s, BT__SEND_CONTENT, 0, "could not encode %zu spans: %s", n, bt_strerror(rc));
    const bt__buf *send = &s->body;
    if (s->gzip) {
        bt__buf_reset(&s->gz);
        rc = bt__gzip_compress(s->body.data, s->body.len, &s->gz);
        if (rc != BT_OK)
            return failed(s, BT__SEND_CONTENT, 0, "gzip failed: %s", bt_strerror(rc));
        send = &s->gz;
    }
    rc = deliver(s, send->data, send->len, parent, n, deadline);
    if (rc != BT_OK && n > 1 && s->fail_status == 413 && s->fail_kind == BT__SEND_CONTENT &&
        !s->base.single_attempt) {
        /* Too large for this receiver, whatever max_request_bytes says: halves. The
         * 413 itself does not count against the export when the halves get through.
         * (A spool splits on its own, knowing which spans got through.) */
        if (s->base.last_kind == BT__SEND_CONTENT && s->export_status == 413)
            s->base.last_kind = BT__SEND_OK;
        size_t half = n / 2;
        int a = export_group(s, res, spans, half, parent, deadline);
        int b = export_group(s, res, spans + half, n - half, parent, deadline);
        return a != BT_OK ? a : b;
    }
    return rc;
}

static int is_power_of_two(uint64_t v)
{
    return v && !(v & (v - 1));
}

/* Logs an export's outcome without flooding: the first failure of a run (or one that
 * differs from it) in full, then the count at 2, 4, 8... failed exports, then the
 * recovery. Under a spool the spool reports; here it is only debug detail. */
static void report(otlp_sink *s, int rc, size_t n)
{
    if (rc == BT_OK) {
        if (s->streak)
            SINK_LOG(s, s->base.single_attempt ? BT_LOG_DEBUG : BT_LOG_INFO,
                     "OTLP export to %s works again after %llu failed export(s)", s->display_url,
                     (unsigned long long)s->streak);
        s->streak = 0;
        return;
    }
    if (rc != BT_EEXPORT)
        return; /* out of memory: logged where it happened */
    long key = s->export_status ? s->export_status : -(long)s->base.last_kind;
    int fresh = s->streak == 0 || key != s->streak_key;
    s->streak = fresh ? 1 : s->streak + 1;
    s->streak_key = key;
    bt_log_level level = s->base.single_attempt ? BT_LOG_DEBUG
        : fresh                                 ? BT_LOG_ERROR
        : is_power_of_two(s->streak)            ? BT_LOG_WARN
                                                : BT_LOG_DEBUG;
    if (s->base.last_kind == BT__SEND_PARTIAL)
        SINK_LOG(s, level, "OTLP receiver %s: %s", s->display_url, s->export_what);
    else if (fresh)
        SINK_LOG(s, level, "OTLP export to %s failed: %s; %zu span(s) not delivered", s->display_url,
                 s->export_what, n);
    else
        SINK_LOG(s, level, "OTLP export to %s still failing after %llu exports in a row: %s", s->display_url,
                 (unsigned long long)s->streak, s->export_what);
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
    s->base.last_kind = BT__SEND_OK;
    s->base.retry_after_ms = -1;
    s->taken = 0;
    s->export_status = 0;
    s->export_what[0] = '\0';
    if (s->uploader) /* never holds the spans back: see attachments_upload.h */
        bt__uploader_upload(s->uploader, &s->base, spans, n, deadline, NULL);
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
    report(s, rc, n - s->taken);
    if (rc != BT_OK)
        s->base.last_taken = s->taken;
    return rc;
}

static void otlp_free(bt_sink *sink)
{
    otlp_sink *s = (otlp_sink *)sink;
    if (s->curl)
        curl_easy_cleanup(s->curl);
    bt__uploader_free(s->uploader);
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
    pthread_mutex_destroy(&s->stats_mu);
    free(s);
}

static void otlp_delivery(bt_sink *sink, bt__delivery *out)
{
    otlp_sink *s = (otlp_sink *)sink;
    pthread_mutex_lock(&s->stats_mu);
    out->sent += s->stats.sent;
    out->rejected += s->stats.rejected;
    out->requests += s->stats.requests;
    out->failed_requests += s->stats.failed_requests;
    if (s->stats.last_error[0]) {
        out->last_status = s->stats.last_status;
        memcpy(out->last_error, s->stats.last_error, sizeof out->last_error);
    }
    pthread_mutex_unlock(&s->stats_mu);
}

static void otlp_describe(bt_sink *sink, bt__buf *out)
{
    bt__buf_printf(out, "OTLP %s", ((otlp_sink *)sink)->display_url);
}

static const bt__sink_vtable otlp_vt = {
    .name = "otlp",
    .export_spans = otlp_export,
    .free = otlp_free,
    .delivery = otlp_delivery,
    .describe = otlp_describe,
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
    s->base.retry_after_ms = -1;
    pthread_mutex_init(&s->stats_mu, NULL);
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
    if (rc == BT_OK && opts->attachments_api_url) {
        s->uploader = bt__uploader_new(opts->attachments_api_url, s->bearer);
        rc = s->uploader ? BT_OK : BT_EINVAL;
        s->base.keeps_attachments = s->uploader != NULL;
    }
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
