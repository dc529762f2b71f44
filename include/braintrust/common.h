/*
 * Common definitions of libbraintrust: export macro, error codes, logging.
 *
 * Every function that can fail returns an int: 0 (BT_OK) on success, a negative BT_E*
 * code otherwise; bt_strerror() names the code. The library never aborts or exits the
 * host program; details of a failure go to the logger set on the tracer.
 */
#ifndef BRAINTRUST_COMMON_H
#define BRAINTRUST_COMMON_H

#include <stddef.h>
#include <stdint.h>

#if defined(BT_BUILDING_LIBRARY)
#define BT_EXTERN __attribute__((visibility("default")))
#else
#define BT_EXTERN
#endif

#ifdef __cplusplus
extern "C" {
#endif

enum {
    BT_OK = 0,
    BT_EINVAL = -1,       /* invalid argument or configuration value */
    BT_ENOMEM = -2,       /* allocation failed */
    BT_ELIMIT = -3,       /* a hard cap was reached; data was truncated or dropped */
    BT_EPARSE = -4,       /* malformed input (JSON, SSE, HTTP, compressed data) */
    BT_EIO = -5,          /* file or network I/O failed */
    BT_ETIMEDOUT = -6,    /* the operation did not finish in time */
    BT_EDISABLED = -7,    /* tracing is disabled (by configuration or a bad config) */
    BT_ESTATE = -8,       /* call not valid in the object's current state */
    BT_ENOTFOUND = -9,    /* no such item */
    BT_EEXPORT = -10,     /* spans could not be delivered to a sink */
    BT_EDB = -11,         /* a database (the SQLite store, PostgreSQL) reported an error */
    BT_EUNSUPPORTED = -12 /* feature not built in (e.g. brotli) */
};

/* Returns a static, human-readable description of an error code. Never NULL. */
BT_EXTERN const char *bt_strerror(int code);

typedef enum { BT_LOG_DEBUG = 0, BT_LOG_INFO = 1, BT_LOG_WARN = 2, BT_LOG_ERROR = 3 } bt_log_level;

/* Logger callback. `msg` is borrowed for the duration of the call. It may be called
 * from the exporter's background thread; it must be thread-safe. Messages never
 * contain secrets (API keys, authorization headers, cookies). */
typedef void (*bt_log_fn)(void *userdata, bt_log_level level, const char *msg);

/* Clock callback: current wall-clock time in nanoseconds since the Unix epoch. */
typedef uint64_t (*bt_clock_fn)(void *userdata);

/* One HTTP header as seen on the wire. Pointers are borrowed for the call. */
typedef struct bt_header {
    const char *name;
    size_t name_len;
    const char *value;
    size_t value_len;
} bt_header;

/* A key/value pair of strings (event and link attributes). Borrowed for the call. */
typedef struct bt_kv {
    const char *key;
    const char *value;
} bt_kv;

#ifdef __cplusplus
}
#endif
#endif
