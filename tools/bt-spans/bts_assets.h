/* The viewer's static files (tools/bt-spans/web/), embedded in the binary at build time
 * by cmake/embed_files.cmake: the viewer works offline and needs no install step. */
#ifndef BTS_ASSETS_H
#define BTS_ASSETS_H

#include <stddef.h>

struct bts_asset {
    const char *name;          /* the file's name, e.g. "app.js" */
    const unsigned char *data; /* its bytes, followed by a NUL not counted in len */
    size_t len;
};

/* Ends with an entry whose name is NULL. */
extern const struct bts_asset bts_assets[];

/* The asset called `name`, or NULL. */
const struct bts_asset *bts_asset_find(const char *name);

#endif
