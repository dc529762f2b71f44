/*
 * JSON helpers shared by the Anthropic handlers: tolerant parsing of wire bytes and
 * setting JSON-valued span attributes.
 */
#ifndef BT_ANTHROPIC_JSON_UTIL_H
#define BT_ANTHROPIC_JSON_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "braintrust/anthropic.h"

/* Parses any JSON value. Invalid UTF-8 (which the API should never send, but a text
 * delta cut by a broken proxy can carry) is replaced by U+FFFD and the text parsed
 * again, so one bad byte does not lose the event. Returns a new reference or NULL
 * (malformed, or nested deeper than jansson's limit). */
json_t *bt__json_parse_lenient(const char *data, size_t len);

/* A non-negative integer (JSON integer, or a real with an integral value), else -1. */
int64_t bt__json_count(const json_t *v);

/* Sets `key` on `span` to the compact JSON text of `value` (borrowed). With
 * `mask_field` non-NULL the bt_anthropic mask callback sees the text first. */
void bt__span_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                       const json_t *value);

/* Sets braintrust.span_attributes to {"type":type,"name":name}: the one place every
 * span of this layer (llm, task, tool) gets it. */
void bt__span_set_span_attributes(bt_span *span, const char *type, const char *name);

#endif
