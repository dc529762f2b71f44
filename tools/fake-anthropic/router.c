/*
 * Routes a complete request: authentication and version checks shared by every /v1
 * endpoint, then the endpoint by path (query string ignored; ?beta=true is a flag the
 * responses do not depend on).
 */
#include <string.h>

#include <llhttp.h>

#include "fake.h"

static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* Answers 401/400 when the credentials or version header are missing or bad. */
static int check_auth(fake_conn *c, const fake_request *req)
{
    const char *key = fake_header_get(req, "x-api-key");
    const char *auth = fake_header_get(req, "authorization");
    if ((!key || !*key) && !(auth && starts_with(auth, "Bearer ") && auth[7])) {
        fake_respond_error(c, req, 401, "authentication_error", "x-api-key header is required");
        return 0;
    }
    if ((key && strcmp(key, "bad-key") == 0) || (auth && strcmp(auth, "Bearer bad-key") == 0)) {
        fake_respond_error(c, req, 401, "authentication_error", "invalid x-api-key");
        return 0;
    }
    const char *version = fake_header_get(req, "anthropic-version");
    if (!version || !*version) {
        fake_respond_error(c, req, 400, "invalid_request_error", "anthropic-version: header is required");
        return 0;
    }
    return 1;
}

void fake_route_body(fake_request *req)
{
    if (req->method == HTTP_POST && req->path &&
        (strcmp(req->path, "/v1/messages/batches") == 0 || strcmp(req->path, "/v1/messages/batches/") == 0))
        fake_batches_install_sink(req);
}

void fake_dispatch(fake_conn *c, fake_request *req)
{
    const char *path = req->path ? req->path : "";
    if (strcmp(path, "/healthz") == 0) {
        static const char ok[] = "{\"status\":\"ok\"}";
        fake_respond(c, req, 200, "application/json", NULL, ok, sizeof ok - 1);
        return;
    }
    if (!starts_with(path, "/v1/")) {
        /* HEAD / is a connectivity probe that real clients send; it gets an empty 404. */
        if (req->method == HTTP_HEAD)
            fake_respond(c, req, 404, NULL, NULL, "", 0);
        else
            fake_respond_error(c, req, 404, "not_found_error", "Not Found");
        return;
    }
    if (!check_auth(c, req))
        return;
    if (strcmp(path, "/v1/messages") == 0) {
        if (req->method != HTTP_POST)
            goto method;
        fake_handle_messages(c, req);
    } else if (strcmp(path, "/v1/messages/count_tokens") == 0) {
        if (req->method != HTTP_POST)
            goto method;
        fake_handle_count_tokens(c, req);
    } else if (strcmp(path, "/v1/messages/batches") == 0 || starts_with(path, "/v1/messages/batches/")) {
        fake_handle_batches(c, req);
    } else if (strcmp(path, "/v1/sessions") == 0 || starts_with(path, "/v1/sessions/")) {
        fake_handle_sessions(c, req);
    } else {
        fake_respond_error(c, req, 404, "not_found_error", "Not Found");
    }
    return;
method:
    fake_respond_error(c, req, 405, "invalid_request_error", "Method Not Allowed");
}
