/*
 * Reading the OTLP export response. A receiver that accepts a request but drops some
 * of its spans says so in partial_success (ExportTraceServiceResponse field 1:
 * ExportTracePartialSuccess { int64 rejected_spans = 1; string error_message = 2; }).
 */
#include "export/otlp_response.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/common.h"

/* A bounds-checked protobuf reader over one message. */
typedef struct pbr {
    const uint8_t *p, *end;
} pbr;

static int read_varint(pbr *r, uint64_t *out)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end)
            return BT_EPARSE;
        uint8_t b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) {
            *out = v;
            return BT_OK;
        }
    }
    return BT_EPARSE;
}

/* Reads a field header and, for a length-delimited field, its bounds; other wire
 * types are skipped over and reported with body NULL. */
static int read_field(pbr *r, unsigned *field, unsigned *wt, pbr *body)
{
    uint64_t key, n;
    if (read_varint(r, &key))
        return BT_EPARSE;
    *field = (unsigned)(key >> 3);
    *wt = (unsigned)(key & 7);
    body->p = body->end = NULL;
    if (*field == 0)
        return BT_EPARSE;
    switch (*wt) {
    case 0:
        /* varints are read by the caller from the current position */
        return BT_OK;
    case 1:
        if (r->end - r->p < 8)
            return BT_EPARSE;
        r->p += 8;
        return BT_OK;
    case 5:
        if (r->end - r->p < 4)
            return BT_EPARSE;
        r->p += 4;
        return BT_OK;
    case 2:
        if (read_varint(r, &n) || n > (uint64_t)(r->end - r->p))
            return BT_EPARSE;
        body->p = r->p;
        body->end = r->p + n;
        r->p += n;
        return BT_OK;
    default:
        return BT_EPARSE;
    }
}

static int parse_partial_proto(pbr r, int64_t *rejected, bt__buf *msg)
{
    while (r.p < r.end) {
        unsigned field, wt;
        pbr body;
        if (read_field(&r, &field, &wt, &body))
            return BT_EPARSE;
        if (wt == 0) {
            uint64_t v;
            if (read_varint(&r, &v))
                return BT_EPARSE;
            if (field == 1)
                *rejected = (int64_t)v;
        } else if (wt == 2 && field == 2) {
            bt__buf_append(msg, body.p, (size_t)(body.end - body.p));
        }
    }
    return BT_OK;
}

static int parse_proto(const uint8_t *p, size_t len, int64_t *rejected, bt__buf *msg)
{
    pbr r = {p, p + len};
    while (r.p < r.end) {
        unsigned field, wt;
        pbr body;
        if (read_field(&r, &field, &wt, &body))
            return BT_EPARSE;
        if (wt == 0) {
            uint64_t ignored;
            if (read_varint(&r, &ignored))
                return BT_EPARSE;
        } else if (wt == 2 && field == 1) {
            if (parse_partial_proto(body, rejected, msg))
                return BT_EPARSE;
        }
    }
    return BT_OK;
}

static int parse_json(const char *p, size_t len, int64_t *rejected, bt__buf *msg)
{
    json_error_t err;
    json_t *root = json_loadb(p, len, JSON_REJECT_DUPLICATES, &err);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return BT_EPARSE;
    }
    int rc = BT_OK;
    json_t *ps = json_object_get(root, "partialSuccess");
    if (ps && json_is_object(ps)) {
        /* int64 is a decimal string in OTLP JSON, but receivers also send numbers */
        json_t *rs = json_object_get(ps, "rejectedSpans");
        if (json_is_integer(rs)) {
            *rejected = (int64_t)json_integer_value(rs);
        } else if (json_is_string(rs)) {
            char *end;
            long long v = strtoll(json_string_value(rs), &end, 10);
            if (*end || end == json_string_value(rs))
                rc = BT_EPARSE;
            else
                *rejected = v;
        } else if (rs && !json_is_null(rs)) {
            rc = BT_EPARSE;
        }
        json_t *em = json_object_get(ps, "errorMessage");
        if (json_is_string(em))
            bt__buf_append(msg, json_string_value(em), json_string_length(em));
    }
    json_decref(root);
    return rc;
}

int bt__otlp_response_parse(const void *body, size_t len, int is_json, int64_t *rejected, bt__buf *msg)
{
    *rejected = 0;
    if (len == 0)
        return BT_OK;
    return is_json ? parse_json(body, len, rejected, msg) : parse_proto(body, len, rejected, msg);
}
