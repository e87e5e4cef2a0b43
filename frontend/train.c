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
#include "distributed.h"
#include "esft_mem.h"
#include "memory_plan.h"
#include "es_lowrank.h"
#include "es_step.h"
#include "export.h"
#include "esft_fs.h"
#include "esft_hash.h"
#include "evaluate.h"
#include "placement.h"
#include "registry.h"
#include "reward_cmd.h"
#include "run_dir.h"
#include "source.h"
#include "utf8.h"

typedef struct trainer {
    const esft_train_options *o;
    esft_err *err;               /* the caller's: what went wrong */
    esft_dist *dist;
    bool lead;                   /* rank 0: the one rank that writes */
    bool stopped_together;       /* every rank saw the failure (no abort needed) */
    esft_placement place;
    uint64_t device_memory;      /* what the device's driver reports, 0 if nothing */
    esft_run_config cfg;
    int iters;                   /* total iterations of the run */
    ggml_type save_dtype;        /* of final.gguf */
    esft_run_record rec;         /* what run.json records (effective settings) */
    esft_backend *be;
    esft_model *m;
    esft_task *task, *eval_task;
    esft_prompts prompts, eval_prompts;
    esft_chat_template chat_tmpl;  /* the prompts' template, when cfg.chat */
    bool *selected;              /* [n_params]: tensors ES trains */
    esft_opt_state opt;          /* optimizer state (issue 17), when cfg.opt is not plain sgd */
    bool use_opt;
    int opt_saved;               /* iteration of the optimizer state file on disk, -1 none */
    int start_iter;              /* iterations already done (resume) */
    uint64_t base_fingerprint;
    char base_path[1024];
    char *metrics_path, *ckpt_path, *final_path, *samples_path; /* in --out */
    char *final_hf_path;         /* final-hf/ in --out: --save-format hf or both */
    FILE *metrics, *samples;
    int lock_fd;                 /* DIR/.lock, held for the run (rank 0) */
    /* progress */
    int iter, member;            /* 0-based: the iteration and member running */
    int gen_members;             /* members in the running generation (low-rank: all of the rank's) */
    double t_start, iter_t0;
    int zero_signal_iters;       /* iterations whose members all scored the same */
    int zero_signal_streak;      /* ... in a row, up to the last one */
    /* samples: the best and worst member of this rank in this iteration */
    esft_eval_result best, worst;
    int best_member, worst_member;
} trainer;

/* Failures reach the caller as a status and one line in tr->err (usage:
 * ESFT_ERR_INVALID_ARG, the caller's options or files are at fault). */
static esft_status fail(trainer *tr, esft_status st, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static esft_status fail(trainer *tr, esft_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tr->err->msg, sizeof tr->err->msg, fmt, ap);
    va_end(ap);
    return st;
}
#define usage(tr, ...) fail((tr), ESFT_ERR_INVALID_ARG, __VA_ARGS__)

/* ---- setup ---- */

/* On resume, every explicitly given setting must agree with the run's;
 * settings not given are taken from it. */
static esft_status merge_resume_config(trainer *tr, esft_run_config *cfg, const esft_run_config *ck) {
    const esft_train_options *o = tr->o;
    char a[300], b[300];
#define CONFLICT(flag, fa, va, fb, vb)                                                  \
    do {                                                                                \
        snprintf(a, sizeof a, fa, va);                                                  \
        snprintf(b, sizeof b, fb, vb);                                                  \
        return usage(tr, "--resume %s: %s %s differs from the run's %s", o->resume_dir, flag, a, b); \
    } while (0)
    if (cfg->pop != INT_MIN && cfg->pop != ck->pop) CONFLICT("--pop", "%d", cfg->pop, "%d", ck->pop);
    if (!isnan(cfg->sigma) && cfg->sigma != ck->sigma) CONFLICT("--sigma", "%g", cfg->sigma, "%g", ck->sigma);
    if (!isnan(cfg->alpha) && cfg->alpha != ck->alpha) CONFLICT("--alpha", "%g", cfg->alpha, "%g", ck->alpha);
    if (cfg->batch && cfg->batch != ck->batch) CONFLICT("--batch", "%d", cfg->batch, "%d", ck->batch);
    if (cfg->max_new && cfg->max_new != ck->max_new) CONFLICT("--max-new", "%d", cfg->max_new, "%d", ck->max_new);
    if (cfg->task[0] && strcmp(cfg->task, ck->task)) CONFLICT("--task", "%s", cfg->task, "%s", ck->task);
    if (cfg->reward[0] && strcmp(cfg->reward, ck->reward)) CONFLICT("--reward", "%s", cfg->reward, "%s", ck->reward);
    if (cfg->reward_arg[0] && strcmp(cfg->reward_arg, ck->reward_arg))
        CONFLICT("--reward-arg", "%s", cfg->reward_arg, "%s", ck->reward_arg);
    if (cfg->reward_cmd[0] && strcmp(cfg->reward_cmd, ck->reward_cmd))
        CONFLICT("--reward-cmd", "'%.200s'", cfg->reward_cmd, "'%.200s'", ck->reward_cmd);
    if (!isnan(cfg->reward_timeout) && cfg->reward_timeout != ck->reward_timeout)
        CONFLICT("--reward-timeout", "%g", cfg->reward_timeout, "%g", ck->reward_timeout);
    if (!isnan(cfg->reward_timeout_score) && cfg->reward_timeout_score != ck->reward_timeout_score)
        CONFLICT("--reward-timeout-score", "%g", cfg->reward_timeout_score, "%g", ck->reward_timeout_score);
    if (cfg->eval_split > 0 && cfg->eval_split != ck->eval_split)
        CONFLICT("--eval-split", "%g", cfg->eval_split, "%g", ck->eval_split);
    if ((int)cfg->shaping >= 0 && cfg->shaping != ck->shaping)
        CONFLICT("--shaping", "%s", esft_shaping_name(cfg->shaping), "%s", esft_shaping_name(ck->shaping));
    if (cfg->params[0] && strcmp(cfg->params, ck->params)) CONFLICT("--params", "%s", cfg->params, "%s", ck->params);
    if (!isnan(cfg->weight_decay) && cfg->weight_decay != ck->weight_decay)
        CONFLICT("--weight-decay", "%g", cfg->weight_decay, "%g", ck->weight_decay);
    if (cfg->antithetic && !ck->antithetic) CONFLICT("--antithetic", "%s", "on", "%s", "off");
    if (cfg->chat && !ck->chat) CONFLICT("--chat", "%s", "on", "%s", "off");
    if (cfg->chat_template[0] && strcmp(cfg->chat_template, ck->chat_template))
        CONFLICT("--template", "%s", cfg->chat_template, "%s", ck->chat ? ck->chat_template : "(none)");
    if (cfg->system[0] && strcmp(cfg->system, ck->system)) CONFLICT("--system", "'%.100s'", cfg->system, "'%.100s'", ck->system);
    if (cfg->noise != ESFT_NOISE_UNSET && cfg->noise != ck->noise)
        CONFLICT("--noise", "%s", esft_noise_mode_name(cfg->noise), "%s", esft_noise_mode_name(ck->noise));
    if (cfg->rank && cfg->rank != ck->rank) CONFLICT("--rank", "%d", cfg->rank, "%d", ck->rank);
    if (cfg->run_seed != UINT64_MAX && cfg->run_seed != ck->run_seed)
        CONFLICT("--seed", "%llu", (unsigned long long)cfg->run_seed, "%llu", (unsigned long long)ck->run_seed);
#undef CONFLICT
    if (!esft_opt_config_agrees(&cfg->opt, &ck->opt, a, sizeof a)) return usage(tr, "--resume %s: %s", o->resume_dir, a);
    *cfg = *ck;
    return ESFT_OK;
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
    esft_opt_config_defaults(&c->opt);
    if (c->run_seed == UINT64_MAX) c->run_seed = 0;
    if (c->noise == ESFT_NOISE_UNSET) c->noise = ESFT_NOISE_FULL;
    if (c->noise == ESFT_NOISE_LOWRANK && !c->rank) c->rank = 1;
}

static esft_status validate(trainer *tr, const esft_run_config *c, int iters) {
    esft_status st = esft_run_config_check(c, true, tr->err);
    if (!st && iters < 1) return usage(tr, "--iters must be >= 1");
    return st;
}

/* Number field `key` of a metrics line, or NAN. */
static double line_number(const cJSON *o, const char *key) {
    const cJSON *v = o ? cJSON_GetObjectItem(o, key) : NULL;
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* Iterations completed when a metrics or samples line was written ("iter"
 * counts them from 1), or -1 for a line without one. */
static int line_iterations_done(const cJSON *o) {
    double it = line_number(o, "iter");
    return isnan(it) ? -1 : (int)it;
}

/* The checkpoint's own metrics line (esft.metrics_line), for a resume whose
 * metrics.jsonl lacks it: the run stopped between writing the checkpoint
 * and appending the line. */
static void restore_metrics_line(trainer *tr, FILE *out, void (*on_line)(trainer *, const cJSON *)) {
    gguf_file *f = NULL;
    if (esft_gguf_open(tr->ckpt_path, &f, NULL)) return;
    const char *line = esft_gguf_get_str(f, "esft.metrics_line");
    cJSON *o = line ? cJSON_Parse(line) : NULL;
    if (o && line_iterations_done(o) == tr->start_iter) {
        fprintf(out, "%s\n", line);
        if (on_line) on_line(tr, o);
    }
    cJSON_Delete(o);
    esft_gguf_close(f);
}

/* Rewrites a JSONL file atomically with the lines of the iterations the
 * checkpoint holds (a crash may have left lines past it); a fresh run
 * starts it empty. on_line sees each kept line; with restore, the
 * checkpoint's own metrics line is put back if it is missing. */
static esft_status keep_lines_upto(trainer *tr, const char *path, bool restore, void (*on_line)(trainer *, const cJSON *)) {
    esft_err err = {{0}};
    size_t len = 0;
    char *old = tr->start_iter > 0 ? esft_read_file(path, ESFT_READ_MAX, &len) : NULL;
    esft_atomic_file f;
    esft_status st = esft_atomic_open(&f, path, &err);
    if (st) {
        free(old);
        return fail(tr, st, "%s", err.msg);
    }
    bool have_last = tr->start_iter == 0;
    char *save = NULL;
    for (char *line = old ? strtok_r(old, "\n", &save) : NULL; line; line = strtok_r(NULL, "\n", &save)) {
        cJSON *o = cJSON_Parse(line);
        int done = line_iterations_done(o);
        if (done >= 1 && done <= tr->start_iter) {
            have_last |= done == tr->start_iter;
            fprintf(f.fp, "%s\n", line);
            if (on_line) on_line(tr, o);
        }
        cJSON_Delete(o);
    }
    free(old);
    if (!have_last && restore) restore_metrics_line(tr, f.fp, on_line);
    if ((st = esft_atomic_commit(&f, &err))) return fail(tr, st, "%s", err.msg);
    return ESFT_OK;
}

/* Counts an iteration with or without signal (every member scored the same). */
static void count_signal(trainer *tr, bool zero) {
    tr->zero_signal_iters += zero;
    tr->zero_signal_streak = zero ? tr->zero_signal_streak + 1 : 0;
}

/* The same for the metrics lines kept on resume. */
static void count_zero_signal(trainer *tr, const cJSON *line) {
    count_signal(tr, line_number(line, "reward_std") == 0);
}

static esft_status open_outputs(trainer *tr) {
    esft_err err = {{0}};
    /* the models are saved only after an iteration: refuse a bad target now */
    esft_status st = esft_atomic_check_target(tr->ckpt_path, &err);
    if (!st) st = esft_atomic_check_target(tr->final_path, &err);
    if (st) return fail(tr, st, "%s", err.msg);
    struct stat sb;
    bool samples = tr->rec.log_samples > 0 || stat(tr->samples_path, &sb) == 0;
    esft_status rc = keep_lines_upto(tr, tr->metrics_path, true, count_zero_signal);
    if (!rc && samples) rc = keep_lines_upto(tr, tr->samples_path, false, NULL);
    if (rc) return rc;
    tr->metrics = fopen(tr->metrics_path, "a");
    if (!tr->metrics) return fail(tr, ESFT_ERR_IO, "%s: %s", tr->metrics_path, strerror(errno));
    if (tr->rec.log_samples > 0 && !(tr->samples = fopen(tr->samples_path, "a")))
        return fail(tr, ESFT_ERR_IO, "%s: %s", tr->samples_path, strerror(errno));
    return ESFT_OK;
}

/* Reports an event to the caller; NOTICE on any rank, the rest on rank 0. */
static void emit(const trainer *tr, esft_train_event *e) {
    if (tr->o->quiet || !tr->o->on_event || (e->kind != ESFT_TRAIN_NOTICE && !tr->lead)) return;
    e->iters = tr->iters;
    e->start_iter = tr->start_iter;
    e->pop = tr->cfg.pop;
    tr->o->on_event(tr->o->user, e);
}

/* A one-line notice, printf-style. */
static void notice(const trainer *tr, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void notice(const trainer *tr, const char *fmt, ...) {
    char text[1200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(text, sizeof text, fmt, ap);
    va_end(ap);
    esft_train_event e = {.kind = ESFT_TRAIN_NOTICE, .text = text};
    emit(tr, &e);
}

/* The device (and cores) of this rank, then the backend on it. Threads
 * default to the cores the rank was bound to, since OpenMP counted the
 * cores before the binding. */
static esft_status open_backend(trainer *tr) {
    const esft_train_options *o = tr->o;
    const esft_dist *d = tr->dist;
    char msg[256];
    if (esft_place_rank(o->backend, o->device, d->local_rank, d->local_size, !o->no_bind, &tr->place, msg,
                        sizeof msg))
        return fail(tr, ESFT_ERR_INVALID_ARG, "rank placement: %s", msg);
    if (msg[0]) notice(tr, "rank %d: %s", d->rank, msg);
    esft_backend_options bo = {.n_threads = o->threads ? o->threads : tr->place.n_pus,
                               .device_index = tr->place.device};
    bo.work_dtype_set = tr->rec.work_dtype[0] && esft_work_dtype_from_name(tr->rec.work_dtype, &bo.work_dtype);
    esft_err err = {{0}};
    esft_device_info info = {0};
    esft_status st = esft_backend_open_device(tr->place.backend, &bo, &tr->be, &info, &err);
    if (st) return fail(tr, st, "%s", err.msg);
    tr->device_memory = info.memory_bytes;
    if (d->size == 1) return ESFT_OK;
    char where[256];
    esft_placement_describe(&tr->place, where, sizeof where);
    notice(tr, "rank %d/%d (node rank %d/%d): %s, %d threads", d->rank, d->size, d->local_rank, d->local_size,
           where, tr->be->n_threads);
    return ESFT_OK;
}

/* ---- memory: planned at start, refused when it cannot fit ---- */

/* The plan against --max-memory and the device's reported memory; what (of
 * the plan) names a plan made before the activations are known. */
static esft_status check_plan(trainer *tr, const esft_memory_plan *p, const char *what) {
    char desc[256], lim[32];
    esft_memory_plan_describe(p, desc, sizeof desc);
    const uint64_t total = esft_memory_plan_total(p), cap = tr->o->max_memory, dev = tr->device_memory;
    if (cap && total > cap) {
        esft_format_bytes(cap, lim, sizeof lim);
        return fail(tr, ESFT_ERR_INVALID_ARG, "%s%s exceeds --max-memory %s", desc, what, lim);
    }
    if (dev && total > dev) {
        esft_format_bytes(dev, lim, sizeof lim);
        return fail(tr, ESFT_ERR_OUT_OF_MEMORY, "%s%s exceeds the %s of %s", desc, what, lim, tr->be->device_name);
    }
    return ESFT_OK;
}

/* Full-rank members each perturb a working copy of the weights; low-rank
 * members all read the base weights, so with f32 work the master itself is
 * what they read (no copy: 4 bytes per weight less). */
static bool own_work_copy(const esft_run_config *c) { return c->noise != ESFT_NOISE_LOWRANK; }

/* Before loading: the weights alone must fit. */
static esft_status plan_weights(trainer *tr, const char *path, esft_memory_plan *p) {
    esft_err err = {{0}};
    esft_status st = esft_model_plan_weights(path, tr->be->work_dtype, own_work_copy(&tr->cfg), &p->master, &p->work,
                                             &err);
    if (st) return fail(tr, st, "%s", err.msg);
    p->optimizer = esft_opt_state_bytes(&tr->cfg.opt, p->master / sizeof(float));
    return check_plan(tr, p, " (weights alone)");
}

/* Largest prompt + max_new over a prompt set. */
static int longest_context(const esft_prompts *ps, int max_new) {
    int n = 0;
    for (int i = 0; i < ps->n; i++)
        if (ps->len[i] > n) n = ps->len[i];
    return n + max_new;
}

/* Sequences decoded together in an iteration of B prompts: --max-slots, or
 * min(B, 64); low-rank members decode all of a rank's members x prompts in
 * the same passes, up to 256 at a time. */
static int train_slots(const trainer *tr, int B) {
    if (tr->rec.max_slots) return tr->rec.max_slots;
    if (tr->cfg.noise == ESFT_NOISE_LOWRANK) {
        const long all = (long)tr->cfg.pop * B;
        return all < 256 ? (int)all : 256;
    }
    return B < 64 ? B : 64;
}

/* After tokenizing: generation's KV cache and activations (esft_generate
 * sizes them from the slots in flight and the longest prompt), the larger
 * of a member's batch and the eval set's; reported as a notice. */
static esft_status plan_generation(trainer *tr, esft_memory_plan *p) {
    const int B = tr->cfg.batch < tr->task->n_items ? tr->cfg.batch : tr->task->n_items;
    const int gen_slots = train_slots(tr, B);
    const bool c_lowrank = tr->cfg.noise == ESFT_NOISE_LOWRANK;
    const int eval_slots = tr->rec.max_slots ? tr->rec.max_slots : 64;
    struct { const esft_prompts *ps; int slots, n; } sets[2] = {
        {&tr->prompts, gen_slots, c_lowrank ? tr->cfg.pop * B : B},
        {&tr->eval_prompts, eval_slots, tr->eval_task ? tr->eval_prompts.n : 0},
    };
    for (int i = 0; i < 2; i++) {
        if (sets[i].n <= 0) continue;
        const int slots = sets[i].slots < sets[i].n ? sets[i].slots : sets[i].n;
        const int tokens = slots > ESFT_GEN_BATCH_TOKENS ? slots : ESFT_GEN_BATCH_TOKENS;
        uint64_t kv, scratch;
        esft_forward_ctx_bytes(&tr->m->hp, tokens, 0, slots, longest_context(sets[i].ps, tr->cfg.max_new), &kv, &scratch);
        if (kv + scratch > p->kv + p->scratch) p->kv = kv, p->scratch = scratch;
    }
    if (tr->cfg.noise == ESFT_NOISE_LOWRANK) {
        /* this rank's members' factors (every matrix: the selection comes later) */
        int lo, hi;
        esft_dist_block(tr->cfg.pop, tr->dist->size, tr->dist->rank, &lo, &hi);
        p->factors = esft_lowrank_factor_bytes(tr->m, NULL, tr->cfg.rank, esft_es_lowrank_n_factors(&tr->cfg, lo, hi));
    }
    esft_status st = check_plan(tr, p, "");
    if (st) return st;
    char desc[256];
    esft_memory_plan_describe(p, desc, sizeof desc);
    if (tr->lead) notice(tr, "%s", desc);
    return ESFT_OK;
}

/* What a resumed run continues from: its record (run.json, absent in runs
 * made before esft wrote one) and its checkpoint, absent when the run was
 * stopped before its first one: then it starts again from the record. */
typedef struct resume_state {
    esft_run_record old;   /* the run's record, when have_record */
    bool have_record, from_checkpoint;
    int iters_total;       /* the run's --iters */
} resume_state;

static esft_status load_resume_state(trainer *tr, resume_state *rs) {
    const esft_train_options *o = tr->o;
    esft_err err = {{0}};
    esft_status st = esft_run_record_read(o->resume_dir, &rs->old, &err);
    rs->have_record = st == ESFT_OK;
    if (st && !(st == ESFT_ERR_IO && errno == ENOENT)) return fail(tr, st, "--resume: %s", err.msg);
    struct stat sb;
    rs->from_checkpoint = stat(tr->ckpt_path, &sb) == 0;
    if (!rs->from_checkpoint && !rs->have_record)
        return fail(tr, ESFT_ERR_IO, "--resume %s: no run here (neither run.json nor checkpoint.gguf)", o->resume_dir);
    if (!rs->from_checkpoint) {
        esft_status rc = merge_resume_config(tr, &tr->cfg, &rs->old.cfg);
        if (rc) return rc;
        snprintf(tr->base_path, sizeof tr->base_path, "%s", o->model_path ? o->model_path : rs->old.model);
        rs->iters_total = rs->old.iters;
        if (tr->lead) notice(tr, "--resume %s: no checkpoint yet; starting the run again from iteration 1", o->resume_dir);
        return ESFT_OK;
    }
    gguf_file *f = NULL;
    if ((st = esft_gguf_open(tr->ckpt_path, &f, &err))) return fail(tr, st, "--resume: %s", err.msg);
    esft_ckpt_info info;
    st = esft_checkpoint_read_info(f, &info, &err);
    esft_gguf_close(f);
    if (st) return fail(tr, st, "--resume: %s", err.msg);
    esft_status rc = merge_resume_config(tr, &tr->cfg, &info.cfg);
    if (rc) return rc;
    tr->start_iter = info.iteration;
    rs->iters_total = rs->have_record ? rs->old.iters : info.iters_total;
    snprintf(tr->base_path, sizeof tr->base_path, "%s",
             o->model_path ? o->model_path : rs->have_record ? rs->old.model : info.base_path);
    if ((st = esft_source_fingerprint(tr->base_path, &tr->base_fingerprint, &err)))
        return fail(tr, st, "--resume: base model: %s", err.msg);
    if (tr->base_fingerprint != info.base_fingerprint)
        return usage(tr, "--resume %s: model %s is not the model this run started from (%s)", o->resume_dir,
                     tr->base_path, info.base_path);
    return ESFT_OK;
}

/* The data file a run uses: the one given, else on resume the recorded one,
 * which must not have changed since the run started. Called once the task
 * has read path, so path is a readable file of a sane size. */
static esft_status check_data_file(trainer *tr, const char *flag, const char *given, const esft_file_print *recorded,
                           esft_file_print *now) {
    esft_err err = {{0}};
    esft_status st;
    const char *path = given ? given : recorded->path;
    if ((st = esft_file_print_take(path, now, &err))) return fail(tr, st, "%s: %s", flag, err.msg);
    if (!recorded->path || esft_file_print_equal(recorded, now)) return ESFT_OK;
    if (!given)
        return usage(tr, "--resume %s: %s changed since the run started (%lld bytes, fnv1a64 %016llx; now %lld bytes, "
                     "%016llx); pass %s %s to use it as it is now",
                     tr->o->resume_dir, path, recorded->size, (unsigned long long)recorded->hash, now->size,
                     (unsigned long long)now->hash, flag, path);
    if (tr->lead)
        notice(tr, "%s %s is not the data the run started with (%s); using it from iteration %d", flag, given,
               recorded->path, tr->start_iter + 1);
    return ESFT_OK;
}

/* A setting that does not change the weights: given, else recorded, else 0. */
static int setting(int given, int recorded, bool have_record) {
    return given >= 0 ? given : have_record ? recorded : 0;
}

/* --work-dtype into out: the one given, else the run's (a resumed run keeps
 * its working weights' rounding, so a different one is refused). */
static esft_status work_dtype_setting(trainer *tr, const char *recorded, char *out, size_t cap) {
    const char *given = tr->o->work_dtype;
    esft_dtype d;
    if (given && !esft_work_dtype_from_name(given, &d))
        return usage(tr, "--work-dtype %s: expected f32, f16 or bf16", given);
    if (given && recorded[0] && strcmp(given, recorded) != 0)
        return usage(tr, "--work-dtype %s differs from the run's %s", given, recorded);
    snprintf(out, cap, "%s", given ? given : recorded);
    return ESFT_OK;
}

/* --params that match nothing: name a few tensors the model does have. */
static esft_status no_params_match(trainer *tr, const char *load_path) {
    char names[256] = "";
    size_t used = 0;
    for (int i = 0; i < tr->m->n_params && i < 4; i++)
        used += (size_t)snprintf(names + used, sizeof names - used, "%s%s", i ? ", " : "", tr->m->params[i].name);
    return usage(tr, "--params %s matches no tensor of %s (it has %d: %s%s)", tr->cfg.params, load_path,
                 tr->m->n_params, names, tr->m->n_params > 4 ? ", ..." : "");
}

/* Paths, the directory and its lock; refuses a directory that holds a run
 * unless resuming it or told to overwrite it. */
static esft_status prepare_out_dir(trainer *tr) {
    const esft_train_options *o = tr->o;
    esft_err err = {{0}};
    esft_status st;
    if (!o->out_dir) return usage(tr, "--out DIR is required");
    if (!o->out_dir[0]) return usage(tr, "--out: the directory name is empty");
    if (o->resume_dir && strcmp(o->resume_dir, o->out_dir) != 0)
        return usage(tr, "--resume %s: resume into the same --out directory", o->resume_dir);
    tr->metrics_path = esft_path_join(o->out_dir, "metrics.jsonl");
    tr->ckpt_path = esft_path_join(o->out_dir, "checkpoint.gguf");
    tr->final_path = esft_path_join(o->out_dir, "final.gguf");
    tr->final_hf_path = esft_path_join(o->out_dir, "final-hf");
    tr->samples_path = esft_path_join(o->out_dir, "samples.jsonl");
    if (!tr->metrics_path || !tr->ckpt_path || !tr->final_path || !tr->final_hf_path || !tr->samples_path) return fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    struct stat sb;
    if (o->resume_dir && (stat(o->resume_dir, &sb) || !S_ISDIR(sb.st_mode)))
        return fail(tr, ESFT_ERR_IO, "--resume %s: no such run directory", o->resume_dir);
    if (!tr->lead) return ESFT_OK;
    if ((st = esft_run_dir_create(o->out_dir, &err))) return fail(tr, st, "%s", err.msg);
    if ((tr->lock_fd = esft_run_dir_lock(o->out_dir, &err)) < 0) return fail(tr, ESFT_ERR_IO, "%s", err.msg);
    esft_atomic_remove_stale(o->out_dir); /* temp files of killed writers (we hold the lock) */
    if (o->resume_dir || !esft_run_dir_holds_run(o->out_dir)) return ESFT_OK;
    if (!o->overwrite) return usage(tr, "%s holds a run; use --resume %s or --overwrite", o->out_dir, o->out_dir);
    if ((st = esft_run_dir_clear(o->out_dir, &err))) return fail(tr, st, "%s", err.msg);
    return ESFT_OK;
}

/* The optimizer's state (every rank keeps its own, updated identically):
 * zeros for a new run, the checkpoint's iteration's file on resume. */
static esft_status setup_optimizer(trainer *tr, bool from_checkpoint) {
    tr->opt_saved = -1;
    if (!(tr->use_opt = esft_opt_config_fused(&tr->cfg.opt))) return ESFT_OK;
    esft_err err;
    esft_status st = esft_opt_init(&tr->opt, &tr->cfg.opt, tr->m, tr->selected, tr->base_path, &err);
    if (st) {
        tr->use_opt = false;
        return fail(tr, st, "%s", err.msg);
    }
    if (!from_checkpoint) return ESFT_OK;
    char *path = esft_opt_state_path(tr->o->out_dir, tr->start_iter);
    if (!path) return fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    st = esft_opt_load(&tr->opt, tr->m, tr->selected, tr->start_iter, path, &err);
    free(path);
    if (st) return fail(tr, st, "--resume: %s", err.msg);
    tr->opt_saved = tr->start_iter;
    return ESFT_OK;
}

/* optstate-<done>.gguf before the checkpoint of `done` (so that the
 * checkpoint on disk always has its own state beside it); `after`: the
 * checkpoint is written, the older state file goes. */
static esft_status save_optimizer(trainer *tr, int done, bool after) {
    if (!tr->use_opt) return ESFT_OK;
    esft_err err;
    if (after) {
        char *old = tr->opt_saved >= 0 && tr->opt_saved != done ? esft_opt_state_path(tr->o->out_dir, tr->opt_saved) : NULL;
        if (old) unlink(old);
        free(old);
        tr->opt_saved = done;
        return ESFT_OK;
    }
    char *path = esft_opt_state_path(tr->o->out_dir, done);
    esft_status st = path ? esft_opt_save(&tr->opt, tr->m, tr->selected, done, path, &err)
                          : esft_errf(&err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    free(path);
    return st ? fail(tr, st, "optimizer state: %s", err.msg) : ESFT_OK;
}

static esft_status setup(trainer *tr) {
    const esft_train_options *o = tr->o;
    esft_err err = {{0}};
    esft_status st;
    resume_state rs = {0};
    tr->cfg = o->cfg;
    esft_opt_config_zero_is_unset(&tr->cfg.opt);
    esft_status rc = prepare_out_dir(tr);
    if (!rc && o->model_path && strlen(o->model_path) >= sizeof tr->base_path)
        rc = usage(tr, "--model: the path is longer than %zu bytes", sizeof tr->base_path - 1);
    if (rc) return rc;
    if (o->resume_dir) {
        rc = load_resume_state(tr, &rs);
    } else if (!tr->cfg.task[0] && !tr->cfg.reward[0] && !tr->cfg.reward_cmd[0]) {
        rc = usage(tr, "--task (countdown, conciseness) or --data FILE --reward NAME (or --reward-cmd CMD) is required");
    } else {
        if (!o->model_path) rc = usage(tr, "--model FILE is required");
        else snprintf(tr->base_path, sizeof tr->base_path, "%s", o->model_path);
    }
    const esft_run_record *old = &rs.old;
    const bool have = rs.have_record;
    esft_run_record *rec = &tr->rec;
    if (!rc) {
        rec->eval_every = setting(o->eval_every, old->eval_every, have);
        rec->eval_limit = setting(o->eval_limit, old->eval_limit, have);
        rec->checkpoint_every = setting(o->checkpoint_every, old->checkpoint_every, have);
        rec->max_slots = setting(o->max_slots, old->max_slots, have);
        rec->log_samples = setting(o->log_samples, old->log_samples, have);
        tr->save_dtype = o->save_dtype;
        if (o->save_dtype == ESFT_SAVE_DTYPE_UNSET && !(have && esft_save_dtype_from_name(old->save_dtype, &tr->save_dtype)))
            tr->save_dtype = GGML_TYPE_BF16;
        snprintf(rec->save_dtype, sizeof rec->save_dtype, "%s", esft_ggml_type_name(tr->save_dtype));
        const char *format = o->save_format ? o->save_format : have ? old->save_format : "gguf";
        if (strcmp(format, "gguf") && strcmp(format, "hf") && strcmp(format, "both"))
            rc = usage(tr, "--save-format %s: expected gguf, hf or both", format);
        snprintf(rec->save_format, sizeof rec->save_format, "%s", format);
        if (!rc) rc = work_dtype_setting(tr, have ? old->work_dtype : "", rec->work_dtype, sizeof rec->work_dtype);
        tr->iters = o->iters > 0 ? o->iters : o->resume_dir ? rs.iters_total : 10;
    }
    const char *data = o->data_path ? o->data_path : old->data.path;
    /* flags that do not fit together or name no task or reward come back as
     * ESFT_ERR_INVALID_ARG (a usage error), bad data as FORMAT or IO */
    const esft_run_config *c = &tr->cfg;
    if (!o->resume_dir && !(tr->cfg.reward_timeout > 0)) tr->cfg.reward_timeout = ESFT_REWARD_CMD_DEFAULT_TIMEOUT_S;
    if (!o->resume_dir && isnan(tr->cfg.reward_timeout_score)) tr->cfg.reward_timeout_score = 0;
    esft_task_spec spec = {.task = c->task, .reward = c->reward, .reward_arg = c->reward_arg[0] ? c->reward_arg : NULL,
                           .eval_split = c->eval_split, .reward_cmd = c->reward_cmd[0] ? c->reward_cmd : NULL,
                           .reward_timeout = c->reward_timeout, .reward_timeout_score = c->reward_timeout_score};
    if (!rc && (rc = esft_task_open(&spec, data, "train", &tr->task, &err))) rc = fail(tr, rc, "%s", err.msg);
    if (!rc) rc = check_data_file(tr, "--data", o->data_path, &old->data, &rec->data);
    if (!rc && !o->resume_dir) {
        fill_defaults(&tr->cfg, tr->task);
        tr->cfg.chat = tr->task->chat || o->cfg.chat;
    }
    if (!rc && !tr->cfg.chat && (o->cfg.chat_template[0] || o->cfg.system[0]))
        rc = usage(tr, "--template and --system need --chat");
    if (!rc) rc = validate(tr, &tr->cfg, tr->iters);
    if (!rc && o->resume_dir && tr->iters <= tr->start_iter)
        rc = usage(tr, "--resume: the run already has %d iterations; pass a larger --iters", tr->start_iter);
    /* eval set: given, recorded, or the task's own */
    const char *eval_data = o->eval_data_path ? o->eval_data_path : old->eval_data.path;
    if (!rc && (eval_data || rec->eval_every > 0 || spec.eval_split > 0) &&
        (rc = esft_task_open_eval(&spec, data, eval_data, &tr->eval_task, &err)))
        rc = fail(tr, rc, "eval data: %s", err.msg);
    if (!rc) rc = check_data_file(tr, "--eval-data", o->eval_data_path, &old->eval_data, &rec->eval_data);
    esft_task_share_scorer(tr->eval_task, tr->task); /* one reward process per rank */
    esft_run_record_free(&rs.old);
    if (rc || (rc = open_backend(tr))) return rc;

    esft_model_options mo = {.trainable = own_work_copy(&tr->cfg)};
    const char *load_path = rs.from_checkpoint ? tr->ckpt_path : tr->base_path;
    esft_memory_plan plan = {0};
    if ((rc = plan_weights(tr, load_path, &plan))) return rc;
    if ((st = esft_model_load(load_path, tr->be, &mo, &tr->m, &err))) return fail(tr, st, "%s", err.msg);
    /* the base is the file or directory just loaded */
    if (!rs.from_checkpoint && (st = esft_source_fingerprint(tr->base_path, &tr->base_fingerprint, &err)))
        return fail(tr, st, "%s", err.msg);
    esft_mem_trace("train: base fingerprinted");
    const esft_chat_template *tmpl;
    if ((st = esft_run_chat_template(tr->m, &tr->cfg, &tr->chat_tmpl, &tmpl, &err))) return fail(tr, st, "%s", err.msg);
    const char *sys = tr->cfg.system[0] ? tr->cfg.system : NULL;
    /* a prompt that does not fit is the data's fault (exit 1), not a flag's */
    if ((st = esft_prompts_tokenize(tr->m, tr->task, tmpl, sys, tr->cfg.max_new, &tr->prompts, &err)) ||
        (tr->eval_task && (st = esft_prompts_tokenize(tr->m, tr->eval_task, tmpl, sys, tr->cfg.max_new, &tr->eval_prompts, &err))))
        return fail(tr, st == ESFT_ERR_INVALID_ARG ? ESFT_ERR_FORMAT : st, "%s", err.msg);
    if ((rc = plan_generation(tr, &plan))) return rc;
    int n_sel = 0;
    if (!(tr->selected = esft_es_select(tr->m, tr->cfg.params, &n_sel)))
        return fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (tr->cfg.noise == ESFT_NOISE_LOWRANK && (st = esft_es_lowrank_select(tr->m, &tr->cfg, tr->selected, &n_sel, &err)))
        return fail(tr, st, "%s", err.msg);
    if (n_sel == 0) return no_params_match(tr, load_path);
    if ((rc = setup_optimizer(tr, rs.from_checkpoint))) return rc;
    if (!tr->lead) return ESFT_OK;
    rec->cfg = tr->cfg;
    rec->iters = tr->iters;
    if (!(rec->model = realpath(tr->base_path, NULL))) return fail(tr, ESFT_ERR_IO, "%s: %s", tr->base_path, strerror(errno));
    if ((st = esft_run_record_write(o->out_dir, rec, &err))) return fail(tr, st, "%s", err.msg);
    return open_outputs(tr);
}

/* ---- progress ---- */

/* After every forward pass of a member's generation. */
static void on_gen_progress(void *user, const esft_gen_progress *p) {
    trainer *tr = user;
    const int N = tr->cfg.pop;
    double now = esft_now_seconds();
    double done_members = (double)(tr->iter - tr->start_iter) * N + tr->member +
                          (p->total ? (double)tr->gen_members * p->done / p->total : 0);
    double total_members = (double)(tr->iters - tr->start_iter) * N;
    esft_train_event e = {.kind = ESFT_TRAIN_GENERATE, .iter = tr->iter, .member = tr->member,
                          .members = tr->gen_members, .gen = p, .seconds = now - tr->iter_t0, .eta = -1};
    if (done_members > 0.05) e.eta = (now - tr->t_start) / done_members * (total_members - done_members);
    emit(tr, &e);
}

/* The same while the eval set is generated. */
static void on_eval_progress(void *user, const esft_gen_progress *p) {
    trainer *tr = user;
    esft_train_event e = {.kind = ESFT_TRAIN_GENERATE, .iter = tr->iter, .member = -1, .gen = p,
                          .seconds = esft_now_seconds() - tr->iter_t0, .eta = -1};
    emit(tr, &e);
}

/* ---- samples: what the best and the worst member answered ---- */

static void samples_reset(trainer *tr) {
    esft_eval_result_free(&tr->best, tr->best.n);
    esft_eval_result_free(&tr->worst, tr->worst.n);
    tr->best_member = tr->worst_member = -1;
}

/* Keeps member k's result r if it is the best or the worst so far (taking
 * ownership), else frees it. */
static void samples_offer(trainer *tr, int k, esft_eval_result *r) {
    if (tr->best_member < 0 || r->mean_reward > tr->best.mean_reward) {
        if (tr->best_member >= 0 && tr->worst_member < 0) { /* the old best is the lowest seen */
            tr->worst = tr->best;
            tr->worst_member = tr->best_member;
        } else if (tr->best_member >= 0) {
            esft_eval_result_free(&tr->best, tr->best.n);
        }
        tr->best = *r;
        tr->best_member = k;
    } else if (r->mean_reward < (tr->worst_member < 0 ? tr->best.mean_reward : tr->worst.mean_reward)) {
        if (tr->worst_member >= 0) esft_eval_result_free(&tr->worst, tr->worst.n);
        tr->worst = *r;
        tr->worst_member = k;
    } else {
        esft_eval_result_free(r, r->n);
    }
}

static cJSON *sample_line(const trainer *tr, int iter1, const char *which, int member, const esft_eval_result *r,
                          int i, const int *batch) {
    const esft_task_item *item = &tr->task->items[batch[i]];
    cJSON *o = cJSON_CreateObject();
    cJSON_AddNumberToObject(o, "iter", iter1);
    cJSON_AddStringToObject(o, "which", which);
    cJSON_AddNumberToObject(o, "member", member);
    cJSON_AddNumberToObject(o, "member_reward", r->mean_reward);
    cJSON_AddNumberToObject(o, "item", batch[i]);
    cJSON_AddStringToObject(o, "prompt", item->prompt);
    cJSON_AddNumberToObject(o, "reward", r->scores[i].reward);
    if (!esft_utf8_json_add(o, "response", r->responses[i].text, r->responses[i].text_len)) {
        cJSON_Delete(o); /* the caller reports a failed write */
        return NULL;
    }
    return o;
}

/* K lines per iteration, alternating the best and the worst member's
 * answers to the batch's first items (the best alone when all scored the same). */
static esft_status write_samples(trainer *tr, int iter1, const int *batch, int B) {
    if (!tr->samples || tr->best_member < 0) return ESFT_OK;
    const int K = tr->rec.log_samples;
    const bool two = tr->worst_member >= 0;
    for (int j = 0; j < K; j++) {
        const bool worst = two && j % 2 == 1;
        const int i = two ? j / 2 : j;
        if (i >= B) break;
        cJSON *o = worst ? sample_line(tr, iter1, "worst", tr->worst_member, &tr->worst, i, batch)
                         : sample_line(tr, iter1, "best", tr->best_member, &tr->best, i, batch);
        char *s = cJSON_PrintUnformatted(o);
        cJSON_Delete(o);
        bool bad = !s || fprintf(tr->samples, "%s\n", s) < 0;
        free(s);
        if (bad) return fail(tr, ESFT_ERR_IO, "%s: write failed", tr->samples_path);
    }
    if (fflush(tr->samples)) return fail(tr, ESFT_ERR_IO, "%s: write failed", tr->samples_path);
    return ESFT_OK;
}

/* ---- the loop ---- */


static esft_status write_metrics(trainer *tr, cJSON *line) {
    esft_status rc = ESFT_OK;
    char *s = cJSON_PrintUnformatted(line);
    if (!s || fprintf(tr->metrics, "%s\n", s) < 0 || fflush(tr->metrics)) rc = fail(tr, ESFT_ERR_IO, "%s: write failed", tr->metrics_path);
    free(s);
    return rc;
}

/* Seconds and bytes of one saved model, into the iteration's metrics line. */
static esft_status save_model(trainer *tr, esft_ckpt_info *info, ggml_type dtype, const char *path,
                              const char *what, cJSON *line, const char *seconds_key, const char *bytes_key) {
    esft_err err = {{0}};
    esft_status st;
    double t0 = esft_now_seconds();
    if ((st = esft_checkpoint_write(tr->m, info, dtype, path, &err))) return fail(tr, st, "%s: %s", what, err.msg);
    struct stat sb;
    cJSON_AddNumberToObject(line, seconds_key, esft_now_seconds() - t0);
    cJSON_AddNumberToObject(line, bytes_key, stat(path, &sb) == 0 ? (double)sb.st_size : 0);
    return ESFT_OK;
}

/* final-hf/: final.gguf as a Hugging Face directory (bf16, or f32/f16 when
 * the final model is), replacing the one a previous run left; with
 * --save-format hf, final.gguf was only the way there and goes. */
static esft_status save_final_hf(trainer *tr, cJSON *line) {
    esft_err err = {{0}};
    esft_export_format f = {.hf = true, .force = true,
                            .hf_dtype = tr->save_dtype == GGML_TYPE_F32   ? ESFT_ST_F32
                                        : tr->save_dtype == GGML_TYPE_F16 ? ESFT_ST_F16
                                                                          : ESFT_ST_BF16};
    double t0 = esft_now_seconds();
    esft_status st = esft_export_model(tr->final_path, tr->final_hf_path, &f, &err);
    if (st) return fail(tr, st, "final model (Hugging Face): %s", err.msg);
    cJSON_AddNumberToObject(line, "seconds_final_hf", esft_now_seconds() - t0);
    if (strcmp(tr->rec.save_format, "hf") == 0 && unlink(tr->final_path) != 0)
        return fail(tr, ESFT_ERR_IO, "%s: %s", tr->final_path, strerror(errno));
    return ESFT_OK;
}

/* Saves checkpoint.gguf (f32 master, resumable) and, after the last
 * iteration, final.gguf (--save-dtype), before the iteration's metrics line
 * is appended: the checkpoint carries that line (as it is before the save
 * timings are added) as esft.metrics_line, so a crash between the two
 * writes loses nothing: --resume restores the line (keep_lines_upto). The
 * timings then go into the line itself. */
static esft_status write_checkpoint(trainer *tr, int done, bool last, cJSON *line) {
    char *text = cJSON_PrintUnformatted(line);
    if (!text) return fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    esft_ckpt_info info = {.cfg = tr->cfg, .iteration = done, .iters_total = tr->iters,
                           .base_fingerprint = tr->base_fingerprint, .metrics_line = text};
    /* absolute, so that a run and its resume (from another directory, or
     * given the path another way) record the same base */
    char *abs = realpath(tr->base_path, NULL);
    snprintf(info.base_path, sizeof info.base_path, "%s", abs ? abs : tr->base_path);
    free(abs);
    esft_status rc = save_optimizer(tr, done, false);
    if (!rc)
        rc = save_model(tr, &info, GGML_TYPE_F32, tr->ckpt_path, "checkpoint", line, "seconds_checkpoint",
                        "checkpoint_bytes");
    if (!rc) rc = save_optimizer(tr, done, true);
    info.metrics_line = NULL; /* the final model is the same for the same run */
    if (!rc && last)
        rc = save_model(tr, &info, tr->save_dtype, tr->final_path, "final model", line, "seconds_final",
                        "final_bytes");
    if (!rc && last && strcmp(tr->rec.save_format, "gguf") != 0) rc = save_final_hf(tr, line);
    free(text);
    return rc;
}

/* Eval items are dealt to ranks like members; the per-item scores are
 * gathered and summed in item order, as one process would. */
enum { EV_REWARD, EV_CORRECT, EV_TIMED_OUT, EV_PARTS, EV_WIDTH = EV_PARTS + ESFT_TASK_MAX_PARTS };

static esft_status run_eval(trainer *tr, cJSON *line, int iter1, esft_err *err) {
    const esft_dist *d = tr->dist;
    int n = tr->eval_task->n_items;
    if (tr->rec.eval_limit > 0 && tr->rec.eval_limit < n) n = tr->rec.eval_limit;
    int lo, hi;
    esft_dist_block(n, d->size, d->rank, &lo, &hi);
    int *items = malloc((size_t)(hi - lo + 1) * sizeof *items);
    double *mine = calloc((size_t)(hi - lo + 1) * EV_WIDTH, sizeof *mine);
    double *all = calloc((size_t)n * EV_WIDTH + 1, sizeof *all);
    esft_score *scores = calloc((size_t)n + 1, sizeof *scores);
    esft_status st = ESFT_OK;
    if (!items || !mine || !all || !scores) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = lo; !st && i < hi; i++) items[i - lo] = i;
    esft_eval_params ep = {.max_new = tr->cfg.max_new, .max_slots = tr->rec.max_slots ? tr->rec.max_slots : 64,
                           .keep = true, .on_progress = on_eval_progress, .user = tr};
    if (!st) st = esft_es_unperturb(tr->m, tr->selected, err);
    esft_eval_result r = {0};
    if (!st && hi > lo) st = esft_evaluate(tr->m, tr->eval_task, &tr->eval_prompts, items, hi - lo, &ep, &r, err);
    for (int i = 0; !st && i < hi - lo; i++) {
        double *rec = mine + (size_t)i * EV_WIDTH;
        rec[EV_REWARD] = r.scores[i].reward;
        rec[EV_CORRECT] = r.scores[i].correct;
        rec[EV_TIMED_OUT] = r.scores[i].timed_out;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) rec[EV_PARTS + q] = r.scores[i].parts[q];
    }
    esft_eval_result_free(&r, hi - lo);
    if (st) { /* this rank alone failed: the caller ends the job */
        free(items), free(mine), free(all), free(scores);
        return st;
    }
    esft_dist_gather_items(d, mine, n, EV_WIDTH, all, "eval scores", iter1);
    for (int i = 0; i < n; i++) {
        const double *rec = all + (size_t)i * EV_WIDTH;
        scores[i].reward = rec[EV_REWARD];
        scores[i].correct = rec[EV_CORRECT] != 0;
        scores[i].timed_out = rec[EV_TIMED_OUT] != 0;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) scores[i].parts[q] = rec[EV_PARTS + q];
    }
    esft_eval_result sum = {0};
    esft_eval_summarise(scores, n, tr->eval_task->n_parts, &sum);
    cJSON_AddNumberToObject(line, "eval_accuracy", sum.accuracy);
    cJSON_AddNumberToObject(line, "eval_accuracy_lo", sum.accuracy_lo); /* its 95% Wilson interval */
    cJSON_AddNumberToObject(line, "eval_accuracy_hi", sum.accuracy_hi);
    if (sum.timeouts) cJSON_AddNumberToObject(line, "eval_reward_timeouts", sum.timeouts);
    cJSON_AddNumberToObject(line, "eval_reward", sum.mean_reward);
    cJSON_AddNumberToObject(line, "eval_items", n);
    free(items), free(mine), free(all), free(scores);
    return ESFT_OK;
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
    uint64_t h = ESFT_FNV1A64_INIT;
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
        h = esft_fnv1a64_words(h, host, p->n * sizeof *host);
    }
    free(host);
    *out = h;
    return ESFT_OK;
}

/* Ranks compare weight hashes; a mismatch stops every rank (each sees it). */
static esft_status check_hashes(trainer *tr, int iter1) {
    const esft_dist *d = tr->dist;
    esft_err err = {{0}};
    uint64_t h = 0;
    esft_status st;
    if ((st = master_hash(tr, &h, &err))) return fail(tr, st, "weight hash: %s", err.msg);
    uint64_t *all = calloc((size_t)d->size, sizeof *all);
    if (!all) return fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    esft_dist_allgather_u64(d, h, all, "weight hashes", iter1);
    char ranks[256];
    int n_bad = esft_dist_hash_mismatch(all, d->size, ranks, sizeof ranks);
    if (n_bad)
        fail(tr, ESFT_ERR_DEVICE, "iteration %d: the master weights of rank%s %s differ from rank 0's "
                                  "(weight hash %016llx, rank 0 %016llx); stopping",
             iter1, n_bad > 1 ? "s" : "", ranks, (unsigned long long)all[strtol(ranks, NULL, 10)],
             (unsigned long long)all[0]);
    free(all);
    if (!n_bad) return ESFT_OK;
    tr->stopped_together = true;
    return ESFT_ERR_DEVICE;
}

/* What a rank reports per member: reward, reward parts, tokens, seconds. */
enum { MR_REWARD, MR_PARTS, MR_TOKENS = MR_PARTS + ESFT_TASK_MAX_PARTS, MR_GEN, MR_PERTURB, MR_SCORE, MR_TIMEOUTS,
       MR_WIDTH };

/* Perturbs and evaluates members [lo, hi) of iteration t into mine. */
static esft_status eval_members(trainer *tr, int t, int lo, int hi, const int *batch, int B, double *mine) {
    const esft_run_config *c = &tr->cfg;
    tr->gen_members = 1;
    for (tr->member = lo; tr->member < hi; tr->member++) {
        const int k = tr->member;
        double *rec = mine + (size_t)(k - lo) * MR_WIDTH;
        double t0 = esft_now_seconds();
        esft_status st = esft_es_perturb_member(tr->m, tr->selected, c, t, k, tr->err);
        if (st) return st;
        double t1 = esft_now_seconds();
        rec[MR_PERTURB] = t1 - t0;
        esft_eval_result r;
        esft_eval_params ep = {.max_new = c->max_new,
                               .max_slots = train_slots(tr, B),
                               .keep = tr->samples != NULL, .on_progress = on_gen_progress, .user = tr};
        if ((st = esft_evaluate(tr->m, tr->task, &tr->prompts, batch, B, &ep, &r, tr->err))) return st;
        rec[MR_GEN] = r.seconds;
        rec[MR_SCORE] = esft_now_seconds() - t1 - r.seconds;
        rec[MR_REWARD] = r.mean_reward;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) rec[MR_PARTS + q] = r.mean_parts[q];
        rec[MR_TOKENS] = (double)r.new_tokens;
        rec[MR_TIMEOUTS] = r.timeouts;
        if (r.responses) samples_offer(tr, k, &r);
    }
    return ESFT_OK;
}

/* Member j's share of a batched generation's result r (items [j*B, j*B+B)),
 * taking over those responses and scores. */
static esft_status member_share(const trainer *tr, esft_eval_result *r, int j, int B, esft_eval_result *out) {
    memset(out, 0, sizeof *out);
    esft_eval_summarise(r->scores + (size_t)j * B, B, tr->task->n_parts, out);
    out->n = B;
    for (int i = 0; i < B; i++) out->new_tokens += r->responses[(size_t)j * B + i].n_tokens;
    if (!tr->samples) return ESFT_OK;
    out->responses = calloc((size_t)B, sizeof *out->responses);
    out->scores = calloc((size_t)B, sizeof *out->scores);
    if (!out->responses || !out->scores) {
        esft_eval_result_free(out, 0);
        return ESFT_ERR_OUT_OF_MEMORY;
    }
    memcpy(out->responses, r->responses + (size_t)j * B, (size_t)B * sizeof *out->responses);
    memcpy(out->scores, r->scores + (size_t)j * B, (size_t)B * sizeof *out->scores);
    memset(r->responses + (size_t)j * B, 0, (size_t)B * sizeof *out->responses);
    return ESFT_OK;
}

/* Members [lo, hi) as low-rank members: their factors, then one generation
 * of every member x prompt over the shared base weights. The generation's
 * time is shared out evenly over the members, and so is the factors'. */
static esft_status eval_members_lowrank(trainer *tr, int t, int lo, int hi, const int *batch, int B, double *mine) {
    const esft_run_config *c = &tr->cfg;
    const int n_mem = hi - lo, n = n_mem * B;
    tr->member = lo;
    tr->gen_members = n_mem;
    const double t0 = esft_now_seconds();
    /* the forward pass reads the base weights: the last update's master */
    esft_status st = esft_es_unperturb(tr->m, tr->selected, tr->err);
    esft_lowrank lr;
    if (!st) st = esft_es_lowrank_members(&lr, tr->m, tr->selected, c, t, lo, hi, tr->err);
    if (st) return st;
    const double t1 = esft_now_seconds();
    int *items = malloc((size_t)n * sizeof *items);
    int32_t *req_member = malloc((size_t)n * sizeof *req_member);
    esft_eval_result r = {0};
    if (!items || !req_member) st = fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; !st && i < n; i++) items[i] = batch[i % B], req_member[i] = i / B;
    esft_eval_params ep = {.max_new = c->max_new, .max_slots = train_slots(tr, B), .keep = true,
                           .on_progress = on_gen_progress, .user = tr, .lowrank = &lr, .request_member = req_member};
    if (!st) st = esft_evaluate(tr->m, tr->task, &tr->prompts, items, n, &ep, &r, tr->err);
    const double score_s = esft_now_seconds() - t1 - r.seconds;
    for (int j = 0; !st && j < n_mem; j++) {
        double *rec = mine + (size_t)j * MR_WIDTH;
        esft_eval_result mr;
        if ((st = member_share(tr, &r, j, B, &mr))) {
            st = fail(tr, st, "out of memory");
            break;
        }
        rec[MR_PERTURB] = (t1 - t0) / n_mem;
        rec[MR_GEN] = r.seconds / n_mem;
        rec[MR_SCORE] = score_s / n_mem;
        rec[MR_REWARD] = mr.mean_reward;
        for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) rec[MR_PARTS + q] = mr.mean_parts[q];
        rec[MR_TOKENS] = (double)mr.new_tokens;
        rec[MR_TIMEOUTS] = mr.timeouts;
        if (mr.responses) samples_offer(tr, lo + j, &mr);
    }
    if (r.responses) esft_eval_result_free(&r, n);
    free(items), free(req_member);
    esft_lowrank_free(&lr);
    return st;
}

static esft_status train_loop(trainer *tr) {
    const esft_run_config *c = &tr->cfg;
    const esft_dist *d = tr->dist;
    const int N = c->pop, B = c->batch < tr->task->n_items ? c->batch : tr->task->n_items;
    const int hash_every = tr->o->hash_every > 0 ? tr->o->hash_every : 10; /* 0: a caller's default */
    int lo, hi;
    esft_dist_block(N, d->size, d->rank, &lo, &hi);
    esft_err err = {{0}};
    double *R = calloc((size_t)N, sizeof *R);
    double *parts = calloc((size_t)N * ESFT_TASK_MAX_PARTS, sizeof *parts);
    double *mine = calloc((size_t)(hi - lo + 1) * MR_WIDTH, sizeof *mine);
    double *all = calloc((size_t)N * MR_WIDTH, sizeof *all);
    int *batch = calloc((size_t)B, sizeof *batch);
    esft_status rc = ESFT_OK;
    if (!R || !parts || !mine || !all || !batch) rc = fail(tr, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    tr->t_start = esft_now_seconds();
    if (!rc) {
        esft_train_event e = {.kind = ESFT_TRAIN_START, .model = tr->base_path, .device = tr->be->device_name,
                              .task = tr->task->name, .n_items = tr->task->n_items, .batch = B, .max_new = c->max_new,
                              .ranks = d->size, .sigma = c->sigma, .alpha = c->alpha};
        emit(tr, &e);
    }
    for (tr->iter = tr->start_iter; tr->iter < tr->iters && !rc; tr->iter++) {
        const int t = tr->iter;
        const double it0 = tr->iter_t0 = esft_now_seconds();
        esft_select_batch(c->run_seed, (uint64_t)t, tr->task->n_items, B, batch);
        if ((rc = c->noise == ESFT_NOISE_LOWRANK ? eval_members_lowrank(tr, t, lo, hi, batch, B, mine)
                                                 : eval_members(tr, t, lo, hi, batch, B, mine)))
            break;
        /* every rank gets every member's record, in member order */
        esft_dist_gather_items(d, mine, N, MR_WIDTH, all, "member rewards", t + 1);
        double t_perturb = 0, t_gen = 0, t_reward = 0;
        long it_tokens = 0, timeouts = 0;
        for (int k = 0; k < N; k++) {
            const double *rec = all + (size_t)k * MR_WIDTH;
            R[k] = rec[MR_REWARD];
            for (int q = 0; q < ESFT_TASK_MAX_PARTS; q++) parts[(size_t)k * ESFT_TASK_MAX_PARTS + q] = rec[MR_PARTS + q];
            it_tokens += (long)rec[MR_TOKENS];
            timeouts += (long)rec[MR_TIMEOUTS];
            t_gen += rec[MR_GEN], t_perturb += rec[MR_PERTURB], t_reward += rec[MR_SCORE];
        }
        double u0 = esft_now_seconds();
        if ((rc = esft_es_apply(tr->m, tr->selected, c, t, R, tr->use_opt ? &tr->opt : NULL, tr->err))) break;
        double t_update = esft_now_seconds() - u0;
        const bool last = t + 1 == tr->iters;
        if (d->size > 1 && (last || (t + 1) % hash_every == 0) && (rc = check_hashes(tr, t + 1))) break;

        /* metrics; "iter" counts the iterations done, like the progress lines */
        double mean = 0, var = 0, mn = R[0], mx = R[0];
        for (int k = 0; k < N; k++) mean += R[k] / N, mn = fmin(mn, R[k]), mx = fmax(mx, R[k]);
        for (int k = 0; k < N; k++) var += (R[k] - mean) * (R[k] - mean) / N;
        const bool no_signal = mn == mx;
        count_signal(tr, no_signal);
        cJSON *line = cJSON_CreateObject();
        cJSON_AddNumberToObject(line, "iter", t + 1);
        cJSON_AddNumberToObject(line, "reward_mean", mean);
        cJSON_AddNumberToObject(line, "reward_std", no_signal ? 0.0 : sqrt(var));
        if (c->reward_cmd[0]) cJSON_AddNumberToObject(line, "reward_timeouts", (double)timeouts); /* scored as timed out */
        cJSON_AddNumberToObject(line, "reward_min", mn);
        cJSON_AddNumberToObject(line, "reward_max", mx);
        cJSON_AddItemToObject(line, "rewards", cJSON_CreateDoubleArray(R, N));
        /* iterations without signal so far (like TRL's frac_reward_zero_std) */
        cJSON_AddBoolToObject(line, "zero_signal", no_signal);
        cJSON_AddNumberToObject(line, "zero_signal_iters", tr->zero_signal_iters);
        cJSON_AddNumberToObject(line, "frac_zero_signal", (double)tr->zero_signal_iters / (t + 1));
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
        uint64_t rss, peak;
        if (esft_process_memory(&rss, &peak)) cJSON_AddNumberToObject(line, "peak_rss_bytes", (double)peak);
        esft_mem_trace("train: iteration generated");
        if (tr->eval_task && ((tr->rec.eval_every > 0 && (t + 1) % tr->rec.eval_every == 0) || last)) {
            if ((rc = run_eval(tr, line, t + 1, &err))) {
                fail(tr, rc, "eval: %s", err.msg);
                cJSON_Delete(line);
                break;
            }
        }
        if (tr->lead && (last || (tr->rec.checkpoint_every > 0 && (t + 1) % tr->rec.checkpoint_every == 0)))
            rc = write_checkpoint(tr, t + 1, last, line);
        esft_mem_trace("train: checkpoint written");
        if (!rc && tr->lead) rc = write_metrics(tr, line);
        if (!rc && tr->lead) rc = write_samples(tr, t + 1, batch, B);
        if (!rc) {
            esft_train_event e = {.kind = ESFT_TRAIN_ITERATION, .iter = t, .seconds = it_s, .reward_mean = mean,
                                  .reward_min = mn, .reward_max = mx,
                                  .eval_accuracy = line_number(line, "eval_accuracy"), .new_tokens = it_tokens,
                                  .gen_seconds = t_gen, .zero_signal_streak = tr->zero_signal_streak};
            emit(tr, &e);
        }
        cJSON_Delete(line);
        samples_reset(tr);
        if (rc) break;
    }
    if (!rc) {
        esft_train_event e = {.kind = ESFT_TRAIN_DONE, .iter = tr->iters - 1,
                              .seconds = esft_now_seconds() - tr->t_start, .metrics_path = tr->metrics_path,
                              .final_path = tr->final_path};
        emit(tr, &e);
    }
    free(R), free(parts), free(mine), free(all), free(batch);
    return rc;
}

esft_status esft_train(const esft_train_options *opts, esft_err *err) {
    esft_dist dist;
    char msg[256] = "";
    if (esft_dist_init(&dist, opts->mpi_timeout > 0 ? opts->mpi_timeout : 1800, msg, sizeof msg))
        return esft_errf(err, ESFT_ERR_DEVICE, "MPI: %s", msg);
    trainer tr = {.o = opts, .err = err, .dist = &dist, .lead = dist.rank == 0, .lock_fd = -1,
                  .best_member = -1, .worst_member = -1};
    esft_status rc = setup(&tr);
    /* A setup failure on any rank stops them all here, together: each rank
     * has read the same flags and files, so most failures are everyone's,
     * and the one rank that reports the reason is enough. */
    int worst = (int)rc;
    esft_dist_max_int(&dist, (int)rc, &worst, "setup", 0);
    if (worst) {
        rc = rc ? rc : (esft_status)worst;
        tr.stopped_together = true;
    } else {
        rc = train_loop(&tr);
    }
    if (tr.metrics) fclose(tr.metrics);
    if (tr.samples) fclose(tr.samples);
    samples_reset(&tr);
    esft_run_record_free(&tr.rec);
    esft_run_dir_unlock(tr.lock_fd);
    free(tr.metrics_path), free(tr.ckpt_path), free(tr.final_path), free(tr.final_hf_path), free(tr.samples_path);
    free(tr.selected);
    if (tr.use_opt) esft_opt_free(&tr.opt);
    esft_prompts_free(&tr.prompts);
    esft_prompts_free(&tr.eval_prompts);
    esft_task_free(tr.task);
    esft_task_free(tr.eval_task);
    esft_model_free(tr.m);
    esft_backend_destroy(tr.be);
    /* a failure only this rank saw: the others would wait for it in the
     * next collective, so end the whole job now */
    if (rc && !tr.stopped_together && dist.mpi && dist.size > 1) {
        /* the abort ends this process before the caller could print why */
        fprintf(stderr, "esft train: rank %d: %s\n", dist.rank, err->msg);
        esft_dist_abort(&dist, esft_exit_code(rc));
    }
    esft_dist_finalize(&dist);
    return rc;
}
