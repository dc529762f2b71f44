/* The conversation carried by a Messages request (see conversation.h). */
#define _GNU_SOURCE /* memmem */
#include "anthropic/conversation.h"

#include <stdio.h>
#include <string.h>

/* A string member equal to `name` as a C string compares it (up to a NUL). */
static int member_is(bt__jv obj, const char *key, const char *name)
{
    bt__jv v = bt__jv_get(obj, key);
    if (v.type != BT__JV_STRING)
        return 0;
    char tmp[64];
    return bt__jv_copy(v, tmp, sizeof tmp) >= 0 && strcmp(tmp, name) == 0;
}

size_t bt__system_turn_indices(bt__jv messages, bt__buf *out)
{
    /* System turns are rare and a conversation long: in canonical text a "role" member
     * reading "system" (up to a NUL, as member_is compares) is spelled with these bytes
     * (letters are never escaped, and inside a string every quote is), so without them
     * there is none and the turns need no walk. */
    static const char SYSTEM_ROLE[] = "\"role\":\"system";
    if (messages.type != BT__JV_ARRAY ||
        !memmem(messages.p, messages.len, SYSTEM_ROLE, sizeof SYSTEM_ROLE - 1))
        return 0;
    size_t found = 0, i = 0;
    bt__jv_iter it = bt__jv_iterate(messages);
    bt__jv m;
    while (messages.type == BT__JV_ARRAY && bt__jv_next(&it, &m)) {
        if (member_is(m, "role", "system")) {
            char num[24];
            int n = snprintf(num, sizeof num, "%s%zu", found ? "," : "[", i);
            bt__buf_append(out, num, (size_t)n);
            found++;
        }
        i++;
    }
    if (found)
        bt__buf_append(out, "]", 1);
    return found;
}

int bt__conversation_turn(bt__jv messages)
{
    int n = 1;
    bt__jv_iter it = bt__jv_iterate(messages);
    bt__jv m;
    while (messages.type == BT__JV_ARRAY && bt__jv_next(&it, &m))
        if (member_is(m, "role", "assistant") && n < 1000000)
            n++;
    return n;
}

/* The tool_use block with this id in an assistant turn's content, or absent. */
static bt__jv find_call(bt__jv assistant, bt__jv id)
{
    bt__jv_iter it = bt__jv_iterate(bt__jv_get(assistant, "content"));
    bt__jv b;
    while (bt__jv_next(&it, &b)) {
        bt__jv bid = bt__jv_get(b, "id");
        /* canonical strings are equal exactly when their texts are */
        if (member_is(b, "type", "tool_use") && bid.type == BT__JV_STRING && bid.len == id.len &&
            memcmp(bid.p, id.p, id.len) == 0)
            return b;
    }
    return bt__jv_from(NULL, 0);
}

size_t bt__conversation_tool_rounds(bt__jv messages, bt__tool_round *out, size_t max)
{
    if (messages.type != BT__JV_ARRAY)
        return 0;
    /* the last assistant turn; what follows it is what the request brings back */
    bt__jv assistant = bt__jv_from(NULL, 0), m;
    const char *after = NULL;
    int turn = 0;
    bt__jv_iter it = bt__jv_iterate(messages);
    while (bt__jv_next(&it, &m)) {
        if (member_is(m, "role", "assistant")) {
            assistant = m;
            after = m.p + m.len;
            if (turn < 999999)
                turn++;
        }
    }
    if (assistant.type == BT__JV_NONE)
        return 0;
    size_t found = 0;
    it = bt__jv_iterate(messages);
    it.p = after + 1 <= it.end ? after + 1 : it.end; /* past the comma after it */
    while (bt__jv_next(&it, &m)) {
        if (!member_is(m, "role", "user"))
            continue;
        bt__jv_iter ci = bt__jv_iterate(bt__jv_get(m, "content"));
        bt__jv b;
        while (bt__jv_next(&ci, &b)) {
            bt__jv id = bt__jv_get(b, "tool_use_id");
            if (!member_is(b, "type", "tool_result") || id.type != BT__JV_STRING)
                continue;
            bt__jv call = find_call(assistant, id);
            if (call.type == BT__JV_NONE)
                continue;
            if (found < max)
                out[found] = (bt__tool_round){.call = call, .result = b, .turn = turn};
            found++;
        }
    }
    return found;
}
