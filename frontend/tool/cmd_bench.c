/* esft bench: decoding speed of a model and matmul throughput of a backend.
 * Speed is only ever measured here (and in scripts/), never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_es.h"
#include "bench_measure.h"
#include "bench_report.h"
#include "cli.h"
#include "cpu/cpu_backend.h"
#include "commands.h"
#include "generate.h"
#include "model.h"
#include "quant.h"

/* Parses "1,8,32" into up to max positive ints; returns the count or -1. */
static int parse_int_list(const char *s, int *out, int max) {
    int n = 0;
    while (*s) {
        char *end;
        long v = strtol(s, &end, 10);
        if (end == s || v <= 0 || v > 1 << 16 || n >= max) return -1;
        out[n++] = (int)v;
        s = end;
        if (*s == ',') s++;
        else if (*s) return -1;
    }
    return n;
}

static int decode_command(int argc, char **argv) {
    cli_common c = CLI_COMMON_INIT;
    const char *batches = "1,8,32,64";
    int prompt_len = 16, n_new = 32;
    const cli_opt opts[] = {
        {"model", CLI_STR, &c.model, "PATH", "model: a GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct)", 0, 0},
        {"batch", CLI_STR, &batches, "LIST", "comma-separated batch sizes (default 1,8,32,64)", 0, 0},
        {"prompt-len", CLI_INT, &prompt_len, "N", "prompt tokens per sequence (default 16)", 1, 1 << 16},
        {"new", CLI_INT, &n_new, "N", "decoded tokens per sequence (default 32)", 1, 1 << 16},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench decode", "[--model FILE] [--batch 1,8,32,64] [options]",
                             "Decoding tokens/s per batch size, and the matmul GFLOP/s they imply.\n"
                             "Decode: the tokens and seconds after every sequence has its first token (all prompts fill one pass).",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    int bs[32];
    int nb = parse_int_list(batches, bs, 32);
    if (nb <= 0) {
        fprintf(stderr, "esft bench decode: --batch expects positive integers like 1,8,32, got '%s'\n",
                batches);
        return ESFT_EXIT_USAGE;
    }
    char path[1024];
    esft_backend *be = NULL;
    if ((rc = cli_open_backend(&c, &be))) return rc;
    if ((rc = cli_model_path("bench decode", c.model, path, sizeof path))) {
        esft_backend_destroy(be);
        return rc;
    }
    esft_model *m = NULL;
    esft_err err = {{0}};
    if (esft_model_load(path, be, NULL, &m, &err)) {
        fprintf(stderr, "esft bench decode: %s\n", err.msg);
        esft_backend_destroy(be);
        return ESFT_EXIT_RUNTIME;
    }
    const double flops = bench_matmul_flops_per_token(m);
    printf("model %s (%s, %.1fM params), backend %s (%s), %d threads\n", path,
           esft_arch_name(m->hp.arch), esft_model_n_elements(m) / 1e6, be->kind, be->device_name,
           be->n_threads);
    printf("prompt %d tokens, %d decoded tokens per sequence; matmul %.3f GFLOP per token\n",
           prompt_len, n_new, flops / 1e9);
    /* each decode step reads every matmul weight once, whatever the batch:
     * weight GB/s against the memory bandwidth says how close batch 1 is */
    const double weight_bytes = flops / 2 * (double)esft_dtype_size(be->work_dtype);
    printf("matmul weights %.3f GB (%s)\n", weight_bytes / 1e9, esft_dtype_name(be->work_dtype));
    printf("%6s %12s %14s %14s %12s\n", "batch", "decode tok/s", "matmul GFLOP/s", "weight GB/s",
           "prefill tok/s");
    double tps, prefill;
    rc = bench_decode(m, 1, prompt_len, 1, &tps, &prefill, &err) ? ESFT_EXIT_RUNTIME : ESFT_EXIT_OK; /* warm-up */
    for (int i = 0; i < nb && !rc; i++) {
        if (bench_decode(m, bs[i], prompt_len, n_new, &tps, &prefill, &err)) {
            rc = ESFT_EXIT_RUNTIME;
            break;
        }
        printf("%6d %12.1f %14.1f %14.1f %12.1f\n", bs[i], tps, tps * flops / 1e9,
               tps / bs[i] * weight_bytes / 1e9, prefill);
        fflush(stdout);
    }
    if (rc) fprintf(stderr, "esft bench decode: %s\n", err.msg);
    esft_model_free(m);
    esft_backend_destroy(be);
    return rc;
}

/* Seconds per matmul of T x K by N x K into *sec (W in the backend's work
 * dtype, x and y f32); one line on stderr and an exit code on failure. */
static int matmul_seconds(esft_backend *be, int T, int N, int K, int reps, double min_sec, double *sec) {
    esft_err err = {{0}};
    if (bench_matmul(be, T, N, K, min_sec, reps, sec, &err)) {
        fprintf(stderr, "esft bench: %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    return ESFT_EXIT_OK;
}

/* One row of the matmul table. */
static int matmul_row(esft_backend *be, int T, int N, int K, int reps) {
    double sec;
    int rc = matmul_seconds(be, T, N, K, reps, 0.5, &sec);
    if (rc) return rc;
    const double flops = 2.0 * T * N * K / sec;
    printf("%6d %6d %6d %12.1f %9.3f %10.3f\n", T, N, K, flops / 1e9, flops / 1e12, sec * 1e3);
    fflush(stdout);
    return ESFT_EXIT_OK;
}

/* cpu backend only: every decode-sized T (1..256) for the weight shapes of
 * SmolLM2-135M and Qwen2.5-0.5B (LM heads but Qwen's), matmul forced onto
 * the cpu backend's own kernel and onto OpenBLAS in turn, side by side, and
 * the W bytes per second the kernel streams (decode is bound by them). */
static int matmul_decode_table(esft_backend *be, int reps) {
    static const int NK[][2] = {{576, 576},  {1536, 576}, {576, 1536}, {49152, 576},
                                {896, 896},  {4864, 896}, {896, 4864}};
    static const int Ts[] = {1, 2, 4, 8, 16, 32, 64, 128, 256};
    const esft_cpu_gemm_path kernel = esft_cpu_gemm_resolve(ESFT_CPU_GEMM_AUTO, 1);
    const bool blas_takes_over =
        esft_cpu_gemm_resolve(ESFT_CPU_GEMM_AUTO, ESFT_CPU_GEMM_BLAS_MIN_T) == ESFT_CPU_GEMM_BLAS;
    printf("\nmatmul at decode shapes: the cpu kernel (%s) against OpenBLAS sgemm, each on\n",
           esft_cpu_gemm_path_name(kernel));
    if (blas_takes_over)
        printf("all threads; OpenBLAS takes over (auto) from T = %d\n", ESFT_CPU_GEMM_BLAS_MIN_T);
    else
        printf("all threads; auto keeps the kernel from T = %d too (OpenBLAS's core here is not\n"
               "AVX-512)\n", ESFT_CPU_GEMM_BLAS_MIN_T);
    printf("%6s %6s %6s %14s %10s %14s %8s\n", "T", "N", "K", "kernel GFLOP/s", "W GB/s",
           "OpenBLAS GFLOP/s", "ratio");
    const double wbytes = (double)esft_dtype_size(be->work_dtype);
    for (size_t s = 0; s < sizeof NK / sizeof NK[0]; s++)
        for (size_t t = 0; t < sizeof Ts / sizeof Ts[0]; t++) {
            const int T = Ts[t], N = NK[s][0], K = NK[s][1];
            double sk, sb;
            int rc = esft_cpu_set_gemm_path(be, kernel) ? ESFT_EXIT_RUNTIME
                                                        : matmul_seconds(be, T, N, K, reps, 0.2, &sk);
            if (!rc) rc = esft_cpu_set_gemm_path(be, ESFT_CPU_GEMM_BLAS) ? ESFT_EXIT_RUNTIME
                                                                        : matmul_seconds(be, T, N, K, reps, 0.2, &sb);
            esft_cpu_set_gemm_path(be, ESFT_CPU_GEMM_AUTO);
            if (rc) return rc;
            const double flops = 2.0 * T * N * K;
            printf("%6d %6d %6d %14.1f %10.1f %14.1f %8.2f\n", T, N, K, flops / sk / 1e9,
                   wbytes * N * K / sk / 1e9, flops / sb / 1e9, sb / sk);
            fflush(stdout);
        }
    return ESFT_EXIT_OK;
}

/* GFLOP/s (and TFLOP/s) of the backend's matmul at decode and prefill
 * shapes, W in its work dtype (bf16/f16 on cuda), activations f32. The
 * large square shapes measure GEMM peak; they run on GPU devices, or on any
 * device with large (8192^3 is ~1 TFLOP a call: minutes on a CPU, and
 * OpenCL or Vulkan on a CPU, PoCL or lavapipe, are CPUs). The plan line
 * says which; dry_run prints only the plan. */
static int matmul_table(esft_backend *be, const esft_device_info *dev, int reps, bool large,
                        bool dry_run) {
    static const int shapes[][3] = {
        {1, 1536, 576}, {1, 576, 1536}, {1, 49152, 576}, {8, 1536, 576}, {64, 1536, 576},
        {256, 1536, 576}, {512, 1536, 576}, {1024, 1024, 1024},
        {4096, 4096, 4096}, {8192, 8192, 8192},
    };
    const size_t n_small = 8, n_all = sizeof shapes / sizeof shapes[0];
    const size_t n_run = large || dev->is_gpu ? n_all : n_small;
    printf("device kind %s: matmul shapes", dev->is_gpu ? "gpu" : "cpu");
    for (size_t s = 0; s < n_run; s++) printf(" %dx%dx%d", shapes[s][0], shapes[s][1], shapes[s][2]);
    printf("%s\n", n_run < n_all ? " (--large adds 4096^3 and 8192^3)" : "");
    if (dry_run) return ESFT_EXIT_OK;
    int rc = ESFT_EXIT_OK;
    printf("matmul y = x W^T (W %s, x and y f32)\n%6s %6s %6s %12s %9s %10s\n",
           esft_dtype_name(be->work_dtype), "T", "N", "K", "GFLOP/s", "TFLOP/s", "ms/call");
    for (size_t s = 0; s < n_run && !rc; s++)
        rc = matmul_row(be, shapes[s][0], shapes[s][1], shapes[s][2], reps);
    return rc;
}

/* Normals/s and bytes/s of perturb (f32 master -> work-dtype copy),
 * es_update (f32 master in place) and the fused Adam step over n weights. */
static int noise_table(esft_backend *be, size_t n) {
    printf("\nES noise over %zu weights (master f32, work %s)\n%-14s %14s %10s %10s\n", n,
           esft_dtype_name(be->work_dtype), "op", "G normals/s", "GB/s", "ms/call");
    static const struct { const char *name; int members; bool adam; } rows[] = {
        {"perturb", 0, false}, {"es_update K=1", 1, false}, {"es_update K=30", 30, false},
        {"adam K=30", 30, true}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        double gn, gb, ms;
        esft_err err = {{0}};
        if (bench_noise(be, n, rows[r].members, rows[r].adam, 0.5, &gn, &gb, &ms, &err)) {
            fprintf(stderr, "esft bench: %s\n", err.msg);
            return ESFT_EXIT_RUNTIME;
        }
        printf("%-14s %14.3f %10.1f %10.2f\n", rows[r].name, gn, gb, ms);
    }
    return ESFT_EXIT_OK;
}

/* The backend a table runs on, announced in its first line. */
static int open_bench_backend(const cli_common *c, const char *dtype, esft_backend **be, esft_device_info *dev) {
    int rc = cli_open_backend_info(c, dtype, be, dev);
    if (!rc) printf("backend %s (%s), %d threads\n", (*be)->kind, (*be)->device_name, (*be)->n_threads);
    return rc;
}

static int matmul_command(int argc, char **argv) {
    cli_common c = CLI_COMMON_INIT;
    int reps = 0;
    bool large = false, dry_run = false, decode = false;
    const char *dtype = NULL;
    const cli_opt opts[] = {
        {"reps", CLI_INT, &reps, "N", "repetitions per shape (default: about 0.5 s each)", 0, 1 << 20},
        {"decode", CLI_FLAG, &decode, NULL,
         "cpu: also every T of 1..256 at the models' shapes, own kernel vs OpenBLAS", 0, 0},
        {"large", CLI_FLAG, &large, NULL, "also 4096^3 and 8192^3 on a CPU device (GPUs always)", 0, 0},
        {"dry-run", CLI_FLAG, &dry_run, NULL, "print the device kind and the shapes, run nothing", 0, 0},
        {"dtype", CLI_STR, &dtype, "D", "work dtype of W: f32 | f16 | bf16 (default: the backend's)", 0, 0},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench matmul",
                             "[--backend B] [--threads N] [--large] [--decode] [--dtype D] [--dry-run]",
                             "GFLOP/s and TFLOP/s of the backend's matmul at decode and prefill\n"
                             "shapes, W in the backend's work dtype (bf16/f16 on cuda).",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    esft_backend *be = NULL;
    esft_device_info dev;
    if ((rc = open_bench_backend(&c, dtype, &be, &dev))) return rc;
    rc = matmul_table(be, &dev, reps, large, dry_run);
    if (!rc && decode && !dry_run) {
        if (strcmp(be->kind, "cpu") == 0) rc = matmul_decode_table(be, reps);
        else printf("\n--decode compares the cpu backend's kernels; backend %s skipped\n", be->kind);
    }
    esft_backend_destroy(be);
    return rc;
}

static int ops_command(int argc, char **argv) {
    cli_common c = CLI_COMMON_INIT;
    int weights_m = 16;
    bool large = false;
    const char *dtype = NULL;
    const cli_opt opts[] = {
        {"weights", CLI_INT, &weights_m, "M", "millions of weights for the noise ops (default 16)", 1, 100000},
        {"large", CLI_FLAG, &large, NULL, "also 4096^3 and 8192^3 matmuls on a CPU device", 0, 0},
        {"dtype", CLI_STR, &dtype, "D", "work dtype: f32 | f16 | bf16 (default: the backend's)", 0, 0},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench ops", "[--backend B] [--threads N] [--weights M] [--large] [--dtype D]",
                             "The same micro-benchmarks on any backend: matmul GFLOP/s at decode and\n"
                             "prefill shapes (W in the work dtype), perturb, es_update and Adam (es_optimize) in\n"
                             "normals/s and GB/s.\n"
                             "(Decode tokens/s of a model: esft bench decode.)",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    esft_backend *be = NULL;
    esft_device_info dev;
    if ((rc = open_bench_backend(&c, dtype, &be, &dev))) return rc;
    rc = matmul_table(be, &dev, 0, large, false);
    if (!rc) rc = noise_table(be, (size_t)weights_m * 1000000);
    esft_backend_destroy(be);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) return decode_command(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "es") == 0) return bench_es_command(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "matmul") == 0) return matmul_command(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "ops") == 0) return ops_command(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "report") == 0) return bench_report_command(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "compare") == 0) return bench_compare_command(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "device") == 0) return bench_device_command(argc - 1, argv + 1);
    FILE *out = (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) ? stdout : stderr;
    fprintf(out, "usage: esft bench decode|es|ops|matmul|report|compare [options]\n\n"
                 "  decode   tokens/s per batch size on a model, with the matmul GFLOP/s reached\n"
                 "  es       ES generation tokens/s (full or low-rank members) beside decode at the same batch\n"
                 "  ops      matmul GFLOP/s and perturb/es_update normals/s on a backend\n"
                 "  matmul   the backend's matmul GFLOP/s at decode and prefill shapes\n"
                 "  report   every device, measured the same way: one Markdown and JSON report\n"
                 "  compare  ratios of two reports' figures\n\n"
                 "Run 'esft bench <what> --help' for options.\n");
    return out == stdout ? ESFT_EXIT_OK : ESFT_EXIT_USAGE;
}
