/* The conversation carried by a Messages request (see conversation.h). */
#include "anthropic/conversation.h"

#include <string.h>

static int role_is(const json_t *msg, const char *role)
{
    const char *r = json_string_value(json_object_get(msg, "role"));
    return r && strcmp(r, role) == 0;
}

static int block_is(const json_t *block, const char *type)
{
    const char *t = json_string_value(json_object_get(block, "type"));
    return t && strcmp(t, type) == 0;
}

json_t *bt__system_turn_indices(const json_t *messages)
{
    json_t *out = NULL;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        if (!role_is(m, "system"))
            continue;
        if (!out)
            out = json_array();
        json_array_append_new(out, json_integer((json_int_t)i));
    }
    return out;
}

int bt__conversation_turn(const json_t *messages)
{
    int n = 1;
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m)
    {
        if (role_is(m, "assistant") && n < 1000000)
            n++;
    }
    return n;
}

/* The tool_use block with this id in an assistant turn's content, or NULL. */
static const json_t *find_call(const json_t *assistant, const char *id)
{
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(assistant, "content"), i, b)
    {
        const char *bid = json_string_value(json_object_get(b, "id"));
        if (block_is(b, "tool_use") && bid && strcmp(bid, id) == 0)
            return b;
    }
    return NULL;
}

size_t bt__conversation_tool_rounds(const json_t *messages, bt__tool_round *out, size_t max)
{
    size_t n_msgs = json_array_size(messages);
    /* the last assistant turn; what follows it is what the request brings back */
    size_t last = n_msgs;
    for (size_t i = n_msgs; i-- > 0;) {
        if (role_is(json_array_get(messages, i), "assistant")) {
            last = i;
            break;
        }
    }
    if (last == n_msgs)
        return 0;
    const json_t *assistant = json_array_get(messages, last);
    int turn = bt__conversation_turn(messages) - 1; /* the turn that made the calls */
    size_t found = 0;
    for (size_t i = last + 1; i < n_msgs; i++) {
        const json_t *m = json_array_get(messages, i);
        if (!role_is(m, "user"))
            continue;
        size_t k;
        json_t *b;
        json_array_foreach(json_object_get(m, "content"), k, b)
        {
            const char *id = json_string_value(json_object_get(b, "tool_use_id"));
            if (!block_is(b, "tool_result") || !id)
                continue;
            const json_t *call = find_call(assistant, id);
            if (!call)
                continue;
            if (found < max)
                out[found] = (bt__tool_round){.call = call, .result = b, .turn = turn};
            found++;
        }
    }
    return found;
}
