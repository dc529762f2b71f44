/*
 * Fuzz target: the streaming create-body splitter. Arbitrary bytes are split twice,
 * once whole and once in chunks whose sizes come from the input, and the two runs must
 * report the same elements (same bytes, ids and truncation flags, hashed) and the same
 * result; every element respects the cap and every custom_id is at most 64 bytes.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "anthropic/batch_split.h"

#define ELEM_CAP 4096

typedef struct run {
    uint64_t hash;
    unsigned count;
} run;

static void mix(run *r, const void *p, size_t n)
{
    const unsigned char *b = p;
    for (size_t i = 0; i < n; i++)
        r->hash = (r->hash ^ b[i]) * 1099511628211ull;
}

static int on_elem(void *ud, const char *elem, size_t len, int truncated, const char *custom_id)
{
    run *r = ud;
    if (len > ELEM_CAP || strlen(custom_id) > BT__BATCH_CUSTOM_ID_MAX || elem[len] != '\0')
        abort();
    if (!truncated)
        json_decref(json_loadb(elem, len, 0, NULL)); /* what the ingest does next */
    mix(r, elem, len);
    mix(r, custom_id, strlen(custom_id) + 1);
    mix(r, &truncated, sizeof truncated);
    r->count++;
    return 0;
}

static int split(const uint8_t *data, size_t size, size_t chunk, run *r)
{
    bt__batch_split *s = bt__batch_split_new(ELEM_CAP, on_elem, r);
    if (!s)
        abort();
    int rc = 0;
    for (size_t off = 0; off < size && rc == 0; off += chunk) {
        size_t n = size - off < chunk ? size - off : chunk;
        rc = bt__batch_split_feed(s, (const char *)data + off, n);
    }
    if (rc == 0)
        rc = bt__batch_split_finish(s);
    bt__batch_split_free(s);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    run whole = {1469598103934665603ull, 0}, pieces = {1469598103934665603ull, 0};
    size_t chunk = size ? (size_t)(data[0] % 17) + 1 : 1;
    int a = split(data, size, size ? size : 1, &whole);
    int b = split(data, size, chunk, &pieces);
    if (a != b || whole.hash != pieces.hash || whole.count != pieces.count)
        abort();
    return 0;
}
