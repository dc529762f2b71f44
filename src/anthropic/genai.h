/* OpenTelemetry GenAI semantic-convention attributes (gen_ai.*) for an llm span. */
#ifndef BT_ANTHROPIC_GENAI_H
#define BT_ANTHROPIC_GENAI_H

#include "anthropic/usage.h"
#include "braintrust/span.h"
#include "decode/json_scan.h"
#include "decode/json_write.h"

typedef struct bt__genai_call {
    const char *operation;          /* gen_ai.operation.name */
    const bt__jobj *request;        /* the request parameters (model, max_tokens, ...) or NULL */
    const bt__jv_members *response; /* the message's members, or NULL */
    const bt__usage *usage;         /* NULL: no gen_ai.usage.* (count_tokens counts, it does not use) */
    int stream;
    double ttft_seconds;        /* < 0 when not measured */
    const char *error_type;     /* NULL unless the span is an error */
    const char *server_address; /* the API server (server.address), or NULL */
    int server_port;            /* 0 when not known */
} bt__genai_call;

/* Sets the gen_ai.* attributes (and error.type, server.*) of `c` on `span`. */
void bt__genai_set(bt_span *span, const bt__genai_call *c);

#endif
