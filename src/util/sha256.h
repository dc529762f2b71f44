/* SHA-256 (FIPS 180-4), for deterministic ids. */
#ifndef BT_UTIL_SHA256_H
#define BT_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct bt__sha256 {
    uint32_t h[8];
    uint64_t total;
    uint8_t block[64];
    size_t used;
} bt__sha256;

void bt__sha256_init(bt__sha256 *c);
void bt__sha256_update(bt__sha256 *c, const void *data, size_t len);
void bt__sha256_final(bt__sha256 *c, uint8_t out[32]);

#endif
