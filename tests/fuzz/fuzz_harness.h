/* The libFuzzer entry points every harness in this folder defines, and the
 * checks they share. A harness is built twice: linked with libFuzzer
 * (-fsanitize=fuzzer, ESFT_FUZZ=ON), and linked with replay_main.c into a
 * plain test program that runs it on the seed corpus and the regressions. */
#ifndef ESFT_FUZZ_HARNESS_H
#define ESFT_FUZZ_HARNESS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A violated invariant: report it and abort, so that libFuzzer saves the
 * input and the replay test fails. */
#define FUZZ_REQUIRE(cond, ...)                                                  \
    do {                                                                         \
        if (!(cond)) {                                                           \
            fprintf(stderr, "%s:%d: invariant failed: %s: ", __FILE__, __LINE__, \
                    #cond);                                                      \
            fprintf(stderr, __VA_ARGS__);                                        \
            fputc('\n', stderr);                                                 \
            abort();                                                             \
        }                                                                        \
    } while (0)

/* The project's rule for bad input: a non-empty, one-line message. */
static inline void fuzz_require_one_line(const char *msg) {
    FUZZ_REQUIRE(msg[0] != '\0', "empty error message");
    FUZZ_REQUIRE(strchr(msg, '\n') == NULL && strchr(msg, '\r') == NULL,
                 "error message spans several lines: %s", msg);
}

#endif
