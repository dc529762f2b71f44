/*
 * The exchange lifecycle common to every traced endpoint: routing, timing,
 * secret-free header capture, Content-Encoding inflation of the response (on a copy:
 * the caller's bytes are never touched), and the outcome. Nothing here reports a
 * failure to the caller: a tracing problem degrades the span, never the exchange.
 */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "anthropic/server_address.h"
#include "anthropic/session.h"
#include "decode/inflate.h"
#include "util/buf.h"
#include "util/utf8.h"

/* Longest excerpt of a non-JSON error body kept in the status message. */
#define BT__ERROR_EXCERPT_MAX 200
/* Decoded bytes allowed per body relative to the body limit: streams legitimately
 * decode to more than what is kept (pings, framing), but a decompression bomb stops. */
#define BT__INFLATE_FACTOR 4

static int header_is(const bt_header *h, const char *name)
{
    size_t n = strlen(name);
    return h->name && h->name_len == n && strncasecmp(h->name, name, n) == 0;
}

/* Copies a header value into a fixed field, trimmed; returns 0 when it did not fit
 * (then the field keeps what fits, cut on a UTF-8 boundary). */
static int copy_value(char *dst, size_t dst_size, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    int fits = len < dst_size;
    size_t n = fits ? len : bt__utf8_cut(v, dst_size - 1);
    memcpy(dst, v, n);
    dst[n] = '\0';
    return fits;
}

/* Appends one anthropic-beta value (the header may be repeated or comma-joined). */
static void append_beta(bt_exchange *ex, const char *v, size_t len)
{
    char tmp[sizeof ex->anthropic_beta];
    if (!copy_value(tmp, sizeof tmp, v, len))
        ex->is_truncated = 1;
    if (!tmp[0])
        return;
    size_t have = strlen(ex->anthropic_beta);
    size_t need = strlen(tmp) + (have ? 1 : 0);
    if (have + need >= sizeof ex->anthropic_beta) {
        ex->is_truncated = 1;
        return;
    }
    if (have)
        ex->anthropic_beta[have++] = ',';
    memcpy(ex->anthropic_beta + have, tmp, strlen(tmp) + 1);
}

/* A Content-Length value, or 0 when it is not a plain number: a sizing hint only. */
static size_t content_length(const char *v, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (v[i] == ' ' || v[i] == '\t')
            continue;
        if (v[i] < '0' || v[i] > '9' || n > SIZE_MAX / 10 - 10)
            return 0;
        n = n * 10 + (size_t)(v[i] - '0');
    }
    return n;
}

/* server.address / server.port from an authority; an unusable one leaves them. */
static void set_server(bt_exchange *ex, const char *v, size_t len)
{
    bt__server srv;
    if (bt__server_from_authority(&srv, v, len) != 0)
        return;
    memcpy(ex->server_address, srv.address, sizeof ex->server_address);
    ex->server_port = srv.port;
}

static bt__handler *handler_for(bt_exchange *ex)
{
    switch (ex->route.kind) {
    case BT__ROUTE_MESSAGES:
    case BT__ROUTE_COUNT_TOKENS:
        return bt__messages_handler_new(ex);
    case BT__ROUTE_BATCH_RESULTS:
        return bt__batch_results_handler_new(ex);
    case BT__ROUTE_BATCH_CREATE:
    case BT__ROUTE_BATCH_LIST:
    case BT__ROUTE_BATCH_RETRIEVE:
    case BT__ROUTE_BATCH_CANCEL:
    case BT__ROUTE_BATCH_DELETE:
        return bt__batches_handler_new(ex);
    case BT__ROUTE_SESSION_CREATE:
    case BT__ROUTE_SESSION_EVENTS_SEND:
    case BT__ROUTE_SESSION_EVENTS_LIST:
    case BT__ROUTE_SESSION_EVENTS_STREAM:
        return bt__managed_sessions_handler_new(ex);
    case BT__ROUTE_FILE_UPLOAD:
        return bt__files_handler_new(ex);
    case BT__ROUTE_NONE:
        break;
    }
    return NULL;
}

int bt_exchange_begin(bt_anthropic *a, const char *method, const char *target, const bt_header *headers,
                      size_t n_headers, const bt_exchange_options *opts, bt_exchange **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    if (!a || !method || !target || (n_headers && !headers))
        return BT_EINVAL;
    bt_tracer *t = bt__anthropic_tracer(a);
    if (!bt_tracer_is_enabled(t))
        return BT_OK;

    bt__route route;
    bt__route_match(method, target, strlen(target), &route);
    if (route.kind == BT__ROUTE_NONE)
        return BT_OK;

    bt_exchange *ex = calloc(1, sizeof *ex);
    if (!ex)
        return BT_OK; /* untraced rather than failing the caller */
    ex->a = a;
    ex->route = route;
    snprintf(ex->method, sizeof ex->method, "%s", method);
    ex->start_unix_nano = opts && opts->start_unix_nano ? opts->start_unix_nano : bt_tracer_now(t);
    ex->outcome = BT_EXCHANGE_COMPLETED;

    /* the API server: the one set for this bt_anthropic (a proxy's upstream), else the
     * target's authority, else the Host header */
    const bt__server *upstream = bt__anthropic_upstream(a);
    bt__server srv;
    if (upstream) {
        memcpy(ex->server_address, upstream->address, sizeof ex->server_address);
        ex->server_port = upstream->port;
    } else if (bt__server_from_url(&srv, target, 0) == 0) {
        memcpy(ex->server_address, srv.address, sizeof ex->server_address);
        ex->server_port = srv.port;
    }
    for (size_t i = 0; i < n_headers; i++) {
        const bt_header *h = &headers[i];
        if (!h->value)
            continue;
        if (header_is(h, "anthropic-beta"))
            append_beta(ex, h->value, h->value_len);
        else if (header_is(h, "anthropic-version"))
            copy_value(ex->anthropic_version, sizeof ex->anthropic_version, h->value, h->value_len);
        else if (header_is(h, "host") && !ex->server_address[0])
            set_server(ex, h->value, h->value_len);
        else if (header_is(h, "content-length"))
            ex->request_length = content_length(h->value, h->value_len);
        /* Everything else, x-api-key, authorization and cookies first of all, is
         * deliberately not looked at. */
    }

    if (opts && opts->parent) {
        ex->parent = *opts->parent;
        ex->has_parent = 1;
    }
    if (opts && opts->braintrust_parent && opts->braintrust_parent[0])
        ex->braintrust_parent = strdup(opts->braintrust_parent);
    bt__session_begin(ex, headers, n_headers); /* an agent session's call: under its root */

    ex->handler = handler_for(ex);
    ex->route.query = NULL; /* points into the caller's target: valid only during begin */
    ex->route.query_len = 0;
    if (!ex->handler) {
        bt__session_end(ex);
        free(ex->braintrust_parent);
        free(ex);
        return BT_OK;
    }
    *out = ex;
    return BT_OK;
}

void bt_exchange_request_body(bt_exchange *ex, const void *data, size_t len)
{
    if (!ex || !data || !len || !ex->handler->ops->request_body)
        return;
    ex->handler->ops->request_body(ex->handler, ex, data, len);
}

static int inflated_bytes(void *ud, const char *data, size_t len)
{
    bt_exchange *ex = ud;
    if (ex->handler->ops->response_data)
        ex->handler->ops->response_data(ex->handler, ex, data, len);
    return 0;
}

void bt_exchange_response_headers(bt_exchange *ex, int status, const bt_header *headers, size_t n_headers)
{
    if (!ex || (n_headers && !headers))
        return;
    if (status >= 100 && status < 200)
        return; /* interim responses (100 Continue) say nothing about the result */
    if (ex->status)
        return; /* only the first final response counts */
    ex->status = status > 0 ? status : 0;
    ex->response_start_unix_nano = bt__exchange_now(ex);

    const bt_header *encoding = NULL;
    for (size_t i = 0; i < n_headers; i++) {
        const bt_header *h = &headers[i];
        if (!h->value)
            continue;
        if (header_is(h, "request-id"))
            copy_value(ex->request_id, sizeof ex->request_id, h->value, h->value_len);
        else if (header_is(h, "content-type"))
            copy_value(ex->content_type, sizeof ex->content_type, h->value, h->value_len);
        else if (header_is(h, "content-encoding"))
            encoding = h;
        else if (header_is(h, "content-length"))
            ex->response_length = content_length(h->value, h->value_len);
    }
    ex->is_event_stream = strncasecmp(ex->content_type, "text/event-stream", 17) == 0;

    if (encoding) {
        bt__coding coding;
        if (bt__coding_parse(encoding->value, encoding->value_len, &coding) != BT_OK) {
            char enc[48];
            copy_value(enc, sizeof enc, encoding->value, encoding->value_len);
            snprintf(ex->decode_error, sizeof ex->decode_error, "unsupported content-encoding: %s", enc);
            ex->is_truncated = 1;
        } else if (coding != BT__CODING_IDENTITY) {
            /* Results are consumed line by line and never held, so their decoded size
             * needs no cap; every other handler keeps at most the body limit. */
            size_t limit = bt__anthropic_body_limit(ex->a);
            size_t max_out =
                ex->route.kind == BT__ROUTE_BATCH_RESULTS || limit > SIZE_MAX / BT__INFLATE_FACTOR
                ? 0
                : limit * BT__INFLATE_FACTOR;
            ex->inflater = bt__inflate_new(coding, max_out, inflated_bytes, ex);
            if (!ex->inflater) {
                snprintf(ex->decode_error, sizeof ex->decode_error, "out of memory for the inflater");
                ex->is_truncated = 1;
            }
        }
    }
    if (ex->handler->ops->response_start)
        ex->handler->ops->response_start(ex->handler, ex);
}

void bt_exchange_response_body(bt_exchange *ex, const void *data, size_t len)
{
    if (!ex || !data || !len || ex->decode_error[0])
        return;
    if (!ex->inflater) {
        inflated_bytes(ex, data, len);
        return;
    }
    int rc = bt__inflate_feed(ex->inflater, data, len);
    if (rc == BT_EPARSE) {
        snprintf(ex->decode_error, sizeof ex->decode_error, "corrupt compressed response body");
        ex->is_truncated = 1;
    } else if (rc == BT_ELIMIT) {
        snprintf(ex->decode_error, sizeof ex->decode_error, "decompressed response body over the limit");
        ex->is_truncated = 1;
    }
}

void bt_exchange_end(bt_exchange *ex, bt_exchange_outcome outcome, bt_exchange_info *info)
{
    if (info) {
        memset(info, 0, sizeof *info);
        info->input_tokens = -1;
        info->output_tokens = -1;
    }
    if (!ex)
        return;
    if (ex->inflater) {
        if (outcome == BT_EXCHANGE_COMPLETED && !ex->decode_error[0] &&
            bt__inflate_finish(ex->inflater) != BT_OK) {
            snprintf(ex->decode_error, sizeof ex->decode_error, "compressed response body cut short");
            ex->is_truncated = 1;
        }
        bt__inflate_free(ex->inflater);
        ex->inflater = NULL;
    }
    ex->outcome = outcome;
    ex->end_unix_nano = bt__exchange_now(ex);
    if (ex->end_unix_nano < ex->start_unix_nano)
        ex->end_unix_nano = ex->start_unix_nano;
    bt_exchange_info local;
    if (!info) {
        memset(&local, 0, sizeof local);
        info = &local;
    }
    if (ex->handler->ops->finish)
        ex->handler->ops->finish(ex->handler, ex, info);
    if (ex->handler->ops->free)
        ex->handler->ops->free(ex->handler);
    bt__session_end(ex);
    free(ex->braintrust_parent);
    free(ex);
}

uint64_t bt__exchange_now(const bt_exchange *ex)
{
    return ex->fed_at_unix_nano ? ex->fed_at_unix_nano : bt_tracer_now(bt__anthropic_tracer(ex->a));
}

void bt_exchange_set_time(bt_exchange *ex, uint64_t unix_nano)
{
    if (ex)
        ex->fed_at_unix_nano = unix_nano;
}

void bt_exchange_lost(bt_exchange *ex, const char *reason)
{
    if (!ex || ex->decode_error[0])
        return;
    snprintf(ex->decode_error, sizeof ex->decode_error, "%s",
             reason && *reason ? reason : "the rest of the exchange was not observed");
    ex->is_truncated = 1;
}

void bt_exchange_abort(bt_exchange *ex, const char *reason, bt_exchange_info *info)
{
    if (ex)
        snprintf(ex->abort_status, sizeof ex->abort_status, "aborted: %s",
                 reason && *reason ? reason : "cut by the caller");
    bt_exchange_end(ex, BT_EXCHANGE_ABORTED, info);
}

void bt_exchange_fail(bt_exchange *ex, const char *reason, bt_exchange_info *info)
{
    if (ex && reason && *reason)
        snprintf(ex->abort_status, sizeof ex->abort_status, "transport_error: %s", reason);
    bt_exchange_end(ex, BT_EXCHANGE_TRANSPORT_ERROR, info);
}

const char *bt__exchange_cut(const bt_exchange *ex, const char **message)
{
    if (ex->outcome == BT_EXCHANGE_CLIENT_CANCELLED) {
        *message = "client_cancelled: the client went away before the end";
        return "client_cancelled";
    }
    if (ex->outcome == BT_EXCHANGE_ABORTED) {
        *message = ex->abort_status[0] ? ex->abort_status : "aborted: cut by the caller";
        return "aborted";
    }
    if (ex->outcome == BT_EXCHANGE_TRANSPORT_ERROR && ex->abort_status[0]) {
        *message = ex->abort_status;
        return "transport_error";
    }
    return NULL;
}

const char *bt__exchange_failure(const bt_exchange *ex, const char **message)
{
    const char *type = bt__exchange_cut(ex, message);
    if (!type && (ex->outcome == BT_EXCHANGE_TRANSPORT_ERROR || ex->status == 0)) {
        type = "transport_error";
        *message =
            ex->status ? "transport_error: the response was cut short" : "transport_error: no response";
    }
    return type;
}

int bt__exchange_set_failure(const bt_exchange *ex, bt_span *span)
{
    const char *message = NULL, *type = bt__exchange_failure(ex, &message);
    if (!type)
        return 0;
    bt_span_set_status(span, BT_STATUS_ERROR, message);
    bt_span_set_string(span, "error.type", type);
    return 1;
}

bt_span_options bt__exchange_span_options(const bt_exchange *ex)
{
    bt_span_options o = {0};
    o.parent = ex->has_parent ? &ex->parent : NULL;
    o.start_unix_nano = ex->start_unix_nano;
    o.kind = BT_SPAN_KIND_CLIENT;
    return o;
}

bt_span *bt__exchange_start_span(bt_exchange *ex, const char *name, const char *type)
{
    if (!ex || !name)
        return NULL;
    bt_span_options o = bt__exchange_span_options(ex);
    bt_span *span = bt_span_start(bt__anthropic_tracer(ex->a), name, &o);
    if (!span)
        return NULL;
    if (ex->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", ex->braintrust_parent);
    bt__span_set_span_attributes(span, type ? type : "task", name);
    return span;
}

/* A readable excerpt of a non-JSON body (a gateway's HTML page): tags dropped,
 * whitespace collapsed, invalid UTF-8 skipped, at most BT__ERROR_EXCERPT_MAX bytes. */
static void body_excerpt(const char *body, size_t len, char *out, size_t out_size)
{
    size_t o = 0, i = 0;
    int in_tag = 0, space = 1;
    size_t cap = out_size - 1 < BT__ERROR_EXCERPT_MAX ? out_size - 1 : BT__ERROR_EXCERPT_MAX;
    while (i < len && o < cap) {
        unsigned char c = (unsigned char)body[i];
        if (c == '<') {
            in_tag = 1;
            i++;
            continue;
        }
        if (in_tag) {
            in_tag = c != '>';
            if (!in_tag && !space && o < cap) {
                out[o++] = ' ';
                space = 1;
            }
            i++;
            continue;
        }
        if (c < 0x80) {
            if (isspace(c) || c < 0x20) {
                if (!space)
                    out[o++] = ' ';
                space = 1;
            } else {
                out[o++] = (char)c;
                space = 0;
            }
            i++;
            continue;
        }
        size_t n = bt__utf8_valid_prefix_len((const unsigned char *)body + i, len - i);
        if (n == 0) {
            i++;
            continue;
        }
        if (o + n > cap)
            break;
        memcpy(out + o, body + i, n);
        o += n;
        i += n;
        space = 0;
    }
    while (o && out[o - 1] == ' ')
        o--;
    out[o] = '\0';
}

int bt__exchange_http_error(bt_exchange *ex, const char *body, size_t len, bt__http_error *out)
{
    if (!ex || ex->status < 400)
        return 0;
    snprintf(out->type, sizeof out->type, "%d", ex->status);
    json_t *root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    json_t *err = json_object_get(root, "error");
    const char *etype = json_string_value(json_object_get(err, "type"));
    if (etype && etype[0]) {
        const char *emsg = json_string_value(json_object_get(err, "message"));
        snprintf(out->type, sizeof out->type, "%s", etype);
        if (emsg && emsg[0])
            snprintf(out->message, sizeof out->message, "%s: %s", etype, emsg);
        else
            snprintf(out->message, sizeof out->message, "%s", etype);
        const char *rid = json_string_value(json_object_get(root, "request_id"));
        if (rid && !ex->request_id[0])
            snprintf(ex->request_id, sizeof ex->request_id, "%s", rid);
    } else {
        char excerpt[BT__ERROR_EXCERPT_MAX + 1];
        body_excerpt(body ? body : "", body ? len : 0, excerpt, sizeof excerpt);
        if (excerpt[0])
            snprintf(out->message, sizeof out->message, "HTTP %d: %s", ex->status, excerpt);
        else
            snprintf(out->message, sizeof out->message, "HTTP %d", ex->status);
    }
    json_decref(root);
    /* snprintf may have cut a UTF-8 sequence in the middle */
    out->message[bt__utf8_cut(out->message, strlen(out->message))] = '\0';
    return 1;
}

int bt__exchange_set_http_error(bt_exchange *ex, bt_span *span, const char *body, size_t len)
{
    bt__http_error e;
    if (!bt__exchange_http_error(ex, body, len, &e))
        return 0;
    bt_span_set_status(span, BT_STATUS_ERROR, e.message);
    bt_span_set_string(span, "error.type", e.type);
    return 1;
}
