/*
 * Error responses in the real API's envelope, and the deterministic error scenarios a
 * request can ask for (x-fake-scenario header or a "fake-error-<scenario>" model).
 */
#include <stdlib.h>
#include <string.h>

#include "fake.h"
#include "http_status.h"

void fake_error_parts(const char *request_id, int status, const char *type, const char *message,
                      bt__buf *headers, bt__buf *body)
{
    json_t *v = json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "error", "error", "type", type, "message",
                          message, "request_id", request_id);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    bt__buf_append_str(body, text ? text : "{\"type\":\"error\"}");
    free(text);
    json_decref(v);
    /* Retryable statuses say so, as the real API does; 429 also says when. */
    bt__buf_append_str(headers,
                       status == 429                          ? "retry-after: 1\r\nx-should-retry: true\r\n"
                           : (status >= 500 || status == 409) ? "x-should-retry: true\r\n"
                                                              : "x-should-retry: false\r\n");
}

void fake_respond_error(fake_conn *c, const fake_request *req, int status, const char *type,
                        const char *message)
{
    bt__buf headers, body;
    bt__buf_init(&headers, 0);
    bt__buf_init(&body, 0);
    fake_error_parts(req->request_id, status, type, message, &headers, &body);
    fake_respond(c, req, status, "application/json", headers.data, body.data, body.len);
    bt__buf_free(&headers);
    bt__buf_free(&body);
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
            fake_respond_error(c, req, status, anthropic_error_type(status), table[i].message);
            return 1;
        }
    }
    return 0;
}
