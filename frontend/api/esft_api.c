/* The public C API (include/esft.h) over the layers below it: backends from
 * the registry, models from models/, and ES through es_step.h and
 * evaluate.h, the same code `esft train` runs. */
#include "esft.h"

#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checkpoint.h"
#include "es_step.h"
#include "evaluate.h"
#include "registry.h"

/* ---- errors ---- */

static _Thread_local char last_error[sizeof(((esft_err *)0)->msg)];

const char *esft_last_error(void) { return last_error; }

/* Records err's message as this thread's last error; returns st. */
static esft_status failed(esft_status st, const esft_err *err) {
    snprintf(last_error, sizeof last_error, "%s", err->msg);
    return st;
}

static esft_status failf(esft_status st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static esft_status failf(esft_status st, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(last_error, sizeof last_error, fmt, ap);
    va_end(ap);
    return st;
}

#define CHECK_ARG(cond, ...) \
    do {                                                          \
        if (!(cond)) return failf(ESFT_ERR_INVALID_ARG, __VA_ARGS__); \
    } while (0)

const char *esft_version(void) { return ESFT_VERSION; }

void esft_free(void *p) { free(p); }

/* ---- backends ---- */

esft_backend_params esft_backend_default_params(void) {
    return (esft_backend_params){.backend = "auto", .device = -1, .threads = 0};
}

esft_status esft_backend_init(const esft_backend_params *params, esft_backend **out) {
    CHECK_ARG(out, "esft_backend_init: out is NULL");
    *out = NULL;
    esft_backend_params p = params ? *params : esft_backend_default_params();
    CHECK_ARG(p.threads >= 0, "esft_backend_init: threads %d < 0", p.threads);
    esft_backend_options bo = {.n_threads = p.threads, .device_index = p.device};
    esft_err err = {{0}};
    esft_status st = esft_backend_open_device(p.backend ? p.backend : "auto", &bo, out, NULL, &err);
    return st ? failed(st, &err) : ESFT_OK;
}

void esft_backend_free(esft_backend *be) { esft_backend_destroy(be); }

const char *esft_backend_name(const esft_backend *be) { return be ? be->kind : ""; }

const char *esft_backend_device_name(const esft_backend *be) { return be ? be->device_name : ""; }

/* ---- models ---- */

esft_model_params esft_model_default_params(void) { return (esft_model_params){.trainable = true}; }

esft_status esft_model_open(esft_backend *be, const char *path, const esft_model_params *params, esft_model **out) {
    CHECK_ARG(out, "esft_model_open: out is NULL");
    *out = NULL;
    CHECK_ARG(be && path, "esft_model_open: %s is NULL", be ? "path" : "the backend");
    esft_model_params p = params ? *params : esft_model_default_params();
    esft_model_options mo = {.trainable = p.trainable};
    esft_err err = {{0}};
    esft_status st = esft_model_load(path, be, &mo, out, &err);
    return st ? failed(st, &err) : ESFT_OK;
}

void esft_model_close(esft_model *m) { esft_model_free(m); }

size_t esft_model_n_params(const esft_model *m) { return m ? esft_model_n_elements(m) : 0; }

int esft_model_n_ctx(const esft_model *m) { return m ? m->hp.n_ctx_train : 0; }

esft_generate_params esft_generate_default_params(void) {
    return (esft_generate_params){.max_new = 128, .top_p = 1.0f};
}

esft_status esft_model_generate(esft_model *m, const char *const *prompts, int n, const esft_generate_params *params,
                                char **responses) {
    CHECK_ARG(m && (prompts || n == 0) && (responses || n == 0) && n >= 0,
              "esft_model_generate: a NULL model, prompts or responses, or n < 0");
    esft_generate_params p = params ? *params : esft_generate_default_params();
    CHECK_ARG(p.max_new >= 1, "esft_model_generate: max_new %d < 1", p.max_new);
    for (int i = 0; i < n; i++) CHECK_ARG(prompts[i], "esft_model_generate: prompt %d is NULL", i);
    for (int i = 0; i < n; i++) responses[i] = NULL;
    esft_gen_request *reqs = calloc((size_t)n + 1, sizeof *reqs);
    esft_gen_result *res = calloc((size_t)n + 1, sizeof *res);
    esft_err err = {{0}};
    esft_status st = reqs && res ? ESFT_OK : esft_errf(&err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    esft_chat_template tmpl; /* the model's own */
    if (!st && p.chat) st = esft_chat_template_from_gguf(m->gguf, m->tok, NULL, &tmpl, &err);
    for (int i = 0; i < n && !st; i++) {
        int32_t *ids = NULL;
        size_t n_ids = 0;
        st = esft_prompt_ids(m, p.chat ? &tmpl : NULL, p.system, prompts[i], p.max_new, &ids, &n_ids, &err);
        if (st) esft_err_prefix(&err, st, "prompt %d", i);
        reqs[i] = (esft_gen_request){ids, (int)n_ids};
    }
    esft_gen_params gp = {.max_new = p.max_new, .max_slots = p.max_slots,
                          .sampling = {.temperature = p.temperature, .top_k = p.top_k, .top_p = p.top_p,
                                       .seed = p.seed}};
    if (!st) st = esft_generate(m, reqs, n, &gp, res, NULL, &err);
    for (int i = 0; i < n && reqs; i++) free((void *)reqs[i].prompt);
    for (int i = 0; i < n && res; i++) {
        if (!st) responses[i] = res[i].text, res[i].text = NULL; /* the caller's now */
        esft_gen_result_free(&res[i]);
    }
    free(reqs), free(res);
    return st ? failed(st, &err) : ESFT_OK;
}

/* ---- ES training ---- */

/* The caller's prompts as a task whose score is the reward callback. */
typedef struct callback_task {
    esft_task task;            /* first: score() gets &task */
    struct esft_trainer *tr;
} callback_task;

struct esft_trainer {
    esft_model *m;
    bool owns_model;             /* made by esft_trainer_resume */
    esft_run_config cfg;
    int iteration;               /* iterations applied */
    bool *selected;              /* [m->n_params]: the tensors trained */
    callback_task data;          /* the prompts */
    esft_prompts prompts;        /* their token ids */
    esft_chat_template chat_tmpl; /* the prompts' template, when cfg.chat */
    int max_slots;
    uint64_t base_fingerprint;   /* of the model the run started from */
    char base_path[1024];
    /* the reward call in flight */
    esft_reward_fn reward;
    void *user;
    int member;
    bool reward_failed;
    char reward_error[400];
};

static void score_with_callback(const esft_task *t, int item, const char *response, size_t len, esft_score *out) {
    esft_trainer *tr = ((const callback_task *)t)->tr;
    memset(out, 0, sizeof *out);
    if (tr->reward_failed) return;
    esft_reward_input in = {.item = item, .prompt = t->items[item].prompt, .response = response,
                            .response_len = len, .iteration = tr->iteration, .member = tr->member};
    double r = 0;
    esft_status st = tr->reward(tr->user, &in, &r);
    if (st || !isfinite(r)) {
        tr->reward_failed = true;
        if (st)
            snprintf(tr->reward_error, sizeof tr->reward_error, "the reward callback failed (%s) on prompt %d, member %d",
                     esft_status_name(st), item, tr->member);
        else
            snprintf(tr->reward_error, sizeof tr->reward_error,
                     "the reward callback gave %g on prompt %d, member %d: rewards must be finite", r, item, tr->member);
        return;
    }
    out->reward = r;
}

static void free_prompts(esft_trainer *tr) {
    esft_task *t = &tr->data.task;
    for (int i = 0; t->items && i < t->n_items; i++) free(t->items[i].prompt);
    free(t->items);
    t->items = NULL;
    esft_prompts_free(&tr->prompts);
}

/* Copies the prompts and tokenizes them for generations of cfg.max_new. */
static esft_status set_prompts(esft_trainer *tr, const char *const *prompts, int n, esft_err *err) {
    if (n < 1 || !prompts) return esft_errf(err, ESFT_ERR_INVALID_ARG, "no prompts (n_prompts %d)", n);
    esft_task *t = &tr->data.task;
    tr->data.tr = tr;
    t->name = "callback";
    snprintf(t->source, sizeof t->source, "the caller's prompts");
    t->score = score_with_callback;
    if (!(t->items = calloc((size_t)n, sizeof *t->items)))
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    t->n_items = n;
    for (int i = 0; i < n; i++) {
        if (!prompts[i]) return esft_errf(err, ESFT_ERR_INVALID_ARG, "prompt %d is NULL", i);
        if (!(t->items[i].prompt = strdup(prompts[i]))) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    const esft_chat_template *tmpl;
    esft_status st = esft_run_chat_template(tr->m, &tr->cfg, &tr->chat_tmpl, &tmpl, err);
    return st ? st : esft_prompts_tokenize(tr->m, t, tmpl, NULL, tr->cfg.max_new, &tr->prompts, err);
}

esft_trainer_params esft_trainer_default_params(void) {
    return (esft_trainer_params){.pop = 30, .sigma = 0.001f, .alpha = 0.0005f, .shaping = ESFT_SHAPE_ZSCORE,
                                 .max_new = 128};
}

static esft_shaping shaping_of(esft_shaping_kind k) {
    return k == ESFT_SHAPE_RANK ? ESFT_SHAPING_RANK : k == ESFT_SHAPE_RAW ? ESFT_SHAPING_RAW : ESFT_SHAPING_ZSCORE;
}

/* The run settings of p, checked as `esft train` checks its flags. */
static esft_status run_config(const esft_trainer_params *p, esft_run_config *c, esft_err *err) {
    if (p->batch < 0) return esft_errf(err, ESFT_ERR_INVALID_ARG, "batch %d < 0", p->batch);
    if (p->params && strlen(p->params) >= sizeof c->params)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "params: longer than %zu bytes", sizeof c->params - 1);
    *c = (esft_run_config){.run_seed = p->seed, .pop = p->pop, .sigma = p->sigma, .alpha = p->alpha,
                           .batch = p->batch ? p->batch : INT_MAX, .max_new = p->max_new,
                           .shaping = shaping_of(p->shaping), .antithetic = p->antithetic,
                           .weight_decay = p->weight_decay, .chat = p->chat};
    esft_opt_config_unset(&c->opt);
    esft_opt_config_defaults(&c->opt); /* the API trains with the paper's sgd */
    snprintf(c->task, sizeof c->task, "callback");
    snprintf(c->params, sizeof c->params, "%s", p->params ? p->params : "*");
    return esft_run_config_check(c, false, err);
}

/* The parts of a trainer that follow from its model, config and prompts. */
static esft_status trainer_start(esft_trainer *tr, const esft_trainer_params *p, esft_err *err) {
    for (int i = 0; i < tr->m->n_params; i++)
        if (tr->m->params[i].work_is_master)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "the model was opened without trainable: it cannot be trained");
    int n_sel = 0;
    if (!(tr->selected = esft_es_select(tr->m, tr->cfg.params, &n_sel)))
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    if (n_sel == 0) return esft_errf(err, ESFT_ERR_INVALID_ARG, "params '%s' matches no tensor of the model", tr->cfg.params);
    tr->max_slots = p->max_slots;
    return set_prompts(tr, p->prompts, p->n_prompts, err);
}

esft_status esft_trainer_init(esft_model *m, const esft_trainer_params *params, esft_trainer **out) {
    CHECK_ARG(out, "esft_trainer_init: out is NULL");
    *out = NULL;
    CHECK_ARG(m && params, "esft_trainer_init: %s is NULL", m ? "params" : "the model");
    esft_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return failf(ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    tr->m = m;
    esft_err err = {{0}};
    esft_status st = run_config(params, &tr->cfg, &err);
    if (!st) st = trainer_start(tr, params, &err);
    if (st) {
        esft_trainer_free(tr);
        return failed(st, &err);
    }
    tr->base_fingerprint = esft_model_fingerprint(m->gguf);
    snprintf(tr->base_path, sizeof tr->base_path, "%s", esft_gguf_path(m->gguf));
    *out = tr;
    return ESFT_OK;
}

/* A run setting given to resume must be the default or the run's own. */
static esft_status check_resume_params(const esft_trainer_params *p, const esft_run_config *run, esft_err *err) {
    const esft_trainer_params d = esft_trainer_default_params();
#define SAME(field, value, fmt)                                                                        \
    if (p->field != d.field && p->field != (value))                                                    \
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "resume: " #field " " fmt " differs from the run's " fmt, \
                         p->field, (value));
    SAME(pop, run->pop, "%d")
    SAME(sigma, run->sigma, "%g")
    SAME(alpha, run->alpha, "%g")
    SAME(max_new, run->max_new, "%d")
    SAME(weight_decay, run->weight_decay, "%g")
#undef SAME
    if ((p->seed && p->seed != run->run_seed) || (p->antithetic && !run->antithetic) || (p->chat && !run->chat) ||
        (p->shaping != d.shaping && shaping_of(p->shaping) != run->shaping) ||
        (p->params && strcmp(p->params, run->params)) || (p->batch && p->batch != run->batch))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "resume: seed, antithetic, chat, shaping, params or batch "
                                                    "differ from the run's");
    return ESFT_OK;
}

esft_status esft_trainer_resume(esft_backend *be, const char *checkpoint, const esft_trainer_params *params,
                                esft_trainer **out) {
    CHECK_ARG(out, "esft_trainer_resume: out is NULL");
    *out = NULL;
    CHECK_ARG(be && checkpoint && params, "esft_trainer_resume: a NULL backend, checkpoint or params");
    esft_err err = {{0}};
    gguf_file *f = NULL;
    esft_ckpt_info info;
    esft_status st = esft_gguf_open(checkpoint, &f, &err);
    if (!st) st = esft_checkpoint_read_info(f, &info, &err);
    esft_gguf_close(f);
    if (!st) st = check_resume_params(params, &info.cfg, &err);
    if (st) return failed(st, &err);
    esft_trainer *tr = calloc(1, sizeof *tr);
    if (!tr) return failf(ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    tr->cfg = info.cfg;
    tr->iteration = info.iteration;
    tr->base_fingerprint = info.base_fingerprint;
    snprintf(tr->base_path, sizeof tr->base_path, "%s", info.base_path);
    esft_model_options mo = {.trainable = true};
    tr->owns_model = true;
    st = esft_model_load(checkpoint, be, &mo, &tr->m, &err);
    if (!st) st = trainer_start(tr, params, &err);
    if (st) {
        esft_trainer_free(tr);
        return failed(st, &err);
    }
    *out = tr;
    return ESFT_OK;
}

void esft_trainer_free(esft_trainer *tr) {
    if (!tr) return;
    free_prompts(tr);
    free(tr->selected);
    if (tr->owns_model) esft_model_free(tr->m);
    free(tr);
}

esft_model *esft_trainer_model(esft_trainer *tr) { return tr ? tr->m : NULL; }

int esft_trainer_pop(const esft_trainer *tr) { return tr ? tr->cfg.pop : 0; }

int esft_trainer_iteration(const esft_trainer *tr) { return tr ? tr->iteration : 0; }

esft_status esft_trainer_eval_members(esft_trainer *tr, int lo, int hi, esft_reward_fn reward, void *user,
                                      double *rewards) {
    CHECK_ARG(tr && reward && (rewards || lo == hi), "esft_trainer_eval_members: a NULL trainer, reward or rewards");
    CHECK_ARG(0 <= lo && lo <= hi && hi <= tr->cfg.pop, "esft_trainer_eval_members: members [%d, %d) outside [0, %d)",
              lo, hi, tr->cfg.pop);
    const int n = tr->data.task.n_items, B = tr->cfg.batch < n ? tr->cfg.batch : n;
    int *batch = calloc((size_t)B, sizeof *batch);
    if (!batch) return failf(ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    esft_select_batch(tr->cfg.run_seed, (uint64_t)tr->iteration, n, B, batch);
    tr->reward = reward, tr->user = user, tr->reward_failed = false;
    esft_eval_params ep = {.max_new = tr->cfg.max_new, .max_slots = tr->max_slots ? tr->max_slots : (B < 64 ? B : 64)};
    esft_err err = {{0}};
    esft_status st = ESFT_OK;
    for (tr->member = lo; tr->member < hi && !st; tr->member++) {
        esft_eval_result r;
        st = esft_es_perturb_member(tr->m, tr->selected, &tr->cfg, tr->iteration, tr->member, &err);
        if (!st) st = esft_evaluate(tr->m, &tr->data.task, &tr->prompts, batch, B, &ep, &r, &err);
        if (!st && tr->reward_failed) st = esft_errf(&err, ESFT_ERR_CALLBACK, "%s", tr->reward_error);
        if (!st) rewards[tr->member - lo] = r.mean_reward;
    }
    /* the model generates unperturbed again between calls */
    esft_status back = esft_es_unperturb(tr->m, tr->selected, st ? NULL : &err);
    free(batch);
    if (!st) st = back;
    return st ? failed(st, &err) : ESFT_OK;
}

esft_status esft_trainer_apply(esft_trainer *tr, const double *rewards) {
    CHECK_ARG(tr && rewards, "esft_trainer_apply: a NULL trainer or rewards");
    for (int k = 0; k < tr->cfg.pop; k++)
        CHECK_ARG(isfinite(rewards[k]), "esft_trainer_apply: rewards[%d] is %g; rewards must be finite", k, rewards[k]);
    esft_err err = {{0}};
    esft_status st = esft_es_apply(tr->m, tr->selected, &tr->cfg, tr->iteration, rewards, NULL, &err);
    if (!st) st = esft_es_unperturb(tr->m, tr->selected, &err);
    if (st) return failed(st, &err);
    tr->iteration++;
    return ESFT_OK;
}

esft_status esft_trainer_run(esft_trainer *tr, int iters, esft_reward_fn reward, void *user,
                             esft_iteration_fn on_iteration, void *progress_user) {
    CHECK_ARG(tr, "esft_trainer_run: the trainer is NULL");
    double *R = calloc((size_t)tr->cfg.pop, sizeof *R);
    if (!R) return failf(ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    esft_status st = ESFT_OK;
    while (!st && tr->iteration < iters) {
        double t0 = esft_now_seconds();
        st = esft_trainer_eval_members(tr, 0, tr->cfg.pop, reward, user, R);
        if (!st) st = esft_trainer_apply(tr, R);
        if (st || !on_iteration) continue;
        esft_iteration_stats s = {.iteration = tr->iteration - 1, .reward_min = R[0], .reward_max = R[0],
                                  .seconds = esft_now_seconds() - t0};
        for (int k = 0; k < tr->cfg.pop; k++)
            s.reward_mean += R[k] / tr->cfg.pop, s.reward_min = fmin(s.reward_min, R[k]),
                s.reward_max = fmax(s.reward_max, R[k]);
        on_iteration(progress_user, &s);
    }
    free(R);
    return st;
}

esft_status esft_trainer_save(esft_trainer *tr, const char *path, esft_save_type type) {
    CHECK_ARG(tr && path, "esft_trainer_save: a NULL trainer or path");
    static const ggml_type dtypes[] = {
        [ESFT_SAVE_CHECKPOINT] = GGML_TYPE_F32, [ESFT_SAVE_F32] = GGML_TYPE_F32, [ESFT_SAVE_BF16] = GGML_TYPE_BF16,
        [ESFT_SAVE_F16] = GGML_TYPE_F16, [ESFT_SAVE_Q8_0] = GGML_TYPE_Q8_0};
    CHECK_ARG((unsigned)type < sizeof dtypes / sizeof *dtypes, "esft_trainer_save: unknown type %d", (int)type);
    esft_ckpt_info info = {.cfg = tr->cfg, .iteration = tr->iteration, .iters_total = tr->iteration,
                           .base_fingerprint = tr->base_fingerprint};
    snprintf(info.base_path, sizeof info.base_path, "%s", tr->base_path);
    esft_err err = {{0}};
    esft_status st = esft_checkpoint_write(tr->m, &info, dtypes[type], path, &err);
    return st ? failed(st, &err) : ESFT_OK;
}
