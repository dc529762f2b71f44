/*
 * Error responses in the real API's envelope, and the deterministic error scenarios a
 * request can ask for (x-fake-scenario header or a "fake-error-<scenario>" model).
 */
#include <stdlib.h>
#include <string.h>

#include "fake.h"

const char *fake_error_type_for_status(int status)
{
    switch (status) {
    case 401:
        return "authentication_error";
    case 402:
        return "billing_error";
    case 403:
        return "permission_error";
    case 404:
        return "not_found_error";
    case 413:
        return "request_too_large";
    case 429:
        return "rate_limit_error";
    case 500:
        return "api_error";
    case 504:
        return "timeout_error";
    case 529:
        return "overloaded_error";
    default:
        return status >= 500 ? "api_error" : "invalid_request_error";
    }
}

void fake_respond_error(fake_conn *c, const fake_request *req, int status, const char *type,
                        const char *message)
{
    json_t *body = json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "error", "error", "type", type, "message",
                             message, "request_id", req->request_id);
    char *text = body ? json_dumps(body, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    /* Retryable statuses say so, as the real API does; 429 also says when. */
    const char *extra = status == 429      ? "retry-after: 1\r\nx-should-retry: true\r\n"
        : (status >= 500 || status == 409) ? "x-should-retry: true\r\n"
                                           : "x-should-retry: false\r\n";
    static const char fallback[] = "{\"type\":\"error\"}";
    fake_respond(c, req, status, "application/json", extra, text ? text : fallback,
                 text ? strlen(text) : sizeof fallback - 1);
    free(text);
    json_decref(body);
}

const char *fake_scenario(const fake_request *req, const char *model)
{
    const char *h = fake_header_get(req, "x-fake-scenario");
    if (h && *h)
        return h;
    static const char prefix[] = "fake-error-";
    if (model && strncmp(model, prefix, sizeof prefix - 1) == 0)
        return model + sizeof prefix - 1;
    return NULL;
}

int fake_respond_scenario(fake_conn *c, const fake_request *req, const char *scenario)
{
    static const struct {
        int status;
        const char *message;
    } table[] = {
        {400, "fake-anthropic: invalid request (scenario 400)"},
        {401, "invalid x-api-key"},
        {403, "fake-anthropic: permission denied (scenario 403)"},
        {404, "model: fake-anthropic-unknown-model"},
        {413, "Request exceeds the maximum allowed number of bytes."},
        {429, "This request would exceed your organization's rate limit (fake-anthropic scenario 429)."},
        {500, "Internal server error"},
        {529, "Overloaded"},
    };
    int status = atoi(scenario);
    for (size_t i = 0; i < sizeof table / sizeof table[0]; i++) {
        if (table[i].status == status) {
            fake_respond_error(c, req, status, fake_error_type_for_status(status), table[i].message);
            return 1;
        }
    }
    return 0;
}
