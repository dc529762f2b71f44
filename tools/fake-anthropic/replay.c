/*
 * --replay PATH: serve recorded response bodies for POST /v1/messages instead of
 * generated ones. PATH is one file or a directory whose regular files (sorted by name,
 * dot-files skipped) are served in turn, wrapping around. A body that starts with an
 * SSE field ("event:", "data:" or ":") is streamed as text/event-stream one event per
 * piece, paced like generated streams; anything else is served as application/json.
 * Bodies are read from disk per request (at most --max-body bytes each).
 *
 * A *.json file holding a recorded cassette ({"entries":[{request, response}...]}, the
 * format of the braintrust-js recorder) contributes each of its POST /v1/messages
 * responses instead, in recorded order: the status, content-type and body (JSON value,
 * SSE chunks, or empty) as recorded.
 *
 * A *.yaml file holding a go-vcr, vcrpy or pydantic-ai cassette (read with the shared
 * reader in tools/common/vcr_cassette.c) contributes each of its POST .../v1/messages
 * responses the same way: recorded status, content-type and body. A body recorded
 * compressed (content-encoding gzip, deflate or br) is decoded once at start-up and
 * served as identity; the server compresses again when the client asks. SSE bodies
 * (text/event-stream, or a body starting with an SSE field) stream one event per piece;
 * anything else is served whole with the recorded content-type (application/json when
 * none was recorded).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "decode/inflate.h"
#include "fake.h"
#include "vcr_cassette.h"

/* A YAML cassette is parsed whole; no real recording comes near this. */
#define REPLAY_MAX_CASSETTE (256u * 1024 * 1024)

/* A response decoded from a YAML cassette: identity body, NUL-terminated. */
typedef struct recorded_body {
    int status;
    char *content_type; /* NULL when none was recorded */
    char *data;
    size_t len;
} recorded_body;

typedef struct replay_item {
    char *path;              /* a raw body file, or NULL */
    json_t *response;        /* a JS cassette entry's response, or NULL */
    recorded_body *recorded; /* a YAML cassette's response, or NULL */
} replay_item;

static replay_item *g_items;
static size_t g_nitems, g_next;
static char **g_files;
static size_t g_nfiles;

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_file(const char *path)
{
    char **grown = realloc(g_files, (g_nfiles + 1) * sizeof *grown);
    if (!grown)
        return -1;
    g_files = grown;
    g_files[g_nfiles] = strdup(path);
    if (!g_files[g_nfiles])
        return -1;
    g_nfiles++;
    return 0;
}

static void free_recorded(recorded_body *r)
{
    if (!r)
        return;
    free(r->content_type);
    free(r->data);
    free(r);
}

static int add_item(char *path, json_t *response, recorded_body *recorded)
{
    replay_item *grown = realloc(g_items, (g_nitems + 1) * sizeof *grown);
    if (!grown) {
        free(path);
        json_decref(response);
        free_recorded(recorded);
        return -1;
    }
    g_items = grown;
    g_items[g_nitems].path = path;
    g_items[g_nitems].response = response;
    g_items[g_nitems].recorded = recorded;
    g_nitems++;
    return 0;
}

static int is_messages_url(const char *url)
{
    const char *p = url ? strstr(url, "://") : NULL;
    p = p ? strchr(p + 3, '/') : url;
    return p && strncmp(p, "/v1/messages", 12) == 0 && (p[12] == '\0' || p[12] == '?');
}

static int append_decoded(void *ud, const char *data, size_t len)
{
    return bt__buf_append(ud, data, len);
}

/* The interaction's response body as identity bytes, decoding a recorded
 * content-encoding; NULL with a message on stderr when it cannot be decoded. */
static recorded_body *decode_recorded(const char *path, const bt__vcr_interaction *it)
{
    const char *enc = bt__vcr_header_get(it->resp_headers, it->n_resp_headers, "content-encoding");
    bt__coding coding = BT__CODING_IDENTITY;
    if (enc && bt__coding_parse(enc, strlen(enc), &coding) != 0) {
        fprintf(stderr, "fake-anthropic: --replay %s: unsupported content-encoding \"%s\"\n", path, enc);
        return NULL;
    }
    bt__buf out;
    bt__buf_init(&out, fake_cfg.max_body);
    int rc = 0;
    if (coding == BT__CODING_IDENTITY) {
        rc = bt__buf_append(&out, it->resp_body, it->resp_body_len);
    } else {
        bt__inflate *z = bt__inflate_new(coding, fake_cfg.max_body, append_decoded, &out);
        rc = z ? bt__inflate_feed(z, it->resp_body, it->resp_body_len) : -1;
        if (rc == 0)
            rc = bt__inflate_finish(z);
        bt__inflate_free(z);
    }
    recorded_body *r = calloc(1, sizeof *r);
    const char *ctype = bt__vcr_header_get(it->resp_headers, it->n_resp_headers, "content-type");
    if (rc != 0 || out.truncated || !r || (ctype && !(r->content_type = strdup(ctype)))) {
        fprintf(stderr,
                "fake-anthropic: --replay %s: a recorded %s body cannot be decoded or exceeds --max-body\n",
                path, enc ? enc : "identity");
        bt__buf_free(&out);
        free_recorded(r);
        return NULL;
    }
    r->status = it->status >= 100 && it->status <= 599 ? it->status : 200;
    r->len = out.len;
    r->data = bt__buf_steal(&out, NULL);
    if (!r->data) {
        free_recorded(r);
        return NULL;
    }
    return r;
}

/* Adds a YAML cassette's POST /v1/messages responses, in recorded order. */
static int add_yaml_source(const char *path)
{
    FILE *f = fopen(path, "rb");
    bt__buf text;
    bt__buf_init(&text, REPLAY_MAX_CASSETTE);
    if (f) {
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
            if (bt__buf_append(&text, tmp, n) != 0)
                break;
        fclose(f);
    }
    if (!f || text.truncated) {
        fprintf(stderr, "fake-anthropic: --replay %s: unreadable or larger than %u bytes\n", path,
                REPLAY_MAX_CASSETTE);
        bt__buf_free(&text);
        return -1;
    }
    char err[160];
    json_t *root = bt__vcr_yaml_parse(text.data ? text.data : "", text.len, err, sizeof err);
    bt__buf_free(&text);
    bt__vcr_interaction *items = NULL;
    size_t n = 0;
    int rc = 0;
    if (!root) {
        fprintf(stderr, "fake-anthropic: --replay %s: %s\n", path, err);
        rc = -1;
    } else if (bt__vcr_map(root, &items, &n) != 0) {
        fprintf(stderr, "fake-anthropic: --replay %s: not a go-vcr or vcrpy cassette\n", path);
        rc = -1;
    }
    json_decref(root);
    for (size_t i = 0; i < n; i++) {
        if (rc == 0 && strcmp(items[i].method, "POST") == 0 && is_messages_url(items[i].url)) {
            recorded_body *r = decode_recorded(path, &items[i]);
            if (!r || add_item(NULL, NULL, r) != 0)
                rc = -1;
        }
        bt__vcr_interaction_free(&items[i]);
    }
    free(items);
    return rc;
}

/* Adds a file: a cassette's POST /v1/messages responses, or the file as one body. */
static int add_replay_source(const char *path)
{
    size_t n = strlen(path);
    if (n > 5 && strcmp(path + n - 5, ".yaml") == 0)
        return add_yaml_source(path);
    json_t *doc = n > 5 && strcmp(path + n - 5, ".json") == 0 ? json_load_file(path, 0, NULL) : NULL;
    json_t *entries = json_object_get(doc, "entries");
    if (!json_is_array(entries)) {
        json_decref(doc);
        char *copy = strdup(path);
        return copy ? add_item(copy, NULL, NULL) : -1;
    }
    size_t i;
    json_t *e;
    json_array_foreach(entries, i, e)
    {
        json_t *req = json_object_get(e, "request");
        const char *method = json_string_value(json_object_get(req, "method"));
        json_t *resp = json_object_get(e, "response");
        if (method && strcmp(method, "POST") == 0 &&
            is_messages_url(json_string_value(json_object_get(req, "url"))) && json_is_object(resp) &&
            add_item(NULL, json_incref(resp), NULL) != 0) {
            json_decref(doc);
            return -1;
        }
    }
    json_decref(doc);
    return 0;
}

int fake_replay_init(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fake-anthropic: --replay %s: no such file or directory\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) {
        if (add_replay_source(path) != 0)
            return -1;
        goto check;
    }
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fake-anthropic: --replay %s: cannot open directory\n", path);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.')
            continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && add_file(full) != 0)
            break;
    }
    closedir(d);
    qsort(g_files, g_nfiles, sizeof *g_files, cmp_names);
    for (size_t i = 0; i < g_nfiles; i++)
        if (add_replay_source(g_files[i]) != 0)
            return -1;
check:
    if (g_nitems == 0) {
        fprintf(stderr, "fake-anthropic: --replay %s: nothing to replay\n", path);
        return -1;
    }
    return 0;
}

void fake_replay_free(void)
{
    for (size_t i = 0; i < g_nfiles; i++)
        free(g_files[i]);
    free(g_files);
    g_files = NULL;
    g_nfiles = 0;
    for (size_t i = 0; i < g_nitems; i++) {
        free(g_items[i].path);
        json_decref(g_items[i].response);
        free_recorded(g_items[i].recorded);
    }
    free(g_items);
    g_items = NULL;
    g_nitems = 0;
}

typedef struct replay_stream {
    char *data;
    size_t len, at;
} replay_stream;

/* One SSE event per piece: up to and including the next blank line. */
static int produce_replayed_event(void *state, bt__buf *out)
{
    replay_stream *s = state;
    size_t end = s->at;
    while (end < s->len) {
        if (s->data[end] == '\n' && end + 1 < s->len &&
            (s->data[end + 1] == '\n' ||
             (s->data[end + 1] == '\r' && end + 2 < s->len && s->data[end + 2] == '\n'))) {
            end += s->data[end + 1] == '\n' ? 2 : 3;
            break;
        }
        end++;
    }
    bt__buf_append(out, s->data + s->at, end - s->at);
    s->at = end;
    return s->at < s->len ? FAKE_PIECE_MORE : FAKE_PIECE_DONE;
}

static void free_replay_stream(void *state)
{
    replay_stream *s = state;
    free(s->data);
    free(s);
}

#define SSE_CONTENT_TYPE "text/event-stream; charset=utf-8"

/* Takes ownership of data (malloc'd) and streams data[at, len) one event per piece. */
static void start_sse(fake_conn *c, const fake_request *req, int status, const char *content_type, char *data,
                      size_t at, size_t len)
{
    replay_stream *s = calloc(1, sizeof *s);
    if (!s) {
        free(data);
        fake_respond_abort(c);
        return;
    }
    s->data = data;
    s->at = at;
    s->len = len;
    fake_respond_stream(c, req, status, content_type, "cache-control: no-cache\r\nx-accel-buffering: no\r\n",
                        produce_replayed_event, s, free_replay_stream, fake_cfg.pace_ms);
}

static const char *header_of(json_t *headers, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach(headers, k, v) if (strcasecmp(k, name) == 0) return json_string_value(v);
    return NULL;
}

static void serve_cassette_response(fake_conn *c, const fake_request *req, json_t *resp)
{
    int status = (int)json_integer_value(json_object_get(resp, "status"));
    if (status < 100 || status > 599)
        status = 200;
    json_t *body = json_object_get(resp, "body");
    const char *kind = json_string_value(json_object_get(body, "kind"));
    const char *ctype = header_of(json_object_get(resp, "headers"), "content-type");
    if (kind && strcmp(kind, "sse") == 0) {
        bt__buf text;
        bt__buf_init(&text, fake_cfg.max_body);
        size_t i;
        json_t *chunk;
        json_array_foreach(json_object_get(body, "chunks"), i, chunk)
        {
            bt__buf_append(&text, json_string_value(chunk), json_string_length(chunk));
            bt__buf_append_str(&text, "\n\n");
        }
        size_t len = text.len;
        start_sse(c, req, status, SSE_CONTENT_TYPE, bt__buf_steal(&text, NULL), 0, len);
        return;
    }
    char *json = kind && strcmp(kind, "json") == 0
        ? json_dumps(json_object_get(body, "value"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
        : NULL;
    fake_respond(c, req, status, ctype ? ctype : "application/json", NULL, json ? json : "",
                 json ? strlen(json) : 0);
    free(json);
}

/* Offset of the first byte after leading blank space. */
static size_t skip_blank(const char *data, size_t len)
{
    size_t skip = 0;
    while (skip < len && (data[skip] == ' ' || data[skip] == '\n' || data[skip] == '\r'))
        skip++;
    return skip;
}

/* Whether a NUL-terminated body starts with an SSE field. */
static int starts_like_sse(const char *start)
{
    return strncmp(start, "event:", 6) == 0 || strncmp(start, "data:", 5) == 0 || start[0] == ':';
}

static void serve_recorded(fake_conn *c, const fake_request *req, const recorded_body *r)
{
    const char *ctype = r->content_type;
    size_t skip = skip_blank(r->data, r->len);
    if ((ctype && strstr(ctype, "text/event-stream")) || (!ctype && starts_like_sse(r->data + skip))) {
        char *copy = malloc(r->len + 1);
        if (!copy) {
            fake_respond_abort(c);
            return;
        }
        memcpy(copy, r->data, r->len + 1);
        start_sse(c, req, r->status, ctype ? ctype : SSE_CONTENT_TYPE, copy, 0, r->len);
        return;
    }
    fake_respond(c, req, r->status, ctype ? ctype : "application/json", NULL, r->data, r->len);
}

int fake_replay_serve(fake_conn *c, const fake_request *req)
{
    if (g_nitems == 0)
        return 0;
    replay_item *item = &g_items[g_next];
    g_next = (g_next + 1) % g_nitems;
    if (item->response) {
        serve_cassette_response(c, req, item->response);
        return 1;
    }
    if (item->recorded) {
        serve_recorded(c, req, item->recorded);
        return 1;
    }
    const char *path = item->path;
    FILE *f = fopen(path, "rb");
    bt__buf body;
    bt__buf_init(&body, fake_cfg.max_body);
    if (f) {
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
            if (bt__buf_append(&body, tmp, n) != 0)
                break;
        fclose(f);
    }
    if (!f || body.truncated) {
        bt__buf_free(&body);
        fake_respond_error(c, req, 500, "api_error", "fake-anthropic: replay file unreadable or too large");
        return 1;
    }
    size_t skip = body.data ? skip_blank(body.data, body.len) : 0;
    const char *start = body.data ? body.data + skip : "";
    if (!starts_like_sse(start)) {
        fake_respond(c, req, 200, "application/json", NULL, start, body.len - skip);
        bt__buf_free(&body);
        return 1;
    }
    size_t len = body.len;
    start_sse(c, req, 200, SSE_CONTENT_TYPE, bt__buf_steal(&body, NULL), skip, len);
    return 1;
}
