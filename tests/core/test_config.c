/* Configuration from the environment and setters: every variable, precedence of the
 * signal-specific variables, the resource, and bad values (one clear logged error that
 * names the variable, never the secret value, and a disabled tracer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/version.h"
#include "core/tracer_impl.h"
#include "core_harness.h"

static const char *const ALL_VARS[] = {
    "BRAINTRUST_API_KEY",
    "BRAINTRUST_API_URL",
    "BRAINTRUST_PARENT",
    "OTEL_EXPORTER_OTLP_ENDPOINT",
    "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
    "OTEL_EXPORTER_OTLP_HEADERS",
    "OTEL_EXPORTER_OTLP_TRACES_HEADERS",
    "OTEL_EXPORTER_OTLP_PROTOCOL",
    "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL",
    "OTEL_EXPORTER_OTLP_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TRACES_COMPRESSION",
    "OTEL_EXPORTER_OTLP_TIMEOUT",
    "OTEL_EXPORTER_OTLP_TRACES_TIMEOUT",
    "OTEL_SERVICE_NAME",
    "OTEL_RESOURCE_ATTRIBUTES",
    "OTEL_BSP_SCHEDULE_DELAY",
    "OTEL_BSP_EXPORT_TIMEOUT",
    "OTEL_BSP_MAX_QUEUE_SIZE",
    "OTEL_BSP_MAX_EXPORT_BATCH_SIZE",
    "OTEL_SDK_DISABLED",
    "BT_STORE_PATH",
};

typedef struct fixture {
    log_capture log;
    bt_tracer *t;
} fixture;

static int setup(void **state)
{
    for (size_t i = 0; i < sizeof ALL_VARS / sizeof *ALL_VARS; i++)
        unsetenv(ALL_VARS[i]);
    fixture *f = calloc(1, sizeof *f);
    log_capture_init(&f->log);
    if (bt_tracer_new(&f->t) != BT_OK)
        return -1;
    bt_tracer_set_logger(f->t, capture_log, &f->log);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bt_tracer_free(f->t);
    pthread_mutex_destroy(&f->log.mu);
    free(f);
    return 0;
}

static const char *res_attr(bt_tracer *t, const char *key)
{
    const bt__attr *a = bt__attrs_find(&bt__tracer_resource(t)->attrs, key);
    return a && a->type == BT__ATTR_STRING ? a->v.s.ptr : NULL;
}

static void test_defaults(void **state)
{
    fixture *f = *state;
    assert_int_equal(bt_tracer_configure_from_env(f->t), BT_OK);
    const bt__export_settings *c = bt__tracer_export_settings(f->t);
    assert_null(c->api_url); /* the default, https://api.braintrust.dev */
    assert_null(c->api_key);
    assert_null(c->parent);
    assert_null(c->otlp_endpoint);
    assert_null(c->otlp_traces_endpoint);
    assert_null(c->otlp_headers);
    assert_null(c->store_path);
    assert_int_equal(c->protocol, BT_OTLP_PROTOBUF);
    assert_int_equal(c->gzip, 0);
    assert_int_equal(c->timeout_ms, 10000);
    assert_int_equal(f->t->max_request_bytes, 8u << 20);
    assert_int_equal(f->t->max_attribute_bytes, 4u << 20);
    assert_int_equal(f->t->schedule_delay_ms, 5000);
    assert_int_equal(f->t->bsp_export_timeout_ms, 30000);
    assert_int_equal(f->t->max_queue, 2048);
    assert_int_equal(f->t->max_export_batch, 512);
    assert_true(bt_tracer_is_enabled(f->t));
    assert_string_equal(res_attr(f->t, "service.name"), "unknown_service");
    assert_string_equal(res_attr(f->t, "telemetry.sdk.name"), "braintrust-c");
    assert_string_equal(res_attr(f->t, "telemetry.sdk.language"), "c");
    assert_string_equal(res_attr(f->t, "telemetry.sdk.version"), BT_VERSION_STRING);
    assert_string_equal(bt__tracer_resource(f->t)->scope_name, "braintrust-c");
    assert_int_equal(f->log.n_errors, 0);
}

static void test_every_variable(void **state)
{
    fixture *f = *state;
    setenv("BRAINTRUST_API_KEY", "sk-test-123", 1);
    setenv("BRAINTRUST_API_URL", "https://api-eu.braintrust.dev/", 1);
    setenv("BRAINTRUST_PARENT", "project_name:my project", 1);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4318", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://[::1]:4318/custom/traces", 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20abc,x-bt-parent=project_name%3Ap", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "2500", 1);
    setenv("OTEL_SERVICE_NAME", "checkout", 1);
    setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment=prod, service.name=ignored,team=a%2Cb", 1);
    setenv("OTEL_BSP_SCHEDULE_DELAY", "100", 1);
    setenv("OTEL_BSP_EXPORT_TIMEOUT", "700", 1);
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "64", 1);
    setenv("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "16", 1);
    setenv("BT_STORE_PATH", "/tmp/spans.db", 1);
    assert_int_equal(bt_tracer_configure_from_env(f->t), BT_OK);
    const bt__export_settings *c = bt__tracer_export_settings(f->t);
    assert_string_equal(c->api_key, "sk-test-123");
    assert_string_equal(c->api_url, "https://api-eu.braintrust.dev"); /* trailing slash dropped */
    assert_string_equal(c->parent, "project_name:my project");
    assert_string_equal(c->otlp_endpoint, "http://127.0.0.1:4318");
    assert_string_equal(c->otlp_traces_endpoint, "http://[::1]:4318/custom/traces");
    assert_string_equal(c->otlp_headers, "Authorization=Bearer%20abc,x-bt-parent=project_name%3Ap");
    assert_int_equal(c->protocol, BT_OTLP_JSON);
    assert_int_equal(c->gzip, 1);
    assert_int_equal(c->timeout_ms, 2500);
    assert_string_equal(c->store_path, "/tmp/spans.db");
    assert_int_equal(f->t->schedule_delay_ms, 100);
    assert_int_equal(f->t->bsp_export_timeout_ms, 700);
    assert_int_equal(f->t->max_queue, 64);
    assert_int_equal(f->t->max_export_batch, 16);
    /* OTEL_SERVICE_NAME wins over service.name in OTEL_RESOURCE_ATTRIBUTES */
    assert_string_equal(res_attr(f->t, "service.name"), "checkout");
    assert_string_equal(res_attr(f->t, "deployment.environment"), "prod");
    assert_string_equal(res_attr(f->t, "team"), "a,b");
    assert_true(bt_tracer_is_enabled(f->t));
    assert_int_equal(f->log.n_errors, 0);
}

static void test_signal_specific_wins(void **state)
{
    fixture *f = *state;
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "a=generic", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "a=traces", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", 1); /* ignored: the traces one is set */
    setenv("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/protobuf", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "none", 1);
    setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1000", 1);
    setenv("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "3000", 1);
    assert_int_equal(bt_tracer_configure_from_env(f->t), BT_OK);
    const bt__export_settings *c = bt__tracer_export_settings(f->t);
    assert_string_equal(c->otlp_headers, "a=traces");
    assert_int_equal(c->protocol, BT_OTLP_PROTOBUF);
    assert_int_equal(c->gzip, 0);
    assert_int_equal(c->timeout_ms, 3000);
    assert_true(bt_tracer_is_enabled(f->t));
}

static void test_empty_values_mean_unset(void **state)
{
    fixture *f = *state;
    setenv("BRAINTRUST_API_URL", "", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "", 1);
    setenv("OTEL_BSP_MAX_QUEUE_SIZE", "", 1);
    assert_int_equal(bt_tracer_configure_from_env(f->t), BT_OK);
    assert_null(bt__tracer_export_settings(f->t)->api_url); /* the default */
    assert_int_equal(f->t->max_queue, 2048);
}

static void test_sdk_disabled(void **state)
{
    fixture *f = *state;
    setenv("OTEL_SDK_DISABLED", "TRUE", 1);
    assert_int_equal(bt_tracer_configure_from_env(f->t), BT_OK);
    assert_false(bt_tracer_is_enabled(f->t));
    assert_int_equal(bt__tracer_run(f->t), BT_EDISABLED);
    assert_null(bt_span_start(f->t, "x", NULL));
    assert_int_equal(f->log.n_errors, 0);

    bt_tracer *t2;
    bt_tracer_new(&t2);
    bt_tracer_set_logger(t2, capture_log, &f->log);
    setenv("OTEL_SDK_DISABLED", "false", 1);
    assert_int_equal(bt_tracer_configure_from_env(t2), BT_OK);
    assert_true(bt_tracer_is_enabled(t2));
    setenv("OTEL_SDK_DISABLED", "maybe", 1); /* per the OTel spec: anything but true is false */
    assert_int_equal(bt_tracer_configure_from_env(t2), BT_OK);
    assert_true(bt_tracer_is_enabled(t2));
    assert_non_null(strstr(f->log.text, "OTEL_SDK_DISABLED"));
    bt_tracer_free(t2);
}

/* One bad variable: BT_EINVAL, disabled, exactly one error that names the variable,
 * contains `also` (its value, where that is no secret, so the operator can fix it) and
 * does not contain `secret`. */
static void expect_bad(const char *var, const char *value, const char *secret, const char *also)
{
    for (size_t i = 0; i < sizeof ALL_VARS / sizeof *ALL_VARS; i++)
        unsetenv(ALL_VARS[i]);
    log_capture lc;
    log_capture_init(&lc);
    bt_tracer *t;
    bt_tracer_new(&t);
    bt_tracer_set_logger(t, capture_log, &lc);
    setenv(var, value, 1);
    int rc = bt_tracer_configure_from_env(t);
    unsetenv(var);
    if (rc != BT_EINVAL)
        fail_msg("%s=%s: expected BT_EINVAL, got %d", var, value, rc);
    assert_false(bt_tracer_is_enabled(t));
    assert_int_equal(lc.n_errors, 1);
    if (!strstr(lc.text, var))
        fail_msg("log does not name %s: %s", var, lc.text);
    if (secret && strstr(lc.text, secret))
        fail_msg("log leaks the value of %s: %s", var, lc.text);
    if (also && !strstr(lc.text, also))
        fail_msg("log for %s lacks \"%s\": %s", var, also, lc.text);
    /* a disabled tracer is still safe to use */
    assert_int_equal(bt__tracer_run(t), BT_EDISABLED);
    assert_null(bt_span_start(t, "x", NULL));
    assert_int_equal(bt_tracer_flush(t, 10), BT_EDISABLED);
    bt_tracer_free(t);
    pthread_mutex_destroy(&lc.mu);
}

static void test_bad_values(void **state)
{
    (void)state;
    expect_bad("BRAINTRUST_API_KEY", "sk-secret-77\r\nX: y", "sk-secret-77", "(value withheld)");
    expect_bad("BRAINTRUST_API_URL", "ftp://example.com", NULL, "BRAINTRUST_API_URL=\"ftp://example.com\"");
    expect_bad("BRAINTRUST_API_URL", "https://user:hunter2@", "hunter2", "\"https://***@\"");
    expect_bad("BRAINTRUST_API_URL", "ftp://h/x?token=hunter3", "hunter3", "\"ftp://h/x?***\"");
    expect_bad("BRAINTRUST_PARENT", "my-project", NULL, "project_name:");
    expect_bad("BRAINTRUST_PARENT", "project_name:", NULL, NULL);
    expect_bad("OTEL_EXPORTER_OTLP_ENDPOINT", "not-a-url", NULL,
               "OTEL_EXPORTER_OTLP_ENDPOINT=\"not-a-url\": not an http(s) URL with a host");
    expect_bad("OTEL_EXPORTER_OTLP_ENDPOINT", "localhost:4318", NULL, "\"localhost:4318\"");
    expect_bad("OTEL_EXPORTER_OTLP_ENDPOINT", "http://host:99999", NULL, NULL);
    expect_bad("OTEL_EXPORTER_OTLP_ENDPOINT", "http://host name\n", NULL, "\"http://host name\\x0a\"");
    expect_bad("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "https://", NULL, NULL);
    expect_bad("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%zzsecret-token", "secret-token", NULL);
    expect_bad("OTEL_EXPORTER_OTLP_HEADERS", "novalue", "novalue", NULL);
    expect_bad("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "x-a=ok%0d%0aInjected: secret-v", "secret-v", NULL);
    expect_bad("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc", NULL, "grpc is not supported");
    expect_bad("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "http/xml", NULL, NULL);
    expect_bad("OTEL_EXPORTER_OTLP_COMPRESSION", "brotli", NULL, NULL);
    expect_bad("OTEL_EXPORTER_OTLP_TIMEOUT", "10s", NULL, NULL);
    expect_bad("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "-5", NULL, NULL);
    expect_bad("OTEL_RESOURCE_ATTRIBUTES", "a=%G1", NULL, NULL);
    expect_bad("OTEL_BSP_SCHEDULE_DELAY", "soon", NULL, "OTEL_BSP_SCHEDULE_DELAY=\"soon\"");
    expect_bad("OTEL_BSP_EXPORT_TIMEOUT", "0", NULL, NULL);
    expect_bad("OTEL_BSP_MAX_QUEUE_SIZE", "99999999999999", NULL, NULL);
    expect_bad("OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "4096", NULL, "OTEL_BSP_MAX_QUEUE_SIZE");
}

static void test_kv_list_parsing(void **state)
{
    (void)state;
    bt__attrs a = {0};
    /* keys are tokens taken as written; values are percent-decoded */
    assert_int_equal(bt__parse_kv_list(" k1 = v%201 ,,k2=a=b, k%33=%e2%82%ac ", &a), BT_OK);
    assert_int_equal(a.n, 3);
    assert_string_equal(bt__attrs_find(&a, "k1")->v.s.ptr, "v 1");
    assert_string_equal(bt__attrs_find(&a, "k2")->v.s.ptr, "a=b");
    assert_string_equal(bt__attrs_find(&a, "k%33")->v.s.ptr, "\xe2\x82\xac");
    bt__attrs_free(&a);
    assert_int_equal(bt__parse_kv_list("=v", &a), BT_EINVAL);
    bt__attrs_free(&a);
    assert_int_equal(bt__parse_kv_list("k=%4", &a), BT_EINVAL);
    bt__attrs_free(&a);
    assert_int_equal(bt__parse_kv_list("k=a%00b", &a), BT_EINVAL); /* no NUL smuggling */
    bt__attrs_free(&a);
    assert_int_equal(bt__parse_kv_list("k=50%", &a), BT_EINVAL); /* written 50%25 */
    bt__attrs_free(&a);
    assert_int_equal(bt__parse_kv_list("bad key=v", &a), BT_EINVAL);
    bt__attrs_free(&a);
    assert_int_equal(bt__parse_kv_list("", &a), BT_OK);
    assert_int_equal(a.n, 0);
}

static void test_setters(void **state)
{
    fixture *f = *state;
    assert_int_equal(bt_tracer_set_api_key(f->t, "k"), BT_OK);
    assert_int_equal(bt_tracer_set_otlp_endpoint(f->t, "https://collector.example/otel/"), BT_OK);
    assert_string_equal(bt__tracer_export_settings(f->t)->otlp_endpoint, "https://collector.example/otel");
    assert_int_equal(bt_tracer_set_otlp_protocol(f->t, BT_OTLP_JSON), BT_OK);
    assert_int_equal(bt_tracer_set_otlp_compression(f->t, 1), BT_OK);
    assert_int_equal(bt_tracer_set_export_timeout_ms(f->t, 1234), BT_OK);
    assert_int_equal(bt_tracer_set_max_request_bytes(f->t, 1 << 20), BT_OK);
    assert_int_equal(bt_tracer_set_max_attribute_bytes(f->t, 1 << 16), BT_OK);
    assert_int_equal(bt_tracer_set_batch_options(f->t, 10, 50, 5, 1000), BT_OK);
    assert_int_equal(bt_tracer_set_service_name(f->t, "svc"), BT_OK);
    assert_int_equal(bt_tracer_set_resource_attributes(f->t, "a=b"), BT_OK);
    assert_int_equal(bt_tracer_set_store_path(f->t, "/tmp/x.db"), BT_OK);
    const bt__export_settings *c = bt__tracer_export_settings(f->t);
    assert_string_equal(c->api_key, "k");
    assert_int_equal(c->protocol, BT_OTLP_JSON);
    assert_int_equal(c->gzip, 1);
    assert_int_equal(c->timeout_ms, 1234);
    assert_int_equal(f->t->max_request_bytes, 1 << 20);
    assert_int_equal(f->t->max_attribute_bytes, 1 << 16);
    assert_string_equal(c->store_path, "/tmp/x.db");
    assert_string_equal(res_attr(f->t, "service.name"), "svc");
    assert_string_equal(res_attr(f->t, "a"), "b");
    assert_int_equal(f->log.n_errors, 0);
    assert_true(bt_tracer_is_enabled(f->t));

    /* after start: BT_ESTATE, nothing changes */
    sink_state st;
    sink_state_init(&st);
    assert_int_equal(bt_tracer_add_sink(f->t, test_sink_new(&st)), BT_OK);
    assert_int_equal(bt__tracer_run(f->t), BT_OK);
    assert_int_equal(bt__tracer_run(f->t), BT_ESTATE);
    assert_int_equal(bt_tracer_set_api_key(f->t, "other"), BT_ESTATE);
    assert_int_equal(bt_tracer_set_batch_options(f->t, 1, 1, 1, 1), BT_ESTATE);
    assert_int_equal(bt_tracer_configure_from_env(f->t), BT_ESTATE);
    sink_state st2;
    sink_state_init(&st2);
    assert_int_equal(bt_tracer_add_sink(f->t, test_sink_new(&st2)), BT_ESTATE);
    assert_true(st2.freed); /* ownership was taken even so */
    assert_string_equal(bt__tracer_export_settings(f->t)->api_key, "k");
    bt_tracer_free(f->t);
    f->t = NULL;
    assert_true(st.shutdown);
    assert_true(st.freed);
    sink_state_destroy(&st);
    sink_state_destroy(&st2);
}

static void test_bad_setter_values(void **state)
{
    fixture *f = *state;
    assert_int_equal(bt_tracer_set_api_url(f->t, "not a url"), BT_EINVAL);
    assert_false(bt_tracer_is_enabled(f->t));
    assert_non_null(strstr(f->log.text, "bt_tracer_set_api_url"));
    assert_null(strstr(f->log.text, "not a url"));
    assert_int_equal(bt_tracer_set_batch_options(f->t, 10, 5, 20, 100), BT_EINVAL);
    assert_int_equal(bt_tracer_set_batch_options(f->t, 0, 5, 0, 100), BT_EINVAL);
    assert_int_equal(bt_tracer_set_parent(f->t, "foo:bar"), BT_EINVAL);
    assert_int_equal(bt_tracer_set_otlp_headers(f->t, "Authorization=Bearer%0Atok"), BT_EINVAL);
    assert_null(strstr(f->log.text, "tok"));
    assert_int_equal(bt_tracer_set_otlp_protocol(f->t, (bt_otlp_protocol)5), BT_EINVAL);
    assert_int_equal(bt_tracer_set_export_timeout_ms(f->t, 0), BT_EINVAL);
    assert_int_equal(bt_tracer_set_max_request_bytes(f->t, 10), BT_EINVAL);
    assert_int_equal(f->log.n_errors, 8);
    assert_int_equal(bt_tracer_set_api_key(NULL, "x"), BT_EINVAL);
}

static void test_null_tracer_is_harmless(void **state)
{
    (void)state;
    assert_int_equal(bt_tracer_new(NULL), BT_EINVAL);
    assert_int_equal(bt_tracer_configure_from_env(NULL), BT_EINVAL);
    assert_int_equal(bt_tracer_set_logger(NULL, NULL, NULL), BT_EINVAL);
    assert_int_equal(bt_tracer_set_batch_options(NULL, 1, 1, 1, 1), BT_EINVAL);
    assert_int_equal(bt_tracer_flush(NULL, 10), BT_EINVAL);
    assert_int_equal(bt__tracer_run(NULL), BT_EINVAL);
    assert_false(bt_tracer_is_enabled(NULL));
    assert_null(bt__tracer_export_settings(NULL));
    assert_null(bt__tracer_resource(NULL));
    assert_true(bt_tracer_now(NULL) > 1600000000ull * 1000000000ull); /* the real clock */
    bt_tracer_log(NULL, BT_LOG_ERROR, "nothing %d", 1);
    bt_tracer_stats s;
    memset(&s, 0xff, sizeof s);
    bt_tracer_get_stats(NULL, &s);
    assert_int_equal(s.spans_started, 0);
    assert_int_equal(s.queue_length, 0);
    /* a sink handed to a NULL tracer is still freed (ownership is always taken) */
    sink_state st;
    sink_state_init(&st);
    assert_int_equal(bt_tracer_add_sink(NULL, test_sink_new(&st)), BT_EINVAL);
    assert_true(st.freed);
    sink_state_destroy(&st);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_variable, setup, teardown),
        cmocka_unit_test_setup_teardown(test_signal_specific_wins, setup, teardown),
        cmocka_unit_test_setup_teardown(test_empty_values_mean_unset, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sdk_disabled, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_values, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kv_list_parsing, setup, teardown),
        cmocka_unit_test_setup_teardown(test_setters, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_setter_values, setup, teardown),
        cmocka_unit_test(test_null_tracer_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
