/* Ingesting batch create requests into the correlation store (see batch_requests.h). */
#include "anthropic/batch_requests.h"

#include <stdlib.h>
#include <string.h>

#include "anthropic/llm_request.h"
#include "anthropic/batch_split.h"
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

static char *dump(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

char *bt__batch_request_entry(json_t *params, size_t *len_out, int *truncated)
{
    *truncated = 0;
    json_t *input = bt__llm_input(params);
    json_t *meta = bt__llm_request_metadata(params);
    json_object_del(meta, "stream"); /* batched requests cannot stream: not a parameter here */
    json_t *entry = json_pack("{s:o,s:o}", "input", input, "metadata", meta);
    char *text = dump(entry);
    if (text && strlen(text) > BT__CORR_ENTRY_MAX) {
        /* Too large (images, long documents): keep the request metadata if it fits,
         * else only the model, and the start of the input text as a string. */
        free(text);
        *truncated = 1;
        char *meta_text = dump(meta);
        if (!meta_text || strlen(meta_text) > BT__CORR_ENTRY_MAX / 2) {
            json_t *model = json_object_get(params, "model");
            json_t *small = json_pack("{s:s}", "provider", "anthropic");
            if (json_is_string(model))
                json_object_set(small, "model", model);
            json_object_set_new(entry, "metadata", small);
        }
        free(meta_text);
        meta_text = dump(json_object_get(entry, "metadata"));
        char *input_text = dump(input);
        size_t room = BT__CORR_ENTRY_MAX - (meta_text ? strlen(meta_text) : 0) - ENTRY_SLACK;
        /* JSON escaping can grow the prefix up to 6x (\u00XX); leave room for it. */
        size_t keep = input_text
            ? bt__utf8_cut(input_text, strlen(input_text) < room / 6 ? strlen(input_text) : room / 6)
            : 0;
        json_object_set_new(entry, "input", input_text ? json_stringn(input_text, keep) : json_null());
        json_object_set_new(entry, "truncated", json_true());
        free(meta_text);
        free(input_text);
        text = dump(entry);
    }
    json_decref(entry);
    if (text && len_out)
        *len_out = strlen(text);
    return text;
}

static void note_model(bt__batch_requests *r, json_t *model)
{
    if (!json_is_string(model))
        return;
    const char *m = json_string_value(model);
    size_t n = json_array_size(r->models), at = n;
    for (size_t i = 0; i < n; i++) {
        int cmp = strcmp(json_string_value(json_array_get(r->models, i)), m);
        if (cmp == 0)
            return;
        if (cmp > 0) {
            at = i;
            break;
        }
    }
    if (n >= BT__BATCH_SUMMARY_MODELS) {
        r->models_truncated = 1;
        return;
    }
    json_array_insert_new(r->models, at, json_string(m));
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
    json_t *req = truncated ? NULL : json_loadb(elem, len, 0, NULL);
    json_t *id = json_object_get(req, "custom_id");
    const char *cid = json_is_string(id) ? json_string_value(id) : custom_id;
    if (!cid[0] || strlen(cid) > BT__BATCH_CUSTOM_ID_MAX) {
        r->stats.invalid++;
        json_decref(req);
        return 0;
    }
    r->stats.requests++;
    if (json_array_size(r->ids) < BT__BATCH_SUMMARY_IDS)
        json_array_append_new(r->ids, json_string(cid));
    json_t *params = json_object_get(req, "params");
    if (json_is_object(params)) {
        note_model(r, json_object_get(params, "model"));
        size_t elen = 0;
        int cut = 0;
        char *entry = bt__batch_request_entry(params, &elen, &cut);
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
    json_decref(req);
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
