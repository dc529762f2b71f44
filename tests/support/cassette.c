/*
 * Recorded-traffic loader: every cassette format under shared/fixtures/anthropic
 * becomes a list of bt_test_interaction. YAML cassettes go through the reader shared
 * with fake-anthropic's --replay (tools/common/vcr_cassette.c); the Braintrust JS
 * cassette JSON and raw body files are mapped here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>

#include "cassette.h"
#include "vcr_cassette.h"

static void add_interaction(bt_test_cassette *c, bt_test_interaction *it)
{
    c->items = realloc(c->items, (c->n + 1) * sizeof *c->items);
    c->items[c->n++] = *it;
}

static int map_js(json_t *root, bt_test_cassette *c)
{
    json_t *list = json_object_get(root, "entries");
    if (!json_is_array(list))
        return BT_EPARSE;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        json_t *req = json_object_get(x, "request"), *resp = json_object_get(x, "response");
        bt_test_interaction it;
        memset(&it, 0, sizeof it);
        const char *method = json_string_value(json_object_get(req, "method"));
        const char *url = json_string_value(json_object_get(req, "url"));
        it.method = strdup(method ? method : "GET");
        it.url = strdup(url ? url : "/");
        it.target = bt__vcr_target_of(it.url);
        bt__vcr_read_headers(json_object_get(req, "headers"), &it.req_headers, &it.n_req_headers, 0);
        json_t *rb = json_object_get(req, "body");
        const char *rkind = json_string_value(json_object_get(rb, "kind"));
        if (rkind && strcmp(rkind, "json") == 0) {
            it.req_body = json_dumps(json_object_get(rb, "value"),
                                     JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            it.req_body_len = strlen(it.req_body);
        }
        it.status = (int)json_integer_value(json_object_get(resp, "status"));
        /* the recorder stored decoded bodies */
        bt__vcr_read_headers(json_object_get(resp, "headers"), &it.resp_headers, &it.n_resp_headers, 1);
        json_t *b = json_object_get(resp, "body");
        const char *kind = json_string_value(json_object_get(b, "kind"));
        if (kind && strcmp(kind, "json") == 0) {
            it.resp_body =
                json_dumps(json_object_get(b, "value"), JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
            it.resp_body_len = strlen(it.resp_body);
        } else if (kind && strcmp(kind, "sse") == 0) {
            size_t total = 0, k;
            json_t *chunk;
            json_t *chunks = json_object_get(b, "chunks");
            json_array_foreach(chunks, k, chunk) total += json_string_length(chunk) + 2;
            it.resp_body = malloc(total + 1);
            json_array_foreach(chunks, k, chunk)
            {
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
    it.target = bt__vcr_target_of(it.url);
    it.status = 200;
    const char *ct = is_jsonl ? "application/binary" : "text/event-stream; charset=utf-8";
    bt__vcr_add_header(&it.resp_headers, &it.n_resp_headers, "content-type", ct, strlen(ct));
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
        char err[160];
        json_t *root = bt__vcr_yaml_parse(data, len, err, sizeof err);
        free(data);
        if (!root) {
            fprintf(stderr, "cassette: %s: %s\n", path, err);
            return BT_EPARSE;
        }
        rc = bt__vcr_map(root, &out->items, &out->n);
        json_decref(root);
    } else {
        rc = map_raw(path, data, len, out);
    }
    if (rc)
        fprintf(stderr, "cassette: %s: unrecognised layout\n", path);
    return rc;
}

void bt_test_cassette_free(bt_test_cassette *c)
{
    for (size_t i = 0; i < c->n; i++) {
        bt__vcr_interaction_free(&c->items[i]);
    }
    free(c->items);
    free(c->path);
    memset(c, 0, sizeof *c);
}

const char *bt_test_header_get(const bt_test_header *h, size_t n, const char *name)
{
    return bt__vcr_header_get(h, n, name);
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
