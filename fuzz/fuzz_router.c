/*
 * Fuzz target: request routing and the query helper. Byte 0 picks the method (or
 * takes the next bytes up to a space as a raw method); the rest is the target, in an
 * exact-size buffer so any read past target_len is caught. Invariants: a routed
 * target has a span name, a batch id only for batch-id routes, NUL-terminated within
 * its array, without '/'; the query lies inside the target; query values are
 * NUL-terminated within their buffer.
 */
#define _POSIX_C_SOURCE 200809L /* strnlen */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/router.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char *const METHODS[] = {"POST", "GET", "DELETE", "HEAD", "PUT", "post"};
    if (size < 1)
        return 0;
    char method[16] = "";
    size_t m = data[0] % 8;
    data++;
    size--;
    if (m < 6) {
        strcpy(method, METHODS[m]);
    } else {
        size_t n = 0;
        while (n < size && n < sizeof method - 1 && data[n] != ' ')
            n++;
        memcpy(method, data, n);
        method[n] = '\0';
        data += n;
        size -= n;
    }
    char *target = malloc(size ? size : 1);
    if (!target)
        return 0;
    if (size)
        memcpy(target, data, size);

    bt__route r;
    bt__route_match(method, target, size, &r);
    size_t id_len = strnlen(r.batch_id, sizeof r.batch_id);
    if (id_len == sizeof r.batch_id || memchr(r.batch_id, '/', id_len))
        abort();
    int has_id = r.kind == BT__ROUTE_BATCH_RETRIEVE || r.kind == BT__ROUTE_BATCH_CANCEL ||
        r.kind == BT__ROUTE_BATCH_DELETE || r.kind == BT__ROUTE_BATCH_RESULTS ||
        r.kind == BT__ROUTE_SESSION_EVENTS_SEND || r.kind == BT__ROUTE_SESSION_EVENTS_LIST ||
        r.kind == BT__ROUTE_SESSION_EVENTS_STREAM;
    if ((has_id && id_len == 0) || (!has_id && id_len != 0))
        abort();
    size_t thread_len = strnlen(r.thread_id, sizeof r.thread_id);
    if (thread_len == sizeof r.thread_id || memchr(r.thread_id, '/', thread_len) ||
        (thread_len && r.kind != BT__ROUTE_SESSION_EVENTS_LIST && r.kind != BT__ROUTE_SESSION_EVENTS_STREAM))
        abort();
    if ((r.kind != BT__ROUTE_NONE) != (bt__route_span_name(r.kind) != NULL))
        abort();
    if (r.kind != BT__ROUTE_NONE && strcmp(method, "HEAD") == 0)
        abort();
    if (r.query && (r.query < target || r.query + r.query_len > target + size))
        abort();

    static const char *const NAMES[] = {"beta", "limit", "after_id", "before_id", ""};
    for (size_t i = 0; i < sizeof NAMES / sizeof NAMES[0]; i++) {
        char v[8];
        int found = bt__query_get(target, size, NAMES[i], v, sizeof v);
        if (found && strnlen(v, sizeof v) == sizeof v)
            abort();
    }
    free(target);
    return 0;
}
