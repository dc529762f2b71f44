/* The request side of an llm span (see llm_request.h). */
#include "anthropic/llm_request.h"

#include <stdlib.h>
#include <string.h>

#include "anthropic/conversation.h"
#include "braintrust/common.h"

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

static const char system_head[] = "{\"role\":\"system\",\"content\":";

/* An empty or null system is left out. */
static int has_system(bt__jv system)
{
    return system.type != BT__JV_NONE && system.type != BT__JV_NULL &&
        !(system.type == BT__JV_STRING && system.len == 2);
}

int bt__llm_input(const bt__jv_members *params, bt__buf *out)
{
    bt__jv msgs = bt__jv_lookup(params, "messages");
    bt__jv system = bt__jv_lookup(params, "system");
    bt__buf_reserve(out, out->len + msgs.len + system.len + 64); /* one allocation */
    int rc = bt__buf_append(out, "[", 1);
    int any = 0;
    if (msgs.type == BT__JV_ARRAY && msgs.len > 2) {
        /* the elements as they are: the array's text without its brackets */
        rc = rc ? rc : bt__buf_append(out, msgs.p + 1, msgs.len - 2);
        any = 1;
    }
    if (has_system(system)) {
        if (any)
            rc = rc ? rc : bt__buf_append(out, ",", 1);
        rc = rc ? rc : bt__buf_append(out, system_head, sizeof system_head - 1);
        rc = rc ? rc : bt__buf_append(out, system.p, system.len);
        rc = rc ? rc : bt__buf_append(out, "}", 1);
    }
    return rc ? rc : bt__buf_append(out, "]", 1);
}

int bt__llm_input_in_place(bt__buf *body, const bt__jv_members *params, size_t *offset)
{
    bt__jv msgs = bt__jv_lookup(params, "messages");
    bt__jv system = bt__jv_lookup(params, "system");
    if (msgs.type != BT__JV_ARRAY || msgs.len <= 2)
        return BT_EINVAL; /* nothing to keep in place: the caller builds it */
    /* The messages array stays where it is; from its closing bracket on, the system part
     * and a new bracket are written over what followed it (already read). */
    size_t start = (size_t)(msgs.p - body->data), close = start + msgs.len - 1;
    int sys = has_system(system);
    size_t need = close + (sys ? 1 + sizeof system_head - 1 + system.len + 1 : 0) + 1;
    char *saved = NULL;
    if (sys && !(saved = malloc(system.len)))
        return BT_ENOMEM;
    if (sys)
        memcpy(saved, system.p, system.len);
    if (bt__buf_reserve(body, need) != BT_OK || body->alloc < need + 1) {
        free(saved);
        return BT_ENOMEM; /* the views stay valid: nothing was moved */
    }
    char *d = body->data;
    size_t o = close;
    if (sys) {
        d[o++] = ',';
        memcpy(d + o, system_head, sizeof system_head - 1);
        o += sizeof system_head - 1;
        memcpy(d + o, saved, system.len);
        o += system.len;
        d[o++] = '}';
    }
    d[o++] = ']';
    d[o] = '\0';
    body->len = o;
    *offset = start;
    free(saved);
    return BT_OK;
}

/* The MCP servers list with every server's authorization_token replaced. */
static void mcp_servers_without_tokens(bt__jv servers, bt__buf *out)
{
    if (servers.type != BT__JV_ARRAY) {
        bt__buf_append(out, servers.p, servers.len);
        return;
    }
    bt__buf_append(out, "[", 1);
    bt__jv_iter it = bt__jv_iterate(servers);
    bt__jv srv;
    int first = 1;
    while (bt__jv_next(&it, &srv)) {
        if (!first)
            bt__buf_append(out, ",", 1);
        first = 0;
        if (bt__jv_get(srv, "authorization_token").type == BT__JV_NONE) {
            bt__buf_append(out, srv.p, srv.len);
            continue;
        }
        bt__jobj o;
        bt__jobj_init(&o);
        bt__jv_iter mi = bt__jv_iterate(srv);
        bt__jv k, v;
        while (bt__jv_next_member(&mi, &k, &v)) {
            static const char redacted[] = "\"[redacted]\"";
            int token = k.len == 21 && !memcmp(k.p, "\"authorization_token\"", 21);
            bt__jobj_set_raw(&o, k.p + 1, k.len - 2, token ? redacted : v.p,
                             token ? sizeof redacted - 1 : v.len);
        }
        bt__jobj_write(&o, out);
        bt__jobj_free(&o);
    }
    bt__buf_append(out, "]", 1);
}

void bt__llm_request_metadata(const bt__jv_members *params, bt__jobj *md)
{
    bt__jobj_clear(md);
    bt__jobj_set(md, "provider", "\"anthropic\"", 11);
    for (size_t i = 0; i < sizeof request_params / sizeof *request_params; i++) {
        bt__jv v = bt__jv_lookup(params, request_params[i]);
        if (v.type == BT__JV_NONE)
            continue;
        if (!strcmp(request_params[i], "mcp_servers")) {
            bt__buf b;
            bt__buf_init(&b, 0);
            mcp_servers_without_tokens(v, &b);
            bt__jobj_set(md, "mcp_servers", b.data, b.len);
            bt__buf_free(&b);
        } else {
            bt__jobj_set(md, request_params[i], v.p, v.len);
        }
    }
    /* in-conversation system turns, told apart from the top-level system put last */
    bt__buf turns;
    bt__buf_init(&turns, 0);
    if (bt__system_turn_indices(bt__jv_lookup(params, "messages"), &turns) > 0)
        bt__jobj_set(md, "system_turns", turns.data, turns.len);
    bt__buf_free(&turns);
}
