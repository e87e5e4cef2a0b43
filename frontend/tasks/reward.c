/* The reward registry, the glue between a task and its reward, and the two
 * text rewards: exact (normalised string match) and regex (a PCRE2 pattern
 * found in the response). */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <ctype.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_internal.h"

static const esft_reward *const rewards[] = {
    &esft_reward_exact,     &esft_reward_numeric, &esft_reward_regex, &esft_reward_countdown,
    &esft_reward_conciseness, &esft_reward_sudoku,  &esft_reward_arc,
};

const char esft_reward_list[] = "exact, numeric, regex, countdown, conciseness, sudoku, arc";

const esft_reward *esft_reward_find(const char *name) {
    for (size_t i = 0; name && i < sizeof rewards / sizeof rewards[0]; i++)
        if (strcmp(rewards[i]->name, name) == 0) return rewards[i];
    return NULL;
}

void esft_reward_task_score(const esft_task *t, int item, const char *response, size_t len, esft_score *out) {
    memset(out, 0, sizeof *out);
    if (!t || item < 0 || item >= t->n_items || !response) return;
    t->reward->score(t->items[item].data, t->items[item].target, response, len, out);
}

void esft_reward_task_free_data(esft_task *t) {
    for (int i = 0; i < t->n_items; i++) {
        if (t->reward->free_data) t->reward->free_data(t->items[i].data);
        else free(t->items[i].data);
        t->items[i].data = NULL;
    }
}

const char *esft_find_last(const char *s, size_t n, const char *needle) {
    size_t m = strlen(needle);
    for (size_t i = n >= m ? n - m + 1 : 0; i-- > 0;)
        if (memcmp(s + i, needle, m) == 0) return s + i;
    return NULL;
}

bool esft_answer_region(const char *response, size_t len, const char **start, size_t *n) {
    const char *open = esft_find_last(response, len, "<answer>");
    if (!open) {
        *start = response, *n = len;
        return false;
    }
    const char *body = open + 8, *end = response + len;
    const char *close = esft_find_last(body, (size_t)(end - body), "</answer>");
    *start = body;
    *n = (size_t)((close ? close : end) - body);
    return true;
}

/* ---- exact ---- */

/* ASCII lower case, whitespace runs as one space, trimmed, one trailing
 * period dropped: "  The  Answer. " and "the answer" are equal. */
static char *normalise(const char *s, size_t n) {
    char *out = malloc(n + 1);
    if (!out) return NULL;
    size_t k = 0;
    bool space = false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (isspace(c)) {
            space = k > 0;
            continue;
        }
        if (space) out[k++] = ' ';
        space = false;
        out[k++] = (char)tolower(c);
    }
    if (k > 0 && out[k - 1] == '.') k--;
    while (k > 0 && out[k - 1] == ' ') k--;
    out[k] = '\0';
    return out;
}

/* data: the normalised answers, NULL-terminated. */
static void free_strings(void *data) {
    char **list = data;
    for (size_t i = 0; list && list[i]; i++) free(list[i]);
    free(list);
}

static esft_status exact_prepare(const cJSON *record, const char *where, const char *arg, void **data,
                                 char **target, esft_err *err) {
    (void)arg;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(record, "answer");
    if (!a) return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer' is missing", where);
    int n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 1;
    if (!cJSON_IsString(a) && !(cJSON_IsArray(a) && n > 0))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer' must be a string or a non-empty array of strings",
                         where);
    char **list = calloc((size_t)n + 1, sizeof *list);
    if (!list) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    for (int i = 0; i < n; i++) {
        const cJSON *e = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, i) : a;
        if (!cJSON_IsString(e)) {
            free_strings(list);
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer': entry %d is not a string", where, i);
        }
        if (!(list[i] = normalise(e->valuestring, strlen(e->valuestring)))) {
            free_strings(list);
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
        }
    }
    const cJSON *first = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, 0) : a;
    *target = strdup(first->valuestring);
    *data = list;
    return *target ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
}

static void exact_score(const void *data, const char *target, const char *response, size_t len, esft_score *out) {
    (void)target;
    const char *at;
    size_t n;
    esft_answer_region(response, len, &at, &n);
    char *got = memchr(at, '\0', n) ? NULL : normalise(at, n);
    bool match = false;
    for (char *const *a = data; got && *a && !match; a++) match = strcmp(got, *a) == 0;
    free(got);
    out->reward = out->parts[0] = match;
    out->correct = match;
}

const esft_reward esft_reward_exact = {
    .name = "exact", .reads = "answer", .n_parts = 1, .part_names = {"answer"},
    .prepare = exact_prepare, .score = exact_score, .free_data = free_strings,
};

/* ---- regex ---- */

static void free_code(void *data) { pcre2_code_free(data); }

static esft_status regex_prepare(const cJSON *record, const char *where, const char *arg, void **data,
                                 char **target, esft_err *err) {
    const char *pattern = NULL;
    esft_status st = esft_task_get_string(where, record, "pattern", false, false, &pattern, err);
    if (st) return st;
    if (!pattern && !arg)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'pattern' is missing (or give --reward-arg PATTERN)", where);
    bool from_record = pattern != NULL;
    if (!pattern) pattern = arg;
    int code;
    PCRE2_SIZE offset;
    pcre2_code *re = pcre2_compile((PCRE2_SPTR)pattern, PCRE2_ZERO_TERMINATED, 0, &code, &offset, NULL);
    if (!re) {
        PCRE2_UCHAR msg[120];
        pcre2_get_error_message(code, msg, sizeof msg);
        if (from_record)
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'pattern': %s at offset %zu", where, (const char *)msg,
                             (size_t)offset);
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--reward-arg '%s': %s at offset %zu", pattern, (const char *)msg,
                         (size_t)offset);
    }
    *data = re;
    *target = strdup(pattern);
    return *target ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
}

/* Searches the whole response (bytes, no UTF-8 check: responses may hold
 * broken UTF-8); PCRE2's default match limit bounds backtracking. */
static void regex_score(const void *data, const char *target, const char *response, size_t len, esft_score *out) {
    (void)target;
    pcre2_match_data *md = pcre2_match_data_create_from_pattern(data, NULL);
    int rc = md ? pcre2_match(data, (PCRE2_SPTR)response, len, 0, 0, md, NULL) : -1;
    pcre2_match_data_free(md);
    out->reward = out->parts[0] = rc >= 0;
    out->correct = rc >= 0;
}

const esft_reward esft_reward_regex = {
    .name = "regex", .reads = "pattern", .arg = "PATTERN", .n_parts = 1, .part_names = {"match"},
    .prepare = regex_prepare, .score = regex_score, .free_data = free_code,
};
