/* The batch trace from a results stream (see batch_trace.h). */
#include "anthropic/batch_trace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "anthropic/batch_split.h"
#include "anthropic/correlation.h"
#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "anthropic/llm_span.h"
#include "decode/ndjson.h"
#include "util/timefmt.h"

#define NS_TRACE "anthropic:batch:trace"
#define NS_SPAN "anthropic:batch:span"
#define NS_CHILD "anthropic:batch:child"

struct bt__batch_trace {
    bt_anthropic *a;
    bt_tracer *tracer;
    uint64_t (*clock)(void *); /* or NULL: the tracer's */
    void *clock_ud;
    char batch_id[BT__BATCH_ID_MAX];
    char *braintrust_parent;
    bt_span_context ctx;       /* the batch span's */
    uint64_t start_ns, end_ns; /* end 0: ended_at unknown */
    json_t *batch;             /* latest batch object seen, or NULL */
    bt__ndjson *lines;
    bt__batch_counts counts;
    bt__jobj metrics;      /* summed over the succeeded children */
    int metrics_saturated; /* a sum passed INT64_MAX and stays there */
    uint64_t *seen;        /* open addressing set of child span ids (0 = empty) */
    size_t seen_slots, seen_used;
    char server_address[256]; /* the results call's API server, "" when not observed */
    int server_port;
    char incomplete[192]; /* why the stream did not reach its end; "" if it did */
    char last_byte;       /* of the stream so far, to tell a cut last line */
    int finished;
};

void bt__batch_span_context(const char *batch_id, bt_span_context *out)
{
    memset(out, 0, sizeof *out);
    bt_derive_id(NS_TRACE, batch_id, strlen(batch_id), out->trace_id, sizeof out->trace_id);
    bt_derive_id(NS_SPAN, batch_id, strlen(batch_id), out->span_id, sizeof out->span_id);
    out->trace_flags = 1;
}

static void child_span_id(const char *batch_id, const char *custom_id, uint8_t out[8])
{
    char key[BT__BATCH_ID_MAX + 1 + BT__BATCH_CUSTOM_ID_MAX + 1];
    size_t blen = strlen(batch_id), clen = strlen(custom_id);
    memcpy(key, batch_id, blen);
    key[blen] = '\0';
    memcpy(key + blen + 1, custom_id, clen);
    bt_derive_id(NS_CHILD, key, blen + 1 + clen, out, 8);
}

static uint64_t time_field(json_t *batch, const char *key)
{
    json_t *v = json_object_get(batch, key);
    uint64_t ns = 0;
    if (json_is_string(v) && bt__rfc3339_parse(json_string_value(v), json_string_length(v), &ns) == BT_OK)
        return ns;
    return 0;
}

static uint64_t now_ns(const bt__batch_trace *t)
{
    return t->clock ? t->clock(t->clock_ud) : bt_tracer_now(t->tracer);
}

/* The end time of a span produced now: ended_at when known, else now; never before start. */
static uint64_t end_time(const bt__batch_trace *t)
{
    uint64_t end = t->end_ns ? t->end_ns : now_ns(t);
    return end < t->start_ns ? t->start_ns : end;
}

/* 1 if the id was already seen; otherwise records it (while the set has room). */
static int seen_before(bt__batch_trace *t, const uint8_t id[8])
{
    uint64_t key;
    memcpy(&key, id, sizeof key);
    if (key == 0)
        key = 1;
    if (!t->seen) {
        t->seen_slots = 1024;
        t->seen = calloc(t->seen_slots, sizeof *t->seen);
        if (!t->seen)
            return 0;
    }
    if (t->seen_used * 2 >= t->seen_slots) {
        if (t->seen_slots * 2 > BT__BATCH_SEEN_MAX * 2)
            return 0; /* full: stop tracking rather than grow without bound */
        size_t n = t->seen_slots * 2;
        uint64_t *grown = calloc(n, sizeof *grown);
        if (!grown)
            return 0;
        for (size_t i = 0; i < t->seen_slots; i++) {
            if (!t->seen[i])
                continue;
            size_t j = t->seen[i] & (n - 1);
            while (grown[j])
                j = (j + 1) & (n - 1);
            grown[j] = t->seen[i];
        }
        free(t->seen);
        t->seen = grown;
        t->seen_slots = n;
    }
    size_t j = key & (t->seen_slots - 1);
    while (t->seen[j]) {
        if (t->seen[j] == key)
            return 1;
        j = (j + 1) & (t->seen_slots - 1);
    }
    t->seen[j] = key;
    t->seen_used++;
    return 0;
}

static void set_parent_attr(const bt__batch_trace *t, bt_span *span)
{
    if (t->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", t->braintrust_parent);
}

/* Adds every integer metric of `from` into `into`; a sum past INT64_MAX stays there. */
static void metrics_add(bt__jobj *into, const bt__jobj *from, int *saturated)
{
    for (size_t i = 0; i < from->n; i++) {
        size_t len;
        const char *v = bt__jobj_value(from, i, &len);
        int64_t add, base = 0;
        if (!bt__jv_int64(bt__jv_from(v, len), &add))
            continue;
        const char *key = from->text.data + from->m[i].key_off;
        size_t key_len = from->m[i].key_len;
        for (size_t j = 0; j < into->n; j++) {
            if (into->m[j].key_len == key_len &&
                !memcmp(into->text.data + into->m[j].key_off, key, key_len)) {
                size_t cl;
                const char *cur = bt__jobj_value(into, j, &cl);
                bt__jv_int64(bt__jv_from(cur, cl), &base);
                break;
            }
        }
        int64_t sum;
        if (__builtin_add_overflow(base, add, &sum)) {
            sum = add > 0 ? INT64_MAX : INT64_MIN;
            *saturated = 1;
        }
        char tmp[24];
        int n = snprintf(tmp, sizeof tmp, "%lld", (long long)sum);
        bt__jobj_set_raw(into, key, key_len, tmp, (size_t)n);
    }
}

/* Finds `"key"` then a string value in a cut line (oversized), without a parser. */
static int scan_string_field(const char *line, size_t len, const char *key, char *out, size_t out_size)
{
    char pat[32];
    int n = snprintf(pat, sizeof pat, "\"%s\"", key);
    size_t plen = (size_t)n;
    for (size_t i = 0; i + plen < len; i++) {
        if (memcmp(line + i, pat, plen) != 0)
            continue;
        size_t j = i + plen;
        while (j < len && (line[j] == ' ' || line[j] == ':' || line[j] == '\t'))
            j++;
        if (j >= len || line[j] != '"')
            continue;
        size_t k = ++j, o = 0;
        while (k < len && line[k] != '"' && line[k] != '\\' && o + 1 < out_size)
            out[o++] = line[k++];
        if (k < len && line[k] == '"' && o > 0) {
            out[o] = '\0';
            return 1;
        }
    }
    return 0;
}

/* Emits one child span. `result` is the result object, or absent for an oversized
 * line (then `type` comes from a scan and the output is lost). */
static void emit_child(bt__batch_trace *t, const char *custom_id, const char *type, bt__jv result,
                       size_t oversized_len)
{
    uint8_t sid[8];
    child_span_id(t->batch_id, custom_id, sid);
    if (seen_before(t, sid)) {
        t->counts.duplicate++;
        return;
    }
    t->counts.results++;

    /* The request side, re-joined from the create by custom_id (an entry we wrote:
     * {"input", "metadata", "truncated"}). */
    bt__json_doc entry;
    bt__json_doc_init(&entry);
    char *entry_text = NULL;
    size_t entry_len = 0;
    int have_entry = bt__correlation_get(bt__anthropic_correlation(t->a), t->batch_id, custom_id, &entry_text,
                                         &entry_len) == BT_OK &&
        bt__json_parse(&entry, entry_text, entry_len, 0) == BT_OK;
    if (!have_entry)
        t->counts.unknown++;

    bt__llm_span call = {
        .a = t->a,
        .name = "anthropic.messages.create",
        .options = {.parent = &t->ctx,
                    .trace_id = t->ctx.trace_id,
                    .span_id = sid,
                    .start_unix_nano = t->start_ns},
        .braintrust_parent = t->braintrust_parent,
        .end_ns = end_time(t),
        .derive_tool_ids = 1,
        .server_address = t->server_address[0] ? t->server_address : NULL,
        .server_port = t->server_port,
    };
    bt__jv input = bt__json_get(&entry, "input");
    if (input.type != BT__JV_NONE && input.type != BT__JV_NULL) {
        call.input = input.p;
        call.input_len = input.len;
    }
    bt__jobj metadata, before, last;
    bt__jobj_init(&metadata);
    bt__jobj_init(&before);
    bt__jobj_init(&last);
    bt__jv stored = bt__json_get(&entry, "metadata");
    if (stored.type == BT__JV_OBJECT) {
        bt__jv_iter it = bt__jv_iterate(stored);
        bt__jv k, v;
        while (bt__jv_next_member(&it, &k, &v))
            bt__jobj_set_raw(&metadata, k.p + 1, k.len - 2, v.p, v.len);
    } else {
        bt__jobj_set(&metadata, "provider", "\"anthropic\"", 11);
    }
    call.metadata = &metadata;

    /* after the request's keys: which request this is, and what was lost of it */
    bt__jobj_set_string(&before, "custom_id", custom_id, strlen(custom_id));
    bt__jobj_set_string(&before, "batch_id", t->batch_id, strlen(t->batch_id));
    if (!have_entry)
        bt__jobj_set_true(&before, "input_unavailable");
    if (bt__json_get(&entry, "truncated").type == BT__JV_TRUE || oversized_len)
        bt__jobj_set_true(&before, "truncated");
    if (oversized_len)
        bt__jobj_set_int(&before, "result_line_bytes", (int64_t)oversized_len);
    call.metadata_before = &before;

    char *status = NULL, *etype = NULL;
    bt__jv_members message_members;
    if (strcmp(type, "succeeded") == 0) {
        t->counts.succeeded++;
        bt__jv message = bt__jv_get(result, "message");
        if (message.type == BT__JV_OBJECT) {
            bt__jv_index(message, &message_members);
            call.message = &message_members;
        }
    } else if (strcmp(type, "errored") == 0) {
        t->counts.errored++;
        /* result.error is a full ErrorResponse envelope: the detail is one level down. */
        bt__jv err = bt__jv_get(result, "error");
        bt__jv inner = bt__jv_get(err, "error");
        if (inner.type != BT__JV_OBJECT)
            inner = err;
        bt__jv et = bt__jv_get(inner, "type"), em = bt__jv_get(inner, "message");
        etype = et.type == BT__JV_STRING ? bt__jv_strdup(et) : strdup("api_error");
        char *emsg = em.type == BT__JV_STRING ? bt__jv_strdup(em) : strdup("batch request errored");
        if (etype && emsg) {
            size_t n = strlen(etype) + strlen(emsg) + 3;
            status = malloc(n);
            if (status)
                snprintf(status, n, "%s: %s", etype, emsg);
            call.status_message = status;
            call.status_error_type = call.genai_error_type = etype;
            bt__jobj_set_string(&last, "error_type", etype, strlen(etype));
        }
        free(emsg);
    } else {
        int canceled = strcmp(type, "canceled") == 0;
        if (canceled)
            t->counts.canceled++;
        else
            t->counts.expired++;
        call.status_message = canceled ? "batch_request_canceled: Anthropic batch request canceled"
                                       : "batch_request_expired: Anthropic batch request expired";
        call.status_error_type = call.genai_error_type =
            canceled ? "batch_request_canceled" : "batch_request_expired";
    }
    bt__jobj_set_string(&last, "result_type", type, strlen(type));
    call.metadata_last = &last;

    bt__llm_span_result r;
    bt__llm_span_emit(&call, &r);
    if (call.message)
        metrics_add(&t->metrics, &r.metrics, &t->metrics_saturated);
    bt__jobj_free(&r.metrics);
    free(status);
    free(etype);
    bt__jobj_free(&metadata);
    bt__jobj_free(&before);
    bt__jobj_free(&last);
    bt__json_doc_free(&entry);
    free(entry_text);
}

static int is_result_type(const char *type)
{
    return strcmp(type, "succeeded") == 0 || strcmp(type, "errored") == 0 || strcmp(type, "canceled") == 0 ||
        strcmp(type, "expired") == 0;
}

static int on_line(void *ud, const char *line, size_t len, size_t full_len, int truncated)
{
    bt__batch_trace *t = ud;
    if (truncated) {
        t->counts.oversized++;
        char custom_id[BT__BATCH_CUSTOM_ID_MAX + 1], type[16];
        if (scan_string_field(line, len, "custom_id", custom_id, sizeof custom_id) &&
            scan_string_field(line, len, "type", type, sizeof type) && is_result_type(type))
            emit_child(t, custom_id, type, bt__jv_from(NULL, 0), full_len);
        else
            t->counts.invalid++;
        return 0;
    }
    /* a stray invalid byte loses no span */
    bt__json_doc d;
    int ok = bt__json_parse(&d, line, len, BT__JSON_ANY | BT__JSON_ALLOW_NUL | BT__JSON_LENIENT) == BT_OK;
    bt__jv id = ok ? bt__json_get(&d, "custom_id") : bt__jv_from(NULL, 0);
    bt__jv result = ok ? bt__json_get(&d, "result") : bt__jv_from(NULL, 0);
    char custom_id[BT__BATCH_CUSTOM_ID_MAX + 1], type[16];
    size_t id_len = bt__jv_decoded_len(id);
    if (id.type != BT__JV_STRING || id_len == 0 || id_len > BT__BATCH_CUSTOM_ID_MAX ||
        bt__jv_copy(bt__jv_get(result, "type"), type, sizeof type) < 0 || !is_result_type(type)) {
        t->counts.invalid++;
    } else {
        bt__jv_copy(id, custom_id, sizeof custom_id);
        emit_child(t, custom_id, type, result, 0);
    }
    bt__json_doc_free(&d);
    return 0;
}

bt__batch_trace *bt__batch_trace_new(bt_anthropic *a, const char *batch_id, const char *braintrust_parent,
                                     const char *server_address, int server_port, uint64_t (*clock)(void *),
                                     void *clock_ud)
{
    if (strlen(batch_id) >= BT__BATCH_ID_MAX || !batch_id[0])
        return NULL;
    bt__batch_trace *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->a = a;
    t->tracer = bt__anthropic_tracer(a);
    t->clock = clock;
    t->clock_ud = clock_ud;
    if (server_address) {
        snprintf(t->server_address, sizeof t->server_address, "%s", server_address);
        t->server_port = server_port;
    }
    strcpy(t->batch_id, batch_id);
    bt__batch_span_context(batch_id, &t->ctx);
    t->braintrust_parent = braintrust_parent ? strdup(braintrust_parent) : NULL;
    t->lines = bt__ndjson_new(BT__BATCH_LINE_MAX, on_line, t);
    bt__jobj_init(&t->metrics);
    if (!t->lines || (braintrust_parent && !t->braintrust_parent)) {
        bt__batch_trace_free(t);
        return NULL;
    }
    char *text = NULL;
    if (bt__correlation_get_batch(bt__anthropic_correlation(a), batch_id, &text) == BT_OK)
        t->batch = json_loads(text, 0, NULL);
    free(text);
    t->start_ns = time_field(t->batch, "created_at");
    if (!t->start_ns)
        t->start_ns = now_ns(t);
    t->end_ns = time_field(t->batch, "ended_at");
    if (t->end_ns && t->end_ns < t->start_ns)
        t->end_ns = t->start_ns;
    return t;
}

void bt__batch_trace_feed(bt__batch_trace *t, const char *data, size_t len)
{
    if (t->finished || !len)
        return;
    bt__ndjson_feed(t->lines, data, len);
    t->last_byte = data[len - 1];
}

static json_t *counts_json(const bt__batch_counts *c)
{
    return json_pack("{s:I,s:I,s:I,s:I}", "succeeded", (json_int_t)c->succeeded, "errored",
                     (json_int_t)c->errored, "canceled", (json_int_t)c->canceled, "expired",
                     (json_int_t)c->expired);
}

void bt__batch_trace_finish(bt__batch_trace *t, const char *incomplete)
{
    if (t->finished)
        return;
    t->finished = 1;
    uint64_t invalid_before = t->counts.invalid;
    bt__ndjson_finish(t->lines);
    if (!incomplete && t->last_byte && t->last_byte != '\n' && t->counts.invalid > invalid_before)
        incomplete = "the results ended inside a line";
    if (incomplete)
        snprintf(t->incomplete, sizeof t->incomplete, "%s", incomplete);

    bt_span_options o = {0};
    o.trace_id = t->ctx.trace_id;
    o.span_id = t->ctx.span_id;
    o.start_unix_nano = t->start_ns;
    bt_span *span = bt_span_start(t->tracer, "anthropic.batch", &o);
    set_parent_attr(t, span);
    bt__span_set_span_attributes(span, "task", "anthropic.batch");

    const bt__batch_counts *c = &t->counts;
    json_t *meta = json_pack("{s:s,s:s}", "provider", "anthropic", "batch_id", t->batch_id);
    json_t *status = json_object_get(t->batch, "processing_status");
    json_object_set_new(meta, "processing_status",
                        json_is_string(status) ? json_incref(status)
                                               : json_string(incomplete ? "unknown" : "ended"));
    json_t *rc = json_object_get(t->batch, "request_counts");
    json_object_set_new(meta, "request_counts", json_is_object(rc) ? json_incref(rc) : counts_json(c));
    json_object_set_new(meta, "results", counts_json(c));
    json_object_set_new(meta, "num_results", json_integer((json_int_t)c->results));
    json_object_set_new(meta, "invalid_lines", json_integer((json_int_t)c->invalid));
    json_object_set_new(meta, "duplicate_ids", json_integer((json_int_t)c->duplicate));
    json_object_set_new(meta, "unknown_ids", json_integer((json_int_t)c->unknown));
    json_object_set_new(meta, "oversized_lines", json_integer((json_int_t)c->oversized));
    json_t *v = json_object_get(t->batch, "created_at");
    if (json_is_string(v))
        json_object_set(meta, "created_at", v);
    if (json_is_string(v = json_object_get(t->batch, "ended_at")))
        json_object_set(meta, "ended_at", v);
    if (t->metrics_saturated)
        json_object_set_new(meta, "token_counts_saturated", json_true());
    if (incomplete) {
        json_object_set_new(meta, "truncated", json_true());
        char msg[256];
        snprintf(msg, sizeof msg, "incomplete_results: batch results incomplete: %s", incomplete);
        bt_span_set_status(span, BT_STATUS_ERROR, msg);
        bt_span_set_string(span, "error.type", "incomplete_results");
    } else if (c->canceled || c->expired) {
        char msg[160];
        snprintf(msg, sizeof msg, "Anthropic batch completed with %llu canceled and %llu expired requests",
                 (unsigned long long)c->canceled, (unsigned long long)c->expired);
        bt_span_set_status(span, BT_STATUS_ERROR, msg);
    }
    bt__span_set_json(t->a, span, "braintrust.metadata", NULL, meta);
    bt__batch_trace_set_metrics(t, t->a, span);
    bt_span_set_string(span, "anthropic.batch.id", t->batch_id);
    bt_span_end(span, end_time(t));
    json_decref(meta);
}

const char *bt__batch_trace_incomplete(const bt__batch_trace *t)
{
    return t->incomplete[0] ? t->incomplete : NULL;
}

const bt__batch_counts *bt__batch_trace_counts(const bt__batch_trace *t)
{
    return &t->counts;
}

int64_t bt__batch_trace_metric(const bt__batch_trace *t, const char *name)
{
    long i = bt__jobj_find(&t->metrics, name);
    if (i < 0)
        return -1;
    size_t len;
    const char *text = bt__jobj_value(&t->metrics, (size_t)i, &len);
    int64_t v;
    return bt__jv_int64(bt__jv_from(text, len), &v) ? v : -1;
}

int bt__batch_trace_metrics_saturated(const bt__batch_trace *t)
{
    return t->metrics_saturated;
}

void bt__batch_trace_set_metrics(const bt__batch_trace *t, bt_anthropic *a, bt_span *span)
{
    if (!t->metrics.n)
        return;
    bt__buf b;
    bt__buf_init(&b, 0);
    if (bt__jobj_write(&t->metrics, &b) == BT_OK)
        bt__span_set_json_text(a, span, "braintrust.metrics", NULL, b.data, b.len);
    bt__buf_free(&b);
}

void bt__batch_trace_free(bt__batch_trace *t)
{
    if (!t)
        return;
    bt__ndjson_free(t->lines);
    bt__jobj_free(&t->metrics);
    json_decref(t->batch);
    free(t->seen);
    free(t->braintrust_parent);
    free(t);
}
