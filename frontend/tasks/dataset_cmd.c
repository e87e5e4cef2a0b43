/* A data set scored by an external reward command (--reward-cmd): the task
 * glue around reward_cmd.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reward_cmd.h"
#include "task_internal.h"

static esft_status prepare_record(const cJSON *record, const char *where, const char *arg, void **data, char **target,
                                  esft_err *err) {
    (void)arg, (void)data;
    const cJSON *answer = cJSON_GetObjectItemCaseSensitive(record, "answer");
    if (cJSON_IsString(answer) && !(*target = strdup(answer->valuestring)))
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return ESFT_OK;
}

const esft_reward esft_reward_cmd_records = {
    .name = "reward-cmd",
    .reads = "prompt (the command gets the whole record)",
    .prepare = prepare_record,
};

/* "my.jsonl:4": the item's file and line, for the command's errors. */
#define LABEL_MAX 600

static esft_status score_batch(esft_task *t, int n, const int *items, const char *const *responses, const size_t *lens,
                               esft_score *out, esft_err *err) {
    esft_reward_request *reqs = calloc((size_t)n + 1, sizeof *reqs);
    char *labels = malloc(((size_t)n + 1) * LABEL_MAX);
    if (!reqs || !labels) {
        free(reqs), free(labels);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int i = 0; i < n; i++) {
        const esft_task_item *it = &t->items[items[i]];
        char *label = labels + (size_t)i * LABEL_MAX;
        snprintf(label, LABEL_MAX, "%s:%d", t->source, it->line);
        reqs[i] = (esft_reward_request){label, it->prompt, it->record, responses[i], lens[i]};
    }
    esft_status st = esft_reward_cmd_score(t->scorer, reqs, n, out, err);
    t->n_parts = esft_reward_cmd_parts(t->scorer, t->part_names, ESFT_TASK_MAX_PARTS);
    free(reqs), free(labels);
    return st;
}

static void free_data(esft_task *t) {
    esft_reward_task_free_data(t);
    esft_reward_cmd_free(t->scorer);
    t->scorer = NULL;
}

void esft_task_share_scorer(esft_task *dst, const esft_task *src) {
    if (!dst || !src || dst->score_batch != score_batch || src->score_batch != score_batch) return;
    esft_reward_cmd_free(dst->scorer);
    dst->scorer = esft_reward_cmd_ref(src->scorer);
}

esft_status esft_task_use_reward_cmd(esft_task *t, const esft_task_spec *spec, esft_err *err) {
    if (!(t->scorer = esft_reward_cmd_new(spec->reward_cmd, spec->reward_timeout, spec->reward_timeout_score)))
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    /* the command line is checked now, before any work; the process starts at the first batch */
    char **argv = NULL;
    bool shell;
    esft_status st = esft_command_split(spec->reward_cmd, &argv, &shell, err);
    free(argv);
    t->score = NULL;
    t->score_batch = score_batch;
    t->free_data = free_data;
    t->n_parts = 0;
    return st;
}
