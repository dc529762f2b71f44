/* bt-spans send: re-export stored spans to the OTLP endpoint configured in the
 * environment, the same one a traced program would use, marking them sent. */
#include <stdio.h>
#include <unistd.h>

#include "braintrust/braintrust.h"
#include "bt_spans.h"
#include "export/store.h"

#define SEND_BATCH 512

static void log_stderr(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "bt-spans: %s%s\n", level >= BT_LOG_ERROR ? "error: " : "", msg);
}

static void progress(void *ud, uint64_t shipped, uint64_t total)
{
    (void)ud;
    /* Only worth a line when there is more than one batch. */
    if (total > SEND_BATCH)
        fprintf(stderr, "bt-spans: sent %llu of %llu spans\n", (unsigned long long)shipped,
                (unsigned long long)total);
}

int bts_send(const bts_options *o)
{
    bt_tracer *t = NULL;
    if (bt_tracer_new(&t) != BT_OK)
        return BTS_EXIT_FAIL;
    bt_tracer_set_logger(t, log_stderr, NULL);
    bt_tracer_set_log_level(t, BT_LOG_WARN);
    bt_sink *otlp = NULL;
    int rc = bt_tracer_configure_from_env(t);
    if (rc == BT_OK)
        rc = bt_sink_otlp_from_tracer(t, &otlp);
    bt_tracer_free(t);
    if (rc == BT_ENOTFOUND) {
        fprintf(stderr,
                "bt-spans: nowhere to send: set OTEL_EXPORTER_OTLP_ENDPOINT (or "
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT), or BRAINTRUST_API_KEY\n");
        return BTS_EXIT_FAIL;
    }
    if (rc != BT_OK) {
        fprintf(stderr, "bt-spans: bad export configuration: %s\n", bt_strerror(rc));
        return BTS_EXIT_FAIL;
    }
    otlp->log = log_stderr;
    otlp->log_level = BT_LOG_WARN;
    sqlite3 *db = bts_open(o, 1);
    if (!db) {
        bt_sink_free(otlp);
        return BTS_EXIT_FAIL;
    }
    bt__store_ship_result r;
    rc = bt__store_ship(db, otlp, o->all, SEND_BATCH, 0, progress, NULL, &r);
    if (otlp->vt->shutdown)
        otlp->vt->shutdown(otlp);
    bt_sink_free(otlp);
    sqlite3_close(db);
    fprintf(stderr, "bt-spans: sent %llu spans; %llu still unsent", (unsigned long long)r.shipped,
            (unsigned long long)r.pending);
    if (r.undeliverable)
        fprintf(stderr, "; %llu unreadable lines set aside", (unsigned long long)r.undeliverable);
    fputc('\n', stderr);
    if (rc != BT_OK) {
        fprintf(stderr, "bt-spans: send failed: %s\n", bt_strerror(rc));
        return BTS_EXIT_FAIL;
    }
    return BTS_EXIT_OK;
}
