/*
 * Where the local span store lives when nobody said: a per-user state file, so any
 * program traced without configuration keeps its spans, and bt-spans finds them.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "braintrust/sink.h"
#include "export/store.h"

int bt_store_default_path(char *out, size_t out_size)
{
    if (!out || !out_size)
        return BT_EINVAL;
    const char *explicit_path = getenv("BT_STORE_PATH");
    const char *state = getenv("XDG_STATE_HOME");
    const char *home = getenv("HOME");
    int n;
    if (explicit_path && *explicit_path)
        n = snprintf(out, out_size, "%s", explicit_path);
    else if (state && state[0] == '/') /* the XDG spec ignores relative values */
        n = snprintf(out, out_size, "%s/braintrust/spans.db", state);
    else if (home && *home)
        n = snprintf(out, out_size, "%s/.local/state/braintrust/spans.db", home);
    else
        return BT_ENOTFOUND;
    return n < 0 || (size_t)n >= out_size ? BT_ELIMIT : BT_OK;
}

int bt__store_make_parent_dirs(const char *path)
{
    char dir[4096];
    size_t len = strlen(path);
    if (len >= sizeof dir)
        return BT_ELIMIT;
    memcpy(dir, path, len + 1);
    char *slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return BT_OK;
    *slash = '\0';
    /* Create each missing component; private to the user, like the spans in it. */
    for (char *p = dir + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(dir, 0700) != 0 && errno != EEXIST)
                return BT_EIO;
            *p = saved;
            if (saved == '\0')
                break;
        }
    }
    return BT_OK;
}
