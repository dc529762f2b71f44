/* OpenTelemetry GenAI semantic-convention attributes (gen_ai.*) for an llm span. */
#ifndef BT_ANTHROPIC_GENAI_H
#define BT_ANTHROPIC_GENAI_H

#include <jansson.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/usage.h"

typedef struct bt__genai_call {
    const char *operation;  /* gen_ai.operation.name */
    const json_t *request;  /* parsed request body or NULL */
    const json_t *response; /* parsed message or NULL */
    const bt__usage *usage; /* NULL: no gen_ai.usage.* (count_tokens counts, it does not use) */
    int stream;
    double ttft_seconds;    /* < 0 when not measured */
    const char *error_type; /* NULL unless the span is an error */
} bt__genai_call;

void bt__genai_set(bt_exchange *ex, bt_span *span, const bt__genai_call *c);

#endif
