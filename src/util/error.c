#include "braintrust/common.h"

const char *bt_strerror(int code)
{
    switch (code) {
    case BT_OK:
        return "ok";
    case BT_EINVAL:
        return "invalid argument or configuration value";
    case BT_ENOMEM:
        return "out of memory";
    case BT_ELIMIT:
        return "size limit reached; data truncated or dropped";
    case BT_EPARSE:
        return "malformed input";
    case BT_EIO:
        return "I/O error";
    case BT_ETIMEDOUT:
        return "timed out";
    case BT_EDISABLED:
        return "tracing is disabled";
    case BT_ESTATE:
        return "call not valid in the current state";
    case BT_ENOTFOUND:
        return "not found";
    case BT_EEXPORT:
        return "spans could not be delivered";
    case BT_EDB:
        return "database error";
    case BT_EUNSUPPORTED:
        return "not supported by this build";
    default:
        return "unknown error";
    }
}
