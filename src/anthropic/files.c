/*
 * Files API uploads (beta, POST /v1/files): documents and images a Messages request
 * later names by file_id ({"source":{"type":"file","file_id":...}}). The upload itself
 * runs no model, but its span ties a file_id seen in an llm span's input to the file's
 * name, type and size. The uploaded bytes (a multipart body) are not read; the span is
 * built from the response, the file object.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "util/buf.h"

/* A file object is a few hundred bytes. */
#define RESPONSE_MAX ((size_t)64 << 10)

typedef struct files_handler {
    bt__handler base;
    bt__buf response;
} files_handler;

static void on_response_data(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    files_handler *f = (files_handler *)h;
    if (bt__buf_append(&f->response, data, len) != 0)
        ex->is_truncated = 1;
}

static void on_finish(bt__handler *h, bt_exchange *ex, bt_exchange_info *info)
{
    files_handler *f = (files_handler *)h;
    const char *name = "anthropic.beta.files.upload";
    info->span_name = name;
    bt_span *span = bt__exchange_start_span(ex, name, "task");
    json_t *file = ex->status < 300 && f->response.len
        ? bt__json_parse_lenient(f->response.data, f->response.len)
        : NULL;
    json_t *md = json_pack("{s:s}", "provider", "anthropic");
    if (json_is_object(file)) {
        json_t *in = json_object();
        static const char *const shown[] = {"filename", "mime_type", "size_bytes"};
        for (size_t i = 0; i < 3; i++) {
            json_t *v = json_object_get(file, shown[i]);
            if (v)
                json_object_set(in, shown[i], v);
        }
        bt__span_set_json(ex->a, span, "braintrust.input_json", "input", in);
        json_decref(in);
        bt__span_set_json(ex->a, span, "braintrust.output_json", "output", file);
        json_t *id = json_object_get(file, "id");
        if (json_is_string(id))
            json_object_set(md, "file_id", id);
    }
    if (ex->anthropic_beta[0])
        json_object_set_new(md, "anthropic_beta", json_string(ex->anthropic_beta));
    if (ex->request_id[0])
        json_object_set_new(md, "request_id", json_string(ex->request_id));
    if (ex->is_truncated)
        json_object_set_new(md, "truncated", json_true());
    bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, md);
    json_decref(md);
    if (bt__exchange_set_http_error(ex, span, f->response.data, f->response.len)) {
        info->is_error = 1;
    } else if (bt__exchange_set_failure(ex, span)) {
        info->is_error = 1;
    }
    bt_span_end(span, ex->end_unix_nano);
    json_decref(file);
}

static void on_free(bt__handler *h)
{
    files_handler *f = (files_handler *)h;
    bt__buf_free(&f->response);
    free(f);
}

static const bt__handler_ops files_ops = {
    .response_data = on_response_data,
    .finish = on_finish,
    .free = on_free,
};

bt__handler *bt__files_handler_new(bt_exchange *ex)
{
    (void)ex;
    files_handler *f = calloc(1, sizeof *f);
    if (!f)
        return NULL;
    f->base.ops = &files_ops;
    bt__buf_init(&f->response, RESPONSE_MAX);
    return &f->base;
}
