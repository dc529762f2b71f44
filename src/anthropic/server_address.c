/* The API server of a traced call (see server_address.h). */
#include "anthropic/server_address.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/utf8.h"

int bt__server_from_authority(bt__server *out, const char *v, size_t len)
{
    while (len && (*v == ' ' || *v == '\t')) {
        v++;
        len--;
    }
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    char tmp[sizeof out->address];
    if (!len || len >= sizeof tmp)
        return -1; /* a name that long is no host name */
    memcpy(tmp, v, len);
    tmp[len] = '\0';
    char *port = NULL;
    if (tmp[0] == '[') {
        char *close = strchr(tmp, ']');
        if (!close)
            return -1;
        if (close[1] == ':')
            port = close + 2;
        close[1] = '\0';
    } else {
        char *colon = strchr(tmp, ':');
        if (colon) {
            *colon = '\0';
            port = colon + 1;
        }
    }
    snprintf(out->address, sizeof out->address, "%s", tmp);
    out->port = 0;
    if (port && *port) {
        char *end;
        long p = strtol(port, &end, 10);
        if (*end == '\0' && p > 0 && p < 65536)
            out->port = (int)p;
    }
    return 0;
}

int bt__server_from_url(bt__server *out, const char *url, int default_port)
{
    const char *p = strstr(url, "://");
    if (!p || memchr(url, '/', (size_t)(p - url)))
        return -1;
    size_t scheme_len = (size_t)(p - url);
    p += 3;
    size_t n = strcspn(p, "/?#");
    const char *at = memchr(p, '@', n); /* userinfo is never kept */
    if (at) {
        n -= (size_t)(at + 1 - p);
        p = at + 1;
    }
    if (bt__server_from_authority(out, p, n) != 0)
        return -1;
    if (default_port && !out->port) {
        if (scheme_len == 5 && !strncasecmp(url, "https", 5))
            out->port = 443;
        else if (scheme_len == 4 && !strncasecmp(url, "http", 4))
            out->port = 80;
    }
    return 0;
}
