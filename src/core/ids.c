/*
 * Trace and span ids. Random ids come from the kernel CSPRNG (getrandom(2), falling
 * back to /dev/urandom), drawn in blocks into a per-thread pool so that the span hot
 * path rarely makes a system call. A fork handler bumps a generation counter so that a
 * child discards the pool it inherited and never repeats its parent's ids (the tracer
 * uses the same counter to notice it was forked).
 */
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "core/tracer_impl.h"
#include "util/sha256.h"

#define POOL_BYTES 512

static _Thread_local struct {
    uint8_t bytes[POOL_BYTES];
    size_t left;
    unsigned generation;
} pool;

/* Starts at 1 so a fresh thread's zeroed pool never counts as current. */
static atomic_uint fork_generation = 1;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void after_fork_in_child(void)
{
    atomic_fetch_add(&fork_generation, 1);
}

static void register_atfork(void)
{
    pthread_atfork(NULL, NULL, after_fork_in_child);
}

static int read_urandom(uint8_t *out, size_t n)
{
    int fd = open("/dev/urandom", O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    size_t got = 0;
    while (got < n) {
        ssize_t r = read(fd, out + got, n - got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            break;
        got += (size_t)r;
    }
    close(fd);
    return got == n ? 0 : -1;
}

static int os_random(uint8_t *out, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(out + got, n - got, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return read_urandom(out + got, n - got);
        got += (size_t)r;
    }
    return 0;
}

/* Last resort when the kernel offers no randomness at all (seccomp, no /dev): a
 * SHA-256 of time, pid, address and a counter. Unpredictable enough for ids, which
 * are not secrets; never reached on a normal Linux system. */
static void weak_random(uint8_t *out, size_t n)
{
    static atomic_uint_fast64_t counter;
    while (n) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t c = atomic_fetch_add(&counter, 1);
        pid_t pid = getpid();
        const void *addr = &ts;
        bt__sha256 h;
        bt__sha256_init(&h);
        bt__sha256_update(&h, &ts, sizeof ts);
        bt__sha256_update(&h, &c, sizeof c);
        bt__sha256_update(&h, &pid, sizeof pid);
        bt__sha256_update(&h, &addr, sizeof addr);
        uint8_t d[32];
        bt__sha256_final(&h, d);
        size_t k = n < 32 ? n : 32;
        memcpy(out, d, k);
        out += k;
        n -= k;
    }
}

unsigned bt__fork_generation(void)
{
    pthread_once(&atfork_once, register_atfork);
    return atomic_load_explicit(&fork_generation, memory_order_relaxed);
}

void bt__random_bytes(uint8_t *out, size_t n)
{
    unsigned gen = bt__fork_generation();
    if (pool.generation != gen) {
        pool.left = 0;
        pool.generation = gen;
    }
    while (n) {
        if (pool.left == 0) {
            if (os_random(pool.bytes, POOL_BYTES) != 0)
                weak_random(pool.bytes, POOL_BYTES);
            pool.left = POOL_BYTES;
        }
        size_t k = n < pool.left ? n : pool.left;
        memcpy(out, pool.bytes + POOL_BYTES - pool.left, k);
        /* used bytes are wiped so a later memory disclosure cannot replay them */
        memset(pool.bytes + POOL_BYTES - pool.left, 0, k);
        pool.left -= k;
        out += k;
        n -= k;
    }
}

static int all_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

void bt__new_trace_id(uint8_t out[16])
{
    do
        bt__random_bytes(out, 16);
    while (all_zero(out, 16));
}

void bt__new_span_id(uint8_t out[8])
{
    do
        bt__random_bytes(out, 8);
    while (all_zero(out, 8));
}

void bt_derive_id(const char *namespace_, const void *key, size_t key_len, uint8_t *out, size_t out_len)
{
    if (!out || out_len == 0)
        return;
    if (out_len > 32)
        out_len = 32;
    uint8_t d[32];
    bt__sha256 h;
    bt__sha256_init(&h);
    if (namespace_)
        bt__sha256_update(&h, namespace_, strlen(namespace_));
    bt__sha256_update(&h, "", 1);
    if (key && key_len)
        bt__sha256_update(&h, key, key_len);
    bt__sha256_final(&h, d);
    memcpy(out, d, out_len);
    /* An all-zero id is invalid in W3C and OTLP; the chance is 2^-64 at worst, but a
     * derived id must still be valid, so such a digest maps to a fixed non-zero id. */
    if (all_zero(out, out_len))
        out[out_len - 1] = 1;
}
