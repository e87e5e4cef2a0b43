/* SmolLM2-135M-Instruct (Q4_1) against independent references stored as
 * fixtures by scripts/gen-reference.py (or, given MODEL REF_JSON LOGITS_F32
 * as arguments, any model against references that script wrote for it; see
 * tests/model_parity.sh):
 *  - transformers in f32 on the same dequantised weights: last-position
 *    logits (max |diff| <= 1e-3; with arguments, max |diff| <= 1e-3 x the
 *    prompt's max |logit|, since a 24-layer model's logits reach ~30 where
 *    f32 summation order alone moves them by more than 1e-3) and greedy
 *    32-token continuations;
 *  - llama.cpp: first 8 greedy tokens (on the Q4_1 file, and on an f32 copy
 *    of the same dequantised weights when the fixture has it).
 * All prompts run as one packed batch, so this also exercises packing.
 * Then the cpu backend with bf16 and f16 working weights (--work-dtype):
 * how many prompts keep the f32 path's greedy tokens. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model.h"
#include "registry.h"
#include "testjson.h"
#include "testutil.h"

/* Number of leading tokens two sequences share. */
static int common_prefix(const int32_t *a, int na, const int32_t *b, int nb) {
    int i = 0;
    while (i < na && i < nb && a[i] == b[i]) i++;
    return i;
}

/* The model on a cpu backend whose working weights are wd: how many of the
 * prompts give the same greedy tokens as the f32 path (f32_res). Rounding
 * the weights to 8 (bf16) or 11 (f16) significant bits moves logits a
 * little, so a near tie may flip; a broken 16-bit path agrees on none. */
static void check_work_dtype(const char *model_path, esft_dtype wd, const esft_gen_request *reqs, int n_prompts,
                             const esft_gen_params *gp, const esft_gen_result *f32_res) {
    esft_err err = {{0}};
    esft_backend *be = NULL;
    esft_backend_options bo = {.work_dtype = wd, .work_dtype_set = true};
    esft_model *m = NULL;
    CHECKF(esft_backend_open("cpu", &bo, &be, &err) == ESFT_OK, "%s", err.msg);
    CHECKF(be && esft_model_load(model_path, be, NULL, &m, &err) == ESFT_OK, "%s", err.msg);
    enum { MAXP = 64 };
    esft_gen_result res[MAXP];
    if (m && n_prompts <= MAXP && esft_generate(m, reqs, n_prompts, gp, res, NULL, &err) == ESFT_OK) {
        int same = 0, tokens = 0;
        for (int i = 0; i < n_prompts; i++) {
            int c = common_prefix(res[i].tokens, res[i].n_tokens, f32_res[i].tokens, f32_res[i].n_tokens);
            same += c == f32_res[i].n_tokens;
            tokens += c;
            esft_gen_result_free(&res[i]);
        }
        printf("%s working weights: %d of %d prompts give the f32 path's %d greedy tokens (%d of %d tokens before "
               "the first difference)\n",
               esft_dtype_name(wd), same, n_prompts, gp->max_new, tokens, n_prompts * gp->max_new);
        CHECKF(same * 2 >= n_prompts, "%s: only %d of %d prompts agree with f32", esft_dtype_name(wd), same, n_prompts);
    } else {
        CHECKF(0, "%s working weights: %s", esft_dtype_name(wd), err.msg);
    }
    esft_model_free(m);
    esft_backend_destroy(be);
}

int main(int argc, char **argv) {
    const char *dir = getenv("ESFT_MODEL_DIR");
    char model_path[1024], fx[1024], fx_logits[1024];
    const bool relative = argc == 4; /* another model: tolerance relative to its logits' scale */
    if (argc != 1 && argc != 4) {
        fprintf(stderr, "usage: test_reference [MODEL REF_JSON LOGITS_F32]\n");
        return 2;
    }
    snprintf(model_path, sizeof model_path, "%s/SmolLM2-135M-Instruct.Q4_1.gguf",
             dir ? dir : ESFT_TEST_DATA_DIR "/../models/cache");
    snprintf(fx, sizeof fx, "%s/fixtures/smollm2_reference.json", ESFT_TEST_DATA_DIR);
    snprintf(fx_logits, sizeof fx_logits, "%s/fixtures/smollm2_logits.f32", ESFT_TEST_DATA_DIR);
    if (relative) {
        snprintf(model_path, sizeof model_path, "%s", argv[1]);
        snprintf(fx, sizeof fx, "%s", argv[2]);
        snprintf(fx_logits, sizeof fx_logits, "%s", argv[3]);
    }
    FILE *probe = fopen(model_path, "rb");
    if (!probe) {
        printf("SKIP: %s not found (run scripts/setup.sh)\n", model_path);
        return TEST_SKIP_CODE;
    }
    fclose(probe);

    char *json = test_read_file(fx, NULL);
    CHECKF(json != NULL, "cannot read %s", fx);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    CHECK(root != NULL);
    if (!root) return TEST_EXIT();
    const cJSON *prompts = cJSON_GetObjectItem(root, "prompts");
    const int n_prompts = cJSON_GetArraySize(prompts);
    const cJSON *lf = cJSON_GetObjectItem(root, "logits_file");
    const cJSON *lf_vocab = cJSON_GetObjectItem(lf, "n_vocab");
    CHECKF(!relative || cJSON_IsNumber(lf_vocab), "%s: no logits_file.n_vocab", fx);
    const int V = relative && cJSON_IsNumber(lf_vocab) ? lf_vocab->valueint : 49152;
    size_t logits_len = 0;
    float *ref_logits = (float *)test_read_file(fx_logits, &logits_len);
    CHECK(ref_logits && logits_len == (size_t)n_prompts * V * sizeof(float));

    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options bo = {0};
    CHECKF(esft_backend_open("cpu", &bo, &be, &err) == ESFT_OK, "%s", err.msg);
    esft_model *m = NULL;
    CHECKF(esft_model_load(model_path, be, NULL, &m, &err) == ESFT_OK, "%s", err.msg);
    if (!m || !ref_logits) return TEST_EXIT();

    enum { MAXP = 64, MAXIDS = 512 };
    int32_t ids[MAXP][MAXIDS];
    esft_gen_request reqs[MAXP];
    CHECK(n_prompts >= 20 && n_prompts <= MAXP);
    int total = 0;
    for (int i = 0; i < n_prompts; i++) {
        const cJSON *p = cJSON_GetArrayItem(prompts, i);
        int n = test_json_ints(cJSON_GetObjectItem(p, "input_ids"), ids[i], MAXIDS);
        CHECK(n > 0 && n <= MAXIDS);
        /* our tokenizer gives the same ids as llama.cpp */
        const char *text = cJSON_GetObjectItem(p, "text")->valuestring;
        int32_t *mine = NULL;
        size_t n_mine = 0;
        CHECK(esft_tokenize(m->tok, text, strlen(text), true, true, &mine, &n_mine, &err) == ESFT_OK);
        CHECKF((int)n_mine == n && memcmp(mine, ids[i], (size_t)n * 4) == 0, "prompt %d ids differ", i);
        free(mine);
        reqs[i] = (esft_gen_request){ids[i], n};
        total += n;
    }

    /* 1. last-position logits: every prompt in one packed forward pass */
    esft_forward_ctx fc;
    CHECK(esft_forward_ctx_init(&fc, m, total, 0, n_prompts, MAXIDS, &err) == ESFT_OK);
    int32_t *bt = malloc((size_t)total * 4), *bs = malloc((size_t)total * 4), *bp = malloc((size_t)total * 4);
    int32_t rows[MAXP];
    int n = 0;
    for (int i = 0; i < n_prompts; i++) {
        for (int j = 0; j < reqs[i].n_prompt; j++) bt[n] = ids[i][j], bs[n] = i, bp[n] = j, n++;
        rows[i] = n - 1;
    }
    CHECKF(esft_forward(&fc, bt, bs, bp, n, rows, n_prompts, &err) == ESFT_OK, "%s", err.msg);
    float *logits = malloc((size_t)n_prompts * V * sizeof *logits);
    CHECK(esft_download(&fc.logits, 0, logits, (size_t)n_prompts * V) == ESFT_OK);
    double worst = 0, worst_rel = 0;
    int worst_prompt = -1;
    for (int i = 0; i < n_prompts; i++) {
        double d = 0, scale = 0;
        for (int v = 0; v < V; v++) {
            const size_t k = (size_t)i * V + v;
            d = fmax(d, fabs((double)logits[k] - ref_logits[k]));
            scale = fmax(scale, fabs((double)ref_logits[k]));
        }
        if (d > worst) worst = d, worst_prompt = i;
        worst_rel = fmax(worst_rel, d / fmax(scale, 1e-30));
    }
    printf("logits vs transformers f32: max |diff| %.3g (prompt %d), max |diff| / max |logit| %.3g "
           "over %d prompts x %d\n", worst, worst_prompt, worst_rel, n_prompts, V);
    if (relative)
        CHECKF(worst_rel <= 1e-3, "max |diff| / max |logit| %.3g > 1e-3", worst_rel);
    else
        CHECKF(worst <= 1e-3, "max |diff| %.3g > 1e-3", worst);
    esft_forward_ctx_free(&fc);
    free(bt), free(bs), free(bp), free(logits);

    /* 2. greedy continuations, batched */
    esft_gen_params gp = {.max_new = 32, .ignore_eog = true};
    esft_gen_result res[MAXP];
    CHECKF(esft_generate(m, reqs, n_prompts, &gp, res, NULL, &err) == ESFT_OK, "%s", err.msg);
    int hf32 = 0, lc8 = 0, lcf8 = 0, n_lcf = 0;
    for (int i = 0; i < n_prompts; i++) {
        const cJSON *p = cJSON_GetArrayItem(prompts, i);
        int32_t ref[64];
        int nr = test_json_ints(cJSON_GetObjectItem(p, "hf_greedy32"), ref, 64);
        int c = common_prefix(res[i].tokens, res[i].n_tokens, ref, nr);
        hf32 += c == 32;
        if (c < 32) printf("  prompt %2d: transformers greedy agrees for %d of 32 tokens\n", i, c);
        nr = test_json_ints(cJSON_GetObjectItem(p, "llamacpp_greedy8"), ref, 64);
        lc8 += common_prefix(res[i].tokens, res[i].n_tokens, ref, nr) >= 8;
        const cJSON *f32 = cJSON_GetObjectItem(p, "llamacpp_f32_greedy8");
        if (f32) {
            nr = test_json_ints(f32, ref, 64);
            n_lcf++;
            int cf = common_prefix(res[i].tokens, res[i].n_tokens, ref, nr);
            lcf8 += cf >= 8;
            if (cf < 8) printf("  prompt %2d: llama.cpp (f32 weights) greedy agrees for %d of 8\n", i, cf);
        }
    }
    /* 3. the first 16 prompts one by one give exactly the batched tokens */
    int same = 0;
    gp.max_new = 16;
    for (int i = 0; i < 16; i++) {
        esft_gen_result one;
        CHECK(esft_generate(m, &reqs[i], 1, &gp, &one, NULL, &err) == ESFT_OK);
        same += one.n_tokens == 16 && memcmp(one.tokens, res[i].tokens, 16 * sizeof(int32_t)) == 0;
        esft_gen_result_free(&one);
    }
    printf("16 prompts batched vs one by one: %d of 16 identical (16 tokens each)\n", same);
    CHECK(same == 16);
    gp.max_new = 32;
    check_work_dtype(model_path, ESFT_BF16, reqs, n_prompts, &gp, res);
    check_work_dtype(model_path, ESFT_F16, reqs, n_prompts, &gp, res);
    for (int i = 0; i < n_prompts; i++) esft_gen_result_free(&res[i]);
    printf("greedy 32 tokens equal transformers': %d of %d prompts\n", hf32, n_prompts);
    printf("first 8 greedy tokens equal llama.cpp's on the quantised file: %d of %d prompts "
           "(llama.cpp quantises activations to 8 bits there; informational)\n", lc8, n_prompts);
    CHECKF(hf32 * 20 >= n_prompts * 19, "only %d of %d continuations equal", hf32, n_prompts);
    if (n_lcf) {
        printf("first 8 greedy tokens equal llama.cpp's on the f32 weights: %d of %d prompts\n", lcf8, n_lcf);
        CHECKF(lcf8 * 20 >= n_lcf * 18, "only %d of %d equal llama.cpp", lcf8, n_lcf);
    }
    esft_model_free(m);
    esft_backend_destroy(be);
    cJSON_Delete(root);
    free(json);
    free(ref_logits);
    return TEST_EXIT();
}
