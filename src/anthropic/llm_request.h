/*
 * What every Anthropic llm span records from a Messages request's parameters, whether
 * the request was sent on its own (messages.c) or inside a batch (batch_requests.c):
 * one definition so both kinds of span agree. Built from slices of the canonical
 * request text: nothing is parsed into a tree or written again.
 */
#ifndef BT_ANTHROPIC_LLM_REQUEST_H
#define BT_ANTHROPIC_LLM_REQUEST_H

#include "decode/json_scan.h"
#include "decode/json_write.h"
#include "util/buf.h"

/* braintrust.input_json of the request parameters (an indexed object): the messages as
 * sent, then {"role":"system","content":system} last (an empty or null system is left
 * out), into `out`. An empty array when the request has no messages. */
int bt__llm_input(const bt__jv_members *params, bt__buf *out);

/* The same, made in `body`, the request text that `params` views, without a copy of
 * the messages (the largest text of a call): it is body->data + *offset up to
 * body->len. The views into `body` are unusable afterwards. BT_EINVAL when there are
 * no messages (then use bt__llm_input), BT_ENOMEM; both leave `body` as it was. */
int bt__llm_input_in_place(bt__buf *body, const bt__jv_members *params, size_t *offset);

/* braintrust.metadata from the request into `md` (cleared first): provider "anthropic"
 * plus each recorded request parameter present, verbatim, except MCP servers'
 * authorization_token, which is a credential and is replaced by "[redacted]"; and
 * `system_turns`, the indexes of in-conversation system turns, when there are any. */
void bt__llm_request_metadata(const bt__jv_members *params, bt__jobj *md);

#endif
