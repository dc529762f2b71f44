/*
 * Conformance over every Messages and count_tokens recording in the shared fixtures:
 * each interaction is fed through an exchange and its span checked field by field
 * against expectations computed here, independently, from the recorded bytes. Feeding
 * the response whole, byte by byte and in random splits must give identical spans.
 */
#include <strings.h>

#include "conformance.h"
#include "msg_harness.h"
#include "util/base64.h"
#include "util/sha256.h"

/* --- an independent reading of the recorded response ------------------------------ */

typedef struct expect_block {
    char type[64];
    json_t *text;  /* concatenated text/thinking (string) */
    json_t *json;  /* concatenated partial_json (string) */
    json_t *start; /* content_block_start block */
} expect_block;

typedef struct expect {
    json_t *message; /* non-stream body, or NULL */
    char model[128];
    char stop_reason[64];
    int saw_stop, saw_error;
    char error_type[64];
    long long input, output, cache_read, cache_create;
    expect_block blocks[64];
    int n_blocks;
} expect;

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    memcpy(s, a, la);
    memcpy(s + la, b, lb + 1);
    return s;
}

static const char *or_empty(const char *s)
{
    return s ? s : "";
}

static void expect_event(expect *e, json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));
    if (!type)
        return;
    if (!strcmp(type, "message_start")) {
        json_t *m = json_object_get(ev, "message");
        snprintf(e->model, sizeof e->model, "%s", or_empty(json_string_value(json_object_get(m, "model"))));
        json_t *u = json_object_get(m, "usage");
        e->input = json_integer_value(json_object_get(u, "input_tokens"));
        e->output = json_integer_value(json_object_get(u, "output_tokens"));
        e->cache_read = json_integer_value(json_object_get(u, "cache_read_input_tokens"));
        e->cache_create = json_integer_value(json_object_get(u, "cache_creation_input_tokens"));
    } else if (!strcmp(type, "content_block_start") && e->n_blocks < 64) {
        expect_block *b = &e->blocks[e->n_blocks++];
        json_t *cb = json_object_get(ev, "content_block");
        snprintf(b->type, sizeof b->type, "%s", json_string_value(json_object_get(cb, "type")));
        b->start = json_incref(cb);
        const char *t = json_string_value(json_object_get(cb, "text"));
        if (!t)
            t = json_string_value(json_object_get(cb, "thinking"));
        b->text = json_string(t ? t : "");
        b->json = NULL;
    } else if (!strcmp(type, "content_block_delta") && e->n_blocks) {
        expect_block *b = &e->blocks[e->n_blocks - 1];
        json_t *d = json_object_get(ev, "delta");
        const char *dt = json_string_value(json_object_get(d, "type"));
        const char *piece = NULL;
        if (!strcmp(dt, "text_delta"))
            piece = json_string_value(json_object_get(d, "text"));
        else if (!strcmp(dt, "thinking_delta"))
            piece = json_string_value(json_object_get(d, "thinking"));
        if (piece) {
            char *cat = concat(json_string_value(b->text), piece);
            json_string_set(b->text, cat);
            free(cat);
        }
        if (!strcmp(dt, "input_json_delta")) {
            const char *pj = json_string_value(json_object_get(d, "partial_json"));
            char *cat = concat(b->json ? json_string_value(b->json) : "", pj ? pj : "");
            if (!b->json)
                b->json = json_string(cat);
            else
                json_string_set(b->json, cat);
            free(cat);
        }
    } else if (!strcmp(type, "message_delta")) {
        const char *sr = json_string_value(json_object_get(json_object_get(ev, "delta"), "stop_reason"));
        if (sr)
            snprintf(e->stop_reason, sizeof e->stop_reason, "%s", sr);
        json_t *u = json_object_get(ev, "usage");
        if (json_is_integer(json_object_get(u, "output_tokens")))
            e->output = json_integer_value(json_object_get(u, "output_tokens"));
        if (json_is_integer(json_object_get(u, "input_tokens")))
            e->input = json_integer_value(json_object_get(u, "input_tokens"));
        if (json_is_integer(json_object_get(u, "cache_read_input_tokens")))
            e->cache_read = json_integer_value(json_object_get(u, "cache_read_input_tokens"));
        if (json_is_integer(json_object_get(u, "cache_creation_input_tokens")))
            e->cache_create = json_integer_value(json_object_get(u, "cache_creation_input_tokens"));
    } else if (!strcmp(type, "message_stop")) {
        e->saw_stop = 1;
    } else if (!strcmp(type, "error")) {
        e->saw_error = 1;
        snprintf(e->error_type, sizeof e->error_type, "%s",
                 or_empty(json_string_value(json_object_get(json_object_get(ev, "error"), "type"))));
    }
}

/* Splits SSE text on blank lines and parses each event's data lines. */
static void expect_stream(expect *e, const char *body, size_t len)
{
    char *data = calloc(1, len + 1);
    size_t dlen = 0;
    size_t i = 0;
    while (i <= len) {
        size_t j = i;
        while (j < len && body[j] != '\n' && body[j] != '\r')
            j++;
        size_t ll = j - i;
        const char *line = body + i;
        if (ll == 0) {
            if (dlen) {
                json_t *ev = json_loadb(data, dlen, 0, NULL);
                if (ev)
                    expect_event(e, ev);
                json_decref(ev);
            }
            dlen = 0;
        } else if (ll >= 5 && !strncmp(line, "data:", 5)) {
            const char *v = line + 5;
            size_t vl = ll - 5;
            if (vl && *v == ' ') {
                v++;
                vl--;
            }
            if (dlen)
                data[dlen++] = '\n';
            memcpy(data + dlen, v, vl);
            dlen += vl;
        }
        if (j < len && body[j] == '\r' && j + 1 < len && body[j + 1] == '\n')
            j++;
        i = j + 1;
    }
    if (dlen) { /* a last event without its blank line still counts on a clean close */
        json_t *ev = json_loadb(data, dlen, 0, NULL);
        if (ev)
            expect_event(e, ev);
        json_decref(ev);
    }
    free(data);
}

static void expect_free(expect *e)
{
    json_decref(e->message);
    for (int i = 0; i < e->n_blocks; i++) {
        json_decref(e->blocks[i].text);
        json_decref(e->blocks[i].json);
        json_decref(e->blocks[i].start);
    }
}

static const char *header(const bt_test_header *h, size_t n, const char *name)
{
    return bt_test_header_get(h, n, name);
}

/* --- the checks ------------------------------------------------------------------- */

static int n_checked, n_streams, n_errors, n_count_tokens, n_gzip, n_skipped;

/* The attachment key of docs/SPANS.md: SHA-256("braintrust:attachment" 0 type 0 bytes),
 * shaped like a version 4 UUID. */
static void attachment_key(const char *type, const unsigned char *data, size_t len, char out[37])
{
    bt__sha256 c;
    uint8_t h[32];
    bt__sha256_init(&c);
    bt__sha256_update(&c, "braintrust:attachment", 22);
    bt__sha256_update(&c, type, strlen(type) + 1);
    bt__sha256_update(&c, data, len);
    bt__sha256_final(&c, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x40);
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    for (int i = 0, o = 0; i < 16; i++) {
        o += sprintf(out + o, "%02x", h[i]);
        if (i == 3 || i == 5 || i == 7 || i == 9)
            out[o++] = '-';
    }
    out[36] = '\0';
}

/* What the span shows of what was sent: the same, except that a base64 image or
 * document source is a Braintrust attachment reference to its bytes. */
static int shown_as_sent(json_t *got, json_t *sent, int depth)
{
    json_t *src = json_object_get(sent, "source");
    const char *btype = json_string_value(json_object_get(sent, "type"));
    const char *stype = json_string_value(json_object_get(src, "type"));
    if (btype && (!strcmp(btype, "image") || !strcmp(btype, "document")) && stype &&
        !strcmp(stype, "base64")) {
        const char *media = json_string_value(json_object_get(src, "media_type"));
        const char *data = json_string_value(json_object_get(src, "data"));
        size_t n = data ? strlen(data) : 0;
        unsigned char *bytes = malloc(n + 1);
        long len = data && media && *media ? bt__base64_decode(data, n, bytes) : -1;
        json_t *ref = json_object_get(got, "source");
        int ok;
        if (len > 0) {
            char key[37];
            attachment_key(media, bytes, (size_t)len, key);
            ok = !strcmp(json_string_value(json_object_get(ref, "type")), "braintrust_attachment") &&
                !strcmp(json_string_value(json_object_get(ref, "content_type")), media) &&
                !strcmp(json_string_value(json_object_get(ref, "key")), key) &&
                !strncmp(json_string_value(json_object_get(ref, "filename")), btype, strlen(btype));
        } else {
            ok = json_equal(ref, src);
        }
        free(bytes);
        if (!ok)
            return 0;
        json_t *rest_got = json_copy(got), *rest_sent = json_copy(sent);
        json_object_del(rest_got, "source");
        json_object_del(rest_sent, "source");
        ok = json_equal(rest_got, rest_sent);
        json_decref(rest_got);
        json_decref(rest_sent);
        return ok;
    }
    if (depth < 64 && json_is_object(sent) && json_is_object(got)) {
        if (json_object_size(sent) != json_object_size(got))
            return 0;
        const char *k;
        json_t *v;
        json_object_foreach(sent, k, v)
        {
            if (!shown_as_sent(json_object_get(got, k), v, depth + 1))
                return 0;
        }
        return 1;
    }
    if (depth < 64 && json_is_array(sent) && json_is_array(got)) {
        if (json_array_size(sent) != json_array_size(got))
            return 0;
        for (size_t i = 0; i < json_array_size(sent); i++)
            if (!shown_as_sent(json_array_get(got, i), json_array_get(sent, i), depth + 1))
                return 0;
        return 1;
    }
    return json_equal(got, sent);
}

static void check_input(json_t *span, json_t *req)
{
    json_t *input = span_json(span, "braintrust.input_json");
    assert_non_null(input);
    json_t *msgs = json_object_get(req, "messages");
    size_t nm = json_array_size(msgs);
    for (size_t i = 0; i < nm; i++)
        assert_true(shown_as_sent(json_array_get(input, i), json_array_get(msgs, i), 0));
    json_t *sys = json_object_get(req, "system");
    if (sys && !(json_is_string(sys) && !json_string_length(sys))) {
        assert_int_equal(json_array_size(input), nm + 1);
        json_t *last = json_array_get(input, nm);
        assert_string_equal(json_string_value(json_object_get(last, "role")), "system");
        assert_true(json_equal(json_object_get(last, "content"), sys));
    } else {
        assert_int_equal(json_array_size(input), nm);
    }
    json_decref(input);
}

static void check_metrics(json_t *span, long long input, long long cr, long long cc, long long output)
{
    json_t *m = span_json(span, "braintrust.metrics");
    assert_non_null(m);
    assert_int_equal(json_integer_value(json_object_get(m, "prompt_tokens")), input + cr + cc);
    assert_int_equal(json_integer_value(json_object_get(m, "completion_tokens")), output);
    assert_int_equal(json_integer_value(json_object_get(m, "tokens")), input + cr + cc + output);
    const char *key;
    json_t *v;
    json_object_foreach(m, key, v)
    {
        assert_true(json_number_value(v) >= 0); /* never negative */
    }
    json_decref(m);
}

static void check_span(const bt_test_interaction *it, const char *line, const char *body, size_t body_len)
{
    json_t *span = json_loads(line, 0, NULL);
    assert_non_null(span);
    json_t *req = it->req_body ? json_loadb(it->req_body, it->req_body_len, 0, NULL) : NULL;
    int count = strstr(it->target, "count_tokens") != NULL;
    int stream = json_is_true(json_object_get(req, "stream"));
    const char *ct = header(it->resp_headers, it->n_resp_headers, "content-type");
    int sse = ct && strstr(ct, "text/event-stream");
    const char *name = json_string_value(json_object_get(span, "name"));
    assert_string_equal(name,
                        count        ? "anthropic.messages.count_tokens"
                            : stream ? "anthropic.messages.stream"
                                     : "anthropic.messages.create");
    json_t *sa = span_json(span, "braintrust.span_attributes");
    assert_string_equal(json_string_value(json_object_get(sa, "type")), "llm");
    json_decref(sa);
    if (req)
        check_input(span, req);
    json_t *md = span_json(span, "braintrust.metadata");
    assert_non_null(md);
    assert_string_equal(json_string_value(json_object_get(md, "provider")), "anthropic");
    if (strstr(it->target, "beta=true"))
        assert_true(json_is_true(json_object_get(md, "beta")));

    /* secrets are never in a span */
    static const char *const secret[] = {"x-api-key", "authorization", "cookie"};
    for (size_t i = 0; i < 3; i++) {
        const char *v = header(it->req_headers, it->n_req_headers, secret[i]);
        if (v && strlen(v) >= 6)
            assert_null(strstr(line, v));
    }

    if (it->status >= 400) {
        n_errors++;
        assert_int_equal(span_status_code(span), 2);
        json_t *eb = json_loadb(body, body_len, 0, NULL);
        const char *et = json_string_value(json_object_get(json_object_get(eb, "error"), "type"));
        const char *msg = span_status_message(span);
        assert_non_null(msg);
        if (et) {
            assert_true(strncmp(msg, et, strlen(et)) == 0);
            assert_string_equal(span_str(span, "error.type"), et);
        } else {
            assert_true(strncmp(msg, "HTTP ", 5) == 0);
        }
        json_decref(eb);
    } else if (count) {
        n_count_tokens++;
        json_t *resp = json_loadb(body, body_len, 0, NULL);
        json_t *m = span_json(span, "braintrust.metrics");
        assert_int_equal(json_integer_value(json_object_get(m, "prompt_tokens")),
                         json_integer_value(json_object_get(resp, "input_tokens")));
        assert_string_equal(json_string_value(json_object_get(md, "model")),
                            json_string_value(json_object_get(req, "model")));
        assert_int_not_equal(span_status_code(span), 2);
        json_decref(m);
        json_decref(resp);
    } else if (sse) {
        n_streams++;
        expect e;
        memset(&e, 0, sizeof e);
        expect_stream(&e, body, body_len);
        assert_string_equal(json_string_value(json_object_get(md, "model")), e.model);
        if (e.stop_reason[0])
            assert_string_equal(json_string_value(json_object_get(md, "stop_reason")), e.stop_reason);
        json_t *out = span_json(span, "braintrust.output_json");
        assert_non_null(out);
        assert_string_equal(json_string_value(json_object_get(out, "role")), "assistant");
        json_t *content = json_object_get(out, "content");
        assert_true(json_is_array(content));
        assert_int_equal(json_array_size(content), e.n_blocks);
        for (int i = 0; i < e.n_blocks; i++) {
            json_t *blk = json_array_get(content, (size_t)i);
            expect_block *b = &e.blocks[i];
            assert_string_equal(json_string_value(json_object_get(blk, "type")), b->type);
            if (!strcmp(b->type, "text"))
                assert_string_equal(json_string_value(json_object_get(blk, "text")),
                                    json_string_value(b->text));
            else if (!strcmp(b->type, "thinking"))
                assert_string_equal(json_string_value(json_object_get(blk, "thinking")),
                                    json_string_value(b->text));
            if (b->json) {
                const char *pj = json_string_value(b->json);
                json_t *want = pj[0] ? json_loads(pj, JSON_DECODE_ANY, NULL) : json_object();
                if (!want)
                    want = json_string(pj); /* never became JSON: kept raw */
                assert_true(json_equal(json_object_get(blk, "input"), want));
                json_decref(want);
            } else if (json_object_get(b->start, "input")) {
                assert_true(json_equal(json_object_get(blk, "input"), json_object_get(b->start, "input")));
            }
        }
        json_decref(out);
        check_metrics(span, e.input, e.cache_read, e.cache_create, e.output);
        if (e.saw_error) {
            assert_int_equal(span_status_code(span), 2);
            assert_string_equal(span_str(span, "error.type"), e.error_type);
        } else if (!e.saw_stop) {
            assert_int_equal(span_status_code(span), 2);
            assert_string_equal(span_status_message(span),
                                "stream_incomplete: the stream ended before message_stop");
        } else {
            assert_int_not_equal(span_status_code(span), 2);
        }
        /* TTFT: the clock does not move in this test, so it is exactly 0 when content came */
        expect_free(&e);
    } else {
        json_t *resp = json_loadb(body, body_len, 0, NULL);
        assert_non_null(resp);
        json_t *out = span_json(span, "braintrust.output_json");
        assert_non_null(out);
        assert_true(json_equal(json_object_get(out, "content"), json_object_get(resp, "content")));
        assert_true(json_equal(json_object_get(md, "model"), json_object_get(resp, "model")));
        assert_true(json_equal(json_object_get(md, "stop_reason"), json_object_get(resp, "stop_reason")));
        json_t *u = json_object_get(resp, "usage");
        check_metrics(span, json_integer_value(json_object_get(u, "input_tokens")),
                      json_integer_value(json_object_get(u, "cache_read_input_tokens")),
                      json_integer_value(json_object_get(u, "cache_creation_input_tokens")),
                      json_integer_value(json_object_get(u, "output_tokens")));
        if (span_attr(span, "gen_ai.response.id"))
            assert_string_equal(span_str(span, "gen_ai.response.id"),
                                json_string_value(json_object_get(resp, "id")));
        assert_int_equal(span_int(span, "gen_ai.usage.output_tokens", -1),
                         json_integer_value(json_object_get(u, "output_tokens")));
        assert_int_not_equal(span_status_code(span), 2);
        json_decref(out);
        json_decref(resp);
    }
    json_decref(md);
    json_decref(req);
    json_decref(span);
    n_checked++;
}

/* Server and MCP tool calls in the recorded response: each gets a child tool span. */
static int count_tool_calls(const char *body, size_t body_len, int sse)
{
    int n = 0;
    if (sse) {
        expect e;
        memset(&e, 0, sizeof e);
        expect_stream(&e, body, body_len);
        for (int i = 0; i < e.n_blocks; i++)
            n += !strcmp(e.blocks[i].type, "server_tool_use") || !strcmp(e.blocks[i].type, "mcp_tool_use");
        expect_free(&e);
        return n;
    }
    json_t *resp = json_loadb(body, body_len, 0, NULL);
    size_t i;
    json_t *b;
    json_array_foreach(json_object_get(resp, "content"), i, b)
    {
        const char *t = json_string_value(json_object_get(b, "type"));
        n += t && (!strcmp(t, "server_tool_use") || !strcmp(t, "mcp_tool_use"));
    }
    json_decref(resp);
    return n;
}

/* Splits the spans of one exchange into the llm span (returned) and its tool children,
 * checking every child hangs off the llm span and is a tool span. */
static char *split_spans(char **lines, size_t n, int want_tools, json_t *children_out)
{
    char *llm = NULL;
    json_t *llm_span = NULL;
    for (size_t i = 0; i < n; i++) {
        json_t *sp = json_loads(lines[i], 0, NULL);
        const char *name = json_string_value(json_object_get(sp, "name"));
        if (name && !strncmp(name, "anthropic.messages.", 19)) {
            assert_null(llm);
            llm = lines[i];
            llm_span = sp;
        } else {
            json_decref(sp);
        }
    }
    assert_non_null(llm);
    assert_int_equal((int)n - 1, want_tools);
    const char *llm_id = json_string_value(json_object_get(llm_span, "spanId"));
    for (size_t i = 0; i < n; i++) {
        if (lines[i] == llm)
            continue;
        json_t *sp = json_loads(lines[i], 0, NULL);
        assert_string_equal(json_string_value(json_object_get(sp, "parentSpanId")), llm_id);
        assert_string_equal(json_string_value(json_object_get(sp, "traceId")),
                            json_string_value(json_object_get(llm_span, "traceId")));
        json_t *sa = span_json(sp, "braintrust.span_attributes");
        assert_string_equal(json_string_value(json_object_get(sa, "type")), "tool");
        json_decref(sa);
        json_decref(sp);
        json_array_append_new(children_out, span_normalized(lines[i]));
    }
    json_decref(llm_span);
    return llm;
}

static int n_tool_spans;

static int is_messages_call(const bt_test_interaction *it)
{
    if (strcasecmp(it->method, "POST"))
        return 0;
    const char *p = strstr(it->target, "/v1/messages");
    if (!p)
        return 0;
    p += strlen("/v1/messages");
    return *p == '\0' || *p == '?' || !strncmp(p, "/count_tokens", 13);
}

static void run_file(const char *path)
{
    bt_test_cassette c;
    if (bt_test_cassette_load(path, &c) != 0)
        fail_msg("cannot load %s", path);
    for (size_t k = 0; k < c.n; k++) {
        const bt_test_interaction *it = &c.items[k];
        if (!is_messages_call(it))
            continue;
        if (it->resp_body_missing) {
            n_skipped++;
            continue;
        }
        const char *enc = header(it->resp_headers, it->n_resp_headers, "content-encoding");
        size_t body_len = it->resp_body_len;
        char *body = NULL;
        if (enc && strstr(enc, "gzip")) {
            body = test_gunzip(it->resp_body, it->resp_body_len, &body_len);
            n_gzip++;
        } else {
            body = malloc(body_len + 1);
            memcpy(body, it->resp_body ? it->resp_body : "", body_len);
            body[body_len] = '\0';
        }
        if (getenv("BT_TEST_VERBOSE"))
            print_message("%s #%zu %s %s -> %d\n", path, k, it->method, it->target, it->status);
        const char *ct = header(it->resp_headers, it->n_resp_headers, "content-type");
        int want_tools = it->status < 400 && !strstr(it->target, "count_tokens")
            ? count_tool_calls(body, body_len, ct && strstr(ct, "text/event-stream"))
            : 0;
        harness h;
        harness_init(&h);
        json_t *first = NULL, *first_children = NULL;
        for (int mode = FEED_WHOLE; mode <= FEED_RANDOM + 2; mode++) {
            int m = mode > FEED_RANDOM ? FEED_RANDOM : mode;
            assert_true(feed_interaction(&h, it, m, (unsigned)(mode * 7919 + k), BT_EXCHANGE_COMPLETED));
            size_t n_lines;
            char **lines = harness_take_spans(&h, &n_lines);
            if (!n_lines)
                fail_msg("%s #%zu: no span", path, k);
            json_t *children = json_array();
            const char *line = split_spans(lines, n_lines, want_tools, children);
            if (mode == FEED_WHOLE) {
                check_span(it, line, body, body_len);
                first = span_normalized(line);
                first_children = children;
                n_tool_spans += want_tools;
            } else {
                /* the children are the same whatever the chunking */
                assert_true(json_equal(first_children, children));
                json_decref(children);
                json_t *other = span_normalized(line);
                if (!json_equal(first, other)) {
                    char *a = json_dumps(first, JSON_COMPACT), *b = json_dumps(other, JSON_COMPACT);
                    print_error("%s #%zu mode %d differs:\n%s\n%s\n", path, k, mode, a, b);
                    free(a);
                    free(b);
                    fail();
                }
                json_decref(other);
            }
            free_lines(lines);
        }
        json_decref(first);
        json_decref(first_children);
        harness_free(&h);
        free(body);
    }
    bt_test_cassette_free(&c);
}

static void test_every_recording(void **state)
{
    (void)state;
    static const char *const suffixes[] = {".yaml", ".json", ".sse.txt", NULL};
    char **files = bt_test_list_fixtures("anthropic", suffixes);
    assert_non_null(files);
    int n_files = 0;
    for (char **f = files; *f; f++, n_files++)
        run_file(*f);
    bt_test_free_list(files);
    print_message("checked %d Messages/count_tokens interactions from %d files "
                  "(%d streams, %d errors, %d count_tokens, %d gzip, %d tool child spans; "
                  "%d skipped: body not recorded)\n",
                  n_checked, n_files, n_streams, n_errors, n_count_tokens, n_gzip, n_tool_spans, n_skipped);
    assert_true(n_checked >= 40);
    assert_true(n_streams >= 10);
    assert_true(n_errors >= 2);
    assert_true(n_count_tokens >= 3);
    assert_true(n_gzip >= 1);
    assert_true(n_tool_spans >= 15); /* the web search, MCP and code execution recordings */
}

int main(void)
{
    bt_test_require_fixtures(__FILE__);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_recording),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
