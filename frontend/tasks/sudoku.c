/* Sudoku solution counting and puzzle generation (sudoku.h). */
#include "sudoku.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"

int esft_sudoku_min_clues(int n) { return n == 4 ? 4 : 17; }
int esft_sudoku_max_clues(int n) { return n * n - 1; }

static int box_side(int n) { return n == 4 ? 2 : 3; }

/* A grid being solved: the digits each row, column and box already holds
 * as bit masks (bit v for digit v), so a cell's candidates are one AND. */
typedef struct solver {
    int n, side;
    uint8_t g[ESFT_SUDOKU_MAX_CELLS];        /* [n*n] 0 = blank */
    unsigned row[9], col[9], box[9];          /* [n] digits used */
    int limit, found;
    uint8_t *first;                           /* the first solution found, or NULL */
    uint64_t *rng;                            /* NULL: digits in order; else shuffled */
} solver;

static int box_index(const solver *s, int cell) {
    int r = cell / s->n, c = cell % s->n;
    return (r / s->side) * s->side + c / s->side;
}

static void place(solver *s, int cell, int v) {
    unsigned bit = 1u << v;
    s->g[cell] = (uint8_t)v;
    s->row[cell / s->n] |= bit;
    s->col[cell % s->n] |= bit;
    s->box[box_index(s, cell)] |= bit;
}

static void unplace(solver *s, int cell) {
    unsigned bit = ~(1u << s->g[cell]);
    s->row[cell / s->n] &= bit;
    s->col[cell % s->n] &= bit;
    s->box[box_index(s, cell)] &= bit;
    s->g[cell] = 0;
}

static unsigned candidates(const solver *s, int cell) {
    unsigned all = ((1u << (s->n + 1)) - 1) & ~1u; /* bits 1..n */
    return all & ~(s->row[cell / s->n] | s->col[cell % s->n] | s->box[box_index(s, cell)]);
}

/* Depth-first search that always branches on the blank cell with the fewest
 * candidates: a cell with none ends the branch at once. */
static void search(solver *s) {
    int best = -1, best_count = 10;
    unsigned best_mask = 0;
    for (int i = 0; i < s->n * s->n && best_count > 1; i++) {
        if (s->g[i]) continue;
        unsigned m = candidates(s, i);
        int k = __builtin_popcount(m);
        if (k == 0) return;
        if (k < best_count) best = i, best_count = k, best_mask = m;
    }
    if (best < 0) {
        if (s->found++ == 0 && s->first) memcpy(s->first, s->g, (size_t)(s->n * s->n));
        return;
    }
    int digits[9], k = 0;
    for (int v = 1; v <= s->n; v++)
        if (best_mask & (1u << v)) digits[k++] = v;
    for (int j = k - 1; s->rng && j > 0; j--) {
        int o = (int)esft_splitmix64_below(s->rng, (uint64_t)(j + 1)), t = digits[j];
        digits[j] = digits[o], digits[o] = t;
    }
    for (int j = 0; j < k && s->found < s->limit; j++) {
        place(s, best, digits[j]);
        search(s);
        unplace(s, best);
    }
}

/* Loads grid into s; false when a value is out of range or repeats in a
 * unit (then there is no solution). */
static bool solver_init(solver *s, const uint8_t *grid, int n, int limit, uint8_t *first, uint64_t *rng) {
    memset(s, 0, sizeof *s);
    s->n = n, s->side = box_side(n), s->limit = limit, s->first = first, s->rng = rng;
    for (int i = 0; i < n * n; i++) {
        int v = grid[i];
        if (v == 0) continue;
        if (v > n || !(candidates(s, i) & (1u << v))) return false;
        place(s, i, v);
    }
    return true;
}

int esft_sudoku_count_solutions(const uint8_t *grid, int n, int limit, uint8_t *solution) {
    if ((n != 4 && n != 9) || limit < 1) return 0;
    solver s;
    if (!solver_init(&s, grid, n, limit, solution, NULL)) return 0;
    search(&s);
    return s.found;
}

/* A full random grid: the solver on an empty grid, digits shuffled. */
static void random_full_grid(int n, uint64_t *rng, uint8_t *out) {
    uint8_t empty[ESFT_SUDOKU_MAX_CELLS] = {0};
    solver s;
    solver_init(&s, empty, n, 1, out, rng);
    search(&s);
}

/* Blanks cells of the full grid p->solution in a random order while the
 * puzzle keeps one solution, until `clues` remain. False when the order
 * got stuck above that. */
static bool dig(esft_sudoku_puzzle *p, int clues, uint64_t *rng) {
    int cells = p->n * p->n, order[ESFT_SUDOKU_MAX_CELLS], left = cells;
    memcpy(p->clues, p->solution, (size_t)cells);
    for (int i = 0; i < cells; i++) order[i] = i;
    for (int j = cells - 1; j > 0; j--) {
        int o = (int)esft_splitmix64_below(rng, (uint64_t)(j + 1)), t = order[j];
        order[j] = order[o], order[o] = t;
    }
    for (int i = 0; i < cells && left > clues; i++) {
        int c = order[i];
        uint8_t v = p->clues[c];
        p->clues[c] = 0;
        if (esft_sudoku_count_solutions(p->clues, p->n, 2, NULL) == 1) left--;
        else p->clues[c] = v;
    }
    return left == clues;
}

/* Puzzles seen so far, by a hash of their clues (open addressing; slot
 * holds index + 1, 0 = empty). */
typedef struct seen_set {
    int *slots;
    size_t mask;
} seen_set;

static uint64_t clue_hash(const esft_sudoku_puzzle *p) {
    return esft_fnv1a64(ESFT_FNV1A64_INIT, p->clues, (size_t)(p->n * p->n));
}

/* Adds out[idx] unless an equal puzzle is there; false for a duplicate. */
static bool seen_add(seen_set *s, const esft_sudoku_puzzle *out, int idx) {
    size_t cells = (size_t)(out[idx].n * out[idx].n);
    for (size_t h = clue_hash(&out[idx]) & s->mask;; h = (h + 1) & s->mask) {
        if (!s->slots[h]) {
            s->slots[h] = idx + 1;
            return true;
        }
        if (memcmp(out[s->slots[h] - 1].clues, out[idx].clues, cells) == 0) return false;
    }
}

/* Tries per puzzle before giving up: a fresh grid when digging gets stuck
 * above the asked clue count, or a new draw when a puzzle repeats. */
#define SUDOKU_DIG_TRIES 200
#define SUDOKU_REPEAT_TRIES 10000

esft_status esft_sudoku_generate(int n, int clues, int count, uint64_t seed, esft_sudoku_puzzle *out,
                                 esft_err *err) {
    if (n != 4 && n != 9) return esft_errf(err, ESFT_ERR_INVALID_ARG, "sudoku generator: size %d (4 or 9)", n);
    if (clues < esft_sudoku_min_clues(n) || clues > esft_sudoku_max_clues(n))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "sudoku generator: %d clues for %dx%d (must be %d to %d)", clues,
                         n, n, esft_sudoku_min_clues(n), esft_sudoku_max_clues(n));
    if (count < 1) return esft_errf(err, ESFT_ERR_INVALID_ARG, "sudoku generator: count %d (must be >= 1)", count);
    size_t cap = 1;
    while (cap < 2 * (size_t)count) cap <<= 1;
    seen_set seen = {calloc(cap, sizeof(int)), cap - 1};
    if (!seen.slots) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "sudoku generator: out of memory");
    uint64_t rng = seed;
    for (int i = 0, repeats = 0; i < count;) {
        esft_sudoku_puzzle *p = &out[i];
        memset(p, 0, sizeof *p);
        p->n = n;
        bool made = false;
        for (int t = 0; t < SUDOKU_DIG_TRIES && !made; t++) {
            random_full_grid(n, &rng, p->solution);
            made = dig(p, clues, &rng);
        }
        if (!made) {
            free(seen.slots);
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "sudoku generator: no %dx%d puzzle with a unique solution and %d clues found in %d "
                             "tries; ask for more clues",
                             n, n, clues, SUDOKU_DIG_TRIES);
        }
        if (seen_add(&seen, out, i)) {
            i++, repeats = 0;
        } else if (++repeats >= SUDOKU_REPEAT_TRIES) {
            free(seen.slots);
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "sudoku generator: only %d distinct %dx%d puzzles with %d clues found (%d draws in a row "
                             "repeated one); ask for fewer or change the clue count",
                             i, n, n, clues, SUDOKU_REPEAT_TRIES);
        }
    }
    free(seen.slots);
    return ESFT_OK;
}

static const char prompt_head[] =
    "You are a helpful assistant. You first think about the reasoning process in your mind and then "
    "provide the user with the answer. Solve this %dx%d Sudoku puzzle. Fill every empty cell (.) with a digit "
    "from 1 to %d so that each row, each column and each %dx%d box holds every digit from 1 to %d exactly once, "
    "and keep the given digits.\n";
static const char prompt_tail[] =
    "Show your work in <think> </think> tags. And return the completed grid in <answer> </answer> tags, one row "
    "per line with the digits separated by spaces. Let me solve this step by step.\n<think>";

char *esft_sudoku_prompt(const esft_sudoku_puzzle *p) {
    int n = p->n, side = box_side(n);
    size_t cap = sizeof prompt_head + sizeof prompt_tail + 32 + (size_t)(2 * n * n);
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t len = (size_t)snprintf(s, cap, prompt_head, n, n, n, side, side, n);
    for (int i = 0; i < n * n; i++) {
        s[len++] = p->clues[i] ? (char)('0' + p->clues[i]) : '.';
        s[len++] = (i + 1) % n ? ' ' : '\n';
    }
    snprintf(s + len, cap - len, "%s", prompt_tail);
    return s;
}

char *esft_sudoku_record(const esft_sudoku_puzzle *p, int id) {
    int cells = p->n * p->n, given = 0;
    char puzzle[ESFT_SUDOKU_MAX_CELLS + 1], solution[ESFT_SUDOKU_MAX_CELLS + 1];
    for (int i = 0; i < cells; i++) {
        puzzle[i] = (char)('0' + p->clues[i]);
        solution[i] = (char)('0' + p->solution[i]);
        given += p->clues[i] != 0;
    }
    puzzle[cells] = solution[cells] = '\0';
    char *prompt = esft_sudoku_prompt(p), *line = NULL;
    cJSON *o = cJSON_CreateObject();
    if (prompt && o && cJSON_AddNumberToObject(o, "id", id) && cJSON_AddStringToObject(o, "prompt", prompt) &&
        cJSON_AddStringToObject(o, "puzzle", puzzle) && cJSON_AddStringToObject(o, "solution", solution) &&
        cJSON_AddNumberToObject(o, "size", p->n) && cJSON_AddNumberToObject(o, "clues", given))
        line = cJSON_PrintUnformatted(o);
    cJSON_Delete(o);
    free(prompt);
    return line;
}
