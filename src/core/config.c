/*
 * Configuration: the setters and bt_tracer_configure_from_env(). A bad value never
 * crashes or exits: it is logged once, naming the setting or variable and its value
 * (never a value that may be a secret), and the tracer is disabled.
 */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/tracer_impl.h"
#include "util/text.h"

/* ---- value checks ---------------------------------------------------------------- */

static int has_ctl(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || *s == 0x7f)
            return 1;
    return 0;
}

int bt__valid_http_url(const char *url)
{
    if (!url || has_ctl(url) || strchr(url, ' '))
        return 0;
    const char *p;
    if (strncasecmp(url, "http://", 7) == 0)
        p = url + 7;
    else if (strncasecmp(url, "https://", 8) == 0)
        p = url + 8;
    else
        return 0;
    size_t auth = strcspn(p, "/?#");
    if (auth == 0)
        return 0;
    /* host[:port], possibly after userinfo@ and possibly an [IPv6] literal */
    const char *host = p, *end = p + auth;
    const char *at = memchr(p, '@', auth);
    if (at)
        host = at + 1;
    if (host == end)
        return 0;
    const char *port = NULL;
    if (*host == '[') {
        const char *close = memchr(host, ']', (size_t)(end - host));
        if (!close || close == host + 1)
            return 0;
        if (close + 1 < end) {
            if (close[1] != ':')
                return 0;
            port = close + 2;
        }
    } else {
        const char *colon = memchr(host, ':', (size_t)(end - host));
        if (colon == host)
            return 0;
        if (colon)
            port = colon + 1;
    }
    if (port) {
        if (port == end || end - port > 5)
            return 0;
        long v = 0;
        for (const char *q = port; q < end; q++) {
            if (!isdigit((unsigned char)*q))
                return 0;
            v = v * 10 + (*q - '0');
        }
        if (v < 1 || v > 65535)
            return 0;
    }
    return 1;
}

int bt__valid_parent(const char *parent)
{
    static const char *const prefixes[] = {"project_name:", "project_id:", "experiment_id:"};
    if (!parent || has_ctl(parent))
        return 0;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        size_t n = strlen(prefixes[i]);
        if (strncmp(parent, prefixes[i], n) == 0)
            return parent[n] != '\0';
    }
    return 0;
}

static int is_ows(char c)
{
    return c == ' ' || c == '\t';
}

static int add_kv_attr(void *ud, const char *key, const char *value, size_t value_len)
{
    long d = 0;
    return ud ? bt__attrs_set_string(ud, key, value, value_len, 0, &d) : BT_OK;
}

int bt__parse_kv_list(const char *list, bt__attrs *out)
{
    return bt__kv_list_parse(list, add_kv_attr, out);
}

/* ---- setters ----------------------------------------------------------------------- */

/* Logs a configuration error and disables the tracer. `what` names the setter or the
 * environment variable; values are never included (they may be secrets). */
static int config_error(bt_tracer *t, const char *what, const char *why)
{
    bt_tracer_log(t, BT_LOG_ERROR, "braintrust: invalid %s: %s; tracing is disabled", what, why);
    t->disabled = 1;
    return BT_EINVAL;
}

/* A bad environment variable: its name, its value and why, so the operator can fix it
 * from one log line. Never a secret: the values of keys and header lists are withheld,
 * and a URL's user information and query are shown as "***". Control characters,
 * quotes and backslashes are escaped; long values are cut. */
static int env_error(bt_tracer *t, const char *var, const char *value, const char *why)
{
    int secret = strstr(var, "KEY") || strstr(var, "HEADERS");
    int url = strstr(var, "URL") || strstr(var, "ENDPOINT");
    if (secret) {
        bt_tracer_log(t, BT_LOG_ERROR, "braintrust: invalid %s (value withheld): %s; tracing is disabled",
                      var, why);
        t->disabled = 1;
        return BT_EINVAL;
    }
    const char *scheme_end = url ? strstr(value, "://") : NULL;
    const char *auth = scheme_end ? scheme_end + 3 : value;
    const char *at = NULL; /* the '@' ending user information in the authority */
    for (const char *p = auth; url && *p && *p != '/' && *p != '?' && *p != '#'; p++)
        if (*p == '@')
            at = p;
    char shown[160];
    size_t n = 0;
    int cut = 0;
    for (const char *p = value; *p; p++) {
        if (n + 6 >= sizeof shown) {
            cut = 1;
            break;
        }
        if (at && p == auth) {
            n += (size_t)snprintf(shown + n, sizeof shown - n, "***");
            p = at; /* the '@' itself is copied next round */
            shown[n++] = '@';
            continue;
        }
        if (url && (*p == '?' || *p == '#')) {
            n += (size_t)snprintf(shown + n, sizeof shown - n, "%c***", *p);
            break;
        }
        unsigned char c = (unsigned char)*p;
        if (c < 0x20 || c == 0x7f || c == '"' || c == '\\')
            n += (size_t)snprintf(shown + n, sizeof shown - n, "\\x%02x", c);
        else
            shown[n++] = (char)c;
    }
    shown[n] = '\0';
    bt_tracer_log(t, BT_LOG_ERROR, "braintrust: invalid %s=\"%s%s\": %s; tracing is disabled", var, shown,
                  cut ? "..." : "", why);
    t->disabled = 1;
    return BT_EINVAL;
}

static int replace_str(char **slot, const char *value)
{
    char *copy = NULL;
    if (value && *value) {
        copy = strdup(value);
        if (!copy)
            return BT_ENOMEM;
    }
    free(*slot);
    *slot = copy;
    return BT_OK;
}

typedef enum {
    S_API_KEY,
    S_API_URL,
    S_PARENT,
    S_OTLP_ENDPOINT,
    S_OTLP_TRACES_ENDPOINT,
    S_OTLP_HEADERS,
    S_SERVICE_NAME,
    S_RESOURCE_ATTRIBUTES,
    S_STORE_PATH
} string_setting;

/* Validates and stores a string setting. NULL or "" clears it. On a bad value returns
 * BT_EINVAL with *why set. */
static int apply_string(bt_tracer *t, string_setting which, const char *v, const char **why)
{
    int set = v && *v;
    char **slot = NULL;
    switch (which) {
    case S_API_KEY:
        if (set && has_ctl(v))
            return *why = "contains control characters", BT_EINVAL;
        slot = &t->exp.api_key;
        break;
    case S_API_URL:
        if (set && !bt__valid_http_url(v))
            return *why = "not an http(s) URL with a host", BT_EINVAL;
        slot = &t->exp.api_url;
        break;
    case S_PARENT:
        if (set && !bt__valid_parent(v))
            return *why = "expected project_name:<name>, project_id:<id> or experiment_id:<id>", BT_EINVAL;
        slot = &t->exp.parent;
        break;
    case S_OTLP_ENDPOINT:
    case S_OTLP_TRACES_ENDPOINT:
        if (set && !bt__valid_http_url(v))
            return *why = "not an http(s) URL with a host", BT_EINVAL;
        slot = which == S_OTLP_ENDPOINT ? &t->exp.otlp_endpoint : &t->exp.otlp_traces_endpoint;
        break;
    case S_OTLP_HEADERS:
    case S_RESOURCE_ATTRIBUTES: {
        /* The exporter reads the header list with this same parser, so a list accepted
         * here is never refused when the sink is built. */
        int rc = set ? bt__kv_list_parse(v, NULL, NULL) : BT_OK;
        if (rc == BT_ENOMEM)
            return BT_ENOMEM;
        if (rc)
            return *why = "expected a list key=value,key2=value2 (values percent-encoded)", BT_EINVAL;
        slot = which == S_OTLP_HEADERS ? &t->exp.otlp_headers : &t->resource_attributes;
        if (which == S_RESOURCE_ATTRIBUTES)
            t->resource_built = 0;
        break;
    }
    case S_SERVICE_NAME:
        if (set && has_ctl(v))
            return *why = "contains control characters", BT_EINVAL;
        slot = &t->service_name;
        t->resource_built = 0;
        break;
    case S_STORE_PATH:
        slot = &t->exp.store_path;
        break;
    }
    int rc = replace_str(slot, v);
    /* A trailing slash would double up when paths are appended to a base URL. */
    if (rc == BT_OK && *slot && (which == S_API_URL || which == S_OTLP_ENDPOINT)) {
        size_t n = strlen(*slot);
        while (n > 1 && (*slot)[n - 1] == '/' && (*slot)[n - 2] != '/')
            (*slot)[--n] = '\0';
    }
    return rc;
}

static int set_string(bt_tracer *t, const char *setter, string_setting which, const char *v)
{
    if (!t)
        return BT_EINVAL;
    if (atomic_load(&t->running))
        return BT_ESTATE;
    const char *why = NULL;
    int rc = apply_string(t, which, v, &why);
    if (rc == BT_EINVAL)
        return config_error(t, setter, why);
    return rc;
}

int bt_tracer_set_api_key(bt_tracer *t, const char *v)
{
    return set_string(t, "API key (bt_tracer_set_api_key)", S_API_KEY, v);
}

int bt_tracer_set_api_url(bt_tracer *t, const char *v)
{
    return set_string(t, "API URL (bt_tracer_set_api_url)", S_API_URL, v);
}

int bt_tracer_set_parent(bt_tracer *t, const char *v)
{
    return set_string(t, "parent (bt_tracer_set_parent)", S_PARENT, v);
}

int bt_tracer_set_otlp_endpoint(bt_tracer *t, const char *v)
{
    return set_string(t, "OTLP endpoint (bt_tracer_set_otlp_endpoint)", S_OTLP_ENDPOINT, v);
}

int bt_tracer_set_otlp_traces_endpoint(bt_tracer *t, const char *v)
{
    return set_string(t, "OTLP traces endpoint (bt_tracer_set_otlp_traces_endpoint)", S_OTLP_TRACES_ENDPOINT,
                      v);
}

int bt_tracer_set_otlp_headers(bt_tracer *t, const char *v)
{
    return set_string(t, "OTLP headers (bt_tracer_set_otlp_headers)", S_OTLP_HEADERS, v);
}

int bt_tracer_set_service_name(bt_tracer *t, const char *v)
{
    return set_string(t, "service name (bt_tracer_set_service_name)", S_SERVICE_NAME, v);
}

int bt_tracer_set_resource_attributes(bt_tracer *t, const char *v)
{
    return set_string(t, "resource attributes (bt_tracer_set_resource_attributes)", S_RESOURCE_ATTRIBUTES, v);
}

int bt_tracer_set_store_path(bt_tracer *t, const char *v)
{
    return set_string(t, "store path (bt_tracer_set_store_path)", S_STORE_PATH, v);
}

/* Checks common to the non-string setters. */
#define SETTER_GUARD(t)                 \
    do {                                \
        if (!(t))                       \
            return BT_EINVAL;           \
        if (atomic_load(&(t)->running)) \
            return BT_ESTATE;           \
    } while (0)

int bt_tracer_set_logger(bt_tracer *t, bt_log_fn fn, void *userdata)
{
    SETTER_GUARD(t);
    t->log_fn = fn;
    t->log_ud = userdata;
    return BT_OK;
}

int bt_tracer_set_log_level(bt_tracer *t, bt_log_level min_level)
{
    SETTER_GUARD(t);
    if (min_level < BT_LOG_DEBUG || min_level > BT_LOG_ERROR)
        return config_error(t, "log level (bt_tracer_set_log_level)", "out of range");
    t->log_level = min_level;
    return BT_OK;
}

int bt_tracer_set_clock(bt_tracer *t, bt_clock_fn fn, void *userdata)
{
    SETTER_GUARD(t);
    t->clock_fn = fn;
    t->clock_ud = userdata;
    return BT_OK;
}

int bt_tracer_set_otlp_protocol(bt_tracer *t, bt_otlp_protocol protocol)
{
    SETTER_GUARD(t);
    if (protocol != BT_OTLP_PROTOBUF && protocol != BT_OTLP_JSON)
        return config_error(t, "OTLP protocol (bt_tracer_set_otlp_protocol)", "unknown protocol");
    t->exp.protocol = protocol;
    return BT_OK;
}

int bt_tracer_set_otlp_compression(bt_tracer *t, int gzip)
{
    SETTER_GUARD(t);
    t->exp.gzip = gzip != 0;
    return BT_OK;
}

int bt_tracer_set_export_timeout_ms(bt_tracer *t, int timeout_ms)
{
    SETTER_GUARD(t);
    if (timeout_ms <= 0)
        return config_error(t, "export timeout (bt_tracer_set_export_timeout_ms)", "must be > 0");
    t->exp.timeout_ms = timeout_ms;
    return BT_OK;
}

int bt_tracer_set_batch_options(bt_tracer *t, int max_queue_size, int schedule_delay_ms,
                                int max_export_batch_size, int export_timeout_ms)
{
    SETTER_GUARD(t);
    const char *what = "batch options (bt_tracer_set_batch_options)";
    if (max_queue_size <= 0 || schedule_delay_ms <= 0 || max_export_batch_size <= 0 || export_timeout_ms <= 0)
        return config_error(t, what, "every value must be > 0");
    if (max_export_batch_size > max_queue_size)
        return config_error(t, what, "max_export_batch_size must not exceed max_queue_size");
    t->max_queue = max_queue_size;
    t->schedule_delay_ms = schedule_delay_ms;
    t->max_export_batch = max_export_batch_size;
    t->bsp_export_timeout_ms = export_timeout_ms;
    return BT_OK;
}

int bt_tracer_set_max_request_bytes(bt_tracer *t, size_t bytes)
{
    SETTER_GUARD(t);
    if (bytes < 1024)
        return config_error(t, "max request bytes (bt_tracer_set_max_request_bytes)", "must be >= 1024");
    t->max_request_bytes = bytes;
    return BT_OK;
}

int bt_tracer_set_max_attribute_bytes(bt_tracer *t, size_t bytes)
{
    SETTER_GUARD(t);
    if (bytes < 64)
        return config_error(t, "max attribute bytes (bt_tracer_set_max_attribute_bytes)", "must be >= 64");
    t->max_attribute_bytes = bytes;
    return BT_OK;
}

int bt_tracer_set_disabled(bt_tracer *t, int disabled)
{
    SETTER_GUARD(t);
    t->disabled = disabled != 0;
    return BT_OK;
}

/* ---- environment ------------------------------------------------------------------- */

/* The value of a variable, NULL when unset or empty (the OTel spec treats both alike). */
static const char *env(const char *name)
{
    const char *v = getenv(name);
    return v && *v ? v : NULL;
}

/* The signal-specific variable when set, else the generic one; *name gets the one used. */
static const char *env_pair(const char *traces_name, const char *generic_name, const char **name)
{
    const char *v = env(traces_name);
    *name = traces_name;
    if (!v) {
        v = env(generic_name);
        *name = generic_name;
    }
    return v;
}

/* Strict positive decimal integer that fits an int. */
static int parse_pos_int(const char *s, int *out)
{
    while (is_ows(*s))
        s++;
    if (!isdigit((unsigned char)*s))
        return -1;
    errno = 0;
    char *end;
    long v = strtol(s, &end, 10);
    while (is_ows(*end))
        end++;
    if (errno || *end || v <= 0 || v > INT_MAX)
        return -1;
    *out = (int)v;
    return 0;
}

static int trimmed_equals(const char *s, const char *word)
{
    while (is_ows(*s))
        s++;
    size_t n = strlen(s);
    while (n && is_ows(s[n - 1]))
        n--;
    return n == strlen(word) && strncasecmp(s, word, n) == 0;
}

int bt_tracer_configure_from_env(bt_tracer *t)
{
    if (!t)
        return BT_EINVAL;
    if (atomic_load(&t->running))
        return BT_ESTATE;
    int rc = BT_OK;
    const char *why = NULL;

    static const struct {
        const char *var;
        string_setting which;
    } strings[] = {
        {"BRAINTRUST_API_KEY", S_API_KEY},
        {"BRAINTRUST_API_URL", S_API_URL},
        {"BRAINTRUST_PARENT", S_PARENT},
        {"OTEL_EXPORTER_OTLP_ENDPOINT", S_OTLP_ENDPOINT},
        {"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", S_OTLP_TRACES_ENDPOINT},
        {"OTEL_SERVICE_NAME", S_SERVICE_NAME},
        {"OTEL_RESOURCE_ATTRIBUTES", S_RESOURCE_ATTRIBUTES},
        {"BT_STORE_PATH", S_STORE_PATH},
    };
    for (size_t i = 0; i < sizeof strings / sizeof *strings; i++) {
        const char *v = env(strings[i].var);
        if (!v)
            continue;
        int r = apply_string(t, strings[i].which, v, &why);
        if (r == BT_EINVAL)
            r = env_error(t, strings[i].var, v, why);
        if (r && rc == BT_OK)
            rc = r;
    }

    const char *name;
    const char *v = env_pair("OTEL_EXPORTER_OTLP_TRACES_HEADERS", "OTEL_EXPORTER_OTLP_HEADERS", &name);
    if (v) {
        int r = apply_string(t, S_OTLP_HEADERS, v, &why);
        if (r == BT_EINVAL)
            r = env_error(t, name, v, why);
        if (r && rc == BT_OK)
            rc = r;
    }

    v = env_pair("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL", &name);
    if (v) {
        if (trimmed_equals(v, "http/protobuf"))
            t->exp.protocol = BT_OTLP_PROTOBUF;
        else if (trimmed_equals(v, "http/json"))
            t->exp.protocol = BT_OTLP_JSON;
        else if (trimmed_equals(v, "grpc"))
            rc = env_error(t, name, v,
                           "grpc is not supported by this exporter; use http/protobuf or http/json");
        else
            rc = env_error(t, name, v, "expected http/protobuf or http/json");
    }

    v = env_pair("OTEL_EXPORTER_OTLP_TRACES_COMPRESSION", "OTEL_EXPORTER_OTLP_COMPRESSION", &name);
    if (v) {
        if (trimmed_equals(v, "gzip"))
            t->exp.gzip = 1;
        else if (trimmed_equals(v, "none"))
            t->exp.gzip = 0;
        else
            rc = env_error(t, name, v, "expected gzip or none");
    }

    v = env_pair("OTEL_EXPORTER_OTLP_TRACES_TIMEOUT", "OTEL_EXPORTER_OTLP_TIMEOUT", &name);
    int n;
    if (v) {
        if (parse_pos_int(v, &n) == 0)
            t->exp.timeout_ms = n;
        else
            rc = env_error(t, name, v, "expected a positive number of milliseconds");
    }

    static const struct {
        const char *var;
        size_t offset;
    } ints[] = {
        {"OTEL_BSP_SCHEDULE_DELAY", offsetof(bt_tracer, schedule_delay_ms)},
        {"OTEL_BSP_EXPORT_TIMEOUT", offsetof(bt_tracer, bsp_export_timeout_ms)},
        {"OTEL_BSP_MAX_QUEUE_SIZE", offsetof(bt_tracer, max_queue)},
        {"OTEL_BSP_MAX_EXPORT_BATCH_SIZE", offsetof(bt_tracer, max_export_batch)},
    };
    for (size_t i = 0; i < sizeof ints / sizeof *ints; i++) {
        v = env(ints[i].var);
        if (!v)
            continue;
        if (parse_pos_int(v, &n) == 0)
            *(int *)((char *)t + ints[i].offset) = n;
        else
            rc = env_error(t, ints[i].var, v, "expected a positive integer");
    }
    if (t->max_export_batch > t->max_queue)
        rc = config_error(t, "OTEL_BSP_MAX_EXPORT_BATCH_SIZE", "must not exceed OTEL_BSP_MAX_QUEUE_SIZE");

    v = env("OTEL_SDK_DISABLED");
    if (v) {
        if (trimmed_equals(v, "true"))
            t->disabled = 1;
        else if (!trimmed_equals(v, "false"))
            bt_tracer_log(t, BT_LOG_WARN,
                          "braintrust: OTEL_SDK_DISABLED should be true or false; treating it as false");
    }
    if (rc == BT_OK && t->disabled)
        bt_tracer_log(t, BT_LOG_INFO, "braintrust: tracing disabled by OTEL_SDK_DISABLED");
    return rc == BT_ENOMEM ? BT_ENOMEM : rc ? BT_EINVAL : BT_OK;
}
