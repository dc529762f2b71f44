/*
 * GET /v1/messages/batches/{id}/results: the batch trace (batch_trace.c) built from the
 * decoded JSONL as it streams, plus the lifecycle task span
 * "anthropic.messages.batches.results" with counts by result type and summed token
 * metrics, linked to the batch span. An error response produces no batch trace.
 */
#include <stdio.h>
#include <stdlib.h>

#include <jansson.h>

#include "anthropic/json_util.h"
#include "anthropic/batch_trace.h"
#include "anthropic/exchange_internal.h"
#include "util/buf.h"

#define ERROR_BODY_MAX ((size_t)64 << 10)

typedef struct results_handler {
    bt__handler base;
    bt__batch_trace *trace; /* set once a 2xx response starts */
    bt__buf error_body;
} results_handler;

/* When the results bytes being read were seen (bt_exchange_set_time, else now): the
 * batch trace's times when the batch object gives none. */
static uint64_t read_time(void *ex)
{
    return bt__exchange_now(ex);
}

static void on_response_start(bt__handler *h, bt_exchange *ex)
{
    results_handler *r = (results_handler *)h;
    if (ex->status >= 200 && ex->status < 300 && ex->route.batch_id[0])
        r->trace = bt__batch_trace_new(ex->a, ex->route.batch_id, ex->braintrust_parent, ex->server_address,
                                       ex->server_port, read_time, ex);
}

static void on_response_data(bt__handler *h, bt_exchange *ex, const char *data, size_t len)
{
    (void)ex;
    results_handler *r = (results_handler *)h;
    if (r->trace)
        bt__batch_trace_feed(r->trace, data, len);
    else
        bt__buf_append(&r->error_body, data, len);
}

/* Why the stream did not reach its end, or NULL. */
static const char *incomplete_reason(const bt_exchange *ex)
{
    if (ex->decode_error[0])
        return ex->decode_error;
    if (ex->outcome == BT_EXCHANGE_TRANSPORT_ERROR)
        return ex->abort_status[0] ? ex->abort_status : "the connection broke before the end of the results";
    if (ex->outcome == BT_EXCHANGE_CLIENT_CANCELLED)
        return "the client stopped reading before the end of the results";
    if (ex->outcome == BT_EXCHANGE_ABORTED)
        return ex->abort_status;
    return NULL;
}

static json_t *counts_json(const bt__batch_counts *c)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "succeeded", (json_int_t)c->succeeded, "errored",
                     (json_int_t)c->errored, "canceled", (json_int_t)c->canceled, "expired",
                     (json_int_t)c->expired);
}

static void on_finish(bt__handler *h, bt_exchange *ex, bt_exchange_info *info)
{
    results_handler *r = (results_handler *)h;
    const char *incomplete = incomplete_reason(ex);
    if (r->trace) {
        bt__batch_trace_finish(r->trace, incomplete);
        incomplete = bt__batch_trace_incomplete(r->trace);
    }
    info->is_error = !r->trace || incomplete != NULL;
    if (r->trace) {
        info->input_tokens = bt__batch_trace_metric(r->trace, "prompt_tokens");
        info->output_tokens = bt__batch_trace_metric(r->trace, "completion_tokens");
        info->span_name = "anthropic.batch";
    }
    if (!bt__anthropic_lifecycle_enabled(ex->a))
        return;

    const char *name = bt__route_span_name(ex->route.kind);
    bt_span *span = bt__exchange_start_span(ex, name, "task");
    if (!span)
        return;
    info->span_name = name;
    const char *batch_id = ex->route.batch_id;
    bt_span_context ctx;
    bt__batch_span_context(batch_id, &ctx);
    bt_kv attr = {"anthropic.batch.id", batch_id};
    bt_span_add_link(span, &ctx, &attr, 1);

    json_t *input = json_pack("{s:s}", "message_batch_id", batch_id);
    json_t *meta = json_pack("{s:s,s:s}", "provider", "anthropic", "batch_id", batch_id);
    if (ex->route.beta)
        json_object_set_new(meta, "beta", json_true());
    if (ex->anthropic_beta[0])
        json_object_set_new(meta, "anthropic_beta", json_string(ex->anthropic_beta));
    if (ex->request_id[0])
        json_object_set_new(meta, "request_id", json_string(ex->request_id));
    if (r->trace) {
        const bt__batch_counts *c = bt__batch_trace_counts(r->trace);
        json_t *output = json_pack("{s:s,s:I,s:o}", "type", "jsonl", "num_results", (json_int_t)c->results,
                                   "results", counts_json(c));
        json_object_set_new(meta, "results", counts_json(c));
        json_object_set_new(meta, "invalid_lines", json_integer((json_int_t)c->invalid));
        json_object_set_new(meta, "duplicate_ids", json_integer((json_int_t)c->duplicate));
        json_object_set_new(meta, "unknown_ids", json_integer((json_int_t)c->unknown));
        json_object_set_new(meta, "oversized_lines", json_integer((json_int_t)c->oversized));
        bt__span_set_json(ex->a, span, "braintrust.output_json", "output", output);
        json_decref(output);
        bt__batch_trace_set_metrics(r->trace, ex->a, span);
        if (bt__batch_trace_metrics_saturated(r->trace))
            json_object_set_new(meta, "token_counts_saturated", json_true());
    }
    if (!bt__exchange_set_http_error(ex, span, r->error_body.data, r->error_body.len) && incomplete) {
        char msg[256];
        snprintf(msg, sizeof msg, "incomplete_results: %s", incomplete);
        bt_span_set_status(span, BT_STATUS_ERROR, msg);
        bt_span_set_string(span, "error.type", "incomplete_results");
    }
    if (incomplete || ex->is_truncated)
        json_object_set_new(meta, "truncated", json_true());
    bt__span_set_json(ex->a, span, "braintrust.input_json", "input", input);
    bt__span_set_json(ex->a, span, "braintrust.metadata", NULL, meta);
    bt_span_end(span, ex->end_unix_nano);
    json_decref(input);
    json_decref(meta);
}

static void on_free(bt__handler *h)
{
    results_handler *r = (results_handler *)h;
    bt__batch_trace_free(r->trace);
    bt__buf_free(&r->error_body);
    free(r);
}

static const bt__handler_ops OPS = {
    .response_start = on_response_start,
    .response_data = on_response_data,
    .finish = on_finish,
    .free = on_free,
};

bt__handler *bt__batch_results_handler_new(bt_exchange *ex)
{
    (void)ex;
    results_handler *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->base.ops = &OPS;
    bt__buf_init(&r->error_body, ERROR_BODY_MAX);
    return &r->base;
}
