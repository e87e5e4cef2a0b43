/* Low-rank members (EGGROLL mode, DESIGN.md §1 "Low-rank members") on the
 * tiny synthetic models, checked against independent references:
 *  1. the pinned factor ids;
 *  2. batched forward: every member's logits, with all members x prompts in
 *     one packed pass, equal a plain forward of a model whose work weights
 *     are W + s_k sigma A_k B_k^T / sqrt(R) materialised on the host from the
 *     scalar eps() (max relative difference <= 1e-5), for tied and untied
 *     heads and for qwen2 (biases);
 *  3. the update of esft_es_apply equals the naive sum over members of
 *     c_k A_k B_k^T / sqrt(R) from the scalar eps() (<= 1e-6 relative), with
 *     and without antithetic pairs; 1-D tensors stay untouched;
 *  4. training: a run resumed half way equals the uninterrupted run bit for
 *     bit, a resume with another mode is refused, and cpu, opencl and vulkan
 *     (where present) give final weights within 1e-5 after 3 iterations. */
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_lowrank.h"
#include "es_step.h"
#include "esft_hash.h"
#include "noise.h"
#include "registry.h"
#include "synth.h"
#include "testutil.h"
#include "train.h"

#define SIGMA 0.05f

static esft_backend *open_backend(const char *name) {
    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options o = {0};
    o.n_threads = 1;
    if (esft_backend_open(name, &o, &be, &err)) return NULL;
    return be;
}

static esft_model *load(esft_backend *be, const char *path) {
    esft_model *m = NULL;
    esft_err err = {{0}};
    esft_model_options mo = {.trainable = true};
    CHECKF(esft_model_load(path, be, &mo, &m, &err) == ESFT_OK, "%s", err.msg);
    return m;
}

static void test_pinned_ids(void) {
    CHECKF(esft_tensor_id("blk.0.attn_q.weight#A") == 0x178e244bu, "id of #A: %08x",
           esft_tensor_id("blk.0.attn_q.weight#A"));
    CHECKF(esft_tensor_id("blk.0.attn_q.weight#B") == 0x188e25deu, "id of #B: %08x",
           esft_tensor_id("blk.0.attn_q.weight#B"));
}

/* W + scale * A B^T of parameter p for seed, from the scalar eps(), in
 * double, rounded once to f32: the materialised member. */
static float *materialise(const esft_param *p, const float *w, uint64_t seed, float scale, int R) {
    const size_t rows = p->ne[1], cols = p->ne[0];
    char name[128];
    snprintf(name, sizeof name, "%s#A", p->name);
    const uint32_t ida = esft_tensor_id(name);
    snprintf(name, sizeof name, "%s#B", p->name);
    const uint32_t idb = esft_tensor_id(name);
    double *a = malloc(rows * R * sizeof *a), *b = malloc(cols * R * sizeof *b);
    float *out = malloc(rows * cols * sizeof *out);
    for (size_t i = 0; i < rows * R; i++) a[i] = esft_eps_scalar(seed, ida, i);
    for (size_t i = 0; i < cols * R; i++) b[i] = esft_eps_scalar(seed, idb, i);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            double s = 0;
            for (int r = 0; r < R; r++) s += a[i * R + r] * b[j * R + r];
            out[i * cols + j] = (float)(w[i * cols + j] + scale * s);
        }
    free(a), free(b);
    return out;
}

#define N_MEMBERS 3
#define SEQS 2 /* sequences per member */

/* Logits of every token of sequences lens[0..n_seq) (tokens toks, slot q
 * for sequence q, member slot_member[q] when lr) in one packed pass. */
static float *forward_all(esft_model *m, const esft_lowrank *lr, const int32_t *slot_member, int32_t **toks,
                          const int *lens, int n_seq) {
    int total = 0, max_len = 0;
    for (int q = 0; q < n_seq; q++) total += lens[q], max_len = lens[q] > max_len ? lens[q] : max_len;
    int32_t *t = malloc(total * sizeof *t), *s = malloc(total * sizeof *s), *p = malloc(total * sizeof *p);
    int32_t *rows = malloc(total * sizeof *rows);
    int n = 0;
    for (int q = 0; q < n_seq; q++)
        for (int i = 0; i < lens[q]; i++, n++) t[n] = toks[q][i], s[n] = q, p[n] = i, rows[n] = n;
    esft_forward_ctx fc;
    esft_err err = {{0}};
    const size_t V = (size_t)m->hp.n_vocab;
    float *logits = malloc(total * V * sizeof *logits);
    bool ok = esft_forward_ctx_init(&fc, m, total, total, n_seq, max_len, &err) == ESFT_OK;
    CHECKF(ok, "%s", err.msg);
    if (ok && lr) CHECKF((ok = esft_forward_ctx_set_lowrank(&fc, lr, slot_member, &err) == ESFT_OK), "%s", err.msg);
    if (ok) CHECKF((ok = esft_forward(&fc, t, s, p, total, rows, total, &err) == ESFT_OK), "%s", err.msg);
    if (ok) CHECK(esft_download(&fc.logits, 0, logits, total * V) == ESFT_OK);
    if (ok) esft_forward_ctx_free(&fc);
    free(t), free(s), free(p), free(rows);
    return logits;
}

static double max_rel_diff(const float *a, const float *ref, size_t n) {
    double md = 0, mr = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / (mr > 0 ? mr : 1);
}

static void test_forward_exact(esft_backend *be, const char *preset, int tied, int R) {
    char path[1024];
    snprintf(path, sizeof path, "%s/lowrank_%s_%d.gguf", ESFT_TEST_BINARY_DIR, preset, tied);
    esft_synth_spec spec;
    esft_synth_preset(preset, &spec);
    spec.tied = tied;
    esft_err err = {{0}};
    CHECKF(esft_synth_write(&spec, path, &err) == ESFT_OK, "%s", err.msg);
    esft_model *m = load(be, path), *ref = load(be, path);
    if (!m || !ref) return;
    bool *sel = calloc(m->n_params, sizeof *sel);
    for (int i = 0; i < m->n_params; i++) sel[i] = true;
    /* members 0 and 1 draw their own factors, member 2 is member 1's
     * antithetic partner (same factors, scale negated) */
    const uint64_t seeds[2] = {esft_member_seed(11, 0, 0), esft_member_seed(11, 0, 1)};
    const float scale = SIGMA / sqrtf((float)R);
    esft_lowrank lr;
    bool ok = esft_lowrank_init(&lr, m, sel, R, 2, N_MEMBERS, &err) == ESFT_OK;
    CHECKF(ok, "%s", err.msg);
    for (int f = 0; ok && f < 2; f++) CHECKF((ok = esft_lowrank_fill(&lr, f, seeds[f], &err) == ESFT_OK), "%s", err.msg);
    if (!ok) return;
    const int32_t factor[N_MEMBERS] = {0, 1, 1};
    const float sign[N_MEMBERS] = {1, 1, -1};
    for (int j = 0; j < N_MEMBERS; j++) lr.member_factor[j] = factor[j], lr.member_scale[j] = sign[j] * scale;

    /* two sequences per member, of different lengths */
    const int V = m->hp.n_vocab;
    int lens[N_MEMBERS * SEQS];
    int32_t *toks[N_MEMBERS * SEQS], slot_member[N_MEMBERS * SEQS];
    uint64_t rng = 5;
    for (int q = 0; q < N_MEMBERS * SEQS; q++) {
        lens[q] = 3 + q % 4;
        toks[q] = malloc(lens[q] * sizeof *toks[q]);
        for (int i = 0; i < lens[q]; i++) toks[q][i] = (int32_t)(esft_splitmix64_next(&rng) % (uint64_t)V);
        slot_member[q] = q / SEQS;
    }
    float *batched = forward_all(m, &lr, slot_member, toks, lens, N_MEMBERS * SEQS);
    float *base = forward_all(ref, NULL, NULL, toks, lens, SEQS); /* member 0's prompts, unperturbed */
    size_t off = 0;
    double worst = 0, moved = INFINITY;
    for (int j = 0; j < N_MEMBERS; j++) {
        /* the reference model's work weights: member j materialised */
        for (int i = 0; i < ref->n_params; i++) {
            esft_param *p = &ref->params[i];
            if (p->n_dims != 2) continue;
            float *w = malloc(p->n * sizeof *w);
            CHECK(esft_download(&p->master, 0, w, p->n) == ESFT_OK);
            float *wk = materialise(p, w, seeds[factor[j]], sign[j] * scale, R);
            CHECK(esft_upload(&p->work, 0, wk, p->n) == ESFT_OK);
            free(w), free(wk);
        }
        float *want = forward_all(ref, NULL, NULL, toks + j * SEQS, lens + j * SEQS, SEQS);
        const size_t n = (size_t)(lens[j * SEQS] + lens[j * SEQS + 1]) * V;
        const double d = max_rel_diff(batched + off, want, n);
        if (d > worst) worst = d;
        CHECKF(d <= 1e-5, "%s tied=%d R=%d member %d: batched low-rank logits differ from the materialised "
                          "member's by %.3g (relative)", preset, tied, R, j, d);
        if (j == 0) moved = max_rel_diff(base, want, n);
        off += n;
        free(want);
    }
    /* the perturbation is visible: a test of nothing would pass too */
    CHECKF(moved > 1e-3, "%s: member 0's logits differ from the base's by only %.3g", preset, moved);
    printf("  forward %s tied=%d R=%d: max relative difference %.2g (perturbation moved logits by %.2g)\n", preset,
           tied, R, worst, moved);
    for (int q = 0; q < N_MEMBERS * SEQS; q++) free(toks[q]);
    free(batched), free(base), free(sel);
    esft_lowrank_free(&lr);
    esft_model_free(m), esft_model_free(ref);
}

/* esft_es_apply on zeroed masters: the result is the update alone, against
 * sum_j c_j A_j B_j^T / sqrt(R) from the scalar eps() in double. */
static void test_update_exact(esft_backend *be, bool antithetic) {
    char path[1024];
    snprintf(path, sizeof path, "%s/lowrank_update.gguf", ESFT_TEST_BINARY_DIR);
    esft_synth_spec spec;
    esft_synth_preset("tiny", &spec);
    esft_err err = {{0}};
    CHECKF(esft_synth_write(&spec, path, &err) == ESFT_OK, "%s", err.msg);
    esft_model *m = load(be, path);
    if (!m) return;
    esft_run_config c = {.run_seed = 9, .pop = 6, .sigma = SIGMA, .alpha = 0.02f, .max_new = 1,
                         .shaping = ESFT_SHAPING_ZSCORE, .antithetic = antithetic, .noise = ESFT_NOISE_LOWRANK,
                         .rank = 3};
    snprintf(c.params, sizeof c.params, "*");
    esft_opt_config_unset(&c.opt);
    esft_opt_config_defaults(&c.opt);
    CHECKF(esft_run_config_check(&c, false, &err) == ESFT_OK, "%s", err.msg);
    int n_sel = 0;
    bool *sel = esft_es_select(m, c.params, &n_sel);
    CHECK(esft_es_lowrank_select(m, &c, sel, &n_sel, &err) == ESFT_OK);
    /* zero every master; 1-D ones get ones, which must survive */
    float **before = calloc(m->n_params, sizeof *before);
    for (int i = 0; i < m->n_params; i++) {
        esft_param *p = &m->params[i];
        before[i] = calloc(p->n, sizeof(float));
        if (p->n_dims != 2)
            for (size_t e = 0; e < p->n; e++) before[i][e] = 1.0f;
        CHECK(esft_upload(&p->master, 0, before[i], p->n) == ESFT_OK);
    }
    const double R[6] = {0.5, -1, 2, 0.25, 3, -0.75};
    CHECKF(esft_es_apply(m, sel, &c, 4, R, NULL, &err) == ESFT_OK, "%s", err.msg);
    double z[6];
    uint64_t seeds[6];
    float co[6];
    esft_shape_fitness(c.shaping, R, c.pop, z);
    const int n_seeds = esft_es_coefficients(c.run_seed, 4, z, c.pop, c.alpha, c.antithetic, seeds, co);
    double worst = 0;
    int frozen_ok = 0, frozen = 0;
    for (int i = 0; i < m->n_params; i++) {
        esft_param *p = &m->params[i];
        float *got = malloc(p->n * sizeof *got);
        CHECK(esft_download(&p->master, 0, got, p->n) == ESFT_OK);
        if (p->n_dims != 2) {
            frozen++;
            frozen_ok += memcmp(got, before[i], p->n * sizeof *got) == 0;
            free(got);
            continue;
        }
        double *want = calloc(p->n, sizeof *want);
        for (int j = 0; j < n_seeds; j++) {
            float *one = materialise(p, before[i], seeds[j], 1.0f, c.rank); /* 0 + A_j B_j^T */
            for (size_t e = 0; e < p->n; e++) want[e] += (double)co[j] / sqrt((double)c.rank) * one[e];
            free(one);
        }
        double md = 0, mw = 0;
        for (size_t e = 0; e < p->n; e++) {
            md = fmax(md, fabs(got[e] - want[e]));
            mw = fmax(mw, fabs(want[e]));
        }
        const double rel = md / mw;
        if (rel > worst) worst = rel;
        CHECKF(rel <= 1e-6, "%s%s: low-rank update differs from the naive sum by %.3g (relative)", p->name,
               antithetic ? " (antithetic)" : "", rel);
        free(got), free(want);
    }
    CHECKF(frozen > 0 && frozen_ok == frozen, "%d of %d 1-D tensors changed", frozen - frozen_ok, frozen);
    printf("  update%s: %d seeds, max relative difference %.2g, %d 1-D tensors untouched\n",
           antithetic ? " (antithetic)" : "", n_seeds, worst, frozen_ok);
    for (int i = 0; i < m->n_params; i++) free(before[i]);
    free(before), free(sel);
    esft_model_free(m);
}

/* ---- training runs ---- */

static esft_train_options run_options(const char *model, const char *out, const char *backend, int iters) {
    esft_train_options o = {0};
    o.model_path = model;
    o.out_dir = out;
    o.overwrite = true;
    o.iters = iters;
    o.quiet = true;
    o.backend = backend;
    o.threads = 1;
    o.save_dtype = GGML_TYPE_F32;
    o.eval_every = o.eval_limit = o.checkpoint_every = o.max_slots = o.log_samples = -1;
    o.hash_every = 10;
    esft_run_config *c = &o.cfg;
    c->pop = 4;
    c->sigma = SIGMA;
    c->alpha = 0.02f;
    c->max_new = 6;
    c->run_seed = 3;
    c->shaping = (esft_shaping)-1;
    c->weight_decay = NAN;
    c->reward_timeout = NAN;
    c->reward_timeout_score = NAN;
    c->noise = ESFT_NOISE_LOWRANK;
    c->rank = 2;
    c->antithetic = true;
    snprintf(c->task, sizeof c->task, "conciseness");
    return o;
}

/* Every tensor of the model at path, as f32, concatenated. */
static float *weights(const char *path, size_t *n) {
    gguf_file *f = NULL;
    esft_err err = {{0}};
    *n = 0;
    if (esft_gguf_open(path, &f, &err)) return NULL;
    size_t total = 0;
    for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) total += esft_gguf_tensor_at(f, i)->n_elements;
    float *w = malloc(total * sizeof *w);
    for (size_t i = 0, off = 0; i < esft_gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = esft_gguf_tensor_at(f, i);
        esft_ggml_dequantize(t->type, t->data, w + off, t->n_elements, NULL);
        off += t->n_elements;
    }
    *n = total;
    esft_gguf_close(f);
    return w;
}

static void test_training(const char *model) {
    char out_full[1024], out_half[1024], final_full[1100], final_half[1100];
    snprintf(out_full, sizeof out_full, "%s/lowrank_run4", ESFT_TEST_BINARY_DIR);
    snprintf(out_half, sizeof out_half, "%s/lowrank_run2", ESFT_TEST_BINARY_DIR);
    snprintf(final_full, sizeof final_full, "%s/final.gguf", out_full);
    snprintf(final_half, sizeof final_half, "%s/final.gguf", out_half);
    esft_err err = {{0}};
    esft_train_options o = run_options(model, out_full, "cpu", 4);
    CHECKF(esft_train(&o, &err) == ESFT_OK, "%s", err.msg);
    o = run_options(model, out_half, "cpu", 2);
    CHECKF(esft_train(&o, &err) == ESFT_OK, "%s", err.msg);
    /* a resume that names the other mode is refused */
    esft_train_options r = run_options(NULL, out_half, "cpu", 4);
    r.overwrite = false;
    r.resume_dir = out_half;
    r.cfg.noise = ESFT_NOISE_FULL;
    r.cfg.rank = 0;
    r.cfg.pop = INT_MIN;
    r.cfg.sigma = r.cfg.alpha = NAN;
    r.cfg.max_new = 0;
    r.cfg.run_seed = UINT64_MAX;
    r.cfg.antithetic = false;
    r.cfg.task[0] = '\0';
    esft_status st = esft_train(&r, &err);
    CHECKF(st == ESFT_ERR_INVALID_ARG && strstr(err.msg, "--noise"), "resume with --noise full: %d %s", st, err.msg);
    /* the same resume without it continues bit for bit */
    r.cfg.noise = ESFT_NOISE_UNSET;
    st = esft_train(&r, &err);
    CHECKF(st == ESFT_OK, "resume: %s", err.msg);
    size_t na = 0, nb = 0;
    float *a = weights(final_full, &na), *b = weights(final_half, &nb);
    CHECKF(a && b && na == nb && memcmp(a, b, na * sizeof *a) == 0, "resumed low-rank run differs from the uninterrupted one");
    size_t n0 = 0;
    float *w0 = weights(model, &n0);
    CHECKF(a && w0 && n0 == na && memcmp(a, w0, na * sizeof *a) != 0, "low-rank training changed nothing");
    free(a), free(b), free(w0);
}

/* cpu, opencl and vulkan after 3 iterations: within 1e-5 of each other. */
static void test_backends_agree(const char *model) {
    const char *names[] = {"cpu", "opencl", "vulkan"};
    float *ref = NULL;
    size_t nref = 0;
    for (int b = 0; b < 3; b++) {
        esft_backend *be = open_backend(names[b]);
        if (!be) {
            printf("  backends: %s not available here, skipped\n", names[b]);
            continue;
        }
        esft_backend_destroy(be);
        char out[1024], final[1100];
        snprintf(out, sizeof out, "%s/lowrank_%s", ESFT_TEST_BINARY_DIR, names[b]);
        snprintf(final, sizeof final, "%s/final.gguf", out);
        esft_err err = {{0}};
        esft_train_options o = run_options(model, out, names[b], 3);
        o.cfg.antithetic = false;
        CHECKF(esft_train(&o, &err) == ESFT_OK, "%s: %s", names[b], err.msg);
        size_t n = 0;
        float *w = weights(final, &n);
        if (!ref) {
            ref = w, nref = n;
            continue;
        }
        double md = 0;
        for (size_t i = 0; w && i < n && n == nref; i++) md = fmax(md, fabs((double)w[i] - ref[i]));
        CHECKF(w && n == nref && md <= 1e-5, "%s: final weights differ from cpu's by %.3g", names[b], md);
        printf("  backends: %s within %.2g of cpu after 3 iterations\n", names[b], md);
        free(w);
    }
    free(ref);
}

int main(void) {
    test_pinned_ids();
    esft_backend *be = open_backend("cpu");
    CHECK(be != NULL);
    if (!be) return TEST_EXIT();
    test_forward_exact(be, "tiny", 1, 1);
    test_forward_exact(be, "tiny", 0, 4);
    test_forward_exact(be, "tiny-qwen2", 0, 2);
    test_update_exact(be, false);
    test_update_exact(be, true);
    esft_backend_destroy(be);
    char model[1024];
    snprintf(model, sizeof model, "%s/lowrank_tiny_1.gguf", ESFT_TEST_BINARY_DIR);
    test_training(model);
    test_backends_agree(model);
    return TEST_EXIT();
}
