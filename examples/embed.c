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

static int fail(const char *what) {
    fprintf(stderr, "embed: %s: %s\n", what, esft_last_error());
    return 1;
}

int main(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: %s MODEL.gguf OUT.gguf [BACKEND]\n", argv[0]);
        return 2;
    }
    printf("esft %s\n", esft_version());
    esft_backend_params bp = esft_backend_default_params();
    if (argc > 3) bp.backend = argv[3];
    esft_backend *be = NULL;
    if (esft_backend_init(&bp, &be)) return fail("backend");
    printf("backend %s: %s\n", esft_backend_name(be), esft_backend_device_name(be));

    esft_model *m = NULL;
    if (esft_model_open(be, argv[1], NULL, &m)) return fail(argv[1]);

    esft_trainer_params tp = esft_trainer_default_params();
    tp.pop = 4;
    tp.sigma = 0.01f;
    tp.alpha = 0.005f;
    tp.max_new = 12;
    tp.prompts = prompts;
    tp.n_prompts = 3;
    esft_trainer *tr = NULL;
    if (esft_trainer_init(m, &tp, &tr)) return fail("trainer");

    /* iteration 1, step by step: members [2, 4) then [0, 2) */
    int calls = 0;
    double rewards[4];
    if (esft_trainer_eval_members(tr, 2, 4, reward, &calls, rewards + 2) ||
        esft_trainer_eval_members(tr, 0, 2, reward, &calls, rewards) || esft_trainer_apply(tr, rewards))
        return fail("iteration 1");
    printf("iteration 1: member rewards %.3f %.3f %.3f %.3f\n", rewards[0], rewards[1], rewards[2], rewards[3]);

    /* iteration 2 by the whole-loop call */
    if (esft_trainer_run(tr, 2, reward, &calls, progress, NULL)) return fail("iteration 2");
    printf("%d responses scored in %d iterations\n", calls, esft_trainer_iteration(tr));

    const char *probe = prompts[0];
    char *answer = NULL;
    esft_generate_params gp = esft_generate_default_params();
    gp.max_new = 12;
    if (esft_model_generate(m, &probe, 1, &gp, &answer)) return fail("generate");
    printf("after training: %s \"%s\"\n", probe, answer);
    esft_free(answer);

    if (esft_trainer_save(tr, argv[2], ESFT_SAVE_CHECKPOINT)) return fail(argv[2]);
    printf("saved %s\n", argv[2]);
    esft_trainer_free(tr);
    esft_model_close(m);
    esft_backend_free(be);
    return 0;
}
