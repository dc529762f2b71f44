/* Running the conformance suite when the recordings are there, skipping it otherwise. */
#include "conformance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int bt_test_fixtures_present(void)
{
    struct stat st;
    return stat(BT_SHARED_DIR "/fixtures", &st) == 0 && S_ISDIR(st.st_mode);
}

void bt_test_require_fixtures(const char *test)
{
    if (bt_test_fixtures_present())
        return;
    const char *name = test ? strrchr(test, '/') : NULL;
    name = name ? name + 1 : test ? test : "test";
    printf("SKIPPED %s: conformance test, needs the recorded traffic in %s/fixtures "
           "(the shared/ folder beside the checkout; CI has it)\n",
           name, BT_SHARED_DIR);
    fflush(stdout);
    exit(BT_TEST_SKIP);
}

int bt_test_conformance_requested(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--conformance") == 0)
            return 1;
    return 0;
}
