/* Fuzzes the BPE tokenizer with a real vocabulary: arbitrary bytes are
 * encoded and must decode back to themselves (less the bytes the vocabulary
 * has no token for), and the same bytes read as token ids are decoded.
 *
 * The vocabulary is SmolLM2's when $ESFT_MODEL_DIR holds it, else the
 * synthetic model's byte-level vocabulary with a few merges added, so that
 * BPE merging is exercised either way.
 *
 * Input: byte 0 holds flags (bit 0: parse special tokens, bit 1: add BOS),
 * the rest is the text. */
#include <stdbool.h>
#include <unistd.h>

#include "fuzz_harness.h"
#include "gguf.h"
#include "synth.h"
#include "tokenizer.h"

#define SMOLLM2 "SmolLM2-135M-Instruct.Q4_1.gguf"

static esft_tokenizer *g_tok;
/* per byte: 1 decodes back to itself, 0 is dropped, -1 neither */
static int g_byte_kept[256];

static __attribute__((noreturn)) void die(const char *what, const esft_err *err) {
    fprintf(stderr, "fuzz_tokenizer: %s: %s\n", what, err ? err->msg : "");
    exit(1);
}

/* Merges added to the synthetic vocabulary, in rank order (GPT-2 alphabet:
 * 'Ġ' is a space, 'Ċ' a newline, "Ã©" is UTF-8 é). */
static const char *const extra_merges[] = {
    "Ġ t", "h e", "Ġt he", "i n", "e r", "Ġ a", "o n", "r e",  "Ġ s",  "a t", "1 2", "12 3",
    "Ġ Ġ", "ĠĠ ĠĠ", "Ċ Ċ", "Ã ©", "< |", "in g", "Ġ in", "Ġa n", "e e", "ee e", "Ġ 1", "Ġ1 2",
};
#define N_EXTRA (sizeof extra_merges / sizeof extra_merges[0])

/* The synthetic model's tokenizer with extra_merges: their results replace
 * the model's unused filler tokens (ids 259 and up). */
static gguf_file *synthetic_vocab(const char *path) {
    esft_synth_spec spec;
    esft_err err;
    gguf_file *f;
    if (!esft_synth_preset("tiny", &spec)) die("no 'tiny' synth preset", NULL);
    if (esft_synth_write(&spec, path, &err) || esft_gguf_open(path, &f, &err)) die(path, &err);
    const gguf_value *toks = esft_gguf_get_arr(f, "tokenizer.ggml.tokens");
    const gguf_value *types = esft_gguf_get_arr(f, "tokenizer.ggml.token_type");
    size_t n = toks ? (size_t)toks->v.arr.n : 0;
    if (!types || n < 259 + N_EXTRA) die("synthetic vocabulary too small", NULL);
    const char **text = calloc(n, sizeof *text);
    int32_t *type = calloc(n, sizeof *type);
    char (*merged)[32] = calloc(N_EXTRA, sizeof *merged);
    if (!text || !type || !merged) die("out of memory", NULL);
    for (size_t i = 0; i < n; i++) {
        text[i] = toks->v.arr.items[i].v.str.data;
        type[i] = (int32_t)types->v.arr.items[i].v.i64;
    }
    for (size_t m = 0; m < N_EXTRA; m++) {
        const char *sp = strchr(extra_merges[m], ' ');
        snprintf(merged[m], sizeof merged[m], "%.*s%s", (int)(sp - extra_merges[m]), extra_merges[m],
                 sp + 1);
        text[259 + m] = merged[m];
        type[259 + m] = 1; /* normal */
    }
    gguf_writer *w = esft_gguf_writer_new();
    if (!w || esft_gguf_writer_copy_kvs(w, f, &err) ||
        esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", text, n, &err) ||
        esft_gguf_writer_set_i32_arr(w, "tokenizer.ggml.token_type", type, n, &err) ||
        esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", extra_merges, N_EXTRA, &err) ||
        esft_gguf_writer_write(w, path, &err))
        die(path, &err);
    esft_gguf_writer_free(w);
    esft_gguf_close(f);
    free(text);
    free(type);
    free(merged);
    if (esft_gguf_open(path, &f, &err)) die(path, &err);
    return f;
}

static gguf_file *open_vocab(void) {
    const char *dir = getenv("ESFT_MODEL_DIR");
    char path[4096];
    esft_err err;
    gguf_file *f;
    if (dir) {
        snprintf(path, sizeof path, "%s/%s", dir, SMOLLM2);
        if (access(path, R_OK) == 0) {
            if (esft_gguf_open(path, &f, &err)) die(path, &err);
            fprintf(stderr, "fuzz_tokenizer: vocabulary of %s\n", path);
            return f;
        }
    }
    const char *tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(path, sizeof path, "%s/esft-fuzz-vocab-%ld.gguf", tmp ? tmp : "/tmp", (long)getpid());
    f = synthetic_vocab(path);
    unlink(path); /* the mapping stays valid */
    fprintf(stderr, "fuzz_tokenizer: synthetic vocabulary (no %s in $ESFT_MODEL_DIR)\n", SMOLLM2);
    return f;
}

int LLVMFuzzerInitialize(int *argc, char ***argv) {
    (void)argc, (void)argv;
    gguf_file *f = open_vocab();
    esft_err err;
    if (esft_tokenizer_from_gguf(f, &g_tok, &err)) die("tokenizer", &err);
    esft_gguf_close(f); /* the tokenizer keeps copies of what it needs */
    for (int b = 0; b < 256; b++) {
        char c = (char)b, *back;
        int32_t *ids;
        size_t n, len;
        if (esft_tokenize(g_tok, &c, 1, false, false, &ids, &n, &err) ||
            esft_detokenize(g_tok, ids, n, &back, &len, &err))
            die("tokenizing one byte", &err);
        g_byte_kept[b] = len == 0 ? 0 : (len == 1 && back[0] == c) ? 1 : -1;
        free(ids);
        free(back);
    }
    return 0;
}

/* decode(encode(text)) is text without the bytes the vocabulary lacks. */
static void check_encode(const char *text, size_t len, bool special, bool bos) {
    int32_t *ids;
    size_t n;
    esft_err err;
    FUZZ_REQUIRE(esft_tokenize(g_tok, text, len, special, bos, &ids, &n, &err) == ESFT_OK, "%s", err.msg);
    int32_t nv = esft_tokenizer_n_vocab(g_tok);
    for (size_t i = 0; i < n; i++) FUZZ_REQUIRE(ids[i] >= 0 && ids[i] < nv, "id %d at %zu", ids[i], i);
    size_t skip = bos && esft_tokenizer_add_bos(g_tok) && esft_tokenizer_bos(g_tok) >= 0;
    if (skip) FUZZ_REQUIRE(n > 0 && ids[0] == esft_tokenizer_bos(g_tok), "BOS missing");
    char *back;
    size_t blen;
    FUZZ_REQUIRE(esft_detokenize(g_tok, ids + skip, n - skip, &back, &blen, &err) == ESFT_OK, "%s",
                 err.msg);
    char *want = malloc(len + 1);
    FUZZ_REQUIRE(want != NULL, "out of memory");
    size_t wlen = 0;
    bool comparable = true;
    for (size_t i = 0; i < len; i++) {
        int kept = g_byte_kept[(unsigned char)text[i]];
        comparable &= kept >= 0;
        if (kept > 0) want[wlen++] = text[i];
    }
    if (comparable)
        FUZZ_REQUIRE(blen == wlen && memcmp(back, want, wlen) == 0,
                     "round trip of %zu bytes gave %zu bytes, want %zu", len, blen, wlen);
    free(want);
    free(back);
    free(ids);
}

/* The input read as 16-bit token ids (shifted so that some are negative,
 * and beyond the vocabulary where it is smaller than 65520). */
static void check_decode(const uint8_t *data, size_t size) {
    size_t n = size / 2, total = 0;
    int32_t *ids = calloc(n ? n : 1, sizeof *ids);
    FUZZ_REQUIRE(ids != NULL, "out of memory");
    bool in_range = true;
    for (size_t i = 0; i < n; i++) {
        ids[i] = (int32_t)(data[2 * i] | (data[2 * i + 1] << 8)) - 16;
        char piece[8];
        int len = esft_token_bytes(g_tok, ids[i], piece, sizeof piece);
        bool valid = ids[i] >= 0 && ids[i] < esft_tokenizer_n_vocab(g_tok);
        FUZZ_REQUIRE((len >= 0) == valid, "esft_token_bytes(%d) = %d", ids[i], len);
        FUZZ_REQUIRE((esft_tokenizer_token_type(g_tok, ids[i]) >= 0) == valid, "token type of %d", ids[i]);
        (void)esft_tokenizer_is_eog(g_tok, ids[i]);
        in_range &= valid;
        if (valid) total += (size_t)len;
    }
    char *text;
    size_t len;
    esft_err err;
    esft_status st = esft_detokenize(g_tok, ids, n, &text, &len, &err);
    if (in_range) {
        FUZZ_REQUIRE(st == ESFT_OK && len == total, "%s", st ? err.msg : "decoded length");
        free(text);
    } else {
        FUZZ_REQUIRE(st == ESFT_ERR_INVALID_ARG && text == NULL, "out-of-range id accepted");
        fuzz_require_one_line(err.msg);
    }
    free(ids);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size == 0) return 0;
    check_encode((const char *)data + 1, size - 1, data[0] & 1, data[0] & 2);
    check_decode(data, size);
    return 0;
}
