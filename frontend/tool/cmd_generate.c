/* esft generate: text continuation for one prompt or a JSONL batch. */
#include <cjson/cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "cli_chat.h"
#include "commands.h"
#include "esft_fs.h"
#include "generate.h"
#include "model.h"
#include "utf8.h"

typedef struct prompt_set {
    char **texts;
    int n;
} prompt_set;

static void prompt_set_free(prompt_set *ps) {
    for (int i = 0; i < ps->n; i++) free(ps->texts[i]);
    free(ps->texts);
}

/* One JSON object per line with a string field "prompt"; path "-" is
 * standard input. */
static int read_prompts_jsonl(const char *path, prompt_set *ps) {
    size_t len;
    char *buf = esft_read_file(path, ESFT_READ_MAX, &len);
    if (!buf) {
        fprintf(stderr, "esft generate: %s: %s\n", path, esft_read_error(errno));
        return ESFT_EXIT_RUNTIME;
    }
    int rc = ESFT_EXIT_OK, line_no = 0, cap = 0;
    char *save = NULL;
    for (char *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        line_no++;
        char *p = line;
        while (*p == ' ' || *p == '\t' || *p == '\r') p++;
        if (!*p) continue;
        cJSON *obj = cJSON_Parse(p);
        const cJSON *pr = obj ? cJSON_GetObjectItemCaseSensitive(obj, "prompt") : NULL;
        if (!obj || !cJSON_IsObject(obj) || !cJSON_IsString(pr)) {
            fprintf(stderr, "esft generate: %s:%d: expected a JSON object with a string \"prompt\"\n",
                    path, line_no);
            cJSON_Delete(obj);
            rc = ESFT_EXIT_RUNTIME;
            break;
        }
        if (ps->n == cap) {
            cap = cap ? cap * 2 : 16;
            char **t = realloc(ps->texts, (size_t)cap * sizeof *t);
            if (!t) {
                cJSON_Delete(obj);
                rc = ESFT_EXIT_RUNTIME;
                break;
            }
            ps->texts = t;
        }
        ps->texts[ps->n] = strdup(pr->valuestring);
        cJSON_Delete(obj);
        if (!ps->texts[ps->n]) {
            rc = ESFT_EXIT_RUNTIME;
            break;
        }
        ps->n++;
    }
    free(buf);
    if (rc == ESFT_EXIT_OK && ps->n == 0) {
        fprintf(stderr, "esft generate: %s: no prompts\n", path);
        rc = ESFT_EXIT_RUNTIME;
    }
    return rc;
}

int cmd_generate(int argc, char **argv) {
    cli_common c = CLI_COMMON_INIT;
    const char *prompt = NULL, *prompts_file = NULL, *system = NULL, *tmpl = NULL;
    int max_new = 128, top_k = 0, max_slots = 0;
    float temp = 0.0f, top_p = 1.0f;
    uint64_t seed = 0;
    bool chat = false, verbose = false;
    cli_list stops = {0};
    const cli_opt opts[] = {
        {"model", CLI_STR, &c.model, "PATH", "model: a GGUF file or a Hugging Face directory (default: SmolLM2-135M-Instruct in the model cache)", 0, 0},
        {"prompt", CLI_STR, &prompt, "TEXT", "prompt to continue", 0, 0},
        {"prompts", CLI_STR, &prompts_file, "FILE", "JSONL file of {\"prompt\": ...} ('-': standard input); prints JSONL", 0, 0},
        {"max-new", CLI_INT, &max_new, "N", "tokens to generate (default 128); prompt + N must fit the model's context", 0, 1 << 20},
        {"temp", CLI_FLOAT, &temp, "T", "sampling temperature; 0 = greedy (default 0)", 0, 100},
        {"top-k", CLI_INT, &top_k, "K", "sample among the K most likely tokens (0 = off)", 0, 1 << 24},
        {"top-p", CLI_FLOAT, &top_p, "P", "nucleus sampling mass (1 = off)", 0, 1},
        {"seed", CLI_U64, &seed, "S", "sampling seed (default 0)", 0, 0},
        CLI_CHAT_OPTS(chat, tmpl, system),
        {"stop", CLI_LIST, &stops, "TEXT", "stop before this text (repeatable)", 0, 0},
        {"max-slots", CLI_INT, &max_slots, "N", "sequences decoded together (default: all)", 0, 1 << 20},
        {"verbose", CLI_FLAG, &verbose, NULL, "print timing to stderr", 0, 0},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"generate", "--prompt TEXT | --prompts FILE.jsonl [options]",
                             "Continues text with a model; prints only the continuation.", opts,
                             (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (!prompt == !prompts_file) {
        fprintf(stderr, "esft generate: give exactly one of --prompt or --prompts (see 'esft generate --help')\n");
        return ESFT_EXIT_USAGE;
    }
    esft_run_config chat_cfg = {0};
    if ((rc = cli_chat_config("generate", chat, tmpl, system, &chat_cfg))) return rc;

    prompt_set ps = {0};
    if (prompts_file) {
        if ((rc = read_prompts_jsonl(prompts_file, &ps))) {
            prompt_set_free(&ps);
            return rc;
        }
    } else {
        ps.texts = malloc(sizeof *ps.texts);
        if (!ps.texts || !(ps.texts[0] = strdup(prompt))) return ESFT_EXIT_RUNTIME;
        ps.n = 1;
    }

    char model_path[1024];
    esft_backend *be = NULL;
    esft_model *m = NULL;
    esft_gen_request *reqs = calloc((size_t)ps.n, sizeof *reqs);
    esft_gen_result *res = calloc((size_t)ps.n, sizeof *res);
    int32_t **ids = calloc((size_t)ps.n, sizeof *ids);
    esft_err err = {{0}};
    if (!reqs || !res || !ids) {
        rc = ESFT_EXIT_RUNTIME;
        goto done;
    }
    if ((rc = cli_open_backend(&c, &be)) ||
        (rc = cli_model_path("generate", c.model, model_path, sizeof model_path)))
        goto done;
    if (esft_model_load(model_path, be, NULL, &m, &err)) {
        fprintf(stderr, "esft generate: %s\n", err.msg);
        rc = ESFT_EXIT_RUNTIME;
        goto done;
    }
    esft_chat_template chat_storage;
    const esft_chat_template *chat_tmpl;
    if ((rc = cli_chat_template("generate", m, &chat_cfg, &chat_storage, &chat_tmpl))) goto done;
    for (int i = 0; i < ps.n; i++) {
        size_t n_ids = 0;
        esft_status st = esft_prompt_ids(m, chat_tmpl, system, ps.texts[i], max_new, &ids[i], &n_ids, &err);
        if (st) {
            fprintf(stderr, "esft generate: prompt %d%s%s: %s\n", i + 1, prompts_file ? " of " : "",
                    prompts_file ? prompts_file : "", err.msg);
            rc = st == ESFT_ERR_INVALID_ARG ? ESFT_EXIT_USAGE : ESFT_EXIT_RUNTIME;
            goto done;
        }
        reqs[i] = (esft_gen_request){ids[i], (int)n_ids};
    }
    esft_gen_params gp = {
        .max_new = max_new,
        .sampling = {.temperature = temp, .top_k = top_k, .top_p = top_p, .seed = seed},
        .stop = stops.items,
        .n_stop = stops.n,
        .max_slots = max_slots,
    };
    esft_gen_stats stats;
    if (esft_generate(m, reqs, ps.n, &gp, res, &stats, &err)) {
        fprintf(stderr, "esft generate: %s\n", err.msg);
        rc = ESFT_EXIT_RUNTIME;
        goto done;
    }
    if (!prompts_file) {
        fwrite(res[0].text, 1, res[0].text_len, stdout);
        fputc('\n', stdout);
    } else {
        for (int i = 0; i < ps.n; i++) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddNumberToObject(o, "index", i);
            cJSON_AddStringToObject(o, "prompt", ps.texts[i]);
            esft_utf8_json_add(o, "response", res[i].text, res[i].text_len);
            cJSON_AddNumberToObject(o, "prompt_tokens", reqs[i].n_prompt);
            cJSON_AddNumberToObject(o, "tokens", res[i].n_tokens);
            cJSON_AddStringToObject(o, "finish", esft_finish_name(res[i].finish));
            char *s = cJSON_PrintUnformatted(o);
            if (s) puts(s);
            free(s);
            cJSON_Delete(o);
        }
    }
    if (verbose)
        fprintf(stderr, "esft generate: %s on %s: %ld prompt + %ld new tokens in %.2f s (%.1f tok/s)\n",
                model_path, be->device_name, stats.prompt_tokens, stats.new_tokens, stats.seconds,
                (stats.prompt_tokens + stats.new_tokens) / (stats.seconds > 0 ? stats.seconds : 1));
done:
    for (int i = 0; ids && i < ps.n; i++) {
        free(ids[i]);
        if (res) esft_gen_result_free(&res[i]);
    }
    free(ids);
    free(res);
    free(reqs);
    prompt_set_free(&ps);
    esft_model_free(m);
    esft_backend_destroy(be);
    return rc;
}
