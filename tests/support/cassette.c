/*
 * Recorded-traffic loader: every cassette format under shared/fixtures/anthropic
 * becomes a list of bt_test_interaction. YAML is read with libyaml into a jansson tree
 * (plain scalars resolved to null/bool/int/real as YAML 1.1 core does, !!binary
 * base64-decoded into a {"__binary__": bytes} wrapper), then each format's layout is
 * mapped onto the common shape.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <yaml.h>

#include "cassette.h"

#define BINARY_KEY "__binary__"

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static int b64val(int c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
}

static json_t *base64_to_binary(const char *s, size_t n)
{
    char *out = malloc(n / 4 * 3 + 4);
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64val((unsigned char)s[i]);
        if (v < 0)
            continue; /* whitespace, newlines and '=' padding */
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    json_t *wrap = json_object();
    json_object_set_new(wrap, BINARY_KEY, json_stringn_nocheck(out, o));
    free(out);
    return wrap;
}

static json_t *plain_scalar(const char *v, size_t n)
{
    if (n == 0 || (n == 1 && v[0] == '~') || (n == 4 && !memcmp(v, "null", 4)))
        return json_null();
    if ((n == 4 && !memcmp(v, "true", 4)) || (n == 4 && !memcmp(v, "True", 4)))
        return json_true();
    if ((n == 5 && !memcmp(v, "false", 5)) || (n == 5 && !memcmp(v, "False", 5)))
        return json_false();
    char *s = xstrndup(v, n), *end;
    json_t *out = NULL;
    int digits = 0, dot = 0, other = 0;
    for (size_t i = 0; i < n; i++) {
        if (isdigit((unsigned char)s[i]))
            digits++;
        else if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            dot++;
        else if (!((s[i] == '-' || s[i] == '+') && (i == 0 || s[i - 1] == 'e' || s[i - 1] == 'E')))
            other++;
    }
    if (digits && !other) {
        if (!dot) {
            long long ll = strtoll(s, &end, 10);
            if (*end == '\0')
                out = json_integer(ll);
        } else {
            double d = strtod(s, &end);
            if (*end == '\0')
                out = json_real(d);
        }
    }
    if (!out)
        out = json_stringn_nocheck(v, n);
    free(s);
    return out;
}

static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *node, int depth)
{
    if (!node || depth > 200)
        return json_null();
    switch (node->type) {
    case YAML_SCALAR_NODE: {
        const char *v = (const char *)node->data.scalar.value;
        size_t n = node->data.scalar.length;
        const char *tag = (const char *)node->tag;
        if (tag && strcmp(tag, "tag:yaml.org,2002:binary") == 0)
            return base64_to_binary(v, n);
        if (node->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
            return plain_scalar(v, n);
        return json_stringn_nocheck(v, n);
    }
    case YAML_SEQUENCE_NODE: {
        json_t *arr = json_array();
        for (yaml_node_item_t *it = node->data.sequence.items.start; it < node->data.sequence.items.top; it++)
            json_array_append_new(arr, yaml_to_json(doc, yaml_document_get_node(doc, *it), depth + 1));
        return arr;
    }
    case YAML_MAPPING_NODE: {
        json_t *obj = json_object();
        for (yaml_node_pair_t *p = node->data.mapping.pairs.start; p < node->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (!k || k->type != YAML_SCALAR_NODE)
                continue;
            char *key = xstrndup((const char *)k->data.scalar.value, k->data.scalar.length);
            json_object_set_new(obj, key, yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1));
            free(key);
        }
        return obj;
    }
    default:
        return json_null();
    }
}

static json_t *load_yaml(const char *data, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser))
        return NULL;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    json_t *out = NULL;
    if (yaml_parser_load(&parser, &doc)) {
        out = yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0);
        yaml_document_delete(&doc);
    } else {
        fprintf(stderr, "cassette: YAML error: %s at line %zu\n", parser.problem ? parser.problem : "?",
                parser.problem_mark.line + 1);
    }
    yaml_parser_delete(&parser);
    return out;
}

/* --- mapping onto the common shape ----------------------------------------------- */

static void lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static void add_header(bt_test_header **arr, size_t *n, const char *name, const char *value, size_t value_len)
{
    *arr = realloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[*n].name = strdup(name);
    lower((*arr)[*n].name);
    (*arr)[*n].value = xstrndup(value, value_len);
    (*n)++;
}

/* headers: {Name: [v, ...]} (YAML) or {name: v} (JS JSON) */
static void read_headers(json_t *h, bt_test_header **arr, size_t *n, int drop_encoding)
{
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v) {
        if (drop_encoding && strcasecmp(name, "content-encoding") == 0)
            continue;
        if (json_is_array(v)) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item) {
                if (json_is_string(item))
                    add_header(arr, n, name, json_string_value(item), json_string_length(item));
                else if (json_is_integer(item)) {
                    char num[32];
                    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(item));
                    add_header(arr, n, name, num, strlen(num));
                }
            }
        } else if (json_is_string(v)) {
            add_header(arr, n, name, json_string_value(v), json_string_length(v));
        }
    }
}

/* A body given as a string, a {"__binary__"} wrapper, {"string": ...}, or parsed JSON. */
static void read_body(json_t *body, json_t *parsed, char **out, size_t *out_len)
{
    *out = NULL;
    *out_len = 0;
    if (json_is_object(body) && json_object_get(body, "string"))
        body = json_object_get(body, "string");
    if (json_is_object(body) && json_object_get(body, BINARY_KEY))
        body = json_object_get(body, BINARY_KEY);
    if (json_is_string(body)) {
        *out_len = json_string_length(body);
        *out = xstrndup(json_string_value(body), *out_len);
        return;
    }
    if (parsed && !json_is_null(parsed)) {
        char *s = json_dumps(parsed, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
        *out = s;
        *out_len = s ? strlen(s) : 0;
    }
}

static char *target_of(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return strdup(url);
    p = strchr(p + 3, '/');
    return strdup(p ? p : "/");
}

static void add_interaction(bt_test_cassette *c, bt_test_interaction *it)
{
    c->items = realloc(c->items, (c->n + 1) * sizeof *c->items);
    c->items[c->n++] = *it;
}

static int map_vcr(json_t *root, bt_test_cassette *c)
{
    json_t *list = json_object_get(root, "interactions");
    if (!json_is_array(list))
        return BT_EPARSE;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        json_t *req = json_object_get(x, "request"), *resp = json_object_get(x, "response");
        if (!req || !resp)
            continue;
        bt_test_interaction it;
        memset(&it, 0, sizeof it);
        const char *method = json_string_value(json_object_get(req, "method"));
        const char *url = json_string_value(json_object_get(req, "url"));
        if (!url)
            url = json_string_value(json_object_get(req, "uri"));
        it.method = strdup(method ? method : "GET");
        it.url = strdup(url ? url : "/");
        it.target = target_of(it.url);
        read_headers(json_object_get(req, "headers"), &it.req_headers, &it.n_req_headers, 0);
        read_body(json_object_get(req, "body"), json_object_get(req, "parsed_body"), &it.req_body, &it.req_body_len);
        if (it.req_body && it.req_body_len == 0) {
            free(it.req_body);
            it.req_body = NULL;
        }

        json_t *status = json_object_get(resp, "status");
        if (json_is_object(status))
            it.status = (int)json_integer_value(json_object_get(status, "code"));
        else if (json_is_integer(json_object_get(resp, "code")))
            it.status = (int)json_integer_value(json_object_get(resp, "code"));
        else if (json_is_string(status))
            it.status = atoi(json_string_value(status));
        int uncompressed = json_is_true(json_object_get(resp, "uncompressed"));
        json_t *parsed = json_object_get(resp, "parsed_body");
        /* parsed_body holds the decoded body: its content-encoding no longer applies */
        read_headers(json_object_get(resp, "headers"), &it.resp_headers, &it.n_resp_headers,
                     uncompressed || (parsed && !json_is_null(parsed)));
        read_body(json_object_get(resp, "body"), parsed, &it.resp_body, &it.resp_body_len);
        if (!it.resp_body)
            it.resp_body = strdup("");
        add_interaction(c, &it);
    }
    return 0;
}

static int map_js(json_t *root, bt_test_cassette *c)
{
    json_t *list = json_object_get(root, "entries");
    if (!json_is_array(list))
        return BT_EPARSE;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x) {
        json_t *req = json_object_get(x, "request"), *resp = json_object_get(x, "response");
        bt_test_interaction it;
        memset(&it, 0, sizeof it);
        const char *method = json_string_value(json_object_get(req, "method"));
        const char *url = json_string_value(json_object_get(req, "url"));
        it.method = strdup(method ? method : "GET");
        it.url = strdup(url ? url : "/");
        it.target = target_of(it.url);
        read_headers(json_object_get(req, "headers"), &it.req_headers, &it.n_req_headers, 0);
        json_t *rb = json_object_get(req, "body");
        const char *rkind = json_string_value(json_object_get(rb, "kind"));
        if (rkind && strcmp(rkind, "json") == 0) {
            it.req_body = json_dumps(json_object_get(rb, "value"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            it.req_body_len = strlen(it.req_body);
        }
        it.status = (int)json_integer_value(json_object_get(resp, "status"));
        /* the recorder stored decoded bodies */
        read_headers(json_object_get(resp, "headers"), &it.resp_headers, &it.n_resp_headers, 1);
        json_t *b = json_object_get(resp, "body");
        const char *kind = json_string_value(json_object_get(b, "kind"));
        if (kind && strcmp(kind, "json") == 0) {
            it.resp_body = json_dumps(json_object_get(b, "value"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            it.resp_body_len = strlen(it.resp_body);
        } else if (kind && strcmp(kind, "sse") == 0) {
            size_t total = 0, k;
            json_t *chunk;
            json_t *chunks = json_object_get(b, "chunks");
            json_array_foreach(chunks, k, chunk) total += json_string_length(chunk) + 2;
            it.resp_body = malloc(total + 1);
            json_array_foreach(chunks, k, chunk) {
                memcpy(it.resp_body + it.resp_body_len, json_string_value(chunk), json_string_length(chunk));
                it.resp_body_len += json_string_length(chunk);
                memcpy(it.resp_body + it.resp_body_len, "\n\n", 2);
                it.resp_body_len += 2;
            }
            it.resp_body[it.resp_body_len] = '\0';
        } else {
            it.resp_body = strdup("");
            it.resp_body_missing = kind && strcmp(kind, "empty") != 0;
        }
        add_interaction(c, &it);
    }
    return 0;
}

/* A raw body file (.sse.txt, .sse, .txt, .jsonl): one synthetic 200 interaction. */
static int map_raw(const char *path, char *data, size_t len, bt_test_cassette *c)
{
    bt_test_interaction it;
    memset(&it, 0, sizeof it);
    int is_jsonl = strstr(path, ".jsonl") != NULL;
    it.method = strdup(is_jsonl ? "GET" : "POST");
    it.url = strdup(is_jsonl ? "https://api.anthropic.com/v1/messages/batches/msgbatch_fixture/results"
                             : "https://api.anthropic.com/v1/messages");
    it.target = target_of(it.url);
    it.status = 200;
    const char *ct = is_jsonl ? "application/binary" : "text/event-stream; charset=utf-8";
    add_header(&it.resp_headers, &it.n_resp_headers, "content-type", ct, strlen(ct));
    it.resp_body = data;
    it.resp_body_len = len;
    add_interaction(c, &it);
    return 0;
}

int bt_test_cassette_load(const char *path, bt_test_cassette *out)
{
    memset(out, 0, sizeof *out);
    out->path = strdup(path);
    size_t len;
    char *data = bt_test_read_file(path, &len);
    if (!data) {
        fprintf(stderr, "cassette: cannot read %s\n", path);
        return BT_EIO;
    }
    size_t plen = strlen(path);
    int rc;
    if (plen > 5 && strcmp(path + plen - 5, ".json") == 0) {
        json_error_t err;
        json_t *root = json_loadb(data, len, 0, &err);
        free(data);
        if (!root) {
            fprintf(stderr, "cassette: %s: %s\n", path, err.text);
            return BT_EPARSE;
        }
        rc = map_js(root, out);
        json_decref(root);
    } else if (plen > 5 && strcmp(path + plen - 5, ".yaml") == 0) {
        json_t *root = load_yaml(data, len);
        free(data);
        if (!root)
            return BT_EPARSE;
        rc = map_vcr(root, out);
        json_decref(root);
    } else {
        rc = map_raw(path, data, len, out);
    }
    if (rc)
        fprintf(stderr, "cassette: %s: unrecognised layout\n", path);
    return rc;
}

static void free_headers(bt_test_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

void bt_test_cassette_free(bt_test_cassette *c)
{
    for (size_t i = 0; i < c->n; i++) {
        bt_test_interaction *it = &c->items[i];
        free(it->method);
        free(it->url);
        free(it->target);
        free_headers(it->req_headers, it->n_req_headers);
        free(it->req_body);
        free_headers(it->resp_headers, it->n_resp_headers);
        free(it->resp_body);
    }
    free(c->items);
    free(c->path);
    memset(c, 0, sizeof *c);
}

const char *bt_test_header_get(const bt_test_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}

bt_header *bt_test_headers_view(const bt_test_header *h, size_t n)
{
    bt_header *v = calloc(n ? n : 1, sizeof *v);
    for (size_t i = 0; i < n; i++) {
        v[i].name = h[i].name;
        v[i].name_len = strlen(h[i].name);
        v[i].value = h[i].value;
        v[i].value_len = strlen(h[i].value);
    }
    return v;
}
