/* OTLP protobuf encoding of ExportTraceServiceRequest, written by hand (field numbers
 * from opentelemetry-proto trace/v1, common/v1, resource/v1). */
#ifndef BT_EXPORT_OTLP_PROTO_H
#define BT_EXPORT_OTLP_PROTO_H

#include "core/span_internal.h"
#include "util/buf.h"

int bt__otlp_proto_encode(const bt__resource *res, bt_span *const *spans, size_t n, bt__buf *out);

#endif
