/* Minimal assertion helpers for esft's test programs. Each CHECK counts a
 * pass or a failure; TEST_EXIT prints "N passed, N failed" and returns the
 * exit code (0 only when nothing failed and something was checked). */
#ifndef ESFT_TESTUTIL_H
#define ESFT_TESTUTIL_H

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include "esft_fs.h"

/* unused in a program whose checks are all compiled out (no device) */
static int test_passed_ __attribute__((unused)) = 0, test_failed_ __attribute__((unused)) = 0;

#define CHECK(cond)                                                                   \
    do {                                                                              \
        if (cond) {                                                                   \
            test_passed_++;                                                           \
        } else {                                                                      \
            test_failed_++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond);  \
        }                                                                             \
    } while (0)

#define CHECKF(cond, ...)                                                             \
    do {                                                                              \
        if (cond) {                                                                   \
            test_passed_++;                                                           \
        } else {                                                                      \
            test_failed_++;                                                           \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);  \
            fprintf(stderr, __VA_ARGS__);                                             \
            fputc('\n', stderr);                                                      \
        }                                                                             \
    } while (0)

#define CHECK_NEAR(a, b, tol)                                                         \
    CHECKF(fabs((double)(a) - (double)(b)) <= (tol), "%.9g vs %.9g (tol %g)",          \
           (double)(a), (double)(b), (double)(tol))

#define TEST_EXIT()                                                                   \
    (printf("%d passed, %d failed\n", test_passed_, test_failed_),                    \
     (test_failed_ == 0 && test_passed_ > 0) ? 0 : 1)

/* The whole file as a NUL-terminated malloc'd buffer (NULL on failure):
 * the library's bounded reader, under a name the tests share. */
static inline char *test_read_file(const char *path, size_t *len) {
    return esft_read_file(path, ESFT_READ_MAX, len);
}

/* A fresh scratch directory /tmp/<name>.XXXXXX into dir (cap bytes);
 * false (after perror) when it cannot be made. */
static inline bool test_make_tmpdir(char *dir, size_t cap, const char *name) {
    snprintf(dir, cap, "/tmp/%s.XXXXXX", name);
    if (mkdtemp(dir)) return true;
    perror("mkdtemp");
    return false;
}

/* Removes a scratch directory and everything in it (a note when it can't). */
static inline void test_remove_tmpdir(const char *dir) {
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "note: could not remove %s\n", dir);
}

/* Writes len bytes to dir/name and returns the path (a static buffer,
 * valid until the next call); exits the test on failure. */
static inline const char *test_write_tmp(const char *dir, const char *name, const void *content, size_t len) {
    static char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(content, 1, len, f) != len || fclose(f) != 0) {
        perror(path);
        exit(1);
    }
    return path;
}

/* Exit code for "required resource absent": ctest reports the test skipped. */
#define TEST_SKIP_CODE 77

#endif
