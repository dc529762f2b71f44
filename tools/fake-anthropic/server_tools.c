/*
 * Server tools run by fake-anthropic itself, the way the real API runs them inside one
 * turn: a server_tool_use block, then its result block, both in the same reply, counted
 * in usage.server_tool_use. Results are deterministic stand-ins (no network): a search
 * returns two example.com results with opaque encrypted_content, a fetch returns a short
 * text document, code execution "runs" the command and reports it on stdout, inside a
 * container whose id the reply carries.
 */
#include <stdio.h>
#include <string.h>

#include "fake.h"

/* The server tool behind an offered tool definition, or NULL for a custom tool. */
static const char *server_kind(const json_t *tool)
{
    const char *type = json_string_value(json_object_get(tool, "type"));
    if (!type || strcmp(type, "custom") == 0)
        return NULL;
    if (strncmp(type, "web_search_", 11) == 0)
        return "web_search";
    if (strncmp(type, "web_fetch_", 10) == 0)
        return "web_fetch";
    if (strncmp(type, "code_execution_", 15) == 0)
        return "code_execution";
    return "unsupported";
}

const json_t *fake_find_tool(const json_t *params, const char *name, int *is_server)
{
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(params, "tools"), i, t)
    {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n && strcmp(n, name) == 0) {
            *is_server = server_kind(t) != NULL;
            return t;
        }
    }
    return NULL;
}

static const char *input_string(const json_t *input, const char *key, const char *fallback)
{
    const char *v = json_string_value(json_object_get(input, key));
    return v && *v ? v : fallback;
}

int fake_server_tool_run(fake_reply *r, const json_t *tool, const json_t *input, uint64_t h)
{
    const char *kind = server_kind(tool);
    if (!kind || strcmp(kind, "unsupported") == 0)
        return -1;
    char id[48];
    snprintf(id, sizeof id, "srvtoolu_fake_%016llx",
             (unsigned long long)(h ^ (0x5e7 + json_array_size(r->server_blocks))));
    const char *call_name = kind;
    json_t *result;
    if (strcmp(kind, "web_search") == 0) {
        const char *q = input_string(input, "query", "fake query");
        json_t *hits = json_array();
        for (int i = 1; i <= 2; i++) {
            char url[96], title[256], blob[96];
            snprintf(url, sizeof url, "https://example.com/fake-result-%d", i);
            snprintf(title, sizeof title, "Fake result %d for %.200s", i, q);
            snprintf(blob, sizeof blob, "RmFrZUVuY3J5cHRlZENvbnRlbnQ%016llx",
                     (unsigned long long)(h ^ (uint64_t)i));
            json_array_append_new(hits,
                                  json_pack("{s:s, s:s, s:s, s:s, s:n}", "type", "web_search_result", "url",
                                            url, "title", title, "encrypted_content", blob, "page_age"));
        }
        result = json_pack("{s:s, s:s, s:o}", "type", "web_search_tool_result", "tool_use_id", id, "content",
                           hits);
        r->web_search_requests++;
    } else if (strcmp(kind, "web_fetch") == 0) {
        const char *url = input_string(input, "url", "https://example.com/");
        char page[512];
        snprintf(page, sizeof page, "fake-anthropic fetched %.400s", url);
        result = json_pack("{s:s, s:s, s:{s:s, s:s, s:{s:s, s:{s:s, s:s, s:s}, s:s}, s:s}}", "type",
                           "web_fetch_tool_result", "tool_use_id", id, "content", "type", "web_fetch_result",
                           "url", url, "content", "type", "document", "source", "type", "text", "media_type",
                           "text/plain", "data", page, "title", "Fake page", "retrieved_at",
                           "2026-01-01T00:00:00Z");
        r->web_fetch_requests++;
    } else {
        const char *cmd = input_string(input, "command", "true");
        char out[512];
        snprintf(out, sizeof out, "fake-anthropic ran: %.400s\n", cmd);
        call_name = "bash_code_execution";
        result =
            json_pack("{s:s, s:s, s:{s:s, s:s, s:s, s:i, s:[]}}", "type", "bash_code_execution_tool_result",
                      "tool_use_id", id, "content", "type", "bash_code_execution_result", "stdout", out,
                      "stderr", "", "return_code", 0, "content");
        if (!r->container_id[0])
            snprintf(r->container_id, sizeof r->container_id, "container_fake_%016llx",
                     (unsigned long long)(h ^ 0xc0de));
    }
    json_t *call = json_pack("{s:s, s:s, s:s, s:O, s:{s:s}}", "type", "server_tool_use", "id", id, "name",
                             call_name, "input", input, "caller", "type", "direct");
    json_array_append_new(r->server_blocks, call);
    json_array_append_new(r->server_blocks, result);
    return 0;
}
