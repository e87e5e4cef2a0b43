/* Built-in rewards (--reward NAME): each reads the fields it needs from a
 * data-set record once, at load, and scores responses against them.
 *
 *   name         reads                          reward                 parts
 *   exact        answer (string or [strings])   answer                 answer
 *   numeric      answer (number or text)        0.1*format + answer    format, answer
 *   regex        pattern, or --reward-arg       match                  match
 *   countdown    numbers, target                0.1*format + answer    format, answer
 *   conciseness  answer                         -|len(r) - len(a)|     length
 *   sudoku       puzzle                         0.1*format + answer    format, valid, clues, answer
 *   arc          answer (grid text or [[int]])  0.1*format + answer    format, answer
 *
 * "correct" (eval accuracy) is answer == 1 (regex: match; conciseness: the
 * trimmed response equals the answer). exact, numeric, sudoku and arc look
 * only inside the last <answer>…</answer> of a response when it has one
 * (to the end when the tag is not closed), else at the whole response. */
#ifndef ESFT_REWARD_H
#define ESFT_REWARD_H

#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>

#include "task.h"

struct esft_reward {
    const char *name;
    const char *reads;  /* the record fields it reads, for errors and help */
    const char *arg;    /* what --reward-arg gives it ("PATTERN"); NULL: it takes none */
    int n_parts;
    const char *part_names[ESFT_TASK_MAX_PARTS];
    /* Reads one record: *data (heap, may stay NULL) for score, *target (heap,
     * the reference as text for reports, may stay NULL). where is "FILE:LINE"
     * for errors, which also name the field; arg is --reward-arg or NULL. */
    esft_status (*prepare)(const cJSON *record, const char *where, const char *arg, void **data, char **target,
                           esft_err *err);
    void (*score)(const void *data, const char *target, const char *response, size_t len, esft_score *out);
    void (*free_data)(void *data); /* NULL: free() */
};

/* The reward called name; NULL when there is none. */
const esft_reward *esft_reward_find(const char *name);
/* "exact, numeric, ..." for messages and help. */
extern const char esft_reward_list[];

/* The task's score function for tasks whose items a reward prepared: calls
 * t->reward->score on the item's data and target. */
void esft_reward_task_score(const esft_task *t, int item, const char *response, size_t len, esft_score *out);
/* Frees each item's data with t->reward->free_data (a task's free_data). */
void esft_reward_task_free_data(esft_task *t);

/* The part of a response rewards read: the content of the last
 * <answer>…</answer> (to the end when unclosed), else all of it. True when
 * the response has the tag. */
bool esft_answer_region(const char *response, size_t len, const char **start, size_t *n);

/* numeric: the number a text states: the last \boxed{…}, else the first
 * number after the last "####", else the last number in it. Numbers may
 * have a sign, thousands separators ("1,234"), decimals, or be fractions
 * ("3/4", \frac{3}{4}). Returns ESFT_NUMBER_NONE when there is none,
 * ESFT_NUMBER_MARKED when \boxed or #### gave it, else ESFT_NUMBER_BARE.
 * The numeric reward's format part is 1 for a marked number or one inside
 * <answer> tags; its answer part is 1 when |x - ref| <= tol * max(1, |ref|)
 * (tol: --reward-arg, default 1e-6). */
typedef enum esft_number_form { ESFT_NUMBER_NONE, ESFT_NUMBER_BARE, ESFT_NUMBER_MARKED } esft_number_form;
esft_number_form esft_numeric_extract(const char *text, size_t len, double *out);

/* A grid of digits in text (sudoku, arc): the last block of consecutive
 * lines made only of cells (a digit, or '.' or '_' for an empty sudoku
 * cell) and separators (space, tab, | , [ ] + -); lines holding only
 * separators may sit inside a block. Each line is a row. Cells are written
 * to cells (row-major, up to max_cells; '.' and '_' as -1). False when
 * there is no block, it is ragged (rows of unequal length) or too big. */
#define ESFT_GRID_MAX_CELLS 4096
bool esft_grid_parse(const char *text, size_t len, int *cells, int max_cells, int *rows, int *cols);

/* sudoku: the parts of a response to a puzzle of n*n cells (n = 4 or 9,
 * 0 for a blank): format (an n×n grid, or one row of n*n cells), valid
 * (complete and every row, column and box holds 1..n once), clues (every
 * given digit kept). parts[3] answer = valid && clues. */
void esft_sudoku_score(const int *puzzle, int n, const char *response, size_t len, esft_score *out);

#endif
