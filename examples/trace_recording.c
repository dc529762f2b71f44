/*
 * Feeds a recorded exchange into the library and prints the span(s) it produces, with
 * no network at all.
 *
 *   example_trace_recording [--jsonl PATH] RECORDING
 *
 * RECORDING is either a JSON exchange
 *   {"request":{"method","target","headers":{name:value},"body":<string or JSON>},
 *    "response":{"status","headers":{name:value},"body":<string>}}
 * (see examples/recordings/) or a raw response body: SSE text ("event:"/"data:" lines)
 * or a JSON message, paired with a minimal Messages request. Spans go to the console
 * sink on stderr, or as OTLP JSON lines to PATH with --jsonl.
 */
/* strdup() is POSIX, not C11: ask for it, so `cc -std=c11` builds this file as it is. */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "braintrust/braintrust.h"

#define MAX_HEADERS 64

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 65536, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = cap < ((size_t)256 << 20) ? realloc(buf, cap * 2 + 1) : NULL;
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (buf)
        buf[n] = '\0';
    *len = n;
    return buf;
}

/* {name: value} -> bt_header array borrowing the strings; returns the count. */
static size_t headers_of(json_t *obj, bt_header *out)
{
    size_t n = 0;
    const char *k;
    json_t *v;
    json_object_foreach(obj, k, v)
    {
        if (n < MAX_HEADERS && json_is_string(v))
            out[n++] = (bt_header){k, strlen(k), json_string_value(v), json_string_length(v)};
    }
    return n;
}

static int replay(bt_anthropic *a, json_t *rec)
{
    json_t *rq = json_object_get(rec, "request"), *rs = json_object_get(rec, "response");
    const char *method = json_string_value(json_object_get(rq, "method"));
    const char *target = json_string_value(json_object_get(rq, "target"));
    bt_header rqh[MAX_HEADERS], rsh[MAX_HEADERS];
    size_t n_rqh = headers_of(json_object_get(rq, "headers"), rqh);
    size_t n_rsh = headers_of(json_object_get(rs, "headers"), rsh);

    bt_exchange *ex = NULL;
    bt_exchange_begin(a, method ? method : "POST", target ? target : "/v1/messages", rqh, n_rqh, NULL, &ex);
    if (!ex) {
        fprintf(stderr, "%s %s is not a traced endpoint\n", method, target);
        return 1;
    }
    json_t *body = json_object_get(rq, "body");
    char *text = json_is_string(body) ? strdup(json_string_value(body))
        : body                        ? json_dumps(body, JSON_COMPACT)
                                      : NULL;
    if (text)
        bt_exchange_request_body(ex, text, strlen(text));
    free(text);
    int status = (int)json_integer_value(json_object_get(rs, "status"));
    bt_exchange_response_headers(ex, status ? status : 200, rsh, n_rsh);
    json_t *rbody = json_object_get(rs, "body");
    text = json_is_string(rbody) ? strdup(json_string_value(rbody))
        : rbody                  ? json_dumps(rbody, JSON_COMPACT)
                                 : NULL;
    /* in small pieces, as a network would deliver it */
    for (size_t i = 0, len = text ? strlen(text) : 0; i < len; i += 512)
        bt_exchange_response_body(ex, text + i, len - i < 512 ? len - i : 512);
    free(text);
    bt_exchange_info info;
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, &info);
    fprintf(stderr, "traced %s: model=%s input_tokens=%lld output_tokens=%lld%s\n", info.span_name,
            info.model, (long long)info.input_tokens, (long long)info.output_tokens,
            info.is_error ? " (error)" : "");
    return 0;
}

int main(int argc, char **argv)
{
    const char *jsonl = NULL, *path = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--jsonl") && i + 1 < argc)
            jsonl = argv[++i];
        else
            path = argv[i];
    }
    if (!path) {
        fprintf(stderr, "usage: %s [--jsonl PATH] RECORDING\n", argv[0]);
        return 2;
    }
    size_t len;
    char *data = read_file(path, &len);
    if (!data) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    json_t *rec = json_loadb(data, len, 0, NULL);
    if (!json_is_object(json_object_get(rec, "request"))) {
        /* a raw response body: pair it with a minimal request */
        int sse = !strncmp(data, "event:", 6) || !strncmp(data, "data:", 5) || strstr(data, "\nevent:");
        json_decref(rec);
        rec = json_pack("{s:{s:s,s:s,s:{s:s},s:{s:s,s:i,s:b,s:[{s:s,s:s}]}},s:{s:i,s:{s:s},s:s%}}", "request",
                        "method", "POST", "target", "/v1/messages", "headers", "content-type",
                        "application/json", "body", "model", "recorded", "max_tokens", 1024, "stream", sse,
                        "messages", "role", "user", "content", "(recorded request not available)", "response",
                        "status", 200, "headers", "content-type",
                        sse ? "text/event-stream" : "application/json", "body", data, len);
    }
    free(data);

    bt_tracer *t = NULL;
    bt_sink *sink = NULL;
    bt_anthropic *a = NULL;
    int rc = bt_tracer_new(&t);
    if (rc == BT_OK)
        rc = jsonl ? bt_sink_jsonl_new(jsonl, &sink) : bt_sink_console_new(&sink);
    if (rc == BT_OK)
        rc = bt_tracer_add_sink(t, sink);
    if (rc == BT_OK)
        rc = bt_tracer_start(t);
    if (rc == BT_OK)
        rc = bt_anthropic_new(t, &a);
    if (rc != BT_OK || !rec) {
        fprintf(stderr, "setup failed: %s\n", rc != BT_OK ? bt_strerror(rc) : "bad recording");
        json_decref(rec);
        bt_tracer_free(t);
        return 1;
    }
    int status = replay(a, rec);
    json_decref(rec);
    bt_anthropic_free(a);
    rc = bt_tracer_flush(t, 10000);
    if (rc != BT_OK) {
        fprintf(stderr, "spans not delivered: %s\n", bt_strerror(rc));
        status = 1;
    }
    bt_tracer_free(t);
    return status;
}
