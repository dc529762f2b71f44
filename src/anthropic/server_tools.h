/*
 * Child `tool` spans for the tools the API ran itself: each server_tool_use block of a
 * finished message paired with the *_tool_result block answering it (same tool_use_id),
 * and each mcp_tool_use with its mcp_tool_result. Shared by the Messages handler and
 * the batch trace so that both kinds of llm span get the same children.
 */
#ifndef BT_ANTHROPIC_SERVER_TOOLS_H
#define BT_ANTHROPIC_SERVER_TOOLS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "braintrust/anthropic.h"

/* More tool calls than one real message carries; beyond it calls get no span and the
 * caller marks its llm span truncated. */
#define BT__SERVER_TOOL_SPANS_MAX 256

/* When a streamed block arrived: its content_block_start and content_block_stop (0
 * when not seen). */
typedef struct bt__block_time {
    uint64_t start_ns, stop_ns;
} bt__block_time;

typedef struct bt__server_tools {
    bt_anthropic *a;             /* settings: gen_ai attributes, mask callback */
    bt_span *llm;                /* the parent; nothing is emitted when NULL */
    const json_t *content;       /* the message's content array (borrowed) */
    uint64_t start_ns, end_ns;   /* the llm span's times: children stay within them */
    const bt__block_time *times; /* per content position, or NULL (non-streaming) */
    size_t n_times;
    const char *braintrust_parent; /* per-request override copied to the children, or NULL */
    int derive_ids;                /* ids derived from the llm span id and tool_use_id
                                      * (batch traces, which are reproducible) */
} bt__server_tools;

/* Starts and ends one child span per server or MCP tool call found in `t->content`.
 * Returns how many calls got no span because of BT__SERVER_TOOL_SPANS_MAX (0 normally). */
size_t bt__server_tool_spans(const bt__server_tools *t);

#endif
