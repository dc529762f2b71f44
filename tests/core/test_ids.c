/* Random ids (non-zero, unique, distinct per span) and derived ids (deterministic,
 * namespaced, never zero). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core_harness.h"
#include "core/tracer_impl.h"
#include "util/sha256.h"

static int cmp16(const void *a, const void *b)
{
    return memcmp(a, b, 16);
}

static int is_zero(const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (p[i])
            return 0;
    return 1;
}

static void test_random_ids_are_unique_and_nonzero(void **state)
{
    (void)state;
    sink_state st;
    sink_state_init(&st);
    bt_tracer *t = running_tracer(&st, NULL);
    assert_non_null(t);
    enum { N = 20000 };
    uint8_t(*tids)[16] = calloc(N, 16);
    uint8_t(*sids)[16] = calloc(N, 16); /* span ids padded to 16 for one comparator */
    for (int i = 0; i < N; i++) {
        bt_span *s = bt_span_start(t, "x", NULL);
        assert_non_null(s);
        bt_span_context c;
        assert_int_equal(bt_span_get_context(s, &c), BT_OK);
        assert_false(is_zero(c.trace_id, 16));
        assert_false(is_zero(c.span_id, 8));
        assert_int_equal(c.trace_flags & 1, 1);
        memcpy(tids[i], c.trace_id, 16);
        memcpy(sids[i], c.span_id, 8);
        bt_span_discard(s);
    }
    qsort(tids, N, 16, cmp16);
    qsort(sids, N, 16, cmp16);
    for (int i = 1; i < N; i++) {
        assert_memory_not_equal(tids[i - 1], tids[i], 16);
        assert_memory_not_equal(sids[i - 1], sids[i], 8);
    }
    /* bytes look random: every byte value shows up across the trace ids */
    int seen[256] = {0};
    for (int i = 0; i < N; i++)
        for (int j = 0; j < 16; j++)
            seen[tids[i][j]] = 1;
    for (int v = 0; v < 256; v++)
        assert_true(seen[v]);
    free(tids);
    free(sids);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_child_spans_share_trace(void **state)
{
    (void)state;
    sink_state st;
    sink_state_init(&st);
    bt_tracer *t = running_tracer(&st, NULL);
    bt_span *root = bt_span_start(t, "root", NULL);
    bt_span_context rc;
    bt_span_get_context(root, &rc);
    bt_span_options o = {0};
    o.parent = &rc;
    bt_span *child = bt_span_start(t, "child", &o);
    assert_memory_equal(child->trace_id, root->trace_id, 16);
    assert_memory_equal(child->parent_span_id, root->span_id, 8);
    assert_true(child->has_parent);
    assert_memory_not_equal(child->span_id, root->span_id, 8);
    assert_false(root->has_parent);
    /* explicit ids win over the parent's and over random ones */
    uint8_t tid[16], sid[8];
    memset(tid, 0xab, 16);
    memset(sid, 0xcd, 8);
    o.trace_id = tid;
    o.span_id = sid;
    bt_span *fixed = bt_span_start(t, "fixed", &o);
    assert_memory_equal(fixed->trace_id, tid, 16);
    assert_memory_equal(fixed->span_id, sid, 8);
    /* an all-zero explicit id is invalid and replaced */
    uint8_t zero[16] = {0};
    o.parent = NULL;
    o.trace_id = zero;
    o.span_id = zero;
    bt_span *z = bt_span_start(t, "z", &o);
    assert_false(is_zero(z->trace_id, 16));
    assert_false(is_zero(z->span_id, 8));
    bt_span_discard(root);
    bt_span_discard(child);
    bt_span_discard(fixed);
    bt_span_discard(z);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_fork_child_gets_fresh_ids(void **state)
{
    (void)state;
    sink_state st;
    sink_state_init(&st);
    bt_tracer *t = running_tracer(&st, NULL);
    bt_span *warm = bt_span_start(t, "warm", NULL); /* fills this thread's pool */
    bt_span_discard(warm);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    uint8_t mine[16];
    if (pid == 0) {
        /* the child cannot use the tracer (its thread is not forked); draw ids directly */
        uint8_t id[16];
        bt__random_bytes(id, 16);
        ssize_t w = write(fds[1], id, 16);
        _exit(w == 16 ? 0 : 1);
    }
    bt__random_bytes(mine, 16);
    uint8_t theirs[16];
    assert_int_equal(read(fds[0], theirs, 16), 16);
    int status;
    waitpid(pid, &status, 0);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_memory_not_equal(mine, theirs, 16);
    close(fds[0]);
    close(fds[1]);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_derive_is_deterministic_and_namespaced(void **state)
{
    (void)state;
    uint8_t a[16], b[16], c[16], d[8], e[32];
    bt_derive_id("batch.trace", "msgbatch_01", 11, a, 16);
    bt_derive_id("batch.trace", "msgbatch_01", 11, b, 16);
    assert_memory_equal(a, b, 16);
    bt_derive_id("batch.span", "msgbatch_01", 11, c, 16);
    assert_memory_not_equal(a, c, 16);
    bt_derive_id("batch.trace", "msgbatch_02", 11, c, 16);
    assert_memory_not_equal(a, c, 16);
    /* the 0x00 separator keeps ("ab","c") and ("a","bc") apart */
    bt_derive_id("ab", "c", 1, b, 16);
    bt_derive_id("a", "bc", 2, c, 16);
    assert_memory_not_equal(b, c, 16);
    /* it is exactly the leading bytes of SHA-256(namespace || 0x00 || key) */
    bt__sha256 h;
    uint8_t full[32];
    bt__sha256_init(&h);
    bt__sha256_update(&h, "ns\0key", 6);
    bt__sha256_final(&h, full);
    bt_derive_id("ns", "key", 3, d, 8);
    assert_memory_equal(d, full, 8);
    bt_derive_id("ns", "key", 3, e, 40); /* capped at 32 */
    assert_memory_equal(e, full, 32);
    /* binary keys with NULs are hashed whole */
    bt_derive_id("ns", "k\0x", 3, a, 16);
    bt_derive_id("ns", "k\0y", 3, b, 16);
    assert_memory_not_equal(a, b, 16);
}

static void test_derive_never_zero(void **state)
{
    (void)state;
    /* A one-byte id is zero for 1/256 of keys: those must be mapped away from zero. */
    int zeros = 0;
    for (int i = 0; i < 4096; i++) {
        uint8_t id[1];
        char key[16];
        int n = snprintf(key, sizeof key, "k%d", i);
        bt_derive_id("ns", key, (size_t)n, id, 1);
        zeros += id[0] == 0;
    }
    assert_int_equal(zeros, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_random_ids_are_unique_and_nonzero),
        cmocka_unit_test(test_child_spans_share_trace),
        cmocka_unit_test(test_fork_child_gets_fresh_ids),
        cmocka_unit_test(test_derive_is_deterministic_and_namespaced),
        cmocka_unit_test(test_derive_never_zero),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
