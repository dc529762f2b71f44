/*
 * Routes an Anthropic API request (method + target) to what traces it. The query is
 * removed before matching (?beta=true sets `beta`); any prefix before "/v1/" is
 * accepted (gateways); an absolute URL target ("https://host/v1/...") is accepted.
 */
#ifndef BT_DECODE_ROUTER_H
#define BT_DECODE_ROUTER_H

#include <stddef.h>

typedef enum {
    BT__ROUTE_NONE = 0,
    BT__ROUTE_MESSAGES,       /* POST /v1/messages */
    BT__ROUTE_COUNT_TOKENS,   /* POST /v1/messages/count_tokens */
    BT__ROUTE_BATCH_CREATE,   /* POST /v1/messages/batches */
    BT__ROUTE_BATCH_LIST,     /* GET /v1/messages/batches */
    BT__ROUTE_BATCH_RETRIEVE, /* GET /v1/messages/batches/{id} */
    BT__ROUTE_BATCH_CANCEL,   /* POST /v1/messages/batches/{id}/cancel */
    BT__ROUTE_BATCH_DELETE,   /* DELETE /v1/messages/batches/{id} */
    BT__ROUTE_BATCH_RESULTS,  /* GET /v1/messages/batches/{id}/results */
    /* Managed Agents sessions (beta): the calls that run the agent or report its work */
    BT__ROUTE_SESSION_CREATE,        /* POST /v1/sessions */
    BT__ROUTE_SESSION_EVENTS_SEND,   /* POST /v1/sessions/{id}/events */
    BT__ROUTE_SESSION_EVENTS_LIST,   /* GET /v1/sessions/{id}/events, .../threads/{tid}/events */
    BT__ROUTE_SESSION_EVENTS_STREAM, /* GET /v1/sessions/{id}/events/stream, .../threads/{tid}/stream */
    BT__ROUTE_FILE_UPLOAD            /* POST /v1/files */
} bt__route_kind;

#define BT__BATCH_ID_MAX 128

typedef struct bt__route {
    bt__route_kind kind;
    int beta;                         /* query has beta=true */
    char batch_id[BT__BATCH_ID_MAX];  /* percent-decoded; "" when not in the path; the
                                      * session id for session routes */
    char thread_id[BT__BATCH_ID_MAX]; /* session thread routes; "" otherwise */
    const char *query;                /* points into the target, after '?'; NULL if none */
    size_t query_len;
} bt__route;

/* Fills `out` (kind NONE when nothing matches, also for an over-long batch id or a
 * trailing slash). Never fails otherwise. HEAD is never traced. */
void bt__route_match(const char *method, const char *target, size_t target_len, bt__route *out);

/* Value of query parameter `name` (percent-decoded into out, '+' as space,
 * NUL-terminated); returns 1 if present. The first occurrence wins; a parameter
 * without '=' has the value "". A malformed escape or a value longer than
 * out_size - 1 counts as absent (0) rather than being cut. */
int bt__query_get(const char *query, size_t query_len, const char *name, char *out, size_t out_size);

/* Human-readable span name for a route ("anthropic.messages.batches.retrieve", ...);
 * NULL for BT__ROUTE_NONE. Messages routes get "anthropic.messages.create"; the
 * messages handler switches to "anthropic.messages.stream" itself. */
const char *bt__route_span_name(bt__route_kind kind);

#endif
