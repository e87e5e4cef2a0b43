/* Grids of digits in text, and the two rewards that read them: sudoku (the
 * response solves the record's puzzle) and arc (the response's grid is the
 * record's answer grid). See reward.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_internal.h"

enum line_kind { LINE_OTHER, LINE_SEPARATORS, LINE_ROW };

static bool is_separator(char c) { return strchr(" \t\r|,[]+-", c) != NULL && c != '\0'; }
static bool is_cell(char c) { return (c >= '0' && c <= '9') || c == '.' || c == '_'; }

/* What one line is, and its number of cells. Blank lines are OTHER: they
 * end a block. */
static enum line_kind classify(const char *s, size_t n, int *n_cells) {
    int cells = 0;
    bool marks = false;
    for (size_t i = 0; i < n; i++) {
        if (is_cell(s[i])) cells++;
        else if (!is_separator(s[i])) return LINE_OTHER;
        else if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') marks = true;
    }
    *n_cells = cells;
    return cells ? LINE_ROW : marks ? LINE_SEPARATORS : LINE_OTHER;
}

bool esft_grid_parse(const char *text, size_t len, int *cells, int max_cells, int *rows, int *cols) {
    int r = 0, c = 0, used = 0;
    bool in_block = false, ragged = false, overflow = false;
    for (size_t at = 0; at <= len;) {
        const char *nl = memchr(text + at, '\n', len - at);
        size_t end = nl ? (size_t)(nl - text) : len, n = end - at;
        int k = 0;
        enum line_kind kind = classify(text + at, n, &k);
        if (kind == LINE_ROW) {
            if (!in_block) r = c = used = 0, ragged = overflow = false; /* a new block: the last one wins */
            in_block = true;
            if (r > 0 && k != c) ragged = true;
            c = k;
            for (size_t i = at; i < end; i++) {
                if (!is_cell(text[i])) continue;
                if (used >= max_cells) {
                    overflow = true;
                    break;
                }
                cells[used++] = text[i] >= '0' && text[i] <= '9' ? text[i] - '0' : -1;
            }
            r++;
        } else if (kind == LINE_OTHER) {
            in_block = false;
        }
        at = end + 1;
    }
    *rows = r, *cols = c;
    return r > 0 && !ragged && !overflow;
}

/* ---- sudoku ---- */

typedef struct sudoku_item {
    int n;                      /* 4 or 9 */
    int cells[81];              /* the puzzle, row-major, 0 = blank */
} sudoku_item;

/* Does every row, column and box hold each value at most once (blanks
 * aside), and every value lie in 1..n (0 allowed when blanks are)? */
static bool units_ok(const int *g, int n, bool blanks) {
    int box = n == 4 ? 2 : 3;
    for (int u = 0; u < n; u++) {
        unsigned row = 0, col = 0, bx = 0;
        for (int i = 0; i < n; i++) {
            int vr = g[u * n + i], vc = g[i * n + u];
            int vb = g[((u / box) * box + i / box) * n + (u % box) * box + i % box];
            int v3[3] = {vr, vc, vb};
            unsigned *seen[3] = {&row, &col, &bx};
            for (int k = 0; k < 3; k++) {
                if (v3[k] == 0 && blanks) continue;
                if (v3[k] < 1 || v3[k] > n || (*seen[k] & (1u << v3[k]))) return false;
                *seen[k] |= 1u << v3[k];
            }
        }
    }
    return true;
}

void esft_sudoku_score(const int *puzzle, int n, const char *response, size_t len, esft_score *out) {
    memset(out, 0, sizeof *out);
    const char *at;
    size_t m;
    esft_answer_region(response, len, &at, &m);
    int g[ESFT_GRID_MAX_CELLS], rows, cols;
    if (!esft_grid_parse(at, m, g, ESFT_GRID_MAX_CELLS, &rows, &cols)) return;
    if (!((rows == n && cols == n) || (rows == 1 && cols == n * n))) return;
    bool valid = units_ok(g, n, false), clues = true;
    for (int i = 0; i < n * n; i++) clues = clues && (puzzle[i] == 0 || g[i] == puzzle[i]);
    out->parts[0] = 1.0;
    out->parts[1] = valid;
    out->parts[2] = clues;
    out->parts[3] = valid && clues;
    out->reward = 0.1 + out->parts[3];
    out->correct = valid && clues;
}

static esft_status sudoku_prepare(const cJSON *record, const char *where, const char *arg, void **data,
                                  char **target, esft_err *err) {
    (void)arg;
    const char *text;
    esft_status st = esft_task_get_string(where, record, "puzzle", true, false, &text, err);
    if (st) return st;
    int g[ESFT_GRID_MAX_CELLS], rows, cols;
    size_t len = strlen(text);
    bool ok = esft_grid_parse(text, len, g, ESFT_GRID_MAX_CELLS, &rows, &cols);
    int cells = rows * cols, n = cells == 16 ? 4 : cells == 81 ? 9 : 0;
    if (!ok || !n || !(rows == 1 || (rows == n && cols == n)))
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: field 'puzzle' is not a 4x4 or 9x9 grid (rows of digits, 0 or . for a blank, or one "
                         "line of 16 or 81)",
                         where);
    sudoku_item *d = calloc(1, sizeof *d);
    if (!d) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    d->n = n;
    for (int i = 0; i < cells; i++) d->cells[i] = g[i] < 0 ? 0 : g[i];
    if (!units_ok(d->cells, n, true)) {
        free(d);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'puzzle': a clue exceeds %d or repeats in a row, column or box",
                         where, n);
    }
    if (!(*target = strdup(text))) {
        free(d);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    *data = d;
    return ESFT_OK;
}

static void sudoku_score(const void *data, const char *target, const char *response, size_t len, esft_score *out) {
    (void)target;
    const sudoku_item *d = data;
    esft_sudoku_score(d->cells, d->n, response, len, out);
}

const esft_reward esft_reward_sudoku = {
    .name = "sudoku", .reads = "puzzle", .n_parts = 4, .part_names = {"format", "valid", "clues", "answer"},
    .prepare = sudoku_prepare, .score = sudoku_score, .free_data = NULL,
};

/* ---- arc ---- */

typedef struct arc_item {
    int rows, cols;
    int cells[];                /* [rows * cols] */
} arc_item;

/* The answer as [[int 0..9]] (rectangular) into g. */
static bool grid_from_json(const cJSON *a, int *g, int *rows, int *cols) {
    int r = 0, c = -1, used = 0;
    const cJSON *row, *v;
    cJSON_ArrayForEach(row, a) {
        if (!cJSON_IsArray(row) || (c >= 0 && cJSON_GetArraySize(row) != c)) return false;
        c = cJSON_GetArraySize(row);
        cJSON_ArrayForEach(v, row) {
            /* range first: casting 1e309 (inf) or NaN to int is undefined */
            if (!cJSON_IsNumber(v) || !(v->valuedouble >= 0 && v->valuedouble <= 9) ||
                v->valuedouble != (int)v->valuedouble || used >= ESFT_GRID_MAX_CELLS)
                return false;
            g[used++] = v->valueint;
        }
        r++;
    }
    *rows = r, *cols = c;
    return r > 0 && c > 0;
}

static esft_status arc_prepare(const cJSON *record, const char *where, const char *arg, void **data, char **target,
                               esft_err *err) {
    (void)arg;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(record, "answer");
    if (!a) return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer' is missing", where);
    int g[ESFT_GRID_MAX_CELLS], rows = 0, cols = 0;
    bool ok = cJSON_IsArray(a) ? grid_from_json(a, g, &rows, &cols)
              : cJSON_IsString(a) && esft_grid_parse(a->valuestring, strlen(a->valuestring), g, ESFT_GRID_MAX_CELLS,
                                                     &rows, &cols);
    for (int i = 0; ok && i < rows * cols; i++) ok = g[i] >= 0;
    if (!ok)
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: field 'answer' is not a grid (rows of digits 0-9 of equal length, or [[int]])", where);
    arc_item *d = malloc(sizeof *d + (size_t)(rows * cols) * sizeof d->cells[0]);
    char *text = malloc((size_t)(rows * (cols + 1)) + 1);
    if (!d || !text) {
        free(d), free(text);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    d->rows = rows, d->cols = cols;
    memcpy(d->cells, g, (size_t)(rows * cols) * sizeof g[0]);
    size_t k = 0;
    for (int r = 0; r < rows; r++) {
        for (int c = 0; c < cols; c++) text[k++] = (char)('0' + g[r * cols + c]);
        text[k++] = r + 1 < rows ? '\n' : '\0';
    }
    *target = text;
    *data = d;
    return ESFT_OK;
}

static void arc_score(const void *data, const char *target, const char *response, size_t len, esft_score *out) {
    (void)target;
    const arc_item *d = data;
    const char *at;
    size_t m;
    esft_answer_region(response, len, &at, &m);
    int g[ESFT_GRID_MAX_CELLS], rows, cols;
    memset(out, 0, sizeof *out);
    if (!esft_grid_parse(at, m, g, ESFT_GRID_MAX_CELLS, &rows, &cols)) return;
    bool same = rows == d->rows && cols == d->cols &&
                memcmp(g, d->cells, (size_t)(rows * cols) * sizeof g[0]) == 0;
    out->parts[0] = 1.0;
    out->parts[1] = same;
    out->reward = 0.1 + same;
    out->correct = same;
}

const esft_reward esft_reward_arc = {
    .name = "arc", .reads = "answer", .n_parts = 2, .part_names = {"format", "answer"},
    .prepare = arc_prepare, .score = arc_score, .free_data = NULL,
};
