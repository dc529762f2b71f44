/*
 * --replay PATH: serve recorded response bodies for POST /v1/messages instead of
 * generated ones. PATH is one file or a directory whose regular files (sorted by name,
 * dot-files skipped) are served in turn, wrapping around. A body that starts with an
 * SSE field ("event:", "data:" or ":") is streamed as text/event-stream one event per
 * piece, paced like generated streams; anything else is served as application/json.
 * Bodies are read from disk per request (at most --max-body bytes each).
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fake.h"

static char **g_files;
static size_t g_nfiles, g_next;

static int cmp_names(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int add_file(const char *path) {
    char **grown = realloc(g_files, (g_nfiles + 1) * sizeof *grown);
    if (!grown) return -1;
    g_files = grown;
    g_files[g_nfiles] = strdup(path);
    if (!g_files[g_nfiles]) return -1;
    g_nfiles++;
    return 0;
}

int fake_replay_init(const char *path) {
    struct stat st;
    if (stat(path, &st) != 0) {
        fprintf(stderr, "fake-anthropic: --replay %s: no such file or directory\n", path);
        return -1;
    }
    if (!S_ISDIR(st.st_mode)) return add_file(path);
    DIR *d = opendir(path);
    if (!d) {
        fprintf(stderr, "fake-anthropic: --replay %s: cannot open directory\n", path);
        return -1;
    }
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] == '.') continue;
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, e->d_name);
        if (stat(full, &st) == 0 && S_ISREG(st.st_mode) && add_file(full) != 0) break;
    }
    closedir(d);
    if (g_nfiles == 0) {
        fprintf(stderr, "fake-anthropic: --replay %s: no files to replay\n", path);
        return -1;
    }
    qsort(g_files, g_nfiles, sizeof *g_files, cmp_names);
    return 0;
}

void fake_replay_free(void) {
    for (size_t i = 0; i < g_nfiles; i++) free(g_files[i]);
    free(g_files);
    g_files = NULL;
    g_nfiles = 0;
}

typedef struct replay_stream {
    char *data;
    size_t len, at;
} replay_stream;

/* One SSE event per piece: up to and including the next blank line. */
static int produce_replayed_event(void *state, bt__buf *out) {
    replay_stream *s = state;
    size_t end = s->at;
    while (end < s->len) {
        if (s->data[end] == '\n' && end + 1 < s->len &&
            (s->data[end + 1] == '\n' || (s->data[end + 1] == '\r' && end + 2 < s->len && s->data[end + 2] == '\n'))) {
            end += s->data[end + 1] == '\n' ? 2 : 3;
            break;
        }
        end++;
    }
    bt__buf_append(out, s->data + s->at, end - s->at);
    s->at = end;
    return s->at < s->len ? FAKE_PIECE_MORE : FAKE_PIECE_DONE;
}

static void free_replay_stream(void *state) {
    replay_stream *s = state;
    free(s->data);
    free(s);
}

int fake_replay_serve(fake_conn *c, const fake_request *req) {
    if (g_nfiles == 0) return 0;
    const char *path = g_files[g_next];
    g_next = (g_next + 1) % g_nfiles;
    FILE *f = fopen(path, "rb");
    bt__buf body;
    bt__buf_init(&body, fake_cfg.max_body);
    if (f) {
        char tmp[65536];
        size_t n;
        while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
            if (bt__buf_append(&body, tmp, n) != 0) break;
        fclose(f);
    }
    if (!f || body.truncated) {
        bt__buf_free(&body);
        fake_respond_error(c, req, 500, "api_error", "fake-anthropic: replay file unreadable or too large");
        return 1;
    }
    size_t skip = 0;
    while (skip < body.len && (body.data[skip] == ' ' || body.data[skip] == '\n' || body.data[skip] == '\r')) skip++;
    const char *start = body.data ? body.data + skip : "";
    int sse = strncmp(start, "event:", 6) == 0 || strncmp(start, "data:", 5) == 0 || start[0] == ':';
    if (!sse) {
        fake_respond(c, req, 200, "application/json", NULL, start, body.len - skip);
        bt__buf_free(&body);
        return 1;
    }
    replay_stream *s = calloc(1, sizeof *s);
    if (!s) {
        bt__buf_free(&body);
        fake_respond_abort(c);
        return 1;
    }
    s->len = body.len;
    s->at = skip;
    s->data = bt__buf_steal(&body, NULL);
    fake_respond_stream(c, req, 200, "text/event-stream; charset=utf-8",
                        "cache-control: no-cache\r\nx-accel-buffering: no\r\n", produce_replayed_event, s,
                        free_replay_stream, fake_cfg.pace_ms);
    return 1;
}
