/* A Hugging Face directory trains exactly like the GGUF it was made from:
 * SmolLM2-135M-Instruct as GGUF and as a f32 Hugging Face directory
 * (scripts/gguf-to-hf.py: the same weights), each trained through the public
 * API (include/esft.h) with the same seed, population and reward, give
 * byte-identical f32 weights in every tensor, and the rewards showed signal
 * so the weights did move. Both models answer greedily the same before
 * training. Exit 77 when either model is absent. */
#include <esft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "test_gguf_compare.h"
#include "testutil.h"

static const char *const prompts[] = {"The capital of France is", "Once upon a time", "2 + 2 ="};

/* Any deterministic function of the response: its vowels. */
static esft_status vowels(void *user, const esft_reward_input *in, double *out) {
    (void)user;
    int n = 0;
    for (size_t i = 0; i < in->response_len; i++) n += strchr("aeiouAEIOU", in->response[i]) && in->response[i];
    *out = n;
    return ESFT_OK;
}

/* Whether some iteration's members got different rewards (else no update). */
static void note_signal(void *user, const esft_iteration_stats *s) {
    if (s->reward_max > s->reward_min) *(bool *)user = true;
}

/* Trains `model` for 2 iterations and saves f32 weights to out; writes the
 * greedy answer to prompts[0] before training into first (cap bytes). */
static void train(esft_backend *be, const char *model, const char *out, char *first, size_t cap) {
    esft_model *m = NULL;
    esft_trainer *tr = NULL;
    CHECKF(esft_model_open(be, model, NULL, &m) == ESFT_OK, "%s", esft_last_error());
    if (!m) return;
    esft_generate_params gp = esft_generate_default_params();
    gp.max_new = 12;
    char *text = NULL;
    CHECKF(esft_model_generate(m, prompts, 1, &gp, &text) == ESFT_OK, "%s", esft_last_error());
    snprintf(first, cap, "%s", text ? text : "");
    esft_free(text);
    esft_trainer_params p = esft_trainer_default_params();
    p.pop = 4, p.sigma = 0.02f, p.alpha = 0.01f, p.seed = 5, p.max_new = 10;
    p.prompts = prompts, p.n_prompts = 3;
    bool signal = false;
    CHECKF(esft_trainer_init(m, &p, &tr) == ESFT_OK, "%s", esft_last_error());
    if (tr) {
        CHECKF(esft_trainer_run(tr, 2, vowels, NULL, note_signal, &signal) == ESFT_OK, "%s", esft_last_error());
        CHECK(signal);
        CHECKF(esft_trainer_save(tr, out, ESFT_SAVE_F32) == ESFT_OK, "%s", esft_last_error());
        esft_trainer_free(tr);
    }
    esft_model_close(m);
}

int main(void) {
    const char *dir = getenv("ESFT_MODEL_DIR");
    if (!dir || !*dir) dir = ESFT_TEST_DATA_DIR "/../models/cache";
    char gguf[1024], hf[1024], probe[1100];
    snprintf(gguf, sizeof gguf, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", dir);
    snprintf(hf, sizeof hf, "%s/SmolLM2-135M-Instruct-hf", dir);
    snprintf(probe, sizeof probe, "%s/config.json", hf);
    struct stat sb;
    if (stat(gguf, &sb) != 0 || stat(probe, &sb) != 0) {
        printf("SKIP: %s or %s absent (scripts/make-hf-test-models.sh)\n", gguf, probe);
        return TEST_SKIP_CODE;
    }
    char tmp[256], out_gguf[300], out_hf[300], first_gguf[256], first_hf[256];
    if (!test_make_tmpdir(tmp, sizeof tmp, "esft-api-hf")) return 1;
    snprintf(out_gguf, sizeof out_gguf, "%s/from-gguf.gguf", tmp);
    snprintf(out_hf, sizeof out_hf, "%s/from-hf.gguf", tmp);
    esft_backend_params bp = esft_backend_default_params();
    bp.backend = "cpu";
    esft_backend *be = NULL;
    CHECKF(esft_backend_init(&bp, &be) == ESFT_OK, "%s", esft_last_error());
    if (!be) return TEST_EXIT();
    train(be, gguf, out_gguf, first_gguf, sizeof first_gguf);
    train(be, hf, out_hf, first_hf, sizeof first_hf);
    printf("greedy before training: GGUF \"%s\", HF \"%s\"\n", first_gguf, first_hf);
    CHECK(first_gguf[0] && strcmp(first_gguf, first_hf) == 0);
    bool same = same_tensors(out_gguf, out_hf);
    printf("trained f32 weights from GGUF and from HF directory: %s\n", same ? "identical" : "DIFFERENT");
    CHECK(same);
    remove(out_gguf), remove(out_hf), remove(tmp);
    esft_backend_free(be);
    return TEST_EXIT();
}
