/* Agent sessions as traces (see session.h). */
#include "anthropic/session.h"

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "anthropic/attachments.h"
#include "anthropic/conversation.h"
#include "anthropic/exchange_internal.h"
#include "anthropic/json_util.h"
#include "util/utf8.h"

#define NS_TRACE "braintrust:session:trace"
#define NS_ROOT "braintrust:session:root"
#define NS_TOOL "braintrust:session:tool"
#define ROOT_NAME "agent.session"
/* Models named on a root; more are counted, not listed. */
#define MODELS_MAX 8
/* Client tool rounds turned into spans per call; more are counted on the call. */
#define TOOL_ROUNDS_MAX 128
/* Model requests of a Managed Agents session remembered as counted. */
#define ONCE_IDS 64

/* The session headers, most explicit first. */
static const char *const SESSION_HEADERS[] = {"x-bt-session-id", "x-claude-code-session-id"};

/* What an exchange of a session carries (bt_exchange.session). */
struct bt__exchange_session {
    char id[BT__SESSION_ID_MAX + 1];
    const char *header; /* the header it came from (static) */
    int turn;           /* 0 until bt__session_turn */
    char *prompt;       /* the call's last user turn as a root input preview, or NULL */
    int tracked;        /* counted as active in the table */
};

typedef struct session {
    char id[BT__SESSION_ID_MAX + 1];
    const char *header;
    uint8_t trace_id[16], root_id[8];
    char *braintrust_parent; /* the first per-request override seen, or NULL */
    uint64_t start_ns, end_ns, last_activity_ns;
    int active; /* exchanges in flight */
    int dirty;  /* news since the root was last emitted */
    int in_use;
    /* totals */
    int64_t calls, errors, count_tokens_calls, tool_calls;
    int64_t prompt, completion, cache_read, cache_creation, reasoning;
    int max_turn;
    char *models[MODELS_MAX];
    size_t n_models, models_dropped;
    /* previews for the root's input and output */
    char *input;
    int input_turn;
    char *output;
    int output_turn;
    uint64_t output_end_ns;
    int truncated;
    char (*once)[64]; /* calls already counted (bt__session_add_call), a ring of ONCE_IDS;
                       * allocated at the first such call (only Managed Agents sessions) */
    size_t once_next;
} session;

struct bt__sessions {
    bt_anthropic *a;
    pthread_mutex_t mu;
    uint64_t idle_ns;
    /* Entries are made as sessions appear, up to BT__SESSIONS_MAX, and reused once
     * cleared: a tracer that never sees a session costs nothing here. */
    session **tab;
    size_t n_tab, cap_tab;
    int warned_full;
};

bt__sessions *bt__sessions_new(bt_anthropic *a)
{
    bt__sessions *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    if (pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s);
        return NULL;
    }
    s->a = a;
    s->idle_ns = (uint64_t)BT__SESSION_DEFAULT_IDLE_S * 1000000000ull;
    return s;
}

static void session_clear(session *e)
{
    free(e->braintrust_parent);
    free(e->input);
    free(e->output);
    for (size_t i = 0; i < e->n_models; i++)
        free(e->models[i]);
    free(e->once);
    memset(e, 0, sizeof *e);
}

void bt__sessions_free(bt__sessions *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->n_tab; i++) {
        session_clear(s->tab[i]);
        free(s->tab[i]);
    }
    free(s->tab);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void bt__sessions_set_idle(bt__sessions *s, uint64_t idle_ns)
{
    pthread_mutex_lock(&s->mu);
    s->idle_ns = idle_ns;
    pthread_mutex_unlock(&s->mu);
}

/* --- the root span -------------------------------------------------------------------- */

/* A preview (canonical JSON text, or NULL) as a JSON attribute. */
static void set_preview(bt_anthropic *a, bt_span *span, const char *key, const char *field, const char *text)
{
    if (text)
        bt__span_set_json_text(a, span, key, field, text, strlen(text));
}

static void put_count(json_t *md, const char *key, int64_t v)
{
    json_object_set_new(md, key, json_integer((json_int_t)v));
}

/* Token totals live in the metadata, not the metrics: Braintrust adds span metrics up
 * the trace, so tokens on the root would count every token twice. */
static json_t *root_metadata(const session *e)
{
    json_t *md =
        json_pack("{s:s,s:s,s:s}", "provider", "anthropic", "session_id", e->id, "session_source", e->header);
    json_t *models = json_array();
    for (size_t i = 0; i < e->n_models; i++)
        json_array_append_new(models, json_string(e->models[i]));
    json_object_set_new(md, "models", models);
    if (e->models_dropped)
        put_count(md, "models_not_listed", (int64_t)e->models_dropped);
    put_count(md, "turns", e->max_turn);
    put_count(md, "llm_calls", e->calls);
    put_count(md, "errors", e->errors);
    put_count(md, "tool_calls", e->tool_calls);
    if (e->count_tokens_calls)
        put_count(md, "count_tokens_calls", e->count_tokens_calls);
    put_count(md, "prompt_tokens", e->prompt);
    put_count(md, "completion_tokens", e->completion);
    put_count(md, "tokens", e->prompt + e->completion);
    put_count(md, "prompt_cached_tokens", e->cache_read);
    put_count(md, "prompt_cache_creation_tokens", e->cache_creation);
    if (e->reasoning)
        put_count(md, "completion_reasoning_tokens", e->reasoning);
    uint64_t wall = e->end_ns > e->start_ns ? e->end_ns - e->start_ns : 0;
    json_object_set_new(md, "wall_time_seconds", json_real((double)wall / 1e9));
    if (e->truncated)
        json_object_set_new(md, "truncated", json_true());
    return md;
}

static void emit_root(bt__sessions *s, session *e)
{
    bt_anthropic *a = s->a;
    bt_span_options o = {0};
    o.trace_id = e->trace_id;
    o.span_id = e->root_id;
    o.start_unix_nano = e->start_ns;
    o.kind = BT_SPAN_KIND_INTERNAL;
    bt_span *span = bt_span_start(bt__anthropic_tracer(a), ROOT_NAME, &o);
    e->dirty = 0;
    if (!span)
        return;
    if (e->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", e->braintrust_parent);
    bt__span_set_span_attributes(span, "task", ROOT_NAME);
    set_preview(a, span, "braintrust.input_json", "input", e->input);
    set_preview(a, span, "braintrust.output_json", "output", e->output);
    json_t *md = root_metadata(e);
    bt__span_set_json(a, span, "braintrust.metadata", NULL, md);
    json_decref(md);
    if (bt__anthropic_genai_enabled(a)) {
        bt_span_set_string(span, "gen_ai.operation.name", "invoke_agent");
        bt_span_set_string(span, "gen_ai.provider.name", "anthropic");
        bt_span_set_string(span, "gen_ai.conversation.id", e->id);
    }
    bt_span_end(span, e->end_ns > e->start_ns ? e->end_ns : e->start_ns);
}

size_t bt__sessions_emit(bt__sessions *s, uint64_t now_ns, int all)
{
    if (!s)
        return 0;
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n_tab; i++) {
        session *e = s->tab[i];
        if (!e->in_use || !e->dirty || (!all && e->active))
            continue;
        if (!all && (now_ns < e->last_activity_ns || now_ns - e->last_activity_ns < s->idle_ns))
            continue;
        emit_root(s, e);
        n++;
    }
    pthread_mutex_unlock(&s->mu);
    return n;
}

/* --- the table ------------------------------------------------------------------------- */

static session *find(bt__sessions *s, const char *id)
{
    for (size_t i = 0; i < s->n_tab; i++)
        if (s->tab[i]->in_use && strcmp(s->tab[i]->id, id) == 0)
            return s->tab[i];
    return NULL;
}

/* A new entry while the table is below BT__SESSIONS_MAX; NULL when it is full or
 * memory ran out. */
static session *add_entry(bt__sessions *s)
{
    if (s->n_tab >= BT__SESSIONS_MAX)
        return NULL;
    if (s->n_tab == s->cap_tab) {
        size_t cap = s->cap_tab ? s->cap_tab * 2 : 16;
        if (cap > BT__SESSIONS_MAX)
            cap = BT__SESSIONS_MAX;
        session **t = realloc(s->tab, cap * sizeof *t);
        if (!t)
            return NULL;
        s->tab = t;
        s->cap_tab = cap;
    }
    session *e = calloc(1, sizeof *e);
    if (e)
        s->tab[s->n_tab++] = e;
    return e;
}

/* A free entry (a cleared one, else a new one below the cap), else the one idle the
 * longest (its root emitted first if it has news); NULL when every session is in
 * flight. */
static session *make_room(bt__sessions *s)
{
    session *victim = NULL;
    for (size_t i = 0; i < s->n_tab; i++)
        if (!s->tab[i]->in_use)
            return s->tab[i];
    session *fresh = add_entry(s);
    if (fresh)
        return fresh;
    for (size_t i = 0; i < s->n_tab; i++) {
        session *e = s->tab[i];
        if (e->active)
            continue;
        /* emitted sessions go first, then the longest idle */
        if (!victim || (victim->dirty && !e->dirty) ||
            (victim->dirty == e->dirty && e->last_activity_ns < victim->last_activity_ns))
            victim = e;
    }
    if (victim) {
        if (victim->dirty)
            emit_root(s, victim);
        session_clear(victim);
    }
    return victim;
}

/* A session id as sent: trimmed, 1..BT__SESSION_ID_MAX printable ASCII bytes. */
static int read_id(const bt_header *h, char *out)
{
    const char *v = h->value;
    size_t len = h->value_len;
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    if (len == 0 || len > BT__SESSION_ID_MAX)
        return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)v[i] < 0x20 || (unsigned char)v[i] > 0x7e)
            return 0;
    memcpy(out, v, len);
    out[len] = '\0';
    return 1;
}

static void derive_ids(const char *id, uint8_t trace_id[16], uint8_t root_id[8])
{
    bt_derive_id(NS_TRACE, id, strlen(id), trace_id, 16);
    bt_derive_id(NS_ROOT, id, strlen(id), root_id, 8);
}

void bt__session_context(const char *session_id, bt_span_context *out)
{
    memset(out, 0, sizeof *out);
    derive_ids(session_id, out->trace_id, out->span_id);
    out->trace_flags = 1;
}

/* The session's entry, made when missing (NULL when the table is full of sessions in
 * flight). Called with the lock held. */
static session *entry_for(bt__sessions *s, const char *id, const char *source, const char *bt_parent,
                          uint64_t start_ns)
{
    session *e = find(s, id);
    if (e || (e = make_room(s)) == NULL)
        return e;
    e->in_use = 1;
    snprintf(e->id, sizeof e->id, "%s", id);
    e->header = source;
    derive_ids(id, e->trace_id, e->root_id);
    e->start_ns = e->end_ns = e->last_activity_ns = start_ns;
    if (bt_parent)
        e->braintrust_parent = strdup(bt_parent);
    return e;
}

void bt__session_begin(bt_exchange *ex, const bt_header *headers, size_t n_headers)
{
    bt__sessions *s = bt__anthropic_sessions(ex->a);
    if (!s || ex->has_parent)
        return;
    char id[BT__SESSION_ID_MAX + 1];
    const char *header = NULL;
    for (size_t k = 0; k < sizeof SESSION_HEADERS / sizeof *SESSION_HEADERS && !header; k++) {
        size_t hn = strlen(SESSION_HEADERS[k]);
        for (size_t i = 0; i < n_headers; i++) {
            const bt_header *h = &headers[i];
            if (h->name && h->value && h->name_len == hn &&
                strncasecmp(h->name, SESSION_HEADERS[k], hn) == 0 && read_id(h, id)) {
                header = SESSION_HEADERS[k];
                break;
            }
        }
    }
    if (!header)
        return;
    struct bt__exchange_session *xs = calloc(1, sizeof *xs);
    if (!xs)
        return;
    memcpy(xs->id, id, strlen(id) + 1);
    xs->header = header;
    ex->session = xs;

    uint8_t trace_id[16], root_id[8];
    derive_ids(id, trace_id, root_id);
    memset(&ex->parent, 0, sizeof ex->parent);
    memcpy(ex->parent.trace_id, trace_id, 16);
    memcpy(ex->parent.span_id, root_id, 8);
    ex->parent.trace_flags = 1;
    ex->has_parent = 1;

    pthread_mutex_lock(&s->mu);
    session *e = find(s, id);
    if (!e && (e = make_room(s)) != NULL) {
        e->in_use = 1;
        memcpy(e->id, id, strlen(id) + 1);
        e->header = header;
        memcpy(e->trace_id, trace_id, 16);
        memcpy(e->root_id, root_id, 8);
        e->start_ns = ex->start_unix_nano;
        if (ex->braintrust_parent)
            e->braintrust_parent = strdup(ex->braintrust_parent);
    }
    if (e) {
        e->active++;
        e->dirty = 1;
        e->last_activity_ns = ex->start_unix_nano;
        if (ex->start_unix_nano < e->start_ns)
            e->start_ns = ex->start_unix_nano;
        if (ex->start_unix_nano > e->end_ns)
            e->end_ns = ex->start_unix_nano;
        xs->tracked = 1;
    } else if (!s->warned_full) {
        s->warned_full = 1;
        bt_tracer_log(bt__anthropic_tracer(ex->a), BT_LOG_WARN,
                      "%d agent sessions are in flight at once: the calls of newer ones still share "
                      "their session's trace, but that trace gets no root span",
                      BT__SESSIONS_MAX);
    }
    pthread_mutex_unlock(&s->mu);
}

int bt__session_of(const bt_exchange *ex)
{
    return ex && ex->session;
}

/* --- one call ------------------------------------------------------------------------- */

/* `parts` joined (canonical JSON text) when it fits the preview size, else a marked
 * stand-in. */
static char *preview(const char *const *parts, const size_t *lens, size_t n, int *truncated)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += lens[i];
    if (total > BT__SESSION_PREVIEW_MAX) {
        *truncated = 1;
        return strdup(
            "{\"truncated\":true,\"note\":\"longer than the session preview; see the turn spans\"}");
    }
    char *text = malloc(total + 1);
    if (!text)
        return NULL;
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        memcpy(text + o, parts[i], lens[i]);
        o += lens[i];
    }
    text[o] = '\0';
    return text;
}

/* The same for a tree (Managed Agents sessions read their events with jansson). */
static char *preview_json(const json_t *v, int *truncated)
{
    char *text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
    size_t len = text ? strlen(text) : 0;
    const char *const parts[] = {text};
    char *out = text ? preview(parts, &len, 1, truncated) : NULL;
    free(text);
    return out;
}

/* The last user turn, as the input of a root: [{"role":"user","content":...}], its media
 * as references to the attachments the turn's span carries. */
static char *prompt_of(bt_anthropic *a, bt__jv messages)
{
    bt__jv last = bt__jv_from(NULL, 0), m;
    bt__jv_iter it = bt__jv_iterate(messages);
    while (messages.type == BT__JV_ARRAY && bt__jv_next(&it, &m)) {
        char role[16];
        if (bt__jv_copy(bt__jv_get(m, "role"), role, sizeof role) >= 0 && !strcmp(role, "user"))
            last = m;
    }
    if (last.type == BT__JV_NONE)
        return NULL;
    bt__jv content = bt__jv_get(last, "content");
    bt__buf refs;
    bt__buf_init(&refs, 0);
    if (content.type == BT__JV_NONE || bt__attachments_references_text(a, content, &refs) != BT_OK)
        bt__buf_append(&refs, "null", 4);
    const char *head = "[{\"role\":\"user\",\"content\":";
    const char *const parts[] = {head, refs.data ? refs.data : "null", "}]"};
    const size_t lens[] = {strlen(head), refs.data ? refs.len : 4, 2};
    int truncated = 0;
    char *text = preview(parts, lens, 3, &truncated);
    bt__buf_free(&refs);
    return text;
}

static void emit_tool_round(bt_exchange *ex, const bt__tool_round *t, uint64_t start_ns, uint64_t end_ns)
{
    bt_anthropic *a = ex->a;
    char *id = bt__jv_strdup(bt__jv_get(t->call, "id"));
    char *name = bt__jv_strdup(bt__jv_get(t->call, "name"));
    const char *shown = name && name[0] ? name : "tool";
    char key[2 * (BT__SESSION_ID_MAX + 1) + 256];
    int klen = snprintf(key, sizeof key, "%s%c%.255s", ex->session->id, 0, id ? id : "");
    uint8_t sid[8];
    bt_derive_id(NS_TOOL, key, (size_t)klen, sid, sizeof sid);
    bt_span_options o = {0};
    o.parent = &ex->parent;
    o.span_id = sid;
    o.start_unix_nano = start_ns;
    o.kind = BT_SPAN_KIND_INTERNAL;
    bt_span *span = bt_span_start(bt__anthropic_tracer(a), shown, &o);
    if (!span) {
        free(id);
        free(name);
        return;
    }
    if (ex->braintrust_parent)
        bt_span_set_string(span, "braintrust.parent", ex->braintrust_parent);
    bt__span_set_span_attributes(span, "tool", shown);
    bt__jv input = bt__jv_get(t->call, "input");
    if (input.type != BT__JV_NONE)
        bt__span_set_json_slice(a, span, "braintrust.input_json", "input", input);
    bt__jv output = bt__jv_get(t->result, "content");
    if (output.type != BT__JV_NONE) /* a tool's images (a screenshot, a file read) become attachments */
        bt__attachments_set_json_text(a, span, "braintrust.output_json", "output", output.p, output.len);
    bt__jobj md;
    bt__jobj_init(&md);
    bt__jobj_set(&md, "provider", "\"anthropic\"", 11);
    bt__jobj_set(&md, "tool_call_type", "\"tool_use\"", 10);
    bt__jobj_set_int(&md, "turn", t->turn);
    if (id)
        bt__jobj_set_string(&md, "tool_use_id", id, strlen(id));
    bt__buf text;
    bt__buf_init(&text, 0);
    if (bt__jobj_write(&md, &text) == 0)
        bt__span_set_json_text(a, span, "braintrust.metadata", NULL, text.data, text.len);
    bt__buf_free(&text);
    bt__jobj_free(&md);
    int is_error = bt__jv_get(t->result, "is_error").type == BT__JV_TRUE;
    if (is_error) {
        /* the first text of the result says what went wrong */
        bt__jv c = bt__jv_get(t->result, "content");
        bt__jv first = c.type == BT__JV_STRING ? c : bt__jv_from(NULL, 0);
        if (c.type == BT__JV_ARRAY) {
            bt__jv_iter it = bt__jv_iterate(c);
            bt__jv b;
            if (bt__jv_next(&it, &b))
                first = bt__jv_get(b, "text");
        }
        char *what = bt__jv_strdup(first);
        char msg[512];
        snprintf(msg, sizeof msg, "tool_error: %s", what ? what : "the tool reported an error");
        msg[bt__utf8_cut(msg, strlen(msg))] = '\0';
        bt_span_set_status(span, BT_STATUS_ERROR, msg);
        free(what);
    }
    if (bt__anthropic_genai_enabled(a)) {
        bt_span_set_string(span, "gen_ai.operation.name", "execute_tool");
        bt_span_set_string(span, "gen_ai.tool.name", shown);
        if (id)
            bt_span_set_string(span, "gen_ai.tool.call.id", id);
        if (is_error)
            bt_span_set_string(span, "error.type", "tool_error");
    }
    bt_span_end(span, end_ns);
    free(id);
    free(name);
}

void bt__session_turn(bt_exchange *ex, bt__jv messages, bt__jobj *metadata)
{
    if (!ex || !ex->session || messages.type != BT__JV_ARRAY)
        return;
    struct bt__exchange_session *xs = ex->session;
    xs->turn = bt__conversation_turn(messages);
    if (metadata)
        bt__jobj_set_int(metadata, "turn", xs->turn);
    if (xs->turn == 1 || !xs->prompt)
        xs->prompt = prompt_of(ex->a, messages);

    /* Tool results this request brings back: each ran between the reply that asked for it
     * (the latest call of the session this process saw end) and this request. */
    bt__tool_round rounds[TOOL_ROUNDS_MAX];
    size_t n = bt__conversation_tool_rounds(messages, rounds, TOOL_ROUNDS_MAX);
    size_t shown = n < TOOL_ROUNDS_MAX ? n : TOOL_ROUNDS_MAX;
    uint64_t start = ex->start_unix_nano;
    bt__sessions *s = bt__anthropic_sessions(ex->a);
    if (n && s) {
        pthread_mutex_lock(&s->mu);
        session *e = find(s, xs->id);
        if (e) {
            e->tool_calls += (int64_t)n;
            /* the end of the previous reply, when this process saw it */
            if (e->output_end_ns && e->output_end_ns <= start)
                start = e->output_end_ns;
        }
        pthread_mutex_unlock(&s->mu);
    }
    for (size_t i = 0; i < shown; i++)
        emit_tool_round(ex, &rounds[i], start, ex->start_unix_nano);
    if (n > shown && metadata)
        bt__jobj_set_int(metadata, "tool_spans_dropped", (int64_t)(n - shown));
}

static void add(int64_t *sum, int64_t v)
{
    if (v > 0 && *sum <= INT64_MAX - v)
        *sum += v;
}

static void add_model(session *e, const char *model)
{
    if (!model || !model[0])
        return;
    for (size_t i = 0; i < e->n_models; i++)
        if (strcmp(e->models[i], model) == 0)
            return;
    if (e->n_models == MODELS_MAX) {
        e->models_dropped++;
        return;
    }
    char *copy = strdup(model);
    if (!copy)
        return;
    /* sorted, so the list reads the same whatever order the calls came in */
    size_t at = e->n_models;
    while (at > 0 && strcmp(e->models[at - 1], copy) > 0) {
        e->models[at] = e->models[at - 1];
        at--;
    }
    e->models[at] = copy;
    e->n_models++;
}

void bt__session_add_call(bt_anthropic *a, const bt__session_call *c)
{
    bt__sessions *s = bt__anthropic_sessions(a);
    if (!s || !c->session_id || !c->session_id[0] || strlen(c->session_id) > BT__SESSION_ID_MAX)
        return;
    char *input = NULL, *output = NULL;
    int truncated = 0;
    if (c->input)
        input = preview_json(c->input, &truncated);
    if (c->output)
        output = preview_json(c->output, &truncated);
    pthread_mutex_lock(&s->mu);
    session *e = entry_for(s, c->session_id, c->source, c->braintrust_parent, c->start_ns);
    int counted = 0;
    if (e && c->once_id && !e->once)
        e->once = calloc(ONCE_IDS, sizeof *e->once); /* without it, the call is counted */
    for (size_t i = 0; e && e->once && c->once_id && i < ONCE_IDS && !counted; i++)
        counted = !strncmp(e->once[i], c->once_id, sizeof e->once[0] - 1);
    if (e && !counted) {
        if (c->once_id && e->once) {
            snprintf(e->once[e->once_next], sizeof e->once[0], "%s", c->once_id);
            e->once_next = (e->once_next + 1) % ONCE_IDS;
        }
        e->dirty = 1;
        e->calls++;
        if (c->is_error)
            e->errors++;
        if (c->usage) {
            add(&e->prompt, c->usage->prompt);
            add(&e->completion, c->usage->output);
            add(&e->cache_read, c->usage->cache_read);
            add(&e->cache_creation, c->usage->cache_creation);
            add(&e->reasoning, c->usage->reasoning);
        }
        add_model(e, c->model);
        if (c->start_ns && c->start_ns < e->start_ns)
            e->start_ns = c->start_ns;
        if (c->end_ns > e->end_ns)
            e->end_ns = c->end_ns;
        if (c->end_ns > e->last_activity_ns)
            e->last_activity_ns = c->end_ns;
        if (input && !e->input) {
            e->input = input;
            input = NULL;
        }
        if (output && c->end_ns >= e->output_end_ns) {
            free(e->output);
            e->output = output;
            e->output_end_ns = c->end_ns;
            output = NULL;
        }
        if (truncated)
            e->truncated = 1;
    }
    pthread_mutex_unlock(&s->mu);
    free(input);
    free(output);
}

void bt__session_record(bt_exchange *ex, const bt__usage *u, const char *model, const bt__jv_members *message,
                        int is_error, int count_tokens)
{
    bt__sessions *s = ex ? bt__anthropic_sessions(ex->a) : NULL;
    if (!s || !ex->session || !ex->session->tracked)
        return;
    struct bt__exchange_session *xs = ex->session;
    char *output = NULL;
    int truncated = 0;
    bt__jv content = message ? bt__jv_lookup(message, "content") : bt__jv_from(NULL, 0);
    if (!count_tokens && !is_error && content.type == BT__JV_ARRAY) {
        const char *head = "{\"role\":\"assistant\",\"content\":";
        const char *const parts[] = {head, content.p, "}"};
        const size_t lens[] = {strlen(head), content.len, 1};
        output = preview(parts, lens, 3, &truncated);
    }
    pthread_mutex_lock(&s->mu);
    session *e = find(s, xs->id);
    if (e) {
        e->dirty = 1;
        if (count_tokens) {
            e->count_tokens_calls++;
        } else {
            e->calls++;
            if (is_error)
                e->errors++;
            if (u) {
                add(&e->prompt, u->prompt);
                add(&e->completion, u->output);
                add(&e->cache_read, u->cache_read);
                add(&e->cache_creation, u->cache_creation);
                add(&e->reasoning, u->reasoning);
            }
            add_model(e, model);
        }
        if (xs->turn > e->max_turn)
            e->max_turn = xs->turn;
        if (xs->prompt && (!e->input || (xs->turn && xs->turn < e->input_turn))) {
            free(e->input);
            e->input = xs->prompt;
            e->input_turn = xs->turn ? xs->turn : 1000000;
            xs->prompt = NULL;
        }
        if (output && xs->turn >= e->output_turn) {
            free(e->output);
            e->output = output;
            e->output_turn = xs->turn;
            e->output_end_ns = ex->end_unix_nano;
            output = NULL;
        }
        if (truncated)
            e->truncated = 1;
    }
    pthread_mutex_unlock(&s->mu);
    free(output);
}

void bt__session_end(bt_exchange *ex)
{
    struct bt__exchange_session *xs = ex ? ex->session : NULL;
    if (!xs)
        return;
    bt__sessions *s = bt__anthropic_sessions(ex->a);
    if (s && xs->tracked) {
        pthread_mutex_lock(&s->mu);
        session *e = find(s, xs->id);
        if (e) {
            if (e->active > 0)
                e->active--;
            uint64_t end = ex->end_unix_nano ? ex->end_unix_nano : ex->start_unix_nano;
            if (end > e->end_ns)
                e->end_ns = end;
            if (end > e->last_activity_ns)
                e->last_activity_ns = end;
        }
        pthread_mutex_unlock(&s->mu);
    }
    free(xs->prompt);
    free(xs);
    ex->session = NULL;
}
