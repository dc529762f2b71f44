/*
 * The parts of a Messages llm span that batch children build from already-parsed JSON
 * (a create request's params, a result's message). Metrics (usage.h), gen_ai
 * attributes (genai.h) and JSON attributes (json_util.h) come from the Messages
 * handler's own helpers so both kinds of llm span agree; input and request metadata
 * follow messages.c's rules (its builders are file-local there, so they are mirrored
 * here: keep the two in step).
 */
#ifndef BT_ANTHROPIC_BATCH_LLM_H
#define BT_ANTHROPIC_BATCH_LLM_H

#include <jansson.h>

#include "braintrust/anthropic.h"

/* messages + {"role":"system","content":system} last (an empty system is left out);
 * a new reference (an empty array when params has no messages). */
json_t *bt__batch_llm_input(json_t *params);
/* {"provider":"anthropic", the request parameters Messages spans record}. */
json_t *bt__batch_llm_request_metadata(json_t *params);
/* {"role": message.role or "assistant", "content": message.content (blocks)}. */
json_t *bt__batch_llm_output(json_t *message);
/* Adds every integer metric of `from` into `into` (summing). */
void bt__batch_llm_metrics_add(json_t *into, json_t *from);
/* Sets braintrust.span_attributes {"type":type,"name":name}. */
void bt__batch_set_span_attributes(bt_span *span, const char *type, const char *name);

#endif
