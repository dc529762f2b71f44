/*
 * bt-proxy memory after a burst: 200 concurrent Messages requests with 1 MB bodies go
 * through the proxy to fake-anthropic, traced; then the proxy's RSS once the burst is over and its spans are exported. The
 * baseline, measured in the same run, is the same burst through a proxy with tracing
 * off. Figures: idle RSS, peak RSS, RSS after, and after/idle for both.
 *
 * usage: bench_proxy_rss [dir with bt-proxy and fake-anthropic]   (default: this binary's)
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define REQUESTS 200
#define BODY_TEXT (1024 * 1024)

typedef struct server {
    pid_t pid;
    int port;
    int out;
} server;

static int start(server *s, char *const args[])
{
    int out[2];
    if (pipe(out) != 0)
        return -1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    const char *log = getenv("BENCH_LOG"); /* access logs */
    posix_spawn_file_actions_addopen(&fa, 2, log ? log : "/dev/null", O_WRONLY | O_CREAT | O_APPEND, 0644);
    int rc = posix_spawn(&s->pid, args[0], &fa, NULL, args, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    if (rc != 0)
        return -1;
    s->out = out[0];
    char line[256];
    size_t ll = 0;
    while (ll < sizeof line - 1 && read(s->out, line + ll, 1) == 1 && line[ll] != '\n')
        ll++;
    line[ll] = '\0';
    char *colon = strrchr(line, ':');
    s->port = colon && !strncmp(line, "listening on", 12) ? atoi(colon + 1) : -1;
    return s->port > 0 ? 0 : -1;
}

static void stop(server *s)
{
    kill(s->pid, SIGTERM);
    waitpid(s->pid, NULL, 0);
    close(s->out);
}

static long status_kb(pid_t pid, const char *field)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    size_t fl = strlen(field);
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, field, fl))
            kb = atol(line + fl);
    if (f)
        fclose(f);
    return kb;
}

static size_t collect(char *p, size_t s, size_t n, void *ud)
{
    size_t len = s * n, *have = ud;
    (void)p;
    *have += len;
    return len;
}

static size_t keep_text(char *p, size_t s, size_t n, void *ud)
{
    char *buf = ud;
    size_t len = s * n, at = strlen(buf);
    if (at + len < 4095) {
        memcpy(buf + at, p, len);
        buf[at + len] = '\0';
    }
    return len;
}

/* The "exported" span count from /metrics, or -1. */
static long exported_spans(int port)
{
    char url[128], body[4096] = "";
    snprintf(url, sizeof url, "http://127.0.0.1:%d/metrics", port);
    CURL *e = curl_easy_init();
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, keep_text);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, (void *)body);
    CURLcode rc = curl_easy_perform(e);
    curl_easy_cleanup(e);
    const char *x = strstr(body, "\"exported\":");
    return rc == CURLE_OK && x ? atol(x + 11) : -1;
}

/* Sends the burst; returns how many got a 200. */
static int burst(int port, const char *body)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/messages", port);
    struct curl_slist *h = NULL;
    h = curl_slist_append(h, "content-type: application/json");
    h = curl_slist_append(h, "x-api-key: bench");
    h = curl_slist_append(h, "anthropic-version: 2023-06-01");
    h = curl_slist_append(h, "Expect:");
    CURLM *m = curl_multi_init();
    CURL *easy[REQUESTS];
    size_t got[REQUESTS] = {0};
    for (int i = 0; i < REQUESTS; i++) {
        easy[i] = curl_easy_init();
        curl_easy_setopt(easy[i], CURLOPT_URL, url);
        curl_easy_setopt(easy[i], CURLOPT_HTTPHEADER, h);
        curl_easy_setopt(easy[i], CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(easy[i], CURLOPT_WRITEFUNCTION, collect);
        curl_easy_setopt(easy[i], CURLOPT_WRITEDATA, &got[i]);
        curl_multi_add_handle(m, easy[i]);
    }
    int running = 1;
    while (running) {
        curl_multi_perform(m, &running);
        if (running)
            curl_multi_poll(m, NULL, 0, 100, NULL);
    }
    int ok = 0;
    for (int i = 0; i < REQUESTS; i++) {
        long code = 0;
        curl_easy_getinfo(easy[i], CURLINFO_RESPONSE_CODE, &code);
        ok += code == 200 && got[i] > 0;
        if (code != 200 && getenv("BENCH_VERBOSE"))
            fprintf(stderr, "request %d: status %ld\n", i, code);
        curl_multi_remove_handle(m, easy[i]);
        curl_easy_cleanup(easy[i]);
    }
    curl_multi_cleanup(m);
    curl_slist_free_all(h);
    return ok;
}

typedef struct figures {
    int ok;
    long idle_kb, peak_kb, after_kb;
    double seconds;
} figures;

static int run(const char *dir, int traced, const char *body, figures *f)
{
    char fake_bin[PATH_MAX], proxy_bin[PATH_MAX], upstream[64];
    snprintf(fake_bin, sizeof fake_bin, "%s/fake-anthropic", dir);
    snprintf(proxy_bin, sizeof proxy_bin, "%s/bt-proxy", dir);
    char *fake_args[] = {fake_bin, "--listen", "127.0.0.1:0", "--pace-ms", "0", NULL};
    server fake, proxy;
    if (start(&fake, fake_args) != 0)
        return -1;
    snprintf(upstream, sizeof upstream, "http://127.0.0.1:%d", fake.port);
    char *proxy_args[] = {proxy_bin, "--listen",      "127.0.0.1:0", "--upstream",
                          upstream,  "--spans-jsonl", "/dev/null",   NULL};
    setenv("OTEL_SDK_DISABLED", traced ? "false" : "true", 1);
    if (start(&proxy, proxy_args) != 0) {
        stop(&fake);
        return -1;
    }
    usleep(200000);
    f->idle_kb = status_kb(proxy.pid, "VmRSS:");
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    f->ok = burst(proxy.port, body);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    f->seconds = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    /* Wait for the spans to be written, then for two idle sweeps of the proxy. */
    for (int i = 0; traced && i < 600 && exported_spans(proxy.port) < REQUESTS; i++)
        usleep(100000);
    sleep(3);
    f->after_kb = status_kb(proxy.pid, "VmRSS:");
    f->peak_kb = status_kb(proxy.pid, "VmHWM:");
    stop(&proxy);
    stop(&fake);
    return 0;
}

int main(int argc, char **argv)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", argc > 1 ? argv[1] : argv[0]);
    if (argc < 2) {
        char *slash = strrchr(dir, '/');
        if (slash)
            *slash = '\0';
        else
            snprintf(dir, sizeof dir, ".");
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    static char body[BODY_TEXT + 256];
    int n = snprintf(
        body, sizeof body,
        "{\"model\":\"claude-haiku-4-5\",\"max_tokens\":10,\"messages\":[{\"role\":\"user\",\"content\":\"");
    memset(body + n, 'x', BODY_TEXT);
    snprintf(body + n + BODY_TEXT, sizeof body - (size_t)n - BODY_TEXT, "\"}]}");
    figures plain, traced;
    if (run(dir, 0, body, &plain) != 0 || run(dir, 1, body, &traced) != 0) {
        fprintf(stderr, "cannot start bt-proxy or fake-anthropic from %s\n", dir);
        return 1;
    }
    printf("%d concurrent 1 MB requests, untraced (baseline): %d ok in %.1f s; RSS idle %ld KB, peak %ld KB, "
           "after %ld KB (%.1fx idle)\n",
           REQUESTS, plain.ok, plain.seconds, plain.idle_kb, plain.peak_kb, plain.after_kb,
           (double)plain.after_kb / (double)plain.idle_kb);
    printf("%d concurrent 1 MB requests, traced: %d ok in %.1f s; RSS idle %ld KB, peak %ld KB, after %ld KB "
           "(%.1fx idle, %.2fx the untraced proxy after)\n",
           REQUESTS, traced.ok, traced.seconds, traced.idle_kb, traced.peak_kb, traced.after_kb,
           (double)traced.after_kb / (double)traced.idle_kb,
           (double)traced.after_kb / (double)plain.after_kb);
#if defined(__SANITIZE_ADDRESS__)
    printf("(sanitizer build: RSS includes ASan's quarantine; use a release build for memory)\n");
#endif
    curl_global_cleanup();
    return plain.ok == REQUESTS && traced.ok == REQUESTS ? 0 : 1;
}
