/*
 * The Braintrust spec cases (fixtures/braintrust-spec/llm_span/anthropic/<case>.yaml): each
 * case's request is paired with a realistic response built here (streamed when the
 * request streams, with cache usage for the caching cases), fed through an exchange,
 * and our span, converted to the brainstore row shape, is evaluated against
 * expected_brainstore_spans including the !fn matchers.
 *
 * `context.span_origin` is not produced by an OTLP emitter: Braintrust ingest derives
 * it from the OTLP instrumentation scope and the resource's telemetry.sdk.version. The
 * test checks those two are non-empty instead of matching `context` on the row.
 *
 * attachments.yaml: base64 image and document sources become Braintrust attachment
 * references in the input, and the decoded bytes reach the sink under the same key.
 */
#include <yaml.h>

#include "conformance.h"
#include "core/tracer_internal.h"
#include "msg_harness.h"

/* --- YAML -> JSON, keeping !fn matchers as {"$fn": name} ------------------------- */

static json_t *scalar_value(yaml_node_t *n)
{
    const char *v = (const char *)n->data.scalar.value;
    size_t len = n->data.scalar.length;
    const char *tag = (const char *)n->tag;
    if (tag && !strcmp(tag, "!fn"))
        return json_pack("{s:s}", "$fn", v);
    if (tag && !strcmp(tag, "!gen"))
        return json_sprintf("generated-%s", v);
    if (n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE)
        return json_stringn(v, len);
    if (!strcmp(v, "true"))
        return json_true();
    if (!strcmp(v, "false"))
        return json_false();
    if (!strcmp(v, "null") || !strcmp(v, "~") || len == 0)
        return json_null();
    char *end;
    long long i = strtoll(v, &end, 10);
    if (*v && *end == '\0')
        return json_integer(i);
    double d = strtod(v, &end);
    if (*v && *end == '\0')
        return json_real(d);
    return json_stringn(v, len);
}

static json_t *yaml_to_json(yaml_document_t *doc, yaml_node_t *n, int depth)
{
    if (!n || depth > 64)
        return json_null();
    switch (n->type) {
    case YAML_SCALAR_NODE:
        return scalar_value(n);
    case YAML_SEQUENCE_NODE: {
        json_t *a = json_array();
        for (yaml_node_item_t *it = n->data.sequence.items.start; it < n->data.sequence.items.top; it++)
            json_array_append_new(a, yaml_to_json(doc, yaml_document_get_node(doc, *it), depth + 1));
        return a;
    }
    case YAML_MAPPING_NODE: {
        json_t *o = json_object();
        for (yaml_node_pair_t *p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; p++) {
            yaml_node_t *k = yaml_document_get_node(doc, p->key);
            if (k && k->type == YAML_SCALAR_NODE)
                json_object_set_new(o, (const char *)k->data.scalar.value,
                                    yaml_to_json(doc, yaml_document_get_node(doc, p->value), depth + 1));
        }
        return o;
    }
    default:
        return json_null();
    }
}

static json_t *load_case(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "braintrust-spec/llm_span/anthropic/%s.yaml", name);
    FILE *f = fopen(bt_test_fixture_path(rel), "rb");
    assert_non_null(f);
    yaml_parser_t p;
    yaml_document_t doc;
    assert_true(yaml_parser_initialize(&p));
    yaml_parser_set_input_file(&p, f);
    assert_true(yaml_parser_load(&p, &doc));
    json_t *j = yaml_to_json(&doc, yaml_document_get_root_node(&doc), 0);
    yaml_document_delete(&doc);
    yaml_parser_delete(&p);
    fclose(f);
    return j;
}

/* --- matching ---------------------------------------------------------------------- */

typedef struct mismatches {
    char paths[32][256];
    int n;
} mismatches;

static void mismatch(mismatches *m, const char *path, const char *why)
{
    print_message("  mismatch at %s: %s\n", path, why);
    if (m->n < 32)
        snprintf(m->paths[m->n++], sizeof m->paths[0], "%s", path);
}

static int fn_matches(const char *fn, json_t *v)
{
    if (!strcmp(fn, "is_non_negative_number"))
        return json_is_number(v) && json_number_value(v) >= 0;
    if (!strcmp(fn, "is_positive_number"))
        return json_is_number(v) && json_number_value(v) > 0;
    if (!strcmp(fn, "is_number"))
        return json_is_number(v);
    if (!strcmp(fn, "is_non_empty_string"))
        return json_is_string(v) && json_string_length(v) > 0;
    if (!strcmp(fn, "is_string"))
        return json_is_string(v);
    if (!strcmp(fn, "undefined_or_null"))
        return v == NULL || json_is_null(v);
    if (!strcmp(fn, "is_defined") || !strcmp(fn, "exists"))
        return v != NULL && !json_is_null(v);
    fail_msg("unknown matcher !fn %s", fn);
    return 0;
}

static void match(json_t *want, json_t *got, const char *path, mismatches *m)
{
    char sub[256];
    const char *fn = json_string_value(json_object_get(want, "$fn"));
    if (fn) {
        if (!fn_matches(fn, got))
            mismatch(m, path, fn);
        return;
    }
    if (json_is_object(want)) {
        if (!json_is_object(got)) {
            mismatch(m, path, "not an object");
            return;
        }
        const char *k;
        json_t *v;
        json_object_foreach(want, k, v)
        {
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            match(v, json_object_get(got, k), sub, m);
        }
    } else if (json_is_array(want)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(want)) {
            mismatch(m, path, "not an array of the expected length");
            return;
        }
        for (size_t i = 0; i < json_array_size(want); i++) {
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            match(json_array_get(want, i), json_array_get(got, i), sub, m);
        }
    } else if (json_is_number(want)) {
        if (!json_is_number(got) || json_number_value(got) != json_number_value(want))
            mismatch(m, path, "number differs");
    } else if (!json_equal(want, got)) {
        mismatch(m, path, "value differs");
    }
}

/* --- a realistic response for a spec request --------------------------------------- */

static json_t *response_for(json_t *req, json_t *want_output)
{
    json_t *want_text = json_object_get(json_array_get(json_object_get(want_output, "content"), 0), "text");
    const char *text = json_is_string(want_text) ? json_string_value(want_text) : "1, 2, 3, 4, 5";
    json_t *usage = json_pack("{s:i,s:i,s:i,s:i,s:s}", "input_tokens", 14, "cache_creation_input_tokens", 0,
                              "cache_read_input_tokens", 0, "output_tokens", 10, "service_tier", "standard");
    /* a cache_control breakpoint in the system prompt writes the cache with its TTL */
    const char *ttl = NULL;
    size_t i;
    json_t *blk;
    json_array_foreach(json_object_get(req, "system"), i, blk)
    {
        json_t *cc = json_object_get(blk, "cache_control");
        if (cc)
            ttl = json_string_value(json_object_get(cc, "ttl"))
                ? json_string_value(json_object_get(cc, "ttl"))
                : "5m";
    }
    if (ttl) {
        json_object_set_new(usage, "cache_creation_input_tokens", json_integer(1650));
        json_object_set_new(usage, "cache_creation",
                            json_pack("{s:i,s:i}", "ephemeral_5m_input_tokens", strcmp(ttl, "1h") ? 1650 : 0,
                                      "ephemeral_1h_input_tokens", strcmp(ttl, "1h") ? 0 : 1650));
    }
    return json_pack("{s:s,s:s,s:s,s:O,s:[{s:s,s:s}],s:s,s:n,s:o}", "id", "msg_01SpecCase", "type", "message",
                     "role", "assistant", "model", json_object_get(req, "model"), "content", "type", "text",
                     "text", text, "stop_reason", "end_turn", "stop_sequence", "usage", usage);
}

static char *sse_for(json_t *msg)
{
    json_t *start = json_deep_copy(msg);
    json_object_set_new(start, "content", json_array());
    json_object_set_new(start, "stop_reason", json_null());
    json_object_set_new(json_object_get(start, "usage"), "output_tokens", json_integer(1));
    const char *text =
        json_string_value(json_object_get(json_array_get(json_object_get(msg, "content"), 0), "text"));
    json_t *evs[] = {
        json_pack("{s:s,s:o}", "type", "message_start", "message", start),
        json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_start", "index", 0, "content_block", "type",
                  "text", "text", ""),
        json_pack("{s:s}", "type", "ping"),
        json_pack("{s:s,s:i,s:{s:s,s:s}}", "type", "content_block_delta", "index", 0, "delta", "type",
                  "text_delta", "text", text),
        json_pack("{s:s,s:i}", "type", "content_block_stop", "index", 0),
        json_pack("{s:s,s:{s:s,s:n},s:O}", "type", "message_delta", "delta", "stop_reason", "end_turn",
                  "stop_sequence", "usage", json_object_get(msg, "usage")),
        json_pack("{s:s}", "type", "message_stop"),
    };
    size_t cap = 65536, len = 0;
    char *out = malloc(cap);
    for (size_t k = 0; k < sizeof evs / sizeof *evs; k++) {
        char *d = json_dumps(evs[k], JSON_COMPACT);
        int n = snprintf(out + len, cap - len, "event: %s\ndata: %s    \n\n",
                         json_string_value(json_object_get(evs[k], "type")), d);
        assert_true(n > 0 && (size_t)n < cap - len);
        len += (size_t)n;
        free(d);
        json_decref(evs[k]);
    }
    return out;
}

/* --- the brainstore row ----------------------------------------------------------- */

static json_t *row_of(json_t *span)
{
    json_t *row = json_object();
    json_object_set_new(row, "input", span_json(span, "braintrust.input_json"));
    json_object_set_new(row, "output", span_json(span, "braintrust.output_json"));
    json_object_set_new(row, "metadata", span_json(span, "braintrust.metadata"));
    json_object_set_new(row, "metrics", span_json(span, "braintrust.metrics"));
    json_t *sa = span_json(span, "braintrust.span_attributes");
    if (!json_object_get(sa, "name"))
        json_object_set(sa, "name", json_object_get(span, "name"));
    json_object_set_new(row, "span_attributes", sa);
    return row;
}

/* Every braintrust_attachment reference in the row's input: its bytes are in the sink
 * and equal the base64 the request carried at the same place. */
static void check_attachment_bytes(harness *h, json_t *req, json_t *input)
{
    size_t checked = 0;
    json_t *msgs = json_object_get(req, "messages");
    for (size_t i = 0; i < json_array_size(msgs); i++) {
        json_t *sent = json_object_get(json_array_get(msgs, i), "content");
        json_t *got = json_object_get(json_array_get(input, i), "content");
        for (size_t k = 0; k < json_array_size(sent); k++) {
            json_t *src = json_object_get(json_array_get(sent, k), "source");
            json_t *ref = json_object_get(json_array_get(got, k), "source");
            if (!src)
                continue;
            assert_string_equal(json_string_value(json_object_get(ref, "type")), "braintrust_attachment");
            size_t len = 0;
            unsigned char *bytes =
                bt_sink_memory_get_attachment(h->mem, json_string_value(json_object_get(ref, "key")), &len);
            assert_non_null(bytes);
            /* the bytes re-encoded give the base64 that was sent */
            static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
            char *b64 = malloc(len / 3 * 4 + 8);
            size_t o = 0;
            for (size_t j = 0; j < len; j += 3) {
                unsigned v = (unsigned)bytes[j] << 16 | (j + 1 < len ? (unsigned)bytes[j + 1] << 8 : 0) |
                    (j + 2 < len ? bytes[j + 2] : 0);
                b64[o++] = tab[v >> 18 & 63];
                b64[o++] = tab[v >> 12 & 63];
                b64[o++] = j + 1 < len ? tab[v >> 6 & 63] : '=';
                b64[o++] = j + 2 < len ? tab[v & 63] : '=';
            }
            b64[o] = '\0';
            assert_string_equal(b64, json_string_value(json_object_get(src, "data")));
            assert_string_equal(json_string_value(json_object_get(ref, "content_type")),
                                json_string_value(json_object_get(src, "media_type")));
            free(b64);
            free(bytes);
            checked++;
        }
    }
    assert_true(checked > 0);
}

static void run_case(const char *name, int has_attachments)
{
    print_message("spec case %s\n", name);
    json_t *c = load_case(name);
    json_t *req = json_array_get(json_object_get(c, "requests"), 0);
    json_t *want = json_array_get(json_object_get(c, "expected_brainstore_spans"), 0);
    assert_non_null(req);
    assert_non_null(want);
    json_t *msg = response_for(req, json_object_get(want, "output"));
    int stream = json_is_true(json_object_get(req, "stream"));

    harness h;
    harness_init(&h);
    char *req_text = json_dumps(req, JSON_COMPACT);
    bt_header rqh[3] = {{"anthropic-version", 17, "2023-06-01", 10},
                        {"x-api-key", 9, "sk-ant-spec-secret", 18}};
    size_t n_rqh = 2;
    const char *beta = json_string_value(json_object_get(json_object_get(c, "headers"), "anthropic-beta"));
    if (beta)
        rqh[n_rqh++] = (bt_header){"anthropic-beta", 14, beta, strlen(beta)};
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", rqh, n_rqh, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, req_text, strlen(req_text));
    h_now += 300000000ull;
    bt_header rsh[] = {
        {"content-type", 12, stream ? "text/event-stream" : "application/json", stream ? 17u : 16u},
        {"request-id", 10, "req_spec", 8}};
    bt_exchange_response_headers(ex, 200, rsh, 2);
    char *body = stream ? sse_for(msg) : json_dumps(msg, JSON_COMPACT);
    feed_chunks(ex, body, strlen(body), FEED_RANDOM, 7);
    h_now += 500000000ull;
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    /* read without clearing the sink: it holds the attachments' bytes too */
    assert_int_equal(bt_tracer_flush(h.t, 10000), BT_OK);
    assert_int_equal(bt_sink_memory_count(h.mem), 1);
    char *line = bt_sink_memory_get(h.mem, 0);
    assert_non_null(line);
    assert_null(strstr(line, "sk-ant-spec-secret"));
    json_t *span = json_loads(line, 0, NULL);
    json_t *row = row_of(span);

    if (beta) /* the caller's beta header is passed through and recorded unchanged */
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(row, "metadata"), "anthropic_beta")), beta);

    mismatches m = {0};
    const char *k;
    json_t *v;
    json_object_foreach(want, k, v)
    {
        if (!strcmp(k, "context"))
            continue; /* filled by Braintrust ingest: see the scope check below */
        char path[64];
        snprintf(path, sizeof path, "%s", k);
        match(v, json_object_get(row, k), path, &m);
    }
    /* what ingest turns into context.span_origin */
    const bt__resource *res = bt__tracer_resource(h.t);
    assert_non_null(res);
    assert_true(res->scope_name && res->scope_name[0]);
    const bt__attr *ver = bt__attrs_find(&res->attrs, "telemetry.sdk.version");
    assert_non_null(ver);
    assert_true(ver->type == BT__ATTR_STRING && ver->v.s.len > 0);

    assert_int_equal(m.n, 0);
    if (has_attachments)
        check_attachment_bytes(&h, req, json_object_get(row, "input"));
    json_decref(row);
    json_decref(span);
    free(line);
    free(body);
    free(req_text);
    harness_free(&h);
    json_decref(msg);
    json_decref(c);
}

static void test_messages(void **state)
{
    (void)state;
    run_case("messages", 0);
}
static void test_streaming(void **state)
{
    (void)state;
    run_case("streaming", 0);
}
static void test_prompt_caching_5m(void **state)
{
    (void)state;
    run_case("prompt_caching_5m", 0);
}
static void test_prompt_caching_1h(void **state)
{
    (void)state;
    run_case("prompt_caching_1h", 0);
}
static void test_attachments(void **state)
{
    (void)state;
    run_case("attachments", 1);
}

int main(void)
{
    bt_test_require_fixtures(__FILE__);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages),          cmocka_unit_test(test_streaming),
        cmocka_unit_test(test_prompt_caching_5m), cmocka_unit_test(test_prompt_caching_1h),
        cmocka_unit_test(test_attachments),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
