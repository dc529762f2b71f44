/*
 * Anthropic usage -> Braintrust metrics (docs/SPANS.md, braintrust.metrics) and the
 * token counts the gen_ai.usage.* attributes and access logs need.
 */
#ifndef BT_ANTHROPIC_USAGE_H
#define BT_ANTHROPIC_USAGE_H

#include <stdint.h>

#include "decode/json_scan.h"
#include "decode/json_write.h"

/* Token counts of one usage object; -1 means "not reported". */
typedef struct bt__usage {
    int64_t input;          /* uncached input_tokens */
    int64_t cache_read;     /* cache_read_input_tokens */
    int64_t cache_creation; /* cache_creation_input_tokens, else 5m+1h */
    int64_t cache_5m, cache_1h;
    int has_cache_split; /* usage.cache_creation is an object */
    int64_t output;
    int64_t reasoning; /* output_tokens_details.thinking_tokens */
    int64_t prompt;    /* input + cache read + cache creation */
    int64_t total;     /* prompt + output */
    int saturated;     /* a sum passed INT64_MAX and stays there (never wraps, never lost) */
} bt__usage;

/* A count: a non-negative JSON integer, or a real with an integral value; else -1. */
int64_t bt__usage_count(bt__jv v);

/* Reads `usage` (an object view, or absent: everything -1). */
void bt__usage_read(bt__jv usage, bt__usage *out);

/* Adds the Braintrust metrics of `usage` to `metrics`: prompt_tokens,
 * completion_tokens, tokens, prompt_cached_tokens, the 5m/1h split when reported (and
 * then no aggregate) else prompt_cache_creation_tokens, completion_reasoning_tokens,
 * server_tool_use_<key>. Only what was reported; never negative; a sum past INT64_MAX
 * is INT64_MAX (bt__usage_read says it saturated). */
void bt__usage_add_metrics(bt__jv usage, bt__jobj *metrics);

#endif
