/*
 * The conformance suite: the tests that replay third-party recordings from
 * ../shared/fixtures (the shared/ folder beside the checkout). They run whenever the
 * recordings are there, as on developer machines and in CI; in a plain clone, where
 * they are not, each reports itself skipped in one line and exits with BT_TEST_SKIP,
 * which ctest shows as "Skipped" (tests/CMakeLists.txt sets SKIP_RETURN_CODE 77 on
 * every test). Everything else must pass without the recordings.
 *
 * Use, in a C test program:
 *   - every case needs the recordings: call bt_test_require_fixtures(__FILE__) first
 *     thing in main(), before anything is allocated (so an early exit leaks nothing);
 *   - some cases do: keep them in a second array and end main() with
 *         return BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance);
 *     tests/CMakeLists.txt registers such a program twice: <layer>.<name> runs `tests`,
 *     <layer>.<name>.conformance runs `conformance` (and is skipped without them).
 * Shell tests: `. "$BT_SOURCE_DIR/tests/support/conformance.sh"; bt_require_fixtures`.
 * Node tests: `import { requireFixtures } from '../support/conformance.mjs';
 * requireFixtures(import.meta.url);`.
 */
#ifndef BT_TEST_CONFORMANCE_H
#define BT_TEST_CONFORMANCE_H

#define BT_TEST_SKIP 77

/* 1 when ../shared/fixtures is there. */
int bt_test_fixtures_present(void);

/* Returns when the recordings are there; otherwise prints one line naming `test` and
 * where the recordings were looked for, and exits with BT_TEST_SKIP. */
void bt_test_require_fixtures(const char *test);

/* 1 when the program was started with --conformance. */
int bt_test_conformance_requested(int argc, char **argv);

#define BT_TEST_RUN_WITH_CONFORMANCE(argc, argv, tests, conformance)             \
    (bt_test_conformance_requested(argc, argv)                                   \
         ? (bt_test_require_fixtures(__FILE__),                                  \
            cmocka_run_group_tests_name("conformance", conformance, NULL, NULL)) \
         : cmocka_run_group_tests(tests, NULL, NULL))

#endif
