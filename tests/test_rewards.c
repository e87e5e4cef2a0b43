/* The built-in rewards (frontend/tasks/reward.h) on data-set records,
 * through esft_task_open as `esft train --reward NAME` uses them. Every
 * expected value was worked out by hand from the definitions in reward.h;
 * comments give the reasoning for the non-obvious ones. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reward.h"
#include "task.h"
#include "testutil.h"

static char tmp_dir[256];

/* One case: the record's field (JSON text of its value), a response, and
 * the reward, "correct" and parts expected. */
typedef struct rcase {
    const char *value;
    const char *response;
    double reward;
    bool correct;
    double parts[ESFT_TASK_MAX_PARTS];
} rcase;

/* Loads a one-record data set {"prompt":"q", field: value} under reward
 * (with arg) and scores response; false (with the message) when it does
 * not load. */
static bool score_case(const char *reward, const char *arg, const char *field, const char *value,
                       const char *response, esft_score *s, esft_err *err) {
    char path[400];
    snprintf(path, sizeof path, "%s/case.jsonl", tmp_dir);
    FILE *f = fopen(path, "wb");
    if (!f) return false;
    fprintf(f, "{\"prompt\": \"q\", \"%s\": %s}\n", field, value);
    fclose(f);
    esft_task_spec spec = {NULL, reward, arg, 0, NULL, 0, 0};
    esft_task *t = NULL;
    if (esft_task_open(&spec, path, NULL, &t, err)) return false;
    t->score(t, 0, response, strlen(response), s);
    esft_task_free(t);
    return true;
}

static void run_cases(const char *reward, const char *arg, const char *field, const rcase *cases, int n,
                      int n_parts) {
    for (int i = 0; i < n; i++) {
        const rcase *c = &cases[i];
        esft_score s;
        esft_err err = {{0}};
        if (!score_case(reward, arg, field, c->value, c->response, &s, &err)) {
            CHECKF(false, "%s case %d: %s", reward, i, err.msg);
            continue;
        }
        CHECKF(fabs(s.reward - c->reward) < 1e-12 && s.correct == c->correct,
               "%s case %d (%s | %s): reward %g correct %d, want %g %d", reward, i, c->value, c->response, s.reward,
               s.correct, c->reward, c->correct);
        for (int k = 0; k < n_parts; k++)
            CHECKF(s.parts[k] == c->parts[k], "%s case %d: part %d = %g, want %g", reward, i, k, s.parts[k],
                   c->parts[k]);
    }
}

/* A record the reward refuses: the message names the file's line 1 and
 * the field. */
static void refused(const char *reward, const char *arg, const char *field, const char *value, const char *want) {
    esft_score s;
    esft_err err = {{0}};
    bool ok = score_case(reward, arg, field, value, "", &s, &err);
    CHECKF(!ok && strstr(err.msg, want), "%s %s=%s: '%s' (want '%s')", reward, field, value, err.msg, want);
    if (strstr(want, "--reward-arg") == NULL)
        CHECKF(strstr(err.msg, "case.jsonl:1: "), "%s: the error names no line: %s", reward, err.msg);
}

#define N(a) ((int)(sizeof(a) / sizeof((a)[0])))

static void test_exact(void) {
    static const rcase cases[] = {
        {"\"4\"", "4", 1, true, {1}},
        {"\"4\"", " 4 ", 1, true, {1}},
        {"\"4\"", "4.", 1, true, {1}},           /* one trailing period dropped */
        {"\"4\"", "four", 0, false, {0}},
        {"\"Paris\"", "paris", 1, true, {1}},    /* ASCII case folded */
        {"\"Paris\"", "PARIS.", 1, true, {1}},
        {"\"New York\"", "new   york", 1, true, {1}}, /* whitespace runs collapse */
        {"\"New York\"", "new\nyork", 1, true, {1}},
        {"\"New York\"", "NewYork", 0, false, {0}},
        {"\"4\"", "<answer>4</answer>", 1, true, {1}},
        {"\"4\"", "thinking <answer> 4 </answer>", 1, true, {1}},
        {"\"4\"", "<answer>3</answer> then <answer>4</answer>", 1, true, {1}}, /* the last answer */
        {"\"4\"", "<answer>4</answer><answer>5</answer>", 0, false, {0}},
        {"\"4\"", "<answer>4", 1, true, {1}},    /* unclosed: to the end */
        {"\"4\"", "The answer is 4", 0, false, {0}},
        {"[\"yes\", \"y\"]", "Y", 1, true, {1}},
        {"[\"yes\", \"y\"]", "no", 0, false, {0}},
        {"\"3.14\"", "3.14", 1, true, {1}},
        {"\"3.14\"", "3.140", 0, false, {0}},    /* strings, not numbers */
        {"\"a.b\"", "a.b.", 1, true, {1}},
        {"\"a.\"", "a", 1, true, {1}},           /* the answer is normalised too */
        {"\"a..\"", "a.", 0, false, {0}},        /* "a." vs "a": one period only */
        {"\"\"", "   ", 1, true, {1}},
        {"\"x\"", "", 0, false, {0}},
        {"\"\xc3\x9c" "ber\"", "\xc3\xbc" "ber", 0, false, {0}}, /* Ü vs ü: ASCII folding only */
        {"\"\xc3\x9c" "ber\"", "\xc3\x9c" "BER", 1, true, {1}},
        {"\"tab\\tsep\"", "tab sep", 1, true, {1}},
        {"\"42\"", "\n\n42\n", 1, true, {1}},
        {"\"42\"", "<answer>\n42\n</answer>\n", 1, true, {1}},
        {"\"no\"", "No.", 1, true, {1}},
        {"\"a b\"", "a b c", 0, false, {0}},
        {"\"x\"", "x<answer></answer>", 0, false, {0}}, /* the empty answer counts */
    };
    run_cases("exact", NULL, "answer", cases, N(cases), 1);
    refused("exact", NULL, "other", "\"4\"", "field 'answer' is missing");
    refused("exact", NULL, "answer", "4", "field 'answer' must be a string");
    refused("exact", NULL, "answer", "[]", "field 'answer' must be a string");
    refused("exact", NULL, "answer", "[\"a\", 1]", "field 'answer': entry 1");
    refused("exact", "x", "answer", "\"4\"", "--reward-arg: the exact reward takes no argument");
}

static void test_numeric(void) {
    /* reward = 0.1 * format + answer; format: \boxed, #### or <answer> */
    static const rcase cases[] = {
        {"72", "#### 72", 1.1, true, {1, 1}},
        {"72", "The answer is 72", 1.0, true, {0, 1}},
        {"72", "72 apples, so 70", 0, false, {0, 0}},          /* the last number */
        {"1234", "\\boxed{1,234}", 1.1, true, {1, 1}},
        {"1234", "It is 1,234.", 1.0, true, {0, 1}},
        {"1234567", "1,234,567", 1.0, true, {0, 1}},
        {"1.5", "3/2", 1.0, true, {0, 1}},
        {"0.75", "\\boxed{\\frac{3}{4}}", 1.1, true, {1, 1}},
        {"-0.5", "\\boxed{-\\frac{1}{2}}", 1.1, true, {1, 1}},
        {"-5", "x = -5", 1.0, true, {0, 1}},
        {"5", "10-5", 1.0, true, {0, 1}},                      /* a minus after a digit is no sign */
        {"-3", "#### -3", 1.1, true, {1, 1}},
        {"3.14159", "3.14159", 1.0, true, {0, 1}},
        {"3.14159", "3.1416", 0, false, {0, 0}},               /* 1e-5 > 1e-6 * 3.14159 */
        {"1000000", "999,999", 1.0, true, {0, 1}},             /* |1| <= 1e-6 * 1e6: relative */
        {"1000000", "999,998", 0, false, {0, 0}},
        {"100", "100%", 1.0, true, {0, 1}},
        {"12", "\\boxed{12} but #### 13", 1.1, true, {1, 1}},  /* \boxed first */
        {"13", "#### 13 \\boxed{}", 1.1, true, {1, 1}},        /* an empty box: then #### */
        {"\"#### 18\"", "18", 1.0, true, {0, 1}},              /* a GSM8K answer string */
        {"\"She sold 48/2 = 24 clips in May.\\n#### 72\"", "<answer>72</answer>", 1.1, true, {1, 1}},
        {"72", "<answer>seventy-two</answer>", 0, false, {0, 0}},
        {"72", "", 0, false, {0, 0}},
        {"0.5", "about .5", 1.0, true, {0, 1}},
        {"2", "1/0 and then 2", 1.0, true, {0, 1}},            /* 1/0 is no fraction */
        {"0.333333", "1/3", 1.0, true, {0, 1}},                /* |1/3 - 0.333333| = 3.3e-7 */
        {"1234", "1,2345", 0, false, {0, 0}},                  /* not a group of 3: 1 and 2345 */
        {"5", "1,2,3,4,5", 1.0, true, {0, 1}},
        {"-2", "\\boxed{-\\dfrac{4}{2}}", 1.1, true, {1, 1}},
        {"7", "<answer>7</answer> and later 8", 1.1, true, {1, 1}}, /* inside the tag only */
        {"10", "####10", 1.1, true, {1, 1}},
        {"-7.5", "The result: -7.5.", 1.0, true, {0, 1}},
        {"1000", "1,000.0", 1.0, true, {0, 1}},
        {"\"3/4\"", "0.75", 1.0, true, {0, 1}},                /* the answer may be a fraction */
    };
    run_cases("numeric", NULL, "answer", cases, N(cases), 2);
    static const rcase loose[] = {
        {"3.14159", "3.1416", 1.0, true, {0, 1}},              /* 1e-5 <= 1e-3 * 3.14159 */
        {"100", "100.05", 1.0, true, {0, 1}},                  /* 0.05 <= 0.1 */
        {"100", "100.2", 0, false, {0, 0}},
        {"0", "0.0009", 1.0, true, {0, 1}},                    /* max(1, |0|) = 1 */
    };
    run_cases("numeric", "0.001", "answer", loose, N(loose), 2);
    refused("numeric", NULL, "answer", "\"abc\"", "field 'answer' ('abc') holds no number");
    refused("numeric", NULL, "answer", "true", "field 'answer' must be a number or a string");
    refused("numeric", NULL, "other", "1", "field 'answer' is missing");
    refused("numeric", "loose", "answer", "1", "--reward-arg 'loose'");
    refused("numeric", "-1", "answer", "1", "--reward-arg '-1'");
}

static void test_regex(void) {
    static const rcase cases[] = {
        {"\"^\\\\d+$\"", "123", 1, true, {1}},
        {"\"^\\\\d+$\"", "12a", 0, false, {0}},
        {"\"^\\\\d+$\"", "123\n", 1, true, {1}},                /* $ before a final newline */
        {"\"cat|dog\"", "hotdog", 1, true, {1}},               /* a search, not a full match */
        {"\"cat|dog\"", "bird", 0, false, {0}},
        {"\"(?i)hello\"", "HeLLo world", 1, true, {1}},
        {"\"hello\"", "HeLLo", 0, false, {0}},
        {"\"^A\"", "BA", 0, false, {0}},
        {"\"a.c\"", "a\nc", 0, false, {0}},                     /* . stops at a newline */
        {"\"(?s)a.c\"", "a\nc", 1, true, {1}},
        {"\"colou?r\"", "color", 1, true, {1}},
        {"\"colou?r\"", "colour", 1, true, {1}},
        {"\"\\\\bis\\\\b\"", "this", 0, false, {0}},
        {"\"\\\\bis\\\\b\"", "it is", 1, true, {1}},
        {"\"[0-9]{3}-[0-9]{4}\"", "call 555-1234", 1, true, {1}},
        {"\"[0-9]{3}-[0-9]{4}\"", "555-123", 0, false, {0}},
        {"\"^$\"", "", 1, true, {1}},
        {"\"^$\"", " ", 0, false, {0}},
        {"\"x{2,}\"", "xx", 1, true, {1}},
        {"\"x{2,}\"", "x", 0, false, {0}},
        {"\"\xc3\xa9\"", "caf\xc3\xa9", 1, true, {1}},
        {"\"^.{4}$\"", "caf\xc3\xa9", 0, false, {0}},          /* bytes: é is 2 of 5 */
        {"\"^(a+)+$\"", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaab", 0, false, {0}}, /* the match limit stops it */
        {"\"<answer>\\\\s*42\\\\s*</answer>\"", "<answer> 42 </answer>", 1, true, {1}},
        {"\"\\\\d\"", "no digits", 0, false, {0}},
        {"\"(foo)(bar)\\\\2\"", "foobarbar", 1, true, {1}},
        {"\"(foo)(bar)\\\\2\"", "foobar", 0, false, {0}},
        {"\"^\\\\s*yes\\\\s*$\"", "  yes \n", 1, true, {1}},
        {"\"[[:upper:]]{3}\"", "abCDEf", 1, true, {1}},
        {"\"[[:upper:]]{3}\"", "abCDef", 0, false, {0}},
    };
    run_cases("regex", NULL, "pattern", cases, N(cases), 1);
    /* --reward-arg is the pattern where a record has none; a record's wins */
    static const rcase by_arg[] = {
        {"\"^x$\"", "x", 1, true, {1}},
        {"\"^x$\"", "answer", 0, false, {0}},
    };
    run_cases("regex", "answer", "pattern", by_arg, N(by_arg), 1);
    static const rcase arg_only[] = {
        {"1", "the answer", 1, true, {1}},
        {"1", "the reply", 0, false, {0}},
    };
    run_cases("regex", "answer", "other", arg_only, N(arg_only), 1);
    refused("regex", NULL, "other", "1", "field 'pattern' is missing (or give --reward-arg PATTERN)");
    refused("regex", NULL, "pattern", "5", "field 'pattern' must be a string");
    refused("regex", NULL, "pattern", "\"a(\"", "field 'pattern': missing closing parenthesis");
    refused("regex", "a(", "other", "1", "--reward-arg 'a(': missing closing parenthesis");
}

static void test_countdown_and_conciseness(void) {
    /* The built-in tasks' rewards on records (their own cases: test_tasks) */
    static const rcase countdown[] = {
        {"[44, 19, 35]", "</think>\n<answer>44 + 19 + 35</answer>", 1.1, true, {1, 1}},
        {"[44, 19, 35]", "<answer>44+19+35</answer>", 1.05, true, {0.5, 1}}, /* answer tag: 0.5 */
        {"[44, 19, 35]", "</think>\n<answer>44 + 19</answer>", 0.1, false, {1, 0}},
        {"[44, 19, 35]", "</think> no answer", 0.01, false, {0.1, 0}},
        {"[44, 19, 35]", "", 0, false, {0, 0}},
        {"[44, 19, 36]", "</think>\n<answer>44 + 19 + 35</answer>", 0.1, false, {1, 0}}, /* other numbers */
    };
    for (int i = 0; i < N(countdown); i++) {
        char value[200];
        snprintf(value, sizeof value, "%s, \"target\": \"98\"", countdown[i].value);
        rcase c = countdown[i];
        c.value = value;
        run_cases("countdown", NULL, "numbers", &c, 1, 2);
    }
    refused("countdown", NULL, "numbers", "[1, 2]", "field 'target' is missing");
    refused("countdown", NULL, "target", "\"3\"", "field 'numbers' is missing");
    /* conciseness: -|len(response) - len(answer)| in code points */
    static const rcase concise[] = {
        {"\"8\"", "8", 0, true, {1}},
        {"\"8\"", "8.", -1, true, {2}},       /* correct: one trailing period trimmed */
        {"\"8\"", " 8", -1, true, {2}},
        {"\"8\"", "eight", -4, false, {5}},
        {"\"8\"", "", -1, false, {0}},
        {"\"8\"", "\xc3\xa9", 0, false, {1}}, /* é is one code point */
        {"\"No\"", "no", 0, true, {2}},
        {"\"No\"", "Nope", -2, false, {4}},
    };
    run_cases("conciseness", NULL, "answer", concise, N(concise), 1);
    refused("conciseness", NULL, "answer", "\"\"", "field 'answer' is empty");
}

/* The 4x4 solution used below (rows, columns and 2x2 boxes checked by hand):
 *   1 2 3 4 / 3 4 1 2 / 2 1 4 3 / 4 3 2 1
 * and the puzzle "1030040000400301": clues r0c0=1 r0c2=3 r1c1=4 r2c2=4
 * r3c1=3 r3c3=1, all kept by it. */
#define P4 "\"1030040000400301\""
#define S4 "1234\n3412\n2143\n4321"
/* A 9x9 solution: row r is the digits from ((3r + r/3) mod 9) + 1 on,
 * cycling; the puzzle gives its first row. */
#define S9 "123456789\n456789123\n789123456\n234567891\n567891234\n891234567\n345678912\n678912345\n912345678"
#define P9 "\"123456789000000000000000000000000000000000000000000000000000000000000000000000000\""

static void test_sudoku(void) {
    /* parts: format, valid, clues, answer; reward = 0.1 * format + answer */
    static const rcase cases[] = {
        {P4, S4, 1.1, true, {1, 1, 1, 1}},
        {P4, "1 2 3 4\n3 4 1 2\n2 1 4 3\n4 3 2 1", 1.1, true, {1, 1, 1, 1}},
        {P4, "1234341221434321", 1.1, true, {1, 1, 1, 1}},                   /* one line of 16 */
        {P4, "1 2 | 3 4\n3 4 | 1 2\n----+----\n2 1 | 4 3\n4 3 | 2 1", 1.1, true, {1, 1, 1, 1}},
        {P4, "Here is the solution:\n" S4 "\nDone.", 1.1, true, {1, 1, 1, 1}},
        {P4, "<think>1111</think><answer>\n" S4 "\n</answer>", 1.1, true, {1, 1, 1, 1}},
        {P4, "1234\n3412\n2144\n4321", 0.1, false, {1, 0, 1, 0}},   /* row 2 repeats 4 */
        {P4, "1234\n3412\n1234\n3412", 0.1, false, {1, 0, 0, 0}},   /* columns repeat; r2c2 clue 4 lost */
        {P4, "1234\n2143\n3412\n4321", 0.1, false, {1, 0, 0, 0}},   /* rows, columns fine; box 0 {1,2,2,1} */
        {P4, "2134\n3421\n1243\n4312", 0.1, false, {1, 1, 0, 0}},   /* valid, 1 and 2 swapped: clues changed */
        {P4, "1234\n3412\n2143", 0, false, {0, 0, 0, 0}},           /* 3 rows: wrong size */
        {P4, "123412341\n341234123\n214321432\n432143214", 0, false, {0, 0, 0, 0}}, /* 9 columns */
        {P4, "1234\n341\n2143\n4321", 0, false, {0, 0, 0, 0}},      /* ragged */
        {P4, "1234\n3412\n2.43\n4321", 0.1, false, {1, 0, 1, 0}},   /* a blank left */
        {P4, "1234\n3412\n2043\n4321", 0.1, false, {1, 0, 1, 0}},   /* 0 is no digit of a solution */
        {P4, "1234\n3412\n2543\n4321", 0.1, false, {1, 0, 1, 0}},   /* 5 in a 4x4 */
        {P4, "Puzzle:\n1030\n0400\n0040\n0301\nSolution:\n" S4, 1.1, true, {1, 1, 1, 1}}, /* the last grid */
        {P4, "1030\n0400\n0040\n0301\n" S4, 0, false, {0, 0, 0, 0}}, /* one block of 8 rows */
        {P4, "1234\n3412\n\n2143\n4321", 0, false, {0, 0, 0, 0}},   /* a blank line splits it */
        {P4, "I don't know", 0, false, {0, 0, 0, 0}},
        {P4, "[1,2,3,4]\n[3,4,1,2]\n[2,1,4,3]\n[4,3,2,1]", 1.1, true, {1, 1, 1, 1}},
        {P4, "1\t2\t3\t4\n3\t4\t1\t2\n2\t1\t4\t3\n4\t3\t2\t1", 1.1, true, {1, 1, 1, 1}},
        {P4, "1234\n3412\n2143\n4321 <- solved", 0, false, {0, 0, 0, 0}}, /* text ends the block */
        {P4, "1234\r\n3412\r\n2143\r\n4321\r\n", 1.1, true, {1, 1, 1, 1}},
        {"\"1.3.\\n.4..\\n..4.\\n.3.1\"", S4, 1.1, true, {1, 1, 1, 1}}, /* puzzle as rows, . blanks */
        {"\"0000000000000000\"", "4321\n2143\n3412\n1234", 1.1, true, {1, 1, 1, 1}}, /* no clues */
        {P9, S9, 1.1, true, {1, 1, 1, 1}},
        {P9, "456789123\n123456789\n789123456\n234567891\n567891234\n891234567\n345678912\n678912345\n912345678",
         0.1, false, {1, 1, 0, 0}},                                /* rows 0 and 1 swapped: valid, clues lost */
        {P9, "213456789\n456789123\n789123456\n234567891\n567891234\n891234567\n345678912\n678912345\n912345678",
         0.1, false, {1, 0, 0, 0}},                                /* 1 and 2 swapped in row 0 only */
        {P9, "123456789\n456789123\n789123456\n234567891\n567891234\n891234567\n345678912\n678912345", 0, false,
         {0, 0, 0, 0}},                                            /* 8 rows */
        {P9, "123456789456789123789123456234567891567891234891234567345678912678912345912345678", 1.1, true,
         {1, 1, 1, 1}},
        {P9, S4, 0, false, {0, 0, 0, 0}},                          /* a 4x4 answer to a 9x9 puzzle */
    };
    run_cases("sudoku", NULL, "puzzle", cases, N(cases), 4);
    refused("sudoku", NULL, "other", "1", "field 'puzzle' is missing");
    refused("sudoku", NULL, "puzzle", "\"10300400004003010\"", "field 'puzzle' is not a 4x4 or 9x9 grid");
    refused("sudoku", NULL, "puzzle", "\"1100000000000000\"", "field 'puzzle': a clue exceeds 4 or repeats");
    refused("sudoku", NULL, "puzzle", "\"5000000000000000\"", "field 'puzzle': a clue exceeds 4");
    refused("sudoku", NULL, "puzzle", "1234", "field 'puzzle' must be a string");
    refused("sudoku", NULL, "puzzle", "\"12\\n34\\n12\\n34\\n12\\n34\\n12\\n34\"", "is not a 4x4 or 9x9 grid");
}

static void test_arc(void) {
    /* expected grid 2 x 3: 0 1 2 / 3 4 0; parts: format, answer */
    static const rcase cases[] = {
        {"\"012\\n340\"", "012\n340", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "0 1 2\n3 4 0", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "Output:\n0 1 2\n3 4 0\nThat is the answer.", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "012\n34", 0, false, {0, 0}},              /* ragged */
        {"\"012\\n340\"", "012\n341", 0.1, false, {1, 0}},
        {"\"012\\n340\"", "012\n340\n000", 0.1, false, {1, 0}},      /* an extra row */
        {"\"012\\n340\"", "0123\n3401", 0.1, false, {1, 0}},         /* an extra column */
        {"\"012\\n340\"", "", 0, false, {0, 0}},
        {"\"012\\n340\"", "no grid here", 0, false, {0, 0}},
        {"\"012\\n340\"", "[[0,1,2],[3,4,0]]", 0.1, false, {1, 0}},  /* one line is one row of 6 */
        {"\"012\\n340\"", "[0, 1, 2]\n[3, 4, 0]", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "<answer>\n012\n340\n</answer>", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "input:\n111\n111\n\noutput:\n012\n340", 1.1, true, {1, 1}}, /* the last grid */
        {"\"012\\n340\"", "012\n340\n\nexplanation: each 1 moves", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "012\n340\n5", 0, false, {0, 0}},          /* "5" joins the block: ragged */
        {"\"012\\n340\"", "012\n3.0", 0.1, false, {1, 0}},           /* '.' is no colour */
        {"[[0,1,2],[3,4,0]]", "012\n340", 1.1, true, {1, 1}},         /* the answer as JSON */
        {"[[0,1,2],[3,4,0]]", "012\n043", 0.1, false, {1, 0}},
        {"\"012\\n340\"", "0|1|2\n3|4|0", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "012\r\n340\r\n", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "  012\n  340  ", 1.1, true, {1, 1}},
        {"\"012\\n340\"", "<answer>999\n999</answer> 012\n340", 0.1, false, {1, 0}}, /* the tag wins */
        {"\"012\\n340\"", "<answer>012\n340</answer>", 1.1, true, {1, 1}}, /* the tags are not read */
        {"\"7\"", "7", 1.1, true, {1, 1}},
        {"\"7\"", "The answer is 7", 0, false, {0, 0}},              /* a row holds no words */
        {"\"7\"", "7.", 0.1, false, {1, 0}},                         /* '.' is a (blank) cell */
        {"\"00\\n00\"", "0 0\n0 0", 1.1, true, {1, 1}},
        {"\"00\\n00\"", "00\n00\n00", 0.1, false, {1, 0}},
        {"\"10\\n01\"", "01\n10", 0.1, false, {1, 0}},
        {"\"9876543210\"", "9 8 7 6 5 4 3 2 1 0", 1.1, true, {1, 1}},
    };
    run_cases("arc", NULL, "answer", cases, N(cases), 2);
    /* a 30 x 30 grid (ARC's largest) of (r + c) mod 10 */
    char resp[30 * 61 + 8], value[30 * 33 + 8];
    size_t r = 0, v = 0;
    value[v++] = '"';
    for (int i = 0; i < 30; i++) {
        for (int j = 0; j < 30; j++) {
            value[v++] = (char)('0' + (i + j) % 10);
            r += (size_t)snprintf(resp + r, sizeof resp - r, j ? " %d" : "%d", (i + j) % 10);
        }
        if (i < 29) value[v++] = '\\', value[v++] = 'n';
        resp[r++] = '\n';
    }
    value[v++] = '"', value[v] = resp[r] = '\0';
    rcase big = {value, resp, 1.1, true, {1, 1}};
    run_cases("arc", NULL, "answer", &big, 1, 2);
    refused("arc", NULL, "other", "1", "field 'answer' is missing");
    refused("arc", NULL, "answer", "\"01\\n2\"", "field 'answer' is not a grid");
    refused("arc", NULL, "answer", "[[1,2],[3]]", "field 'answer' is not a grid");
    refused("arc", NULL, "answer", "[[10]]", "field 'answer' is not a grid");
    refused("arc", NULL, "answer", "5", "field 'answer' is not a grid");
    refused("arc", NULL, "answer", "\"0.1\\n222\"", "field 'answer' is not a grid");
}

/* The helpers rewards share, on their own. */
static void test_helpers(void) {
    double v = 0;
    CHECK(esft_numeric_extract("no number", 9, &v) == ESFT_NUMBER_NONE);
    CHECK(esft_numeric_extract("a 3 b 4", 7, &v) == ESFT_NUMBER_BARE && v == 4);
    CHECK(esft_numeric_extract("#### 1,000 then 5", 17, &v) == ESFT_NUMBER_MARKED && v == 1000);
    CHECK(esft_numeric_extract("\\boxed{\\frac{1}{4}}", 19, &v) == ESFT_NUMBER_MARKED && v == 0.25);
    int cells[16], rows = 0, cols = 0;
    CHECK(esft_grid_parse("12\n34", 5, cells, 16, &rows, &cols) && rows == 2 && cols == 2 && cells[3] == 4);
    CHECK(!esft_grid_parse("123\n456\n789", 11, cells, 8, &rows, &cols)); /* more cells than room */
    const char *at;
    size_t n;
    CHECK(!esft_answer_region("plain", 5, &at, &n) && n == 5);
    CHECK(esft_answer_region("x<answer>ab</answer>y", 21, &at, &n) && n == 2 && memcmp(at, "ab", 2) == 0);
}

int main(void) {
    if (!test_make_tmpdir(tmp_dir, sizeof tmp_dir, "esft-test-rewards")) return 1;
    test_exact();
    test_numeric();
    test_regex();
    test_countdown_and_conciseness();
    test_sudoku();
    test_arc();
    test_helpers();
    test_remove_tmpdir(tmp_dir);
    return TEST_EXIT();
}
