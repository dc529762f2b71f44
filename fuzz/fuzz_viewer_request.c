/*
 * Fuzz target for the viewer's request handling (tools/bt-spans/web.c): the request
 * target (path, percent-decoding, query parameters, list cursors, trace and span ids)
 * and the Host check, against a small real span store made once. Input: one byte picks
 * the method (G, H, P; anything else is DELETE), then the target up to the first
 * newline, then the Host value (none when the input has no second line).
 * Invariants checked:
 *   - every answer has a known status and a body of the length it says;
 *   - a JSON answer parses, and holds no raw <, > or & (so no answer is markup);
 *   - a request whose Host is not this server is refused with 421.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <jansson.h>

#include "braintrust/common.h"
#include "export/store.h"
#include "query.h"
#include "web.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static sqlite3 *g_db;
static bts_web *g_web;
static char g_path[256];

static void cleanup(void)
{
    bts_web_free(g_web);
    sqlite3_close(g_db);
    char extra[300];
    unlink(g_path);
    snprintf(extra, sizeof extra, "%s-wal", g_path);
    unlink(extra);
    snprintf(extra, sizeof extra, "%s-shm", g_path);
    unlink(extra);
}

/* A store with a batch trace of three spans (one failed) and a single call. */
static void setup(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/fuzz_viewer_%d.db", tmp && *tmp ? tmp : "/tmp", (int)getpid());
    sqlite3 *w = NULL;
    if (bt__store_open(g_path, BT__STORE_CREATE, &w, NULL) != BT_OK)
        abort();
    const char *sql =
        "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, start_ns, end_ns, status_code,"
        " status_message, span_type, model, prompt_tokens, completion_tokens, line, stored_ns) VALUES"
        " ('0102030405060708090a0b0c0d0e0f10', 'a1a2a3a4a5a6a7a8', NULL, 'anthropic.batch', 1, 1000, 5000, 1,"
        "  NULL, 'task', NULL, NULL, NULL, '{\"name\":\"anthropic.batch\",\"attributes\":[]}', 0),"
        " ('0102030405060708090a0b0c0d0e0f10', 'b1b2b3b4b5b6b7b8', 'a1a2a3a4a5a6a7a8', 'anthropic.messages.create',"
        "  3, 1000, 4000, 2, 'overloaded_error: <busy>', 'llm', 'claude-x', 10, 2,"
        "  '{\"name\":\"x\",\"attributes\":[{\"key\":\"braintrust.input_json\",\"value\":{\"stringValue\":\"<b>\"}}]}', 0),"
        " ('0102030405060708090a0b0c0d0e0f10', 'c1c2c3c4c5c6c7c8', 'a1a2a3a4a5a6a7a8', 'anthropic.messages.create',"
        "  3, 1000, 4500, 1, NULL, 'llm', 'claude-y', 11, 3, '{}', 0),"
        " ('ff02030405060708090a0b0c0d0e0f10', 'd1d2d3d4d5d6d7d8', NULL, 'anthropic.messages.count_tokens',"
        "  3, 9000, 9100, 1, NULL, 'llm', 'claude-x', 99, NULL, '{}', 0)";
    if (sqlite3_exec(w, sql, NULL, NULL, NULL) != SQLITE_OK)
        abort();
    sqlite3_close(w);
    if (bt__store_open(g_path, BT__STORE_READ_ONLY, &g_db, NULL) != BT_OK ||
        bts_query_register(g_db) != BTS_Q_OK || bts_web_new(g_db, g_path, &g_web) != 0)
        abort();
    bts_web_set_origin(g_web, "127.0.0.1", 8790);
    atexit(cleanup);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!g_web)
        setup();
    if (size == 0 || size > 8192)
        return 0;
    const char *method = data[0] == 'G' ? "GET"
        : data[0] == 'H'                ? "HEAD"
        : data[0] == 'P'                ? "POST"
                                        : "DELETE";
    char *text = malloc(size);
    if (!text)
        abort();
    memcpy(text, data + 1, size - 1);
    text[size - 1] = '\0';
    char *host = strchr(text, '\n');
    if (host)
        *host++ = '\0';
    /* Targets are NUL-terminated by the HTTP parser; a NUL in the input ends it here. */
    bts_web_response r;
    bts_web_handle(g_web, method, text, host, &r);
    static const int known[] = {200, 400, 404, 405, 409, 421, 500};
    int ok = 0;
    for (size_t i = 0; i < sizeof known / sizeof *known; i++)
        ok |= r.status == known[i];
    if (!ok || !r.content_type || (r.len && !r.body))
        abort();
    int host_ok = host &&
        (strcmp(host, "127.0.0.1:8790") == 0 || strcasecmp(host, "localhost:8790") == 0 ||
         strcmp(host, "[::1]:8790") == 0);
    if (!host_ok && r.status != 421)
        abort();
    if (strcmp(r.content_type, "application/json") == 0) {
        if (memchr(r.body, '<', r.len) || memchr(r.body, '>', r.len) || memchr(r.body, '&', r.len))
            abort();
        json_t *v = json_loadb(r.body, r.len, 0, NULL);
        if (!v && r.len > 2) /* a stored line that is not JSON is served as it is: only ours parse */
            if (r.status != 200)
                abort();
        json_decref(v);
    }
    bts_web_response_free(&r);
    free(text);
    return 0;
}
