/* The Countdown task: data set loading, the paper's reward, an expression
 * evaluator with Python's semantics for the characters the reward admits,
 * and a problem generator. See countdown.h for the exact definitions. */
#include "countdown.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"
#include "task_internal.h"

/* Rewards must be bit-identical to Python's: no fused multiply-adds. */
#if defined(__clang__)
#pragma STDC FP_CONTRACT OFF
#elif defined(__GNUC__)
#pragma GCC optimize("fp-contract=off")
#endif

/* ---------------------------------------------------------------------- */
/* Searching a response (length-delimited, may hold NUL bytes).            */

#define NOT_FOUND ((size_t)-1)

static size_t find_from(const char *s, size_t n, size_t from, const char *needle) {
    size_t m = strlen(needle);
    if (from > n || n - from < m) return NOT_FOUND;
    for (size_t i = from; i + m <= n; i++)
        if (s[i] == needle[0] && memcmp(s + i, needle, m) == 0) return i;
    return NOT_FOUND;
}

static bool ends_with_at(const char *s, size_t n, size_t at, const char *needle) {
    size_t m = strlen(needle);
    return at + m <= n && memcmp(s + at, needle, m) == 0;
}

/* The reference judges "<think>" + response against
 *   full:   ^<think>.*?</think>\n<answer>.*?</answer>$   (re.match, DOTALL)
 *   think:  <think>.*?</think>                            (re.search)
 *   answer: <answer>.*?</answer>                          (re.search)
 * With the prefix "<think>" fixed, these reduce to statements about the
 * response r alone:
 *   full   <=> r has an occurrence of "</think>\n<answer>" at p, and r ends
 *              in "</answer>" or "</answer>\n" at q >= p + 18 (taking the
 *              first p is enough; Python's `$` matches before a final "\n");
 *   think  <=> r contains "</think>" (the prefix supplies the "<think>");
 *   answer <=> r contains "<answer>" followed later by "</answer>". */
double esft_countdown_format_reward(const char *r, size_t n) {
    static const char sep[] = "</think>\n<answer>";
    static const char close_tag[] = "</answer>";
    const size_t sep_len = sizeof sep - 1, close_len = sizeof close_tag - 1;
    size_t p = find_from(r, n, 0, sep);
    if (p != NOT_FOUND) {
        size_t q = NOT_FOUND;
        if (n >= close_len && ends_with_at(r, n, n - close_len, close_tag))
            q = n - close_len;
        else if (n >= close_len + 1 && r[n - 1] == '\n' &&
                 ends_with_at(r, n - 1, n - 1 - close_len, close_tag))
            q = n - 1 - close_len;
        if (q != NOT_FOUND && q >= p + sep_len) return 1.0;
    }
    double f = 0.0;
    if (find_from(r, n, 0, "</think>") != NOT_FOUND) f += 0.1;
    size_t a = find_from(r, n, 0, "<answer>");
    if (a != NOT_FOUND && find_from(r, n, a + 8, "</answer>") != NOT_FOUND) f += 0.5;
    return f;
}

/* ---------------------------------------------------------------------- */
/* Expression evaluation with Python's semantics.                          */

/* Python ints are exact; 128 bits hold any sum or product of 16 numbers
 * below 10^2.3, beyond that (and for powers) double is the fallback. */
typedef __int128 pyint;
#define PYINT_MIN ((pyint)((unsigned __int128)1 << 127))

typedef struct pyval {
    bool is_int; /* Python int (exact) or float */
    pyint i;
    double d;
} pyval;

typedef struct parser {
    const char *s;
    size_t n, pos;
    int depth, parens;
    esft_err *err;
    bool failed;
} parser;

enum tok { T_END, T_NUM, T_PLUS, T_MINUS, T_STAR, T_SLASH, T_DSLASH, T_DSTAR, T_LP, T_RP, T_BAD };

#define MAX_DEPTH 1000 /* recursion guard */
#define MAX_PARENS 200 /* CPython's tokenizer refuses deeper parenthesis nesting */

static pyval pv_int(pyint i) { return (pyval){true, i, 0.0}; }
static pyval pv_float(double d) { return (pyval){false, 0, d}; }
static double pv_double(pyval v) { return v.is_int ? (double)v.i : v.d; }

static bool fail(parser *p, const char *what) {
    if (!p->failed) {
        p->failed = true;
        esft_errf(p->err, ESFT_ERR_INVALID_ARG, "%s at byte %zu", what, p->pos);
    }
    return false;
}

static void skip_spaces(parser *p) {
    while (p->pos < p->n && p->s[p->pos] == ' ') p->pos++;
}

static enum tok peek(parser *p, size_t *tok_len) {
    skip_spaces(p);
    *tok_len = 1;
    if (p->pos >= p->n) return T_END;
    char c = p->s[p->pos], d = p->pos + 1 < p->n ? p->s[p->pos + 1] : '\0';
    switch (c) {
    case '+': return T_PLUS;
    case '-': return T_MINUS;
    case '(': return T_LP;
    case ')': return T_RP;
    case '*':
        if (d == '*') {
            *tok_len = 2;
            return T_DSTAR;
        }
        return T_STAR;
    case '/':
        if (d == '/') {
            *tok_len = 2;
            return T_DSLASH;
        }
        return T_SLASH;
    default:
        if (c >= '0' && c <= '9') return T_NUM;
        return T_BAD;
    }
}

static bool parse_arith(parser *p, pyval *out);
static bool parse_factor(parser *p, pyval *out);

/* Python float division and floor division (CPython's float_div_mod). */
static double py_floordiv(double a, double b) {
    double mod = fmod(a, b);
    double div = (a - mod) / b;
    if (mod != 0.0) {
        if ((b < 0) != (mod < 0)) div -= 1.0;
    }
    if (div != 0.0) {
        double fl = floor(div);
        if (div - fl > 0.5) fl += 1.0;
        return fl;
    }
    return copysign(0.0, a / b);
}

static bool is_zero(pyval v) { return v.is_int ? v.i == 0 : v.d == 0.0; }

static bool float_pow(parser *p, double a, double b, pyval *out) {
    if (b == 0.0) {
        *out = pv_float(1.0);
        return true;
    }
    if (a == 0.0 && b < 0.0) return fail(p, "zero raised to a negative power");
    if (a < 0.0 && isfinite(b) && b != floor(b)) return fail(p, "complex result of a power");
    double r = pow(a, b);
    if (isinf(r) && isfinite(a) && isfinite(b)) return fail(p, "power overflows a float");
    *out = pv_float(r);
    return true;
}

/* a OP b for OP in + - * / // **, ints exact where Python's are. */
static bool binop(parser *p, enum tok op, pyval a, pyval b, pyval *out) {
    bool ints = a.is_int && b.is_int;
    pyint r;
    switch (op) {
    case T_PLUS:
        if (ints && !__builtin_add_overflow(a.i, b.i, &r)) {
            *out = pv_int(r);
        } else {
            *out = pv_float(pv_double(a) + pv_double(b));
        }
        return true;
    case T_MINUS:
        if (ints && !__builtin_sub_overflow(a.i, b.i, &r)) {
            *out = pv_int(r);
        } else {
            *out = pv_float(pv_double(a) - pv_double(b));
        }
        return true;
    case T_STAR:
        if (ints && !__builtin_mul_overflow(a.i, b.i, &r)) {
            *out = pv_int(r);
        } else {
            *out = pv_float(pv_double(a) * pv_double(b));
        }
        return true;
    case T_SLASH:
        if (is_zero(b)) return fail(p, "division by zero");
        *out = pv_float(pv_double(a) / pv_double(b));
        return true;
    case T_DSLASH:
        if (is_zero(b)) return fail(p, "division by zero");
        if (ints && !(a.i == PYINT_MIN && b.i == -1)) {
            pyint q = a.i / b.i;
            if ((a.i % b.i != 0) && ((a.i < 0) != (b.i < 0))) q--;
            *out = pv_int(q);
        } else {
            *out = pv_float(py_floordiv(pv_double(a), pv_double(b)));
        }
        return true;
    case T_DSTAR:
        if (ints && b.i >= 0) {
            pyint res = 1, base = a.i, e = b.i;
            bool ovf = false;
            while (e && !ovf) {
                if (e & 1) ovf |= __builtin_mul_overflow(res, base, &res);
                e >>= 1;
                if (e && !ovf) ovf |= __builtin_mul_overflow(base, base, &base);
            }
            if (!ovf) {
                *out = pv_int(res);
                return true;
            }
            /* Python would hold an exact bigint here; double is the fallback. */
            *out = pv_float(pow((double)a.i, (double)b.i));
            return true;
        }
        return float_pow(p, pv_double(a), pv_double(b), out);
    default:
        return fail(p, "internal: bad operator");
    }
}

static bool parse_number(parser *p, pyval *out) {
    size_t start = p->pos, end = start;
    while (end < p->n && p->s[end] >= '0' && p->s[end] <= '9') end++;
    if (p->s[start] == '0') {
        for (size_t k = start; k < end; k++)
            if (p->s[k] != '0') return fail(p, "leading zeros in a decimal literal");
    }
    pyint v = 0;
    bool ovf = false;
    for (size_t k = start; k < end && !ovf; k++)
        ovf = __builtin_mul_overflow(v, (pyint)10, &v) || __builtin_add_overflow(v, (pyint)(p->s[k] - '0'), &v);
    if (!ovf) {
        *out = pv_int(v);
    } else {
        char buf[512];
        size_t len = end - start < sizeof buf - 1 ? end - start : sizeof buf - 1;
        memcpy(buf, p->s + start, len);
        buf[len] = '\0';
        *out = pv_float(strtod(buf, NULL)); /* bigint in Python */
    }
    p->pos = end;
    return true;
}

/* atom := NUMBER | '(' arith ')' */
static bool parse_atom(parser *p, pyval *out) {
    size_t len;
    enum tok t = peek(p, &len);
    if (t == T_NUM) return parse_number(p, out);
    if (t != T_LP) return fail(p, t == T_END ? "unexpected end of expression" : "syntax error");
    if (p->parens >= MAX_PARENS) return fail(p, "too many nested parentheses");
    p->parens++;
    p->pos += len;
    if (!parse_arith(p, out)) return false;
    if (peek(p, &len) != T_RP) return fail(p, "expected ')'");
    p->pos += len;
    p->parens--;
    return true;
}

/* power := atom ['**' factor] */
static bool parse_power(parser *p, pyval *out) {
    pyval base;
    if (!parse_atom(p, &base)) return false;
    size_t len;
    if (peek(p, &len) != T_DSTAR) {
        *out = base;
        return true;
    }
    p->pos += len;
    pyval e;
    if (!parse_factor(p, &e)) return false;
    return binop(p, T_DSTAR, base, e, out);
}

/* factor := ('+' | '-') factor | power */
static bool parse_factor(parser *p, pyval *out) {
    if (++p->depth > MAX_DEPTH) return fail(p, "expression nests too deeply");
    size_t len;
    enum tok t = peek(p, &len);
    bool ok;
    if (t == T_PLUS || t == T_MINUS) {
        p->pos += len;
        pyval v;
        ok = parse_factor(p, &v);
        if (ok) {
            if (t == T_PLUS)
                *out = v;
            else if (v.is_int && v.i != PYINT_MIN)
                *out = pv_int(-v.i);
            else
                *out = pv_float(-pv_double(v));
        }
    } else {
        ok = parse_power(p, out);
    }
    p->depth--;
    return ok;
}

/* term := factor (('*' | '/' | '//') factor)* */
static bool parse_term(parser *p, pyval *out) {
    if (!parse_factor(p, out)) return false;
    for (;;) {
        size_t len;
        enum tok t = peek(p, &len);
        if (t != T_STAR && t != T_SLASH && t != T_DSLASH) return true;
        p->pos += len;
        pyval rhs;
        if (!parse_factor(p, &rhs)) return false;
        if (!binop(p, t, *out, rhs, out)) return false;
    }
}

/* arith := term (('+' | '-') term)* */
static bool parse_arith(parser *p, pyval *out) {
    if (++p->depth > MAX_DEPTH) return fail(p, "expression nests too deeply");
    bool ok = parse_term(p, out);
    while (ok) {
        size_t len;
        enum tok t = peek(p, &len);
        if (t != T_PLUS && t != T_MINUS) break;
        p->pos += len;
        pyval rhs;
        ok = parse_term(p, &rhs) && binop(p, t, *out, rhs, out);
    }
    p->depth--;
    return ok;
}

esft_status esft_countdown_eval(const char *expr, size_t len, double *value, esft_err *err) {
    if (len > 0 && expr[len - 1] == '\n') len--; /* Python's eval ignores a final newline */
    parser p = {.s = expr, .n = len, .err = err};
    pyval v;
    if (!parse_arith(&p, &v)) return ESFT_ERR_INVALID_ARG;
    size_t tl;
    enum tok t = peek(&p, &tl);
    if (t != T_END) {
        fail(&p, t == T_RP ? "unmatched ')'" : "syntax error");
        return ESFT_ERR_INVALID_ARG;
    }
    double d = pv_double(v);
    if (!isfinite(d)) {
        /* Python's float() refuses an int this large; a float inf or nan
         * cannot lie within 1e-5 of a target either. */
        esft_errf(err, ESFT_ERR_INVALID_ARG, "the value is not a finite number");
        return ESFT_ERR_INVALID_ARG;
    }
    *value = d;
    return ESFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Answer reward.                                                          */

static bool in_charset(char c) {
    return (c >= '0' && c <= '9') || c == '+' || c == '-' || c == '*' || c == '/' || c == '(' ||
           c == ')' || c == ' ';
}

static int cmp_i64(const void *a, const void *b) {
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

double esft_countdown_answer_reward(const char *r, size_t n, const int64_t *numbers, int n_numbers,
                                    double target) {
    /* re.findall(r"<answer>(.*?)</answer>", r, re.DOTALL)[-1] */
    size_t pos = 0, c0 = NOT_FOUND, c1 = 0;
    for (;;) {
        size_t a = find_from(r, n, pos, "<answer>");
        if (a == NOT_FOUND) break;
        size_t b = find_from(r, n, a + 8, "</answer>");
        if (b == NOT_FOUND) break;
        c0 = a + 8;
        c1 = b;
        pos = b + 9;
    }
    if (c0 == NOT_FOUND || c1 == c0) return 0.0;
    const char *c = r + c0;
    size_t m = c1 - c0;

    /* re.match(r"^[0-9+\-*\/() ]+$", c): `$` may sit before one final "\n". */
    size_t body = (c[m - 1] == '\n') ? m - 1 : m;
    if (body == 0) return 0.0;
    for (size_t k = 0; k < body; k++)
        if (!in_charset(c[k])) return 0.0;

    /* sorted(int(d) for d in re.findall(r"\d+", c)) == sorted(numbers) */
    if (n_numbers < 1 || n_numbers > ESFT_COUNTDOWN_MAX_NUMBERS) return 0.0;
    int64_t used[ESFT_COUNTDOWN_MAX_NUMBERS], want[ESFT_COUNTDOWN_MAX_NUMBERS];
    int n_used = 0;
    for (size_t k = 0; k < body;) {
        if (c[k] < '0' || c[k] > '9') {
            k++;
            continue;
        }
        int64_t v = 0;
        bool ovf = false;
        for (; k < body && c[k] >= '0' && c[k] <= '9'; k++)
            ovf |= __builtin_mul_overflow(v, (int64_t)10, &v) ||
                   __builtin_add_overflow(v, (int64_t)(c[k] - '0'), &v);
        if (ovf || n_used == n_numbers) return 0.0; /* too big to be a given number, or too many */
        used[n_used++] = v;
    }
    if (n_used != n_numbers) return 0.0;
    memcpy(want, numbers, (size_t)n_numbers * sizeof *want);
    qsort(used, (size_t)n_used, sizeof *used, cmp_i64);
    qsort(want, (size_t)n_numbers, sizeof *want, cmp_i64);
    if (memcmp(used, want, (size_t)n_numbers * sizeof *want) != 0) return 0.0;

    /* abs(float(eval(c)) - float(target)) < 1e-5 */
    double v;
    if (esft_countdown_eval(c, m, &v, NULL) != ESFT_OK) return 0.0;
    return fabs(v - target) < 1e-5 ? 1.0 : 0.0;
}

/* ---------------------------------------------------------------------- */
/* The task.                                                               */

static void countdown_score(const void *data, const char *target, const char *response, size_t len,
                            esft_score *out) {
    (void)target;
    const esft_countdown_item *d = data;
    double f = esft_countdown_format_reward(response, len);
    double a = esft_countdown_answer_reward(response, len, d->numbers, d->n_numbers, d->target);
    out->reward = f * 0.1 + a;
    out->parts[0] = f;
    out->parts[1] = a;
    out->correct = a == 1.0;
}

/* Python's float(): surrounding whitespace, decimal or exponent notation,
 * inf/nan spelled out (refused here: the target must be finite). */
static bool parse_target(const char *s, double *out) {
    while (isspace((unsigned char)*s)) s++;
    if (!*s || strpbrk(s, "xX")) return false; /* strtod takes hex, float() does not */
    char *end;
    double v = strtod(s, &end);
    if (end == s) return false;
    while (isspace((unsigned char)*end)) end++;
    if (*end || !isfinite(v)) return false;
    *out = v;
    return true;
}

/* The reward's fields of a record: numbers and target. */
static esft_status countdown_prepare(const cJSON *it, const char *where, const char *arg, void **data,
                                     char **target_out, esft_err *err) {
    (void)arg;
    const char *target;
    esft_status st;
    if ((st = esft_task_get_string(where, it, "target", true, false, &target, err))) return st;
    const cJSON *nums = cJSON_GetObjectItemCaseSensitive(it, "numbers");
    if (!nums) return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'numbers' is missing", where);
    if (!cJSON_IsArray(nums))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'numbers' must be an array of integers", where);
    int k = cJSON_GetArraySize(nums);
    if (k == 0) return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'numbers' is empty", where);
    if (k > ESFT_COUNTDOWN_MAX_NUMBERS)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'numbers' has %d entries (at most %d)", where, k,
                         ESFT_COUNTDOWN_MAX_NUMBERS);
    esft_countdown_item *d = calloc(1, sizeof *d);
    if (!d) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    int j = 0;
    const cJSON *e;
    cJSON_ArrayForEach(e, nums) {
        double v = cJSON_IsNumber(e) ? e->valuedouble : -1.0;
        if (!cJSON_IsNumber(e) || !(v >= 0.0) || v > 9007199254740992.0 || v != floor(v)) {
            free(d);
            return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'numbers': entry %d is not a non-negative integer",
                             where, j);
        }
        d->numbers[j++] = (int64_t)v;
    }
    d->n_numbers = k;
    if (!parse_target(target, &d->target)) {
        char qb[ESFT_QUOTE_MAX];
        free(d);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: field 'target' ('%s') is not a finite number", where,
                         esft_quote(target, strlen(target), qb, sizeof qb));
    }
    *data = d;
    if (!(*target_out = strdup(target))) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return ESFT_OK;
}

const esft_reward esft_reward_countdown = {
    .name = "countdown", .reads = "numbers, target", .n_parts = 2, .part_names = {"format", "answer"},
    .prepare = countdown_prepare, .score = countdown_score, .free_data = NULL,
};

static esft_status load_item(const char *path, int i, const cJSON *it, esft_task_item *item, esft_err *err) {
    char where[600];
    snprintf(where, sizeof where, "%s: item %d", path, i);
    if (!cJSON_IsObject(it)) return esft_errf(err, ESFT_ERR_FORMAT, "%s: expected a JSON object", where);
    const char *context, *solution;
    esft_status st;
    if ((st = esft_task_get_string(where, it, "context", true, false, &context, err))) return st;
    if ((st = esft_task_get_string(where, it, "solution", false, true, &solution, err))) return st;
    if ((st = countdown_prepare(it, where, NULL, &item->data, &item->target, err))) return st;
    if (!(item->prompt = strdup(context))) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", where);
    return ESFT_OK;
}

esft_status esft_countdown_load(const char *path, esft_task **out, esft_err *err) {
    *out = NULL;
    if (!path)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "task 'countdown' needs a data file (a JSON array of {context, numbers, target}; "
                         "'esft data countdown' generates one)");
    cJSON *root;
    esft_status st = esft_task_read_json_array(path, &root, err);
    if (st) return st;
    int n = cJSON_GetArraySize(root);
    esft_task *t = esft_task_alloc("countdown", n);
    if (!t) {
        cJSON_Delete(root);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "%s: out of memory", path);
    }
    esft_task_use_reward(t, &esft_reward_countdown);
    t->default_max_new = 1024;
    t->chat = false;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if ((st = load_item(path, i, it, &t->items[i], err))) break;
        i++;
    }
    cJSON_Delete(root);
    if (st) {
        esft_task_free(t);
        return st;
    }
    *out = t;
    return ESFT_OK;
}

/* ---------------------------------------------------------------------- */
/* Prompt and generator.                                                   */

static const char prompt_head[] =
    "You are a helpful assistant. You first think about the reasoning process in your mind and then "
    "provide the user with the answer.Using the numbers [";
static const char prompt_mid[] = "], create an equation that equals ";
static const char prompt_tail[] =
    ". You can use basic arithmetic operations (+, -, *, /) and each number can only be used once. "
    "Show your work in <think> </think> tags. And return the final answer in <answer> </answer> tags, "
    "for example <answer> (1 + 2) / 3 </answer>.Let me solve this step by step.\n<think>";

char *esft_countdown_prompt(const int64_t *numbers, int n_numbers, const char *target) {
    if (n_numbers < 1 || n_numbers > ESFT_COUNTDOWN_MAX_NUMBERS || !target) return NULL;
    /* numpy prints an int array right-aligned to the widest element. */
    int width = 1;
    char digits[32];
    for (int i = 0; i < n_numbers; i++) {
        int w = snprintf(digits, sizeof digits, "%lld", (long long)numbers[i]);
        if (w > width) width = w;
    }
    size_t cap = sizeof prompt_head + sizeof prompt_mid + sizeof prompt_tail + strlen(target) +
                 (size_t)n_numbers * (size_t)(width + 1) + 8;
    char *s = malloc(cap);
    if (!s) return NULL;
    size_t len = (size_t)snprintf(s, cap, "%s", prompt_head);
    for (int i = 0; i < n_numbers; i++)
        len += (size_t)snprintf(s + len, cap - len, "%s%*lld", i ? " " : "", width, (long long)numbers[i]);
    snprintf(s + len, cap - len, "%s%s%s", prompt_mid, target, prompt_tail);
    return s;
}

#define GEN_MIN_NUMBER 1
#define GEN_MAX_NUMBER 99
#define GEN_MIN_TARGET 10
#define GEN_MAX_TARGET 100
#define GEN_EXPR_CAP 512

/* A random fully parenthesised expression over leaves[0..k) in that order:
 * a random split, then a random operator among those that keep the value an
 * exact int64 (division only when exact). False when no operator fits. */
static bool random_tree(uint64_t *r, const int64_t *leaves, int k, int64_t *value, char *text) {
    if (k == 1) {
        *value = leaves[0];
        snprintf(text, GEN_EXPR_CAP, "%lld", (long long)leaves[0]);
        return true;
    }
    int split = 1 + (int)esft_splitmix64_below(r, (uint64_t)(k - 1));
    int64_t a, b;
    char ta[GEN_EXPR_CAP], tb[GEN_EXPR_CAP];
    if (!random_tree(r, leaves, split, &a, ta) || !random_tree(r, leaves + split, k - split, &b, tb))
        return false;
    char ops[4];
    int64_t vals[4];
    int n_ops = 0;
    int64_t v;
    if (!__builtin_add_overflow(a, b, &v)) ops[n_ops] = '+', vals[n_ops++] = v;
    if (!__builtin_sub_overflow(a, b, &v)) ops[n_ops] = '-', vals[n_ops++] = v;
    if (!__builtin_mul_overflow(a, b, &v)) ops[n_ops] = '*', vals[n_ops++] = v;
    if (b != 0 && !(a == INT64_MIN && b == -1) && a % b == 0) ops[n_ops] = '/', vals[n_ops++] = a / b;
    if (n_ops == 0) return false;
    int pick = (int)esft_splitmix64_below(r, (uint64_t)n_ops);
    *value = vals[pick];
    size_t la = strlen(ta), lb = strlen(tb);
    if (la + lb + 6 > GEN_EXPR_CAP) return false;
    text[0] = '(';
    memcpy(text + 1, ta, la);
    text[la + 1] = ' ';
    text[la + 2] = ops[pick];
    text[la + 3] = ' ';
    memcpy(text + la + 4, tb, lb);
    text[la + lb + 4] = ')';
    text[la + lb + 5] = '\0';
    return true;
}

esft_status esft_countdown_generate(int n, uint64_t seed, int min_numbers, int max_numbers,
                                    char **json_out, esft_err *err) {
    if (!json_out) return esft_errf(err, ESFT_ERR_INVALID_ARG, "countdown generator: json_out is NULL");
    *json_out = NULL;
    if (n < 1) return esft_errf(err, ESFT_ERR_INVALID_ARG, "countdown generator: n = %d (must be >= 1)", n);
    if (min_numbers < 1 || max_numbers > ESFT_COUNTDOWN_MAX_NUMBERS || min_numbers > max_numbers)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "countdown generator: numbers per problem %d-%d (must lie within 1-%d, min <= max)",
                         min_numbers, max_numbers, ESFT_COUNTDOWN_MAX_NUMBERS);
    uint64_t rng = seed; /* splitmix64 state */
    cJSON *root = cJSON_CreateArray();
    if (!root) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "countdown generator: out of memory");
    for (int id = 0; id < n; id++) {
        int k = min_numbers + (int)esft_splitmix64_below(&rng, (uint64_t)(max_numbers - min_numbers + 1));
        int64_t nums[ESFT_COUNTDOWN_MAX_NUMBERS], value = 0;
        char expr[GEN_EXPR_CAP];
        bool found = false;
        for (int attempt = 0; attempt < 100000 && !found; attempt++) {
            for (int j = 0; j < k; j++)
                nums[j] = GEN_MIN_NUMBER + (int64_t)esft_splitmix64_below(&rng, GEN_MAX_NUMBER - GEN_MIN_NUMBER + 1);
            found = random_tree(&rng, nums, k, &value, expr) && value >= GEN_MIN_TARGET &&
                    value <= GEN_MAX_TARGET;
        }
        if (!found) {
            cJSON_Delete(root);
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "countdown generator: no solvable problem with %d numbers found", k);
        }
        /* The numbers are listed in a shuffled order, not the expression's. */
        int64_t shown[ESFT_COUNTDOWN_MAX_NUMBERS];
        memcpy(shown, nums, sizeof shown);
        for (int j = k - 1; j > 0; j--) {
            int s = (int)esft_splitmix64_below(&rng, (uint64_t)(j + 1));
            int64_t tmp = shown[j];
            shown[j] = shown[s];
            shown[s] = tmp;
        }
        char target[32];
        snprintf(target, sizeof target, "%lld", (long long)value);
        char *context = esft_countdown_prompt(shown, k, target);
        cJSON *o = cJSON_CreateObject();
        cJSON *arr = cJSON_CreateArray();
        bool ok = context && o && arr;
        for (int j = 0; ok && j < k; j++) ok = cJSON_AddItemToArray(arr, cJSON_CreateNumber((double)shown[j]));
        if (ok) {
            ok = cJSON_AddNumberToObject(o, "id", id) && cJSON_AddStringToObject(o, "context", context) &&
                 cJSON_AddItemToObject(o, "numbers", arr);
            if (ok) arr = NULL;
            ok = ok && cJSON_AddStringToObject(o, "target", target) &&
                 cJSON_AddStringToObject(o, "solution", expr) && cJSON_AddItemToArray(root, o);
            if (ok) o = NULL;
        }
        free(context);
        cJSON_Delete(arr);
        cJSON_Delete(o);
        if (!ok) {
            cJSON_Delete(root);
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "countdown generator: out of memory");
        }
    }
    *json_out = cJSON_Print(root);
    cJSON_Delete(root);
    if (!*json_out) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "countdown generator: out of memory");
    return ESFT_OK;
}
