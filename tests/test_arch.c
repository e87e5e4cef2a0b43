/* Qwen3, Llama 3 (llama3 rope scaling) and Gemma 3 against transformers.
 *
 * tests/fixtures/arch/ holds, per architecture, a small random-weight model
 * as a GGUF file and as a Hugging Face directory, and what transformers (f32)
 * computed from it: last-position logits of a few prompts and 32-token greedy
 * continuations (scripts/gen-arch-fixtures.py). Each form of each model is
 * loaded on the cpu backend (and on every other backend of this build that
 * has a device, unless ESFT_ARCH_BACKENDS names the ones to run, e.g.
 * "cpu,opencl") and must
 * reproduce the logits (max |diff| <= 1e-3 of the largest |logit|) and the
 * continuations exactly. The two forms must also give bit-identical f32
 * master weights under the same names: the Hugging Face reader's renaming,
 * row interleaving, Gemma's 1 + w norms and the synthesized Llama 3
 * rope_freqs are what llama.cpp's converter writes. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "es_step.h"
#include "model.h"
#include "registry.h"
#include "testjson.h"
#include "testutil.h"

enum { MAX_IDS = 128, N_GREEDY = 32 };

static const char *const ARCHS[] = {"qwen3", "llama3", "gemma3"};

typedef struct prompt_ref {
    int n_ids;
    int32_t ids[MAX_IDS];
    float *logits; /* [V] */
    int32_t greedy[N_GREEDY];
} prompt_ref;

typedef struct arch_ref {
    int n_vocab, n_prompts;
    prompt_ref *prompts;
} arch_ref;

static void ref_free(arch_ref *r) {
    for (int i = 0; i < r->n_prompts; i++) free(r->prompts[i].logits);
    free(r->prompts);
}


static bool ref_load(const char *path, arch_ref *r) {
    memset(r, 0, sizeof *r);
    char *json = test_read_file(path, NULL);
    CHECKF(json != NULL, "cannot read %s", path);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    CHECKF(root != NULL, "%s: not JSON", path);
    if (!root) return false;
    r->n_vocab = cJSON_GetObjectItem(root, "n_vocab")->valueint;
    const cJSON *prompts = cJSON_GetObjectItem(root, "prompts");
    r->n_prompts = cJSON_GetArraySize(prompts);
    r->prompts = calloc((size_t)r->n_prompts, sizeof *r->prompts);
    bool ok = r->n_prompts > 0 && r->prompts;
    for (int i = 0; ok && i < r->n_prompts; i++) {
        const cJSON *p = cJSON_GetArrayItem(prompts, i);
        prompt_ref *pr = &r->prompts[i];
        pr->n_ids = test_json_ints(cJSON_GetObjectItem(p, "input_ids"), pr->ids, MAX_IDS);
        ok = pr->n_ids > 0 && pr->n_ids <= MAX_IDS &&
             test_json_ints(cJSON_GetObjectItem(p, "greedy"), pr->greedy, N_GREEDY) == N_GREEDY;
        const cJSON *lg = cJSON_GetObjectItem(p, "logits");
        pr->logits = malloc((size_t)r->n_vocab * sizeof *pr->logits);
        ok = ok && pr->logits && cJSON_GetArraySize(lg) == r->n_vocab;
        int k = 0;
        const cJSON *it;
        if (ok) cJSON_ArrayForEach(it, lg) pr->logits[k++] = (float)it->valuedouble;
    }
    CHECKF(ok, "%s: malformed fixture", path);
    cJSON_Delete(root);
    return ok;
}

/* Logits of the last token of ids (one prefill), then greedy decoding. */
static void run_prompt(esft_forward_ctx *fc, const prompt_ref *pr, int V, const char *what, double *worst) {
    int n = pr->n_ids;
    int32_t seq[MAX_IDS], pos[MAX_IDS];
    for (int i = 0; i < n; i++) seq[i] = 0, pos[i] = i;
    int32_t row = n - 1;
    esft_err err = {{0}};
    float *logits = malloc((size_t)V * sizeof *logits);
    esft_status st = esft_forward(fc, pr->ids, seq, pos, n, &row, 1, &err);
    CHECKF(st == ESFT_OK, "%s: forward: %s", what, err.msg);
    if (st || esft_download(&fc->logits, 0, logits, (size_t)V)) {
        free(logits);
        return;
    }
    double maxref = 0, maxdiff = 0;
    for (int v = 0; v < V; v++) {
        maxref = fmax(maxref, fabs(pr->logits[v]));
        double d = fabs((double)logits[v] - pr->logits[v]);
        if (!(d <= maxdiff)) maxdiff = d; /* NaN counts */
    }
    double rel = maxdiff / fmax(maxref, 1e-6);
    if (rel > *worst || isnan(rel)) *worst = rel;
    CHECKF(rel <= 1e-3, "%s: prompt of %d tokens: max |logit diff| %.3g (%.3g of max |logit| %.3g)", what, n,
           maxdiff, rel, maxref);
    /* greedy: argmax, then one token at a time */
    int32_t tok = 0, got[N_GREEDY];
    int p = n;
    for (int g = 0; g < N_GREEDY; g++) {
        for (int v = 1; v < V; v++)
            if (logits[v] > logits[tok]) tok = v;
        got[g] = tok;
        int32_t s0 = 0, p0 = p++, r0 = 0;
        if (g + 1 < N_GREEDY) {
            st = esft_forward(fc, &tok, &s0, &p0, 1, &r0, 1, &err);
            if (st || esft_download(&fc->logits, 0, logits, (size_t)V)) break;
            tok = 0;
        }
    }
    int same = 0;
    while (same < N_GREEDY && got[same] == pr->greedy[same]) same++;
    CHECKF(same == N_GREEDY, "%s: prompt of %d tokens: greedy tokens differ from transformers' at %d (%d vs %d)",
           what, n, same, same < N_GREEDY ? got[same] : -1, same < N_GREEDY ? pr->greedy[same] : -1);
    free(logits);
}

static esft_model *load(const char *path, esft_backend *be, const char *what) {
    esft_model *m = NULL;
    esft_err err = {{0}};
    CHECKF(esft_model_load(path, be, NULL, &m, &err) == ESFT_OK, "%s: %s", what, err.msg);
    return m;
}

/* Both forms hold the same tensors with the same f32 values. */
static void compare_weights(const esft_model *a, const esft_model *b, const char *arch) {
    CHECKF(a->n_params == b->n_params, "%s: %d tensors in the GGUF, %d from the HF directory", arch, a->n_params,
           b->n_params);
    size_t differ = 0;
    for (int i = 0; i < a->n_params; i++) {
        const esft_param *pa = &a->params[i], *pb = NULL;
        for (int j = 0; j < b->n_params && !pb; j++)
            if (strcmp(b->params[j].name, pa->name) == 0) pb = &b->params[j];
        CHECKF(pb && pb->n == pa->n, "%s: tensor %s missing or resized in the HF form", arch, pa->name);
        if (!pb || pb->n != pa->n) continue;
        float *x = malloc(pa->n * sizeof *x), *y = malloc(pa->n * sizeof *y);
        if (x && y && !esft_download(&pa->master, 0, x, pa->n) && !esft_download(&pb->master, 0, y, pb->n)) {
            size_t bad = 0;
            for (size_t k = 0; k < pa->n; k++) bad += memcmp(&x[k], &y[k], sizeof *x) != 0;
            CHECKF(bad == 0, "%s: tensor %s: %zu of %zu values differ between GGUF and HF", arch, pa->name, bad,
                   pa->n);
            differ += bad;
        }
        free(x);
        free(y);
    }
    (void)differ;
}

/* --params '*' trains every weight but never Llama 3's rope frequency
 * divisors (a constant of the architecture) */
static void check_selection(const esft_model *m, const char *arch) {
    int n_sel = 0;
    bool *sel = esft_es_select(m, "*", &n_sel);
    CHECKF(sel != NULL, "%s: out of memory", arch);
    if (!sel) return;
    int n_const = 0;
    for (int i = 0; i < m->n_params; i++) {
        bool constant = strcmp(m->params[i].name, "rope_freqs.weight") == 0;
        n_const += constant;
        CHECKF(sel[i] == !constant, "%s: %s %s selected by --params '*'", arch, m->params[i].name,
               sel[i] ? "is" : "is not");
    }
    CHECKF(n_sel == m->n_params - n_const, "%s: %d of %d tensors selected", arch, n_sel, m->n_params);
    if (strcmp(arch, "llama3") == 0) CHECKF(n_const == 1, "llama3: no rope_freqs.weight in the fixture");
    free(sel);
}

static bool backend_wanted(const char *name) {
    const char *list = getenv("ESFT_ARCH_BACKENDS");
    if (!list) return true;
    size_t n = strlen(name);
    for (const char *p = list; (p = strstr(p, name)) != NULL; p += n)
        if ((p == list || p[-1] == ',') && (p[n] == ',' || p[n] == 0)) return true;
    return false;
}

static void run_backend(esft_backend *be, const arch_ref refs[], size_t n_arch) {
    for (size_t a = 0; a < n_arch; a++) {
        const arch_ref *r = &refs[a];
        if (!r->prompts) continue;
        char gguf[1024], hf[1024], what[1200];
        snprintf(gguf, sizeof gguf, "%s/fixtures/arch/%s.gguf", ESFT_TEST_DATA_DIR, ARCHS[a]);
        snprintf(hf, sizeof hf, "%s/fixtures/arch/%s-hf", ESFT_TEST_DATA_DIR, ARCHS[a]);
        const char *paths[2] = {gguf, hf};
        esft_model *models[2] = {NULL, NULL};
        for (int f = 0; f < 2; f++) {
            snprintf(what, sizeof what, "%s %s (%s)", be->kind, ARCHS[a], f ? "HF" : "GGUF");
            esft_model *m = models[f] = load(paths[f], be, what);
            if (!m) continue;
            CHECKF(m->hp.n_vocab == r->n_vocab, "%s: vocabulary %d, fixture %d", what, m->hp.n_vocab, r->n_vocab);
            esft_forward_ctx fc;
            esft_err err = {{0}};
            if (esft_forward_ctx_init(&fc, m, MAX_IDS, 1, 1, MAX_IDS + N_GREEDY, &err) != ESFT_OK) {
                CHECKF(false, "%s: %s", what, err.msg);
                continue;
            }
            double worst = 0;
            for (int i = 0; i < r->n_prompts; i++) run_prompt(&fc, &r->prompts[i], r->n_vocab, what, &worst);
            printf("%-40s max logit error %.2g of max |logit|\n", what, worst);
            esft_forward_ctx_free(&fc);
        }
        if (models[0] && models[1] && strcmp(be->kind, "cpu") == 0) compare_weights(models[0], models[1], ARCHS[a]);
        if (models[0] && strcmp(be->kind, "cpu") == 0) check_selection(models[0], ARCHS[a]);
        esft_model_free(models[0]);
        esft_model_free(models[1]);
    }
}

int main(void) {
    enum { N_ARCH = sizeof ARCHS / sizeof ARCHS[0] };
    arch_ref refs[N_ARCH];
    for (size_t a = 0; a < N_ARCH; a++) {
        char path[1024];
        snprintf(path, sizeof path, "%s/fixtures/arch/%s.json", ESFT_TEST_DATA_DIR, ARCHS[a]);
        if (!ref_load(path, &refs[a])) ref_free(&refs[a]);
    }
    for (int d = 0; d < esft_registry_n_drivers(); d++) {
        const esft_backend_driver *drv = esft_registry_driver(d);
        if (!backend_wanted(drv->name)) continue;
        esft_backend *be = NULL;
        esft_err err = {{0}};
        esft_backend_options bo = {0};
        if (esft_backend_open(drv->name, &bo, &be, &err) != ESFT_OK) {
            /* only the cpu backend must be there */
            CHECKF(strcmp(drv->name, "cpu") != 0, "cpu: %s", err.msg);
            printf("%s: no device (%s), skipped\n", drv->name, err.msg);
            continue;
        }
        run_backend(be, refs, N_ARCH);
        esft_backend_destroy(be);
    }
    for (size_t a = 0; a < N_ARCH; a++) ref_free(&refs[a]);
    return TEST_EXIT();
}
