/* bt-proxy: configuration, tracer setup, the workers, and graceful shutdown driven
 * from the main thread. */
#include <malloc.h>
#include <signal.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "braintrust/sink.h"
#include "proxy.h"

uint64_t px_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* The tracer's first error while it is set up, to say why the proxy refuses to start. */
static char setup_error[512];
static int setting_up;

static void log_to_stderr(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    if (setting_up && level >= BT_LOG_ERROR && !setup_error[0])
        snprintf(setup_error, sizeof setup_error, "%s", msg);
    static const char *names[] = {"debug", "info", "warn", "error"};
    px_log("tracer %s: %s", names[level <= BT_LOG_ERROR ? level : BT_LOG_ERROR], msg);
}

/* Sinks: --spans-jsonl adds a JSONL file; --store adds the SQLite store, which spools
 * for OTLP when OTLP or a Braintrust key is configured. Without flags the library
 * chooses its default sink. A configuration that cannot trace is refused (the proxy
 * exists to trace) unless --allow-untraced says to forward untraced; OTEL_SDK_DISABLED
 * is the operator's own choice. Returns 0 to run, -1 to stop (reported), -2 to stop
 * on a configuration that cannot trace. */
#define PX_SPAN_QUEUE 16384
#define PX_SPAN_EXPORT_BATCH 1024

static int setup_tracer(px_gateway *px)
{
    if (bt_tracer_new(&px->tracer) != BT_OK)
        return -1;
    bt_tracer *t = px->tracer;
    bt_tracer_set_logger(t, log_to_stderr, NULL);
    bt_tracer_set_log_level(t, BT_LOG_INFO); /* recoveries and the like are worth a line */
    bt_tracer_set_service_name(t, "bt-proxy");
    /* A gateway ends spans at its request rate, on several threads, while the export
     * thread shares the cores with them: the library's default queue (2,048 spans, a
     * sixth of a second at 13k traced requests/s) filled whenever the export thread
     * was not scheduled for that long, and spans were dropped. PX_SPAN_QUEUE covers
     * more than a second of it (bounded: spans of small calls are a few KB). An
     * operator's OTEL_BSP_MAX_QUEUE_SIZE keeps the library's defaults around it (so a
     * small queue alone stays valid), and the OTEL_BSP_* variables read next override
     * each value. */
    if (!getenv("OTEL_BSP_MAX_QUEUE_SIZE"))
        bt_tracer_set_batch_options(t, PX_SPAN_QUEUE, 5000, PX_SPAN_EXPORT_BATCH, 30000);
    const char *problem = NULL; /* what went wrong, when tracing cannot start */
    setting_up = 1;
    if (bt_tracer_configure_from_env(t) != BT_OK) {
        problem = "the tracing configuration in the environment is invalid";
    } else if (bt_tracer_is_enabled(t)) {
        /* Adding any sink replaces the library's default choice, so the OTLP export the
         * environment asks for is built here, exactly as the default would be (the
         * Braintrust key goes only to the Braintrust API URL). */
        bt_sink *otlp = NULL;
        if (px->cfg.store || px->cfg.spans_jsonl) {
            int rc = bt_sink_otlp_from_tracer(t, &otlp);
            if (rc != BT_OK && rc != BT_ENOTFOUND)
                problem = "the OTLP export cannot be set up";
        }
        bt_sink *s = NULL;
        if (!problem && px->cfg.store) {
            if (bt_sink_store_new(px->cfg.store, otlp, &s) != BT_OK) {
                fprintf(stderr, "bt-proxy: cannot open the span store %s\n", px->cfg.store);
                return -1;
            }
            otlp = NULL;
            bt_tracer_add_sink(t, s);
        } else if (!problem && otlp) {
            bt_tracer_add_sink(t, otlp);
            otlp = NULL;
        }
        bt_sink_free(otlp);
        if (!problem && px->cfg.spans_jsonl) {
            if (bt_sink_jsonl_new(px->cfg.spans_jsonl, &s) != BT_OK) {
                fprintf(stderr, "bt-proxy: cannot open %s\n", px->cfg.spans_jsonl);
                return -1;
            }
            bt_tracer_add_sink(t, s);
        }
    }
    int rc = problem ? BT_EDISABLED : bt_tracer_start(t);
    if (rc != BT_OK && !problem && bt_tracer_is_enabled(t))
        problem = "tracing could not start";
    setting_up = 0;
    if (problem && !px->cfg.allow_untraced) {
        fprintf(stderr,
                "bt-proxy: refusing to start: %s%s%s. Fix it, or pass --allow-untraced to forward requests "
                "without tracing them.\n",
                problem, setup_error[0] ? ": " : "", setup_error);
        return -2;
    }
    if (rc != BT_OK) {
        px_log("tracing is OFF: %s; requests are forwarded untraced",
               problem ? problem : "disabled by OTEL_SDK_DISABLED");
        return 0;
    }
    /* the library has logged where spans go ("spans go to ...") */
    if (bt_anthropic_new(t, &px->anthropic) != BT_OK)
        return -1;
    bt_anthropic_set_session_idle(px->anthropic, px->cfg.session_idle_s);
    /* Clients' Host header names the proxy: spans say which API server the call was for. */
    bt_anthropic_set_upstream(px->anthropic, px->cfg.upstream);
    if (px->cfg.correlation) {
        /* A URL the library cannot use is a configuration error; a database that is
         * down is not: the proxy serves and the store keeps reconnecting. */
        if (px->cfg.correlation_wait_ms)
            bt_anthropic_set_correlation_wait(px->anthropic, px->cfg.correlation_wait_ms);
        rc = bt_anthropic_set_correlation_url(px->anthropic, px->cfg.correlation);
        if (rc != BT_OK) {
            fprintf(stderr, "bt-proxy: --correlation: %s\n",
                    rc == BT_EINVAL ? "not a postgresql:// URL" : bt_strerror(rc));
            return -1;
        }
        bt_correlation_stats st;
        bt_anthropic_get_correlation_stats(px->anthropic, &st);
        px_log("batch correlation in PostgreSQL: %s",
               st.available ? "connected"
                            : "unreachable for now; batch results are traced without their inputs "
                              "until it is back (reconnecting in the background)");
    } else if (px->cfg.store && bt_anthropic_set_correlation_store(px->anthropic, px->cfg.store) != BT_OK) {
        px_log("batch correlation kept in memory only: cannot use %s", px->cfg.store);
    }
    return 0;
}

/* The last line of the log: what became of the spans. */
static void log_stopped(px_gateway *px, int flushed)
{
    bt_tracer_stats st;
    memset(&st, 0, sizeof st);
    char where[1024] = "";
    if (px->tracer && bt_tracer_is_enabled(px->tracer)) {
        bt_tracer_get_stats(px->tracer, &st);
        bt_tracer_describe_export(px->tracer, where, sizeof where);
    }
    char spans[2048];
    if (!where[0]) {
        snprintf(spans, sizeof spans, "tracing was off");
    } else {
        int n = snprintf(spans, sizeof spans, "spans: %llu ended, %llu reached %s",
                         (unsigned long long)st.spans_ended, (unsigned long long)st.spans_exported, where);
        if (st.send_requests || st.spans_spooled)
            n += snprintf(spans + n, sizeof spans - (size_t)n, "; %llu sent",
                          (unsigned long long)st.spans_sent);
        if (st.spans_spooled)
            n += snprintf(spans + n, sizeof spans - (size_t)n,
                          ", %llu still unsent in the store (sent when the proxy next starts on it)",
                          (unsigned long long)st.spans_spooled);
        if (st.spans_rejected)
            n += snprintf(spans + n, sizeof spans - (size_t)n, ", %llu rejected by the receiver",
                          (unsigned long long)st.spans_rejected);
        n += snprintf(spans + n, sizeof spans - (size_t)n, "; %llu dropped",
                      (unsigned long long)st.spans_dropped);
        if (flushed == BT_ETIMEDOUT)
            n += snprintf(spans + n, sizeof spans - (size_t)n,
                          "; %llu still queued were lost (flush timed out)",
                          (unsigned long long)st.queue_length);
        if (st.send_failures && st.last_send_error[0])
            snprintf(spans + n, sizeof spans - (size_t)n, " (%llu failed send request(s); last: %s)",
                     (unsigned long long)st.send_failures, st.last_send_error);
    }
    px_metrics m;
    hs_stats hs;
    px_gateway_totals(px, &m, &hs);
    px_log("stopped: %llu request(s); %s", (unsigned long long)m.requests, spans);
}

static void on_sweep(uv_timer_t *t)
{
    px_gateway *gw = t->data;
    bt_anthropic_tick(gw->anthropic); /* roots of agent sessions gone idle */
    px_release_memory_when_idle(gw);
}

static void close_main_handles(px_gateway *gw)
{
    uv_close((uv_handle_t *)&gw->sweep, NULL);
    uv_close((uv_handle_t *)&gw->sigterm, NULL);
    uv_close((uv_handle_t *)&gw->sigint, NULL);
    uv_close((uv_handle_t *)&gw->shutdown_timer, NULL);
    uv_close((uv_handle_t *)&gw->worker_exited, NULL);
}

/* Cuts what is still in flight on every worker, saying why in each span and
 * access-log line. */
static void cut_connections(px_gateway *gw, const char *why)
{
    px_metrics m;
    hs_stats st;
    px_gateway_totals(gw, &m, &st);
    px_log("shutdown: %s, cutting %llu connection(s)", why, (unsigned long long)st.connections_active);
    char reason[160];
    snprintf(reason, sizeof reason, "cut by the proxy at shutdown (%s)", why);
    px_workers_command(gw, PX_CMD_CUT, reason);
}

static void on_grace_over(uv_timer_t *t)
{
    px_gateway *gw = t->data;
    char why[64];
    snprintf(why, sizeof why, "the %d s grace period ended", gw->cfg.shutdown_grace_ms / 1000);
    cut_connections(gw, why);
}

/* Stops accepting on every worker and lets in-flight requests finish for the grace
 * period (less the drain delay already spent, so the exit stays within 15 s of the
 * signal). */
static void begin_shutdown(px_gateway *gw, const char *why)
{
    gw->shutting_down = 1;
    int grace_ms = gw->cfg.shutdown_grace_ms;
    int spent_ms = (int)((px_now_ns() - gw->shutdown_start_ns) / 1000000);
    if (grace_ms > 13000 - spent_ms)
        grace_ms = spent_ms < 13000 ? 13000 - spent_ms : 0;
    px_metrics m;
    hs_stats st;
    px_gateway_totals(gw, &m, &st);
    px_log("shutdown: %s, finishing %llu request(s) for up to %d s (a second signal cuts them now)", why,
           (unsigned long long)m.requests_active, grace_ms / 1000);
    px_workers_command(gw, PX_CMD_DRAIN, NULL); /* each stops once its last connection closed */
    uv_timer_start(&gw->shutdown_timer, on_grace_over, (uint64_t)grace_ms, 0);
}

static void on_drain_delay_over(uv_timer_t *t)
{
    begin_shutdown(t->data, "drain delay over");
}

/* The first signal starts the drain: /readyz answers 503 at once on every worker; after
 * --drain-delay (still serving meanwhile) the workers stop accepting. A second signal
 * skips the delay, a signal during the grace period cuts what is in flight. */
static void on_signal(uv_signal_t *s, int signum)
{
    px_gateway *gw = s->data;
    if (gw->shutting_down) {
        uv_timer_stop(&gw->shutdown_timer);
        cut_connections(gw, "a second signal");
        return;
    }
    char why[48];
    snprintf(why, sizeof why, "signal %d", signum);
    if (__atomic_load_n(&gw->draining, __ATOMIC_ACQUIRE)) {
        uv_timer_stop(&gw->shutdown_timer);
        begin_shutdown(gw, why);
        return;
    }
    __atomic_store_n(&gw->draining, 1, __ATOMIC_RELEASE);
    gw->shutdown_start_ns = px_now_ns();
    if (gw->cfg.drain_delay_ms > 0) {
        px_log("shutdown: signal %d, draining: /readyz answers 503, still serving for %d s", signum,
               gw->cfg.drain_delay_ms / 1000);
        uv_timer_start(&gw->shutdown_timer, on_drain_delay_over, (uint64_t)gw->cfg.drain_delay_ms, 0);
        return;
    }
    begin_shutdown(gw, why);
}

/* A worker finished: once all have, the main loop ends too. */
static void on_worker_exited(uv_async_t *h)
{
    px_gateway *gw = h->data;
    int left = 0;
    for (int i = 0; i < gw->n_workers; i++)
        left += !__atomic_load_n(&gw->workers[i].exited, __ATOMIC_ACQUIRE);
    gw->workers_left = left;
    if (left == 0)
        uv_stop(gw->loop);
}

/* Client and upstream connections each need a file descriptor: raise the soft limit to
 * the hard one, and lower the connection limits the operator did not set when even
 * that cannot hold them (an explicit limit that cannot be met is said once). */
static void fit_descriptor_limit(px_config *cfg)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    const rlim_t reserve = 256; /* listeners, the store, logs, the exporter's connections */
    rlim_t want = (rlim_t)cfg->max_connections + (rlim_t)cfg->max_upstream_connections + reserve;
    if (rl.rlim_cur == RLIM_INFINITY || want <= rl.rlim_cur)
        return;
    rlim_t room = rl.rlim_cur > reserve * 2 ? rl.rlim_cur - reserve : rl.rlim_cur / 2;
    if (!cfg->explicit_connection_limit && !cfg->explicit_upstream_limit) {
        cfg->max_connections = (int)(room / 2);
        cfg->max_upstream_connections = (int)(room - room / 2);
    } else if (!cfg->explicit_connection_limit) {
        rlim_t left = room > (rlim_t)cfg->max_upstream_connections
            ? room - (rlim_t)cfg->max_upstream_connections
            : room / 2;
        cfg->max_connections = (int)left;
    } else if (!cfg->explicit_upstream_limit) {
        rlim_t left = room > (rlim_t)cfg->max_connections ? room - (rlim_t)cfg->max_connections : room / 2;
        cfg->max_upstream_connections = (int)left;
    }
    if (cfg->max_connections < 1)
        cfg->max_connections = 1;
    if (cfg->max_upstream_connections < 1)
        cfg->max_upstream_connections = 1;
    px_log("file descriptor limit %llu: serving at most %d client and %d upstream connections%s (raise "
           "ulimit -n for more)",
           (unsigned long long)rl.rlim_cur, cfg->max_connections, cfg->max_upstream_connections,
           cfg->explicit_connection_limit && cfg->explicit_upstream_limit
               ? ", as asked, which it may not hold"
               : "");
}

int main(int argc, char **argv)
{
    static px_gateway gw;
    int rc = px_config_parse(&gw.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    /* Streaming allocates and frees a buffer per chunk; without this glibc keeps
     * returning the heap top to the kernel and faulting it back in. */
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    if (gw.cfg.workers <= 0)
        gw.cfg.workers = px_default_workers();
    gw.n_workers = gw.cfg.workers;
    fit_descriptor_limit(&gw.cfg);
    gw.loop = uv_default_loop();
    int setup = setup_tracer(&gw);
    if (setup != 0 || px_workers_start(&gw) != 0) {
        /* no worker thread runs: workers_start fails before starting any, or not at all */
        bt_anthropic_free(gw.anthropic);
        bt_tracer_free(gw.tracer);
        curl_global_cleanup();
        return setup == -2 ? 2 : 1;
    }
    printf("listening on http://%s\n", gw.listen_addr);
    fflush(stdout);
    px_log("forwarding to %s with %d worker(s)%s", gw.cfg.upstream, gw.n_workers,
           gw.cfg.token ? " (proxy token required)" : "");
    uv_signal_init(gw.loop, &gw.sigterm);
    uv_signal_init(gw.loop, &gw.sigint);
    gw.sigterm.data = gw.sigint.data = &gw;
    uv_signal_start(&gw.sigterm, on_signal, SIGTERM);
    uv_signal_start(&gw.sigint, on_signal, SIGINT);
    uv_timer_init(gw.loop, &gw.shutdown_timer);
    gw.shutdown_timer.data = &gw;
    uv_timer_init(gw.loop, &gw.sweep);
    gw.sweep.data = &gw;
    uv_timer_start(&gw.sweep, on_sweep, 1000, 1000);
    uv_async_init(gw.loop, &gw.worker_exited, on_worker_exited);
    gw.worker_exited.data = &gw;

    uv_run(gw.loop, UV_RUN_DEFAULT);

    /* Every worker drained (or was cut) after a signal: release the rest. */
    px_workers_join(&gw);
    close_main_handles(&gw);
    uv_run(gw.loop, UV_RUN_DEFAULT);
    uv_loop_close(gw.loop);

    bt_anthropic_free(gw.anthropic);
    /* The contract is an exit within 15 s of the signal: spend what the grace period
     * left on flushing (at least a second). */
    int budget_ms = 14000;
    if (gw.shutdown_start_ns)
        budget_ms -= (int)((px_now_ns() - gw.shutdown_start_ns) / 1000000);
    if (budget_ms < 1000)
        budget_ms = 1000;
    int flushed = BT_OK;
    if (gw.tracer && bt_tracer_is_enabled(gw.tracer))
        flushed = bt_tracer_flush(gw.tracer, budget_ms);
    if (flushed == BT_ETIMEDOUT) {
        /* An exporter still retrying would hold bt_tracer_free() past the deadline;
         * spans committed to --store stay spooled and are shipped on the next start. */
        log_stopped(&gw, flushed);
        fflush(stderr);
        _exit(0);
    }
    log_stopped(&gw, flushed);
    free(gw.workers);
    bt_tracer_free(gw.tracer);
    curl_global_cleanup();
    return 0;
}
