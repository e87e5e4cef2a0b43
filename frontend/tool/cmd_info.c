/* esft info: what a model is (architecture, sizes, tensor types,
 * tokenizer, chat template) and what `esft train` would train in it. Reads
 * the metadata and tensor list only: no weights are loaded. */
#include <cjson/cJSON.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chat_template.h"
#include "cli.h"
#include "commands.h"
#include "es_step.h"
#include "model.h"
#include "source.h"
#include "tokenizer.h"

/* Tensors and elements per storage type, in order of first appearance. */
typedef struct type_count {
    ggml_type type;
    int tensors;
    uint64_t elements;
} type_count;

typedef struct model_facts {
    const char *path;
    bool hf_dir;
    esft_hparams hp;
    const char *arch;
    uint64_t n_params, n_train_params;
    int n_tensors, n_train_tensors;
    type_count types[16];
    int n_types;
    const char *pre;   /* pre-tokenizer name */
    int n_vocab;
    uint64_t n_merges;
    int32_t bos, eos;
    bool add_bos;
    char bos_text[64], eos_text[64];
    const char *template_family; /* "none" without a template, "unknown" when not recognised */
} model_facts;

static void count_type(model_facts *f, ggml_type type, uint64_t n) {
    for (int i = 0; i < f->n_types; i++)
        if (f->types[i].type == type) {
            f->types[i].tensors++;
            f->types[i].elements += n;
            return;
        }
    if (f->n_types < (int)(sizeof f->types / sizeof f->types[0]))
        f->types[f->n_types++] = (type_count){type, 1, n};
}

static void token_text(const esft_tokenizer *tok, int32_t id, char *out, size_t cap) {
    int n = id >= 0 ? esft_token_bytes(tok, id, out, cap - 1) : -1;
    out[n > 0 ? n : 0] = '\0';
}

static cJSON *facts_json(const model_facts *f, const esft_model_source *src, const char *globs, bool list) {
    cJSON *j = cJSON_CreateObject();
    cJSON_AddStringToObject(j, "path", f->path);
    cJSON_AddStringToObject(j, "format", f->hf_dir ? "huggingface" : "gguf");
    cJSON_AddStringToObject(j, "architecture", f->arch);
    cJSON_AddNumberToObject(j, "layers", f->hp.n_layer);
    cJSON_AddNumberToObject(j, "width", f->hp.n_embd);
    cJSON_AddNumberToObject(j, "heads", f->hp.n_head);
    cJSON_AddNumberToObject(j, "kv_heads", f->hp.n_head_kv);
    cJSON_AddNumberToObject(j, "head_dim", f->hp.head_dim);
    cJSON_AddNumberToObject(j, "feed_forward", f->hp.n_ff);
    cJSON_AddNumberToObject(j, "vocab", f->n_vocab);
    cJSON_AddNumberToObject(j, "context", f->hp.n_ctx_train);
    cJSON_AddNumberToObject(j, "rope_base", f->hp.rope_base);
    cJSON_AddNumberToObject(j, "rms_eps", f->hp.rms_eps);
    cJSON_AddBoolToObject(j, "tied_output", f->hp.tied_output);
    cJSON_AddNumberToObject(j, "parameters", (double)f->n_params);
    cJSON_AddNumberToObject(j, "tensors", f->n_tensors);
    cJSON *types = cJSON_AddObjectToObject(j, "tensor_types");
    for (int i = 0; types && i < f->n_types; i++) {
        cJSON *t = cJSON_AddObjectToObject(types, esft_ggml_type_name(f->types[i].type));
        cJSON_AddNumberToObject(t, "tensors", f->types[i].tensors);
        cJSON_AddNumberToObject(t, "elements", (double)f->types[i].elements);
    }
    cJSON *tk = cJSON_AddObjectToObject(j, "tokenizer");
    cJSON_AddStringToObject(tk, "type", "byte-level BPE");
    cJSON_AddStringToObject(tk, "pre", f->pre);
    cJSON_AddNumberToObject(tk, "tokens", f->n_vocab);
    cJSON_AddNumberToObject(tk, "merges", (double)f->n_merges);
    cJSON_AddNumberToObject(tk, "bos_id", f->bos);
    cJSON_AddStringToObject(tk, "bos", f->bos_text);
    cJSON_AddBoolToObject(tk, "add_bos", f->add_bos);
    cJSON_AddNumberToObject(tk, "eos_id", f->eos);
    cJSON_AddStringToObject(tk, "eos", f->eos_text);
    cJSON_AddStringToObject(j, "chat_template", f->template_family);
    cJSON *tr = cJSON_AddObjectToObject(j, "trains");
    cJSON_AddStringToObject(tr, "params", globs);
    cJSON_AddNumberToObject(tr, "tensors", f->n_train_tensors);
    cJSON_AddNumberToObject(tr, "parameters", (double)f->n_train_params);
    if (list) {
        cJSON *arr = cJSON_AddArrayToObject(j, "tensor_list");
        for (size_t i = 0; arr && i < src->n_tensors; i++) {
            const esft_source_tensor *t = &src->tensors[i];
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "name", t->name);
            cJSON_AddStringToObject(o, "type", esft_ggml_type_name(t->type));
            cJSON *shape = cJSON_AddArrayToObject(o, "shape");
            for (uint32_t d = 0; shape && d < t->n_dims; d++) cJSON_AddItemToArray(shape, cJSON_CreateNumber((double)t->ne[d]));
            cJSON_AddBoolToObject(o, "trained", esft_es_trains(globs, t->name));
            cJSON_AddItemToArray(arr, o);
        }
    }
    return j;
}

static void print_text(const model_facts *f, const esft_model_source *src, const char *globs, bool list) {
    printf("model:         %s (%s)\n", f->path, f->hf_dir ? "Hugging Face directory" : "GGUF file");
    printf("architecture:  %s\n", f->arch);
    printf("sizes:         %d layers, width %d, %d heads (%d kv, head dim %d), feed-forward %d, vocab %d, "
           "context %d\n",
           f->hp.n_layer, f->hp.n_embd, f->hp.n_head, f->hp.n_head_kv, f->hp.head_dim, f->hp.n_ff, f->n_vocab,
           f->hp.n_ctx_train);
    printf("               rope base %g, rms eps %g, output %s\n", f->hp.rope_base, f->hp.rms_eps,
           f->hp.tied_output ? "tied to the embedding" : "its own matrix");
    printf("parameters:    %" PRIu64 " in %d tensors\n", f->n_params, f->n_tensors);
    printf("tensor types: ");
    for (int i = 0; i < f->n_types; i++)
        printf(" %s %d (%" PRIu64 " values)%s", esft_ggml_type_name(f->types[i].type), f->types[i].tensors,
               f->types[i].elements, i + 1 < f->n_types ? "," : "");
    if (strcmp(f->pre, "spm") == 0)
        printf("\ntokenizer:     SentencePiece (merges by score, byte fallback), %d tokens\n", f->n_vocab);
    else
        printf("\ntokenizer:     byte-level BPE, pre-tokenizer %s, %d tokens, %" PRIu64 " merges\n", f->pre,
               f->n_vocab, f->n_merges);
    printf("               bos %d '%s' (%s), eos %d '%s'\n", f->bos, f->bos_text,
           f->add_bos ? "added to prompts" : "not added", f->eos, f->eos_text);
    printf("chat template: %s\n", f->template_family);
    printf("trains:        %d tensors, %" PRIu64 " parameters (--params %s)\n", f->n_train_tensors,
           f->n_train_params, globs);
    for (size_t i = 0; list && i < src->n_tensors; i++) {
        const esft_source_tensor *t = &src->tensors[i];
        char shape[64];
        if (t->n_dims == 1) snprintf(shape, sizeof shape, "%" PRIu64, t->ne[0]);
        else snprintf(shape, sizeof shape, "%" PRIu64 " x %" PRIu64, t->ne[1], t->ne[0]);
        printf("  %c %-32s %-6s %s\n", esft_es_trains(globs, t->name) ? '*' : ' ', t->name,
               esft_ggml_type_name(t->type), shape);
    }
}

static esft_status gather(const esft_model_source *src, const char *path, const char *globs, model_facts *f,
                          esft_tokenizer **tok, esft_err *err) {
    struct stat sb;
    f->path = path;
    f->hf_dir = stat(path, &sb) == 0 && S_ISDIR(sb.st_mode);
    esft_status st = esft_hparams_read(src->meta, &f->hp, err);
    if (!st) st = esft_tokenizer_from_gguf(src->meta, tok, err);
    if (st) return st;
    f->arch = esft_arch_name(f->hp.arch);
    f->hp.tied_output = true;
    f->n_tensors = (int)src->n_tensors;
    for (size_t i = 0; i < src->n_tensors; i++) {
        const esft_source_tensor *t = &src->tensors[i];
        f->n_params += t->n_elements;
        count_type(f, t->type, t->n_elements);
        if (strcmp(t->name, "output.weight") == 0) f->hp.tied_output = false;
        if (esft_es_trains(globs, t->name)) {
            f->n_train_tensors++;
            f->n_train_params += t->n_elements;
        }
    }
    f->pre = esft_tokenizer_pre(*tok);
    f->n_vocab = esft_tokenizer_n_vocab(*tok);
    const gguf_value *merges = esft_gguf_get_arr(src->meta, "tokenizer.ggml.merges");
    f->n_merges = merges ? merges->v.arr.n : 0;
    f->bos = esft_tokenizer_bos(*tok);
    f->eos = esft_tokenizer_eos(*tok);
    f->add_bos = esft_tokenizer_add_bos(*tok);
    token_text(*tok, f->bos, f->bos_text, sizeof f->bos_text);
    token_text(*tok, f->eos, f->eos_text, sizeof f->eos_text);
    const char *jinja = esft_gguf_get_str(src->meta, "tokenizer.chat_template");
    esft_chat_family fam;
    f->template_family = !jinja ? "none" : esft_chat_detect(jinja, &fam) ? esft_chat_family_name(fam) : "unknown";
    return ESFT_OK;
}

int cmd_info(int argc, char **argv) {
    const char *params = "*";
    bool json = false, tensors = false;
    const cli_opt opts[] = {
        {"params", CLI_STR, &params, "GLOBS", "count what `esft train --params GLOBS` trains (default *)", 0, 0},
        {"tensors", CLI_FLAG, &tensors, NULL, "list every tensor: name, type, shape; * marks those trained", 0, 0},
        {"json", CLI_FLAG, &json, NULL, "print one JSON object instead of text", 0, 0},
    };
    const cli_command cmd = {"info", "MODEL [--params GLOBS] [--tensors] [--json]",
                             "Describes MODEL (a GGUF file or a Hugging Face model directory):\n"
                             "architecture, sizes, parameter count, tensor types, tokenizer, chat\n"
                             "template family, and the tensors and parameters esft train would train.\n"
                             "Reads metadata only: no weights are loaded.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 1, 1};
    const char *path = NULL;
    int n_pos = 0;
    int rc = cli_parse(&cmd, argc, argv, &path, &n_pos);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    if (strlen(params) >= 256) {
        fprintf(stderr, "esft info: --params is longer than 255 bytes\n");
        return ESFT_EXIT_USAGE;
    }
    esft_model_source src;
    esft_tokenizer *tok = NULL;
    model_facts f = {0};
    esft_err err = {{0}};
    esft_status st = esft_source_open(path, &src, &err);
    if (!st) {
        st = gather(&src, path, params, &f, &tok, &err);
        if (!st && json) {
            cJSON *j = facts_json(&f, &src, params, tensors);
            char *s = j ? cJSON_Print(j) : NULL;
            if (s) printf("%s\n", s);
            else st = esft_errf(&err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
            free(s);
            cJSON_Delete(j);
        } else if (!st) {
            print_text(&f, &src, params, tensors);
        }
        esft_tokenizer_free(tok);
        esft_source_close(&src);
    }
    if (st) fprintf(stderr, "esft info: %s\n", err.msg);
    return esft_exit_code(st);
}
