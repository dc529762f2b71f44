/* libcurl multi driven by the proxy's uv loop: curl tells us which sockets to watch
 * and when to wake it (CURLMOPT_SOCKETFUNCTION / TIMERFUNCTION); uv_poll and a
 * uv_timer call curl_multi_socket_action back. Finished transfers are handed to
 * forward.c outside of any curl callback, where removing the handle is allowed. */
#include <stdlib.h>

#include "proxy.h"

typedef struct px_sock {
    uv_poll_t poll;
    curl_socket_t fd;
    px_proxy *px;
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

static void on_poll(uv_poll_t *h, int status, int events)
{
    px_sock *s = h->data;
    int flags = 0;
    if (status < 0)
        flags = CURL_CSELECT_ERR;
    if (events & UV_READABLE)
        flags |= CURL_CSELECT_IN;
    if (events & UV_WRITABLE)
        flags |= CURL_CSELECT_OUT;
    int running;
    curl_multi_socket_action(s->px->multi, s->fd, flags, &running);
    check_done(s->px);
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

static void free_sock(uv_handle_t *h)
{
    free(h->data);
}

static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)easy;
    px_proxy *px = userp;
    px_sock *s = socketp;
    if (what == CURL_POLL_REMOVE) {
        if (s) {
            uv_poll_stop(&s->poll);
            uv_close((uv_handle_t *)&s->poll, free_sock);
            curl_multi_assign(px->multi, fd, NULL);
        }
        return 0;
    }
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s)
            return -1;
        s->fd = fd;
        s->px = px;
        if (uv_poll_init_socket(px->loop, &s->poll, fd) != 0) {
            free(s);
            return -1;
        }
        s->poll.data = s;
        curl_multi_assign(px->multi, fd, s);
    }
    int events = 0;
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        events |= UV_READABLE;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        events |= UV_WRITABLE;
    uv_poll_start(&s->poll, events, on_poll);
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
    curl_multi_setopt(px->multi, CURLMOPT_MAX_HOST_CONNECTIONS, 64L);
    return 0;
}

/* Lets curl act on a newly added or unpaused handle right away. */
void px_upstream_kick(px_proxy *px)
{
    uv_timer_start(&px->curl_timer, on_timer, 0, 0);
}

void px_upstream_close(px_proxy *px)
{
    /* Closing the multi handle closes its sockets; the socket callback then releases
     * the polls. Transfers were already removed. */
    curl_multi_cleanup(px->multi);
    px->multi = NULL;
    uv_timer_stop(&px->curl_timer);
    uv_close((uv_handle_t *)&px->curl_timer, NULL);
}
