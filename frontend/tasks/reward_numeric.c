/* The numeric reward: the number a response states (reward.h) against the
 * record's answer, within a tolerance. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "task_internal.h"

#define DEFAULT_TOLERANCE 1e-6

typedef struct numeric_item {
    double value, tolerance;
} numeric_item;

/* One number starting at s[i] (a digit, or a sign or '.' before one), read
 * into *value; returns the index after it, or i when there is none there.
 * Thousands separators count only in whole groups: "1,234" is one number,
 * "1,2" two. A '/' between two numbers makes a fraction. */
static size_t read_number(const char *s, size_t n, size_t i, double *value) {
    char buf[80];
    size_t k = 0, j = i;
    bool neg = false;
    if (j < n && (s[j] == '-' || s[j] == '+')) neg = s[j++] == '-';
    size_t digits0 = j;
    while (j < n && isdigit((unsigned char)s[j]) && k < 40) buf[k++] = s[j++];
    size_t lead = j - digits0;
    /* ",ddd" groups after 1-3 leading digits, each not followed by a digit */
    while (lead >= 1 && lead <= 3 && j + 3 < n && s[j] == ',' && isdigit((unsigned char)s[j + 1]) &&
           isdigit((unsigned char)s[j + 2]) && isdigit((unsigned char)s[j + 3]) &&
           !(j + 4 < n && isdigit((unsigned char)s[j + 4])) && k < 40) {
        memcpy(buf + k, s + j + 1, 3);
        k += 3, j += 4;
    }
    if (j + 1 < n && s[j] == '.' && isdigit((unsigned char)s[j + 1])) {
        buf[k++] = s[j++];
        while (j < n && isdigit((unsigned char)s[j]) && k < 78) buf[k++] = s[j++];
    }
    if (k == 0 || (k == 1 && buf[0] == '.')) return i;
    buf[k] = '\0';
    double v = strtod(buf, NULL);
    if (j + 1 < n && s[j] == '/' && isdigit((unsigned char)s[j + 1])) {
        double den;
        size_t e = read_number(s, n, j + 1, &den);
        if (e > j + 1 && den != 0) {
            v /= den;
            j = e;
        }
    }
    *value = neg ? -v : v;
    return j;
}

/* Is s[i] where a number starts? A digit; a '.' before a digit (".5"); a
 * sign before a digit when no letter, digit or ')' precedes it ("3-5" is 3
 * and 5). */
static bool starts_number(const char *s, size_t n, size_t i) {
    char c = s[i];
    if (isdigit((unsigned char)c)) return true;
    if (c == '.') return i + 1 < n && isdigit((unsigned char)s[i + 1]) && !(i > 0 && isdigit((unsigned char)s[i - 1]));
    if (c != '-' && c != '+') return false;
    if (i > 0 && (isalnum((unsigned char)s[i - 1]) || s[i - 1] == ')')) return false;
    return i + 1 < n && isdigit((unsigned char)s[i + 1]);
}

/* The first (last == false) or last number in s[0..n). */
static bool scan_number(const char *s, size_t n, bool last, double *out) {
    bool found = false;
    for (size_t i = 0; i < n;) {
        double v;
        size_t e = starts_number(s, n, i) ? read_number(s, n, i, &v) : i;
        if (e == i) {
            i++;
            continue;
        }
        *out = v;
        found = true;
        if (!last) break;
        i = e;
    }
    return found;
}

/* The content of the braces opening at s[i] == '{' (balanced). */
static bool braced(const char *s, size_t n, size_t i, size_t *start, size_t *len) {
    if (i >= n || s[i] != '{') return false;
    int depth = 0;
    for (size_t j = i; j < n; j++) {
        depth += s[j] == '{';
        depth -= s[j] == '}';
        if (depth == 0) {
            *start = i + 1, *len = j - i - 1;
            return true;
        }
    }
    return false;
}

/* \frac{a}{b} (or \dfrac, \tfrac) in s, with a '-' before it negating. */
static bool read_frac(const char *s, size_t n, double *out) {
    static const char *const names[] = {"\\frac{", "\\dfrac{", "\\tfrac{"};
    for (size_t k = 0; k < 3; k++) {
        const char *f = esft_find_last(s, n, names[k]);
        if (!f) continue;
        size_t at = (size_t)(f - s) + strlen(names[k]) - 1, a0, an, b0, bn;
        double a, b;
        if (!braced(s, n, at, &a0, &an) || !braced(s, n, a0 + an + 1, &b0, &bn)) return false;
        if (!scan_number(s + a0, an, true, &a) || !scan_number(s + b0, bn, true, &b) || b == 0) return false;
        size_t p = (size_t)(f - s);
        while (p > 0 && s[p - 1] == ' ') p--;
        *out = p > 0 && s[p - 1] == '-' ? -a / b : a / b;
        return true;
    }
    return false;
}

esft_number_form esft_numeric_extract(const char *s, size_t n, double *out) {
    const char *boxed = esft_find_last(s, n, "\\boxed{");
    size_t b0, bn;
    if (boxed && braced(s, n, (size_t)(boxed - s) + 6, &b0, &bn)) {
        if (read_frac(s + b0, bn, out) || scan_number(s + b0, bn, true, out)) return ESFT_NUMBER_MARKED;
    }
    const char *hashes = esft_find_last(s, n, "####");
    if (hashes) {
        size_t at = (size_t)(hashes - s) + 4;
        if (scan_number(s + at, n - at, false, out)) return ESFT_NUMBER_MARKED;
    }
    return scan_number(s, n, true, out) ? ESFT_NUMBER_BARE : ESFT_NUMBER_NONE;
}

static esft_status numeric_prepare(const cJSON *record, const char *where, const char *arg, void **data,
                                   char **target, esft_err *err) {
    double tol = DEFAULT_TOLERANCE;
    if (arg) {
        char *end;
        tol = strtod(arg, &end);
        if (end == arg || *end || !(tol >= 0) || !isfinite(tol))
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "--reward-arg '%s': the numeric reward takes a tolerance (a number >= 0)", arg);
    }
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(record, "answer");
    if (!a) return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer' is missing", where);
    double v;
    if (cJSON_IsNumber(a)) {
        v = a->valuedouble;
    } else if (cJSON_IsString(a)) {
        char qb[ESFT_QUOTE_MAX];
        size_t len = strlen(a->valuestring);
        if (!esft_numeric_extract(a->valuestring, len, &v))
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer' ('%s') holds no number", where,
                             esft_quote(a->valuestring, len, qb, sizeof qb));
    } else {
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'answer' must be a number or a string", where);
    }
    numeric_item *d = malloc(sizeof *d);
    char text[40];
    snprintf(text, sizeof text, "%.15g", v);
    if (!d || !(*target = strdup(text))) {
        free(d);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    }
    *d = (numeric_item){v, tol};
    *data = d;
    return ESFT_OK;
}

static void numeric_score(const void *data, const char *target, const char *response, size_t len,
                          esft_score *out) {
    (void)target;
    const numeric_item *d = data;
    const char *at;
    size_t n;
    bool tagged = esft_answer_region(response, len, &at, &n);
    double v = 0;
    esft_number_form form = esft_numeric_extract(at, n, &v);
    double format = form == ESFT_NUMBER_MARKED || (tagged && form != ESFT_NUMBER_NONE);
    double answer = form != ESFT_NUMBER_NONE && fabs(v - d->value) <= d->tolerance * fmax(1.0, fabs(d->value));
    out->reward = 0.1 * format + answer;
    out->parts[0] = format;
    out->parts[1] = answer;
    out->correct = answer == 1.0;
}

const esft_reward esft_reward_numeric = {
    .name = "numeric", .reads = "answer", .arg = "TOLERANCE", .n_parts = 2, .part_names = {"format", "answer"},
    .prepare = numeric_prepare, .score = numeric_score, .free_data = NULL,
};
