/*
 * Benchmark: the streaming decoders' throughput and its independence from chunking.
 *
 * SSE: a realistic Anthropic stream (padded content_block_delta events, 500 per
 * stream) parsed whole, in 64-byte and in 1-byte feeds, against a baseline that only
 * finds the line ends with memchr. The 1-byte/whole ratio shows the work per byte does
 * is a constant per feed call, and one huge event fed byte by byte costs no more per
 * byte than many small ones (no re-scanning of buffered bytes).
 * JSONL: batch-result-like lines, whole and 1-byte, against the same memchr baseline.
 * Inflate: gzip of the SSE stream decoded in 4 KiB feeds against zlib's one-shot
 * uncompress() of the zlib form of the same bytes.
 *
 * All figures are CPU-time throughputs measured in this process, so the ratios are
 * meaningful on a shared, noisy machine.
 *
 *   bench_decoders [rounds]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <zlib.h>

#include "braintrust/common.h"
#include "decode/inflate.h"
#include "decode/ndjson.h"
#include "decode/sse.h"
#include "util/buf.h"

static double cpu_seconds(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
        ru.ru_stime.tv_usec / 1e6;
}

static size_t sink_events;
static size_t sink_bytes;

static int on_event(void *ud, const char *event, size_t event_len, const char *data, size_t data_len,
                    int truncated)
{
    (void)ud;
    (void)event;
    (void)data;
    (void)truncated;
    sink_events++;
    sink_bytes += event_len + data_len;
    return 0;
}

static int on_line(void *ud, const char *line, size_t len, size_t full_len, int truncated)
{
    (void)ud;
    (void)line;
    (void)full_len;
    (void)truncated;
    sink_events++;
    sink_bytes += len;
    return 0;
}

static int on_bytes(void *ud, const char *data, size_t len)
{
    (void)ud;
    (void)data;
    sink_bytes += len;
    return 0;
}

static void make_stream(bt__buf *b)
{
    bt__buf_append_str(
        b,
        "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_01\","
        "\"model\":\"claude-sonnet-4-5\",\"usage\":{\"input_tokens\":10,\"output_tokens\":1}}}\n\n");
    for (int i = 0; i < 498; i++)
        bt__buf_printf(
            b,
            "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":"
            "{\"type\":\"text_delta\",\"text\":\"token %d of a reasonably long answer \"}%*s}\n\n",
            i, i % 23, "");
    bt__buf_append_str(b, "event: message_stop\ndata: {\"type\":\"message_stop\"     }\n\n");
}

static void make_jsonl(bt__buf *b)
{
    for (int i = 0; i < 500; i++)
        bt__buf_printf(
            b,
            "{\"custom_id\":\"req-%d\",\"result\":{\"type\":\"succeeded\",\"message\":{\"content\":[{\"type\":"
            "\"text\",\"text\":\"answer number %d\"}],\"usage\":{\"input_tokens\":12,\"output_tokens\":34}}}}\n",
            i, i);
}

/* Baseline: the least any line splitter must do, finding each LF. */
static double baseline_memchr(const bt__buf *in, int rounds)
{
    double t0 = cpu_seconds();
    size_t lines = 0;
    for (int r = 0; r < rounds; r++) {
        const char *p = in->data, *end = in->data + in->len;
        while ((p = memchr(p, '\n', (size_t)(end - p))) != NULL) {
            lines++;
            p++;
        }
    }
    double t = cpu_seconds() - t0;
    sink_events += lines;
    return t;
}

static double run_sse(const bt__buf *in, size_t piece, int rounds)
{
    double t0 = cpu_seconds();
    for (int r = 0; r < rounds; r++) {
        bt__sse *p = bt__sse_new(1u << 20, on_event, NULL);
        for (size_t at = 0; at < in->len; at += piece)
            bt__sse_feed(p, in->data + at, in->len - at < piece ? in->len - at : piece);
        bt__sse_finish(p);
        bt__sse_free(p);
    }
    return cpu_seconds() - t0;
}

static double run_ndjson(const bt__buf *in, size_t piece, int rounds)
{
    double t0 = cpu_seconds();
    for (int r = 0; r < rounds; r++) {
        bt__ndjson *p = bt__ndjson_new(1u << 20, on_line, NULL);
        for (size_t at = 0; at < in->len; at += piece)
            bt__ndjson_feed(p, in->data + at, in->len - at < piece ? in->len - at : piece);
        bt__ndjson_finish(p);
        bt__ndjson_free(p);
    }
    return cpu_seconds() - t0;
}

static void compress_to(const bt__buf *in, int window_bits, bt__buf *out)
{
    z_stream z;
    memset(&z, 0, sizeof z);
    deflateInit2(&z, 6, Z_DEFLATED, window_bits, 8, Z_DEFAULT_STRATEGY);
    uLong bound = deflateBound(&z, in->len);
    unsigned char *buf = malloc(bound);
    z.next_in = (unsigned char *)in->data;
    z.avail_in = (uInt)in->len;
    z.next_out = buf;
    z.avail_out = (uInt)bound;
    deflate(&z, Z_FINISH);
    bt__buf_append(out, buf, bound - z.avail_out);
    deflateEnd(&z);
    free(buf);
}

static double mbps(size_t bytes, int rounds, double secs)
{
    return secs > 0 ? (double)bytes * rounds / secs / 1e6 : 0;
}

int main(int argc, char **argv)
{
    int rounds = argc > 1 ? atoi(argv[1]) : 200;
    if (rounds < 1)
        rounds = 1;
    bt__buf sse, jsonl, gz, zl;
    bt__buf_init(&sse, 0);
    bt__buf_init(&jsonl, 0);
    bt__buf_init(&gz, 0);
    bt__buf_init(&zl, 0);
    make_stream(&sse);
    make_jsonl(&jsonl);

    double base = baseline_memchr(&sse, rounds * 10) / 10;
    double whole = run_sse(&sse, sse.len, rounds);
    double p64 = run_sse(&sse, 64, rounds);
    double p1 = run_sse(&sse, 1, rounds / 10 + 1) * rounds / (rounds / 10 + 1);
    printf("SSE stream: %zu bytes, 500 events, %d rounds\n", sse.len, rounds);
    printf("  memchr baseline     %8.1f MB/s\n", mbps(sse.len, rounds, base));
    printf("  sse whole           %8.1f MB/s  (%.1fx baseline time)\n", mbps(sse.len, rounds, whole),
           whole / base);
    printf("  sse 64-byte feeds   %8.1f MB/s  (%.2fx whole)\n", mbps(sse.len, rounds, p64), p64 / whole);
    printf("  sse 1-byte feeds    %8.1f MB/s  (%.2fx whole)\n", mbps(sse.len, rounds, p1), p1 / whole);
    printf("  per 500-event stream: %.1f us CPU\n", whole / rounds * 1e6);

    /* One event whose data line is as long as the whole stream: a parser that
     * re-scanned its buffered line on every feed would be quadratic here. */
    bt__buf big;
    bt__buf_init(&big, 0);
    bt__buf_append_str(&big, "event: content_block_delta\ndata: ");
    while (big.len < sse.len - 2)
        bt__buf_append_char(&big, (char)('a' + big.len % 26));
    bt__buf_append_str(&big, "\n\n");
    double big1 = run_sse(&big, 1, rounds / 10 + 1) * rounds / (rounds / 10 + 1);
    printf("  one %zu-byte event, 1-byte feeds %6.1f MB/s  (%.2fx the 500-event stream's 1-byte time)\n",
           big.len, mbps(big.len, rounds, big1), big1 / p1);
    bt__buf_free(&big);

    base = baseline_memchr(&jsonl, rounds * 10) / 10;
    whole = run_ndjson(&jsonl, jsonl.len, rounds);
    p1 = run_ndjson(&jsonl, 1, rounds / 10 + 1) * rounds / (rounds / 10 + 1);
    printf("JSONL: %zu bytes, 500 lines\n", jsonl.len);
    printf("  memchr baseline     %8.1f MB/s\n", mbps(jsonl.len, rounds, base));
    printf("  ndjson whole        %8.1f MB/s  (%.1fx baseline time)\n", mbps(jsonl.len, rounds, whole),
           whole / base);
    printf("  ndjson 1-byte feeds %8.1f MB/s  (%.2fx whole)\n", mbps(jsonl.len, rounds, p1), p1 / whole);

    compress_to(&sse, 31, &gz);
    compress_to(&sse, 15, &zl);
    unsigned char *plain = malloc(sse.len);
    double t0 = cpu_seconds();
    for (int r = 0; r < rounds; r++) {
        uLongf n = sse.len;
        uncompress(plain, &n, (const unsigned char *)zl.data, zl.len);
    }
    base = cpu_seconds() - t0;
    t0 = cpu_seconds();
    for (int r = 0; r < rounds; r++) {
        bt__inflate *z = bt__inflate_new(BT__CODING_GZIP, 0, on_bytes, NULL);
        for (size_t at = 0; at < gz.len; at += 4096)
            bt__inflate_feed(z, gz.data + at, gz.len - at < 4096 ? gz.len - at : 4096);
        bt__inflate_finish(z);
        bt__inflate_free(z);
    }
    double inf = cpu_seconds() - t0;
    printf("gzip: %zu -> %zu bytes\n", gz.len, sse.len);
    printf("  zlib uncompress()   %8.1f MB/s out\n", mbps(sse.len, rounds, base));
    printf("  inflate 4 KiB feeds %8.1f MB/s out  (%.2fx baseline time)\n", mbps(sse.len, rounds, inf),
           inf / base);

    printf("(checksum %zu events, %zu bytes)\n", sink_events, sink_bytes);
    free(plain);
    bt__buf_free(&sse);
    bt__buf_free(&jsonl);
    bt__buf_free(&gz);
    bt__buf_free(&zl);
    return 0;
}
