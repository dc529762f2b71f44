/* libcurl multi driven by the proxy's uv loop: curl tells us which sockets to watch
 * and when to wake it (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); uv_poll and a
 * uv_timer call curl_multi_socket_action back. Finished transfers are handed to
 * forward.c outside of any curl callback, where removing the handle is allowed.
 *
 * No ceiling of curl's own: curl never queues a transfer (no CURLMOPT_MAX_HOST_
 * CONNECTIONS); the proxy admits a transfer only while the upstream connections it
 * would need stay within --max-upstream-connections, and answers 503 otherwise
 * (px_upstream_has_room). HTTP/2 is preferred where the upstream offers it (TLS with
 * ALPN), and a new transfer waits for a connection being set up to learn whether it
 * can share it, so thousands of streams ride a few connections.
 *
 * Each upstream socket gets one uv_poll for its whole life (opened and closed through
 * curl's socket callbacks): a keep-alive connection going back to curl's pool and out
 * again costs no poll handle and no epoll registration churn per request. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "proxy.h"

typedef struct px_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    px_proxy *px;
    int watched; /* curl wants events on it (between a CURL_POLL_IN/OUT and a REMOVE) */
    int events;  /* the uv events polled now, 0 when stopped */
} px_sock;

static void check_done(px_proxy *px)
{
    CURLMsg *msg;
    int left;
    while ((msg = curl_multi_info_read(px->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        px_xfer *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = msg->data.result;
        if (x)
            px_xfer_done(x, rc);
    }
}

static void poll_events(px_sock *s, int events);

static void on_poll(uv_poll_t *h, int status, int events)
{
    px_sock *s = h->data;
    px_proxy *px = s->px;
    if (!s->watched) {
        /* A pooled connection that became readable (the upstream closed it): curl
         * finds out when it next picks it; until then, stop waking up for it. */
        poll_events(s, 0);
        return;
    }
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(px->multi, s->fd, flags, &running);
    check_done(px);
}

static void poll_events(px_sock *s, int events)
{
    if (s->events == events)
        return;
    s->events = events;
    if (events)
        uv_poll_start(&s->poll, events, on_poll);
    else
        uv_poll_stop(&s->poll);
}

static void on_timer(uv_timer_t *t)
{
    px_proxy *px = t->data;
    int running;
    curl_multi_socket_action(px->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    check_done(px);
}

static int timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
    (void)multi;
    px_proxy *px = userp;
    if (timeout_ms < 0)
        uv_timer_stop(&px->curl_timer);
    else
        uv_timer_start(&px->curl_timer, on_timer, (uint64_t)timeout_ms, 0);
    return 0;
}

static px_sock *sock_of(px_proxy *px, curl_socket_t fd)
{
    return fd >= 0 && (size_t)fd < px->n_socks ? px->socks[fd] : NULL;
}

static void free_sock(uv_handle_t *h)
{
    free(h->data);
}

/* CURLOPT_OPENSOCKETFUNCTION: every upstream connection starts here, so it is counted
 * and gets its poll handle once. */
static curl_socket_t open_socket(void *userp, curlsocktype purpose, struct curl_sockaddr *a)
{
    px_proxy *px = userp;
    if (purpose != CURLSOCKTYPE_IPCXN)
        return CURL_SOCKET_BAD;
    curl_socket_t fd = socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
    if (fd < 0)
        return CURL_SOCKET_BAD;
    if ((size_t)fd >= px->n_socks) {
        size_t n = px->n_socks ? px->n_socks : 256;
        while (n <= (size_t)fd)
            n *= 2;
        px_sock **grown = realloc(px->socks, n * sizeof *grown);
        if (!grown) {
            close(fd);
            return CURL_SOCKET_BAD;
        }
        memset(grown + px->n_socks, 0, (n - px->n_socks) * sizeof *grown);
        px->socks = grown;
        px->n_socks = n;
    }
    px_sock *s = calloc(1, sizeof *s);
    if (!s || uv_poll_init_socket(px->loop, &s->poll, fd) != 0) {
        free(s);
        close(fd);
        return CURL_SOCKET_BAD;
    }
    s->fd = fd;
    s->px = px;
    s->poll.data = s;
    px->socks[fd] = s;
    px_counter_add(&px->m.upstream_connections, 1);
    px_counter_add(&px->m.upstream_connections_opened, 1);
    return fd;
}

static int close_socket(void *userp, curl_socket_t fd)
{
    px_proxy *px = userp;
    px_sock *s = sock_of(px, fd);
    if (s) {
        px->socks[fd] = NULL;
        uv_poll_stop(&s->poll);
        uv_close((uv_handle_t *)&s->poll, free_sock);
        px_counter_add(&px->m.upstream_connections, -1);
    }
    return close(fd);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    (void)socketp;
    px_proxy *px = userp;
    px_sock *s = sock_of(px, fd);
    if (!s)
        return 0; /* not a socket of ours (closed already) */
    if (what == CURL_POLL_REMOVE) {
        s->watched = 0; /* polling stops lazily, only if it wakes up (on_poll) */
        return 0;
    }
    s->watched = 1;
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    poll_events(s, events);
    return 0;
}

int px_upstream_init(px_proxy *px)
{
    px->multi = curl_multi_init();
    if (!px->multi)
        return -1;
    uv_timer_init(px->loop, &px->curl_timer);
    px->curl_timer.data = px;
    curl_multi_setopt(px->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
    curl_multi_setopt(px->multi, CURLMOPT_SOCKETDATA, px);
    curl_multi_setopt(px->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
    curl_multi_setopt(px->multi, CURLMOPT_TIMERDATA, px);
    /* Reuse upstream connections across client requests; HTTP/2 multiplexes. */
    curl_multi_setopt(px->multi, CURLMOPT_PIPELINING, (long)CURLPIPE_MULTIPLEX);
    curl_multi_setopt(px->multi, CURLMOPT_MAX_CONCURRENT_STREAMS, (long)PX_H2_STREAMS);
    /* Keep every idle connection for reuse (curl's default keeps 4 per transfer in
     * flight, so a burst that ends closes the rest and the next one reconnects). They
     * still age out after curl's two minutes. */
    curl_multi_setopt(px->multi, CURLMOPT_MAXCONNECTS, (long)px->cfg.max_upstream_connections);
    return 0;
}

/* The options every upstream transfer shares: protocol, connection reuse, TLS. */
void px_upstream_setup_easy(px_proxy *px, CURL *e)
{
    curl_easy_setopt(e, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_2TLS);
    /* Over TLS, a connection being set up may turn out to be HTTP/2: wait for it
     * instead of opening one more. Cleartext is HTTP/1.1, one transfer per connection. */
    if (!strncmp(px->cfg.upstream, "https:", 6))
        curl_easy_setopt(e, CURLOPT_PIPEWAIT, 1L);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, open_socket);
    curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, px);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETFUNCTION, close_socket);
    curl_easy_setopt(e, CURLOPT_CLOSESOCKETDATA, px);
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT, (long)px->cfg.connect_timeout_s);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L);
    if (px->cfg.ca_bundle)
        curl_easy_setopt(e, CURLOPT_CAINFO, px->cfg.ca_bundle);
}

/* A response head arrived on `e`: learn whether the upstream speaks HTTP/2. */
void px_upstream_response_seen(px_proxy *px, CURL *e)
{
    long v = 0;
    if (curl_easy_getinfo(e, CURLINFO_HTTP_VERSION, &v) != CURLE_OK)
        return;
    int h2 = v == CURL_HTTP_VERSION_2_0 || v == CURL_HTTP_VERSION_3;
    if (px_counter_get(&px->m.upstream_http2) != (uint64_t)h2)
        px_counter_set(&px->m.upstream_http2, (uint64_t)h2);
}

/* Room for one more upstream transfer? Over HTTP/1.1 each transfer in flight holds a
 * connection; over HTTP/2 a connection carries up to PX_H2_STREAMS of them. */
int px_upstream_has_room(px_proxy *px)
{
    uint64_t active = 0, h2 = 0;
    px_gateway *gw = px->gw;
    for (int i = 0; i < gw->n_workers; i++) { /* the limit is the process's, not a worker's */
        active += px_counter_get(&gw->workers[i].m.requests_active);
        h2 |= px_counter_get(&gw->workers[i].m.upstream_http2);
    }
    uint64_t cap = (uint64_t)px->cfg.max_upstream_connections * (h2 ? PX_H2_STREAMS : 1);
    return active < cap;
}

/* Before a transfer is added: over HTTP/2, let curl open only the connections the
 * transfers in flight need (100 streams each). Without that bound curl, finding every
 * connection full or still in its TLS handshake, opens one per new transfer: a burst
 * of a thousand streams became hundreds of connections. With it, transfers beyond the
 * open connections' streams wait for the one connection being set up, a handshake at
 * most. Over HTTP/1.1 curl has no bound (each transfer needs its own connection, and
 * px_upstream_has_room already refused what --max-upstream-connections does not
 * allow). */
static int upstream_speaks_h2(px_gateway *gw)
{
    for (int i = 0; i < gw->n_workers; i++)
        if (px_counter_get(&gw->workers[i].m.upstream_http2))
            return 1;
    return 0;
}

void px_upstream_reserve(px_proxy *px)
{
    long want = 0;
    if (upstream_speaks_h2(px->gw)) { /* whichever worker learnt it */
        uint64_t in_flight = px_counter_get(&px->m.requests_active) + 1;
        want = (long)((in_flight + PX_H2_STREAMS - 1) / PX_H2_STREAMS);
        if (want > px->cfg.max_upstream_connections)
            want = px->cfg.max_upstream_connections;
        if (want < px->curl_conn_bound)
            return; /* never lowered: connections already open stay usable */
    }
    if (want != px->curl_conn_bound) {
        px->curl_conn_bound = want;
        curl_multi_setopt(px->multi, CURLMOPT_MAX_HOST_CONNECTIONS, want);
    }
}

/* Lets curl act on a newly added or unpaused handle right away. */
void px_upstream_kick(px_proxy *px)
{
    uv_timer_start(&px->curl_timer, on_timer, 0, 0);
}

void px_upstream_close(px_proxy *px)
{
    /* Closing the multi handle closes its sockets through close_socket, which releases
     * their polls. Transfers were already removed. */
    curl_multi_cleanup(px->multi);
    px->multi = NULL;
    for (size_t i = 0; i < px->n_socks; i++)
        if (px->socks[i]) /* not closed by curl (cannot happen, but never leak a handle) */
            close_socket(px, (curl_socket_t)i);
    free(px->socks);
    px->socks = NULL;
    px->n_socks = 0;
    uv_timer_stop(&px->curl_timer);
    uv_close((uv_handle_t *)&px->curl_timer, NULL);
}
