/* The viewer's HTTP surface as plain functions, sans I/O: a request (method, target,
 * Host) in, a complete response out, and the live-update events as text. `serve` is the
 * thin adapter that puts this on the shared HTTP server; tests call it directly. */
#ifndef BTS_WEB_H
#define BTS_WEB_H

#include <sqlite3.h>
#include <stddef.h>
#include <stdint.h>

typedef struct bts_web bts_web;

/* Uses `db` (borrowed, a read-only connection with bts_query_register done) for every
 * request. `store` is shown in the page header. Caller owns *out (bts_web_free). */
int bts_web_new(sqlite3 *db, const char *store, bts_web **out);
void bts_web_free(bts_web *w);

/* Requests must name this server in Host: one of 127.0.0.1, localhost, [::1] or
 * `listen_host` (when not a wildcard), with `port`. Anything else is refused, so a web
 * page elsewhere cannot reach the store through DNS rebinding. */
void bts_web_set_origin(bts_web *w, const char *listen_host, int port);

typedef struct bts_web_response {
    int status;
    const char *content_type;
    char *body; /* owned unless body_static */
    size_t len;
    int body_static;
    int event_stream; /* GET /api/events: send the head and keep the connection for events */
    const char *cache_control;
} bts_web_response;

/* Answers one request. `host` may be NULL (HTTP/1.0 without Host: refused). A HEAD is
 * answered like a GET; the caller sends no body for it. */
void bts_web_handle(bts_web *w, const char *method, const char *target, const char *host,
                    bts_web_response *r);
void bts_web_response_free(bts_web_response *r);

/* Headers every response carries (name, value pairs, ended by a NULL name): a strict
 * Content-Security-Policy (only this server's own script, style and API), nosniff, no
 * framing, no referrer. */
extern const char *const bts_web_security_headers[][2];

/* Live updates: when spans were stored since the last call, writes one server-sent
 * event ("event: spans" with {"traces":[ids],"more":bool}) into a malloc'd *event and
 * returns 1; 0 when nothing changed; negative on a database error. The first call only
 * takes the store's current position. */
int bts_web_poll(bts_web *w, char **event, size_t *len);

/* The comment line sent to event-stream clients between events, so that proxies and
 * browsers keep the connection. */
extern const char bts_web_keepalive[];

#endif
