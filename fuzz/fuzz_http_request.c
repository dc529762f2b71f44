/*
 * HTTP request framing and header rules (tools/common/http_parse), as the servers of
 * bt-proxy and fake-anthropic feed it. The input is a byte stream of requests (one or
 * several, pipelined); the first byte picks the limits and how the stream is cut into
 * reads. Checked:
 * - the events do not depend on how the bytes are cut (the same heads, bodies, ends and
 *   error as one whole read): framing never depends on packet boundaries;
 * - every head that passes obeys the rules: field names are tokens, values carry no
 *   control character but HTAB and no outer white space, HTTP/1.1 has exactly one Host,
 *   Content-Length and Transfer-Encoding never both, one Content-Length at most,
 *   chunked exactly when announced, the target only visible ASCII;
 * - a Content-Length body delivers exactly that many bytes before its end;
 * - errors carry one of the statuses servers answer (400 405 414 417 431 501 505).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "http_parse.h"
#include "util/buf.h"

#define CHECK(cond)                                                                              \
    do {                                                                                         \
        if (!(cond)) {                                                                           \
            fprintf(stderr, "fuzz_http_request: check failed: %s (line %d)\n", #cond, __LINE__); \
            abort();                                                                             \
        }                                                                                        \
    } while (0)

static int name_is(const hp_field *f, const char *name)
{
    size_t n = strlen(name);
    return f->name_len == n && !strncasecmp(f->name, name, n);
}

static void check_head(const hp_head *h, const hp_limits *lim)
{
    CHECK(h->http_minor == 0 || h->http_minor == 1);
    CHECK(h->method && h->method[0]);
    CHECK(h->target && h->target_len > 0 && h->target_len <= lim->max_target_bytes);
    CHECK(strlen(h->target) == h->target_len);
    for (size_t i = 0; i < h->target_len; i++)
        CHECK((unsigned char)h->target[i] > 0x20 && (unsigned char)h->target[i] < 0x7f);
    CHECK(h->n_fields <= lim->max_fields);
    int hosts = 0, lengths = 0, codings = 0;
    for (size_t i = 0; i < h->n_fields; i++) {
        const hp_field *f = &h->fields[i];
        CHECK(f->name_len > 0);
        for (size_t k = 0; k < f->name_len; k++)
            CHECK(hp_is_tchar((unsigned char)f->name[k]));
        for (size_t k = 0; k < f->value_len; k++) {
            unsigned char c = (unsigned char)f->value[k];
            CHECK(c == '\t' || (c >= 0x20 && c != 0x7f));
        }
        if (f->value_len) {
            CHECK(f->value[0] != ' ' && f->value[0] != '\t');
            CHECK(f->value[f->value_len - 1] != ' ' && f->value[f->value_len - 1] != '\t');
        }
        hosts += name_is(f, "host");
        lengths += name_is(f, "content-length");
        codings += name_is(f, "transfer-encoding");
    }
    CHECK(hosts <= 1 && (h->http_minor == 0 || hosts == 1));
    CHECK(lengths <= 1 && codings <= 1 && !(lengths && codings));
    CHECK(h->chunked == (codings == 1));
    CHECK(h->chunked ? h->content_length == -1 : h->content_length >= 0);
    CHECK(!h->chunked || h->http_minor == 1);
}

typedef struct run {
    bt__buf log; /* the events as text, body bytes joined per request */
    int error;
} run;

/* Feeds `data` cut into reads of the sizes `cuts` gives (0: one read). */
static void feed(const uint8_t *data, size_t len, const hp_limits *lim, uint32_t cut_seed, run *out)
{
    hp_parser *p = hp_parser_new(lim);
    CHECK(p);
    bt__buf_init(&out->log, 0);
    out->error = 0;
    uint32_t rng = cut_seed;
    size_t off = 0;
    int64_t body_left = -1;
    while (off < len && !out->error) {
        size_t n = len - off;
        if (cut_seed) {
            rng = rng * 1103515245u + 12345u;
            size_t piece = 1 + (rng >> 16) % 97;
            if (piece < n)
                n = piece;
        }
        const char *d = (const char *)data + off;
        for (int again = 1; again && !out->error;) {
            size_t used = 0;
            hp_event ev = hp_feed(p, d, n, &used);
            CHECK(used <= n);
            d += used;
            n -= used;
            off += used;
            again = ev == HP_HEAD || ev == HP_BODY || (ev == HP_END && n > 0);
            if (ev == HP_HEAD) {
                const hp_head *h = hp_parser_head(p);
                CHECK(h);
                check_head(h, lim);
                body_left = h->content_length;
                bt__buf_printf(&out->log, "H %s %s %d %lld %d %zu|", h->method, h->target, h->keep_alive,
                               (long long)h->content_length, h->http_minor, h->n_fields);
                for (size_t i = 0; i < h->n_fields; i++) {
                    bt__buf_append(&out->log, h->fields[i].name, h->fields[i].name_len);
                    bt__buf_append_char(&out->log, ':');
                    bt__buf_append(&out->log, h->fields[i].value, h->fields[i].value_len);
                    bt__buf_append_char(&out->log, '|');
                }
                bt__buf_append_str(&out->log, "B ");
            } else if (ev == HP_BODY) {
                size_t bl;
                const char *b = hp_parser_body(p, &bl);
                CHECK(b && bl > 0);
                if (body_left >= 0) {
                    CHECK((int64_t)bl <= body_left);
                    body_left -= (int64_t)bl;
                }
                bt__buf_append(&out->log, b, bl);
            } else if (ev == HP_END) {
                CHECK(body_left <= 0);
                bt__buf_append_str(&out->log, "|E|");
            } else if (ev == HP_ERROR) {
                const char *why = NULL;
                int st = hp_parser_error(p, &why);
                CHECK(why && *why);
                CHECK(st == 400 || st == 405 || st == 414 || st == 417 || st == 431 || st == 501 ||
                      st == 505);
                out->error = st;
            } else {
                CHECK(n == 0); /* HP_NEED_MORE consumed everything */
            }
        }
    }
    hp_parser_free(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    uint8_t mode = data[0];
    data++;
    size--;
    hp_limits lim;
    hp_limits_default(&lim);
    if (mode & 1) {
        /* small limits, so that 414 and 431 are reached */
        lim.max_head_bytes = 200 + mode;
        lim.max_fields = 1 + (mode >> 4);
        lim.max_target_bytes = 8 + (mode >> 1);
    }
    run whole, cut;
    feed(data, size, &lim, 0, &whole);
    feed(data, size, &lim, 0x9e3779b9u ^ mode, &cut);
    /* A cut stream may stop at an error before later bytes; until then, the same. */
    CHECK(whole.error == cut.error);
    CHECK(whole.log.len == cut.log.len);
    CHECK(whole.log.len == 0 || memcmp(whole.log.data, cut.log.data, whole.log.len) == 0);
    bt__buf_free(&whole.log);
    bt__buf_free(&cut.log);
    return 0;
}
