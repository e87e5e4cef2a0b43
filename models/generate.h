/* Batched generation: many prompts of different lengths share every forward
 * pass (continuous batching over a fixed number of KV slots). Prefill and
 * decode tokens are packed into the same pass; finished sequences leave at
 * once and queued prompts take their slots. */
#ifndef ESFT_GENERATE_H
#define ESFT_GENERATE_H

#include <stdbool.h>
#include <stdint.h>

#include "chat_template.h"
#include "model.h"

typedef struct esft_sampling {
    float temperature; /* <= 0: greedy (argmax on the device) */
    int top_k;         /* 0: off */
    float top_p;       /* >= 1: off */
    uint64_t seed;     /* each sequence draws from its own stream seeded by this */
} esft_sampling;

typedef enum esft_finish {
    ESFT_FINISH_LENGTH = 0, /* max_new tokens reached */
    ESFT_FINISH_EOG,        /* end-of-generation token */
    ESFT_FINISH_STOP,       /* a user stop string appeared */
} esft_finish;

const char *esft_finish_name(esft_finish f);

typedef struct esft_gen_progress {
    int done, total;          /* sequences finished / requested */
    long prompt_tokens;       /* prompt tokens processed so far */
    long new_tokens;          /* tokens generated so far */
    double seconds;           /* since generate started */
} esft_gen_progress;

/* tokens per forward pass unless esft_gen_params.max_batch_tokens says */
#define ESFT_GEN_BATCH_TOKENS 512

typedef struct esft_gen_params {
    int max_new;                 /* tokens to generate per prompt */
    esft_sampling sampling;
    const char *const *stop;     /* stop strings (the text is cut before them) */
    int n_stop;
    int max_slots;               /* concurrent sequences; 0: all prompts at once */
    int max_batch_tokens;        /* tokens per forward pass; 0: ESFT_GEN_BATCH_TOKENS */
    bool ignore_eog;             /* keep going past end-of-generation tokens */
    /* Low-rank members (lowrank.h; NULL: none): request i decodes as member
     * request_member[i] of lowrank, all members in the same passes. */
    const struct esft_lowrank *lowrank;
    const int32_t *request_member;
    /* Called after every forward pass when non-NULL. */
    void (*on_progress)(void *user, const esft_gen_progress *p);
    void *user;
} esft_gen_params;

typedef struct esft_gen_request {
    const int32_t *prompt;
    int n_prompt;
} esft_gen_request;

typedef struct esft_gen_result {
    int32_t *tokens;     /* generated ids (no end-of-generation token) */
    int n_tokens;
    char *text;          /* decoded bytes, NUL-terminated, cut at a stop string */
    size_t text_len;
    esft_finish finish;
} esft_gen_result;

typedef struct esft_gen_stats {
    long prompt_tokens, new_tokens, passes;
    double seconds;
} esft_gen_stats;

/* Generates for every request; results[i] belongs to requests[i] and is the
 * same whether requests are run together or one by one. */
esft_status esft_generate(esft_model *m, const esft_gen_request *requests, int n_requests,
                          const esft_gen_params *params, esft_gen_result *results,
                          esft_gen_stats *stats, esft_err *err);
void esft_gen_result_free(esft_gen_result *r);

/* Samples one token from logits[0..n_vocab) (host memory, modified). */
int32_t esft_sample(float *logits, int n_vocab, const esft_sampling *s, uint64_t *rng_state,
                    void *scratch);

/* Token ids of one prompt for a generation of max_new tokens; *ids is
 * malloc'd. With tmpl NULL the prompt is tokenized as it is (BOS as the
 * model asks); otherwise it is the user turn of a conversation formatted by
 * tmpl (esft_chat_tokenize), after a system turn when system != NULL.
 * Refused with ESFT_ERR_INVALID_ARG and the reason (callers add which
 * prompt) when it is empty or prompt + max_new exceeds the model's context;
 * a text too many bytes long to fit is refused before tokenizing it, so a
 * huge text fails at once. */
esft_status esft_prompt_ids(const esft_model *m, const esft_chat_template *tmpl, const char *system,
                            const char *prompt, int max_new, int32_t **ids, size_t *n_ids, esft_err *err);

/* The same for a whole conversation msgs[0..n) formatted by tmpl (NULL:
 * family none), with the assistant turn's opening appended. */
esft_status esft_messages_ids(const esft_model *m, const esft_chat_template *tmpl,
                              const esft_chat_message *msgs, int n, int max_new, int32_t **ids,
                              size_t *n_ids, esft_err *err);

double esft_now_seconds(void);

#endif
