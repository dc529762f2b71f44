/* Tracing beside the forwarding loop. A worker never parses what it forwards: it hands
 * a copy of each piece (request head and body, response head and body, how the
 * exchange ended, the access-log line) to its own tracing thread, its lane, and goes on.
 * The lane feeds the library's exchange API in the same order, dating every call with
 * the time the worker saw the bytes (bt_exchange_set_time), so spans, time to first
 * token included, are what inline tracing gave. The worker hands over a loop turn's
 * pieces at the end of the turn, with one lock and at most one wake-up.
 *
 * Memory is bounded: copies waiting for any lane count against --trace-backlog (all
 * workers together). A piece that would pass it is not copied: that exchange is traced
 * no further, its span is marked (metadata.truncated, decode_error saying the tracer
 * fell behind) and counted in /metrics (tracing.incomplete). Nothing waits and no span
 * goes missing. When the library says an endpoint is not traced, the worker stops
 * copying its bytes. */
#define _GNU_SOURCE
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>

/* How much lower the lanes run than the forwarding threads (nice). */
#define PX_LANE_NICE 10

#include "proxy.h"

typedef enum { LM_BEGIN, LM_REQ_BODY, LM_RESP_HEAD, LM_RESP_BODY, LM_LOST, LM_END, LM_LOG } lm_kind;

typedef struct lane_msg {
    struct lane_msg *next;
    lm_kind kind;
    px_trace *t;
    uint64_t at; /* tracer time at which the worker saw it */
    int value;   /* RESP_HEAD: status; END: outcome */
    size_t len;  /* of data[]; counted in the backlog for body pieces */
    char data[];
} lane_msg;

struct px_trace {
    bt_exchange *ex;       /* the lane's */
    int untraced;          /* atomic: the lane found the endpoint untraced */
    int lost;              /* the worker's: bytes were not copied, none will be */
    int ended;             /* the worker's: END handed over */
    int lane_lost;         /* the lane's */
    bt_exchange_info info; /* the lane's, for the access-log line */
    int have_info;
};

struct px_lane {
    px_proxy *px;
    pthread_t thread;
    int started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    lane_msg *head, *tail; /* handed over, under mu */
    int stopping, sleeping;
    lane_msg *turn_head, *turn_tail; /* this loop turn's, the worker's own */
};

static uint64_t backlog_total(px_gateway *gw)
{
    uint64_t n = 0;
    for (int i = 0; i < gw->n_workers; i++)
        n += px_counter_get(&gw->workers[i].m.trace_backlog_bytes);
    return n;
}

static lane_msg *msg_new(lm_kind kind, px_trace *t, uint64_t at, size_t len)
{
    lane_msg *m = malloc(sizeof *m + len);
    if (!m)
        return NULL;
    m->next = NULL;
    m->kind = kind;
    m->t = t;
    m->at = at;
    m->value = 0;
    m->len = len;
    return m;
}

static void post(px_proxy *px, lane_msg *m)
{
    px_lane *l = px->lane;
    if (m->kind == LM_REQ_BODY || m->kind == LM_RESP_BODY)
        px_counter_add(&px->m.trace_backlog_bytes, (int64_t)m->len);
    if (l->turn_tail)
        l->turn_tail->next = m;
    else
        l->turn_head = m;
    l->turn_tail = m;
}

static uint64_t now(px_proxy *px)
{
    return bt_tracer_now(px->tracer);
}

/* Marks `t` lost (once): the lane stops feeding it and marks its span. */
static void lose(px_proxy *px, px_trace *t)
{
    t->lost = 1;
    px_counter_add(&px->m.spans_incomplete, 1);
    lane_msg *m = msg_new(LM_LOST, t, now(px), 0);
    if (m)
        post(px, m);
    /* out of memory: END still comes and the lane ends what it saw */
}

static int wanted(px_proxy *px, px_trace *t, size_t len)
{
    if (!t || t->lost || t->ended || __atomic_load_n(&t->untraced, __ATOMIC_ACQUIRE))
        return 0;
    if (backlog_total(px->gw) + len > px->cfg.trace_backlog_bytes) {
        lose(px, t);
        return 0;
    }
    return 1;
}

/* ---- headers, flattened into a message and back ---- */

static size_t headers_size(const bt_header *h, size_t n)
{
    size_t s = 0;
    for (size_t i = 0; i < n; i++)
        s += 2 * sizeof(uint32_t) + h[i].name_len + h[i].value_len;
    return s;
}

static char *headers_put(char *p, const bt_header *h, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        uint32_t nl = (uint32_t)h[i].name_len, vl = (uint32_t)h[i].value_len;
        memcpy(p, &nl, sizeof nl);
        memcpy(p + sizeof nl, &vl, sizeof vl);
        p += 2 * sizeof(uint32_t);
        memcpy(p, h[i].name, nl);
        memcpy(p + nl, h[i].value, vl);
        p += nl + vl;
    }
    return p;
}

/* Headers from p..end into a malloc'd array (borrowing the message's bytes). */
static bt_header *headers_get(const char *p, const char *end, size_t *n_out)
{
    size_t n = 0;
    for (const char *q = p; q + 2 * sizeof(uint32_t) <= end; n++) {
        uint32_t nl, vl;
        memcpy(&nl, q, sizeof nl);
        memcpy(&vl, q + sizeof nl, sizeof vl);
        q += 2 * sizeof(uint32_t) + nl + vl;
    }
    bt_header *h = calloc(n ? n : 1, sizeof *h);
    if (!h) {
        *n_out = 0;
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t nl, vl;
        memcpy(&nl, p, sizeof nl);
        memcpy(&vl, p + sizeof nl, sizeof vl);
        p += 2 * sizeof(uint32_t);
        h[i].name = p;
        h[i].name_len = nl;
        h[i].value = p + nl;
        h[i].value_len = vl;
        p += nl + vl;
    }
    *n_out = n;
    return h;
}

/* ---- the worker's side ---- */

px_trace *px_trace_begin(px_proxy *px, const char *method, const char *target, const bt_header *h, size_t n,
                         const bt_span_context *parent, const char *braintrust_parent)
{
    if (!px->anthropic || !px->lane)
        return NULL;
    px_trace *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    size_t ml = strlen(method) + 1, tl = strlen(target) + 1;
    size_t bl = braintrust_parent ? strlen(braintrust_parent) + 1 : 1;
    size_t len = 1 + sizeof(bt_span_context) + ml + tl + bl + headers_size(h, n);
    lane_msg *m = msg_new(LM_BEGIN, t, now(px), len);
    if (!m) {
        free(t);
        return NULL;
    }
    char *p = m->data;
    *p++ = parent ? 1 : 0;
    if (parent)
        memcpy(p, parent, sizeof *parent);
    else
        memset(p, 0, sizeof(bt_span_context));
    p += sizeof(bt_span_context);
    memcpy(p, method, ml);
    p += ml;
    memcpy(p, target, tl);
    p += tl;
    if (braintrust_parent)
        memcpy(p, braintrust_parent, bl);
    else
        *p = '\0';
    p += bl;
    headers_put(p, h, n);
    post(px, m);
    return t;
}

static void body(px_proxy *px, px_trace *t, lm_kind kind, const void *data, size_t len)
{
    if (!len || !wanted(px, t, len))
        return;
    lane_msg *m = msg_new(kind, t, now(px), len);
    if (!m) {
        lose(px, t);
        return;
    }
    memcpy(m->data, data, len);
    post(px, m);
}

void px_trace_request_body(px_proxy *px, px_trace *t, const void *data, size_t len)
{
    body(px, t, LM_REQ_BODY, data, len);
}

void px_trace_response_body(px_proxy *px, px_trace *t, const void *data, size_t len)
{
    body(px, t, LM_RESP_BODY, data, len);
}

void px_trace_response_headers(px_proxy *px, px_trace *t, int status, const bt_header *h, size_t n)
{
    if (!t || t->ended || __atomic_load_n(&t->untraced, __ATOMIC_ACQUIRE))
        return;
    lane_msg *m = msg_new(LM_RESP_HEAD, t, now(px), headers_size(h, n));
    if (!m) {
        if (!t->lost)
            lose(px, t);
        return;
    }
    m->value = status;
    headers_put(m->data, h, n);
    post(px, m);
}

void px_trace_end(px_proxy *px, px_trace *t, bt_exchange_outcome outcome, const char *reason)
{
    if (!t || t->ended)
        return;
    t->ended = 1;
    size_t rl = reason ? strlen(reason) + 1 : 1;
    lane_msg *m = msg_new(LM_END, t, now(px), rl);
    if (!m)
        m = msg_new(LM_END, t, now(px), 1), rl = 1, reason = NULL;
    if (!m)
        return; /* the LOG message ends it (below) */
    m->value = (int)outcome;
    memcpy(m->data, reason ? reason : "", rl);
    post(px, m);
}

void px_trace_log(px_proxy *px, px_trace *t, char *prefix, const char *note)
{
    if (!t->ended)
        px_trace_end(px, t, BT_EXCHANGE_CLIENT_CANCELLED, NULL);
    size_t pl = prefix ? strlen(prefix) + 1 : 1, nl = note ? strlen(note) + 1 : 0;
    lane_msg *m = msg_new(LM_LOG, t, now(px), pl + nl);
    if (!m) {
        /* Out of memory: the line is written now, without the span's summary. The
         * lane frees a trace when it takes its LOG message, so this one stays
         * allocated (a few hundred bytes, only after an allocation failure). */
        px_access_log_finish(prefix ? prefix : "", NULL, note);
        free(prefix);
        return;
    }
    memcpy(m->data, prefix ? prefix : "", pl);
    m->value = note != NULL;
    if (note)
        memcpy(m->data + pl, note, nl);
    free(prefix);
    post(px, m);
}

/* End of the worker's loop turn: hand this turn's pieces to the lane. */
void px_lane_flush(px_proxy *px)
{
    px_lane *l = px->lane;
    if (!l || !l->turn_head)
        return;
    pthread_mutex_lock(&l->mu);
    if (l->tail)
        l->tail->next = l->turn_head;
    else
        l->head = l->turn_head;
    l->tail = l->turn_tail;
    int wake = l->sleeping;
    pthread_mutex_unlock(&l->mu);
    l->turn_head = l->turn_tail = NULL;
    if (wake)
        pthread_cond_signal(&l->cv);
}

/* ---- the lane's side ---- */

static void handle(px_proxy *px, lane_msg *m)
{
    px_trace *t = m->t;
    switch (m->kind) {
    case LM_BEGIN: {
        const char *p = m->data, *end = m->data + m->len;
        int has_parent = *p++;
        bt_span_context parent;
        memcpy(&parent, p, sizeof parent);
        p += sizeof parent;
        const char *method = p;
        p += strlen(p) + 1;
        const char *target = p;
        p += strlen(p) + 1;
        const char *bp = p;
        p += strlen(p) + 1;
        size_t n;
        bt_header *h = headers_get(p, end, &n);
        bt_exchange_options opts = {0};
        opts.parent = has_parent ? &parent : NULL;
        opts.braintrust_parent = *bp ? bp : NULL;
        opts.start_unix_nano = m->at;
        bt_exchange_begin(px->anthropic, method, target, h, n, &opts, &t->ex);
        free(h);
        if (!t->ex)
            __atomic_store_n(&t->untraced, 1, __ATOMIC_RELEASE);
        break;
    }
    case LM_REQ_BODY:
        if (t->ex && !t->lane_lost)
            bt_exchange_request_body(t->ex, m->data, m->len);
        break;
    case LM_RESP_HEAD: {
        size_t n;
        bt_header *h = headers_get(m->data, m->data + m->len, &n);
        bt_exchange_set_time(t->ex, m->at);
        bt_exchange_response_headers(t->ex, m->value, h, n);
        free(h);
        break;
    }
    case LM_RESP_BODY:
        if (t->ex && !t->lane_lost) {
            bt_exchange_set_time(t->ex, m->at);
            bt_exchange_response_body(t->ex, m->data, m->len);
        }
        break;
    case LM_LOST:
        t->lane_lost = 1;
        bt_exchange_lost(t->ex, "tracing fell behind the traffic (--trace-backlog): the rest was not traced");
        break;
    case LM_END:
        memset(&t->info, 0, sizeof t->info);
        t->info.input_tokens = t->info.output_tokens = -1;
        if (t->ex) {
            bt_exchange_set_time(t->ex, m->at);
            if (m->value == BT_EXCHANGE_ABORTED)
                bt_exchange_abort(t->ex, m->data, &t->info);
            else if (m->value == BT_EXCHANGE_TRANSPORT_ERROR)
                bt_exchange_fail(t->ex, m->data, &t->info);
            else
                bt_exchange_end(t->ex, (bt_exchange_outcome)m->value, &t->info);
            t->have_info = 1;
        }
        t->ex = NULL;
        break;
    case LM_LOG: {
        const char *prefix = m->data;
        const char *note = m->value ? prefix + strlen(prefix) + 1 : NULL;
        if (t->ex) /* no END came (out of memory): end it as a cancelled call */
            bt_exchange_end(t->ex, BT_EXCHANGE_CLIENT_CANCELLED, &t->info), t->have_info = 1;
        px_access_log_finish(prefix, t->have_info ? &t->info : NULL, note);
        free(t);
        break;
    }
    }
    if (m->kind == LM_REQ_BODY || m->kind == LM_RESP_BODY)
        px_counter_add(&px->m.trace_backlog_bytes, -(int64_t)m->len);
}

static void *lane_main(void *arg)
{
    px_proxy *px = arg;
    px_lane *l = px->lane;
    char name[16];
    snprintf(name, sizeof name, "bt-proxy-t%d", px->id);
    pthread_setname_np(pthread_self(), name);
    /* Below the forwarding loops in the scheduler's eyes too: when the cores are busy,
     * bytes go out first and are traced a moment later (Linux: nice per thread). */
    setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), PX_LANE_NICE);
    pthread_mutex_lock(&l->mu);
    for (;;) {
        while (!l->head && !l->stopping) {
            l->sleeping = 1;
            pthread_cond_wait(&l->cv, &l->mu);
            l->sleeping = 0;
        }
        if (!l->head)
            break; /* stopping, and everything handed over was handled */
        lane_msg *m = l->head;
        l->head = l->tail = NULL;
        pthread_mutex_unlock(&l->mu);
        while (m) {
            lane_msg *next = m->next;
            handle(px, m);
            free(m);
            m = next;
        }
        px_log_flush();
        pthread_mutex_lock(&l->mu);
    }
    pthread_mutex_unlock(&l->mu);
    return NULL;
}

int px_lane_start(px_proxy *px)
{
    if (!px->anthropic)
        return 0; /* tracing is off: nothing to do beside the loop */
    px_lane *l = calloc(1, sizeof *l);
    if (!l)
        return -1;
    l->px = px;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    px->lane = l;
    if (pthread_create(&l->thread, NULL, lane_main, px) != 0) {
        px->lane = NULL;
        pthread_mutex_destroy(&l->mu);
        pthread_cond_destroy(&l->cv);
        free(l);
        return -1;
    }
    l->started = 1;
    return 0;
}

/* After the worker's last request: the lane handles what is left, then stops. */
void px_lane_stop(px_proxy *px)
{
    px_lane *l = px->lane;
    if (!l)
        return;
    px_lane_flush(px);
    pthread_mutex_lock(&l->mu);
    l->stopping = 1;
    pthread_mutex_unlock(&l->mu);
    pthread_cond_signal(&l->cv);
    pthread_join(l->thread, NULL);
    pthread_mutex_destroy(&l->mu);
    pthread_cond_destroy(&l->cv);
    free(l);
    px->lane = NULL;
}
