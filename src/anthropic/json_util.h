/*
 * Setting JSON-valued span attributes (through the mask callback for inputs and
 * outputs), the one way every span of this layer gets braintrust.span_attributes.
 */
#ifndef BT_ANTHROPIC_JSON_UTIL_H
#define BT_ANTHROPIC_JSON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "braintrust/anthropic.h"
#include "decode/json_scan.h"

/* Sets `key` on `span` to the compact JSON text of `value` (borrowed). With
 * `mask_field` non-NULL the bt_anthropic mask callback sees the text first. */
void bt__span_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                       const json_t *value);

/* Sets `key` on `span` to the JSON text `json` (len bytes, no NUL). With `mask_field`
 * non-NULL the bt_anthropic mask callback sees the text first. */
void bt__span_set_json_text(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                            const char *json, size_t len);

/* The same for a value of a canonical document (json_scan.h), which need not be
 * NUL-terminated: a mask callback gets a NUL-terminated copy. */
void bt__span_set_json_slice(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                             bt__jv value);

/* Parses any JSON value into a tree (for the endpoints read with jansson: Managed Agents
 * sessions, Files). Invalid UTF-8 (which the API should never send, but a text delta
 * cut by a broken proxy can carry) is read with each bad byte replaced by U+FFFD, so one
 * bad byte does not lose the event. A new reference, or NULL (malformed, or nested
 * deeper than jansson's limit). */
json_t *bt__json_parse_lenient(const char *data, size_t len);

/* Sets braintrust.span_attributes to {"type":type,"name":name}: the one place every
 * span of this layer (llm, task, tool) gets it. */
void bt__span_set_span_attributes(bt_span *span, const char *type, const char *name);

#endif
