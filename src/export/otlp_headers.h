/* Extra OTLP request headers given as a W3C-style list (OTEL_EXPORTER_OTLP_HEADERS). */
#ifndef BT_EXPORT_OTLP_HEADERS_H
#define BT_EXPORT_OTLP_HEADERS_H

/* Called once per member with the trimmed key and the trimmed, percent-decoded value
 * (both NUL-terminated, borrowed for the call). Returns BT_OK to go on. */
typedef int (*bt__header_pair_fn)(void *ud, const char *key, const char *value);

/* Parses "key1=value1,key2=value2": whitespace around keys and values is trimmed,
 * values are percent-decoded ("Bearer%20x" -> "Bearer x"), empty members are skipped.
 * BT_EINVAL when a member has no '=', its key is not an HTTP token, or its decoded
 * value holds a control character (which could forge extra header lines); an error
 * from `fn` stops the walk and is returned. BT_ENOMEM on allocation failure. */
int bt__otlp_header_list_parse(const char *list, bt__header_pair_fn fn, void *ud);

/* 1 if `s` is a non-empty HTTP header field name (RFC 9110 token). */
int bt__http_token_valid(const char *s);

/* 1 if `s` can be sent as a header value as is: no control characters, no DEL. */
int bt__http_value_safe(const char *s);

#endif
