/* Internal logging helper over a bt_log_fn (formats, filters by level). */
#ifndef BT_UTIL_LOG_H
#define BT_UTIL_LOG_H

#include <stdarg.h>

#include "braintrust/common.h"

void bt__logv(bt_log_fn fn, void *ud, bt_log_level min, bt_log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 5, 0)));
void bt__log(bt_log_fn fn, void *ud, bt_log_level min, bt_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

#endif
