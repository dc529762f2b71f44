/* bt-spans serve: the web viewer over the store. Waits for the shared HTTP server. */
#include <stdio.h>

#include "bt_spans.h"

int bts_serve(const bts_options *o)
{
    (void)o;
    fprintf(stderr, "bt-spans: serve is not available in this build\n");
    return BTS_EXIT_FAIL;
}
