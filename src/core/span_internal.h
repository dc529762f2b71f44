/*
 * The span data model shared by the tracing core (which builds spans) and the export
 * layer (which encodes them). A finished span is immutable: the export thread reads it
 * without locks.
 */
#ifndef BT_CORE_SPAN_INTERNAL_H
#define BT_CORE_SPAN_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "braintrust/span.h"

typedef enum {
    BT__ATTR_STRING = 0,
    BT__ATTR_BOOL,
    BT__ATTR_INT,
    BT__ATTR_DOUBLE,
    BT__ATTR_STRING_ARRAY
} bt__attr_type;

typedef struct bt__attr {
    char *key;
    bt__attr_type type;
    char *block; /* a string value's own allocation (bt__span_take_string), or NULL when the
                  * value follows the key in its allocation */
    union {
        struct {
            char *ptr;
            size_t len;
        } s; /* valid UTF-8, NUL-terminated */
        int64_t i;
        double d;
        int b;
        struct {
            char **items;
            size_t *lens;
            size_t n;
        } arr;
    } v;
} bt__attr;

typedef struct bt__attrs {
    bt__attr *items;
    size_t n;
    size_t cap;
} bt__attrs;

typedef struct bt__event {
    char *name;
    uint64_t time_unix_nano;
    bt__attrs attrs;
} bt__event;

typedef struct bt__link {
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t trace_flags;
    char *tracestate; /* NULL when empty */
    bt__attrs attrs;
} bt__link;

/* Bytes that a span's attributes refer to instead of carrying them inline: a Braintrust
 * attachment (its reference {"type":"braintrust_attachment","content_type","filename",
 * "key"} sits in the JSON of an attribute). Sinks that keep attachments upload or store
 * them with the span; the others only see the reference. */
typedef struct bt__attachment {
    char key[37]; /* UUID-shaped */
    char *content_type;
    char *filename;
    unsigned char *data;
    size_t len;
} bt__attachment;

struct bt_span {
    bt_tracer *tracer;
    uint8_t trace_id[16];
    uint8_t span_id[8];
    uint8_t parent_span_id[8];
    int has_parent;
    uint8_t trace_flags;
    char *tracestate; /* NULL when empty */
    char *name;
    bt_span_kind kind;
    uint64_t start_unix_nano;
    uint64_t end_unix_nano;
    bt__attrs attrs;
    bt__event *events;
    size_t n_events, cap_events;
    bt__link *links;
    size_t n_links, cap_links;
    bt_status_code status_code;
    char *status_message;        /* NULL unless ERROR with a message */
    size_t approx_bytes;         /* running estimate of the encoded size */
    bt__attachment *attachments; /* core/attachment.c */
    size_t n_attachments;
    /* Counts of what the per-span caps refused (OTLP dropped_*_count). */
    uint32_t dropped_attributes, dropped_events, dropped_links;
    struct bt_span *next; /* processor queue link */
};

/* The resource and instrumentation scope every exported span shares. */
typedef struct bt__resource {
    bt__attrs attrs;           /* service.name, telemetry.sdk.*, OTEL_RESOURCE_ATTRIBUTES */
    const char *scope_name;    /* "braintrust-c" */
    const char *scope_version; /* BT_VERSION_STRING */
} bt__resource;

/* Attribute list helpers (core/attrs.c). */
const bt__attr *bt__attrs_find(const bt__attrs *a, const char *key);
void bt__attrs_free(bt__attrs *a);

/* Sets a string attribute to the `len` bytes at `block + offset`, taking `block`
 * (malloc'd, with room for a NUL at offset + len; freed on every path, failures too). A
 * value that is valid UTF-8 within the attribute cap is kept where it is, with no copy,
 * and the span holds the block (the room past the value given back) until it is freed; any other value is stored as
 * bt_span_set_string_len() would store it. For builders that hand over a large text
 * they no longer need. */
int bt__span_take_string(bt_span *s, const char *key, char *block, size_t offset, size_t len);

/* Frees a span and everything it owns. */
void bt__span_free(bt_span *s);

/* Attachments (core/attachment.c). Adds one to the span, taking `data` (malloc'd; freed
 * on failure too); strings are copied. BT_ELIMIT when the tracer's budget of attachment
 * bytes waiting for export (BT__ATTACHMENT_BUDGET) would be passed, BT_EINVAL for a NULL
 * span or a span of a tracer whose sinks keep no attachments. */
#define BT__ATTACHMENT_BUDGET ((size_t)256 << 20)
int bt__span_add_attachment(bt_span *s, const char *key, const char *content_type, const char *filename,
                            unsigned char *data, size_t len);
/* Releases a span's attachments (bt__span_free calls it). */
void bt__span_free_attachments(bt_span *s);
/* 1 when a sink of the tracer delivers attachments (bt_sink.keeps_attachments). */
int bt__tracer_keeps_attachments(const bt_tracer *t);

#endif
