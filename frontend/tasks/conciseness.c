/* The conciseness task (Qiu et al. 2025, §4.2): the paper's two training
 * prompts, a small built-in evaluation set, and an optional JSON data set of
 * {prompt, target}. Answer in as many characters as the target: reward =
 * -|len(response) - len(target)| with len counting Unicode code points as
 * Python's len(str) does (utf8.h); the response is not stripped (the
 * reference scores the decoded text as is). */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "task_internal.h"
#include "utf8.h"

typedef struct qa {
    const char *prompt, *target;
} qa;

/* Exactly the reference's data set (es_fine-tuning_conciseness.py). */
static const qa train_set[] = {
    {"Solve: 3 + 5 =", "8"},
    {"If all birds can fly and penguins are birds, can penguins fly?", "No"},
};

/* Held-out prompts in the same spirit: short arithmetic, facts, yes/no logic. */
static const qa eval_set[] = {
    {"Solve: 7 + 6 =", "13"},
    {"Solve: 9 - 4 =", "5"},
    {"Solve: 6 * 7 =", "42"},
    {"Solve: 20 / 4 =", "5"},
    {"What is the capital of France?", "Paris"},
    {"What is the capital of Japan?", "Tokyo"},
    {"What is the capital of Italy?", "Rome"},
    {"If all cats are mammals and Tom is a cat, is Tom a mammal?", "Yes"},
    {"If no fish can walk and a salmon is a fish, can a salmon walk?", "No"},
    {"Is 17 an even number?", "No"},
};

/* Surrounding whitespace and one trailing period removed; then compared
 * without regard to ASCII case. */
static bool answer_matches(const char *r, size_t n, const char *target) {
    while (n > 0 && isspace((unsigned char)r[0])) r++, n--;
    while (n > 0 && isspace((unsigned char)r[n - 1])) n--;
    if (n > 0 && r[n - 1] == '.') n--;
    while (n > 0 && isspace((unsigned char)r[n - 1])) n--;
    return n == strlen(target) && strncasecmp(r, target, n) == 0 && memchr(r, '\0', n) == NULL;
}

static void conciseness_score(const void *data, const char *target, const char *response, size_t len,
                              esft_score *out) {
    (void)data;
    double lr = (double)esft_utf8_length(response, len);
    double lt = (double)esft_utf8_length(target, strlen(target));
    double gap = fabs(lr - lt);
    out->reward = gap > 0.0 ? -gap : 0.0; /* Python's -abs(0) is 0, not -0 */
    out->parts[0] = lr;
    out->correct = answer_matches(response, len, target);
}

/* On a data set: the record's answer is the target. */
static esft_status conciseness_prepare(const cJSON *record, const char *where, const char *arg, void **data,
                                       char **target, esft_err *err) {
    (void)arg, (void)data;
    const char *answer;
    esft_status st = esft_task_get_string(where, record, "answer", true, false, &answer, err);
    if (st) return st;
    if (!(*target = strdup(answer))) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return ESFT_OK;
}

const esft_reward esft_reward_conciseness = {
    .name = "conciseness", .reads = "answer", .n_parts = 1, .part_names = {"length"},
    .prepare = conciseness_prepare, .score = conciseness_score, .free_data = NULL,
};

static esft_task *new_task(int n) {
    esft_task *t = esft_task_alloc("conciseness", n);
    if (!t) return NULL;
    esft_task_use_reward(t, &esft_reward_conciseness);
    t->default_max_new = 100;
    t->chat = false; /* the reference tokenizes the bare prompt, no chat template */
    return t;
}

esft_status esft_conciseness_load(const char *path, const char *split, esft_task **out, esft_err *err) {
    *out = NULL;
    esft_task *t;
    if (!path) {
        const qa *set;
        int n;
        if (!split || strcmp(split, "train") == 0) {
            set = train_set;
            n = (int)(sizeof train_set / sizeof train_set[0]);
        } else if (strcmp(split, "eval") == 0) {
            set = eval_set;
            n = (int)(sizeof eval_set / sizeof eval_set[0]);
        } else {
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "task 'conciseness': unknown split '%s' (train, eval)",
                             split);
        }
        if (!(t = new_task(n))) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "task 'conciseness': out of memory");
        for (int i = 0; i < n; i++) {
            t->items[i].prompt = strdup(set[i].prompt);
            t->items[i].target = strdup(set[i].target);
            if (!t->items[i].prompt || !t->items[i].target) {
                esft_task_free(t);
                return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "task 'conciseness': out of memory");
            }
        }
        *out = t;
        return ESFT_OK;
    }
    cJSON *root;
    esft_status st = esft_task_read_json_array(path, &root, err);
    if (st) return st;
    if (!(t = new_task(cJSON_GetArraySize(root)))) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        const char *prompt, *target;
        char where[600];
        snprintf(where, sizeof where, "%s: item %d", path, i);
        if (!cJSON_IsObject(it)) {
            st = esft_errf(err, ESFT_ERR_FORMAT, "%s: expected a JSON object", where);
            break;
        }
        if ((st = esft_task_get_string(where, it, "prompt", true, false, &prompt, err))) break;
        if ((st = esft_task_get_string(where, it, "target", true, false, &target, err))) break;
        t->items[i].prompt = strdup(prompt);
        t->items[i].target = strdup(target);
        if (!t->items[i].prompt || !t->items[i].target) {
            st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: item %d: out of memory", path, i);
            break;
        }
        i++;
    }
    cJSON_Delete(root);
    if (st) {
        esft_task_free(t);
        return st;
    }
    *out = t;
    return ESFT_OK;
}
