/*
 * Anthropic usage -> Braintrust metrics, one rule per case (conventions §2.1, §4):
 * cache reads and writes count as prompt tokens, the TTL split replaces the aggregate,
 * nothing unreported or invalid is invented, nothing is negative.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "anthropic/usage.h"

/* The metrics of a usage object, read back as a jansson object. */
static json_t *metrics_of(const char *usage_json)
{
    bt__json_doc d;
    assert_int_equal(bt__json_parse(&d, usage_json, strlen(usage_json), 0), 0);
    bt__jobj m;
    bt__jobj_init(&m);
    bt__usage_add_metrics(d.root, &m);
    bt__buf text;
    bt__buf_init(&text, 0);
    assert_int_equal(bt__jobj_write(&m, &text), 0);
    json_t *out = json_loads(text.data, 0, NULL);
    assert_non_null(out);
    bt__buf_free(&text);
    bt__jobj_free(&m);
    bt__json_doc_free(&d);
    return out;
}

static long long get(json_t *m, const char *k)
{
    json_t *v = json_object_get(m, k);
    assert_true(json_is_integer(v));
    return (long long)json_integer_value(v);
}

static void test_full_usage(void **state)
{
    (void)state;
    json_t *m =
        metrics_of("{\"input_tokens\":21,\"cache_creation_input_tokens\":100,\"cache_read_input_tokens\":50,"
                   "\"cache_creation\":{\"ephemeral_5m_input_tokens\":60,\"ephemeral_1h_input_tokens\":40},"
                   "\"output_tokens\":214,\"output_tokens_details\":{\"thinking_tokens\":131},"
                   "\"server_tool_use\":{\"web_search_requests\":2,\"web_fetch_requests\":0,\"note\":\"x\"},"
                   "\"service_tier\":\"standard\"}");
    assert_int_equal(get(m, "prompt_tokens"), 171);
    assert_int_equal(get(m, "completion_tokens"), 214);
    assert_int_equal(get(m, "tokens"), 385);
    assert_int_equal(get(m, "prompt_cached_tokens"), 50);
    assert_int_equal(get(m, "prompt_cache_creation_5m_tokens"), 60);
    assert_int_equal(get(m, "prompt_cache_creation_1h_tokens"), 40);
    assert_null(json_object_get(m, "prompt_cache_creation_tokens"));
    assert_int_equal(get(m, "completion_reasoning_tokens"), 131);
    assert_int_equal(get(m, "server_tool_use_web_search_requests"), 2);
    assert_int_equal(get(m, "server_tool_use_web_fetch_requests"), 0);
    assert_null(json_object_get(m, "server_tool_use_note"));
    assert_int_equal(json_object_size(m), 9);
    json_decref(m);
}

static void test_aggregate_without_split(void **state)
{
    (void)state;
    json_t *m = metrics_of("{\"input_tokens\":3,\"cache_creation_input_tokens\":7,\"output_tokens\":1}");
    assert_int_equal(get(m, "prompt_tokens"), 10);
    assert_int_equal(get(m, "prompt_cache_creation_tokens"), 7);
    assert_null(json_object_get(m, "prompt_cached_tokens")); /* not reported: not invented */
    assert_null(json_object_get(m, "prompt_cache_creation_5m_tokens"));
    json_decref(m);

    /* only the split: prompt tokens use 5m + 1h */
    m = metrics_of("{\"input_tokens\":3,\"cache_creation\":{\"ephemeral_5m_input_tokens\":4,"
                   "\"ephemeral_1h_input_tokens\":5},\"output_tokens\":1}");
    assert_int_equal(get(m, "prompt_tokens"), 12);
    json_decref(m);
}

static void test_old_and_invalid_usage(void **state)
{
    (void)state;
    /* a 2025 message_delta usage: output only */
    json_t *m = metrics_of("{\"output_tokens\":15}");
    assert_int_equal(get(m, "completion_tokens"), 15);
    assert_int_equal(json_object_size(m), 1);
    json_decref(m);

    /* negative, non-numeric and fractional values are dropped, never zero-filled */
    m = metrics_of("{\"input_tokens\":-4,\"output_tokens\":\"12\",\"cache_read_input_tokens\":1.5,"
                   "\"cache_creation_input_tokens\":null}");
    assert_int_equal(json_object_size(m), 0);
    json_decref(m);

    /* a whole-valued real is a count */
    m = metrics_of("{\"input_tokens\":4.0,\"output_tokens\":2}");
    assert_int_equal(get(m, "prompt_tokens"), 4);
    assert_int_equal(get(m, "tokens"), 6);
    json_decref(m);

    bt__usage u;
    bt__usage_read(bt__jv_from(NULL, 0), &u);
    assert_int_equal(u.prompt, -1);
    assert_int_equal(u.output, -1);
    assert_int_equal(u.total, -1);
}

/* Sums past INT64_MAX stay there and say so: prompt_tokens is never lost to a
 * wrapped, negative sum. */
static void test_sums_saturate(void **state)
{
    (void)state;
    json_t *m = metrics_of("{\"input_tokens\":9223372036854775807,\"cache_read_input_tokens\":5,"
                           "\"output_tokens\":1}");
    assert_int_equal(get(m, "prompt_tokens"), INT64_MAX);
    assert_int_equal(get(m, "tokens"), INT64_MAX);
    assert_int_equal(get(m, "prompt_cached_tokens"), 5);
    json_decref(m);

    const char *u =
        "{\"input_tokens\":1,\"cache_creation\":{\"ephemeral_5m_input_tokens\":9223372036854775807,"
        "\"ephemeral_1h_input_tokens\":9223372036854775807},\"output_tokens\":9223372036854775807}";
    bt__json_doc d;
    assert_int_equal(bt__json_parse(&d, u, strlen(u), 0), 0);
    bt__usage usage;
    bt__usage_read(d.root, &usage);
    assert_int_equal(usage.cache_creation, INT64_MAX);
    assert_int_equal(usage.prompt, INT64_MAX);
    assert_int_equal(usage.total, INT64_MAX);
    assert_true(usage.saturated);
    bt__json_doc_free(&d);

    bt__usage_read(bt__jv_from("{\"input_tokens\":2}", 16), &usage);
    assert_false(usage.saturated);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_full_usage),
        cmocka_unit_test(test_aggregate_without_split),
        cmocka_unit_test(test_old_and_invalid_usage),
        cmocka_unit_test(test_sums_saturate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
