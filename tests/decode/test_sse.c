/* SSE framing: the WHATWG rules case by case, the cap and resync, chunking
 * invariance, and the real recorded streams (padded data lines, ping events). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "conformance.h"
#include "braintrust/common.h"
#include "cassette.h"
#include "decode/sse.h"
#include "heap.h"
#include "util/buf.h"

/* Every dispatched event is appended to a log as "type|truncated|data" + 0x1e, so
 * whole runs compare with one memcmp. */
typedef struct {
    bt__buf log;
    size_t count;
    int stop_at; /* callback returns 7 on this event number (1-based); 0 = never */
} collector;

static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                    int truncated)
{
    collector *c = ud;
    assert_int_equal(strlen(event), event_len);
    assert_int_equal(data[data_len], '\0');
    bt__buf_append(&c->log, event, event_len);
    bt__buf_printf(&c->log, "|%d|", truncated);
    bt__buf_append(&c->log, data, data_len);
    bt__buf_append_char(&c->log, 0x1e);
    c->count++;
    return c->stop_at && (int)c->count == c->stop_at ? 7 : 0;
}

static void collector_init(collector *c)
{
    memset(c, 0, sizeof *c);
    bt__buf_init(&c->log, 0);
}

/* Feeds `in` split at the given cut points; returns finish()'s result. */
static int run_split(const char *in, size_t len, size_t max, const size_t *cuts, size_t ncuts, collector *c)
{
    collector_init(c);
    bt__sse *p = bt__sse_new(max, on_event, c);
    assert_non_null(p);
    size_t at = 0;
    for (size_t i = 0; i <= ncuts; i++) {
        size_t end = i < ncuts ? cuts[i] : len;
        assert_int_equal(bt__sse_feed(p, in + at, end - at), BT_OK);
        at = end;
    }
    int partial = bt__sse_finish(p);
    bt__sse_free(p);
    return partial;
}

static int run_whole(const char *in, size_t len, size_t max, collector *c)
{
    return run_split(in, len, max, NULL, 0, c);
}

static const char *log_str(collector *c)
{
    return c->log.data ? c->log.data : "";
}

/* One piece, byte by byte, and 40 random splittings must give the same log. */
static void assert_chunking_invariant(const char *in, size_t len, size_t max)
{
    collector whole, other;
    int partial = run_whole(in, len, max, &whole);

    size_t *cuts = malloc((len + 1) * sizeof *cuts);
    assert_non_null(cuts);
    for (size_t i = 0; i + 1 < len; i++)
        cuts[i] = i + 1;
    assert_int_equal(run_split(in, len, max, cuts, len > 1 ? len - 1 : 0, &other), partial);
    assert_int_equal(other.log.len, whole.log.len);
    assert_memory_equal(log_str(&other), log_str(&whole), whole.log.len);
    bt__buf_free(&other.log);

    srand(12345);
    for (int round = 0; round < 40; round++) {
        size_t n = 0, at = 0;
        while (len > 0 && n < len) {
            at += 1 + (size_t)rand() % (len / 4 + 2);
            if (at >= len)
                break;
            cuts[n++] = at;
        }
        assert_int_equal(run_split(in, len, max, cuts, n, &other), partial);
        assert_int_equal(other.log.len, whole.log.len);
        assert_memory_equal(log_str(&other), log_str(&whole), whole.log.len);
        bt__buf_free(&other.log);
    }
    free(cuts);
    bt__buf_free(&whole.log);
}

typedef struct {
    const char *name;
    const char *in;
    const char *expect; /* log with '~' standing for the 0x1e separator */
    int partial;
} sse_case;

static const sse_case CASES[] = {
    {"lf", "event: a\ndata: x\n\n", "a|0|x~", 0},
    {"crlf", "event: a\r\ndata: x\r\n\r\n", "a|0|x~", 0},
    {"cr", "event: a\rdata: x\r\r", "a|0|x~", 0},
    {"mixed endings", "data: a\r\n\ndata: b\r\r\n", "message|0|a~message|0|b~", 0},
    {"default type", "data: x\n\n", "message|0|x~", 0},
    {"multi-line data", "data: a\ndata: b\ndata: c\n\n", "message|0|a\nb\nc~", 0},
    {"no space", "data:x\n\n", "message|0|x~", 0},
    {"only one space removed", "data:  x\n\n", "message|0| x~", 0},
    {"tab kept", "data:\tx\n\n", "message|0|\tx~", 0},
    {"colon in value", "data: a: b\n\n", "message|0|a: b~", 0},
    {"comment", ": keep-alive\ndata: x\n\n", "message|0|x~", 0},
    {"comment only", ": ping\n\n", "", 0},
    {"bom",
     "\xEF\xBB\xBF"
     "data: x\n\n",
     "message|0|x~", 0},
    {"bom only at start",
     "data: x\n\n\xEF\xBB\xBF"
     "data: y\n\n",
     "message|0|x~", 0},
    {"partial bom is data",
     "\xEF\xBB"
     "data: x\n\n",
     "", 0},
    {"field without colon", "data\n\n", "message|0|~", 0},
    {"two bare data fields", "data\ndata\n\n", "message|0|\n~", 0},
    {"empty data", "data:\n\n", "message|0|~", 0},
    {"id and retry ignored", "id: 7\nretry: 100\ndata: x\n\n", "message|0|x~", 0},
    {"unknown field", "foo: bar\ndata: x\n\n", "message|0|x~", 0},
    {"long unknown field", "datadatadata: x\n\n", "", 0},
    {"case sensitive names", "Data: x\nEVENT: y\n\n", "", 0},
    {"no data no dispatch", "event: a\n\ndata: y\n\n", "message|0|y~", 0},
    {"bare event is default", "event\ndata: x\n\n", "message|0|x~", 0},
    {"last event type wins", "event: a\nevent: b\ndata: x\n\n", "b|0|x~", 0},
    {"two events", "event: a\ndata: 1\n\nevent: b\ndata: 2\n\n", "a|0|1~b|0|2~", 0},
    {"extra blank lines", "\n\n\ndata: x\n\n\n\n", "message|0|x~", 0},
    {"no final blank line", "data: x\n", "", 1},
    {"no final newline", "data: x\n\ndata: y", "message|0|x~", 1},
    {"trailing comment not partial", "data: x\n\n: bye\n", "message|0|x~", 0},
    {"no [DONE] needed", "data: [DONE]\n\n", "message|0|[DONE]~", 0},
    {"invalid utf-8 untouched", "event: \xC0\xFF\ndata: \xFF\xFE\x80\n\n", "\xC0\xFF|0|\xFF\xFE\x80~", 0},
    {"empty input", "", "", 0},
};

static void expand(const char *expect, char *out, size_t out_size)
{
    size_t i = 0;
    for (; expect[i] && i + 1 < out_size; i++)
        out[i] = expect[i] == '~' ? 0x1e : expect[i];
    out[i] = '\0';
}

static void test_framing_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const sse_case *tc = &CASES[i];
        char want[256];
        expand(tc->expect, want, sizeof want);
        collector c;
        int partial = run_whole(tc->in, strlen(tc->in), 1024, &c);
        if (strcmp(log_str(&c), want) != 0 || partial != tc->partial)
            fail_msg("case '%s': got '%s' partial=%d", tc->name, log_str(&c), partial);
        bt__buf_free(&c.log);
        assert_chunking_invariant(tc->in, strlen(tc->in), 1024);
    }
}

static int feed_str(bt__sse *p, const char *s)
{
    return bt__sse_feed(p, s, strlen(s));
}

/* A CR ending one feed and the LF starting the next are one line ending, not two. */
static void test_crlf_split_across_feeds(void **state)
{
    (void)state;
    collector c;
    collector_init(&c);
    bt__sse *p = bt__sse_new(64, on_event, &c);
    assert_int_equal(feed_str(p, "data: a\r"), BT_OK);
    assert_int_equal(feed_str(p, "\ndata: b\r"), BT_OK);
    assert_int_equal(bt__sse_feed(p, "\n", 1), BT_OK);
    assert_int_equal(c.count, 0);
    assert_int_equal(bt__sse_feed(p, "\r", 1), BT_OK);
    assert_int_equal(c.count, 1); /* dispatched at the CR, before its LF arrives */
    assert_int_equal(feed_str(p, "\ndata: c\n\n"), BT_OK);
    assert_int_equal(bt__sse_finish(p), 0);
    bt__sse_free(p);
    assert_string_equal(log_str(&c), "message|0|a\nb\x1emessage|0|c\x1e");
    bt__buf_free(&c.log);
}

static void test_nul_byte_is_data(void **state)
{
    (void)state;
    static const char in[] = "data: a\0b\n\n";
    collector c;
    run_whole(in, sizeof in - 1, 64, &c);
    assert_int_equal(c.count, 1);
    assert_memory_equal(c.log.data, "message|0|a\0b\x1e", 14);
    bt__buf_free(&c.log);
}

static void test_cap_truncates_and_resyncs(void **state)
{
    (void)state;
    const char *in = "event: big\ndata: 0123456789ABCDEF\ndata: more\n\nevent: small\ndata: ok\n\n";
    collector c;
    assert_int_equal(run_whole(in, strlen(in), 10, &c), 0);
    assert_string_equal(log_str(&c), "big|1|0123456789\x1esmall|0|ok\x1e");
    bt__buf_free(&c.log);
    assert_chunking_invariant(in, strlen(in), 10);

    /* The LF joining two data lines counts against the cap too. */
    in = "data: 01234\ndata: 56789\n\n";
    run_whole(in, strlen(in), 10, &c);
    assert_string_equal(log_str(&c), "message|1|01234\n5678\x1e");
    bt__buf_free(&c.log);

    /* Exactly at the cap is not truncated. */
    in = "data: 0123456789\n\n";
    run_whole(in, strlen(in), 10, &c);
    assert_string_equal(log_str(&c), "message|0|0123456789\x1e");
    bt__buf_free(&c.log);
}

static void test_long_event_type_is_cut(void **state)
{
    (void)state;
    bt__buf in;
    bt__buf_init(&in, 0);
    bt__buf_append_str(&in, "event: ");
    for (int i = 0; i < 1000; i++)
        bt__buf_append_char(&in, 'e');
    bt__buf_append_str(&in, "\ndata: x\n\n");
    collector c;
    run_whole(in.data, in.len, 64, &c);
    assert_int_equal(c.count, 1);
    assert_int_equal(strchr(c.log.data, '|') - c.log.data, 256);
    assert_non_null(strstr(c.log.data, "|1|x"));
    bt__buf_free(&c.log);
    bt__buf_free(&in);
}

/* A block of fields without data is no event (the spec), but it is counted: a tracer
 * must say the sender sent something it could not show. Comments are not counted. */
static void test_events_without_data_are_counted(void **state)
{
    (void)state;
    collector c;
    collector_init(&c);
    bt__sse *p = bt__sse_new(0, on_event, &c);
    static const char in[] =
        "event: ping\n\n: a comment\n\nid: 7\nretry: 10\n\ndata: x\n\nevent: a\ndata: y\n\n";
    for (size_t i = 0; i < sizeof in - 1; i++) /* byte by byte: the count does not depend on chunking */
        assert_int_equal(bt__sse_feed(p, in + i, 1), BT_OK);
    assert_int_equal(c.count, 2);
    assert_int_equal(bt__sse_events_without_data(p), 2);
    assert_int_equal(bt__sse_events_without_data(NULL), 0);
    bt__sse_free(p);
    bt__buf_free(&c.log);
}

static void test_callback_stop(void **state)
{
    (void)state;
    collector c;
    collector_init(&c);
    c.stop_at = 2;
    bt__sse *p = bt__sse_new(64, on_event, &c);
    const char *in = "data: 1\n\ndata: 2\n\ndata: 3\n\n";
    assert_int_equal(bt__sse_feed(p, in, strlen(in)), 7);
    assert_int_equal(c.count, 2);
    assert_int_equal(bt__sse_feed(p, "data: 4\n\n", 9), 7);
    assert_int_equal(c.count, 2);
    bt__sse_free(p);
    bt__buf_free(&c.log);
}

static void test_bad_arguments(void **state)
{
    (void)state;
    assert_null(bt__sse_new(10, NULL, NULL));
    assert_int_equal(bt__sse_feed(NULL, "x", 1), BT_EINVAL);
    assert_int_equal(bt__sse_finish(NULL), 0);
    bt__sse_free(NULL);
    collector c;
    collector_init(&c);
    bt__sse *p = bt__sse_new(0, on_event, &c); /* 0 = default cap */
    assert_int_equal(bt__sse_feed(p, NULL, 5), BT_OK);
    assert_int_equal(bt__sse_feed(p, "data: x\n\n", 9), BT_OK);
    assert_int_equal(c.count, 1);
    bt__sse_free(p);
    bt__buf_free(&c.log);
}

/* A 10 MB single data line under a 1 MB cap: one event with the first MiB, marked
 * truncated, and the next event is parsed normally. Fed in 64 KiB pieces like a
 * socket would deliver it. */
static void test_huge_line(void **state)
{
    (void)state;
    const size_t huge = 10u << 20, cap = 1u << 20, piece = 65536;
    char *blob = malloc(piece);
    assert_non_null(blob);
    for (size_t i = 0; i < piece; i++)
        blob[i] = (char)('a' + i % 26);
    collector c;
    collector_init(&c);
    size_t base = heap_in_use(), peak = base;
    bt__sse *p = bt__sse_new(cap, on_event, &c);
    const char *head_in = "event: content_block_delta\ndata: ";
    assert_int_equal(bt__sse_feed(p, head_in, strlen(head_in)), BT_OK);
    for (size_t sent = 0; sent < huge; sent += piece) {
        assert_int_equal(bt__sse_feed(p, blob, piece), BT_OK);
        size_t now = heap_in_use();
        peak = now > peak ? now : peak;
    }
    assert_int_equal(c.count, 0);
    /* The parser holds at most the capped event data plus small state. */
    assert_true(peak - base <= cap + 16384);
    const char *tail = "\r\n\r\nevent: message_stop\ndata: {}\n\n";
    assert_int_equal(bt__sse_feed(p, tail, strlen(tail)), BT_OK);
    assert_int_equal(bt__sse_finish(p), 0);
    bt__sse_free(p);
    assert_int_equal(c.count, 2);
    const char *head = "content_block_delta|1|";
    assert_memory_equal(c.log.data, head, strlen(head));
    assert_int_equal(c.log.len, strlen(head) + cap + 1 + strlen("message_stop|0|{}") + 1);
    assert_memory_equal(c.log.data + strlen(head), blob, 26);
    assert_string_equal(c.log.data + strlen(head) + cap + 1, "message_stop|0|{}\x1e");
    bt__buf_free(&c.log);
    free(blob);
}

/* Checks a recorded Anthropic stream: every event's data is JSON whose "type" is the
 * event name, the count matches the "event:" lines, the stream is complete, and any
 * chunking gives the same events. */
static void check_anthropic_stream(const char *body, size_t len, size_t want_events)
{
    collector c;
    assert_int_equal(run_whole(body, len, 1u << 20, &c), 0);
    assert_int_equal(c.count, want_events);
    const char *rec = c.log.data;
    const char *first_type = NULL, *last_type = NULL;
    for (size_t i = 0; i < c.count; i++) {
        const char *bar = strchr(rec, '|');
        const char *end = strchr(rec, 0x1e);
        assert_non_null(bar);
        assert_non_null(end);
        assert_memory_equal(bar, "|0|", 3);
        json_error_t err;
        json_t *j = json_loadb(bar + 3, (size_t)(end - bar - 3), 0, &err);
        if (!j)
            fail_msg("event %zu: data is not JSON: %s", i, err.text);
        const char *type = json_string_value(json_object_get(j, "type"));
        assert_non_null(type);
        assert_int_equal(strlen(type), (size_t)(bar - rec));
        assert_memory_equal(type, rec, (size_t)(bar - rec));
        json_decref(j);
        if (!first_type)
            first_type = rec;
        last_type = rec;
        rec = end + 1;
    }
    assert_memory_equal(first_type, "message_start|", 14);
    assert_memory_equal(last_type, "message_stop|", 13);
    bt__buf_free(&c.log);
    assert_chunking_invariant(body, len, 1u << 20);
}

static size_t count_event_lines(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i + 6 <= len; i++)
        if ((i == 0 || s[i - 1] == '\n') && memcmp(s + i, "event:", 6) == 0)
            n++;
    return n;
}

static void test_recorded_python_sdk_streams(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        size_t events;
    } FILES[] = {
        {"anthropic/anthropic-sdk-python/tool_use_response.sse.txt", 15},
        {"anthropic/anthropic-sdk-python/incomplete_partial_json_response.sse.txt", 16},
        {"anthropic/anthropic-sdk-python/synthetic/stream-a-refusal.sse", 0},
    };
    for (size_t i = 0; i < sizeof FILES / sizeof FILES[0]; i++) {
        size_t len;
        char *body = bt_test_read_file(bt_test_fixture_path(FILES[i].file), &len);
        assert_non_null(body);
        size_t events = count_event_lines(body, len);
        if (FILES[i].events)
            assert_int_equal(events, FILES[i].events);
        assert_true(events > 3);
        /* Some recordings end right after the last data line (no blank line): the
         * transport's end of stream is where Anthropic's last event ends. */
        bt__buf b;
        bt__buf_init(&b, 0);
        bt__buf_append(&b, body, len);
        if (len < 2 || memcmp(body + len - 2, "\n\n", 2) != 0)
            bt__buf_append_str(&b, len && body[len - 1] == '\n' ? "\n" : "\n\n");
        check_anthropic_stream(b.data, b.len, events);
        bt__buf_free(&b);
        free(body);
    }
}

static void test_recorded_go_cassettes(void **state)
{
    (void)state;
    static const char *const FILES[] = {
        "anthropic/anthropic-sdk-go/tool_runner_next_streaming.yaml",
        "anthropic/anthropic-sdk-go/tool_runner_streaming_all.yaml",
    };
    size_t streams = 0;
    for (size_t f = 0; f < sizeof FILES / sizeof FILES[0]; f++) {
        bt_test_cassette cas;
        assert_int_equal(bt_test_cassette_load(bt_test_fixture_path(FILES[f]), &cas), 0);
        for (size_t i = 0; i < cas.n; i++) {
            bt_test_interaction *it = &cas.items[i];
            const char *ct = bt_test_header_get(it->resp_headers, it->n_resp_headers, "content-type");
            if (!ct || strncmp(ct, "text/event-stream", 17) != 0 || !it->resp_body)
                continue;
            check_anthropic_stream(it->resp_body, it->resp_body_len,
                                   count_event_lines(it->resp_body, it->resp_body_len));
            streams++;
        }
        bt_test_cassette_free(&cas);
    }
    assert_true(streams >= 2);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_framing_table),
        cmocka_unit_test(test_crlf_split_across_feeds),
        cmocka_unit_test(test_nul_byte_is_data),
        cmocka_unit_test(test_cap_truncates_and_resyncs),
        cmocka_unit_test(test_long_event_type_is_cut),
        cmocka_unit_test(test_events_without_data_are_counted),
        cmocka_unit_test(test_callback_stop),
        cmocka_unit_test(test_bad_arguments),
        cmocka_unit_test(test_huge_line),
    };
    /* replaying the recordings in ../shared/fixtures (see conformance.h) */
    const struct CMUnitTest conformance[] = {
        cmocka_unit_test(test_recorded_python_sdk_streams),
        cmocka_unit_test(test_recorded_go_cassettes),
    };
    return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
}
