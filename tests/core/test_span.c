/* Span attributes (replace, truncation marker, UTF-8 repair, arrays, types), events,
 * links, status, kinds, end time, braintrust.parent and NULL safety. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_harness.h"
#include "util/utf8.h"

typedef struct fixture {
    sink_state st;
    bt_tracer *t;
} fixture;

static uint64_t fake_clock(void *ud)
{
    return *(uint64_t *)ud;
}

static uint64_t clock_now = 1000000000000ull;

static int setup(void **state)
{
    fixture *f = calloc(1, sizeof *f);
    sink_state_init(&f->st);
    bt_tracer_new(&f->t);
    bt_tracer_set_clock(f->t, fake_clock, &clock_now);
    bt_tracer_set_max_attribute_bytes(f->t, 256);
    bt_tracer_add_sink(f->t, test_sink_new(&f->st));
    if (bt__tracer_run(f->t) != BT_OK)
        return -1;
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fixture *f = *state;
    bt_tracer_free(f->t);
    sink_state_destroy(&f->st);
    free(f);
    return 0;
}

static const bt__attr *attr(bt_span *s, const char *key)
{
    return bt__attrs_find(&s->attrs, key);
}

static void test_types_and_replace(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "op", NULL);
    assert_int_equal(bt_span_set_string(s, "k", "one"), BT_OK);
    assert_int_equal(bt_span_set_int(s, "n", -42), BT_OK);
    assert_int_equal(bt_span_set_double(s, "d", 2.5), BT_OK);
    assert_int_equal(bt_span_set_bool(s, "b", 7), BT_OK);
    assert_int_equal(s->attrs.n, 4);
    assert_string_equal(attr(s, "k")->v.s.ptr, "one");
    assert_int_equal(attr(s, "n")->v.i, -42);
    assert_true(attr(s, "d")->v.d == 2.5);
    assert_int_equal(attr(s, "b")->v.b, 1);

    size_t before = s->approx_bytes;
    /* replacing keeps one entry and may change the type */
    assert_int_equal(bt_span_set_string(s, "k", "a much longer replacement value"), BT_OK);
    assert_int_equal(s->attrs.n, 4);
    assert_string_equal(attr(s, "k")->v.s.ptr, "a much longer replacement value");
    assert_int_equal(attr(s, "k")->v.s.len, strlen("a much longer replacement value"));
    assert_true(s->approx_bytes > before);
    size_t after_long = s->approx_bytes;
    assert_int_equal(bt_span_set_int(s, "k", 5), BT_OK);
    assert_int_equal(s->attrs.n, 4);
    assert_int_equal(attr(s, "k")->type, BT__ATTR_INT);
    assert_true(s->approx_bytes < after_long); /* the old value's size was given back */

    /* embedded NULs are kept with the explicit-length setter */
    assert_int_equal(bt_span_set_string_len(s, "bin", "a\0b", 3), BT_OK);
    assert_int_equal(attr(s, "bin")->v.s.len, 3);
    assert_memory_equal(attr(s, "bin")->v.s.ptr, "a\0b", 4);

    assert_int_equal(bt_span_set_string(s, NULL, "x"), BT_EINVAL);
    assert_int_equal(bt_span_set_string(s, "", "x"), BT_EINVAL);
    assert_int_equal(bt_span_set_string(s, "x", NULL), BT_EINVAL);
    bt_span_discard(s);
}

/* A taken string is kept where it lies (no copy) and stored exactly as a copied one;
 * values a copy would repair or cut are stored as the copy would be, and the block is
 * freed on every path (ASan checks the frees). */
static char *block_of(const char *prefix, const char *value)
{
    size_t p = strlen(prefix), v = strlen(value);
    char *b = malloc(p + v + 64); /* room past the value, given back */
    memcpy(b, prefix, p);
    memcpy(b + p, value, v + 1);
    return b;
}

static void test_take_string(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "op", NULL);
    bt_span *c = bt_span_start(f->t, "op", NULL);
    const char *json = "[{\"role\":\"user\",\"content\":\"say \\\"hi\\\"\\n\"}]";
    const char *prefix = "{\"model\":\"m\",\"messages\":";
    size_t off = strlen(prefix);
    assert_int_equal(bt__span_take_string(s, "in", block_of(prefix, json), off, strlen(json)), BT_OK);
    assert_int_equal(bt_span_set_string(c, "in", json), BT_OK);
    const bt__attr *a = attr(s, "in");
    assert_non_null(a->block);
    assert_ptr_equal(a->v.s.ptr, a->block + off); /* the value was not moved */
    assert_int_equal(a->v.s.len, strlen(json));
    assert_string_equal(a->v.s.ptr, json);
    assert_int_equal(s->approx_bytes, c->approx_bytes); /* same size estimate as a copy */

    /* replacing a taken value frees its block and gives its size back */
    assert_int_equal(bt__span_take_string(s, "in", block_of("", "x"), 0, 1), BT_OK);
    assert_int_equal(bt_span_set_string(c, "in", "x"), BT_OK);
    assert_string_equal(attr(s, "in")->v.s.ptr, "x");
    assert_int_equal(s->approx_bytes, c->approx_bytes);

    /* invalid UTF-8 is repaired into a copy, as bt_span_set_string does */
    assert_int_equal(bt__span_take_string(s, "bad",
                                          block_of("ab",
                                                   "x\xff"
                                                   "y"),
                                          2, 3),
                     BT_OK);
    assert_null(attr(s, "bad")->block);
    assert_string_equal(attr(s, "bad")->v.s.ptr, "x\xef\xbf\xbdy");

    /* over the cap (256 here): cut with the marker, like a copy */
    char big[600];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(bt__span_take_string(s, "big", block_of("", big), 0, strlen(big)), BT_ELIMIT);
    assert_int_equal(bt_span_set_string(c, "big", big), BT_ELIMIT);
    assert_string_equal(attr(s, "big")->v.s.ptr, attr(c, "big")->v.s.ptr);

    /* refused or invalid: the block is freed all the same */
    assert_int_equal(bt__span_take_string(NULL, "k", block_of("", "v"), 0, 1), BT_EINVAL);
    assert_int_equal(bt__span_take_string(s, "", block_of("", "v"), 0, 1), BT_EINVAL);
    bt_span_end(s, 0);
    bt_span_end(c, 0);
}

static void test_truncation_marker(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "op", NULL);
    char big[1000];
    memset(big, 'x', sizeof big);
    assert_int_equal(bt_span_set_string_len(s, "big", big, sizeof big), BT_ELIMIT);
    const bt__attr *a = attr(s, "big");
    assert_true(a->v.s.len <= 256);
    assert_int_equal(strlen(a->v.s.ptr), a->v.s.len);
    const char *m = strstr(a->v.s.ptr, "...[truncated ");
    assert_non_null(m);
    size_t kept = (size_t)(m - a->v.s.ptr);
    char expect[64];
    snprintf(expect, sizeof expect, "...[truncated %zu bytes]", sizeof big - kept);
    assert_string_equal(m, expect);
    assert_true(kept > 200);

    /* the cut never splits a character: 2-byte characters throughout */
    char wide[1000];
    for (size_t i = 0; i < sizeof wide; i += 2) {
        wide[i] = (char)0xc3;
        wide[i + 1] = (char)0xa9;
    }
    assert_int_equal(bt_span_set_string_len(s, "wide", wide, sizeof wide), BT_ELIMIT);
    a = attr(s, "wide");
    assert_true(bt__utf8_valid(a->v.s.ptr, a->v.s.len));
    m = strstr(a->v.s.ptr, "...[truncated ");
    assert_non_null(m);
    assert_int_equal((m - a->v.s.ptr) % 2, 0);
    /* exactly at the cap: untouched */
    assert_int_equal(bt_span_set_string_len(s, "edge", big, 256), BT_OK);
    assert_int_equal(attr(s, "edge")->v.s.len, 256);
    /* the span name obeys the cap too */
    char name[600];
    memset(name, 'n', sizeof name - 1);
    name[sizeof name - 1] = '\0';
    bt_span *s2 = bt_span_start(f->t, name, NULL);
    assert_true(strlen(s2->name) <= 256);
    assert_non_null(strstr(s2->name, "...[truncated "));
    bt_span_discard(s2);
    bt_span_discard(s);
}

static void test_utf8_repair(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "bad\xff name", NULL);
    assert_string_equal(s->name, "bad\xef\xbf\xbd name");
    assert_int_equal(bt_span_set_string(s, "v", "ok \xc3\xa9 \xc3 \xed\xa0\x80 end"), BT_OK);
    const bt__attr *a = attr(s, "v");
    assert_true(bt__utf8_valid(a->v.s.ptr, a->v.s.len));
    /* one U+FFFD per invalid byte; valid characters untouched */
    assert_string_equal(a->v.s.ptr, "ok \xc3\xa9 \xef\xbf\xbd \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd end");
    assert_int_equal(bt_span_set_string(s, "key\xfe", "v"), BT_OK);
    assert_non_null(attr(s, "key\xef\xbf\xbd"));
    /* invalid bytes that grow past the cap are still cut cleanly */
    char junk[300];
    memset(junk, 0xff, sizeof junk);
    assert_int_equal(bt_span_set_string_len(s, "junk", junk, sizeof junk), BT_ELIMIT);
    a = attr(s, "junk");
    assert_true(a->v.s.len <= 256);
    assert_true(bt__utf8_valid(a->v.s.ptr, a->v.s.len));
    assert_non_null(strstr(a->v.s.ptr, "...[truncated "));
    bt_span_discard(s);
}

static void test_arrays(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "op", NULL);
    const char *vals[] = {"end_turn", "bad\xff", ""};
    assert_int_equal(bt_span_set_string_array(s, "reasons", vals, 3), BT_OK);
    const bt__attr *a = attr(s, "reasons");
    assert_int_equal(a->type, BT__ATTR_STRING_ARRAY);
    assert_int_equal(a->v.arr.n, 3);
    assert_string_equal(a->v.arr.items[0], "end_turn");
    assert_string_equal(a->v.arr.items[1], "bad\xef\xbf\xbd");
    assert_int_equal(a->v.arr.lens[1], 6);
    assert_string_equal(a->v.arr.items[2], "");
    assert_int_equal(bt_span_set_string_array(s, "empty", NULL, 0), BT_OK);
    assert_int_equal(attr(s, "empty")->v.arr.n, 0);
    /* the array shares the cap */
    char big[200];
    memset(big, 'q', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    const char *bigs[] = {big, big, big};
    assert_int_equal(bt_span_set_string_array(s, "reasons", bigs, 3), BT_ELIMIT);
    a = attr(s, "reasons");
    assert_int_equal(a->v.arr.n, 3);
    assert_int_equal(a->v.arr.lens[0], 199);
    assert_non_null(strstr(a->v.arr.items[1], "...[truncated "));
    assert_int_equal(bt_span_set_string_array(s, "x", NULL, 2), BT_EINVAL);
    bt_span_discard(s);
}

static void test_events_links_status(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "op", NULL);
    bt_kv kv[] = {{"a", "1"}, {"b", "2\xff"}};
    size_t before = s->approx_bytes;
    for (int i = 0; i < 10; i++)
        assert_int_equal(bt_span_add_event(s, "tick", i ? 5000 + (uint64_t)i : 0, kv, 2), BT_OK);
    assert_int_equal(s->n_events, 10);
    assert_int_equal(s->events[0].time_unix_nano, clock_now);
    assert_int_equal(s->events[3].time_unix_nano, 5003);
    assert_string_equal(bt__attrs_find(&s->events[9].attrs, "b")->v.s.ptr, "2\xef\xbf\xbd");
    assert_true(s->approx_bytes > before);
    assert_int_equal(bt_span_add_event(s, NULL, 0, NULL, 0), BT_EINVAL);
    assert_int_equal(bt_span_add_event(s, "x", 0, NULL, 1), BT_EINVAL);

    bt_span_context other;
    assert_int_equal(bt_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                                          "vendor=value", &other),
                     BT_OK);
    assert_int_equal(bt_span_add_link(s, &other, kv, 1), BT_OK);
    assert_int_equal(s->n_links, 1);
    assert_memory_equal(s->links[0].trace_id, other.trace_id, 16);
    assert_memory_equal(s->links[0].span_id, other.span_id, 8);
    assert_string_equal(s->links[0].tracestate, "vendor=value");
    assert_string_equal(bt__attrs_find(&s->links[0].attrs, "a")->v.s.ptr, "1");
    bt_span_context zero;
    memset(&zero, 0, sizeof zero);
    assert_int_equal(bt_span_add_link(s, &zero, NULL, 0), BT_EINVAL);
    assert_int_equal(s->n_links, 1);

    assert_int_equal(bt_span_set_status(s, BT_STATUS_ERROR, "overloaded"), BT_OK);
    assert_int_equal(s->status_code, BT_STATUS_ERROR);
    assert_string_equal(s->status_message, "overloaded");
    /* the message is kept for ERROR only */
    assert_int_equal(bt_span_set_status(s, BT_STATUS_OK, "ignored"), BT_OK);
    assert_int_equal(s->status_code, BT_STATUS_OK);
    assert_null(s->status_message);
    assert_int_equal(bt_span_set_status(s, (bt_status_code)7, NULL), BT_EINVAL);
    bt_span_discard(s);
}

static void test_kind_times_and_context(void **state)
{
    fixture *f = *state;
    bt_span_options o = {0};
    o.kind = BT_SPAN_KIND_CLIENT;
    o.start_unix_nano = 5000;
    bt_span *s = bt_span_start(f->t, "op", &o);
    assert_int_equal(s->kind, BT_SPAN_KIND_CLIENT);
    assert_int_equal(s->start_unix_nano, 5000);
    o.kind = (bt_span_kind)99;
    o.start_unix_nano = 0;
    bt_span *d = bt_span_start(f->t, "default", &o);
    assert_int_equal(d->kind, BT_SPAN_KIND_INTERNAL);
    assert_int_equal(d->start_unix_nano, clock_now);

    bt_span_context parent;
    bt_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00", "k=v", &parent);
    o.parent = &parent;
    bt_span *c = bt_span_start(f->t, "child", &o);
    bt_span_context got;
    assert_int_equal(bt_span_get_context(c, &got), BT_OK);
    assert_memory_equal(got.trace_id, parent.trace_id, 16);
    assert_int_equal(got.trace_flags, 0); /* flags are inherited */
    assert_string_equal(got.tracestate, "k=v");
    assert_int_equal(bt_span_get_context(NULL, &got), BT_EINVAL);

    bt_span_discard(d);
    bt_span_discard(c);
    /* an end before the start is clamped to the start */
    bt_span_end(s, 10);
    assert_int_equal(bt_tracer_flush(f->t, 5000), BT_OK);
    assert_int_equal(f->st.spans, 1);
    assert_int_equal(f->st.rec[0].start, 5000);
    assert_int_equal(f->st.rec[0].end, 5000);
    assert_string_equal(f->st.rec[0].parent, ""); /* no parent configured */
}

static void test_end_uses_clock_and_adds_parent(void **state)
{
    (void)state;
    sink_state st;
    sink_state_init(&st);
    bt_tracer *t;
    bt_tracer_new(&t);
    uint64_t now = 7000;
    bt_tracer_set_clock(t, fake_clock, &now);
    assert_int_equal(bt_tracer_set_parent(t, "project_name:demo"), BT_OK);
    bt_tracer_add_sink(t, test_sink_new(&st));
    assert_int_equal(bt__tracer_run(t), BT_OK);
    assert_int_equal(bt_tracer_now(t), 7000);
    bt_span *s = bt_span_start(t, "a", NULL);
    now = 9000;
    bt_span *own = bt_span_start(t, "b", NULL);
    bt_span_set_string(own, "braintrust.parent", "experiment_id:e1");
    now = 12000;
    bt_span_end(s, 0);
    bt_span_end(own, 0);
    assert_int_equal(bt_tracer_flush(t, 5000), BT_OK);
    assert_int_equal(st.spans, 2);
    assert_string_equal(st.rec[0].name, "a");
    assert_int_equal(st.rec[0].start, 7000);
    assert_int_equal(st.rec[0].end, 12000);
    assert_string_equal(st.rec[0].parent, "project_name:demo");
    /* a span that names its own parent keeps it */
    assert_string_equal(st.rec[1].parent, "experiment_id:e1");
    assert_int_equal(st.rec[1].start, 9000);
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_size_estimate_tracks_encoded_size(void **state)
{
    fixture *f = *state;
    bt_span *s = bt_span_start(f->t, "op", NULL);
    size_t base = s->approx_bytes;
    assert_true(base > 100); /* ids, times and the envelope are not free */
    char plain[200], ctl[200];
    memset(plain, 'p', sizeof plain);
    memset(ctl, 0x01, sizeof ctl);
    bt_span_set_string_len(s, "a", plain, sizeof plain);
    size_t with_plain = s->approx_bytes;
    assert_true(with_plain >= base + 200);
    /* control characters become \u00XX in JSON: six bytes each */
    bt_span_set_string_len(s, "a", ctl, sizeof ctl);
    assert_true(s->approx_bytes >= base + 6 * 200);
    /* replacing gives the old size back; removing events is not possible, adding grows */
    bt_span_set_string_len(s, "a", plain, sizeof plain);
    assert_int_equal(s->approx_bytes, with_plain);
    bt_kv kv[] = {{"k", "v"}};
    bt_span_add_event(s, "e", 0, kv, 1);
    assert_true(s->approx_bytes > with_plain);
    bt_span_discard(s);
}

static void test_count_caps(void **state)
{
    (void)state;
    sink_state st;
    log_capture lc;
    sink_state_init(&st);
    log_capture_init(&lc);
    bt_tracer *t;
    bt_tracer_new(&t);
    bt_tracer_set_logger(t, capture_log, &lc);
    bt_tracer_set_parent(t, "project_id:p1");
    bt_tracer_add_sink(t, test_sink_new(&st));
    assert_int_equal(bt__tracer_run(t), BT_OK);

    bt_span *s = bt_span_start(t, "capped", NULL);
    char key[32];
    for (int i = 0; i < 200; i++) {
        snprintf(key, sizeof key, "k%d", i);
        assert_int_equal(bt_span_set_int(s, key, i), i < 128 ? BT_OK : BT_ELIMIT);
    }
    assert_int_equal(s->attrs.n, 128);
    assert_int_equal(s->dropped_attributes, 72);
    assert_int_equal(bt_span_set_string(s, "k5", "replaced"), BT_OK); /* replacing is fine */
    assert_string_equal(bt__attrs_find(&s->attrs, "k5")->v.s.ptr, "replaced");
    for (int i = 0; i < 130; i++)
        assert_int_equal(bt_span_add_event(s, "e", 0, NULL, 0), i < 128 ? BT_OK : BT_ELIMIT);
    assert_int_equal(s->n_events, 128);
    assert_int_equal(s->dropped_events, 2);
    bt_span_context other;
    bt_traceparent_parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", NULL, &other);
    for (int i = 0; i < 129; i++)
        bt_span_add_link(s, &other, NULL, 0);
    assert_int_equal(s->n_links, 128);
    assert_int_equal(s->dropped_links, 1);
    bt_span_end(s, 0);
    assert_int_equal(bt_tracer_flush(t, 10000), BT_OK);
    /* the routing attribute is added even to a full span */
    assert_string_equal(st.rec[0].parent, "project_id:p1");
    assert_non_null(strstr(lc.text, "exceeded its caps: 72 attribute(s), 2 event(s), 1 link(s) dropped"));
    bt_tracer_free(t);
    sink_state_destroy(&st);
}

static void test_null_safety(void **state)
{
    (void)state;
    assert_null(bt_span_start(NULL, "x", NULL));
    assert_int_equal(bt_span_set_string(NULL, "k", "v"), BT_EINVAL);
    assert_int_equal(bt_span_set_string_len(NULL, "k", "v", 1), BT_EINVAL);
    assert_int_equal(bt_span_set_int(NULL, "k", 1), BT_EINVAL);
    assert_int_equal(bt_span_set_double(NULL, "k", 1), BT_EINVAL);
    assert_int_equal(bt_span_set_bool(NULL, "k", 1), BT_EINVAL);
    assert_int_equal(bt_span_set_string_array(NULL, "k", NULL, 0), BT_EINVAL);
    assert_int_equal(bt_span_set_status(NULL, BT_STATUS_OK, NULL), BT_EINVAL);
    assert_int_equal(bt_span_add_event(NULL, "e", 0, NULL, 0), BT_EINVAL);
    assert_int_equal(bt_span_add_link(NULL, NULL, NULL, 0), BT_EINVAL);
    bt_span_end(NULL, 0);
    bt_span_discard(NULL);
    /* a tracer that was not started, or is disabled, hands out NULL spans */
    bt_tracer *t;
    bt_tracer_new(&t);
    assert_null(bt_span_start(t, "x", NULL));
    assert_int_equal(bt_tracer_flush(t, 10), BT_ESTATE);
    bt_tracer_set_disabled(t, 1);
    assert_int_equal(bt__tracer_run(t), BT_EDISABLED);
    assert_null(bt_span_start(t, "x", NULL));
    assert_int_equal(bt_tracer_flush(t, 10), BT_EDISABLED);
    assert_false(bt_tracer_is_enabled(t));
    bt_tracer_free(t);
    bt_tracer_free(NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_types_and_replace, setup, teardown),
        cmocka_unit_test_setup_teardown(test_take_string, setup, teardown),
        cmocka_unit_test_setup_teardown(test_truncation_marker, setup, teardown),
        cmocka_unit_test_setup_teardown(test_utf8_repair, setup, teardown),
        cmocka_unit_test_setup_teardown(test_arrays, setup, teardown),
        cmocka_unit_test_setup_teardown(test_events_links_status, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kind_times_and_context, setup, teardown),
        cmocka_unit_test_setup_teardown(test_size_estimate_tracks_encoded_size, setup, teardown),
        cmocka_unit_test(test_end_uses_clock_and_adds_parent),
        cmocka_unit_test(test_count_caps),
        cmocka_unit_test(test_null_safety),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
