/* The cassette loader reads every recording in shared/fixtures/anthropic, in every
 * format, into interactions with wire-exact bodies. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "conformance.h"
#include "cassette.h"

static void test_every_recording_loads(void **state)
{
    (void)state;
    static const char *const suffixes[] = {".yaml", ".json", ".sse.txt", ".sse", ".txt", ".jsonl", NULL};
    char **files = bt_test_list_fixtures("anthropic", suffixes);
    size_t nfiles = 0, ninteractions = 0, ngzip = 0, nsse = 0;
    for (char **f = files; *f; f++) {
        bt_test_cassette c;
        assert_int_equal(bt_test_cassette_load(*f, &c), 0);
        if (c.n == 0)
            fail_msg("%s: no interactions", *f);
        for (size_t i = 0; i < c.n; i++) {
            bt_test_interaction *it = &c.items[i];
            assert_non_null(it->method);
            assert_true(it->target[0] == '/');
            if (it->status < 100 || it->status > 599)
                fail_msg("%s #%zu: status %d", *f, i, it->status);
            const char *ce = bt_test_header_get(it->resp_headers, it->n_resp_headers, "content-encoding");
            if (ce && strstr(ce, "gzip")) {
                /* a body declared gzip must really be gzip on the wire */
                assert_true(it->resp_body_len >= 2);
                assert_int_equal((unsigned char)it->resp_body[0], 0x1f);
                assert_int_equal((unsigned char)it->resp_body[1], 0x8b);
                ngzip++;
            }
            if (strncmp(it->resp_body, "event: ", 7) == 0)
                nsse++;
        }
        ninteractions += c.n;
        nfiles++;
        bt_test_cassette_free(&c);
    }
    bt_test_free_list(files);
    print_message("loaded %zu files, %zu interactions (%zu gzip, %zu SSE)\n", nfiles, ninteractions, ngzip,
                  nsse);
    assert_true(nfiles >= 80);
    assert_true(ngzip >= 10);
    assert_true(nsse >= 20);
}

static void test_formats_map_to_the_same_shape(void **state)
{
    (void)state;
    bt_test_cassette c;
    /* vcrpy with a gzip !!binary body */
    assert_int_equal(
        bt_test_cassette_load(
            bt_test_fixture_path(
                "anthropic/braintrust-sdk-python/wrappers-2026-02/test_anthropic_messages_sync.yaml"),
            &c),
        0);
    assert_string_equal(c.items[0].method, "POST");
    assert_string_equal(c.items[0].target, "/v1/messages");
    assert_int_equal(c.items[0].status, 200);
    assert_non_null(strstr(c.items[0].req_body, "\"max_tokens\":300"));
    bt_test_cassette_free(&c);

    /* go-vcr v2 with a raw padded SSE body */
    assert_int_equal(
        bt_test_cassette_load(
            bt_test_fixture_path("anthropic/braintrust-sdk-go/TestMiddlewareIntegrationStreaming.yaml"), &c),
        0);
    assert_int_equal(c.items[0].status, 200);
    assert_non_null(strstr(c.items[0].resp_body, "event: message_stop"));
    assert_non_null(strstr(c.items[0].resp_body, "}       }"));
    assert_null(bt_test_header_get(c.items[0].resp_headers, c.items[0].n_resp_headers, "x-api-key"));
    bt_test_cassette_free(&c);

    /* pydantic-ai parsed_body re-serialised */
    assert_int_equal(
        bt_test_cassette_load(
            bt_test_fixture_path("anthropic/pydantic-ai/test_anthropic_cache_count_tokens.yaml"), &c),
        0);
    assert_string_equal(c.items[0].target, "/v1/messages/count_tokens?beta=true");
    assert_string_equal(c.items[0].resp_body, "{\"input_tokens\":1114}");
    bt_test_cassette_free(&c);

    /* JS cassette: SSE chunks re-framed, decoded body loses content-encoding */
    assert_int_equal(
        bt_test_cassette_load(
            bt_test_fixture_path("anthropic/braintrust-sdk-javascript/anthropic-v0-latest.cassette.json"),
            &c),
        0);
    assert_int_equal(c.n, 16);
    int saw_sse = 0;
    for (size_t i = 0; i < c.n; i++) {
        assert_null(
            bt_test_header_get(c.items[i].resp_headers, c.items[i].n_resp_headers, "content-encoding"));
        if (strncmp(c.items[i].resp_body, "event: message_start\ndata: ", 27) == 0) {
            saw_sse = 1;
            assert_non_null(strstr(c.items[i].resp_body, "\n\nevent: "));
        }
    }
    assert_true(saw_sse);
    bt_test_cassette_free(&c);
}

int main(void)
{
    bt_test_require_fixtures(__FILE__);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_recording_loads),
        cmocka_unit_test(test_formats_map_to_the_same_shape),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
