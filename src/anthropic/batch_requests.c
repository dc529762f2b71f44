/* Ingesting batch create requests into the correlation store (see batch_requests.h). */
#include "anthropic/batch_requests.h"

#include <stdlib.h>
#include <string.h>

#include "anthropic/batch_split.h"
#include "anthropic/llm_request.h"
#include "anthropic/correlation.h"
#include "braintrust/common.h"
#include "util/utf8.h"

struct bt__batch_requests {
    struct bt__correlation *store;
    char *key;
    bt__batch_split *split;
    bt__batch_requests_stats stats;
    json_t *ids;    /* first BT__BATCH_SUMMARY_IDS custom_ids */
    json_t *models; /* sorted unique */
    int models_truncated;
};

/* Room kept in an entry for the envelope and the metadata when the input is cut. */
#define ENTRY_SLACK 256

/* {"input":<input>,"metadata":<metadata>} (+ ,"truncated":true) into `out`. */
static void write_entry(bt__buf *out, const char *input, size_t input_len, const bt__jobj *md, int truncated)
{
    bt__buf_append(out, "{\"input\":", 9);
    bt__buf_append(out, input, input_len);
    bt__buf_append(out, ",\"metadata\":", 12);
    bt__jobj_write(md, out);
    if (truncated)
        bt__buf_append(out, ",\"truncated\":true", 17);
    bt__buf_append(out, "}", 1);
}

static char *entry_of(const bt__jv_members *params, size_t *len_out, int *truncated)
{
    *truncated = 0;
    bt__buf input, text;
    bt__buf_init(&input, 0);
    bt__buf_init(&text, 0);
    bt__jobj meta;
    bt__jobj_init(&meta);
    bt__llm_input(params, &input);
    bt__llm_request_metadata(params, &meta);
    bt__jobj_del(&meta, "stream"); /* batched requests cannot stream: not a parameter here */
    write_entry(&text, input.data, input.len, &meta, 0);
    if (text.len > BT__CORR_ENTRY_MAX) {
        /* Too large (images, long documents): keep the request metadata if it fits,
         * else only the model, and the start of the input text as a string. */
        *truncated = 1;
        bt__buf meta_text;
        bt__buf_init(&meta_text, 0);
        bt__jobj_write(&meta, &meta_text);
        if (meta.rc || meta_text.len > BT__CORR_ENTRY_MAX / 2) {
            bt__jv model = bt__jv_lookup(params, "model");
            bt__jobj_clear(&meta);
            bt__jobj_set(&meta, "provider", "\"anthropic\"", 11);
            if (model.type == BT__JV_STRING)
                bt__jobj_set(&meta, "model", model.p, model.len);
            bt__buf_reset(&meta_text);
            bt__jobj_write(&meta, &meta_text);
        }
        size_t room = BT__CORR_ENTRY_MAX - meta_text.len - ENTRY_SLACK;
        /* JSON escaping can grow the prefix up to 6x (\u00XX); leave room for it. */
        size_t keep = bt__utf8_cut(input.data ? input.data : "", input.len < room / 6 ? input.len : room / 6);
        bt__buf cut;
        bt__buf_init(&cut, 0);
        bt__json_write_string(&cut, input.data ? input.data : "", keep);
        bt__buf_reset(&text);
        write_entry(&text, cut.data, cut.len, &meta, 1);
        bt__buf_free(&cut);
        bt__buf_free(&meta_text);
    }
    bt__jobj_free(&meta);
    bt__buf_free(&input);
    return bt__buf_steal(&text, len_out);
}

char *bt__batch_request_entry(const char *params_json, size_t len, size_t *len_out, int *truncated)
{
    *truncated = 0;
    bt__json_doc d;
    char *entry = NULL;
    if (bt__json_parse(&d, params_json, len, 0) == BT_OK && d.root.type == BT__JV_OBJECT)
        entry = entry_of(&d.members, len_out, truncated);
    bt__json_doc_free(&d);
    return entry;
}

static void note_model(bt__batch_requests *r, bt__jv model)
{
    char *m = bt__jv_strdup(model);
    if (!m)
        return;
    size_t n = json_array_size(r->models), at = n;
    for (size_t i = 0; i < n; i++) {
        int cmp = strcmp(json_string_value(json_array_get(r->models, i)), m);
        if (cmp == 0) {
            free(m);
            return;
        }
        if (cmp > 0) {
            at = i;
            break;
        }
    }
    if (n >= BT__BATCH_SUMMARY_MODELS)
        r->models_truncated = 1;
    else
        json_array_insert_new(r->models, at, json_string(m));
    free(m);
}

static void store(bt__batch_requests *r, const char *custom_id, const char *entry, size_t len)
{
    int rc = bt__correlation_put(r->store, r->key, custom_id, entry, len);
    if (rc != BT_OK)
        r->stats.not_stored++;
}

static int on_element(void *ud, const char *elem, size_t len, int truncated, const char *custom_id)
{
    bt__batch_requests *r = ud;
    bt__json_doc req;
    bt__json_doc_init(&req);
    int parsed = !truncated && bt__json_parse(&req, elem, len, 0) == BT_OK;
    bt__jv id = parsed ? bt__json_get(&req, "custom_id") : bt__jv_from(NULL, 0);
    char *own_id = bt__jv_strdup(id);
    const char *cid = own_id ? own_id : custom_id;
    if (!cid[0] || strlen(cid) > BT__BATCH_CUSTOM_ID_MAX) {
        r->stats.invalid++;
        free(own_id);
        bt__json_doc_free(&req);
        return 0;
    }
    r->stats.requests++;
    if (json_array_size(r->ids) < BT__BATCH_SUMMARY_IDS)
        json_array_append_new(r->ids, json_string(cid));
    bt__jv params = parsed ? bt__json_get(&req, "params") : bt__jv_from(NULL, 0);
    if (params.type == BT__JV_OBJECT) {
        bt__jv_members members;
        bt__jv_index(params, &members);
        note_model(r, bt__jv_lookup(&members, "model"));
        size_t elen = 0;
        int cut = 0;
        char *entry = entry_of(&members, &elen, &cut);
        if (entry)
            store(r, cid, entry, elen);
        if (cut)
            r->stats.truncated++;
        free(entry);
    } else {
        /* Too large to parse, or no params: remember that the request existed. */
        static const char marker[] =
            "{\"input\":null,\"metadata\":{\"provider\":\"anthropic\"},\"truncated\":true}";
        store(r, cid, marker, sizeof marker - 1);
        r->stats.truncated++;
    }
    free(own_id);
    bt__json_doc_free(&req);
    return 0;
}

bt__batch_requests *bt__batch_requests_new(struct bt__correlation *c, const char *key)
{
    bt__batch_requests *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    r->store = c;
    r->key = strdup(key);
    r->split = bt__batch_split_new(BT__BATCH_REQUEST_ELEM_MAX, on_element, r);
    r->ids = json_array();
    r->models = json_array();
    if (!r->key || !r->split || !r->ids || !r->models) {
        bt__batch_requests_free(r);
        return NULL;
    }
    return r;
}

int bt__batch_requests_feed(bt__batch_requests *r, const char *data, size_t len)
{
    return bt__batch_split_feed(r->split, data, len);
}

int bt__batch_requests_finish(bt__batch_requests *r)
{
    return bt__batch_split_finish(r->split);
}

const bt__batch_requests_stats *bt__batch_requests_get_stats(const bt__batch_requests *r)
{
    return &r->stats;
}

json_t *bt__batch_requests_summary(const bt__batch_requests *r)
{
    json_t *s = json_pack("{s:I,s:O}", "num_requests", (json_int_t)r->stats.requests, "custom_ids", r->ids);
    if (r->stats.requests > json_array_size(r->ids))
        json_object_set_new(s, "custom_ids_truncated", json_true());
    return s;
}

json_t *bt__batch_requests_models(const bt__batch_requests *r)
{
    return r->models;
}

int bt__batch_requests_models_truncated(const bt__batch_requests *r)
{
    return r->models_truncated;
}

void bt__batch_requests_free(bt__batch_requests *r)
{
    if (!r)
        return;
    bt__batch_split_free(r->split);
    json_decref(r->ids);
    json_decref(r->models);
    free(r->key);
    free(r);
}
