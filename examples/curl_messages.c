/*
 * Sends one Messages request with libcurl, traced by libbraintrust, and prints the
 * response body.
 *
 *   ANTHROPIC_API_KEY=... [ANTHROPIC_BASE_URL=http://127.0.0.1:8080] \
 *   [ANTHROPIC_MODEL=claude-haiku-4-5] example_curl_messages [--stream] "your prompt"
 *
 * Spans go where the environment says: Braintrust with BRAINTRUST_API_KEY, an OTLP
 * collector with OTEL_EXPORTER_OTLP_ENDPOINT, else the local span store at
 * BT_STORE_PATH or its per-user default (~/.local/state/braintrust/spans.db, which
 * bt-spans reads); the console on stderr only when no store can be opened. See tracer.h.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/braintrust.h"
#include "braintrust/curl.h"

/* Appends s to out as the body of a JSON string (quotes, backslashes and control
 * characters escaped); returns the new length, or 0 when it does not fit. */
static size_t json_escape(char *out, size_t len, size_t cap, const char *s)
{
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        int n = c == '"' || c == '\\' ? snprintf(out + len, cap - len, "\\%c", c)
            : c < 0x20                ? snprintf(out + len, cap - len, "\\u%04x", c)
                                      : snprintf(out + len, cap - len, "%c", c);
        if (n < 0 || (size_t)n >= cap - len)
            return 0;
        len += (size_t)n;
    }
    return len;
}

static size_t print_body(char *data, size_t size, size_t nmemb, void *ud)
{
    (void)ud;
    return fwrite(data, size, nmemb, stdout);
}

int main(int argc, char **argv)
{
    int stream = argc > 1 && !strcmp(argv[1], "--stream");
    const char *prompt = argc > 1 + stream ? argv[1 + stream] : "Say hello in five words.";
    const char *base = getenv("ANTHROPIC_BASE_URL");
    const char *key = getenv("ANTHROPIC_API_KEY");
    const char *model = getenv("ANTHROPIC_MODEL");
    if (!base || !*base)
        base = "https://api.anthropic.com";
    if (!model || !*model)
        model = "claude-haiku-4-5";
    if (!key || !*key) {
        fprintf(stderr, "ANTHROPIC_API_KEY is not set\n");
        return 2;
    }

    bt_tracer *tracer = NULL;
    bt_anthropic *anthropic = NULL;
    if (bt_tracer_new(&tracer) != BT_OK)
        return 1;
    bt_tracer_configure_from_env(tracer); /* a bad value disables tracing, never the call */
    bt_tracer_start(tracer);
    bt_anthropic_new(tracer, &anthropic);

    char body_text[8192];
    size_t n = (size_t)snprintf(body_text, sizeof body_text, "{\"model\":\"");
    n = json_escape(body_text, n, sizeof body_text, model);
    if (n)
        n += (size_t)snprintf(
            body_text + n, sizeof body_text - n,
            "\",\"max_tokens\":256,\"stream\":%s,\"messages\":[{\"role\":\"user\",\"content\":\"",
            stream ? "true" : "false");
    if (n && n < sizeof body_text)
        n = json_escape(body_text, n, sizeof body_text, prompt);
    if (!n || n + 4 > sizeof body_text) {
        fprintf(stderr, "the prompt is too long for this example\n");
        bt_anthropic_free(anthropic);
        bt_tracer_free(tracer);
        return 2;
    }
    memcpy(body_text + n, "\"}]}", 5);

    char url[1024];
    size_t blen = strlen(base);
    snprintf(url, sizeof url, "%.*s/v1/messages", (int)(blen && base[blen - 1] == '/' ? blen - 1 : blen),
             base);
    const bt_header headers[] = {
        {"content-type", 12, "application/json", 16},
        {"anthropic-version", 17, "2023-06-01", 10},
        {"x-api-key", 9, key, strlen(key)},
    };
    bt_curl_request req = {
        .method = "POST",
        .url = url,
        .headers = headers,
        .n_headers = 3,
        .body = body_text,
        .body_len = strlen(body_text),
        .write_fn = print_body,
    };

    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *easy = curl_easy_init();
    bt_exchange_info info;
    CURLcode rc = easy ? bt_curl_perform(anthropic, easy, &req, NULL, &info) : CURLE_FAILED_INIT;
    long status = 0;
    if (easy)
        curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    printf("\n");
    if (rc != CURLE_OK)
        fprintf(stderr, "curl: %s\n", curl_easy_strerror(rc));
    fprintf(stderr, "HTTP %ld; span %s model=%s input_tokens=%lld output_tokens=%lld%s\n", status,
            info.span_name ? info.span_name : "(untraced)", info.model, (long long)info.input_tokens,
            (long long)info.output_tokens, info.is_error ? " (error)" : "");

    curl_easy_cleanup(easy);
    curl_global_cleanup();
    bt_anthropic_free(anthropic);
    int flushed = bt_tracer_flush(tracer, 10000);
    if (flushed != BT_OK && flushed != BT_EDISABLED)
        fprintf(stderr, "spans not all delivered: %s\n", bt_strerror(flushed));
    bt_tracer_free(tracer);
    return rc == CURLE_OK && status < 400 ? 0 : 1;
}
