/*
 * gw-streams: many concurrent SSE streams against a proxy (or the upstream directly),
 * timing every event as it arrives, for the gateway benchmarks. One thread, epoll,
 * non-blocking sockets: thousands of streams cost it little.
 *
 *   gw-streams --target HOST:PORT --streams N [--events 6] [--interval-ms 500]
 *              [--ramp-ms 1000] [--duration S] [--timeout S]
 *       N clients, started evenly over the ramp, each sends a streaming Messages
 *       request (x-gw-events / x-gw-interval-ms tell gw-upstream the pacing) and reads
 *       the SSE response; with --duration each client repeats on its keep-alive
 *       connection until S seconds have passed or SIGTERM says to stop (the streams in
 *       flight then finish). Prints one line of key=value figures:
 *       streams completed, failed, the worst and p99 gap between two events of one
 *       stream, gaps over 1 s, and time to first event (p50, p99, max).
 *
 *   gw-streams --target HOST:PORT --idle N
 *       N connections that each make one GET /healthz and then stay open, idle; prints
 *       "idle ready" and holds them until standard input closes.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

typedef enum { ST_WAIT, ST_CONNECTING, ST_HEAD, ST_BODY, ST_IDLE, ST_DONE } state;
typedef enum { B_SIZE, B_EXT, B_DATA, B_DATA_CR, B_TRAILER, B_LENGTH, B_CLOSE } body_mode;

typedef struct client {
    int fd;
    state st;
    double start_at;   /* when to connect */
    double request_at; /* when the current request was sent */
    double last_event; /* arrival of the previous event of this stream, 0 before the first */
    char head[8192];
    size_t head_len;
    int status;
    int keep_alive;
    body_mode bm;
    uint64_t chunk_left;
    int crlf_seen;
    int trailer_line_len;
    int prev_lf; /* last body byte was '\n' */
    int events;
    size_t out_off; /* request bytes sent */
} client;

static struct sockaddr_in target;
static char host_hdr[128];
static char request[2048];
static size_t request_len;
static char idle_request[512];
static size_t idle_request_len;
static int n_events = 6, interval_ms = 500;
static double duration_s = 0, deadline;
static int idle_mode;

static uint64_t completed, failed, started_streams;
static volatile sig_atomic_t stop_repeating; /* SIGTERM: finish the streams in flight, start no more */

static void on_term(int sig)
{
    (void)sig;
    stop_repeating = 1;
}
static double *gaps, *ttfbs;
static size_t n_gaps, cap_gaps, n_ttfb, cap_ttfb;
static uint64_t gaps_over_1s;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void push(double **arr, size_t *n, size_t *cap, double v)
{
    if (*n == *cap) {
        *cap = *cap ? *cap * 2 : 4096;
        *arr = realloc(*arr, *cap * sizeof **arr);
        if (!*arr) {
            perror("realloc");
            exit(1);
        }
    }
    (*arr)[(*n)++] = v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t i = (size_t)(p * (double)(n - 1) + 0.5);
    return v[i];
}

static int epfd;
static int n_active, n_idle; /* clients connecting or in a request; idle ones */

/* Every state change goes through here so the counts stay exact without scanning. */
static void set_state(client *c, state st)
{
    int was_active = c->st != ST_WAIT && c->st != ST_DONE && c->st != ST_IDLE;
    int is_active = st != ST_WAIT && st != ST_DONE && st != ST_IDLE;
    n_active += is_active - was_active;
    n_idle += (st == ST_IDLE) - (c->st == ST_IDLE);
    c->st = st;
}

static void arm(client *c, uint32_t events)
{
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev) != 0)
        epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void start_connect(client *c)
{
    c->fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (c->fd < 0) {
        perror("socket");
        set_state(c, ST_DONE);
        failed++;
        return;
    }
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    int rc = connect(c->fd, (struct sockaddr *)&target, sizeof target);
    if (rc != 0 && errno != EINPROGRESS) {
        close(c->fd);
        set_state(c, ST_DONE);
        failed++;
        return;
    }
    set_state(c, ST_CONNECTING);
    c->out_off = 0;
    arm(c, EPOLLOUT);
}

static void reset_response(client *c)
{
    c->head_len = 0;
    c->status = 0;
    c->events = 0;
    c->last_event = 0;
    c->prev_lf = 0;
    c->bm = B_SIZE;
    c->chunk_left = 0;
    c->trailer_line_len = 0;
}

static void close_client(client *c, int ok)
{
    if (c->fd >= 0) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }
    if (!ok)
        failed++;
    set_state(c, ST_DONE);
}

static void send_request(client *c)
{
    const char *req = idle_mode ? idle_request : request;
    size_t len = idle_mode ? idle_request_len : request_len;
    while (c->out_off < len) {
        ssize_t w = send(c->fd, req + c->out_off, len - c->out_off, MSG_NOSIGNAL);
        if (w < 0 && errno == EAGAIN) {
            arm(c, EPOLLOUT);
            return;
        }
        if (w <= 0) {
            close_client(c, 0);
            return;
        }
        c->out_off += (size_t)w;
    }
    reset_response(c);
    c->request_at = now_s();
    set_state(c, ST_HEAD);
    if (!idle_mode)
        started_streams++;
    arm(c, EPOLLIN);
}

static void stream_done(client *c)
{
    int ok = c->status == 200 && (idle_mode || c->events == n_events);
    if (idle_mode) {
        if (!ok)
            close_client(c, 0);
        else
            set_state(c, ST_IDLE);
        return;
    }
    if (ok)
        completed++;
    else
        failed++;
    if (ok && c->keep_alive && duration_s > 0 && !stop_repeating && now_s() < deadline) {
        c->out_off = 0;
        send_request(c);
        return;
    }
    close_client(c, 1);
}

static void on_event(client *c, double t)
{
    if (c->last_event == 0) {
        push(&ttfbs, &n_ttfb, &cap_ttfb, t - c->request_at);
    } else {
        double g = t - c->last_event;
        push(&gaps, &n_gaps, &cap_gaps, g);
        if (g > 1.0)
            gaps_over_1s++;
    }
    c->last_event = t;
    c->events++;
}

/* Body bytes after de-chunking: every blank line ends an event. */
static void body_bytes(client *c, const char *p, size_t n, double t)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n') {
            if (c->prev_lf)
                on_event(c, t);
            c->prev_lf = 1;
        } else if (p[i] != '\r') {
            c->prev_lf = 0;
        }
    }
}

/* Returns 1 when the response is complete. */
static int feed_body(client *c, const char *p, size_t n, double t)
{
    size_t i = 0;
    while (i < n) {
        switch (c->bm) {
        case B_LENGTH: {
            size_t take = c->chunk_left < n - i ? (size_t)c->chunk_left : n - i;
            body_bytes(c, p + i, take, t);
            c->chunk_left -= take;
            i += take;
            if (c->chunk_left == 0)
                return 1;
            break;
        }
        case B_CLOSE:
            body_bytes(c, p + i, n - i, t);
            return 0;
        case B_SIZE: {
            char ch = p[i++];
            if (ch >= '0' && ch <= '9')
                c->chunk_left = c->chunk_left * 16 + (uint64_t)(ch - '0');
            else if ((ch | 32) >= 'a' && (ch | 32) <= 'f')
                c->chunk_left = c->chunk_left * 16 + (uint64_t)((ch | 32) - 'a' + 10);
            else if (ch == '\n')
                c->bm = c->chunk_left ? B_DATA : B_TRAILER;
            else
                c->bm = B_EXT;
            break;
        }
        case B_EXT:
            if (p[i++] == '\n')
                c->bm = c->chunk_left ? B_DATA : B_TRAILER;
            break;
        case B_DATA: {
            size_t take = c->chunk_left < n - i ? (size_t)c->chunk_left : n - i;
            body_bytes(c, p + i, take, t);
            c->chunk_left -= take;
            i += take;
            if (c->chunk_left == 0)
                c->bm = B_DATA_CR;
            break;
        }
        case B_DATA_CR:
            if (p[i++] == '\n') {
                c->bm = B_SIZE;
                c->chunk_left = 0;
            }
            break;
        case B_TRAILER: {
            char ch = p[i++];
            if (ch == '\n') {
                if (c->trailer_line_len == 0)
                    return 1;
                c->trailer_line_len = 0;
            } else if (ch != '\r') {
                c->trailer_line_len++;
            }
            break;
        }
        }
    }
    return 0;
}

static void on_readable(client *c)
{
    char buf[65536];
    for (;;) {
        ssize_t r = recv(c->fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EAGAIN)
            return;
        double t = now_s();
        if (r <= 0) {
            if (c->st == ST_BODY && c->bm == B_CLOSE) {
                c->keep_alive = 0;
                stream_done(c);
                if (c->st != ST_DONE)
                    close_client(c, 1);
            } else {
                close_client(c, c->st == ST_IDLE);
            }
            return;
        }
        size_t off = 0;
        if (c->st == ST_IDLE) { /* nothing is expected on an idle connection */
            close_client(c, 0);
            return;
        }
        if (c->st == ST_HEAD) {
            size_t take = (size_t)r;
            if (take > sizeof c->head - c->head_len)
                take = sizeof c->head - c->head_len;
            memcpy(c->head + c->head_len, buf, take);
            size_t before = c->head_len;
            c->head_len += take;
            char *eoh = memmem(c->head, c->head_len, "\r\n\r\n", 4);
            if (!eoh) {
                if (c->head_len == sizeof c->head)
                    close_client(c, 0);
                continue;
            }
            size_t hl = (size_t)(eoh - c->head) + 4;
            off = hl - before;
            c->head[hl - 1] = '\0';
            c->status = atoi(c->head + 9);
            c->keep_alive = !strcasestr(c->head, "\nconnection: close");
            const char *cl = strcasestr(c->head, "\ncontent-length:");
            if (strcasestr(c->head, "\ntransfer-encoding: chunked")) {
                c->bm = B_SIZE;
            } else if (cl) {
                c->bm = B_LENGTH;
                c->chunk_left = strtoull(cl + 16, NULL, 10);
            } else {
                c->bm = B_CLOSE;
                c->keep_alive = 0;
            }
            set_state(c, ST_BODY);
            if (c->bm == B_LENGTH && c->chunk_left == 0) {
                stream_done(c);
                if (c->st == ST_DONE || c->st == ST_IDLE)
                    return;
                continue;
            }
        }
        if (c->st == ST_BODY && feed_body(c, buf + off, (size_t)r - off, t)) {
            stream_done(c);
            if (c->st == ST_DONE || c->st == ST_IDLE)
                return;
        }
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: gw-streams --target HOST:PORT (--streams N [--events E] [--interval-ms MS] "
            "[--ramp-ms MS] [--duration S] | --idle N) [--timeout S]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    int n = 0, ramp_ms = 1000;
    double timeout_s = 120;
    const char *tgt = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--target"))
            tgt = v;
        else if (!strcmp(a, "--streams"))
            n = atoi(v);
        else if (!strcmp(a, "--idle")) {
            n = atoi(v);
            idle_mode = 1;
        } else if (!strcmp(a, "--events"))
            n_events = atoi(v);
        else if (!strcmp(a, "--interval-ms"))
            interval_ms = atoi(v);
        else if (!strcmp(a, "--ramp-ms"))
            ramp_ms = atoi(v);
        else if (!strcmp(a, "--duration"))
            duration_s = atof(v);
        else if (!strcmp(a, "--timeout"))
            timeout_s = atof(v);
        else
            usage();
        i++;
    }
    if (!tgt || n <= 0)
        usage();
    const char *colon = strrchr(tgt, ':');
    if (!colon)
        usage();
    char host[64];
    snprintf(host, sizeof host, "%.*s", (int)(colon - tgt), tgt);
    target.sin_family = AF_INET;
    target.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &target.sin_addr) != 1) {
        fprintf(stderr, "gw-streams: --target needs an IPv4 address\n");
        return 2;
    }
    snprintf(host_hdr, sizeof host_hdr, "%s", tgt);
    static const char body[] = "{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"stream\":true,"
                               "\"messages\":[{\"role\":\"user\",\"content\":\"Hello\"}]}";
    request_len =
        (size_t)snprintf(request, sizeof request,
                         "POST /v1/messages HTTP/1.1\r\nHost: %s\r\ncontent-type: application/json\r\n"
                         "x-api-key: bench-key\r\nanthropic-version: 2023-06-01\r\nx-gw-events: %d\r\n"
                         "x-gw-interval-ms: %d\r\ncontent-length: %zu\r\n\r\n%s",
                         host_hdr, n_events, interval_ms, sizeof body - 1, body);
    idle_request_len = (size_t)snprintf(idle_request, sizeof idle_request,
                                        "GET /healthz HTTP/1.1\r\nHost: %s\r\n\r\n", host_hdr);

    signal(SIGPIPE, SIG_IGN);
    signal(SIGTERM, on_term);
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    epfd = epoll_create1(EPOLL_CLOEXEC);
    client *cs = calloc((size_t)n, sizeof *cs);
    if (!cs)
        return 1;
    double t0 = now_s();
    deadline = t0 + duration_s;
    double hard_stop = t0 + timeout_s;
    for (int i = 0; i < n; i++) {
        cs[i].fd = -1;
        cs[i].st = ST_WAIT;
        cs[i].start_at = t0 + (double)ramp_ms / 1000.0 * (double)i / (double)n;
    }
    int next_start = 0, announced = 0;
    struct epoll_event evs[1024];
    for (;;) {
        double t = now_s();
        while (next_start < n && cs[next_start].start_at <= t)
            start_connect(&cs[next_start++]);
        int active = n_active, idle = n_idle;
        if (idle_mode && !announced && next_start == n && active == 0) {
            printf("idle ready %d of %d\n", idle, n);
            fflush(stdout);
            announced = 1;
            char b[64];
            while (read(0, b, sizeof b) > 0) {
            }
            break;
        }
        if (!idle_mode && next_start == n && active == 0)
            break;
        if (t > hard_stop) {
            for (int i = 0; i < n; i++)
                if (cs[i].st != ST_DONE && cs[i].st != ST_WAIT)
                    close_client(&cs[i], 0);
                else if (cs[i].st == ST_WAIT)
                    failed++, set_state(&cs[i], ST_DONE);
            fprintf(stderr, "gw-streams: timed out after %.0f s\n", timeout_s);
            break;
        }
        int wait_ms = next_start < n ? (int)((cs[next_start].start_at - t) * 1000) + 1 : 100;
        if (wait_ms > 100)
            wait_ms = 100;
        int k = epoll_wait(epfd, evs, 1024, wait_ms < 0 ? 0 : wait_ms);
        for (int j = 0; j < k; j++) {
            client *c = evs[j].data.ptr;
            if (c->st == ST_CONNECTING) {
                int err = 0;
                socklen_t el = sizeof err;
                getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &el);
                if (err) {
                    close_client(c, 0);
                    continue;
                }
                send_request(c);
            } else if (c->out_off < (idle_mode ? idle_request_len : request_len) &&
                       (evs[j].events & EPOLLOUT)) {
                send_request(c);
            } else if (c->st != ST_DONE) {
                on_readable(c);
            }
        }
    }
    double elapsed = now_s() - t0;
    qsort(gaps, n_gaps, sizeof *gaps, cmp_double);
    qsort(ttfbs, n_ttfb, sizeof *ttfbs, cmp_double);
    if (!idle_mode)
        printf("streams=%llu completed=%llu failed=%llu events_gaps=%zu max_gap_ms=%.1f p99_gap_ms=%.1f "
               "gaps_over_1s=%llu ttfb_p50_ms=%.1f ttfb_p99_ms=%.1f ttfb_max_ms=%.1f elapsed_s=%.2f\n",
               (unsigned long long)started_streams, (unsigned long long)completed, (unsigned long long)failed,
               n_gaps, n_gaps ? gaps[n_gaps - 1] * 1000 : 0, pct(gaps, n_gaps, 0.99) * 1000,
               (unsigned long long)gaps_over_1s, pct(ttfbs, n_ttfb, 0.5) * 1000,
               pct(ttfbs, n_ttfb, 0.99) * 1000, n_ttfb ? ttfbs[n_ttfb - 1] * 1000 : 0, elapsed);
    for (int i = 0; i < n; i++)
        if (cs[i].fd >= 0)
            close(cs[i].fd);
    free(cs);
    return failed ? 1 : 0;
}
