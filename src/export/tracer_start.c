/*
 * bt_tracer_start() (declared in braintrust/sink.h): picks the default sink when the
 * application added none, then starts the processor. It belongs to the export layer
 * because choosing a sink needs the sink constructors, which the core must not depend
 * on; it reads the tracer's export settings (core/tracer_internal.h) as they are stored.
 *
 * Default, in order: an OTLP endpoint (OTEL_EXPORTER_OTLP_[TRACES_]ENDPOINT) -> OTLP
 * there, with the OTEL headers; a Braintrust API key -> OTLP to
 * {api_url}/otel/v1/traces with the key as Bearer token and the parent as x-bt-parent,
 * span attachments uploaded through {api_url}'s attachment API;
 * otherwise the local SQLite store, at the configured store path or its default
 * per-user location (bt_store_default_path); the console only when no store can be
 * opened there.
 *
 * The API key is only ever sent to the Braintrust API URL: an arbitrary OTLP endpoint
 * gets only the headers configured for it.
 */
#include <stdlib.h>
#include <string.h>

#include "braintrust/sink.h"
#include "core/tracer_internal.h"
#include "export/store.h"

/* base + suffix, without doubling the '/' between them. */
static char *join_url(const char *base, const char *suffix)
{
    size_t blen = strlen(base);
    while (blen && base[blen - 1] == '/')
        blen--;
    size_t slen = strlen(suffix);
    char *url = malloc(blen + slen + 1);
    if (!url)
        return NULL;
    memcpy(url, base, blen);
    memcpy(url + blen, suffix, slen + 1);
    return url;
}

/* The OTLP sink the configuration asks for; BT_ENOTFOUND when it asks for none.
 * *what names the configuration it came from, for logs. */
static int otlp_sink_from_settings(const bt__export_settings *cfg, size_t max_request_bytes, bt_sink **out,
                                   const char **what)
{
    bt_otlp_options o;
    memset(&o, 0, sizeof o);
    o.protocol = cfg->protocol;
    o.gzip = cfg->gzip;
    o.timeout_ms = cfg->timeout_ms;
    o.max_request_bytes = max_request_bytes;
    o.braintrust_parent = cfg->parent;
    char *url;
    if (cfg->otlp_traces_endpoint) {
        *what = "the OTLP traces endpoint (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)";
        url = strdup(cfg->otlp_traces_endpoint);
        o.headers = cfg->otlp_headers;
    } else if (cfg->otlp_endpoint) {
        *what = "the OTLP endpoint (OTEL_EXPORTER_OTLP_ENDPOINT)";
        url = join_url(cfg->otlp_endpoint, "/v1/traces");
        o.headers = cfg->otlp_headers;
    } else if (cfg->api_key) {
        *what = "the Braintrust API URL (BRAINTRUST_API_URL)";
        url = join_url(cfg->api_url ? cfg->api_url : BT__DEFAULT_API_URL, "/otel/v1/traces");
        o.bearer_token = cfg->api_key;
        o.attachments_api_url = cfg->api_url ? cfg->api_url : BT__DEFAULT_API_URL;
    } else {
        return BT_ENOTFOUND;
    }
    if (!url)
        return BT_ENOMEM;
    o.traces_url = url;
    int rc = bt_sink_otlp_new(&o, out);
    free(url);
    return rc;
}

int bt_sink_otlp_from_tracer(bt_tracer *t, bt_sink **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    if (!t)
        return BT_EINVAL;
    const char *what = "";
    int rc =
        otlp_sink_from_settings(bt__tracer_export_settings(t), bt__tracer_max_request_bytes(t), out, &what);
    if (rc != BT_OK && rc != BT_ENOTFOUND)
        bt_tracer_log(t, BT_LOG_ERROR, "could not set up OTLP export to %s: %s", what,
                      rc == BT_EINVAL ? "invalid URL or header value" : bt_strerror(rc));
    return rc;
}

/* Builds the default sink. *what names the configuration it came from, for logs. */
static int default_sink(const bt_tracer *t, bt_sink **out, const char **what)
{
    const bt__export_settings *cfg = bt__tracer_export_settings(t);
    int rc = otlp_sink_from_settings(cfg, bt__tracer_max_request_bytes(t), out, what);
    if (rc != BT_ENOTFOUND)
        return rc;
    if (cfg->store_path) {
        *what = "the span store (BT_STORE_PATH)";
        return bt_sink_store_new(cfg->store_path, NULL, out);
    }
    char path[4096];
    if (bt_store_default_path(path, sizeof path) == BT_OK && bt__store_make_parent_dirs(path) == BT_OK &&
        bt_sink_store_new(path, NULL, out) == BT_OK) {
        *what = "the local span store (its default location)";
        return BT_OK;
    }
    *what = "the console (no local span store could be opened)";
    return bt_sink_console_new(out);
}

int bt_tracer_start(bt_tracer *t)
{
    if (!t)
        return BT_EINVAL;
    if (bt_tracer_is_enabled(t) && bt__tracer_sink_count(t) == 0) {
        bt_sink *sink = NULL;
        const char *what = "";
        int rc = default_sink(t, &sink, &what);
        if (rc == BT_OK) {
            rc = bt_tracer_add_sink(t, sink); /* takes ownership, also on failure */
            if (rc != BT_OK)
                bt_tracer_log(t, BT_LOG_ERROR, "tracing disabled: could not add the sink for %s: %s", what,
                              bt_strerror(rc));
        } else {
            bt_tracer_log(t, BT_LOG_ERROR, "tracing disabled: could not set up export to %s: %s", what,
                          rc == BT_EINVAL ? "invalid URL or header value" : bt_strerror(rc));
        }
        if (rc != BT_OK) {
            bt__tracer_disable(t);
            return BT_EDISABLED;
        }
        bt_tracer_log(t, BT_LOG_DEBUG, "chose the default sink for %s", what);
    }
    int rc = bt__tracer_run(t);
    if (rc == BT_OK) {
        char where[1024];
        if (bt_tracer_describe_export(t, where, sizeof where) == BT_OK)
            bt_tracer_log(t, BT_LOG_INFO, "braintrust: spans go to %s", where);
    }
    return rc;
}
