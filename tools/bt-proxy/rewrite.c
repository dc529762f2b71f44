/* results_url rewriting. Official SDKs download batch results from the absolute
 * results_url of a batch object; pointing it at the proxy keeps those downloads
 * traced. The rewrite is textual so that every other byte of the body stays as the
 * upstream sent it (no JSON re-serialization). */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "proxy.h"

#define INFLATE_MAX (64 * 1024 * 1024)

/* Batch create, list, retrieve and cancel return batch objects. */
int px_rewrite_wanted(const char *method, const char *target)
{
    static const char prefix[] = "/v1/messages/batches";
    size_t pl = sizeof prefix - 1;
    size_t tl = strcspn(target, "?#");
    if (tl < pl || strncmp(target, prefix, pl) != 0)
        return 0;
    const char *rest = target + pl;
    size_t rl = tl - pl;
    if (rl == 0)
        return !strcmp(method, "GET") || !strcmp(method, "POST");
    if (rest[0] != '/' || rl == 1)
        return 0;
    const char *id = rest + 1;
    size_t idl = rl - 1;
    const char *slash = memchr(id, '/', idl);
    if (!slash)
        return !strcmp(method, "GET");
    size_t sub = idl - (size_t)(slash - id);
    return sub == 7 && !strncmp(slash, "/cancel", 7) && !strcmp(method, "POST");
}

/* Index just past the JSON string starting at s[i] == '"', or len when unterminated. */
static size_t string_end(const char *s, size_t len, size_t i)
{
    for (i++; i < len; i++) {
        if (s[i] == '\\')
            i++;
        else if (s[i] == '"')
            return i + 1;
    }
    return len;
}

static size_t skip_ws(const char *s, size_t len, size_t i)
{
    while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r'))
        i++;
    return i;
}

/* Within a raw JSON string value [vs, ve) (quotes excluded), where does the path of
 * an absolute URL start? 0 when the value is not an absolute http(s) URL. */
static size_t path_start(const char *s, size_t vs, size_t ve)
{
    const char *p = s + vs;
    size_t n = ve - vs;
    size_t i;
    if (n > 8 && !strncmp(p, "https://", 8))
        i = 8;
    else if (n > 7 && !strncmp(p, "http://", 7))
        i = 7;
    else if (n > 10 && !strncmp(p, "https:\\/\\/", 10))
        i = 10;
    else if (n > 9 && !strncmp(p, "http:\\/\\/", 9))
        i = 9;
    else
        return 0;
    for (; i < n; i++)
        if (p[i] == '/' || (p[i] == '\\' && i + 1 < n && p[i + 1] == '/'))
            return vs + i;
    return 0;
}

int px_rewrite_results_url(const char *json, size_t len, const char *base, char **out, size_t *out_len)
{
    static const char key[] = "\"results_url\"";
    size_t kl = sizeof key - 1, bl = strlen(base);
    bt__buf b;
    bt__buf_init(&b, len + 64 * 1024 + 1);
    size_t copied = 0, i = 0;
    int changed = 0;
    while (i < len) {
        if (json[i] != '"') {
            i++;
            continue;
        }
        size_t e = string_end(json, len, i);
        if (e - i == kl && !memcmp(json + i, key, kl)) {
            size_t j = skip_ws(json, len, e);
            if (j < len && json[j] == ':') {
                j = skip_ws(json, len, j + 1);
                if (j < len && json[j] == '"') {
                    size_t ve = string_end(json, len, j);
                    size_t ps = ve > j + 1 ? path_start(json, j + 1, ve - 1) : 0;
                    if (ps) {
                        bt__buf_append(&b, json + copied, j + 1 - copied);
                        bt__buf_append(&b, base, bl);
                        copied = ps;
                        changed = 1;
                    }
                    e = ve;
                }
            }
        }
        i = e;
    }
    if (!changed) {
        bt__buf_free(&b);
        return 0;
    }
    bt__buf_append(&b, json + copied, len - copied);
    if (b.truncated) {
        bt__buf_free(&b);
        return -1;
    }
    *out = bt__buf_steal(&b, out_len);
    return *out ? 1 : -1;
}

static int gunzip(const char *gz, size_t len, bt__buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (inflateInit2(&z, 15 + 16) != Z_OK)
        return -1;
    z.next_in = (Bytef *)(uintptr_t)gz;
    z.avail_in = (uInt)len;
    char chunk[16384];
    int rc = Z_OK;
    while (rc != Z_STREAM_END || z.avail_in > 0) {
        if (rc == Z_STREAM_END) {
            inflateReset(&z); /* concatenated gzip members */
            rc = Z_OK;
        }
        z.next_out = (Bytef *)chunk;
        z.avail_out = sizeof chunk;
        rc = inflate(&z, Z_NO_FLUSH);
        if (rc != Z_OK && rc != Z_STREAM_END)
            break;
        if (bt__buf_append(out, chunk, sizeof chunk - z.avail_out) != 0)
            break;
        if (rc == Z_OK && z.avail_in == 0 && z.avail_out != 0)
            break; /* truncated input */
    }
    inflateEnd(&z);
    return rc == Z_STREAM_END && z.avail_in == 0 && !out->truncated ? 0 : -1;
}

static int gzip_bytes(const char *data, size_t len, char **out, size_t *out_len)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK)
        return -1;
    uLong cap = deflateBound(&z, (uLong)len);
    char *buf = malloc(cap);
    if (!buf) {
        deflateEnd(&z);
        return -1;
    }
    z.next_in = (Bytef *)(uintptr_t)data;
    z.avail_in = (uInt)len;
    z.next_out = (Bytef *)buf;
    z.avail_out = (uInt)cap;
    int rc = deflate(&z, Z_FINISH);
    *out_len = z.total_out;
    deflateEnd(&z);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}

int px_rewrite_results_url_gzip(const char *gz, size_t len, const char *base, char **out, size_t *out_len)
{
    bt__buf plain;
    bt__buf_init(&plain, INFLATE_MAX);
    int rc = gunzip(gz, len, &plain);
    char *rewritten = NULL;
    size_t rl = 0;
    if (rc == 0)
        rc = px_rewrite_results_url(plain.data ? plain.data : "", plain.len, base, &rewritten, &rl);
    bt__buf_free(&plain);
    if (rc != 1)
        return rc < 0 ? -1 : 0;
    rc = gzip_bytes(rewritten, rl, out, out_len);
    free(rewritten);
    return rc == 0 ? 1 : -1;
}
