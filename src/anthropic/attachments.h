/*
 * Base64 images and documents as Braintrust attachments, the way Braintrust's SDKs show
 * them: in a span's JSON, the `source` of every `image` or `document` block whose data is
 * base64 becomes a reference {"type":"braintrust_attachment","content_type","filename",
 * "key"}, and the decoded bytes travel with the span (core/span_internal.h) to the sinks
 * that keep attachments: the Braintrust exporter uploads them through Braintrust's
 * attachment API, the local store keeps them for bt-spans. When no sink of the tracer
 * keeps attachments (a plain OTLP collector, a JSONL file), or the tracer's budget of
 * attachment bytes in flight is spent, the data stays inline as sent.
 */
#ifndef BT_ANTHROPIC_ATTACHMENTS_H
#define BT_ANTHROPIC_ATTACHMENTS_H

#include <stddef.h>

#include <jansson.h>

#include "braintrust/anthropic.h"
#include "decode/json_scan.h"
#include "util/buf.h"

/* Sets `key` on `span` to the JSON of `value` (borrowed, not modified), with its base64
 * media turned into attachments of the span; otherwise as bt__span_set_json (the mask
 * callback, when `mask_field` is set, sees the text with the references). */
void bt__attachments_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                              const json_t *value);

/* The same for canonical JSON text (decode/json_scan.h; `len` bytes, borrowed, not
 * necessarily NUL-terminated): text without base64 media, nearly all of it, is set as it is; otherwise
 * only each media block's `source` is replaced, every other byte is kept (numbers keep
 * their spelling). */
void bt__attachments_set_json_text(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                                   const char *json, size_t len);

/* The same for text that lies in `owner` (json points into owner->data, and the text runs
 * to owner->len), a buffer the caller no longer needs: when the text is set as it is,
 * the span takes the buffer instead of a copy (owner is left empty), its room past the
 * text given back, unless more bytes precede the text than it has (a span keeps no
 * large unrelated bytes alive: at most twice its text). */
void bt__attachments_take_json_text(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                                    bt__buf *owner, const char *json, size_t len);

/* Appends `value` (a view of canonical text) to `out` with its base64 media replaced by
 * their references, no bytes attached (see bt__attachments_references); as it is when
 * nothing is replaced or no sink keeps attachments. BT_OK or the buffer's error. */
int bt__attachments_references_text(bt_anthropic *a, bt__jv value, bt__buf *out);

/* `value` (borrowed) with its base64 media replaced by their references but no bytes
 * attached, for a span that only shows what another span of the trace carries (the
 * keys derive from the content, so they match). A new reference; `value` itself when
 * nothing is replaced or no sink keeps attachments. */
json_t *bt__attachments_references(bt_anthropic *a, const json_t *value);

/* The key of an attachment: derived from its content type and bytes, so the same image
 * sent in every turn of a conversation is one attachment, whatever process sees it;
 * shaped like the version 4 UUIDs the SDKs use. Writes 36 characters and a NUL. */
void bt__attachment_key(const char *content_type, const unsigned char *data, size_t len, char out[37]);

#endif
