/*
 * libbraintrust: traces Anthropic API calls as OpenTelemetry spans with Braintrust
 * attributes and exports them over OTLP/HTTP, to a local SQLite store or to files.
 * Umbrella header: include this one.
 */
#ifndef BRAINTRUST_H
#define BRAINTRUST_H

#include "common.h"
#include "span.h"
#include "tracer.h"
#include "sink.h"
#include "anthropic.h"
#include "batch.h"
#include "curl.h"

#define BT_VERSION_STRING "0.1.0"

#endif
