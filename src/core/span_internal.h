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
    char *status_message; /* NULL unless ERROR with a message */
    size_t approx_bytes;  /* running estimate of the encoded size */
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

/* Frees a span and everything it owns. */
void bt__span_free(bt_span *s);

#endif
