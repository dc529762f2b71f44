/*
 * The attachments of stored spans: table `attachments` of the span store, one row per
 * key (keys derive from the content, so an image sent in every turn is kept once). The
 * store sink writes a span's attachments in the transaction that writes the span; the
 * shipper loads them again for a spool target that uploads them (the Braintrust
 * exporter); bt-spans writes them back out. The table is created by writers when
 * missing, so stores made before it existed keep working (readers then find none).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "export/store.h"
#include "util/text.h"

static const char TABLE[] = "CREATE TABLE IF NOT EXISTS attachments ("
                            " key TEXT PRIMARY KEY,"
                            " content_type TEXT NOT NULL,"
                            " filename TEXT NOT NULL,"
                            " size INTEGER NOT NULL,"
                            " data BLOB NOT NULL,"
                            " trace_id TEXT NOT NULL," /* the first span that carried it */
                            " span_id TEXT NOT NULL,"
                            " stored_ns INTEGER NOT NULL)";

int bt__store_attachments_prepare(sqlite3 *db)
{
    return sqlite3_exec(db, TABLE, NULL, NULL, NULL) == SQLITE_OK ? BT_OK : BT_EDB;
}

int bt__store_attachments_put(sqlite3 *db, const bt_span *s, int64_t stored_ns)
{
    if (s->n_attachments == 0)
        return BT_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(db,
                           "INSERT OR IGNORE INTO attachments (key, content_type, filename, size, data,"
                           " trace_id, span_id, stored_ns) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                           -1, &st, NULL) != SQLITE_OK)
        return BT_EDB;
    char trace_id[33], span_id[17];
    bt__hex_encode(s->trace_id, 16, trace_id);
    bt__hex_encode(s->span_id, 8, span_id);
    int rc = BT_OK;
    for (size_t i = 0; i < s->n_attachments && rc == BT_OK; i++) {
        const bt__attachment *a = &s->attachments[i];
        sqlite3_bind_text(st, 1, a->key, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 2, a->content_type, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 3, a->filename, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 4, (sqlite3_int64)a->len);
        sqlite3_bind_blob64(st, 5, a->data, a->len, SQLITE_STATIC);
        sqlite3_bind_text(st, 6, trace_id, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 7, span_id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 8, stored_ns);
        rc = sqlite3_step(st) == SQLITE_DONE ? BT_OK : BT_EDB;
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    return rc;
}

/* References {"type":"braintrust_attachment",...,"key"} found in a JSON value. */
static void collect_keys(const json_t *v, json_t *keys, int depth)
{
    if (depth > 64)
        return;
    if (json_is_object(v)) {
        const char *type = json_string_value(json_object_get(v, "type"));
        const char *key = json_string_value(json_object_get(v, "key"));
        if (type && key && !strcmp(type, "braintrust_attachment")) {
            json_object_set_new(keys, key, json_true());
            return;
        }
        const char *k;
        json_t *child;
        json_object_foreach((json_t *)v, k, child) collect_keys(child, keys, depth + 1);
    } else if (json_is_array(v)) {
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child) collect_keys(child, keys, depth + 1);
    }
}

/* Appends an attachment to a span that belongs to no tracer (decoded for shipping). */
static int append(bt_span *s, const char *key, const char *content_type, const char *filename,
                  const void *data, size_t len)
{
    bt__attachment *grown = realloc(s->attachments, (s->n_attachments + 1) * sizeof *grown);
    if (!grown)
        return BT_ENOMEM;
    s->attachments = grown;
    bt__attachment *a = &s->attachments[s->n_attachments];
    memset(a, 0, sizeof *a);
    snprintf(a->key, sizeof a->key, "%s", key);
    a->content_type = strdup(content_type);
    a->filename = strdup(filename);
    a->data = malloc(len ? len : 1);
    if (!a->content_type || !a->filename || !a->data) {
        free(a->content_type);
        free(a->filename);
        free(a->data);
        return BT_ENOMEM;
    }
    memcpy(a->data, data, len);
    a->len = len;
    s->n_attachments++;
    return BT_OK;
}

int bt__store_attachments_load(sqlite3 *db, bt_span *s)
{
    json_t *keys = json_object();
    static const char *const attrs[] = {"braintrust.input_json", "braintrust.output_json"};
    for (size_t i = 0; i < 2; i++) {
        const bt__attr *a = bt__attrs_find(&s->attrs, attrs[i]);
        if (!a || a->type != BT__ATTR_STRING || !strstr(a->v.s.ptr, "braintrust_attachment"))
            continue;
        json_t *v = json_loadb(a->v.s.ptr, a->v.s.len, JSON_DECODE_ANY, NULL);
        collect_keys(v, keys, 0);
        json_decref(v);
    }
    int rc = BT_OK;
    sqlite3_stmt *st = NULL;
    if (json_object_size(keys) &&
        sqlite3_prepare_v2(db, "SELECT content_type, filename, data FROM attachments WHERE key = ?1", -1, &st,
                           NULL) != SQLITE_OK)
        rc = BT_OK; /* a store without the table: nothing to load */
    const char *key;
    json_t *unused;
    json_object_foreach(keys, key, unused)
    {
        if (!st || rc != BT_OK)
            break;
        sqlite3_bind_text(st, 1, key, -1, SQLITE_STATIC);
        if (sqlite3_step(st) == SQLITE_ROW)
            rc = append(s, key, (const char *)sqlite3_column_text(st, 0),
                        (const char *)sqlite3_column_text(st, 1), sqlite3_column_blob(st, 2),
                        (size_t)sqlite3_column_bytes(st, 2));
        sqlite3_reset(st);
    }
    sqlite3_finalize(st);
    json_decref(keys);
    return rc;
}
