/* The streaming create-body splitter and the per-request correlation entry. */
#include "test_batch_helpers.h"

#include "anthropic/batch_requests.h"
#include "anthropic/batch_split.h"
#include "anthropic/correlation.h"
#include "util/buf.h"

typedef struct seen {
    int n;
    char ids[16][BT__BATCH_CUSTOM_ID_MAX + 1];
    int truncated[16];
    size_t len[16];
    int parsed[16]; /* the element is complete JSON */
} seen;

static int collect(void *ud, const char *elem, size_t len, int truncated, const char *custom_id)
{
    seen *s = ud;
    assert_true(s->n < 16);
    assert_int_equal(elem[len], '\0');
    snprintf(s->ids[s->n], sizeof s->ids[0], "%s", custom_id);
    s->truncated[s->n] = truncated;
    s->len[s->n] = len;
    json_t *v = json_loadb(elem, len, 0, NULL);
    s->parsed[s->n] = v != NULL;
    json_decref(v);
    s->n++;
    return 0;
}

/* Splits `text` in pieces of `chunk` bytes; returns feed/finish's first error. */
static int split(const char *text, size_t len, size_t chunk, size_t cap, seen *out)
{
    memset(out, 0, sizeof *out);
    bt__batch_split *s = bt__batch_split_new(cap, collect, out);
    assert_non_null(s);
    int rc = 0;
    for (size_t off = 0; off < len && rc == 0; off += chunk)
        rc = bt__batch_split_feed(s, text + off, len - off < chunk ? len - off : chunk);
    if (rc == 0)
        rc = bt__batch_split_finish(s);
    bt__batch_split_free(s);
    return rc;
}

static const char CREATE[] =
    "{\"requests\":[{\"custom_id\":\"req-1\",\"params\":{\"model\":\"claude-haiku-4-5-20251001\","
    "\"max_tokens\":100,\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}},"
    " {\"params\":{\"model\":\"claude-3-5-haiku-latest\",\"metadata\":{\"custom_id\":\"nested\"},"
    "\"messages\":[{\"role\":\"user\",\"content\":\"a } ] \\\" tricky { [ string\"}]},\"custom_id\":\"req-2\"}]}";

static void test_create_body_any_chunking(void **state)
{
    (void)state;
    seen whole, piece;
    assert_int_equal(split(CREATE, strlen(CREATE), strlen(CREATE), 1 << 20, &whole), BT_OK);
    assert_int_equal(whole.n, 2);
    assert_string_equal(whole.ids[0], "req-1");
    assert_string_equal(whole.ids[1], "req-2"); /* after params; the nested id is ignored */
    assert_true(whole.parsed[0] && whole.parsed[1]);
    assert_false(whole.truncated[0] || whole.truncated[1]);
    for (size_t chunk = 1; chunk < 40; chunk += 3) {
        assert_int_equal(split(CREATE, strlen(CREATE), chunk, 1 << 20, &piece), BT_OK);
        assert_int_equal(piece.n, 2);
        for (int i = 0; i < 2; i++) {
            assert_string_equal(piece.ids[i], whole.ids[i]);
            assert_int_equal(piece.len[i], whole.len[i]);
            assert_true(piece.parsed[i]);
        }
    }
}

static void test_jsonl_and_bare_array(void **state)
{
    (void)state;
    static const char jsonl[] = "{\"custom_id\":\"a\",\"params\":{\"messages\":[]}}\n"
                                "\r\n{\"custom_id\":\"b\",\"params\":{\"messages\":[]}}\n";
    seen s;
    assert_int_equal(split(jsonl, strlen(jsonl), 5, 1 << 20, &s), BT_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[1], "b");
    static const char arr[] = "[{\"custom_id\":\"x\"},{\"custom_id\":\"y\",\"params\":{}}]";
    assert_int_equal(split(arr, strlen(arr), 3, 1 << 20, &s), BT_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "x");
    assert_string_equal(s.ids[1], "y");
}

static void test_oversized_element_keeps_its_id(void **state)
{
    (void)state;
    /* The id after 10 KB of params, with a 1 KB cap: the element is cut, the id is not. */
    size_t pad = 10000;
    char *body = malloc(pad + 200);
    int n = sprintf(body, "{\"requests\":[{\"params\":{\"messages\":[{\"role\":\"user\",\"content\":\"");
    memset(body + n, 'x', pad);
    n += (int)pad;
    n += sprintf(body + n, "\"}]},\"custom_id\":\"big\"},{\"custom_id\":\"small\",\"params\":{}}]}");
    seen s;
    assert_int_equal(split(body, (size_t)n, 777, 1024, &s), BT_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[0], "big");
    assert_true(s.truncated[0]);
    assert_int_equal(s.len[0], 1024);
    assert_false(s.parsed[0]);
    assert_string_equal(s.ids[1], "small");
    assert_false(s.truncated[1]);
    free(body);
}

static void test_odd_ids(void **state)
{
    (void)state;
    static const char body[] =
        "{\"requests\":[{\"custom_id\":\"e\\u0073c\"},{\"custom_id\":5},"
        "{\"custom_id\":\"01234567890123456789012345678901234567890123456789012345678901234\"}]}";
    seen s;
    assert_int_equal(split(body, strlen(body), 4, 1 << 20, &s), BT_OK);
    assert_int_equal(s.n, 3);
    assert_string_equal(s.ids[0], ""); /* escaped: left to jansson */
    assert_string_equal(s.ids[1], ""); /* not a string */
    assert_string_equal(s.ids[2], ""); /* 65 bytes: longer than allowed */
}

static void test_malformed_input(void **state)
{
    (void)state;
    seen s;
    assert_int_equal(split("{\"requests\":[}", 14, 3, 1024, &s), BT_EPARSE);
    assert_int_equal(split("]", 1, 1, 1024, &s), BT_EPARSE);
    assert_int_equal(split("nonsense", 8, 1, 1024, &s), BT_EPARSE);
    assert_int_equal(split("\"str\"", 5, 1, 1024, &s), BT_EPARSE);
    /* Cut inside a request: reported with its id and marked, then EPARSE. */
    static const char cut[] =
        "{\"requests\":[{\"custom_id\":\"ok\"},{\"custom_id\":\"cut\",\"params\":{\"mess";
    assert_int_equal(split(cut, strlen(cut), 7, 1024, &s), BT_EPARSE);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.ids[1], "cut");
    assert_true(s.truncated[1]);
    /* Nesting deeper than 512 stops instead of recursing. */
    char deep[2000];
    memset(deep, '[', sizeof deep);
    assert_int_equal(split(deep, sizeof deep, 100, 1024, &s), BT_EPARSE);
}

static void test_entry_input_and_metadata(void **state)
{
    (void)state;
    json_t *params = json_loads("{\"model\":\"claude-haiku-4-5\",\"max_tokens\":9,\"temperature\":0.5,"
                                "\"stream\":false,\"system\":[{\"type\":\"text\",\"text\":\"Be brief\"}],"
                                "\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}],\"unknown_param\":1}",
                                0, NULL);
    size_t len = 0;
    int cut = -1;
    char *params_text = json_dumps(params, JSON_COMPACT);
    char *text = bt__batch_request_entry(params_text, strlen(params_text), &len, &cut);
    free(params_text);
    assert_non_null(text);
    assert_int_equal(cut, 0);
    assert_int_equal(len, strlen(text));
    json_t *entry = json_loads(text, 0, NULL);
    json_t *input = json_object_get(entry, "input");
    assert_int_equal(json_array_size(input), 2);
    assert_string_equal(tb_str(json_array_get(input, 0), "content"), "Hi");
    assert_string_equal(tb_str(json_array_get(input, 1), "role"), "system"); /* system last */
    json_t *md = json_object_get(entry, "metadata");
    assert_string_equal(tb_str(md, "provider"), "anthropic");
    assert_string_equal(tb_str(md, "model"), "claude-haiku-4-5");
    assert_int_equal(json_integer_value(json_object_get(md, "max_tokens")), 9);
    assert_null(json_object_get(md, "stream"));
    assert_null(json_object_get(md, "messages"));
    assert_null(json_object_get(md, "unknown_param"));
    assert_null(json_object_get(entry, "truncated"));
    json_decref(entry);
    free(text);

    /* A 3 MB image: the entry stays under the per-request cap and says it was cut. */
    size_t big = 3u << 20;
    char *data = malloc(big + 1);
    memset(data, 'A', big);
    data[big] = '\0';
    json_t *img = json_pack("{s:s,s:s,s:[{s:s,s:[{s:s,s:{s:s,s:s,s:s}}]}]}", "model", "m", "system", "sys",
                            "messages", "role", "user", "content", "type", "image", "source", "type",
                            "base64", "media_type", "image/png", "data", data);
    free(data);
    char *img_text = json_dumps(img, JSON_COMPACT);
    text = bt__batch_request_entry(img_text, strlen(img_text), &len, &cut);
    free(img_text);
    assert_non_null(text);
    assert_int_equal(cut, 1);
    assert_true(len <= BT__CORR_ENTRY_MAX);
    entry = json_loads(text, 0, NULL);
    assert_non_null(entry);
    assert_true(json_is_true(json_object_get(entry, "truncated")));
    assert_true(json_is_string(json_object_get(entry, "input")));
    assert_string_equal(tb_str(json_object_get(entry, "metadata"), "model"), "m");
    json_decref(entry);
    free(text);
    json_decref(img);
    json_decref(params);
}

static void test_ingest_summary(void **state)
{
    (void)state;
    struct bt__correlation *store = bt__correlation_new(NULL, NULL);
    assert_non_null(store);
    bt__batch_requests *r = bt__batch_requests_new(store, "msgbatch_x");
    assert_non_null(r);
    /* 150 requests over three models, in 13-byte pieces. */
    bt__buf body;
    bt__buf_init(&body, 0);
    bt__buf_append_str(&body, "{\"requests\":[");
    for (int i = 0; i < 150; i++)
        bt__buf_printf(&body, "%s{\"custom_id\":\"r%d\",\"params\":{\"model\":\"%s\",\"messages\":[]}}",
                       i ? "," : "", i,
                       i % 3 == 0       ? "zeta"
                           : i % 3 == 1 ? "alpha"
                                        : "mid");
    bt__buf_append_str(&body, ",{\"params\":{}},{\"custom_id\":\"noparams\"}]}");
    for (size_t off = 0; off < body.len; off += 13)
        assert_int_equal(
            bt__batch_requests_feed(r, body.data + off, body.len - off < 13 ? body.len - off : 13), BT_OK);
    assert_int_equal(bt__batch_requests_finish(r), BT_OK);
    const bt__batch_requests_stats *st = bt__batch_requests_get_stats(r);
    assert_int_equal(st->requests, 151);
    assert_int_equal(st->invalid, 1);
    assert_int_equal(st->truncated, 1); /* the one without params: kept as a marker */
    json_t *models = bt__batch_requests_models(r);
    assert_int_equal(json_array_size(models), 3);
    assert_string_equal(json_string_value(json_array_get(models, 0)), "alpha");
    assert_string_equal(json_string_value(json_array_get(models, 2)), "zeta");
    json_t *sum = bt__batch_requests_summary(r);
    assert_int_equal(json_integer_value(json_object_get(sum, "num_requests")), 151);
    assert_int_equal(json_array_size(json_object_get(sum, "custom_ids")), BT__BATCH_SUMMARY_IDS);
    assert_true(json_is_true(json_object_get(sum, "custom_ids_truncated")));
    json_decref(sum);
    char *entry = NULL;
    assert_int_equal(bt__correlation_get(store, "msgbatch_x", "r148", &entry, NULL), BT_OK);
    assert_non_null(strstr(entry, "\"model\":\"alpha\""));
    free(entry);
    assert_int_equal(bt__correlation_get(store, "msgbatch_x", "noparams", &entry, NULL), BT_OK);
    assert_non_null(strstr(entry, "\"truncated\":true"));
    free(entry);
    bt__buf_free(&body);
    bt__batch_requests_free(r);
    bt__correlation_free(store);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_create_body_any_chunking),
        cmocka_unit_test(test_jsonl_and_bare_array),
        cmocka_unit_test(test_oversized_element_keeps_its_id),
        cmocka_unit_test(test_odd_ids),
        cmocka_unit_test(test_malformed_input),
        cmocka_unit_test(test_entry_input_and_metadata),
        cmocka_unit_test(test_ingest_summary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
