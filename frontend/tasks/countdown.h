/* The Countdown task (Qiu et al. 2025, §4.1): reach a target number with an
 * arithmetic expression that uses each given number exactly once.
 *
 * reward = 0.1·format + answer (DESIGN §5), with the paper's reference code
 * (countdown_task.py) as the exact definition:
 *   format, judged on "<think>" + response: 1.0 when that string matches
 *     re.match(r"^<think>.*?</think>\n<answer>.*?</answer>$", s, re.DOTALL),
 *     else 0.1 if a <think>…</think> occurs plus 0.5 if an <answer>…</answer>
 *     occurs. As in Python (and PCRE2), `$` also matches before one final
 *     "\n", so a response ending in "</answer>\n" keeps full format.
 *   answer: 1.0 iff the content of the last <answer>…</answer> is non-empty,
 *     matches ^[0-9+\-*\/() ]+$ (again with Python's `$`: one final "\n" may
 *     follow), its digit runs are exactly the given multiset of numbers, and
 *     it evaluates to within (strictly less than) 1e-5 of the target.
 * Evaluation is a recursive-descent parser with the semantics Python's eval
 * gives these characters: + - * / (true division), // (floor division),
 * ** (power, right-associative, binding tighter than a unary minus on its
 * left), unary + and -, parentheses; a decimal literal with a leading zero
 * (other than all zeros) is a syntax error; ints stay exact (128-bit) until a
 * division; division by zero, a complex or overflowing power, a non-finite
 * value and any syntax error score 0. Where Python would hold an int beyond
 * 128 bits this falls back to double arithmetic (only reachable with **, or
 * with products of more than 16 numbers of 99). */
#ifndef ESFT_COUNTDOWN_H
#define ESFT_COUNTDOWN_H

#include <stddef.h>
#include <stdint.h>

#include "status.h"
#include "task.h"

#define ESFT_COUNTDOWN_MAX_NUMBERS 16

/* The task-private data of a countdown item (esft_task_item.data). */
typedef struct esft_countdown_item {
    int n_numbers;
    int64_t numbers[ESFT_COUNTDOWN_MAX_NUMBERS];
    double target;
} esft_countdown_item;

/* Format reward (0, 0.1, 0.5, 0.6 or 1) of a response; the "<think>" the
 * prompt ends with is prepended as in the reference. */
double esft_countdown_format_reward(const char *response, size_t len);

/* Answer reward (0 or 1) of a response. */
double esft_countdown_answer_reward(const char *response, size_t len, const int64_t *numbers,
                                    int n_numbers, double target);

/* Evaluates an expression over the characters above (spaces allowed, one
 * final "\n" allowed). ESFT_ERR_INVALID_ARG with a message on a syntax error,
 * division by zero, or a result Python's float() would refuse. */
esft_status esft_countdown_eval(const char *expr, size_t len, double *value, esft_err *err);

/* The prompt the paper's data set uses for these numbers and target: numbers
 * printed as numpy prints an int array ("[83 78  1 39]"). Caller frees. */
char *esft_countdown_prompt(const int64_t *numbers, int n_numbers, const char *target);

/* Generates n solvable problems as a JSON array in the data-set format
 * ({id, context, numbers, target, solution}); numbers in 1..99, between
 * min_numbers and max_numbers of them (1..16), the target an integer in
 * 10..100 reached by a random expression tree over all the numbers with
 * + - * and exact division. Deterministic in seed. Caller frees *json_out. */
esft_status esft_countdown_generate(int n, uint64_t seed, int min_numbers, int max_numbers,
                                    char **json_out, esft_err *err);

#endif
