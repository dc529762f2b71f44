/*
 * The local SQLite span store, shared by the store sink (which writes rows from the
 * tracer's export thread, and the sent flag from its shipper thread, each on its own
 * connection) and bt-spans (which reads it, and writes only the sent flag on `send`).
 *
 * One row per span in table `spans`, keyed by (trace_id, span_id): the span's OTLP JSON
 * line (the JSONL format, resource included) plus columns extracted for queries; the
 * bytes of span attachments in table `attachments`, one row per key
 * (store_attachments.c). The schema version is PRAGMA user_version.
 */
#ifndef BT_EXPORT_STORE_H
#define BT_EXPORT_STORE_H

#include <sqlite3.h>
#include <stdint.h>

#include "braintrust/sink.h"
#include "core/sink_internal.h"
#include "util/buf.h"

#define BT__STORE_SCHEMA_VERSION 1

/* Values of spans.sent. A line that can no longer be decoded is set aside as
 * undeliverable rather than blocking every later span. */
#define BT__STORE_UNSENT 0
#define BT__STORE_SENT 1
#define BT__STORE_UNDELIVERABLE 2

typedef enum {
    BT__STORE_READ_ONLY,  /* existing store, queries only */
    BT__STORE_READ_WRITE, /* existing store, may update rows (bt-spans send) */
    BT__STORE_CREATE      /* created with its schema when missing (the sink) */
} bt__store_mode;

/* Opens the store at `path` in WAL mode with a busy timeout and checks (or, in CREATE
 * mode, creates) the schema. On failure a one-line reason goes to `err` (may be NULL):
 * BT_ENOTFOUND for a missing file (not in CREATE mode), BT_EDB for a file that is not
 * SQLite, is corrupt, holds another schema or a newer version, or cannot be opened.
 * Caller owns *out (sqlite3_close). */
int bt__store_open(const char *path, bt__store_mode mode, sqlite3 **out, bt__buf *err);

/* The WAL sizes, in bytes, at which the store sink's checkpointer thread is woken and
 * past which its writer checkpoints itself (by default 32 and 128 MiB); for tests.
 * BT_EINVAL when `sink` is not a store sink or a size is not positive. */
int bt__store_sink_set_checkpoint(bt_sink *sink, int64_t wake_bytes, int64_t limit_bytes);

/* A span decoded back from its stored line, for re-export: the span and the resource
 * it was exported with. Everything is owned by the decoded span. */
typedef struct bt__stored_span {
    bt_span *span;
    bt__resource resource;
    char *resource_key; /* canonical JSON of the resource, to group spans per export */
} bt__stored_span;

/* Decodes one OTLP JSON span line. BT_EPARSE when it is not a span line. */
int bt__stored_span_decode(const char *line, size_t len, bt__stored_span *out);
void bt__stored_span_free(bt__stored_span *s);

/* Progress of a shipping run: called after each delivered batch. */
typedef void (*bt__store_progress_fn)(void *ud, uint64_t shipped, uint64_t total);

typedef struct bt__store_ship_result {
    uint64_t shipped;       /* spans delivered and marked sent */
    uint64_t undeliverable; /* lines that could not be decoded, set aside */
    uint64_t refused;       /* spans the receiver refused for their content, set aside */
    uint64_t pending;       /* spans still unsent afterwards */
} bt__store_ship_result;

/* Ships unsent spans (all spans with `all`) to `to`, oldest first, in batches of at most
 * `batch` spans, marking spans sent once the sink accepted them; stops at the first
 * failed export (those spans stay unsent; to->last_kind says why) or after
 * `max_batches` batches (0: no limit). Spans the receiver refuses for their content
 * are retried alone, and set aside as undeliverable when refused alone. Returns BT_OK
 * when every span it tried was delivered or set aside, BT_EEXPORT when the sink failed,
 * BT_EDB on a database error. `res` may be NULL. */
int bt__store_ship(sqlite3 *db, bt_sink *to, int all, size_t batch, unsigned max_batches,
                   bt__store_progress_fn progress, void *ud, bt__store_ship_result *res);

/* Attachments (store_attachments.c). Creates their table when missing (writers). */
int bt__store_attachments_prepare(sqlite3 *db);
/* Writes the attachments of `s` not stored yet, inside the caller's transaction. */
int bt__store_attachments_put(sqlite3 *db, const bt_span *s, int64_t stored_ns);
/* Loads into a decoded span the attachments its input and output refer to (for a target
 * that uploads them). */
int bt__store_attachments_load(sqlite3 *db, bt_span *s);

/* Creates the missing parent directories of `path` (mode 0700). */
int bt__store_make_parent_dirs(const char *path);

#endif
