/* Uploading span attachments through Braintrust's attachment API (attachments_upload.h). */
#include "export/attachments_upload.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "braintrust/version.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/timefmt.h"

/* Keys uploaded lately (a ring): repeats are skipped. */
#define RECENT_KEYS 1024
/* Attempts per request, for network errors and 5xx answers. */
#define MAX_ATTEMPTS 4
#define RESPONSE_MAX ((size_t)64 << 10)

struct bt__uploader {
    char *api_url; /* without a trailing slash */
    char *auth;    /* "Authorization: Bearer <key>" (secret) */
    char org_id[128];
    CURL *curl;
    bt__buf resp;
    char recent[RECENT_KEYS][37];
    size_t recent_next;
};

#define ULOG(sink, level, ...)                                                             \
    do {                                                                                   \
        if (sink)                                                                          \
            bt__log((sink)->log, (sink)->log_ud, (sink)->log_level, (level), __VA_ARGS__); \
    } while (0)

static size_t on_body(char *p, size_t size, size_t nmemb, void *ud)
{
    bt__uploader *u = ud;
    size_t len = size * nmemb;
    bt__buf_append(&u->resp, p, len); /* past the cap the rest is not needed */
    return len;
}

static void wipe_free(char *s)
{
    if (!s)
        return;
    volatile char *v = s;
    while (*v)
        *v++ = 0;
    free(s);
}

bt__uploader *bt__uploader_new(const char *api_url, const char *api_key)
{
    if (!api_url || strncmp(api_url, "http", 4) != 0 || !api_key || !*api_key)
        return NULL;
    bt__uploader *u = calloc(1, sizeof *u);
    if (!u)
        return NULL;
    size_t n = strlen(api_url);
    while (n && api_url[n - 1] == '/')
        n--;
    u->api_url = strndup(api_url, n);
    size_t alen = strlen(api_key) + sizeof "Authorization: Bearer ";
    u->auth = malloc(alen);
    u->curl = curl_easy_init();
    if (!u->api_url || !u->auth || !u->curl) {
        bt__uploader_free(u);
        return NULL;
    }
    snprintf(u->auth, alen, "Authorization: Bearer %s", api_key);
    bt__buf_init(&u->resp, RESPONSE_MAX);
    CURL *c = u->curl;
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "braintrust-c/" BT_VERSION_STRING);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, u);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
#else
    curl_easy_setopt(c, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
    return u;
}

void bt__uploader_free(bt__uploader *u)
{
    if (!u)
        return;
    if (u->curl)
        curl_easy_cleanup(u->curl);
    free(u->api_url);
    wipe_free(u->auth);
    bt__buf_free(&u->resp);
    free(u);
}

/* One request; retried on network errors and 5xx until MAX_ATTEMPTS or the deadline.
 * `put` sends data with PUT, else POST. Returns the HTTP status, or 0 when none came
 * (the curl error is described in `why`). The response body is in u->resp. */
static long request(bt__uploader *u, const char *url, int put, struct curl_slist *headers, const void *data,
                    size_t len, uint64_t deadline, char *why, size_t why_size)
{
    long status = 0;
    for (int attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
        uint64_t now = bt__monotonic_nano();
        if (now >= deadline) {
            snprintf(why, why_size, "out of time");
            return 0;
        }
        if (attempt) {
            /* 250 ms, 500 ms, 1 s: never past the deadline */
            uint64_t wait = 250000000ull << (attempt - 1);
            if (now + wait >= deadline)
                wait = deadline - now;
            struct timespec ts = {(time_t)(wait / 1000000000ull), (long)(wait % 1000000000ull)};
            while (nanosleep(&ts, &ts) != 0)
                ;
        }
        bt__buf_reset(&u->resp);
        CURL *c = u->curl;
        curl_easy_setopt(c, CURLOPT_URL, url);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers);
        if (put) {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, "PUT");
            curl_easy_setopt(c, CURLOPT_POST, 1L);
        } else {
            curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, NULL);
            curl_easy_setopt(c, CURLOPT_POST, 1L);
        }
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, data ? data : "");
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        uint64_t left_ms = (deadline - bt__monotonic_nano()) / 1000000u;
        curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(left_ms ? left_ms : 1));
        CURLcode cc = curl_easy_perform(c);
        curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
        status = 0;
        if (cc == CURLE_OK)
            curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
        if (cc == CURLE_OK && status < 500)
            return status;
        if (cc != CURLE_OK)
            snprintf(why, why_size, "%s", curl_easy_strerror(cc));
        else
            snprintf(why, why_size, "HTTP %ld", status);
    }
    return status;
}

/* POST JSON to {api}<path> with the API key; returns the status (0: none). */
static long post_json(bt__uploader *u, const char *path, const json_t *body, uint64_t deadline, char *why,
                      size_t why_size)
{
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    size_t ulen = strlen(u->api_url) + strlen(path) + 1;
    char *url = malloc(ulen);
    struct curl_slist *h = curl_slist_append(NULL, u->auth);
    struct curl_slist *h2 = h ? curl_slist_append(h, "Content-Type: application/json") : NULL;
    long status = 0;
    if (url && h2 && (text || !body)) {
        snprintf(url, ulen, "%s%s", u->api_url, path);
        h = h2;
        status = request(u, url, 0, h, text, text ? strlen(text) : 0, deadline, why, why_size);
    } else {
        snprintf(why, why_size, "out of memory");
    }
    curl_slist_free_all(h2 ? h2 : h);
    free(url);
    free(text);
    return status;
}

static json_t *response_json(bt__uploader *u)
{
    return u->resp.len ? json_loadb(u->resp.data, u->resp.len, 0, NULL) : NULL;
}

/* The organization id, asked once (and again after a failure). */
static int org_id(bt__uploader *u, const bt_sink *log, uint64_t deadline)
{
    if (u->org_id[0])
        return 1;
    char why[160] = "";
    long status = post_json(u, "/api/apikey/login", NULL, deadline, why, sizeof why);
    json_t *r = status == 200 ? response_json(u) : NULL;
    const char *id =
        json_string_value(json_object_get(json_array_get(json_object_get(r, "org_info"), 0), "id"));
    if (id && strlen(id) < sizeof u->org_id)
        snprintf(u->org_id, sizeof u->org_id, "%s", id);
    else
        ULOG(log, BT_LOG_ERROR,
             "attachments: cannot find the organization of the API key at %s/api/apikey/login: %s",
             u->api_url, status ? (status == 200 ? "no org_info in the answer" : "unexpected status") : why);
    json_decref(r);
    return u->org_id[0] != 0;
}

static void report(bt__uploader *u, const char *key, const char *error, uint64_t deadline)
{
    json_t *status = json_pack("{s:s}", "upload_status", error ? "error" : "done");
    if (error)
        json_object_set_new(status, "error_message", json_string(error));
    json_t *body = json_pack("{s:s,s:s,s:o}", "key", key, "org_id", u->org_id, "status", status);
    char why[160];
    post_json(u, "/attachment/status", body, deadline, why, sizeof why);
    json_decref(body);
}

/* The host of a URL, for logs and the Azure rule (never the path or query, which hold
 * the signature). */
static void url_host(const char *url, char *out, size_t out_size)
{
    const char *p = strstr(url, "://");
    p = p ? p + 3 : url;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n);
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    snprintf(out, out_size, "%.*s", (int)n, p);
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcasecmp(s + n - k, suffix);
}

/* Uploads one attachment; returns NULL or why it failed. */
static const char *upload_one(bt__uploader *u, const bt__attachment *a, uint64_t deadline, char *why,
                              size_t why_size)
{
    json_t *body = json_pack("{s:s,s:s,s:s,s:s}", "key", a->key, "filename", a->filename, "content_type",
                             a->content_type, "org_id", u->org_id);
    long status = post_json(u, "/attachment", body, deadline, why, why_size);
    json_decref(body);
    if (status != 200) {
        if (status)
            snprintf(why, why_size, "the attachment API answered HTTP %ld", status);
        return why;
    }
    json_t *r = response_json(u);
    const char *signed_url = json_string_value(json_object_get(r, "signedUrl"));
    if (!signed_url || strncmp(signed_url, "http", 4) != 0) {
        json_decref(r);
        snprintf(why, why_size, "the attachment API gave no signed URL");
        return why;
    }
    char host[256];
    url_host(signed_url, host, sizeof host);
    /* the object store's headers, never the API key */
    struct curl_slist *h = NULL, *t;
    char line[1024];
    snprintf(line, sizeof line, "Content-Type: %s", a->content_type);
    h = curl_slist_append(h, line);
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(r, "headers"), k, v)
    {
        const char *val = json_string_value(v);
        if (!val || strpbrk(k, "\r\n:") || strpbrk(val, "\r\n") || !strcasecmp(k, "authorization"))
            continue;
        snprintf(line, sizeof line, "%s: %s", k, val);
        if ((t = curl_slist_append(h, line)))
            h = t;
    }
    if (ends_with(host, ".blob.core.windows.net") && (t = curl_slist_append(h, "x-ms-blob-type: BlockBlob")))
        h = t; /* Azure refuses the PUT without it */
    if ((t = curl_slist_append(h, "Expect:")))
        h = t;
    char *url = strdup(signed_url);
    json_decref(r);
    status = url && h ? request(u, url, 1, h, a->data, a->len, deadline, why, why_size) : 0;
    curl_slist_free_all(h);
    free(url);
    if (status < 200 || status >= 300) {
        if (status)
            snprintf(why, why_size, "the object store at %s answered HTTP %ld", host, status);
        return why;
    }
    return NULL;
}

static int recently(bt__uploader *u, const char *key)
{
    for (size_t i = 0; i < RECENT_KEYS; i++)
        if (!strcmp(u->recent[i], key))
            return 1;
    return 0;
}

void bt__uploader_upload(bt__uploader *u, const bt_sink *log_sink, bt_span *const *spans, size_t n,
                         uint64_t deadline, bt__upload_counts *counts)
{
    bt__upload_counts local = {0, 0, 0};
    if (!counts)
        counts = &local;
    int have_org = -1;
    for (size_t i = 0; i < n; i++) {
        for (size_t j = 0; j < spans[i]->n_attachments; j++) {
            const bt__attachment *a = &spans[i]->attachments[j];
            if (recently(u, a->key)) {
                counts->skipped++;
                continue;
            }
            if (have_org < 0)
                have_org = org_id(u, log_sink, deadline);
            if (!have_org) {
                counts->failed++;
                continue;
            }
            char why[256] = "";
            const char *err = upload_one(u, a, deadline, why, sizeof why);
            report(u, a->key, err, deadline);
            if (err) {
                counts->failed++;
                ULOG(log_sink, BT_LOG_ERROR, "attachment %s (%s, %zu bytes) not uploaded: %s", a->key,
                     a->content_type, a->len, err);
                continue;
            }
            counts->uploaded++;
            snprintf(u->recent[u->recent_next], sizeof u->recent[0], "%s", a->key);
            u->recent_next = (u->recent_next + 1) % RECENT_KEYS;
        }
    }
}
