/* One access-log line per request on stderr. Never a header, never a query value
 * (they can carry keys): only the names of query parameters are shown. Text that
 * comes from the network (target, model) is escaped, so it can neither forge a line
 * nor send control sequences to a terminal. */
#include <inttypes.h>
#include <stdarg.h>
#include <string.h>
#include <time.h>

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

void px_log(const char *fmt, ...)
{
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

void px_access_log(hs_request *r, int status, const bt_exchange_info *info, uint64_t resp_bytes,
                   const char *note)
{
    const hp_head *h = hs_request_head(r);
    bt__buf target;
    bt__buf_init(&target, 2048);
    safe_target(h, &target);
    double ms = (double)(uv_hrtime() - hs_request_start_ns(r)) / 1e6;
    bt__buf line;
    bt__buf_init(&line, 4096);
    bt__buf_printf(&line, "%s \"%s %s\" %d %.1fms bytes=%" PRIu64, hs_request_peer(r), h ? h->method : "-",
                   target.data ? target.data : "", status, ms, resp_bytes);
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
    px_log("%s", line.data ? line.data : "");
    bt__buf_free(&line);
    bt__buf_free(&target);
}
