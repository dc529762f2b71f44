/*
 * Golden spans of the recorded traffic (conformance: needs ../shared/fixtures, skipped
 * with one line when it is absent). Every recording under fixtures/anthropic is fed,
 * interaction by interaction, through one bt_anthropic (so a batch create and its
 * results meet), and every span is compared with tests/anthropic/golden/recorded.digests.
 * That file holds digests only: the spans are derived from third-party recordings,
 * which stay out of the project. See golden.h for the canonical form, BT_GOLDEN_UPDATE
 * and BT_GOLDEN_DUMP.
 */
#include "golden.h"
#include "conformance.h"

#define RESPONSE_CHUNK 512

static int is_recording(const char *path)
{
    return !strstr(path, "SOURCES.md");
}

typedef struct recorded {
    const bt_test_cassette *c;
} recorded;

static void feed_recording(golden_env *e, void *ud)
{
    const bt_test_cassette *c = ((recorded *)ud)->c;
    for (size_t k = 0; k < c->n; k++) {
        const bt_test_interaction *it = &c->items[k];
        bt_header *rq = bt_test_headers_view(it->req_headers, it->n_req_headers);
        bt_header *rs = bt_test_headers_view(it->resp_headers, it->n_resp_headers);
        golden_exchange x = {
            .method = it->method,
            .target = it->target,
            .req_headers = rq,
            .n_req_headers = it->n_req_headers,
            .req_body = it->req_body,
            .req_body_len = it->req_body ? it->req_body_len : 0,
            .status = it->status,
            .resp_headers = rs,
            .n_resp_headers = it->n_resp_headers,
            .resp_body = it->resp_body,
            .resp_body_len = it->resp_body ? it->resp_body_len : 0,
            .resp_chunk = RESPONSE_CHUNK,
            .outcome = BT_EXCHANGE_COMPLETED,
        };
        golden_feed(e, &x, k + 1);
        free(rq);
        free(rs);
    }
}

static void test_recorded_spans(void **state)
{
    (void)state;
    static const char *const suffixes[] = {".yaml", ".json", ".sse.txt", ".sse", ".txt", ".jsonl", NULL};
    char **files = bt_test_list_fixtures("anthropic", suffixes);
    assert_non_null(files);
    const char *root = bt_test_fixture_path("");
    size_t root_len = strlen(root);
    bt__buf full, digests;
    bt__buf_init(&full, 0);
    bt__buf_init(&digests, 0);
    static const char header[] = "# Golden spans of ../shared/fixtures/anthropic, as digests (see "
                                 "tests/anthropic/golden.h).\n";
    /* the two texts stay line for line parallel, so a changed digest names its value */
    bt__buf_append_str(&digests, header);
    bt__buf_append_str(&full, header);
    int n_files = 0;
    for (char **f = files; *f; f++) {
        if (!is_recording(*f))
            continue;
        const char *rel = !strncmp(*f, root, root_len) ? *f + root_len : *f;
        bt_test_cassette c;
        if (bt_test_cassette_load(*f, &c) != 0)
            fail_msg("cannot load %s", *f);
        recorded r = {&c};
        char *text = golden_run_case(NULL, feed_recording, &r);
        golden_dump(rel, text);
        char *d = golden_digest(text);
        bt__buf_printf(&full, "# %s\n%s", rel, text);
        bt__buf_printf(&digests, "# %s\n%s", rel, d);
        free(d);
        free(text);
        bt_test_cassette_free(&c);
        n_files++;
    }
    bt_test_free_list(files);
    assert_true(n_files > 0);
    char saved[4096];
    snprintf(saved, sizeof saved, "%s/tests/anthropic/golden/recorded.digests", BT_SOURCE_DIR);
    int rc = golden_check(saved, digests.data, full.data);
    print_message("golden: %d recordings compared\n", n_files);
    bt__buf_free(&full);
    bt__buf_free(&digests);
    if (rc)
        fail();
}

int main(void)
{
    bt_test_require_fixtures(__FILE__);
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_recorded_spans),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
