/*
 * libcurl adapter: traces one libcurl easy transfer to the Anthropic API.
 *
 * bt_curl_perform() configures the easy handle with the request (method, URL, headers,
 * body), installs header and write callbacks that show the response to the tracing
 * exchange and then forward it, unchanged, to the caller's callbacks, runs
 * curl_easy_perform(), and ends the exchange with an outcome derived from the CURLcode.
 * Tracing never changes the transfer: an untraced endpoint or a disabled tracer just
 * performs it. Other options the caller set on the handle (timeouts, TLS, proxies,
 * CURLOPT_FOLLOWLOCATION) are left as they are; when curl follows a redirect, the span
 * describes the final response.
 */
#ifndef BRAINTRUST_CURL_H
#define BRAINTRUST_CURL_H

#include <curl/curl.h>

#include "anthropic.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Receives response body bytes (or header lines) exactly like CURLOPT_WRITEFUNCTION
 * (CURLOPT_HEADERFUNCTION); return `size * nmemb` to continue, anything else aborts
 * the transfer (the span then records a client cancellation). */
typedef size_t (*bt_curl_data_fn)(char *data, size_t size, size_t nmemb, void *userdata);

typedef struct bt_curl_request {
    const char *method;       /* "POST", "GET", ... */
    const char *url;          /* absolute URL, e.g. "https://api.anthropic.com/v1/messages" */
    const bt_header *headers; /* request headers (borrowed for the call) */
    size_t n_headers;
    const void *body; /* request body (borrowed), or NULL */
    size_t body_len;
    bt_curl_data_fn write_fn; /* response body; NULL discards it */
    void *write_userdata;
    bt_curl_data_fn header_fn; /* response header lines; NULL: not forwarded */
    void *header_userdata;
    /* Set when CURLOPT_ACCEPT_ENCODING is on for this handle: curl then hands over a
     * body it already decoded, and the Content-Encoding header must not be applied a
     * second time. */
    int curl_decodes_body;
} bt_curl_request;

/* Performs the transfer on `easy` (borrowed; stays the caller's) and traces it through
 * `a` (may be NULL: the transfer is then only performed). `opts` and `info` may be
 * NULL; `info` receives the access-log summary. Returns curl_easy_perform()'s code, or
 * CURLE_BAD_FUNCTION_ARGUMENT / CURLE_OUT_OF_MEMORY when the request could not be set
 * up. After the call the handle no longer references the request's headers, body or
 * callbacks. */
BT_EXTERN CURLcode bt_curl_perform(bt_anthropic *a, CURL *easy, const bt_curl_request *req,
                                   const bt_exchange_options *opts, bt_exchange_info *info);

#ifdef __cplusplus
}
#endif
#endif
