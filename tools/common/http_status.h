/* The one table of HTTP status texts for the tools' servers (RFC 9110 plus the codes
 * the Anthropic API uses: 529 is "Overloaded"). */
#ifndef BT_TOOLS_HTTP_STATUS_H
#define BT_TOOLS_HTTP_STATUS_H

/* The reason phrase for `status`; a generic one for unlisted codes (never NULL). */
const char *http_status_text(int status);

/* The error type the Anthropic API puts in an error body for `status`
 * ({"type":"error","error":{"type":...}}). */
const char *anthropic_error_type(int status);

#endif
