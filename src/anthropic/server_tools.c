/* Child tool spans for server and MCP tool calls (see server_tools.h). */
#include "anthropic/server_tools.h"

#include <stdio.h>
#include <string.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "util/utf8.h"

#define NS_TOOL "anthropic:tool"

/* jansson parses no deeper than this, so a walk never needs to go further. */
#define REDACT_DEPTH_MAX 4096

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

static const char *str_field(const json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* Opaque blobs the API hands back to itself on the next turn: unreadable, and large. */
static void redact(json_t *v, int depth)
{
    if (depth > REDACT_DEPTH_MAX)
        return;
    if (json_is_object(v)) {
        const char *key;
        json_t *child;
        json_object_foreach(v, key, child)
        {
            if (json_is_string(child) &&
                (!strcmp(key, "encrypted_content") || !strcmp(key, "encrypted_index")))
                json_string_set(child, "<redacted>");
            else
                redact(child, depth + 1);
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) redact(child, depth + 1);
    }
}

/* The position of the block answering call `id` (a result of the right kind), or -1. */
static long find_result(const json_t *content, size_t after, const char *id, int mcp)
{
    for (size_t i = after + 1; i < json_array_size(content); i++) {
        const json_t *b = json_array_get(content, i);
        const char *type = str_field(b, "type");
        const char *use_id = str_field(b, "tool_use_id");
        if (!type || !use_id || strcmp(use_id, id) != 0)
            continue;
        int is_mcp_result = !strcmp(type, "mcp_tool_result");
        if (mcp ? is_mcp_result : (!is_mcp_result && ends_with(type, "_tool_result")))
            return (long)i;
    }
    return -1;
}

static uint64_t clamp(uint64_t t, const bt__server_tools *s)
{
    if (t < s->start_ns)
        return s->start_ns;
    if (s->end_ns && t > s->end_ns)
        return s->end_ns;
    return t;
}

/* Error status from a result block; returns the error.type or NULL. */
static const char *set_error(bt_span *span, const json_t *result, const char *result_type)
{
    char msg[320];
    const json_t *content = json_object_get(result, "content");
    const char *ctype = str_field(content, "type");
    if (ctype && ends_with(ctype, "_error")) {
        const char *code = str_field(content, "error_code");
        if (code)
            snprintf(msg, sizeof msg, "%s: %s", ctype, code);
        else
            snprintf(msg, sizeof msg, "%s", ctype);
        bt_span_set_status(span, BT_STATUS_ERROR, msg);
        return ctype;
    }
    if (!strcmp(result_type, "mcp_tool_result") && json_is_true(json_object_get(result, "is_error"))) {
        /* the server's own words, when it gave any, are the useful part */
        const char *text = json_is_string(content) ? json_string_value(content)
                                                   : str_field(json_array_get(content, 0), "text");
        if (text && text[0]) {
            size_t n = bt__utf8_cut(text, strnlen(text, 256));
            snprintf(msg, sizeof msg, "mcp_tool_error: %.*s", (int)n, text);
        } else {
            snprintf(msg, sizeof msg, "mcp_tool_error");
        }
        bt_span_set_status(span, BT_STATUS_ERROR, msg);
        return "mcp_tool_error";
    }
    return NULL;
}

static void emit(const bt__server_tools *s, size_t call_pos, long result_pos, const uint8_t parent_sid[8],
                 const bt_span_context *parent)
{
    const json_t *call = json_array_get(s->content, call_pos);
    const json_t *result = result_pos >= 0 ? json_array_get(s->content, (size_t)result_pos) : NULL;
    const char *call_type = str_field(call, "type");
    const char *id = str_field(call, "id");
    const char *name = str_field(call, "name");
    if (!name || !name[0])
        name = call_type;

    uint64_t start = s->start_ns, end = s->end_ns;
    if (s->times && call_pos < s->n_times && s->times[call_pos].start_ns)
        start = s->times[call_pos].start_ns;
    if (result && s->times && (size_t)result_pos < s->n_times) {
        const bt__block_time *rt = &s->times[result_pos];
        if (rt->stop_ns || rt->start_ns)
            end = rt->stop_ns ? rt->stop_ns : rt->start_ns;
    }
    start = clamp(start, s);
    end = clamp(end, s);
    if (end < start)
        end = start;

    bt_span_options o = {0};
    o.parent = parent;
    o.start_unix_nano = start;
    o.kind = BT_SPAN_KIND_INTERNAL;
    uint8_t sid[8];
    if (s->derive_ids) {
        char key[8 + 256];
        size_t idlen = id ? strnlen(id, 256) : 0;
        memcpy(key, parent_sid, 8);
        if (idlen)
            memcpy(key + 8, id, idlen);
        else
            idlen = (size_t)snprintf(key + 8, 256, "#%zu", call_pos);
        bt_derive_id(NS_TOOL, key, 8 + idlen, sid, sizeof sid);
        o.span_id = sid;
    }
    bt_span *span = bt_span_start(bt__anthropic_tracer(s->a), name, &o);
    if (!span)
        return;
    if (s->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", s->braintrust_parent);
    bt__span_set_span_attributes(span, "tool", name);

    json_t *input = json_object_get(call, "input");
    if (input)
        bt__span_set_json(s->a, span, "braintrust.input_json", "input", input);

    json_t *md = json_pack("{s:s,s:s}", "provider", "anthropic", "tool_call_type", call_type);
    if (id)
        json_object_set_new(md, "tool_use_id", json_string(id));
    json_t *v;
    if ((v = json_object_get(call, "caller")) && !json_is_null(v))
        json_object_set(md, "caller", v);
    if (json_is_string(v = json_object_get(call, "server_name")))
        json_object_set(md, "server_name", v);

    const char *error_type = NULL;
    if (result) {
        const char *result_type = str_field(result, "type");
        json_object_set_new(md, "tool_result_type", json_string(result_type));
        json_t *out = json_deep_copy(json_object_get(result, "content"));
        if (out) {
            redact(out, 0);
            bt__span_set_json(s->a, span, "braintrust.output_json", "output", out);
            json_decref(out);
        }
        error_type = set_error(span, result, result_type);
    } else {
        /* paused (pause_turn) or cut before the result: the call happened all the same */
        json_object_set_new(md, "result_missing", json_true());
    }
    bt__span_set_json(s->a, span, "braintrust.metadata", NULL, md);
    json_decref(md);

    if (bt__anthropic_genai_enabled(s->a)) {
        bt_span_set_string(span, "gen_ai.operation.name", "execute_tool");
        bt_span_set_string(span, "gen_ai.tool.name", name);
        if (id)
            bt_span_set_string(span, "gen_ai.tool.call.id", id);
        if (error_type)
            bt_span_set_string(span, "error.type", error_type);
    }
    bt_span_end(span, end);
}

size_t bt__server_tool_spans(const bt__server_tools *s)
{
    if (!s->llm || !json_is_array(s->content))
        return 0;
    bt_span_context parent;
    if (bt_span_get_context(s->llm, &parent) != BT_OK)
        return 0;
    size_t emitted = 0, dropped = 0;
    for (size_t i = 0; i < json_array_size(s->content); i++) {
        const json_t *b = json_array_get(s->content, i);
        const char *type = str_field(b, "type");
        if (!type)
            continue;
        int mcp = !strcmp(type, "mcp_tool_use");
        if (!mcp && strcmp(type, "server_tool_use") != 0)
            continue;
        if (emitted == BT__SERVER_TOOL_SPANS_MAX) {
            dropped++;
            continue;
        }
        const char *id = str_field(b, "id");
        emit(s, i, id ? find_result(s->content, i, id, mcp) : -1, parent.span_id, &parent);
        emitted++;
    }
    return dropped;
}
