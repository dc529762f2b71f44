/* Locating and reading the recorded traffic under ../shared/fixtures. */
#include <dirent.h>
#include <stdarg.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "cassette.h"

const char *bt_test_fixture_path(const char *relative)
{
    static char path[4096];
    struct stat st;
    if (stat(BT_SHARED_DIR "/fixtures", &st) != 0) {
        fail_msg("the recorded fixtures are missing: expected them in %s/fixtures "
                 "(the shared/ folder beside the checkout)",
                 BT_SHARED_DIR);
    }
    snprintf(path, sizeof path, "%s/fixtures/%s", BT_SHARED_DIR, relative);
    return path;
}

char *bt_test_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    if (fseek(f, 0, SEEK_END) != 0) {
        fclose(f);
        return NULL;
    }
    long n = ftell(f);
    rewind(f);
    char *buf = n >= 0 ? malloc((size_t)n + 1) : NULL;
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return NULL;
    }
    fclose(f);
    buf[n] = '\0';
    if (len)
        *len = (size_t)n;
    return buf;
}

static int has_suffix(const char *s, const char *const *suffixes)
{
    size_t n = strlen(s);
    for (; *suffixes; suffixes++) {
        size_t k = strlen(*suffixes);
        if (n >= k && strcmp(s + n - k, *suffixes) == 0)
            return 1;
    }
    return 0;
}

static void walk(const char *dir, const char *const *suffixes, char ***list, size_t *n, size_t *cap)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode)) {
            walk(path, suffixes, list, n, cap);
        } else if (has_suffix(e->d_name, suffixes)) {
            if (*n + 2 > *cap) {
                *cap = *cap ? *cap * 2 : 32;
                *list = realloc(*list, *cap * sizeof **list);
            }
            (*list)[(*n)++] = strdup(path);
            (*list)[*n] = NULL;
        }
    }
    closedir(d);
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **bt_test_list_fixtures(const char *dir, const char *const *suffixes)
{
    char **list = NULL;
    size_t n = 0, cap = 0;
    char root[4096];
    snprintf(root, sizeof root, "%s", bt_test_fixture_path(dir));
    walk(root, suffixes, &list, &n, &cap);
    if (!list) {
        list = calloc(1, sizeof *list);
        return list;
    }
    qsort(list, n, sizeof *list, cmp_str);
    return list;
}

void bt_test_free_list(char **list)
{
    if (!list)
        return;
    for (char **p = list; *p; p++)
        free(*p);
    free(list);
}
