/* Licensed under the Apache License, Version 2.0 (see LICENSE and NOTICE).
 *
 * replay.c — a main() for the fuzz targets without libFuzzer: feeds every
 * file named on the command line (directories are read one level deep,
 * in name order) to LLVMFuzzerTestOneInput once. `make check` links each
 * t/fuzz/fuzz_<x>.c with this file and replays t/fuzz/corpus/<x>/, so CI
 * runs every committed seed and regression input with the normal compiler
 * (and, in the sanitizer build, under ASan/UBSan) without needing clang.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>

#include "fuzz.h"

static int replay_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf;
    long n;

    if (f == NULL || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0
        || fseek(f, 0, SEEK_SET) != 0) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        if (f) {
            fclose(f);
        }
        return -1;
    }
    /* malloc'd to exactly n bytes (at least 1) so ASan sees overreads */
    buf = malloc(n > 0 ? (size_t)n : 1);
    if (buf == NULL || fread(buf, 1, (size_t)n, f) != (size_t)n) {
        fprintf(stderr, "replay: cannot read %s\n", path);
        fclose(f);
        free(buf);
        return -1;
    }
    fclose(f);
    LLVMFuzzerTestOneInput(buf, (size_t)n);
    free(buf);
    return 0;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int replay_dir(const char *dir, int *pcount)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **names = NULL;
    size_t n = 0, cap = 0, i;
    int rc = 0;

    if (d == NULL) {
        fprintf(stderr, "replay: cannot open %s\n", dir);
        return -1;
    }
    while ((e = readdir(d)) != NULL) {
        char *path;
        struct stat st;

        if (e->d_name[0] == '.') {
            continue;
        }
        path = malloc(strlen(dir) + strlen(e->d_name) + 2);
        if (path == NULL) {
            rc = -1;
            break;
        }
        snprintf(path, strlen(dir) + strlen(e->d_name) + 2, "%s/%s", dir,
                 e->d_name);
        if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
            free(path);
            continue;
        }
        if (n == cap) {
            char **nn;

            cap = cap ? cap * 2 : 64;
            nn = realloc(names, cap * sizeof(*names));
            if (nn == NULL) {
                free(path);
                rc = -1;
                break;
            }
            names = nn;
        }
        names[n++] = path;
    }
    closedir(d);
    if (n > 0) {
        qsort(names, n, sizeof(*names), by_name);
    }
    for (i = 0; i < n; i++) {
        if (rc == 0 && replay_file(names[i]) != 0) {
            rc = -1;
        }
        (*pcount)++;
        free(names[i]);
    }
    free(names);
    return rc;
}

int main(int argc, char **argv)
{
    int i, count = 0, rc = 0;

    if (argc < 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR|FILE...\n", argv[0]);
        return 2;
    }
    for (i = 1; i < argc; i++) {
        struct stat st;

        if (stat(argv[i], &st) != 0) {
            fprintf(stderr, "replay: no such file %s\n", argv[i]);
            rc = 1;
        }
        else if (S_ISDIR(st.st_mode)) {
            if (replay_dir(argv[i], &count) != 0) {
                rc = 1;
            }
        }
        else {
            if (replay_file(argv[i]) != 0) {
                rc = 1;
            }
            count++;
        }
    }
    if (count == 0) {
        fprintf(stderr, "replay: no input files\n");
        rc = 1;
    }
    printf("%s: replayed %d inputs\n", argv[0], count);
    return rc;
}
