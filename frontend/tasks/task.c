/* The task registry: load a task by name, free it, and the JSON helpers the
 * task loaders share. */
#include "task.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_fs.h"
#include "task_internal.h"

const char *const esft_task_names[] = {"countdown", "conciseness", NULL};

esft_task *esft_task_alloc(const char *name, int n_items) {
    esft_task *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->items = calloc((size_t)(n_items > 0 ? n_items : 1), sizeof *t->items);
    if (!t->items) {
        free(t);
        return NULL;
    }
    t->name = name;
    t->n_items = n_items;
    return t;
}

int esft_text_line(const char *buf, size_t pos) {
    int line = 1;
    for (size_t i = 0; i < pos; i++) line += buf[i] == '\n';
    return line;
}

esft_status esft_task_read_text(const char *path, char **out, size_t *len, esft_err *err) {
    *out = NULL;
    size_t n = 0;
    errno = 0;
    char *buf = esft_read_file(path, ESFT_READ_MAX, &n);
    if (!buf)
        return esft_errf(err, errno == ENOMEM ? ESFT_ERR_OUT_OF_MEMORY : ESFT_ERR_IO,
                         "%s: cannot read: %s", path, esft_read_error(errno ? errno : EIO));
    size_t nul = strlen(buf);
    if (nul != n) {
        int line = esft_text_line(buf, nul);
        free(buf);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d: not a JSON text (contains a NUL byte)", path, line);
    }
    if (buf[strspn(buf, " \t\r\n")] == '\0') {
        free(buf);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: the file is empty (expected JSON records)", path);
    }
    *out = buf;
    *len = n;
    return ESFT_OK;
}

esft_status esft_task_read_json_array(const char *path, cJSON **out, esft_err *err) {
    *out = NULL;
    size_t n = 0;
    char *buf;
    esft_status st = esft_task_read_text(path, &buf, &n, err);
    if (st) return st;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithOpts(buf, &end, 1);
    if (!root) {
        /* Line and column of the parser's stopping point. */
        size_t pos = end && end >= buf && end <= buf + n ? (size_t)(end - buf) : 0;
        int line = 1, col = 1;
        for (size_t i = 0; i < pos; i++) {
            if (buf[i] == '\n') {
                line++;
                col = 1;
            } else {
                col++;
            }
        }
        free(buf);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s:%d:%d: not valid JSON", path, line, col);
    }
    free(buf);
    if (!cJSON_IsArray(root)) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: expected a JSON array of items at the top level", path);
    }
    if (cJSON_GetArraySize(root) == 0) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: the array holds no items", path);
    }
    *out = root;
    return ESFT_OK;
}

esft_status esft_task_get_string(const char *where, const cJSON *item, const char *key, bool required,
                                 bool allow_empty, const char **out, esft_err *err) {
    *out = NULL;
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(item, key);
    if (!v) {
        if (!required) return ESFT_OK;
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field '%s' is missing", where, key);
    }
    if (!cJSON_IsString(v) || !v->valuestring)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field '%s' must be a string", where, key);
    if (!allow_empty && v->valuestring[0] == '\0')
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field '%s' is empty", where, key);
    *out = v->valuestring;
    return ESFT_OK;
}

esft_status esft_task_load(const char *name, const char *path, const char *split, esft_task **out,
                           esft_err *err) {
    if (!out) return esft_errf(err, ESFT_ERR_INVALID_ARG, "esft_task_load: out is NULL");
    *out = NULL;
    if (!name) return esft_errf(err, ESFT_ERR_INVALID_ARG, "no task given (countdown, conciseness)");
    esft_status st;
    if (strcmp(name, "countdown") == 0) st = esft_countdown_load(path, out, err);
    else if (strcmp(name, "conciseness") == 0) st = esft_conciseness_load(path, split, out, err);
    else return esft_errf(err, ESFT_ERR_INVALID_ARG, "unknown task '%s' (countdown, conciseness)", name);
    if (st == ESFT_OK && path) snprintf((*out)->source, sizeof (*out)->source, "%s", path);
    else if (st == ESFT_OK) snprintf((*out)->source, sizeof (*out)->source, "built-in %s set", name);
    return st;
}

void esft_task_use_reward(esft_task *t, const esft_reward *reward) {
    t->reward = reward;
    t->n_parts = reward->n_parts;
    for (int k = 0; k < reward->n_parts; k++) t->part_names[k] = reward->part_names[k];
    t->score = esft_reward_task_score;
    t->free_data = esft_reward_task_free_data;
}

esft_status esft_task_open(const esft_task_spec *spec, const char *path, const char *split, esft_task **out,
                           esft_err *err) {
    if (!out || !spec) return esft_errf(err, ESFT_ERR_INVALID_ARG, "esft_task_open: out or spec is NULL");
    *out = NULL;
    bool has_task = spec->task && spec->task[0], has_reward = spec->reward && spec->reward[0];
    if (has_task && has_reward)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "--task %s and --reward %s: a built-in task has its own reward; --reward scores a --data "
                         "set of records",
                         spec->task, spec->reward);
    if (spec->reward_cmd) {
        if (has_task || has_reward)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-cmd scores a --data set in place of --%s %s",
                             has_task ? "task" : "reward", has_task ? spec->task : spec->reward);
        if (spec->reward_arg) return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-arg needs --reward NAME");
    } else if (!has_reward) {
        if (spec->eval_split > 0)
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "--eval-split holds out part of a --reward data set; a built-in task takes --eval-data");
        if (spec->reward_arg)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-arg needs --reward NAME");
        return esft_task_load(spec->task, path, split, out, err);
    }
    const esft_reward *reward = spec->reward_cmd ? &esft_reward_cmd_records : esft_reward_find(spec->reward);
    if (!reward) return esft_errf(err, ESFT_ERR_INVALID_ARG, "unknown reward '%s' (%s)", spec->reward, esft_reward_list);
    if (spec->reward_arg && !reward->arg)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-arg: the %s reward takes no argument", reward->name);
    if (!(spec->eval_split >= 0 && spec->eval_split < 1))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--eval-split %g: the held-out fraction must be in [0, 1)",
                         spec->eval_split);
    if (!path)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "--reward%s %s needs --data FILE (JSONL, or a JSON array, of records with a 'prompt')",
                         spec->reward_cmd ? "-cmd" : "", spec->reward_cmd ? spec->reward_cmd : reward->name);
    esft_status st = esft_dataset_task_load(path, reward, spec->reward_arg, split, spec->eval_split, out, err);
    if (st == ESFT_OK) snprintf((*out)->source, sizeof (*out)->source, "%s", path);
    if (st == ESFT_OK && spec->reward_cmd) st = esft_task_use_reward_cmd(*out, spec, err);
    if (st) esft_task_free(*out), *out = NULL;
    return st;
}

esft_status esft_task_open_eval(const esft_task_spec *spec, const char *data_path, const char *eval_path,
                                esft_task **out, esft_err *err) {
    if (eval_path && spec->eval_split > 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "--eval-data and --eval-split both name an eval set; give one of them");
    if (eval_path) {
        esft_task_spec whole = *spec;
        whole.eval_split = 0; /* an eval file is all eval */
        return esft_task_open(&whole, eval_path, "eval", out, err);
    }
    if (((spec->reward && spec->reward[0]) || spec->reward_cmd) && !(spec->eval_split > 0))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "no eval set for --%s %s: give --eval-data FILE or --eval-split P",
                         spec->reward_cmd ? "reward-cmd" : "reward", spec->reward_cmd ? spec->reward_cmd : spec->reward);
    return esft_task_open(spec, spec->eval_split > 0 ? data_path : NULL, "eval", out, err);
}

/* Frees the task: its private data first (free_data), then each item's
 * prompt and target, the items and the task. */
void esft_task_free(esft_task *t) {
    if (!t) return;
    if (t->free_data) t->free_data(t);
    if (t->items) {
        for (int i = 0; i < t->n_items; i++) {
            free(t->items[i].prompt);
            free(t->items[i].target);
            cJSON_Delete(t->items[i].record);
        }
        free(t->items);
    }
    free(t);
}

esft_status esft_task_score(esft_task *t, int n, const int *items, const char *const *responses, const size_t *lens,
                            esft_score *out, esft_err *err) {
    if (t->score_batch) return t->score_batch(t, n, items, responses, lens, out, err);
    for (int i = 0; i < n; i++) t->score(t, items[i], responses[i], lens[i], &out[i]);
    return ESFT_OK;
}
