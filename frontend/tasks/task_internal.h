/* Helpers shared by the task implementations (not part of the public API). */
#ifndef ESFT_TASK_INTERNAL_H
#define ESFT_TASK_INTERNAL_H

#include <cjson/cJSON.h>

#include "reward.h"
#include "task.h"

/* A zeroed task with n_items zeroed items; NULL when out of memory. */
esft_task *esft_task_alloc(const char *name, int n_items);

/* Reads `path` as text: refuses a file that cannot be read, holds a NUL
 * byte (naming its line) or is empty. The caller frees *out. */
esft_status esft_task_read_text(const char *path, char **out, size_t *len, esft_err *err);
/* The 1-based line of buf[pos]. */
int esft_text_line(const char *buf, size_t pos);

/* Reads and parses `path`, which must hold a non-empty JSON array. On success
 * *out is the array (the caller cJSON_Deletes it). Errors name the file. */
esft_status esft_task_read_json_array(const char *path, cJSON **out, esft_err *err);

/* The string field `key` of an item; errors start with `where` (the file
 * and the item: "data.json: item 3", "my.jsonl:4") and name the field.
 * Empty strings are refused when allow_empty is false. */
esft_status esft_task_get_string(const char *where, const cJSON *item, const char *key, bool required,
                                 bool allow_empty, const char **out, esft_err *err);

/* The rewards of the built-in tasks, usable on data sets too. */
extern const esft_reward esft_reward_countdown, esft_reward_conciseness;
/* The rewards of generic data sets (reward.c, reward_numeric.c, reward_grid.c). */
extern const esft_reward esft_reward_exact, esft_reward_regex, esft_reward_numeric, esft_reward_sudoku,
    esft_reward_arc;

/* The records of a data set scored by a reward command: reads the prompt
 * (and 'answer', when a string, as the target of reports) and nothing else. */
extern const esft_reward esft_reward_cmd_records;
/* Makes a data-set task score with spec->reward_cmd (dataset_cmd.c). */
esft_status esft_task_use_reward_cmd(esft_task *t, const esft_task_spec *spec, esft_err *err);

/* The last occurrence of needle in s[0..n), or NULL. */
const char *esft_find_last(const char *s, size_t n, const char *needle);

/* Sets the task's parts, score and free_data from reward. */
void esft_task_use_reward(esft_task *t, const esft_reward *reward);

/* A data set (dataset.h) scored by reward, as a task. */
esft_status esft_dataset_task_load(const char *path, const esft_reward *reward, const char *arg, const char *split,
                                   double eval_split, esft_task **out, esft_err *err);

/* Loaders behind esft_task_load. */
esft_status esft_countdown_load(const char *path, esft_task **out, esft_err *err);
esft_status esft_conciseness_load(const char *path, const char *split, esft_task **out, esft_err *err);

#endif
