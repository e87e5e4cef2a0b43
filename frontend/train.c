/* esft's ES loop:
 *
 *   for t in start .. iters-1:
 *       batch = select(run_seed, t)
 *       for k in 0 .. N-1:
 *           work = cast(master + sign_k · σ · ε(seed_k))      (selected tensors)
 *           R_k  = mean reward of greedy responses on the batch
 *       z = shape(R);  master += Σ_j coeff_j · ε(seed_j)      (one fused pass per tensor)
 *
 * Everything random derives from (run_seed, t, k), so a resumed run is the
 * uninterrupted run, bit for bit.
 *
 * Under MPI (distributed.h) rank r evaluates only its block of members;
 * every rank then holds the same N rewards (gathered in member order) and
 * applies the same update to its own copy of the weights, so a run over P
 * ranks is the one-process run, bit for bit. Rank 0 alone writes. */
#include "train.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "atomic_file.h"
#include "cli.h"
#include "distributed.h"
#include "evaluate.h"
#include "placement.h"
#include "registry.h"

typedef struct trainer {
    const esft_train_options *o;
    esft_dist *dist;
    bool lead;                   /* rank 0: the one rank that writes */
    bool stopped_together;       /* every rank saw the failure (no abort needed) */
    esft_placement place;
    esft_run_config cfg;
    esft_backend *be;
    esft_model *m;
    esft_task *task, *eval_task;
    esft_prompts prompts, eval_prompts;
    bool *selected;              /* [n_params]: tensors ES trains */
    int start_iter;
    uint64_t base_fingerprint;
    char base_path[1024];
    char metrics_path[1100], ckpt_path[1100], final_path[1100];
    FILE *metrics;
    bool tty;
    /* progress */
    int iter, member;
    double t_start, member_t0;
    long member_tokens;
    double last_gen_tps;
} trainer;

/* Prints "esft train: <message>" as one line; returns the runtime-failure exit code. */
static int fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static int fail(const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "esft train: ");
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    return ESFT_EXIT_RUNTIME;
}

/* ---- setup ---- */

static int make_dir(const char *dir) {
    char tmp[1024];
    snprintf(tmp, sizeof tmp, "%s", dir);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, 0777) && errno != EEXIST) return -1;
    /* writable? */
    char probe[1100];
    snprintf(probe, sizeof probe, "%s/.esft-write-test.%d", dir, (int)getpid());
    FILE *f = fopen(probe, "w");
    if (!f) return -1;
    fclose(f);
    unlink(probe);
    return 0;
}

static bool params_match(const char *globs, const char *name) {
    char buf[256];
    snprintf(buf, sizeof buf, "%s", globs);
    char *save = NULL;
    for (char *g = strtok_r(buf, ",", &save); g; g = strtok_r(NULL, ",", &save))
        if (esft_glob_match(g, name)) return true;
    return false;
}

/* On resume, every explicitly given setting must agree with the checkpoint;
 * settings not given are taken from it. */
static int merge_resume_config(esft_run_config *cfg, const esft_run_config *ck, const esft_train_options *o) {
    char a[300], b[300];
#define CONFLICT(flag, fa, va, fb, vb)                                                  \
    do {                                                                                \
        snprintf(a, sizeof a, fa, va);                                                  \
        snprintf(b, sizeof b, fb, vb);                                                  \
        fprintf(stderr, "esft train: --resume %s: %s %s differs from the run's %s\n",   \
                o->resume_dir, flag, a, b);                                             \
        return ESFT_EXIT_USAGE;                                                         \
    } while (0)
    if (cfg->pop != INT_MIN && cfg->pop != ck->pop) CONFLICT("--pop", "%d", cfg->pop, "%d", ck->pop);
    if (!isnan(cfg->sigma) && cfg->sigma != ck->sigma) CONFLICT("--sigma", "%g", cfg->sigma, "%g", ck->sigma);
    if (!isnan(cfg->alpha) && cfg->alpha != ck->alpha) CONFLICT("--alpha", "%g", cfg->alpha, "%g", ck->alpha);
    if (cfg->batch && cfg->batch != ck->batch) CONFLICT("--batch", "%d", cfg->batch, "%d", ck->batch);
    if (cfg->max_new && cfg->max_new != ck->max_new) CONFLICT("--max-new", "%d", cfg->max_new, "%d", ck->max_new);
    if (cfg->task[0] && strcmp(cfg->task, ck->task)) CONFLICT("--task", "%s", cfg->task, "%s", ck->task);
    if ((int)cfg->shaping >= 0 && cfg->shaping != ck->shaping)
        CONFLICT("--shaping", "%s", esft_shaping_name(cfg->shaping), "%s", esft_shaping_name(ck->shaping));
    if (cfg->params[0] && strcmp(cfg->params, ck->params)) CONFLICT("--params", "%s", cfg->params, "%s", ck->params);
    if (!isnan(cfg->weight_decay) && cfg->weight_decay != ck->weight_decay)
        CONFLICT("--weight-decay", "%g", cfg->weight_decay, "%g", ck->weight_decay);
    if (cfg->antithetic && !ck->antithetic) CONFLICT("--antithetic", "%s", "on", "%s", "off");
    if (cfg->run_seed != UINT64_MAX && cfg->run_seed != ck->run_seed)
        CONFLICT("--seed", "%llu", (unsigned long long)cfg->run_seed, "%llu", (unsigned long long)ck->run_seed);
#undef CONFLICT
    *cfg = *ck;
    return ESFT_EXIT_OK;
}

static void fill_defaults(esft_run_config *c, const esft_task *t) {
    if (c->pop == INT_MIN) c->pop = 30;
    if (isnan(c->sigma)) c->sigma = 0.001f;
    if (isnan(c->alpha)) c->alpha = 0.0005f;
    if (!c->batch) c->batch = 200;
    if (!c->max_new) c->max_new = t ? t->default_max_new : 1024;
    if ((int)c->shaping < 0) c->shaping = ESFT_SHAPING_ZSCORE;
    if (!c->params[0]) snprintf(c->params, sizeof c->params, "*");
    if (isnan(c->weight_decay)) c->weight_decay = 0.0f;
    if (c->run_seed == UINT64_MAX) c->run_seed = 0;
}

static int validate(const esft_run_config *c, const esft_train_options *o) {
    char v[64];
    if (c->pop < 2) {
        snprintf(v, sizeof v, "%d", c->pop);
        return fprintf(stderr, "esft train: --pop %s: the population needs at least 2 members\n", v), ESFT_EXIT_USAGE;
    }
    if (c->antithetic && c->pop % 2) {
        snprintf(v, sizeof v, "%d", c->pop);
        return fprintf(stderr, "esft train: --pop %s is odd: --antithetic pairs members, so it needs an even population\n", v), ESFT_EXIT_USAGE;
    }
    if (!(c->sigma > 0) || !isfinite(c->sigma)) {
        snprintf(v, sizeof v, "%g", c->sigma);
        return fprintf(stderr, "esft train: --sigma %s: the noise scale must be > 0\n", v), ESFT_EXIT_USAGE;
    }
    if (!(c->alpha > 0) || !isfinite(c->alpha)) {
        snprintf(v, sizeof v, "%g", c->alpha);
        return fprintf(stderr, "esft train: --alpha %s: the learning rate must be > 0\n", v), ESFT_EXIT_USAGE;
    }
    if (c->weight_decay < 0 || c->alpha * c->weight_decay >= 1) {
        return fprintf(stderr, "esft train: --weight-decay must be >= 0 and alpha * weight_decay < 1\n"), ESFT_EXIT_USAGE;
    }
    if (o->iters < 1) return fprintf(stderr, "esft train: --iters must be >= 1\n"), ESFT_EXIT_USAGE;
    return ESFT_OK;
}

/* Iterations completed when a metrics line was written, or -1 for a line
 * without an iteration. "iter" counts from 0 (the line of iteration t
 * reports t + 1 done): the one place that knows how lines are numbered. */
static int metrics_line_iterations_done(const char *text) {
    cJSON *o = cJSON_Parse(text);
    const cJSON *it = o ? cJSON_GetObjectItem(o, "iter") : NULL;
    int done = cJSON_IsNumber(it) ? it->valueint + 1 : -1;
    cJSON_Delete(o);
    return done;
}

/* The checkpoint's own metrics line (esft.metrics_line), for a resume whose
 * metrics.jsonl lacks it: the run stopped between writing the checkpoint
 * and appending the line. */
static void restore_metrics_line(const trainer *tr, FILE *out) {
    gguf_file *f = NULL;
    if (gguf_open(tr->ckpt_path, &f, NULL)) return;
    const char *line = gguf_get_str(f, "esft.metrics_line");
    if (line && metrics_line_iterations_done(line) == tr->start_iter) fprintf(out, "%s\n", line);
    gguf_close(f);
}

/* Keeps the metrics lines of the iterations the checkpoint holds (a crash
 * may have left lines past it), restores the checkpoint's own line if it is
 * missing, and reopens the file for appending. A fresh run starts an empty
 * file. The rewrite is atomic. */
static int open_metrics(trainer *tr) {
    esft_err err = {{0}};
    /* the models are saved only after an iteration: refuse a bad target now */
    if (esft_atomic_check_target(tr->ckpt_path, &err) || esft_atomic_check_target(tr->final_path, &err))
        return fail("%s", err.msg);
    size_t len = 0;
    char *old = tr->start_iter > 0 ? cli_read_file(tr->metrics_path, &len) : NULL;
    esft_atomic_file f;
    if (esft_atomic_open(&f, tr->metrics_path, &err)) {
        free(old);
        return fail("%s", err.msg);
    }
    bool have_last = tr->start_iter == 0;
    char *save = NULL;
    for (char *line = old ? strtok_r(old, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        int done = metrics_line_iterations_done(line);
        if (done < 1 || done > tr->start_iter) continue;
        have_last |= done == tr->start_iter;
        fprintf(f.fp, "%s\n", line);
    }
    free(old);
    if (!have_last) restore_metrics_line(tr, f.fp);
    if (esft_atomic_commit(&f, &err)) return fail("%s", err.msg);
    tr->metrics = fopen(tr->metrics_path, "a");
    if (!tr->metrics) return fail("%s: %s", tr->metrics_path, strerror(errno));
    return ESFT_EXIT_OK;
}

/* The device (and cores) of this rank, then the backend on it. Threads
 * default to the cores the rank was bound to, since OpenMP counted the
 * cores before the binding. */
static int open_backend(trainer *tr) {
    const esft_train_options *o = tr->o;
    const esft_dist *d = tr->dist;
    char msg[256];
    if (esft_place_rank(o->backend, o->device, d->local_rank, d->local_size, !o->no_bind, &tr->place, msg,
                        sizeof msg))
        return fail("rank placement: %s", msg);
    if (msg[0] && !o->quiet) fprintf(stderr, "esft train: rank %d: %s\n", d->rank, msg);
    cli_common c = {.backend = tr->place.backend, .device = tr->place.device,
                    .threads = o->threads ? o->threads : tr->place.n_pus};
    int rc = cli_open_backend(&c, &tr->be);
    if (rc || d->size == 1 || o->quiet) return rc;
    char where[256];
    esft_placement_describe(&tr->place, where, sizeof where);
    fprintf(stderr, "esft train: rank %d/%d (node rank %d/%d): %s, %d threads\n", d->rank, d->size,
            d->local_rank, d->local_size, where, tr->be->n_threads);
    return ESFT_EXIT_OK;
}

static int setup(trainer *tr) {
    const esft_train_options *o = tr->o;
    esft_err err = {{0}};
    tr->cfg = o->cfg;
    if (!o->out_dir) return fprintf(stderr, "esft train: --out DIR is required\n"), ESFT_EXIT_USAGE;
    if (tr->lead && make_dir(o->out_dir))
        return fail("--out %s: cannot create or write the directory (%s)", o->out_dir, strerror(errno));
    if (tr->lead) esft_atomic_remove_stale(o->out_dir); /* temp files of killed writers */
    snprintf(tr->metrics_path, sizeof tr->metrics_path, "%s/metrics.jsonl", o->out_dir);
    snprintf(tr->ckpt_path, sizeof tr->ckpt_path, "%s/checkpoint.gguf", o->out_dir);
    snprintf(tr->final_path, sizeof tr->final_path, "%s/final.gguf", o->out_dir);

    char load_path[1100], default_model[1024];
    if (o->resume_dir) {
        snprintf(load_path, sizeof load_path, "%s/checkpoint.gguf", o->resume_dir);
        gguf_file *f = NULL;
        if (gguf_open(load_path, &f, &err)) return fail("--resume: %s", err.msg);
        esft_ckpt_info info;
        esft_status st = esft_checkpoint_read_info(f, &info, &err);
        gguf_close(f);
        if (st) return fail("--resume: %s", err.msg);
        int rc = merge_resume_config(&tr->cfg, &info.cfg, o);
        if (rc) return rc;
        tr->start_iter = info.iteration;
        snprintf(tr->base_path, sizeof tr->base_path, "%s", o->model_path ? o->model_path : info.base_path);
        gguf_file *base = NULL;
        if (gguf_open(tr->base_path, &base, &err)) return fail("--resume: base model: %s", err.msg);
        tr->base_fingerprint = esft_model_fingerprint(base);
        gguf_close(base);
        if (tr->base_fingerprint != info.base_fingerprint)
            return fprintf(stderr, "esft train: --resume %s: model %s is not the model this run started from (%s)\n",
                           o->resume_dir, tr->base_path, info.base_path), ESFT_EXIT_USAGE;
        if (strcmp(o->resume_dir, o->out_dir) != 0)
            return fprintf(stderr, "esft train: --resume %s: resume into the same --out directory\n",
                           o->resume_dir), ESFT_EXIT_USAGE;
    } else {
        if (!tr->cfg.task[0]) return fprintf(stderr, "esft train: --task is required (countdown, conciseness)\n"), ESFT_EXIT_USAGE;
        snprintf(tr->base_path, sizeof tr->base_path, "%s",
                 o->model_path ? o->model_path : cli_default_model(default_model, sizeof default_model));
        snprintf(load_path, sizeof load_path, "%s", tr->base_path);
    }

    if (esft_task_load(tr->cfg.task, o->data_path, "train", &tr->task, &err))
        return err.msg[0] && strstr(err.msg, "unknown task") ? (fprintf(stderr, "esft train: %s\n", err.msg), ESFT_EXIT_USAGE)
                                                          : fail("%s", err.msg);
    if (!o->resume_dir) {
        fill_defaults(&tr->cfg, tr->task);
        tr->cfg.chat = tr->task->chat;
    }
    int rc = validate(&tr->cfg, o);
    if (rc) return rc;
    if (o->iters <= tr->start_iter && o->resume_dir)
        return fprintf(stderr, "esft train: --resume: the run already has %d iterations; pass a larger --iters\n",
                       tr->start_iter), ESFT_EXIT_USAGE;
    /* eval set: given, or the task's own */
    if (o->eval_data_path || o->eval_every > 0) {
        esft_status st = esft_task_load(tr->cfg.task, o->eval_data_path, "eval", &tr->eval_task, &err);
        if (st) return fail("eval data: %s", err.msg);
    }

    if ((rc = open_backend(tr))) return rc;
    esft_model_options mo = {.trainable = true};
    if (esft_model_load(load_path, tr->be, &mo, &tr->m, &err)) return fail("%s", err.msg);
    if (!o->resume_dir) {
        /* the base is the loaded file itself */
        tr->base_fingerprint = esft_model_fingerprint(tr->m->gguf);
    }
    if (esft_prompts_tokenize(tr->m, tr->task, &tr->prompts, &err)) return fail("%s", err.msg);
    if (tr->eval_task && esft_prompts_tokenize(tr->m, tr->eval_task, &tr->eval_prompts, &err))
        return fail("%s", err.msg);
    tr->selected = calloc((size_t)tr->m->n_params, sizeof *tr->selected);
    int n_sel = 0;
    for (int i = 0; i < tr->m->n_params; i++) n_sel += tr->selected[i] = params_match(tr->cfg.params, tr->m->params[i].name);
    if (n_sel == 0)
        return fprintf(stderr, "esft train: --params %s matches no tensor of %s\n", tr->cfg.params, load_path), ESFT_EXIT_USAGE;
    return tr->lead ? open_metrics(tr) : ESFT_EXIT_OK;
}

/* ---- progress ---- */

static void format_duration(double s, char *buf, size_t cap) {
    long t = (long)(s + 0.5);
    if (t >= 3600) snprintf(buf, cap, "%ldh%02ldm", t / 3600, t / 60 % 60);
    else if (t >= 60) snprintf(buf, cap, "%ldm%02lds", t / 60, t % 60);
    else snprintf(buf, cap, "%lds", t);
}

static void on_gen_progress(void *user, const esft_gen_progress *p) {
    trainer *tr = user;
    if (!tr->tty || tr->o->quiet) return;
    static const int width = 100;
    const int N = tr->cfg.pop, iters = tr->o->iters;
    double now = esft_now_seconds();
    double done_members = (double)(tr->iter - tr->start_iter) * N + tr->member +
                          (p->total ? (double)p->done / p->total : 0);
    double total_members = (double)(iters - tr->start_iter) * N;
    double elapsed = now - tr->t_start;
    char eta[32] = "?";
    if (done_members > 0.05) format_duration(elapsed / done_members * (total_members - done_members), eta, sizeof eta);
    double tps = p->seconds > 0 ? (p->prompt_tokens + p->new_tokens) / p->seconds : 0;
    fprintf(stderr, "\r%-*.*s", width, width, "");
    fprintf(stderr, "\riter %d/%d  member %d/%d  seq %d/%d  %.0f tok/s  ETA %s", tr->iter + 1, iters,
            tr->member + 1, N, p->done, p->total, tps, eta);
    fflush(stderr);
}

/* ---- the loop ---- */

static esft_status set_unperturbed(trainer *tr, esft_err *err) {
    for (int i = 0; i < tr->m->n_params; i++) {
        esft_param *p = &tr->m->params[i];
        if (!tr->selected[i] || p->work_is_master) continue;
        if (esft_perturb(tr->be, &p->work, &p->master, p->n, p->id, 0, 0.0f))
            return esft_errf(err, ESFT_ERR_DEVICE, "%s", tr->be->err.msg);
    }
    return ESFT_OK;
}

static int write_metrics(trainer *tr, cJSON *line, double mean, double mn, double mx, long it_tokens,
                         double t_gen, double it_s) {
    int rc = ESFT_EXIT_OK;
    char *s = cJSON_PrintUnformatted(line);
    if (!s || fprintf(tr->metrics, "%s\n", s) < 0 || fflush(tr->metrics)) rc = fail("%s: write failed", tr->metrics_path);
    free(s);
    if (!tr->o->quiet) {
        const cJSON *acc = cJSON_GetObjectItem(line, "eval_accuracy");
        char accs[48] = "";
        if (acc) snprintf(accs, sizeof accs, " | eval acc %.1f%%", 100 * acc->valuedouble);
        fprintf(stderr, "%siter %d/%d: reward %.4f (min %.4f max %.4f) | %ld tokens, %.0f tok/s | %.1f s%s\n",
                tr->tty ? "\r\033[K" : "", tr->iter + 1, tr->o->iters, mean, mn, mx, it_tokens,
                t_gen > 0 ? it_tokens / t_gen : 0, it_s, accs);
    }
    return rc;
}

/* Seconds and bytes of one saved model, into the iteration's metrics line. */
static int save_model(trainer *tr, esft_ckpt_info *info, ggml_type dtype, const char *path, const char *what,
                      cJSON *line, const char *seconds_key, const char *bytes_key) {
    esft_err err = {{0}};
    double t0 = esft_now_seconds();
    if (esft_checkpoint_write(tr->m, info, dtype, path, &err)) return fail("%s: %s", what, err.msg);
    struct stat st;
    cJSON_AddNumberToObject(line, seconds_key, esft_now_seconds() - t0);
    cJSON_AddNumberToObject(line, bytes_key, stat(path, &st) == 0 ? (double)st.st_size : 0);
    return ESFT_EXIT_OK;
}

/* Saves checkpoint.gguf (f32 master, resumable) and, after the last
 * iteration, final.gguf (--save-dtype), before the iteration's metrics line
 * is appended: the checkpoint carries that line (as it is before the save
 * timings are added) as esft.metrics_line, so a crash between the two
 * writes loses nothing: --resume restores the line (open_metrics). The
 * timings then go into the line itself. */
static int write_checkpoint(trainer *tr, int done, bool last, cJSON *line) {
    char *text = cJSON_PrintUnformatted(line);
    if (!text) return fail("out of memory");
    esft_ckpt_info info = {.cfg = tr->cfg, .iteration = done, .iters_total = tr->o->iters,
                           .base_fingerprint = tr->base_fingerprint, .metrics_line = text};
    snprintf(info.base_path, sizeof info.base_path, "%s", tr->base_path);
    int rc = save_model(tr, &info, GGML_TYPE_F32, tr->ckpt_path, "checkpoint", line, "seconds_checkpoint",
                        "checkpoint_bytes");
    info.metrics_line = NULL; /* the final model is the same for the same run */
    if (!rc && last)
        rc = save_model(tr, &info, tr->o->save_dtype, tr->final_path, "final model", line, "seconds_final",
                        "final_bytes");
    free(text);
    return rc;
}

/* Eval items are dealt to ranks like members; the per-item scores are
 * gathered and summed in item order, as one process would. */
enum { EV_REWARD, EV_CORRECT, EV_PARTS, EV_WIDTH = EV_PARTS + ESFT_TASK_MAX_PARTS };

static int run_eval(trainer *tr, cJSON *line, int iter1, esft_err *err) {
    const esft_dist *d = tr->dist;
    int n = tr->eval_task->n_items;
    if (tr->o->eval_limit > 0 && tr->o->eval_limit < n) n = tr->o->eval_limit;
    int lo, hi;
    esft_dist_block(n, d->size, d->rank, &lo, &hi);
    int *items = malloc((size_t)(hi - lo + 1) * sizeof *items);
    double *mine = calloc((size_t)(hi - lo + 1) * EV_WIDTH, sizeof *mine);
    double *all = calloc((size_t)n * EV_WIDTH + 1, sizeof *all);
    esft_score *scores = calloc((size_t)n + 1, sizeof *scores);
    esft_status st = ESFT_OK;
    if (!items || !mine || !all || !scores) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = lo; i < hi; i++) items[i - lo] = i;
    esft_eval_params ep = {.max_new = tr->cfg.max_new, .max_slots = tr->o->max_slots ? tr->o->max_slots : 64,
                           .keep = true};
    if (!st) st = set_unperturbed(tr, err);
    esft_eval_result r = {0};
    if (!st && hi > lo) st = esft_evaluate(tr->m, tr->eval_task, &tr->eval_prompts, items, hi - lo, &ep, &r, err);
    for (int i = 0; !st && i < hi - lo; i++) {
        double *rec = mine + (size_t)i * EV_WIDTH;
        rec[EV_REWARD] = r.scores[i].reward;
        rec[EV_CORRECT] = r.scores[i].correct;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) rec[EV_PARTS + q] = r.scores[i].parts[q];
    }
    esft_eval_result_free(&r, hi - lo);
    if (st) { /* this rank alone failed: the caller ends the job */
        free(items), free(mine), free(all), free(scores);
        return ESFT_EXIT_RUNTIME;
    }
    esft_dist_gather_items(d, mine, n, EV_WIDTH, all, "eval scores", iter1);
    for (int i = 0; i < n; i++) {
        const double *rec = all + (size_t)i * EV_WIDTH;
        scores[i].reward = rec[EV_REWARD];
        scores[i].correct = rec[EV_CORRECT] != 0;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) scores[i].parts[q] = rec[EV_PARTS + q];
    }
    esft_eval_result sum = {0};
    esft_eval_summarise(scores, n, tr->eval_task->n_parts, &sum);
    cJSON_AddNumberToObject(line, "eval_accuracy", sum.accuracy);
    cJSON_AddNumberToObject(line, "eval_reward", sum.mean_reward);
    cJSON_AddNumberToObject(line, "eval_items", n);
    free(items), free(mine), free(all), free(scores);
    return ESFT_EXIT_OK;
}

/* Hash of this rank's trained master weights (the only ones ES changes),
 * tensor by tensor in model order. ESFT_TEST_FLIP_BIT_RANK=r flips one bit
 * of rank r's copy before hashing: the fault the check exists to catch,
 * for tests. */
static esft_status master_hash(trainer *tr, uint64_t *out, esft_err *err) {
    size_t max_n = 0;
    for (int i = 0; i < tr->m->n_params; i++)
        if (tr->selected[i] && tr->m->params[i].n > max_n) max_n = tr->m->params[i].n;
    float *host = malloc((max_n ? max_n : 1) * sizeof *host);
    if (!host) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    const char *flip = getenv("ESFT_TEST_FLIP_BIT_RANK");
    bool flip_here = flip && *flip && atoi(flip) == tr->dist->rank;
    uint64_t h = ESFT_HASH_INIT;
    for (int i = 0; i < tr->m->n_params; i++) {
        const esft_param *p = &tr->m->params[i];
        if (!tr->selected[i]) continue;
        if (esft_download(&p->master, 0, host, p->n)) {
            free(host);
            return esft_errf(err, ESFT_ERR_DEVICE, "%s: %s", p->name, tr->be->err.msg);
        }
        if (flip_here) {
            uint32_t bits;
            memcpy(&bits, host, sizeof bits);
            bits ^= 1u;
            memcpy(host, &bits, sizeof bits);
            flip_here = false;
        }
        h = esft_hash_bytes(h, host, p->n * sizeof *host);
    }
    free(host);
    *out = h;
    return ESFT_OK;
}

/* Ranks compare weight hashes; a mismatch stops every rank (each sees it). */
static int check_hashes(trainer *tr, int iter1) {
    const esft_dist *d = tr->dist;
    esft_err err = {{0}};
    uint64_t h = 0;
    if (master_hash(tr, &h, &err)) return fail("weight hash: %s", err.msg);
    uint64_t *all = calloc((size_t)d->size, sizeof *all);
    if (!all) return fail("out of memory");
    esft_dist_allgather_u64(d, h, all, "weight hashes", iter1);
    char ranks[256];
    int n_bad = esft_dist_hash_mismatch(all, d->size, ranks, sizeof ranks);
    if (n_bad && tr->lead)
        fprintf(stderr, "esft train: iteration %d: the master weights of rank%s %s differ from rank 0's "
                        "(weight hash %016llx, rank 0 %016llx); stopping\n",
                iter1, n_bad > 1 ? "s" : "", ranks, (unsigned long long)all[strtol(ranks, NULL, 10)],
                (unsigned long long)all[0]);
    free(all);
    if (!n_bad) return ESFT_EXIT_OK;
    tr->stopped_together = true;
    return ESFT_EXIT_RUNTIME;
}

/* What a rank reports per member: reward, reward parts, tokens, seconds. */
enum { MR_REWARD, MR_PARTS, MR_TOKENS = MR_PARTS + ESFT_TASK_MAX_PARTS, MR_GEN, MR_PERTURB, MR_SCORE, MR_WIDTH };

/* Perturbs and evaluates members [lo, hi) of iteration t into mine. */
static int eval_members(trainer *tr, int t, int lo, int hi, const int *batch, int B, double *mine) {
    const esft_run_config *c = &tr->cfg;
    esft_err err = {{0}};
    for (tr->member = lo; tr->member < hi; tr->member++) {
        const int k = tr->member;
        double *rec = mine + (size_t)(k - lo) * MR_WIDTH;
        float sign;
        uint64_t seed = esft_es_member(c->run_seed, (uint64_t)t, k, c->antithetic, &sign);
        double t0 = esft_now_seconds();
        for (int i = 0; i < tr->m->n_params; i++) {
            esft_param *p = &tr->m->params[i];
            if (!tr->selected[i]) continue;
            if (esft_perturb(tr->be, &p->work, &p->master, p->n, p->id, seed, sign * c->sigma))
                return fail("perturb: %s", tr->be->err.msg);
        }
        esft_synchronize(tr->be);
        double t1 = esft_now_seconds();
        rec[MR_PERTURB] = t1 - t0;
        esft_eval_result r;
        esft_eval_params ep = {.max_new = c->max_new,
                               .max_slots = tr->o->max_slots ? tr->o->max_slots : (B < 64 ? B : 64),
                               .on_progress = on_gen_progress, .user = tr};
        if (esft_evaluate(tr->m, tr->task, &tr->prompts, batch, B, &ep, &r, &err)) return fail("%s", err.msg);
        rec[MR_GEN] = r.seconds;
        rec[MR_SCORE] = esft_now_seconds() - t1 - r.seconds;
        rec[MR_REWARD] = r.mean_reward;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) rec[MR_PARTS + q] = r.mean_parts[q];
        rec[MR_TOKENS] = (double)r.new_tokens;
    }
    return ESFT_EXIT_OK;
}

/* master (+ weight decay) += Σ_j coeff_j · ε(seed_j), one fused pass per tensor */
static int apply_update(trainer *tr, int t, const double *R, double *z, uint64_t *seeds, float *coeffs) {
    const esft_run_config *c = &tr->cfg;
    esft_shape_fitness(c->shaping, R, c->pop, z);
    int n_seeds = esft_es_coefficients(c->run_seed, (uint64_t)t, z, c->pop, c->alpha, c->antithetic, seeds, coeffs);
    int rc = ESFT_EXIT_OK;
    for (int i = 0; i < tr->m->n_params && !rc; i++) {
        esft_param *p = &tr->m->params[i];
        if (!tr->selected[i]) continue;
        if (c->weight_decay > 0 && esft_scale(tr->be, &p->master, p->n, 1.0f - c->alpha * c->weight_decay))
            rc = fail("weight decay: %s", tr->be->err.msg);
        else if (esft_es_update(tr->be, &p->master, p->n, p->id, seeds, coeffs, n_seeds))
            rc = fail("es_update: %s", tr->be->err.msg);
    }
    esft_synchronize(tr->be);
    return rc;
}

static int train_loop(trainer *tr) {
    const esft_run_config *c = &tr->cfg;
    const esft_dist *d = tr->dist;
    const int N = c->pop, B = c->batch < tr->task->n_items ? c->batch : tr->task->n_items;
    const int hash_every = tr->o->hash_every > 0 ? tr->o->hash_every : 10; /* 0: a caller's default */
    int lo, hi;
    esft_dist_block(N, d->size, d->rank, &lo, &hi);
    esft_err err = {{0}};
    double *R = calloc((size_t)N, sizeof *R), *z = calloc((size_t)N, sizeof *z);
    double *parts = calloc((size_t)N * ESFT_TASK_MAX_PARTS, sizeof *parts);
    double *mine = calloc((size_t)(hi - lo + 1) * MR_WIDTH, sizeof *mine);
    double *all = calloc((size_t)N * MR_WIDTH, sizeof *all);
    uint64_t *seeds = calloc((size_t)N, sizeof *seeds);
    float *coeffs = calloc((size_t)N, sizeof *coeffs);
    int *batch = calloc((size_t)B, sizeof *batch);
    int rc = ESFT_EXIT_OK;
    if (!R || !z || !parts || !mine || !all || !seeds || !coeffs || !batch) rc = fail("out of memory");
    tr->t_start = esft_now_seconds();
    char ranks[48] = "";
    if (d->size > 1) snprintf(ranks, sizeof ranks, " | %d ranks", d->size);
    if (!rc && tr->lead && !tr->o->quiet)
        fprintf(stderr, "esft train: %s on %s | task %s (%d items, batch %d) | pop %d sigma %g alpha %g | "
                        "max_new %d | iterations %d..%d%s\n",
                tr->base_path, tr->be->device_name, c->task, tr->task->n_items, B, N, c->sigma, c->alpha,
                c->max_new, tr->start_iter + 1, tr->o->iters, ranks);
    for (tr->iter = tr->start_iter; tr->iter < tr->o->iters && !rc; tr->iter++) {
        const int t = tr->iter;
        const double it0 = esft_now_seconds();
        esft_select_batch(c->run_seed, (uint64_t)t, tr->task->n_items, B, batch);
        if ((rc = eval_members(tr, t, lo, hi, batch, B, mine))) break;
        /* every rank gets every member's record, in member order */
        esft_dist_gather_items(d, mine, N, MR_WIDTH, all, "member rewards", t + 1);
        double t_perturb = 0, t_gen = 0, t_reward = 0;
        long it_tokens = 0;
        for (int k = 0; k < N; k++) {
            const double *rec = all + (size_t)k * MR_WIDTH;
            R[k] = rec[MR_REWARD];
            for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) parts[(size_t)k * ESFT_TASK_MAX_PARTS + q] = rec[MR_PARTS + q];
            it_tokens += (long)rec[MR_TOKENS];
            t_gen += rec[MR_GEN], t_perturb += rec[MR_PERTURB], t_reward += rec[MR_SCORE];
        }
        double u0 = esft_now_seconds();
        if ((rc = apply_update(tr, t, R, z, seeds, coeffs))) break;
        double t_update = esft_now_seconds() - u0;
        const bool last = t + 1 == tr->o->iters;
        if (d->size > 1 && (last || (t + 1) % hash_every == 0) && (rc = check_hashes(tr, t + 1))) break;

        /* metrics */
        double mean = 0, var = 0, mn = R[0], mx = R[0];
        for (int k = 0; k < N; k++) mean += R[k] / N, mn = fmin(mn, R[k]), mx = fmax(mx, R[k]);
        for (int k = 0; k < N; k++) var += (R[k] - mean) * (R[k] - mean) / N;
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "iter", t);
        cJSON_AddNumberToObject(line, "reward_mean", mean);
        cJSON_AddNumberToObject(line, "reward_std", sqrt(var));
        cJSON_AddNumberToObject(line, "reward_min", mn);
        cJSON_AddNumberToObject(line, "reward_max", mx);
        cJSON_AddItemToObject(line, "rewards", cJSON_CreateDoubleArray(R, N));
        for (int q = 0; q < tr->task->n_parts; q++) {
            double pm = 0;
            for (int k = 0; k < N; k++) pm += parts[(size_t)k * ESFT_TASK_MAX_PARTS + q] / N;
            char key[64];
            snprintf(key, sizeof key, "%s_mean", tr->task->part_names[q]);
            cJSON_AddNumberToObject(line, key, pm);
        }
        /* wall time of the iteration (eval excluded); the parts are sums over
         * members, whichever rank ran them */
        double it_s = esft_now_seconds() - it0;
        cJSON_AddNumberToObject(line, "tokens", (double)it_tokens);
        cJSON_AddNumberToObject(line, "seconds", it_s);
        cJSON_AddNumberToObject(line, "seconds_generate", t_gen);
        cJSON_AddNumberToObject(line, "seconds_perturb", t_perturb);
        cJSON_AddNumberToObject(line, "seconds_update", t_update);
        cJSON_AddNumberToObject(line, "seconds_reward", t_reward);
        cJSON_AddNumberToObject(line, "tokens_per_second", t_gen > 0 ? it_tokens / t_gen : 0);
        cJSON_AddNumberToObject(line, "ranks", d->size);
        if (tr->eval_task && ((tr->o->eval_every > 0 && (t + 1) % tr->o->eval_every == 0) || last)) {
            if ((rc = run_eval(tr, line, t + 1, &err))) {
                fail("eval: %s", err.msg);
                cJSON_Delete(line);
                break;
            }
        }
        if (tr->lead && (last || (tr->o->checkpoint_every > 0 && (t + 1) % tr->o->checkpoint_every == 0)))
            rc = write_checkpoint(tr, t + 1, last, line);
        if (tr->lead && !rc) rc = write_metrics(tr, line, mean, mn, mx, it_tokens, t_gen, it_s);
        cJSON_Delete(line);
        if (rc) break;
    }
    if (!rc && tr->lead && !tr->o->quiet)
        fprintf(stderr, "esft train: done in %.1f s; metrics %s, final model %s\n",
                esft_now_seconds() - tr->t_start, tr->metrics_path, tr->final_path);
    free(R), free(z), free(parts), free(mine), free(all), free(seeds), free(coeffs), free(batch);
    return rc;
}

int esft_train(const esft_train_options *opts) {
    esft_dist dist;
    char msg[256] = "";
    if (esft_dist_init(&dist, opts->mpi_timeout > 0 ? opts->mpi_timeout : 1800, msg, sizeof msg))
        return fail("MPI: %s", msg);
    trainer tr = {.o = opts, .dist = &dist, .lead = dist.rank == 0,
                  .tty = dist.rank == 0 && isatty(STDERR_FILENO)};
    int rc = setup(&tr);
    /* A setup failure on any rank stops them all here, together: each rank
     * has read the same flags and files, so most failures are everyone's,
     * and the one rank that printed the reason is enough. */
    int worst = rc;
    esft_dist_max_int(&dist, rc, &worst, "setup", 0);
    if (worst) {
        rc = rc ? rc : worst;
        tr.stopped_together = true;
    } else {
        rc = train_loop(&tr);
    }
    if (tr.metrics) fclose(tr.metrics);
    free(tr.selected);
    esft_prompts_free(&tr.prompts);
    esft_prompts_free(&tr.eval_prompts);
    esft_task_free(tr.task);
    esft_task_free(tr.eval_task);
    esft_model_free(tr.m);
    esft_backend_destroy(tr.be);
    /* a failure only this rank saw: the others would wait for it in the
     * next collective, so end the whole job now */
    if (rc && !tr.stopped_together) esft_dist_abort(&dist, rc);
    esft_dist_finalize(&dist);
    return rc;
}
