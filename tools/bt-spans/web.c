/*
 * The viewer's routes. Pages and static files come from the binary (bts_assets); the API
 * answers JSON from the query layer. Every answer is complete before it is sent, except
 * the event stream, whose events come from bts_web_poll.
 *
 *   GET /, /totals, /trace/ID      the app's page (the app reads the path)
 *   GET /app.js, /app.css, /favicon.svg
 *   GET /api/traces?name=&model=&status=ok|error&from_ns=&to_ns=&cursor=&limit=
 *   GET /api/traces/ID              one trace (ID may be a unique prefix)
 *   GET /api/traces/ID/spans/SPAN   one span's stored OTLP JSON line
 *   GET /api/totals                 totals by model and by day
 *   GET /api/events                 server-sent events: "spans" when spans are stored
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "bts_assets.h"
#include "query.h"
#include "util/text.h"
#include "web.h"

#define TRACE_MAX_SPANS 250000
#define PARAM_MAX 512
#define EVENT_MAX_TRACES 200

struct bts_web {
    sqlite3 *db;
    char *store;
    char listen_host[256];
    int port;
    int64_t rowid;
    int polled;
};

const char *const bts_web_security_headers[][2] = {
    {"Content-Security-Policy",
     "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self';"
     " connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"},
    {"X-Content-Type-Options", "nosniff"},
    {"X-Frame-Options", "DENY"},
    {"Referrer-Policy", "no-referrer"},
    {"Cross-Origin-Resource-Policy", "same-origin"},
    {NULL, NULL}};

const char bts_web_keepalive[] = ": keep-alive\n\n";

int bts_web_new(sqlite3 *db, const char *store, bts_web **out)
{
    *out = NULL;
    bts_web *w = calloc(1, sizeof *w);
    if (!w)
        return -1;
    w->db = db;
    w->store = strdup(store ? store : "");
    if (!w->store) {
        free(w);
        return -1;
    }
    *out = w;
    return 0;
}

void bts_web_free(bts_web *w)
{
    if (!w)
        return;
    free(w->store);
    free(w);
}

void bts_web_set_origin(bts_web *w, const char *listen_host, int port)
{
    snprintf(w->listen_host, sizeof w->listen_host, "%s", listen_host ? listen_host : "");
    w->port = port;
}

void bts_web_response_free(bts_web_response *r)
{
    if (r && !r->body_static)
        free(r->body);
    if (r)
        memset(r, 0, sizeof *r);
}

/* ---- responses --------------------------------------------------------------------- */

static void set_static(bts_web_response *r, int status, const char *type, const void *body, size_t len)
{
    r->status = status;
    r->content_type = type;
    r->body = (char *)body;
    r->len = len;
    r->body_static = 1;
}

/* JSON text (owned, freed here) with <, > and & written as \u escapes: they only occur
 * inside JSON strings, where the escape means the same, so no response is markup even to
 * a client that sniffs. Returns a malloc'd copy, or NULL. */
static char *escape_markup(char *raw, size_t n, size_t *len)
{
    if (!raw)
        return NULL;
    size_t extra = 0;
    for (size_t i = 0; i < n; i++)
        extra += raw[i] == '<' || raw[i] == '>' || raw[i] == '&' ? 5 : 0;
    if (!extra) {
        *len = n;
        return raw;
    }
    char *out = malloc(n + extra + 1), *o = out;
    if (out) {
        for (size_t i = 0; i < n; i++) {
            if (raw[i] == '<' || raw[i] == '>' || raw[i] == '&')
                o += sprintf(o, "\\u%04x", (unsigned)raw[i]);
            else
                *o++ = raw[i];
        }
        *o = '\0';
        *len = (size_t)(o - out);
    }
    free(raw);
    return out;
}

static char *dump_inert(json_t *v, size_t *len)
{
    char *raw = v ? json_dumps(v, JSON_COMPACT) : NULL;
    return raw ? escape_markup(raw, strlen(raw), len) : NULL;
}

static void set_json(bts_web_response *r, int status, json_t *v)
{
    r->status = status;
    r->content_type = "application/json";
    r->cache_control = "no-store";
    r->len = 0;
    r->body = dump_inert(v, &r->len);
    r->body_static = 0;
    if (!r->body) {
        r->status = 500;
        r->body = (char *)"{\"error\":\"out of memory\"}";
        r->len = strlen(r->body);
        r->body_static = 1;
    }
    json_decref(v);
}

/* {"error": what + detail} */
static void set_error(bts_web_response *r, int status, const char *what, const char *detail)
{
    char msg[600];
    snprintf(msg, sizeof msg, "%s%s", what, detail ? detail : "");
    json_t *v = json_object(), *m = json_string(msg);
    json_object_set_new(v, "error", m ? m : json_string("error"));
    set_json(r, status, v);
}

static void set_asset(bts_web_response *r, const char *name, const char *type)
{
    const struct bts_asset *a = bts_asset_find(name);
    if (!a) {
        set_error(r, 404, "not in this build: ", name);
        return;
    }
    set_static(r, 200, type, a->data, a->len);
    r->cache_control = "no-cache";
}

/* ---- request parsing --------------------------------------------------------------- */

/* Percent-decodes [s, s+n) into out (cap bytes, NUL-terminated) by the project's one
 * contract ('+' is a space in a query). -1 for a bad escape, a NUL byte or a value too
 * long. */
static int decode(const char *s, size_t n, int plus_is_space, char *out, size_t cap)
{
    return bt__percent_decode(s, n, plus_is_space ? BT__PERCENT_PLUS_IS_SPACE : 0, out, cap) < 0 ? -1 : 0;
}

typedef struct query_params {
    char name[PARAM_MAX], model[PARAM_MAX], status[16], cursor[PARAM_MAX], from[32], to[32], limit[16];
} query_params;

static int parse_query(const char *q, query_params *p)
{
    memset(p, 0, sizeof *p);
    while (q && *q) {
        const char *amp = strchr(q, '&');
        size_t n = amp ? (size_t)(amp - q) : strlen(q);
        const char *eq = memchr(q, '=', n);
        if (eq) {
            size_t kn = (size_t)(eq - q);
            const char *v = eq + 1;
            size_t vn = n - kn - 1;
            struct {
                const char *key;
                char *dst;
                size_t cap;
            } fields[] = {{"name", p->name, sizeof p->name},       {"model", p->model, sizeof p->model},
                          {"status", p->status, sizeof p->status}, {"cursor", p->cursor, sizeof p->cursor},
                          {"from_ns", p->from, sizeof p->from},    {"to_ns", p->to, sizeof p->to},
                          {"limit", p->limit, sizeof p->limit}};
            for (size_t f = 0; f < sizeof fields / sizeof *fields; f++)
                if (strlen(fields[f].key) == kn && memcmp(q, fields[f].key, kn) == 0 &&
                    decode(v, vn, 1, fields[f].dst, fields[f].cap) != 0)
                    return -1;
        }
        q = amp ? amp + 1 : NULL;
    }
    return 0;
}

static int parse_i64(const char *s, int64_t lo, int64_t hi, int64_t *out)
{
    if (!*s)
        return 0;
    char *end = NULL;
    long long v = strtoll(s, &end, 10);
    if (*end || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static int is_hex_id(const char *s, size_t max)
{
    size_t n = strlen(s);
    return n > 0 && n <= max && strspn(s, "0123456789abcdef") == n;
}

/* Host must name this server: a loopback name or the address it listens on, with its
 * port. */
static int host_allowed(const bts_web *w, const char *host)
{
    if (!host)
        return 0;
    char want[300];
    const char *names[] = {"127.0.0.1", "localhost", "[::1]", w->listen_host};
    for (size_t i = 0; i < sizeof names / sizeof *names; i++) {
        if (!names[i][0] || strcmp(names[i], "0.0.0.0") == 0 || strcmp(names[i], "::") == 0)
            continue;
        int bracket = strchr(names[i], ':') && names[i][0] != '[';
        snprintf(want, sizeof want, "%s%s%s:%d", bracket ? "[" : "", names[i], bracket ? "]" : "", w->port);
        if (strcasecmp(host, want) == 0)
            return 1;
        /* A browser leaves out the default port. */
        if (w->port == 80) {
            snprintf(want, sizeof want, "%s%s%s", bracket ? "[" : "", names[i], bracket ? "]" : "");
            if (strcasecmp(host, want) == 0)
                return 1;
        }
    }
    return 0;
}

/* ---- routes ------------------------------------------------------------------------ */

static void api_traces(bts_web *w, const char *query, bts_web_response *r)
{
    query_params p;
    if (parse_query(query, &p) != 0) {
        set_error(r, 400, "a query parameter is malformed or too long", NULL);
        return;
    }
    bts_trace_filter f = {.name = p.name, .model = p.model, .cursor = p.cursor, .limit = 50};
    int64_t limit = 50;
    if (parse_i64(p.from, 0, INT64_MAX, &f.from_ns) != 0 || parse_i64(p.to, 0, INT64_MAX, &f.to_ns) != 0 ||
        parse_i64(p.limit, 1, 1000, &limit) != 0) {
        set_error(r, 400, "from_ns and to_ns are times in ns since 1970; limit is 1 to 1000", NULL);
        return;
    }
    f.limit = (int)limit;
    if (strcmp(p.status, "ok") == 0)
        f.status = 1;
    else if (strcmp(p.status, "error") == 0)
        f.status = 2;
    else if (p.status[0]) {
        set_error(r, 400, "status is ok or error", NULL);
        return;
    }
    json_t *page = NULL;
    int rc = bts_query_traces(w->db, &f, &page);
    if (rc == BTS_Q_EINVAL)
        set_error(r, 400, "bad cursor", NULL);
    else if (rc != BTS_Q_OK)
        set_error(r, 500, "query failed: ", sqlite3_errmsg(w->db));
    else
        set_json(r, 200, page);
}

static void api_trace(bts_web *w, const char *id, bts_web_response *r)
{
    char full[33];
    json_t *cands = NULL;
    int rc = is_hex_id(id, 32) ? bts_query_resolve(w->db, id, full, 20, &cands) : BTS_Q_ENOTFOUND;
    if (rc == BTS_Q_EAMBIGUOUS) {
        json_t *v = json_object();
        json_object_set_new(v, "error", json_string("several traces start with this id"));
        json_object_set_new(v, "candidates", cands);
        set_json(r, 409, v);
        return;
    }
    json_decref(cands);
    json_t *t = NULL;
    if (rc == BTS_Q_OK)
        rc = bts_query_trace(w->db, full, TRACE_MAX_SPANS, &t);
    if (rc == BTS_Q_ENOTFOUND)
        set_error(r, 404, "no such trace in this store: ", id);
    else if (rc != BTS_Q_OK)
        set_error(r, 500, "query failed: ", sqlite3_errmsg(w->db));
    else
        set_json(r, 200, t);
}

static void api_span(bts_web *w, const char *id, const char *span, bts_web_response *r)
{
    char *line = NULL;
    size_t len = 0;
    int rc = is_hex_id(id, 32) && is_hex_id(span, 16) ? bts_query_span_line(w->db, id, span, &line, &len)
                                                      : BTS_Q_ENOTFOUND;
    if (rc == BTS_Q_ENOTFOUND) {
        set_error(r, 404, "no such span in this trace: ", span);
    } else if (rc != BTS_Q_OK) {
        set_error(r, 500, "query failed: ", sqlite3_errmsg(w->db));
    } else {
        r->status = 200;
        r->content_type = "application/json";
        r->cache_control = "no-store";
        r->body = escape_markup(line, len, &r->len);
        if (!r->body)
            set_error(r, 500, "out of memory", NULL);
    }
}

static void api_totals(bts_web *w, bts_web_response *r)
{
    json_t *t = NULL;
    if (bts_query_totals(w->db, 1, &t) != BTS_Q_OK)
        set_error(r, 500, "query failed: ", sqlite3_errmsg(w->db));
    else
        set_json(r, 200, t);
}

void bts_web_handle(bts_web *w, const char *method, const char *target, const char *host, bts_web_response *r)
{
    memset(r, 0, sizeof *r);
    if (!host_allowed(w, host)) {
        set_error(r, 421, "this viewer answers only requests addressed to it on loopback (Host header)",
                  NULL);
        return;
    }
    if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) {
        set_error(r, 405, "the viewer is read-only: GET only", NULL);
        return;
    }
    char path[1024];
    const char *q = strchr(target, '?');
    size_t plen = q ? (size_t)(q - target) : strlen(target);
    if (target[0] != '/' || decode(target, plen, 0, path, sizeof path) != 0) {
        set_error(r, 400, "bad request target", NULL);
        return;
    }
    const char *query = q ? q + 1 : "";
    if (strcmp(path, "/") == 0 || strcmp(path, "/totals") == 0 || strncmp(path, "/trace/", 7) == 0) {
        set_asset(r, "index.html", "text/html; charset=utf-8");
        return;
    }
    if (strcmp(path, "/app.js") == 0) {
        set_asset(r, "app.js", "text/javascript; charset=utf-8");
        return;
    }
    if (strcmp(path, "/app.css") == 0) {
        set_asset(r, "app.css", "text/css; charset=utf-8");
        return;
    }
    if (strcmp(path, "/favicon.svg") == 0) {
        set_asset(r, "favicon.svg", "image/svg+xml");
        return;
    }
    if (strcmp(path, "/api/traces") == 0) {
        api_traces(w, query, r);
        return;
    }
    if (strcmp(path, "/api/totals") == 0) {
        api_totals(w, r);
        return;
    }
    if (strcmp(path, "/api/events") == 0) {
        set_static(r, 200, "text/event-stream", "", 0);
        r->cache_control = "no-store";
        r->event_stream = 1;
        return;
    }
    if (strncmp(path, "/api/traces/", 12) == 0) {
        /* Ids are hex: anything longer than one is not found. */
        char id[40], span[24];
        const char *rest = path + 12, *slash = strchr(rest, '/');
        size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
        if (idlen < sizeof id) {
            memcpy(id, rest, idlen);
            id[idlen] = '\0';
            if (!slash) {
                api_trace(w, id, r);
                return;
            }
            if (strncmp(slash, "/spans/", 7) == 0 && strlen(slash + 7) < sizeof span) {
                memcpy(span, slash + 7, strlen(slash + 7) + 1);
                api_span(w, id, span, r);
                return;
            }
        }
    }
    set_error(r, 404, "not found", NULL);
}

int bts_web_poll(bts_web *w, char **event, size_t *len)
{
    *event = NULL;
    *len = 0;
    json_t *traces = NULL;
    int64_t before = w->rowid;
    if (bts_query_changes(w->db, &w->rowid, EVENT_MAX_TRACES + 1, &traces) != BTS_Q_OK)
        return -1;
    int first = !w->polled;
    w->polled = 1;
    if (first || w->rowid == before || json_array_size(traces) == 0) {
        json_decref(traces);
        return 0;
    }
    int more = json_array_size(traces) > EVENT_MAX_TRACES;
    if (more)
        json_array_remove(traces, EVENT_MAX_TRACES);
    json_t *d = json_object();
    json_object_set_new(d, "traces", traces);
    json_object_set_new(d, "more", json_boolean(more));
    char *data = json_dumps(d, JSON_COMPACT);
    json_decref(d);
    if (!data)
        return -1;
    /* JSON from jansson has no raw newline, so it is one data: line. */
    size_t n = strlen(data) + 32;
    *event = malloc(n);
    if (*event)
        *len = (size_t)snprintf(*event, n, "event: spans\ndata: %s\n\n", data);
    free(data);
    return *event ? 1 : -1;
}
