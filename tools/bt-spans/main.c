/*
 * bt-spans: list, show and total the spans in the local span store, send them on to
 * OTLP, and import a batch that was run without tracing. See --help.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bt_spans.h"
#include "export/store.h"
#include "query.h"

static const char usage[] =
    "usage: bt-spans [--store PATH] [--json] COMMAND [ARGS]\n"
    "\n"
    "Reads the local span store: the file `bt-proxy --store PATH` writes, or the default\n"
    "store every traced program uses when no exporter is configured.\n"
    "\n"
    "commands:\n"
    "  list [--limit N]     recent traces, newest first: root span, start, duration,\n"
    "                       span count, models, tokens, root status and failed spans\n"
    "                       (default limit 20)\n"
    "  show TRACE_ID [--full]\n"
    "                       one trace as a tree: name, duration, model, tokens, status,\n"
    "                       input and output previews (a unique prefix of the id is\n"
    "                       enough); --full prints whole inputs and outputs instead\n"
    "  span TRACE_ID SPAN_ID\n"
    "                       one span in full: its stored OTLP JSON, with the braintrust.*\n"
    "                       JSON strings expanded (prefixes of both ids are enough)\n"
    "  totals               token totals by model over llm spans: prompt, completion,\n"
    "                       cache read, cache creation, reasoning, span and error counts;\n"
    "                       count_tokens calls are counted apart, never as tokens\n"
    "  serve [--listen HOST:PORT]\n"
    "                       a web viewer over the store (default 127.0.0.1:8790): traces,\n"
    "                       waterfall, conversations, totals, live updates; read-only\n"
    "  html TRACE_ID -o FILE\n"
    "                       the viewer's page of one trace as a single self-contained\n"
    "                       HTML file (-o - writes it to standard output)\n"
    "  send [--all]         export spans not sent yet (with --all: every span) to the OTLP\n"
    "                       endpoint configured in the environment (OTEL_EXPORTER_OTLP_*,\n"
    "                       or BRAINTRUST_API_KEY for Braintrust) and mark them sent;\n"
    "                       progress goes to stderr\n"
    "  import-batch --batch FILE --requests FILE --results FILE\n"
    "                       trace a Message Batch from its files (the batch object, the\n"
    "                       create requests as JSONL or the create body, the results JSONL\n"
    "                       or .gz) into the store: one anthropic.batch trace with one span\n"
    "                       per custom_id; importing again replaces, never duplicates\n"
    "  attachment KEY [-o FILE]\n"
    "                       write out an attachment: the bytes of a base64 image or\n"
    "                       document that a span's input refers to by key\n"
    "                       ({\"type\":\"braintrust_attachment\",...,\"key\":KEY}), to FILE or\n"
    "                       standard output (not a terminal); with --json its content\n"
    "                       type, file name, size and span instead\n"
    "\n"
    "options:\n"
    "  --store PATH         the store (default $BT_STORE_PATH, else\n"
    "                       $XDG_STATE_HOME/braintrust/spans.db, else\n"
    "                       ~/.local/state/braintrust/spans.db)\n"
    "  --json               machine-readable output (list, show, span, totals, import-batch,\n"
    "                       attachment)\n"
    "  --help               this text\n"
    "\n"
    "exit status: 0 ok, 1 failure (missing or unreadable store, unknown trace, export\n"
    "failed), 2 usage error\n";

sqlite3 *bts_open(const bts_options *o, int writable)
{
    sqlite3 *db = NULL;
    bt__buf err;
    bt__buf_init(&err, 1024);
    int rc = bt__store_open(o->store, writable ? BT__STORE_READ_WRITE : BT__STORE_READ_ONLY, &db, &err);
    if (rc == BT_ENOTFOUND)
        fprintf(stderr, "bt-spans: no span store at %s (use --store PATH or set BT_STORE_PATH)\n", o->store);
    else if (rc != BT_OK)
        fprintf(stderr, "bt-spans: cannot read span store %s: %s\n", o->store,
                err.data ? err.data : bt_strerror(rc));
    bt__buf_free(&err);
    if (rc == BT_OK && bts_query_register(db) != BTS_Q_OK) {
        fprintf(stderr, "bt-spans: cannot set up queries on %s: %s\n", o->store, sqlite3_errmsg(db));
        sqlite3_close(db);
        return NULL;
    }
    return rc == BT_OK ? db : NULL;
}

static int usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int usage_error(const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    /* One pointer to more help: the message's own, or --help. */
    fprintf(stderr, "bt-spans: %s%s\n", msg, strchr(msg, '(') ? "" : " (see bt-spans --help)");
    return BTS_EXIT_USAGE;
}

/* Takes the value of an option that needs one. */
static const char *value_of(int argc, char **argv, int *i)
{
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

int main(int argc, char **argv)
{
    bts_options o;
    memset(&o, 0, sizeof o);
    o.limit = 20;
    static char default_store[4096];
    o.store =
        bt_store_default_path(default_store, sizeof default_store) == BT_OK ? default_store : "./bt-spans.db";
    const char *command = NULL, *args[2] = {NULL, NULL};
    int nargs = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            fputs(usage, stdout);
            return BTS_EXIT_OK;
        } else if (strcmp(a, "--json") == 0) {
            o.json = 1;
        } else if (strcmp(a, "--all") == 0) {
            o.all = 1;
        } else if (strcmp(a, "--full") == 0) {
            o.full = 1;
        } else if (strcmp(a, "-o") == 0 || strcmp(a, "--output") == 0 || strcmp(a, "--listen") == 0) {
            const char *v = value_of(argc, argv, &i);
            if (!v || !*v)
                return usage_error("%s needs a value", a);
            if (a[1] == 'o' || strcmp(a, "--output") == 0)
                o.output = v;
            else
                o.listen = v;
        } else if (strcmp(a, "--store") == 0 || strcmp(a, "--limit") == 0 || strcmp(a, "--batch") == 0 ||
                   strcmp(a, "--requests") == 0 || strcmp(a, "--results") == 0) {
            const char *v = value_of(argc, argv, &i);
            if (!v || !*v)
                return usage_error("%s needs a value", a);
            if (strcmp(a, "--store") == 0) {
                o.store = v;
            } else if (strcmp(a, "--limit") == 0) {
                char *end = NULL;
                long n = strtol(v, &end, 10);
                if (*end || n < 1 || n > 1000000)
                    return usage_error("--limit needs a number from 1 to 1000000, not \"%s\"", v);
                o.limit = (int)n;
            } else if (strcmp(a, "--batch") == 0) {
                o.batch = v;
            } else if (strcmp(a, "--requests") == 0) {
                o.requests = v;
            } else {
                o.results = v;
            }
        } else if (a[0] == '-' && a[1]) {
            return usage_error("unknown option %s", a);
        } else if (!command) {
            command = a;
        } else if (nargs < 2) {
            args[nargs++] = a;
        } else {
            return usage_error("unexpected argument \"%s\"", a);
        }
    }
    /* Commands and how many arguments each takes. */
    static const struct {
        const char *name;
        int nargs;
    } commands[] = {{"list", 0}, {"show", 1}, {"span", 2},         {"totals", 0},    {"serve", 0},
                    {"html", 1}, {"send", 0}, {"import-batch", 0}, {"attachment", 1}};
    int want = -1;
    for (size_t c = 0; command && c < sizeof commands / sizeof *commands; c++)
        if (strcmp(command, commands[c].name) == 0)
            want = commands[c].nargs;
    if (command && want < 0)
        return usage_error("unknown command %s", command);
    if (command && nargs > want)
        return usage_error("unexpected argument \"%s\"", args[want]);
    if (!command)
        return usage_error(
            "%s",
            "a command is needed: list, show, span, totals, serve, html, send, import-batch or attachment");
    if (strcmp(command, "list") == 0)
        return bts_list(&o);
    if (strcmp(command, "show") == 0 || strcmp(command, "html") == 0) {
        /* An empty id is answered with the candidates, like an ambiguous prefix. */
        if (!args[0])
            return usage_error("%s needs a TRACE_ID (bt-spans list shows them)", command);
        return command[0] == 's' ? bts_show(&o, args[0]) : bts_html(&o, args[0]);
    }
    if (strcmp(command, "span") == 0) {
        if (!args[1])
            return usage_error("%s",
                               "span needs a TRACE_ID and a SPAN_ID (bt-spans show --json lists span ids)");
        return bts_span(&o, args[0], args[1]);
    }
    if (strcmp(command, "attachment") == 0) {
        if (!args[0])
            return usage_error("%s", "attachment needs a KEY (from a braintrust_attachment reference)");
        return bts_attachment(&o, args[0]);
    }
    if (strcmp(command, "serve") == 0)
        return bts_serve(&o);
    if (strcmp(command, "totals") == 0)
        return bts_totals(&o);
    if (strcmp(command, "send") == 0)
        return bts_send(&o);
    if (strcmp(command, "import-batch") == 0) {
        if (!o.batch || !o.results)
            return usage_error("%s",
                               "import-batch needs --batch FILE and --results FILE (and --requests FILE)");
        return bts_import_batch(&o);
    }
    return usage_error("unknown command %s", command);
}
