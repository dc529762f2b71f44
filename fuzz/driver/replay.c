/*
 * Replay driver for fuzz targets built without libFuzzer. It feeds every file of the
 * seed corpus to LLVMFuzzerTestOneInput, then a fixed-seed stream of mutations of those
 * files (bit flips, truncations, duplications, splices), so the targets run on every
 * `make test` under the sanitizers. The sequence is deterministic: a failure reproduces.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_SEEDS 512
#define REPLAY_MAX_INPUT (1u << 20)

typedef struct {
    uint8_t *data;
    size_t len;
} seed;

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t next_rand(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

static int load(const char *path, seed *out)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    uint8_t *buf = malloc(REPLAY_MAX_INPUT);
    size_t n = buf ? fread(buf, 1, REPLAY_MAX_INPUT, f) : 0;
    fclose(f);
    if (!buf)
        return -1;
    /* keep only what the seed needs: a corpus holds hundreds of small inputs */
    uint8_t *fit = realloc(buf, n ? n : 1);
    out->data = fit ? fit : buf;
    out->len = n;
    return 0;
}

static size_t mutate(uint8_t *buf, size_t len, size_t cap, const seed *seeds, size_t nseeds)
{
    int rounds = 1 + (int)(next_rand() % 4);
    for (int r = 0; r < rounds; r++) {
        switch (next_rand() % 6) {
        case 0: /* flip a bit */
            if (len)
                buf[next_rand() % len] ^= (uint8_t)(1u << (next_rand() % 8));
            break;
        case 1: /* truncate */
            if (len)
                len = next_rand() % len;
            break;
        case 2: /* set a byte to an interesting value */
            if (len) {
                static const uint8_t v[] = {0, '\n', '\r', '"', '\\', '{', '}', ':', 0xff, 0xc3, 0x80};
                buf[next_rand() % len] = v[next_rand() % sizeof v];
            }
            break;
        case 3: /* duplicate a chunk */
            if (len && len < cap / 2) {
                size_t at = next_rand() % len, n = 1 + next_rand() % (len - at);
                if (len + n <= cap) {
                    memmove(buf + at + n, buf + at, len - at);
                    len += n;
                }
            }
            break;
        case 4: /* splice in part of another seed */
            if (nseeds) {
                const seed *s = &seeds[next_rand() % nseeds];
                if (s->len) {
                    size_t from = next_rand() % s->len, n = 1 + next_rand() % (s->len - from);
                    size_t at = len ? next_rand() % len : 0;
                    if (at + n > cap)
                        n = cap - at;
                    memcpy(buf + at, s->data + from, n);
                    if (at + n > len)
                        len = at + n;
                }
            }
            break;
        default: /* delete a chunk */
            if (len > 1) {
                size_t at = next_rand() % len, n = 1 + next_rand() % (len - at);
                memmove(buf + at, buf + at + n, len - at - n);
                len -= n;
            }
            break;
        }
    }
    return len;
}

int main(int argc, char **argv)
{
    seed seeds[MAX_SEEDS];
    size_t nseeds = 0;
    for (int a = 1; a < argc; a++) {
        DIR *d = opendir(argv[a]);
        if (!d) {
            if (nseeds < MAX_SEEDS && load(argv[a], &seeds[nseeds]) == 0)
                nseeds++;
            continue;
        }
        struct dirent *e;
        while ((e = readdir(d)) && nseeds < MAX_SEEDS) {
            if (e->d_name[0] == '.')
                continue;
            char path[4096];
            snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
            if (load(path, &seeds[nseeds]) == 0)
                nseeds++;
        }
        closedir(d);
    }
    for (size_t i = 0; i < nseeds; i++)
        LLVMFuzzerTestOneInput(seeds[i].data, seeds[i].len);
    LLVMFuzzerTestOneInput((const uint8_t *)"", 0);

    const char *iters_env = getenv("BT_FUZZ_ITERATIONS");
    long iters = iters_env ? atol(iters_env) : 3000;
    uint8_t *buf = malloc(REPLAY_MAX_INPUT * 2);
    if (!buf)
        return 1;
    for (long i = 0; i < iters && nseeds; i++) {
        const seed *s = &seeds[next_rand() % nseeds];
        memcpy(buf, s->data, s->len);
        size_t len = mutate(buf, s->len, REPLAY_MAX_INPUT * 2, seeds, nseeds);
        LLVMFuzzerTestOneInput(buf, len);
    }
    free(buf);
    for (size_t i = 0; i < nseeds; i++)
        free(seeds[i].data);
    printf("fuzz replay: %zu seeds, %ld mutations, no crash\n", nseeds, iters);
    return 0;
}
