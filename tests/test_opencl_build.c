/* A failed OpenCL program build reports its compiler log: a source with
 * hundreds of errors (a log far longer than any fixed buffer) gives a
 * one-line error naming the first real error, and the whole log is kept in
 * the cache directory. Skips (77) without an OpenCL backend or platform. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "registry.h"
#include "testutil.h"

#ifdef ESFT_HAVE_OPENCL
#include "opencl/opencl_internal.h"

enum { N_ERRORS = 300 };

/* N_ERRORS kernels, each assigning to an undeclared variable. */
static char *broken_source(void) {
    size_t cap = (size_t)N_ERRORS * 96, n = 0;
    char *s = malloc(cap);
    for (int i = 0; s && i < N_ERRORS; i++)
        n += (size_t)snprintf(s + n, cap - n, "__kernel void k%d(__global float *x) { x[0] = undeclared_%d; }\n", i, i);
    return s;
}

int main(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/test_opencl_build_cache", ESFT_TEST_BINARY_DIR);
    setenv("ESFT_CACHE_DIR", dir, 1);
    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options o = {.n_threads = 1};
    if (esft_backend_open("opencl", &o, &be, &err) != ESFT_OK) {
        printf("no OpenCL device (%s): skipped\n", err.msg);
        return 77;
    }
    char *src = broken_source();
    const char *srcs[1] = {src};
    cl_program p = NULL;
    esft_status st = esft_cl_build_program(ocl_ctx_of(be), srcs, 1, "", &p, &err);
    CHECK(src && st == ESFT_ERR_DEVICE && p == NULL);
    printf("%s\n", err.msg);
    CHECKF(strstr(err.msg, "undeclared_") != NULL, "the message names no error from the log: %s", err.msg);
    CHECKF(strchr(err.msg, '\n') == NULL, "not one line: %s", err.msg);
    const char *more = strstr(err.msg, "more lines; full log in ");
    CHECKF(more != NULL, "no pointer to the full log: %s", err.msg);
    if (more) {
        char path[1024];
        snprintf(path, sizeof path, "%s", more + strlen("more lines; full log in "));
        char *close = strrchr(path, ')');
        if (close) *close = '\0';
        char *log = test_read_file(path, NULL);
        int n_named = 0;
        for (int i = 0; log && i < N_ERRORS; i++) {
            char want[32];
            snprintf(want, sizeof want, "undeclared_%d'", i);
            n_named += strstr(log, want) != NULL;
        }
        CHECKF(n_named == N_ERRORS, "%s names %d of %d errors", path, n_named, N_ERRORS);
        free(log);
        remove(path);
    }
    free(src);
    esft_backend_destroy(be);
    return TEST_EXIT();
}
#else
int main(void) {
    printf("built without the OpenCL backend: skipped\n");
    return 77;
}
#endif
