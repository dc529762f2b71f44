/*
 * The proxy's own endpoints, whatever HTTP front end serves them:
 *   GET /healthz  200 while the process is alive;
 *   GET /readyz   200, then 503 from the first stop signal (the drain), so load
 *                 balancers stop sending before the replica closes its listener
 *                 (the same answer on every worker: the state is the process's);
 *   GET /metrics  the Prometheus text format (metrics_prom.c), or the JSON document
 *                 (metrics.c) when the client accepts application/json.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "proxy.h"

static int path_is(const char *target, const char *path)
{
    size_t n = strlen(path);
    return !strncmp(target, path, n) && (target[n] == '\0' || target[n] == '?');
}

int px_is_local_endpoint(const char *target)
{
    return path_is(target, "/healthz") || path_is(target, "/readyz") || path_is(target, "/metrics");
}

int px_local_endpoint_needs_token(const char *target)
{
    return path_is(target, "/metrics");
}

static int accepts_json(const char *accept, size_t len)
{
    static const char json[] = "application/json";
    for (size_t i = 0; accept && i + sizeof json - 1 <= len; i++)
        if (!strncasecmp(accept + i, json, sizeof json - 1))
            return 1;
    return 0;
}

int px_draining(const px_proxy *px)
{
    return px->gw && __atomic_load_n(&px->gw->draining, __ATOMIC_ACQUIRE);
}

static char *copy_of(const char *s)
{
    return strdup(s);
}

void px_local_answer(px_proxy *px, const char *target, const char *accept, size_t accept_len,
                     px_local_response *out)
{
    out->content_type = "application/json";
    if (path_is(target, "/healthz")) {
        out->status = 200;
        out->body = copy_of("{\"status\":\"ok\"}\n");
    } else if (path_is(target, "/readyz")) {
        int draining = px_draining(px);
        out->status = draining ? 503 : 200;
        out->body = copy_of(draining ? "{\"status\":\"draining\"}\n" : "{\"status\":\"ready\"}\n");
    } else if (accepts_json(accept, accept_len)) {
        out->body = px_metrics_json(px);
        out->status = out->body ? 200 : 503;
    } else {
        out->content_type = "text/plain; version=0.0.4; charset=utf-8";
        out->body = px_metrics_prometheus(px);
        out->status = out->body ? 200 : 503;
    }
    if (!out->body) {
        out->status = 503;
        out->body = copy_of("\n");
    }
    out->len = out->body ? strlen(out->body) : 0;
}
