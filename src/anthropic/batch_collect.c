/*
 * The explicit collect API (include/braintrust/batch.h): the batch trace for a batch
 * whose traffic was not observed, from its batch object, its create requests and its
 * results. Requests go through the same ingest as an observed create (into the
 * correlation store under the batch id), results through the same batch trace, so
 * both paths produce identical spans and ids.
 */
#include "braintrust/batch.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic/batch_object.h"
#include "anthropic/batch_requests.h"
#include "anthropic/batch_trace.h"
#include "anthropic/exchange_internal.h"
#include "decode/inflate.h"

#define BATCH_FILE_MAX ((size_t)1 << 20)
#define READ_CHUNK ((size_t)64 << 10)

struct bt_batch_collector {
    bt_anthropic *a;
    char batch_id[BT__BATCH_ID_MAX];
    bt__batch_requests *reqs;
    bt__batch_trace *trace;
    int requests_error;
    int finished;
};

int bt_batch_collector_new(bt_anthropic *a, const char *batch_json, size_t len, bt_batch_collector **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    if (!a || !batch_json)
        return BT_EINVAL;
    json_t *batch = json_loadb(batch_json, len, 0, NULL);
    if (!batch)
        return BT_EPARSE;
    json_t *id = json_object_get(batch, "id");
    if (!json_is_string(id) || json_string_length(id) == 0 || json_string_length(id) >= BT__BATCH_ID_MAX) {
        json_decref(batch);
        return BT_EINVAL;
    }
    bt_batch_collector *c = calloc(1, sizeof *c);
    if (!c) {
        json_decref(batch);
        return BT_ENOMEM;
    }
    c->a = a;
    memcpy(c->batch_id, json_string_value(id), json_string_length(id) + 1);
    /* The trace takes its times, status and counts from the store's batch cache. */
    int rc = bt__batch_object_remember(bt__anthropic_correlation(a), batch);
    json_decref(batch);
    c->reqs = bt__batch_requests_new(bt__anthropic_correlation(a), c->batch_id);
    if (rc != BT_OK || !c->reqs) {
        bt_batch_collector_free(c);
        return rc != BT_OK ? rc : BT_ENOMEM;
    }
    *out = c;
    return BT_OK;
}

int bt_batch_collector_feed_requests(bt_batch_collector *c, const void *data, size_t len)
{
    if (!c || (!data && len))
        return BT_EINVAL;
    if (c->trace || c->finished)
        return BT_ESTATE;
    if (c->requests_error)
        return BT_EPARSE;
    if (bt__batch_requests_feed(c->reqs, data, len) != BT_OK) {
        c->requests_error = 1;
        return BT_EPARSE;
    }
    return BT_OK;
}

/* Ends the requests and starts the trace (at the first results, or at finish). */
static int start_trace(bt_batch_collector *c)
{
    if (c->trace)
        return BT_OK;
    if (!c->requests_error && bt__batch_requests_finish(c->reqs) != BT_OK)
        c->requests_error = 1;
    c->trace = bt__batch_trace_new(c->a, c->batch_id, NULL, NULL, 0, NULL, NULL);
    return c->trace ? BT_OK : BT_ENOMEM;
}

int bt_batch_collector_feed_results(bt_batch_collector *c, const void *data, size_t len)
{
    if (!c || (!data && len))
        return BT_EINVAL;
    if (c->finished)
        return BT_ESTATE;
    int rc = start_trace(c);
    if (rc)
        return rc;
    bt__batch_trace_feed(c->trace, data, len);
    return BT_OK;
}

/* Finishes the trace; `incomplete` (may be NULL) says why the results were cut. */
static int finish_with(bt_batch_collector *c, const char *incomplete, bt_batch_import_stats *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!c)
        return BT_EINVAL;
    if (c->finished)
        return BT_ESTATE;
    int rc = start_trace(c);
    if (rc)
        return rc;
    c->finished = 1;
    bt__batch_trace_finish(c->trace, incomplete);
    const bt__batch_counts *k = bt__batch_trace_counts(c->trace);
    const bt__batch_requests_stats *rs = bt__batch_requests_get_stats(c->reqs);
    if (out) {
        out->requests = rs->requests;
        out->results = k->results;
        out->succeeded = k->succeeded;
        out->errored = k->errored;
        out->canceled = k->canceled;
        out->expired = k->expired;
        out->invalid_lines = k->invalid;
        out->duplicate_ids = k->duplicate;
        out->unknown_ids = k->unknown;
        out->oversized_lines = k->oversized;
        int64_t prompt = bt__batch_trace_metric(c->trace, "prompt_tokens");
        int64_t completion = bt__batch_trace_metric(c->trace, "completion_tokens");
        out->prompt_tokens = prompt > 0 ? prompt : 0;
        out->completion_tokens = completion > 0 ? completion : 0;
    }
    return (c->requests_error || rs->invalid || k->invalid || incomplete) ? BT_EPARSE : BT_OK;
}

int bt_batch_collector_finish(bt_batch_collector *c, bt_batch_import_stats *out)
{
    return finish_with(c, NULL, out);
}

void bt_batch_collector_free(bt_batch_collector *c)
{
    if (!c)
        return;
    if (!c->finished && c->reqs)
        bt_batch_collector_finish(c, NULL);
    bt__batch_trace_free(c->trace);
    bt__batch_requests_free(c->reqs);
    free(c);
}

static int requests_sink(void *ud, const char *data, size_t len)
{
    int rc = bt_batch_collector_feed_requests(ud, data, len);
    return rc == BT_EPARSE ? BT_OK : rc; /* keep going: the error is reported at finish */
}

static int results_sink(void *ud, const char *data, size_t len)
{
    return bt_batch_collector_feed_results(ud, data, len);
}

/* A file read in chunks: plain, or gzip (told by its magic bytes) inflated on the fly. */
typedef struct file_reader {
    bt__bytes_fn sink;
    void *ud;
    int started;
    bt__inflate *z;
    int corrupt;
} file_reader;

static int reader_chunk(file_reader *r, const char *data, size_t len)
{
    if (!r->started) {
        r->started = 1;
        if (len >= 2 && (unsigned char)data[0] == 0x1f && (unsigned char)data[1] == 0x8b) {
            r->z = bt__inflate_new(BT__CODING_GZIP, 0, r->sink, r->ud);
            if (!r->z)
                return BT_ENOMEM;
        }
    }
    if (!r->z)
        return r->sink(r->ud, data, len);
    if (!r->corrupt && bt__inflate_feed(r->z, data, len) != BT_OK)
        r->corrupt = 1;
    return BT_OK;
}

/* Feeds the file at `path` to `sink`; *corrupt set when its gzip data is corrupt or
 * cut short. BT_EIO when it cannot be read. */
static int read_file(const char *path, bt__bytes_fn sink, void *ud, int *corrupt)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return BT_EIO;
    file_reader r = {.sink = sink, .ud = ud};
    char *chunk = malloc(READ_CHUNK);
    int rc = chunk ? BT_OK : BT_ENOMEM;
    size_t n;
    while (rc == BT_OK && (n = fread(chunk, 1, READ_CHUNK, f)) > 0)
        rc = reader_chunk(&r, chunk, n);
    if (rc == BT_OK && ferror(f))
        rc = BT_EIO;
    if (r.z) {
        if (!r.corrupt && bt__inflate_finish(r.z) != BT_OK)
            r.corrupt = 1;
        bt__inflate_free(r.z);
    }
    *corrupt = r.corrupt;
    free(chunk);
    fclose(f);
    return rc;
}

int bt_batch_import_files(bt_anthropic *a, const char *batch_path, const char *requests_path,
                          const char *results_path, bt_batch_import_stats *out)
{
    if (out)
        memset(out, 0, sizeof *out);
    if (!a || !batch_path || !results_path)
        return BT_EINVAL;
    FILE *f = fopen(batch_path, "rb");
    if (!f)
        return BT_EIO;
    char *batch = malloc(BATCH_FILE_MAX + 1);
    size_t n = batch ? fread(batch, 1, BATCH_FILE_MAX + 1, f) : 0;
    int read_error = ferror(f);
    fclose(f);
    if (!batch)
        return BT_ENOMEM;
    if (read_error || n > BATCH_FILE_MAX) {
        free(batch);
        return read_error ? BT_EIO : BT_ELIMIT;
    }
    bt_batch_collector *c;
    int rc = bt_batch_collector_new(a, batch, n, &c);
    free(batch);
    if (rc)
        return rc;
    int requests_corrupt = 0, results_corrupt = 0;
    if (requests_path)
        rc = read_file(requests_path, requests_sink, c, &requests_corrupt);
    if (requests_corrupt)
        c->requests_error = 1;
    if (rc == BT_OK)
        rc = read_file(results_path, results_sink, c, &results_corrupt);
    if (rc != BT_OK) {
        /* Unreadable input: nothing half-read is emitted as if it were the batch. */
        c->finished = 1;
        bt_batch_collector_free(c);
        return rc;
    }
    rc = finish_with(c, results_corrupt ? "the gzip results file is corrupt or cut short" : NULL, out);
    bt_batch_collector_free(c);
    return rc;
}
