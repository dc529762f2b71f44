/*
 * Scripted tool calls: a user can tell fake-anthropic which tools to call, in which
 * order and with which input, by writing lines such as
 *
 *     fake-anthropic: call Bash {"command":"echo hello","description":"Say hello"}
 *     fake-anthropic: call web_search {"query":"braintrust"}
 *
 * in the text of the conversation's user turns. The n-th reply of the conversation
 * (counted by the assistant turns that already called a tool) makes the n-th scripted
 * call; once the script is used up the reply is text again. This is how an agent such
 * as Claude Code is driven through a deterministic multi-turn run offline: each of its
 * requests carries the whole conversation, so the script and the progress through it
 * are read from the request alone, and any number of fake-anthropic processes answer
 * alike.
 */
#include <ctype.h>
#include <string.h>

#include "fake.h"

#define DIRECTIVE "fake-anthropic: call "
#define MAX_CALLS 64
#define MAX_TOOL_NAME 128

/* Appends the directives found in one text to `calls`. */
static void scan_text(const char *text, size_t len, json_t *calls)
{
    const char *end = text + len;
    const char *p = text;
    size_t dlen = sizeof DIRECTIVE - 1;
    while (json_array_size(calls) < MAX_CALLS) {
        const char *at = NULL;
        for (const char *q = p; q + dlen <= end; q++) {
            if (memcmp(q, DIRECTIVE, dlen) == 0) {
                at = q;
                break;
            }
        }
        if (!at)
            return;
        const char *name = at + dlen;
        const char *n = name;
        while (n < end && (isalnum((unsigned char)*n) || *n == '_' || *n == '-'))
            n++;
        p = n;
        if (n == name || n - name > MAX_TOOL_NAME)
            continue;
        json_t *input = NULL;
        const char *j = n;
        while (j < end && (*j == ' ' || *j == '\t'))
            j++;
        if (j < end && *j == '{') {
            json_error_t err;
            input = json_loadb(j, (size_t)(end - j), JSON_DISABLE_EOF_CHECK, &err);
            if (!json_is_object(input)) {
                json_decref(input);
                input = NULL;
            } else {
                p = j + err.position;
            }
        }
        json_array_append_new(calls,
                              json_pack("{s:s%, s:o}", "name", name, (size_t)(n - name), "input",
                                        input ? input : json_object()));
    }
}

json_t *fake_script_calls(const json_t *params)
{
    json_t *calls = json_array();
    const json_t *msgs = json_object_get(params, "messages");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "user") != 0)
            continue;
        const json_t *content = json_object_get(m, "content");
        if (json_is_string(content)) {
            scan_text(json_string_value(content), json_string_length(content), calls);
            continue;
        }
        size_t k;
        json_t *block;
        json_array_foreach(content, k, block)
        {
            const char *type = json_string_value(json_object_get(block, "type"));
            const json_t *t = json_object_get(block, "text");
            if (type && strcmp(type, "text") == 0 && json_is_string(t))
                scan_text(json_string_value(t), json_string_length(t), calls);
        }
    }
    return calls;
}

size_t fake_script_progress(const json_t *params)
{
    size_t done = 0;
    const json_t *msgs = json_object_get(params, "messages");
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        if (!role || strcmp(role, "assistant") != 0)
            continue;
        size_t k;
        json_t *block;
        json_array_foreach(json_object_get(m, "content"), k, block)
        {
            const char *type = json_string_value(json_object_get(block, "type"));
            if (type && (strcmp(type, "tool_use") == 0 || strcmp(type, "server_tool_use") == 0)) {
                done++;
                break;
            }
        }
    }
    return done;
}
