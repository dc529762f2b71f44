#include "anthropic/llm_request.h"

#include <string.h>

#include "anthropic/conversation.h"

/* The request parameters recorded in metadata (docs/SPANS.md, braintrust.metadata). */
static const char *const request_params[] = {
    "model",
    "max_tokens",
    "temperature",
    "top_p",
    "top_k",
    "stop_sequences",
    "stream",
    "tools",
    "tool_choice",
    "metadata",
    "thinking",
    "service_tier",
    "container",
    "mcp_servers",
    "output_config",
    "output_format",
    "context_management",
    "inference_geo",
    "cache_control",
};

json_t *bt__llm_input(const json_t *params)
{
    json_t *in = json_array();
    json_t *msgs = json_object_get(params, "messages");
    if (json_is_array(msgs))
        json_array_extend(in, msgs);
    json_t *system = json_object_get(params, "system");
    if (system && !json_is_null(system) && !(json_is_string(system) && json_string_length(system) == 0))
        json_array_append_new(in, json_pack("{s:s,s:O}", "role", "system", "content", system));
    return in;
}

static json_t *mcp_servers_without_tokens(json_t *servers)
{
    json_t *copy = json_deep_copy(servers);
    size_t i;
    json_t *srv;
    json_array_foreach(copy, i, srv)
    {
        if (json_object_get(srv, "authorization_token"))
            json_object_set_new(srv, "authorization_token", json_string("[redacted]"));
    }
    return copy;
}

json_t *bt__llm_request_metadata(const json_t *params)
{
    json_t *md = json_object();
    json_object_set_new(md, "provider", json_string("anthropic"));
    for (size_t i = 0; i < sizeof request_params / sizeof *request_params; i++) {
        json_t *v = json_object_get(params, request_params[i]);
        if (!v)
            continue;
        if (!strcmp(request_params[i], "mcp_servers"))
            json_object_set_new(md, "mcp_servers", mcp_servers_without_tokens(v));
        else
            json_object_set(md, request_params[i], v);
    }
    /* in-conversation system turns, told apart from the top-level system put last */
    json_t *system_turns = bt__system_turn_indices(json_object_get(params, "messages"));
    if (system_turns)
        json_object_set_new(md, "system_turns", system_turns);
    return md;
}
