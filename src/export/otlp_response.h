/* The OTLP/HTTP export response: ExportTraceServiceResponse and its partial success. */
#ifndef BT_EXPORT_OTLP_RESPONSE_H
#define BT_EXPORT_OTLP_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"

/* Reads a successful response body, protobuf or JSON ({"partialSuccess":
 * {"rejectedSpans":"2","errorMessage":"..."}}). *rejected gets rejected_spans (0 when
 * absent; an empty body is a full success); the error message, if any, is appended to
 * `msg`. Unknown fields are skipped. BT_EPARSE for a malformed body. */
int bt__otlp_response_parse(const void *body, size_t len, int is_json, int64_t *rejected, bt__buf *msg);

#endif
