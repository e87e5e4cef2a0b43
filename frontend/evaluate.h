/* Generating for task items and scoring the responses: one ES member's
 * fitness, an eval pass, and the KL of a model to a base on its responses. */
#ifndef ESFT_EVALUATE_H
#define ESFT_EVALUATE_H

#include <stdbool.h>

#include "checkpoint.h"
#include "generate.h"
#include "model.h"
#include "task.h"

/* Prompt token ids of every task item (the user turn of a conversation
 * formatted by tmpl, after a system turn when system != NULL; tmpl NULL:
 * the bare prompt) for a generation of max_new tokens: an empty item, or
 * one whose prompt and max_new exceed the model's context, fails naming the
 * data and the item. */
typedef struct esft_prompts {
    int n;
    int32_t **ids;
    int *len;
} esft_prompts;

esft_status esft_prompts_tokenize(const esft_model *m, const esft_task *t, const esft_chat_template *tmpl,
                                  const char *system, int max_new, esft_prompts *out, esft_err *err);

/* The template a run's prompts use: *out NULL when the run is not a chat
 * run (c->chat false); else the model's own, or the family named by
 * c->chat_template, whose name is then written into c->chat_template so
 * that the run records it. tmpl is the storage *out points to. */
esft_status esft_run_chat_template(const esft_model *m, esft_run_config *c, esft_chat_template *tmpl,
                                   const esft_chat_template **out, esft_err *err);
void esft_prompts_free(esft_prompts *p);

typedef struct esft_eval_result {
    int n;                                  /* items scored */
    double mean_reward, accuracy;
    double accuracy_lo, accuracy_hi;        /* its 95% Wilson interval */
    double mean_parts[ESFT_TASK_MAX_PARTS];
    int timeouts;                           /* responses a reward command did not score in time */
    long new_tokens;
    double seconds;                         /* generation time */
    esft_score *scores;                     /* [n] when keep, else NULL */
    esft_gen_result *responses;             /* [n] when keep, else NULL */
} esft_eval_result;

typedef struct esft_eval_params {
    int max_new;
    int max_slots;            /* 0: all at once */
    bool keep;                /* keep per-item responses and scores */
    esft_sampling sampling;   /* zeroed: greedy */
    void (*on_progress)(void *user, const esft_gen_progress *p);
    void *user;
} esft_eval_params;

/* Generation (greedy unless p->sampling says otherwise) for items[0..n)
 * of the task, then scoring them all at once (esft_task_score; a failing
 * reward command fails it). */
esft_status esft_evaluate(esft_model *m, esft_task *t, const esft_prompts *prompts,
                          const int *items, int n, const esft_eval_params *p,
                          esft_eval_result *out, esft_err *err);
void esft_eval_result_free(esft_eval_result *r, int n);

/* Sets out's mean reward, accuracy (with its interval), mean parts and
 * timeouts from scores[0..n), in
 * item order. esft_evaluate uses it, and so does a split eval after
 * gathering every rank's scores: the same sums in the same order give the
 * same bits. */
void esft_eval_summarise(const esft_score *scores, int n, int n_parts, esft_eval_result *out);

/* Mean over generated tokens of KL(model || base) of the next-token
 * distributions along each prompt + response (teacher forcing). Both models
 * must share the tokenizer. */
esft_status esft_mean_kl(esft_model *m, esft_model *base, const esft_prompts *prompts,
                         const int *items, const esft_gen_result *responses, int n, double *kl,
                         long *n_tokens, esft_err *err);

#endif
