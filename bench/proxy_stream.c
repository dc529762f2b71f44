/*
 * bt-proxy streaming benchmark: download throughput through the proxy against the
 * same download made directly (the baseline, measured in the same run), and the
 * proxy's peak memory while a 256 MB request body streams through it, which shows
 * that bodies are never held whole.
 *
 * usage: bench_proxy_stream [path/to/bt-proxy]   (default: bt-proxy next to this binary)
 */
#define _GNU_SOURCE
#include <curl/curl.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DOWN_BYTES (512ll * 1024 * 1024)
#define UP_BYTES (256ll * 1024 * 1024)

static int upstream_fd;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int write_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

/* A minimal upstream: GET /down streams DOWN_BYTES, POST /up discards its body. One
 * request per connection (Connection: close) keeps it simple. */
static void serve(int fd)
{
    char head[16384];
    size_t hl = 0;
    char *end = NULL;
    while (!end && hl < sizeof head - 1) {
        ssize_t r = read(fd, head + hl, sizeof head - 1 - hl);
        if (r <= 0)
            return;
        hl += (size_t)r;
        head[hl] = '\0';
        end = strstr(head, "\r\n\r\n");
    }
    if (!end)
        return;
    static char block[256 * 1024];
    memset(block, 'a', sizeof block);
    if (!strncmp(head, "GET /down", 9)) {
        char h[256];
        int n = snprintf(h, sizeof h,
                         "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n"
                         "Content-Length: %lld\r\nConnection: close\r\n\r\n",
                         DOWN_BYTES);
        if (write_all(fd, h, (size_t)n) != 0)
            return;
        for (long long sent = 0; sent < DOWN_BYTES; sent += (long long)sizeof block)
            if (write_all(fd, block, sizeof block) != 0)
                return;
        return;
    }
    /* POST /up with Content-Length: read and drop. */
    long long want = 0;
    char *cl = strcasestr(head, "content-length:");
    if (cl)
        want = atoll(cl + 15);
    long long got = (long long)(hl - (size_t)(end + 4 - head));
    while (got < want) {
        ssize_t r = read(fd, block, sizeof block);
        if (r <= 0)
            return;
        got += r;
    }
    static const char ok[] = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    write_all(fd, ok, sizeof ok - 1);
}

static void *upstream_main(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(upstream_fd, NULL, NULL);
        if (c < 0)
            return NULL;
        serve(c);
        close(c);
    }
}

static size_t count_cb(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    *(long long *)ud += (long long)(s * n);
    return s * n;
}

static long long up_left;
static size_t produce_cb(char *buf, size_t s, size_t n, void *ud)
{
    (void)ud;
    size_t room = s * n;
    if ((long long)room > up_left)
        room = (size_t)up_left;
    memset(buf, 'b', room);
    up_left -= (long long)room;
    return room;
}

static double download(const char *url, long long *bytes)
{
    CURL *e = curl_easy_init();
    *bytes = 0;
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, bytes);
    double t0 = now_s();
    CURLcode rc = curl_easy_perform(e);
    double t = now_s() - t0;
    curl_easy_cleanup(e);
    return rc == CURLE_OK ? t : -1;
}

static long peak_rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "VmHWM:", 6))
            kb = atol(line + 6);
    if (f)
        fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    char proxy_path[PATH_MAX];
    if (argc > 1) {
        snprintf(proxy_path, sizeof proxy_path, "%s", argv[1]);
    } else {
        snprintf(proxy_path, sizeof proxy_path, "%s", argv[0]);
        char *slash = strrchr(proxy_path, '/');
        snprintf(slash ? slash + 1 : proxy_path,
                 sizeof proxy_path - (size_t)(slash ? slash + 1 - proxy_path : 0), "bt-proxy");
    }
    signal(SIGPIPE, SIG_IGN);
    curl_global_init(CURL_GLOBAL_DEFAULT);

    upstream_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (bind(upstream_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(upstream_fd, 64) != 0 ||
        getsockname(upstream_fd, (struct sockaddr *)&a, &al) != 0) {
        perror("upstream");
        return 1;
    }
    int up_port = ntohs(a.sin_port);
    pthread_t th;
    pthread_create(&th, NULL, upstream_main, NULL);

    char upstream[64];
    snprintf(upstream, sizeof upstream, "http://127.0.0.1:%d", up_port);
    int out[2];
    if (pipe(out) != 0)
        return 1;
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", 1, 0); /* access log */
    char *args[] = {proxy_path, "--listen", "127.0.0.1:0", "--upstream", upstream, NULL};
    setenv("OTEL_SDK_DISABLED", "true", 1);
    pid_t pid;
    if (posix_spawn(&pid, proxy_path, &fa, NULL, args, environ) != 0) {
        fprintf(stderr, "cannot start %s\n", proxy_path);
        return 1;
    }
    posix_spawn_file_actions_destroy(&fa);
    close(out[1]);
    char line[256] = "";
    size_t ll = 0;
    int proxy_port = -1;
    while (ll < sizeof line - 1) {
        ssize_t r = read(out[0], line + ll, 1);
        if (r <= 0 || line[ll] == '\n')
            break;
        ll++;
    }
    line[ll] = '\0';
    char *colon = strrchr(line, ':');
    if (colon && !strncmp(line, "listening on", 12))
        proxy_port = atoi(colon + 1);
    if (proxy_port <= 0) {
        fprintf(stderr, "bt-proxy did not start\n");
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return 1;
    }

    char url[128];
    long long bytes;
    snprintf(url, sizeof url, "%s/down", upstream);
    double direct = download(url, &bytes);
    long long direct_bytes = bytes;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/down", proxy_port);
    double via = download(url, &bytes);
    printf("download %lld MB: direct %.0f MB/s, through bt-proxy %.0f MB/s (proxy/direct speed %.2f)%s\n",
           DOWN_BYTES >> 20, (double)direct_bytes / 1048576.0 / direct, (double)bytes / 1048576.0 / via,
           direct / via, bytes == DOWN_BYTES && direct_bytes == DOWN_BYTES ? "" : "  [SHORT READ]");
    fflush(stdout);

    long before = peak_rss_kb(pid);
    CURL *e = curl_easy_init();
    long long sink = 0;
    up_left = UP_BYTES;
    snprintf(url, sizeof url, "http://127.0.0.1:%d/up", proxy_port);
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, "POST");
    curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)UP_BYTES);
    curl_easy_setopt(e, CURLOPT_READFUNCTION, produce_cb);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, count_cb);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, &sink);
    double t0 = now_s();
    CURLcode rc = curl_easy_perform(e);
    double up_t = now_s() - t0;
    curl_easy_cleanup(e);
    long after = peak_rss_kb(pid);
    printf("upload %lld MB through bt-proxy: %.0f MB/s, %s; proxy peak RSS %ld KB before, "
           "%ld KB after (%.3f of the body size)\n",
           UP_BYTES >> 20, (double)UP_BYTES / 1048576.0 / up_t,
           rc == CURLE_OK ? "ok" : curl_easy_strerror(rc), before, after,
           (double)after * 1024.0 / (double)UP_BYTES);

#if defined(__SANITIZE_ADDRESS__)
    printf("(sanitizer build: RSS includes ASan's quarantine; use a release build for memory)\n");
#endif
    kill(pid, SIGTERM);
    int status = 0;
    waitpid(pid, &status, 0);
    close(out[0]);
    shutdown(upstream_fd, SHUT_RDWR);
    close(upstream_fd);
    pthread_join(th, NULL);
    curl_global_cleanup();
    return rc == CURLE_OK && WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
