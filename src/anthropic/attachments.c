/* Base64 media as Braintrust attachments (see attachments.h). */
#define _GNU_SOURCE /* memmem */
#include "anthropic/attachments.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "core/span_internal.h"
#include "util/base64.h"
#include "util/sha256.h"

/* Content blocks are never nested deeper than this in a real request (tool results
 * hold blocks, which hold no further content); jansson's own limit is far above. */
#define WALK_DEPTH_MAX 32

/* A base64 source of an image or document block: {"type":"base64","media_type","data"}. */
static int is_base64_source(const json_t *source)
{
    const char *type = json_string_value(json_object_get(source, "type"));
    const char *media = json_string_value(json_object_get(source, "media_type"));
    const json_t *data = json_object_get(source, "data");
    return type && !strcmp(type, "base64") && media && media[0] && json_is_string(data) &&
        json_string_length(data) > 0;
}

static int is_media_block(const json_t *block)
{
    const char *type = json_string_value(json_object_get(block, "type"));
    return type && (!strcmp(type, "image") || !strcmp(type, "document")) &&
        is_base64_source(json_object_get(block, "source"));
}

static int has_media(const json_t *v, int depth)
{
    if (depth > WALK_DEPTH_MAX)
        return 0;
    if (json_is_object(v)) {
        if (is_media_block(v))
            return 1;
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child)
        {
            if (has_media(child, depth + 1))
                return 1;
        }
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            if (has_media(child, depth + 1))
                return 1;
        }
    }
    return 0;
}

/* The file name extension of a media type ("image/png" -> "png"). */
static const char *extension(const char *media_type)
{
    static const struct {
        const char *type, *ext;
    } known[] = {
        {"image/png", "png"},    {"image/jpeg", "jpg"},        {"image/jpg", "jpg"},
        {"image/gif", "gif"},    {"image/webp", "webp"},       {"application/pdf", "pdf"},
        {"text/plain", "txt"},   {"text/csv", "csv"},          {"text/html", "html"},
        {"text/markdown", "md"}, {"application/json", "json"},
    };
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        if (!strcasecmp(media_type, known[i].type))
            return known[i].ext;
    return "bin";
}

void bt__attachment_key(const char *content_type, const unsigned char *data, size_t len, char out[37])
{
    bt__sha256 c;
    uint8_t h[32];
    bt__sha256_init(&c);
    bt__sha256_update(&c, "braintrust:attachment", 21);
    bt__sha256_update(&c, "", 1);
    bt__sha256_update(&c, content_type, strlen(content_type));
    bt__sha256_update(&c, "", 1);
    bt__sha256_update(&c, data, len);
    bt__sha256_final(&c, h);
    h[6] = (uint8_t)((h[6] & 0x0f) | 0x40); /* shaped like the version 4 UUIDs of the SDKs */
    h[8] = (uint8_t)((h[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14], h[15]);
}

/* Replaces, in place, the source of every media block under v whose bytes the span
 * accepted (every one when span is NULL: references only). */
static void convert(json_t *v, bt_span *span, int depth)
{
    if (depth > WALK_DEPTH_MAX)
        return;
    if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) convert(child, span, depth + 1);
        return;
    }
    if (!json_is_object(v))
        return;
    if (!is_media_block(v)) {
        const char *k;
        json_t *child;
        json_object_foreach(v, k, child) convert(child, span, depth + 1);
        return;
    }
    json_t *source = json_object_get(v, "source");
    const char *media = json_string_value(json_object_get(source, "media_type"));
    const json_t *data = json_object_get(source, "data");
    size_t b64_len = json_string_length(data);
    unsigned char *bytes = malloc(bt__base64_decoded_max(b64_len) + 1);
    if (!bytes)
        return;
    long n = bt__base64_decode(json_string_value(data), b64_len, bytes);
    if (n <= 0) {
        free(bytes); /* not valid base64: shown as sent */
        return;
    }
    char key[37], filename[64];
    bt__attachment_key(media, bytes, (size_t)n, key);
    const char *block_type = json_string_value(json_object_get(v, "type"));
    snprintf(filename, sizeof filename, "%s.%s", block_type, extension(media));
    json_t *ref = json_pack("{s:s,s:s,s:s,s:s}", "type", "braintrust_attachment", "content_type", media,
                            "filename", filename, "key", key);
    if (!ref) {
        free(bytes);
        return;
    }
    if (!span)
        free(bytes);
    else if (bt__span_add_attachment(span, key, media, filename, bytes, (size_t)n) != BT_OK) {
        json_decref(ref); /* over the budget: the data stays inline */
        return;
    }
    json_object_set_new(v, "source", ref);
}

void bt__attachments_set_json(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                              const json_t *value)
{
    if (!span || !value)
        return;
    if (!bt__tracer_keeps_attachments(bt__anthropic_tracer(a)) || !has_media(value, 0)) {
        bt__span_set_json(a, span, key, mask_field, value);
        return;
    }
    json_t *copy = json_deep_copy(value);
    if (!copy) {
        bt__span_set_json(a, span, key, mask_field, value);
        return;
    }
    convert(copy, span, 0);
    bt__span_set_json(a, span, key, mask_field, copy);
    json_decref(copy);
}

json_t *bt__attachments_references(bt_anthropic *a, const json_t *value)
{
    if (!value)
        return NULL;
    if (!bt__tracer_keeps_attachments(bt__anthropic_tracer(a)) || !has_media(value, 0))
        return json_incref((json_t *)value);
    json_t *copy = json_deep_copy(value);
    if (copy)
        convert(copy, NULL, 0);
    return copy;
}

/* --- the same on canonical text (the Messages path: no tree is built) ----------------- */

/* Splices references into a copy of the text: what precedes each replaced `source` is
 * copied as it is. */
typedef struct splice {
    bt_span *span;      /* NULL: references only */
    const char *copied; /* the text before this is in `out` */
    bt__buf *out;
    size_t replaced;
} splice;

static int text_is_media_block(bt__jv block, bt__jv *source)
{
    bt__jv type = bt__jv_get(block, "type");
    if (!bt__jv_is(type, "image") && !bt__jv_is(type, "document"))
        return 0;
    *source = bt__jv_get(block, "source");
    bt__jv media = bt__jv_get(*source, "media_type"), data = bt__jv_get(*source, "data");
    /* as jansson reads it: a C string, so a media type starting with "\u0000" is empty */
    return bt__jv_is(bt__jv_get(*source, "type"), "base64") && media.type == BT__JV_STRING && media.len > 2 &&
        !(media.len >= 8 && !memcmp(media.p, "\"\\u0000", 7)) && data.type == BT__JV_STRING && data.len > 2;
}

static void splice_source(splice *sp, bt__jv block, bt__jv source)
{
    char *media = bt__jv_strdup(bt__jv_get(source, "media_type"));
    bt__buf b64;
    bt__buf_init(&b64, 0);
    unsigned char *bytes = NULL;
    if (!media || bt__jv_decode(bt__jv_get(source, "data"), &b64) != BT_OK ||
        !(bytes = malloc(bt__base64_decoded_max(b64.len) + 1)))
        goto done;
    long n = bt__base64_decode(b64.data, b64.len, bytes);
    if (n <= 0)
        goto done; /* not valid base64: shown as sent */
    char key[37], filename[64], block_type[16];
    bt__attachment_key(media, bytes, (size_t)n, key);
    bt__jv_copy(bt__jv_get(block, "type"), block_type, sizeof block_type);
    snprintf(filename, sizeof filename, "%s.%s", block_type, extension(media));
    if (sp->span) {
        int rc = bt__span_add_attachment(sp->span, key, media, filename, bytes, (size_t)n);
        bytes = NULL; /* taken, also on failure */
        if (rc != BT_OK)
            goto done; /* over the budget: the data stays inline */
    }
    bt__buf_append(sp->out, sp->copied, (size_t)(source.p - sp->copied));
    bt__buf_append_str(sp->out, "{\"type\":\"braintrust_attachment\",\"content_type\":");
    bt__buf_append_json_string(sp->out, media, strlen(media));
    bt__buf_printf(sp->out, ",\"filename\":\"%s\",\"key\":\"%s\"}", filename, key);
    sp->copied = source.p + source.len;
    sp->replaced++;
done:
    free(bytes);
    bt__buf_free(&b64);
    free(media);
}

static void splice_walk(splice *sp, bt__jv v, int depth)
{
    if (depth > WALK_DEPTH_MAX || (v.type != BT__JV_OBJECT && v.type != BT__JV_ARRAY))
        return;
    bt__jv source;
    if (v.type == BT__JV_OBJECT && text_is_media_block(v, &source)) {
        splice_source(sp, v, source);
        return;
    }
    bt__jv_iter it = bt__jv_iterate(v);
    bt__jv key, child;
    if (v.type == BT__JV_ARRAY)
        while (bt__jv_next(&it, &child))
            splice_walk(sp, child, depth + 1);
    else
        while (bt__jv_next_member(&it, &key, &child))
            splice_walk(sp, child, depth + 1);
}

/* Whether the text can hold a base64 source at all: canonical text spells its type
 * "base64" exactly, so text without those bytes (nearly all of it) is not walked. */
static int may_hold_media(const char *json, size_t len)
{
    return memmem(json, len, "\"base64\"", 8) != NULL;
}

/* Writes `value` with its media replaced into `out`; how many were replaced (none
 * written when 0). */
static size_t splice_text(bt_span *span, bt__jv value, bt__buf *out)
{
    splice sp = {.span = span, .copied = value.p, .out = out};
    splice_walk(&sp, value, 0);
    if (sp.replaced)
        bt__buf_append(out, sp.copied, (size_t)(value.p + value.len - sp.copied));
    return sp.replaced;
}

void bt__attachments_set_json_text(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                                   const char *json, size_t len)
{
    if (!span || !json)
        return;
    bt__buf out;
    bt__buf_init(&out, 0);
    bt__jv value = bt__jv_from(json, len);
    if (bt__tracer_keeps_attachments(bt__anthropic_tracer(a)) && may_hold_media(json, len) &&
        splice_text(span, value, &out) && !out.truncated)
        bt__span_set_json_text(a, span, key, mask_field, out.data, out.len);
    else
        bt__span_set_json_slice(a, span, key, mask_field, value);
    bt__buf_free(&out);
}

void bt__attachments_take_json_text(bt_anthropic *a, bt_span *span, const char *key, const char *mask_field,
                                    bt__buf *owner, const char *json, size_t len)
{
    if (!span || !json)
        return;
    int as_is = !(mask_field && bt__anthropic_masks(a)) &&
        !(bt__tracer_keeps_attachments(bt__anthropic_tracer(a)) && may_hold_media(json, len));
    int inside = owner && owner->data && json >= owner->data && json + len == owner->data + owner->len;
    size_t offset = inside ? (size_t)(json - owner->data) : 0;
    if (!as_is || !inside || offset > len) {
        bt__attachments_set_json_text(a, span, key, mask_field, json, len);
        return;
    }
    bt__span_take_string(span, key, bt__buf_steal(owner, NULL), offset, len);
}

int bt__attachments_references_text(bt_anthropic *a, bt__jv value, bt__buf *out)
{
    if (value.type == BT__JV_NONE)
        return BT_OK;
    if (bt__tracer_keeps_attachments(bt__anthropic_tracer(a)) && may_hold_media(value.p, value.len)) {
        bt__buf refs;
        bt__buf_init(&refs, 0);
        int rc = BT_OK;
        if (splice_text(NULL, value, &refs) && !refs.truncated)
            rc = bt__buf_append(out, refs.data, refs.len);
        else
            rc = bt__buf_append(out, value.p, value.len);
        bt__buf_free(&refs);
        return rc;
    }
    return bt__buf_append(out, value.p, value.len);
}
