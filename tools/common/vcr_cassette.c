/*
 * YAML cassettes (go-vcr, vcrpy, pydantic-ai) read with libyaml's document API into a
 * jansson tree, then each layout's fields mapped onto one interaction shape.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <jansson.h>
#include <yaml.h>

#include "util/base64.h"

#include "braintrust/common.h"
#include "vcr_cassette.h"

#define BINARY_KEY "__binary__"

static char *xstrndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

/* A YAML !!binary value: base64 wrapped over lines. Whitespace is dropped and the rest
 * decoded strictly (util/base64); a value that is not base64 becomes empty bytes. */
static json_t *base64_to_binary(const char *s, size_t n)
{
    char *text = malloc(n + 1);
    char *out = malloc(bt__base64_decoded_max(n) + 1);
    size_t t = 0;
    for (size_t i = 0; i < n; i++)
        if (!strchr(" \t\r\n", s[i]))
            text[t++] = s[i];
    long o = bt__base64_decode(text, t, (unsigned char *)out);
    if (o < 0)
        o = 0;
    free(text);
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
            json_object_set_new(obj, key,
                                yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1));
            free(key);
        }
        return obj;
    }
    default:
        return json_null();
    }
}

json_t *bt__vcr_yaml_parse(const char *data, size_t len, char *err, size_t err_size)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    snprintf(err, err_size, "YAML parser unavailable (out of memory)");
    if (!yaml_parser_initialize(&parser))
        return NULL;
    yaml_parser_set_input_string(&parser, (const unsigned char *)data, len);
    json_t *out = NULL;
    if (yaml_parser_load(&parser, &doc)) {
        out = yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0);
        yaml_document_delete(&doc);
    } else {
        snprintf(err, err_size, "YAML error: %s at line %zu", parser.problem ? parser.problem : "?",
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

void bt__vcr_add_header(bt__vcr_header **arr, size_t *n, const char *name, const char *value,
                        size_t value_len)
{
    *arr = realloc(*arr, (*n + 1) * sizeof **arr);
    (*arr)[*n].name = strdup(name);
    lower((*arr)[*n].name);
    (*arr)[*n].value = xstrndup(value, value_len);
    (*n)++;
}

/* headers: {Name: [v, ...]} (YAML) or {name: v} (JS JSON) */
void bt__vcr_read_headers(json_t *h, bt__vcr_header **arr, size_t *n, int drop_encoding)
{
    const char *name;
    json_t *v;
    json_object_foreach(h, name, v)
    {
        if (drop_encoding && strcasecmp(name, "content-encoding") == 0)
            continue;
        if (json_is_array(v)) {
            size_t i;
            json_t *item;
            json_array_foreach(v, i, item)
            {
                if (json_is_string(item))
                    bt__vcr_add_header(arr, n, name, json_string_value(item), json_string_length(item));
                else if (json_is_integer(item)) {
                    char num[32];
                    snprintf(num, sizeof num, "%lld", (long long)json_integer_value(item));
                    bt__vcr_add_header(arr, n, name, num, strlen(num));
                }
            }
        } else if (json_is_string(v)) {
            bt__vcr_add_header(arr, n, name, json_string_value(v), json_string_length(v));
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

char *bt__vcr_target_of(const char *url)
{
    const char *p = strstr(url, "://");
    if (!p)
        return strdup(url);
    p = strchr(p + 3, '/');
    return strdup(p ? p : "/");
}

int bt__vcr_map(json_t *root, bt__vcr_interaction **items, size_t *n)
{
    json_t *list = json_object_get(root, "interactions");
    if (!json_is_array(list))
        return BT_EPARSE;
    size_t i;
    json_t *x;
    json_array_foreach(list, i, x)
    {
        json_t *req = json_object_get(x, "request"), *resp = json_object_get(x, "response");
        if (!req || !resp)
            continue;
        bt__vcr_interaction it;
        memset(&it, 0, sizeof it);
        const char *method = json_string_value(json_object_get(req, "method"));
        const char *url = json_string_value(json_object_get(req, "url"));
        if (!url)
            url = json_string_value(json_object_get(req, "uri"));
        it.method = strdup(method ? method : "GET");
        it.url = strdup(url ? url : "/");
        it.target = bt__vcr_target_of(it.url);
        bt__vcr_read_headers(json_object_get(req, "headers"), &it.req_headers, &it.n_req_headers, 0);
        read_body(json_object_get(req, "body"), json_object_get(req, "parsed_body"), &it.req_body,
                  &it.req_body_len);
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
        bt__vcr_read_headers(json_object_get(resp, "headers"), &it.resp_headers, &it.n_resp_headers,
                             uncompressed || (parsed && !json_is_null(parsed)));
        read_body(json_object_get(resp, "body"), parsed, &it.resp_body, &it.resp_body_len);
        if (!it.resp_body)
            it.resp_body = strdup("");
        *items = realloc(*items, (*n + 1) * sizeof **items);
        (*items)[(*n)++] = it;
    }
    return 0;
}

static void free_headers(bt__vcr_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(h[i].name);
        free(h[i].value);
    }
    free(h);
}

void bt__vcr_interaction_free(bt__vcr_interaction *it)
{
    free(it->method);
    free(it->url);
    free(it->target);
    free_headers(it->req_headers, it->n_req_headers);
    free(it->req_body);
    free_headers(it->resp_headers, it->n_resp_headers);
    free(it->resp_body);
}

const char *bt__vcr_header_get(const bt__vcr_header *h, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcasecmp(h[i].name, name) == 0)
            return h[i].value;
    return NULL;
}
