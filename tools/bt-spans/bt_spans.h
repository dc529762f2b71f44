/* bt-spans: reads the local span store that bt-proxy --store (or any tracer with a
 * store path) writes. One file per command; this header is what they share. */
#ifndef BT_SPANS_H
#define BT_SPANS_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

typedef struct bts_options {
    const char *store;                      /* --store, else $BT_STORE_PATH, else ./bt-spans.db */
    int json;                               /* --json */
    int limit;                              /* list: --limit (default 20) */
    int all;                                /* send: --all re-sends spans already sent */
    const char *batch, *requests, *results; /* import-batch */
    int full;                               /* show: --full, whole inputs and outputs */
    const char *output;                     /* html, attachment: -o FILE ("-": standard output) */
    const char *listen;                     /* serve: --listen HOST:PORT */
} bts_options;

/* Exit statuses. */
#define BTS_EXIT_OK 0
#define BTS_EXIT_FAIL 1
#define BTS_EXIT_USAGE 2

/* Opens the store read-only (or read-write for send); prints a clear error and
 * returns NULL when it is missing or not a span store. */
sqlite3 *bts_open(const bts_options *o, int writable);

int bts_list(const bts_options *o);
int bts_show(const bts_options *o, const char *trace_id);
int bts_totals(const bts_options *o);
int bts_send(const bts_options *o);
int bts_import_batch(const bts_options *o);
int bts_span(const bts_options *o, const char *trace_id, const char *span_id);
int bts_html(const bts_options *o, const char *trace_id);
int bts_serve(const bts_options *o);
int bts_attachment(const bts_options *o, const char *key);

/* Resolves a trace id or unique prefix into out[33]; otherwise says why on stderr (for
 * an ambiguous or empty prefix, with the candidates) and returns nonzero. */
int bts_resolve_or_explain(sqlite3 *db, const bts_options *o, const char *want, char out[33]);

/* Opens the store read-only and resolves `want` into out[33]; on failure says why on
 * stderr and returns NULL. The caller closes the handle. */
sqlite3 *bts_open_trace(const bts_options *o, const char *want, char out[33]);

/* The base64 SHA-256 of `data`, as a Content-Security-Policy hash source wants it. */
void bts_csp_hash(const unsigned char *data, size_t len, char out[64]);

/* Formatting helpers (format.c). */
void bts_format_duration(int64_t ns, char *out, size_t cap);
void bts_format_time(int64_t unix_ns, char *out, size_t cap);
/* The string value of attribute `key` in a stored span line (parsed), or NULL. */
const char *bts_line_attr(json_t *line, const char *key);
/* A one-line preview (at most `max` bytes, whole UTF-8 characters) of an input_json or
 * output_json value: the last message's text, tool calls as [tool_use NAME]. Caller
 * frees. */
char *bts_preview(const char *json_text, size_t max);
/* Replaces control characters (terminal escapes included) by '?' in place: stored
 * names and messages come from traffic and must not drive the user's terminal. */
char *bts_sanitize(char *s);
/* A sanitized copy of `s` in `buf` (cut to fit, at a character boundary). */
const char *bts_clean(const char *s, char *buf, size_t cap);
/* Prints `v` as indented JSON on stdout and frees it. */
int bts_print_json(json_t *v);
/* Integer column that may be NULL: json null or integer. */
json_t *bts_json_count(sqlite3_stmt *st, int col);

#endif
