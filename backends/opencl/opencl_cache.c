/* Program build with an on-disk binary cache, and OpenCL error names.
 *
 * Key: FNV-1a 64 over (every source string, the build options, the device
 * name, the device's driver version, the platform version). The binary
 * lives in $ESFT_CACHE_DIR, else $XDG_CACHE_HOME/esft, else ~/.cache/esft,
 * as opencl-<key>.bin, written to a temporary name and renamed into place so
 * concurrent processes never read a half-written file. A cache that cannot
 * be read or written only costs a compile; a stale or corrupt binary is
 * rejected by clBuildProgram and rebuilt from source. */
#include "opencl_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../util/atomic_file.h"
#include "../util/esft_fs.h"
#include "../util/esft_hash.h"

const char *esft_cl_errstr(cl_int e) {
    switch (e) {
    case CL_SUCCESS: return "CL_SUCCESS";
    case CL_DEVICE_NOT_FOUND: return "CL_DEVICE_NOT_FOUND";
    case CL_DEVICE_NOT_AVAILABLE: return "CL_DEVICE_NOT_AVAILABLE";
    case CL_COMPILER_NOT_AVAILABLE: return "CL_COMPILER_NOT_AVAILABLE";
    case CL_MEM_OBJECT_ALLOCATION_FAILURE: return "CL_MEM_OBJECT_ALLOCATION_FAILURE";
    case CL_OUT_OF_RESOURCES: return "CL_OUT_OF_RESOURCES";
    case CL_OUT_OF_HOST_MEMORY: return "CL_OUT_OF_HOST_MEMORY";
    case CL_MEM_COPY_OVERLAP: return "CL_MEM_COPY_OVERLAP";
    case CL_BUILD_PROGRAM_FAILURE: return "CL_BUILD_PROGRAM_FAILURE";
    case CL_INVALID_VALUE: return "CL_INVALID_VALUE";
    case CL_INVALID_PLATFORM: return "CL_INVALID_PLATFORM";
    case CL_INVALID_DEVICE: return "CL_INVALID_DEVICE";
    case CL_INVALID_CONTEXT: return "CL_INVALID_CONTEXT";
    case CL_INVALID_COMMAND_QUEUE: return "CL_INVALID_COMMAND_QUEUE";
    case CL_INVALID_MEM_OBJECT: return "CL_INVALID_MEM_OBJECT";
    case CL_INVALID_BINARY: return "CL_INVALID_BINARY";
    case CL_INVALID_BUILD_OPTIONS: return "CL_INVALID_BUILD_OPTIONS";
    case CL_INVALID_PROGRAM: return "CL_INVALID_PROGRAM";
    case CL_INVALID_KERNEL_NAME: return "CL_INVALID_KERNEL_NAME";
    case CL_INVALID_KERNEL: return "CL_INVALID_KERNEL";
    case CL_INVALID_ARG_INDEX: return "CL_INVALID_ARG_INDEX";
    case CL_INVALID_ARG_VALUE: return "CL_INVALID_ARG_VALUE";
    case CL_INVALID_ARG_SIZE: return "CL_INVALID_ARG_SIZE";
    case CL_INVALID_KERNEL_ARGS: return "CL_INVALID_KERNEL_ARGS";
    case CL_INVALID_WORK_DIMENSION: return "CL_INVALID_WORK_DIMENSION";
    case CL_INVALID_WORK_GROUP_SIZE: return "CL_INVALID_WORK_GROUP_SIZE";
    case CL_INVALID_WORK_ITEM_SIZE: return "CL_INVALID_WORK_ITEM_SIZE";
    case CL_INVALID_GLOBAL_OFFSET: return "CL_INVALID_GLOBAL_OFFSET";
    case CL_INVALID_BUFFER_SIZE: return "CL_INVALID_BUFFER_SIZE";
    case CL_INVALID_GLOBAL_WORK_SIZE: return "CL_INVALID_GLOBAL_WORK_SIZE";
    case -1001: return "CL_PLATFORM_NOT_FOUND_KHR";
    default: return "unknown OpenCL error";
    }
}

static uint64_t fnv1a64_str(uint64_t h, const char *s) {
    return esft_fnv1a64(h, s, strlen(s) + 1); /* the NUL separates: ("ab","c") != ("a","bc") */
}

static void dev_str(cl_device_id d, cl_device_info what, char *out, size_t cap) {
    out[0] = '\0';
    if (clGetDeviceInfo(d, what, cap, out, NULL) != CL_SUCCESS) out[0] = '\0';
    out[cap - 1] = '\0';
}

static void write_binary(cl_program prog, const char *path) {
    size_t sz = 0;
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARY_SIZES, sizeof sz, &sz, NULL) != CL_SUCCESS ||
        sz == 0)
        return;
    unsigned char *bin = malloc(sz);
    if (!bin) return;
    unsigned char *bins[1] = {bin};
    if (clGetProgramInfo(prog, CL_PROGRAM_BINARIES, sizeof bins, bins, NULL) == CL_SUCCESS) {
        (void)esft_atomic_write(path, bin, sz, NULL); /* a cache: failing to save it costs a rebuild */
    }
    free(bin);
}

/* The compiler's whole build log (malloc'd, NUL-terminated), or NULL. */
static char *build_log(cl_program p, cl_device_id d) {
    size_t n = 0;
    if (clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, 0, NULL, &n) != CL_SUCCESS) return NULL;
    char *log = malloc(n + 1);
    if (log && clGetProgramBuildInfo(p, d, CL_PROGRAM_BUILD_LOG, n, log, NULL) != CL_SUCCESS) {
        free(log);
        return NULL;
    }
    if (log) log[n] = '\0';
    return log;
}

/* One line for an error message from a failed build's log: its first line
 * that reports an error (else its first non-blank line), and how many more
 * lines there are and where the whole log was written (log_path, when it is
 * not "" and writable). A log can run to hundreds of lines. */
static void describe_build_log(cl_program p, cl_device_id d, const char *log_path, char *out,
                               size_t cap) {
    char *log = build_log(p, d);
    if (!log || !log[strspn(log, " \t\r\n")]) {
        snprintf(out, cap, "(the compiler left no build log)");
        free(log);
        return;
    }
    const char *first = NULL, *blank = NULL;
    int n_lines = 0;
    for (const char *line = log; *line;) {
        size_t len = strcspn(line, "\n");
        bool has_text = strspn(line, " \t\r") < len;
        if (has_text) n_lines++;
        if (has_text && !blank) blank = line;
        for (const char *q = line; !first && q + 5 <= line + len; q++)
            if (strncmp(q, "error", 5) == 0) first = line;
        line += len + (line[len] == '\n');
    }
    if (!first) first = blank;
    const int first_len = (int)strcspn(first, "\r\n");
    bool saved = false;
    if (log_path[0]) {
        FILE *f = fopen(log_path, "w");
        if (f) {
            saved = fputs(log, f) >= 0;
            saved = fclose(f) == 0 && saved;
        }
    }
    char more[1200] = "";
    if (n_lines > 1 && saved)
        snprintf(more, sizeof more, " (%d more lines; full log in %s)", n_lines - 1, log_path);
    else if (n_lines > 1)
        snprintf(more, sizeof more, " (%d more lines)", n_lines - 1);
    snprintf(out, cap, "%.*s%s", first_len > 200 ? 200 : first_len, first, more);
    free(log);
}

esft_status esft_cl_build_program(ocl_ctx *c, const char *const *srcs, size_t n,
                                  const char *options, cl_program *out, esft_err *err) {
    *out = NULL;
    char name[256], drv[256], pver[256], dir[900], path[1000];
    dev_str(c->device, CL_DEVICE_NAME, name, sizeof name);
    dev_str(c->device, CL_DRIVER_VERSION, drv, sizeof drv);
    pver[0] = '\0';
    if (clGetPlatformInfo(c->platform, CL_PLATFORM_VERSION, sizeof pver, pver, NULL) != CL_SUCCESS)
        pver[0] = '\0';
    pver[sizeof pver - 1] = '\0';
    uint64_t h = ESFT_FNV1A64_INIT;
    for (size_t i = 0; i < n; i++) h = fnv1a64_str(h, srcs[i]);
    h = fnv1a64_str(h, options);
    h = fnv1a64_str(h, name);
    h = fnv1a64_str(h, drv);
    h = fnv1a64_str(h, pver);
    esft_cache_dir(dir, sizeof dir);
    path[0] = '\0';
    if (dir[0]) snprintf(path, sizeof path, "%s/opencl-%016llx.bin", dir, (unsigned long long)h);

    cl_int e;
    /* 1. a cached binary */
    if (path[0]) {
        size_t len = 0;
        char *bin = esft_read_file(path, ESFT_READ_MAX, &len);
        if (bin && len == 0) free(bin), bin = NULL; /* an empty file holds no binary */
        if (bin) {
            const unsigned char *bins[1] = {(const unsigned char *)bin};
            cl_int bst = CL_SUCCESS;
            cl_program p = clCreateProgramWithBinary(c->context, 1, &c->device, &len, bins, &bst, &e);
            free(bin);
            if (p && e == CL_SUCCESS && bst == CL_SUCCESS &&
                clBuildProgram(p, 1, &c->device, options, NULL, NULL) == CL_SUCCESS) {
                *out = p;
                return ESFT_OK;
            }
            if (p) clReleaseProgram(p);
            remove(path); /* stale or corrupt: rebuild below */
        }
    }
    /* 2. from source */
    size_t *lens = malloc(n * sizeof *lens);
    if (!lens) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "opencl: out of memory");
    for (size_t i = 0; i < n; i++) lens[i] = strlen(srcs[i]);
    cl_program p = clCreateProgramWithSource(c->context, (cl_uint)n, (const char **)srcs, lens, &e);
    free(lens);
    if (!p || e != CL_SUCCESS)
        return esft_errf(err, ESFT_ERR_DEVICE, "opencl: clCreateProgramWithSource: %s (%d)",
                         esft_cl_errstr(e), e);
    e = clBuildProgram(p, 1, &c->device, options, NULL, NULL);
    if (e != CL_SUCCESS) {
        char log_path[1100] = "", what[400];
        if (path[0]) snprintf(log_path, sizeof log_path, "%s/opencl-%016llx.build.log", dir, (unsigned long long)h);
        describe_build_log(p, c->device, log_path, what, sizeof what);
        clReleaseProgram(p);
        return esft_errf(err, ESFT_ERR_DEVICE, "opencl: building kernels for %s: %s (%d): %s", name,
                         esft_cl_errstr(e), e, what);
    }
    if (path[0]) write_binary(p, path);
    *out = p;
    return ESFT_OK;
}
