#include "train_report.h"

#include <math.h>
#include <stdio.h>

void esft_train_report_init(esft_train_report *r, bool tty) { esft_progress_init(&r->progress, stderr, tty); }

void esft_train_report_fini(esft_train_report *r) { esft_progress_fini(&r->progress); }

static void format_duration(double s, char *buf, size_t cap) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

/* After every forward pass: the live line on a terminal, a heartbeat line
 * at least every 30 s elsewhere. Token rates: "gen" counts generated
 * tokens, "+prompt" prompt tokens as well. */
static void show_generate(esft_progress *pr, const esft_train_event *e) {
    double now = esft_now_seconds();
    if (!esft_progress_due(pr, now)) return;
    const esft_gen_progress *p = e->gen;
    double gen_tps = p->seconds > 0 ? p->new_tokens / p->seconds : 0;
    double all_tps = p->seconds > 0 ? (p->prompt_tokens + p->new_tokens) / p->seconds : 0;
    char eta[32] = "?", text[256];
    if (e->eta >= 0) format_duration(e->eta, eta, sizeof eta);
    const char *lead = pr->tty ? "" : "esft train: ", *sep = pr->tty ? "  " : ", ";
    char who[48]; /* "member 3/30", or low-rank members decoded together "members 1-30/30" */
    if (e->members > 1)
        snprintf(who, sizeof who, "members %d-%d/%d", e->member + 1, e->member + e->members, e->pop);
    else snprintf(who, sizeof who, "member %d/%d", e->member + 1, e->pop);
    if (e->member < 0)
        snprintf(text, sizeof text, "%siter %d/%d%seval seq %d/%d%sgen %.0f tok/s", lead, e->iter + 1, e->iters,
                 pr->tty ? "  " : ": ", p->done, p->total, sep, gen_tps);
    else if (pr->tty)
        snprintf(text, sizeof text, "iter %d/%d  %s  seq %d/%d  gen %.0f tok/s (+prompt %.0f)  ETA %s", e->iter + 1,
                 e->iters, who, p->done, p->total, gen_tps, all_tps, eta);
    else
        snprintf(text, sizeof text, "esft train: iter %d/%d: %s, seq %d/%d, %.0f s into the iteration, "
                 "gen %.0f tok/s (+prompt %.0f), ETA %s", e->iter + 1, e->iters, who, p->done, p->total, e->seconds,
                 gen_tps, all_tps, eta);
    esft_progress_update(pr, now, text);
}

static void show_start(esft_progress *pr, const esft_train_event *e) {
    static char f[5][4160];
    char ranks[48] = "";
    if (e->ranks > 1) snprintf(ranks, sizeof ranks, " | %d ranks", e->ranks);
    snprintf(f[0], sizeof f[0], "esft train: %s", e->model);
    snprintf(f[1], sizeof f[1], "on %s", e->device);
    snprintf(f[2], sizeof f[2], "task %s (%d items, batch %d)", e->task, e->n_items, e->batch);
    snprintf(f[3], sizeof f[3], "pop %d sigma %g alpha %g max_new %d", e->pop, e->sigma, e->alpha, e->max_new);
    snprintf(f[4], sizeof f[4], "iterations %d..%d%s", e->start_iter + 1, e->iters, ranks);
    const char *fields[] = {f[0], f[1], f[2], f[3], f[4]};
    esft_progress_fields(pr, esft_now_seconds(), fields, 5);
}

/* The lasting line of an iteration, and a hint after 5 without signal. */
static void show_iteration(esft_progress *pr, const esft_train_event *e) {
    char f[6][128];
    const char *fields[6];
    int n = 0;
    const bool no_signal = e->reward_min == e->reward_max;
    snprintf(f[n++], sizeof f[0], "iter %d/%d", e->iter + 1, e->iters);
    snprintf(f[n++], sizeof f[0], "reward %.4f (min %.4f max %.4f)", e->reward_mean, e->reward_min, e->reward_max);
    snprintf(f[n++], sizeof f[0], "%ld new tokens, gen %.0f tok/s", e->new_tokens,
             e->gen_seconds > 0 ? e->new_tokens / e->gen_seconds : 0);
    snprintf(f[n++], sizeof f[0], "%.1f s", e->seconds);
    if (!isnan(e->eval_accuracy)) snprintf(f[n++], sizeof f[0], "eval acc %.1f%%", 100 * e->eval_accuracy);
    if (no_signal) snprintf(f[n++], sizeof f[0], "no signal: all %d members scored %.4f", e->pop, e->reward_mean);
    for (int i = 0; i < n; i++) fields[i] = f[i];
    esft_progress_fields(pr, esft_now_seconds(), fields, n);
    if (no_signal && e->zero_signal_streak == 5)
        fprintf(stderr, "esft train: 5 iterations in a row without signal (every member got the same reward, so "
                        "the weights cannot move): try a longer --max-new, the model's chat template, or an "
                        "easier task\n");
}

static void show_done(esft_progress *pr, const esft_train_event *e) {
    static char f[3][4160];
    snprintf(f[0], sizeof f[0], "esft train: done in %.1f s", e->seconds);
    snprintf(f[1], sizeof f[1], "metrics %s", e->metrics_path);
    snprintf(f[2], sizeof f[2], "final model %s", e->final_path);
    const char *fields[] = {f[0], f[1], f[2]};
    esft_progress_fields(pr, esft_now_seconds(), fields, 3);
}

void esft_train_report_event(void *user, const esft_train_event *e) {
    esft_train_report *r = user;
    switch (e->kind) {
    case ESFT_TRAIN_NOTICE:
        esft_progress_clear(&r->progress);
        fprintf(stderr, "esft train: %s\n", e->text);
        break;
    case ESFT_TRAIN_START: show_start(&r->progress, e); break;
    case ESFT_TRAIN_GENERATE: show_generate(&r->progress, e); break;
    case ESFT_TRAIN_ITERATION: show_iteration(&r->progress, e); break;
    case ESFT_TRAIN_DONE: show_done(&r->progress, e); break;
    }
}
