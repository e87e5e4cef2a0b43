/* esft score: rewards of given responses under a task, one JSON line each. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic_file.h"
#include "cli.h"
#include "commands.h"
#include "esft_fs.h"
#include "task.h"

int cmd_score(int argc, char **argv) {
    const char *task_name = NULL, *data = NULL, *split = NULL, *responses = NULL, *out_path = NULL;
    const char *reward = NULL, *reward_arg = NULL;
    float eval_split = 0, reward_timeout = 0, reward_timeout_score = 0;
    const char *reward_cmd = NULL;
    const cli_opt opts[] = {
        {"task", CLI_STR, &task_name, "T", "task: countdown | conciseness", 0, 0},
        {"data", CLI_STR, &data, "FILE", "task data set (JSON array); default: the task's built-in set; with --reward: JSONL or a JSON array of records", 0, 0},
        CLI_REWARD_OPTS(reward, reward_arg, eval_split),
        CLI_REWARD_CMD_OPTS(reward_cmd, reward_timeout, reward_timeout_score),
        {"split", CLI_STR, &split, "S", "built-in set to use: train | eval (default train)", 0, 0},
        {"responses", CLI_STR, &responses, "FILE",
         "JSONL of {\"index\": item (default: line order), \"response\": text}", 0, 0},
        {"out", CLI_STR, &out_path, "FILE", "write the scores here instead of stdout", 0, 0},
    };
    const cli_command cmd = {"score", "--task T [--data FILE] | --data FILE --reward R  --responses FILE.jsonl [--out FILE.jsonl]",
                             "Scores responses with a task's reward; prints one JSON line per response\n"
                             "({index, reward, <parts>, correct}) and a summary on stderr.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if ((!task_name && !reward && !reward_cmd) || !responses) {
        fprintf(stderr, "esft score: --task (or --reward, --reward-cmd) and --responses are required (see 'esft score --help')\n");
        return ESFT_EXIT_USAGE;
    }
    bool known = !task_name;
    for (int i = 0; task_name && esft_task_names[i]; i++) known |= strcmp(esft_task_names[i], task_name) == 0;
    if (!known) {
        fprintf(stderr, "esft score: unknown task '%s' (", task_name);
        for (int i = 0; esft_task_names[i]; i++) fprintf(stderr, "%s%s", i ? ", " : "", esft_task_names[i]);
        fprintf(stderr, ")\n");
        return ESFT_EXIT_USAGE;
    }

    esft_err err = {{0}};
    esft_task *task = NULL;
    esft_task_spec spec = {.task = task_name, .reward = reward, .reward_arg = reward_arg, .eval_split = eval_split,
                           .reward_cmd = reward_cmd, .reward_timeout = reward_timeout,
                           .reward_timeout_score = reward_timeout_score};
    esft_status st = esft_task_open(&spec, data, split, &task, &err);
    if (st) {
        fprintf(stderr, "esft score: %s\n", err.msg);
        /* A missing --data or an unknown --split is a usage error. */
        return st == ESFT_ERR_INVALID_ARG ? ESFT_EXIT_USAGE : ESFT_EXIT_RUNTIME;
    }
    size_t len;
    char *buf = esft_read_file(responses, ESFT_READ_MAX, &len);
    if (!buf) {
        fprintf(stderr, "esft score: %s: %s\n", responses, esft_read_error(errno));
        esft_task_free(task);
        return ESFT_EXIT_RUNTIME;
    }
    esft_atomic_file af = {0};
    if (out_path && esft_atomic_open(&af, out_path, &err)) {
        fprintf(stderr, "esft score: --out %s\n", err.msg);
        free(buf);
        esft_task_free(task);
        return ESFT_EXIT_RUNTIME;
    }
    FILE *out = out_path ? af.fp : stdout;

    rc = ESFT_EXIT_OK;
    int line_no = 0, n_scored = 0, n_correct = 0;
    double sum = 0.0;
    char *line = buf, *buf_end = buf + len;
    while (line < buf_end && rc == ESFT_EXIT_OK) {
        char *nl = memchr(line, '\n', (size_t)(buf_end - line));
        char *next = nl ? nl + 1 : buf_end;
        if (nl) *nl = '\0';
        line_no++;
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (*p == '\0') {
            line = next;
            continue;
        }
        cJSON *obj = cJSON_ParseWithOpts(p, NULL, 1);
        const cJSON *resp = obj ? cJSON_GetObjectItemCaseSensitive(obj, "response") : NULL;
        const cJSON *idx = obj ? cJSON_GetObjectItemCaseSensitive(obj, "index") : NULL;
        int index = n_scored;
        if (!obj || !cJSON_IsObject(obj)) {
            fprintf(stderr, "esft score: %s:%d: not a JSON object\n", responses, line_no);
            rc = ESFT_EXIT_RUNTIME;
        } else if (!cJSON_IsString(resp)) {
            fprintf(stderr, "esft score: %s:%d: field 'response' %s\n", responses, line_no,
                    resp ? "must be a string" : "is missing");
            rc = ESFT_EXIT_RUNTIME;
        } else if (idx && (!cJSON_IsNumber(idx) || idx->valuedouble != floor(idx->valuedouble) ||
                           idx->valuedouble < 0 || idx->valuedouble >= task->n_items)) {
            fprintf(stderr, "esft score: %s:%d: field 'index' must be an integer in 0..%d (the data set has %d items)\n",
                    responses, line_no, task->n_items - 1, task->n_items);
            rc = ESFT_EXIT_RUNTIME;
        } else if (!idx && index >= task->n_items) {
            fprintf(stderr, "esft score: %s:%d: response %d has no item (the data set has %d items; give 'index')\n",
                    responses, line_no, index, task->n_items);
            rc = ESFT_EXIT_RUNTIME;
        }
        if (rc == ESFT_EXIT_OK) {
            if (idx) index = (int)idx->valuedouble;
            esft_score s;
            const char *resp_text = resp->valuestring;
            size_t text_len = strlen(resp_text);
            if (esft_task_score(task, 1, &index, &resp_text, &text_len, &s, &err)) {
                fprintf(stderr, "esft score: %s\n", err.msg);
                rc = ESFT_EXIT_RUNTIME;
                cJSON_Delete(obj);
                break;
            }
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", index);
            cJSON_AddNumberToObject(o, "reward", s.reward);
            for (int k = 0; k < task->n_parts; k++) cJSON_AddNumberToObject(o, task->part_names[k], s.parts[k]);
            cJSON_AddBoolToObject(o, "correct", s.correct);
            char *text = cJSON_PrintUnformatted(o);
            cJSON_Delete(o);
            if (!text) {
                fprintf(stderr, "esft score: out of memory\n");
                rc = ESFT_EXIT_RUNTIME;
            } else {
                fprintf(out, "%s\n", text);
                free(text);
                sum += s.reward;
                n_correct += s.correct;
                n_scored++;
            }
        }
        cJSON_Delete(obj);
        line = next;
    }
    if (rc == ESFT_EXIT_OK && n_scored == 0) {
        fprintf(stderr, "esft score: %s: no responses\n", responses);
        rc = ESFT_EXIT_RUNTIME;
    }
    if (out_path && rc != ESFT_EXIT_OK) {
        esft_atomic_discard(&af);
    } else if (out_path) {
        if (esft_atomic_commit(&af, &err)) {
            fprintf(stderr, "esft score: --out %s\n", err.msg);
            rc = ESFT_EXIT_RUNTIME;
        }
    } else if (fflush(stdout) != 0 && rc == ESFT_EXIT_OK) {
        fprintf(stderr, "esft score: writing the scores: %s\n", strerror(errno));
        rc = ESFT_EXIT_RUNTIME;
    }
    if (rc == ESFT_EXIT_OK)
        fprintf(stderr, "esft score: %s: %d responses, mean reward %.6g, accuracy %.4g (%d/%d)\n", task->name,
                n_scored, sum / n_scored, (double)n_correct / n_scored, n_correct, n_scored);
    free(buf);
    esft_task_free(task);
    return rc;
}
