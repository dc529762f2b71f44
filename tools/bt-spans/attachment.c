/* bt-spans attachment: writes out the bytes of an attachment kept in the store (a base64
 * image or document that a span's input refers to by key). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bt_spans.h"

int bts_attachment(const bts_options *o, const char *key)
{
    sqlite3 *db = bts_open(o, 0);
    if (!db)
        return BTS_EXIT_FAIL;
    sqlite3_stmt *st = NULL;
    int rc = BTS_EXIT_FAIL;
    if (sqlite3_prepare_v2(db,
                           "SELECT content_type, filename, size, trace_id, span_id, data FROM attachments"
                           " WHERE key = ?1",
                           -1, &st, NULL) != SQLITE_OK) {
        /* a store written before attachments were kept has no such table */
        fprintf(stderr, "bt-spans: no attachment %s in %s\n", key, o->store);
        sqlite3_close(db);
        return BTS_EXIT_FAIL;
    }
    sqlite3_bind_text(st, 1, key, -1, SQLITE_TRANSIENT);
    if (sqlite3_step(st) != SQLITE_ROW) {
        fprintf(stderr, "bt-spans: no attachment %s in %s\n", key, o->store);
    } else if (o->json) {
        json_t *v = json_pack(
            "{s:s,s:s,s:s,s:I,s:s,s:s}", "key", key, "content_type", (const char *)sqlite3_column_text(st, 0),
            "filename", (const char *)sqlite3_column_text(st, 1), "size",
            (json_int_t)sqlite3_column_int64(st, 2), "trace_id", (const char *)sqlite3_column_text(st, 3),
            "span_id", (const char *)sqlite3_column_text(st, 4));
        rc = bts_print_json(v);
    } else if ((!o->output || !strcmp(o->output, "-")) && isatty(STDOUT_FILENO)) {
        fprintf(stderr, "bt-spans: attachment %s is %lld bytes of %s; write it with -o FILE\n", key,
                (long long)sqlite3_column_int64(st, 2), (const char *)sqlite3_column_text(st, 0));
    } else {
        const void *data = sqlite3_column_blob(st, 5);
        size_t len = (size_t)sqlite3_column_bytes(st, 5);
        int to_stdout = !o->output || !strcmp(o->output, "-");
        FILE *out = to_stdout ? stdout : fopen(o->output, "wb");
        if (!out) {
            fprintf(stderr, "bt-spans: cannot write %s\n", o->output);
        } else {
            int ok = fwrite(data, 1, len, out) == len;
            ok = (to_stdout ? fflush(out) : fclose(out)) == 0 && ok;
            if (ok)
                rc = BTS_EXIT_OK;
            else
                fprintf(stderr, "bt-spans: cannot write %s\n", to_stdout ? "the output" : o->output);
        }
    }
    sqlite3_finalize(st);
    sqlite3_close(db);
    return rc;
}
