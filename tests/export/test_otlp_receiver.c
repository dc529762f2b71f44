/*
 * End to end against an independent decoder: tests/node/otlp-receiver.mjs (protobufjs
 * with the generated opentelemetry-proto types) receives what a started bt_tracer
 * exports over OTLP/HTTP, and these tests assert what it decoded and saw: span
 * contents and ids, headers (Authorization, x-bt-parent, Content-Type,
 * Content-Encoding), protobuf and JSON, gzip, retries on 503 and on 429 with
 * Retry-After, no retry on 400, partial success, a receiver that stays down, and the
 * configuration taken from the environment.
 *
 * The receiver runs on 127.0.0.1 with OS-chosen ports; it is stopped at the end, and
 * exits by itself when this process goes away (its stdin closes).
 */
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "braintrust/braintrust.h"

#define FLUSH_MS 20000
#define SECRET "sk-test-9f8e7d6c5b4a"

static pid_t receiver_pid = -1;
static int receiver_stdin = -1;
static int otlp_port, control_port;

/* ---- log capture (the logger runs on the export thread) ---- */

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[65536];

static void capture_log(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    pthread_mutex_lock(&log_lock);
    size_t len = strlen(log_text);
    snprintf(log_text + len, sizeof log_text - len, "%s\n", msg);
    pthread_mutex_unlock(&log_lock);
}

static int log_count(const char *needle)
{
    int n = 0;
    pthread_mutex_lock(&log_lock);
    for (const char *p = log_text; (p = strstr(p, needle)); p++)
        n++;
    pthread_mutex_unlock(&log_lock);
    return n;
}

static int log_contains(const char *needle)
{
    pthread_mutex_lock(&log_lock);
    int found = strstr(log_text, needle) != NULL;
    pthread_mutex_unlock(&log_lock);
    return found;
}

/* ---- the control API of the receiver ---- */

static size_t collect_body(char *p, size_t size, size_t n, void *ud)
{
    char **acc = ud;
    size_t old = *acc ? strlen(*acc) : 0;
    char *grown = realloc(*acc, old + size * n + 1);
    if (!grown)
        return 0;
    memcpy(grown + old, p, size * n);
    grown[old + size * n] = '\0';
    *acc = grown;
    return size * n;
}

static json_t *control(const char *method, const char *path, const char *body)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", control_port, path);
    CURL *c = curl_easy_init();
    char *resp = NULL;
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    else if (strcmp(method, "POST") == 0)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
    CURLcode cc = curl_easy_perform(c);
    curl_easy_cleanup(c);
    if (cc != CURLE_OK)
        fail_msg("receiver control %s %s: %s", method, path, curl_easy_strerror(cc));
    json_error_t err;
    json_t *j = json_loads(resp ? resp : "", 0, &err);
    free(resp);
    assert_non_null(j);
    return j;
}

static void control_ok(const char *method, const char *path, const char *body)
{
    json_decref(control(method, path, body));
}

/* The OTLP requests the receiver saw (new reference). */
static json_t *received(void)
{
    json_t *r = control("GET", "/requests", NULL);
    assert_true(json_is_array(r));
    return r;
}

/* ---- receiver process ---- */

static int start_receiver(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    int in[2], out[2];
    if (pipe(in) || pipe(out))
        return -1;
    receiver_pid = fork();
    if (receiver_pid < 0)
        return -1;
    if (receiver_pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        execlp("node", "node", BT_SOURCE_DIR "/tests/node/otlp-receiver.mjs", "--lifetime", "300",
               (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    receiver_stdin = in[1];
    /* The first line names the ports; bounded wait. */
    char line[256];
    size_t len = 0;
    struct pollfd pfd = {out[0], POLLIN, 0};
    while (len < sizeof line - 1 && !memchr(line, '\n', len)) {
        if (poll(&pfd, 1, 30000) <= 0)
            break;
        ssize_t n = read(out[0], line + len, sizeof line - 1 - len);
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    close(out[0]);
    line[len] = '\0';
    json_error_t err;
    json_t *j = json_loads(line, JSON_DISABLE_EOF_CHECK, &err);
    if (!j) {
        fprintf(stderr, "receiver did not start (is node installed, and tests/node set up?): %s\n", line);
        return -1;
    }
    otlp_port = (int)json_integer_value(json_object_get(j, "otlp"));
    control_port = (int)json_integer_value(json_object_get(j, "control"));
    json_decref(j);
    return otlp_port > 0 && control_port > 0 ? 0 : -1;
}

static int stop_receiver(void **state)
{
    (void)state;
    if (receiver_pid > 0) {
        close(receiver_stdin); /* the receiver exits when its stdin closes */
        int status;
        for (int i = 0; i < 100; i++) {
            if (waitpid(receiver_pid, &status, WNOHANG) == receiver_pid) {
                receiver_pid = -1;
                break;
            }
            struct timespec ts = {0, 50 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        if (receiver_pid > 0) {
            kill(receiver_pid, SIGKILL);
            waitpid(receiver_pid, &status, 0);
        }
    }
    curl_global_cleanup();
    return 0;
}

static int reset_case(void **state)
{
    (void)state;
    static const char *const vars[] = {"BRAINTRUST_API_KEY",
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
                                       "OTEL_SDK_DISABLED",
                                       "BT_STORE_PATH"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    pthread_mutex_lock(&log_lock);
    log_text[0] = '\0';
    pthread_mutex_unlock(&log_lock);
    control_ok("POST", "/up", NULL);
    control_ok("POST", "/reset", NULL);
    return 0;
}

/* ---- helpers ---- */

static const char *traces_url(const char *path)
{
    static char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", otlp_port, path);
    return url;
}

static bt_tracer *new_tracer(void)
{
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_tracer_set_logger(t, capture_log, NULL), BT_OK);
    assert_int_equal(bt_tracer_set_log_level(t, BT_LOG_DEBUG), BT_OK);
    assert_int_equal(bt_tracer_set_service_name(t, "otlp-e2e"), BT_OK);
    return t;
}

static bt_tracer *tracer_with_sink(const bt_otlp_options *o)
{
    bt_tracer *t = new_tracer();
    bt_sink *sink;
    assert_int_equal(bt_sink_otlp_new(o, &sink), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, sink), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    return t;
}

static void hex_of(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
}

typedef struct sent {
    char root_trace[33], root_span[17], child_span[17];
} sent;

/* A root span with every attribute type and an event, and a child with a link and an
 * error status; both ended. */
static void emit_pair(bt_tracer *t, sent *ids)
{
    bt_span_options ro;
    memset(&ro, 0, sizeof ro);
    ro.kind = BT_SPAN_KIND_SERVER;
    ro.start_unix_nano = 1700000000000000000ull;
    bt_span *root = bt_span_start(t, "e2e.root", &ro);
    assert_non_null(root);
    bt_span_set_string(root, "braintrust.input_json", "[{\"role\":\"user\",\"content\":\"h\\u00e9llo\"}]");
    bt_span_set_int(root, "gen_ai.usage.input_tokens", 1234567890123LL);
    bt_span_set_double(root, "ratio", 0.25);
    bt_span_set_bool(root, "stream", 1);
    const char *stops[] = {"end_turn", "tool_use"};
    bt_span_set_string_array(root, "gen_ai.response.finish_reasons", stops, 2);
    bt_kv ev_attrs[] = {{"k", "v"}};
    bt_span_add_event(root, "first_token", 1700000000500000000ull, ev_attrs, 1);
    bt_span_context rctx;
    assert_int_equal(bt_span_get_context(root, &rctx), BT_OK);

    bt_span_options co;
    memset(&co, 0, sizeof co);
    co.parent = &rctx;
    co.kind = BT_SPAN_KIND_CLIENT;
    co.start_unix_nano = 1700000000100000000ull;
    bt_span *child = bt_span_start(t, "e2e.child", &co);
    assert_non_null(child);
    bt_span_context linked;
    memset(&linked, 0, sizeof linked);
    memset(linked.trace_id, 0xab, 16);
    memset(linked.span_id, 0xcd, 8);
    bt_kv link_attrs[] = {{"custom_id", "req-7"}};
    bt_span_add_link(child, &linked, link_attrs, 1);
    bt_span_set_status(child, BT_STATUS_ERROR, "overloaded_error: Overloaded");
    bt_span_context cctx;
    assert_int_equal(bt_span_get_context(child, &cctx), BT_OK);
    bt_span_end(child, 1700000000900000000ull);
    bt_span_end(root, 1700000001000000000ull);

    hex_of(rctx.trace_id, 16, ids->root_trace);
    hex_of(rctx.span_id, 8, ids->root_span);
    hex_of(cctx.span_id, 8, ids->child_span);
}

static const char *jstr(json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_string(v))
        fail_msg("%s is not a string", key);
    return json_string_value(v);
}

static const char *header(json_t *req, const char *name)
{
    json_t *v = json_object_get(json_object_get(req, "headers"), name);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static json_t *find_span(json_t *reqs, const char *name)
{
    size_t i, k;
    json_t *req, *sp;
    json_array_foreach(reqs, i, req)
    {
        json_array_foreach(json_object_get(req, "spans"), k, sp)
        {
            if (strcmp(jstr(sp, "name"), name) == 0)
                return sp;
        }
    }
    fail_msg("span %s not received", name);
    return NULL;
}

static json_t *attr(json_t *span, const char *key)
{
    json_t *v = json_object_get(json_object_get(span, "attributes"), key);
    if (!v)
        fail_msg("attribute %s missing", key);
    return v;
}

/* Everything the receiver decoded of emit_pair()'s spans. */
static void check_pair(json_t *reqs, const sent *ids)
{
    size_t i;
    json_t *req;
    json_array_foreach(reqs, i, req)
    {
        json_t *problems = json_object_get(req, "problems");
        if (json_array_size(problems))
            fail_msg("receiver found problems: %s", json_string_value(json_array_get(problems, 0)));
    }
    json_t *root = find_span(reqs, "e2e.root");
    json_t *child = find_span(reqs, "e2e.child");
    assert_string_equal(jstr(root, "traceId"), ids->root_trace);
    assert_string_equal(jstr(root, "spanId"), ids->root_span);
    assert_string_equal(jstr(root, "parentSpanId"), "");
    assert_string_equal(jstr(child, "traceId"), ids->root_trace);
    assert_string_equal(jstr(child, "spanId"), ids->child_span);
    assert_string_equal(jstr(child, "parentSpanId"), ids->root_span);
    assert_int_equal(json_integer_value(json_object_get(root, "kind")), BT_SPAN_KIND_SERVER);
    assert_int_equal(json_integer_value(json_object_get(child, "kind")), BT_SPAN_KIND_CLIENT);
    assert_string_equal(jstr(root, "startTimeUnixNano"), "1700000000000000000");
    assert_string_equal(jstr(root, "endTimeUnixNano"), "1700000001000000000");
    assert_string_equal(jstr(child, "endTimeUnixNano"), "1700000000900000000");

    assert_string_equal(jstr(attr(root, "braintrust.input_json"), "stringValue"),
                        "[{\"role\":\"user\",\"content\":\"h\\u00e9llo\"}]");
    assert_string_equal(jstr(attr(root, "gen_ai.usage.input_tokens"), "intValue"), "1234567890123");
    assert_true(json_number_value(json_object_get(attr(root, "ratio"), "doubleValue")) == 0.25);
    assert_true(json_is_true(json_object_get(attr(root, "stream"), "boolValue")));
    json_t *arr = json_object_get(attr(root, "gen_ai.response.finish_reasons"), "arrayValue");
    assert_int_equal(json_array_size(arr), 2);
    assert_string_equal(jstr(json_array_get(arr, 1), "stringValue"), "tool_use");

    json_t *ev = json_array_get(json_object_get(root, "events"), 0);
    assert_non_null(ev);
    assert_string_equal(jstr(ev, "name"), "first_token");
    assert_string_equal(jstr(ev, "timeUnixNano"), "1700000000500000000");
    assert_string_equal(jstr(json_object_get(json_object_get(ev, "attributes"), "k"), "stringValue"), "v");

    json_t *ln = json_array_get(json_object_get(child, "links"), 0);
    assert_non_null(ln);
    assert_string_equal(jstr(ln, "traceId"), "abababababababababababababababab");
    assert_string_equal(jstr(ln, "spanId"), "cdcdcdcdcdcdcdcd");
    assert_string_equal(jstr(json_object_get(json_object_get(ln, "attributes"), "custom_id"), "stringValue"),
                        "req-7");
    json_t *st = json_object_get(child, "status");
    assert_int_equal(json_integer_value(json_object_get(st, "code")), BT_STATUS_ERROR);
    assert_string_equal(jstr(st, "message"), "overloaded_error: Overloaded");

    json_t *res = json_object_get(root, "resource");
    assert_string_equal(jstr(json_object_get(res, "service.name"), "stringValue"), "otlp-e2e");
    assert_string_equal(jstr(json_object_get(root, "scope"), "name"), "braintrust-c");
}

/* ---- tests ---- */

static void test_protobuf_gzip_with_braintrust_headers(void **state)
{
    (void)state;
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/otel/v1/traces");
    o.bearer_token = SECRET;
    o.braintrust_parent = "project_name:e2e";
    o.protocol = BT_OTLP_PROTOBUF;
    o.gzip = 1;
    bt_tracer *t = tracer_with_sink(&o);
    sent ids;
    emit_pair(t, &ids);
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);

    json_t *reqs = received();
    assert_true(json_array_size(reqs) >= 1);
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(jstr(req, "path"), "/otel/v1/traces");
    assert_string_equal(header(req, "authorization"), "Bearer " SECRET);
    assert_string_equal(header(req, "x-bt-parent"), "project_name:e2e");
    assert_string_equal(header(req, "content-type"), "application/x-protobuf");
    assert_string_equal(header(req, "content-encoding"), "gzip");
    check_pair(reqs, &ids);
    json_decref(reqs);
    assert_false(log_contains(SECRET));
}

static void test_json_without_compression(void **state)
{
    (void)state;
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.protocol = BT_OTLP_JSON;
    o.headers = "x-team=a%20b";
    bt_tracer *t = tracer_with_sink(&o);
    sent ids;
    emit_pair(t, &ids);
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);

    json_t *reqs = received();
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(header(req, "content-type"), "application/json");
    assert_null(header(req, "content-encoding"));
    assert_null(header(req, "authorization"));
    assert_null(header(req, "x-bt-parent"));
    assert_string_equal(header(req, "x-team"), "a b");
    check_pair(reqs, &ids);
    json_decref(reqs);
}

static bt_tracer *scripted_tracer(const char *script, bt_otlp_protocol protocol)
{
    control_ok("POST", "/script", script);
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.protocol = protocol;
    o.timeout_ms = 15000;
    return tracer_with_sink(&o);
}

static void emit_one(bt_tracer *t, const char *name)
{
    bt_span *s = bt_span_start(t, name, NULL);
    assert_non_null(s);
    bt_span_end(s, 0);
}

static void test_retries_503(void **state)
{
    (void)state;
    bt_tracer *t = scripted_tracer("[{\"status\":503},{\"status\":503}]", BT_OTLP_PROTOBUF);
    emit_one(t, "after.503");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 3);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 0), "status")), 503);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(reqs, 2), "status")), 200);
    find_span(reqs, "after.503");
    json_decref(reqs);
}

/* Retry-After is honoured: the retry comes no sooner than the server asked. (A lower
 * bound only: a slow machine can only make the gap longer.) */
/* Sends one span to a receiver scripted to refuse it once; the span must arrive on
 * the retry. Returns the milliseconds between the two attempts. */
static json_int_t retry_gap_ms(const char *script, bt_otlp_protocol protocol, const char *span_name)
{
    bt_tracer *t = scripted_tracer(script, protocol);
    emit_one(t, span_name);
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 2);
    json_int_t first = json_integer_value(json_object_get(json_array_get(reqs, 0), "receivedMs"));
    json_int_t second = json_integer_value(json_object_get(json_array_get(reqs, 1), "receivedMs"));
    find_span(reqs, span_name);
    json_decref(reqs);
    return second - first;
}

static void test_retries_429_after_retry_after(void **state)
{
    (void)state;
    assert_true(retry_gap_ms("[{\"status\":429,\"retryAfter\":\"1\"}]", BT_OTLP_JSON, "after.429") >= 950);
}

/* Retry-After as an HTTP-date (two seconds ahead, so at least one whole second away
 * whenever the exporter reads it). */
static void test_retries_503_after_http_date(void **state)
{
    (void)state;
    char date[64], script[160];
    time_t when = time(NULL) + 2;
    struct tm tm;
    gmtime_r(&when, &tm);
    strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
    snprintf(script, sizeof script, "[{\"status\":503,\"retryAfter\":\"%s\"}]", date);
    assert_true(retry_gap_ms(script, BT_OTLP_PROTOBUF, "after.date") >= 900);
}

static void test_no_retry_on_400(void **state)
{
    (void)state;
    bt_tracer *t = scripted_tracer("[{\"status\":400,\"body\":\"bad request body\"}]", BT_OTLP_PROTOBUF);
    emit_one(t, "rejected");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 1);
    json_decref(reqs);
    assert_true(log_contains("HTTP 400"));
}

static void test_partial_success_is_a_failure(void **state)
{
    (void)state;
    bt_tracer *t =
        scripted_tracer("[{\"status\":200,\"rejected\":1,\"message\":\"span too large\"}]", BT_OTLP_PROTOBUF);
    emit_one(t, "half.accepted");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_rejected, 1);
    assert_int_equal(st.spans_sent, 0);
    bt_tracer_free(t);
    assert_true(log_contains("rejected 1 of 1 spans: span too large"));

    control_ok("POST", "/reset", NULL);
    t = scripted_tracer("[{\"status\":200,\"rejected\":2,\"message\":\"nope\"}]", BT_OTLP_JSON);
    emit_one(t, "half.accepted.json");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    bt_tracer_free(t);
    assert_true(log_contains("rejected 2 of 1 spans: nope"));

    /* the receiver's message reaches the log on one line: no forged log lines */
    control_ok("POST", "/reset", NULL);
    t = scripted_tracer("[{\"status\":200,\"rejected\":1,\"message\":\"a\\nforged: line\\r\"}]",
                        BT_OTLP_JSON);
    emit_one(t, "forged");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    bt_tracer_free(t);
    assert_true(log_contains("rejected 1 of 1 spans: a forged: line \n"));
}

/* A receiver that stays down: flush reports the failure (not a timeout) once the
 * export timeout is spent on retries. */
static void test_flush_reports_failure_when_receiver_down(void **state)
{
    (void)state;
    control_ok("POST", "/down", NULL);
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.timeout_ms = 1500;
    bt_tracer *t = tracer_with_sink(&o);
    emit_one(t, "never.delivered");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_exported, 0);
    assert_true(st.export_failures >= 1);
    bt_tracer_free(t);
    assert_true(log_contains("retrying"));
    control_ok("POST", "/up", NULL);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 0);
    json_decref(reqs);
}

static json_t *summary(void)
{
    json_t *r = control("GET", "/summary", NULL);
    assert_true(json_is_object(r));
    return r;
}

static json_int_t summary_int(json_t *sum, const char *key)
{
    return json_integer_value(json_object_get(sum, key));
}

/* A receiver whose size limit is below the batch answers 413: the batch is sent again
 * in halves and nothing is lost. */
static void test_413_splits_the_batch(void **state)
{
    (void)state;
    bt_tracer *t = scripted_tracer("[{\"status\":413}]", BT_OTLP_PROTOBUF);
    for (int i = 0; i < 4; i++)
        emit_one(t, "quarter");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_sent, 4);
    assert_int_equal(st.spans_dropped, 0);
    assert_int_equal(st.send_requests, 3);
    assert_int_equal(st.send_failures, 1);
    assert_int_equal(st.last_send_status, 413);
    assert_non_null(strstr(st.last_send_error, "HTTP 413"));
    bt_tracer_free(t);
    json_t *sum = summary();
    assert_int_equal(summary_int(sum, "requests"), 3);
    assert_int_equal(summary_int(sum, "distinct"), 4);
    assert_int_equal(json_array_size(json_object_get(sum, "duplicates")), 0);
    json_decref(sum);
}

/* One span too large for the receiver among others: the halves get the others
 * through, and only that span is counted lost. */
static void test_413_loses_only_the_span_too_large(void **state)
{
    (void)state;
    control_ok("POST", "/config", "{\"maxBodyBytes\":6000}");
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.timeout_ms = 15000;
    bt_tracer *t = tracer_with_sink(&o);
    char big[9000];
    memset(big, 'b', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    for (int i = 0; i < 4; i++) {
        bt_span *sp = bt_span_start(t, i == 2 ? "too.large" : "fits", NULL);
        if (i == 2)
            bt_span_set_string(sp, "payload", big);
        bt_span_end(sp, 0);
    }
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_sent, 3);
    assert_int_equal(st.spans_dropped, 1);
    assert_int_equal(st.spans_exported, 3);
    assert_int_equal(st.last_send_status, 413);
    bt_tracer_free(t);
    json_t *sum = summary();
    assert_int_equal(summary_int(sum, "distinct"), 3);
    assert_int_equal(summary_int(sum, "spans"), 3);
    json_decref(sum);
}

/* A receiver that stays down, then comes back: the statistics say what was sent and
 * what was lost, with the last error; the log says it once, then at 2, 4, 8... failed
 * exports, then the recovery. */
static void test_failures_counted_and_logged_once(void **state)
{
    (void)state;
    control_ok("POST", "/down", NULL);
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.timeout_ms = 1000;
    o.max_retries = -1;
    bt_tracer *t = new_tracer();
    assert_int_equal(bt_tracer_set_log_level(t, BT_LOG_INFO), BT_OK); /* what an operator sees */
    bt_sink *sink;
    assert_int_equal(bt_sink_otlp_new(&o, &sink), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, sink), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    for (int i = 0; i < 4; i++) {
        emit_one(t, "while.down");
        assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_EEXPORT);
    }
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_ended, 4);
    assert_int_equal(st.spans_sent, 0);
    assert_int_equal(st.spans_dropped, 4);
    assert_int_equal(st.send_requests, 4);
    assert_int_equal(st.send_failures, 4);
    assert_int_equal(st.last_send_status, 0);
    assert_non_null(strstr(st.last_send_error, "onnect"));
    assert_int_equal(log_count("failed: Failed to connect"), 1);
    assert_int_equal(log_count("still failing after 2 exports in a row"), 1);
    assert_int_equal(log_count("still failing after 4 exports in a row"), 1);
    assert_int_equal(log_count("still failing"), 2);
    control_ok("POST", "/up", NULL);
    emit_one(t, "after.up");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_sent, 1);
    assert_int_equal(log_count("works again after 4 failed export(s)"), 1);
    bt_tracer_free(t);
}

/* The store as a spool in front of the receiver: the OTLP sink makes one attempt per
 * shipment (the store's shipper is the only retry loop), a 503 leaves the span in the
 * store, the next attempt delivers it, exactly once. */
static void test_spool_to_receiver(void **state)
{
    (void)state;
    char path[256];
    const char *dir = getenv("BT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/otlp-spool-%d.db", dir ? dir : "/tmp", (int)getpid());
    char aux[300];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
    control_ok("POST", "/script", "[{\"status\":503,\"body\":\"overloaded\"}]");
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.timeout_ms = 15000;
    bt_sink *otlp = NULL, *store = NULL;
    assert_int_equal(bt_sink_otlp_new(&o, &otlp), BT_OK);
    assert_int_equal(bt_sink_store_new(path, otlp, &store), BT_OK);
    bt_tracer *t = new_tracer();
    assert_int_equal(bt_tracer_add_sink(t, store), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    char where[512];
    assert_int_equal(bt_tracer_describe_export(t, where, sizeof where), BT_OK);
    char want[512];
    snprintf(want, sizeof want, "the span store %s, sent on from there to OTLP http://127.0.0.1:%d/v1/traces",
             path, otlp_port);
    assert_string_equal(where, want);
    char logged[600];
    snprintf(logged, sizeof logged, "braintrust: spans go to %s\n", want);
    assert_true(log_contains(logged)); /* said once at start, for the application's log */
    emit_one(t, "spooled");
    int rc = BT_EEXPORT;
    for (int i = 0; i < 3 && rc != BT_OK; i++) /* each flush makes an attempt */
        rc = bt_tracer_flush(t, FLUSH_MS);
    assert_int_equal(rc, BT_OK);
    bt_tracer_stats st;
    bt_tracer_get_stats(t, &st);
    assert_int_equal(st.spans_exported, 1);
    assert_int_equal(st.spans_sent, 1);
    assert_int_equal(st.spans_spooled, 0);
    assert_int_equal(st.send_requests, 2);
    assert_int_equal(st.send_failures, 1);
    assert_int_equal(st.last_send_status, 503);
    assert_string_equal(st.last_send_error, "HTTP 503: overloaded");
    bt_tracer_free(t);
    json_t *sum = summary();
    assert_int_equal(summary_int(sum, "requests"), 2);
    assert_int_equal(summary_int(sum, "distinct"), 1);
    assert_int_equal(summary_int(sum, "spans"), 1);
    json_decref(sum);
    assert_int_equal(log_count("span store: sending to OTLP"), 2); /* the failure, the recovery */
    assert_int_equal(log_count("failed (HTTP 503: overloaded); 1 span(s) kept in"), 1);
    assert_int_equal(log_count("works again after 1 failed attempt(s)"), 1);
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

/* Spans whose braintrust.parent differs from the sink's go in their own request with
 * that x-bt-parent. */
static void test_per_span_parent_grouping(void **state)
{
    (void)state;
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/otel/v1/traces");
    o.braintrust_parent = "project_name:default";
    bt_tracer *t = tracer_with_sink(&o);
    bt_span *a = bt_span_start(t, "for.other", NULL);
    bt_span_set_string(a, "braintrust.parent", "experiment_id:0f0e");
    bt_span *b = bt_span_start(t, "for.default", NULL);
    bt_span_end(a, 0);
    bt_span_end(b, 0);
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    size_t i, k;
    json_t *req, *sp;
    int seen = 0;
    json_array_foreach(reqs, i, req)
    {
        json_array_foreach(json_object_get(req, "spans"), k, sp)
        {
            if (strcmp(jstr(sp, "name"), "for.other") == 0) {
                assert_string_equal(header(req, "x-bt-parent"), "experiment_id:0f0e");
                seen |= 1;
            } else if (strcmp(jstr(sp, "name"), "for.default") == 0) {
                assert_string_equal(header(req, "x-bt-parent"), "project_name:default");
                seen |= 2;
            }
        }
    }
    assert_int_equal(seen, 3);
    json_decref(reqs);
}

/* A batch that encodes to more than max_request_bytes goes out in several requests,
 * each under the limit, losing nothing. */
static void test_large_batch_is_split(void **state)
{
    (void)state;
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.traces_url = traces_url("/v1/traces");
    o.max_request_bytes = 4000;
    bt_tracer *t = tracer_with_sink(&o);
    char text[600];
    memset(text, 'x', sizeof text - 1);
    text[sizeof text - 1] = '\0';
    for (int i = 0; i < 20; i++) {
        char name[32];
        snprintf(name, sizeof name, "split.%02d", i);
        bt_span *s = bt_span_start(t, name, NULL);
        bt_span_set_string(s, "payload", text);
        bt_span_end(s, 0);
    }
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_true(json_array_size(reqs) >= 4);
    size_t i, total = 0;
    json_t *req;
    json_array_foreach(reqs, i, req)
    {
        assert_true(json_integer_value(json_object_get(req, "bodyBytes")) <= 4000);
        total += json_array_size(json_object_get(req, "spans"));
    }
    assert_int_equal(total, 20);
    for (int k = 0; k < 20; k++) {
        char name[32];
        snprintf(name, sizeof name, "split.%02d", k);
        find_span(reqs, name);
    }
    json_decref(reqs);
}

/* OTEL_EXPORTER_OTLP_ENDPOINT is a base URL: spans go to {base}/v1/traces with the
 * OTEL headers, protocol and compression from the environment. */
static void test_env_otlp_endpoint(void **state)
{
    (void)state;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d/", otlp_port);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base, 1);
    setenv("OTEL_EXPORTER_OTLP_HEADERS", "Authorization=Bearer%20env-token,x-extra=1", 1);
    setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", 1);
    setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip", 1);
    setenv("OTEL_SERVICE_NAME", "env-service", 1);
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    bt_tracer_set_logger(t, capture_log, NULL);
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    emit_one(t, "from.env");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 1);
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(jstr(req, "path"), "/v1/traces");
    assert_string_equal(header(req, "authorization"), "Bearer env-token");
    assert_string_equal(header(req, "x-extra"), "1");
    assert_string_equal(header(req, "content-type"), "application/json");
    assert_string_equal(header(req, "content-encoding"), "gzip");
    json_t *sp = find_span(reqs, "from.env");
    assert_string_equal(jstr(json_object_get(json_object_get(sp, "resource"), "service.name"), "stringValue"),
                        "env-service");
    json_decref(reqs);
    assert_false(log_contains("env-token"));
}

/* The per-signal variable is used as is. */
static void test_env_traces_endpoint_used_as_is(void **state)
{
    (void)state;
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/custom/v1/traces", otlp_port);
    setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", url, 1);
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    emit_one(t, "traces.endpoint");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 1);
    assert_string_equal(jstr(json_array_get(reqs, 0), "path"), "/custom/v1/traces");
    assert_string_equal(header(json_array_get(reqs, 0), "content-type"), "application/x-protobuf");
    json_decref(reqs);
}

/* A Braintrust key and no OTLP endpoint: {BRAINTRUST_API_URL}/otel/v1/traces with the
 * key as Bearer token and the parent as x-bt-parent and on every span. */
static void test_env_braintrust_key(void **state)
{
    (void)state;
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", otlp_port);
    setenv("BRAINTRUST_API_KEY", SECRET, 1);
    setenv("BRAINTRUST_API_URL", base, 1);
    setenv("BRAINTRUST_PARENT", "project_name:from-env", 1);
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    bt_tracer_set_logger(t, capture_log, NULL);
    bt_tracer_set_log_level(t, BT_LOG_DEBUG);
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    emit_one(t, "to.braintrust");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 1);
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(jstr(req, "path"), "/otel/v1/traces");
    assert_string_equal(header(req, "authorization"), "Bearer " SECRET);
    assert_string_equal(header(req, "x-bt-parent"), "project_name:from-env");
    json_t *sp = find_span(reqs, "to.braintrust");
    assert_string_equal(jstr(attr(sp, "braintrust.parent"), "stringValue"), "project_name:from-env");
    json_decref(reqs);
    assert_false(log_contains(SECRET));
}

/* An application that adds its own sinks can still ask for the configured OTLP sink,
 * next to them. */
static void test_otlp_sink_from_tracer(void **state)
{
    (void)state;
    bt_tracer *t;
    bt_sink *otlp = NULL;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_sink_otlp_from_tracer(t, &otlp), BT_ENOTFOUND);
    assert_null(otlp);
    bt_tracer_free(t);

    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", otlp_port);
    setenv("BRAINTRUST_API_KEY", SECRET, 1);
    setenv("BRAINTRUST_API_URL", base, 1);
    setenv("BRAINTRUST_PARENT", "project_id:abc", 1);
    t = new_tracer();
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    assert_int_equal(bt_sink_otlp_from_tracer(t, &otlp), BT_OK);
    bt_sink *mem;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, otlp), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, mem), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    emit_one(t, "both.sinks");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 1);
    bt_tracer_free(t);
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 1);
    json_t *req = json_array_get(reqs, 0);
    assert_string_equal(jstr(req, "path"), "/otel/v1/traces");
    assert_string_equal(header(req, "authorization"), "Bearer " SECRET);
    assert_string_equal(header(req, "x-bt-parent"), "project_id:abc");
    find_span(reqs, "both.sinks");
    json_decref(reqs);

    /* the API key never goes to a plain OTLP endpoint */
    control_ok("POST", "/reset", NULL);
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base, 1);
    t = new_tracer();
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    assert_int_equal(bt_sink_otlp_from_tracer(t, &otlp), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, otlp), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    emit_one(t, "to.collector");
    assert_int_equal(bt_tracer_flush(t, FLUSH_MS), BT_OK);
    bt_tracer_free(t);
    reqs = received();
    assert_int_equal(json_array_size(reqs), 1);
    assert_string_equal(jstr(json_array_get(reqs, 0), "path"), "/v1/traces");
    assert_null(header(json_array_get(reqs, 0), "authorization"));
    json_decref(reqs);
}

/* A bad endpoint URL: logged, tracing disabled, nothing crashes. */
static void test_bad_endpoint_disables_tracing(void **state)
{
    (void)state;
    static const char *const bad[] = {"ftp://127.0.0.1/x", "not a url", "http://"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        bt_tracer *t;
        assert_int_equal(bt_tracer_new(&t), BT_OK);
        bt_tracer_set_logger(t, capture_log, NULL);
        int rc = bt_tracer_set_otlp_traces_endpoint(t, bad[i]);
        assert_true(rc == BT_OK || rc == BT_EINVAL);
        assert_int_equal(bt_tracer_start(t), BT_EDISABLED);
        assert_false(bt_tracer_is_enabled(t));
        assert_null(bt_span_start(t, "nothing", NULL));
        assert_int_equal(bt_tracer_flush(t, 1000), BT_EDISABLED);
        bt_tracer_free(t);
    }
    json_t *reqs = received();
    assert_int_equal(json_array_size(reqs), 0);
    json_decref(reqs);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_protobuf_gzip_with_braintrust_headers, reset_case),
        cmocka_unit_test_setup(test_json_without_compression, reset_case),
        cmocka_unit_test_setup(test_retries_503, reset_case),
        cmocka_unit_test_setup(test_retries_429_after_retry_after, reset_case),
        cmocka_unit_test_setup(test_retries_503_after_http_date, reset_case),
        cmocka_unit_test_setup(test_no_retry_on_400, reset_case),
        cmocka_unit_test_setup(test_partial_success_is_a_failure, reset_case),
        cmocka_unit_test_setup(test_flush_reports_failure_when_receiver_down, reset_case),
        cmocka_unit_test_setup(test_413_splits_the_batch, reset_case),
        cmocka_unit_test_setup(test_413_loses_only_the_span_too_large, reset_case),
        cmocka_unit_test_setup(test_failures_counted_and_logged_once, reset_case),
        cmocka_unit_test_setup(test_spool_to_receiver, reset_case),
        cmocka_unit_test_setup(test_per_span_parent_grouping, reset_case),
        cmocka_unit_test_setup(test_large_batch_is_split, reset_case),
        cmocka_unit_test_setup(test_env_otlp_endpoint, reset_case),
        cmocka_unit_test_setup(test_env_traces_endpoint_used_as_is, reset_case),
        cmocka_unit_test_setup(test_env_braintrust_key, reset_case),
        cmocka_unit_test_setup(test_otlp_sink_from_tracer, reset_case),
        cmocka_unit_test_setup(test_bad_endpoint_disables_tracing, reset_case),
    };
    return cmocka_run_group_tests(tests, start_receiver, stop_receiver);
}
