/*
 * bt_tracer_start()'s choice of the default sink when the application added none:
 * the SQLite store at its default per-user location without any configuration (the
 * console when there is no home to put it in), the store at a configured path, OTLP when an
 * endpoint or a key is set (exercised against a receiver in test_otlp_receiver.c), an
 * added sink replacing the default, and bad configuration disabling tracing with a
 * logged reason that never repeats a secret.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "braintrust/braintrust.h"

static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_text[16384];

static void capture_log(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    pthread_mutex_lock(&log_lock);
    size_t len = strlen(log_text);
    snprintf(log_text + len, sizeof log_text - len, "%s\n", msg);
    pthread_mutex_unlock(&log_lock);
}

static int clear_env(void **state)
{
    (void)state;
    static const char *const vars[] = {"BRAINTRUST_API_KEY",
                                       "BRAINTRUST_API_URL",
                                       "BRAINTRUST_PARENT",
                                       "OTEL_EXPORTER_OTLP_ENDPOINT",
                                       "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                                       "OTEL_EXPORTER_OTLP_HEADERS",
                                       "OTEL_SDK_DISABLED",
                                       "BT_STORE_PATH",
                                       "XDG_STATE_HOME"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        unsetenv(vars[i]);
    log_text[0] = '\0';
    return 0;
}

static const char *tmp_path(const char *name)
{
    static char path[4096];
    const char *dir = getenv("BT_TEST_TMPDIR");
    snprintf(path, sizeof path, "%s/tracer_start_%ld_%s", dir && *dir ? dir : "/tmp", (long)getpid(), name);
    return path;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    static char buf[8192];
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    buf[n] = '\0';
    fclose(f);
    return buf;
}

static bt_tracer *configured(void)
{
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_tracer_set_logger(t, capture_log, NULL), BT_OK);
    return t;
}

static void remove_db(const char *path)
{
    char aux[4300];
    unlink(path);
    snprintf(aux, sizeof aux, "%s-wal", path);
    unlink(aux);
    snprintf(aux, sizeof aux, "%s-shm", path);
    unlink(aux);
}

/* Configures a tracer from the environment alone, ends one span named `name` on it and
 * flushes: what a program traced without any setup does. */
static void trace_one_span_from_env(const char *name)
{
    bt_tracer *t = configured();
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    bt_span *s = bt_span_start(t, name, NULL);
    bt_span_end(s, 0);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    bt_tracer_free(t);
}

/* The span really is in the store: a file with only the schema would not do. */
static void assert_span_stored(const char *path, const char *name)
{
    sqlite3 *db = NULL;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *st = NULL;
    assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM spans WHERE name = ?", -1, &st, NULL),
                     SQLITE_OK);
    sqlite3_bind_text(st, 1, name, -1, SQLITE_STATIC);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(st, 0), 1);
    sqlite3_finalize(st);
    sqlite3_close(db);
}

/* Nothing configured: the local store at $XDG_STATE_HOME/braintrust/spans.db, created
 * with its directory, and the same path bt_store_default_path() reports. */
static void test_store_by_default(void **state)
{
    (void)state;
    char state_home[4096], expected[4200], reported[4200];
    snprintf(state_home, sizeof state_home, "%s", tmp_path("state"));
    setenv("XDG_STATE_HOME", state_home, 1);
    snprintf(expected, sizeof expected, "%s/braintrust/spans.db", state_home);
    assert_int_equal(bt_store_default_path(reported, sizeof reported), BT_OK);
    assert_string_equal(reported, expected);
    char tiny[8];
    assert_int_equal(bt_store_default_path(tiny, sizeof tiny), BT_ELIMIT);

    trace_one_span_from_env("default.store.span");
    assert_span_stored(expected, "default.store.span");
    struct stat st;
    char dir[4200];
    snprintf(dir, sizeof dir, "%s/braintrust", state_home);
    assert_int_equal(stat(dir, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    remove_db(expected);
    rmdir(dir);
    rmdir(state_home);
}

/* No configuration and no home to keep a store in: the console sink, one line per
 * span on stderr. */
static void test_console_without_home(void **state)
{
    (void)state;
    char *home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
    unsetenv("HOME");
    char unused[64];
    assert_int_equal(bt_store_default_path(unused, sizeof unused), BT_ENOTFOUND);
    const char *path = tmp_path("stderr.txt");
    fflush(stderr);
    int saved = dup(2);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    dup2(fd, 2);
    close(fd);

    trace_one_span_from_env("console.span");

    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    const char *text = slurp(path);
    assert_non_null(text);
    assert_non_null(strstr(text, "[braintrust] console.span "));
    unlink(path);
    if (home) {
        setenv("HOME", home, 1);
        free(home);
    }
}

/* A store path and no OTLP configuration: spans land in the SQLite file. */
static void test_store_when_path_set(void **state)
{
    (void)state;
    const char *path = tmp_path("spans.db");
    unlink(path);
    setenv("BT_STORE_PATH", path, 1);
    trace_one_span_from_env("stored.span");
    assert_span_stored(path, "stored.span");
    remove_db(path);
}

/* A sink added by the application replaces the default choice entirely. */
static void test_added_sink_replaces_default(void **state)
{
    (void)state;
    setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9", 1); /* would fail if used */
    bt_tracer *t = configured();
    assert_int_equal(bt_tracer_configure_from_env(t), BT_OK);
    bt_sink *mem;
    assert_int_equal(bt_sink_memory_new(&mem), BT_OK);
    assert_int_equal(bt_tracer_add_sink(t, mem), BT_OK);
    assert_int_equal(bt_tracer_start(t), BT_OK);
    bt_span *s = bt_span_start(t, "only.memory", NULL);
    bt_span_end(s, 0);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    assert_int_equal(bt_sink_memory_count(mem), 1);
    bt_tracer_free(t);
}

/* An OTLP header list that does not parse: tracing is disabled with a logged reason,
 * and the log does not repeat the (secret) header values. */
static void test_bad_headers_disable_without_leaking(void **state)
{
    (void)state;
    bt_tracer *t = configured();
    assert_int_equal(bt_tracer_set_otlp_endpoint(t, "http://127.0.0.1:9"), BT_OK);
    int rc = bt_tracer_set_otlp_headers(t, "authorization=Bearer%20sk-hidden-1,broken");
    assert_true(rc == BT_OK || rc == BT_EINVAL);
    assert_int_equal(bt_tracer_start(t), BT_EDISABLED);
    assert_false(bt_tracer_is_enabled(t));
    assert_null(bt_span_start(t, "x", NULL));
    bt_tracer_free(t);
    assert_true(strlen(log_text) > 0);
    assert_null(strstr(log_text, "sk-hidden-1"));
}

/* A Braintrust API URL that is not http(s): disabled, and the key is not logged. */
static void test_bad_api_url_disables(void **state)
{
    (void)state;
    setenv("BRAINTRUST_API_KEY", "sk-hidden-2", 1);
    setenv("BRAINTRUST_API_URL", "file:///etc/passwd", 1);
    bt_tracer *t = configured();
    bt_tracer_configure_from_env(t);
    assert_int_equal(bt_tracer_start(t), BT_EDISABLED);
    assert_int_equal(bt_tracer_flush(t, 100), BT_EDISABLED);
    bt_tracer_free(t);
    assert_null(strstr(log_text, "sk-hidden-2"));
}

static void test_sdk_disabled(void **state)
{
    (void)state;
    setenv("OTEL_SDK_DISABLED", "true", 1);
    bt_tracer *t = configured();
    bt_tracer_configure_from_env(t);
    assert_int_equal(bt_tracer_start(t), BT_EDISABLED);
    assert_null(bt_span_start(t, "x", NULL));
    bt_tracer_free(t);
    assert_int_equal(bt_tracer_start(NULL), BT_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(test_store_by_default, clear_env),
        cmocka_unit_test_setup(test_console_without_home, clear_env),
        cmocka_unit_test_setup(test_store_when_path_set, clear_env),
        cmocka_unit_test_setup(test_added_sink_replaces_default, clear_env),
        cmocka_unit_test_setup(test_bad_headers_disable_without_leaking, clear_env),
        cmocka_unit_test_setup(test_bad_api_url_disables, clear_env),
        cmocka_unit_test_setup(test_sdk_disabled, clear_env),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
