/* One device of `esft bench report`, measured in a process of its own (the
 * hidden `esft bench device`), so that a device that crashes or hangs
 * costs only its own entry: the device's limits (measured peak FLOP/s and
 * copy bandwidth, and the nominal figure where one can be derived), matmul
 * at the model's shapes, perturb and es_update, decode, and one small ES
 * iteration; every figure also as a fraction of the limit it is bound by.
 * Writes one JSON object (README "Benchmarking" has the schema). */
#include "bench_report.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "bench_measure.h"
#include "cli.h"
#include "es_step.h"
#include "esft_fs.h"
#include "evaluate.h"
#include "generate.h"
#include "registry.h"

/* A progress line for the report's parent process. */
static void step(const char *what) {
    fprintf(stderr, "%s\n", what);
    fflush(stderr);
}

/* "cpu family" of /proc/cpuinfo (-1 if absent), and whether it is AMD's. */
static int cpu_family(bool *amd) {
    char v[64];
    *amd = esft_cpuinfo_field("vendor_id", v, sizeof v) && strcmp(v, "AuthenticAMD") == 0;
    return esft_cpuinfo_field("cpu family", v, sizeof v) ? atoi(v) : -1;
}

/* f32 FLOP per cycle per core of the CPU's FMA units: two pipes of 16
 * lanes with AVX-512 (Intel; AMD from Zen 5, family 0x1A: Zen 4 runs
 * AVX-512 on two 256-bit pipes), two of 8 with AVX2, two SSE pipes of 4
 * otherwise. An estimate: some parts have one AVX-512 pipe. */
static double cpu_flops_per_cycle(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_cpu_init();
    bool amd;
    const int family = cpu_family(&amd);
    if (__builtin_cpu_supports("avx512f") && !(amd && family < 0x1A)) return 2 * 16 * 2;
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return 2 * 8 * 2;
    return 2 * 4 * 2;
#else
    return 0;
#endif
}

/* FP32 lanes per SM of NVIDIA GPUs by compute capability (their whitepapers),
 * 0 when not known. */
static int cuda_fp32_lanes(const char *driver) {
    const char *sm = strstr(driver, "sm_");
    int cc = sm ? atoi(sm + 3) : 0;
    return cc == 80 ? 64 : cc >= 86 ? 128 : cc >= 70 ? 64 : 0;
}

/* The nominal peak GFLOP/s of f32 FMAs from what the driver reports, with
 * how it was derived; 0 when nothing can be derived (OpenCL, Vulkan GPUs). */
static double nominal_gflops(const esft_device_info *d, int threads, char *how, size_t cap) {
    how[0] = '\0';
    if (!d->clock_mhz) return 0;
    if (strcmp(d->backend, "cpu") == 0) {
        double per = cpu_flops_per_cycle();
        int cores = threads > 0 && threads < d->compute_units ? threads : d->compute_units;
        snprintf(how, cap, "%d cores x %d MHz x %.0f f32 FLOP/cycle (FMA)", cores, d->clock_mhz, per);
        return cores * d->clock_mhz * per / 1e3;
    }
    if (strcmp(d->backend, "cuda") == 0 && cuda_fp32_lanes(d->driver)) {
        int lanes = cuda_fp32_lanes(d->driver);
        snprintf(how, cap, "%d SMs x %d MHz x %d FP32 lanes x 2", d->compute_units, d->clock_mhz, lanes);
        return d->compute_units * (double)d->clock_mhz * lanes * 2 / 1e3;
    }
    return 0;
}

static double frac(double x, double limit) { return limit > 0 ? x / limit : NAN; }


typedef struct device_run {
    esft_backend *be;
    esft_model *m;
    bool quick;
    double min_s;          /* seconds per timed measurement */
    double peak, bandwidth;/* measured limits, GFLOP/s and GB/s */
    cJSON *out;
    esft_err err;
} device_run;

/* GFLOP/s and weight GB/s, each with its fraction of the device's limit. */
static void add_rates(cJSON *e, const device_run *r, double gflops, double weight_gbps) {
    bench_json_number(e, "gflops", gflops);
    bench_json_number(e, "of_peak", frac(gflops, r->peak));
    bench_json_number(e, "weight_gbps", weight_gbps);
    bench_json_number(e, "of_bandwidth", frac(weight_gbps, r->bandwidth));
}

static esft_status measure_limits(device_run *r, const esft_device_info *d) {
    cJSON *lim = cJSON_AddObjectToObject(r->out, "limits");
    static const int cpu_sizes[] = {512, 1024}, gpu_sizes[] = {4096, 8192};
    const int *sizes = d->is_gpu ? gpu_sizes : cpu_sizes;
    int best = 0;
    for (int i = 0; i < 2; i++) {
        double sec;
        esft_status st = bench_matmul(r->be, sizes[i], sizes[i], sizes[i], r->min_s, 0, &sec, &r->err);
        if (st) return st;
        double g = 2.0 * sizes[i] * sizes[i] * sizes[i] / sec / 1e9;
        if (g > r->peak) r->peak = g, best = sizes[i];
    }
    /* large enough to leave the caches; halved while the device refuses a
     * buffer that big (lavapipe's largest storage buffer is 128 MiB) */
    size_t copy_bytes = (size_t)(d->is_gpu ? 1024 : 256) << 20; /* past the caches, --quick too */
    esft_status st;
    while ((st = bench_copy(r->be, copy_bytes, r->min_s, &r->bandwidth, &r->err)) && copy_bytes > (16u << 20))
        copy_bytes /= 2;
    if (st) return st;
    char shape[64], how[160];
    snprintf(shape, sizeof shape, "%dx%dx%d", best, best, best);
    bench_json_number(lim, "gflops", r->peak);
    cJSON_AddStringToObject(lim, "gflops_from", shape);
    bench_json_number(lim, "bandwidth_gbps", r->bandwidth);
    cJSON_AddNumberToObject(lim, "bandwidth_copy_bytes", (double)copy_bytes);
    double nominal = nominal_gflops(d, r->be->n_threads, how, sizeof how);
    bench_json_number(lim, "nominal_gflops", nominal > 0 ? nominal : NAN);
    if (how[0]) cJSON_AddStringToObject(lim, "nominal_from", how);
    bench_json_number(lim, "measured_of_nominal", nominal > 0 ? r->peak / nominal : NAN);
    return ESFT_OK;
}

static const char *const shape_names[] = {"ffn_gate/up", "ffn_down", "output", "attn_q", "attn_k/v", "attn_o"};

/* The distinct (N, K) of the model's matmuls, the FFN and the head first:
 * {N, K, index into shape_names}. */
static int model_shapes(const esft_model *m, int shapes[][3]) {
    const esft_layer *L = &m->layers[0];
    const esft_param *w[] = {L->w_gate, L->w_down, m->output, L->wq, L->wk, L->wo};
    int n = 0;
    for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) {
        int N = (int)w[i]->ne[1], K = (int)w[i]->ne[0];
        bool seen = false;
        for (int j = 0; j < n; j++) seen |= shapes[j][0] == N && shapes[j][1] == K;
        if (!seen) shapes[n][0] = N, shapes[n][1] = K, shapes[n][2] = (int)i, n++;
    }
    return n;
}

static esft_status measure_matmul(device_run *r) {
    cJSON *arr = cJSON_AddArrayToObject(r->out, "matmul");
    int shapes[6][3];
    int n = model_shapes(r->m, shapes);
    if (r->quick && n > 3) n = 3; /* the FFN and the head: most of the FLOPs */
    static const int Ts[] = {1, 16, 64, 256};
    const double wsize = (double)esft_dtype_size(r->be->work_dtype);
    for (int s = 0; s < n; s++)
        for (size_t t = 0; t < sizeof Ts / sizeof *Ts; t++) {
            const int T = Ts[t], N = shapes[s][0], K = shapes[s][1];
            char what[96];
            snprintf(what, sizeof what, "matmul %s T=%d (%dx%d)", shape_names[shapes[s][2]], T, N, K);
            step(what);
            double sec;
            esft_status st = bench_matmul(r->be, T, N, K, r->min_s, 0, &sec, &r->err);
            if (st) return st;
            const double g = 2.0 * T * N * K / sec / 1e9, wgb = (double)N * K * wsize / sec / 1e9;
            cJSON *e = cJSON_CreateObject();
            cJSON_AddStringToObject(e, "weight", shape_names[shapes[s][2]]);
            cJSON_AddNumberToObject(e, "T", T);
            cJSON_AddNumberToObject(e, "N", N);
            cJSON_AddNumberToObject(e, "K", K);
            add_rates(e, r, g, wgb);
            cJSON_AddItemToArray(arr, e);
        }
    return ESFT_OK;
}

static esft_status measure_noise(device_run *r) {
    step("perturb and es_update");
    cJSON *arr = cJSON_AddArrayToObject(r->out, "noise");
    const size_t n = (size_t)(r->quick ? 4 : 16) * 1000000;
    static const int members[] = {0, 30};
    for (int i = 0; i < 2; i++) {
        double gn, gb, ms;
        esft_status st = bench_noise(r->be, n, members[i], false, r->min_s, &gn, &gb, &ms, &r->err);
        if (st) return st;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddStringToObject(e, "op", members[i] ? "es_update" : "perturb");
        cJSON_AddNumberToObject(e, "members", members[i] ? members[i] : 1);
        cJSON_AddNumberToObject(e, "weights", (double)n);
        bench_json_number(e, "gnormals_per_s", gn);
        bench_json_number(e, "gbps", gb);
        bench_json_number(e, "of_bandwidth", frac(gb, r->bandwidth));
        bench_json_number(e, "ms_per_call", ms);
        cJSON_AddItemToArray(arr, e);
    }
    return ESFT_OK;
}

static esft_status measure_decode(device_run *r) {
    cJSON *arr = cJSON_AddArrayToObject(r->out, "decode");
    const double flops = bench_matmul_flops_per_token(r->m);
    const double wbytes = flops / 2 * (double)esft_dtype_size(r->be->work_dtype);
    /* --quick: one-token prompts, so that batch 64's prefill does not cost a
     * CPU-class device (lavapipe) minutes */
    const int prompt = r->quick ? 1 : 16, n_new = r->quick ? 4 : 32;
    double tps, pre;
    step("decode warm-up");
    esft_status st = bench_decode(r->m, 1, prompt, 1, &tps, &pre, &r->err);
    static const int batches[] = {1, 16, 64};
    for (int i = 0; !st && i < 3; i++) {
        char what[64];
        snprintf(what, sizeof what, "decode batch %d", batches[i]);
        step(what);
        if ((st = bench_decode(r->m, batches[i], prompt, n_new, &tps, &pre, &r->err))) break;
        const double g = tps * flops / 1e9, wgb = tps / batches[i] * wbytes / 1e9;
        cJSON *e = cJSON_CreateObject();
        cJSON_AddNumberToObject(e, "batch", batches[i]);
        bench_json_number(e, "tokens_per_s", tps);
        bench_json_number(e, "prefill_tokens_per_s", pre);
        add_rates(e, r, g, wgb);
        cJSON_AddItemToArray(arr, e);
    }
    return st;
}

/* One iteration of the paper's conciseness task (its 2 prompts), pop 4. */
static esft_status measure_iteration(device_run *r) {
    esft_model *m = r->m;
    step("one ES iteration");
    esft_task *task = NULL;
    esft_prompts prompts = {0};
    esft_run_config c = {.pop = 4, .sigma = 0.001f, .alpha = 0.0005f, .max_new = r->quick ? 4 : 32};
    snprintf(c.params, sizeof c.params, "*");
    int n_sel = 0, items[64];
    bool *sel = NULL;
    double R[4], t_perturb = 0, t_gen = 0, t_update = 0;
    long tokens = 0;
    esft_status st = esft_task_load("conciseness", NULL, "train", &task, &r->err);
    if (!st) st = esft_prompts_tokenize(m, task, NULL, NULL, c.max_new, &prompts, &r->err); /* conciseness: bare prompts */
    if (!st && !(sel = esft_es_select(m, c.params, &n_sel))) st = esft_errf(&r->err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    const int B = task && task->n_items < 64 ? task->n_items : 64;
    for (int i = 0; i < B; i++) items[i] = i;
    const double t0 = esft_now_seconds();
    for (int k = 0; !st && k < c.pop; k++) {
        double a = esft_now_seconds();
        st = esft_es_perturb_member(m, sel, &c, 0, k, &r->err);
        double b = esft_now_seconds();
        esft_eval_result er;
        esft_eval_params ep = {.max_new = c.max_new};
        if (!st) st = esft_evaluate(m, task, &prompts, items, B, &ep, &er, &r->err);
        if (st) break;
        t_perturb += b - a, t_gen += er.seconds, tokens += er.new_tokens;
        R[k] = er.mean_reward;
    }
    double u = esft_now_seconds();
    if (!st) st = esft_es_apply(m, sel, &c, 0, R, NULL, &r->err);
    t_update = esft_now_seconds() - u;
    if (!st) {
        cJSON *e = cJSON_AddObjectToObject(r->out, "es_iteration");
        cJSON_AddNumberToObject(e, "pop", c.pop);
        cJSON_AddNumberToObject(e, "prompts", B);
        cJSON_AddNumberToObject(e, "max_new", c.max_new);
        bench_json_number(e, "seconds", esft_now_seconds() - t0);
        bench_json_number(e, "seconds_generate", t_gen);
        bench_json_number(e, "seconds_perturb", t_perturb);
        bench_json_number(e, "seconds_update", t_update);
        cJSON_AddNumberToObject(e, "tokens", (double)tokens);
        bench_json_number(e, "tokens_per_s", t_gen > 0 ? tokens / t_gen : NAN);
    }
    free(sel);
    esft_prompts_free(&prompts);
    esft_task_free(task);
    return st;
}

/* Largest number under `key` in the objects of array `arr` (0 if none). */
static double best_in(const cJSON *arr, const char *key) {
    double best = 0;
    for (const cJSON *e = arr ? arr->child : NULL; e; e = e->next) {
        const cJSON *v = cJSON_GetObjectItem(e, key);
        if (cJSON_IsNumber(v) && v->valuedouble > best) best = v->valuedouble;
    }
    return best;
}

static void set_fraction(cJSON *e, const char *key, const char *of, double limit) {
    const cJSON *v = cJSON_GetObjectItem(e, key);
    if (cJSON_IsNumber(v)) cJSON_ReplaceItemInObject(e, of, limit > 0 ? cJSON_CreateNumber(v->valuedouble / limit)
                                                                       : cJSON_CreateNull());
}

/* The limits are what the device showed it can do: the square matmul and
 * the copy, raised to any rate a later measurement reached (a model shape
 * beating the square ones; the whole model's weights streamed by decode,
 * or the noise ops' buffers, moved faster than a copy), and every fraction
 * taken against the final limits, so that none exceeds 1. */
static void settle_limits(device_run *r) {
    cJSON *lim = cJSON_GetObjectItem(r->out, "limits");
    cJSON *mm = cJSON_GetObjectItem(r->out, "matmul"), *dec = cJSON_GetObjectItem(r->out, "decode");
    cJSON *noise = cJSON_GetObjectItem(r->out, "noise");
    const double flops = fmax(best_in(mm, "gflops"), best_in(dec, "gflops"));
    /* not the matmul shapes: a small W stays in the caches */
    const double gbps = fmax(best_in(dec, "weight_gbps"), best_in(noise, "gbps"));
    if (flops > r->peak) {
        r->peak = flops;
        cJSON_ReplaceItemInObject(lim, "gflops", cJSON_CreateNumber(flops));
        cJSON_ReplaceItemInObject(lim, "gflops_from", cJSON_CreateString("a model-shape matmul or decode (faster than the square ones)"));
    }
    if (gbps > r->bandwidth) {
        r->bandwidth = gbps;
        cJSON_ReplaceItemInObject(lim, "bandwidth_gbps", cJSON_CreateNumber(gbps));
        cJSON_AddStringToObject(lim, "bandwidth_from", "streaming weights (faster than the copy)");
    }
    const cJSON *nominal = cJSON_GetObjectItem(lim, "nominal_gflops");
    if (cJSON_IsNumber(nominal))
        cJSON_ReplaceItemInObject(lim, "measured_of_nominal", cJSON_CreateNumber(r->peak / nominal->valuedouble));
    cJSON *arrays[] = {mm, dec};
    for (int i = 0; i < 2; i++)
        for (cJSON *e = arrays[i] ? arrays[i]->child : NULL; e; e = e->next) {
            set_fraction(e, "gflops", "of_peak", r->peak);
            set_fraction(e, "weight_gbps", "of_bandwidth", r->bandwidth);
        }
    for (cJSON *e = noise ? noise->child : NULL; e; e = e->next) set_fraction(e, "gbps", "of_bandwidth", r->bandwidth);
}

static esft_status write_results(device_run *r, const char *path) {
    char *text = cJSON_Print(r->out);
    esft_status st = text ? esft_atomic_write(path, text, strlen(text), &r->err)
                          : esft_errf(&r->err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    free(text);
    return st;
}

int bench_device_main(const bench_device_args *a) {
    device_run r = {.quick = a->quick, .min_s = a->quick ? 0.1 : 0.3, .out = cJSON_CreateObject()};
    const char *fail_switch = getenv("ESFT_TEST_FAIL_BACKEND"), *hang_switch = getenv("ESFT_TEST_HANG_BACKEND");
    esft_status st = ESFT_OK;
    if (fail_switch && strcmp(fail_switch, a->backend) == 0)
        st = esft_errf(&r.err, ESFT_ERR_DEVICE, "%s failed on purpose: ESFT_TEST_FAIL_BACKEND=%s", a->backend, fail_switch);
    if (hang_switch && strcmp(hang_switch, a->backend) == 0) {
        step("hanging on purpose (ESFT_TEST_HANG_BACKEND)");
        for (;;) pause();
    }
    esft_device_info d = {0};
    esft_backend_options bo = {.n_threads = a->threads, .device_index = a->device};
    if (!st) st = esft_backend_open_device(a->backend, &bo, &r.be, &d, &r.err);
    if (!st) {
        step("limits: peak matmul and copy bandwidth");
        cJSON_AddStringToObject(r.out, "work_dtype", esft_dtype_name(r.be->work_dtype));
        cJSON_AddNumberToObject(r.out, "threads", r.be->n_threads);
        st = measure_limits(&r, &d);
    }
    if (!st) st = esft_model_load(a->model, r.be, &(esft_model_options){.trainable = true}, &r.m, &r.err);
    /* the results so far go to the file after each part, so that a device
     * stopped at its budget still reports what it measured */
    esft_status (*const parts[])(device_run *) = {measure_matmul, measure_noise, measure_decode, measure_iteration};
    for (size_t i = 0; !st && i < sizeof parts / sizeof *parts; i++) {
        st = parts[i](&r);
        if (!st) settle_limits(&r);
        if (!st) st = write_results(&r, a->json_path);
    }
    if (st) fprintf(stderr, "esft bench device: %s\n", r.err.msg);
    cJSON_Delete(r.out);
    esft_model_free(r.m);
    esft_backend_destroy(r.be);
    return esft_exit_code(st);
}
