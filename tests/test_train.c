/* The training loop on a tiny synthetic model: --params trains exactly the
 * matching tensors (the rest stay bit-identical to the base), the checkpoint
 * records the run, and weight decay pulls weights toward zero. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "synth.h"
#include "testutil.h"
#include "train.h"

static float *tensor_f32(const gguf_file *f, const char *name, size_t *n) {
    const gguf_tensor_info *t = esft_gguf_find_tensor(f, name);
    if (!t) return NULL;
    float *x = malloc(t->n_elements * sizeof *x);
    if (x && esft_ggml_dequantize(t->type, t->data, x, t->n_elements, NULL) != ESFT_OK) {
        free(x);
        return NULL;
    }
    *n = t->n_elements;
    return x;
}

static esft_train_options base_options(const char *model, const char *out) {
    esft_train_options o = {0};
    o.model_path = model;
    o.out_dir = out;
    o.overwrite = true; /* the build tree keeps the last run of this test */
    o.iters = 2;
    o.quiet = true;
    o.backend = "cpu";
    o.threads = 1;
    esft_run_config *c = &o.cfg;
    c->pop = 4;
    c->sigma = 0.05f;
    c->alpha = 0.02f;
    c->batch = 0;
    c->max_new = 6;
    c->run_seed = 3;
    c->shaping = (esft_shaping)-1;
    c->weight_decay = NAN;
    snprintf(c->task, sizeof c->task, "conciseness");
    return o;
}

int main(void) {
    char model[1024], out1[1024], out2[1024], final1[1100], final2[1100];
    snprintf(model, sizeof model, "%s/train_tiny.gguf", ESFT_TEST_BINARY_DIR);
    snprintf(out1, sizeof out1, "%s/train_params", ESFT_TEST_BINARY_DIR);
    snprintf(out2, sizeof out2, "%s/train_decay", ESFT_TEST_BINARY_DIR);
    snprintf(final1, sizeof final1, "%s/final.gguf", out1);
    snprintf(final2, sizeof final2, "%s/final.gguf", out2);
    esft_synth_spec s;
    esft_synth_preset("tiny", &s);
    esft_err err = {{0}};
    CHECKF(esft_synth_write(&s, model, &err) == ESFT_OK, "%s", err.msg);

    /* 1. only blk.0.* and output_norm.weight are trained */
    esft_train_options o = base_options(model, out1);
    snprintf(o.cfg.params, sizeof o.cfg.params, "blk.0.*,output_norm.weight");
    CHECKF(esft_train(&o, &err) == ESFT_OK, "%s", err.msg);
    gguf_file *base = NULL, *tuned = NULL;
    CHECK(esft_gguf_open(model, &base, &err) == ESFT_OK);
    CHECKF(esft_gguf_open(final1, &tuned, &err) == ESFT_OK, "%s", err.msg);
    if (!base || !tuned) return TEST_EXIT();
    int trained = 0, frozen = 0, wrong = 0;
    for (size_t i = 0; i < esft_gguf_n_tensors(base); i++) {
        const char *name = esft_gguf_tensor_at(base, i)->name;
        size_t na = 0, nb = 0;
        float *a = tensor_f32(base, name, &na), *b = tensor_f32(tuned, name, &nb);
        CHECK(a && b && na == nb);
        const bool selected = strncmp(name, "blk.0.", 6) == 0 || strcmp(name, "output_norm.weight") == 0;
        const bool same = a && b && na == nb && memcmp(a, b, na * sizeof *a) == 0;
        if (selected) trained += !same, wrong += same;
        else frozen += same, wrong += !same;
        if (selected == same) fprintf(stderr, "  %s: %s\n", name, same ? "not trained" : "changed but frozen");
        free(a);
        free(b);
    }
    printf("  --params: %d tensors trained, %d left bit-identical, %d wrong\n", trained, frozen, wrong);
    CHECK(wrong == 0 && trained > 0 && frozen > 0);
    esft_ckpt_info info;
    CHECK(esft_checkpoint_read_info(tuned, &info, &err) == ESFT_OK);
    CHECK(info.iteration == 2 && info.cfg.pop == 4 && info.cfg.run_seed == 3);
    CHECK(strcmp(info.cfg.params, "blk.0.*,output_norm.weight") == 0);
    CHECK(info.base_fingerprint == esft_model_fingerprint(base));
    esft_gguf_close(tuned);

    /* 2. heavy weight decay (alpha * wd = 0.5 per iteration) shrinks the
     * trained weights by ~4x in two iterations, up to the small ES step */
    o = base_options(model, out2);
    snprintf(o.cfg.params, sizeof o.cfg.params, "blk.1.ffn_up.weight");
    o.cfg.weight_decay = 25.0f;
    CHECKF(esft_train(&o, &err) == ESFT_OK, "%s", err.msg);
    CHECKF(esft_gguf_open(final2, &tuned, &err) == ESFT_OK, "%s", err.msg);
    if (tuned) {
        size_t n = 0, m = 0;
        float *a = tensor_f32(base, "blk.1.ffn_up.weight", &n), *b = tensor_f32(tuned, "blk.1.ffn_up.weight", &m);
        double na = 0, nb = 0;
        for (size_t i = 0; a && b && i < n; i++) na += (double)a[i] * a[i], nb += (double)b[i] * b[i];
        double ratio = sqrt(nb / na);
        printf("  weight decay: norm ratio after 2 iterations %.4f (0.25 without the ES step)\n", ratio);
        CHECKF(fabs(ratio - 0.25) < 0.05, "ratio %.4f", ratio);
        free(a);
        free(b);
        esft_gguf_close(tuned);
    }
    esft_gguf_close(base);
    return TEST_EXIT();
}
