/*
 * What every Anthropic llm span records from a Messages request's parameters, whether
 * the request was sent on its own (messages.c) or inside a batch (batch_requests.c):
 * one definition so both kinds of span agree.
 */
#ifndef BT_ANTHROPIC_LLM_REQUEST_H
#define BT_ANTHROPIC_LLM_REQUEST_H

#include <jansson.h>

/* braintrust.input_json: the messages as sent, then {"role":"system","content":system}
 * last (an empty system is left out). A new reference; an empty array when the
 * request has no messages. */
json_t *bt__llm_input(const json_t *params);

/* braintrust.metadata from the request: {"provider":"anthropic"} plus each recorded
 * request parameter present, verbatim, except MCP servers' authorization_token, which
 * is a credential and is replaced by "[redacted]"; and `system_turns`, the indexes of
 * in-conversation system turns, when there are any. A new reference. */
json_t *bt__llm_request_metadata(const json_t *params);

#endif
