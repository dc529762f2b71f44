/* Anthropic usage objects to Braintrust metrics. */
#include "anthropic/usage.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

int64_t bt__usage_count(bt__jv v)
{
    int64_t i;
    if (bt__jv_int64(v, &i))
        return i >= 0 ? i : -1;
    if (v.type == BT__JV_REAL) {
        double d = bt__jv_double(v);
        if (isfinite(d) && d >= 0 && d < 9.0e18 && floor(d) == d)
            return (int64_t)d;
    }
    return -1;
}

/* a + b for counts (>= 0): past INT64_MAX the sum stays at INT64_MAX, and says so. */
static int64_t add(int64_t a, int64_t b, int *saturated)
{
    int64_t sum;
    if (__builtin_add_overflow(a, b, &sum)) {
        *saturated = 1;
        return INT64_MAX;
    }
    return sum;
}

void bt__usage_read(bt__jv usage, bt__usage *u)
{
    u->saturated = 0;
    bt__jv_members m;
    bt__jv_index(usage, &m);
    u->input = bt__usage_count(bt__jv_lookup(&m, "input_tokens"));
    u->cache_read = bt__usage_count(bt__jv_lookup(&m, "cache_read_input_tokens"));
    u->cache_creation = bt__usage_count(bt__jv_lookup(&m, "cache_creation_input_tokens"));
    bt__jv split = bt__jv_lookup(&m, "cache_creation");
    u->has_cache_split = split.type == BT__JV_OBJECT;
    u->cache_5m = bt__usage_count(bt__jv_get(split, "ephemeral_5m_input_tokens"));
    u->cache_1h = bt__usage_count(bt__jv_get(split, "ephemeral_1h_input_tokens"));
    if (u->cache_creation < 0 && (u->cache_5m >= 0 || u->cache_1h >= 0))
        u->cache_creation =
            add(u->cache_5m > 0 ? u->cache_5m : 0, u->cache_1h > 0 ? u->cache_1h : 0, &u->saturated);
    u->output = bt__usage_count(bt__jv_lookup(&m, "output_tokens"));
    u->reasoning = bt__usage_count(bt__jv_get(bt__jv_lookup(&m, "output_tokens_details"), "thinking_tokens"));
    u->prompt = -1;
    if (u->input >= 0)
        u->prompt = add(add(u->input, u->cache_read > 0 ? u->cache_read : 0, &u->saturated),
                        u->cache_creation > 0 ? u->cache_creation : 0, &u->saturated);
    u->total = u->prompt >= 0 && u->output >= 0 ? add(u->prompt, u->output, &u->saturated) : -1;
}

static void put(bt__jobj *m, const char *key, int64_t v)
{
    if (v >= 0)
        bt__jobj_set_int(m, key, v);
}

void bt__usage_add_metrics(bt__jv usage, bt__jobj *metrics)
{
    if (usage.type != BT__JV_OBJECT)
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
            bt__usage_count(bt__jv_get(usage, "cache_creation_input_tokens")));
    }
    put(metrics, "completion_reasoning_tokens", u.reasoning);

    bt__jv_iter it = bt__jv_iterate(bt__jv_get(usage, "server_tool_use"));
    bt__jv k, v;
    while (bt__jv_next_member(&it, &k, &v)) {
        /* server_tool_use_<key>, the key kept escaped as it came; names that would
         * decode to 160 bytes or more are left out */
        static const char prefix[] = "server_tool_use_";
        int64_t n = bt__usage_count(v);
        char name[sizeof prefix + 6 * 160]; /* escaping writes at most 6 bytes a byte */
        if (n < 0 || sizeof prefix - 1 + bt__jv_decoded_len(k) >= 160)
            continue;
        memcpy(name, prefix, sizeof prefix - 1);
        memcpy(name + sizeof prefix - 1, k.p + 1, k.len - 2);
        char tmp[24];
        int len = snprintf(tmp, sizeof tmp, "%lld", (long long)n);
        bt__jobj_set_raw(metrics, name, sizeof prefix - 1 + k.len - 2, tmp, (size_t)len);
    }
}
