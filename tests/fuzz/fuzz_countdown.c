/* Fuzzes the Countdown reward on a response: the format reward, the answer
 * reward (answer extraction, character check, number multiset, expression
 * evaluation) and the evaluator alone.
 *
 * Both rewards are checked against the reference's definition, evaluated
 * with PCRE2 on the literal regexes (countdown.h):
 *   format: re.match(r"^<think>.*?</think>\n<answer>.*?</answer>$", s) ...
 *   answer: re.findall(r"<answer>(.*?)</answer>", r)[-1] ...
 *
 * Input: the response, with fixed numbers [3, 4, 5] and target 35; or, when
 * it starts with '#', a first line "#n1 n2 ...=target" giving them. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <math.h>
#include <pcre2.h>
#include <stdbool.h>

#include "countdown.h"
#include "fuzz_harness.h"

enum { RE_FULL, RE_THINK, RE_ANSWER, RE_CONTENT, RE_CHARSET, RE_DIGITS, N_RE };
static const char *const re_src[N_RE] = {
    "^<think>.*?</think>\\n<answer>.*?</answer>$",
    "<think>.*?</think>",
    "<answer>.*?</answer>",
    "<answer>(.*?)</answer>",
    "^[0-9+\\-*\\/() ]+$",
    "[0-9]+", /* \d on bytes; the charset check has already admitted only ASCII */
};
static pcre2_code *g_re[N_RE];
static pcre2_match_data *g_md;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    for (int i = 0; i < N_RE; i++) {
        int ec;
        PCRE2_SIZE eo;
        g_re[i] = pcre2_compile((PCRE2_SPTR)re_src[i], PCRE2_ZERO_TERMINATED, PCRE2_DOTALL, &ec, &eo, NULL);
        if (!g_re[i]) {
            fprintf(stderr, "fuzz_countdown: cannot compile regex %d\n", i);
            exit(1);
        }
    }
    g_md = pcre2_match_data_create(4, NULL);
    if (!g_md) exit(1);
    return 0;
}

/* Matches regex r in s[0..n) from byte `from`; true and [*a, *b) = group
 * `group` on a match. */
static bool match(int r, const char *s, size_t n, size_t from, int group, size_t *a, size_t *b) {
    int rc = pcre2_match(g_re[r], (PCRE2_SPTR)s, n, from, 0, g_md, NULL);
    FUZZ_REQUIRE(rc >= 0 || rc == PCRE2_ERROR_NOMATCH, "pcre2_match: %d", rc);
    if (rc < 0) return false;
    PCRE2_SIZE *ov = pcre2_get_ovector_pointer(g_md);
    if (a) *a = ov[2 * group];
    if (b) *b = ov[2 * group + 1];
    return true;
}

static double reference_format(const char *r, size_t n) {
    /* the reference prepends "<think>" to the response */
    char *s = malloc(n + 8);
    FUZZ_REQUIRE(s != NULL, "out of memory");
    memcpy(s, "<think>", 7);
    memcpy(s + 7, r, n);
    double f = 0.0;
    if (match(RE_FULL, s, n + 7, 0, 0, NULL, NULL)) {
        f = 1.0;
    } else {
        if (match(RE_THINK, s, n + 7, 0, 0, NULL, NULL)) f += 0.1;
        if (match(RE_ANSWER, s, n + 7, 0, 0, NULL, NULL)) f += 0.5;
    }
    free(s);
    return f;
}

static double reference_answer(const char *r, size_t n, const int64_t *numbers, int n_numbers,
                               double target) {
    size_t from = 0, a, b, c0 = 0, c1 = 0;
    bool found = false;
    while (from <= n && match(RE_CONTENT, r, n, from, 1, &a, &b)) { /* findall(...)[-1] */
        found = true;
        c0 = a, c1 = b;
        from = b + 9;
    }
    if (!found || !match(RE_CHARSET, r + c0, c1 - c0, 0, 0, NULL, NULL)) return 0.0;
    /* the digit runs must cross off the given numbers one for one */
    bool taken[ESFT_COUNTDOWN_MAX_NUMBERS] = {false};
    int n_used = 0;
    for (from = c0; match(RE_DIGITS, r, c1, from, 0, &a, &b); from = b) {
        while (a + 1 < b && r[a] == '0') a++; /* int("007") is 7 */
        uint64_t v = 0;
        for (size_t k = a; k < b && v <= INT64_MAX; k++)
            v = b - a > 19 ? UINT64_MAX : v * 10 + (uint64_t)(r[k] - '0');
        int k = 0;
        while (k < n_numbers && (taken[k] || (uint64_t)numbers[k] != v)) k++;
        if (k == n_numbers) return 0.0;
        taken[k] = true;
        n_used++;
    }
    double v;
    return n_used == n_numbers && esft_countdown_eval(r + c0, c1 - c0, &v, NULL) == ESFT_OK &&
                   fabs(v - target) < 1e-5
               ? 1.0
               : 0.0;
}

/* "#n1 n2 ...=target\n": false when the header is malformed. */
static bool parse_header(const char *s, size_t n, size_t *used, int64_t *numbers, int *n_numbers,
                         double *target) {
    const char *nl = memchr(s, '\n', n);
    if (!nl || nl - s > 200) return false;
    char line[256];
    memcpy(line, s + 1, (size_t)(nl - s - 1));
    line[nl - s - 1] = '\0';
    char *eq = strchr(line, '='), *p = line, *end;
    if (!eq) return false;
    *eq = '\0';
    *n_numbers = 0;
    for (;;) {
        while (*p == ' ') p++;
        if (!*p) break;
        long long v = strtoll(p, &end, 10);
        if (end == p || v < 0 || *n_numbers == ESFT_COUNTDOWN_MAX_NUMBERS) return false;
        numbers[(*n_numbers)++] = v;
        p = end;
    }
    *target = strtod(eq + 1, &end);
    *used = (size_t)(nl - s) + 1;
    return *n_numbers > 0 && end != eq + 1 && isfinite(*target);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const char *r = (const char *)data;
    size_t n = size, skip = 0;
    int64_t numbers[ESFT_COUNTDOWN_MAX_NUMBERS] = {3, 4, 5};
    int n_numbers = 3;
    double target = 35.0;
    if (n > 0 && r[0] == '#' && !parse_header(r, n, &skip, numbers, &n_numbers, &target)) return 0;
    r += skip, n -= skip;

    double f = esft_countdown_format_reward(r, n), fr = reference_format(r, n);
    FUZZ_REQUIRE(f == fr, "format reward %g, reference %g", f, fr);
    double a = esft_countdown_answer_reward(r, n, numbers, n_numbers, target);
    double ar = reference_answer(r, n, numbers, n_numbers, target);
    FUZZ_REQUIRE(a == ar, "answer reward %g, reference %g", a, ar);

    double v;
    esft_err err;
    if (esft_countdown_eval(r, n, &v, &err) == ESFT_OK)
        FUZZ_REQUIRE(isfinite(v), "non-finite value %g accepted", v);
    else
        fuzz_require_one_line(err.msg);
    return 0;
}
