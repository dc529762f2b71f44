/*
 * The libcurl adapter against a one-shot HTTP server on 127.0.0.1 (a thread in this
 * process): the caller's callbacks see the response unchanged, the span is built from
 * the tee, secrets stay out, and a caller that aborts the transfer yields a
 * "client cancelled" span.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <unistd.h>

#include "../anthropic/msg_harness.h"
#include "braintrust/curl.h"

typedef struct server {
    int fd;
    int port;
    const char *responses[2]; /* full HTTP response bytes, one per connection */
    const char *response;
    char request[8192];
    size_t request_len;
    pthread_t thread;
} server;

static void serve_one(server *s, int c);

static void *serve(void *arg)
{
    server *s = arg;
    for (int i = 0; i < 2 && s->responses[i]; i++) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        s->response = s->responses[i];
        s->request_len = 0;
        serve_one(s, c);
    }
    return NULL;
}

static void serve_one(server *s, int c)
{
    struct timeval tv = {5, 0};
    setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    /* read the head, then the body announced by content-length */
    size_t want = 0;
    for (;;) {
        ssize_t n = recv(c, s->request + s->request_len, sizeof s->request - 1 - s->request_len, 0);
        if (n <= 0)
            break;
        s->request_len += (size_t)n;
        s->request[s->request_len] = '\0';
        char *head_end = strstr(s->request, "\r\n\r\n");
        if (head_end && !want) {
            char *cl = strstr(s->request, "Content-Length:");
            if (!cl)
                cl = strstr(s->request, "content-length:");
            want = (size_t)(head_end + 4 - s->request) + (cl ? (size_t)atoi(cl + 15) : 0);
        }
        if (want && s->request_len >= want)
            break;
    }
    size_t len = strlen(s->response);
    for (size_t i = 0; i < len;) { /* in small writes, like a real stream */
        size_t n = len - i < 64 ? len - i : 64;
        ssize_t w = send(c, s->response + i, n, MSG_NOSIGNAL);
        if (w <= 0)
            break;
        i += (size_t)w;
    }
    close(c);
}

static void server_start2(server *s, const char *first, const char *second)
{
    memset(s, 0, sizeof *s);
    s->responses[0] = first;
    s->responses[1] = second;
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(s->fd, (struct sockaddr *)&addr, sizeof addr), 0);
    assert_int_equal(listen(s->fd, 1), 0);
    socklen_t al = sizeof addr;
    getsockname(s->fd, (struct sockaddr *)&addr, &al);
    s->port = ntohs(addr.sin_port);
    assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void server_start(server *s, const char *response)
{
    server_start2(s, response, NULL);
}

static void server_stop(server *s)
{
    pthread_join(s->thread, NULL);
    close(s->fd);
}

typedef struct sink_buf {
    char data[65536];
    size_t len;
    size_t stop_after; /* abort once this many bytes arrived (0: never) */
} sink_buf;

static size_t collect(char *data, size_t size, size_t nmemb, void *ud)
{
    sink_buf *b = ud;
    size_t n = size * nmemb;
    if (b->stop_after && b->len + n > b->stop_after)
        return 0;
    assert_true(b->len + n < sizeof b->data);
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return n;
}

static const char sse_body[] =
    "event: message_start\r\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_c\",\"model\":\"claude-x\","
    "\"role\":\"assistant\",\"content\":[],\"usage\":{\"input_tokens\":11,\"output_tokens\":1}}}\r\n\r\n"
    "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":"
    "{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n"
    "event: content_block_delta\r\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
    "{\"type\":\"text_delta\",\"text\":\"over curl\"}}\r\n\r\n"
    "event: content_block_stop\r\ndata: {\"type\":\"content_block_stop\",\"index\":0}\r\n\r\n"
    "event: message_delta\r\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},"
    "\"usage\":{\"output_tokens\":3}}\r\n\r\n"
    "event: message_stop\r\ndata: {\"type\":\"message_stop\"}\r\n\r\n";

static char *http_response(void)
{
    static char buf[8192];
    snprintf(buf, sizeof buf,
             "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream; charset=utf-8\r\nrequest-id: req_curl\r\n"
             "set-cookie: _cfuvid=COOKIE-VALUE\r\ncontent-length: %zu\r\nconnection: close\r\n\r\n%s",
             strlen(sse_body), sse_body);
    return buf;
}

static const char req_body[] = "{\"model\":\"claude-x\",\"max_tokens\":8,\"stream\":true,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void perform_opt(harness *h, server *s, sink_buf *out, CURLcode *rc, bt_exchange_info *info,
                        int follow)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/messages", s->port);
    const bt_header headers[] = {{"content-type", 12, "application/json", 16},
                                 {"x-api-key", 9, "sk-ant-CURL-SECRET", 18}};
    bt_curl_request req = {.method = "POST",
                           .url = url,
                           .headers = headers,
                           .n_headers = 2,
                           .body = req_body,
                           .body_len = strlen(req_body),
                           .write_fn = collect,
                           .write_userdata = out};
    CURL *easy = curl_easy_init();
    assert_non_null(easy);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT, 10L);
    curl_easy_setopt(easy, CURLOPT_FOLLOWLOCATION, (long)follow);
    *rc = bt_curl_perform(h->a, easy, &req, NULL, info);
    curl_easy_cleanup(easy);
}

static void perform(harness *h, server *s, sink_buf *out, CURLcode *rc, bt_exchange_info *info)
{
    perform_opt(h, s, out, rc, info, 0);
}

static void test_traced_transfer(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    server s;
    server_start(&s, http_response());
    sink_buf out = {0};
    CURLcode rc;
    bt_exchange_info info;
    perform(&h, &s, &out, &rc, &info);
    server_stop(&s);
    assert_int_equal(rc, CURLE_OK);
    /* the caller got the body byte for byte, and the server the request body */
    assert_int_equal(out.len, strlen(sse_body));
    assert_memory_equal(out.data, sse_body, out.len);
    assert_non_null(strstr(s.request, req_body));
    assert_string_equal(info.span_name, "anthropic.messages.stream");
    assert_int_equal(info.input_tokens, 11);
    assert_int_equal(info.output_tokens, 3);

    char *line = harness_take_span(&h);
    assert_non_null(line);
    assert_null(strstr(line, "CURL-SECRET"));
    assert_null(strstr(line, "COOKIE-VALUE"));
    json_t *span = json_loads(line, 0, NULL);
    json_t *outj = span_json(span, "braintrust.output_json");
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(outj, "content"), 0), "text")),
        "over curl");
    json_t *md = span_json(span, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "request_id")), "req_curl");
    assert_string_equal(span_str(span, "server.address"), "127.0.0.1");
    assert_int_not_equal(span_status_code(span), 2);
    json_decref(md);
    json_decref(outj);
    json_decref(span);
    free(line);
    harness_free(&h);
}

static void test_caller_abort_is_client_cancelled(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    server s;
    server_start(&s, http_response());
    sink_buf out = {.stop_after = 200};
    CURLcode rc;
    bt_exchange_info info;
    perform(&h, &s, &out, &rc, &info);
    server_stop(&s);
    assert_int_equal(rc, CURLE_WRITE_ERROR);
    assert_true(info.is_error);
    char *line = harness_take_span(&h);
    json_t *span = json_loads(line, 0, NULL);
    assert_int_equal(span_status_code(span), 2);
    assert_string_equal(span_status_message(span), "client_cancelled: the client went away before the end");
    json_decref(span);
    free(line);
    harness_free(&h);
}

static void test_untraced_and_bad_arguments(void **state)
{
    (void)state;
    CURL *easy = curl_easy_init();
    bt_curl_request req = {0};
    assert_int_equal(bt_curl_perform(NULL, easy, &req, NULL, NULL), CURLE_BAD_FUNCTION_ARGUMENT);
    assert_int_equal(bt_curl_perform(NULL, NULL, NULL, NULL, NULL), CURLE_BAD_FUNCTION_ARGUMENT);
    /* no bt_anthropic: the transfer is only performed */
    server s;
    server_start(&s, "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: close\r\n\r\nok");
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/models", s.port);
    sink_buf out = {0};
    bt_curl_request get = {.method = "GET", .url = url, .write_fn = collect, .write_userdata = &out};
    assert_int_equal(bt_curl_perform(NULL, easy, &get, NULL, NULL), CURLE_OK);
    server_stop(&s);
    assert_int_equal(out.len, 2);
    curl_easy_cleanup(easy);
}

static void test_redirect_followed_or_not(void **state)
{
    (void)state;
    harness h;
    harness_init(&h);
    /* followed: the span describes the final response */
    server s;
    static const char redirect[] = "HTTP/1.1 307 Temporary Redirect\r\nlocation: /v1/messages\r\n"
                                   "content-length: 0\r\nconnection: close\r\n\r\n";
    server_start2(&s, redirect, http_response());
    sink_buf out = {0};
    CURLcode rc;
    bt_exchange_info info;
    perform_opt(&h, &s, &out, &rc, &info, 1);
    server_stop(&s);
    assert_int_equal(rc, CURLE_OK);
    assert_int_equal(out.len, strlen(sse_body));
    assert_false(info.is_error);
    assert_int_equal(info.output_tokens, 3);
    char *line = harness_take_span(&h);
    json_t *span = json_loads(line, 0, NULL);
    assert_int_not_equal(span_status_code(span), 2);
    json_decref(span);
    free(line);

    /* not followed: the redirect is the response */
    static const char moved[] = "HTTP/1.1 301 Moved\r\nlocation: /elsewhere\r\ncontent-length: 5\r\n"
                                "request-id: req_moved\r\nconnection: close\r\n\r\nmoved";
    server_start(&s, moved);
    memset(&out, 0, sizeof out);
    perform_opt(&h, &s, &out, &rc, &info, 0);
    server_stop(&s);
    assert_int_equal(rc, CURLE_OK);
    assert_int_equal(out.len, 5);
    line = harness_take_span(&h);
    span = json_loads(line, 0, NULL);
    json_t *md = span_json(span, "braintrust.metadata");
    assert_string_equal(json_string_value(json_object_get(md, "request_id")), "req_moved");
    json_decref(md);
    json_decref(span);
    free(line);
    harness_free(&h);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_traced_transfer),
        cmocka_unit_test(test_caller_abort_is_client_cancelled),
        cmocka_unit_test(test_untraced_and_bad_arguments),
        cmocka_unit_test(test_redirect_followed_or_not),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
