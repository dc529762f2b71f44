/* bt-spans import-batch: traces a Message Batch from its files into the store (and,
 * when an OTLP endpoint is configured, on to it through the store's spool). Span ids
 * derive from the batch id and custom_ids, so importing twice replaces rows. */
#include <stdio.h>

#include "braintrust/braintrust.h"
#include "bt_spans.h"

#define IMPORT_MAX_QUEUE (1 << 21)

static void log_stderr(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    fprintf(stderr, "bt-spans: %s%s\n", level >= BT_LOG_ERROR ? "error: " : "", msg);
}

int bts_import_batch(const bts_options *o)
{
    bt_tracer *t = NULL;
    if (bt_tracer_new(&t) != BT_OK)
        return BTS_EXIT_FAIL;
    bt_tracer_set_logger(t, log_stderr, NULL);
    bt_tracer_set_log_level(t, BT_LOG_WARN);
    int rc = bt_tracer_configure_from_env(t);
    /* An import makes every span at once (a batch holds up to 100,000 requests, each
     * with its tool spans): a queue that holds them all, so none is dropped for want of
     * room, flushed often. */
    if (rc == BT_OK)
        rc = bt_tracer_set_batch_options(t, IMPORT_MAX_QUEUE, 200, 512, 30000);
    bt_sink *otlp = NULL, *store = NULL;
    if (rc == BT_OK) {
        rc = bt_sink_otlp_from_tracer(t, &otlp);
        if (rc == BT_ENOTFOUND)
            rc = BT_OK; /* no export configured: the store alone */
    }
    if (rc == BT_OK) {
        rc = bt_sink_store_new(o->store, otlp, &store);
        if (rc != BT_OK)
            fprintf(stderr, "bt-spans: cannot open span store %s for writing: %s\n", o->store,
                    bt_strerror(rc));
    }
    if (rc == BT_OK)
        rc = bt_tracer_add_sink(t, store);
    if (rc == BT_OK)
        rc = bt_tracer_start(t);
    bt_anthropic *a = NULL;
    if (rc == BT_OK)
        rc = bt_anthropic_new(t, &a);
    bt_batch_import_stats s = {0};
    int irc = rc;
    if (rc == BT_OK) {
        irc = bt_batch_import_files(a, o->batch, o->requests, o->results, &s);
        if (irc == BT_EIO)
            fprintf(stderr, "bt-spans: cannot read the batch files\n");
    }
    bt_anthropic_free(a);
    int frc = rc == BT_OK ? bt_tracer_flush(t, 60000) : rc;
    bt_tracer_free(t);
    if (rc != BT_OK) {
        fprintf(stderr, "bt-spans: import failed: %s\n", bt_strerror(rc));
        return BTS_EXIT_FAIL;
    }
    if (o->json) {
        json_t *j = json_object();
        json_object_set_new(j, "requests", json_integer((json_int_t)s.requests));
        json_object_set_new(j, "results", json_integer((json_int_t)s.results));
        json_object_set_new(j, "succeeded", json_integer((json_int_t)s.succeeded));
        json_object_set_new(j, "errored", json_integer((json_int_t)s.errored));
        json_object_set_new(j, "canceled", json_integer((json_int_t)s.canceled));
        json_object_set_new(j, "expired", json_integer((json_int_t)s.expired));
        json_object_set_new(j, "invalid_lines", json_integer((json_int_t)s.invalid_lines));
        json_object_set_new(j, "duplicate_ids", json_integer((json_int_t)s.duplicate_ids));
        json_object_set_new(j, "unknown_ids", json_integer((json_int_t)s.unknown_ids));
        json_object_set_new(j, "oversized_lines", json_integer((json_int_t)s.oversized_lines));
        json_object_set_new(j, "prompt_tokens", json_integer(s.prompt_tokens));
        json_object_set_new(j, "completion_tokens", json_integer(s.completion_tokens));
        json_object_set_new(j, "stored", json_boolean(frc == BT_OK));
        bts_print_json(j);
    } else {
        printf("imported %llu results (%llu succeeded, %llu errored, %llu canceled, %llu expired) from %llu "
               "requests; %lld prompt / %lld completion tokens\n",
               (unsigned long long)s.results, (unsigned long long)s.succeeded, (unsigned long long)s.errored,
               (unsigned long long)s.canceled, (unsigned long long)s.expired, (unsigned long long)s.requests,
               (long long)s.prompt_tokens, (long long)s.completion_tokens);
        if (s.invalid_lines || s.unknown_ids || s.duplicate_ids || s.oversized_lines)
            printf("problems: %llu invalid lines, %llu results without a request, %llu duplicate ids, %llu "
                   "oversized lines\n",
                   (unsigned long long)s.invalid_lines, (unsigned long long)s.unknown_ids,
                   (unsigned long long)s.duplicate_ids, (unsigned long long)s.oversized_lines);
    }
    if (frc != BT_OK) {
        fprintf(stderr, "bt-spans: spans not all stored: %s\n", bt_strerror(frc));
        return BTS_EXIT_FAIL;
    }
    return irc == BT_OK || irc == BT_EPARSE ? BTS_EXIT_OK : BTS_EXIT_FAIL;
}
