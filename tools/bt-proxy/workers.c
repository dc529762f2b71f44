/* The workers: one event loop per thread, each serving its own client connections and
 * their upstream transfers, all listening on the same port (SO_REUSEPORT: the kernel
 * spreads new connections over them). They share the tracer and the instrumentation
 * (both thread-safe); an exchange lives and ends on the worker that began it. The main
 * thread talks to a worker only through its command bits and async handle; /metrics
 * reads every worker's counters (atomics) and the server stats each worker publishes
 * after every loop iteration. */
#define _GNU_SOURCE
#include <sched.h>
#include <stdlib.h>
#include <string.h>

#include "proxy.h"

int px_default_workers(void)
{
    cpu_set_t set;
    if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0)
        return CPU_COUNT(&set) < PX_MAX_WORKERS ? CPU_COUNT(&set) : PX_MAX_WORKERS;
    return 1;
}

/* End of every loop turn: the access-log lines of the turn, and this worker's numbers
 * for /metrics. */
static void on_publish(uv_check_t *h)
{
    px_proxy *px = h->data;
    px_lane_flush(px);
    px_log_flush();
    hs_stats st;
    hs_server_stats(px->server, &st);
    pthread_mutex_lock(&px->pub_mu);
    px->published = st;
    pthread_mutex_unlock(&px->pub_mu);
}

static void on_sweep(uv_timer_t *t)
{
    px_check_idle_transfers(t->data, px_now_ns());
}

static void on_wake(uv_async_t *h)
{
    px_proxy *px = h->data;
    int cmd = __atomic_exchange_n(&px->cmd, 0, __ATOMIC_ACQ_REL);
    if (cmd & PX_CMD_DRAIN)
        px_server_drain(px); /* uv_stop once its last connection closed */
    if (cmd & PX_CMD_CUT)
        px_server_cut(px, px->cut_why);
}

static void worker_main(void *arg)
{
    px_proxy *px = arg;
    char name[16];
    snprintf(name, sizeof name, "bt-proxy-w%d", px->id);
    pthread_setname_np(pthread_self(), name);

    uv_run(px->loop, UV_RUN_DEFAULT);

    /* Drained (or cut) after a signal: release everything on this thread. */
    uv_close((uv_handle_t *)&px->sweep, NULL);
    uv_close((uv_handle_t *)&px->wake, NULL);
    uv_close((uv_handle_t *)&px->publish, NULL);
    on_publish(&px->publish); /* the final numbers, before the server goes */
    px_server_close(px);
    px_upstream_close(px);
    uv_run(px->loop, UV_RUN_DEFAULT);
    uv_loop_close(px->loop);
    px_lane_stop(px); /* every exchange of this worker traced before the tracer flushes */
    px_log_flush();
    __atomic_store_n(&px->exited, 1, __ATOMIC_RELEASE);
    uv_async_send(&px->gw->worker_exited);
}

/* Sets up worker `i` on the calling thread (its loop does not run yet). */
static int worker_init(px_gateway *gw, int i, int port)
{
    px_proxy *px = &gw->workers[i];
    px->gw = gw;
    px->id = i;
    px->cfg = gw->cfg;
    /* The connection limit is shared out: each worker serves its part. */
    px->cfg.max_connections = (gw->cfg.max_connections + gw->n_workers - 1) / gw->n_workers;
    px->tracer = gw->tracer;
    px->anthropic = gw->anthropic;
    px->loop = &px->own_loop;
    pthread_mutex_init(&px->pub_mu, NULL);
    if (uv_loop_init(px->loop) != 0)
        return -1;
    uv_async_init(px->loop, &px->wake, on_wake);
    px->wake.data = px;
    uv_check_init(px->loop, &px->publish);
    px->publish.data = px;
    uv_check_start(&px->publish, on_publish);
    uv_unref((uv_handle_t *)&px->publish);
    uv_timer_init(px->loop, &px->sweep);
    px->sweep.data = px;
    uv_timer_start(&px->sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&px->sweep);
    if (px_upstream_init(px) != 0 || px_listen(px, port, gw->n_workers > 1) != 0 || px_lane_start(px) != 0)
        return -1;
    on_publish(&px->publish);
    return 0;
}

int px_workers_start(px_gateway *gw)
{
    gw->workers = calloc((size_t)gw->n_workers, sizeof *gw->workers);
    if (!gw->workers)
        return -1;
    /* Worker 0 binds first (port 0 picks one); the others join it on that port. */
    if (worker_init(gw, 0, gw->cfg.listen_port) != 0)
        return -1;
    snprintf(gw->listen_addr, sizeof gw->listen_addr, "%s", hs_server_address(gw->workers[0].server));
    const char *colon = strrchr(gw->listen_addr, ':');
    int port = colon ? atoi(colon + 1) : gw->cfg.listen_port;
    for (int i = 1; i < gw->n_workers; i++)
        if (worker_init(gw, i, port) != 0)
            return -1;
    for (int i = 0; i < gw->n_workers; i++) {
        if (uv_thread_create(&gw->workers[i].thread, worker_main, &gw->workers[i]) != 0) {
            fprintf(stderr, "bt-proxy: cannot start worker thread %d\n", i);
            return -1;
        }
        gw->workers_left++;
    }
    return 0;
}

void px_workers_command(px_gateway *gw, int cmd, const char *cut_why)
{
    for (int i = 0; i < gw->n_workers; i++) {
        px_proxy *px = &gw->workers[i];
        if (__atomic_load_n(&px->exited, __ATOMIC_ACQUIRE))
            continue;
        if (cmd & PX_CMD_CUT)
            snprintf(px->cut_why, sizeof px->cut_why, "%s", cut_why ? cut_why : "cut by the proxy");
        __atomic_fetch_or(&px->cmd, cmd, __ATOMIC_ACQ_REL);
        uv_async_send(&px->wake);
    }
}

void px_workers_join(px_gateway *gw)
{
    for (int i = 0; i < gw->n_workers; i++)
        uv_thread_join(&gw->workers[i].thread);
    for (int i = 0; i < gw->n_workers; i++)
        pthread_mutex_destroy(&gw->workers[i].pub_mu);
}

void px_gateway_totals(px_gateway *gw, px_metrics *m, hs_stats *hs)
{
    px_worker_totals(gw, NULL, m, hs);
}

void px_worker_totals(px_gateway *gw, px_proxy *self, px_metrics *m, hs_stats *hs)
{
    memset(m, 0, sizeof *m);
    memset(hs, 0, sizeof *hs);
    for (int i = 0; gw->workers && i < gw->n_workers; i++) {
        px_proxy *px = &gw->workers[i];
        const uint64_t *src = (const uint64_t *)&px->m;
        uint64_t *dst = (uint64_t *)m;
        for (size_t k = 0; k < sizeof *m / sizeof(uint64_t); k++)
            dst[k] += px_counter_get(&src[k]);
        hs_stats st;
        if (px == self && px->server) {
            hs_server_stats(px->server, &st); /* its own thread: the numbers of this moment */
        } else {
            pthread_mutex_lock(&px->pub_mu);
            st = px->published;
            pthread_mutex_unlock(&px->pub_mu);
        }
        const uint64_t *s2 = (const uint64_t *)&st;
        uint64_t *d2 = (uint64_t *)hs;
        for (size_t k = 0; k < sizeof *hs / sizeof(uint64_t); k++)
            d2[k] += s2[k];
    }
    if (m->upstream_http2)
        m->upstream_http2 = 1; /* a flag, not a count */
}
