/* Lookup in the viewer's embedded static files (the table is generated at build time). */
#include <string.h>

#include "bts_assets.h"

const struct bts_asset *bts_asset_find(const char *name)
{
    for (const struct bts_asset *a = bts_assets; a->name; a++)
        if (strcmp(a->name, name) == 0)
            return a;
    return NULL;
}
