/* Sudoku puzzles for the sudoku reward (reward.h): a solution counter and a
 * generator of puzzles with exactly one solution, written as data-set
 * records in the paper's prompt style (`esft data sudoku`).
 *
 * Grids are n*n cells, row-major, n = 4 (2x2 boxes) or 9 (3x3 boxes),
 * 0 = blank. */
#ifndef ESFT_SUDOKU_H
#define ESFT_SUDOKU_H

#include <stdbool.h>
#include <stdint.h>

#include "status.h"

#define ESFT_SUDOKU_MAX_CELLS 81

typedef struct esft_sudoku_puzzle {
    int n;                                   /* 4 or 9 */
    uint8_t clues[ESFT_SUDOKU_MAX_CELLS];    /* [n*n] the puzzle, 0 = blank */
    uint8_t solution[ESFT_SUDOKU_MAX_CELLS]; /* [n*n] its only solution */
} esft_sudoku_puzzle;

/* The fewest and most clues a generated n x n puzzle may have: below the
 * minimum no puzzle has a unique solution (4 for 4x4, 17 for 9x9); at
 * least one cell is left blank. */
int esft_sudoku_min_clues(int n);
int esft_sudoku_max_clues(int n);

/* The number of solutions of grid (n*n cells, 0 = blank), counted up to
 * limit (>= 1): 0 when the clues contradict each other or a value lies
 * outside 0..n. When solution is not NULL and there is one, the first found
 * is written there. */
int esft_sudoku_count_solutions(const uint8_t *grid, int n, int limit, uint8_t *solution);

/* Generates count distinct puzzles (no two with the same clues), each with
 * exactly `clues` givens and a unique solution: a random full grid, then
 * cells blanked in random order while the solution stays unique. The same
 * (n, clues, seed) gives the same puzzles in the same order, and the first
 * k of a longer run are the k of a shorter one, so a train set followed by
 * held-out items in one run are disjoint by construction. Fails (naming
 * what to change) when clues is out of range or no more distinct puzzles
 * are found. out holds count puzzles. */
esft_status esft_sudoku_generate(int n, int clues, int count, uint64_t seed, esft_sudoku_puzzle *out,
                                 esft_err *err);

/* The prompt of a puzzle in the paper's style (its Countdown prompt: the
 * system sentence, the task, <think>/<answer> instructions, and the
 * response opened with "<think>"); the grid shown one row per line, '.'
 * for a blank. Caller frees; NULL when out of memory. */
char *esft_sudoku_prompt(const esft_sudoku_puzzle *p);

/* The puzzle as a data-set record, one JSON line without the newline:
 * {"id", "prompt", "puzzle" (n*n digits, 0 = blank), "solution", "size",
 * "clues"}, the fields the sudoku reward reads. Caller frees. */
char *esft_sudoku_record(const esft_sudoku_puzzle *p, int id);

#endif
