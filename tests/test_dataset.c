/* Data sets of records (frontend/tasks/dataset.h) through esft_task_open:
 * JSONL and JSON arrays give the same items, every malformed input is
 * refused whole with one line naming the file, the line and the field, and
 * the eval hold-out is deterministic, disjoint and independent of order. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dataset.h"
#include "task.h"
#include "testutil.h"

static char tmp_dir[256];

static const char *write_tmp(const char *name, const char *content, size_t len) {
    return test_write_tmp(tmp_dir, name, content, len);
}

static esft_status open_data(const char *name, const char *content, size_t len, const char *reward, const char *split,
                             double eval_split, esft_task **t, esft_err *err) {
    const char *path = write_tmp(name, content, len);
    esft_task_spec spec = {NULL, reward, NULL, eval_split, NULL, 0, 0};
    return esft_task_open(&spec, path, split, t, err);
}

/* A malformed input: refused with a message that starts "FILE:LINE: " (or
 * "FILE: " when line is 0) and holds `want` (the field), and no task. */
typedef struct bad_input {
    const char *content;
    const char *reward;
    int line;
    const char *want;
} bad_input;

static void test_malformed(void) {
    static const bad_input bad[] = {
        {"{\"prompt\":\"a\",\"answer\":\"1\"}\n{\"prompt\":5,\"answer\":\"1\"}\n", "exact", 2,
         "field 'prompt' must be a string"},
        {"{\"prompt\":\"a\",\"answer\":\"1\"}\n\n{\"answer\":\"1\"}\n", "exact", 3, "field 'prompt' is missing"},
        {"{\"prompt\":\"\",\"answer\":\"1\"}\n", "exact", 1, "field 'prompt' is empty"},
        {"{\"prompt\":\"a\",\"messages\":[],\"answer\":\"1\"}\n", "exact", 1, "fields 'prompt' and 'messages'"},
        {"{\"messages\":\"hi\",\"answer\":\"1\"}\n", "exact", 1, "field 'messages' must be a non-empty array"},
        {"{\"messages\":[],\"answer\":\"1\"}\n", "exact", 1, "field 'messages' must be a non-empty array"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":\"a\"},{\"role\":\"bot\",\"content\":\"b\"}]}\n", "exact", 1,
         "field 'messages[1].role'"},
        {"{\"messages\":[{\"role\":\"user\",\"content\":3}]}\n", "exact", 1, "field 'messages[0].content'"},
        {"{\"messages\":[7]}\n", "exact", 1, "field 'messages[0]' must be an object"},
        {"{\"prompt\":\"a\",\"answer\":\"1\"}\n{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"answer\":\"1\"}\n",
         "exact", 2, "field 'messages' needs a chat template"},
        {"[1]\n", "exact", 1, "a record must be a JSON object (with a field 'prompt')"},
        {"{\"prompt\":\"a\",\"answer\":\"1\"}\n{\"prompt\":\"b\"}\n{\"prompt\":\"c\"}\n", "exact",
         2, "field 'answer' is missing"}, /* the first bad record is named */
        {"{\"prompt\":\"a\",\"answer\":\"1\"}\n{\"prompt\":\"a\",\"answer\":\"1\"}\n\n{\"prompt\": \"a\",\n", "exact", 4,
         "not valid JSON (JSONL: one record per line)"},
        {"{\"prompt\":\"a\",\"answer\":\"1\"} {\"prompt\":\"b\",\"answer\":\"1\"}\n", "exact", 1,
         "text after the record"},
        {"{\n  \"prompt\": \"a\",\n  \"answer\": \"1\"\n}\n", "exact", 1, "not valid JSON (JSONL"}, /* pretty-printed */
        {"{\"prompt\":\"a\",\"answer\":7}\n", "exact", 1, "field 'answer' must be a string"},
        {"{\"prompt\":\"a\",\"answer\":[\"x\",null]}\n", "exact", 1, "field 'answer': entry 1"},
        {"[{\"prompt\":\"a\",\"answer\":\"1\"},\n {\"prompt\":\"b\"}]", "exact", 2, "field 'answer' is missing"},
        {"[\n{\"prompt\":\"a\",\"answer\":\"1\"}\n{\"prompt\":\"b\",\"answer\":\"1\"}]", "exact", 3,
         "expected ',' or ']' after the record of line 2"},
        {"[{\"prompt\":\"a\",\"answer\":\"1\"}]\n\nx", "exact", 3, "text after the JSON array"},
        {"[{\"prompt\":\"a\",\"answer\":\"1\"},\n]", "exact", 2, "not valid JSON"}, /* a trailing comma */
        {"[{\"prompt\":\"a\",\"answer\":\"1\"},\n\n 7]", "exact", 3, "a record must be a JSON object"},
        {"[{\"prompt\":\"a\",\"answer\":\"1\"}", "exact", 1, "expected ',' or ']'"}, /* unclosed */
        {"{\"prompt\":\"a\",\"answer\":\"1\"}\r\n\r\n{\"prompt\":\"b\",\"answer\":2}\r\n", "exact", 3,
         "field 'answer' must be a string"},
        {"{\"prompt\":\"a\",\"answer\":\"abc\"}\n", "numeric", 1, "field 'answer' ('abc') holds no number"},
        {"{\"prompt\":\"a\",\"pattern\":\"(\"}\n", "regex", 1, "field 'pattern': missing closing parenthesis"},
        {"{\"prompt\":\"a\",\"puzzle\":\"123\"}\n", "sudoku", 1, "field 'puzzle' is not a 4x4 or 9x9 grid"},
        {"{\"prompt\":\"a\",\"answer\":\"12\\n3\"}\n", "arc", 1, "field 'answer' is not a grid"},
        {"{\"prompt\":\"a\",\"target\":\"3\"}\n", "countdown", 1, "field 'numbers' is missing"},
        {"{\"prompt\":\"a\",\"answer\":\"\"}\n", "conciseness", 1, "field 'answer' is empty"},
        {"", "exact", 0, "the file is empty"},
        {" \n\n ", "exact", 0, "the file is empty"},
        {"[]", "exact", 0, "holds no records"},
        {"[ ]\n", "exact", 0, "holds no records"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        esft_task *t = (esft_task *)1;
        esft_err err = {{0}};
        char name[32], prefix[64];
        snprintf(name, sizeof name, "bad%zu.jsonl", i);
        esft_status st = open_data(name, bad[i].content, strlen(bad[i].content), bad[i].reward, NULL, 0, &t, &err);
        if (bad[i].line) snprintf(prefix, sizeof prefix, "/%s:%d: ", name, bad[i].line);
        else snprintf(prefix, sizeof prefix, "/%s: ", name);
        CHECKF(st != ESFT_OK && t == NULL, "input %zu was accepted", i);
        CHECKF(strstr(err.msg, prefix) && strstr(err.msg, bad[i].want), "input %zu: '%s' (want '%s' and '%s')", i,
               err.msg, prefix, bad[i].want);
        CHECKF(!strchr(err.msg, '\n'), "input %zu: the message is not one line: %s", i, err.msg);
    }
    /* a NUL byte: the line it is on */
    static const char nul[] = "{\"prompt\":\"a\",\"answer\":\"1\"}\n{\"prompt\":\"b\0\",\"answer\":\"1\"}\n";
    esft_task *t = NULL;
    esft_err err = {{0}};
    CHECK(open_data("nul.jsonl", nul, sizeof nul - 1, "exact", NULL, 0, &t, &err) != ESFT_OK);
    CHECKF(strstr(err.msg, "/nul.jsonl:2: ") && strstr(err.msg, "NUL byte"), "%s", err.msg);
    /* a missing file */
    esft_task_spec spec = {NULL, "exact", NULL, 0, NULL, 0, 0};
    CHECK(esft_task_open(&spec, "/nonexistent/d.jsonl", NULL, &t, &err) == ESFT_ERR_IO);
    CHECKF(strstr(err.msg, "/nonexistent/d.jsonl: cannot read"), "%s", err.msg);
}

/* Specs that do not fit together are refused before any data is read. */
static void test_specs(void) {
    static const char ok[] = "{\"prompt\":\"a\",\"answer\":\"1\"}\n";
    const char *path = write_tmp("ok.jsonl", ok, strlen(ok));
    static const struct {
        esft_task_spec spec;
        const char *path, *want;
    } bad[] = {
        {{"countdown", "exact", NULL, 0, NULL, 0, 0}, "x", "--task countdown and --reward exact"},
        {{NULL, "nope", NULL, 0, NULL, 0, 0}, "x", "unknown reward 'nope' (exact, numeric, regex"},
        {{NULL, "exact", NULL, 0, NULL, 0, 0}, NULL, "--reward exact needs --data FILE"},
        {{NULL, "exact", "x", 0, NULL, 0, 0}, "x", "--reward-arg: the exact reward takes no argument"},
        {{NULL, "exact", NULL, 1.0, NULL, 0, 0}, "x", "--eval-split 1: the held-out fraction must be in [0, 1)"},
        {{NULL, "exact", NULL, -0.5, NULL, 0, 0}, "x", "--eval-split -0.5"},
        {{"conciseness", NULL, NULL, 0.2, NULL, 0, 0}, NULL, "--eval-split holds out part of a --reward data set"},
        {{"conciseness", NULL, "x", 0, NULL, 0, 0}, NULL, "--reward-arg needs --reward NAME"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        esft_task *t = NULL;
        esft_err err = {{0}};
        esft_status st = esft_task_open(&bad[i].spec, bad[i].path ? path : NULL, "train", &t, &err);
        CHECKF(st == ESFT_ERR_INVALID_ARG && !t && strstr(err.msg, bad[i].want), "spec %zu: '%s' (want '%s')", i,
               err.msg, bad[i].want);
    }
    esft_task *t = NULL;
    esft_err err = {{0}};
    esft_task_spec split = {NULL, "exact", NULL, 0.5, NULL, 0, 0};
    CHECK(esft_task_open_eval(&split, path, path, &t, &err) == ESFT_ERR_INVALID_ARG &&
          strstr(err.msg, "--eval-data and --eval-split both"));
    esft_task_spec plain = {NULL, "exact", NULL, 0, NULL, 0, 0};
    CHECK(esft_task_open_eval(&plain, path, NULL, &t, &err) == ESFT_ERR_INVALID_ARG &&
          strstr(err.msg, "no eval set for --reward exact"));
    /* the built-in tasks: as before */
    esft_task_spec builtin = {"conciseness", NULL, NULL, 0, NULL, 0, 0};
    CHECK(esft_task_open_eval(&builtin, NULL, NULL, &t, &err) == ESFT_OK && t->n_items == 10);
    esft_task_free(t);
    CHECK(esft_task_open(&builtin, NULL, "train", &t, &err) == ESFT_OK && t->n_items == 2 &&
          strcmp(t->items[0].prompt, "Solve: 3 + 5 =") == 0 && t->items[0].record == NULL);
    esft_task_free(t);
}

/* The same three records as JSONL (with blank lines, CRLF) and as a JSON
 * array give the same items; the record stays whole in the item. */
static void test_formats(void) {
    static const char jsonl[] = "\n{\"prompt\":\"What is 2+2?\",\"answer\":\"4\",\"id\":7}\r\n\n"
                                "{\"prompt\":\"Capital of France?\",\"answer\":[\"Paris\",\"paris, france\"]}\n"
                                "   {\"prompt\":\"Say hi\",\"answer\":\"hi\",\"extra\":{\"k\":[1,2]}}";
    static const char array[] = "[{\"prompt\":\"What is 2+2?\",\"answer\":\"4\",\"id\":7},\n"
                                "{\"prompt\":\"Capital of France?\",\"answer\":[\"Paris\",\"paris, france\"]} ,\n"
                                "{\"prompt\":\"Say hi\",\"answer\":\"hi\",\"extra\":{\"k\":[1,2]}}]\n";
    const char *contents[] = {jsonl, array};
    const char *names[] = {"three.jsonl", "three.json"};
    for (int f = 0; f < 2; f++) {
        esft_task *t = NULL;
        esft_err err = {{0}};
        if (open_data(names[f], contents[f], strlen(contents[f]), "exact", NULL, 0, &t, &err)) {
            CHECKF(false, "%s: %s", names[f], err.msg);
            continue;
        }
        CHECK(t->n_items == 3 && strcmp(t->name, "exact") == 0 && t->n_parts == 1);
        CHECK(strcmp(t->items[0].prompt, "What is 2+2?") == 0 && strcmp(t->items[0].target, "4") == 0);
        CHECK(strcmp(t->items[1].prompt, "Capital of France?") == 0 && strcmp(t->items[1].target, "Paris") == 0);
        CHECK(strcmp(t->items[2].prompt, "Say hi") == 0 && !t->chat && t->default_max_new > 0);
        const cJSON *extra = cJSON_GetObjectItem(t->items[2].record, "extra");
        CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(extra, "k")) == 2);
        CHECK(cJSON_GetObjectItem(t->items[0].record, "id")->valueint == 7);
        CHECK(strstr(t->source, names[f]) != NULL);
        esft_score s;
        t->score(t, 1, "paris,   FRANCE", 15, &s);
        CHECK(s.reward == 1 && s.correct);
        esft_task_free(t);
    }
    /* the record lines the reader reports */
    esft_dataset d;
    esft_err err = {{0}};
    CHECK(esft_dataset_read(write_tmp("lines.json", array, strlen(array)), &d, &err) == ESFT_OK && d.n == 3 &&
          d.lines[0] == 1 && d.lines[1] == 2 && d.lines[2] == 3);
    esft_dataset_free(&d);
    CHECK(esft_dataset_read(write_tmp("lines.jsonl", jsonl, strlen(jsonl)), &d, &err) == ESFT_OK && d.n == 3 &&
          d.lines[0] == 2 && d.lines[1] == 4 && d.lines[2] == 5);
    esft_dataset_free(&d);
}

/* n records "q<i>" (i < n, in the order `order` gives), each answered "a". */
static char *numbered(int n, const int *order) {
    char *buf = malloc((size_t)n * 40 + 1);
    size_t k = 0;
    for (int i = 0; i < n; i++) k += (size_t)sprintf(buf + k, "{\"prompt\":\"q%d\",\"answer\":\"a\"}\n", order[i]);
    return buf;
}

/* The prompts of a split as a membership table over q0..q(n-1). */
static bool split_members(const char *name, const char *content, const char *split, double p, bool *in, int n,
                          int *count) {
    esft_task *t = NULL;
    esft_err err = {{0}};
    if (open_data(name, content, strlen(content), "exact", split, p, &t, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return false;
    }
    memset(in, 0, (size_t)n * sizeof *in);
    *count = t->n_items;
    for (int i = 0; i < t->n_items; i++) in[atoi(t->items[i].prompt + 1)] = true;
    esft_task_free(t);
    return true;
}

static void test_eval_split(void) {
    enum { N = 40 };
    int fwd[N], rev[N];
    for (int i = 0; i < N; i++) fwd[i] = i, rev[i] = N - 1 - i;
    char *a = numbered(N, fwd), *b = numbered(N, rev);
    bool train[N], eval[N], eval_rev[N], eval_again[N];
    int n_train = 0, n_eval = 0, n_rev = 0, n_again = 0;
    CHECK(split_members("s.jsonl", a, "train", 0.25, train, N, &n_train));
    CHECK(split_members("s.jsonl", a, "eval", 0.25, eval, N, &n_eval));
    CHECK(split_members("s.jsonl", a, "eval", 0.25, eval_again, N, &n_again));
    CHECK(split_members("r.jsonl", b, "eval", 0.25, eval_rev, N, &n_rev));
    CHECKF(n_eval == 10 && n_train == 30, "eval %d train %d (want 10 = round(0.25 * 40) and 30)", n_eval, n_train);
    bool disjoint = true, cover = true, same = true, same_rev = true;
    for (int i = 0; i < N; i++) {
        disjoint &= !(train[i] && eval[i]);
        cover &= train[i] || eval[i];
        same &= eval[i] == eval_again[i];
        same_rev &= eval[i] == eval_rev[i];
    }
    CHECK(disjoint && cover && same && same_rev && n_rev == 10);
    /* without a split every record is in both "train" and "eval" */
    CHECK(split_members("s.jsonl", a, "eval", 0, eval, N, &n_eval) && n_eval == N);
    /* at least one record is held out; identical prompts stay together */
    CHECK(split_members("s.jsonl", a, "eval", 0.001, eval, N, &n_eval) && n_eval == 1);
    static const char dup[] = "{\"prompt\":\"q1\",\"answer\":\"a\"}\n{\"prompt\":\"q1\",\"answer\":\"b\"}\n"
                              "{\"prompt\":\"q2\",\"answer\":\"a\"}\n{\"prompt\":\"q3\",\"answer\":\"a\"}\n";
    esft_task *tr = NULL, *ev = NULL;
    esft_err err = {{0}};
    CHECK(open_data("dup.jsonl", dup, strlen(dup), "exact", "train", 0.5, &tr, &err) == ESFT_OK);
    CHECK(open_data("dup.jsonl", dup, strlen(dup), "exact", "eval", 0.5, &ev, &err) == ESFT_OK);
    if (tr && ev) {
        int q1_train = 0, q1_eval = 0;
        for (int i = 0; i < tr->n_items; i++) q1_train += strcmp(tr->items[i].prompt, "q1") == 0;
        for (int i = 0; i < ev->n_items; i++) q1_eval += strcmp(ev->items[i].prompt, "q1") == 0;
        CHECKF((q1_train == 2 && q1_eval == 0) || (q1_train == 0 && q1_eval == 2), "q1: %d train, %d eval", q1_train,
               q1_eval);
        CHECK(tr->n_items + ev->n_items == 4 && ev->n_items >= 2);
    }
    esft_task_free(tr);
    esft_task_free(ev);
    static const char same_prompt[] = "{\"prompt\":\"q\",\"answer\":\"a\"}\n{\"prompt\":\"q\",\"answer\":\"b\"}\n";
    CHECK(open_data("same.jsonl", same_prompt, strlen(same_prompt), "exact", "train", 0.5, &tr, &err) ==
              ESFT_ERR_INVALID_ARG &&
          strstr(err.msg, "holds out all 2 records"));
    /* a bad record anywhere fails both halves */
    char *c = numbered(N, fwd);
    char *bad = malloc(strlen(c) + 64);
    sprintf(bad, "%s{\"prompt\":\"q99\"}\n", c);
    CHECK(open_data("b.jsonl", bad, strlen(bad), "exact", "train", 0.25, &tr, &err) != ESFT_OK &&
          strstr(err.msg, "b.jsonl:41: field 'answer' is missing"));
    CHECK(open_data("b.jsonl", bad, strlen(bad), "exact", "test", 0.25, &tr, &err) == ESFT_ERR_INVALID_ARG);
    free(a), free(b), free(c), free(bad);
}

int main(void) {
    if (!test_make_tmpdir(tmp_dir, sizeof tmp_dir, "esft-test-dataset")) return 1;
    test_malformed();
    test_specs();
    test_formats();
    test_eval_split();
    test_remove_tmpdir(tmp_dir);
    return TEST_EXIT();
}
