/* http_server with handlers written for the test, on loopback: a body paused by the
 * handler during its last piece still ends; pipelined requests answered later (from a
 * timer) come back in order; every request, answered or rejected, gets one on_finish;
 * a connection kept alive serves the next request. The client is a thread with
 * blocking sockets; the server runs on the main thread's loop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "http_server.h"

typedef struct ctx {
    uv_loop_t loop;
    hs_server *s;
    int port;
    uv_async_t done;
    /* what the client thread does and gets */
    const char *send;
    size_t send_len;
    const char *until; /* read until this text was seen this many times */
    int until_count;
    char got[65536];
    size_t got_len;
    /* what the handlers saw */
    int requests, finishes, body_ends;
    int statuses[16];
    int completes;
    const char *reason;
    int wait_finishes; /* keep serving after the client left, until this many finished */
    int wait_ticks;
    int stopped;       /* the server is being freed: finishes from here on are its doing */
    int finishes_live; /* before that */
    uv_timer_t wait;
} ctx;

typedef struct pending {
    uv_timer_t t;
    hs_request *r;
    int resume; /* 1: resume the body; 0: answer with the target */
} pending;

static ctx *g;

static void free_pending(uv_handle_t *h)
{
    free(h->data);
}

static void on_pending(uv_timer_t *t)
{
    pending *p = t->data;
    if (p->resume) {
        hs_request_pause_body(p->r, 0);
    } else {
        const hp_head *h = hs_request_head(p->r);
        hs_respond(p->r, 200, "Content-Type: text/plain\r\n", h->target, h->target_len);
    }
    uv_close((uv_handle_t *)t, free_pending);
}

static void later(hs_request *r, int resume)
{
    pending *p = calloc(1, sizeof *p);
    p->r = r;
    p->resume = resume;
    uv_timer_init(&g->loop, &p->t);
    p->t.data = p;
    uv_timer_start(&p->t, on_pending, 0, 0);
}

/* ---- handler: pause the body on every piece, resume from a timer ---- */

static size_t body_seen;

static void pause_request(hs_request *r)
{
    g->requests++;
    body_seen = 0;
}

static void pause_body(hs_request *r, const char *data, size_t len)
{
    (void)data;
    body_seen += len;
    hs_request_pause_body(r, 1);
    later(r, 1);
}

static void pause_body_end(hs_request *r)
{
    char text[64];
    int n = snprintf(text, sizeof text, "got %zu", body_seen);
    g->body_ends++;
    hs_respond(r, 200, "Content-Type: text/plain\r\n", text, (size_t)n);
}

static void count_finish(hs_request *r, const hs_finish *f)
{
    (void)r;
    if (g->finishes < 16)
        g->statuses[g->finishes] = f->status;
    g->finishes++;
    g->completes += f->complete;
    g->reason = f->reason;
    g->finishes_live += !g->stopped;
}

/* ---- handler: answer every request later, from a timer ---- */

static void later_request(hs_request *r)
{
    g->requests++;
}

static void later_body_end(hs_request *r)
{
    g->body_ends++;
    later(r, 0);
}

/* ---- the client thread ---- */

static void *client(void *arg)
{
    ctx *c = arg;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)c->port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct timeval tv = {.tv_sec = 20};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) == 0) {
        for (size_t off = 0; off < c->send_len;) {
            ssize_t w = write(fd, c->send + off, c->send_len - off);
            if (w <= 0)
                break;
            off += (size_t)w;
        }
        for (;;) {
            int seen = 0;
            for (const char *p = c->got; (p = strstr(p, c->until)); p++)
                seen++;
            if (seen >= c->until_count || c->got_len >= sizeof c->got - 1)
                break;
            ssize_t r = read(fd, c->got + c->got_len, sizeof c->got - 1 - c->got_len);
            if (r <= 0)
                break;
            c->got_len += (size_t)r;
            c->got[c->got_len] = '\0';
        }
    }
    close(fd);
    uv_async_send(&c->done);
    return NULL;
}

static void stop_serving(ctx *c)
{
    c->stopped = 1;
    hs_server_free(c->s);
    c->s = NULL;
    uv_close((uv_handle_t *)&c->done, NULL);
    uv_close((uv_handle_t *)&c->wait, NULL);
}

static void on_wait(uv_timer_t *t)
{
    ctx *c = t->data;
    /* bounded: 5 s at most, then the assertions tell */
    if (c->finishes >= c->wait_finishes || ++c->wait_ticks > 500)
        stop_serving(c);
}

static void on_done(uv_async_t *a)
{
    ctx *c = a->data;
    if (c->finishes >= c->wait_finishes) {
        stop_serving(c);
        return;
    }
    uv_timer_start(&c->wait, on_wait, 10, 10);
}

/* Serves `handler` until the client saw `until` `count` times, then shuts down. */
static void exchange_waiting(ctx *c, const hs_handler *handler, const char *send, const char *until,
                             int count, int wait_finishes)
{
    memset(c, 0, sizeof *c);
    g = c;
    c->wait_finishes = wait_finishes;
    uv_loop_init(&c->loop);
    uv_timer_init(&c->loop, &c->wait);
    c->wait.data = c;
    c->s = hs_server_new(&c->loop, handler, NULL, c);
    char err[128];
    assert_int_equal(hs_server_listen(c->s, "127.0.0.1", 0, 0, err, sizeof err), 0);
    c->port = atoi(strrchr(hs_server_address(c->s), ':') + 1);
    c->send = send;
    c->send_len = strlen(send);
    c->until = until;
    c->until_count = count;
    uv_async_init(&c->loop, &c->done, on_done);
    c->done.data = c;
    pthread_t th;
    pthread_create(&th, NULL, client, c);
    uv_run(&c->loop, UV_RUN_DEFAULT);
    pthread_join(th, NULL);
    assert_int_equal(uv_loop_close(&c->loop), 0);
}

static void exchange(ctx *c, const hs_handler *handler, const char *send, const char *until, int count)
{
    exchange_waiting(c, handler, send, until, count, 0);
}

static void test_body_paused_on_its_last_piece_still_ends(void **state)
{
    (void)state;
    static const hs_handler h = {.on_request = pause_request,
                                 .on_body = pause_body,
                                 .on_body_end = pause_body_end,
                                 .on_finish = count_finish};
    /* Nothing follows the body: its end must come without further input. */
    ctx c;
    exchange(&c, &h, "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello", "got ", 1);
    assert_non_null(strstr(c.got, "got 5"));
    assert_int_equal(c.body_ends, 1);
    exchange(
        &c, &h,
        "POST /b HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n4\r\ndefg\r\n0\r\n\r\n",
        "got ", 1);
    assert_non_null(strstr(c.got, "got 7"));
    assert_int_equal(c.body_ends, 1);
    assert_int_equal(c.finishes, 1);
}

static void test_pipelined_answers_come_back_in_order(void **state)
{
    (void)state;
    static const hs_handler h = {
        .on_request = later_request, .on_body_end = later_body_end, .on_finish = count_finish};
    ctx c;
    exchange(
        &c, &h,
        "GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\n\r\nx"
        "GET /three HTTP/1.1\r\nHost: x\r\n\r\nGET /four HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        "\r\n\r\n/four", 1);
    const char *one = strstr(c.got, "\r\n\r\n/one"), *two = strstr(c.got, "\r\n\r\n/two");
    const char *three = strstr(c.got, "\r\n\r\n/three"), *four = strstr(c.got, "\r\n\r\n/four");
    assert_true(one && two && three && four);
    assert_true(one < two && two < three && three < four);
    assert_non_null(strstr(four - 40, "Connection: close"));
    assert_int_equal(c.requests, 4);
}

static void test_every_request_gets_one_finish(void **state)
{
    (void)state;
    static const hs_handler h = {
        .on_request = later_request, .on_body_end = later_body_end, .on_finish = count_finish};
    ctx c;
    /* two good requests, then one the server rejects (folded header): three finishes */
    exchange(&c, &h,
             "GET /1 HTTP/1.1\r\nHost: x\r\n\r\nGET /2 HTTP/1.1\r\nHost: x\r\n\r\n"
             "GET /3 HTTP/1.1\r\nHost: x\r\nX-A:\r\n folded\r\n\r\n",
             "}}", 1); /* the end of the 400's JSON body */
    assert_non_null(strstr(c.got, "HTTP/1.1 400 Bad Request"));
    assert_int_equal(c.requests, 2);
    assert_int_equal(c.finishes, 3);
    assert_int_equal(c.statuses[0], 200);
    assert_int_equal(c.statuses[1], 200);
    assert_int_equal(c.statuses[2], 400);
}

/* ---- handler: a stream of events that never ends by itself ---- */

static uv_timer_t events_timer;
static hs_request *events_req;
static int events_sent;

static void on_event_tick(uv_timer_t *t)
{
    (void)t;
    char ev[32];
    int n = snprintf(ev, sizeof ev, "data: %d\n\n", ++events_sent);
    hs_response_write(events_req, ev, (size_t)n);
}

static void events_request(hs_request *r)
{
    static const char h[] = "Content-Type: text/event-stream\r\nCache-Control: no-cache\r\n";
    g->requests++;
    events_req = r;
    events_sent = 0;
    hs_response_start(r, 200, NULL, h, sizeof h - 1, -1);
    uv_timer_init(&g->loop, &events_timer);
    uv_timer_start(&events_timer, on_event_tick, 0, 5);
}

static void events_finish(hs_request *r, const hs_finish *f)
{
    count_finish(r, f);
    events_req = NULL;
    uv_close((uv_handle_t *)&events_timer, NULL);
}

static void test_event_stream_ends_when_its_client_leaves(void **state)
{
    (void)state;
    static const hs_handler h = {.on_request = events_request, .on_finish = events_finish};
    ctx c;
    /* The client reads three events and hangs up; the server notices by itself (a
     * write or read fails), the request finishes incomplete. */
    exchange_waiting(&c, &h, "GET /events HTTP/1.1\r\nHost: x\r\n\r\n", "data: 3\n", 1, 1);
    assert_non_null(strstr(c.got, "Transfer-Encoding: chunked"));
    assert_int_equal(c.requests, 1);
    assert_int_equal(c.finishes, 1);
    assert_int_equal(c.finishes_live, 1); /* noticed while serving, not at the server's end */
    assert_int_equal(c.completes, 0);
    assert_non_null(c.reason);
}

static void test_reuseport_lets_several_servers_share_a_port(void **state)
{
    (void)state;
    static const hs_handler h = {.on_request = later_request};
    uv_loop_t loop;
    uv_loop_init(&loop);
    hs_server *a = hs_server_new(&loop, &h, NULL, NULL), *b = hs_server_new(&loop, &h, NULL, NULL),
              *c = hs_server_new(&loop, &h, NULL, NULL);
    char err[128];
    assert_int_equal(hs_server_listen(a, "127.0.0.1", 0, HS_LISTEN_REUSEPORT, err, sizeof err), 0);
    int port = atoi(strrchr(hs_server_address(a), ':') + 1);
    assert_int_equal(hs_server_listen(b, "127.0.0.1", port, HS_LISTEN_REUSEPORT, err, sizeof err), 0);
    assert_string_equal(hs_server_address(a), hs_server_address(b));
    assert_int_equal(hs_server_listen(c, "127.0.0.1", port, 0, err, sizeof err), -1);
    assert_non_null(strstr(err, "cannot listen"));
    hs_server_free(a);
    hs_server_free(b);
    hs_server_free(c);
    uv_run(&loop, UV_RUN_DEFAULT);
    assert_int_equal(uv_loop_close(&loop), 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN); /* as every program using the server must */
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_body_paused_on_its_last_piece_still_ends),
        cmocka_unit_test(test_pipelined_answers_come_back_in_order),
        cmocka_unit_test(test_every_request_gets_one_finish),
        cmocka_unit_test(test_event_stream_ends_when_its_client_leaves),
        cmocka_unit_test(test_reuseport_lets_several_servers_share_a_port),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
