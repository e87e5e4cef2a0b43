/* esft bench: decoding speed of a model and matmul throughput of a backend.
 * Speed is only ever measured here (and in scripts/), never asserted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "commands.h"
#include "generate.h"
#include "model.h"

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

/* Multiply-adds per token in the model's matmuls (LM head included). */
static double matmul_flops_per_token(const esft_model *m) {
    double params = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const esft_layer *L = &m->layers[l];
        const esft_param *w[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) params += (double)w[i]->n;
    }
    params += (double)m->output->n;
    return 2.0 * params;
}

static int run_generate(esft_model *m, int batch, int prompt_len, int max_new, double *seconds,
                        long *new_tokens) {
    esft_gen_request *reqs = calloc((size_t)batch, sizeof *reqs);
    esft_gen_result *res = calloc((size_t)batch, sizeof *res);
    int32_t *ids = malloc((size_t)batch * prompt_len * sizeof *ids);
    if (!reqs || !res || !ids) return ESFT_EXIT_RUNTIME;
    uint64_t x = 12345;
    for (int b = 0; b < batch; b++) {
        for (int i = 0; i < prompt_len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            ids[(size_t)b * prompt_len + i] = (int32_t)((x >> 33) % 256); /* byte tokens */
        }
        reqs[b] = (esft_gen_request){ids + (size_t)b * prompt_len, prompt_len};
    }
    esft_gen_params gp = {.max_new = max_new, .ignore_eog = true};
    esft_gen_stats st;
    esft_err err = {{0}};
    int rc = ESFT_EXIT_OK;
    if (esft_generate(m, reqs, batch, &gp, res, &st, &err)) {
        fprintf(stderr, "esft bench: %s\n", err.msg);
        rc = ESFT_EXIT_RUNTIME;
    }
    *seconds = st.seconds;
    *new_tokens = st.new_tokens;
    for (int b = 0; b < batch; b++) esft_gen_result_free(&res[b]);
    free(reqs);
    free(res);
    free(ids);
    return rc;
}

static int bench_decode(int argc, char **argv) {
    cli_common c = {0};
    const char *batches = "1,8,32,64";
    int prompt_len = 16, n_new = 32;
    const cli_opt opts[] = {
        {"model", CLI_STR, &c.model, "FILE", "GGUF model (default: SmolLM2-135M-Instruct)", 0, 0},
        {"batch", CLI_STR, &batches, "LIST", "comma-separated batch sizes (default 1,8,32,64)", 0, 0},
        {"prompt-len", CLI_INT, &prompt_len, "N", "prompt tokens per sequence (default 16)", 1, 1 << 16},
        {"new", CLI_INT, &n_new, "N", "decoded tokens per sequence (default 32)", 1, 1 << 16},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench decode", "[--model FILE] [--batch 1,8,32,64] [options]",
                             "Decoding tokens/s per batch size, and the matmul GFLOP/s they imply.\n"
                             "Decode time = time(prefill + new+1 tokens) - time(prefill + 1 token).",
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
    char model_buf[1024];
    const char *path = c.model ? c.model : cli_default_model(model_buf, sizeof model_buf);
    esft_backend *be = NULL;
    if ((rc = cli_open_backend(&c, &be))) return rc;
    esft_model *m = NULL;
    esft_err err = {{0}};
    if (esft_model_load(path, be, NULL, &m, &err)) {
        fprintf(stderr, "esft bench decode: %s\n", err.msg);
        esft_backend_destroy(be);
        return ESFT_EXIT_RUNTIME;
    }
    const double flops = matmul_flops_per_token(m);
    printf("model %s (%s, %.1fM params), backend %s (%s), %d threads\n", path,
           esft_arch_name(m->hp.arch), esft_model_n_elements(m) / 1e6, be->kind, be->device_name,
           be->n_threads);
    printf("prompt %d tokens, %d decoded tokens per sequence; matmul %.3f GFLOP per token\n",
           prompt_len, n_new, flops / 1e9);
    printf("%6s %12s %14s %12s\n", "batch", "decode tok/s", "matmul GFLOP/s", "prefill tok/s");
    double warm_s;
    long warm_n;
    rc = run_generate(m, 1, prompt_len, 2, &warm_s, &warm_n); /* warm-up */
    for (int i = 0; i < nb && !rc; i++) {
        double t_prefill, t_full;
        long n1, n2;
        if ((rc = run_generate(m, bs[i], prompt_len, 1, &t_prefill, &n1)) ||
            (rc = run_generate(m, bs[i], prompt_len, n_new + 1, &t_full, &n2)))
            break;
        double dt = t_full - t_prefill;
        double toks = (double)(n2 - n1);
        double tps = dt > 0 ? toks / dt : 0;
        printf("%6d %12.1f %14.1f %12.1f\n", bs[i], tps, tps * flops / 1e9,
               t_prefill > 0 ? bs[i] * (double)prompt_len / t_prefill : 0);
        fflush(stdout);
    }
    esft_model_free(m);
    esft_backend_destroy(be);
    return rc;
}

/* GFLOP/s of the backend's f32 matmul at decode and prefill shapes. */
static int matmul_table(esft_backend *be, int reps) {
    static const int shapes[][3] = {
        {1, 1536, 576}, {1, 576, 1536}, {1, 49152, 576}, {8, 1536, 576}, {64, 1536, 576},
        {256, 1536, 576}, {512, 1536, 576}, {1024, 1024, 1024},
    };
    int rc = ESFT_EXIT_OK;
    printf("matmul y = x W^T (f32)\n%6s %6s %6s %12s %10s\n", "T", "N", "K", "GFLOP/s", "ms/call");
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0] && !rc; s++) {
        const int T = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        esft_buf x = {0}, w = {0}, y = {0};
        float *host = malloc((size_t)(N > T ? N : T) * K * sizeof *host);
        if (!host || esft_buf_alloc(be, &x, ESFT_F32, (size_t)T * K) ||
            esft_buf_alloc(be, &w, ESFT_F32, (size_t)N * K) ||
            esft_buf_alloc(be, &y, ESFT_F32, (size_t)T * N)) {
            fprintf(stderr, "esft bench: allocation failed\n");
            rc = ESFT_EXIT_RUNTIME;
        } else {
            for (size_t i = 0; i < (size_t)N * K; i++) host[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
            esft_upload(&w, 0, host, (size_t)N * K);
            esft_upload(&x, 0, host, (size_t)T * K);
            esft_matmul(be, &y, &x, &w, NULL, T, N, K); /* warm-up */
            esft_synchronize(be);
            int n = 0;
            double t0 = esft_now_seconds(), dt;
            do {
                esft_matmul(be, &y, &x, &w, NULL, T, N, K);
                n++;
                esft_synchronize(be);
                dt = esft_now_seconds() - t0;
            } while (reps ? n < reps : dt < 0.5);
            printf("%6d %6d %6d %12.1f %10.3f\n", T, N, K, 2.0 * T * N * K * n / dt / 1e9, dt * 1e3 / n);
        }
        free(host);
        esft_buf_free(&x);
        esft_buf_free(&w);
        esft_buf_free(&y);
    }
    return rc;
}

/* Normals/s and bytes/s of perturb and es_update over n f32 weights. */
static int noise_table(esft_backend *be, size_t n) {
    esft_buf master = {0}, work = {0};
    if (esft_buf_alloc(be, &master, ESFT_F32, n) || esft_buf_alloc(be, &work, ESFT_F32, n)) {
        fprintf(stderr, "esft bench: allocation of %zu weights failed\n", n);
        esft_buf_free(&master);
        return ESFT_EXIT_RUNTIME;
    }
    float *zero = calloc(n, sizeof *zero);
    if (zero) esft_upload(&master, 0, zero, n);
    free(zero);
    uint64_t seeds[30];
    float coeffs[30];
    for (int k = 0; k < 30; k++) seeds[k] = 1000 + (uint64_t)k, coeffs[k] = 1e-6f;
    printf("\nES noise over %zu f32 weights\n%-14s %14s %10s %10s\n", n, "op", "G normals/s", "GB/s",
           "ms/call");
    struct { const char *name; int k; } rows[] = {{"perturb", 0}, {"es_update K=1", 1}, {"es_update K=30", 30}};
    for (size_t r = 0; r < sizeof rows / sizeof rows[0]; r++) {
        int calls = 0;
        double t0 = esft_now_seconds(), dt;
        do {
            if (rows[r].k == 0) esft_perturb(be, &work, &master, n, 7, 42, 0.001f);
            else esft_es_update(be, &master, n, 7, seeds, coeffs, rows[r].k);
            esft_synchronize(be);
            calls++;
            dt = esft_now_seconds() - t0;
        } while (dt < 0.5 || calls < 2);
        const double normals = (double)n * (rows[r].k ? rows[r].k : 1) * calls;
        const double bytes = 8.0 * (double)n * calls; /* read + write 4 bytes each */
        printf("%-14s %14.3f %10.1f %10.2f\n", rows[r].name, normals / dt / 1e9, bytes / dt / 1e9,
               dt * 1e3 / calls);
    }
    esft_buf_free(&master);
    esft_buf_free(&work);
    return ESFT_EXIT_OK;
}

static int bench_matmul(int argc, char **argv) {
    cli_common c = {0};
    int reps = 0;
    const cli_opt opts[] = {
        {"reps", CLI_INT, &reps, "N", "repetitions per shape (default: about 0.5 s each)", 0, 1 << 20},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench matmul", "[--backend B] [--threads N]",
                             "GFLOP/s of the backend's matmul at decode and prefill shapes (f32).",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    esft_backend *be = NULL;
    if ((rc = cli_open_backend(&c, &be))) return rc;
    printf("backend %s (%s), %d threads\n", be->kind, be->device_name, be->n_threads);
    rc = matmul_table(be, reps);
    esft_backend_destroy(be);
    return rc;
}

static int bench_ops(int argc, char **argv) {
    cli_common c = {0};
    int weights_m = 16;
    const cli_opt opts[] = {
        {"weights", CLI_INT, &weights_m, "M", "millions of weights for the noise ops (default 16)", 1, 100000},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench ops", "[--backend B] [--threads N]",
                             "The same micro-benchmarks on any backend: matmul GFLOP/s at decode and\n"
                             "prefill shapes, perturb and es_update in normals/s and GB/s.\n"
                             "(Decode tokens/s of a model: esft bench decode.)",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    esft_backend *be = NULL;
    if ((rc = cli_open_backend(&c, &be))) return rc;
    printf("backend %s (%s), %d threads\n", be->kind, be->device_name, be->n_threads);
    rc = matmul_table(be, 0);
    if (!rc) rc = noise_table(be, (size_t)weights_m * 1000000);
    esft_backend_destroy(be);
    return rc;
}

int cmd_bench(int argc, char **argv) {
    if (argc >= 2 && strcmp(argv[1], "decode") == 0) return bench_decode(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "matmul") == 0) return bench_matmul(argc - 1, argv + 1);
    if (argc >= 2 && strcmp(argv[1], "ops") == 0) return bench_ops(argc - 1, argv + 1);
    FILE *out = (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0)) ? stdout : stderr;
    fprintf(out, "usage: esft bench decode|ops|matmul [options]\n\n"
                 "  decode   tokens/s per batch size on a model, with the matmul GFLOP/s reached\n"
                 "  ops      matmul GFLOP/s and perturb/es_update normals/s on a backend\n"
                 "  matmul   the backend's matmul GFLOP/s at decode and prefill shapes\n\n"
                 "Run 'esft bench <what> --help' for options.\n");
    return out == stdout ? ESFT_EXIT_OK : ESFT_EXIT_USAGE;
}
