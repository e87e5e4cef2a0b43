/* An external reward command (--reward-cmd): one persistent process that
 * scores responses over JSON lines. esft writes one request per line,
 *
 *   {"id": N, "prompt": "...", "response": "...", "item": {the data record}}
 *
 * and the process answers each with one line, in any order,
 *
 *   {"id": N, "reward": 0.5, "correct": true, "parts": {"format": 1}}
 *
 * ("correct" and "parts" optional; without "correct", reward > 0 counts as
 * correct). A batch sends all its requests at once and reads answers as
 * they come, with poll() on the process's stdin, stdout and stderr, so
 * that neither side blocks on a full pipe. Requests go out in the caller's order, so a deterministic
 * process gives the same rewards in every run.
 *
 * Time: the clock restarts at the start of a batch and at every answer.
 * When it reaches `timeout` seconds the oldest unanswered request scores
 * `timeout_score` and counts as timed out (its late answer is ignored);
 * when it runs out again with no answer in between (in this batch or a
 * later one), the process is hung and the batch fails. A process's first answer may take STARTUP_S more
 * (interpreter start, imports).
 *
 * Failures (the command cannot start, exits, hangs, prints a line that is
 * not a JSON answer, answers an unknown id, an id twice or a non-finite
 * reward) are one
 * line naming the command, the item and the tail of the command's stderr;
 * the process is then stopped (the next batch starts a fresh one).
 * The command line is split like a shell splits words (quotes, backslash);
 * one with shell syntax (| & ; < > ( ) $ `) runs under /bin/sh -c, because
 * it asks for what only a shell does. The process leads its own process
 * group, which closing kills, and is always reaped. */
#ifndef ESFT_REWARD_CMD_H
#define ESFT_REWARD_CMD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "task.h"

#define ESFT_REWARD_CMD_STARTUP_S 60.0
#define ESFT_REWARD_CMD_DEFAULT_TIMEOUT_S 60.0

typedef struct esft_reward_cmd esft_reward_cmd;

/* One request: the item's label for errors ("my.jsonl:4"), its prompt and
 * record, and the response (len bytes). */
typedef struct esft_reward_request {
    const char *label;
    const char *prompt;
    const cJSON *record;
    const char *response;
    size_t len;
} esft_reward_request;

/* Splits a command line into words like a shell (no expansion). *argv is
 * NULL-terminated and freed with free() (one block); *needs_shell is set
 * when the line holds unquoted shell syntax. Fails on an unclosed quote or
 * an empty line. */
esft_status esft_command_split(const char *line, char ***argv, bool *needs_shell, esft_err *err);

/* A scorer for `command` (not started until the first batch). timeout <= 0:
 * ESFT_REWARD_CMD_DEFAULT_TIMEOUT_S. */
esft_reward_cmd *esft_reward_cmd_new(const char *command, double timeout, double timeout_score);

/* Scores reqs[0..n) into out[0..n) (timed-out ones: reward timeout_score,
 * timed_out set). Starts the process when it is not running. */
esft_status esft_reward_cmd_score(esft_reward_cmd *rc, const esft_reward_request *reqs, int n, esft_score *out,
                                  esft_err *err);

/* The part names the process has used so far, in first-use order. */
int esft_reward_cmd_parts(const esft_reward_cmd *rc, const char **names, int max);

/* One more owner of rc (a second data set scored by the same process). */
esft_reward_cmd *esft_reward_cmd_ref(esft_reward_cmd *rc);

/* Drops an owner; the last one ends the process (EOF on its stdin, then
 * its group is killed) and frees it. */
void esft_reward_cmd_free(esft_reward_cmd *rc);

#endif
