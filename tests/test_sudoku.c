/* The Sudoku generator (frontend/tasks/sudoku.h) against an independent
 * reference: a plain backtracking counter written here (cells in reading
 * order, rules checked by scanning, no bit masks, no cell ordering), the
 * sudoku reward through the data-set path `--reward sudoku` uses, and hand
 * facts (an empty 4x4 grid has 288 solutions). Checks uniqueness,
 * determinism, distinct puzzles (the train/held-out split relies on it) and
 * the records' fields. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sudoku.h"
#include "task.h"
#include "testutil.h"

/* May v go in cell i of g (n x n) under the rules, by scanning its row,
 * column and box? */
static bool fits(const uint8_t *g, int n, int i, int v) {
    int side = n == 4 ? 2 : 3, r = i / n, c = i % n, r0 = r / side * side, c0 = c / side * side;
    for (int k = 0; k < n; k++)
        if (g[r * n + k] == v || g[k * n + c] == v) return false;
    for (int dr = 0; dr < side; dr++)
        for (int dc = 0; dc < side; dc++)
            if (g[(r0 + dr) * n + c0 + dc] == v) return false;
    return true;
}

/* Solutions of g counted up to limit by filling blanks in reading order. */
static int ref_count(uint8_t *g, int n, int from, int limit) {
    int i = from;
    while (i < n * n && g[i]) i++;
    if (i == n * n) return 1;
    int found = 0;
    for (int v = 1; v <= n && found < limit; v++) {
        if (!fits(g, n, i, v)) continue;
        g[i] = (uint8_t)v;
        found += ref_count(g, n, i + 1, limit - found);
        g[i] = 0;
    }
    return found;
}

/* Is g a complete grid obeying every rule (each cell checked against the
 * others with itself removed)? */
static bool ref_complete(const uint8_t *g, int n) {
    uint8_t h[ESFT_SUDOKU_MAX_CELLS];
    memcpy(h, g, (size_t)(n * n));
    for (int i = 0; i < n * n; i++) {
        int v = h[i];
        h[i] = 0;
        bool ok = v >= 1 && v <= n && fits(h, n, i, v);
        h[i] = (uint8_t)v;
        if (!ok) return false;
    }
    return true;
}

static void test_counter(void) {
    uint8_t empty[16] = {0}, g[16];
    CHECK(esft_sudoku_count_solutions(empty, 4, 1000, NULL) == 288); /* the known count of 4x4 grids */
    CHECK(ref_count(empty, 4, 0, 1000) == 288);
    /* two 1s in the first row: no solution */
    uint8_t clash[16] = {1, 1};
    CHECK(esft_sudoku_count_solutions(clash, 4, 2, NULL) == 0);
    uint8_t too_big[16] = {5};
    CHECK(esft_sudoku_count_solutions(too_big, 4, 2, NULL) == 0);
    /* A full grid; blanking rows 0 and 2 in columns 0-1 (1 2 / 2 1) leaves
     * two solutions, since 2 1 / 1 2 fits there too:
     *   1 2 3 4
     *   3 4 1 2
     *   2 1 4 3
     *   4 3 2 1 */
    const uint8_t full[16] = {1, 2, 3, 4, 3, 4, 1, 2, 2, 1, 4, 3, 4, 3, 2, 1};
    CHECK(ref_complete(full, 4));
    CHECK(esft_sudoku_count_solutions(full, 4, 2, g) == 1 && memcmp(g, full, 16) == 0);
    uint8_t two[16];
    memcpy(two, full, 16);
    two[0] = two[1] = two[8] = two[9] = 0;
    CHECK(ref_count(two, 4, 0, 10) == 2);
    CHECK(esft_sudoku_count_solutions(two, 4, 10, NULL) == 2);
    CHECK(esft_sudoku_count_solutions(two, 4, 1, NULL) == 1); /* stops at the limit */
    CHECK(esft_sudoku_count_solutions(full, 5, 2, NULL) == 0); /* no such size */
}

/* Every puzzle: the asked number of clues, a complete valid solution that
 * keeps them, exactly one solution by the reference counter. */
static void check_puzzles(const esft_sudoku_puzzle *p, int count, int n, int clues) {
    int bad_clues = 0, bad_solution = 0, not_unique = 0, repeats = 0;
    for (int i = 0; i < count; i++) {
        int given = 0;
        bool kept = true;
        for (int c = 0; c < n * n; c++) {
            given += p[i].clues[c] != 0;
            kept = kept && (!p[i].clues[c] || p[i].clues[c] == p[i].solution[c]);
        }
        bad_clues += p[i].n != n || given != clues;
        bad_solution += !kept || !ref_complete(p[i].solution, n);
        uint8_t g[ESFT_SUDOKU_MAX_CELLS];
        memcpy(g, p[i].clues, sizeof g);
        not_unique += ref_count(g, n, 0, 2) != 1;
        for (int j = 0; j < i; j++) repeats += memcmp(p[i].clues, p[j].clues, (size_t)(n * n)) == 0;
    }
    CHECKF(bad_clues == 0, "%dx%d/%d: %d puzzles with the wrong clue count", n, n, clues, bad_clues);
    CHECKF(bad_solution == 0, "%dx%d/%d: %d bad solutions", n, n, clues, bad_solution);
    CHECKF(not_unique == 0, "%dx%d/%d: %d puzzles without a unique solution", n, n, clues, not_unique);
    CHECKF(repeats == 0, "%dx%d/%d: %d repeated puzzles", n, n, clues, repeats);
}

static void test_generate(void) {
    const struct { int n, clues, count; } cases[] = {{4, 4, 40}, {4, 8, 100}, {4, 12, 100}, {4, 15, 60},
                                                      {9, 26, 4},  {9, 32, 8},   {9, 60, 8}};
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        esft_sudoku_puzzle *p = calloc((size_t)cases[k].count, sizeof *p);
        esft_err err = {{0}};
        esft_status st = esft_sudoku_generate(cases[k].n, cases[k].clues, cases[k].count, 7, p, &err);
        CHECKF(st == ESFT_OK, "%s", err.msg);
        if (st == ESFT_OK) check_puzzles(p, cases[k].count, cases[k].n, cases[k].clues);
        free(p);
    }
}

static void test_determinism_and_split(void) {
    enum { N = 60 };
    esft_sudoku_puzzle *a = calloc(N, sizeof *a), *b = calloc(N, sizeof *b), *c = calloc(N, sizeof *c);
    esft_err err = {{0}};
    CHECK(esft_sudoku_generate(4, 10, N, 123, a, &err) == ESFT_OK);
    CHECK(esft_sudoku_generate(4, 10, N, 123, b, &err) == ESFT_OK);
    CHECK(memcmp(a, b, N * sizeof *a) == 0);
    /* a shorter run is a prefix of a longer one: the training set does not
     * change when held-out puzzles are added after it */
    CHECK(esft_sudoku_generate(4, 10, 20, 123, c, &err) == ESFT_OK);
    CHECK(memcmp(a, c, 20 * sizeof *a) == 0);
    CHECK(esft_sudoku_generate(4, 10, N, 124, c, &err) == ESFT_OK);
    CHECK(memcmp(a, c, N * sizeof *a) != 0);
    /* so train = first 40, held out = last 20: none equal (check_puzzles
     * also compares every pair) */
    int shared = 0;
    for (int i = 0; i < 40; i++)
        for (int j = 40; j < N; j++) shared += memcmp(a[i].clues, a[j].clues, 16) == 0;
    CHECK(shared == 0);
    free(a), free(b), free(c);
}

static void test_refusals(void) {
    esft_sudoku_puzzle p[2];
    esft_err err = {{0}};
    CHECK(esft_sudoku_generate(5, 8, 1, 0, p, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_sudoku_generate(4, 3, 1, 0, p, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "4 to 15"));
    CHECK(esft_sudoku_generate(4, 16, 1, 0, p, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_sudoku_generate(9, 16, 1, 0, p, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "17 to 80"));
    CHECK(esft_sudoku_generate(4, 8, 0, 0, p, &err) == ESFT_ERR_INVALID_ARG);
    /* 4x4 with 15 clues: 288 grids x 16 blanks = 4608 puzzles, no more */
    esft_sudoku_puzzle *many = calloc(5000, sizeof *many);
    CHECK(esft_sudoku_generate(4, 15, 5000, 0, many, &err) == ESFT_ERR_INVALID_ARG &&
          strstr(err.msg, "only 4608 distinct"));
    free(many);
}

/* The records, loaded as `--data F --reward sudoku` loads them: every
 * solution, written as the prompt asks (rows of digits in <answer> tags),
 * scores correct; the puzzle with one blank filled wrongly does not. */
static void test_records_score(void) {
    enum { N = 30 };
    esft_sudoku_puzzle p[N];
    esft_err err = {{0}};
    CHECK(esft_sudoku_generate(9, 30, N, 5, p, &err) == ESFT_OK);
    char dir[256];
    if (!test_make_tmpdir(dir, sizeof dir, "esft_sudoku")) {
        CHECK(0);
        return;
    }
    char path[400];
    snprintf(path, sizeof path, "%s/s.jsonl", dir);
    FILE *f = fopen(path, "w");
    for (int i = 0; i < N; i++) {
        char *line = esft_sudoku_record(&p[i], i);
        CHECK(line != NULL);
        if (line) fprintf(f, "%s\n", line);
        /* the fields, read back */
        cJSON *o = line ? cJSON_Parse(line) : NULL;
        const cJSON *pz = cJSON_GetObjectItem(o, "puzzle"), *sol = cJSON_GetObjectItem(o, "solution"),
                    *pr = cJSON_GetObjectItem(o, "prompt");
        CHECK(cJSON_IsString(pz) && strlen(pz->valuestring) == 81 && cJSON_IsString(sol) && cJSON_IsString(pr));
        if (i == 0 && cJSON_IsString(pz) && cJSON_IsString(sol) && cJSON_IsString(pr)) {
            for (int c = 0; c < 81; c++) CHECK(pz->valuestring[c] - '0' == p[0].clues[c]);
            for (int c = 0; c < 81; c++) CHECK(sol->valuestring[c] - '0' == p[0].solution[c]);
            char row0[32];
            int k = 0;
            for (int c = 0; c < 9; c++) {
                row0[k++] = p[0].clues[c] ? (char)('0' + p[0].clues[c]) : '.';
                row0[k++] = c < 8 ? ' ' : '\n';
            }
            row0[k] = '\0';
            CHECK(strstr(pr->valuestring, row0) != NULL);
            CHECK(strstr(pr->valuestring, "<answer> </answer>") != NULL);
            size_t len = strlen(pr->valuestring);
            CHECK(len > 7 && strcmp(pr->valuestring + len - 7, "<think>") == 0);
        }
        cJSON_Delete(o);
        free(line);
    }
    fclose(f);
    esft_task_spec spec = {NULL, "sudoku", NULL, 0, NULL, 0, 0};
    esft_task *t = NULL;
    esft_status st = esft_task_open(&spec, path, NULL, &t, &err);
    CHECKF(st == ESFT_OK, "%s", err.msg);
    int correct = 0, wrong_accepted = 0;
    for (int i = 0; st == ESFT_OK && i < t->n_items; i++) {
        char resp[400];
        int k = snprintf(resp, sizeof resp, "I filled it in.</think>\n<answer>\n");
        for (int c = 0; c < 81; c++) k += snprintf(resp + k, sizeof resp - (size_t)k, "%d%c", p[i].solution[c],
                                                   c % 9 == 8 ? '\n' : ' ');
        snprintf(resp + k, sizeof resp - (size_t)k, "</answer>");
        esft_score s;
        t->score(t, i, resp, strlen(resp), &s);
        correct += s.correct && s.reward > 1.0;
        /* the first blank given another digit: no longer valid */
        int blank = 0;
        while (p[i].clues[blank]) blank++;
        char *cell = strstr(resp, "<answer>\n") + 9 + 2 * blank;
        *cell = (char)('0' + p[i].solution[blank] % 9 + 1);
        t->score(t, i, resp, strlen(resp), &s);
        wrong_accepted += s.correct;
    }
    CHECKF(correct == N, "%d of %d solutions scored correct", correct, N);
    CHECK(wrong_accepted == 0);
    esft_task_free(t);
    test_remove_tmpdir(dir);
}

int main(void) {
    test_counter();
    test_generate();
    test_determinism_and_split();
    test_refusals();
    test_records_score();
    return TEST_EXIT();
}
