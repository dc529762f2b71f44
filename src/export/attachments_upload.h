/*
 * Uploading span attachments to Braintrust, the protocol Braintrust's SDKs use:
 *
 *   1. POST {api}/api/apikey/login (Authorization: Bearer <key>) -> {"org_info":[{"id"}]}
 *      once, for the organization id;
 *   2. POST {api}/attachment {"key","filename","content_type","org_id"} (Bearer) ->
 *      {"signedUrl","headers"};
 *   3. PUT the bytes to signedUrl with Content-Type and those headers (and
 *      x-ms-blob-type: BlockBlob for Azure Blob Storage), without the API key: the
 *      signed URL is an object store's, not Braintrust's;
 *   4. POST {api}/attachment/status {"key","org_id","status":{"upload_status":"done"}}
 *      (or "error" with "error_message" when the upload failed).
 *
 * The OTLP sink that exports to Braintrust calls it before sending a batch. Attachments
 * never hold spans back: one that cannot be uploaded (after retries of network errors
 * and 5xx answers, within the export's time) is reported as failed to Braintrust and
 * logged, and its span is sent all the same, with the reference. Keys uploaded lately are
 * remembered, so an image repeated in every turn of a conversation goes up once.
 * The API key goes only to the API URL; neither it nor a signed URL reaches the log.
 */
#ifndef BT_EXPORT_ATTACHMENTS_UPLOAD_H
#define BT_EXPORT_ATTACHMENTS_UPLOAD_H

#include <stddef.h>
#include <stdint.h>

#include "core/sink_internal.h"

typedef struct bt__uploader bt__uploader;

/* `api_url` is Braintrust's API base (BRAINTRUST_API_URL), `api_key` its key; both
 * copied. NULL on a bad URL or out of memory. */
bt__uploader *bt__uploader_new(const char *api_url, const char *api_key);
void bt__uploader_free(bt__uploader *u);

typedef struct bt__upload_counts {
    uint64_t uploaded; /* attachments put in the object store */
    uint64_t failed;   /* given up */
    uint64_t skipped;  /* already uploaded lately */
} bt__upload_counts;

/* Uploads the attachments of `spans` that were not uploaded lately, until
 * `deadline_mono_ns` (bt__monotonic_nano). Logs through `log_sink`'s logger. Adds to
 * *counts (may be NULL). */
void bt__uploader_upload(bt__uploader *u, const bt_sink *log_sink, bt_span *const *spans, size_t n,
                         uint64_t deadline_mono_ns, bt__upload_counts *counts);

#endif
