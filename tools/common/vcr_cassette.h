/*
 * go-vcr (v1/v2), vcrpy and pydantic-ai YAML cassettes as a list of recorded HTTP
 * interactions. Shared by the fake server's --replay and the test-suite loader, so both
 * read the recordings the same way. Response bodies stay as they were on the wire: gzip
 * bodies keep their compression and content-encoding header; go-vcr bodies marked
 * "uncompressed" and pydantic-ai parsed_body bodies (already decoded by the recorder)
 * lose the content-encoding header.
 */
#ifndef BT_TOOLS_VCR_CASSETTE_H
#define BT_TOOLS_VCR_CASSETTE_H

#include <stddef.h>

#include <jansson.h>

typedef struct bt__vcr_header {
    char *name; /* lower-cased */
    char *value;
} bt__vcr_header;

typedef struct bt__vcr_interaction {
    char *method;
    char *url;    /* as recorded (absolute URL) */
    char *target; /* path + query */
    bt__vcr_header *req_headers;
    size_t n_req_headers;
    char *req_body; /* NULL when none */
    size_t req_body_len;
    int status;
    bt__vcr_header *resp_headers;
    size_t n_resp_headers;
    char *resp_body; /* bytes as on the wire (maybe gzip); never NULL once mapped */
    size_t resp_body_len;
    int resp_body_missing; /* the recording omitted the body (binary blob) */
} bt__vcr_interaction;

/* Parses one YAML document into a jansson tree (new reference): plain scalars resolve
 * to null/bool/int/real as YAML 1.1 does, !!binary scalars become {"__binary__": bytes}.
 * Returns NULL on a syntax error, with the reason and line written to err. */
json_t *bt__vcr_yaml_parse(const char *data, size_t len, char *err, size_t err_size);

/* Appends the interactions of a parsed cassette ({"interactions": [...]}) to *items
 * (realloc'd; the caller frees each with bt__vcr_interaction_free, then the array).
 * Returns 0, or BT_EPARSE when the tree is not a cassette. */
int bt__vcr_map(json_t *root, bt__vcr_interaction **items, size_t *n);

/* Releases what one interaction owns (not the struct itself). */
void bt__vcr_interaction_free(bt__vcr_interaction *it);

/* Appends a header (name lower-cased, value copied) to a growable array. */
void bt__vcr_add_header(bt__vcr_header **arr, size_t *n, const char *name, const char *value,
                        size_t value_len);

/* Appends headers given as {Name: [v, ...]} (YAML) or {name: v} (JSON) to *arr,
 * leaving out content-encoding when drop_encoding is set. */
void bt__vcr_read_headers(json_t *h, bt__vcr_header **arr, size_t *n, int drop_encoding);

/* The path + query of an absolute URL (malloc'd). */
char *bt__vcr_target_of(const char *url);

/* Finds a header value (case-insensitive name) or NULL. */
const char *bt__vcr_header_get(const bt__vcr_header *h, size_t n, const char *name);

#endif
