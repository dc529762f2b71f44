/*
 * gw-upstream: a fast, deterministic stand-in for the Anthropic API for the gateway
 * benchmarks, so that the upstream is never what limits a measurement of bt-proxy or
 * nginx. One libuv loop per thread, each with its own listener on the same port
 * (SO_REUSEPORT), HTTP/1.1 keep-alive, responses from static buffers.
 *
 *   POST .../messages             a message (JSON), or with "stream":true in the body an
 *                                 SSE stream of x-gw-events events (default 6, at least
 *                                 6) sent x-gw-interval-ms apart (default 500), the first
 *                                 with the response head
 *   GET  .../results              x-gw-bytes (default 300,000,000) of batch results, one
 *                                 succeeded message per line (about 1 KB), each with its
 *                                 own custom_id, with a Content-Length
 *   GET  /healthz                 200
 *
 * usage: gw-upstream [--listen HOST:PORT] [--threads N]
 * Prints "listening on HOST:PORT" once every thread accepts.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>
#include <uv.h>

#define MAX_REQUEST (1024 * 1024)
#define DL_CHUNK (256 * 1024)
#define DL_INFLIGHT 2

static const char MESSAGE_BODY[] =
    "{\"id\":\"msg_01BenchUpstream\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\","
    "\"content\":[{\"type\":\"text\",\"text\":\"Hello! How can I help you today?\"}],\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":9}}";

static const char *const SSE_START =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01BenchStream\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[],\"stop_reason\":null,"
    "\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":1}}}\n\n";
static const char *const SSE_BLOCK_START =
    "event: content_block_start\ndata: {\"type\":\"content_block_start\","
    "\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n";
static const char *const SSE_DELTA =
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
    "\"delta\":{\"type\":\"text_delta\",\"text\":\"Hello, \"}}\n\n";
static const char *const SSE_BLOCK_STOP =
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n";
static const char *const SSE_MESSAGE_DELTA =
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\","
    "\"stop_sequence\":null},\"usage\":{\"output_tokens\":9}}\n\n";
static const char *const SSE_STOP = "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

/* One batch result line; the nine-digit fields are patched per line. */
static const char RESULT_LINE[] =
    "{\"custom_id\":\"req-000000000\",\"result\":{\"type\":\"succeeded\",\"message\":{\"id\":\"msg_bench_000000000\","
    "\"type\":\"message\",\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5\",\"content\":[{\"type\":\"text\","
    "\"text\":\"Batch processing lets you send many requests at once and read the results later. This answer "
    "stands in for a typical reply: a few paragraphs of prose, some with punctuation, quotes (\\\"like this\\\"), "
    "a newline\\nand a unicode escape \\u00e9 so that the tracer has real JSON to read. It is long enough to "
    "look like the output of a short completion, around a kilobyte per line, which is what result files of "
    "summarisation or classification jobs look like in practice. The rest is filler: lorem ipsum dolor sit "
    "amet, consectetur adipiscing elit, sed do eiusmod tempor incididunt ut labore et dolore magna aliqua. Ut "
    "enim ad minim veniam, quis nostrud exercitation ullamco laboris nisi ut aliquip ex ea commodo.\"}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":240,\"output_tokens\":180,"
    "\"cache_read_input_tokens\":0,\"cache_creation_input_tokens\":0}}}}\n";

static char *message_response; /* head + body, built once */
static size_t message_response_len;
static char *sse_head;
static size_t sse_head_len;
static char *sse_chunks[8]; /* each event with its chunk framing */
static size_t sse_chunk_len[8];
static const char SSE_END[] = "0\r\n\r\n";
static size_t result_custom_off, result_msg_off;

typedef struct conn {
    uv_tcp_t tcp;
    uv_timer_t timer;
    char *buf;
    size_t len, cap;
    int responding; /* a stream or a download is being sent: pipelined bytes wait */
    int closing;
    int keep_alive;
    /* stream */
    int ev_total, ev_sent;
    unsigned interval_ms;
    /* download */
    uint64_t dl_left, dl_line;
    char *dl_carry; /* part of a line that did not fit the previous chunk */
    size_t dl_carry_len, dl_carry_off;
    int dl_inflight;
    int writes; /* uv_write requests not yet completed */
} conn;

typedef struct wreq {
    uv_write_t req;
    char *owned; /* freed when written, or NULL for static data */
} wreq;

static void process(conn *c);

static void on_closed(uv_handle_t *h)
{
    conn *c = h->data;
    if (h == (uv_handle_t *)&c->tcp)
        uv_close((uv_handle_t *)&c->timer, NULL); /* the timer's close runs after: free there */
    else {
        free(c->buf);
        free(c->dl_carry);
        free(c);
    }
}

static void conn_close(conn *c)
{
    if (c->closing)
        return;
    c->closing = 1;
    uv_timer_stop(&c->timer);
    uv_close((uv_handle_t *)&c->tcp, on_closed);
}

static void on_written(uv_write_t *req, int status);

static int send_buf(conn *c, const char *data, size_t len, char *owned)
{
    wreq *w = malloc(sizeof *w);
    if (!w) {
        free(owned);
        conn_close(c);
        return -1;
    }
    w->owned = owned;
    w->req.data = c;
    uv_buf_t b = uv_buf_init((char *)data, (unsigned)len);
    c->writes++;
    if (uv_write(&w->req, (uv_stream_t *)&c->tcp, &b, 1, on_written) != 0) {
        c->writes--;
        free(owned);
        free(w);
        conn_close(c);
        return -1;
    }
    return 0;
}

static void finish_response(conn *c)
{
    c->responding = 0;
    if (!c->keep_alive) {
        conn_close(c);
        return;
    }
    process(c); /* a pipelined request may be waiting */
}

/* ---- download ---- */

static void dl_fill(conn *c);

static size_t line_into(conn *c, char *out)
{
    char digits[10];
    snprintf(digits, sizeof digits, "%09llu", (unsigned long long)(c->dl_line % 1000000000ull));
    c->dl_line++;
    memcpy(out, RESULT_LINE, sizeof RESULT_LINE - 1);
    memcpy(out + result_custom_off, digits, 9);
    memcpy(out + result_msg_off, digits, 9);
    return sizeof RESULT_LINE - 1;
}

static void dl_fill(conn *c)
{
    while (!c->closing && c->dl_left > 0 && c->dl_inflight < DL_INFLIGHT) {
        size_t want = c->dl_left < DL_CHUNK ? (size_t)c->dl_left : DL_CHUNK;
        char *chunk = malloc(want);
        if (!chunk) {
            conn_close(c);
            return;
        }
        size_t n = 0;
        if (c->dl_carry_len > c->dl_carry_off) {
            size_t take = c->dl_carry_len - c->dl_carry_off;
            if (take > want)
                take = want;
            memcpy(chunk, c->dl_carry + c->dl_carry_off, take);
            c->dl_carry_off += take;
            n += take;
        }
        while (n < want) {
            if (want - n >= sizeof RESULT_LINE - 1) {
                n += line_into(c, chunk + n);
            } else {
                c->dl_carry_len = line_into(c, c->dl_carry);
                c->dl_carry_off = want - n;
                memcpy(chunk + n, c->dl_carry, want - n);
                n = want;
            }
        }
        c->dl_left -= want;
        c->dl_inflight++;
        if (send_buf(c, chunk, want, chunk) != 0)
            return;
    }
}

static void on_written(uv_write_t *req, int status)
{
    wreq *w = (wreq *)req;
    conn *c = req->data;
    int owned = w->owned != NULL;
    free(w->owned);
    free(w);
    c->writes--;
    if (c->dl_inflight > 0 && owned)
        c->dl_inflight--;
    if (status < 0) {
        conn_close(c);
        return;
    }
    if (c->closing)
        return;
    if (c->dl_left > 0) {
        dl_fill(c);
    } else if (c->responding == 2 && c->dl_inflight == 0) {
        finish_response(c);
    }
}

/* ---- stream ---- */

static void on_tick(uv_timer_t *t)
{
    conn *c = t->data;
    int i = c->ev_sent;
    int last = c->ev_total - 1;
    int idx = i == 0 ? 0 : i == 1 ? 1 : i == last ? 5 : i == last - 1 ? 4 : i == last - 2 ? 3 : 2;
    if (send_buf(c, sse_chunks[idx], sse_chunk_len[idx], NULL) != 0)
        return;
    c->ev_sent++;
    if (c->ev_sent == c->ev_total) {
        if (send_buf(c, SSE_END, sizeof SSE_END - 1, NULL) != 0)
            return;
        uv_timer_stop(&c->timer);
        finish_response(c);
    }
}

/* ---- requests ---- */

static const char *find_header(const char *head, size_t hl, const char *name, size_t *vl)
{
    size_t nl = strlen(name);
    const char *p = memchr(head, '\n', hl);
    const char *end = head + hl;
    while (p && p + 1 < end) {
        p++;
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            break;
        if ((size_t)(eol - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            const char *v = p + nl + 1;
            while (v < eol && (*v == ' ' || *v == '\t'))
                v++;
            const char *ve = eol;
            while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
                ve--;
            *vl = (size_t)(ve - v);
            return v;
        }
        p = eol;
    }
    return NULL;
}

static long long header_num(const char *head, size_t hl, const char *name, long long dflt)
{
    size_t vl;
    const char *v = find_header(head, hl, name, &vl);
    if (!v)
        return dflt;
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%.*s", (int)(vl < 31 ? vl : 31), v);
    return strtoll(tmp, NULL, 10);
}

static void respond_simple(conn *c, int status, const char *body)
{
    char *out = NULL;
    int n = asprintf(
        &out, "HTTP/1.1 %d %s\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n%s\r\n%s", status,
        status == 200 ? "OK" : "Not Found", strlen(body), c->keep_alive ? "" : "connection: close\r\n", body);
    if (n < 0)
        return conn_close(c);
    c->responding = 1;
    if (send_buf(c, out, (size_t)n, out) == 0)
        finish_response(c);
}

/* Handles every complete request in the buffer, one at a time. */
static void process(conn *c)
{
    while (!c->closing && !c->responding) {
        char *eoh = c->len >= 4 ? memmem(c->buf, c->len, "\r\n\r\n", 4) : NULL;
        if (!eoh)
            return;
        size_t hl = (size_t)(eoh - c->buf) + 4;
        long long cl = header_num(c->buf, hl, "content-length", 0);
        if (cl < 0 || (size_t)cl > MAX_REQUEST)
            return conn_close(c);
        if (c->len < hl + (size_t)cl)
            return;
        const char *body = c->buf + hl;
        int is_get = !strncmp(c->buf, "GET ", 4), is_post = !strncmp(c->buf, "POST ", 5);
        const char *sp = memchr(c->buf, ' ', hl), *path = sp ? sp + 1 : c->buf;
        const char *pe = memchr(path, ' ', hl - (size_t)(path - c->buf));
        size_t pl = pe ? (size_t)(pe - path) : 0;
        const char *q = memchr(path, '?', pl);
        size_t plain = q ? (size_t)(q - path) : pl;
        size_t vl;
        const char *connh = find_header(c->buf, hl, "connection", &vl);
        c->keep_alive =
            !(connh && vl == 5 && !strncasecmp(connh, "close", 5)) && strstr(c->buf, "HTTP/1.1\r\n");
        int stream = is_post && cl > 0 && memmem(body, (size_t)cl, "\"stream\":true", 13);
        long long events = header_num(c->buf, hl, "x-gw-events", 6);
        long long interval = header_num(c->buf, hl, "x-gw-interval-ms", 500);
        long long bytes = header_num(c->buf, hl, "x-gw-bytes", 300000000);
        /* consume the request */
        size_t used = hl + (size_t)cl;
        memmove(c->buf, c->buf + used, c->len - used);
        c->len -= used;

        if (is_post && plain >= 9 && !memcmp(path + plain - 9, "/messages", 9) && stream) {
            c->responding = 1;
            c->ev_total = events < 6 ? 6 : (int)events;
            c->ev_sent = 0;
            c->interval_ms = interval < 0 ? 0 : (unsigned)interval;
            if (send_buf(c, sse_head, sse_head_len, NULL) != 0)
                return;
            on_tick(&c->timer);
            if (c->responding && !c->closing)
                uv_timer_start(&c->timer, on_tick, c->interval_ms, c->interval_ms ? c->interval_ms : 1);
        } else if (is_post && plain >= 9 && !memcmp(path + plain - 9, "/messages", 9)) {
            c->responding = 1;
            if (send_buf(c, message_response, message_response_len, NULL) == 0)
                finish_response(c);
        } else if (is_get && plain >= 8 && !memcmp(path + plain - 8, "/results", 8)) {
            char *head = NULL;
            int n = asprintf(&head,
                             "HTTP/1.1 200 OK\r\ncontent-type: application/binary\r\ncontent-length: %lld\r\n"
                             "request-id: req_bench_results\r\n\r\n",
                             bytes < 0 ? 0 : bytes);
            if (n < 0)
                return conn_close(c);
            c->responding = 2;
            c->dl_left = bytes < 0 ? 0 : (uint64_t)bytes;
            c->dl_carry_len = c->dl_carry_off = 0;
            if (send_buf(c, head, (size_t)n, head) != 0)
                return;
            c->dl_inflight++; /* the head counts as owned in flight */
            dl_fill(c);
        } else if (is_get && plain == 8 && !memcmp(path, "/healthz", 8)) {
            respond_simple(c, 200, "{\"ok\":true}");
        } else {
            respond_simple(
                c, 404, "{\"type\":\"error\",\"error\":{\"type\":\"not_found_error\",\"message\":\"no\"}}");
        }
    }
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *b)
{
    (void)suggested;
    conn *c = h->data;
    if (c->cap - c->len < 65536) {
        size_t cap = c->cap ? c->cap * 2 : 131072;
        if (cap > MAX_REQUEST * 2) {
            b->base = NULL;
            b->len = 0;
            return;
        }
        char *nb = realloc(c->buf, cap);
        if (!nb) {
            b->base = NULL;
            b->len = 0;
            return;
        }
        c->buf = nb;
        c->cap = cap;
    }
    b->base = c->buf + c->len;
    b->len = c->cap - c->len;
}

static void on_read(uv_stream_t *s, ssize_t n, const uv_buf_t *b)
{
    (void)b;
    conn *c = s->data;
    if (n < 0 || (n == 0 && !b->base)) {
        if (n < 0)
            conn_close(c);
        return;
    }
    c->len += (size_t)n;
    process(c);
}

static void on_connection(uv_stream_t *server, int status)
{
    if (status < 0)
        return;
    conn *c = calloc(1, sizeof *c);
    if (!c)
        return;
    c->dl_carry = malloc(sizeof RESULT_LINE);
    uv_tcp_init(server->loop, &c->tcp);
    uv_timer_init(server->loop, &c->timer);
    c->tcp.data = c->timer.data = c;
    if (!c->dl_carry || uv_accept(server, (uv_stream_t *)&c->tcp) != 0) {
        conn_close(c);
        return;
    }
    uv_tcp_nodelay(&c->tcp, 1);
    uv_read_start((uv_stream_t *)&c->tcp, on_alloc, on_read);
}

static char listen_host[64] = "127.0.0.1";
static int listen_port = 0;
static pthread_mutex_t ready_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t ready_cv = PTHREAD_COND_INITIALIZER;
static int ready_count;

static void *serve(void *arg)
{
    (void)arg;
    uv_loop_t loop;
    uv_loop_init(&loop);
    uv_tcp_t server;
    uv_tcp_init_ex(&loop, &server, AF_INET);
    struct sockaddr_in addr;
    uv_ip4_addr(listen_host, 0, &addr);
    pthread_mutex_lock(&ready_mu);
    addr.sin_port = htons((uint16_t)listen_port);
    uv_os_fd_t fd;
    uv_fileno((uv_handle_t *)&server, &fd);
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (uv_tcp_bind(&server, (struct sockaddr *)&addr, 0) != 0 ||
        uv_listen((uv_stream_t *)&server, 4096, on_connection) != 0) {
        fprintf(stderr, "gw-upstream: cannot listen on %s:%d\n", listen_host, listen_port);
        exit(1);
    }
    if (listen_port == 0) {
        struct sockaddr_in got;
        int gl = sizeof got;
        uv_tcp_getsockname(&server, (struct sockaddr *)&got, &gl);
        listen_port = ntohs(got.sin_port);
    }
    ready_count++;
    pthread_cond_broadcast(&ready_cv);
    pthread_mutex_unlock(&ready_mu);
    uv_run(&loop, UV_RUN_DEFAULT);
    return NULL;
}

static void build_static(void)
{
    message_response_len = (size_t)asprintf(&message_response,
                                            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                                            "request-id: req_bench\r\ncontent-length: %zu\r\n\r\n%s",
                                            sizeof MESSAGE_BODY - 1, MESSAGE_BODY);
    sse_head_len = (size_t)asprintf(&sse_head,
                                    "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                                    "cache-control: no-cache\r\nrequest-id: req_bench_stream\r\n"
                                    "transfer-encoding: chunked\r\n\r\n");
    const char *events[6] = {SSE_START,      SSE_BLOCK_START,   SSE_DELTA,
                             SSE_BLOCK_STOP, SSE_MESSAGE_DELTA, SSE_STOP};
    for (int i = 0; i < 6; i++)
        sse_chunk_len[i] = (size_t)asprintf(&sse_chunks[i], "%zx\r\n%s\r\n", strlen(events[i]), events[i]);
    result_custom_off = (size_t)(strstr(RESULT_LINE, "req-") - RESULT_LINE) + 4;
    result_msg_off = (size_t)(strstr(RESULT_LINE, "msg_bench_") - RESULT_LINE) + 10;
}

int main(int argc, char **argv)
{
    int threads = 2;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--listen") && i + 1 < argc) {
            const char *a = argv[++i], *colon = strrchr(a, ':');
            if (!colon)
                return fprintf(stderr, "--listen HOST:PORT\n"), 2;
            snprintf(listen_host, sizeof listen_host, "%.*s", (int)(colon - a), a);
            listen_port = atoi(colon + 1);
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = atoi(argv[++i]);
        } else {
            fprintf(stderr, "usage: gw-upstream [--listen HOST:PORT] [--threads N]\n");
            return 2;
        }
    }
    if (threads < 1)
        threads = 1;
    signal(SIGPIPE, SIG_IGN);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    build_static();
    pthread_t t;
    for (int i = 0; i < threads; i++) {
        if (i > 0) { /* the others bind the port the first one got */
            pthread_mutex_lock(&ready_mu);
            while (ready_count < 1)
                pthread_cond_wait(&ready_cv, &ready_mu);
            pthread_mutex_unlock(&ready_mu);
        }
        pthread_create(&t, NULL, serve, NULL);
    }
    pthread_mutex_lock(&ready_mu);
    while (ready_count < threads)
        pthread_cond_wait(&ready_cv, &ready_mu);
    pthread_mutex_unlock(&ready_mu);
    printf("listening on %s:%d\n", listen_host, listen_port);
    fflush(stdout);
    pause();
    return 0;
}
