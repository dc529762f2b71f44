#include "util/log.h"

#include <stdio.h>

void bt__logv(bt_log_fn fn, void *ud, bt_log_level min, bt_log_level level, const char *fmt, va_list ap)
{
    if (!fn || level < min)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof msg, fmt, ap);
    fn(ud, level, msg);
}

void bt__log(bt_log_fn fn, void *ud, bt_log_level min, bt_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bt__logv(fn, ud, min, level, fmt, ap);
    va_end(ap);
}
