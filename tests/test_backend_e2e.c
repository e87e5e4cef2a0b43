/* Every non-cpu backend end to end against the cpu backend:
 *  - 3 ES iterations on a tiny model: member rewards identical and master
 *    weights within 1e-5 (normwise, per tensor) of the cpu run;
 *  - greedy generation, 20 prompts of 16 tokens each, batched, >= 18 of 20
 *    identical: by default on a small synthetic Q8_0 model with a real
 *    model's head layout (seconds on any device); with --model, on
 *    SmolLM2-135M-Instruct and the first 20 prompts of the reference fixture
 *    (ctest label "long": 10-20 minutes on lavapipe and PoCL).
 * Both run with f32 working weights (cuda: ESFT_CUDA_WORK_DTYPE=f32), so
 * any difference is the backend's. cuda's default bf16 weights are then
 * checked against the same cpu run, more loosely: generation >= 8 of 20
 * prompts identical (rounding the weights to 8 bits of mantissa moves some
 * greedy choices), ES iterations run and keep finite weights within 1e-2.
 * With only the cpu backend built, there is nothing to compare: skipped. */
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model.h"
#include "registry.h"
#include "synth.h"
#include "testutil.h"
#include "train.h"

enum { N_PROMPTS = 20, N_NEW = 16, MAXIDS = 512 };

typedef struct prompt_set {
    int32_t ids[N_PROMPTS][MAXIDS];
    int n[N_PROMPTS];
} prompt_set;

/* The reference fixture's first 20 prompts (SmolLM2's token ids). */
static bool fixture_prompts(prompt_set *ps) {
    char fx[1024];
    snprintf(fx, sizeof fx, "%s/fixtures/smollm2_reference.json", ESFT_TEST_DATA_DIR);
    char *json = test_read_file(fx, NULL);
    cJSON *root = json ? cJSON_Parse(json) : NULL;
    free(json);
    const cJSON *prompts = cJSON_GetObjectItem(root, "prompts");
    bool ok = cJSON_GetArraySize(prompts) >= N_PROMPTS;
    for (int i = 0; ok && i < N_PROMPTS; i++) {
        const cJSON *arr = cJSON_GetObjectItem(cJSON_GetArrayItem(prompts, i), "input_ids"), *it;
        int n = 0;
        cJSON_ArrayForEach(it, arr) if (n < MAXIDS) ps->ids[i][n++] = (int32_t)it->valueint;
        ps->n[i] = n;
        ok = n > 0;
    }
    cJSON_Delete(root);
    return ok;
}

/* 20 prompts of 3..60 ids below n_vocab, from a fixed seed. */
static void random_prompts(prompt_set *ps, int n_vocab) {
    uint64_t x = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < N_PROMPTS; i++) {
        ps->n[i] = 3 + 3 * i;
        for (int j = 0; j < ps->n[i]; j++) {
            x = x * 6364136223846793005ull + 1442695040888963407ull;
            ps->ids[i][j] = (int32_t)((x >> 33) % (uint64_t)n_vocab);
        }
    }
}

/* Greedy tokens for the prompts on backend `name`. */
static bool generate_on(const char *name, const char *model_path, const prompt_set *ps,
                        int32_t out[N_PROMPTS][N_NEW]) {
    esft_backend *be = NULL;
    esft_err err = {{0}};
    esft_backend_options bo = {0};
    esft_model *m = NULL;
    bool ok = esft_backend_open(name, &bo, &be, &err) == ESFT_OK &&
              esft_model_load(model_path, be, NULL, &m, &err) == ESFT_OK;
    esft_gen_request reqs[N_PROMPTS];
    for (int i = 0; i < N_PROMPTS; i++) reqs[i] = (esft_gen_request){ps->ids[i], ps->n[i]};
    esft_gen_result res[N_PROMPTS];
    esft_gen_params gp = {.max_new = N_NEW, .ignore_eog = true};
    ok = ok && esft_generate(m, reqs, N_PROMPTS, &gp, res, NULL, &err) == ESFT_OK;
    for (int i = 0; ok && i < N_PROMPTS; i++) {
        memcpy(out[i], res[i].tokens, sizeof out[i]);
        esft_gen_result_free(&res[i]);
    }
    if (!ok) fprintf(stderr, "%s: %s\n", name, err.msg[0] ? err.msg : be ? be->err.msg : "failed");
    esft_model_free(m);
    esft_backend_destroy(be);
    return ok;
}

static int train_on(const char *name, const char *model, const char *out) {
    esft_train_options o = {0};
    o.model_path = model;
    o.out_dir = out;
    o.overwrite = true; /* the build tree keeps the last run of this test */
    o.iters = 3;
    o.quiet = true;
    o.backend = name;
    esft_run_config *c = &o.cfg;
    c->pop = 6;
    c->sigma = 0.05f;
    c->alpha = 0.02f;
    c->max_new = 8;
    c->run_seed = 5;
    c->shaping = (esft_shaping)-1;
    c->weight_decay = NAN;
    snprintf(c->task, sizeof c->task, "conciseness");
    esft_err err = {{0}};
    esft_status st = esft_train(&o, &err);
    if (st) fprintf(stderr, "  esft_train on %s: %s\n", name, err.msg);
    return st;
}

/* Member rewards of every iteration, as one string per metrics line. */
static int read_rewards(const char *dir, char lines[8][512]) {
    char path[1100];
    snprintf(path, sizeof path, "%s/metrics.jsonl", dir);
    char *text = test_read_file(path, NULL);
    int n = 0;
    char *save = NULL;
    for (char *l = text ? strtok_r(text, "\n", &save) : NULL; l && n < 8; l = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(l);
        char *r = o ? cJSON_PrintUnformatted(cJSON_GetObjectItem(o, "rewards")) : NULL;
        snprintf(lines[n++], 512, "%s", r ? r : "?");
        free(r);
        cJSON_Delete(o);
    }
    free(text);
    return n;
}

static void compare_training(const char *name, const char *model, double tol, bool same_rewards) {
    char dir_cpu[1024], dir_be[1024], f_cpu[1100], f_be[1100];
    snprintf(dir_cpu, sizeof dir_cpu, "%s/e2e_train_cpu", ESFT_TEST_BINARY_DIR);
    snprintf(dir_be, sizeof dir_be, "%s/e2e_train_%s%s", ESFT_TEST_BINARY_DIR, name,
             same_rewards ? "" : "_lowp");
    static bool cpu_trained = false; /* the reference run, once for every backend */
    if (!cpu_trained) {
        CHECK(train_on("cpu", model, dir_cpu) == 0);
        cpu_trained = true;
    }
    CHECK(train_on(name, model, dir_be) == 0);
    char r_cpu[8][512], r_be[8][512];
    int n_cpu = read_rewards(dir_cpu, r_cpu), n_be = read_rewards(dir_be, r_be);
    CHECK(n_cpu == 3 && n_be == 3);
    for (int i = 0; same_rewards && i < n_cpu && i < n_be; i++)
        CHECKF(strcmp(r_cpu[i], r_be[i]) == 0, "%s iteration %d rewards %s vs cpu %s", name, i, r_be[i], r_cpu[i]);
    snprintf(f_cpu, sizeof f_cpu, "%s/final.gguf", dir_cpu);
    snprintf(f_be, sizeof f_be, "%s/final.gguf", dir_be);
    gguf_file *a = NULL, *b = NULL;
    esft_err err = {{0}};
    CHECK(esft_gguf_open(f_cpu, &a, &err) == ESFT_OK && esft_gguf_open(f_be, &b, &err) == ESFT_OK);
    double worst = 0;
    for (size_t i = 0; a && b && i < esft_gguf_n_tensors(a); i++) {
        const gguf_tensor_info *ta = esft_gguf_tensor_at(a, i), *tb = esft_gguf_find_tensor(b, ta->name);
        CHECK(tb && tb->n_elements == ta->n_elements && ta->type == GGML_TYPE_F32);
        if (!tb) continue;
        const float *x = ta->data, *y = tb->data;
        double dmax = 0, vmax = 0;
        for (uint64_t k = 0; k < ta->n_elements; k++) {
            if (!isfinite(y[k])) dmax = INFINITY;
            dmax = fmax(dmax, fabs((double)x[k] - y[k]));
            vmax = fmax(vmax, fabs((double)x[k]));
        }
        worst = fmax(worst, dmax / fmax(vmax, 1e-30));
    }
    printf("  %s: 3 ES iterations: member rewards %s cpu's; master weights max normwise diff %.3g\n",
           name, strcmp(r_cpu[2], r_be[2]) == 0 ? "equal" : "DIFFER from", worst);
    CHECKF(worst <= tol, "%s master weights differ from cpu by %.3g", name, worst);
    esft_gguf_close(a);
    esft_gguf_close(b);
}

/* Greedy generation on backend `name` against the cpu's tokens (ref);
 * cuda also with its default bf16 weights, more loosely. */
static void compare_generation(const char *name, const char *label, const char *model, const prompt_set *ps,
                               int32_t ref[N_PROMPTS][N_NEW]) {
    static int32_t got[N_PROMPTS][N_NEW];
    const bool lowp = strcmp(name, "cuda") == 0;
    for (int pass = 0; pass < (lowp ? 2 : 1); pass++) {
        if (lowp && pass == 0) setenv("ESFT_CUDA_WORK_DTYPE", "f32", 1);
        if (lowp && pass == 1) unsetenv("ESFT_CUDA_WORK_DTYPE");
        const int need = pass == 0 ? 18 : 8;
        CHECK(generate_on(name, model, ps, got));
        int same = 0;
        for (int i = 0; i < N_PROMPTS; i++) same += memcmp(ref[i], got[i], sizeof ref[i]) == 0;
        printf("  %s%s: greedy generation on %s equals cpu for %d of %d prompts (%d tokens each)\n", name,
               pass ? " (bf16 weights)" : "", label, same, N_PROMPTS, N_NEW);
        CHECKF(same >= need, "%s: only %d of %d prompts equal cpu on %s (need %d)", name, same, N_PROMPTS,
               label, need);
    }
    unsetenv("ESFT_CUDA_WORK_DTYPE");
}

int main(int argc, char **argv) {
    const bool real_model = argc > 1 && strcmp(argv[1], "--model") == 0;
    const char *dir = getenv("ESFT_MODEL_DIR");
    char smollm[1024], tiny[1024], gen_model[1024];
    snprintf(smollm, sizeof smollm, "%s/SmolLM2-135M-Instruct.Q4_1.gguf",
             dir ? dir : ESFT_TEST_DATA_DIR "/../models/cache");
    snprintf(tiny, sizeof tiny, "%s/e2e_tiny.gguf", ESFT_TEST_BINARY_DIR);
    esft_err err = {{0}};
    static prompt_set prompts;
    if (real_model) {
        FILE *probe = fopen(smollm, "rb");
        if (!probe) {
            printf("SKIP: %s absent\n", smollm);
            return TEST_SKIP_CODE;
        }
        fclose(probe);
        snprintf(gen_model, sizeof gen_model, "%s", smollm);
        CHECK(fixture_prompts(&prompts));
    } else {
        esft_synth_spec s;
        esft_synth_preset("tiny", &s);
        CHECKF(esft_synth_write(&s, tiny, &err) == ESFT_OK, "%s", err.msg);
        /* SmolLM2's head layout (64-wide heads, 3:1 grouped KV) in Q8_0 */
        esft_synth_preset("tiny", &s);
        s.n_vocab = 512, s.n_embd = 192, s.n_head = 3, s.n_head_kv = 1, s.n_ff = 512;
        s.type = GGML_TYPE_Q8_0;
        snprintf(gen_model, sizeof gen_model, "%s/e2e_gen_q8.gguf", ESFT_TEST_BINARY_DIR);
        CHECKF(esft_synth_write(&s, gen_model, &err) == ESFT_OK, "%s", err.msg);
        random_prompts(&prompts, s.n_vocab);
    }
    const char *label = real_model ? "SmolLM2-135M" : "a synthetic Q8_0 model";

    static int32_t ref[N_PROMPTS][N_NEW];
    bool have_ref = false;
    int compared = 0;
    for (int d = 0; d < esft_registry_n_drivers(); d++) {
        const esft_backend_driver *drv = esft_registry_driver(d);
        if (strcmp(drv->name, "cpu") == 0) continue;
        esft_device_info info[4];
        if (drv->enumerate(info, 4, &err) <= 0) {
            printf("%s: no device here, skipped\n", drv->name);
            continue;
        }
        compared++;
        if (!real_model) {
            /* cuda: f32 working weights first, then its default (bf16) */
            const bool lowp = strcmp(drv->name, "cuda") == 0;
            if (lowp) setenv("ESFT_CUDA_WORK_DTYPE", "f32", 1);
            compare_training(drv->name, tiny, 1e-5, true);
            if (lowp) {
                unsetenv("ESFT_CUDA_WORK_DTYPE");
                compare_training(drv->name, tiny, 1e-2, false);
            }
        }
        if (!have_ref) {
            have_ref = generate_on("cpu", gen_model, &prompts, ref);
            CHECK(have_ref);
            /* a model stuck on one token would make equality meaningless */
            static bool seen[1 << 17];
            int distinct = 0;
            for (int i = 0; have_ref && i < N_PROMPTS; i++)
                for (int j = 0; j < N_NEW; j++)
                    if (ref[i][j] >= 0 && ref[i][j] < (1 << 17) && !seen[ref[i][j]]) seen[ref[i][j]] = true, distinct++;
            printf("cpu reference: %d distinct tokens in %d\n", distinct, N_PROMPTS * N_NEW);
            CHECKF(distinct >= 40, "the cpu reference has only %d distinct tokens", distinct);
        }
        if (have_ref) compare_generation(drv->name, label, gen_model, &prompts, ref);
    }
    if (compared == 0) {
        printf("SKIP: only the cpu backend has a device here\n");
        return TEST_SKIP_CODE;
    }
    return TEST_EXIT();
}
