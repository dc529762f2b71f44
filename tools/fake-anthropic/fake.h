/*
 * fake-anthropic: a deterministic stand-in for api.anthropic.com on loopback.
 *
 * Shared types between the HTTP server (server.c), the routes (router.c), and the
 * endpoint handlers (messages.c, stream.c, batches.c, errors.c, replay.c).
 *
 * HTTP itself (framing, limits, keep-alive, pipelining) is tools/common/http_server.
 * A handler answers either with a whole body (fake_respond) or with a producer that is
 * called for the next piece whenever the socket has drained (fake_respond_stream);
 * pieces are optionally paced by a timer and gzip-compressed with a sync flush per
 * piece, so each SSE event or JSONL line leaves the process as soon as it is produced.
 */
#ifndef FAKE_ANTHROPIC_FAKE_H
#define FAKE_ANTHROPIC_FAKE_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "util/buf.h"

#define FAKE_MAX_HEADERS 100
#define FAKE_MESSAGES_MAX_BODY (32u * 1024 * 1024) /* the real Messages API limit */

typedef struct fake_config {
    char host[64];
    int port;
    int pace_ms;           /* delay between streamed SSE events */
    int batch_polls;       /* retrieves before a batch ends */
    int batch_seconds;     /* or seconds after creation, whichever first */
    int gzip;              /* honour accept-encoding: gzip */
    size_t max_body;       /* request bodies above this get 413 */
    size_t max_batch_body; /* the same for batch create, whose body is never held */
    const char *replay;    /* file or directory of recorded /v1/messages bodies */
} fake_config;

extern fake_config fake_cfg;

typedef struct fake_header {
    char *name; /* lower-cased */
    char *value;
} fake_header;

/* A consumer for a request body that is parsed as it arrives instead of being held
 * (batch create). feed returns non-zero to ignore the rest of the body; the handler
 * then reports why. free releases ud when the request is done. */
typedef struct fake_body_sink {
    int (*feed)(void *ud, const char *data, size_t len);
    void (*free)(void *ud);
    void *ud;
    size_t limit;
    int stopped;
} fake_body_sink;

typedef struct fake_request {
    int method;   /* llhttp_method_t */
    char *target; /* path + query as received */
    char *path;   /* target without the query string */
    char *query;  /* after '?', or "" */
    fake_header headers[FAKE_MAX_HEADERS];
    int nheaders;
    bt__buf body; /* the body, unless `sink` consumes it */
    fake_body_sink sink;
    size_t body_bytes;
    int gzip_ok;         /* client accepts gzip and --no-gzip is off */
    char request_id[32]; /* req_fake_<counter> */
    char log_note[160];  /* extra access-log detail a handler adds (model, tokens) */
} fake_request;

typedef struct fake_conn fake_conn;

/* Producer results. */
enum { FAKE_PIECE_MORE = 1, FAKE_PIECE_DONE = 0, FAKE_PIECE_ABORT = -1 };

/* Appends the next piece of the body to `out`. Returns FAKE_PIECE_MORE (call again),
 * FAKE_PIECE_DONE (body complete; `out` may hold a last piece) or FAKE_PIECE_ABORT
 * (close the connection abruptly after sending `out`, without ending the body). */
typedef int (*fake_produce_fn)(void *state, bt__buf *out);

/* --- server.c: the glue to tools/common/http_server --- */
struct uv_loop_s;
/* Binds and listens on fake_cfg.host:port; *bound_port gets the actual port. */
int fake_server_start(struct uv_loop_s *loop, int *bound_port);
/* Stops accepting and closes every connection (SIGTERM/SIGINT). */
void fake_server_stop(void);

const char *fake_header_get(const fake_request *req, const char *name);
/* Sends a complete response. `extra_headers` are "Name: value\r\n" lines or NULL.
 * The body is gzip-compressed when the client accepts it. */
void fake_respond(fake_conn *c, const fake_request *req, int status, const char *content_type,
                  const char *extra_headers, const char *body, size_t len);
/* Starts a chunked response fed by `produce`; `free_state` releases `state` when the
 * response ends (or the connection dies). pace_ms > 0 waits that long between pieces. */
void fake_respond_stream(fake_conn *c, const fake_request *req, int status, const char *content_type,
                         const char *extra_headers, fake_produce_fn produce, void *state,
                         void (*free_state)(void *), int pace_ms);
/* Marks the response in progress as the connection's last ("connection: close"); call
 * before responding. */
void fake_conn_close_after(fake_conn *c);
/* Closes the connection without any response (the "abrupt close" scenario). */
void fake_respond_abort(fake_conn *c);
/* The Host header, or the listen address when absent. */
const char *fake_request_host(const fake_request *req);

/* --- router.c --- */
/* Called once the headers are in: installs a body sink for bodies parsed as they
 * stream (batch create). */
void fake_route_body(fake_request *req);
void fake_dispatch(fake_conn *c, fake_request *req);

/* --- errors.c --- */
/* Sends {"type":"error","error":{type,message},"request_id":...} with the status. */
void fake_respond_error(fake_conn *c, const fake_request *req, int status, const char *type,
                        const char *message);
/* The header lines and body of that error response (also used for the server's own
 * answers: malformed requests, timeouts). */
void fake_error_parts(const char *request_id, int status, const char *type, const char *message,
                      bt__buf *headers, bt__buf *body);
/* The scenario a request asks for: the x-fake-scenario header, else a model named
 * "fake-error-<scenario>". Returns NULL for normal behaviour. */
const char *fake_scenario(const fake_request *req, const char *model);
/* Answers an HTTP-status scenario ("400", "429", ...). Returns 1 when it responded. */
int fake_respond_scenario(fake_conn *c, const fake_request *req, const char *scenario);

/* --- messages.c --- */
void fake_handle_messages(fake_conn *c, fake_request *req);
void fake_handle_count_tokens(fake_conn *c, fake_request *req);

/* A generated reply, the shared model for JSON, SSE and batch results. */
typedef struct fake_reply {
    char msg_id[48];
    char model[96];
    char *thinking; /* NULL when thinking is off */
    char signature[64];
    char *text;      /* may be empty */
    char *tool_name; /* NULL when no tool call */
    char tool_id[48];
    char *tool_input_json; /* compact JSON object */
    const char *stop_reason;
    char *stop_sequence; /* the matched stop sequence, or NULL */
    long input_tokens, cache_creation, cache_read, cache_1h, output_tokens, thinking_tokens;
    const char *service_tier;
    json_t *server_blocks; /* server_tool_use + result blocks, placed before the text */
    long web_search_requests, web_fetch_requests;
    char container_id[64];  /* "" unless the request named a container or code ran */
    int context_management; /* the request asked for context management */
} fake_reply;

/* Builds a reply from a parsed Messages request; returns NULL and sets *err to a
 * validation message on invalid params. `betas` is the anthropic-beta header (may be
 * NULL): in-conversation "system" turns need the per-turn control beta, as with the
 * real API. */
fake_reply *fake_reply_build(json_t *params, const char *betas, uint64_t seed, const char **err);
void fake_reply_free(fake_reply *r);
/* The non-streaming Message object (new reference). */
json_t *fake_reply_message_json(const fake_reply *r);
/* The reply's container object {id, expires_at}, or JSON null (new reference). */
json_t *fake_reply_container_json(const fake_reply *r);
/* Deterministic 64-bit FNV-1a hash, for ids and padding. */
uint64_t fake_hash(const void *data, size_t len, uint64_t seed);

/* --- script.c --- */
/* The tool calls scripted in the user turns' text ("fake-anthropic: call NAME {json}"),
 * in order, as [{name, input}] (new reference; empty when there is no script). */
json_t *fake_script_calls(const json_t *params);
/* How many scripted calls the conversation already made: the assistant turns that
 * called a tool. */
size_t fake_script_progress(const json_t *params);

/* --- server_tools.c --- */
/* The offered tool named `name`, or NULL; *is_server tells whether the API runs it. */
const json_t *fake_find_tool(const json_t *params, const char *name, int *is_server);
/* Runs server tool `tool` with `input`: appends its server_tool_use and result blocks
 * to r->server_blocks and counts it in the usage. Returns -1 for a server tool the fake
 * cannot run (then nothing is added). */
int fake_server_tool_run(fake_reply *r, const json_t *tool, const json_t *input, uint64_t h);

/* --- stream.c --- */
/* Streams the reply as SSE. mode: 0 normal, 1 error event mid-stream, 2 abrupt close. */
void fake_stream_reply(fake_conn *c, const fake_request *req, fake_reply *r, int mode);

/* --- batches.c --- */
/* Handles everything under /v1/messages/batches. */
void fake_handle_batches(fake_conn *c, fake_request *req);
void fake_batches_free_all(void);
/* Installs the streaming parser for a batch create body. */
void fake_batches_install_sink(fake_request *req);

/* --- sessions.c --- */
/* Handles the Managed Agents sessions under /v1/sessions. */
void fake_handle_sessions(fake_conn *c, fake_request *req);
void fake_sessions_free_all(void);

/* --- replay.c --- */
int fake_replay_init(const char *path); /* 0 or -1 with a message on stderr */
/* Serves the next recorded body for /v1/messages. Returns 0 if none configured. */
int fake_replay_serve(fake_conn *c, const fake_request *req);
void fake_replay_free(void);

#endif
