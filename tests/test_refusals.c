/* Inputs esft must refuse with a reason instead of running on: a model
 * whose vocabulary cannot encode text, prompts that do not fit the model's
 * context (with --max-new), and a --device index the backend lacks (also
 * under --backend auto). Runs on a synthetic tiny model (context 512). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "generate.h"
#include "model.h"
#include "registry.h"
#include "synth.h"
#include "testutil.h"

/* A copy of `src` whose token strings are all empty. */
static bool write_empty_vocab(const char *src, const char *dst) {
    esft_err err = {{0}};
    gguf_file *f = NULL;
    if (esft_gguf_open(src, &f, &err)) return false;
    const gguf_value *toks = esft_gguf_get_arr(f, "tokenizer.ggml.tokens");
    const size_t n = toks ? (size_t)toks->v.arr.n : 0;
    const char **empty = calloc(n ? n : 1, sizeof *empty);
    for (size_t i = 0; empty && i < n; i++) empty[i] = "";
    gguf_writer *w = esft_gguf_writer_new();
    bool ok = empty && w && n && esft_gguf_writer_copy_kvs(w, f, &err) == ESFT_OK &&
              esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", empty, n, &err) == ESFT_OK;
    for (size_t i = 0; ok && i < esft_gguf_n_tensors(f); i++) {
        const gguf_tensor_info *t = esft_gguf_tensor_at(f, i);
        ok = esft_gguf_writer_add_tensor(w, t->name, t->type, t->n_dims, t->ne, t->data, false, &err) == ESFT_OK;
    }
    ok = ok && esft_gguf_writer_write(w, dst, &err) == ESFT_OK;
    if (!ok) fprintf(stderr, "writing %s: %s\n", dst, err.msg);
    esft_gguf_writer_free(w);
    free(empty);
    esft_gguf_close(f);
    return ok;
}

static void check_empty_vocab(esft_backend *be, const char *tiny, const char *bad) {
    esft_err err = {{0}};
    esft_model *m = NULL;
    CHECK(write_empty_vocab(tiny, bad));
    esft_status st = esft_model_load(bad, be, NULL, &m, &err);
    CHECKF(st != ESFT_OK && m == NULL, "a vocabulary of empty strings loaded");
    CHECKF(strstr(err.msg, bad) && strstr(err.msg, "cannot encode text") && !strchr(err.msg, '\n'),
           "%s", err.msg);
    esft_model_free(m);
    remove(bad);
}

/* A prompt of n copies of "x" on the tiny model (byte tokens: n tokens). */
static esft_status ids_of(const esft_model *m, size_t n, int max_new, size_t *n_ids, esft_err *err) {
    char *text = malloc(n + 1);
    if (!text) return ESFT_ERR_OUT_OF_MEMORY;
    memset(text, 'x', n);
    text[n] = '\0';
    int32_t *ids = NULL;
    esft_status st = esft_prompt_ids(m, NULL, NULL, text, max_new, &ids, n_ids, err);
    free(ids);
    free(text);
    return st;
}

static void check_context(esft_model *m) {
    const int ctx = m->hp.n_ctx_train;
    CHECKF(ctx == 512, "tiny context %d", ctx);
    esft_err err = {{0}};
    size_t n = 0;
    /* exactly full fits; one more token does not */
    CHECKF(ids_of(m, (size_t)ctx - 8, 8, &n, &err) == ESFT_OK && n == (size_t)ctx - 8, "%s", err.msg);
    CHECK(ids_of(m, (size_t)ctx - 7, 8, &n, &err) == ESFT_ERR_INVALID_ARG && n == 0);
    CHECKF(strstr(err.msg, "505 tokens") && strstr(err.msg, "context of 512"), "%s", err.msg);
    CHECK(ids_of(m, 4, ctx, &n, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "no room"));
    /* 10 MB fails on its byte count, before tokenizing */
    CHECK(ids_of(m, 10u << 20, 8, &n, &err) == ESFT_ERR_INVALID_ARG);
    CHECKF(strstr(err.msg, "at least"), "%s", err.msg);
    CHECK(ids_of(m, 0, 8, &n, &err) == ESFT_ERR_INVALID_ARG && strstr(err.msg, "empty"));

    /* generation itself refuses what does not fit */
    int32_t *ids = calloc((size_t)ctx, sizeof *ids);
    esft_gen_request req = {ids, ctx - 3};
    esft_gen_params gp = {.max_new = 4};
    esft_gen_result res;
    CHECK(ids && esft_generate(m, &req, 1, &gp, &res, NULL, &err) == ESFT_ERR_INVALID_ARG);
    CHECKF(strstr(err.msg, "prompt 0") && strstr(err.msg, "context of 512"), "%s", err.msg);
    gp.max_new = 3;
    CHECKF(ids && esft_generate(m, &req, 1, &gp, &res, NULL, &err) == ESFT_OK && res.n_tokens <= 3, "%s",
           err.msg);
    esft_gen_result_free(&res);
    free(ids);
}

/* Every backend has at least one device and none has 64: --device 64 fails
 * naming the backend and its count, with auto too; --device 0 opens. */
static void check_device_index(void) {
    for (int i = -1; i < esft_registry_n_drivers(); i++) {
        const char *name = i < 0 ? "auto" : esft_registry_driver(i)->name;
        esft_device_info infos[16];
        esft_err err = {{0}};
        if (i >= 0 && esft_registry_driver(i)->enumerate(infos, 16, &err) <= 0) continue;
        esft_backend *be = NULL;
        esft_backend_options o = {.n_threads = 1, .device_index = 64};
        esft_status st = esft_backend_open(name, &o, &be, &err);
        CHECKF(st == ESFT_ERR_INVALID_ARG && be == NULL, "%s --device 64: %d", name, st);
        CHECKF(strstr(err.msg, "--device 64 out of range") && strstr(err.msg, " has "), "%s", err.msg);
        esft_backend_destroy(be);
        if (strcmp(name, "auto") && strcmp(name, "cpu")) continue; /* opening the others is slow */
        esft_device_info info;
        be = NULL;
        o.device_index = 0;
        st = esft_backend_open_device(name, &o, &be, &info, &err);
        CHECKF(st == ESFT_OK && be && strcmp(info.backend, be->kind) == 0 && info.index == 0, "%s: %s",
               name, err.msg);
        esft_backend_destroy(be);
    }
}

int main(void) {
    char tiny[1024], bad[1024];
    snprintf(tiny, sizeof tiny, "%s/test_refusals_tiny.gguf", ESFT_TEST_BINARY_DIR);
    snprintf(bad, sizeof bad, "%s/test_refusals_empty_vocab.gguf", ESFT_TEST_BINARY_DIR);
    esft_synth_spec spec;
    esft_err err = {{0}};
    CHECK(esft_synth_preset("tiny", &spec));
    CHECKF(esft_synth_write(&spec, tiny, &err) == ESFT_OK, "%s", err.msg);
    esft_backend *be = NULL;
    esft_backend_options o = {.n_threads = 1};
    esft_model *m = NULL;
    if (esft_backend_open("cpu", &o, &be, &err) || esft_model_load(tiny, be, NULL, &m, &err)) {
        fprintf(stderr, "%s\n", err.msg);
        return 1;
    }
    check_empty_vocab(be, tiny, bad);
    check_context(m);
    check_device_index();
    esft_model_free(m);
    esft_backend_destroy(be);
    remove(tiny);
    return TEST_EXIT();
}
