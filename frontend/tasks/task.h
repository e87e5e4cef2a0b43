/* A task: prompts, the reward of a response, and "correct?" for accuracy.
 * Rewards are computed on the generated response only, never on the prompt. */
#ifndef ESFT_TASK_H
#define ESFT_TASK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "status.h"

#define ESFT_TASK_MAX_PARTS 4

typedef struct esft_score {
    double reward;                        /* what ES maximises */
    double parts[ESFT_TASK_MAX_PARTS];    /* named components (task->part_names) */
    bool correct;                         /* for eval accuracy */
    bool timed_out;                       /* a reward command did not answer in time (reward_cmd.h) */
} esft_score;

typedef struct esft_task_item {
    char *prompt;   /* exactly what the model is given (no chat template added) */
    char *target;   /* reference answer as text, for reports */
    void *data;     /* the reward's view of the item (numbers of a countdown problem ...) */
    void *record;   /* a data-set task's record (cJSON object, owned), kept whole for
                       rewards and a later chat template; NULL for built-in formats */
    int line;       /* a data-set record's line in its file, for errors (0: none) */
} esft_task_item;

typedef struct esft_reward esft_reward; /* reward.h */

typedef struct esft_task esft_task;
struct esft_task {
    const char *name;
    char source[512];   /* the data file, or "built-in NAME set": errors name items in it */
    int n_items;
    esft_task_item *items;
    int n_parts;
    const char *part_names[ESFT_TASK_MAX_PARTS]; /* e.g. "format", "answer" */
    int default_max_new;                          /* max_new_tokens the paper used */
    bool chat;                                    /* prompts want the chat template */
    /* Scores response (len bytes, not NUL-terminated necessarily) to item i. */
    void (*score)(const esft_task *t, int item, const char *response, size_t len, esft_score *out);
    void (*free_data)(esft_task *t);
    const esft_reward *reward;   /* what scores the items (score calls it) */
    /* Scores responses[i] (lens[i] bytes) to items[i], i < n, at once, and
     * may fail (an external reward command); NULL: score scores each item.
     * It may learn part names (n_parts grows). Callers use esft_task_score. */
    esft_status (*score_batch)(esft_task *t, int n, const int *items, const char *const *responses,
                               const size_t *lens, esft_score *out, esft_err *err);
    void *scorer;                /* score_batch's state (free_data frees it) */
};

/* A task as a run names it: a built-in task (its own data format and
 * reward), or a data set of records scored by a built-in reward. */
typedef struct esft_task_spec {
    const char *task;       /* countdown | conciseness; NULL or "" with reward */
    const char *reward;     /* reward.h name, for a data set (--data) of records */
    const char *reward_arg; /* --reward-arg (regex pattern, numeric tolerance); NULL: none */
    double eval_split;      /* fraction of the data held out as the eval set (0: none) */
    const char *reward_cmd; /* an external reward command (reward_cmd.h) scoring a data set; NULL: none */
    double reward_timeout;  /* seconds per response (<= 0: the default) */
    double reward_timeout_score; /* the reward of a response that timed out */
} esft_task_spec;

/* Names of the built-in tasks, NULL-terminated. */
extern const char *const esft_task_names[];

/* Loads task `name` with data from `path` (NULL: the task's built-in set,
 * where it has one; `split` selects "train" or "eval" for built-in sets).
 * Errors name the file, the item index and the field at fault. */
esft_status esft_task_load(const char *name, const char *path, const char *split, esft_task **out,
                           esft_err *err);
/* The train ("train") or eval ("eval") set of a task spec from path. For a
 * data set, the split selects the training or held-out records when
 * spec->eval_split > 0 and is ignored otherwise (every record). */
esft_status esft_task_open(const esft_task_spec *spec, const char *path, const char *split, esft_task **out,
                           esft_err *err);
/* The eval set of a run: eval_path when given, else the part of data_path
 * held out by spec->eval_split, else the task's built-in eval set. */
esft_status esft_task_open_eval(const esft_task_spec *spec, const char *data_path, const char *eval_path,
                                esft_task **out, esft_err *err);
void esft_task_free(esft_task *t);

/* Lets dst score with src's reward process when both have one (a run's
 * train and eval sets: one process per rank). */
void esft_task_share_scorer(esft_task *dst, const esft_task *src);

/* Scores responses[i] (lens[i] bytes) to items[i], i < n, into out[i]: with
 * the task's score_batch when it has one, else item by item. */
esft_status esft_task_score(esft_task *t, int n, const int *items, const char *const *responses, const size_t *lens,
                            esft_score *out, esft_err *err);

#endif
