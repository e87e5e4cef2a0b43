/* pass@k, the Wilson interval and the reward command's word splitting,
 * against values worked out by hand (binomials in the comments) and the
 * textbook Wilson intervals (95%: 8/10 -> [0.4902, 0.9433], 0/10 ->
 * [0, 0.2775], 5/10 -> [0.2366, 0.7634], 45/100 -> [0.3561, 0.5476]). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "eval_stats.h"
#include "reward_cmd.h"
#include "testutil.h"

static void test_pass_at_k(void) {
    CHECK_NEAR(esft_pass_at_k(5, 2, 1), 0.4, 1e-12);        /* 1 - C(3,1)/C(5,1) = 1 - 3/5 */
    CHECK_NEAR(esft_pass_at_k(5, 2, 2), 0.7, 1e-12);        /* 1 - C(3,2)/C(5,2) = 1 - 3/10 */
    CHECK_NEAR(esft_pass_at_k(5, 2, 3), 0.9, 1e-12);        /* 1 - C(3,3)/C(5,3) = 1 - 1/10 */
    CHECK(esft_pass_at_k(5, 2, 4) == 1.0);                  /* only 3 wrong: any 4 hold a right one */
    CHECK_NEAR(esft_pass_at_k(10, 3, 5), 11.0 / 12, 1e-12); /* 1 - C(7,5)/C(10,5) = 1 - 21/252 */
    CHECK(esft_pass_at_k(10, 0, 5) == 0.0);
    CHECK(esft_pass_at_k(10, 10, 1) == 1.0);
    CHECK_NEAR(esft_pass_at_k(1000, 1, 1), 0.001, 1e-12);   /* pass@1 is c/n */
    CHECK(isnan(esft_pass_at_k(5, 6, 1)) && isnan(esft_pass_at_k(5, 2, 6)) && isnan(esft_pass_at_k(5, 2, 0)));
    CHECK(isnan(esft_pass_at_k(0, 0, 1)) && isnan(esft_pass_at_k(5, -1, 1)));
    const int correct[] = {0, 2, 5};
    CHECK_NEAR(esft_mean_pass_at_k(correct, 3, 5, 2), (0 + 0.7 + 1) / 3, 1e-12);
    CHECK_NEAR(esft_mean_pass_at_k(correct, 3, 5, 1), (0 + 0.4 + 1) / 3, 1e-12); /* = 7/15 right */
}

static void test_wilson(void) {
    double lo, hi;
    esft_wilson_interval(8, 10, ESFT_Z95, &lo, &hi);
    CHECK_NEAR(lo, 0.4902, 5e-5);
    CHECK_NEAR(hi, 0.9433, 5e-5);
    esft_wilson_interval(0, 10, ESFT_Z95, &lo, &hi);
    CHECK(lo == 0.0);
    CHECK_NEAR(hi, 0.2775, 5e-5);
    esft_wilson_interval(5, 10, ESFT_Z95, &lo, &hi);
    CHECK_NEAR(lo, 0.2366, 5e-5);
    CHECK_NEAR(hi, 0.7634, 5e-5);
    esft_wilson_interval(45, 100, ESFT_Z95, &lo, &hi);
    CHECK_NEAR(lo, 0.3561, 5e-5);
    CHECK_NEAR(hi, 0.5476, 5e-5);
    esft_wilson_interval(1, 1, ESFT_Z95, &lo, &hi); /* 1/1: [z^2/(1+z^2)... ] = [1/(1+z^2), 1] */
    CHECK_NEAR(lo, 1.0 / (1.0 + ESFT_Z95 * ESFT_Z95), 1e-12);
    CHECK(hi == 1.0);
    esft_wilson_interval(0, 0, ESFT_Z95, &lo, &hi);
    CHECK(lo == 0.0 && hi == 1.0);
}

/* splits line and checks the words (NULL-terminated want) and the shell flag */
static void check_split(const char *line, const char *const *want, bool shell) {
    char **argv = NULL;
    bool needs_shell = !shell;
    esft_err err = {{0}};
    esft_status st = esft_command_split(line, &argv, &needs_shell, &err);
    CHECKF(st == ESFT_OK, "%s: %s", line, err.msg);
    if (st) return;
    int i = 0;
    for (; want[i]; i++) CHECKF(argv[i] && strcmp(argv[i], want[i]) == 0, "%s: word %d is '%s'", line, i, argv[i]);
    CHECKF(argv[i] == NULL, "%s: more than %d words", line, i);
    CHECKF(needs_shell == shell, "%s: needs_shell %d", line, needs_shell);
    free(argv);
}

static void test_split(void) {
    check_split("python3 my_reward.py", (const char *[]){"python3", "my_reward.py", NULL}, false);
    check_split("  python3\t -u  x.py ", (const char *[]){"python3", "-u", "x.py", NULL}, false);
    check_split("python3 'my reward.py' \"a \\\"b\\\" c\"", (const char *[]){"python3", "my reward.py", "a \"b\" c", NULL},
                false);
    check_split("a\\ b c''d \"\"", (const char *[]){"a b", "cd", "", NULL}, false);
    check_split("python3 x.py '|' \"<\"", (const char *[]){"python3", "x.py", "|", "<", NULL}, false);
    check_split("python3 x.py | tee log", (const char *[]){"python3", "x.py", "|", "tee", "log", NULL}, true);
    check_split("python3 x.py 2>err", (const char *[]){"python3", "x.py", "2>err", NULL}, true);
    check_split("python3 $HOME/x.py", (const char *[]){"python3", "$HOME/x.py", NULL}, true);
    check_split("python3 \"$HOME/x.py\"", (const char *[]){"python3", "$HOME/x.py", NULL}, true);
    check_split("python3 '$HOME/x.py'", (const char *[]){"python3", "$HOME/x.py", NULL}, false);
    check_split("PYTHONPATH=. python3 x.py", (const char *[]){"PYTHONPATH=.", "python3", "x.py", NULL}, true);
    const char *bad[] = {"", "   ", "python3 'x.py", "python3 \"x.py", "python3 x.py\\"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char **argv = NULL;
        bool sh;
        esft_err err = {{0}};
        CHECKF(esft_command_split(bad[i], &argv, &sh, &err) == ESFT_ERR_INVALID_ARG && argv == NULL, "'%s'", bad[i]);
        CHECKF(strstr(err.msg, "--reward-cmd") != NULL, "'%s': %s", bad[i], err.msg);
    }
}

int main(void) {
    test_pass_at_k();
    test_wilson();
    test_split();
    return TEST_EXIT();
}
