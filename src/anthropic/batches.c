/*
 * Lifecycle spans of Message Batches calls: create, retrieve, list, cancel, delete
 * (type task, "?beta=true" variants included). Beyond the span, every call feeds the
 * batch trace: create stores each request's traceable input in the correlation store
 * (staged under a per-exchange key while the request streams, moved to the batch id
 * once the response names it), and every batch object seen is remembered for the
 * batch trace's times and counts. That work happens with lifecycle spans off too.
 */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "anthropic/json_util.h"
#include "anthropic/batch_object.h"
#include "anthropic/batch_requests.h"
#include "anthropic/batch_trace.h"
#include "anthropic/correlation.h"
#include "anthropic/exchange_internal.h"
#include "util/buf.h"
#include "util/text.h"

/* A list of 1000 batches is about 400 KB. */
#define RESPONSE_MAX ((size_t)2 << 20)
/* Batches shown (and linked) in a list span. */
#define LIST_SHOWN 100

typedef struct batches_handler {
    bt__handler base;
    bt__batch_requests *reqs; /* create only */
    char staging_key[64];
    int request_error;   /* the create body could not be split */
    json_t *list_params; /* list only: limit / before_id / after_id from the query */
    bt__buf response;
} batches_handler;

static void on_request_body(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    (void)ex;
    batches_handler *b = (batches_handler *)h;
    if (b->reqs && !b->request_error && bt__batch_requests_feed(b->reqs, data, len) != BT_OK)
        b->request_error = 1;
}

static void on_response_data(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    batches_handler *b = (batches_handler *)h;
    if (bt__buf_append(&b->response, data, len) == BT_ELIMIT)
        ex->is_truncated = 1;
}

static void link_batch(bt_span *span, const char *batch_id)
{
    bt_span_context ctx;
    bt__batch_span_context(batch_id, &ctx);
    bt_kv attr = {"anthropic.batch.id", batch_id};
    bt_span_add_link(span, &ctx, &attr, 1);
}

static void add_status_and_counts(json_t *meta, json_t *batch)
{
    json_t *v = json_object_get(batch, "processing_status");
    if (json_is_string(v))
        json_object_set(meta, "processing_status", v);
    if (json_is_object(v = json_object_get(batch, "request_counts")))
        json_object_set(meta, "request_counts", v);
}

/* The create call: its requests go to the store under the batch id from the response. */
static void finish_create(batches_handler *b, bt_exchange *ex, json_t *resp, json_t *meta, json_t **input)
{
    struct bt__correlation *store = bt__anthropic_correlation(ex->a);
    json_t *id = json_object_get(resp, "id");
    int ok =
        ex->status >= 200 && ex->status < 300 && json_is_string(id) && ex->outcome == BT_EXCHANGE_COMPLETED;
    if (b->reqs && !b->request_error && bt__batch_requests_finish(b->reqs) != BT_OK)
        b->request_error = 1;
    if (ok) {
        bt__correlation_rekey(store, b->staging_key, json_string_value(id));
        bt__batch_object_remember(store, resp);
    } else {
        bt__correlation_drop(store, b->staging_key);
    }
    if (!b->reqs)
        return;
    *input = bt__batch_requests_summary(b->reqs);
    const bt__batch_requests_stats *st = bt__batch_requests_get_stats(b->reqs);
    json_object_set_new(meta, "num_requests", json_integer((json_int_t)st->requests));
    json_t *models = bt__batch_requests_models(b->reqs);
    if (json_array_size(models) == 1)
        json_object_set(meta, "model", json_array_get(models, 0));
    else if (json_array_size(models) > 1)
        json_object_set(meta, "models", models);
    if (bt__batch_requests_models_truncated(b->reqs))
        json_object_set_new(meta, "models_truncated", json_true());
    if (st->invalid)
        json_object_set_new(meta, "invalid_requests", json_integer((json_int_t)st->invalid));
    if (st->truncated)
        json_object_set_new(meta, "requests_truncated", json_integer((json_int_t)st->truncated));
    if (st->not_stored)
        json_object_set_new(meta, "requests_not_stored", json_integer((json_int_t)st->not_stored));
    if (b->request_error) {
        json_object_set_new(meta, "request_parse_error", json_true());
        json_object_set_new(meta, "truncated", json_true());
    }
}

/* A list response: remember each batch, show (and link) the first LIST_SHOWN. */
static json_t *finish_list(bt_exchange *ex, bt_span *span, json_t *resp, json_t *meta)
{
    json_t *data = json_object_get(resp, "data");
    json_t *shown = json_array(), *ids = json_array();
    size_t i;
    json_t *batch;
    json_array_foreach(data, i, batch)
    {
        bt__batch_object_remember(bt__anthropic_correlation(ex->a), batch);
        json_t *id = json_object_get(batch, "id");
        if (i >= LIST_SHOWN || !json_is_string(id))
            continue;
        json_array_append_new(shown, bt__batch_object_summary(batch));
        json_array_append(ids, id);
        link_batch(span, json_string_value(id));
    }
    json_object_set_new(meta, "num_batches", json_integer((json_int_t)json_array_size(data)));
    json_object_set_new(meta, "batch_ids", ids);
    if (json_array_size(data) > LIST_SHOWN)
        json_object_set_new(meta, "batches_truncated", json_true());
    json_t *out = json_pack("{s:o}", "data", shown);
    static const char *const PAGING[] = {"has_more", "first_id", "last_id"};
    for (size_t k = 0; k < 3; k++) {
        json_t *v = json_object_get(resp, PAGING[k]);
        if (v)
            json_object_set(out, PAGING[k], v);
    }
    return out;
}

static void on_finish(bt__handler *h, bt_exchange *ex, bt_exchange_info *info)
{
    batches_handler *b = (batches_handler *)h;
    bt__route_kind kind = ex->route.kind;
    json_t *resp = NULL;
    if (b->response.len && !b->response.truncated)
        resp = json_loadb(b->response.data, b->response.len, 0, NULL);
    int success = ex->status >= 200 && ex->status < 300 && ex->outcome == BT_EXCHANGE_COMPLETED;
    int lifecycle = bt__anthropic_lifecycle_enabled(ex->a);
    const char *name = bt__route_span_name(kind);
    bt_span *span = lifecycle ? bt__exchange_start_span(ex, name, "task") : NULL;

    json_t *meta = json_pack("{s:s}", "provider", "anthropic");
    json_t *input = NULL, *output = NULL;
    const char *batch_id = ex->route.batch_id[0] ? ex->route.batch_id : NULL;
    if (batch_id)
        input = json_pack("{s:s}", "message_batch_id", batch_id);

    if (kind == BT__ROUTE_BATCH_CREATE) {
        finish_create(b, ex, success ? resp : NULL, meta, &input);
        json_t *id = json_object_get(resp, "id");
        if (success && json_is_string(id))
            batch_id = json_string_value(id);
    } else if (kind == BT__ROUTE_BATCH_LIST) {
        input = json_incref(b->list_params);
        if (success && json_is_object(resp))
            output = finish_list(ex, span, resp, meta);
    } else if (kind != BT__ROUTE_BATCH_DELETE && success) {
        bt__batch_object_remember(bt__anthropic_correlation(ex->a), resp);
    }

    if (span) {
        if (batch_id) {
            json_object_set_new(meta, "batch_id", json_string(batch_id));
            link_batch(span, batch_id);
        }
        if (success && json_is_object(resp)) {
            if (kind == BT__ROUTE_BATCH_DELETE)
                output = json_incref(resp);
            else if (kind != BT__ROUTE_BATCH_LIST) {
                output = bt__batch_object_summary(resp);
                add_status_and_counts(meta, resp);
            }
        }
        if (ex->route.beta)
            json_object_set_new(meta, "beta", json_true());
        if (ex->anthropic_beta[0])
            json_object_set_new(meta, "anthropic_beta", json_string(ex->anthropic_beta));
        if (ex->request_id[0])
            json_object_set_new(meta, "request_id", json_string(ex->request_id));
        if (ex->is_truncated || b->response.truncated)
            json_object_set_new(meta, "truncated", json_true());
        if (!bt__exchange_set_http_error(ex, span, b->response.data, b->response.len) &&
            ex->outcome != BT_EXCHANGE_COMPLETED)
            bt__exchange_set_failure(ex, span);
        if (input)
            bt__span_set_json(ex->a, span, "braintrust.input_json", "input", input);
        if (output)
            bt__span_set_json(ex->a, span, "braintrust.output_json", "output", output);
        bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, meta);
        bt_span_end(span, ex->end_unix_nano);
        info->span_name = name;
    }
    info->is_error = !success;
    json_decref(input);
    json_decref(output);
    json_decref(meta);
    json_decref(resp);
}

static void on_free(bt__handler *h)
{
    batches_handler *b = (batches_handler *)h;
    bt__batch_requests_free(b->reqs);
    json_decref(b->list_params);
    bt__buf_free(&b->response);
    free(b);
}

static const bt__handler_ops OPS = {
    .request_body = on_request_body,
    .response_data = on_response_data,
    .finish = on_finish,
    .free = on_free,
};

bt__handler *bt__batches_handler_new(bt_exchange *ex)
{
    batches_handler *b = calloc(1, sizeof *b);
    if (!b)
        return NULL;
    b->base.ops = &OPS;
    bt__buf_init(&b->response, RESPONSE_MAX);
    if (ex->route.kind == BT__ROUTE_BATCH_LIST) {
        /* The query is readable only now (it points into the caller's target). */
        b->list_params = json_object();
        static const char *const PARAMS[] = {"limit", "before_id", "after_id"};
        for (size_t i = 0; i < 3; i++) {
            char v[BT__BATCH_ID_MAX];
            if (!ex->route.query ||
                !bt__query_get(ex->route.query, ex->route.query_len, PARAMS[i], v, sizeof v))
                continue;
            char *end;
            long n = strtol(v, &end, 10);
            json_object_set_new(b->list_params, PARAMS[i],
                                i == 0 && v[0] && *end == '\0' ? json_integer(n) : json_string(v));
        }
    }
    if (ex->route.kind == BT__ROUTE_BATCH_CREATE) {
        /* A key no batch id can take, unique per exchange (processes may share a store). */
        static atomic_uint_fast64_t counter;
        uint8_t r[8];
        uint64_t seed[3] = {ex->start_unix_nano, (uint64_t)atomic_fetch_add(&counter, 1), (uint64_t)getpid()};
        bt_derive_id("anthropic:batch:staging", seed, sizeof seed, r, sizeof r);
        memcpy(b->staging_key, "staging:", 8);
        bt__hex_encode(r, sizeof r, b->staging_key + 8);
        b->reqs = bt__batch_requests_new(bt__anthropic_correlation(ex->a), b->staging_key);
        if (!b->reqs) {
            on_free(&b->base);
            return NULL;
        }
    }
    return &b->base;
}
