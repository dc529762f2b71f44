/*
 * Loader for the recorded Anthropic traffic in ../shared/fixtures/anthropic: go-vcr
 * (v1/v2) and vcrpy YAML cassettes (incl. pydantic-ai's parsed_body form), the
 * Braintrust JS e2e cassette JSON, and raw .sse.txt / .jsonl files. Every format becomes
 * a list of interactions with the response body as it was on the wire: gzip bodies stay
 * compressed with their content-encoding header; go-vcr bodies marked "uncompressed"
 * lose the content-encoding header (the recorder already decoded them); JS SSE chunks
 * are re-framed as "event: ...\ndata: ...\n\n".
 */
#ifndef BT_TEST_CASSETTE_H
#define BT_TEST_CASSETTE_H

#include <stddef.h>

#include "braintrust/common.h"
#include "vcr_cassette.h"

/* One recorded exchange; the shape is shared with fake-anthropic's YAML replay
 * (tools/common/vcr_cassette.h): method, url (absolute, as recorded), target (path +
 * query), request headers and body (NULL when none), status, response headers (names
 * lower-cased) and body (bytes as on the wire, maybe gzip), resp_body_missing when the
 * recording omitted the body (binary blob). */
typedef bt__vcr_header bt_test_header;
typedef bt__vcr_interaction bt_test_interaction;

typedef struct bt_test_cassette {
    char *path;
    bt_test_interaction *items;
    size_t n;
} bt_test_cassette;

/* Absolute path of a file under ../shared/fixtures ("anthropic/braintrust-sdk-go/..."),
 * in a static buffer. When ../shared is missing the test fails with a message saying
 * so plainly (the recordings are present on every developer machine and in CI). */
const char *bt_test_fixture_path(const char *relative);

/* Loads any supported cassette; returns 0 or a BT_E* code (and prints why). */
int bt_test_cassette_load(const char *path, bt_test_cassette *out);
void bt_test_cassette_free(bt_test_cassette *c);

/* Finds a header value (case-insensitive name) or NULL. */
const char *bt_test_header_get(const bt_test_header *h, size_t n, const char *name);

/* Converts headers to the library's bt_header array (borrowing the strings); caller
 * frees the returned array with free(). */
bt_header *bt_test_headers_view(const bt_test_header *h, size_t n);

/* Reads a whole file (malloc'd, NUL-terminated); NULL on error. */
char *bt_test_read_file(const char *path, size_t *len);

/* Lists files under ../shared/fixtures/<dir> (recursively) whose name ends in one of
 * the given suffixes; returns a NULL-terminated malloc'd array of malloc'd paths. */
char **bt_test_list_fixtures(const char *dir, const char *const *suffixes);
void bt_test_free_list(char **list);

#endif
