/* The read queries behind bt-spans' commands and its web viewer: plain functions from
 * an open store to JSON values, with no I/O of their own, so they are tested without
 * sockets and shared by the CLI, `serve` and `html`. */
#ifndef BTS_QUERY_H
#define BTS_QUERY_H

#include <jansson.h>
#include <sqlite3.h>
#include <stdint.h>

/* A trace list page. Traces are ordered newest first by the start of their earliest
 * span, then by trace id. */
typedef struct bts_trace_filter {
    const char *name;   /* a span in the trace has a name containing this (any case), or NULL */
    const char *model;  /* a span in the trace has a model containing this (any case), or NULL */
    int status;         /* 0 any, 1 no error span, 2 at least one error span */
    int64_t from_ns;    /* trace start >= from_ns (0: no bound) */
    int64_t to_ns;      /* trace start < to_ns (0: no bound) */
    const char *cursor; /* the `next` of the previous page, or NULL for the first */
    int limit;          /* traces per page, 1..1000 */
    int64_t budget;     /* index entries examined before a page ends early (0: default) */
} bts_trace_filter;

/* Error codes of the query functions (negative; 0 is success). */
#define BTS_Q_OK 0
#define BTS_Q_EDB (-1)        /* a database error: sqlite3_errmsg(db) says which */
#define BTS_Q_EINVAL (-2)     /* a malformed argument (cursor, id) */
#define BTS_Q_ENOTFOUND (-3)  /* no such trace or span */
#define BTS_Q_EAMBIGUOUS (-4) /* a trace id prefix matches several traces */

/* Registers the functions the queries use (bts_sat_sum) on a connection. */
int bts_query_register(sqlite3 *db);

/* Writes one page to *out (caller owns it):
 *   {"traces":[{"trace_id","root","root_status","start_ns","duration_ns","spans",
 *               "models":[...],"prompt_tokens","completion_tokens","errors"}],
 *    "next": cursor or null, "complete": bool, "scanned": n}
 * Work per page is bounded by `budget`: a selective filter over a large store ends the
 * page early with "complete": false and a `next` cursor to continue from. Token sums
 * count llm spans except count_tokens calls, saturated at the int64 range. */
int bts_query_traces(sqlite3 *db, const bts_trace_filter *f, json_t **out);

/* One trace for the waterfall: {"trace_id","start_ns","end_ns","truncated","spans":[
 * {"span_id","parent_span_id","name","type","model","start","end","status",
 * "status_message","prompt_tokens","completion_tokens"}]}, spans in start order,
 * "start"/"end" in ns from the trace's start (exact in a JavaScript number), at most
 * `max_spans` of them. */
int bts_query_trace(sqlite3 *db, const char *trace_id, size_t max_spans, json_t **out);

/* Resolves a full trace id or a unique prefix into out[33]. BTS_Q_ENOTFOUND,
 * BTS_Q_EAMBIGUOUS (then *candidates, when not NULL, gets up to `max_candidates`
 * matching traces as {"trace_id","root","start_ns"}; caller owns it). An empty prefix
 * is ambiguous as soon as the store holds two traces. */
int bts_query_resolve(sqlite3 *db, const char *prefix, char out[33], size_t max_candidates,
                      json_t **candidates);

/* The stored OTLP JSON line of one span, verbatim. Caller frees *line. */
int bts_query_span_line(sqlite3 *db, const char *trace_id, const char *span_id, char **line, size_t *len);

/* Token totals over llm spans (count_tokens calls are counted apart, never as tokens):
 *   {"models":[{"model","calls","errors","prompt_tokens","completion_tokens",
 *               "cache_read_tokens","cache_creation_tokens","reasoning_tokens",
 *               "saturated":[names of sums that reached the int64 range]}],
 *    "days":[{"day":"YYYY-MM-DD","model","calls","prompt_tokens","completion_tokens"}],
 *    "count_tokens_calls": n, "total": {like a model row without "model"}}
 * `with_days` 0 leaves "days" out. */
int bts_query_totals(sqlite3 *db, int with_days, json_t **out);

/* The summed keys of a totals row, in the order they are printed. */
#define BTS_N_TOTAL_KEYS 7
extern const char *const bts_total_keys[BTS_N_TOTAL_KEYS];

/* Spans stored after `*rowid` (the table's rowid, which only grows): up to `max` distinct
 * trace ids of them into *traces (caller owns it); *rowid advances to the newest. */
int bts_query_changes(sqlite3 *db, int64_t *rowid, size_t max, json_t **traces);

/* Saturating int64 addition: the sum, or INT64_MAX / INT64_MIN when it would overflow. */
int64_t bts_sat_add(int64_t a, int64_t b);

#endif
