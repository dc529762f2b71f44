/*
 * The JSONL file sink: one OTLP JSON Span object (with its resource) per line,
 * appended to a file. Each line is written whole or not at all, and the file is
 * flushed once per batch, so a reader never sees half a batch that was reported
 * delivered.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "braintrust/sink.h"
#include "core/sink_internal.h"
#include "export/otlp_json.h"
#include "util/log.h"

/* Hard cap on one line (a span is already bounded by the tracer's attribute caps). */
#define JSONL_MAX_LINE ((size_t)256 << 20)

typedef struct jsonl_sink {
    bt_sink base;
    FILE *f;
    bt__buf line;
    char *path;
} jsonl_sink;

static int jsonl_export(bt_sink *sink, const bt__resource *res, bt_span *const *spans, size_t n)
{
    jsonl_sink *j = (jsonl_sink *)sink;
    int rc = BT_OK;
    for (size_t i = 0; i < n; i++) {
        bt__buf_reset(&j->line);
        int erc = bt__otlp_json_span_line(res, spans[i], &j->line);
        if (erc == BT_OK)
            erc = bt__buf_append_char(&j->line, '\n');
        if (erc != BT_OK) {
            /* Never write a cut line: it would not parse. The span is reported lost. */
            bt__log(sink->log, sink->log_ud, sink->log_level, BT_LOG_ERROR,
                    "jsonl sink: span \"%.80s\" not written: %s", spans[i]->name ? spans[i]->name : "",
                    bt_strerror(erc));
            rc = BT_EEXPORT;
            continue;
        }
        if (fwrite(j->line.data, 1, j->line.len, j->f) != j->line.len) {
            bt__log(sink->log, sink->log_ud, sink->log_level, BT_LOG_ERROR, "jsonl sink: write failed: %s",
                    strerror(errno));
            clearerr(j->f);
            return BT_EIO;
        }
    }
    if (fflush(j->f) != 0) {
        bt__log(sink->log, sink->log_ud, sink->log_level, BT_LOG_ERROR, "jsonl sink: flush failed: %s",
                strerror(errno));
        clearerr(j->f);
        return BT_EIO;
    }
    return rc;
}

static void jsonl_free(bt_sink *sink)
{
    jsonl_sink *j = (jsonl_sink *)sink;
    if (j->f)
        fclose(j->f);
    bt__buf_free(&j->line);
    free(j->path);
    free(j);
}

static void jsonl_describe(bt_sink *sink, bt__buf *out)
{
    bt__buf_printf(out, "the JSONL file %s", ((jsonl_sink *)sink)->path);
}

static const bt__sink_vtable jsonl_vt = {
    .name = "jsonl",
    .export_spans = jsonl_export,
    .free = jsonl_free,
    .local = 1,
    .describe = jsonl_describe,
};

int bt_sink_jsonl_new(const char *path, bt_sink **out)
{
    if (!out)
        return BT_EINVAL;
    *out = NULL;
    if (!path || !*path)
        return BT_EINVAL;
    jsonl_sink *j = calloc(1, sizeof *j);
    if (!j)
        return BT_ENOMEM;
    j->base.vt = &jsonl_vt;
    bt__buf_init(&j->line, JSONL_MAX_LINE);
    j->path = strdup(path);
    j->f = fopen(path, "ae"); /* append; close-on-exec so child processes don't inherit it */
    if (!j->f || !j->path) {
        int rc = j->path ? BT_EIO : BT_ENOMEM;
        jsonl_free(&j->base);
        return rc;
    }
    *out = &j->base;
    return BT_OK;
}
