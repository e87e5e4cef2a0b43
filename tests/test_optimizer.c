/* Optimizers on the ES gradient (issue 17), through the training loop on a
 * tiny synthetic model:
 *  1. for every optimizer, with full-rank and with low-rank members, a run
 *     of 4 iterations and the same run stopped
 *     after 2 and resumed end with bit-identical master weights (the state
 *     travels in optstate-<iteration>.gguf beside the checkpoint), and the
 *     state file of the final iteration is the only one left;
 *  2. --anchor-decay with alpha * lambda near 1 keeps the weights near the
 *     base: after 4 iterations they are about one step away from it, while
 *     plain sgd has walked 4 steps;
 *  3. a resume with another optimizer, and an optimizer state file of
 *     another iteration, are refused.
 * The fused op's arithmetic is checked against a double-precision textbook
 * reference in test_backend_ops (es_optimize). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "checkpoint.h"
#include "synth.h"
#include "testutil.h"
#include "train.h"

static float *tensor_f32(const char *path, const char *name, size_t *n) {
    gguf_file *f = NULL;
    if (esft_gguf_open(path, &f, NULL) != ESFT_OK) return NULL;
    const gguf_tensor_info *t = esft_gguf_find_tensor(f, name);
    float *x = t ? malloc(t->n_elements * sizeof *x) : NULL;
    if (x && esft_ggml_dequantize(t->type, t->data, x, t->n_elements, NULL) != ESFT_OK) {
        free(x);
        x = NULL;
    }
    if (x) *n = t->n_elements;
    esft_gguf_close(f);
    return x;
}

static esft_train_options options(const char *model, const char *out, esft_optimizer kind, int iters) {
    esft_train_options o = {0};
    o.model_path = model;
    o.out_dir = out;
    o.overwrite = true;
    o.iters = iters;
    o.quiet = true;
    o.backend = "cpu";
    o.threads = 1;
    o.checkpoint_every = 1;
    o.eval_every = o.eval_limit = o.max_slots = o.log_samples = -1;
    esft_run_config *c = &o.cfg;
    c->pop = 4;
    c->sigma = 0.05f;
    c->alpha = 0.01f;
    c->max_new = 6;
    c->run_seed = 11;
    c->shaping = (esft_shaping)-1;
    c->weight_decay = c->reward_timeout = c->reward_timeout_score = NAN;
    snprintf(c->task, sizeof c->task, "conciseness");
    snprintf(c->params, sizeof c->params, "blk.0.*,output_norm.weight");
    esft_opt_config_unset(&c->opt);
    c->opt.kind = kind;
    return o;
}

static const char *const probe = "blk.0.ffn_up.weight";

/* The trained tensors of two final models are bit-identical. */
static bool same_weights(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    float *x = tensor_f32(a, probe, &na), *y = tensor_f32(b, probe, &nb);
    bool same = x && y && na == nb && memcmp(x, y, na * sizeof *x) == 0;
    free(x), free(y);
    return same;
}

/* ||tuned - base|| over the probe tensor. */
static double distance(const char *tuned, const char *base) {
    size_t na = 0, nb = 0;
    float *x = tensor_f32(tuned, probe, &na), *y = tensor_f32(base, probe, &nb);
    double d = 0;
    for (size_t i = 0; x && y && i < na && na == nb; i++) d += ((double)x[i] - y[i]) * ((double)x[i] - y[i]);
    free(x), free(y);
    return sqrt(d);
}

static bool exists(const char *dir, const char *name) {
    char p[1200];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    return access(p, F_OK) == 0;
}

int main(void) {
    char model[1024], full[1024], split[1024], f_full[1100], f_split[1100];
    snprintf(model, sizeof model, "%s/opt_tiny.gguf", ESFT_TEST_BINARY_DIR);
    snprintf(full, sizeof full, "%s/opt_full", ESFT_TEST_BINARY_DIR);
    snprintf(split, sizeof split, "%s/opt_split", ESFT_TEST_BINARY_DIR);
    snprintf(f_full, sizeof f_full, "%s/checkpoint.gguf", full);
    snprintf(f_split, sizeof f_split, "%s/checkpoint.gguf", split);
    esft_synth_spec s;
    esft_synth_preset("tiny", &s);
    esft_err err = {{0}};
    CHECKF(esft_synth_write(&s, model, &err) == ESFT_OK, "%s", err.msg);

    /* 1. bit-identical resume with every optimizer (sgd + anchor: the anchor
     * is re-read from the base file while the weights come from the checkpoint) */
    const struct { esft_optimizer kind; float anchor; } runs[] = {
        {ESFT_OPTIMIZER_MOMENTUM, 0}, {ESFT_OPTIMIZER_ADAM, 0}, {ESFT_OPTIMIZER_ADAMW, 0}, {ESFT_OPTIMIZER_SGD, 20}};
    for (size_t q = 0; q < 2 * sizeof runs / sizeof runs[0]; q++) {
        const size_t r = q % (sizeof runs / sizeof runs[0]);
        const bool lowrank = q >= sizeof runs / sizeof runs[0];
        char name[64];
        snprintf(name, sizeof name, "%s%s%s", esft_optimizer_name(runs[r].kind), runs[r].anchor > 0 ? " + anchor" : "",
                 lowrank ? " (lowrank)" : "");
        esft_train_options o = options(model, full, runs[r].kind, 4);
        o.cfg.opt.anchor_decay = runs[r].anchor;
        if (lowrank) { /* matrices only: low-rank members freeze 1-D tensors */
            o.cfg.noise = ESFT_NOISE_LOWRANK;
            o.cfg.rank = 2;
            snprintf(o.cfg.params, sizeof o.cfg.params, "blk.0.ffn_up.weight,blk.0.ffn_down.weight,blk.0.attn_q.weight");
        }
        if (runs[r].kind == ESFT_OPTIMIZER_ADAMW) o.cfg.weight_decay = 1.0f;
        if (runs[r].kind == ESFT_OPTIMIZER_ADAM) o.cfg.alpha = 0.001f;
        CHECKF(esft_train(&o, &err) == ESFT_OK, "%s: %s", name, err.msg);
        esft_train_options a = o, b = o;
        a.out_dir = split;
        a.iters = 2;
        CHECKF(esft_train(&a, &err) == ESFT_OK, "%s (2 iterations): %s", name, err.msg);
        b.out_dir = b.resume_dir = split;
        b.overwrite = false;
        esft_opt_config_unset(&b.cfg.opt); /* taken from the run */
        CHECKF(esft_train(&b, &err) == ESFT_OK, "%s (resumed): %s", name, err.msg);
        bool same = same_weights(f_full, f_split);
        double moved = distance(f_full, model);
        printf("  %-27s: resumed run %s the uninterrupted one (moved %.4g from the base)\n", name,
               same ? "bit-identical to" : "DIFFERS from", moved);
        CHECK(same && moved > 0);
        bool stateful = runs[r].kind != ESFT_OPTIMIZER_SGD;
        CHECKF(exists(split, "optstate-4.gguf") == stateful && !exists(split, "optstate-2.gguf") &&
                   !exists(split, "optstate-3.gguf"),
               "%s: optimizer state files left behind are not just optstate-4.gguf", name);
    }

    /* 2. the anchor: alpha * lambda = 0.95 pulls back all but ~5% of the
     * distance each iteration */
    {
        esft_train_options o = options(model, full, ESFT_OPTIMIZER_SGD, 4);
        CHECKF(esft_train(&o, &err) == ESFT_OK, "sgd: %s", err.msg);
        double d_sgd = distance(f_full, model);
        o.cfg.opt.anchor_decay = 95.0f;
        CHECKF(esft_train(&o, &err) == ESFT_OK, "anchor: %s", err.msg);
        double d_anchor = distance(f_full, model);
        printf("  anchor: distance to the base after 4 iterations %.4g (sgd: %.4g)\n", d_anchor, d_sgd);
        CHECKF(d_anchor > 0 && d_anchor < 0.75 * d_sgd, "anchor %.4g vs sgd %.4g", d_anchor, d_sgd);
    }

    /* 3. refusals: another optimizer on resume; a state file that is not the
     * checkpoint's iteration */
    {
        esft_train_options o = options(model, split, ESFT_OPTIMIZER_ADAM, 2);
        CHECKF(esft_train(&o, &err) == ESFT_OK, "%s", err.msg);
        esft_train_options b = o;
        b.iters = 3;
        b.overwrite = false;
        b.resume_dir = split;
        b.cfg.opt.kind = ESFT_OPTIMIZER_MOMENTUM;
        CHECK(esft_train(&b, &err) != ESFT_OK && strstr(err.msg, "--optimizer"));
        printf("  refused: %s\n", err.msg);
        char from[1200], to[1200];
        snprintf(from, sizeof from, "%s/optstate-2.gguf", split);
        snprintf(to, sizeof to, "%s/optstate-1.gguf", split);
        CHECK(rename(from, to) == 0);
        esft_opt_config_unset(&b.cfg.opt);
        CHECK(esft_train(&b, &err) != ESFT_OK && strstr(err.msg, "optstate-2.gguf"));
        printf("  refused: %s\n", err.msg);
    }
    return TEST_EXIT();
}
