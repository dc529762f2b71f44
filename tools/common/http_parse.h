/*
 * HTTP/1.1 request parsing with the header rules every server of ours applies, as a
 * sans-I/O machine: bytes in, events out (head, body piece, end, error). A server feeds
 * whatever it read and acts on one event at a time, so it can answer or pause between
 * the head and the body, and between two pipelined requests.
 *
 * The head (request line and fields) is checked byte by byte before anything else sees
 * it, strictly: lines end in CRLF (a bare CR or LF is an error), field names are tokens
 * with the colon right after them (no space), values hold no control characters but
 * HTAB, a line starting with white space (obs-fold) is refused, an HTTP/1.1 request
 * carries exactly one Host, Content-Length is one field of digits, Transfer-Encoding is
 * exactly "chunked" and never beside Content-Length. Those are the shapes that let two
 * parsers disagree about where a request ends (request smuggling), so none of them is
 * repaired: each is an error with the status to answer. llhttp then frames the body
 * (Content-Length or chunked) of heads that passed.
 */
#ifndef BT_TOOLS_HTTP_PARSE_H
#define BT_TOOLS_HTTP_PARSE_H

#include <stddef.h>
#include <stdint.h>

typedef struct hp_limits {
    size_t max_head_bytes;   /* request line + fields; more is 431 (default 64 KiB) */
    size_t max_fields;       /* more is 431 (default 100) */
    size_t max_target_bytes; /* request target; longer is 414 (default 16 KiB) */
} hp_limits;

void hp_limits_default(hp_limits *l);

typedef struct hp_field {
    const char *name; /* as received; not NUL-terminated */
    size_t name_len;
    const char *value; /* leading and trailing white space removed */
    size_t value_len;
} hp_field;

/* A request head that passed every rule. Strings point into the parser and stay valid
 * until the parser starts on the next request (the first hp_feed after HP_END). */
typedef struct hp_head {
    const char *method; /* NUL-terminated, e.g. "POST" */
    int method_id;      /* llhttp_method_t */
    const char *target; /* NUL-terminated, as received */
    size_t target_len;
    int http_minor; /* 0 or 1 (the major is always 1) */
    const hp_field *fields;
    size_t n_fields;
    const char *host; /* NULL when absent (allowed on HTTP/1.0 only) */
    size_t host_len;
    int chunked;            /* Transfer-Encoding: chunked */
    int64_t content_length; /* declared length; 0 when there is no body, -1 when chunked */
    int keep_alive;         /* the client allows another request on this connection */
    int expect_continue;    /* Expect: 100-continue */
} hp_head;

typedef enum {
    HP_NEED_MORE = 0, /* every byte given was consumed; feed more */
    HP_HEAD,          /* a head is complete: hp_parser_head() */
    HP_BODY,          /* a piece of body (de-chunked): hp_parser_body() */
    HP_END,           /* the request is complete; the next hp_feed starts the next one */
    HP_ERROR          /* hp_parser_error(); the parser stays in error */
} hp_event;

typedef struct hp_parser hp_parser;

/* Returns NULL when out of memory. `limits` is copied; NULL means the defaults. */
hp_parser *hp_parser_new(const hp_limits *limits);
void hp_parser_free(hp_parser *p);

/* Consumes bytes of `data` up to and including the next event and returns it, with
 * *consumed set to the bytes used. Bytes after an event belong to what follows: call
 * again with the rest (after HP_BODY also with no bytes left, since the end of a
 * request can follow its last body byte without further input). */
hp_event hp_feed(hp_parser *p, const char *data, size_t len, size_t *consumed);

const hp_head *hp_parser_head(const hp_parser *p); /* NULL before HP_HEAD */
/* The body piece of the last HP_BODY, borrowed from the caller's `data`. */
const char *hp_parser_body(const hp_parser *p, size_t *len);
/* 1 while part of a head (not just blank lines before it) has been received. */
int hp_parser_in_head(const hp_parser *p);
/* After HP_ERROR: the status to answer (400, 405, 414, 417, 431, 501, 505) and a short
 * static reason. */
int hp_parser_error(const hp_parser *p, const char **reason);

/* Case-insensitive field lookup: the first field named `name`, or NULL. */
const hp_field *hp_head_field(const hp_head *h, const char *name);
/* Is `c` allowed in a field name (RFC 9110 tchar)? */
int hp_is_tchar(unsigned char c);

#endif
