/*
 * POST /v1/messages and /v1/messages/count_tokens: validates the request like the real
 * API, then derives a deterministic reply from it (an echo of the last user turn,
 * optional thinking, a tool call when tools are offered or scripted, server tools run in
 * the turn, usage computed from sizes, prompt-caching usage when cache_control is
 * present). Requests shaped like today's clients (Claude Code, the SDKs) are accepted:
 * in-conversation "system" turns under the per-turn control beta, context_management,
 * container, tools loaded later (defer_loading), and server tool blocks echoed back in
 * assistant turns.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake.h"

#define ECHO_MAX 200
#define CACHE_SLOTS 4096

uint64_t fake_hash(const void *data, size_t len, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL ^ (seed * 1099511628211ULL);
    const unsigned char *p = data;
    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h;
}

static uint64_t hash_str(const char *s, uint64_t seed)
{
    return fake_hash(s, strlen(s), seed);
}

/* Resolves a model alias to a dated id, as the real API reports it. */
static void model_dated(const char *model, char *out, size_t out_size)
{
    static const struct {
        const char *alias, *date;
    } dated[] = {
        {"claude-haiku-4-5", "20251001"},  {"claude-sonnet-4-5", "20250929"},
        {"claude-opus-4-5", "20251101"},   {"claude-opus-4-1", "20250805"},
        {"claude-sonnet-4", "20250514"},   {"claude-opus-4", "20250514"},
        {"claude-3-7-sonnet", "20250219"}, {"claude-3-5-haiku", "20241022"},
        {"claude-3-5-sonnet", "20241022"}, {"claude-3-haiku", "20240307"},
    };
    size_t n = strlen(model);
    int has_date = n > 9 && model[n - 9] == '-';
    for (size_t i = n > 8 ? n - 8 : 0; has_date && i < n; i++)
        if (model[i] < '0' || model[i] > '9')
            has_date = 0;
    if (has_date) {
        snprintf(out, out_size, "%s", model);
        return;
    }
    const char *date = "20251001";
    for (size_t i = 0; i < sizeof dated / sizeof dated[0]; i++)
        if (strcmp(model, dated[i].alias) == 0)
            date = dated[i].date;
    snprintf(out, out_size, "%s-%s", model, date);
}

/* Bytes of text a request carries (all string values), the basis of token counts. */
static size_t text_bytes(const json_t *v)
{
    size_t n = 0;
    if (json_is_string(v))
        return json_string_length(v);
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) n += text_bytes(x);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x) n += text_bytes(x);
    }
    return n;
}

static long tokens_for_bytes(size_t bytes)
{
    return (long)((bytes + 3) / 4);
}

/* A tool whose definition is loaded only when a tool search asks for it: it is not in
 * the model's context, so it neither counts as input nor gets called directly. */
static int is_deferred(const json_t *tool)
{
    return json_is_true(json_object_get(tool, "defer_loading"));
}

static long input_tokens_of(const json_t *params)
{
    const json_t *msgs = json_object_get(params, "messages");
    size_t bytes = text_bytes(json_object_get(params, "system")) + text_bytes(msgs);
    size_t i;
    json_t *tool;
    json_array_foreach(json_object_get(params, "tools"), i, tool)
    {
        if (!is_deferred(tool))
            bytes += text_bytes(tool);
    }
    return 3 + tokens_for_bytes(bytes) + 3 * (long)json_array_size(msgs);
}

static long count_words(const char *s)
{
    long n = 0;
    int in_word = 0;
    for (; s && *s; s++) {
        int space = *s == ' ' || *s == '\n' || *s == '\t';
        if (!space && !in_word)
            n++;
        in_word = !space;
    }
    return n;
}

/* Finds cache_control anywhere; *ttl_1h is set when one asks for the 1 h TTL. */
static int find_cache_control(const json_t *v, int *ttl_1h)
{
    int found = 0;
    if (json_is_array(v)) {
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) found |= find_cache_control(x, ttl_1h);
    } else if (json_is_object(v)) {
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
        {
            if (strcmp(k, "cache_control") == 0 && json_is_object(x)) {
                found = 1;
                const char *ttl = json_string_value(json_object_get(x, "ttl"));
                if (ttl && strcmp(ttl, "1h") == 0)
                    *ttl_1h = 1;
            } else {
                found |= find_cache_control(x, ttl_1h);
            }
        }
    }
    return found;
}

/* Prompt prefixes seen so far: the first request with a prefix writes the cache, later
 * ones read it. Bounded; when full it starts over, like an evicting cache. */
static uint64_t g_cache[CACHE_SLOTS];
static size_t g_cache_used;

static int cache_seen_before(uint64_t key)
{
    if (key == 0)
        key = 1;
    size_t slot = key % CACHE_SLOTS;
    for (size_t probe = 0; probe < CACHE_SLOTS; probe++) {
        size_t i = (slot + probe) % CACHE_SLOTS;
        if (g_cache[i] == key)
            return 1;
        if (g_cache[i] == 0) {
            if (g_cache_used >= CACHE_SLOTS / 2) {
                memset(g_cache, 0, sizeof g_cache);
                g_cache_used = 0;
                i = slot;
            }
            g_cache[i] = key;
            g_cache_used++;
            return 0;
        }
    }
    return 0;
}

static uint64_t prefix_key(const json_t *params)
{
    uint64_t h = hash_str(json_string_value(json_object_get(params, "model")), 7);
    const char *parts[] = {"system", "tools"};
    for (int i = 0; i < 2; i++) {
        char *d =
            json_dumps(json_object_get(params, parts[i]), JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (d)
            h = hash_str(d, h);
        free(d);
    }
    const json_t *msgs = json_object_get(params, "messages");
    for (size_t i = 0; i + 1 < json_array_size(msgs); i++) {
        char *d = json_dumps(json_array_get(msgs, i), JSON_COMPACT | JSON_SORT_KEYS);
        if (d)
            h = hash_str(d, h);
        free(d);
    }
    return h;
}

/* Appends the text of a content value (string or blocks) to out. */
static void append_content_text(bt__buf *out, const json_t *content, int *has_tool_result)
{
    if (json_is_string(content)) {
        bt__buf_append(out, json_string_value(content), json_string_length(content));
        return;
    }
    size_t i;
    json_t *block;
    json_array_foreach(content, i, block)
    {
        const char *type = json_string_value(json_object_get(block, "type"));
        if (!type)
            continue;
        if (strcmp(type, "text") == 0) {
            const json_t *t = json_object_get(block, "text");
            if (out->len)
                bt__buf_append_char(out, ' ');
            bt__buf_append(out, json_string_value(t), json_string_length(t));
        } else if (strcmp(type, "tool_result") == 0) {
            *has_tool_result = 1;
            if (out->len)
                bt__buf_append_char(out, ' ');
            bt__buf_append_str(out, "tool result:");
            bt__buf_append_char(out, ' ');
            append_content_text(out, json_object_get(block, "content"), has_tool_result);
        }
    }
}

/* The reply text: an echo of the last user turn, cut at a UTF-8 boundary. */
static char *echo_text(const json_t *params, int *has_tool_result)
{
    const json_t *msgs = json_object_get(params, "messages");
    bt__buf said;
    bt__buf_init(&said, ECHO_MAX * 4);
    for (size_t i = json_array_size(msgs); i-- > 0;) {
        const json_t *m = json_array_get(msgs, i);
        const char *role = json_string_value(json_object_get(m, "role"));
        if (role && strcmp(role, "user") == 0) {
            append_content_text(&said, json_object_get(m, "content"), has_tool_result);
            break;
        }
    }
    size_t n = said.len;
    if (n > ECHO_MAX) {
        n = ECHO_MAX;
        while (n > 0 && ((unsigned char)said.data[n] & 0xC0) == 0x80)
            n--;
    }
    for (size_t i = 0; i < n; i++)
        if (said.data[i] == '\n' || said.data[i] == '\r' || said.data[i] == '\t')
            said.data[i] = ' ';
    bt__buf text;
    bt__buf_init(&text, 0);
    bt__buf_append_str(&text, "fake-anthropic echo: ");
    bt__buf_append(&text, said.data ? said.data : "", n);
    bt__buf_free(&said);
    return bt__buf_steal(&text, NULL);
}

/* A plausible tool input from the tool's input_schema. */
static json_t *tool_input_for(const json_t *tool)
{
    json_t *input = json_object();
    const json_t *props = json_object_get(json_object_get(tool, "input_schema"), "properties");
    const char *name;
    json_t *schema;
    json_object_foreach((json_t *)props, name, schema)
    {
        const json_t *en = json_object_get(schema, "enum");
        const char *type = json_string_value(json_object_get(schema, "type"));
        json_t *v;
        if (json_array_size(en) > 0)
            v = json_deep_copy(json_array_get(en, 0));
        else if (!type)
            v = json_null();
        else if (strcmp(type, "string") == 0) {
            char sample[96];
            snprintf(sample, sizeof sample, "fake %s", name);
            v = json_string(sample);
        } else if (strcmp(type, "integer") == 0 || strcmp(type, "number") == 0)
            v = json_integer(42);
        else if (strcmp(type, "boolean") == 0)
            v = json_true();
        else if (strcmp(type, "array") == 0)
            v = json_array();
        else if (strcmp(type, "object") == 0)
            v = json_object();
        else
            v = json_null();
        json_object_set_new(input, name, v);
    }
    return input;
}

/* The tool to call, or NULL: tools offered, tool_choice not "none", and the last user
 * turn is not already a tool result (unless the choice forces a call). */
static const json_t *pick_tool(const json_t *params, int has_tool_result)
{
    const json_t *tools = json_object_get(params, "tools");
    if (json_array_size(tools) == 0)
        return NULL;
    const json_t *choice = json_object_get(params, "tool_choice");
    const char *ctype = json_string_value(json_object_get(choice, "type"));
    if (ctype && strcmp(ctype, "none") == 0)
        return NULL;
    int forced = ctype && (strcmp(ctype, "any") == 0 || strcmp(ctype, "tool") == 0);
    if (has_tool_result && !forced)
        return NULL;
    const char *wanted =
        ctype && strcmp(ctype, "tool") == 0 ? json_string_value(json_object_get(choice, "name")) : NULL;
    size_t i;
    json_t *t;
    json_array_foreach(tools, i, t)
    {
        const char *name = json_string_value(json_object_get(t, "name"));
        const char *type = json_string_value(json_object_get(t, "type"));
        if (!name || (!wanted && is_deferred(t)))
            continue;
        if (wanted ? strcmp(name, wanted) == 0 : (!type || strcmp(type, "custom") == 0))
            return t;
    }
    return NULL;
}

static int thinking_enabled(const json_t *params)
{
    const char *t = json_string_value(json_object_get(json_object_get(params, "thinking"), "type"));
    return t && (strcmp(t, "enabled") == 0 || strcmp(t, "adaptive") == 0);
}

/* Keeps the first `words` words of s (in place). */
static void cut_words(char *s, long words)
{
    long n = 0;
    int in_word = 0;
    for (char *p = s; *p; p++) {
        int space = *p == ' ';
        if (!space && !in_word && n++ == words) {
            while (p > s && p[-1] == ' ')
                p--;
            *p = '\0';
            return;
        }
        in_word = !space;
    }
}

/* Whether the comma-separated anthropic-beta list holds a beta starting with `prefix`
 * (betas are dated: "per-turn-control-2026-07-01"). */
static int has_beta(const char *betas, const char *prefix)
{
    size_t n = strlen(prefix);
    for (const char *p = betas; p && *p;) {
        while (*p == ' ' || *p == ',')
            p++;
        if (strncmp(p, prefix, n) == 0)
            return 1;
        p = strchr(p, ',');
    }
    return 0;
}

/* A system turn carries text only: a string or text blocks. */
static int system_turn_content_ok(const json_t *content)
{
    if (json_is_string(content))
        return 1;
    if (!json_is_array(content))
        return 0;
    size_t i;
    json_t *b;
    json_array_foreach(content, i, b)
    {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type || strcmp(type, "text") != 0 || !json_is_string(json_object_get(b, "text")))
            return 0;
    }
    return 1;
}

static const char *validate_roles(const json_t *params, const char *betas);

static const char *validate(const json_t *params, const char *betas)
{
    if (!json_is_object(params))
        return "Request body must be a JSON object";
    if (!json_is_string(json_object_get(params, "model")))
        return "model: Field required";
    const json_t *mt = json_object_get(params, "max_tokens");
    if (!mt)
        return "max_tokens: Field required";
    if (!json_is_integer(mt) || json_integer_value(mt) < 0)
        return "max_tokens: Input should be a valid non-negative integer";
    return validate_roles(params, betas);
}

/* The messages list: present, a list, each turn with a known role and content. */
static const char *validate_roles(const json_t *params, const char *betas)
{
    const json_t *msgs = json_object_get(params, "messages");
    if (!msgs)
        return "messages: Field required";
    if (!json_is_array(msgs))
        return "messages: Input should be a valid list";
    size_t i;
    json_t *m;
    json_array_foreach(msgs, i, m)
    {
        const char *role = json_string_value(json_object_get(m, "role"));
        const json_t *content = json_object_get(m, "content");
        if (role && strcmp(role, "system") == 0) {
            if (!has_beta(betas, "per-turn-control"))
                return "messages: a message with role \"system\" needs the per-turn control beta "
                       "(anthropic-beta: per-turn-control-2026-07-01)";
            if (!system_turn_content_ok(content))
                return "messages: a system turn's content must be a string or a list of text blocks";
            continue;
        }
        if (!role || (strcmp(role, "user") != 0 && strcmp(role, "assistant") != 0))
            return "messages: each message needs role \"user\", \"assistant\" or \"system\"";
        if (!json_is_string(content) && !json_is_array(content))
            return "messages: content must be a string or a list of content blocks";
    }
    return NULL;
}

/* The scripted call due now, if any: a client tool becomes a tool_use block (returned,
 * with *input set); a server tool runs in this turn (its blocks go into r) and NULL is
 * returned. *scripted tells whether a script exists at all. */
static const json_t *scripted_call(fake_reply *r, const json_t *params, uint64_t h, int *scripted,
                                   json_t **input)
{
    json_t *calls = fake_script_calls(params);
    *scripted = json_array_size(calls) > 0;
    const json_t *tool = NULL;
    size_t done = fake_script_progress(params);
    json_t *call = json_array_get(calls, done);
    if (call) {
        int is_server = 0;
        const json_t *t =
            fake_find_tool(params, json_string_value(json_object_get(call, "name")), &is_server);
        json_t *in = json_object_get(call, "input");
        if (t && is_server)
            fake_server_tool_run(r, t, in, h);
        else if (t) {
            tool = t;
            *input = json_incref(in);
        }
    }
    json_decref(calls);
    return tool;
}

fake_reply *fake_reply_build(json_t *params, const char *betas, uint64_t seed, const char **err)
{
    *err = validate(params, betas);
    if (*err)
        return NULL;
    fake_reply *r = calloc(1, sizeof *r);
    if (!r) {
        *err = "out of memory";
        return NULL;
    }
    const char *model = json_string_value(json_object_get(params, "model"));
    model_dated(model, r->model, sizeof r->model);
    char *dump = json_dumps(params, JSON_COMPACT | JSON_SORT_KEYS);
    uint64_t h = dump ? hash_str(dump, seed) : seed;
    free(dump);
    snprintf(r->msg_id, sizeof r->msg_id, "msg_fake_%016llx", (unsigned long long)h);
    r->service_tier = "standard";
    r->server_blocks = json_array();
    r->context_management = json_object_get(params, "context_management") != NULL;
    const json_t *container = json_object_get(params, "container");
    const char *container_id = json_is_string(container)
        ? json_string_value(container)
        : json_string_value(json_object_get(container, "id"));
    if (container_id)
        snprintf(r->container_id, sizeof r->container_id, "%s", container_id);

    int has_tool_result = 0;
    r->text = echo_text(params, &has_tool_result);
    if (thinking_enabled(params)) {
        bt__buf t;
        bt__buf_init(&t, 0);
        bt__buf_printf(
            &t,
            "The user asked for a reply; fake-anthropic answers deterministically with an echo of %ld words.",
            count_words(r->text) - 2);
        r->thinking = bt__buf_steal(&t, NULL);
        snprintf(r->signature, sizeof r->signature, "ZmFrZS1zaWduYXR1cmU%016llx",
                 (unsigned long long)(h ^ 0x5157));
    }
    int scripted = 0;
    json_t *tool_input = NULL;
    const json_t *tool = scripted_call(r, params, h, &scripted, &tool_input);
    if (!scripted)
        tool = pick_tool(params, has_tool_result);
    if (tool) {
        r->tool_name = strdup(json_string_value(json_object_get(tool, "name")));
        if (!tool_input)
            tool_input = tool_input_for(tool);
        r->tool_input_json = json_dumps(tool_input, JSON_COMPACT | JSON_PRESERVE_ORDER);
        json_decref(tool_input);
        snprintf(r->tool_id, sizeof r->tool_id, "toolu_fake_%016llx", (unsigned long long)(h ^ 0x7001));
        free(r->text);
        bt__buf t;
        bt__buf_init(&t, 0);
        bt__buf_printf(&t, "I will call %s.", r->tool_name);
        r->text = bt__buf_steal(&t, NULL);
        r->stop_reason = "tool_use";
    } else {
        r->stop_reason = "end_turn";
    }

    /* stop_sequences: the reply ends right before the first one it contains. */
    const json_t *stops = json_object_get(params, "stop_sequences");
    size_t i;
    json_t *s;
    json_array_foreach(stops, i, s)
    {
        const char *seq = json_string_value(s);
        char *at = seq && *seq ? strstr(r->text, seq) : NULL;
        if (at && !r->tool_name) {
            *at = '\0';
            r->stop_reason = "stop_sequence";
            r->stop_sequence = strdup(seq);
            break;
        }
    }

    r->thinking_tokens = r->thinking ? count_words(r->thinking) : 0;
    long text_tokens = count_words(r->text);
    long tool_tokens = r->tool_input_json ? 2 + tokens_for_bytes(strlen(r->tool_input_json)) : 0;
    long budget = (long)json_integer_value(json_object_get(params, "max_tokens"));
    if (r->thinking_tokens + text_tokens + tool_tokens > budget) {
        /* Out of budget: thinking first, then as much text as fits, and no tool call. */
        if (r->thinking_tokens > budget) {
            cut_words(r->thinking, budget);
            r->thinking_tokens = budget;
        }
        long left = budget - r->thinking_tokens;
        if (text_tokens > left) {
            cut_words(r->text, left);
            text_tokens = left;
        }
        free(r->tool_name);
        free(r->tool_input_json);
        r->tool_name = r->tool_input_json = NULL;
        tool_tokens = 0;
        free(r->stop_sequence);
        r->stop_sequence = NULL;
        r->stop_reason = "max_tokens";
    }
    r->output_tokens = r->thinking_tokens + text_tokens + tool_tokens;

    /* what a server tool brought into the turn is read by the model: input */
    long input = input_tokens_of(params) + tokens_for_bytes(text_bytes(r->server_blocks));
    int ttl_1h = 0;
    if (find_cache_control(params, &ttl_1h)) {
        long cacheable = input * 3 / 4;
        input -= cacheable;
        if (cache_seen_before(prefix_key(params)))
            r->cache_read = cacheable;
        else {
            r->cache_creation = cacheable;
            if (ttl_1h)
                r->cache_1h = cacheable;
        }
    }
    r->input_tokens = input;
    /* display "omitted": the thinking is billed but its text is not returned. */
    const char *display = json_string_value(json_object_get(json_object_get(params, "thinking"), "display"));
    if (r->thinking && display && strcmp(display, "omitted") == 0)
        r->thinking[0] = '\0';
    return r;
}

void fake_reply_free(fake_reply *r)
{
    if (!r)
        return;
    free(r->thinking);
    free(r->text);
    free(r->tool_name);
    free(r->tool_input_json);
    free(r->stop_sequence);
    json_decref(r->server_blocks);
    free(r);
}

json_t *fake_reply_message_json(const fake_reply *r)
{
    json_t *content = json_array();
    if (r->thinking)
        json_array_append_new(content,
                              json_pack("{s:s, s:s, s:s}", "type", "thinking", "thinking", r->thinking,
                                        "signature", r->signature));
    json_array_extend(content, r->server_blocks);
    if (r->text && *r->text)
        json_array_append_new(content, json_pack("{s:s, s:s}", "type", "text", "text", r->text));
    if (r->tool_name) {
        json_t *input = json_loads(r->tool_input_json, 0, NULL);
        json_array_append_new(content,
                              json_pack("{s:s, s:s, s:s, s:o, s:{s:s}}", "type", "tool_use", "id", r->tool_id,
                                        "name", r->tool_name, "input", input ? input : json_object(),
                                        "caller", "type", "direct"));
    }
    json_t *usage =
        json_pack("{s:I, s:I, s:I, s:{s:I, s:I}, s:I}", "input_tokens", (json_int_t)r->input_tokens,
                  "cache_creation_input_tokens", (json_int_t)r->cache_creation, "cache_read_input_tokens",
                  (json_int_t)r->cache_read, "cache_creation", "ephemeral_5m_input_tokens",
                  (json_int_t)(r->cache_creation - r->cache_1h), "ephemeral_1h_input_tokens",
                  (json_int_t)r->cache_1h, "output_tokens", (json_int_t)r->output_tokens);
    if (r->thinking)
        json_object_set_new(usage, "output_tokens_details",
                            json_pack("{s:I}", "thinking_tokens", (json_int_t)r->thinking_tokens));
    if (r->web_search_requests || r->web_fetch_requests)
        json_object_set_new(usage, "server_tool_use",
                            json_pack("{s:I, s:I}", "web_search_requests", (json_int_t)r->web_search_requests,
                                      "web_fetch_requests", (json_int_t)r->web_fetch_requests));
    json_object_set_new(usage, "service_tier", json_string(r->service_tier));
    json_object_set_new(usage, "inference_geo", json_string("not_available"));
    json_t *msg =
        json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:o, s:n, s:o, s:o}", "model", r->model, "id", r->msg_id,
                  "type", "message", "role", "assistant", "content", content, "stop_reason", r->stop_reason,
                  "stop_sequence", r->stop_sequence ? json_string(r->stop_sequence) : json_null(),
                  "stop_details", "container", fake_reply_container_json(r), "usage", usage);
    if (r->context_management)
        json_object_set_new(msg, "context_management", json_pack("{s:[]}", "applied_edits"));
    return msg;
}

json_t *fake_reply_container_json(const fake_reply *r)
{
    if (!r->container_id[0])
        return json_null();
    /* containers live for 30 days after their last use */
    return json_pack("{s:s, s:s}", "id", r->container_id, "expires_at", "2026-02-01T00:00:00Z");
}

static const char k_rate_headers[] = "anthropic-ratelimit-requests-limit: 4000\r\n"
                                     "anthropic-ratelimit-requests-remaining: 3999\r\n"
                                     "anthropic-ratelimit-tokens-limit: 2000000\r\n"
                                     "anthropic-ratelimit-tokens-remaining: 2000000\r\n";

/* Parses the JSON body, answering 413 or 400 itself on failure. */
static json_t *parse_body(fake_conn *c, const fake_request *req)
{
    if (req->body.len > FAKE_MESSAGES_MAX_BODY) {
        fake_respond_error(c, req, 413, "request_too_large",
                           "Request exceeds the maximum allowed number of bytes.");
        return NULL;
    }
    json_error_t jerr;
    json_t *params = json_loadb(req->body.data ? req->body.data : "", req->body.len, 0, &jerr);
    if (!params) {
        char msg[300];
        snprintf(msg, sizeof msg, "Invalid JSON in request body: %s", jerr.text);
        fake_respond_error(c, req, 400, "invalid_request_error", msg);
    }
    return params;
}

static uint64_t g_message_counter;

void fake_handle_messages(fake_conn *c, fake_request *req)
{
    json_t *params = parse_body(c, req);
    if (!params)
        return;
    const char *scenario = fake_scenario(req, json_string_value(json_object_get(params, "model")));
    int streaming = json_is_true(json_object_get(params, "stream"));
    if (scenario && fake_respond_scenario(c, req, scenario))
        goto done;
    int mode = 0;
    if (scenario && strcmp(scenario, "stream-error") == 0)
        mode = 1;
    else if (scenario && strcmp(scenario, "stream-close") == 0)
        mode = 2;
    if (mode == 2 && !streaming) {
        fake_respond_abort(c);
        goto done;
    }
    if (mode == 1 && !streaming) {
        fake_respond_error(c, req, 529, "overloaded_error", "Overloaded");
        goto done;
    }
    if (fake_replay_serve(c, req))
        goto done;

    const char *err = NULL;
    fake_reply *r =
        fake_reply_build(params, fake_header_get(req, "anthropic-beta"), ++g_message_counter, &err);
    if (!r) {
        fake_respond_error(c, req, 400, "invalid_request_error", err);
        goto done;
    }
    snprintf(req->log_note, sizeof req->log_note, "model=%s in=%ld out=%ld%s", r->model,
             r->input_tokens + r->cache_creation + r->cache_read, r->output_tokens,
             streaming ? " stream" : "");
    if (streaming) {
        fake_stream_reply(c, req, r, mode); /* takes r */
    } else {
        json_t *msg = fake_reply_message_json(r);
        char *text = json_dumps(msg, JSON_COMPACT | JSON_PRESERVE_ORDER);
        fake_respond(c, req, 200, "application/json", k_rate_headers, text, strlen(text));
        free(text);
        json_decref(msg);
        fake_reply_free(r);
    }
done:
    json_decref(params);
}

void fake_handle_count_tokens(fake_conn *c, fake_request *req)
{
    json_t *params = parse_body(c, req);
    if (!params)
        return;
    const char *scenario = fake_scenario(req, json_string_value(json_object_get(params, "model")));
    if (scenario && fake_respond_scenario(c, req, scenario))
        goto done;
    const char *bad;
    if (!json_is_string(json_object_get(params, "model"))) {
        fake_respond_error(c, req, 400, "invalid_request_error", "model: Field required");
    } else if (!json_is_array(json_object_get(params, "messages"))) {
        fake_respond_error(c, req, 400, "invalid_request_error", "messages: Field required");
    } else if ((bad = validate_roles(params, fake_header_get(req, "anthropic-beta"))) != NULL) {
        fake_respond_error(c, req, 400, "invalid_request_error", bad);
    } else {
        char body[64];
        int n = snprintf(body, sizeof body, "{\"input_tokens\":%ld}", input_tokens_of(params));
        fake_respond(c, req, 200, "application/json", NULL, body, (size_t)n);
    }
done:
    json_decref(params);
}
