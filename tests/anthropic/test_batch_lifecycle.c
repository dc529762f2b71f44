/*
 * Lifecycle spans of Message Batches calls (create, retrieve, list, cancel, delete and
 * their ?beta=true variants): the recorded creates from the Braintrust Python SDK's
 * cassettes, and the other calls with response bodies shaped as documented.
 */
#include "conformance.h"
#include "test_batch_helpers.h"

#define PY "braintrust-sdk-python/integrations-latest/"

static const char BATCH_ENDED[] =
    "{\"id\":\"msgbatch_01MeELNBVJ5KA8qmB1NjL6UX\",\"type\":\"message_batch\",\"processing_status\":\"ended\","
    "\"request_counts\":{\"processing\":0,\"succeeded\":2,\"errored\":0,\"canceled\":0,\"expired\":0},"
    "\"ended_at\":\"2026-09-28T19:03:11.5Z\",\"created_at\":\"2026-09-28T18:58:01.180445+00:00\","
    "\"expires_at\":\"2026-09-29T18:58:01.180445+00:00\",\"archived_at\":null,\"cancel_initiated_at\":null,"
    "\"results_url\":\"https://api.anthropic.com/v1/messages/batches/msgbatch_01MeELNBVJ5KA8qmB1NjL6UX/results\"}";

/* Checks the span's type and its single link to the batch span of `batch_id`. */
static void expect_task_linked(json_t *span, const char *batch_id)
{
    json_t *sa = tb_attr_json(span, "braintrust.span_attributes");
    assert_string_equal(tb_str(sa, "type"), "task");
    assert_string_equal(tb_str(sa, "name"), tb_str(span, "name"));
    json_decref(sa);
    char trace_hex[33], span_hex[17];
    tb_batch_ids(batch_id, trace_hex, span_hex);
    json_t *links = json_object_get(span, "links");
    int found = 0;
    size_t i;
    json_t *l;
    json_array_foreach(links, i, l)
    {
        if (strcmp(tb_str(l, "traceId"), trace_hex) == 0 && strcmp(tb_str(l, "spanId"), span_hex) == 0)
            found = 1;
    }
    assert_true(found);
}

static void check_recorded_create(const char *file, int beta)
{
    bt_test_cassette cas;
    tb_cassette(file, &cas);
    for (size_t k = 0; k < cas.n; k++) {
        const bt_test_interaction *it = &cas.items[k];
        tb_env e;
        tb_env_open(&e, NULL);
        bt_exchange_info info;
        tb_replay(&e, it, &info);
        assert_string_equal(info.span_name, "anthropic.messages.batches.create");
        json_t *spans = tb_spans(&e);
        json_t *s = tb_one(spans, "anthropic.messages.batches.create");
        json_t *resp = json_loadb(it->resp_body, it->resp_body_len, 0, NULL);
        json_t *req = json_loadb(it->req_body, it->req_body_len, 0, NULL);
        json_t *requests = json_object_get(req, "requests");
        const char *batch_id = tb_str(resp, "id");
        assert_non_null(batch_id);

        json_t *md = tb_attr_json(s, "braintrust.metadata");
        assert_string_equal(tb_str(md, "provider"), "anthropic");
        assert_int_equal(json_integer_value(json_object_get(md, "num_requests")), json_array_size(requests));
        assert_string_equal(tb_str(md, "batch_id"), batch_id);
        assert_string_equal(tb_str(md, "processing_status"), "in_progress");
        assert_int_equal(json_is_true(json_object_get(md, "beta")), beta);
        /* one model -> "model"; several -> sorted unique "models" */
        json_t *models = json_object_get(md, "models");
        if (models) {
            assert_null(json_object_get(md, "model"));
            assert_true(json_array_size(models) > 1);
            for (size_t i = 1; i < json_array_size(models); i++)
                assert_true(strcmp(json_string_value(json_array_get(models, i - 1)),
                                   json_string_value(json_array_get(models, i))) < 0);
        } else {
            const char *model = tb_str(json_object_get(json_array_get(requests, 0), "params"), "model");
            assert_string_equal(tb_str(md, "model"), model);
        }
        json_t *in = tb_attr_json(s, "braintrust.input_json");
        assert_int_equal(json_integer_value(json_object_get(in, "num_requests")), json_array_size(requests));
        json_t *ids = json_object_get(in, "custom_ids");
        for (size_t i = 0; i < json_array_size(requests); i++)
            assert_string_equal(json_string_value(json_array_get(ids, i)),
                                tb_str(json_array_get(requests, i), "custom_id"));
        /* a summary, not the prompts */
        assert_null(strstr(tb_attr_str(s, "braintrust.input_json"), "messages"));
        json_t *out = tb_attr_json(s, "braintrust.output_json");
        assert_string_equal(tb_str(out, "id"), batch_id);
        assert_string_equal(tb_str(out, "type"), "message_batch"); /* the object's type is kept */
        assert_string_equal(tb_str(out, "processing_status"), "in_progress");
        assert_true(
            json_equal(json_object_get(out, "request_counts"), json_object_get(resp, "request_counts")));
        assert_true(json_equal(json_object_get(out, "created_at"), json_object_get(resp, "created_at")));
        assert_true(json_equal(json_object_get(out, "expires_at"), json_object_get(resp, "expires_at")));
        expect_task_linked(s, batch_id);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "status"), "code")), 0);
        json_decref(in);
        json_decref(out);
        json_decref(md);
        json_decref(req);
        json_decref(resp);
        json_decref(spans);
        tb_env_close(&e);
    }
    bt_test_cassette_free(&cas);
}

static void test_create_recorded(void **state)
{
    (void)state;
    check_recorded_create(PY "TestBatchesCreateSpans.test_sync_batches_create_produces_span.yaml", 0);
}

static void test_create_recorded_multi_model(void **state)
{
    (void)state;
    check_recorded_create(PY "TestBatchesCreateSpans.test_sync_batches_create_multi_model_metadata.yaml", 0);
}

static void test_create_recorded_beta(void **state)
{
    (void)state;
    check_recorded_create(PY "TestBetaBatchesCreateSpans.test_sync_beta_batches_create_produces_span.yaml",
                          1);
}

static void test_create_recorded_error(void **state)
{
    (void)state;
    bt_test_cassette cas;
    tb_cassette(PY "TestBatchesCreateSpans.test_sync_batches_create_logs_error_on_failure.yaml", &cas);
    tb_env e;
    tb_env_open(&e, NULL);
    bt_exchange_info info;
    tb_replay(&e, &cas.items[0], &info);
    assert_true(info.is_error);
    json_t *spans = tb_spans(&e);
    json_t *s = tb_one(spans, "anthropic.messages.batches.create");
    json_t *st = json_object_get(s, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), 2);
    assert_string_equal(
        tb_str(st, "message"),
        "invalid_request_error: requests: List should have at least 1 item after validation, not 0");
    assert_string_equal(tb_attr_str(s, "error.type"), "invalid_request_error");
    json_t *md = tb_attr_json(s, "braintrust.metadata");
    assert_int_equal(json_integer_value(json_object_get(md, "num_requests")), 0);
    assert_null(json_object_get(md, "batch_id"));
    assert_int_equal(json_array_size(json_object_get(s, "links")), 0); /* no batch to link to */
    json_decref(md);
    json_decref(spans);
    tb_env_close(&e);
    bt_test_cassette_free(&cas);
}

/* retrieve / cancel / delete on one batch id, plain and beta. */
static void check_single(const char *method, const char *suffix, const char *name, const char *resp,
                         const char *status)
{
    for (int beta = 0; beta < 2; beta++) {
        tb_env e;
        tb_env_open(&e, NULL);
        char target[256];
        snprintf(target, sizeof target, "/v1/messages/batches/msgbatch_01MeELNBVJ5KA8qmB1NjL6UX%s%s", suffix,
                 beta ? "?beta=true" : "");
        bt_header h[] = {{"anthropic-beta", 14, "message-batches-2024-09-24", 26}};
        tb_call c = {.method = method,
                     .target = target,
                     .req_headers = h,
                     .n_req_headers = beta ? 1 : 0,
                     .status = 200,
                     .resp_body = resp};
        bt_exchange_info info;
        tb_exchange(&e, &c, &info);
        assert_string_equal(info.span_name, name);
        assert_false(info.is_error);
        json_t *spans = tb_spans(&e);
        json_t *s = tb_one(spans, name);
        expect_task_linked(s, "msgbatch_01MeELNBVJ5KA8qmB1NjL6UX");
        json_t *in = tb_attr_json(s, "braintrust.input_json");
        assert_string_equal(tb_str(in, "message_batch_id"), "msgbatch_01MeELNBVJ5KA8qmB1NjL6UX");
        json_t *md = tb_attr_json(s, "braintrust.metadata");
        assert_string_equal(tb_str(md, "batch_id"), "msgbatch_01MeELNBVJ5KA8qmB1NjL6UX");
        assert_int_equal(json_is_true(json_object_get(md, "beta")), beta);
        if (beta)
            assert_string_equal(tb_str(md, "anthropic_beta"), "message-batches-2024-09-24");
        json_t *out = tb_attr_json(s, "braintrust.output_json");
        if (status) {
            assert_string_equal(tb_str(md, "processing_status"), status);
            assert_non_null(json_object_get(json_object_get(md, "request_counts"), "succeeded"));
            assert_string_equal(tb_str(out, "processing_status"), status);
            assert_string_equal(tb_str(out, "type"), "message_batch");
        } else {
            assert_string_equal(tb_str(out, "type"), "message_batch_deleted");
        }
        json_decref(in);
        json_decref(md);
        json_decref(out);
        json_decref(spans);
        tb_env_close(&e);
    }
}

static void test_retrieve(void **state)
{
    (void)state;
    check_single("GET", "", "anthropic.messages.batches.retrieve", BATCH_ENDED, "ended");
}

static void test_cancel(void **state)
{
    (void)state;
    static const char canceling[] =
        "{\"id\":\"msgbatch_01MeELNBVJ5KA8qmB1NjL6UX\",\"type\":\"message_batch\",\"processing_status\":\"canceling\","
        "\"request_counts\":{\"processing\":2,\"succeeded\":0,\"errored\":0,\"canceled\":0,\"expired\":0},"
        "\"ended_at\":null,\"created_at\":\"2026-09-28T18:58:01.180445+00:00\","
        "\"cancel_initiated_at\":\"2026-09-28T18:59:00Z\"}";
    check_single("POST", "/cancel", "anthropic.messages.batches.cancel", canceling, "canceling");
}

static void test_delete(void **state)
{
    (void)state;
    check_single("DELETE", "", "anthropic.messages.batches.delete",
                 "{\"id\":\"msgbatch_01MeELNBVJ5KA8qmB1NjL6UX\",\"type\":\"message_batch_deleted\"}", NULL);
}

static void test_list(void **state)
{
    (void)state;
    for (int beta = 0; beta < 2; beta++) {
        tb_env e;
        tb_env_open(&e, NULL);
        char body[4096];
        snprintf(
            body, sizeof body,
            "{\"data\":[%s,{\"id\":\"msgbatch_two\",\"type\":\"message_batch\",\"processing_status\":"
            "\"in_progress\",\"request_counts\":{\"processing\":5,\"succeeded\":0,\"errored\":0,\"canceled\":0,"
            "\"expired\":0}}],\"has_more\":true,\"first_id\":\"msgbatch_01MeELNBVJ5KA8qmB1NjL6UX\","
            "\"last_id\":\"msgbatch_two\"}",
            BATCH_ENDED);
        tb_call c = {.method = "GET",
                     .target =
                         beta ? "/v1/messages/batches?limit=2&beta=true" : "/v1/messages/batches?limit=2",
                     .status = 200,
                     .resp_body = body,
                     .chunk = 7};
        bt_exchange_info info;
        tb_exchange(&e, &c, &info);
        assert_string_equal(info.span_name, "anthropic.messages.batches.list");
        json_t *spans = tb_spans(&e);
        json_t *s = tb_one(spans, "anthropic.messages.batches.list");
        expect_task_linked(s, "msgbatch_01MeELNBVJ5KA8qmB1NjL6UX");
        expect_task_linked(s, "msgbatch_two");
        json_t *in = tb_attr_json(s, "braintrust.input_json");
        assert_int_equal(json_integer_value(json_object_get(in, "limit")), 2); /* from the query */
        json_decref(in);
        json_t *md = tb_attr_json(s, "braintrust.metadata");
        assert_int_equal(json_integer_value(json_object_get(md, "num_batches")), 2);
        assert_string_equal(json_string_value(json_array_get(json_object_get(md, "batch_ids"), 1)),
                            "msgbatch_two");
        assert_int_equal(json_is_true(json_object_get(md, "beta")), beta);
        json_t *out = tb_attr_json(s, "braintrust.output_json");
        assert_true(json_is_true(json_object_get(out, "has_more")));
        assert_string_equal(tb_str(out, "last_id"), "msgbatch_two");
        json_t *second = json_array_get(json_object_get(out, "data"), 1);
        assert_string_equal(tb_str(second, "type"), "message_batch");
        assert_int_equal(
            json_integer_value(json_object_get(json_object_get(second, "request_counts"), "processing")), 5);
        json_decref(out);
        json_decref(md);
        json_decref(spans);
        tb_env_close(&e);
    }
}

static void test_errors_and_cut_responses(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    tb_call c = {
        .method = "GET",
        .target = "/v1/messages/batches/msgbatch_nope",
        .status = 404,
        .resp_body =
            "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"no batch\"}}"};
    bt_exchange_info info;
    tb_exchange(&e, &c, &info);
    assert_true(info.is_error);
    tb_call cut = {.method = "POST",
                   .target = "/v1/messages/batches/msgbatch_x/cancel",
                   .status = 200,
                   .resp_body = "{\"id\":\"msgbatch_x\",\"processing_st",
                   .outcome = BT_EXCHANGE_TRANSPORT_ERROR};
    tb_exchange(&e, &cut, &info);
    assert_true(info.is_error);
    json_t *spans = tb_spans(&e);
    json_t *s = tb_one(spans, "anthropic.messages.batches.retrieve");
    assert_string_equal(tb_str(json_object_get(s, "status"), "message"), "not_found_error: no batch");
    s = tb_one(spans, "anthropic.messages.batches.cancel");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(s, "status"), "code")), 2);
    assert_string_equal(tb_attr_str(s, "error.type"), "transport_error");
    assert_null(tb_attr(s, "braintrust.output_json"));
    json_decref(spans);
    tb_env_close(&e);
}

static void test_lifecycle_spans_off(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    assert_int_equal(bt_anthropic_set_lifecycle_spans(e.a, 0), BT_OK);
    tb_call c = {.method = "GET",
                 .target = "/v1/messages/batches/msgbatch_01MeELNBVJ5KA8qmB1NjL6UX",
                 .status = 200,
                 .resp_body = BATCH_ENDED};
    bt_exchange_info info;
    tb_exchange(&e, &c, &info);
    assert_null(info.span_name);
    json_t *spans = tb_spans(&e);
    assert_int_equal(json_array_size(spans), 0);
    json_decref(spans);
    tb_env_close(&e);
}

static void test_secrets_never_recorded(void **state)
{
    (void)state;
    tb_env e;
    tb_env_open(&e, NULL);
    bt_header h[] = {{"x-api-key", 9, "sk-ant-api03-SECRET", 19},
                     {"authorization", 13, "Bearer sk-ant-SECRET", 20},
                     {"cookie", 6, "session=SECRET", 14}};
    static const char body[] =
        "{\"requests\":[{\"custom_id\":\"a\",\"params\":{\"model\":\"m\",\"max_tokens\":1,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}}]}";
    tb_call c = {
        .method = "POST",
        .target = "/v1/messages/batches",
        .req_headers = h,
        .n_req_headers = 3,
        .req_body = body,
        .status = 200,
        .resp_body =
            "{\"id\":\"msgbatch_s\",\"type\":\"message_batch\",\"processing_status\":\"in_progress\"}"};
    tb_exchange(&e, &c, NULL);
    char *lines = tb_span_lines(&e);
    assert_non_null(strstr(lines, "anthropic.messages.batches.create"));
    assert_null(strstr(lines, "SECRET"));
    free(lines);
    tb_env_close(&e);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_retrieve),
        cmocka_unit_test(test_cancel),
        cmocka_unit_test(test_delete),
        cmocka_unit_test(test_list),
        cmocka_unit_test(test_errors_and_cut_responses),
        cmocka_unit_test(test_lifecycle_spans_off),
        cmocka_unit_test(test_secrets_never_recorded),
    };
    /* replaying the recordings in ../shared/fixtures (see conformance.h) */
    const struct CMUnitTest conformance[] = {
        cmocka_unit_test(test_create_recorded),
        cmocka_unit_test(test_create_recorded_multi_model),
        cmocka_unit_test(test_create_recorded_beta),
        cmocka_unit_test(test_create_recorded_error),
    };
    return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
}
