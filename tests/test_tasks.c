/* Tasks and rewards (DESIGN §5) against hand-derived expectations.
 *
 * The countdown reward is the paper's reference code (countdown_task.py):
 *   reward = 0.1 * format("<think>" + response) + answer(response)
 * Every expected value below was worked out by hand from that definition;
 * comments give the reasoning for the non-obvious ones. The format reward is
 * also cross-checked against the reference's literal regexes run by PCRE2
 * (whose `$` and DOTALL semantics match Python's re) on generated strings.
 * The paper's 200 training problems are read from ../shared/data/countdown/
 * train.json ($ESFT_COUNTDOWN_DATA overrides); those checks are skipped with
 * a note when the file is absent. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <cjson/cJSON.h>
#include <pcre2.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "countdown.h"
#include "task.h"
#include "testutil.h"
#include "utf8.h"

#ifndef ESFT_TEST_DATA_DIR
#define ESFT_TEST_DATA_DIR "tests"
#endif

static char tmp_dir[256];

static const char *write_tmp(const char *name, const char *content) {
    return test_write_tmp(tmp_dir, name, content, strlen(content));
}

/* ---------------------------------------------------------------------- */
/* Countdown reward cases.                                                 */

/* The data set the reward cases refer to, by item index. */
static const char *cases_json =
    "[{\"context\":\"c0\",\"numbers\":[44,19,35],\"target\":\"98\"},"   /* 0 */
    "{\"context\":\"c1\",\"numbers\":[1,3,4],\"target\":\"-11\"},"      /* 1 */
    "{\"context\":\"c2\",\"numbers\":[130,7,5],\"target\":\"27.4\"},"   /* 2 */
    "{\"context\":\"c3\",\"numbers\":[1,3],\"target\":\"0.33333\"},"    /* 3: |1/3 - t| = 3.3e-6 */
    "{\"context\":\"c4\",\"numbers\":[1,3],\"target\":\"0.3333\"},"     /* 4: 3.3e-5 */
    "{\"context\":\"c5\",\"numbers\":[5,3,3],\"target\":\"5\"},"        /* 5 */
    "{\"context\":\"c6\",\"numbers\":[3,3,33],\"target\":\"39\"},"      /* 6 */
    "{\"context\":\"c7\",\"numbers\":[1,3],\"target\":\"0.333324\"},"   /* 7: 9.33e-6 < 1e-5 */
    "{\"context\":\"c8\",\"numbers\":[1,3],\"target\":\"0.333323\"},"   /* 8: 1.033e-5 > 1e-5 */
    "{\"context\":\"c9\",\"numbers\":[2,3,5],\"target\":\" 25 \"},"     /* 9: float(\" 25 \") = 25 */
    "{\"context\":\"c10\",\"numbers\":[7,2],\"target\":\"3.5\"},"       /* 10 */
    "{\"context\":\"c11\",\"numbers\":[2,3],\"target\":\"8\"},"         /* 11 */
    "{\"context\":\"c12\",\"numbers\":[99,99,99,99,99,99,99,99,99,99,99,99,99,99,99,99],"
    "\"target\":\"9801\",\"solution\":\"99*99\"}]";                     /* 12 */

typedef struct cd_case {
    int item;
    const char *response;
    double format, answer;
} cd_case;

#define TA "</think>\n<answer>"
static const cd_case cd_cases[] = {
    /* Full format, correct answer: 0.1 * 1 + 1. */
    {0, TA "44+19+35</answer>", 1.0, 1.0},
    {0, "reasoning here</think>\n<answer>(44 + 19) + 35</answer>", 1.0, 1.0},
    /* Full format, wrong value (44+19-35 = 28). */
    {0, "x" TA "44+19-35</answer>", 1.0, 0.0},
    /* Python's `$` also matches before one final newline ... */
    {0, TA "44+19+35</answer>\n", 1.0, 1.0},
    /* ... but not before two: partial credit think 0.1 + answer 0.5. */
    {0, TA "44+19+35</answer>\n\n", 0.6, 1.0},
    /* Text after </answer> breaks the full format. */
    {0, TA "44+19+35</answer> done", 0.6, 1.0},
    /* The separator must be exactly "</think>\n<answer>". */
    {0, "</think> <answer>44+19+35</answer>", 0.6, 1.0},
    {0, "</think>\n\n<answer>44+19+35</answer>", 0.6, 1.0},
    {0, "</think><answer>44+19+35</answer>", 0.6, 1.0},
    {0, "</think>\r\n<answer>44+19+35</answer>", 0.6, 1.0},
    /* Leading newline inside the think block is fine. */
    {0, "\n" TA "44+19+35</answer>", 1.0, 1.0},
    /* A second <think> inside the think block: .*? spans it. */
    {0, "<think></think>\n<answer>44+19+35</answer>", 1.0, 1.0},
    /* Think only: 0.1 * 0.1. */
    {0, "thinking only</think>", 0.1, 0.0},
    /* Answer tags without </think>: 0.5, and the answer still counts. */
    {0, "<answer>44+19+35</answer>", 0.5, 1.0},
    {0, "<answer>44+19+36</answer>", 0.5, 0.0},
    /* Nothing. */
    {0, "", 0.0, 0.0},
    {0, "just some text 44+19+35", 0.0, 0.0},
    /* Unclosed or misspelt closing answer tag: only the think credit. */
    {0, TA "44+19+35", 0.1, 0.0},
    {0, TA "44+19+35</answr>", 0.1, 0.0},
    /* Opening tag missing: "</answer>" alone is no answer. */
    {0, "</think>\n44+19+35</answer>", 0.1, 0.0},
    /* Several answers: the last one counts; the lazy .*? spans the middle
     * "</answer><answer>" so the full format still holds. */
    {0, TA "1+2</answer><answer>44+19+35</answer>", 1.0, 1.0},
    {0, TA "44+19+35</answer><answer>1+2</answer>", 1.0, 0.0},
    /* A stray "</answer>" before everything: still full format, answer ok. */
    {0, "</answer>" TA "44+19+35</answer>", 1.0, 1.0},
    /* Nested opening tags: findall's first match is "<answer>44+19+35"
     * (it starts at the first <answer>), which fails the character set. */
    {0, "<answer><answer>44+19+35</answer>", 0.5, 0.0},
    /* Reused / missing / extra numbers, even when the value is 98. */
    {0, TA "44+44+10</answer>", 1.0, 0.0},
    {0, TA "63+35</answer>", 1.0, 0.0},
    {0, TA "44+19+35+0</answer>", 1.0, 0.0},
    {0, TA "44+19+35*1</answer>", 1.0, 0.0},
    /* Characters outside [0-9+\-*\/() ]. */
    {0, TA "44 + 19 + 35 = 98</answer>", 1.0, 0.0},
    {0, TA "(44+19+35)^1</answer>", 1.0, 0.0},
    {0, TA "44 plus 19 plus 35</answer>", 1.0, 0.0},
    {0, TA "44.0+19+35</answer>", 1.0, 0.0},
    {0, TA "44\t+19+35</answer>", 1.0, 0.0},
    /* Whitespace: spaces anywhere; one final newline (Python `$`); nothing
     * else. */
    {0, TA " 44 + 19 + 35 </answer>", 1.0, 1.0},
    {0, TA "44+19+35\n</answer>", 1.0, 1.0},
    {0, TA "\n44+19+35</answer>", 1.0, 0.0},
    {0, TA "44+19+35\n\n</answer>", 1.0, 0.0},
    /* Empty and blank answers. */
    {0, TA "</answer>", 1.0, 0.0},
    {0, TA "   </answer>", 1.0, 0.0},
    /* Nested and unbalanced parentheses. */
    {0, TA "((44)+((19)+(35)))</answer>", 1.0, 1.0},
    {0, TA "(44+19+35</answer>", 1.0, 0.0},
    {0, TA "44+19+35)</answer>", 1.0, 0.0},
    /* "044" counts as 44 for the numbers check but is a syntax error in
     * Python; two numbers side by side are a syntax error too. */
    {0, TA "044+19+35</answer>", 1.0, 0.0},
    {0, TA "44 19+35</answer>", 1.0, 0.0},
    /* Negative target; unary minus; chains of signs (1 - (-3 * -4)). */
    {1, TA "1 - 3 * 4</answer>", 1.0, 1.0},
    {1, TA "-3*4+1</answer>", 1.0, 1.0},
    {1, TA "-(3*4)+1</answer>", 1.0, 1.0},
    {1, TA "1--3*-4</answer>", 1.0, 1.0},
    {1, TA "(1-3)*4</answer>", 1.0, 0.0},
    /* Non-integer target via true division; floor division gives 27. */
    {2, TA "(130+7)/5</answer>", 1.0, 1.0},
    {2, TA "130/5+7</answer>", 1.0, 0.0},
    {2, TA "(130+7)//5</answer>", 1.0, 0.0},
    /* Tolerance: strictly within 1e-5. */
    {3, TA "1/3</answer>", 1.0, 1.0},
    {4, TA "1/3</answer>", 1.0, 0.0},
    {7, TA "1/3</answer>", 1.0, 1.0},
    {8, TA "1/3</answer>", 1.0, 0.0},
    /* Division by zero scores 0. */
    {5, TA "5/(3-3)</answer>", 1.0, 0.0},
    {5, TA "5//(3-3)</answer>", 1.0, 0.0},
    {5, TA "5+3-3</answer>", 1.0, 1.0},
    /* Repeated given numbers must each be used. */
    {6, TA "3+3+33</answer>", 1.0, 1.0},
    {6, TA "33+3+3</answer>", 1.0, 1.0},
    {6, TA "3+33</answer>", 1.0, 0.0},
    {6, TA "6+33</answer>", 1.0, 0.0},
    /* Target with surrounding spaces. */
    {9, TA "(2+3)*5</answer>", 1.0, 1.0},
    {9, TA "2+3*5</answer>", 1.0, 0.0},
    /* True division result 3.5; floor division 3. */
    {10, TA "7/2</answer>", 1.0, 1.0},
    {10, TA "7//2</answer>", 1.0, 0.0},
    /* The character set admits "**", which Python evaluates as a power. */
    {11, TA "2**3</answer>", 1.0, 1.0},
    {11, TA "3**2</answer>", 1.0, 0.0},
    {11, TA "2*3</answer>", 1.0, 0.0},
    /* Sixteen 99s: all must be used; the value is the float 9801.0. */
    {12, TA "99*99*99/99 + 99*99 - 99*99 + 99*99 - 99*99 + 99 - 99 + 99 - 99</answer>", 1.0, 1.0},
    {12, TA "99*99*99/99 + 99*99 - 99*99 + 99*99 - 99*99 + 99 - 99 + 99</answer>", 1.0, 0.0},
    {12, TA "99*99*99/99 + 99*99 - 99*99 + 99*99 - 99*99 + 99 - 99 + 99 - 99 + 99/99 - 1</answer>", 1.0, 0.0},
};

static void test_countdown_rewards(void) {
    const char *path = write_tmp("cases.json", cases_json);
    esft_task *t = NULL;
    esft_err err = {{0}};
    CHECKF(esft_task_load("countdown", path, NULL, &t, &err) == ESFT_OK, "%s", err.msg);
    if (!t) return;
    CHECK(t->n_items == 13);
    CHECK(strcmp(t->name, "countdown") == 0);
    CHECK(t->n_parts == 2);
    CHECK(strcmp(t->part_names[0], "format") == 0 && strcmp(t->part_names[1], "answer") == 0);
    CHECK(t->default_max_new == 1024);
    CHECK(!t->chat);
    CHECK(strcmp(t->items[0].prompt, "c0") == 0 && strcmp(t->items[0].target, "98") == 0);
    CHECK(strcmp(t->items[9].target, " 25 ") == 0);
    int n_cases = (int)(sizeof cd_cases / sizeof cd_cases[0]);
    for (int i = 0; i < n_cases; i++) {
        const cd_case *c = &cd_cases[i];
        esft_score s;
        t->score(t, c->item, c->response, strlen(c->response), &s);
        double want = 0.1 * c->format + c->answer;
        CHECKF(s.reward == want && s.parts[0] == c->format && s.parts[1] == c->answer &&
                   s.correct == (c->answer == 1.0),
               "case %d (item %d) %s: reward %.17g format %g answer %g correct %d; want %.17g (%g, %g)", i,
               c->item, c->response, s.reward, s.parts[0], s.parts[1], s.correct, want, c->format, c->answer);
    }
    /* A few totals spelt out as numbers, not via the formula above. */
    esft_score s;
    t->score(t, 0, TA "44+19+35</answer>", strlen(TA "44+19+35</answer>"), &s);
    CHECK_NEAR(s.reward, 1.1, 1e-12);
    t->score(t, 0, "thinking only</think>", 21, &s);
    CHECK_NEAR(s.reward, 0.01, 1e-12);
    t->score(t, 0, "<answer>1</answer>", 18, &s);
    CHECK_NEAR(s.reward, 0.05, 1e-12);
    t->score(t, 0, "</think><answer>1</answer>", 26, &s);
    CHECK_NEAR(s.reward, 0.06, 1e-12);
    t->score(t, 0, TA "44+19+35</answer> x", strlen(TA "44+19+35</answer> x"), &s);
    CHECK_NEAR(s.reward, 1.06, 1e-12);
    /* The length argument is honoured: the response need not end in NUL,
     * and a NUL byte inside it is an ordinary character. */
    const char buf[] = TA "44+19+35</answer>GARBAGE";
    t->score(t, 0, buf, strlen(TA "44+19+35</answer>"), &s);
    CHECK(s.reward == 1.1);
    const char with_nul[] = "</think>\0\n<answer>44+19+35</answer>";
    t->score(t, 0, with_nul, sizeof with_nul - 1, &s);
    CHECK(s.parts[0] == 0.6 && s.parts[1] == 1.0);
    esft_task_free(t);
}

/* ---------------------------------------------------------------------- */
/* The expression evaluator.                                               */

typedef struct eval_case {
    const char *expr;
    int ok;
    double value;
} eval_case;

static void test_eval(void) {
    static const eval_case cases[] = {
        {"1+2*3", 1, 7},
        {"(1+2)*3", 1, 9},
        {"10-4-3", 1, 3}, /* left-associative */
        {"48/4/2", 1, 6},
        {"2**3**2", 1, 512}, /* right-associative */
        {"-2**2", 1, -4},    /* unary minus binds looser than ** */
        {"(-2)**2", 1, 4},
        {"2**-1", 1, 0.5},
        {"7//2", 1, 3},
        {"-7//2", 1, -4}, /* floor, not truncation */
        {"7/2", 1, 3.5},
        {"1/3*3", 1, 1},
        {"+1", 1, 1},
        {"--1", 1, 1},
        {"1---1", 1, 0},
        {" 1 + 2 ", 1, 3},
        {"1\n", 1, 1},
        {"((((1))))", 1, 1},
        {"0", 1, 0},
        {"00", 1, 0},
        {"0**0", 1, 1},
        {"21/14*56", 1, 84}, /* a train.json solution with a non-integer step */
        /* Exact integers: x + 1 - x with x = 99^10 > 2^64 (double alone gives 0). */
        {"99*99*99*99*99*99*99*99*99*99 + 1 - 99*99*99*99*99*99*99*99*99*99", 1, 1},
        {"", 0, 0},
        {" ", 0, 0},
        {"()", 0, 0},
        {"1 2", 0, 0},
        {"1+", 0, 0},
        {"*1", 0, 0},
        {"2(3)", 0, 0},
        {"(1+2", 0, 0},
        {"1+2)", 0, 0},
        {"01", 0, 0},
        {"1/0", 0, 0},
        {"1//0", 0, 0},
        {"1/(2-2)", 0, 0},
        {"2+1/(1/0)", 0, 0}, /* an error, not 2 + 1/inf */
        {"0**-1", 0, 0},
        {"(0-8)**(1/3)", 0, 0}, /* complex in Python */
        {"1e5", 0, 0},
        {"1.5", 0, 0},
        {"1***2", 0, 0},
        {"1///2", 0, 0},
        {"1\n\n", 0, 0},
        {"\n1", 0, 0},
        {"1\t+2", 0, 0},
        {"2**2000", 0, 0}, /* Python's float() overflows */
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        double v = -12345;
        esft_err err = {{0}};
        esft_status st = esft_countdown_eval(cases[i].expr, strlen(cases[i].expr), &v, &err);
        if (cases[i].ok)
            CHECKF(st == ESFT_OK && v == cases[i].value, "'%s' -> %d %.17g (%s)", cases[i].expr, st, v, err.msg);
        else
            CHECKF(st == ESFT_ERR_INVALID_ARG && err.msg[0], "'%s' should fail, got %.17g", cases[i].expr, v);
    }
    /* Parenthesis nesting: CPython's tokenizer allows 200 levels, not 201. */
    char deep[1024];
    for (int levels = 200; levels <= 201; levels++) {
        int n = 0;
        for (int i = 0; i < levels; i++) deep[n++] = '(';
        deep[n++] = '7';
        for (int i = 0; i < levels; i++) deep[n++] = ')';
        double v = 0;
        esft_status st = esft_countdown_eval(deep, (size_t)n, &v, NULL);
        CHECKF(levels == 200 ? (st == ESFT_OK && v == 7) : st != ESFT_OK, "%d levels: %d", levels, st);
    }
    /* A long sign chain is refused, not a stack overflow. */
    static char signs[200002];
    memset(signs, '-', 200000);
    signs[200000] = '1';
    double v;
    CHECK(esft_countdown_eval(signs, 200001, &v, NULL) == ESFT_ERR_INVALID_ARG);
    /* The error names the position. */
    esft_err err = {{0}};
    CHECK(esft_countdown_eval("1+*2", 4, &v, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "byte 2"));
}

/* ---------------------------------------------------------------------- */
/* The format reward against the reference regexes, run by PCRE2.          */

static void test_format_vs_pcre2(void) {
    int ec;
    PCRE2_SIZE eo;
    pcre2_code *full = pcre2_compile((PCRE2_SPTR) "^<think>.*?<\\/think>\\n<answer>.*?<\\/answer>$",
                                     PCRE2_ZERO_TERMINATED, PCRE2_DOTALL, &ec, &eo, NULL);
    pcre2_code *think = pcre2_compile((PCRE2_SPTR) "<think>.*?<\\/think>", PCRE2_ZERO_TERMINATED,
                                      PCRE2_DOTALL, &ec, &eo, NULL);
    pcre2_code *answer = pcre2_compile((PCRE2_SPTR) "<answer>.*?<\\/answer>", PCRE2_ZERO_TERMINATED,
                                       PCRE2_DOTALL, &ec, &eo, NULL);
    CHECK(full && think && answer);
    if (!full || !think || !answer) return;
    pcre2_match_data *md = pcre2_match_data_create(4, NULL);
    static const char *frags[] = {"<think>", "</think>", "\n", "<answer>", "</answer>", "x", " ",
                                  "</think>\n<answer>", "</answer>\n", "44+19+35", "<", "answer>", "</"};
    const int n_frags = (int)(sizeof frags / sizeof frags[0]);
    uint64_t state = 12345;
    int agree = 0, n = 20000, seen[5] = {0};
    char r[512], s[600];
    for (int i = 0; i < n; i++) {
        size_t len = 0;
        state = state * 6364136223846793005ull + 1442695040888963407ull;
        int k = (int)(state >> 60); /* 0..15 fragments */
        for (int j = 0; j < k; j++) {
            state = state * 6364136223846793005ull + 1442695040888963407ull;
            const char *f = frags[(state >> 33) % (uint64_t)n_frags];
            memcpy(r + len, f, strlen(f));
            len += strlen(f);
        }
        memcpy(s, "<think>", 7);
        memcpy(s + 7, r, len);
        size_t slen = len + 7;
        double want;
        if (pcre2_match(full, (PCRE2_SPTR)s, slen, 0, 0, md, NULL) >= 0) {
            want = 1.0;
        } else {
            want = 0.0;
            if (pcre2_match(think, (PCRE2_SPTR)s, slen, 0, 0, md, NULL) >= 0) want += 0.1;
            if (pcre2_match(answer, (PCRE2_SPTR)s, slen, 0, 0, md, NULL) >= 0) want += 0.5;
        }
        double got = esft_countdown_format_reward(r, len);
        if (got == want) agree++;
        else if (agree + 5 > i) fprintf(stderr, "format mismatch on '%.*s': %g vs %g\n", (int)len, r, got, want);
        seen[want == 0 ? 0 : want == 0.1 ? 1 : want == 0.5 ? 2 : want == 0.6 ? 3 : 4]++;
    }
    CHECKF(agree == n, "%d of %d agree with PCRE2", agree, n);
    /* The generator reaches every format value, full matches included. */
    CHECKF(seen[0] > 100 && seen[1] > 100 && seen[2] > 100 && seen[3] > 100 && seen[4] > 100,
           "%d %d %d %d %d", seen[0], seen[1], seen[2], seen[3], seen[4]);
    pcre2_match_data_free(md);
    pcre2_code_free(full);
    pcre2_code_free(think);
    pcre2_code_free(answer);
}

/* ---------------------------------------------------------------------- */
/* Data sets: the paper's file, and every way a file can be malformed.     */

static void test_train_json(void) {
    char path[1024];
    const char *env = getenv("ESFT_COUNTDOWN_DATA");
    if (env && *env)
        snprintf(path, sizeof path, "%s", env);
    else
        snprintf(path, sizeof path, "%s/../../shared/data/countdown/train.json", ESFT_TEST_DATA_DIR);
    if (access(path, R_OK) != 0) {
        printf("note: %s absent, train.json checks skipped\n", path);
        return;
    }
    esft_task *t = NULL;
    esft_err err = {{0}};
    CHECKF(esft_task_load("countdown", path, "train", &t, &err) == ESFT_OK, "%s", err.msg);
    if (!t) return;
    CHECK(t->n_items == 200);
    const esft_countdown_item *d0 = t->items[0].data;
    CHECK(d0->n_numbers == 3 && d0->numbers[0] == 44 && d0->numbers[1] == 19 && d0->numbers[2] == 35);
    CHECK(d0->target == 98.0 && strcmp(t->items[0].target, "98") == 0);
    const char *p0 = t->items[0].prompt;
    CHECK(strstr(p0, "Using the numbers [44 19 35], create an equation that equals 98.") != NULL);
    CHECK(strlen(p0) > 7 && strcmp(p0 + strlen(p0) - 7, "<think>") == 0);
    /* Item 6 has a one-digit number: numpy pads it ("[83 78  1 39]"). */
    CHECK(strstr(t->items[6].prompt, "[83 78  1 39]") != NULL);

    /* Every reference solution is a correct answer, and the prompt builder
     * reproduces every context byte for byte. */
    char *text = test_read_file(path, NULL);
    CHECK(text != NULL);
    cJSON *root = cJSON_Parse(text);
    free(text);
    int solved = 0, prompts_equal = 0, n4 = 0;
    for (int i = 0; i < t->n_items && root; i++) {
        const cJSON *it = cJSON_GetArrayItem(root, i);
        const char *sol = cJSON_GetObjectItem(it, "solution")->valuestring;
        char resp[256];
        snprintf(resp, sizeof resp, "...</think>\n<answer>%s</answer>", sol);
        esft_score s;
        t->score(t, i, resp, strlen(resp), &s);
        solved += s.reward == 1.1 && s.correct;
        const esft_countdown_item *d = t->items[i].data;
        n4 += d->n_numbers == 4;
        char *p = esft_countdown_prompt(d->numbers, d->n_numbers, t->items[i].target);
        prompts_equal += p && strcmp(p, t->items[i].prompt) == 0;
        free(p);
    }
    CHECKF(solved == 200, "%d of 200 reference solutions score 1.1", solved);
    CHECKF(prompts_equal == 200, "%d of 200 prompts rebuilt exactly", prompts_equal);
    CHECK(n4 == 104); /* 96 problems with 3 numbers, 104 with 4 */
    cJSON_Delete(root);
    esft_task_free(t);
}

typedef struct bad_file {
    const char *content;
    const char *want1, *want2; /* substrings the message must hold */
} bad_file;

static void test_malformed(void) {
    static const char *ok_item = "{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"3\"}";
    char big[4096];
    static const bad_file cases[] = {
        {"", "empty", NULL},
        {"  \n\t ", "empty", NULL},
        {"[{\"context\": ", "not valid JSON", NULL},
        {"[1, 2,]", "not valid JSON", NULL},
        {"{\"context\":\"c\",\"numbers\":[1],\"target\":\"1\"}", "array", NULL},
        {"\"text\"", "array", NULL},
        {"[]", "no items", NULL},
        {"[1]", "item 0", "object"},
        {"[OK,{\"numbers\":[1,2],\"target\":\"3\"}]", "item 1", "'context' is missing"},
        {"[OK,{\"context\":5,\"numbers\":[1,2],\"target\":\"3\"}]", "item 1", "'context' must be a string"},
        {"[OK,{\"context\":\"\",\"numbers\":[1,2],\"target\":\"3\"}]", "item 1", "'context' is empty"},
        {"[OK,OK,{\"context\":\"c\",\"target\":\"3\"}]", "item 2", "'numbers' is missing"},
        {"[OK,OK,{\"context\":\"c\",\"numbers\":\"1 2\",\"target\":\"3\"}]", "item 2", "'numbers' must be an array"},
        {"[OK,OK,{\"context\":\"c\",\"numbers\":[],\"target\":\"3\"}]", "item 2", "'numbers' is empty"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2.5],\"target\":\"3\"}]", "item 1", "'numbers': entry 1"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,-2],\"target\":\"3\"}]", "item 1", "'numbers': entry 1"},
        {"[OK,{\"context\":\"c\",\"numbers\":[\"1\",2],\"target\":\"3\"}]", "item 1", "'numbers': entry 0"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2]}]", "item 1", "'target' is missing"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":3}]", "item 1", "'target' must be a string"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"abc\"}]", "item 1", "'target'"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"3 apples\"}]", "item 1", "'target'"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"inf\"}]", "item 1", "'target'"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"nan\"}]", "item 1", "'target'"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"0x10\"}]", "item 1", "'target'"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"\"}]", "item 1", "'target' is empty"},
        {"[OK,{\"context\":\"c\",\"numbers\":[1,2],\"target\":\"3\",\"solution\":12}]", "item 1",
         "'solution' must be a string"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        /* Expand OK into a valid item. */
        size_t n = 0;
        for (const char *p = cases[i].content; *p;) {
            if (strncmp(p, "OK", 2) == 0) {
                n += (size_t)snprintf(big + n, sizeof big - n, "%s", ok_item);
                p += 2;
            } else {
                big[n++] = *p++;
            }
        }
        big[n] = 0;
        const char *path = write_tmp("bad.json", big);
        esft_task *t = (esft_task *)1;
        esft_err err = {{0}};
        esft_status st = esft_task_load("countdown", path, NULL, &t, &err);
        CHECKF(st == ESFT_ERR_FORMAT && t == NULL && strstr(err.msg, path) &&
                   strstr(err.msg, cases[i].want1) && (!cases[i].want2 || strstr(err.msg, cases[i].want2)) &&
                   !strchr(err.msg, '\n'),
               "case %zu (%s): status %d, message '%s'", i, big, st, err.msg);
    }
    /* 17 numbers are too many, 16 are fine. */
    for (int k = 16; k <= 17; k++) {
        int n = snprintf(big, sizeof big, "[{\"context\":\"c\",\"target\":\"1\",\"numbers\":[1");
        for (int j = 1; j < k; j++) n += snprintf(big + n, sizeof big - (size_t)n, ",1");
        snprintf(big + n, sizeof big - (size_t)n, "]}]");
        esft_task *t = NULL;
        esft_err err = {{0}};
        esft_status st = esft_task_load("countdown", write_tmp("k.json", big), NULL, &t, &err);
        CHECKF(k == 16 ? st == ESFT_OK : (st == ESFT_ERR_FORMAT && strstr(err.msg, "item 0") &&
                                          strstr(err.msg, "at most 16")),
               "%d numbers: %d %s", k, st, err.msg);
        esft_task_free(t);
    }
    /* Missing file, no file, unknown task, unknown split. */
    esft_task *t = NULL;
    esft_err err = {{0}};
    char missing[600];
    snprintf(missing, sizeof missing, "%s/does-not-exist.json", tmp_dir);
    CHECK(esft_task_load("countdown", missing, NULL, &t, &err) == ESFT_ERR_IO && strstr(err.msg, missing));
    CHECK(esft_task_load("countdown", NULL, NULL, &t, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "data file"));
    CHECK(esft_task_load("sudoku", NULL, NULL, &t, &err) == ESFT_ERR_INVALID_ARG &&
          strcmp(err.msg, "unknown task 'sudoku' (countdown, conciseness)") == 0);
    CHECK(esft_task_load("conciseness", NULL, "test", &t, &err) == ESFT_ERR_INVALID_ARG &&
          strstr(err.msg, "'test'"));
    CHECK(t == NULL);
    CHECK(strcmp(esft_task_names[0], "countdown") == 0 && strcmp(esft_task_names[1], "conciseness") == 0 &&
          esft_task_names[2] == NULL);
    esft_task_free(NULL); /* no-op */
}

/* ---------------------------------------------------------------------- */
/* The generator.                                                          */

static void check_generated(const char *json, int n, int lo, int hi) {
    const char *path = write_tmp("gen.json", json);
    esft_task *t = NULL;
    esft_err err = {{0}};
    CHECKF(esft_task_load("countdown", path, NULL, &t, &err) == ESFT_OK, "%s", err.msg);
    if (!t) return;
    CHECK(t->n_items == n);
    cJSON *root = cJSON_Parse(json);
    int good = 0;
    for (int i = 0; i < t->n_items; i++) {
        const cJSON *it = cJSON_GetArrayItem(root, i);
        const cJSON *id = cJSON_GetObjectItem(it, "id"), *sol = cJSON_GetObjectItem(it, "solution");
        const esft_countdown_item *d = t->items[i].data;
        bool ok = cJSON_IsNumber(id) && id->valueint == i && cJSON_IsString(sol);
        ok = ok && d->n_numbers >= lo && d->n_numbers <= hi;
        for (int j = 0; j < d->n_numbers; j++) ok = ok && d->numbers[j] >= 1 && d->numbers[j] <= 99;
        char tstr[32];
        snprintf(tstr, sizeof tstr, "%d", (int)d->target);
        ok = ok && d->target >= 10 && d->target <= 100 && strcmp(tstr, t->items[i].target) == 0;
        char *p = esft_countdown_prompt(d->numbers, d->n_numbers, t->items[i].target);
        ok = ok && p && strcmp(p, t->items[i].prompt) == 0;
        free(p);
        /* Its own solution is a correct answer under the reward. */
        char resp[600];
        snprintf(resp, sizeof resp, "</think>\n<answer>%s</answer>", ok ? sol->valuestring : "");
        esft_score s;
        t->score(t, i, resp, strlen(resp), &s);
        ok = ok && s.reward == 1.1 && s.parts[1] == 1.0;
        if (!ok && good == i) fprintf(stderr, "generated item %d is off: %s\n", i, resp);
        good += ok;
    }
    CHECKF(good == n, "%d of %d generated problems are well-formed and solved by their solution", good, n);
    cJSON_Delete(root);
    esft_task_free(t);
}

static void test_generator(void) {
    char *a = NULL, *b = NULL, *c = NULL;
    esft_err err = {{0}};
    CHECK(esft_countdown_generate(100, 42, 3, 4, &a, &err) == ESFT_OK);
    CHECK(esft_countdown_generate(100, 42, 3, 4, &b, &err) == ESFT_OK);
    CHECK(esft_countdown_generate(100, 43, 3, 4, &c, &err) == ESFT_OK);
    CHECK(a && b && c && strcmp(a, b) == 0);
    CHECK(a && c && strcmp(a, c) != 0);
    if (a) check_generated(a, 100, 3, 4);
    free(a);
    free(b);
    free(c);
    /* Both counts of the range occur, and the wording is the data set's. */
    CHECK(esft_countdown_generate(40, 7, 3, 4, &a, &err) == ESFT_OK);
    if (a) {
        CHECK(strstr(a, "create an equation that equals") && strstr(a, "Let me solve this step by step.\\n<think>"));
        cJSON *root = cJSON_Parse(a);
        int n3 = 0, n4 = 0;
        for (int i = 0; i < cJSON_GetArraySize(root); i++) {
            int k = cJSON_GetArraySize(cJSON_GetObjectItem(cJSON_GetArrayItem(root, i), "numbers"));
            n3 += k == 3;
            n4 += k == 4;
        }
        CHECK(n3 > 5 && n4 > 5 && n3 + n4 == 40);
        cJSON_Delete(root);
    }
    free(a);
    for (int k = 1; k <= 16; k += 5) { /* 1, 6, 11, 16 numbers */
        a = NULL;
        CHECKF(esft_countdown_generate(10, (uint64_t)k, k, k, &a, &err) == ESFT_OK, "%d: %s", k, err.msg);
        if (a) check_generated(a, 10, k, k);
        free(a);
    }
    a = NULL;
    CHECK(esft_countdown_generate(0, 1, 3, 4, &a, &err) == ESFT_ERR_INVALID_ARG && a == NULL);
    CHECK(esft_countdown_generate(5, 1, 4, 3, &a, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_countdown_generate(5, 1, 0, 3, &a, &err) == ESFT_ERR_INVALID_ARG);
    CHECK(esft_countdown_generate(5, 1, 3, 17, &a, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "16"));
}

/* ---------------------------------------------------------------------- */
/* Conciseness.                                                            */

static void test_conciseness(void) {
    esft_task *t = NULL;
    esft_err err = {{0}};
    CHECKF(esft_task_load("conciseness", NULL, NULL, &t, &err) == ESFT_OK, "%s", err.msg);
    if (!t) return;
    CHECK(t->n_items == 2);
    CHECK(strcmp(t->items[0].prompt, "Solve: 3 + 5 =") == 0 && strcmp(t->items[0].target, "8") == 0);
    CHECK(strcmp(t->items[1].prompt, "If all birds can fly and penguins are birds, can penguins fly?") == 0 &&
          strcmp(t->items[1].target, "No") == 0);
    CHECK(t->default_max_new == 100 && !t->chat && t->n_parts == 1 && strcmp(t->part_names[0], "length") == 0);
    static const struct {
        int item;
        const char *response;
        double reward;
        bool correct;
    } cases[] = {
        {0, "8", 0, true},
        {0, "", -1, false},
        {0, "8.", -1, true},
        {0, " 8 ", -2, true}, /* not stripped for the reward */
        {0, "The answer is 8", -14, false},
        {0, "3 + 5 = 8", -8, false},
        {0, "\xc3\xa9", 0, false},                 /* é: 2 bytes, 1 character */
        {0, "\xe6\x97\xa5\xe6\x9c\xac", -1, false}, /* 日本: 2 characters */
        {0, "\xf0\x9f\x98\x80", 0, false},         /* an emoji: 1 character */
        {0, "\xff\xfe", -1, false},                /* 2 invalid bytes, 2 replacement characters */
        {1, "No", 0, true},
        {1, "no", 0, true},
        {1, "No.", -1, true},
        {1, " NO. \n", -4, true},
        {1, "Nope", -2, false},
        {1, "No, they can't.", -13, false},
        {1, "Non", -1, false},
        {1, "N\xc3\xb6", 0, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        esft_score s;
        t->score(t, cases[i].item, cases[i].response, strlen(cases[i].response), &s);
        CHECKF(s.reward == cases[i].reward && s.correct == cases[i].correct,
               "case %zu '%s': reward %g correct %d", i, cases[i].response, s.reward, s.correct);
    }
    esft_score s;
    t->score(t, 0, "8", 1, &s);
    CHECK(s.reward == 0 && !signbit(s.reward)); /* -abs(0) is 0 in Python, not -0 */
    t->score(t, 0, "abcdef", 3, &s); /* length honoured */
    CHECK(s.reward == -2 && s.parts[0] == 3);
    esft_task_free(t);

    /* Code points as Python's bytes.decode("utf-8", "replace") counts them. */
    CHECK(esft_utf8_length("", 0) == 0);
    CHECK(esft_utf8_length("a\xf0\x9f\x98\x80" "b", 6) == 3);
    CHECK(esft_utf8_length("\xe6\x97", 2) == 1);          /* truncated: one maximal subpart */
    CHECK(esft_utf8_length("\xe6\x97" "A", 3) == 2);
    CHECK(esft_utf8_length("\xed\xa0\x80", 3) == 3);      /* a surrogate: three bad bytes */
    CHECK(esft_utf8_length("\xc0\xaf", 2) == 2);          /* overlong */
    CHECK(esft_utf8_length("\xf4\x90\x80\x80", 4) == 4);  /* beyond U+10FFFF */
    /* sanitised copies: valid UTF-8 kept, each ill-formed unit and NUL one U+FFFD */
    static const struct { const char *in; size_t len; const char *out; } clean[] = {
        {"abc", 3, "abc"},
        {"a\xf0\x9f\x98\x80" "b", 6, "a\xf0\x9f\x98\x80" "b"},
        {"\xe6\x97" "A", 3, "\xef\xbf\xbd" "A"},
        {"\xed\xa0\x80", 3, "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd"},
        {"x\0y", 3, "x\xef\xbf\xbdy"},
        {"\xff", 1, "\xef\xbf\xbd"},
    };
    for (size_t i = 0; i < sizeof clean / sizeof clean[0]; i++) {
        char *got = esft_utf8_sanitize(clean[i].in, clean[i].len);
        CHECKF(got && strcmp(got, clean[i].out) == 0, "sanitize case %zu", i);
        CHECK(got && esft_utf8_length(got, strlen(got)) == esft_utf8_length(clean[i].in, clean[i].len));
        free(got);
    }

    CHECKF(esft_task_load("conciseness", NULL, "eval", &t, &err) == ESFT_OK, "%s", err.msg);
    if (t) {
        CHECK(t->n_items >= 8);
        int ok = 0;
        for (int i = 0; i < t->n_items; i++) {
            t->score(t, i, t->items[i].target, strlen(t->items[i].target), &s);
            ok += s.reward == 0 && s.correct && strcmp(t->items[i].prompt, "Solve: 3 + 5 =") != 0;
        }
        CHECK(ok == t->n_items);
        esft_task_free(t);
        t = NULL;
    }

    /* A data file of {prompt, target}. */
    const char *path = write_tmp("c.json", "[{\"prompt\":\"2+2=\",\"target\":\"4\"},{\"prompt\":\"Hi\",\"target\":\"Hello\"}]");
    CHECKF(esft_task_load("conciseness", path, NULL, &t, &err) == ESFT_OK, "%s", err.msg);
    if (t) {
        CHECK(t->n_items == 2 && strcmp(t->items[1].prompt, "Hi") == 0);
        t->score(t, 1, "Hi", 2, &s);
        CHECK(s.reward == -3 && !s.correct);
        esft_task_free(t);
        t = NULL;
    }
    path = write_tmp("c.json", "[{\"prompt\":\"2+2=\",\"target\":\"4\"},{\"prompt\":\"Hi\"}]");
    CHECK(esft_task_load("conciseness", path, NULL, &t, &err) == ESFT_ERR_FORMAT && strstr(err.msg, "item 1") &&
          strstr(err.msg, "'target' is missing") && strstr(err.msg, path));
    path = write_tmp("c.json", "[{\"prompt\":[],\"target\":\"4\"}]");
    CHECK(esft_task_load("conciseness", path, NULL, &t, &err) == ESFT_ERR_FORMAT && strstr(err.msg, "item 0") &&
          strstr(err.msg, "'prompt'"));
    path = write_tmp("c.json", "[]");
    CHECK(esft_task_load("conciseness", path, NULL, &t, &err) == ESFT_ERR_FORMAT);
}

int main(void) {
    if (!test_make_tmpdir(tmp_dir, sizeof tmp_dir, "esft-test-tasks")) return 1;
    test_countdown_rewards();
    test_eval();
    test_format_vs_pcre2();
    test_train_json();
    test_malformed();
    test_generator();
    test_conciseness();
    test_remove_tmpdir(tmp_dir);
    return TEST_EXIT();
}
