/*
 * The parts of a Messages llm span that batch children build from already-parsed JSON
 * (a create request's params, a result's message). Metrics (usage.h), gen_ai
 * attributes (genai.h) and JSON attributes (json_util.h) come from the Messages
 * handler's own helpers so both kinds of llm span agree; input and request metadata
 * come from llm_request.h.
 */
#ifndef BT_ANTHROPIC_BATCH_LLM_H
#define BT_ANTHROPIC_BATCH_LLM_H

#include <jansson.h>

#include "braintrust/anthropic.h"

/* {"role": message.role or "assistant", "content": message.content (blocks)}, or NULL
 * when the message has no list of blocks. */
json_t *bt__batch_llm_output(json_t *message);
/* Adds every integer metric of `from` into `into` (summing). */
void bt__batch_llm_metrics_add(json_t *into, json_t *from);
/* Sets braintrust.span_attributes {"type":type,"name":name}. */
void bt__batch_set_span_attributes(bt_span *span, const char *type, const char *name);

#endif
