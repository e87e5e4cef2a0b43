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
} esft_score;

typedef struct esft_task_item {
    char *prompt;   /* exactly what the model is given (no chat template added) */
    char *target;   /* reference answer as text, for reports */
    void *data;     /* task-private (numbers of a countdown problem ...) */
} esft_task_item;

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
};

/* Names of the built-in tasks, NULL-terminated. */
extern const char *const esft_task_names[];

/* Loads task `name` with data from `path` (NULL: the task's built-in set,
 * where it has one; `split` selects "train" or "eval" for built-in sets).
 * Errors name the file, the item index and the field at fault. */
esft_status esft_task_load(const char *name, const char *path, const char *split, esft_task **out,
                           esft_err *err);
void esft_task_free(esft_task *t);

#endif
