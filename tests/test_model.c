/* The forward pass and generation on synthetic llama and qwen2 models,
 * against an independent plain-C reference: a naive full recompute of every
 * position (no KV cache, no batching, double accumulation) written here from
 * the GGUF tensors. Also: packed batches of many sequences equal separate
 * runs, and bad models are refused with a one-line error. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model.h"
#include "registry.h"
#include "synth.h"
#include "testutil.h"

/* ---- naive reference ---- */

typedef struct ref_model {
    esft_hparams hp;
    gguf_file *f;
} ref_model;

static float *ref_tensor(const ref_model *r, const char *name) {
    const gguf_tensor_info *t = esft_gguf_find_tensor(r->f, name);
    if (!t) return NULL;
    float *x = malloc(t->n_elements * sizeof *x);
    if (x && esft_ggml_dequantize(t->type, t->data, x, t->n_elements, NULL) != ESFT_OK) {
        free(x);
        return NULL;
    }
    return x;
}

static float *ref_layer_tensor(const ref_model *r, int l, const char *suffix) {
    char name[96];
    snprintf(name, sizeof name, "blk.%d.%s", l, suffix);
    return ref_tensor(r, name);
}

/* y[n] = W[n x k] x[k] (+ b) in double */
static void ref_matvec(double *y, const float *W, const double *x, const float *b, int n, int k) {
    for (int i = 0; i < n; i++) {
        double s = b ? b[i] : 0.0;
        for (int j = 0; j < k; j++) s += (double)W[(size_t)i * k + j] * x[j];
        y[i] = s;
    }
}

static void ref_rmsnorm(double *y, const double *x, const float *w, int d, double eps) {
    double ss = 0;
    for (int i = 0; i < d; i++) ss += x[i] * x[i];
    double s = 1.0 / sqrt(ss / d + eps);
    for (int i = 0; i < d; i++) y[i] = x[i] * s * w[i];
}

static void ref_rope(double *v, int n_heads, int hd, int pos, double base, esft_rope_style style) {
    for (int h = 0; h < n_heads; h++) {
        double *x = v + (size_t)h * hd;
        for (int i = 0; i < hd / 2; i++) {
            double theta = pos * pow(base, -2.0 * i / hd);
            double c = cos(theta), s = sin(theta);
            int a = style == ESFT_ROPE_NORM ? 2 * i : i;
            int b = style == ESFT_ROPE_NORM ? 2 * i + 1 : i + hd / 2;
            double x0 = x[a], x1 = x[b];
            x[a] = x0 * c - x1 * s;
            x[b] = x0 * s + x1 * c;
        }
    }
}

/* Logits (n_vocab doubles) after the last of tokens[0..n). */
static double *ref_forward(const ref_model *r, const int32_t *tokens, int n) {
    const esft_hparams *hp = &r->hp;
    const int D = hp->n_embd, H = hp->n_head, KVH = hp->n_head_kv, hd = hp->head_dim;
    const int FF = hp->n_ff, qd = H * hd, kvd = KVH * hd, V = hp->n_vocab;
    double *x = calloc((size_t)n * D, sizeof *x), *h = malloc(D * sizeof *h);
    double *q = malloc((size_t)n * qd * sizeof *q), *k = malloc((size_t)n * kvd * sizeof *k);
    double *v = malloc((size_t)n * kvd * sizeof *v), *att = malloc(qd * sizeof *att);
    double *o = malloc(D * sizeof *o), *g = malloc(FF * sizeof *g), *u = malloc(FF * sizeof *u);
    double *sc = malloc(n * sizeof *sc), *logits = malloc(V * sizeof *logits);
    float *emb = ref_tensor(r, "token_embd.weight");
    for (int t = 0; t < n; t++)
        for (int i = 0; i < D; i++) x[(size_t)t * D + i] = emb[(size_t)tokens[t] * D + i];
    for (int l = 0; l < hp->n_layer; l++) {
        float *an = ref_layer_tensor(r, l, "attn_norm.weight"), *wq = ref_layer_tensor(r, l, "attn_q.weight");
        float *wk = ref_layer_tensor(r, l, "attn_k.weight"), *wv = ref_layer_tensor(r, l, "attn_v.weight");
        float *bq = ref_layer_tensor(r, l, "attn_q.bias"), *bk = ref_layer_tensor(r, l, "attn_k.bias");
        float *bv = ref_layer_tensor(r, l, "attn_v.bias"), *wo = ref_layer_tensor(r, l, "attn_output.weight");
        float *fn = ref_layer_tensor(r, l, "ffn_norm.weight"), *wg = ref_layer_tensor(r, l, "ffn_gate.weight");
        float *wu = ref_layer_tensor(r, l, "ffn_up.weight"), *wd = ref_layer_tensor(r, l, "ffn_down.weight");
        for (int t = 0; t < n; t++) {
            ref_rmsnorm(h, x + (size_t)t * D, an, D, hp->rms_eps);
            ref_matvec(q + (size_t)t * qd, wq, h, bq, qd, D);
            ref_matvec(k + (size_t)t * kvd, wk, h, bk, kvd, D);
            ref_matvec(v + (size_t)t * kvd, wv, h, bv, kvd, D);
            ref_rope(q + (size_t)t * qd, H, hd, t, hp->rope_base, hp->rope_style);
            ref_rope(k + (size_t)t * kvd, KVH, hd, t, hp->rope_base, hp->rope_style);
        }
        for (int t = 0; t < n; t++) {
            for (int hh = 0; hh < H; hh++) {
                const int kh = hh / (H / KVH);
                const double *qv = q + (size_t)t * qd + (size_t)hh * hd;
                double mx = -INFINITY, sum = 0;
                for (int j = 0; j <= t; j++) {
                    double s = 0;
                    for (int i = 0; i < hd; i++) s += qv[i] * k[(size_t)j * kvd + (size_t)kh * hd + i];
                    sc[j] = s / sqrt((double)hd);
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = 0; j <= t; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int i = 0; i < hd; i++) {
                    double a = 0;
                    for (int j = 0; j <= t; j++) a += sc[j] * v[(size_t)j * kvd + (size_t)kh * hd + i];
                    att[(size_t)hh * hd + i] = a / sum;
                }
            }
            ref_matvec(o, wo, att, NULL, D, qd);
            double *xt = x + (size_t)t * D;
            for (int i = 0; i < D; i++) xt[i] += o[i];
            ref_rmsnorm(h, xt, fn, D, hp->rms_eps);
            ref_matvec(g, wg, h, NULL, FF, D);
            ref_matvec(u, wu, h, NULL, FF, D);
            for (int i = 0; i < FF; i++) g[i] = g[i] / (1.0 + exp(-g[i])) * u[i];
            ref_matvec(o, wd, g, NULL, D, FF);
            for (int i = 0; i < D; i++) xt[i] += o[i];
        }
        free(an), free(wq), free(wk), free(wv), free(bq), free(bk), free(bv), free(wo);
        free(fn), free(wg), free(wu), free(wd);
    }
    float *on = ref_tensor(r, "output_norm.weight"), *out = ref_tensor(r, "output.weight");
    ref_rmsnorm(h, x + (size_t)(n - 1) * D, on, D, hp->rms_eps);
    ref_matvec(logits, out ? out : emb, h, NULL, V, D);
    free(on), free(out), free(emb);
    free(x), free(h), free(q), free(k), free(v), free(att), free(o), free(g), free(u), free(sc);
    return logits;
}

/* ---- tests ---- */

static esft_backend *open_cpu(void) {
    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options o = {0};
    if (esft_backend_open("cpu", &o, &be, &err)) fprintf(stderr, "cpu backend: %s\n", err.msg);
    return be;
}

/* Three sequences of different lengths in one packed prefill, then decode
 * steps for all of them at once; every logits row equals the reference. */
static void test_forward_vs_reference(esft_backend *be, const char *path) {
    esft_model *m = NULL;
    esft_err err = {{0}};
    CHECKF(esft_model_load(path, be, NULL, &m, &err) == ESFT_OK, "%s", err.msg);
    if (!m) return;
    ref_model r = {m->hp, m->gguf};
    enum { NSEQ = 3, MAXLEN = 12 };
    const int lens[NSEQ] = {7, 1, 11};
    int32_t toks[NSEQ][MAXLEN];
    for (int s = 0; s < NSEQ; s++)
        for (int i = 0; i < MAXLEN; i++) toks[s][i] = (int32_t)((s * 97 + i * 31 + 5) % m->hp.n_vocab);

    esft_forward_ctx fc;
    CHECK(esft_forward_ctx_init(&fc, m, 32, 0, NSEQ, MAXLEN + 2, &err) == ESFT_OK);
    int32_t bt[32], bs[32], bp[32], rows[NSEQ];
    int n = 0;
    for (int s = 0; s < NSEQ; s++) {
        for (int i = 0; i < lens[s]; i++) bt[n] = toks[s][i], bs[n] = s, bp[n] = i, n++;
        rows[s] = n - 1;
    }
    float logits[NSEQ][300 + 8];
    const int V = m->hp.n_vocab;
    CHECK(V <= 300);
    double worst = 0;
    for (int step = 0; step < 2; step++) {
        CHECKF(esft_forward(&fc, bt, bs, bp, n, rows, NSEQ, &err) == ESFT_OK, "%s", err.msg);
        for (int s = 0; s < NSEQ; s++) esft_download(&fc.logits, (size_t)s * V, logits[s], (size_t)V);
        for (int s = 0; s < NSEQ; s++) {
            const int len = lens[s] + step;
            double *ref = ref_forward(&r, toks[s], len);
            double scale = 0;
            for (int i = 0; i < V; i++) scale = fmax(scale, fabs(ref[i]));
            for (int i = 0; i < V; i++) worst = fmax(worst, fabs(logits[s][i] - ref[i]) / fmax(scale, 1.0));
            free(ref);
        }
        /* next step: one decode token per sequence */
        n = 0;
        for (int s = 0; s < NSEQ; s++) {
            bt[n] = toks[s][lens[s]], bs[n] = s, bp[n] = lens[s], rows[s] = n, n++;
        }
    }
    printf("  %s: packed forward vs naive reference: max normalised |diff| %.3g\n",
           esft_arch_name(m->hp.arch), worst);
    CHECKF(worst < 2e-5, "%s: forward differs from reference by %.3g", path, worst);
    esft_forward_ctx_free(&fc);
    esft_model_free(m);
}

/* preamble: text every prompt begins with (its tokens are fed once and
 * shared by every slot: stats must count them once). */
static void test_batched_equals_separate(esft_backend *be, const char *path, int n_prompts,
                                         int max_new, bool chunked, const char *preamble) {
    esft_model *m = NULL;
    esft_err err = {{0}};
    CHECKF(esft_model_load(path, be, NULL, &m, &err) == ESFT_OK, "%s", err.msg);
    if (!m) return;
    char text[64][160];
    esft_gen_request reqs[64];
    int32_t *ids[64];
    for (int i = 0; i < n_prompts; i++) {
        snprintf(text[i], sizeof text[i], "%sPrompt %d: %.*s", preamble, i * 7, 3 + i % 11,
                 "the quick brown fox jumps over the lazy dog");
        size_t nid;
        CHECK(esft_tokenize(m->tok, text[i], strlen(text[i]), true, true, &ids[i], &nid, &err) == ESFT_OK);
        reqs[i] = (esft_gen_request){ids[i], (int)nid};
    }
    esft_gen_params gp = {.max_new = max_new, .ignore_eog = true};
    if (chunked) gp.max_batch_tokens = 7, gp.max_slots = 5; /* prompts split over passes, slots reused */
    esft_gen_result batched[64], single;
    esft_gen_stats stats;
    CHECKF(esft_generate(m, reqs, n_prompts, &gp, batched, &stats, &err) == ESFT_OK, "%s", err.msg);
    /* the tokens all prompts begin with (less the last of the shortest) are fed once */
    int common = reqs[0].n_prompt - 1;
    long all_tokens = 0;
    for (int i = 0; i < n_prompts; i++) {
        int k = 0;
        while (k < common && k < reqs[i].n_prompt - 1 && reqs[i].prompt[k] == reqs[0].prompt[k]) k++;
        common = k;
        all_tokens += reqs[i].n_prompt;
    }
    CHECKF(stats.prompt_tokens == all_tokens - (long)(n_prompts - 1) * common,
           "%ld prompt tokens fed, %ld in all, %d shared by %d prompts", stats.prompt_tokens,
           all_tokens, common, n_prompts);
    if (*preamble) CHECKF(common >= 8, "the preamble shares only %d tokens", common);
    int same = 0;
    gp.max_batch_tokens = 0, gp.max_slots = 0;
    for (int i = 0; i < n_prompts; i++) {
        CHECK(esft_generate(m, &reqs[i], 1, &gp, &single, NULL, &err) == ESFT_OK);
        bool eq = single.n_tokens == batched[i].n_tokens &&
                  memcmp(single.tokens, batched[i].tokens, (size_t)single.n_tokens * 4) == 0;
        same += eq;
        if (!eq) fprintf(stderr, "  prompt %d: batched and single runs differ\n", i);
        CHECK(batched[i].n_tokens == max_new);
        esft_gen_result_free(&single);
        esft_gen_result_free(&batched[i]);
        free(ids[i]);
    }
    printf("  %s: %d of %d prompts identical batched%s vs one by one (%d tokens each; %d shared "
           "prompt tokens fed once)\n",
           path, same, n_prompts, chunked ? " (chunked prefill, 5 slots)" : "", max_new, common);
    CHECK(same == n_prompts);
    esft_model_free(m);
}

static void test_bad_models(esft_backend *be) {
    char path[1024];
    esft_err err = {{0}};
    esft_model *m = NULL;
    /* unknown architecture */
    gguf_writer *w = esft_gguf_writer_new();
    esft_gguf_writer_set_str(w, "general.architecture", "mamba", NULL);
    snprintf(path, sizeof path, "%s/bad_arch.gguf", ESFT_TEST_BINARY_DIR);
    CHECK(esft_gguf_writer_write(w, path, &err) == ESFT_OK);
    esft_gguf_writer_free(w);
    CHECK(esft_model_load(path, be, NULL, &m, &err) != ESFT_OK);
    CHECKF(strstr(err.msg, "mamba") != NULL && strchr(err.msg, '\n') == NULL, "%s", err.msg);
    /* a model with a required tensor missing */
    esft_synth_spec s;
    esft_synth_preset("tiny", &s);
    snprintf(path, sizeof path, "%s/tiny_ok.gguf", ESFT_TEST_BINARY_DIR);
    CHECK(esft_synth_write(&s, path, &err) == ESFT_OK);
    gguf_file *f = NULL;
    CHECK(esft_gguf_open(path, &f, &err) == ESFT_OK);
    w = esft_gguf_writer_new();
    esft_gguf_writer_copy_kvs(w, f, &err);
    for (size_t i = 0; i < esft_gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = esft_gguf_tensor_at(f, i);
        if (strcmp(t->name, "blk.1.ffn_up.weight") == 0) continue;
        esft_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, true, &err);
    }
    snprintf(path, sizeof path, "%s/missing_tensor.gguf", ESFT_TEST_BINARY_DIR);
    CHECK(esft_gguf_writer_write(w, path, &err) == ESFT_OK);
    esft_gguf_writer_free(w);
    esft_gguf_close(f);
    CHECK(esft_model_load(path, be, NULL, &m, &err) != ESFT_OK);
    CHECKF(strstr(err.msg, "blk.1.ffn_up.weight") != NULL, "%s", err.msg);
    printf("  bad models refused: '%s'\n", err.msg);
}

int main(void) {
    esft_backend *be = open_cpu();
    CHECK(be != NULL);
    if (!be) return TEST_EXIT();
    const char *presets[] = {"tiny", "tiny-qwen2"};
    for (int p = 0; p < 2; p++) {
        esft_synth_spec s;
        CHECK(esft_synth_preset(presets[p], &s));
        char path[1024];
        snprintf(path, sizeof path, "%s/%s.gguf", ESFT_TEST_BINARY_DIR, presets[p]);
        esft_err err = {{0}};
        CHECKF(esft_synth_write(&s, path, &err) == ESFT_OK, "%s", err.msg);
        test_forward_vs_reference(be, path);
        test_batched_equals_separate(be, path, 16, 12, false, "");
        test_batched_equals_separate(be, path, 16, 12, true, "");
        const char *preamble = "You are a careful assistant. Answer in one line. ";
        test_batched_equals_separate(be, path, 16, 12, false, preamble);
        test_batched_equals_separate(be, path, 16, 12, true, preamble);
        /* untied output head and f16 storage also load and match */
        s.tied = 0;
        s.type = GGML_TYPE_F16;
        snprintf(path, sizeof path, "%s/%s_untied_f16.gguf", ESFT_TEST_BINARY_DIR, presets[p]);
        CHECKF(esft_synth_write(&s, path, &err) == ESFT_OK, "%s", err.msg);
        test_forward_vs_reference(be, path);
    }
    test_bad_models(be);
    esft_backend_destroy(be);
    return TEST_EXIT();
}
