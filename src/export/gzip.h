/* gzip compression of a whole buffer (OTLP request bodies). */
#ifndef BT_EXPORT_GZIP_H
#define BT_EXPORT_GZIP_H

#include <stddef.h>

#include "util/buf.h"

int bt__gzip_compress(const void *data, size_t len, bt__buf *out);

#endif
