/* Fuzzes the task data-set loaders: the input is written to a file and
 * loaded as a Countdown data set (JSON array of {context, numbers, target,
 * solution?}), as a conciseness one ({prompt, target}), and as records
 * (JSONL or a JSON array) under every built-in reward, each item then
 * scoring its own target and the raw input as responses. A loaded set must
 * be usable: every item has a prompt and a target, and scores responses
 * (an answer using its numbers, its own prompt, a fixed text). */
#include <math.h>
#include <stdbool.h>
#include <unistd.h>

#include "countdown.h"
#include "fuzz_harness.h"
#include "task.h"

static char g_path[256];

static void remove_file(void) { unlink(g_path); }

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    const char *dir = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(g_path, sizeof g_path, "%s/esft-fuzz-dataset-%ld.json", dir ? dir : "/tmp", (long)getpid());
    atexit(remove_file);
    return 0;
}

static void write_input(const uint8_t *data, size_t size) {
    FILE *f = fopen(g_path, "wb");
    FUZZ_REQUIRE(f != NULL, "cannot create %s", g_path);
    FUZZ_REQUIRE(fwrite(data, 1, size, f) == size && fclose(f) == 0, "cannot write %s", g_path);
}

static void score(const esft_task *t, int i, const char *response) {
    esft_score s;
    t->score(t, i, response, strlen(response), &s);
    FUZZ_REQUIRE(!isnan(s.reward), "item %d: reward NaN", i);
}

/* Loads the input as task `name`: NULL after a clean refusal. */
static esft_task *load(const char *name) {
    esft_task *t;
    esft_err err;
    if (esft_task_load(name, g_path, NULL, &t, &err) == ESFT_OK) return t;
    fuzz_require_one_line(err.msg);
    return NULL;
}

static void check_countdown(void) {
    esft_task *t = load("countdown");
    if (!t) return;
    FUZZ_REQUIRE(t->n_items > 0, "empty task loaded");
    for (int i = 0; i < t->n_items; i++) {
        const esft_countdown_item *d = t->items[i].data;
        FUZZ_REQUIRE(t->items[i].prompt && t->items[i].target && d, "item %d incomplete", i);
        FUZZ_REQUIRE(d->n_numbers >= 1 && d->n_numbers <= ESFT_COUNTDOWN_MAX_NUMBERS && isfinite(d->target),
                     "item %d: %d numbers, target %g", i, d->n_numbers, d->target);
        char *prompt = esft_countdown_prompt(d->numbers, d->n_numbers, t->items[i].target);
        FUZZ_REQUIRE(prompt != NULL, "item %d: no prompt", i);
        /* the numbers joined by '+' use each exactly once */
        char answer[16 * 24 + 64];
        size_t o = (size_t)snprintf(answer, sizeof answer, "</think>\n<answer>");
        for (int k = 0; k < d->n_numbers; k++)
            o += (size_t)snprintf(answer + o, sizeof answer - o, "%s%lld", k ? "+" : "", (long long)d->numbers[k]);
        snprintf(answer + o, sizeof answer - o, "</answer>");
        score(t, i, answer);
        score(t, i, prompt);
        free(prompt);
    }
    esft_task_free(t);
}

static void check_conciseness(void) {
    esft_task *t = load("conciseness");
    if (!t) return;
    for (int i = 0; i < t->n_items; i++) {
        FUZZ_REQUIRE(t->items[i].prompt && t->items[i].target, "item %d incomplete", i);
        score(t, i, t->items[i].target);
        score(t, i, "No.");
    }
    esft_task_free(t);
}

static void check_rewards(const uint8_t *data, size_t size) {
    static const char *const rewards[] = {"exact", "numeric", "regex", "countdown", "conciseness", "sudoku", "arc"};
    for (size_t r = 0; r < sizeof rewards / sizeof rewards[0]; r++) {
        esft_task_spec spec = {NULL, rewards[r], strcmp(rewards[r], "regex") == 0 ? "a+b" : NULL, 0, NULL, 0, 0};
        esft_task *t;
        esft_err err;
        if (esft_task_open(&spec, g_path, "train", &t, &err)) {
            fuzz_require_one_line(err.msg);
            continue;
        }
        FUZZ_REQUIRE(t->n_items > 0, "%s: empty task loaded", rewards[r]);
        for (int i = 0; i < t->n_items; i++) {
            FUZZ_REQUIRE(t->items[i].prompt && t->items[i].record, "%s: item %d incomplete", rewards[r], i);
            if (t->items[i].target) score(t, i, t->items[i].target);
            esft_score s;
            t->score(t, i, (const char *)data, size, &s);
            FUZZ_REQUIRE(!isnan(s.reward), "%s: item %d: reward NaN", rewards[r], i);
        }
        esft_task_free(t);
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    write_input(data, size);
    check_countdown();
    check_conciseness();
    check_rewards(data, size);
    return 0;
}
