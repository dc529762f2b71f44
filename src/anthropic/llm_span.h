/*
 * The llm span builder: one place that turns a Messages call into its span, for plain
 * calls and streams (messages.c) and for batch children (batch_trace.c) alike. The
 * caller says what it knows (request input and parameters, the response message,
 * timing, how the call ended, and the few metadata keys only it has); the builder sets
 * every attribute, emits the server and MCP tool child spans, and ends the span.
 *
 * Everything is assembled from canonical JSON text (decode/json_scan.h): the input and
 * the output's content are copies of slices of the request and the message, metadata
 * values are slices too; only counts, ids and names are decoded.
 *
 * Attributes, in this order: braintrust.parent, braintrust.span_attributes, error.type
 * (errors that carry it with their status), braintrust.input_json, braintrust.output_json,
 * braintrust.metrics, braintrust.metadata, then the gen_ai.* attributes.
 *
 * braintrust.metadata is assembled in this order: the request metadata (provider and
 * request parameters), `metadata_before`, the response's keys (model, stop_reason,
 * stop_sequence, stop_details when not null, usage_service_tier, usage_inference_geo),
 * `metadata_after`, server_tool_spans_dropped and truncated, `metadata_last`. A key set
 * again keeps its first position and takes the new value.
 */
#ifndef BT_ANTHROPIC_LLM_SPAN_H
#define BT_ANTHROPIC_LLM_SPAN_H

#include <stddef.h>
#include <stdint.h>

#include "anthropic/server_tools.h"
#include "anthropic/usage.h"
#include "braintrust/anthropic.h"
#include "decode/json_scan.h"
#include "decode/json_write.h"

typedef struct bt__llm_span {
    /* the span */
    bt_anthropic *a;               /* settings: gen_ai attributes, mask */
    const char *name;              /* anthropic.messages.create / .stream / .count_tokens */
    bt_span_options options;       /* parent, ids, start time (the kind is always CLIENT) */
    const char *braintrust_parent; /* per-request override, or NULL */
    uint64_t end_ns;

    /* the request */
    const char *input; /* braintrust.input_json text, or NULL */
    size_t input_len;
    bt__buf *input_owner; /* the buffer `input` ends, when the caller no longer needs it:
                           * the span may take it instead of a copy (left empty). NULL:
                           * input is borrowed */
    bt__jobj *metadata;   /* the request metadata (provider + request parameters), which the
                         * builder completes; gen_ai.request.* are read from it. NULL:
                         * {"provider":"anthropic"} */

    /* the response */
    const bt__jv_members *message; /* the message's members, or count_tokens' result's (canonical);
                                    * NULL when there is none */
    int count_tokens;              /* output = the result as is; prompt_tokens = input_tokens */
    int stream;                    /* gen_ai.request.stream, time to first token */
    uint64_t first_content_ns;     /* stream: when the first content delta arrived (0: none) */
    const bt__block_time *times;   /* stream: arrival of each content block, or NULL */
    size_t n_times;
    int derive_tool_ids; /* tool span ids derived from the llm span id (batch traces) */

    /* how it ended */
    const char *status_message;    /* status ERROR with this message, or NULL */
    const char *status_error_type; /* error.type set with the status, or NULL */
    const char *genai_error_type;  /* error.type among the gen_ai attributes, or NULL */
    int truncated;                 /* a cap was reached: metadata.truncated */
    const bt__jobj *metadata_before, *metadata_after, *metadata_last; /* or NULL */

    /* the API server, for server.address / server.port */
    const char *server_address;
    int server_port;
} bt__llm_span;

/* What the builder read, for the caller's summaries. */
typedef struct bt__llm_span_result {
    bt__usage usage;  /* -1 fields when not reported; .prompt also for count_tokens */
    char model[128];  /* metadata.model (the response's, else the request's), "" if none */
    bt__jobj metrics; /* braintrust.metrics as set; free with bt__jobj_free */
} bt__llm_span_result;

/* Builds, emits and ends the span; `out` may be NULL. */
void bt__llm_span_emit(const bt__llm_span *in, bt__llm_span_result *out);

#endif
