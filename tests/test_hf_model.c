/* SmolLM2-135M-Instruct as a Hugging Face directory (made from the cached
 * GGUF by scripts/gguf-to-hf.py: the same weights, dequantised) against the
 * GGUF itself and against transformers:
 *  - f32 directory: last-position logits of the 25 reference prompts equal
 *    the GGUF's (max |diff| <= 1e-5; same f32 weights, same kernels) and
 *    transformers' (tests/fixtures/smollm2_logits.f32, <= 1e-3); 32 greedy
 *    tokens per prompt identical to the GGUF's;
 *  - 2-shard directory: logits bit-identical to the f32 directory;
 *  - bf16 directory: weights rounded, so logits move: |diff| vs transformers
 *    f32 stays <= 0.5 and the top token agrees on >= 23 of 25 prompts;
 *  - tokenizer.json: the tokenizer built from it equals the GGUF's token
 *    for token (bytes, types, specials, end-of-generation set, add_bos).
 * Exit 77 when the GGUF or the f32 directory is absent. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "generate.h"
#include "model.h"
#include "registry.h"
#include "testutil.h"

enum { MAXP = 32, MAXIDS = 512, GREEDY = 32 };

static esft_backend *g_be;
static int g_np;               /* prompts */
static int32_t g_ids[MAXP][MAXIDS];
static int g_n[MAXP];

static esft_model *load(const char *dir, const char *name) {
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    struct stat sb;
    if (stat(path, &sb) != 0) return NULL;
    esft_model *m = NULL;
    esft_err err;
    CHECKF(esft_model_load(path, g_be, NULL, &m, &err) == ESFT_OK, "%s", err.msg);
    return m;
}

/* Last-position logits of every prompt, one packed pass: [np x V]. */
static float *last_logits(esft_model *m) {
    int total = 0;
    for (int i = 0; i < g_np; i++) total += g_n[i];
    int32_t *t = malloc((size_t)total * 4), *s = malloc((size_t)total * 4), *p = malloc((size_t)total * 4);
    int32_t rows[MAXP];
    int k = 0;
    for (int i = 0; i < g_np; i++) {
        for (int j = 0; j < g_n[i]; j++) t[k] = g_ids[i][j], s[k] = i, p[k] = j, k++;
        rows[i] = k - 1;
    }
    const size_t V = (size_t)m->hp.n_vocab;
    float *out = malloc((size_t)g_np * V * sizeof *out);
    esft_forward_ctx fc;
    esft_err err;
    bool ok = esft_forward_ctx_init(&fc, m, total, 0, g_np, MAXIDS, &err) == ESFT_OK;
    ok = ok && esft_forward(&fc, t, s, p, total, rows, g_np, &err) == ESFT_OK;
    ok = ok && esft_download(&fc.logits, 0, out, (size_t)g_np * V) == ESFT_OK;
    CHECKF(ok, "forward: %s", err.msg);
    if (fc.m) esft_forward_ctx_free(&fc);
    free(t), free(s), free(p);
    return out;
}

static double max_diff(const float *a, const float *b, size_t n) {
    double d = 0;
    for (size_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static int argmax(const float *x, int n) {
    int best = 0;
    for (int i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

/* GREEDY tokens per prompt, [np x GREEDY]. */
static int32_t *greedy(esft_model *m) {
    esft_gen_request req[MAXP];
    esft_gen_result res[MAXP];
    for (int i = 0; i < g_np; i++) req[i] = (esft_gen_request){g_ids[i], g_n[i]};
    esft_gen_params gp = {.max_new = GREEDY, .ignore_eog = true};
    int32_t *out = calloc((size_t)g_np * GREEDY, sizeof *out);
    esft_err err;
    bool ok = esft_generate(m, req, g_np, &gp, res, NULL, &err) == ESFT_OK;
    CHECKF(ok, "generate: %s", err.msg);
    for (int i = 0; ok && i < g_np; i++) {
        memcpy(out + (size_t)i * GREEDY, res[i].tokens, (size_t)res[i].n_tokens * sizeof *out);
        esft_gen_result_free(&res[i]);
    }
    return out;
}

/* The two tokenizers agree on every token and every special. */
static void same_tokenizer(const esft_tokenizer *a, const esft_tokenizer *b) {
    int32_t n = esft_tokenizer_n_vocab(a);
    CHECK(n == esft_tokenizer_n_vocab(b));
    CHECK(esft_tokenizer_bos(a) == esft_tokenizer_bos(b) && esft_tokenizer_eos(a) == esft_tokenizer_eos(b) &&
          esft_tokenizer_eot(a) == esft_tokenizer_eot(b) && esft_tokenizer_add_bos(a) == esft_tokenizer_add_bos(b));
    CHECKF(strcmp(esft_tokenizer_pre(a), esft_tokenizer_pre(b)) == 0, "pre %s vs %s", esft_tokenizer_pre(a),
           esft_tokenizer_pre(b));
    int differ = 0;
    for (int32_t id = 0; id < n; id++) {
        char x[256], y[256];
        int lx = esft_token_bytes(a, id, x, sizeof x), ly = esft_token_bytes(b, id, y, sizeof y);
        bool same = lx == ly && memcmp(x, y, (size_t)(lx < 256 ? lx : 256)) == 0 &&
                    esft_tokenizer_token_type(a, id) == esft_tokenizer_token_type(b, id) &&
                    esft_tokenizer_is_eog(a, id) == esft_tokenizer_is_eog(b, id);
        if (!same && differ++ < 5) fprintf(stderr, "  token %d differs (types %d / %d)\n", id,
                                           esft_tokenizer_token_type(a, id), esft_tokenizer_token_type(b, id));
    }
    printf("tokenizer.json vs GGUF tokenizer: %d of %d tokens differ\n", differ, n);
    CHECK(differ == 0);
}

static bool read_prompts(const esft_model *m) {
    char fx[1024];
    snprintf(fx, sizeof fx, "%s/fixtures/smollm2_reference.json", ESFT_TEST_DATA_DIR);
    char *json = test_read_file(fx, NULL);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    CHECKF(root != NULL, "cannot read %s", fx);
    if (!root) return false;
    const cJSON *prompts = cJSON_GetObjectItem(root, "prompts"), *p;
    g_np = 0;
    cJSON_ArrayForEach(p, prompts) {
        if (g_np == MAXP) break;
        /* the Hugging Face tokenizer gives the reference's (llama.cpp's) ids */
        const char *text = cJSON_GetObjectItem(p, "text")->valuestring;
        int32_t *ids = NULL;
        size_t n = 0;
        esft_err err;
        CHECK(esft_tokenize(m->tok, text, strlen(text), true, true, &ids, &n, &err) == ESFT_OK);
        const cJSON *want = cJSON_GetObjectItem(p, "input_ids"), *w;
        size_t k = 0;
        bool same = n <= MAXIDS;
        cJSON_ArrayForEach(w, want) same = same && k < n && ids[k++] == w->valueint;
        CHECKF(same && k == n, "prompt %d: ids differ from the reference", g_np);
        if (n > MAXIDS) n = MAXIDS;
        memcpy(g_ids[g_np], ids, n * sizeof *ids);
        g_n[g_np++] = (int)n;
        free(ids);
    }
    cJSON_Delete(root);
    return g_np > 0;
}

int main(void) {
    const char *dir = getenv("ESFT_MODEL_DIR");
    if (!dir || !*dir) dir = ESFT_TEST_DATA_DIR "/../models/cache";
    char probe[1024];
    snprintf(probe, sizeof probe, "%s/SmolLM2-135M-Instruct-hf/config.json", dir);
    struct stat sb;
    if (stat(probe, &sb) != 0) {
        printf("SKIP: %s absent (scripts/gguf-to-hf.py makes it)\n", probe);
        return TEST_SKIP_CODE;
    }
    esft_backend_options bo = {0};
    esft_err err;
    if (esft_backend_open("cpu", &bo, &g_be, &err) != ESFT_OK) {
        fprintf(stderr, "cpu backend: %s\n", err.msg);
        return 1;
    }
    esft_model *gg = load(dir, "SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!gg) {
        printf("SKIP: SmolLM2-135M-Instruct.Q4_1.gguf absent in %s\n", dir);
        return TEST_SKIP_CODE;
    }
    esft_model *hf = load(dir, "SmolLM2-135M-Instruct-hf");
    if (!hf || !read_prompts(hf)) return TEST_EXIT();
    const int V = hf->hp.n_vocab;
    const size_t NL = (size_t)g_np * V;
    same_tokenizer(hf->tok, gg->tok);

    char fx[1024];
    snprintf(fx, sizeof fx, "%s/fixtures/smollm2_logits.f32", ESFT_TEST_DATA_DIR);
    size_t len = 0;
    float *ref = (float *)test_read_file(fx, &len);
    CHECK(ref && len == NL * sizeof(float));

    float *lg = last_logits(gg), *lh = last_logits(hf);
    double d_gguf = max_diff(lh, lg, NL), d_ref = ref ? max_diff(lh, ref, NL) : INFINITY;
    printf("f32 dir: logits max |diff| vs GGUF %.3g, vs transformers %.3g (%d prompts x %d)\n", d_gguf, d_ref, g_np, V);
    CHECK(d_gguf <= 1e-5);
    CHECK(d_ref <= 1e-3);
    int32_t *tg = greedy(gg), *th = greedy(hf);
    int same = 0;
    for (int i = 0; i < g_np; i++) same += memcmp(tg + i * GREEDY, th + i * GREEDY, GREEDY * sizeof *tg) == 0;
    printf("f32 dir: %d of %d prompts give the GGUF's %d greedy tokens\n", same, g_np, GREEDY);
    CHECK(same == g_np);
    esft_model_free(gg);
    free(tg), free(th), free(lg);

    esft_model *sh = load(dir, "SmolLM2-135M-Instruct-hf-2shards");
    if (sh) {
        float *ls = last_logits(sh);
        printf("2-shard dir: logits max |diff| vs the single file %.3g\n", max_diff(ls, lh, NL));
        CHECK(memcmp(ls, lh, NL * sizeof *ls) == 0);
        free(ls);
        esft_model_free(sh);
    } else {
        printf("2-shard dir absent: not checked\n");
    }
    esft_model *bf = load(dir, "SmolLM2-135M-Instruct-hf-bf16");
    if (bf && ref) {
        float *lb = last_logits(bf);
        int top = 0;
        for (int i = 0; i < g_np; i++) top += argmax(lb + (size_t)i * V, V) == argmax(ref + (size_t)i * V, V);
        double d = max_diff(lb, ref, NL);
        printf("bf16 dir: logits max |diff| vs transformers f32 %.3g; top token agrees on %d of %d\n", d, top, g_np);
        CHECK(d <= 0.5);
        CHECK(top >= g_np - 2);
        free(lb);
    } else {
        printf("bf16 dir absent: not checked\n");
    }
    if (bf) esft_model_free(bf);
    free(lh), free(ref);
    esft_model_free(hf);
    esft_backend_destroy(g_be);
    return TEST_EXIT();
}
