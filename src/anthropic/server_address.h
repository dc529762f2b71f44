/*
 * The API server of a traced call, as the OpenTelemetry conventions mean
 * server.address / server.port: the server the client's request is for. Read from an
 * authority ("host", "host:port", "[v6]:port") or from an absolute URL.
 */
#ifndef BT_ANTHROPIC_SERVER_ADDRESS_H
#define BT_ANTHROPIC_SERVER_ADDRESS_H

#include <stddef.h>

typedef struct bt__server {
    char address[256]; /* "" when unknown */
    int port;          /* 0 when not stated */
} bt__server;

/* An authority (spaces around it trimmed). Returns 0, or -1 when it names no host (then
 * `out` is unchanged). */
int bt__server_from_authority(bt__server *out, const char *v, size_t len);

/* The authority of an absolute URL ("https://user@host:8443/v1/..."; userinfo is never
 * kept). With `default_port`, a URL without a port gets its scheme's (443 for https, 80
 * for http). Returns 0, or -1 when `url` is not an absolute URL with a host. */
int bt__server_from_url(bt__server *out, const char *url, int default_port);

#endif
