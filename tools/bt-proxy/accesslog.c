/* One access-log line per request on stderr. Never a header, never a query value
 * (they can carry keys): only the names of query parameters are shown. Text that
 * comes from the network (target, model) is escaped, so it can neither forge a line
 * nor send control sequences to a terminal. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log_text.h"
#include "proxy.h"

static void timestamp(char *out, size_t n)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    struct tm tm;
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
             tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ts.tv_nsec / 1000000) % 1000);
}

/* Access-log lines are gathered per thread and written at the end of the loop turn
 * that made them (px_log_flush, from each worker's check handle), in pieces of whole
 * lines of at most PIPE_BUF bytes: under load one write per turn instead of one per
 * request, no line waits past its turn, and lines of different workers never
 * interleave, even on a pipe. */
#define LOG_BATCH 4096 /* PIPE_BUF on Linux */
static __thread char log_pending[LOG_BATCH];
static __thread size_t log_len;

void px_log_flush(void)
{
    size_t off = 0;
    while (off < log_len) {
        ssize_t w = write(STDERR_FILENO, log_pending + off, log_len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break; /* stderr is gone: the lines are lost, the proxy goes on */
        off += (size_t)w;
    }
    log_len = 0;
}

static void log_line_batched(const char *msg)
{
    char ts[96];
    timestamp(ts, sizeof ts);
    char line[LOG_BATCH];
    int n = snprintf(line, sizeof line, "%s bt-proxy: %s\n", ts, msg);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof line ? (size_t)n : sizeof line - 1;
    if (len == sizeof line - 1)
        line[len - 1] = '\n';
    if (log_len + len > sizeof log_pending)
        px_log_flush();
    memcpy(log_pending + log_len, line, len);
    log_len += len;
}

void px_log(const char *fmt, ...)
{
    px_log_flush(); /* this thread's access-log lines come first */
    char ts[96], msg[1024];
    timestamp(ts, sizeof ts);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "%s bt-proxy: %s\n", ts, msg);
}

/* The request path with query values replaced by "*". */
static void safe_target(const hp_head *h, bt__buf *out)
{
    const char *t = h ? h->target : "-";
    size_t tl = h ? h->target_len : 1;
    size_t q = 0;
    while (q < tl && t[q] != '?' && t[q] != '#')
        q++;
    for (size_t i = 0; i < q; i++) {
        unsigned char ch = (unsigned char)t[i];
        bt__buf_append_char(out, ch > 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '?');
    }
    if (q >= tl || t[q] != '?')
        return;
    bt__buf_append_char(out, '?');
    size_t i = q + 1;
    int first = 1;
    while (i < tl && t[i] != '#') {
        size_t s = i;
        while (i < tl && t[i] != '=' && t[i] != '&' && t[i] != '#')
            i++;
        if (!first)
            bt__buf_append_char(out, '&');
        first = 0;
        for (size_t k = s; k < i && k - s < 64; k++) {
            unsigned char ch = (unsigned char)t[k];
            bt__buf_append_char(out, ch > 0x20 && ch < 0x7f && ch != '"' ? (char)ch : '?');
        }
        if (i < tl && t[i] == '=') {
            bt__buf_append_str(out, "=*");
            while (i < tl && t[i] != '&' && t[i] != '#')
                i++;
        }
        if (i < tl && t[i] == '&')
            i++;
    }
}

char *px_access_log_prefix(hs_request *r, int status, uint64_t resp_bytes)
{
    const hp_head *h = hs_request_head(r);
    bt__buf target;
    bt__buf_init(&target, 2048);
    safe_target(h, &target);
    uint64_t elapsed = uv_hrtime() - hs_request_start_ns(r);
    px_proxy *px = hs_server_user(hs_request_server(r));
    px_metrics_observe_duration(&px->m, elapsed); /* one line per request: one sample */
    double ms = (double)elapsed / 1e6;
    bt__buf line;
    bt__buf_init(&line, 4096);
    bt__buf_printf(&line, "%s \"%s %s\" %d %.1fms bytes=%" PRIu64, hs_request_peer(r), h ? h->method : "-",
                   target.data ? target.data : "", status, ms, resp_bytes);
    bt__buf_free(&target);
    return bt__buf_steal(&line, NULL);
}

void px_access_log(hs_request *r, int status, const bt_exchange_info *info, uint64_t resp_bytes,
                   const char *note)
{
    char *prefix = px_access_log_prefix(r, status, resp_bytes);
    px_access_log_finish(prefix ? prefix : "", info, note);
    free(prefix);
}

void px_access_log_finish(const char *prefix, const bt_exchange_info *info, const char *note)
{
    bt__buf line;
    bt__buf_init(&line, 4096);
    bt__buf_append_str(&line, prefix);
    if (info && info->span_name)
        bt__buf_printf(&line, " span=%s", info->span_name);
    if (info && info->model[0]) {
        bt__buf_append_str(&line, " model=");
        log_text_append(&line, info->model, strnlen(info->model, sizeof info->model), 128);
    }
    if (info && info->input_tokens >= 0)
        bt__buf_printf(&line, " input_tokens=%" PRId64, info->input_tokens);
    if (info && info->output_tokens >= 0)
        bt__buf_printf(&line, " output_tokens=%" PRId64, info->output_tokens);
    if (note) {
        bt__buf_append_str(&line, " note=\"");
        log_text_append(&line, note, strlen(note), 200);
        bt__buf_append_char(&line, '"');
    }
    log_line_batched(line.data ? line.data : "");
    bt__buf_free(&line);
}
