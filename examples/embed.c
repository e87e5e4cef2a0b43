/* Embedding esft: fine-tune a model with ES for two iterations, scoring
 * responses with a reward of the host program's own, then save it.
 *
 *   cc embed.c $(pkg-config --cflags --libs esft) -o embed
 *   ./embed MODEL.gguf OUT.gguf [BACKEND]
 *
 * The reward here prefers short answers that contain the expected word.
 * The first iteration runs step by step (the members in two blocks, as a
 * host that spreads them over its own workers would), the second through
 * esft_trainer_run; both are the same ES update. */
#include <esft.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const prompts[] = {
    "Question: What colour is the sky on a clear day? Answer:",
    "Question: How many legs does a cat have? Answer:",
    "Question: What is the opposite of cold? Answer:",
};
static const char *const expected[] = {"blue", "four", "hot"};

/* +1 when the expected word appears, minus a little per character. */
static esft_status reward(void *user, const esft_reward_input *in, double *out) {
    int *calls = user;
    (*calls)++;
    *out = (strstr(in->response, expected[in->item]) ? 1.0 : 0.0) - 0.01 * (double)in->response_len;
    return ESFT_OK;
}

static void progress(void *user, const esft_iteration_stats *s) {
    (void)user;
    printf("iteration %d: reward mean %.3f (min %.3f, max %.3f), %.1f s\n", s->iteration + 1, s->reward_mean,
           s->reward_min, s->reward_max, s->seconds);
}

/* What main holds; freed on every path out. */
typedef struct session {
    esft_backend *be;
    esft_model *m;
    esft_trainer *tr;
} session;

static int finish(session *s, const char *failed) {
    if (failed) fprintf(stderr, "embed: %s: %s\n", failed, esft_last_error());
    esft_trainer_free(s->tr);
    esft_model_close(s->m);
    esft_backend_free(s->be);
    return failed ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf OUT.gguf [BACKEND]\n", argv[0]);
        return 2;
    }
    printf("esft %s\n", esft_version());
    session s = {0};
    esft_backend_params bp = esft_backend_default_params();
    if (argc > 3) bp.backend = argv[3];
    if (esft_backend_init(&bp, &s.be)) return finish(&s, "backend");
    printf("backend %s: %s\n", esft_backend_name(s.be), esft_backend_device_name(s.be));
    if (esft_model_open(s.be, argv[1], NULL, &s.m)) return finish(&s, "model");

    esft_trainer_params tp = esft_trainer_default_params();
    tp.pop = 4;
    tp.sigma = 0.01f;
    tp.alpha = 0.005f;
    tp.max_new = 12;
    tp.prompts = prompts;
    tp.n_prompts = 3;
    if (esft_trainer_init(s.m, &tp, &s.tr)) return finish(&s, "trainer");

    /* iteration 1, step by step: members [2, 4) then [0, 2) */
    int calls = 0;
    double rewards[4];
    if (esft_trainer_eval_members(s.tr, 2, 4, reward, &calls, rewards + 2) ||
        esft_trainer_eval_members(s.tr, 0, 2, reward, &calls, rewards) || esft_trainer_apply(s.tr, rewards))
        return finish(&s, "iteration 1");
    printf("iteration 1: member rewards %.3f %.3f %.3f %.3f\n", rewards[0], rewards[1], rewards[2], rewards[3]);

    /* iteration 2 by the whole-loop call */
    if (esft_trainer_run(s.tr, 2, reward, &calls, progress, NULL)) return finish(&s, "iteration 2");
    printf("%d responses scored in %d iterations\n", calls, esft_trainer_iteration(s.tr));

    const char *probe = prompts[0];
    char *answer = NULL;
    esft_generate_params gp = esft_generate_default_params();
    gp.max_new = 12;
    if (esft_model_generate(s.m, &probe, 1, &gp, &answer)) return finish(&s, "generate");
    printf("after training: %s \"%s\"\n", probe, answer);
    esft_free(answer);

    if (esft_trainer_save(s.tr, argv[2], ESFT_SAVE_CHECKPOINT)) return finish(&s, "save");
    printf("saved %s\n", argv[2]);
    return finish(&s, NULL);
}
