/*
 * bt_anthropic: instrumentation settings shared by every exchange, and the batch
 * correlation store. Settings are plain fields read by exchanges on any thread; they
 * are meant to be set before traffic flows (as with the tracer's setters).
 */
#include <stdlib.h>
#include <string.h>

#include "anthropic/correlation.h"
#include "anthropic/exchange_internal.h"
#include "anthropic/server_address.h"
#include "anthropic/session.h"
#include "braintrust/anthropic.h"

#define BT__DEFAULT_BODY_LIMIT ((size_t)32 << 20)

struct bt_anthropic {
    bt_tracer *tracer;
    int genai;
    int lifecycle;
    bt_mask_fn mask;
    void *mask_ud;
    size_t body_limit;
    struct bt__correlation *corr;
    bt__server upstream; /* address "" when not set */
    int corr_wait_ms;    /* 0: the store's default */
    bt__sessions *sessions;
};

int bt_anthropic_new(bt_tracer *tracer, bt_anthropic **out)
{
    if (out)
        *out = NULL;
    if (!tracer || !out)
        return BT_EINVAL;
    bt_anthropic *a = calloc(1, sizeof *a);
    if (!a)
        return BT_ENOMEM;
    a->tracer = tracer;
    a->genai = 1;
    a->lifecycle = 1;
    a->body_limit = BT__DEFAULT_BODY_LIMIT;
    a->corr = bt__correlation_new(NULL, tracer);
    a->sessions = bt__sessions_new(a);
    if (!a->corr || !a->sessions) {
        bt__correlation_free(a->corr);
        bt__sessions_free(a->sessions);
        free(a);
        return BT_ENOMEM;
    }
    *out = a;
    return BT_OK;
}

void bt_anthropic_free(bt_anthropic *a)
{
    if (!a)
        return;
    bt_anthropic_close_sessions(a); /* every session's root, before the tracer flushes */
    bt__sessions_free(a->sessions);
    bt__correlation_free(a->corr);
    free(a);
}

int bt_anthropic_set_session_idle(bt_anthropic *a, int seconds)
{
    if (!a || seconds < 0)
        return BT_EINVAL;
    bt__sessions_set_idle(a->sessions, (uint64_t)seconds * 1000000000ull);
    return BT_OK;
}

size_t bt_anthropic_tick(bt_anthropic *a)
{
    if (!a)
        return 0;
    return bt__sessions_emit(a->sessions, bt_tracer_now(a->tracer), 0);
}

size_t bt_anthropic_close_sessions(bt_anthropic *a)
{
    if (!a)
        return 0;
    return bt__sessions_emit(a->sessions, bt_tracer_now(a->tracer), 1);
}

int bt_anthropic_set_genai_attributes(bt_anthropic *a, int on)
{
    if (!a)
        return BT_EINVAL;
    a->genai = on != 0;
    return BT_OK;
}

int bt_anthropic_set_lifecycle_spans(bt_anthropic *a, int on)
{
    if (!a)
        return BT_EINVAL;
    a->lifecycle = on != 0;
    return BT_OK;
}

int bt_anthropic_set_mask(bt_anthropic *a, bt_mask_fn fn, void *userdata)
{
    if (!a)
        return BT_EINVAL;
    a->mask = fn;
    a->mask_ud = userdata;
    return BT_OK;
}

int bt_anthropic_set_body_limit(bt_anthropic *a, size_t bytes)
{
    if (!a || bytes == 0)
        return BT_EINVAL;
    a->body_limit = bytes;
    return BT_OK;
}

int bt_anthropic_set_correlation_store(bt_anthropic *a, const char *sqlite_path)
{
    if (!a)
        return BT_EINVAL;
    struct bt__correlation *c = bt__correlation_new(sqlite_path, a->tracer);
    if (!c)
        return sqlite_path ? BT_EDB : BT_ENOMEM; /* the previous store stays in use */
    bt__correlation_free(a->corr);
    a->corr = c;
    return BT_OK;
}

int bt_anthropic_set_upstream(bt_anthropic *a, const char *url)
{
    if (!a)
        return BT_EINVAL;
    if (!url) {
        a->upstream.address[0] = '\0';
        a->upstream.port = 0;
        return BT_OK;
    }
    bt__server srv;
    int rc = strstr(url, "://") ? bt__server_from_url(&srv, url, 1)
                                : bt__server_from_authority(&srv, url, strlen(url));
    if (rc != 0)
        return BT_EINVAL;
    a->upstream = srv;
    return BT_OK;
}

const bt__server *bt__anthropic_upstream(const bt_anthropic *a)
{
    return a && a->upstream.address[0] ? &a->upstream : NULL;
}

int bt_anthropic_set_correlation_url(bt_anthropic *a, const char *url)
{
    if (!a || !url)
        return BT_EINVAL;
    int rc = BT_OK;
    struct bt__correlation *c = bt__correlation_new_url(url, a->tracer, &rc);
    if (!c)
        return rc; /* the previous store stays in use */
    bt__correlation_set_read_wait(c, a->corr_wait_ms);
    bt__correlation_free(a->corr);
    a->corr = c;
    return BT_OK;
}

int bt_anthropic_set_correlation_wait(bt_anthropic *a, int ms)
{
    if (!a || ms <= 0 || ms > 60000)
        return BT_EINVAL;
    a->corr_wait_ms = ms;
    bt__correlation_set_read_wait(a->corr, ms);
    return BT_OK;
}

int bt_anthropic_get_correlation_stats(bt_anthropic *a, bt_correlation_stats *out)
{
    if (!a || !out)
        return BT_EINVAL;
    bt__correlation_get_stats(a->corr, out);
    return BT_OK;
}

int bt__anthropic_genai_enabled(const bt_anthropic *a)
{
    return a && a->genai;
}
int bt__anthropic_lifecycle_enabled(const bt_anthropic *a)
{
    return a && a->lifecycle;
}
size_t bt__anthropic_body_limit(const bt_anthropic *a)
{
    return a ? a->body_limit : BT__DEFAULT_BODY_LIMIT;
}
bt_tracer *bt__anthropic_tracer(const bt_anthropic *a)
{
    return a ? a->tracer : NULL;
}
struct bt__correlation *bt__anthropic_correlation(bt_anthropic *a)
{
    return a ? a->corr : NULL;
}
struct bt__sessions *bt__anthropic_sessions(bt_anthropic *a)
{
    return a ? a->sessions : NULL;
}

int bt__anthropic_masks(const bt_anthropic *a)
{
    return a && a->mask;
}

const char *bt__anthropic_mask(const bt_anthropic *a, const char *field, const char *json, size_t len)
{
    if (!a || !a->mask || !json)
        return json;
    char *repl = a->mask(a->mask_ud, field, json, len);
    return repl ? repl : json;
}
