/* OTLP JSON encoding per the OTLP spec's JSON mapping (hex ids, string int64s,
 * lowerCamelCase field names, enum values as integers). */
#ifndef BT_EXPORT_OTLP_JSON_H
#define BT_EXPORT_OTLP_JSON_H

#include "core/span_internal.h"
#include "util/buf.h"

/* A whole ExportTraceServiceRequest {"resourceSpans":[...]} for n spans. */
int bt__otlp_json_encode(const bt__resource *res, bt_span *const *spans, size_t n, bt__buf *out);
/* One Span object, plus "resource":{"attributes":[service.name...]}, no newline:
 * the JSONL line format (also used by the memory sink and the span store). */
int bt__otlp_json_span_line(const bt__resource *res, const bt_span *span, bt__buf *out);

#endif
