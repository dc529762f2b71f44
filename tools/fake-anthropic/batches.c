/*
 * The Message Batches lifecycle: create (validated like the real API), retrieve (each
 * retrieve is a poll; a batch ends after --batch-polls polls or --batch-seconds),
 * list with cursor pagination (newest first), cancel (canceling, then ended with the
 * unstarted requests canceled), delete (only once ended), and results as JSONL streamed
 * a few lines per piece.
 *
 * The create body (up to --max-batch-body, 256 MB by default) is split into its request
 * elements as it arrives and each is parsed alone, so it is never held whole. A batch
 * keeps per request only its custom_id, the outcome, and the small generated reply (an
 * echo capped in size) -- never the prompt itself.
 *
 * Outcomes are deterministic: custom_ids starting with "errored", "canceled" or
 * "expired" get that result; params that fail validation, or name a
 * "fake-error-<status>" model, are errored with the matching error type; the rest
 * succeed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <llhttp.h>
#include <uv.h>

#include "anthropic/batch_split.h"
#include "fake.h"
#include "http_status.h"

#define BATCH_MAX_REQUESTS 100000
#define RESULT_LINES_PER_PIECE 64
#define ID_PREFIX "msgbatch_fake_"

enum batch_status { BATCH_IN_PROGRESS, BATCH_CANCELING, BATCH_ENDED };
enum item_kind { ITEM_SUCCEEDED, ITEM_ERRORED, ITEM_CANCELED, ITEM_EXPIRED };

typedef struct batch_item {
    char custom_id[65];
    unsigned char kind;
    const char *error_type; /* static string, for ITEM_ERRORED */
    char *error_message;    /* for ITEM_ERRORED */
    fake_reply *reply;      /* for ITEM_SUCCEEDED */
} batch_item;

typedef struct batch {
    char id[48];
    uint64_t seq;
    uint64_t created_ns, ended_ns, cancel_ns, created_mono;
    int polls;
    int status;
    int refs;
    size_t n, processed_at_cancel;
    batch_item *items;
    struct batch *next; /* newest first */
} batch;

static batch *g_batches;

static uint64_t wall_clock_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}
static uint64_t g_batch_seq;

static void batch_unref(batch *b)
{
    if (!b || --b->refs > 0)
        return;
    for (size_t i = 0; i < b->n; i++) {
        free(b->items[i].error_message);
        fake_reply_free(b->items[i].reply);
    }
    free(b->items);
    free(b);
}

void fake_batches_free_all(void)
{
    while (g_batches) {
        batch *b = g_batches;
        g_batches = b->next;
        batch_unref(b);
    }
}

static batch *batch_find(const char *id, size_t len)
{
    for (batch *b = g_batches; b; b = b->next)
        if (strlen(b->id) == len && memcmp(b->id, id, len) == 0)
            return b;
    return NULL;
}

static void format_time(uint64_t ns, char *out, size_t size)
{
    time_t sec = (time_t)(ns / 1000000000u);
    struct tm tm;
    gmtime_r(&sec, &tm);
    char base[32];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, size, "%s.%06u+00:00", base, (unsigned)(ns % 1000000000u / 1000u));
}

static json_t *time_or_null(uint64_t ns)
{
    if (!ns)
        return json_null();
    char buf[48];
    format_time(ns, buf, sizeof buf);
    return json_string(buf);
}

static void batch_end(batch *b)
{
    if (b->status == BATCH_CANCELING)
        for (size_t i = b->processed_at_cancel; i < b->n; i++) {
            b->items[i].kind = ITEM_CANCELED;
            fake_reply_free(b->items[i].reply);
            b->items[i].reply = NULL;
        }
    b->status = BATCH_ENDED;
    b->ended_ns = wall_clock_ns();
}

/* Moves the batch along: polls count toward the end, and so does time. */
static void batch_advance(batch *b, int is_poll)
{
    if (b->status == BATCH_ENDED)
        return;
    double age_s = (double)(uv_hrtime() - b->created_mono) / 1e9;
    if (b->status == BATCH_CANCELING) {
        if (is_poll || age_s >= fake_cfg.batch_seconds)
            batch_end(b);
        return;
    }
    if (is_poll)
        b->polls++;
    if (b->polls >= fake_cfg.batch_polls || age_s >= fake_cfg.batch_seconds)
        batch_end(b);
}

static json_t *batch_json(const batch *b, const fake_request *req)
{
    long counts[4] = {0, 0, 0, 0};
    long processing = (long)b->n;
    if (b->status == BATCH_ENDED) {
        processing = 0;
        for (size_t i = 0; i < b->n; i++)
            counts[b->items[i].kind]++;
    }
    json_t *results_url = json_null();
    if (b->status == BATCH_ENDED) {
        char url[512];
        snprintf(url, sizeof url, "http://%s/v1/messages/batches/%s/results", fake_request_host(req), b->id);
        results_url = json_string(url);
    }
    return json_pack("{s:s, s:s, s:s, s:{s:i, s:i, s:i, s:i, s:i}, s:o, s:o, s:o, s:n, s:o, s:o}", "id",
                     b->id, "type", "message_batch", "processing_status",
                     b->status == BATCH_ENDED           ? "ended"
                         : b->status == BATCH_CANCELING ? "canceling"
                                                        : "in_progress",
                     "request_counts", "processing", (int)processing, "succeeded",
                     (int)counts[ITEM_SUCCEEDED], "errored", (int)counts[ITEM_ERRORED], "canceled",
                     (int)counts[ITEM_CANCELED], "expired", (int)counts[ITEM_EXPIRED], "ended_at",
                     time_or_null(b->ended_ns), "created_at", time_or_null(b->created_ns), "expires_at",
                     time_or_null(b->created_ns + 86400ull * 1000000000ull), "archived_at",
                     "cancel_initiated_at", time_or_null(b->cancel_ns), "results_url", results_url);
}

static void respond_json(fake_conn *c, const fake_request *req, json_t *v)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(v);
    if (!text) {
        fake_respond_error(c, req, 500, "api_error", "Internal server error");
        return;
    }
    fake_respond(c, req, 200, "application/json", NULL, text, strlen(text));
    free(text);
}

static void respond_batch(fake_conn *c, const fake_request *req, const batch *b)
{
    respond_json(c, req, batch_json(b, req));
}

static int custom_id_valid(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char ch = s[n];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') || ch == '_' ||
              ch == '-'))
            return 0;
    }
    return n >= 1 && n <= 64;
}

static int has_prefix(const char *s, const char *p)
{
    return strncmp(s, p, strlen(p)) == 0;
}

/* Decides one request's outcome from its custom_id and params. */
static void item_init(batch_item *it, const char *custom_id, json_t *params, uint64_t seed)
{
    snprintf(it->custom_id, sizeof it->custom_id, "%s", custom_id);
    if (has_prefix(custom_id, "canceled")) {
        it->kind = ITEM_CANCELED;
        return;
    }
    if (has_prefix(custom_id, "expired")) {
        it->kind = ITEM_EXPIRED;
        return;
    }
    it->kind = ITEM_ERRORED;
    it->error_type = "invalid_request_error";
    if (has_prefix(custom_id, "errored")) {
        it->error_message =
            strdup("fake-anthropic: this request errors because its custom_id starts with \"errored\"");
        return;
    }
    const char *model = json_string_value(json_object_get(params, "model"));
    if (model && has_prefix(model, "fake-error-")) {
        int status = atoi(model + strlen("fake-error-"));
        it->error_type = anthropic_error_type(status ? status : 500);
        it->error_message =
            strdup(status == 529 ? "Overloaded" : "fake-anthropic: error scenario from the model name");
        return;
    }
    const char *err = NULL;
    it->reply = fake_reply_build(params, NULL, seed, &err);
    if (!it->reply) {
        it->error_message = strdup(err ? err : "invalid request");
        return;
    }
    it->reply->service_tier = "batch";
    it->kind = ITEM_SUCCEEDED;
}

/* custom_id uniqueness with an open-addressing table of indexes. */
static int find_duplicate(batch *b)
{
    size_t slots = 1;
    while (slots < b->n * 2)
        slots <<= 1;
    size_t *table = calloc(slots, sizeof *table);
    if (!table)
        return -2;
    int dup = -1;
    for (size_t i = 0; i < b->n && dup < 0; i++) {
        const char *id = b->items[i].custom_id;
        size_t h = (size_t)fake_hash(id, strlen(id), 1) & (slots - 1);
        while (table[h]) {
            if (strcmp(b->items[table[h] - 1].custom_id, id) == 0) {
                dup = (int)i;
                break;
            }
            h = (h + 1) & (slots - 1);
        }
        table[h] = i + 1;
    }
    free(table);
    return dup;
}

/* Parses a create body as it streams: each element of "requests" is parsed and turned
 * into a batch item on its own, so only the current element is ever held. */
typedef struct batch_builder {
    bt__batch_split *split;
    batch_item *items;
    size_t n, alloc;
    char error[256]; /* the first validation error; the rest of the body is ignored */
} batch_builder;

static int builder_fail(batch_builder *bb, const char *msg)
{
    snprintf(bb->error, sizeof bb->error, "%s", msg);
    return 1;
}

static int on_request_element(void *ud, const char *elem, size_t len, int truncated, const char *custom_id)
{
    batch_builder *bb = ud;
    char msg[200];
    size_t i = bb->n;
    if (i >= BATCH_MAX_REQUESTS) {
        snprintf(msg, sizeof msg, "requests: List should have at most %d items after validation",
                 BATCH_MAX_REQUESTS);
        return builder_fail(bb, msg);
    }
    if (truncated) {
        snprintf(msg, sizeof msg, "requests.%zu: request exceeds the maximum allowed number of bytes", i);
        return builder_fail(bb, msg);
    }
    json_t *r = json_loadb(elem, len, 0, NULL);
    json_t *params = json_object_get(r, "params");
    const char *cid = json_string_value(json_object_get(r, "custom_id"));
    (void)custom_id;
    int rc = 0;
    if (!json_is_object(r)) {
        snprintf(msg, sizeof msg, "requests.%zu: Input should be a valid object", i);
        rc = builder_fail(bb, msg);
    } else if (!cid || !custom_id_valid(cid)) {
        snprintf(msg, sizeof msg,
                 "requests.%zu.custom_id: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'", i);
        rc = builder_fail(bb, msg);
    } else if (!json_is_object(params)) {
        snprintf(msg, sizeof msg, "requests.%zu.params: Field required", i);
        rc = builder_fail(bb, msg);
    } else {
        if (bb->n == bb->alloc) {
            size_t grown_n = bb->alloc ? bb->alloc * 2 : 16;
            batch_item *grown = realloc(bb->items, grown_n * sizeof *grown);
            if (!grown) {
                json_decref(r);
                return builder_fail(bb, "out of memory");
            }
            bb->items = grown;
            bb->alloc = grown_n;
        }
        memset(&bb->items[i], 0, sizeof bb->items[i]);
        item_init(&bb->items[i], cid, params, fake_hash(cid, strlen(cid), i));
        bb->n++;
    }
    json_decref(r);
    return rc;
}

static int builder_feed(void *ud, const char *data, size_t len)
{
    batch_builder *bb = ud;
    return bt__batch_split_feed(bb->split, data, len) != 0;
}

static void builder_free_items(batch_builder *bb)
{
    for (size_t i = 0; i < bb->n; i++) {
        free(bb->items[i].error_message);
        fake_reply_free(bb->items[i].reply);
    }
    free(bb->items);
    bb->items = NULL;
    bb->n = bb->alloc = 0;
}

static void builder_free(void *ud)
{
    batch_builder *bb = ud;
    bt__batch_split_free(bb->split);
    builder_free_items(bb);
    free(bb);
}

void fake_batches_install_sink(fake_request *req)
{
    batch_builder *bb = calloc(1, sizeof *bb);
    if (!bb)
        return;
    bb->split = bt__batch_split_new(FAKE_MESSAGES_MAX_BODY, on_request_element, bb);
    if (!bb->split) {
        free(bb);
        return;
    }
    req->sink.feed = builder_feed;
    req->sink.free = builder_free;
    req->sink.ud = bb;
    req->sink.limit = fake_cfg.max_batch_body;
}

static void handle_create(fake_conn *c, fake_request *req)
{
    batch_builder *bb = req->sink.ud;
    char msg[256];
    if (!bb) {
        fake_respond_error(c, req, 500, "api_error", "out of memory");
        return;
    }
    if (bb->error[0]) {
        fake_respond_error(c, req, 400, "invalid_request_error", bb->error);
        return;
    }
    if (req->sink.stopped || bt__batch_split_finish(bb->split) != 0) {
        fake_respond_error(c, req, 400, "invalid_request_error", "Invalid JSON in request body");
        return;
    }
    if (bb->error[0]) {
        fake_respond_error(c, req, 400, "invalid_request_error", bb->error);
        return;
    }
    if (bb->n == 0) {
        fake_respond_error(c, req, 400, "invalid_request_error",
                           "requests: List should have at least 1 item after validation, not 0");
        return;
    }
    batch *b = calloc(1, sizeof *b);
    if (!b) {
        fake_respond_error(c, req, 500, "api_error", "out of memory");
        return;
    }
    b->items = bb->items;
    b->n = bb->n;
    b->refs = 1;
    bb->items = NULL;
    bb->n = bb->alloc = 0;
    int dup = find_duplicate(b);
    if (dup != -1) {
        snprintf(msg, sizeof msg, "requests.%d.custom_id: Duplicate custom_id '%s'", dup,
                 dup >= 0 ? b->items[dup].custom_id : "?");
        batch_unref(b);
        fake_respond_error(c, req, 400, "invalid_request_error", msg);
        return;
    }
    b->seq = ++g_batch_seq;
    snprintf(b->id, sizeof b->id, ID_PREFIX "%020" PRIu64, b->seq);
    b->created_ns = wall_clock_ns();
    b->created_mono = uv_hrtime();
    b->next = g_batches;
    g_batches = b;
    snprintf(req->log_note, sizeof req->log_note, "batch=%s requests=%zu", b->id, b->n);
    respond_batch(c, req, b);
}

static int query_param(const char *query, const char *name, char *out, size_t size)
{
    size_t nlen = strlen(name);
    for (const char *p = query; p && *p;) {
        const char *end = strchr(p, '&');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len > nlen && strncmp(p, name, nlen) == 0 && p[nlen] == '=') {
            size_t vlen = len - nlen - 1;
            if (vlen >= size)
                vlen = size - 1;
            memcpy(out, p + nlen + 1, vlen);
            out[vlen] = '\0';
            return 1;
        }
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static uint64_t cursor_seq(const char *id)
{
    if (!has_prefix(id, ID_PREFIX))
        return 0;
    return strtoull(id + strlen(ID_PREFIX), NULL, 10);
}

static void handle_list(fake_conn *c, const fake_request *req)
{
    char val[128];
    long limit = 20;
    if (query_param(req->query, "limit", val, sizeof val)) {
        char *end;
        limit = strtol(val, &end, 10);
        if (*end || limit < 1 || limit > 1000) {
            fake_respond_error(c, req, 400, "invalid_request_error",
                               "limit: Input should be between 1 and 1000");
            return;
        }
    }
    char after[128] = "", before[128] = "";
    query_param(req->query, "after_id", after, sizeof after);
    query_param(req->query, "before_id", before, sizeof before);
    uint64_t after_seq = after[0] ? cursor_seq(after) : 0, before_seq = before[0] ? cursor_seq(before) : 0;
    if ((after[0] && !after_seq) || (before[0] && !before_seq)) {
        fake_respond_error(c, req, 400, "invalid_request_error", "Invalid pagination cursor");
        return;
    }
    /* The list is newest first. before_id pages toward newer batches: the page is the
     * `limit` batches just newer than the cursor. */
    batch *start = g_batches;
    if (after_seq) {
        while (start && start->seq >= after_seq)
            start = start->next;
    } else if (before_seq) {
        size_t newer = 0;
        for (batch *b = g_batches; b && b->seq > before_seq; b = b->next)
            newer++;
        size_t skip = newer > (size_t)limit ? newer - (size_t)limit : 0;
        for (size_t i = 0; i < skip; i++)
            start = start->next;
    }
    json_t *data = json_array();
    long taken = 0;
    batch *b = start;
    for (; b && taken < limit; b = b->next) {
        if (before_seq && b->seq <= before_seq)
            break;
        batch_advance(b, 0);
        json_array_append_new(data, batch_json(b, req));
        taken++;
    }
    int has_more;
    if (before_seq)
        has_more = start != g_batches && taken > 0;
    else
        has_more = b != NULL;
    json_t *first = json_array_get(data, 0), *last = json_array_get(data, json_array_size(data) - 1);
    json_t *page = json_pack("{s:o, s:b, s:O, s:O}", "data", data, "has_more", has_more, "first_id",
                             first ? json_object_get(first, "id") : json_null(), "last_id",
                             last ? json_object_get(last, "id") : json_null());
    respond_json(c, req, page);
}

typedef struct results_state {
    batch *b;
    size_t next; /* lines written so far; results go out in reverse request order */
} results_state;

static void append_result_line(bt__buf *out, const batch_item *it)
{
    json_t *result;
    switch (it->kind) {
    case ITEM_SUCCEEDED:
        result = json_pack("{s:s, s:o}", "type", "succeeded", "message", fake_reply_message_json(it->reply));
        break;
    case ITEM_ERRORED:
        result = json_pack("{s:s, s:{s:s, s:{s:s, s:s}, s:n}}", "type", "errored", "error", "type", "error",
                           "error", "type", it->error_type, "message",
                           it->error_message ? it->error_message : "error", "request_id");
        break;
    case ITEM_CANCELED:
        result = json_pack("{s:s}", "type", "canceled");
        break;
    default:
        result = json_pack("{s:s}", "type", "expired");
        break;
    }
    json_t *line = json_pack("{s:s, s:o}", "custom_id", it->custom_id, "result", result);
    char *text = json_dumps(line, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (text) {
        bt__buf_append_str(out, text);
        bt__buf_append_char(out, '\n');
    }
    free(text);
    json_decref(line);
}

static int produce_results(void *state, bt__buf *out)
{
    results_state *s = state;
    for (int i = 0; i < RESULT_LINES_PER_PIECE && s->next < s->b->n; i++, s->next++)
        append_result_line(out, &s->b->items[s->b->n - 1 - s->next]);
    return s->next < s->b->n ? FAKE_PIECE_MORE : FAKE_PIECE_DONE;
}

static void free_results_state(void *state)
{
    results_state *s = state;
    batch_unref(s->b);
    free(s);
}

static void handle_results(fake_conn *c, const fake_request *req, batch *b)
{
    batch_advance(b, 0);
    if (b->status != BATCH_ENDED) {
        char msg[160];
        snprintf(msg, sizeof msg, "Batch %s has not finished processing; results are not available yet",
                 b->id);
        fake_respond_error(c, req, 400, "invalid_request_error", msg);
        return;
    }
    results_state *s = calloc(1, sizeof *s);
    if (!s) {
        fake_respond_error(c, req, 500, "api_error", "out of memory");
        return;
    }
    s->b = b;
    b->refs++;
    fake_respond_stream(c, req, 200, "application/x-jsonl", NULL, produce_results, s, free_results_state, 0);
}

static void handle_delete(fake_conn *c, const fake_request *req, batch *b)
{
    batch_advance(b, 0);
    if (b->status != BATCH_ENDED) {
        char msg[160];
        snprintf(msg, sizeof msg, "Batch %s cannot be deleted while it is still processing; cancel it first",
                 b->id);
        fake_respond_error(c, req, 400, "invalid_request_error", msg);
        return;
    }
    for (batch **p = &g_batches; *p; p = &(*p)->next)
        if (*p == b) {
            *p = b->next;
            break;
        }
    respond_json(c, req, json_pack("{s:s, s:s}", "id", b->id, "type", "message_batch_deleted"));
    batch_unref(b);
}

static void handle_cancel(fake_conn *c, const fake_request *req, batch *b)
{
    batch_advance(b, 0);
    if (b->status == BATCH_IN_PROGRESS) {
        /* Requests are processed in order across the polls; the ones not reached yet
         * are the ones that get canceled. */
        int polls = b->polls < fake_cfg.batch_polls ? b->polls : fake_cfg.batch_polls;
        b->processed_at_cancel =
            fake_cfg.batch_polls > 0 ? b->n * (size_t)polls / (size_t)fake_cfg.batch_polls : 0;
        b->status = BATCH_CANCELING;
        b->cancel_ns = wall_clock_ns();
    }
    respond_batch(c, req, b);
}

void fake_handle_batches(fake_conn *c, fake_request *req)
{
    const char *scenario = fake_scenario(req, NULL);
    if (scenario && fake_respond_scenario(c, req, scenario))
        return;
    const char *rest = req->path + strlen("/v1/messages/batches");
    if (*rest == '\0' || strcmp(rest, "/") == 0) {
        if (req->method == HTTP_POST)
            handle_create(c, req);
        else if (req->method == HTTP_GET)
            handle_list(c, req);
        else
            fake_respond_error(c, req, 405, "invalid_request_error", "Method Not Allowed");
        return;
    }
    rest++; /* past '/' */
    size_t id_len = strcspn(rest, "/");
    const char *action = rest + id_len;
    batch *b = batch_find(rest, id_len);
    if (!b) {
        char msg[200];
        snprintf(msg, sizeof msg, "message_batch_id: batch %.*s not found",
                 (int)(id_len > 100 ? 100 : id_len), rest);
        fake_respond_error(c, req, 404, "not_found_error", msg);
        return;
    }
    if (*action == '\0' && req->method == HTTP_GET) {
        batch_advance(b, 1);
        respond_batch(c, req, b);
    } else if (*action == '\0' && req->method == HTTP_DELETE) {
        handle_delete(c, req, b);
    } else if (strcmp(action, "/cancel") == 0 && req->method == HTTP_POST) {
        handle_cancel(c, req, b);
    } else if (strcmp(action, "/results") == 0 && req->method == HTTP_GET) {
        handle_results(c, req, b);
    } else {
        fake_respond_error(c, req, 404, "not_found_error", "Not Found");
    }
}
