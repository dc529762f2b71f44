/*
 * What every batch correlation backend must do (memory, SQLite, PostgreSQL): the same
 * cases, run by test_batch_correlation.c and test_correlation_postgresql.c.
 */
#ifndef BT_TEST_CORRELATION_CONTRACT_H
#define BT_TEST_CORRELATION_CONTRACT_H

#include "anthropic/correlation.h"

static inline void expect_entry(struct bt__correlation *c, const char *key, const char *id, const char *want)
{
    char *got = NULL;
    size_t len = 0;
    int rc = bt__correlation_get(c, key, id, &got, &len);
    if (!want) {
        assert_int_equal(rc, BT_ENOTFOUND);
        assert_null(got);
        return;
    }
    assert_int_equal(rc, BT_OK);
    assert_string_equal(got, want);
    assert_int_equal(len, strlen(want));
    free(got);
}

/* The same operations against either backend. */
static inline void exercise(struct bt__correlation *c)
{
    assert_int_equal(bt__correlation_put(c, "staging:1", "a", "{\"n\":1}", 7), BT_OK);
    assert_int_equal(bt__correlation_put(c, "staging:1", "b", "{\"n\":2}", 7), BT_OK);
    assert_int_equal(bt__correlation_put(c, "staging:2", "a", "{\"n\":3}", 7), BT_OK);
    assert_int_equal(bt__correlation_put(c, "staging:1", "a", "{\"n\":4}", 7), BT_OK); /* replaces */
    expect_entry(c, "staging:1", "a", "{\"n\":4}");
    expect_entry(c, "staging:1", "zzz", NULL);
    /* The create response names the batch: the staged entries move to it. */
    assert_int_equal(bt__correlation_rekey(c, "staging:1", "msgbatch_1"), BT_OK);
    expect_entry(c, "msgbatch_1", "a", "{\"n\":4}");
    expect_entry(c, "msgbatch_1", "b", "{\"n\":2}");
    expect_entry(c, "staging:1", "a", NULL);
    /* A failed create: its staging entries go away, others stay. */
    assert_int_equal(bt__correlation_drop(c, "staging:2"), BT_OK);
    expect_entry(c, "staging:2", "a", NULL);
    expect_entry(c, "msgbatch_1", "a", "{\"n\":4}");

    char *big = calloc(1, BT__CORR_ENTRY_MAX + 2);
    memset(big, 'x', BT__CORR_ENTRY_MAX + 1);
    assert_int_equal(bt__correlation_put(c, "msgbatch_1", "big", big, BT__CORR_ENTRY_MAX + 1), BT_ELIMIT);
    free(big);
    expect_entry(c, "msgbatch_1", "big", NULL);

    char *obj = NULL;
    assert_int_equal(bt__correlation_get_batch(c, "msgbatch_1", &obj), BT_ENOTFOUND);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_1", "{\"id\":\"msgbatch_1\"}", 19), BT_OK);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_1", "{\"id\":\"msgbatch_1\",\"v\":2}", 25),
                     BT_OK);
    assert_int_equal(bt__correlation_get_batch(c, "msgbatch_1", &obj), BT_OK);
    assert_string_equal(obj, "{\"id\":\"msgbatch_1\",\"v\":2}");
    free(obj);
    char huge[BT__CORR_BATCH_OBJECT_MAX + 2];
    memset(huge, ' ', sizeof huge);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_2", huge, sizeof huge), BT_ELIMIT);

    /* An ended view recorded, then an older one arriving late: the ended one stays. */
    static const char ended[] = "{\"id\":\"msgbatch_3\",\"processing_status\":\"ended\"}";
    static const char older[] = "{\"id\":\"msgbatch_3\",\"processing_status\":\"in_progress\"}";
    static const char later[] = "{\"id\":\"msgbatch_3\",\"processing_status\":\"ended\",\"archived\":1}";
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_3", older, strlen(older)), BT_OK);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_3", ended, strlen(ended)), BT_OK);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_3", older, strlen(older)), BT_OK);
    assert_int_equal(bt__correlation_get_batch(c, "msgbatch_3", &obj), BT_OK);
    assert_string_equal(obj, ended);
    free(obj);
    assert_int_equal(bt__correlation_put_batch(c, "msgbatch_3", later, strlen(later)), BT_OK);
    assert_int_equal(bt__correlation_get_batch(c, "msgbatch_3", &obj), BT_OK);
    assert_string_equal(obj, later);
    free(obj);
}

#endif
