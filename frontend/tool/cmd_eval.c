/* esft eval: accuracy (with its 95% Wilson interval), pass@1 and pass@K
 * over K sampled responses per item, mean reward and its parts of a model
 * on a task's data, with an optional KL(model || base) over the responses. */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "atomic_file.h"
#include "cli.h"
#include "cli_chat.h"
#include "commands.h"
#include "eval_stats.h"
#include "evaluate.h"
#include "progress.h"
#include "utf8.h"

/* Every response of every sample pass (r[0..samples)) with its score. */
static int write_samples(const char *path, const esft_task *t, const int *items, const esft_eval_result *passes,
                         int samples) {
    esft_err err = {{0}};
    esft_atomic_file f;
    if (esft_atomic_open(&f, path, &err)) {
        fprintf(stderr, "esft eval: --out %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    for (int j = 0; j < samples * passes[0].n; j++) {
        const esft_eval_result *r = &passes[j % samples];
        const int i = j / samples;
        cJSON *o = cJSON_CreateObject();
        cJSON_AddNumberToObject(o, "index", items[i]);
        if (samples > 1) cJSON_AddNumberToObject(o, "sample", j % samples);
        esft_utf8_json_add(o, "response", r->responses[i].text, r->responses[i].text_len);
        cJSON_AddNumberToObject(o, "reward", r->scores[i].reward);
        for (int k = 0; k < t->n_parts; k++) cJSON_AddNumberToObject(o, t->part_names[k], r->scores[i].parts[k]);
        cJSON_AddBoolToObject(o, "correct", r->scores[i].correct);
        if (r->scores[i].timed_out) cJSON_AddBoolToObject(o, "timed_out", true);
        cJSON_AddNumberToObject(o, "tokens", r->responses[i].n_tokens);
        cJSON_AddStringToObject(o, "finish", esft_finish_name(r->responses[i].finish));
        if (t->items[items[i]].target) cJSON_AddStringToObject(o, "target", t->items[items[i]].target);
        char *s = cJSON_PrintUnformatted(o);
        if (s) fprintf(f.fp, "%s\n", s);
        free(s);
        cJSON_Delete(o);
    }
    if (esft_atomic_commit(&f, &err)) {
        fprintf(stderr, "esft eval: --out %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    return ESFT_EXIT_OK;
}

/* A live line on a terminal (a heartbeat line elsewhere): sequences done,
 * tokens generated and the rates without and with prompt tokens. */
static void show_progress(void *user, const esft_gen_progress *p) {
    esft_progress *pr = user;
    double now = esft_now_seconds();
    if (!esft_progress_due(pr, now)) return;
    double gen = p->seconds > 0 ? p->new_tokens / p->seconds : 0;
    double all = p->seconds > 0 ? (p->prompt_tokens + p->new_tokens) / p->seconds : 0;
    char text[160];
    snprintf(text, sizeof text, "%seval: %d/%d responses, %ld tokens generated, gen %.0f tok/s (+prompt %.0f)",
             pr->tty ? "" : "esft ", p->done, p->total, p->new_tokens, gen, all);
    esft_progress_update(pr, now, text);
}

int cmd_eval(int argc, char **argv) {
    cli_common c = CLI_COMMON_INIT;
    const char *task_name = NULL, *data = NULL, *out = NULL, *kl_base = NULL, *split = "eval";
    const char *reward = NULL, *reward_arg = NULL;
    const char *reward_cmd = NULL, *tmpl = NULL, *system = NULL;
    float eval_split = 0, reward_timeout = 0, reward_timeout_score = 0, temp = 0, top_p = 1;
    bool chat = false;
    int limit = 0, offset = 0, max_new = 0, max_slots = 64, samples = 1;
    uint64_t seed = 0;
    const cli_opt opts[] = {
        {"model", CLI_STR, &c.model, "PATH", "model: a GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct)", 0, 0},
        {"task", CLI_STR, &task_name, "T", "countdown | conciseness", 0, 0},
        {"data", CLI_STR, &data, "FILE", "evaluation data (default: the task's built-in set); with --reward: JSONL or a JSON array of records", 0, 0},
        CLI_REWARD_OPTS(reward, reward_arg, eval_split),
        CLI_REWARD_CMD_OPTS(reward_cmd, reward_timeout, reward_timeout_score),
        {"split", CLI_STR, &split, "S", "built-in set without --data, or with --eval-split the part of --data: train | eval (default eval)", 0, 0},
        {"limit", CLI_INT, &limit, "N", "evaluate N items (default all)", 0, 1 << 24},
        {"offset", CLI_INT, &offset, "O", "skip the first O items", 0, 1 << 24},
        {"max-new", CLI_INT, &max_new, "N", "tokens per response (default: the task's)", 1, 1 << 20},
        {"max-slots", CLI_INT, &max_slots, "N", "sequences decoded together (default 64)", 1, 1 << 20},
        {"samples", CLI_INT, &samples, "K", "responses per item, sampled (needs --temp): reports pass@1 and pass@K (default 1)", 1, 1 << 16},
        {"temp", CLI_FLOAT, &temp, "T", "sampling temperature (default 0: greedy)", 0, 100},
        {"top-p", CLI_FLOAT, &top_p, "P", "nucleus sampling: keep the top tokens of mass P (default 1: off)", 1e-6, 1},
        {"seed", CLI_U64, &seed, "S", "sampling seed; sample k draws with S + k (default 0)", 0, 0},
        {"out", CLI_STR, &out, "FILE", "JSONL of every response with its score (index, sample, response, reward, parts, correct)", 0, 0},
        {"kl-base", CLI_STR, &kl_base, "FILE", "also report mean per-token KL(model || base) on the responses", 0, 0},
        CLI_CHAT_OPTS(chat, tmpl, system),
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"eval", "--task T [--data F] | --data F --reward R | --data F --reward-cmd CMD [options]",
                             "Responses of a model on a task (greedy, or K sampled per item): accuracy with its\n"
                             "95% Wilson interval, pass@1 and pass@K (unbiased), mean reward and its parts.", opts,
                             (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (samples > 1 && !(temp > 0)) {
        fprintf(stderr, "esft eval: --samples %d needs --temp T > 0 (greedy responses are all the same)\n", samples);
        return ESFT_EXIT_USAGE;
    }
    if (!task_name && !reward && !reward_cmd) {
        fprintf(stderr, "esft eval: --task (countdown, conciseness) or --data FILE --reward NAME is required\n");
        return ESFT_EXIT_USAGE;
    }
    esft_run_config chat_cfg = {0};
    if ((rc = cli_chat_config("eval", chat, tmpl, system, &chat_cfg))) return rc;
    esft_err err = {{0}};
    if (out && esft_atomic_check_target(out, &err)) { /* before the evaluation, not after it */
        fprintf(stderr, "esft eval: --out %s\n", err.msg);
        return ESFT_EXIT_RUNTIME;
    }
    esft_task *t = NULL;
    esft_task_spec spec = {.task = task_name, .reward = reward, .reward_arg = reward_arg, .eval_split = eval_split,
                           .reward_cmd = reward_cmd, .reward_timeout = reward_timeout,
                           .reward_timeout_score = reward_timeout_score};
    if (esft_task_open(&spec, data, split, &t, &err)) {
        fprintf(stderr, "esft eval: %s\n", err.msg);
        bool flags = strncmp(err.msg, "unknown ", 8) == 0 || strncmp(err.msg, "--", 2) == 0;
        return flags ? ESFT_EXIT_USAGE : ESFT_EXIT_RUNTIME;
    }
    int n = t->n_items - offset;
    if (n <= 0) {
        fprintf(stderr, "esft eval: --offset %d: the data has only %d items\n", offset, t->n_items);
        esft_task_free(t);
        return ESFT_EXIT_USAGE;
    }
    if (limit > 0 && limit < n) n = limit;
    char model_path[1024];
    esft_backend *be = NULL;
    esft_model *m = NULL, *base = NULL;
    esft_prompts prompts = {0};
    esft_eval_result *passes = calloc((size_t)samples, sizeof *passes);
    esft_score *all = calloc((size_t)samples * n, sizeof *all);
    int *items = malloc((size_t)n * sizeof *items), *n_correct = calloc((size_t)n, sizeof *n_correct);
    if (!passes || !all || !items || !n_correct) {
        fprintf(stderr, "esft eval: out of memory\n");
        free(passes), free(all), free(items), free(n_correct);
        esft_task_free(t);
        return ESFT_EXIT_RUNTIME;
    }
    for (int i = 0; i < n; i++) items[i] = offset + i;
    if ((rc = cli_open_backend(&c, &be)) ||
        (rc = cli_model_path("eval", c.model, model_path, sizeof model_path)))
        goto done;
    rc = ESFT_EXIT_RUNTIME;
    if (esft_model_load(model_path, be, NULL, &m, &err)) goto fail;
    esft_chat_template chat_storage;
    const esft_chat_template *chat_tmpl;
    chat_cfg.chat = chat_cfg.chat || t->chat;
    if ((rc = cli_chat_template("eval", m, &chat_cfg, &chat_storage, &chat_tmpl))) goto done;
    rc = ESFT_EXIT_RUNTIME;
    esft_progress progress;
    esft_progress_init(&progress, stderr, isatty(STDERR_FILENO));
    esft_eval_params ep = {.max_new = max_new ? max_new : t->default_max_new, .max_slots = max_slots,
                           .keep = true, .on_progress = show_progress, .user = &progress};
    esft_status st = esft_prompts_tokenize(m, t, chat_tmpl, chat_cfg.system[0] ? chat_cfg.system : NULL, ep.max_new,
                                           &prompts, &err);
    long tokens = 0;
    double seconds = 0;
    /* sample k of every item draws from the streams of seed + k */
    for (int k = 0; !st && k < samples; k++) {
        ep.sampling = (esft_sampling){.temperature = temp, .top_p = top_p, .seed = seed + (uint64_t)k};
        st = esft_evaluate(m, t, &prompts, items, n, &ep, &passes[k], &err);
        for (int i = 0; !st && i < n; i++) {
            all[(size_t)i * samples + k] = passes[k].scores[i];
            n_correct[i] += passes[k].scores[i].correct;
        }
        tokens += passes[k].new_tokens, seconds += passes[k].seconds;
    }
    esft_progress_fini(&progress);
    if (st) goto fail;
    esft_eval_result sum = {0};
    esft_eval_summarise(all, samples * n, t->n_parts, &sum);
    long correct = 0;
    for (int i = 0; i < n; i++) correct += n_correct[i];
    char count[64] = "";
    if (samples > 1) snprintf(count, sizeof count, ", %d samples each", samples);
    printf("%s on %s (%d items%s): accuracy %.2f%% [95%% CI %.2f, %.2f] (%ld/%ld)", model_path, t->name, n, count,
           100.0 * sum.accuracy, 100.0 * sum.accuracy_lo, 100.0 * sum.accuracy_hi, correct, (long)samples * n);
    if (samples > 1)
        printf(", pass@1 %.4f, pass@%d %.4f", esft_mean_pass_at_k(n_correct, n, samples, 1), samples,
               esft_mean_pass_at_k(n_correct, n, samples, samples));
    printf(", mean reward %.4f", sum.mean_reward);
    for (int k = 0; k < t->n_parts; k++) printf(", %s %.4f", t->part_names[k], sum.mean_parts[k]);
    if (sum.timeouts) printf(", %d reward timeouts", sum.timeouts);
    printf(" | %ld tokens in %.1f s\n", tokens, seconds);
    if (kl_base) {
        double kl;
        long kl_tokens;
        if (esft_model_load(kl_base, be, NULL, &base, &err)) goto fail;
        if (esft_mean_kl(m, base, &prompts, items, passes[0].responses, n, &kl, &kl_tokens, &err)) goto fail;
        printf("KL(model || base) = %.6f nats per token over %ld response tokens\n", kl, kl_tokens);
    }
    rc = out ? write_samples(out, t, items, passes, samples) : ESFT_EXIT_OK;
    goto done;
fail:
    fprintf(stderr, "esft eval: %s\n", err.msg);
done:
    for (int k = 0; k < samples; k++) esft_eval_result_free(&passes[k], n);
    free(passes), free(all), free(n_correct);
    esft_prompts_free(&prompts);
    esft_model_free(m);
    esft_model_free(base);
    esft_backend_destroy(be);
    esft_task_free(t);
    free(items);
    return rc;
}
