/*
 * Golden spans of the project's own traffic: each case in tests/anthropic/golden/cases
 * (a JSON file describing exchanges, and optionally a batch collection) is fed through
 * the library and every span compared, in full, with golden/expected/<case>.spans. See
 * golden.h for the canonical form, BT_GOLDEN_UPDATE and BT_GOLDEN_DUMP.
 *
 * A case file:
 *   {"about": "...",
 *    "settings": {"body_limit": N, "genai": false, "lifecycle": false, "mask": "wrap",
 *                 "max_attribute_bytes": N},
 *    "exchanges": [{
 *        "method": "POST", "target": "/v1/messages",       (these two are the defaults)
 *        "request_headers": {"name": "value"} or [["name", "value"], ...],
 *        "request": <JSON, sent compact> | "request_body": <bytes>,
 *        "request_chunk": N,
 *        "parent": "<traceparent>", "braintrust_parent": "...",
 *        "status": 200 (0: no response at all),
 *        "response_headers": {...}   (default: content-type for the body kind, request-id),
 *        "response": <JSON> | "response_body": <bytes> | "events": [[event, data], ...],
 *        "gzip": true, "chunk": N (response pieces), "outcome": "completed" |
 *        "transport_error" | "client_cancelled"}],
 *    "collect": {"batch": <JSON>, "requests": <bytes>, "results": <bytes>, "chunk": N}}
 * <bytes> is a string, or a list of strings, {"hex": "ff 00"}, {"json": <JSON>} and
 * {"repeat": <bytes>, "times": N} pieces. An SSE event's data is a string (raw, one data
 * line per line), JSON (sent compact) or null (no data line); a {"raw": <bytes>} item
 * is sent as is.
 */
#include <dirent.h>

#include "golden.h"

static void append_bytes(bt__buf *b, json_t *spec)
{
    if (json_is_string(spec)) {
        bt__buf_append(b, json_string_value(spec), json_string_length(spec));
    } else if (json_is_array(spec)) {
        size_t i;
        json_t *part;
        json_array_foreach(spec, i, part) append_bytes(b, part);
    } else if (json_is_object(spec) && json_object_get(spec, "hex")) {
        const char *h = json_string_value(json_object_get(spec, "hex"));
        while (h && *h) {
            if (*h == ' ') {
                h++;
                continue;
            }
            unsigned v;
            assert_int_equal(sscanf(h, "%2x", &v), 1);
            char c = (char)v;
            bt__buf_append(b, &c, 1);
            h += 2;
        }
    } else if (json_is_object(spec) && json_object_get(spec, "repeat")) {
        json_int_t n = json_integer_value(json_object_get(spec, "times"));
        for (json_int_t i = 0; i < n; i++)
            append_bytes(b, json_object_get(spec, "repeat"));
    } else if (json_is_object(spec) && json_object_get(spec, "json")) {
        char *d = json_dumps(json_object_get(spec, "json"), JSON_COMPACT | JSON_ENCODE_ANY);
        bt__buf_append_str(b, d);
        free(d);
    } else if (spec) {
        fail_msg("bad bytes spec");
    }
}

static void append_json(bt__buf *b, json_t *v)
{
    char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    bt__buf_append_str(b, d);
    free(d);
}

static void append_events(bt__buf *b, json_t *events)
{
    size_t i;
    json_t *ev;
    json_array_foreach(events, i, ev)
    {
        if (json_is_object(ev)) {
            append_bytes(b, json_object_get(ev, "raw"));
            continue;
        }
        json_t *name = json_array_get(ev, 0), *data = json_array_get(ev, 1);
        if (json_is_string(name))
            bt__buf_printf(b, "event: %s\n", json_string_value(name));
        if (json_is_string(data)) {
            const char *p = json_string_value(data), *end = p + json_string_length(data);
            for (;;) {
                const char *nl = memchr(p, '\n', (size_t)(end - p));
                bt__buf_append_str(b, "data: ");
                bt__buf_append(b, p, nl ? (size_t)(nl - p) : (size_t)(end - p));
                bt__buf_append_str(b, "\n");
                if (!nl)
                    break;
                p = nl + 1;
            }
        } else if (json_is_array(data) && json_is_object(json_array_get(data, 0)) &&
                   json_object_get(json_array_get(data, 0), "hex")) {
            bt__buf_append_str(b, "data: ");
            append_bytes(b, data);
            bt__buf_append_str(b, "\n");
        } else if (data && !json_is_null(data)) {
            bt__buf_append_str(b, "data: ");
            append_json(b, data);
            bt__buf_append_str(b, "\n");
        }
        bt__buf_append_str(b, "\n");
    }
}

static char *gzip_bytes(const char *in, size_t len, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    assert_int_equal(deflateInit2(&z, 6, Z_DEFLATED, 31, 8, Z_DEFAULT_STRATEGY), Z_OK);
    size_t cap = deflateBound(&z, (uLong)len) + 64;
    char *out = malloc(cap);
    z.next_in = (Bytef *)in;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)out;
    z.avail_out = (uInt)cap;
    assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
    *out_len = cap - z.avail_out;
    deflateEnd(&z);
    return out;
}

/* Headers from {"k":"v"} or [["k","v"], ...]; names and values borrowed from `spec`. */
static size_t read_headers(json_t *spec, bt_header *out, size_t max)
{
    size_t n = 0;
    if (json_is_object(spec)) {
        const char *k;
        json_t *v;
        json_object_foreach(spec, k, v)
        {
            assert_true(n < max);
            out[n++] = (bt_header){k, strlen(k), json_string_value(v), json_string_length(v)};
        }
    } else if (json_is_array(spec)) {
        size_t i;
        json_t *pair;
        json_array_foreach(spec, i, pair)
        {
            assert_true(n < max);
            json_t *k = json_array_get(pair, 0), *v = json_array_get(pair, 1);
            out[n++] = (bt_header){json_string_value(k), json_string_length(k), json_string_value(v),
                                   json_string_length(v)};
        }
    }
    return n;
}

static bt_exchange_outcome read_outcome(json_t *v)
{
    const char *s = json_string_value(v);
    if (!s || !strcmp(s, "completed"))
        return BT_EXCHANGE_COMPLETED;
    if (!strcmp(s, "transport_error"))
        return BT_EXCHANGE_TRANSPORT_ERROR;
    if (!strcmp(s, "client_cancelled"))
        return BT_EXCHANGE_CLIENT_CANCELLED;
    fail_msg("unknown outcome %s", s);
    return BT_EXCHANGE_COMPLETED;
}

static void feed_one(golden_env *e, json_t *x, size_t number)
{
    bt__buf req, resp;
    bt__buf_init(&req, 0);
    bt__buf_init(&resp, 0);
    int has_req = 0;
    if (json_object_get(x, "request")) {
        append_json(&req, json_object_get(x, "request"));
        has_req = 1;
    } else if (json_object_get(x, "request_body")) {
        append_bytes(&req, json_object_get(x, "request_body"));
        has_req = 1;
    }
    const char *ctype = "application/json";
    int has_resp = 1;
    if (json_object_get(x, "response"))
        append_json(&resp, json_object_get(x, "response"));
    else if (json_object_get(x, "response_body"))
        append_bytes(&resp, json_object_get(x, "response_body"));
    else if (json_object_get(x, "events")) {
        append_events(&resp, json_object_get(x, "events"));
        ctype = "text/event-stream";
    } else
        has_resp = 0;

    bt_header rq[32], rs[32];
    size_t n_rq = read_headers(json_object_get(x, "request_headers"), rq, 30);
    size_t n_rs;
    char request_id[32];
    snprintf(request_id, sizeof request_id, "req_golden_%zu", number);
    if (json_object_get(x, "response_headers")) {
        n_rs = read_headers(json_object_get(x, "response_headers"), rs, 30);
    } else {
        rs[0] = (bt_header){"content-type", 12, ctype, strlen(ctype)};
        rs[1] = (bt_header){"request-id", 10, request_id, strlen(request_id)};
        n_rs = 2;
    }
    char *body = resp.data;
    size_t body_len = resp.len;
    char *zipped = NULL;
    if (json_is_true(json_object_get(x, "gzip"))) {
        zipped = gzip_bytes(resp.data ? resp.data : "", resp.len, &body_len);
        body = zipped;
        rs[n_rs++] = (bt_header){"content-encoding", 16, "gzip", 4};
    }
    bt_span_context parent;
    const char *tp = json_string_value(json_object_get(x, "parent"));
    if (tp)
        assert_int_equal(bt_traceparent_parse(tp, NULL, &parent), BT_OK);
    json_t *status = json_object_get(x, "status");
    const char *method = json_string_value(json_object_get(x, "method"));
    const char *target = json_string_value(json_object_get(x, "target"));
    golden_exchange g = {
        .method = method ? method : "POST",
        .target = target ? target : "/v1/messages",
        .req_headers = rq,
        .n_req_headers = n_rq,
        .req_body = has_req ? (req.data ? req.data : "") : NULL,
        .req_body_len = req.len,
        .req_chunk = (size_t)json_integer_value(json_object_get(x, "request_chunk")),
        .status = status ? (int)json_integer_value(status) : 200,
        .resp_headers = rs,
        .n_resp_headers = n_rs,
        .resp_body = has_resp ? (body ? body : "") : NULL,
        .resp_body_len = body_len,
        .resp_chunk = (size_t)json_integer_value(json_object_get(x, "chunk")),
        .outcome = read_outcome(json_object_get(x, "outcome")),
        .parent = tp ? &parent : NULL,
        .braintrust_parent = json_string_value(json_object_get(x, "braintrust_parent")),
    };
    golden_feed(e, &g, number);
    free(zipped);
    bt__buf_free(&req);
    bt__buf_free(&resp);
}

/* The explicit collect API (braintrust/batch.h) fed from the case. */
static void collect(golden_env *e, json_t *c)
{
    golden_out *o = &e->run->out;
    char *batch = json_dumps(json_object_get(c, "batch"), JSON_COMPACT);
    bt__buf requests, results;
    bt__buf_init(&requests, 0);
    bt__buf_init(&results, 0);
    append_bytes(&requests, json_object_get(c, "requests"));
    append_bytes(&results, json_object_get(c, "results"));
    size_t chunk = (size_t)json_integer_value(json_object_get(c, "chunk"));
    golden_now += GOLDEN_STEP;
    bt_batch_collector *col = NULL;
    int rc = bt_batch_collector_new(e->a, batch, strlen(batch), &col);
    g_printf(o, "== collect new -> %s\n", bt_strerror(rc));
    free(batch);
    if (rc == BT_OK) {
        size_t step = chunk ? chunk : (requests.len ? requests.len : 1);
        for (size_t i = 0; i < requests.len; i += step)
            rc = bt_batch_collector_feed_requests(col, requests.data + i,
                                                  requests.len - i < step ? requests.len - i : step);
        g_printf(o, "requests -> %s\n", bt_strerror(rc));
        step = chunk ? chunk : (results.len ? results.len : 1);
        for (size_t i = 0; i < results.len; i += step) {
            golden_now += GOLDEN_STEP;
            rc = bt_batch_collector_feed_results(col, results.data + i,
                                                 results.len - i < step ? results.len - i : step);
        }
        g_printf(o, "results -> %s\n", bt_strerror(rc));
        golden_now += GOLDEN_STEP;
        bt_batch_import_stats st;
        rc = bt_batch_collector_finish(col, &st);
        g_printf(o,
                 "finish -> %s requests=%llu results=%llu succeeded=%llu errored=%llu canceled=%llu "
                 "expired=%llu invalid=%llu duplicate=%llu unknown=%llu oversized=%llu prompt=%lld "
                 "completion=%lld\n",
                 bt_strerror(rc), (unsigned long long)st.requests, (unsigned long long)st.results,
                 (unsigned long long)st.succeeded, (unsigned long long)st.errored,
                 (unsigned long long)st.canceled, (unsigned long long)st.expired,
                 (unsigned long long)st.invalid_lines, (unsigned long long)st.duplicate_ids,
                 (unsigned long long)st.unknown_ids, (unsigned long long)st.oversized_lines,
                 (long long)st.prompt_tokens, (long long)st.completion_tokens);
        bt_batch_collector_free(col);
    }
    size_t first = json_array_size(e->run->spans);
    golden_collect(e);
    golden_mark(e->run, first);
    bt__buf_free(&requests);
    bt__buf_free(&results);
}

static void feed_case(golden_env *e, void *ud)
{
    json_t *c = ud;
    size_t i;
    json_t *x;
    json_array_foreach(json_object_get(c, "exchanges"), i, x) feed_one(e, x, i + 1);
    if (json_object_get(c, "collect"))
        collect(e, json_object_get(c, "collect"));
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Names of the files in `dir` ending in `suffix`, sorted, without the suffix. */
static char **list_names(const char *dir, const char *suffix, size_t *n_out)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    char **names = NULL;
    size_t n = 0;
    struct dirent *de;
    size_t sl = strlen(suffix);
    while ((de = readdir(d))) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l <= sl || strcmp(de->d_name + l - sl, suffix) != 0)
            continue;
        names = realloc(names, (n + 1) * sizeof *names);
        names[n] = strndup(de->d_name, l - sl);
        n++;
    }
    closedir(d);
    if (n)
        qsort(names, n, sizeof *names, cmp_names);
    *n_out = n;
    return names;
}

static void test_project_cases(void **state)
{
    (void)state;
    char cases_dir[4096], expected_dir[4096];
    snprintf(cases_dir, sizeof cases_dir, "%s/tests/anthropic/golden/cases", BT_SOURCE_DIR);
    snprintf(expected_dir, sizeof expected_dir, "%s/tests/anthropic/golden/expected", BT_SOURCE_DIR);
    size_t n;
    char **names = list_names(cases_dir, ".json", &n);
    assert_true(n > 0);
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        char path[8192];
        snprintf(path, sizeof path, "%s/%s.json", cases_dir, names[i]);
        json_error_t err;
        json_t *c = json_load_file(path, 0, &err);
        if (!c)
            fail_msg("%s: %s (line %d)", path, err.text, err.line);
        char *text = golden_run_case(json_object_get(c, "settings"), feed_case, c);
        golden_dump(names[i], text);
        snprintf(path, sizeof path, "%s/%s.spans", expected_dir, names[i]);
        if (golden_check(path, text, NULL) != 0) {
            print_error("golden: case %s differs\n", names[i]);
            failures++;
        }
        free(text);
        json_decref(c);
    }
    /* a saved file without its case is a leftover */
    size_t n_saved;
    char **saved = list_names(expected_dir, ".spans", &n_saved);
    for (size_t i = 0; i < n_saved; i++) {
        if (!bsearch(&saved[i], names, n, sizeof *names, cmp_names)) {
            print_error("golden: %s/%s.spans has no case\n", expected_dir, saved[i]);
            failures++;
        }
        free(saved[i]);
    }
    free(saved);
    print_message("golden: %zu cases compared\n", n);
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    if (failures)
        fail_msg("%d golden case(s) differ", failures);
}

int main(void)
{
    unsetenv("OTEL_SERVICE_NAME");
    unsetenv("OTEL_RESOURCE_ATTRIBUTES");
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_project_cases),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
