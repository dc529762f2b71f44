/* bt-proxy: configuration, tracer setup, the event loop and graceful shutdown. */
#include <malloc.h>
#include <signal.h>
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

static void log_to_stderr(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    static const char *names[] = {"debug", "info", "warn", "error"};
    px_log("tracer %s: %s", names[level <= BT_LOG_ERROR ? level : BT_LOG_ERROR], msg);
}

/* Sinks: --spans-jsonl adds a JSONL file; --store adds the SQLite store, which spools
 * for OTLP when OTLP or a Braintrust key is configured. Without flags the library
 * chooses its default sink. */
static int setup_tracer(px_proxy *px)
{
    if (bt_tracer_new(&px->tracer) != BT_OK)
        return -1;
    bt_tracer *t = px->tracer;
    bt_tracer_set_logger(t, log_to_stderr, NULL);
    bt_tracer_set_service_name(t, "bt-proxy");
    /* A bad value is logged and disables tracing only. */
    int env_ok = bt_tracer_configure_from_env(t) == BT_OK;
    if (env_ok) {
        /* Adding any sink replaces the library's default choice, so the OTLP export the
         * environment asks for is built here, exactly as the default would be (the
         * Braintrust key goes only to the Braintrust API URL). */
        bt_sink *otlp = NULL;
        if ((px->cfg.store || px->cfg.spans_jsonl) && bt_sink_otlp_from_tracer(t, &otlp) != BT_OK)
            otlp = NULL;
        bt_sink *s = NULL;
        if (px->cfg.store) {
            if (bt_sink_store_new(px->cfg.store, otlp, &s) != BT_OK) {
                fprintf(stderr, "bt-proxy: cannot open the span store %s\n", px->cfg.store);
                return -1;
            }
            bt_tracer_add_sink(t, s);
        } else if (otlp) {
            bt_tracer_add_sink(t, otlp);
        }
        if (px->cfg.spans_jsonl) {
            if (bt_sink_jsonl_new(px->cfg.spans_jsonl, &s) != BT_OK) {
                fprintf(stderr, "bt-proxy: cannot open %s\n", px->cfg.spans_jsonl);
                return -1;
            }
            bt_tracer_add_sink(t, s);
        }
    }
    int rc = bt_tracer_start(t);
    if (rc != BT_OK) {
        px_log("tracing disabled (%s); requests are still forwarded", bt_strerror(rc));
        return 0;
    }
    if (bt_anthropic_new(t, &px->anthropic) != BT_OK)
        return -1;
    if (px->cfg.store && bt_anthropic_set_correlation_store(px->anthropic, px->cfg.store) != BT_OK)
        px_log("batch correlation kept in memory only: cannot use %s", px->cfg.store);
    return 0;
}

static void on_sweep(uv_timer_t *t)
{
    px_proxy *px = t->data;
    px_check_idle_transfers(px, px_now_ns());
    px_release_memory_when_idle(px);
}

static void close_loop_handles(px_proxy *px)
{
    uv_close((uv_handle_t *)&px->sweep, NULL);
    uv_close((uv_handle_t *)&px->sigterm, NULL);
    uv_close((uv_handle_t *)&px->sigint, NULL);
    uv_close((uv_handle_t *)&px->shutdown_timer, NULL);
    px_server_close(px);
}

static void on_grace_over(uv_timer_t *t)
{
    px_proxy *px = t->data;
    hs_stats st;
    hs_server_stats(px->server, &st);
    px_log("shutdown: grace period over, cutting %llu connection(s)",
           (unsigned long long)st.connections_active);
    px_server_cut(px);
}

static void on_signal(uv_signal_t *s, int signum)
{
    px_proxy *px = s->data;
    if (px->shutting_down) {
        on_grace_over(&px->shutdown_timer); /* a second signal: stop waiting */
        return;
    }
    px->shutting_down = 1;
    px->shutdown_start_ns = px_now_ns();
    px_log("shutdown: signal %d, finishing %llu request(s)", signum,
           (unsigned long long)px->m.requests_active);
    px_server_drain(px); /* uv_stop once the last connection closed */
    uv_timer_start(&px->shutdown_timer, on_grace_over, (uint64_t)px->cfg.shutdown_grace_ms, 0);
}

int main(int argc, char **argv)
{
    static px_proxy px;
    int rc = px_config_parse(&px.cfg, argc, argv);
    if (rc != 0)
        return rc > 0 ? 0 : 2;
    signal(SIGPIPE, SIG_IGN);
    /* Streaming allocates and frees a buffer per chunk; without this glibc keeps
     * returning the heap top to the kernel and faulting it back in. */
    mallopt(M_TRIM_THRESHOLD, 32 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    px.loop = uv_default_loop();
    if (setup_tracer(&px) != 0 || px_upstream_init(&px) != 0 || px_listen(&px) != 0) {
        bt_anthropic_free(px.anthropic);
        bt_tracer_free(px.tracer);
        curl_global_cleanup();
        return 1;
    }
    px_log("forwarding to %s%s", px.cfg.upstream, px.cfg.token ? " (proxy token required)" : "");
    uv_signal_init(px.loop, &px.sigterm);
    uv_signal_init(px.loop, &px.sigint);
    px.sigterm.data = px.sigint.data = &px;
    uv_signal_start(&px.sigterm, on_signal, SIGTERM);
    uv_signal_start(&px.sigint, on_signal, SIGINT);
    uv_timer_init(px.loop, &px.shutdown_timer);
    px.shutdown_timer.data = &px;
    uv_timer_init(px.loop, &px.sweep);
    px.sweep.data = &px;
    uv_timer_start(&px.sweep, on_sweep, 1000, 1000);
    uv_unref((uv_handle_t *)&px.sweep);

    uv_run(px.loop, UV_RUN_DEFAULT);

    /* Stopped after a signal once the last connection closed: release the rest. */
    close_loop_handles(&px);
    px_upstream_close(&px);
    uv_run(px.loop, UV_RUN_DEFAULT);
    uv_loop_close(px.loop);

    bt_anthropic_free(px.anthropic);
    /* The contract is an exit within 15 s of the signal: spend what the grace period
     * left on flushing (at least a second). */
    int budget_ms = 14000;
    if (px.shutdown_start_ns)
        budget_ms -= (int)((px_now_ns() - px.shutdown_start_ns) / 1000000);
    if (budget_ms < 1000)
        budget_ms = 1000;
    int flushed = BT_OK;
    if (px.tracer && bt_tracer_is_enabled(px.tracer))
        flushed = bt_tracer_flush(px.tracer, budget_ms);
    if (flushed == BT_ETIMEDOUT) {
        /* An exporter still retrying would hold bt_tracer_free() past the deadline;
         * spans written to --store stay spooled and are shipped on the next start. */
        px_log("stopped: span export did not finish in time; exiting without waiting");
        fflush(stderr);
        _exit(0);
    }
    bt_tracer_stats st = {0};
    if (px.tracer)
        bt_tracer_get_stats(px.tracer, &st);
    bt_tracer_free(px.tracer);
    curl_global_cleanup();
    px_log("stopped: %llu request(s), %llu span(s) exported, %llu dropped%s",
           (unsigned long long)px.m.requests, (unsigned long long)st.spans_exported,
           (unsigned long long)st.spans_dropped, flushed == BT_OK ? "" : " (flush incomplete)");
    return 0;
}
