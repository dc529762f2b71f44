/*
 * Agent sessions: the requests of one agent session (an x-bt-session-id or
 * x-claude-code-session-id header) become one trace. The trace id and the id of its
 * root span derive from the session id alone, so every process that sees a request of
 * the session (replicas of a proxy, a restarted one) puts it in the same trace without
 * talking to the others. Each call's spans become children of the root; the client-side
 * tool calls answered between two calls become `tool` spans beside them; and the root, a
 * `task` span `agent.session` with the session's totals, is emitted once the session has
 * been idle for the idle time (bt_anthropic_tick) and when sessions are closed
 * (bt_anthropic_close_sessions, bt_anthropic_free).
 *
 * The table of open sessions is bounded (BT__SESSIONS_MAX): when it is full, the session
 * idle the longest has its root emitted early and makes room. A session whose root was
 * emitted stays known while there is room, so a session that resumes keeps counting from
 * where it was and its root is emitted again, with the same ids and the new totals.
 */
#ifndef BT_ANTHROPIC_SESSION_H
#define BT_ANTHROPIC_SESSION_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "anthropic/usage.h"
#include "braintrust/anthropic.h"

/* Sessions kept at once, and the size of the previews (the first prompt, the last
 * reply) a root keeps of its session. */
#define BT__SESSIONS_MAX 4096
#define BT__SESSION_PREVIEW_MAX (16 * 1024)
#define BT__SESSION_ID_MAX 256
#define BT__SESSION_DEFAULT_IDLE_S 300

typedef struct bt__sessions bt__sessions;

bt__sessions *bt__sessions_new(bt_anthropic *a);
/* Frees the table without emitting anything (close the sessions first). */
void bt__sessions_free(bt__sessions *s);
void bt__sessions_set_idle(bt__sessions *s, uint64_t idle_ns);
/* Emits the root of every session with news that has been idle for the idle time at
 * `now_ns` (all of them with news when `all`); returns how many were emitted. */
size_t bt__sessions_emit(bt__sessions *s, uint64_t now_ns, int all);

/* The context of a session's root (trace id, root span id, sampled), for spans placed
 * in a session by other means than its headers (Managed Agents sessions). */
void bt__session_context(const char *session_id, bt_span_context *out);

/* A model call of a session seen other than as a Messages exchange: a Managed Agents
 * session's model request, read from its event stream. */
typedef struct bt__session_call {
    const char *session_id;
    const char *source;            /* what named the session (static string) */
    const char *braintrust_parent; /* or NULL */
    const char *once_id;           /* counted once per id (events read twice), or NULL */
    uint64_t start_ns, end_ns;
    const bt__usage *usage; /* or NULL */
    const char *model;      /* or NULL */
    int is_error;
    const json_t *input;  /* the prompt, a candidate for the root's input; or NULL */
    const json_t *output; /* the reply, a candidate for the root's output; or NULL */
} bt__session_call;
void bt__session_add_call(bt_anthropic *a, const bt__session_call *c);

/* --- the hooks of one exchange (exchange.c, messages.c) ------------------------------ */

/* At begin, for an exchange without a parent context of its own: when a session header
 * is present, makes the exchange's spans children of the session's root and marks the
 * session active. */
void bt__session_begin(bt_exchange *ex, const bt_header *headers, size_t n_headers);
/* Whether the exchange belongs to a session. */
int bt__session_of(const bt_exchange *ex);
/* A Messages call, before its span is emitted: reads the request's `messages` (a view
 * of the canonical request), adds the call's `turn` to `metadata`, and emits a `tool`
 * span for each client-side tool call whose result the request brings back. */
void bt__session_turn(bt_exchange *ex, bt__jv messages, bt__jobj *metadata);
/* A Messages call, after its span was emitted: adds its tokens, model and outcome to the
 * session's totals, and keeps its reply as the session's output when it is the latest
 * turn. `message` (borrowed) may be NULL. */
void bt__session_record(bt_exchange *ex, const bt__usage *usage, const char *model,
                        const bt__jv_members *message, int is_error, int count_tokens);
/* At end: the exchange is over (the session may now become idle). Frees its session
 * part. */
void bt__session_end(bt_exchange *ex);

#endif
