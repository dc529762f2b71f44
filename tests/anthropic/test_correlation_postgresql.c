/*
 * The PostgreSQL batch correlation backend against a real server: a throwaway cluster
 * started by tests/support/with-postgres.sh (BT_TEST_NEEDS_POSTGRESQL), its URL in
 * BT_TEST_PG_URL. Each case works in a database of its own.
 *
 * The contract shared with the other backends; schema creation, migration and
 * concurrent first use; expiry on the tracer's clock; two stores (replicas) sharing
 * entries; an unreachable, a stopped and restarted, and a stalled (locked) database,
 * none of which makes a caller wait long; the read-ahead window; a refused row not
 * costing its neighbours; writes queued at close reaching the database; and the same
 * batch trace, ids and contents, from two replicas reading the same results one after
 * the other and at the same time.
 */
#include "test_batch_helpers.h"

#include <arpa/inet.h>
#include <libpq-fe.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>

#include "correlation_contract.h"

/* BT_TEST_NEEDS_POSTGRESQL: tests/CMakeLists.txt runs this program through
 * tests/support/with-postgres.sh. */

static char base_url[512];

/* PQexec on the cluster's admin database; fails the test on an error. */
static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void admin_sql(const char *db, const char *sql)
{
    char url[600];
    snprintf(url, sizeof url, "%s", base_url);
    char *slash = strrchr(url, '/');
    snprintf(slash + 1, sizeof url - (size_t)(slash + 1 - url), "%s", db);
    PGconn *conn = PQconnectdb(url);
    if (PQstatus(conn) != CONNECTION_OK)
        fail_msg("admin connection: %s", PQerrorMessage(conn));
    PQsetNoticeProcessor(conn, quiet, NULL);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    PQclear(r);
    PQfinish(conn);
}

/* A fresh database; its URL in a static buffer. */
static const char *fresh_db(const char *name)
{
    static char url[4][600];
    static int slot;
    char sql[200];
    snprintf(sql, sizeof sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)", name);
    admin_sql("postgres", sql);
    snprintf(sql, sizeof sql, "CREATE DATABASE %s", name);
    admin_sql("postgres", sql);
    char *u = url[slot++ % 4];
    snprintf(u, 600, "%s", base_url);
    char *slash = strrchr(u, '/');
    snprintf(slash + 1, 600 - (size_t)(slash + 1 - u), "%s", name);
    return u;
}

/* One value from a query on `db`, as text (static buffer), or "" without rows. */
static const char *query_value(const char *db, const char *sql)
{
    static char out[256];
    char url[600];
    snprintf(url, sizeof url, "%s", base_url);
    char *slash = strrchr(url, '/');
    snprintf(slash + 1, sizeof url - (size_t)(slash + 1 - url), "%s", db);
    PGconn *conn = PQconnectdb(url);
    assert_int_equal(PQstatus(conn), CONNECTION_OK);
    PGresult *r = PQexec(conn, sql);
    if (PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQresultErrorMessage(r));
    snprintf(out, sizeof out, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    PQfinish(conn);
    return out;
}

/* Log lines of the tracer, to check what the store says (and never says). */
static char log_text[16384];
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static void capture_log(void *ud, bt_log_level level, const char *msg)
{
    (void)ud;
    (void)level;
    pthread_mutex_lock(&log_mu);
    size_t n = strlen(log_text);
    snprintf(log_text + n, sizeof log_text - n, "%s\n", msg);
    pthread_mutex_unlock(&log_mu);
}

static bt_tracer *clock_tracer(void)
{
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_tracer_set_clock(t, tb_clock, NULL), BT_OK);
    assert_int_equal(bt_tracer_set_logger(t, capture_log, NULL), BT_OK);
    assert_int_equal(bt_tracer_set_log_level(t, BT_LOG_INFO), BT_OK);
    return t;
}

/* A store whose reads may wait 10 s: the cases check answers, not speed, on a machine
 * that may be busy (the stalled and unreachable cases keep the default wait). */
static struct bt__correlation *open_pg_waiting(const char *url, bt_tracer *t, int read_wait_ms)
{
    int rc = -1;
    struct bt__correlation *c = bt__correlation_new_url(url, t, &rc);
    assert_int_equal(rc, BT_OK);
    assert_non_null(c);
    if (read_wait_ms)
        bt__correlation_set_read_wait(c, read_wait_ms);
    return c;
}

static struct bt__correlation *open_pg(const char *url, bt_tracer *t)
{
    return open_pg_waiting(url, t, 10000);
}

static bt_correlation_stats stats_of(struct bt__correlation *c)
{
    bt_correlation_stats st;
    bt__correlation_get_stats(c, &st);
    return st;
}

/* Polls (bounded) until the store says it is available again. */
static void wait_available(struct bt__correlation *c)
{
    for (int i = 0; i < 600 && !stats_of(c).available; i++)
        usleep(50 * 1000);
    assert_true(stats_of(c).available);
}

static uint64_t elapsed_ms(uint64_t since)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec - since) / 1000000;
}

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* services.sh on the running cluster (halt, restart). */
static void cluster(const char *fn)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "bash -c '. \"%s/tests/support/services.sh\" && %s'", BT_SOURCE_DIR, fn);
    assert_int_equal(system(cmd), 0);
}

static void test_contract(void **state)
{
    (void)state;
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg(fresh_db("bt_contract"), t);
    assert_string_equal(stats_of(c).backend, "postgresql");
    assert_true(stats_of(c).available);
    exercise(c);
    bt__correlation_free(c);
    bt_tracer_free(t);
}

static void test_not_a_postgresql_url(void **state)
{
    (void)state;
    int rc = 0;
    assert_null(bt__correlation_new_url("mysql://x@y/z", NULL, &rc));
    assert_int_equal(rc, BT_EINVAL);
    assert_null(bt__correlation_new_url("postgresql://host:notaport:/x?bogus_option=1", NULL, &rc));
    assert_int_equal(rc, BT_EINVAL);
}

static void test_schema_created_and_migrated_by_version(void **state)
{
    (void)state;
    const char *url = fresh_db("bt_schema");
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg(url, t);
    assert_int_equal(bt__correlation_put(c, "k", "a", "{}", 2), BT_OK);
    assert_int_equal(bt__correlation_sync(c, 10000), BT_OK);
    bt__correlation_free(c);
    assert_string_equal(
        query_value("bt_schema", "SELECT string_agg(version::text, ',') FROM bt_correlation_schema"), "1");
    assert_string_equal(query_value("bt_schema", "SELECT count(*) FROM bt_batch_requests"), "1");

    /* Opening again changes nothing and keeps the rows. */
    c = open_pg(url, t);
    expect_entry(c, "k", "a", "{}");
    bt__correlation_free(c);
    assert_string_equal(query_value("bt_schema", "SELECT count(*) FROM bt_correlation_schema"), "1");

    /* A schema migrated by a newer build (additive): used as it is, and said so. */
    admin_sql("bt_schema", "UPDATE bt_correlation_schema SET version = 7");
    log_text[0] = '\0';
    c = open_pg(url, t);
    expect_entry(c, "k", "a", "{}");
    bt__correlation_free(c);
    assert_non_null(strstr(log_text, "schema version 7, newer than this build"));
    assert_string_equal(query_value("bt_schema", "SELECT version FROM bt_correlation_schema"), "7");

    /* A database holding an older version (0: the table exists, no row) is migrated. */
    const char *old = fresh_db("bt_schema_old");
    admin_sql("bt_schema_old", "CREATE TABLE bt_correlation_schema (version integer NOT NULL)");
    c = open_pg(old, t);
    assert_int_equal(bt__correlation_put(c, "k", "b", "{}", 2), BT_OK);
    expect_entry(c, "k", "b", "{}");
    bt__correlation_free(c);
    assert_string_equal(query_value("bt_schema_old", "SELECT version FROM bt_correlation_schema"), "1");
    bt_tracer_free(t);
}

typedef struct opener {
    const char *url;
    int available;
} opener;

static void *open_concurrently(void *arg)
{
    opener *o = arg;
    int rc;
    struct bt__correlation *c = bt__correlation_new_url(o->url, NULL, &rc);
    if (c) {
        o->available = stats_of(c).available;
        bt__correlation_free(c);
    }
    return NULL;
}

static void test_replicas_starting_together_on_an_empty_database(void **state)
{
    (void)state;
    const char *url = fresh_db("bt_together");
    pthread_t th[6];
    opener o[6];
    for (int i = 0; i < 6; i++) {
        o[i] = (opener){.url = url};
        assert_int_equal(pthread_create(&th[i], NULL, open_concurrently, &o[i]), 0);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_true(o[i].available);
    }
    assert_string_equal(query_value("bt_together", "SELECT count(*) FROM bt_correlation_schema"), "1");
}

static void test_expiry_on_the_tracer_clock(void **state)
{
    (void)state;
    tb_clock_now = TB_T0;
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg(fresh_db("bt_expiry"), t);
    assert_int_equal(bt__correlation_put(c, "msgbatch_old", "a", "{}", 2), BT_OK);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_old", "{}", 2), BT_OK);
    tb_clock_now = TB_T0 + 28 * TB_DAY_NS;
    assert_int_equal(bt__correlation_put(c, "msgbatch_new", "b", "{}", 2), BT_OK);
    expect_entry(c, "msgbatch_old", "a", "{}");
    tb_clock_now = TB_T0 + 29 * TB_DAY_NS + 1000000000ull;
    expect_entry(c, "msgbatch_old", "a", NULL);
    char *obj = NULL;
    assert_int_equal(bt__correlation_get_batch(c, "msgbatch_old", &obj), BT_ENOTFOUND);
    expect_entry(c, "msgbatch_new", "b", "{}");
    assert_int_equal(bt__correlation_purge(c), 2);
    expect_entry(c, "msgbatch_new", "b", "{}");
    bt__correlation_free(c);
    bt_tracer_free(t);
    tb_clock_now = TB_T0;
}

static void test_two_replicas_share_entries(void **state)
{
    (void)state;
    const char *url = fresh_db("bt_share");
    bt_tracer *t = clock_tracer();
    struct bt__correlation *a = open_pg(url, t), *b = open_pg(url, t);
    assert_int_equal(bt__correlation_put(a, "staging:x", "r1", "{\"in\":1}", 8), BT_OK);
    assert_int_equal(bt__correlation_rekey(a, "staging:x", "msgbatch_s"), BT_OK);
    static const char ended[] = "{\"id\":\"msgbatch_s\",\"processing_status\":\"ended\"}";
    static const char late[] = "{\"id\":\"msgbatch_s\",\"processing_status\":\"in_progress\"}";
    assert_int_equal(bt__correlation_put_batch(a, "msgbatch_s", ended, strlen(ended)), BT_OK);
    assert_int_equal(bt__correlation_sync(a, 10000), BT_OK);
    expect_entry(b, "msgbatch_s", "r1", "{\"in\":1}");
    expect_entry(b, "staging:x", "r1", NULL);
    /* Replica B records an older view late: A's ended view stays. */
    assert_int_equal(bt__correlation_put_batch(b, "msgbatch_s", late, strlen(late)), BT_OK);
    char *obj = NULL;
    assert_int_equal(bt__correlation_get_batch(a, "msgbatch_s", &obj), BT_OK);
    assert_string_equal(obj, ended);
    free(obj);
    bt__correlation_free(a);
    bt__correlation_free(b);
    bt_tracer_free(t);
}

static void test_unreachable_database_never_blocks(void **state)
{
    (void)state;
    /* A port nothing listens on; a password that must never be logged. */
    char url[200];
    int port = 0;
    {
        int s = socket(AF_INET, SOCK_STREAM, 0);
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
        socklen_t len = sizeof sa;
        assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
        getsockname(s, (struct sockaddr *)&sa, &len);
        port = ntohs(sa.sin_port);
        close(s);
    }
    snprintf(url, sizeof url, "postgresql://bt:s3cret-canary@127.0.0.1:%d/nowhere", port);
    bt_tracer *t = clock_tracer();
    log_text[0] = '\0';
    uint64_t t0 = mono_ns();
    struct bt__correlation *c = open_pg_waiting(url, t, 0);
    assert_true(elapsed_ms(t0) < 4000);
    bt_correlation_stats st = stats_of(c);
    assert_false(st.available);
    t0 = mono_ns();
    char *got = NULL;
    for (int i = 0; i < 1000; i++)
        assert_int_equal(bt__correlation_get(c, "msgbatch_1", "a", &got, NULL), BT_EDB);
    assert_true(elapsed_ms(t0) < 1000); /* a thousand lookups answered at once */
    assert_int_equal(bt__correlation_put(c, "msgbatch_1", "a", "{}", 2), BT_OK); /* queued */
    st = stats_of(c);
    assert_int_equal(st.writes_queued, 1);
    assert_true(st.errors >= 1000);
    assert_non_null(strstr(log_text, "unreachable"));
    assert_non_null(strstr(log_text, "traced without their inputs"));
    assert_null(strstr(log_text, "s3cret-canary"));
    t0 = mono_ns();
    bt__correlation_free(c); /* gives up the queued write without waiting for a database */
    assert_true(elapsed_ms(t0) < 4000);
    bt_tracer_free(t);
}

static void test_restarted_database_reconnects_and_writes_the_queue(void **state)
{
    (void)state;
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg(fresh_db("bt_restart"), t);
    assert_int_equal(bt__correlation_put(c, "msgbatch_r", "before", "{}", 2), BT_OK);
    expect_entry(c, "msgbatch_r", "before", "{}");
    cluster("bt_pg_halt");
    log_text[0] = '\0';
    /* The first lookup finds the connection gone; then lookups fail at once. */
    char *got = NULL;
    assert_int_not_equal(bt__correlation_get(c, "msgbatch_r", "x", &got, NULL), BT_OK);
    assert_int_equal(bt__correlation_get(c, "msgbatch_r", "x", &got, NULL), BT_EDB);
    assert_false(stats_of(c).available);
    assert_int_equal(bt__correlation_put(c, "msgbatch_r", "during", "{\"q\":1}", 7), BT_OK);
    assert_int_equal(stats_of(c).writes_queued, 1);
    cluster("bt_pg_restart");
    wait_available(c);
    assert_int_equal(bt__correlation_sync(c, 10000), BT_OK);
    expect_entry(c, "msgbatch_r", "during", "{\"q\":1}");
    expect_entry(c, "msgbatch_r", "before", "{}");
    assert_true(stats_of(c).connects >= 2);
    assert_non_null(strstr(log_text, "connected"));
    bt__correlation_free(c);
    bt_tracer_free(t);
}

static void test_stalled_database_costs_one_bounded_wait(void **state)
{
    (void)state;
    const char *url = fresh_db("bt_stall");
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg_waiting(url, t, 0);
    assert_int_equal(bt__correlation_put(c, "msgbatch_l", "a", "{}", 2), BT_OK);
    assert_int_equal(bt__correlation_sync(c, 10000), BT_OK);
    /* Another session holds the table: the store's queries wait on the lock. */
    PGconn *locker = PQconnectdb(url);
    assert_int_equal(PQstatus(locker), CONNECTION_OK);
    PQclear(PQexec(locker, "BEGIN"));
    PGresult *r = PQexec(locker, "LOCK TABLE bt_batch_requests IN ACCESS EXCLUSIVE MODE");
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    char *got = NULL;
    uint64_t t0 = mono_ns();
    assert_int_equal(bt__correlation_get(c, "msgbatch_l", "b", &got, NULL), BT_ETIMEDOUT);
    assert_true(elapsed_ms(t0) < 5000);
    /* While it is stalled, lookups do not wait at all. */
    assert_int_equal(bt__correlation_get(c, "msgbatch_l", "a", &got, NULL), BT_ETIMEDOUT);
    assert_false(stats_of(c).available);
    PQclear(PQexec(locker, "COMMIT"));
    PQfinish(locker);
    wait_available(c);
    bt__correlation_set_read_wait(c, 10000);
    expect_entry(c, "msgbatch_l", "a", "{}");
    bt__correlation_free(c);
    bt_tracer_free(t);
}

static void test_read_ahead_window(void **state)
{
    (void)state;
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg(fresh_db("bt_window"), t);
    enum { N = 2000 };
    char id[32], val[64];
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "req-%d", i);
        int n = snprintf(val, sizeof val, "{\"i\":%d}", i);
        assert_int_equal(bt__correlation_put(c, "staging:w", id, val, (size_t)n), BT_OK);
    }
    assert_int_equal(bt__correlation_rekey(c, "staging:w", "msgbatch_w"), BT_OK);
    /* Results in reverse request order (as fake-anthropic writes them). */
    for (int i = N - 1; i >= 0; i--) {
        snprintf(id, sizeof id, "req-%d", i);
        snprintf(val, sizeof val, "{\"i\":%d}", i);
        expect_entry(c, "msgbatch_w", id, val);
    }
    bt_correlation_stats st = stats_of(c);
    assert_int_equal(st.reads, N);
    assert_true(st.read_queries * 10 < N); /* most lookups came from the window */
    uint64_t before = st.read_queries;
    /* In request order too. */
    for (int i = 0; i < N; i++) {
        snprintf(id, sizeof id, "req-%d", i);
        snprintf(val, sizeof val, "{\"i\":%d}", i);
        expect_entry(c, "msgbatch_w", id, val);
    }
    assert_true((stats_of(c).read_queries - before) * 10 < N);
    /* A write to the key makes the window stale: the new value is read. */
    expect_entry(c, "msgbatch_w", "req-5", "{\"i\":5}");
    assert_int_equal(bt__correlation_put(c, "msgbatch_w", "req-6", "{\"i\":\"new\"}", 11), BT_OK);
    expect_entry(c, "msgbatch_w", "req-6", "{\"i\":\"new\"}");
    /* An order with no pattern: still exact answers, and the window shrinks. */
    before = stats_of(c).read_queries;
    for (int k = 0; k < 400; k++) {
        int i = (k * 7919) % N;
        snprintf(id, sizeof id, "req-%d", i);
        if (i == 6)
            continue;
        snprintf(val, sizeof val, "{\"i\":%d}", i);
        expect_entry(c, "msgbatch_w", id, val);
    }
    assert_true(stats_of(c).read_queries - before <= 400);
    bt__correlation_free(c);
    bt_tracer_free(t);
}

static void test_refused_row_does_not_cost_its_neighbours(void **state)
{
    (void)state;
    bt_tracer *t = clock_tracer();
    log_text[0] = '\0';
    struct bt__correlation *c = open_pg(fresh_db("bt_refused"), t);
    /* A custom_id larger than a btree index row can hold, even compressed: PostgreSQL
     * refuses it. */
    size_t n = 12000;
    char *huge_id = malloc(n + 1);
    uint32_t x = 12345;
    for (size_t i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        huge_id[i] = (char)('a' + (x >> 16) % 26);
    }
    huge_id[n] = '\0';
    assert_int_equal(bt__correlation_put(c, "msgbatch_b", "ok-1", "{}", 2), BT_OK);
    assert_int_equal(bt__correlation_put(c, "msgbatch_b", huge_id, "{}", 2), BT_OK); /* queued */
    assert_int_equal(bt__correlation_put(c, "msgbatch_b", "ok-2", "{}", 2), BT_OK);
    assert_int_equal(bt__correlation_sync(c, 20000), BT_OK);
    expect_entry(c, "msgbatch_b", "ok-1", "{}");
    expect_entry(c, "msgbatch_b", "ok-2", "{}");
    bt_correlation_stats st = stats_of(c);
    assert_int_equal(st.writes_dropped, 1);
    assert_true(st.errors >= 1);
    assert_int_equal(st.writes_queued, 0);
    assert_true(st.available);
    assert_non_null(strstr(log_text, "index row"));
    free(huge_id);
    bt__correlation_free(c);
    bt_tracer_free(t);
}

static void test_close_writes_what_is_queued(void **state)
{
    (void)state;
    const char *url = fresh_db("bt_close");
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = open_pg(url, t);
    char id[32];
    for (int i = 0; i < 3000; i++) {
        snprintf(id, sizeof id, "r%d", i);
        assert_int_equal(bt__correlation_put(c, "msgbatch_c", id, "{\"x\":true}", 10), BT_OK);
    }
    bt__correlation_free(c);
    assert_string_equal(query_value("bt_close", "SELECT count(*) FROM bt_batch_requests"), "3000");
    bt_tracer_free(t);
}

/* ---- two replicas, one batch trace ---- */

#define BATCH_ID "msgbatch_01ReplicaSharedStore000"
static const char CREATE_BODY[] =
    "{\"requests\":["
    "{\"custom_id\":\"first\",\"params\":{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,"
    "\"system\":\"Be brief.\",\"messages\":[{\"role\":\"user\",\"content\":\"Capital of France?\"}]}},"
    "{\"custom_id\":\"second\",\"params\":{\"model\":\"claude-sonnet-4-5\",\"max_tokens\":64,\"temperature\":0.5,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"Two plus two?\"}]}},"
    "{\"custom_id\":\"third\",\"params\":{\"model\":\"claude-haiku-4-5\",\"max_tokens\":16,"
    "\"messages\":[{\"role\":\"user\",\"content\":\"Say no.\"}]}}]}";
static const char CREATE_RESPONSE[] =
    "{\"id\":\"" BATCH_ID "\",\"type\":\"message_batch\",\"processing_status\":\"in_progress\","
    "\"request_counts\":{\"processing\":3,\"succeeded\":0,\"errored\":0,\"canceled\":0,\"expired\":0},"
    "\"ended_at\":null,\"created_at\":\"2026-06-22T17:00:00.000000+00:00\","
    "\"expires_at\":\"2026-06-23T17:00:00.000000+00:00\",\"archived_at\":null,\"cancel_initiated_at\":null,"
    "\"results_url\":null}";
static const char ENDED_RESPONSE[] =
    "{\"id\":\"" BATCH_ID "\",\"type\":\"message_batch\",\"processing_status\":\"ended\","
    "\"request_counts\":{\"processing\":0,\"succeeded\":2,\"errored\":1,\"canceled\":0,\"expired\":0},"
    "\"ended_at\":\"2026-06-22T17:05:00.250000+00:00\",\"created_at\":\"2026-06-22T17:00:00.000000+00:00\","
    "\"expires_at\":\"2026-06-23T17:00:00.000000+00:00\",\"archived_at\":null,\"cancel_initiated_at\":null,"
    "\"results_url\":\"https://api.anthropic.com/v1/messages/batches/" BATCH_ID "/results\"}";
static const char RESULTS[] =
    "{\"custom_id\":\"third\",\"result\":{\"type\":\"errored\",\"error\":{\"type\":\"error\",\"error\":"
    "{\"type\":\"invalid_request_error\",\"message\":\"max_tokens too small\"}}}}\n"
    "{\"custom_id\":\"second\",\"result\":{\"type\":\"succeeded\",\"message\":{\"id\":\"msg_2\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":\"4\"}],"
    "\"stop_reason\":\"end_turn\",\"stop_sequence\":null,\"usage\":{\"input_tokens\":12,\"output_tokens\":2}}}}\n"
    "{\"custom_id\":\"first\",\"result\":{\"type\":\"succeeded\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\","
    "\"role\":\"assistant\",\"model\":\"claude-sonnet-4-5-20250929\",\"content\":[{\"type\":\"text\",\"text\":"
    "\"Paris.\"}],\"stop_reason\":\"end_turn\",\"stop_sequence\":null,"
    "\"usage\":{\"input_tokens\":20,\"output_tokens\":3}}}}\n";

static void replica_open(tb_env *e, const char *url)
{
    tb_env_open(e, NULL);
    assert_int_equal(bt_anthropic_set_correlation_wait(e->a, 10000), BT_OK);
    assert_int_equal(bt_anthropic_set_correlation_url(e->a, url), BT_OK);
    assert_int_equal(bt_anthropic_set_lifecycle_spans(e->a, 0), BT_OK); /* the batch trace only */
}

static void read_results(tb_env *e)
{
    tb_call c = {.method = "GET",
                 .target = "/v1/messages/batches/" BATCH_ID "/results",
                 .status = 200,
                 .resp_body = RESULTS,
                 .chunk = 97};
    bt_exchange_info info;
    tb_exchange(e, &c, &info);
}

/* The batch trace's spans as sorted lines, without the resource (per replica). */
static char *batch_trace_lines(tb_env *e)
{
    json_t *spans = tb_spans(e);
    json_t *kept = json_array();
    size_t i;
    json_t *s;
    json_array_foreach(spans, i, s)
    {
        json_object_del(s, "resource");
        json_array_append(kept, s);
    }
    /* Sort by span id: export order is not part of the contract. */
    size_t n = json_array_size(kept);
    char **lines = calloc(n, sizeof *lines);
    for (i = 0; i < n; i++)
        lines[i] = json_dumps(json_array_get(kept, i), JSON_COMPACT | JSON_SORT_KEYS);
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (strcmp(lines[a], lines[b]) > 0) {
                char *x = lines[a];
                lines[a] = lines[b];
                lines[b] = x;
            }
    size_t total = 1;
    for (i = 0; i < n; i++)
        total += strlen(lines[i]) + 1;
    char *out = calloc(1, total);
    for (i = 0; i < n; i++) {
        strcat(out, lines[i]);
        strcat(out, "\n");
        free(lines[i]);
    }
    free(lines);
    json_decref(kept);
    json_decref(spans);
    return out;
}

static void *read_on(void *arg)
{
    read_results(arg);
    return NULL;
}

static void test_two_replicas_produce_the_same_batch_trace(void **state)
{
    (void)state;
    const char *url = fresh_db("bt_same_ids");
    tb_env a, b;
    replica_open(&a, url);
    replica_open(&b, url);
    /* Create and the final retrieve through A. */
    tb_call create = {.method = "POST",
                      .target = "/v1/messages/batches",
                      .req_body = CREATE_BODY,
                      .status = 200,
                      .resp_body = CREATE_RESPONSE};
    bt_exchange_info info;
    tb_exchange(&a, &create, &info);
    tb_call retrieve = {.method = "GET",
                        .target = "/v1/messages/batches/" BATCH_ID,
                        .status = 200,
                        .resp_body = ENDED_RESPONSE};
    tb_exchange(&a, &retrieve, &info);
    bt_correlation_stats st;
    assert_int_equal(bt_anthropic_get_correlation_stats(a.a, &st), BT_OK);
    assert_string_equal(st.backend, "postgresql");
    /* What a load balancer gives: the next request on B, a moment later. */
    for (int i = 0; i < 200; i++) {
        assert_int_equal(bt_anthropic_get_correlation_stats(a.a, &st), BT_OK);
        if (!st.writes_queued)
            break;
        usleep(10 * 1000);
    }
    assert_int_equal(st.writes_queued, 0);
    tb_clear(&a);

    /* One after the other: B, then A. */
    read_results(&b);
    char *via_b = batch_trace_lines(&b);
    read_results(&a);
    char *via_a = batch_trace_lines(&a);
    assert_string_equal(via_a, via_b);
    /* The inputs were joined on B although the create went through A. */
    json_t *spans = tb_spans(&b);
    json_t *first = tb_child(spans, "first");
    json_t *input = tb_attr_json(first, "braintrust.input_json");
    assert_non_null(input);
    char *input_text = json_dumps(input, JSON_COMPACT);
    assert_non_null(strstr(input_text, "Capital of France?"));
    free(input_text);
    json_t *md = tb_attr_json(first, "braintrust.metadata");
    assert_null(json_object_get(md, "input_unavailable"));
    assert_string_equal(tb_str(tb_one(spans, "anthropic.batch"), "startTimeUnixNano"), "1782147600000000000");
    char trace_hex[33], span_hex[17];
    tb_batch_ids(BATCH_ID, trace_hex, span_hex);
    assert_string_equal(tb_str(first, "traceId"), trace_hex);
    json_decref(input);
    json_decref(md);
    json_decref(spans);
    tb_clear(&a);
    tb_clear(&b);

    /* At the same time. */
    pthread_t ta, tb;
    assert_int_equal(pthread_create(&ta, NULL, read_on, &a), 0);
    assert_int_equal(pthread_create(&tb, NULL, read_on, &b), 0);
    pthread_join(ta, NULL);
    pthread_join(tb, NULL);
    char *together_a = batch_trace_lines(&a), *together_b = batch_trace_lines(&b);
    assert_string_equal(together_a, together_b);
    assert_string_equal(together_a, via_a);

    free(via_a);
    free(via_b);
    free(together_a);
    free(together_b);
    tb_env_close(&a);
    tb_env_close(&b);
}

int main(void)
{
    const char *url = getenv("BT_TEST_PG_URL");
    if (!url || !*url) {
        fprintf(stderr, "BT_TEST_PG_URL is not set: run through tests/support/with-postgres.sh\n");
        return 1;
    }
    snprintf(base_url, sizeof base_url, "%s", url);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_contract),
        cmocka_unit_test(test_not_a_postgresql_url),
        cmocka_unit_test(test_schema_created_and_migrated_by_version),
        cmocka_unit_test(test_replicas_starting_together_on_an_empty_database),
        cmocka_unit_test(test_expiry_on_the_tracer_clock),
        cmocka_unit_test(test_two_replicas_share_entries),
        cmocka_unit_test(test_unreachable_database_never_blocks),
        cmocka_unit_test(test_stalled_database_costs_one_bounded_wait),
        cmocka_unit_test(test_read_ahead_window),
        cmocka_unit_test(test_refused_row_does_not_cost_its_neighbours),
        cmocka_unit_test(test_close_writes_what_is_queued),
        cmocka_unit_test(test_two_replicas_produce_the_same_batch_trace),
        cmocka_unit_test(test_restarted_database_reconnects_and_writes_the_queue),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
