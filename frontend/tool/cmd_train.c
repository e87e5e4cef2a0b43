/* esft train: ES fine-tuning from the command line. */
#include <limits.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "cli_chat.h"
#include "commands.h"
#include "memory_plan.h"
#include "train.h"
#include "train_report.h"

int cmd_train(int argc, char **argv) {
    esft_train_options o = {0};
    cli_common c = {0};
    const char *task = NULL, *shaping = NULL, *params = NULL, *save_dtype = NULL, *reward = NULL, *reward_arg = NULL;
    float eval_split = 0, reward_timeout = NAN, reward_timeout_score = NAN;
    const char *reward_cmd = NULL, *tmpl = NULL, *system = NULL, *max_memory = NULL, *save_format = NULL;
    /* sentinels mark "not given": on --resume the run's own values are used */
    int pop = INT_MIN, batch = 0, max_new = 0, iters = 0;
    float sigma = NAN, alpha = NAN, wd = NAN;
    const char *optimizer = NULL;
    esft_opt_config opt;
    esft_opt_config_unset(&opt);
    uint64_t seed = UINT64_MAX;
    bool antithetic = false, chat = false;
    const char *noise = NULL;
    int rank = 0;
    c.device = -1; /* not given: under MPI, ranks on a node share its devices */
    /* not given: on --resume the run's recorded values, else their defaults */
    o.eval_every = o.eval_limit = o.checkpoint_every = o.max_slots = o.log_samples = -1;
    o.hash_every = 10;
    float mpi_timeout = 1800;
    const cli_opt opts[] = {
        {"model", CLI_STR, &c.model, "PATH", "base model: a GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct)", 0, 0},
        {"task", CLI_STR, &task, "T", "countdown | conciseness", 0, 0},
        {"data", CLI_STR, &o.data_path, "FILE", "task data (countdown: JSON array; conciseness: built in); with --reward: JSONL or a JSON array of records {prompt, ...}", 0, 0},
        CLI_REWARD_OPTS(reward, reward_arg, eval_split),
        CLI_REWARD_CMD_OPTS(reward_cmd, reward_timeout, reward_timeout_score),
        {"pop", CLI_INT, &pop, "N", "population size (default 30)", -1000000, 1000000},
        {"sigma", CLI_FLOAT, &sigma, "S", "noise scale (default 0.001)", 0, 0},
        {"alpha", CLI_FLOAT, &alpha, "A", "learning rate (default 0.0005)", 0, 0},
        {"iters", CLI_INT, &iters, "K", "total iterations (default 10; on --resume the run's own)", 1, 1 << 24},
        {"batch", CLI_INT, &batch, "B", "prompts per iteration (default 200; all when fewer)", 1, 1 << 24},
        {"max-new", CLI_INT, &max_new, "N", "tokens generated per prompt (default: the task's)", 1, 1 << 20},
        {"seed", CLI_U64, &seed, "S", "run seed: noise and batches derive from it (default 0)", 0, 0},
        {"shaping", CLI_STR, &shaping, "S", "fitness shaping: zscore | rank | raw (default zscore)", 0, 0},
        {"antithetic", CLI_FLAG, &antithetic, NULL, "mirrored noise pairs (needs an even population)", 0, 0},
        {"noise", CLI_STR, &noise, "M", "full | lowrank: full-rank noise, or rank-R members that decode as one batch (default full)", 0, 0},
        {"rank", CLI_INT, &rank, "R", "--noise lowrank: rank of each member's perturbation A_k B_k^T (default 1)", 1, 256},
        {"params", CLI_STR, &params, "GLOBS", "tensors to train, comma-separated globs (default *)", 0, 0},
        {"weight-decay", CLI_FLOAT, &wd, "W", "decay master weights by alpha*W per iteration (default 0; adam: L2 term W*theta in the gradient)", 0, 0},
        {"optimizer", CLI_STR, &optimizer, "O", "update rule on the ES gradient: sgd (the paper) | momentum | adam | adamw (default sgd)", 0, 0},
        {"beta1", CLI_FLOAT, &opt.beta1, "B", "momentum / Adam first-moment decay (default 0.9)", 0, 0},
        {"beta2", CLI_FLOAT, &opt.beta2, "B", "Adam second-moment decay (default 0.999)", 0, 0},
        {"eps", CLI_FLOAT, &opt.eps, "E", "Adam denominator guard (default 1e-8)", 0, 0},
        {"anchor-decay", CLI_FLOAT, &opt.anchor_decay, "L", "decay toward the base model's weights by alpha*L per iteration (default 0)", 0, 0},
        CLI_CHAT_OPTS(chat, tmpl, system),
        {"out", CLI_STR, &o.out_dir, "DIR", "output directory: run.json, metrics.jsonl, checkpoint.gguf, final.gguf (final-hf/ with --save-format hf)", 0, 0},
        {"overwrite", CLI_FLAG, &o.overwrite, NULL, "start afresh in an --out that holds a run (its files are removed)", 0, 0},
        {"eval-data", CLI_STR, &o.eval_data_path, "FILE", "evaluation data (default: the task's own eval set)", 0, 0},
        {"eval-every", CLI_INT, &o.eval_every, "K", "evaluate every K iterations (and at the end)", 0, 1 << 24},
        {"eval-limit", CLI_INT, &o.eval_limit, "N", "evaluate on the first N items only", 0, 1 << 24},
        {"checkpoint-every", CLI_INT, &o.checkpoint_every, "K", "checkpoint every K iterations (and at the end)", 0, 1 << 24},
        {"log-samples", CLI_INT, &o.log_samples, "K", "write K (prompt, response, reward) per iteration to samples.jsonl, from the best and worst member (default 0)", 0, 1 << 20},
        {"save-dtype", CLI_STR, &save_dtype, "T",
         "final.gguf as f32|bf16|f16|q8_0 (default bf16, on --resume the run's; 1-D f32; q8_0 rows not /32: f16)", 0, 0},
        {"save-format", CLI_STR, &save_format, "F",
         "gguf (final.gguf, default; on --resume the run's) | hf (final-hf/, a Hugging Face directory: bf16, or f32/f16 with that --save-dtype) | both", 0, 0},
        {"resume", CLI_STR, &o.resume_dir, "DIR", "continue the run in DIR: its model, data and settings (flags given must agree)", 0, 0},
        {"max-slots", CLI_INT, &o.max_slots, "N", "sequences decoded together (default min(batch, 64))", 0, 1 << 20},
        {"max-memory", CLI_STR, &max_memory, "SIZE", "refuse at start when the planned memory exceeds SIZE (500M, 2G)", 0, 0},
        {"quiet", CLI_FLAG, &o.quiet, NULL, "no progress output", 0, 0},
        {"hash-every", CLI_INT, &o.hash_every, "K", "MPI: ranks compare weight hashes every K iterations and at the end (default 10)", 1, 1 << 24},
        {"mpi-timeout", CLI_FLOAT, &mpi_timeout, "S", "MPI: abort the job when a rank waits S seconds for the others (default 1800)", 1, 1e7},
        {"no-bind", CLI_FLAG, &o.no_bind, NULL, "MPI: do not bind ranks to the cores near their device", 0, 0},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"train", "--task T [--data F] | --data F --reward R | --data F --reward-cmd CMD  --out DIR [options]",
                             "Fine-tunes every weight of a model with evolution strategies\n"
                             "(Qiu et al. 2025): population N, noise sigma, learning rate alpha, greedy decoding.\n"
                             "Under mpirun/srun the members are shared out over the ranks; each rank takes\n"
                             "the device of its node-local rank unless --device is given.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (o.resume_dir && !o.out_dir) o.out_dir = o.resume_dir;
    o.model_path = c.model;
    o.backend = c.backend;
    o.threads = c.threads;
    o.work_dtype = c.work_dtype;
    o.device = c.device;
    o.mpi_timeout = mpi_timeout;
    o.iters = iters; /* 0: 10, or the run's own on --resume */
    esft_run_config *cfg = &o.cfg;
    cfg->pop = pop;
    cfg->sigma = sigma;
    cfg->alpha = alpha;
    cfg->batch = batch;
    cfg->max_new = max_new;
    cfg->run_seed = seed;
    cfg->antithetic = antithetic;
    cfg->weight_decay = wd;
    cfg->shaping = (esft_shaping)-1;
    cfg->opt = opt;
    if (optimizer && !esft_optimizer_from_name(optimizer, &cfg->opt.kind)) {
        fprintf(stderr, "esft train: --optimizer %s: expected sgd, momentum, adam or adamw\n", optimizer);
        return ESFT_EXIT_USAGE;
    }
    if (noise && !esft_noise_mode_from_name(noise, &cfg->noise)) {
        fprintf(stderr, "esft train: --noise %s: expected full or lowrank\n", noise);
        return ESFT_EXIT_USAGE;
    }
    cfg->rank = rank;
    if (shaping && !esft_shaping_from_name(shaping, &cfg->shaping)) {
        fprintf(stderr, "esft train: --shaping %s: expected zscore, rank or raw\n", shaping);
        return ESFT_EXIT_USAGE;
    }
    if (max_memory && !esft_parse_size(max_memory, &o.max_memory)) {
        fprintf(stderr, "esft train: --max-memory %s: expected a size such as 500M or 2G\n", max_memory);
        return ESFT_EXIT_USAGE;
    }
    o.save_format = save_format;
    o.save_dtype = ESFT_SAVE_DTYPE_UNSET;
    if (save_dtype && !esft_save_dtype_from_name(save_dtype, &o.save_dtype)) {
        fprintf(stderr, "esft train: --save-dtype %s: expected f32, bf16, f16 or q8_0\n", save_dtype);
        return ESFT_EXIT_USAGE;
    }
    if ((rc = cli_chat_config("train", chat, tmpl, system, cfg))) return rc;
    if (task) snprintf(cfg->task, sizeof cfg->task, "%s", task);
    if (reward) snprintf(cfg->reward, sizeof cfg->reward, "%s", reward);
    if (reward_arg && strlen(reward_arg) >= sizeof cfg->reward_arg) {
        fprintf(stderr, "esft train: --reward-arg is longer than %zu bytes\n", sizeof cfg->reward_arg - 1);
        return ESFT_EXIT_USAGE;
    }
    if (reward_arg) snprintf(cfg->reward_arg, sizeof cfg->reward_arg, "%s", reward_arg);
    if (reward_cmd && strlen(reward_cmd) >= sizeof cfg->reward_cmd) {
        fprintf(stderr, "esft train: --reward-cmd is longer than %zu bytes\n", sizeof cfg->reward_cmd - 1);
        return ESFT_EXIT_USAGE;
    }
    if (reward_cmd) snprintf(cfg->reward_cmd, sizeof cfg->reward_cmd, "%s", reward_cmd);
    cfg->reward_timeout = reward_timeout;
    cfg->reward_timeout_score = reward_timeout_score;
    cfg->eval_split = eval_split;
    if (params) snprintf(cfg->params, sizeof cfg->params, "%s", params);
    /* a new run without --model trains the default model (a resume, its own) */
    char model[1024];
    if ((task || reward || reward_cmd) && !o.resume_dir && !o.model_path) {
        if (cli_model_path("train", NULL, model, sizeof model)) return ESFT_EXIT_RUNTIME;
        o.model_path = model;
    }
    esft_train_report report;
    esft_train_report_init(&report, isatty(STDERR_FILENO));
    o.on_event = esft_train_report_event;
    o.user = &report;
    esft_err err = {{0}};
    esft_status st = esft_train(&o, &err);
    esft_train_report_fini(&report);
    if (st && err.msg[0]) fprintf(stderr, "esft train: %s\n", err.msg); /* empty: another rank's, which said it */
    return esft_exit_code(st);
}
