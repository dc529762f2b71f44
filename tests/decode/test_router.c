/* Routing: every endpoint with its method, beta flag, gateway prefixes, absolute URLs,
 * trailing slashes, encoded and over-long batch ids, wrong methods, HEAD; the query
 * helper; span names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"
#include "decode/router.h"

typedef struct {
    const char *method;
    const char *target;
    bt__route_kind kind;
    int beta;
    const char *batch_id;
} route_case;

#define M BT__ROUTE_MESSAGES
#define CT BT__ROUTE_COUNT_TOKENS
#define BC BT__ROUTE_BATCH_CREATE
#define BL BT__ROUTE_BATCH_LIST
#define BR BT__ROUTE_BATCH_RETRIEVE
#define BX BT__ROUTE_BATCH_CANCEL
#define BD BT__ROUTE_BATCH_DELETE
#define BRS BT__ROUTE_BATCH_RESULTS
#define NO BT__ROUTE_NONE
#define SC BT__ROUTE_SESSION_CREATE
#define SS BT__ROUTE_SESSION_EVENTS_SEND
#define SL BT__ROUTE_SESSION_EVENTS_LIST
#define SST BT__ROUTE_SESSION_EVENTS_STREAM
#define FU BT__ROUTE_FILE_UPLOAD

static const route_case CASES[] = {
    /* every endpoint */
    {"POST", "/v1/messages", M, 0, ""},
    {"POST", "/v1/messages/count_tokens", CT, 0, ""},
    {"POST", "/v1/messages/batches", BC, 0, ""},
    {"GET", "/v1/messages/batches", BL, 0, ""},
    {"GET", "/v1/messages/batches/msgbatch_01abc", BR, 0, "msgbatch_01abc"},
    {"DELETE", "/v1/messages/batches/msgbatch_01abc", BD, 0, "msgbatch_01abc"},
    {"POST", "/v1/messages/batches/msgbatch_01abc/cancel", BX, 0, "msgbatch_01abc"},
    {"GET", "/v1/messages/batches/msgbatch_01abc/results", BRS, 0, "msgbatch_01abc"},
    /* beta and other query parameters */
    {"POST", "/v1/messages?beta=true", M, 1, ""},
    {"POST", "/v1/messages?beta=false", M, 0, ""},
    {"POST", "/v1/messages?beta", M, 0, ""},
    {"POST", "/v1/messages?x=1&beta=true&y=2", M, 1, ""},
    {"POST", "/v1/messages?betax=true", M, 0, ""},
    {"POST", "/v1/messages?beta=true#frag", M, 1, ""},
    {"POST", "/v1/messages#frag", M, 0, ""},
    {"POST", "/v1/messages/count_tokens?beta=true", CT, 1, ""},
    {"GET", "/v1/messages/batches?limit=20&after_id=msgbatch_x&beta=true", BL, 1, ""},
    {"GET", "/v1/messages/batches/msgbatch_01abc/results?beta=true", BRS, 1, "msgbatch_01abc"},
    {"POST", "/v1/messages?", M, 0, ""},
    /* gateway prefixes and absolute URLs */
    {"POST", "/anthropic/v1/messages", M, 0, ""},
    {"POST", "/api/gw/anthropic/v1/messages/batches", BC, 0, ""},
    {"POST", "https://api.anthropic.com/v1/messages?beta=true", M, 1, ""},
    {"POST", "HTTP://127.0.0.1:8080/v1/messages", M, 0, ""},
    {"GET", "https://gw.example/proxy/v1/messages/batches/msgbatch_9/results", BRS, 0, "msgbatch_9"},
    {"POST", "https://api.anthropic.com", NO, 0, ""},
    {"POST", "https://api.anthropic.com?x=/v1/messages", NO, 0, ""},
    {"POST", "https://api.anthropic.com#/v1/messages", NO, 0, ""},
    {"POST", "https://user@api.anthropic.com:443/v1/messages", M, 0, ""},
    {"POST", "/x?next=/v1/messages", NO, 0, ""},
    /* trailing slashes, extra segments, near misses */
    {"POST", "/v1/messages/", NO, 0, ""},
    {"POST", "/v1/messages/batches/", NO, 0, ""},
    {"GET", "/v1/messages/batches/msgbatch_1/", NO, 0, ""},
    {"GET", "/v1/messages/batches/msgbatch_1/results/", NO, 0, ""},
    {"GET", "/v1/messages/batches/msgbatch_1/other", NO, 0, ""},
    {"GET", "/v1/messages/batches/msgbatch_1/results/x", NO, 0, ""},
    {"POST", "/v1/messages/count_tokens/", NO, 0, ""},
    {"POST", "/v1/complete", NO, 0, ""},
    {"POST", "/v1/models", NO, 0, ""},
    {"POST", "/v2/messages", NO, 0, ""},
    {"POST", "/v1messages", NO, 0, ""},
    {"POST", "v1/messages", NO, 0, ""},
    {"POST", "/V1/messages", NO, 0, ""},
    {"POST", "/v1/Messages", NO, 0, ""},
    {"POST", "/v1//messages", NO, 0, ""},
    {"GET", "/v1/messages/batches//results", NO, 0, ""},
    {"POST", "", NO, 0, ""},
    {"POST", "/", NO, 0, ""},
    /* encoded batch ids */
    {"GET", "/v1/messages/batches/msgbatch%5F01", BR, 0, "msgbatch_01"},
    {"GET", "/v1/messages/batches/a%2Db", BR, 0, "a-b"},
    {"GET", "/v1/messages/batches/a%2Fb", NO, 0, ""},
    {"GET", "/v1/messages/batches/a%20b", NO, 0, ""},
    {"GET", "/v1/messages/batches/a%00b", NO, 0, ""},
    {"GET", "/v1/messages/batches/a%zzb", NO, 0, ""},
    {"GET", "/v1/messages/batches/a%2", NO, 0, ""},
    {"GET", "/v1/messages/batches/a%", NO, 0, ""},
    {"GET", "/v1/messages/batches/a+b", BR, 0, "a+b"},
    /* wrong methods, HEAD, case */
    {"GET", "/v1/messages", NO, 0, ""},
    {"PUT", "/v1/messages", NO, 0, ""},
    {"post", "/v1/messages", NO, 0, ""},
    {"Post", "/v1/messages", NO, 0, ""},
    {"HEAD", "/v1/messages", NO, 0, ""},
    {"HEAD", "/v1/messages/batches/msgbatch_1", NO, 0, ""},
    {"HEAD", "/v1/messages/batches", NO, 0, ""},
    {"GET", "/v1/messages/count_tokens", NO, 0, ""},
    {"DELETE", "/v1/messages/batches", NO, 0, ""},
    {"PUT", "/v1/messages/batches", NO, 0, ""},
    {"POST", "/v1/messages/batches/msgbatch_1", NO, 0, ""},
    {"GET", "/v1/messages/batches/msgbatch_1/cancel", NO, 0, ""},
    {"POST", "/v1/messages/batches/msgbatch_1/results", NO, 0, ""},
    {"DELETE", "/v1/messages/batches/msgbatch_1/results", NO, 0, ""},
    {"DELETE", "/v1/messages/batches/msgbatch_1/cancel", NO, 0, ""},
    {"", "/v1/messages", NO, 0, ""},
    /* Managed Agents sessions: what runs the agent or reports its work; the rest passes */
    {"POST", "/v1/sessions?beta=true", SC, 1, ""},
    {"POST", "/v1/sessions/sesn_011CZk/events?beta=true", SS, 1, "sesn_011CZk"},
    {"GET", "/v1/sessions/sesn_011CZk/events?limit=5&beta=true", SL, 1, "sesn_011CZk"},
    {"GET", "/v1/sessions/sesn_011CZk/events/stream?beta=true", SST, 1, "sesn_011CZk"},
    {"GET", "/v1/sessions/sesn_1/threads/sthr_2/events", SL, 0, "sesn_1"},
    {"GET", "/v1/sessions/sesn_1/threads/sthr_2/stream", SST, 0, "sesn_1"},
    {"GET", "/gw/v1/sessions/sesn%5F1/events/stream", SST, 0, "sesn_1"},
    {"GET", "/v1/sessions", NO, 0, ""},
    {"GET", "/v1/sessions/sesn_1", NO, 0, ""},
    {"POST", "/v1/sessions/sesn_1", NO, 0, ""},
    {"DELETE", "/v1/sessions/sesn_1", NO, 0, ""},
    {"POST", "/v1/sessions/sesn_1/archive", NO, 0, ""},
    {"POST", "/v1/sessions/sesn_1/events/stream", NO, 0, ""},
    {"GET", "/v1/sessions/sesn_1/events/", NO, 0, ""},
    {"GET", "/v1/sessions//events", NO, 0, ""},
    {"GET", "/v1/sessions/a%2Fb/events", NO, 0, ""},
    {"GET", "/v1/sessions/sesn_1/threads/sthr_2", NO, 0, ""},
    {"GET", "/v1/sessions/sesn_1/threads//stream", NO, 0, ""},
    {"POST", "/v1/sessions/sesn_1/threads/sthr_2/events", NO, 0, ""},
    {"GET", "/v1/sessions/sesn_1/resources", NO, 0, ""},
    {"POST", "/v1/sessionsx", NO, 0, ""},
    /* Files API: uploads are traced, reads and deletes pass */
    {"POST", "/v1/files?beta=true", FU, 1, ""},
    {"GET", "/v1/files", NO, 0, ""},
    {"GET", "/v1/files/file_1", NO, 0, ""},
    {"DELETE", "/v1/files/file_1", NO, 0, ""},
    {"GET", "/v1/files/file_1/content", NO, 0, ""},
    /* the rest of the API surface passes untraced */
    {"POST", "/v1/agents", NO, 0, ""},
    {"GET", "/v1/models", NO, 0, ""},
    {"POST", "/v1/skills", NO, 0, ""},
    {"POST", "/v1/environments/env_1/work/poll", NO, 0, ""},
};

static void test_session_thread_ids(void **state)
{
    (void)state;
    bt__route r;
    static const char t[] = "/v1/sessions/sesn_1/threads/sthr%5F2/stream?beta=true";
    bt__route_match("GET", t, sizeof t - 1, &r);
    assert_int_equal(r.kind, SST);
    assert_string_equal(r.batch_id, "sesn_1");
    assert_string_equal(r.thread_id, "sthr_2");
    static const char e[] = "/v1/sessions/sesn_1/events";
    bt__route_match("GET", e, sizeof e - 1, &r);
    assert_string_equal(r.thread_id, "");
}

static void test_route_table(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof CASES / sizeof CASES[0]; i++) {
        const route_case *tc = &CASES[i];
        bt__route r;
        memset(&r, 0xAB, sizeof r);
        bt__route_match(tc->method, tc->target, strlen(tc->target), &r);
        if (r.kind != tc->kind || r.beta != tc->beta || strcmp(r.batch_id, tc->batch_id) != 0)
            fail_msg("%s %s: kind %d beta %d id '%.*s'", tc->method, tc->target, r.kind, r.beta,
                     (int)sizeof r.batch_id, r.batch_id);
    }
}

static void test_query_points_into_target(void **state)
{
    (void)state;
    const char *t = "/v1/messages/batches?limit=5&beta=true#x";
    bt__route r;
    bt__route_match("GET", t, strlen(t), &r);
    assert_int_equal(r.kind, BL);
    assert_ptr_equal(r.query, t + 21);
    assert_int_equal(r.query_len, strlen("limit=5&beta=true"));

    bt__route_match("POST", "/v1/messages", 12, &r);
    assert_null(r.query);
    assert_int_equal(r.query_len, 0);

    /* The length is honoured: bytes past target_len are not part of the target. */
    bt__route_match("POST", "/v1/messages?beta=true", 12, &r);
    assert_int_equal(r.kind, M);
    assert_int_equal(r.beta, 0);
    assert_null(r.query);
    bt__route_match("POST", "/v1/messages/count_tokens", 12, &r);
    assert_int_equal(r.kind, M);
}

static void test_batch_id_length_cap(void **state)
{
    (void)state;
    char t[512];
    bt__route r;
    for (size_t n = BT__BATCH_ID_MAX - 2; n <= BT__BATCH_ID_MAX + 1; n++) {
        int len = snprintf(
            t, sizeof t, "/v1/messages/batches/%.*s/results", (int)n,
            "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb");
        bt__route_match("GET", t, (size_t)len, &r);
        if (n <= BT__BATCH_ID_MAX - 1) {
            assert_int_equal(r.kind, BRS);
            assert_int_equal(strlen(r.batch_id), n);
        } else {
            assert_int_equal(r.kind, NO);
            assert_string_equal(r.batch_id, "");
        }
    }
    /* The cap is on the decoded id: 3 bytes of escape per character still fit. */
    char enc[BT__BATCH_ID_MAX * 3 + 64];
    size_t o = (size_t)snprintf(enc, sizeof enc, "/v1/messages/batches/");
    for (int i = 0; i < BT__BATCH_ID_MAX - 1; i++)
        o += (size_t)snprintf(enc + o, sizeof enc - o, "%%41");
    bt__route_match("GET", enc, o, &r);
    assert_int_equal(r.kind, BR);
    assert_int_equal(strlen(r.batch_id), BT__BATCH_ID_MAX - 1);
    assert_int_equal(r.batch_id[0], 'A');
}

static void test_null_arguments(void **state)
{
    (void)state;
    bt__route r;
    bt__route_match(NULL, "/v1/messages", 12, &r);
    assert_int_equal(r.kind, NO);
    bt__route_match("POST", NULL, 0, &r);
    assert_int_equal(r.kind, NO);
    bt__route_match("POST", "/v1/messages", 12, NULL);
    char v[8];
    assert_int_equal(bt__query_get(NULL, 0, "a", v, sizeof v), 0);
    assert_int_equal(bt__query_get("a=1", 3, NULL, v, sizeof v), 0);
    assert_int_equal(bt__query_get("a=1", 3, "a", NULL, 0), 0);
    assert_int_equal(bt__query_get("a=1", 3, "a", v, 0), 0);
}

static void test_query_get(void **state)
{
    (void)state;
    static const struct {
        const char *q, *name;
        int found;
        const char *value;
    } T[] = {
        {"limit=20", "limit", 1, "20"},
        {"a=1&limit=20&b=2", "limit", 1, "20"},
        {"limit=1&limit=2", "limit", 1, "1"},
        {"limit", "limit", 1, ""},
        {"limit=", "limit", 1, ""},
        {"limits=3", "limit", 0, ""},
        {"xlimit=3", "limit", 0, ""},
        {"", "limit", 0, ""},
        {"&&limit=4&&", "limit", 1, "4"},
        {"after_id=msgbatch%5F01", "after_id", 1, "msgbatch_01"},
        {"q=a+b%20c", "q", 1, "a b c"},
        {"q=%zz", "q", 0, ""},
        {"q=%4", "q", 0, ""},
        {"q=0123456789abcdef", "q", 0, ""}, /* longer than out: absent, not cut */
        {"q=0123456789abcde", "q", 1, "0123456789abcde"},
        {"q=x=y", "q", 1, "x=y"},
    };
    for (size_t i = 0; i < sizeof T / sizeof T[0]; i++) {
        char v[16];
        memset(v, 'Z', sizeof v);
        int found = bt__query_get(T[i].q, strlen(T[i].q), T[i].name, v, sizeof v);
        if (found != T[i].found || (found && strcmp(v, T[i].value) != 0))
            fail_msg("'%s' [%s]: found %d value '%.16s'", T[i].q, T[i].name, found, v);
    }
    /* Length-bounded. */
    char v[16];
    assert_int_equal(bt__query_get("a=1&b=2", 3, "b", v, sizeof v), 0);
}

static void test_span_names(void **state)
{
    (void)state;
    assert_string_equal(bt__route_span_name(M), "anthropic.messages.create");
    assert_string_equal(bt__route_span_name(CT), "anthropic.messages.count_tokens");
    assert_string_equal(bt__route_span_name(BC), "anthropic.messages.batches.create");
    assert_string_equal(bt__route_span_name(BL), "anthropic.messages.batches.list");
    assert_string_equal(bt__route_span_name(BR), "anthropic.messages.batches.retrieve");
    assert_string_equal(bt__route_span_name(BX), "anthropic.messages.batches.cancel");
    assert_string_equal(bt__route_span_name(BD), "anthropic.messages.batches.delete");
    assert_string_equal(bt__route_span_name(BRS), "anthropic.messages.batches.results");
    assert_string_equal(bt__route_span_name(SC), "anthropic.beta.sessions.create");
    assert_string_equal(bt__route_span_name(SS), "anthropic.beta.sessions.events.send");
    assert_string_equal(bt__route_span_name(SL), "anthropic.beta.sessions.events.list");
    assert_string_equal(bt__route_span_name(SST), "anthropic.beta.sessions.events.stream");
    assert_string_equal(bt__route_span_name(FU), "anthropic.beta.files.upload");
    assert_null(bt__route_span_name(NO));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_route_table),         cmocka_unit_test(test_query_points_into_target),
        cmocka_unit_test(test_batch_id_length_cap), cmocka_unit_test(test_null_arguments),
        cmocka_unit_test(test_query_get),           cmocka_unit_test(test_span_names),
        cmocka_unit_test(test_session_thread_ids),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
