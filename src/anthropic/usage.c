/* Anthropic usage objects to Braintrust metrics. */
#include <stdio.h>

#include "anthropic/json_util.h"
#include "anthropic/usage.h"

void bt__usage_read(const json_t *usage, bt__usage *u)
{
    u->input = bt__json_count(json_object_get(usage, "input_tokens"));
    u->cache_read = bt__json_count(json_object_get(usage, "cache_read_input_tokens"));
    u->cache_creation = bt__json_count(json_object_get(usage, "cache_creation_input_tokens"));
    const json_t *split = json_object_get(usage, "cache_creation");
    u->has_cache_split = json_is_object(split);
    u->cache_5m = bt__json_count(json_object_get(split, "ephemeral_5m_input_tokens"));
    u->cache_1h = bt__json_count(json_object_get(split, "ephemeral_1h_input_tokens"));
    if (u->cache_creation < 0 && (u->cache_5m >= 0 || u->cache_1h >= 0))
        u->cache_creation = (u->cache_5m > 0 ? u->cache_5m : 0) + (u->cache_1h > 0 ? u->cache_1h : 0);
    u->output = bt__json_count(json_object_get(usage, "output_tokens"));
    u->reasoning =
        bt__json_count(json_object_get(json_object_get(usage, "output_tokens_details"), "thinking_tokens"));
    u->prompt = -1;
    if (u->input >= 0)
        u->prompt = u->input + (u->cache_read > 0 ? u->cache_read : 0) +
            (u->cache_creation > 0 ? u->cache_creation : 0);
    u->total = u->prompt >= 0 && u->output >= 0 ? u->prompt + u->output : -1;
}

static void put(json_t *m, const char *key, int64_t v)
{
    if (v >= 0)
        json_object_set_new(m, key, json_integer(v));
}

void bt__usage_add_metrics(const json_t *usage, json_t *metrics)
{
    if (!json_is_object(usage) || !json_is_object(metrics))
        return;
    bt__usage u;
    bt__usage_read(usage, &u);
    put(metrics, "prompt_tokens", u.prompt);
    put(metrics, "completion_tokens", u.output);
    put(metrics, "tokens", u.total);
    put(metrics, "prompt_cached_tokens", u.cache_read);
    if (u.has_cache_split && (u.cache_5m >= 0 || u.cache_1h >= 0)) {
        /* the TTL split is an alternative representation of the aggregate, not an
         * addition to it: emitting both would double-count cache writes */
        put(metrics, "prompt_cache_creation_5m_tokens", u.cache_5m);
        put(metrics, "prompt_cache_creation_1h_tokens", u.cache_1h);
    } else {
        put(metrics, "prompt_cache_creation_tokens",
            bt__json_count(json_object_get(usage, "cache_creation_input_tokens")));
    }
    put(metrics, "completion_reasoning_tokens", u.reasoning);

    const char *key;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(usage, "server_tool_use"), key, v)
    {
        int64_t n = bt__json_count(v);
        char name[160];
        if (n >= 0 && snprintf(name, sizeof name, "server_tool_use_%s", key) < (int)sizeof name)
            put(metrics, name, n);
    }
}
