/*
 * Request routing for the Anthropic endpoints the tracer understands. Matching is on
 * the path only (query and fragment removed) and exact: a trailing slash, an extra
 * segment or a wrong method means "not ours" and the exchange passes untraced, which
 * is always safe, whereas guessing could attach a wrong span shape.
 */
#include "decode/router.h"

#include <stdint.h>
#include <string.h>
#include <strings.h>

#include "util/text.h"

/* A batch id is an opaque token; after decoding it must still be one path segment of
 * printable characters, or it is not a batch URL we can name in a span. */
static int valid_batch_id(const char *id, long len)
{
    if (len <= 0)
        return 0;
    for (long i = 0; i < len; i++) {
        unsigned char c = (unsigned char)id[i];
        if (c <= 0x20 || c == 0x7f || c == '/' || c == '?' || c == '#')
            return 0;
    }
    return 1;
}

static int seg_is(const char *s, size_t len, const char *lit)
{
    size_t n = strlen(lit);
    return len == n && memcmp(s, lit, n) == 0;
}

/* Decodes one id segment of the path into out; 0 when it is not a usable id. */
static int id_segment(const char *s, size_t len, char *out, size_t out_size)
{
    long n = bt__percent_decode(s, len, 0, out, out_size);
    if (!valid_batch_id(out, n)) {
        out[0] = '\0';
        return 0;
    }
    return 1;
}

/* "sessions/..." after "/v1/": the Managed Agents session calls that run the agent or
 * report its work (create, send events, list and stream events, per thread too). */
static bt__route_kind match_sessions(int post, int get, const char *p, size_t len, bt__route *out)
{
    static const char prefix[] = "sessions";
    size_t plen = sizeof prefix - 1;
    if (seg_is(p, len, prefix))
        return post ? BT__ROUTE_SESSION_CREATE : BT__ROUTE_NONE;
    if (len <= plen + 1 || memcmp(p, "sessions/", plen + 1) != 0)
        return BT__ROUTE_NONE;
    const char *id = p + plen + 1, *end = p + len;
    const char *slash = memchr(id, '/', (size_t)(end - id));
    if (!slash || !id_segment(id, (size_t)(slash - id), out->batch_id, sizeof out->batch_id))
        return BT__ROUTE_NONE;
    const char *tail = slash + 1;
    size_t tlen = (size_t)(end - tail);
    if (seg_is(tail, tlen, "events"))
        return post ? BT__ROUTE_SESSION_EVENTS_SEND : get ? BT__ROUTE_SESSION_EVENTS_LIST : BT__ROUTE_NONE;
    if (seg_is(tail, tlen, "events/stream"))
        return get ? BT__ROUTE_SESSION_EVENTS_STREAM : BT__ROUTE_NONE;
    /* threads/{tid}/events and threads/{tid}/stream */
    if (tlen > 8 && memcmp(tail, "threads/", 8) == 0) {
        const char *tid = tail + 8;
        const char *tslash = memchr(tid, '/', (size_t)(end - tid));
        if (!tslash || !id_segment(tid, (size_t)(tslash - tid), out->thread_id, sizeof out->thread_id))
            return BT__ROUTE_NONE;
        const char *last = tslash + 1;
        size_t llen = (size_t)(end - last);
        if (seg_is(last, llen, "events"))
            return get ? BT__ROUTE_SESSION_EVENTS_LIST : BT__ROUTE_NONE;
        if (seg_is(last, llen, "stream"))
            return get ? BT__ROUTE_SESSION_EVENTS_STREAM : BT__ROUTE_NONE;
    }
    return BT__ROUTE_NONE;
}

/* Path after "/v1/" -> route kind for the method, filling the batch id. */
static bt__route_kind match_v1(const char *method, const char *p, size_t len, bt__route *out)
{
    int post = strcmp(method, "POST") == 0;
    int get = strcmp(method, "GET") == 0;
    int del = strcmp(method, "DELETE") == 0;

    if (len >= 8 && memcmp(p, "sessions", 8) == 0) {
        bt__route_kind k = match_sessions(post, get, p, len, out);
        if (k == BT__ROUTE_NONE)
            out->batch_id[0] = out->thread_id[0] = '\0';
        return k;
    }
    if (seg_is(p, len, "files"))
        return post ? BT__ROUTE_FILE_UPLOAD : BT__ROUTE_NONE;

    if (seg_is(p, len, "messages"))
        return post ? BT__ROUTE_MESSAGES : BT__ROUTE_NONE;
    if (seg_is(p, len, "messages/count_tokens"))
        return post ? BT__ROUTE_COUNT_TOKENS : BT__ROUTE_NONE;
    if (seg_is(p, len, "messages/batches"))
        return post ? BT__ROUTE_BATCH_CREATE : get ? BT__ROUTE_BATCH_LIST : BT__ROUTE_NONE;

    static const char prefix[] = "messages/batches/";
    size_t plen = sizeof prefix - 1;
    if (len <= plen || memcmp(p, prefix, plen) != 0)
        return BT__ROUTE_NONE;
    const char *id = p + plen;
    const char *slash = memchr(id, '/', len - plen);
    size_t id_len = slash ? (size_t)(slash - id) : len - plen;
    const char *tail = slash ? slash + 1 : NULL;
    size_t tail_len = slash ? len - plen - id_len - 1 : 0;

    bt__route_kind kind;
    if (!tail)
        kind = get ? BT__ROUTE_BATCH_RETRIEVE : del ? BT__ROUTE_BATCH_DELETE : BT__ROUTE_NONE;
    else if (seg_is(tail, tail_len, "cancel"))
        kind = post ? BT__ROUTE_BATCH_CANCEL : BT__ROUTE_NONE;
    else if (seg_is(tail, tail_len, "results"))
        kind = get ? BT__ROUTE_BATCH_RESULTS : BT__ROUTE_NONE;
    else
        kind = BT__ROUTE_NONE;
    if (kind == BT__ROUTE_NONE)
        return kind;

    long n = bt__percent_decode(id, id_len, 0, out->batch_id, sizeof out->batch_id);
    if (!valid_batch_id(out->batch_id, n)) {
        out->batch_id[0] = '\0';
        return BT__ROUTE_NONE;
    }
    return kind;
}

void bt__route_match(const char *method, const char *target, size_t target_len, bt__route *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    if (!method || !target)
        return;

    const char *end = target + target_len;
    const char *path = target;
    /* Absolute-form target (RFC 9112 3.2.2): skip scheme and authority. */
    for (const char *const *scheme = (const char *const[]){"http://", "https://", NULL}; *scheme; scheme++) {
        size_t n = strlen(*scheme);
        if (target_len >= n && strncasecmp(target, *scheme, n) == 0) {
            size_t i = n;
            while (i < target_len && target[i] != '/' && target[i] != '?' && target[i] != '#')
                i++;
            if (i == target_len || target[i] != '/')
                return; /* the authority is followed by no path at all */
            path = target + i;
            break;
        }
    }

    const char *path_end = path;
    while (path_end < end && *path_end != '?' && *path_end != '#')
        path_end++;
    if (path_end < end && *path_end == '?') {
        const char *q = path_end + 1;
        const char *q_end = memchr(q, '#', (size_t)(end - q));
        out->query = q;
        out->query_len = (size_t)((q_end ? q_end : end) - q);
        char v[8];
        out->beta = bt__query_get(out->query, out->query_len, "beta", v, sizeof v) && strcmp(v, "true") == 0;
    }

    /* Any prefix before /v1/ is a gateway's mount point. */
    size_t plen = (size_t)(path_end - path);
    const char *v1 = NULL;
    for (size_t i = 0; i + 4 <= plen; i++) {
        if (memcmp(path + i, "/v1/", 4) == 0) {
            v1 = path + i + 4;
            break;
        }
    }
    if (!v1)
        return;
    /* HEAD and every other method fall through match_v1 as NONE. */
    out->kind = match_v1(method, v1, (size_t)(path_end - v1), out);
}

int bt__query_get(const char *query, size_t query_len, const char *name, char *out, size_t out_size)
{
    if (!query || !name || !out || out_size == 0)
        return 0;
    size_t name_len = strlen(name);
    const char *p = query, *end = query + query_len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *pair_end = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(pair_end - p));
        const char *key_end = eq ? eq : pair_end;
        if ((size_t)(key_end - p) == name_len && memcmp(p, name, name_len) == 0) {
            const char *val = eq ? eq + 1 : pair_end;
            /* A value that is malformed or too long for out is reported absent rather
             * than cut: a shortened batch id would name a different batch. */
            return bt__percent_decode(val, (size_t)(pair_end - val), BT__PERCENT_PLUS_IS_SPACE, out,
                                      out_size) >= 0;
        }
        p = pair_end + (amp ? 1 : 0);
        if (!amp)
            break;
    }
    out[0] = '\0';
    return 0;
}

const char *bt__route_span_name(bt__route_kind kind)
{
    switch (kind) {
    case BT__ROUTE_MESSAGES:
        return "anthropic.messages.create";
    case BT__ROUTE_COUNT_TOKENS:
        return "anthropic.messages.count_tokens";
    case BT__ROUTE_BATCH_CREATE:
        return "anthropic.messages.batches.create";
    case BT__ROUTE_BATCH_LIST:
        return "anthropic.messages.batches.list";
    case BT__ROUTE_BATCH_RETRIEVE:
        return "anthropic.messages.batches.retrieve";
    case BT__ROUTE_BATCH_CANCEL:
        return "anthropic.messages.batches.cancel";
    case BT__ROUTE_BATCH_DELETE:
        return "anthropic.messages.batches.delete";
    case BT__ROUTE_BATCH_RESULTS:
        return "anthropic.messages.batches.results";
    case BT__ROUTE_SESSION_CREATE:
        return "anthropic.beta.sessions.create";
    case BT__ROUTE_SESSION_EVENTS_SEND:
        return "anthropic.beta.sessions.events.send";
    case BT__ROUTE_SESSION_EVENTS_LIST:
        return "anthropic.beta.sessions.events.list";
    case BT__ROUTE_SESSION_EVENTS_STREAM:
        return "anthropic.beta.sessions.events.stream";
    case BT__ROUTE_FILE_UPLOAD:
        return "anthropic.beta.files.upload";
    case BT__ROUTE_NONE:
        break;
    }
    return NULL;
}
