/*
 * Base64 media as Braintrust attachments in llm spans: references in the input, bytes
 * with the span under a key derived from the content; nested tool results too; what is
 * not valid base64, not base64 at all, or beyond the per-span count stays as sent; the
 * mask callback sees references; without a sink that keeps attachments nothing changes;
 * an agent session's root refers to the same keys.
 */
#include "anthropic/attachments.h"
#include "msg_harness.h"

static const bt_header json_ct[] = {{"content-type", 12, "application/json", 16}};
static const char reply[] = "{\"id\":\"msg_a\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\","
                            "\"content\":[{\"type\":\"text\",\"text\":\"ok\"}],\"stop_reason\":\"end_turn\","
                            "\"usage\":{\"input_tokens\":5,\"output_tokens\":1}}";

static void run(harness *h, json_t *messages, const bt_header *hs, size_t n_hs)
{
    json_t *req = json_pack("{s:s,s:i,s:O}", "model", "m", "max_tokens", 5, "messages", messages);
    char *text = json_dumps(req, JSON_COMPACT);
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h->a, "POST", "/v1/messages", hs, n_hs, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, text, strlen(text));
    bt_exchange_response_headers(ex, 200, json_ct, 1);
    bt_exchange_response_body(ex, reply, strlen(reply));
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    free(text);
    json_decref(req);
}

/* The one llm span (parsed); the sink keeps the attachments until cleared. */
static json_t *span_of(harness *h, const char *name)
{
    assert_int_equal(bt_tracer_flush(h->t, 10000), BT_OK);
    for (size_t i = 0; i < bt_sink_memory_count(h->mem); i++) {
        char *line = bt_sink_memory_get(h->mem, i);
        json_t *s = json_loads(line, 0, NULL);
        free(line);
        if (!strcmp(json_string_value(json_object_get(s, "name")), name))
            return s;
        json_decref(s);
    }
    fail_msg("no span %s", name);
    return NULL;
}

static json_t *media(const char *type, const char *media_type, const char *data)
{
    return json_pack("{s:s,s:{s:s,s:s,s:s}}", "type", type, "source", "type", "base64", "media_type",
                     media_type, "data", data);
}

/* "hello world!" and a few bytes with the high bit set */
#define B64_HELLO "aGVsbG8gd29ybGQh"
#define B64_BIN "/+7dzLuqmYh3ZlVEMyIRAA=="

static void test_references_and_bytes(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    json_t *tool_result = json_pack("{s:s,s:s,s:[o]}", "type", "tool_result", "tool_use_id", "toolu_1",
                                    "content", media("image", "image/jpeg", B64_BIN));
    json_t *messages =
        json_pack("[{s:s,s:[{s:s,s:s},o,o,o,{s:s,s:{s:s,s:s}}]},{s:s,s:s},{s:s,s:[o]}]", "role", "user",
                  "content", "type", "text", "text", "look", media("image", "image/png", B64_HELLO),
                  media("document", "application/pdf", B64_BIN), media("image", "image/gif", "not*base64"),
                  "type", "image", "source", "type", "url", "url", "https://example.com/a.png", "role",
                  "assistant", "content", "let me see", "role", "user", "content", tool_result);
    run(&h, messages, NULL, 0);
    json_t *span = span_of(&h, "anthropic.messages.create");
    json_t *in = span_json(span, "braintrust.input_json");
    json_t *blocks = json_object_get(json_array_get(in, 0), "content");

    json_t *png = json_object_get(json_array_get(blocks, 1), "source");
    assert_string_equal(json_string_value(json_object_get(png, "type")), "braintrust_attachment");
    assert_string_equal(json_string_value(json_object_get(png, "content_type")), "image/png");
    assert_string_equal(json_string_value(json_object_get(png, "filename")), "image.png");
    char key[37];
    bt__attachment_key("image/png", (const unsigned char *)"hello world!", 12, key);
    assert_string_equal(json_string_value(json_object_get(png, "key")), key);
    size_t len = 0;
    unsigned char *bytes = bt_sink_memory_get_attachment(h.mem, key, &len);
    assert_int_equal(len, 12);
    assert_memory_equal(bytes, "hello world!", 12);
    free(bytes);

    json_t *pdf = json_object_get(json_array_get(blocks, 2), "source");
    assert_string_equal(json_string_value(json_object_get(pdf, "filename")), "document.pdf");
    bytes = bt_sink_memory_get_attachment(h.mem, json_string_value(json_object_get(pdf, "key")), &len);
    assert_int_equal(len, 16);
    assert_int_equal(bytes[0], 0xff);
    free(bytes);
    /* not base64, or no base64 source: as sent */
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(blocks, 3), "source"), "data")),
        "not*base64");
    assert_string_equal(
        json_string_value(json_object_get(json_object_get(json_array_get(blocks, 4), "source"), "type")),
        "url");
    /* an image inside a tool result */
    json_t *nested = json_object_get(
        json_array_get(
            json_object_get(json_array_get(json_object_get(json_array_get(in, 2), "content"), 0), "content"),
            0),
        "source");
    assert_string_equal(json_string_value(json_object_get(nested, "type")), "braintrust_attachment");
    assert_string_equal(json_string_value(json_object_get(nested, "filename")), "image.jpg");
    /* the same bytes under another type are another attachment */
    assert_string_not_equal(json_string_value(json_object_get(nested, "key")),
                            json_string_value(json_object_get(pdf, "key")));
    /* no base64 of the media left in the span */
    const char *raw = span_str(span, "braintrust.input_json");
    assert_null(strstr(raw, B64_HELLO));
    assert_null(strstr(raw, "/+7dzLuqmYh3ZlVEMyIRAA"));
    json_decref(in);
    json_decref(span);
    json_decref(messages);
    harness_free(&h);
}

static int masked_saw_base64;
static char *mask(void *ud, const char *field, const char *json, size_t len)
{
    (void)ud, (void)field, (void)len;
    if (strstr(json, B64_HELLO))
        masked_saw_base64 = 1;
    return NULL;
}

/* A per-span count cap, the mask, and a tracer without a keeping sink. */
static void test_caps_mask_and_plain_sinks(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    bt_anthropic_set_mask(h.a, mask, NULL);
    json_t *content = json_array();
    char b64[16];
    for (int i = 0; i < 70; i++) {
        /* 70 distinct 3-byte images */
        unsigned char b[3] = {(unsigned char)i, 1, 2};
        static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
        unsigned x = (unsigned)b[0] << 16 | (unsigned)b[1] << 8 | b[2];
        snprintf(b64, sizeof b64, "%c%c%c%c", tab[x >> 18 & 63], tab[x >> 12 & 63], tab[x >> 6 & 63],
                 tab[x & 63]);
        json_array_append_new(content, media("image", "image/png", b64));
    }
    json_array_append_new(content, media("image", "image/png", B64_HELLO));
    json_t *messages = json_pack("[{s:s,s:o}]", "role", "user", "content", content);
    run(&h, messages, NULL, 0);
    json_t *span = span_of(&h, "anthropic.messages.create");
    json_t *in = span_json(span, "braintrust.input_json");
    size_t refs = 0, inline_left = 0;
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(json_array_get(in, 0), "content"), i, b)
    {
        const char *t = json_string_value(json_object_get(json_object_get(b, "source"), "type"));
        refs += !strcmp(t, "braintrust_attachment");
        inline_left += !strcmp(t, "base64");
    }
    assert_int_equal(refs, 64); /* at most 64 per span; the rest stays as sent */
    assert_int_equal(inline_left, 7);
    assert_int_equal(masked_saw_base64, 1); /* the 71st image was one of those left */
    json_decref(in);
    json_decref(span);
    json_decref(messages);
    harness_free(&h);

    /* only a JSONL file: nothing keeps attachments, the data stays inline */
    char path[512];
    snprintf(path, sizeof path, "%s/attachments-%d.jsonl",
             getenv("BT_TEST_TMPDIR") ? getenv("BT_TEST_TMPDIR") : "/tmp", (int)getpid());
    bt_tracer *t;
    bt_sink *jsonl;
    bt_anthropic *a;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_sink_jsonl_new(path, &jsonl), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, jsonl), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    assert_int_equal(bt_anthropic_new(t, &a), BT_OK);
    harness plain = {.t = t, .a = a};
    json_t *one =
        json_pack("[{s:s,s:[o]}]", "role", "user", "content", media("image", "image/png", B64_HELLO));
    run(&plain, one, NULL, 0);
    bt_anthropic_free(a);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    bt_tracer_free(t);
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    unlink(path);
    assert_non_null(strstr(buf, B64_HELLO));
    assert_null(strstr(buf, "braintrust_attachment"));
    json_decref(one);
}

/* In an agent session the root shows the first prompt with references to the keys the
 * turn span carries. */
static void test_session_root_refers_to_the_same_keys(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    static const bt_header session[] = {{"x-bt-session-id", 15, "with-an-image", 13}};
    json_t *messages = json_pack("[{s:s,s:[{s:s,s:s},o]}]", "role", "user", "content", "type", "text", "text",
                                 "what is this?", media("image", "image/png", B64_HELLO));
    run(&h, messages, session, 1);
    assert_int_equal(bt_anthropic_close_sessions(h.a), 1);
    json_t *turn = span_of(&h, "anthropic.messages.create");
    json_t *root = span_of(&h, "agent.session");
    json_t *tin = span_json(turn, "braintrust.input_json");
    json_t *rin = span_json(root, "braintrust.input_json");
    json_t *tsrc =
        json_object_get(json_array_get(json_object_get(json_array_get(tin, 0), "content"), 1), "source");
    json_t *rsrc =
        json_object_get(json_array_get(json_object_get(json_array_get(rin, 0), "content"), 1), "source");
    assert_string_equal(json_string_value(json_object_get(rsrc, "type")), "braintrust_attachment");
    assert_true(json_equal(tsrc, rsrc));
    assert_null(strstr(span_str(root, "braintrust.input_json"), B64_HELLO));
    json_decref(tin), json_decref(rin), json_decref(turn), json_decref(root);
    json_decref(messages);
    harness_free(&h);
}

/* The input is the request's own text with only the media sources replaced: what
 * surrounds them keeps its bytes (numbers as spelled, escapes, key order), and a
 * request without media is the request's text itself. */
static void test_only_the_sources_change(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    static const char body[] =
        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[{\"role\":\"user\",\"content\":["
        "{\"type\":\"image\",\"source\":{\"type\":\"base64\",\"media_type\":\"image/png\","
        "\"data\":\"" B64_HELLO "\"},\"z\":1.50},"
        "{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":[{\"type\":\"text\","
        "\"text\":\"caf\\u00e9 \\/ 1e2\",\"n\":1E+2}]}]}]}";
    bt_exchange *ex = NULL;
    assert_int_equal(bt_exchange_begin(h.a, "POST", "/v1/messages", NULL, 0, NULL, &ex), BT_OK);
    bt_exchange_request_body(ex, body, strlen(body));
    bt_exchange_response_headers(ex, 200, json_ct, 1);
    bt_exchange_response_body(ex, reply, strlen(reply));
    bt_exchange_end(ex, BT_EXCHANGE_COMPLETED, NULL);
    json_t *span = span_of(&h, "anthropic.messages.create");
    char key[37];
    bt__attachment_key("image/png", (const unsigned char *)"hello world!", 12, key);
    char want[1024];
    snprintf(want, sizeof want,
             "[{\"role\":\"user\",\"content\":[{\"type\":\"image\",\"source\":{\"type\":"
             "\"braintrust_attachment\",\"content_type\":\"image/png\",\"filename\":\"image.png\","
             "\"key\":\"%s\"},\"z\":1.50},{\"type\":\"tool_result\",\"tool_use_id\":\"t\",\"content\":"
             "[{\"type\":\"text\",\"text\":\"caf\u00e9 / 1e2\",\"n\":1E+2}]}]}]",
             key);
    assert_string_equal(span_str(span, "braintrust.input_json"), want);
    json_decref(span);
    harness_free(&h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_references_and_bytes),
        cmocka_unit_test(test_caps_mask_and_plain_sinks),
        cmocka_unit_test(test_session_root_refers_to_the_same_keys),
        cmocka_unit_test(test_only_the_sources_change),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
