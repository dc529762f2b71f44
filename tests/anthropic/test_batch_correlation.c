/* The batch correlation store: both backends, restart, expiry, bounds, threads. */
#include "test_batch_helpers.h"

#include <pthread.h>
#include <sqlite3.h>

#include "anthropic/correlation.h"
#include "correlation_contract.h"

static bt_tracer *clock_tracer(void)
{
    bt_tracer *t;
    assert_int_equal(bt_tracer_new(&t), BT_OK);
    assert_int_equal(bt_tracer_set_clock(t, tb_clock, NULL), BT_OK);
    return t;
}

static void test_memory_backend(void **state)
{
    (void)state;
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = bt__correlation_new(NULL, t);
    assert_non_null(c);
    exercise(c);
    bt__correlation_free(c);
    bt_tracer_free(t);
}

static void test_sqlite_backend_survives_restart(void **state)
{
    (void)state;
    const char *path = tb_tmp_path("corr.db");
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = bt__correlation_new(path, t);
    assert_non_null(c);
    exercise(c);
    /* Writes still in an open transaction are committed on close. */
    for (int i = 0; i < 1500; i++) {
        char id[16];
        snprintf(id, sizeof id, "r%d", i);
        assert_int_equal(bt__correlation_put(c, "msgbatch_many", id, "{}", 2), BT_OK);
    }
    bt__correlation_free(c);

    c = bt__correlation_new(path, t);
    assert_non_null(c);
    expect_entry(c, "msgbatch_1", "a", "{\"n\":4}");
    expect_entry(c, "msgbatch_many", "r1499", "{}");
    char *obj = NULL;
    assert_int_equal(bt__correlation_get_batch(c, "msgbatch_1", &obj), BT_OK);
    free(obj);
    bt__correlation_free(c);

    /* WAL mode, so a results reader never blocks the process tracing creates. */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *st;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(st), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(st, 0), "wal");
    sqlite3_finalize(st);
    sqlite3_close(db);
    bt_tracer_free(t);
}

static void test_expiry_after_29_days(void **state)
{
    (void)state;
    const char *paths[2] = {NULL, tb_tmp_path("expiry.db")};
    for (int i = 0; i < 2; i++) {
        tb_clock_now = TB_T0;
        bt_tracer *t = clock_tracer();
        struct bt__correlation *c = bt__correlation_new(paths[i], t);
        assert_non_null(c);
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
        assert_int_equal(bt__correlation_purge(c), 2); /* the old entry and batch object */
        expect_entry(c, "msgbatch_new", "b", "{}");
        bt__correlation_free(c);
        bt_tracer_free(t);
    }
    tb_clock_now = TB_T0;
}

static void test_memory_budget(void **state)
{
    (void)state;
    struct bt__correlation *c = bt__correlation_new(NULL, NULL);
    size_t n = BT__CORR_ENTRY_MAX;
    char *entry = malloc(n);
    memset(entry, 'e', n);
    size_t fit = BT__CORR_MEM_TOTAL_MAX / n;
    char id[16];
    for (size_t i = 0; i < fit; i++) {
        snprintf(id, sizeof id, "a%zu", i);
        assert_int_equal(bt__correlation_put(c, "msgbatch_a", id, entry, n), BT_OK);
    }
    /* The same batch cannot push out its own requests: refused. */
    assert_int_equal(bt__correlation_put(c, "msgbatch_a", "over", entry, n), BT_ELIMIT);
    /* Another batch evicts the oldest entries of the first one. */
    assert_int_equal(bt__correlation_put(c, "msgbatch_b", "b0", entry, n), BT_OK);
    assert_int_equal(bt__correlation_put(c, "msgbatch_b", "b1", entry, n), BT_OK);
    char *got = NULL;
    assert_int_equal(bt__correlation_get(c, "msgbatch_a", "a0", &got, NULL), BT_ENOTFOUND);
    assert_int_equal(bt__correlation_get(c, "msgbatch_a", "a1", &got, NULL), BT_ENOTFOUND);
    assert_int_equal(bt__correlation_get(c, "msgbatch_a", "a2", &got, NULL), BT_OK);
    free(got);
    free(entry);
    bt__correlation_free(c);

    /* The batch-object cache keeps the most recently seen BT__CORR_BATCHES_MAX. */
    bt_tracer *t = clock_tracer();
    c = bt__correlation_new(NULL, t);
    for (int i = 0; i < BT__CORR_BATCHES_MAX + 5; i++) {
        tb_clock_now = TB_T0 + (uint64_t)i;
        snprintf(id, sizeof id, "b%d", i);
        assert_int_equal(bt__correlation_put_batch(c, id, "{}", 2), BT_OK);
    }
    assert_int_equal(bt__correlation_get_batch(c, "b0", &got), BT_ENOTFOUND);
    assert_int_equal(bt__correlation_get_batch(c, "b4", &got), BT_ENOTFOUND);
    assert_int_equal(bt__correlation_get_batch(c, "b5", &got), BT_OK);
    free(got);
    bt__correlation_free(c);
    bt_tracer_free(t);
    tb_clock_now = TB_T0;
}

static void test_sqlite_batch_cache_bounded(void **state)
{
    (void)state;
    bt_tracer *t = clock_tracer();
    struct bt__correlation *c = bt__correlation_new(tb_tmp_path("cache.db"), t);
    char id[16], *got = NULL;
    for (int i = 0; i < BT__CORR_BATCHES_MAX + 3; i++) {
        tb_clock_now = TB_T0 + (uint64_t)i;
        snprintf(id, sizeof id, "b%d", i);
        assert_int_equal(bt__correlation_put_batch(c, id, "{}", 2), BT_OK);
    }
    assert_int_equal(bt__correlation_get_batch(c, "b2", &got), BT_ENOTFOUND);
    assert_int_equal(bt__correlation_get_batch(c, "b3", &got), BT_OK);
    free(got);
    bt__correlation_free(c);
    bt_tracer_free(t);
    tb_clock_now = TB_T0;
}

typedef struct worker {
    struct bt__correlation *c;
    int id;
    int failures;
} worker;

static void *work(void *arg)
{
    worker *w = arg;
    char key[32], cid[32], val[64];
    snprintf(key, sizeof key, "staging:%d", w->id);
    for (int i = 0; i < 300; i++) {
        snprintf(cid, sizeof cid, "r%d", i);
        int n = snprintf(val, sizeof val, "{\"w\":%d,\"i\":%d}", w->id, i);
        if (bt__correlation_put(w->c, key, cid, val, (size_t)n) != BT_OK)
            w->failures++;
        char *got = NULL;
        if (bt__correlation_get(w->c, key, cid, &got, NULL) != BT_OK || strcmp(got, val) != 0)
            w->failures++;
        free(got);
    }
    char batch[32];
    snprintf(batch, sizeof batch, "msgbatch_%d", w->id);
    if (bt__correlation_rekey(w->c, key, batch) != BT_OK)
        w->failures++;
    return NULL;
}

static void test_threads(void **state)
{
    (void)state;
    const char *paths[2] = {NULL, tb_tmp_path("threads.db")};
    for (int p = 0; p < 2; p++) {
        struct bt__correlation *c = bt__correlation_new(paths[p], NULL);
        assert_non_null(c);
        pthread_t th[4];
        worker w[4];
        for (int i = 0; i < 4; i++) {
            w[i] = (worker){.c = c, .id = i};
            assert_int_equal(pthread_create(&th[i], NULL, work, &w[i]), 0);
        }
        for (int i = 0; i < 4; i++) {
            pthread_join(th[i], NULL);
            assert_int_equal(w[i].failures, 0);
        }
        expect_entry(c, "msgbatch_3", "r299", "{\"w\":3,\"i\":299}");
        expect_entry(c, "msgbatch_0", "r0", "{\"w\":0,\"i\":0}");
        bt__correlation_free(c);
    }
}

static void test_unopenable_path(void **state)
{
    (void)state;
    assert_null(bt__correlation_new("/nonexistent-dir/for/sure/corr.db", NULL));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_backend),
        cmocka_unit_test(test_sqlite_backend_survives_restart),
        cmocka_unit_test(test_expiry_after_29_days),
        cmocka_unit_test(test_memory_budget),
        cmocka_unit_test(test_sqlite_batch_cache_bounded),
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_unopenable_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
