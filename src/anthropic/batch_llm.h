/*
 * The parts of a Messages llm span that batch children share with a normal call:
 * input (messages, then the system prompt last), request metadata, output
 * {role, content}, and Braintrust token metrics from a usage object. Batch spans are
 * built from JSON already parsed (a create request's params, a result's message), so
 * these work on jansson values.
 */
#ifndef BT_ANTHROPIC_BATCH_LLM_H
#define BT_ANTHROPIC_BATCH_LLM_H

#include <jansson.h>

#include "braintrust/anthropic.h"

/* messages + {"role":"system","content":system} last; a new reference (an empty array
 * when params has no messages). */
json_t *bt__batch_llm_input(json_t *params);
/* {"provider":"anthropic", every request parameter except messages/system/stream}. */
json_t *bt__batch_llm_request_metadata(json_t *params);
/* {"role": message.role or "assistant", "content": message.content (blocks)}. */
json_t *bt__batch_llm_output(json_t *message);
/* Braintrust metrics (prompt_tokens incl. cache, completion_tokens, tokens,
 * prompt_cached_tokens, 5m/1h split or prompt_cache_creation_tokens,
 * completion_reasoning_tokens) from a usage object; keys only for reported values. */
json_t *bt__batch_llm_metrics(json_t *usage);
/* Adds every integer metric of `from` into `into` (summing). */
void bt__batch_llm_metrics_add(json_t *into, json_t *from);

/* Sets span attribute `key` to the compact JSON text of `value` (borrowed). When
 * `mask_field` ("input"/"output") is non-NULL the bt_anthropic mask is applied. */
void bt__batch_set_json(bt_anthropic *a, bt_span *span, const char *key,
                        const char *mask_field, json_t *value);
/* Sets braintrust.span_attributes {"type":type,"name":name}. */
void bt__batch_set_span_attributes(bt_span *span, const char *type, const char *name);

#endif
