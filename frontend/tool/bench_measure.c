#include "bench_measure.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "quant.h"

double bench_matmul_flops_per_token(const esft_model *m) {
    double params = 0;
    for (int l = 0; l < m->hp.n_layer; l++) {
        const esft_layer *L = &m->layers[l];
        const esft_param *w[] = {L->wq, L->wk, L->wv, L->wo, L->w_gate, L->w_up, L->w_down};
        for (size_t i = 0; i < sizeof w / sizeof w[0]; i++) params += (double)w[i]->n;
    }
    params += (double)m->output->n;
    return 2.0 * params;
}

/* on_progress of bench_generate: the first pass in which every sequence
 * gives a token (so every prompt has been fed) ends the prefill. */
static void note_prefill_end(void *user, const esft_gen_progress *p) {
    bench_split *sp = user;
    if (sp->seconds_started == 0 && p->new_tokens - sp->tokens_before >= sp->batch) {
        sp->seconds_started = p->seconds;
        sp->tokens_started = p->new_tokens;
    }
    sp->tokens_before = p->new_tokens;
}

/* The most prompt tokens bench_generate feeds in one pass. */
#define BENCH_MAX_PASS_TOKENS 4096

esft_status bench_generate(esft_model *m, int batch, int prompt_len, int max_new, const struct esft_lowrank *lr,
                           const int32_t *request_member, esft_gen_stats *st, bench_split *split, esft_err *err) {
    esft_gen_request *reqs = calloc((size_t)batch, sizeof *reqs);
    esft_gen_result *res = calloc((size_t)batch, sizeof *res);
    int32_t *ids = malloc((size_t)batch * prompt_len * sizeof *ids);
    esft_status s = reqs && res && ids ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    uint64_t x = 12345;
    for (int b = 0; !s && b < batch; b++) {
        for (int i = 0; i < prompt_len; i++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            ids[(size_t)b * prompt_len + i] = (int32_t)((x >> 33) % 256); /* byte tokens */
        }
        reqs[b] = (esft_gen_request){ids + (size_t)b * prompt_len, prompt_len};
    }
    /* every prompt in the first pass (as the llama.cpp peer does), so that
     * all sequences decode together from the first decode step; up to a
     * pass of BENCH_MAX_PASS_TOKENS, whose activations stay small */
    const long all = (long)batch * prompt_len;
    const int budget = all <= ESFT_GEN_BATCH_TOKENS ? 0 : all < BENCH_MAX_PASS_TOKENS ? (int)all : BENCH_MAX_PASS_TOKENS;
    esft_gen_params gp = {.max_new = max_new, .ignore_eog = true, .max_batch_tokens = budget, .lowrank = lr,
                          .request_member = request_member};
    if (split) {
        *split = (bench_split){.batch = batch};
        gp.on_progress = note_prefill_end, gp.user = split;
    }
    if (!s) s = esft_generate(m, reqs, batch, &gp, res, st, err);
    for (int b = 0; !s && b < batch; b++) esft_gen_result_free(&res[b]);
    free(reqs), free(res), free(ids);
    return s;
}

esft_status bench_decode(esft_model *m, int batch, int prompt_len, int n_new, double *tok_s, double *prefill_tok_s,
                         esft_err *err) {
    esft_gen_stats st;
    bench_split sp;
    esft_status s = bench_generate(m, batch, prompt_len, n_new + 1, NULL, NULL, &st, &sp, err);
    if (s) return s;
    const double dt = st.seconds - sp.seconds_started;
    *tok_s = dt > 0 ? (double)(st.new_tokens - sp.tokens_started) / dt : 0;
    *prefill_tok_s = sp.seconds_started > 0 ? (double)batch * prompt_len / sp.seconds_started : 0;
    return ESFT_OK;
}

/* Host copy of n f32 values in dtype wd (f32, f16 or bf16). */
static void *host_in_dtype(const float *src, size_t n, esft_dtype wd) {
    const ggml_type t = wd == ESFT_F16 ? GGML_TYPE_F16 : wd == ESFT_BF16 ? GGML_TYPE_BF16 : GGML_TYPE_F32;
    void *dst = malloc(n * esft_dtype_size(wd));
    if (dst && esft_ggml_quantize(t, src, dst, n, NULL)) {
        free(dst);
        return NULL;
    }
    return dst;
}

/* Repeats call() until min_seconds have passed (at least twice) or reps
 * calls when reps > 0; *per_call: seconds per call. */
#define TIME_CALLS(call, be, min_seconds, reps, per_call, status)                        \
    do {                                                                                 \
        int n_ = 0;                                                                      \
        double t0_ = esft_now_seconds(), dt_;                                            \
        do {                                                                             \
            if (!(status)) (status) = (call);                                            \
            if (!(status)) (status) = esft_synchronize(be);                              \
            n_++;                                                                        \
            dt_ = esft_now_seconds() - t0_;                                              \
        } while (!(status) && ((reps) > 0 ? n_ < (reps) : (dt_ < (min_seconds) || n_ < 2))); \
        *(per_call) = dt_ / n_;                                                          \
    } while (0)

esft_status bench_matmul(esft_backend *be, int T, int N, int K, double min_seconds, int reps, double *seconds,
                         esft_err *err) {
    const esft_dtype wd = be->work_dtype;
    const size_t nw = (size_t)N * K, nx = (size_t)T * K, nmax = nw > nx ? nw : nx;
    esft_buf x = {0}, w = {0}, y = {0};
    float *host = malloc(nmax * sizeof *host);
    void *wh = NULL;
    esft_status s = ESFT_OK;
    if (host)
        for (size_t i = 0; i < nmax; i++) host[i] = (float)((i * 2654435761u) % 1000) * 1e-3f - 0.5f;
    if (!host || !(wh = host_in_dtype(host, nw, wd)))
        s = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    else if (esft_buf_alloc(be, &x, ESFT_F32, nx) || esft_buf_alloc(be, &w, wd, nw) ||
             esft_buf_alloc(be, &y, ESFT_F32, (size_t)T * N) || esft_upload(&w, 0, wh, nw) ||
             esft_upload(&x, 0, host, nx))
        s = esft_errf(err, ESFT_ERR_DEVICE, "matmul %dx%dx%d: %s", T, N, K, be->err.msg);
    free(wh), free(host);
    if (!s && (esft_matmul(be, &y, &x, &w, NULL, T, N, K) || esft_synchronize(be))) /* warm-up */
        s = esft_errf(err, ESFT_ERR_DEVICE, "matmul %dx%dx%d: %s", T, N, K, be->err.msg);
    if (!s) {
        TIME_CALLS(esft_matmul(be, &y, &x, &w, NULL, T, N, K), be, min_seconds, reps, seconds, s);
        if (s) esft_errf(err, s, "matmul %dx%dx%d: %s", T, N, K, be->err.msg);
    }
    esft_buf_free(&x), esft_buf_free(&w), esft_buf_free(&y);
    return s;
}

esft_status bench_noise(esft_backend *be, size_t n, int members, bool adam, double min_seconds,
                        double *gnormals_per_s, double *gbytes_per_s, double *ms_per_call, esft_err *err) {
    const esft_dtype wd = be->work_dtype;
    esft_buf master = {0}, work = {0}, state = {0};
    esft_status s = ESFT_OK;
    float *zero = calloc(adam ? 2 * n : n, sizeof *zero);
    if (!zero) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (esft_buf_alloc(be, &master, ESFT_F32, n) || esft_buf_alloc(be, &work, wd, n) || esft_upload(&master, 0, zero, n))
        s = esft_errf(err, ESFT_ERR_DEVICE, "noise over %zu weights: %s", n, be->err.msg);
    if (!s && adam && (esft_buf_alloc(be, &state, ESFT_F32, 2 * n) || esft_upload(&state, 0, zero, 2 * n)))
        s = esft_errf(err, ESFT_ERR_DEVICE, "Adam state of %zu weights: %s", n, be->err.msg);
    free(zero);
    const esft_opt_step step = {.rule = ESFT_OPT_ADAM, .lr = 1e-5f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f,
                                .bc1 = 10.0f, .bc2 = 1000.0f};
    enum { MAX_MEMBERS = 64 };
    uint64_t seeds[MAX_MEMBERS];
    float coeffs[MAX_MEMBERS];
    if (members > MAX_MEMBERS) members = MAX_MEMBERS;
    for (int k = 0; k < MAX_MEMBERS; k++) seeds[k] = 1000 + (uint64_t)k, coeffs[k] = 1e-6f;
    double per_call = 0;
    if (!s) {
        if (members == 0) TIME_CALLS(esft_perturb(be, &work, &master, n, 7, 42, 0.001f), be, min_seconds, 0, &per_call, s);
        else if (adam)
            TIME_CALLS(esft_es_optimize(be, &master, &state, NULL, n, 7, seeds, coeffs, members, &step), be,
                       min_seconds, 0, &per_call, s);
        else TIME_CALLS(esft_es_update(be, &master, n, 7, seeds, coeffs, members), be, min_seconds, 0, &per_call, s);
        if (s) esft_errf(err, s, "%s: %s", members ? adam ? "es_optimize" : "es_update" : "perturb", be->err.msg);
    }
    if (!s) {
        /* es_optimize (Adam) also reads and writes m and v */
        const double bytes = members ? adam ? 24.0 : 8.0 : 4.0 + (double)esft_dtype_size(wd);
        *gnormals_per_s = (double)n * (members ? members : 1) / per_call / 1e9;
        *gbytes_per_s = bytes * (double)n / per_call / 1e9;
        *ms_per_call = per_call * 1e3;
    }
    esft_buf_free(&master), esft_buf_free(&work);
    if (state.handle) esft_buf_free(&state);
    return s;
}

esft_status bench_copy(esft_backend *be, size_t bytes, double min_seconds, double *gbytes_per_s, esft_err *err) {
    const size_t n = bytes / sizeof(float);
    esft_buf a = {0}, b = {0};
    float *zero = calloc(n, sizeof *zero);
    esft_status s = zero ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (!s && (esft_buf_alloc(be, &a, ESFT_F32, n) || esft_buf_alloc(be, &b, ESFT_F32, n) ||
               esft_upload(&a, 0, zero, n) || esft_copy(&b, 0, &a, 0, n) || esft_synchronize(be)))
        s = esft_errf(err, ESFT_ERR_DEVICE, "copy of %zu bytes: %s", bytes, be->err.msg);
    free(zero);
    double per_call = 0;
    if (!s) {
        TIME_CALLS(esft_copy(&b, 0, &a, 0, n), be, min_seconds, 0, &per_call, s);
        if (s) esft_errf(err, s, "copy: %s", be->err.msg);
        else *gbytes_per_s = 2.0 * (double)n * sizeof(float) / per_call / 1e9;
    }
    esft_buf_free(&a), esft_buf_free(&b);
    return s;
}
