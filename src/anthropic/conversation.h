/*
 * What a Messages request's `messages` say about the conversation they carry: which
 * turns are in-conversation system turns, which turn of an agent's conversation the
 * request is, and the client-side tool calls whose results it brings back. Every answer
 * comes from the request alone, so any process that sees the request (a replica of the
 * proxy, a retry) reads the same. Read in place from the canonical request text
 * (decode/json_scan.h).
 */
#ifndef BT_ANTHROPIC_CONVERSATION_H
#define BT_ANTHROPIC_CONVERSATION_H

#include <stddef.h>

#include "decode/json_scan.h"
#include "util/buf.h"

/* Indexes (into `messages`, and so into braintrust.input_json, which starts with them)
 * of the turns with role "system": system turns placed inside the conversation, as
 * opposed to the top-level `system`, which the input places last. Appends them to `out`
 * as a JSON array and returns how many there are (nothing is written when none). */
size_t bt__system_turn_indices(bt__jv messages, bt__buf *out);

/* The request's turn number in its conversation: 1 + the assistant turns it already
 * carries (the first call of an agent is turn 1, the call after one tool round trip
 * turn 2, ...). */
int bt__conversation_turn(bt__jv messages);

/* One client-side tool call answered in the request: the assistant's tool_use block and
 * the tool_result block that answers it (views into the request). */
typedef struct bt__tool_round {
    bt__jv call;   /* {"type":"tool_use","id","name","input"} */
    bt__jv result; /* {"type":"tool_result","tool_use_id","content","is_error"?} */
    int turn;      /* the turn whose reply made the call */
} bt__tool_round;

/* The tool calls of the last assistant turn answered by the user turn(s) after it: the
 * results this request brings back to the model. Fills at most `max` entries in `out`
 * and returns how many there are (which may be more than `max`). */
size_t bt__conversation_tool_rounds(bt__jv messages, bt__tool_round *out, size_t max);

#endif
