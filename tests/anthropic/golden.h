/*
 * Golden spans: traffic is fed through exchanges on a tracer with a test clock, every
 * exported span is written in a canonical text form, and that text is compared with
 * what was saved before (tests/anthropic/golden/). Shared by test_golden_spans.c (the
 * project's own cases, saved in full) and test_golden_recorded.c (the recorded traffic
 * under ../shared, saved as digests only: those spans are derived from recordings that
 * may not be copied into the project).
 *
 * The canonical form of one exchange:
 *
 *   == exchange <n> <method> <target> -> <status> (<outcome>)
 *   info <the bt_exchange_info summary>
 *   mask <field> <the JSON text the mask callback saw>          (one per call, in order)
 *   -- span <name>
 *     ids trace=<id> span=<id> parent=<id> flags=<n> state=<tracestate>
 *     kind <n>
 *     time <start> <end>
 *     status <code> <message>
 *     attr <key> <type> <value>                                  (in the span's order)
 *     event <time> <name> <attributes>
 *     link trace=<id> span=<id> flags=<n> state=<s> attrs=<attributes>
 *     resource <attributes>
 *
 * Times are the test clock's (it moves 1 ms per step of the feeding procedure below), so
 * they are exact. Ids that come out the same in two runs of the same traffic (the
 * batch trace's, derived from the batch id) are kept as hex; random ones are renamed
 * trace#1, span#1, ... in order of first appearance, so the tree structure is kept.
 * String values are printed as is, with backslash, control characters and newlines
 * escaped so that every field stays on one line.
 *
 * Feeding: clock +1 ms, begin; the request body (in `req_chunk` pieces, default
 * whole); clock +1 ms, response headers; for each response piece clock +1 ms, the
 * piece; clock +1 ms, end; then flush and collect the spans of that exchange.
 *
 * BT_GOLDEN_UPDATE=1 rewrites the saved files from the current code (review the git
 * diff, then commit it with a message saying why the spans changed).
 * BT_GOLDEN_DUMP=<dir> also writes the full canonical text of every case there (the
 * recorded ones included), to compare two builds with diff -r.
 */
#ifndef BT_TEST_GOLDEN_H
#define BT_TEST_GOLDEN_H

#include <errno.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <jansson.h>
#include <zlib.h>

#include "braintrust/braintrust.h"
#include "cassette.h"
#include "util/buf.h"
#include "util/sha256.h"

#define GOLDEN_T0 1750000000000000000ull
#define GOLDEN_STEP 1000000ull

static uint64_t golden_now = GOLDEN_T0;

static inline uint64_t golden_clock(void *ud)
{
    (void)ud;
    return golden_now;
}

/* --- canonical text -------------------------------------------------------------- */

/* One case's canonical text, plus the mask calls seen while it ran. */
typedef struct golden_out {
    bt__buf text;
    int mask_wrap; /* the mask replaces what it sees by {"masked":<json>} */
} golden_out;

static inline void g_puts(golden_out *o, const char *s)
{
    bt__buf_append_str(&o->text, s);
}

static inline void g_printf(golden_out *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static inline void g_printf(golden_out *o, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    bt__buf_vprintf(&o->text, fmt, ap);
    va_end(ap);
}

/* A value on one line: backslash, newline, CR and other control bytes escaped. */
static inline void g_put_value(golden_out *o, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t i = 0;
    while (i < len) {
        size_t j = i;
        while (j < len && (unsigned char)s[j] >= 0x20 && s[j] != '\\' && s[j] != 0x7f)
            j++;
        bt__buf_append(&o->text, s + i, j - i);
        if (j == len)
            break;
        unsigned char c = (unsigned char)s[j];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        if (c == '\\')
            bt__buf_append(&o->text, "\\\\", 2);
        else if (c == '\n')
            bt__buf_append(&o->text, "\\n", 2);
        else if (c == '\r')
            bt__buf_append(&o->text, "\\r", 2);
        else if (c == '\t')
            bt__buf_append(&o->text, "\\t", 2);
        else
            bt__buf_append(&o->text, esc, 6);
        i = j + 1;
    }
}

static char *golden_mask(void *ud, const char *field, const char *json, size_t len)
{
    golden_out *o = ud;
    g_printf(o, "mask %s ", field);
    g_put_value(o, json, len);
    g_puts(o, "\n");
    if (!o->mask_wrap)
        return NULL;
    size_t n = len + 16;
    char *r = malloc(n);
    snprintf(r, n, "{\"masked\":%.*s}", (int)len, json);
    return r;
}

/* Ids of one run: each distinct id value, in order of first appearance. */
typedef struct golden_ids {
    char (*values)[33];
    size_t n, cap;
} golden_ids;

static inline size_t golden_id_index(golden_ids *ids, const char *hex)
{
    for (size_t i = 0; i < ids->n; i++)
        if (!strcmp(ids->values[i], hex))
            return i;
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 64;
        ids->values = realloc(ids->values, ids->cap * sizeof *ids->values);
    }
    snprintf(ids->values[ids->n], sizeof ids->values[0], "%s", hex);
    return ids->n++;
}

/* A run of one case: the spans as exported (OTLP JSON lines), grouped per exchange. */
typedef struct golden_run {
    golden_out out;                     /* exchange headers, info and mask lines, with span markers */
    json_t *spans;                      /* array of OTLP Span objects, in export order */
    golden_ids seen;                    /* every id of this run (golden_note_ids) */
    golden_ids trace_names, span_names; /* random ids in the order rendering met them */
} golden_run;

typedef struct golden_env {
    bt_tracer *t;
    bt_sink *mem;
    bt_anthropic *a;
    golden_run *run;
} golden_env;

static inline void golden_env_open(golden_env *e, golden_run *run, json_t *settings)
{
    memset(e, 0, sizeof *e);
    e->run = run;
    golden_now = GOLDEN_T0;
    assert_int_equal(bt_tracer_new(&e->t), BT_OK);
    assert_int_equal(bt_tracer_set_clock(e->t, golden_clock, NULL), BT_OK);
    json_t *v = json_object_get(settings, "max_attribute_bytes");
    if (json_is_integer(v))
        assert_int_equal(bt_tracer_set_max_attribute_bytes(e->t, (size_t)json_integer_value(v)), BT_OK);
    assert_int_equal(bt_sink_memory_new(&e->mem), BT_OK);
    assert_int_equal(bt_tracer_add_sink(e->t, e->mem), BT_OK);
    assert_int_equal(bt_tracer_start(e->t), BT_OK);
    assert_int_equal(bt_anthropic_new(e->t, &e->a), BT_OK);
    if (json_is_integer(v = json_object_get(settings, "body_limit")))
        assert_int_equal(bt_anthropic_set_body_limit(e->a, (size_t)json_integer_value(v)), BT_OK);
    if (json_is_false(json_object_get(settings, "genai")))
        bt_anthropic_set_genai_attributes(e->a, 0);
    if (json_is_false(json_object_get(settings, "lifecycle")))
        bt_anthropic_set_lifecycle_spans(e->a, 0);
    const char *mask = json_string_value(json_object_get(settings, "mask"));
    run->out.mask_wrap = mask && !strcmp(mask, "wrap");
    bt_anthropic_set_mask(e->a, golden_mask, &run->out);
}

static inline void golden_env_close(golden_env *e)
{
    bt_anthropic_free(e->a);
    bt_tracer_free(e->t);
}

/* Takes the spans exported since the last call into the run. */
static inline void golden_collect(golden_env *e)
{
    assert_int_equal(bt_tracer_flush(e->t, 10000), BT_OK);
    size_t n = bt_sink_memory_count(e->mem);
    for (size_t i = 0; i < n; i++) {
        char *line = bt_sink_memory_get(e->mem, i);
        json_error_t err;
        json_t *span = json_loads(line, 0, &err);
        if (!span)
            fail_msg("span line is not JSON: %s", err.text);
        json_array_append_new(e->run->spans, span);
        free(line);
    }
    bt_sink_memory_clear(e->mem);
}

static inline const char *outcome_name(bt_exchange_outcome o)
{
    return o == BT_EXCHANGE_COMPLETED      ? "completed"
        : o == BT_EXCHANGE_TRANSPORT_ERROR ? "transport_error"
                                           : "client_cancelled";
}

/* One exchange as the harness feeds it. Pointers are borrowed. */
typedef struct golden_exchange {
    const char *method, *target;
    const bt_header *req_headers;
    size_t n_req_headers;
    const char *req_body;
    size_t req_body_len;
    size_t req_chunk; /* 0: whole */
    int status;       /* 0: no response headers */
    const bt_header *resp_headers;
    size_t n_resp_headers;
    const char *resp_body;
    size_t resp_body_len;
    size_t resp_chunk; /* 0: whole */
    bt_exchange_outcome outcome;
    const bt_span_context *parent;
    const char *braintrust_parent;
    const char *label; /* printed instead of the target (recorded traffic) */
} golden_exchange;

/* After an exchange's spans were collected: a marker line saying which spans of the run
 * belong here (rendered in place by golden_render). */
static inline void golden_mark(golden_run *run, size_t first)
{
    g_printf(&run->out, "\x01%zu %zu\n", first, json_array_size(run->spans));
}

static inline void golden_feed(golden_env *e, const golden_exchange *x, size_t number)
{
    golden_out *o = &e->run->out;
    g_printf(o, "== exchange %zu %s ", number, x->method);
    if (x->label)
        g_puts(o, x->label);
    else
        g_put_value(o, x->target, strlen(x->target));
    g_printf(o, " -> %d (%s)\n", x->status, outcome_name(x->outcome));
    golden_now += GOLDEN_STEP;
    bt_exchange_options opts = {.parent = x->parent, .braintrust_parent = x->braintrust_parent};
    bt_exchange *ex = NULL;
    assert_int_equal(
        bt_exchange_begin(e->a, x->method, x->target, x->req_headers, x->n_req_headers, &opts, &ex), BT_OK);
    if (!ex) {
        g_puts(o, "untraced\n");
        return;
    }
    if (x->req_body) {
        size_t step = x->req_chunk ? x->req_chunk : (x->req_body_len ? x->req_body_len : 1);
        for (size_t i = 0; i < x->req_body_len; i += step)
            bt_exchange_request_body(ex, x->req_body + i,
                                     x->req_body_len - i < step ? x->req_body_len - i : step);
    }
    golden_now += GOLDEN_STEP;
    if (x->status)
        bt_exchange_response_headers(ex, x->status, x->resp_headers, x->n_resp_headers);
    if (x->resp_body) {
        size_t step = x->resp_chunk ? x->resp_chunk : (x->resp_body_len ? x->resp_body_len : 1);
        for (size_t i = 0; i < x->resp_body_len; i += step) {
            golden_now += GOLDEN_STEP;
            bt_exchange_response_body(ex, x->resp_body + i,
                                      x->resp_body_len - i < step ? x->resp_body_len - i : step);
        }
    }
    golden_now += GOLDEN_STEP;
    bt_exchange_info info;
    bt_exchange_end(ex, x->outcome, &info);
    g_printf(o, "info span=%s model=", info.span_name ? info.span_name : "-");
    g_put_value(o, info.model, strlen(info.model));
    g_printf(o, " input_tokens=%lld output_tokens=%lld is_error=%d\n", (long long)info.input_tokens,
             (long long)info.output_tokens, info.is_error);
    size_t first = json_array_size(e->run->spans);
    golden_collect(e);
    golden_mark(e->run, first);
}

/* --- rendering a run -------------------------------------------------------------- */

static inline void g_put_id(golden_out *o, golden_run *run, golden_run *other, const char *kind,
                            const char *hex)
{
    if (!hex || !hex[0]) {
        g_puts(o, "-");
        return;
    }
    /* deterministic when the other run of the same traffic produced it too */
    golden_ids *theirs = &other->seen;
    for (size_t i = 0; i < theirs->n; i++)
        if (!strcmp(theirs->values[i], hex)) {
            g_puts(o, hex);
            return;
        }
    golden_ids *names = !strcmp(kind, "trace") ? &run->trace_names : &run->span_names;
    g_printf(o, "%s#%zu", kind, golden_id_index(names, hex) + 1);
}

static inline void g_put_attr_value(golden_out *o, json_t *v)
{
    json_t *x;
    if ((x = json_object_get(v, "stringValue"))) {
        g_puts(o, "string ");
        g_put_value(o, json_string_value(x), json_string_length(x));
    } else if ((x = json_object_get(v, "intValue"))) {
        g_printf(o, "int %s", json_string_value(x) ? json_string_value(x) : "?");
    } else if ((x = json_object_get(v, "doubleValue"))) {
        if (json_is_number(x)) {
            /* the OTLP encoder's rule: the shorter of %.15g and %.17g that reads back */
            char tmp[40];
            double d = json_number_value(x);
            snprintf(tmp, sizeof tmp, "%.15g", d);
            if (strtod(tmp, NULL) != d)
                snprintf(tmp, sizeof tmp, "%.17g", d);
            g_printf(o, "double %s", tmp);
        } else
            g_printf(o, "double %s", json_string_value(x));
    } else if ((x = json_object_get(v, "boolValue"))) {
        g_printf(o, "bool %s", json_is_true(x) ? "true" : "false");
    } else if ((x = json_object_get(json_object_get(v, "arrayValue"), "values"))) {
        g_puts(o, "array [");
        size_t i;
        json_t *item;
        json_array_foreach(x, i, item)
        {
            if (i)
                g_puts(o, ", ");
            json_t *s = json_object_get(item, "stringValue");
            g_put_value(o, json_string_value(s), json_string_length(s));
        }
        g_puts(o, "]");
    } else {
        char *d = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS);
        g_printf(o, "other %s", d);
        free(d);
    }
}

static inline void g_put_attrs(golden_out *o, json_t *attrs)
{
    g_puts(o, "{");
    size_t i;
    json_t *a;
    json_array_foreach(attrs, i, a)
    {
        if (i)
            g_puts(o, "; ");
        const char *k = json_string_value(json_object_get(a, "key"));
        g_printf(o, "%s: ", k ? k : "?");
        g_put_attr_value(o, json_object_get(a, "value"));
    }
    g_puts(o, "}");
}

static inline void g_put_u64(golden_out *o, json_t *v)
{
    g_puts(o, json_is_string(v) ? json_string_value(v) : "?");
}

static inline void golden_render_span(golden_out *o, golden_run *run, golden_run *other, json_t *s)
{
    g_printf(o, "-- span %s\n", json_string_value(json_object_get(s, "name")));
    g_puts(o, "  ids trace=");
    g_put_id(o, run, other, "trace", json_string_value(json_object_get(s, "traceId")));
    g_puts(o, " span=");
    g_put_id(o, run, other, "span", json_string_value(json_object_get(s, "spanId")));
    g_puts(o, " parent=");
    g_put_id(o, run, other, "span", json_string_value(json_object_get(s, "parentSpanId")));
    g_printf(o, " flags=%lld state=", (long long)json_integer_value(json_object_get(s, "flags")));
    const char *ts = json_string_value(json_object_get(s, "traceState"));
    g_put_value(o, ts ? ts : "", ts ? strlen(ts) : 0);
    g_printf(o, "\n  kind %lld\n  time ", (long long)json_integer_value(json_object_get(s, "kind")));
    g_put_u64(o, json_object_get(s, "startTimeUnixNano"));
    g_puts(o, " ");
    g_put_u64(o, json_object_get(s, "endTimeUnixNano"));
    json_t *st = json_object_get(s, "status");
    g_printf(o, "\n  status %lld ", (long long)json_integer_value(json_object_get(st, "code")));
    const char *msg = json_string_value(json_object_get(st, "message"));
    g_put_value(o, msg ? msg : "", msg ? strlen(msg) : 0);
    g_puts(o, "\n");
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(s, "attributes"), i, a)
    {
        g_printf(o, "  attr %s ", json_string_value(json_object_get(a, "key")));
        g_put_attr_value(o, json_object_get(a, "value"));
        g_puts(o, "\n");
    }
    json_array_foreach(json_object_get(s, "events"), i, a)
    {
        g_puts(o, "  event ");
        g_put_u64(o, json_object_get(a, "timeUnixNano"));
        g_printf(o, " %s ", json_string_value(json_object_get(a, "name")));
        g_put_attrs(o, json_object_get(a, "attributes"));
        g_puts(o, "\n");
    }
    json_array_foreach(json_object_get(s, "links"), i, a)
    {
        g_puts(o, "  link trace=");
        g_put_id(o, run, other, "trace", json_string_value(json_object_get(a, "traceId")));
        g_puts(o, " span=");
        g_put_id(o, run, other, "span", json_string_value(json_object_get(a, "spanId")));
        g_printf(o, " flags=%lld state=", (long long)json_integer_value(json_object_get(a, "flags")));
        const char *lts = json_string_value(json_object_get(a, "traceState"));
        g_put_value(o, lts ? lts : "", lts ? strlen(lts) : 0);
        g_puts(o, " attrs=");
        g_put_attrs(o, json_object_get(a, "attributes"));
        g_puts(o, "\n");
    }
    /* the library version is not part of what a change to the tracer must keep */
    json_t *res = json_deep_copy(json_object_get(json_object_get(s, "resource"), "attributes"));
    json_array_foreach(res, i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "key")), "telemetry.sdk.version"))
            json_object_set_new(a, "value", json_pack("{s:s}", "stringValue", "<version>"));
    }
    g_puts(o, "  resource ");
    g_put_attrs(o, res);
    g_puts(o, "\n");
    json_decref(res);
}

/* Records every id of a run (first appearance order) so the other run can tell which
 * ids are deterministic. */
static inline void golden_note_ids(golden_run *run)
{
    static const char *const fields[] = {"traceId", "spanId", "parentSpanId"};
    size_t i, k;
    json_t *s, *l;
    json_array_foreach(run->spans, i, s)
    {
        for (size_t f = 0; f < 3; f++) {
            const char *v = json_string_value(json_object_get(s, fields[f]));
            if (v && v[0])
                golden_id_index(&run->seen, v);
        }
        json_array_foreach(json_object_get(s, "links"), k, l)
        {
            golden_id_index(&run->seen, json_string_value(json_object_get(l, "traceId")));
            golden_id_index(&run->seen, json_string_value(json_object_get(l, "spanId")));
        }
    }
}

/* The canonical text of `run` (ids judged against `other`), malloc'd. */
static inline char *golden_render(golden_run *run, golden_run *other)
{
    free(run->trace_names.values);
    free(run->span_names.values);
    run->trace_names = run->span_names = (golden_ids){0};
    golden_out o;
    memset(&o, 0, sizeof o);
    bt__buf_init(&o.text, 0);
    const char *p = run->out.text.data ? run->out.text.data : "";
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        if (*p == '\x01') {
            char *end;
            size_t first = (size_t)strtoull(p + 1, &end, 10);
            size_t last = (size_t)strtoull(end, NULL, 10);
            for (size_t i = first; i < last; i++)
                golden_render_span(&o, run, other, json_array_get(run->spans, i));
        } else {
            bt__buf_append(&o.text, p, n);
            bt__buf_append(&o.text, "\n", 1);
        }
        p = nl ? nl + 1 : p + n;
    }
    return bt__buf_steal(&o.text, NULL);
}

static inline void golden_run_init(golden_run *run)
{
    memset(run, 0, sizeof *run);
    bt__buf_init(&run->out.text, 0);
    run->spans = json_array();
}

static inline void golden_run_free(golden_run *run)
{
    bt__buf_free(&run->out.text);
    json_decref(run->spans);
    free(run->seen.values);
    free(run->trace_names.values);
    free(run->span_names.values);
    memset(run, 0, sizeof *run);
}

/* --- saved files ------------------------------------------------------------------ */

static inline void golden_hex(const uint8_t *d, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[d[i] >> 4];
        out[2 * i + 1] = digits[d[i] & 15];
    }
    out[2 * n] = '\0';
}

static inline void golden_sha(const char *s, size_t n, char out[65])
{
    bt__sha256 c;
    uint8_t d[32];
    bt__sha256_init(&c);
    bt__sha256_update(&c, s, n);
    bt__sha256_final(&c, d);
    golden_hex(d, 32, out);
}

/* How many leading space-separated words of a canonical line are its label (kept in
 * the digest form); the rest is the value (digested). */
static inline int golden_label_words(const char *line)
{
    if (!strncmp(line, "== exchange ", 12))
        return 4;
    if (!strncmp(line, "-- span ", 8))
        return 3;
    if (!strncmp(line, "  attr ", 7))
        return 3;
    if (!strncmp(line, "mask ", 5) || !strncmp(line, "  status ", 9) || !strncmp(line, "  kind ", 7))
        return 2;
    return 1;
}

/* The digest form of a canonical text: each line as its label and the first 16 hex
 * digits of the SHA-256 of its value; each span line also carries the SHA-256 of the
 * whole span's canonical text. Nothing of the recorded content itself remains. */
static inline char *golden_digest(const char *text)
{
    bt__buf b;
    bt__buf_init(&b, 0);
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        size_t n = nl ? (size_t)(nl - p) : strlen(p);
        int words = golden_label_words(p);
        size_t lead = 0;
        while (lead < n && p[lead] == ' ')
            lead++;
        size_t k = lead;
        for (int w = 0; w < words && k < n; w++) {
            while (k < n && p[k] != ' ')
                k++;
            if (w + 1 < words && k < n)
                k++;
        }
        bt__buf_append(&b, p, k);
        char sha[65];
        if (!strncmp(p, "-- span ", 8)) {
            /* the span runs to the next line that does not start with a space */
            const char *e = nl ? nl + 1 : p + n;
            while (*e == ' ') {
                const char *enl = strchr(e, '\n');
                e = enl ? enl + 1 : e + strlen(e);
            }
            golden_sha(p, (size_t)(e - p), sha);
            bt__buf_printf(&b, " sha256=%s", sha);
        } else if (k < n) {
            golden_sha(p + k + 1, n - k - 1, sha);
            sha[16] = '\0';
            bt__buf_printf(&b, " %s", sha);
        }
        bt__buf_append(&b, "\n", 1);
        p = nl ? nl + 1 : p + n;
    }
    return bt__buf_steal(&b, NULL);
}

static inline int golden_write(const char *path, const char *text)
{
    FILE *f = fopen(path, "wb");
    if (!f)
        return -1;
    size_t n = strlen(text);
    int ok = fwrite(text, 1, n, f) == n;
    return fclose(f) == 0 && ok ? 0 : -1;
}

static inline void golden_mkdirs(const char *dir)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *s = tmp + 1; *s; s++)
        if (*s == '/') {
            *s = '\0';
            mkdir(tmp, 0755);
            *s = '/';
        }
    mkdir(tmp, 0755);
}

/* BT_GOLDEN_DUMP: the full canonical text of a case, for diffing two builds. */
static inline void golden_dump(const char *name, const char *text)
{
    const char *dir = getenv("BT_GOLDEN_DUMP");
    if (!dir || !dir[0])
        return;
    char path[4096];
    snprintf(path, sizeof path, "%s/%s.spans", dir, name);
    for (char *s = path + strlen(dir) + 1; *s; s++)
        if (*s == '/')
            *s = '_';
    golden_mkdirs(dir);
    if (golden_write(path, text) != 0)
        print_error("cannot write %s\n", path);
}

static inline int golden_updating(void)
{
    const char *u = getenv("BT_GOLDEN_UPDATE");
    return u && u[0] && strcmp(u, "0") != 0;
}

/* Compares `actual` with the saved file (or rewrites it under BT_GOLDEN_UPDATE). On a
 * mismatch prints a unified diff and, for digest files, the current value of every
 * line whose digest changed (from `full`, the text before digesting). Returns 0 when
 * they agree. */
static inline int golden_check(const char *saved_path, const char *actual, const char *full)
{
    if (golden_updating()) {
        if (golden_write(saved_path, actual) != 0)
            fail_msg("cannot write %s: %s", saved_path, strerror(errno));
        print_message("golden: rewrote %s\n", saved_path);
        return 0;
    }
    size_t len;
    char *saved = bt_test_read_file(saved_path, &len);
    if (saved && strcmp(saved, actual) == 0) {
        free(saved);
        return 0;
    }
    const char *tmpdir = getenv("BT_TEST_TMPDIR");
    char got[4096];
    snprintf(got, sizeof got, "%s/golden-%ld.actual", tmpdir ? tmpdir : "/tmp", (long)getpid());
    golden_write(got, actual);
    if (!saved) {
        print_error("golden: %s is missing (BT_GOLDEN_UPDATE=1 writes it)\n", saved_path);
    } else {
        print_error("golden: spans differ from %s (- saved, + now):\n", saved_path);
        char cmd[8400];
        snprintf(cmd, sizeof cmd, "diff -u '%.4000s' '%.4000s' | head -n 400 >&2", saved_path, got);
        if (system(cmd) == -1)
            print_error("(diff could not run; the current text is in %s)\n", got);
        if (full) {
            /* digest lines name the field; show what each changed field holds now */
            print_error("golden: current values of the changed lines:\n");
            const char *a = actual, *f = full;
            int shown = 0;
            while (*a && *f && shown < 40) {
                const char *anl = strchr(a, '\n'), *fnl = strchr(f, '\n');
                size_t an = anl ? (size_t)(anl - a) : strlen(a);
                size_t fn = fnl ? (size_t)(fnl - f) : strlen(f);
                int found = 0;
                for (const char *s = saved; *s;) {
                    const char *snl = strchr(s, '\n');
                    size_t sn = snl ? (size_t)(snl - s) : strlen(s);
                    if (sn == an && !memcmp(s, a, an)) {
                        found = 1;
                        break;
                    }
                    s = snl ? snl + 1 : s + sn;
                }
                if (!found) {
                    print_error("  %.*s\n", (int)(fn > 2000 ? 2000 : fn), f);
                    shown++;
                }
                a = anl ? anl + 1 : a + an;
                f = fnl ? fnl + 1 : f + fn;
            }
        }
        print_error("golden: the whole current text is in %s; if the change is intended, rerun with "
                    "BT_GOLDEN_UPDATE=1 and commit the new file saying why\n",
                    got);
    }
    free(saved);
    return -1;
}

/* --- running a case -------------------------------------------------------------- */

typedef void (*golden_case_fn)(golden_env *e, void *ud);

/* Runs a case twice (fresh tracer and bt_anthropic each time), renders it, and checks
 * both runs agree. Returns the canonical text (malloc'd). */
static inline char *golden_run_case(json_t *settings, golden_case_fn fn, void *ud)
{
    golden_run runs[2];
    for (int k = 0; k < 2; k++) {
        golden_env e;
        golden_run_init(&runs[k]);
        golden_env_open(&e, &runs[k], settings);
        fn(&e, ud);
        golden_collect(&e);
        golden_env_close(&e);
        golden_note_ids(&runs[k]);
    }
    char *a = golden_render(&runs[0], &runs[1]);
    char *b = golden_render(&runs[1], &runs[0]);
    if (strcmp(a, b) != 0) {
        const char *tmpdir = getenv("BT_TEST_TMPDIR");
        char pa[4096], pb[4096];
        snprintf(pa, sizeof pa, "%s/golden-%ld.run1", tmpdir ? tmpdir : "/tmp", (long)getpid());
        snprintf(pb, sizeof pb, "%s/golden-%ld.run2", tmpdir ? tmpdir : "/tmp", (long)getpid());
        golden_write(pa, a);
        golden_write(pb, b);
        fail_msg("two runs of the same traffic gave different spans: diff %s %s", pa, pb);
    }
    free(b);
    golden_run_free(&runs[0]);
    golden_run_free(&runs[1]);
    return a;
}

#endif
