/* The public API (include/esft.h), called through libesft.so:
 *  1. the step API is the whole-loop API, however the members are split;
 *  2. a resumed trainer continues bit for bit;
 *  3. with a reward written here (the paper's conciseness reward), the API
 *     trains the same weights as `esft train --task conciseness`;
 *  4. bad calls and failing callbacks get a status and a message.
 * The GGUF reader of the static layers reads the files to compare. */
#include <esft.h>

#include <stdint.h>
#include <string.h>

#include "test_gguf_compare.h"
#include "testutil.h"

static const char *const tiny_prompts[] = {"ab", "hello", "x y z"};

/* Any deterministic function of the response: the count of bytes below 'n'. */
static esft_status low_bytes(void *user, const esft_reward_input *in, double *out) {
    (void)user;
    int n = 0;
    for (size_t i = 0; i < in->response_len; i++) n += (unsigned char)in->response[i] < 'n';
    *out = n;
    return ESFT_OK;
}

static esft_trainer_params tiny_params(void) {
    esft_trainer_params p = esft_trainer_default_params();
    p.pop = 4;
    p.sigma = 0.05f;
    p.alpha = 0.02f;
    p.seed = 11;
    p.max_new = 6;
    p.prompts = tiny_prompts;
    p.n_prompts = 3;
    return p;
}

static bool run_cmd(const char *cmd) {
    int rc = system(cmd);
    if (rc != 0) fprintf(stderr, "  `%s` failed (%d)\n", cmd, rc);
    return rc == 0;
}

/* 1 and 2 on the tiny random model. */
static void test_steps_and_resume(esft_backend *be, const char *dir, const char *model) {
    char whole[512], steps[512], half[512], resumed[512];
    snprintf(whole, sizeof whole, "%s/whole.gguf", dir);
    snprintf(steps, sizeof steps, "%s/steps.gguf", dir);
    snprintf(half, sizeof half, "%s/half.gguf", dir);
    snprintf(resumed, sizeof resumed, "%s/resumed.gguf", dir);
    esft_trainer_params p = tiny_params();

    esft_model *m = NULL;
    esft_trainer *tr = NULL;
    CHECKF(esft_model_open(be, model, NULL, &m) == ESFT_OK, "%s", esft_last_error());
    CHECKF(m && esft_trainer_init(m, &p, &tr) == ESFT_OK, "%s", esft_last_error());
    if (!tr) return;
    CHECKF(esft_trainer_run(tr, 2, low_bytes, NULL, NULL, NULL) == ESFT_OK, "%s", esft_last_error());
    CHECK(esft_trainer_iteration(tr) == 2);
    CHECKF(esft_trainer_save(tr, whole, ESFT_SAVE_CHECKPOINT) == ESFT_OK, "%s", esft_last_error());
    esft_trainer_free(tr);
    esft_model_close(m);

    /* the same two iterations as blocks of members, out of order */
    double r[4];
    CHECK(esft_model_open(be, model, NULL, &m) == ESFT_OK && esft_trainer_init(m, &p, &tr) == ESFT_OK);
    CHECK(esft_trainer_eval_members(tr, 2, 4, low_bytes, NULL, r + 2) == ESFT_OK);
    CHECK(esft_trainer_eval_members(tr, 1, 2, low_bytes, NULL, r + 1) == ESFT_OK);
    CHECK(esft_trainer_eval_members(tr, 0, 1, low_bytes, NULL, r) == ESFT_OK);
    CHECK(esft_trainer_eval_members(tr, 3, 3, low_bytes, NULL, NULL) == ESFT_OK); /* empty: fine */
    CHECK(esft_trainer_apply(tr, r) == ESFT_OK);
    CHECK(esft_trainer_eval_members(tr, 0, 4, low_bytes, NULL, r) == ESFT_OK);
    CHECK(esft_trainer_apply(tr, r) == ESFT_OK);
    CHECK(esft_trainer_save(tr, steps, ESFT_SAVE_CHECKPOINT) == ESFT_OK);
    CHECKF(same_tensors(whole, steps), "the step API trained other weights than esft_trainer_run");
    esft_trainer_free(tr);
    esft_model_close(m);

    /* one iteration, saved; a resumed trainer does the second */
    CHECK(esft_model_open(be, model, NULL, &m) == ESFT_OK && esft_trainer_init(m, &p, &tr) == ESFT_OK);
    CHECK(esft_trainer_run(tr, 1, low_bytes, NULL, NULL, NULL) == ESFT_OK);
    CHECK(esft_trainer_save(tr, half, ESFT_SAVE_CHECKPOINT) == ESFT_OK);
    esft_trainer_free(tr);
    esft_model_close(m);
    esft_trainer_params again = esft_trainer_default_params();
    again.prompts = tiny_prompts, again.n_prompts = 3;
    CHECKF(esft_trainer_resume(be, half, &again, &tr) == ESFT_OK, "%s", esft_last_error());
    if (tr) {
        CHECK(esft_trainer_iteration(tr) == 1 && esft_trainer_pop(tr) == 4);
        CHECK(esft_trainer_run(tr, 2, low_bytes, NULL, NULL, NULL) == ESFT_OK);
        CHECK(esft_trainer_save(tr, resumed, ESFT_SAVE_CHECKPOINT) == ESFT_OK);
        CHECKF(same_tensors(whole, resumed), "the resumed run differs from the uninterrupted one");
        esft_trainer_free(tr);
    }
    /* a resume that changes a run setting is refused, naming it */
    again.pop = 6;
    CHECK(esft_trainer_resume(be, half, &again, &tr) == ESFT_ERR_INVALID_ARG && tr == NULL);
    CHECKF(strstr(esft_last_error(), "pop 6") != NULL, "%s", esft_last_error());
}

/* 3: the paper's conciseness reward, −|chars(response) − chars(target)|,
 * written here from its definition (UTF-8 characters). */
static const char *const concise_prompts[] = {"Solve: 3 + 5 =",
                                              "If all birds can fly and penguins are birds, can penguins fly?"};
static const char *const concise_targets[] = {"8", "No"};

static size_t utf8_chars(const char *s, size_t n) {
    size_t c = 0;
    for (size_t i = 0; i < n; i++) c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static esft_status conciseness(void *user, const esft_reward_input *in, double *out) {
    int *calls = user;
    (*calls)++;
    const char *t = concise_targets[in->item];
    double gap = (double)utf8_chars(in->response, in->response_len) - (double)utf8_chars(t, strlen(t));
    *out = gap == 0 ? 0.0 : -(gap < 0 ? -gap : gap);
    return ESFT_OK;
}

static void test_against_cli(esft_backend *be, const char *dir, const char *model) {
    char cmd[2048], api_out[512], cli_final[512];
    snprintf(cmd, sizeof cmd,
             "\"%s\" train --model '%s' --task conciseness --pop 4 --sigma 0.01 --alpha 0.002 --seed 7 "
             "--max-new 8 --iters 2 --backend cpu --threads 1 --save-dtype f32 --out '%s/cli' --overwrite "
             ">/dev/null 2>&1",
             getenv("ESFT_BIN"), model, dir);
    CHECK(run_cmd(cmd));
    snprintf(cli_final, sizeof cli_final, "%s/cli/final.gguf", dir);
    snprintf(api_out, sizeof api_out, "%s/api.gguf", dir);

    esft_trainer_params p = esft_trainer_default_params();
    p.pop = 4, p.sigma = 0.01f, p.alpha = 0.002f, p.seed = 7, p.max_new = 8;
    p.prompts = concise_prompts, p.n_prompts = 2;
    esft_model *m = NULL;
    esft_trainer *tr = NULL;
    int calls = 0;
    CHECKF(esft_model_open(be, model, NULL, &m) == ESFT_OK, "%s", esft_last_error());
    CHECKF(m && esft_trainer_init(m, &p, &tr) == ESFT_OK, "%s", esft_last_error());
    if (!tr) return;
    CHECKF(esft_trainer_run(tr, 2, conciseness, &calls, NULL, NULL) == ESFT_OK, "%s", esft_last_error());
    CHECK(calls == 2 * 4 * 2);
    CHECK(esft_trainer_save(tr, api_out, ESFT_SAVE_F32) == ESFT_OK);
    CHECKF(same_tensors(cli_final, api_out), "the API trained other weights than esft train");
    esft_trainer_free(tr);
    esft_model_close(m);
}

/* 4: failures. */
static esft_status fails(void *user, const esft_reward_input *in, double *out) {
    (void)user, (void)in, (void)out;
    return ESFT_ERR_IO;
}
static esft_status gives_nan(void *user, const esft_reward_input *in, double *out) {
    (void)user, (void)in;
    *out = NAN;
    return ESFT_OK;
}

static void test_errors(esft_backend *be, const char *dir, const char *model) {
    esft_backend_params bp = esft_backend_default_params();
    bp.backend = "nonsense";
    esft_backend *none = NULL;
    CHECK(esft_backend_init(&bp, &none) == ESFT_ERR_INVALID_ARG && none == NULL);
    CHECKF(strstr(esft_last_error(), "nonsense") != NULL, "%s", esft_last_error());

    char missing[512];
    snprintf(missing, sizeof missing, "%s/missing.gguf", dir);
    esft_model *m = NULL;
    CHECK(esft_model_open(be, missing, NULL, &m) == ESFT_ERR_IO && m == NULL);
    CHECKF(strstr(esft_last_error(), "missing.gguf") != NULL, "%s", esft_last_error());

    /* a model opened for inference cannot be trained */
    esft_model_params mp = esft_model_default_params();
    mp.trainable = false;
    esft_trainer_params p = tiny_params();
    esft_trainer *tr = NULL;
    CHECK(esft_model_open(be, model, &mp, &m) == ESFT_OK);
    CHECK(esft_trainer_init(m, &p, &tr) == ESFT_ERR_INVALID_ARG && tr == NULL);
    CHECKF(strstr(esft_last_error(), "trainable") != NULL, "%s", esft_last_error());
    /* but it generates, greedily the same twice */
    const char *prompt = "hello";
    char *a = NULL, *b = NULL;
    esft_generate_params gp = esft_generate_default_params();
    gp.max_new = 5;
    CHECK(esft_model_generate(m, &prompt, 1, &gp, &a) == ESFT_OK && esft_model_generate(m, &prompt, 1, &gp, &b) == ESFT_OK);
    CHECK(a && b && strcmp(a, b) == 0 && strlen(a) <= 5 * 4);
    esft_free(a), esft_free(b);
    esft_model_close(m);

    CHECK(esft_model_open(be, model, NULL, &m) == ESFT_OK);
    esft_trainer_params bad = p;
    bad.pop = 1;
    CHECK(esft_trainer_init(m, &bad, &tr) == ESFT_ERR_INVALID_ARG);
    CHECKF(strstr(esft_last_error(), "pop 1") != NULL, "%s", esft_last_error());
    bad = p, bad.params = "no.such.tensor*";
    CHECK(esft_trainer_init(m, &bad, &tr) == ESFT_ERR_INVALID_ARG);
    CHECKF(strstr(esft_last_error(), "no.such.tensor*") != NULL, "%s", esft_last_error());
    bad = p, bad.n_prompts = 0;
    CHECK(esft_trainer_init(m, &bad, &tr) == ESFT_ERR_INVALID_ARG);

    CHECK(esft_trainer_init(m, &p, &tr) == ESFT_OK);
    double r[4] = {0};
    CHECK(esft_trainer_eval_members(tr, 2, 5, low_bytes, NULL, r) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_trainer_eval_members(tr, 0, 1, NULL, NULL, r) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_trainer_eval_members(tr, 1, 2, fails, NULL, r) == ESFT_ERR_CALLBACK);
    CHECKF(strstr(esft_last_error(), "prompt 0, member 1") != NULL, "%s", esft_last_error());
    CHECK(esft_trainer_eval_members(tr, 0, 1, gives_nan, NULL, r) == ESFT_ERR_CALLBACK);
    CHECKF(strstr(esft_last_error(), "finite") != NULL, "%s", esft_last_error());
    r[3] = INFINITY;
    CHECK(esft_trainer_apply(tr, r) == ESFT_ERR_INVALID_ARG && esft_trainer_iteration(tr) == 0);
    CHECKF(strstr(esft_last_error(), "rewards[3]") != NULL, "%s", esft_last_error());
    CHECK(esft_trainer_save(tr, dir, ESFT_SAVE_BF16) != ESFT_OK); /* a directory */
    CHECK(esft_trainer_save(tr, missing, (esft_save_type)42) == ESFT_ERR_INVALID_ARG);
    esft_trainer_free(tr);
    esft_model_close(m);
    CHECK(strcmp(esft_status_name(ESFT_ERR_CALLBACK), "callback failed") == 0);
}

int main(void) {
    char dir[256], tiny[512], cmd[1024];
    if (!test_make_tmpdir(dir, sizeof dir, "esft-api")) return 1;
    snprintf(tiny, sizeof tiny, "%s/tiny.gguf", dir);
    snprintf(cmd, sizeof cmd, "\"%s\" synth --out '%s' >/dev/null 2>&1", getenv("ESFT_BIN"), tiny);
    CHECK(run_cmd(cmd));

    esft_backend_params bp = esft_backend_default_params();
    bp.backend = "cpu", bp.threads = 1;
    esft_backend *be = NULL;
    CHECKF(esft_backend_init(&bp, &be) == ESFT_OK, "%s", esft_last_error());
    if (be) {
        CHECK(strcmp(esft_backend_name(be), "cpu") == 0);
        test_steps_and_resume(be, dir, tiny);
        test_errors(be, dir, tiny);
        char real[1024];
        snprintf(real, sizeof real, "%s/SmolLM2-135M-Instruct.Q4_1.gguf", getenv("ESFT_MODEL_DIR"));
        FILE *f = fopen(real, "rb");
        if (f) {
            fclose(f);
            test_against_cli(be, dir, real);
        } else {
            printf("note: %s absent: the comparison with esft train is skipped\n", real);
        }
        esft_backend_free(be);
    }
    test_remove_tmpdir(dir);
    return TEST_EXIT();
}
