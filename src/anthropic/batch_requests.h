/*
 * Ingesting batch create requests: each request element found by the splitter is
 * parsed, turned into its correlation entry (the traceable input and the request
 * metadata of its future llm span) and put in the correlation store under a key (the
 * batch id, or a staging key until the create response names the batch). A bounded
 * summary is kept for the create span: the request count, the first custom_ids, the
 * sorted unique models.
 *
 * Entry JSON: {"input": <messages + system> | "<prefix>" when cut,
 *              "metadata": {...}, "truncated": true?}
 */
#ifndef BT_ANTHROPIC_BATCH_REQUESTS_H
#define BT_ANTHROPIC_BATCH_REQUESTS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct bt__correlation;
typedef struct bt__batch_requests bt__batch_requests;

#define BT__BATCH_REQUEST_ELEM_MAX ((size_t)8 << 20) /* one request element parsed */
#define BT__BATCH_SUMMARY_IDS 100                    /* custom_ids listed in the create span */
#define BT__BATCH_SUMMARY_MODELS 64

typedef struct bt__batch_requests_stats {
    uint64_t requests;   /* elements with a custom_id */
    uint64_t invalid;    /* not JSON / no custom_id */
    uint64_t truncated;  /* stored shortened (or without input) */
    uint64_t not_stored; /* the store refused them (full) */
} bt__batch_requests_stats;

/* `c` borrowed; `key` copied. */
bt__batch_requests *bt__batch_requests_new(struct bt__correlation *c, const char *key);
/* Create body / JSONL bytes in pieces. BT_OK or BT_EPARSE (the input is not JSON; later
 * feeds are ignored). */
int bt__batch_requests_feed(bt__batch_requests *r, const char *data, size_t len);
/* BT_OK or BT_EPARSE (the body ended inside a value). */
int bt__batch_requests_finish(bt__batch_requests *r);
const bt__batch_requests_stats *bt__batch_requests_get_stats(const bt__batch_requests *r);
/* The create span's input: {"num_requests":N,"custom_ids":[first 100...],
 * "custom_ids_truncated":true?}. New reference. */
json_t *bt__batch_requests_summary(const bt__batch_requests *r);
/* Sorted unique models (borrowed array; at most 64, then models_truncated). */
json_t *bt__batch_requests_models(const bt__batch_requests *r);
int bt__batch_requests_models_truncated(const bt__batch_requests *r);
void bt__batch_requests_free(bt__batch_requests *r);

/* Builds the entry for one request's params (JSON text of an object, borrowed): a
 * malloc'd JSON text of at most BT__CORR_ENTRY_MAX bytes; *truncated set when the input
 * had to be shortened. NULL when the params are not a JSON object. */
char *bt__batch_request_entry(const char *params_json, size_t len, size_t *len_out, int *truncated);

#endif
