/* Byte-level BPE and SentencePiece tokenizers built from GGUF metadata.
 *
 * Pipeline of esft_tokenize (the same stages as llama.cpp's BPE vocab, so
 * the ids are the same):
 *   1. Special tokens. Every control/unknown token (only when parse_special)
 *      and every user-defined token (always, as llama.cpp does) is cut out of
 *      the text whole. The tokens are tried longest text first; for each, all
 *      leftmost non-overlapping occurrences in the still-raw fragments are
 *      split off. Tokens whose text llama.cpp uses to detect end-of-generation
 *      or FIM tokens ("<|im_end|>", "<|endoftext|>", ...) count as control,
 *      as llama.cpp forces them to be.
 *   2. Pre-tokenization of each raw fragment by the regex list of
 *      tokenizer.ggml.pre. Each regex splits every piece the previous one
 *      left; the text between matches stays a piece of its own. Matching is
 *      bounded by the piece, so lookaheads see the piece's end. The regexes
 *      are llama.cpp's, written for PCRE2 (UTF + UCP) with \s spelled as the
 *      Unicode White_Space set llama.cpp's tables use.
 *   3. Each piece's bytes are mapped to GPT-2's byte-to-unicode alphabet (one
 *      symbol per byte) and merged by BPE: always the adjacent pair of lowest
 *      merge rank, leftmost first on ties (a binary heap with lazy deletion).
 *      Pre-tokenizers of the llama3 family first look the whole piece up in
 *      the vocabulary (llama.cpp's ignore_merges).
 *
 * Invalid UTF-8: llama.cpp replaces each invalid byte by U+FFFD before
 * splitting and so cannot give the bytes back. esft classifies such a byte as
 * U+FFFD for the regexes but keeps the byte itself, so decoding returns the
 * input; ids can differ from llama.cpp's on such input only.
 *
 * A byte whose GPT-2 character is not in the vocabulary (SmolLM2 lacks 21,
 * e.g. 0x04, 0xc0, 0xff) is dropped, exactly as llama.cpp drops it; such
 * bytes cannot round-trip. Bytes of the remaining 235 always do.
 *
 * SentencePiece vocabularies (tokenizer.ggml.model "llama": Gemma, Llama 2,
 * Mistral) take llama.cpp's SPM path instead of stages 2-3: each raw
 * fragment gets a leading space when add_space_prefix asks for one and it
 * starts the text or follows a special token, every space becomes U+2581,
 * the fragment is split into UTF-8 characters (by lead byte, as llama.cpp
 * does) and adjacent symbols are merged while their concatenation is a
 * token: always the pair whose token has the highest score, leftmost first
 * on ties. A symbol left that is not a token is written as its bytes'
 * <0xXX> tokens (byte fallback). Decoding turns U+2581 back into spaces and
 * <0xXX> tokens into their byte.
 *
 * Pre-tokenizer names are llama.cpp's (tokenizer.ggml.pre). A missing name
 * means "default" (as in llama.cpp); an unknown one is an error
 * (ESFT_ERR_UNSUPPORTED), as in current llama.cpp. "gpt2" is accepted as an
 * esft alias of llama.cpp's "gpt-2". */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "tokenizer.h"

#include <math.h>
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"

enum {
    TT_UNDEFINED = 0,
    TT_NORMAL = 1,
    TT_UNKNOWN = 2,
    TT_CONTROL = 3,
    TT_USER_DEFINED = 4,
    TT_UNUSED = 5,
    TT_BYTE = 6,
};

/* ------------------------------------------------------- pre-tokenizers */

/* Unicode White_Space (PropList.txt), the set llama.cpp's unicode tables
 * mark as whitespace; used instead of \s whose UCP meaning varies between
 * PCRE2 versions. */
#define WS "\\t\\n\\x{0b}\\f\\r \\x{85}\\x{a0}\\x{1680}\\x{2000}-\\x{200a}\\x{2028}\\x{2029}\\x{202f}\\x{205f}\\x{3000}"

#define RE_GPT2                                                                 \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^" WS "\\p{L}\\p{N}]+|[" WS \
    "]+(?![^" WS "])"

#define RE_LLAMA3_LIKE(NUM)                                                          \
    "(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])"                      \
    "|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" NUM "| ?[^" WS "\\p{L}\\p{N}]+[\\r\\n]*|[" WS \
    "]*[\\r\\n]+|[" WS "]+(?![^" WS "])|[" WS "]+"

#define MAX_REGEX 4

typedef struct pre_kind {
    const char *canonical;
    const char *regex[MAX_REGEX]; /* NULL-terminated when fewer */
    bool ignore_merges;           /* whole piece looked up before BPE */
    bool add_bos;                 /* default when tokenizer.ggml.add_bos_token is absent */
} pre_kind;

static const pre_kind PRE_KINDS[] = {
    {"gpt-2", {RE_GPT2}, false, false},
    {"smollm", {"\\p{N}", RE_GPT2}, false, false},
    {"qwen2", {RE_LLAMA3_LIKE("\\p{N}")}, false, false},
    {"llama-bpe", {RE_LLAMA3_LIKE("\\p{N}{1,3}")}, true, true},
    {"dbrx", {RE_LLAMA3_LIKE("\\p{N}{1,3}")}, false, false},
    {"default", {"[\\p{P}\\$\\+<=>\\^~\\|]+", RE_GPT2, "\\p{N}+", "[0-9][0-9][0-9]"}, false, false},
    {"falcon", {"[\\p{P}\\$\\+<=>\\^~\\|`]+", RE_GPT2, "[0-9][0-9][0-9]"}, false, false},
    {"spm", {NULL}, false, true}, /* SentencePiece: no regexes; not a tokenizer.ggml.pre name */
};

/* llama.cpp's tokenizer.ggml.pre names grouped by the regex set they use. */
static const struct {
    const char *name;
    const char *kind;
} PRE_NAMES[] = {
    {"gpt-2", "gpt-2"},
    {"gpt2", "gpt-2"}, /* esft alias */
    {"phi-2", "gpt-2"},
    {"jina-es", "gpt-2"},
    {"jina-de", "gpt-2"},
    {"mpt", "gpt-2"},
    {"olmo", "gpt-2"},
    {"jais", "gpt-2"},
    {"smollm", "smollm"},
    {"starcoder", "smollm"},
    {"refact", "smollm"},
    {"command-r", "smollm"},
    {"codeshell", "smollm"},
    {"exaone", "smollm"},
    {"minerva-7b", "smollm"},
    {"qwen2", "qwen2"},
    {"deepseek-r1-qwen", "qwen2"},
    {"stablelm2", "qwen2"},
    {"llama-bpe", "llama-bpe"},
    {"llama3", "llama-bpe"},
    {"llama-v3", "llama-bpe"},
    {"falcon3", "llama-bpe"},
    {"pixtral", "llama-bpe"},
    {"dbrx", "dbrx"},
    {"smaug-bpe", "dbrx"},
    {"default", "default"},
    {"falcon", "falcon"},
};

static const pre_kind *find_pre(const char *name) {
    for (size_t i = 0; i < sizeof PRE_NAMES / sizeof PRE_NAMES[0]; i++) {
        if (strcmp(PRE_NAMES[i].name, name) != 0) continue;
        for (size_t k = 0; k < sizeof PRE_KINDS / sizeof PRE_KINDS[0]; k++)
            if (strcmp(PRE_KINDS[k].canonical, PRE_NAMES[i].kind) == 0) return &PRE_KINDS[k];
    }
    return NULL;
}

/* Token texts llama.cpp treats as end of generation (and forces to control). */
static const char *const EOG_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>",     "<|return|>",        "<|call|>",
    "<end_of_turn>", "<|endoftext|>", "<|eom_id|>", "<EOT>", "_<EOT>",
    "<|end_of_text|>", "<end_of_utterance>", "</s>",
};
/* Texts llama.cpp uses to find EOT, FIM pad / repo / file-separator tokens
 * when the metadata names none (these become end-of-generation too). */
static const char *const EOT_TEXTS[] = {
    "<|eot_id|>", "<|im_end|>", "<|end|>", "<end_of_turn>", "<|endoftext|>",
    "<|end_of_text|>", "<EOT>", "_<EOT>", "<｜end▁of▁sentence｜>", "<end_of_utterance>",
};
static const char *const EOM_TEXTS[] = {"<|eom_id|>"};
static const char *const FIM_PAD_TEXTS[] = {"<|fim_pad|>", "<fim-pad>", "<fim_pad>"};
static const char *const FIM_REP_TEXTS[] = {"<|fim_repo|>", "<|repo_name|>", "<fim-repo>", "<REPO>",
                                            "<reponame>"};
static const char *const FIM_SEP_TEXTS[] = {"<|file_sep|>"};

/* ------------------------------------------------------------ tokenizer */

struct esft_tokenizer {
    int32_t n_vocab;
    char *text;         /* all token texts, NUL-separated */
    uint32_t *text_off; /* n_vocab + 1 */
    char *piece;        /* decoded bytes of every token */
    uint32_t *piece_off;
    uint8_t *type;      /* token type after llama.cpp's forcing */
    uint8_t *eog;

    int32_t *vhash; /* open addressing: token id or -1 */
    size_t vmask;

    uint64_t *mkey; /* merge (left id << 32 | right id) + 1, 0 = empty */
    int32_t *mrank;
    int32_t *mres;
    size_t mmask;

    int32_t byte_tok[256];   /* token of each byte's GPT-2 unicode char */
    char byte_enc[256][3];   /* that char in UTF-8 */
    uint8_t byte_enc_len[256];
    int16_t byte_of_cpt[324]; /* inverse map: code point (< 324) -> byte, -1 */

    int32_t *special; /* special token ids, longest text first */
    size_t n_special;

    char pre_name[64];
    const pre_kind *pre;
    pcre2_code *re[MAX_REGEX];
    int n_re;

    bool spm;              /* SentencePiece (tokenizer.ggml.model "llama") */
    bool add_space_prefix; /* spm: a space before the text and after each special token */
    int32_t *score_rank;   /* spm: [n_vocab] 0 = highest tokenizer.ggml.scores entry; equal scores share a rank */

    bool add_bos;
    int32_t bos, eos, eot, eom, pad;
    size_t max_text_len; /* longest token text: no token covers more input bytes */
};

static uint64_t mix64(uint64_t x) {
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdull;
    x ^= x >> 33;
    x *= 0xc4ceb9fe1a85ec53ull;
    x ^= x >> 33;
    return x;
}

static inline const char *tok_text(const esft_tokenizer *t, int32_t id, size_t *len) {
    *len = t->text_off[id + 1] - t->text_off[id] - 1;
    return t->text + t->text_off[id];
}

static int32_t vocab_lookup(const esft_tokenizer *t, const char *s, size_t n) {
    size_t i = (size_t)esft_fnv1a64(ESFT_FNV1A64_INIT, s, n) & t->vmask;
    for (;;) {
        int32_t id = t->vhash[i];
        if (id < 0) return -1;
        size_t len;
        const char *txt = tok_text(t, id, &len);
        if (len == n && memcmp(txt, s, n) == 0) return id;
        i = (i + 1) & t->vmask;
    }
}

/* Inserts id; a later id with the same text replaces the earlier one (as
 * llama.cpp's token_to_id map does). */
static void vocab_insert(esft_tokenizer *t, int32_t id) {
    size_t n;
    const char *s = tok_text(t, id, &n);
    size_t i = (size_t)esft_fnv1a64(ESFT_FNV1A64_INIT, s, n) & t->vmask;
    for (;;) {
        int32_t cur = t->vhash[i];
        if (cur < 0) {
            t->vhash[i] = id;
            return;
        }
        size_t len;
        const char *txt = tok_text(t, cur, &len);
        if (len == n && memcmp(txt, s, n) == 0) {
            t->vhash[i] = id;
            return;
        }
        i = (i + 1) & t->vmask;
    }
}

static bool merge_lookup(const esft_tokenizer *t, int32_t a, int32_t b, int32_t *rank, int32_t *res) {
    if (!t->mkey) return false;
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = (size_t)mix64(key) & t->mmask;
    for (;;) {
        uint64_t k = t->mkey[i];
        if (k == 0) return false;
        if (k == key) {
            *rank = t->mrank[i];
            *res = t->mres[i];
            return true;
        }
        i = (i + 1) & t->mmask;
    }
}

/* Keeps the first (lowest) rank of a duplicated merge, as llama.cpp does. */
static void merge_insert(esft_tokenizer *t, int32_t a, int32_t b, int32_t rank, int32_t res) {
    uint64_t key = (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
    size_t i = (size_t)mix64(key) & t->mmask;
    for (;;) {
        uint64_t k = t->mkey[i];
        if (k == key) return;
        if (k == 0) {
            t->mkey[i] = key;
            t->mrank[i] = rank;
            t->mres[i] = res;
            return;
        }
        i = (i + 1) & t->mmask;
    }
}

static size_t utf8_put(char *dst, uint32_t c) {
    if (c < 0x80) {
        dst[0] = (char)c;
        return 1;
    }
    if (c < 0x800) {
        dst[0] = (char)(0xc0 | (c >> 6));
        dst[1] = (char)(0x80 | (c & 0x3f));
        return 2;
    }
    if (c < 0x10000) {
        dst[0] = (char)(0xe0 | (c >> 12));
        dst[1] = (char)(0x80 | ((c >> 6) & 0x3f));
        dst[2] = (char)(0x80 | (c & 0x3f));
        return 3;
    }
    dst[0] = (char)(0xf0 | (c >> 18));
    dst[1] = (char)(0x80 | ((c >> 12) & 0x3f));
    dst[2] = (char)(0x80 | ((c >> 6) & 0x3f));
    dst[3] = (char)(0x80 | (c & 0x3f));
    return 4;
}

/* Length of the valid UTF-8 sequence at s (strict: no overlongs, no
 * surrogates, at most U+10FFFF, as PCRE2 requires), 0 if invalid. Writes
 * the code point. */
static size_t utf8_next(const unsigned char *s, size_t n, uint32_t *cp) {
    unsigned c = s[0];
    if (c < 0x80) {
        *cp = c;
        return 1;
    }
    size_t len;
    uint32_t v, min;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2, v = c & 0x1f, min = 0x80;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3, v = c & 0x0f, min = 0x800;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4, v = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (n < len) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        v = (v << 6) | (s[i] & 0x3f);
    }
    if (v < min || v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return 0;
    *cp = v;
    return len;
}

/* GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the
 * other 68 bytes to 256, 257, ... in byte order. */
static uint32_t byte_to_cpt(int b) {
    if ((b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255)) return (uint32_t)b;
    uint32_t n = 0;
    for (int i = 0; i < b; i++)
        if (!((i >= 33 && i <= 126) || (i >= 161 && i <= 172) || (i >= 174 && i <= 255))) n++;
    return 256 + n;
}

static bool in_list(const char *s, size_t n, const char *const *list, size_t m) {
    for (size_t i = 0; i < m; i++)
        if (strlen(list[i]) == n && memcmp(list[i], s, n) == 0) return true;
    return false;
}
#define IN_LIST(s, n, list) in_list(s, n, list, sizeof list / sizeof list[0])

void esft_tokenizer_free(esft_tokenizer *t) {
    if (!t) return;
    free(t->text);
    free(t->text_off);
    free(t->piece);
    free(t->piece_off);
    free(t->type);
    free(t->eog);
    free(t->vhash);
    free(t->mkey);
    free(t->mrank);
    free(t->mres);
    free(t->special);
    free(t->score_rank);
    for (int i = 0; i < t->n_re; i++) pcre2_code_free(t->re[i]);
    free(t);
}

static size_t pow2_at_least(size_t n) {
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

static esft_status oom(esft_err *err, esft_tokenizer *t) {
    esft_tokenizer_free(t);
    return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
}

static int32_t special_id(const gguf_file *f, const char *key, int32_t n_vocab) {
    uint32_t v;
    if (!esft_gguf_get_u32(f, key, &v) || v >= (uint32_t)n_vocab) return -1;
    return (int32_t)v;
}

#define SPM_SPACE "\xe2\x96\x81" /* U+2581, SentencePiece's space */

typedef struct float_id {
    float score;
    int32_t id;
} float_id;

typedef struct len_id {
    uint32_t len;
    int32_t id;
} len_id;

/* longest text first, ties by id */
static int cmp_len_id(const void *a, const void *b) {
    const len_id *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

static int cmp_score_desc(const void *a, const void *b) {
    const float_id *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id < y->id ? -1 : x->id > y->id;
}

/* <0xXX> -> XX, or -1 */
static int byte_token_value(const char *s, size_t n) {
    static const char hex[] = "0123456789ABCDEF";
    if (n != 6 || memcmp(s, "<0x", 3) != 0 || s[5] != '>') return -1;
    const char *hi = memchr(hex, s[3], 16), *lo = memchr(hex, s[4], 16);
    return hi && lo && s[3] && s[4] ? (int)((hi - hex) * 16 + (lo - hex)) : -1;
}

/* The bytes a SentencePiece token stands for, written to out (at most len
 * bytes): a byte token's value, else the text with U+2581 as a space. */
static size_t spm_piece_bytes(const char *s, size_t len, uint8_t type, char *out) {
    int b = type == TT_BYTE ? byte_token_value(s, len) : -1;
    if (b >= 0) {
        out[0] = (char)b;
        return 1;
    }
    size_t o = 0;
    for (size_t k = 0; k < len;) {
        if (k + 3 <= len && memcmp(s + k, SPM_SPACE, 3) == 0) {
            out[o++] = ' ';
            k += 3;
        } else {
            out[o++] = s[k++];
        }
    }
    return o;
}

/* SentencePiece tables: merge priority from the scores, the token of each
 * byte for byte fallback, add_space_prefix. */
static esft_status spm_setup(const gguf_file *f, esft_tokenizer *t, const gguf_value *scores, esft_err *err) {
    const int32_t n = t->n_vocab;
    float_id *order = malloc((size_t)n * sizeof *order);
    t->score_rank = malloc((size_t)n * sizeof *t->score_rank);
    if (!order || !t->score_rank) {
        free(order);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
    }
    for (int32_t i = 0; i < n; i++) {
        double v = scores->v.arr.items[i].v.f64;
        order[i] = (float_id){v == v ? (float)v : -INFINITY, i}; /* NaN merges last */
    }
    qsort(order, (size_t)n, sizeof *order, cmp_score_desc);
    int32_t rank = 0;
    for (int32_t i = 0; i < n; i++) {
        if (i > 0 && order[i].score != order[i - 1].score) rank++;
        t->score_rank[order[i].id] = rank;
    }
    free(order);

    /* byte fallback: <0xXX>, else the byte as a one-byte token, else <unk>,
     * else the byte is dropped (llama.cpp would stop there) */
    int32_t unk = special_id(f, "tokenizer.ggml.unknown_token_id", n);
    for (int b = 0; b < 256; b++) {
        char hexname[8], one = (char)b;
        snprintf(hexname, sizeof hexname, "<0x%02X>", b);
        int32_t id = vocab_lookup(t, hexname, 6);
        if (id < 0) id = vocab_lookup(t, &one, 1);
        t->byte_tok[b] = id >= 0 ? id : unk;
    }
    t->add_space_prefix = true; /* llama.cpp's default for SentencePiece */
    bool asp;
    if (esft_gguf_get_bool(f, "tokenizer.ggml.add_space_prefix", &asp)) t->add_space_prefix = asp;
    return ESFT_OK;
}

/* Byte-level BPE tables: GPT-2's byte alphabet and the merge ranks. */
static esft_status bpe_setup(const gguf_file *f, esft_tokenizer *t, const gguf_value *merges, esft_err *err) {
    /* byte alphabet */
    for (int i = 0; i < 324; i++) t->byte_of_cpt[i] = -1;
    for (int b = 0; b < 256; b++) {
        uint32_t c = byte_to_cpt(b);
        t->byte_of_cpt[c] = (int16_t)b;
        t->byte_enc_len[b] = (uint8_t)utf8_put(t->byte_enc[b], c);
        t->byte_tok[b] = vocab_lookup(t, t->byte_enc[b], t->byte_enc_len[b]);
    }
    /* BPE starts from byte tokens: without any, every text encodes to nothing */
    bool any_byte = false;
    for (int b = 0; b < 256; b++) any_byte |= t->byte_tok[b] >= 0;
    if (!any_byte)
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: the vocabulary cannot encode text: tokenizer.ggml.tokens has none of "
                         "the 256 byte tokens byte-level BPE starts from",
                         esft_gguf_path(f));

    /* merges: "left right", split at the first space after the first byte */
    size_t nm = (size_t)merges->v.arr.n;
    if (nm > 0) {
        t->mmask = pow2_at_least(nm * 2) - 1;
        t->mkey = calloc(t->mmask + 1, sizeof *t->mkey);
        t->mrank = malloc((t->mmask + 1) * sizeof *t->mrank);
        t->mres = malloc((t->mmask + 1) * sizeof *t->mres);
        if (!t->mkey || !t->mrank || !t->mres)
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
        char *buf = NULL;
        size_t bufcap = 0;
        for (size_t i = 0; i < nm && i < (size_t)INT32_MAX; i++) {
            const char *s = merges->v.arr.items[i].v.str.data;
            size_t len = (size_t)merges->v.arr.items[i].v.str.len;
            const char *sp = len > 1 ? memchr(s + 1, ' ', len - 1) : NULL;
            if (!sp) continue;
            size_t la = (size_t)(sp - s), lb = len - la - 1;
            int32_t a = vocab_lookup(t, s, la), b = vocab_lookup(t, sp + 1, lb);
            if (a < 0 || b < 0) continue;
            if (la + lb > bufcap) {
                bufcap = (la + lb) * 2;
                char *nb = realloc(buf, bufcap);
                if (!nb) {
                    free(buf);
                    return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenizer: out of memory");
                }
                buf = nb;
            }
            memcpy(buf, s, la);
            memcpy(buf + la, sp + 1, lb);
            int32_t r = vocab_lookup(t, buf, la + lb);
            if (r < 0) continue; /* never produced by a well-formed tokenizer */
            merge_insert(t, a, b, (int32_t)i, r);
        }
        free(buf);
    }
    return ESFT_OK;
}

static int32_t first_with_text(const esft_tokenizer *t, const char *const *list, size_t m) {
    for (int32_t id = 0; id < t->n_vocab; id++) {
        size_t n;
        const char *s = tok_text(t, id, &n);
        if (in_list(s, n, list, m)) return id;
    }
    return -1;
}

esft_status esft_tokenizer_from_gguf_ex(const gguf_file *f, const char *pre_override,
                                        esft_tokenizer **out, esft_err *err) {
    *out = NULL;
    const char *model = esft_gguf_get_str(f, "tokenizer.ggml.model");
    if (!model)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: no tokenizer.ggml.model", esft_gguf_path(f));
    char qb[ESFT_QUOTE_MAX];
    const bool spm = strcmp(model, "llama") == 0;
    if (!spm && strcmp(model, "gpt2") != 0)
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: tokenizer.ggml.model '%s' is not supported ('gpt2', byte-level BPE, and 'llama', "
                         "SentencePiece, are)",
                         esft_gguf_path(f), esft_quote(model, strlen(model), qb, sizeof qb));

    const char *pre_name = pre_override;
    if (!pre_name) pre_name = esft_gguf_get_str(f, "tokenizer.ggml.pre");
    if (!pre_name || !*pre_name) pre_name = "default";
    const pre_kind *pre = find_pre(pre_name);
    if (spm) { /* SentencePiece ignores tokenizer.ggml.pre, as llama.cpp does */
        pre_name = "spm";
        pre = &PRE_KINDS[sizeof PRE_KINDS / sizeof PRE_KINDS[0] - 1];
    }
    if (!pre) {
        char names[512];
        size_t o = 0;
        names[0] = '\0';
        for (size_t i = 0; i < sizeof PRE_NAMES / sizeof PRE_NAMES[0] && o < sizeof names; i++)
            o += (size_t)snprintf(names + o, sizeof names - o, "%s%s", i ? ", " : "", PRE_NAMES[i].name);
        return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                         "%s: pre-tokenizer '%s' (tokenizer.ggml.pre) is not supported; supported: %s",
                         esft_gguf_path(f), esft_quote(pre_name, strlen(pre_name), qb, sizeof qb), names);
    }

    const gguf_value *toks = esft_gguf_get_arr(f, "tokenizer.ggml.tokens");
    if (!toks || toks->v.arr.elem_type != GGUF_VT_STRING || toks->v.arr.n == 0 ||
        toks->v.arr.n > (uint64_t)INT32_MAX - 1)
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: tokenizer.ggml.tokens missing or not a string array",
                         esft_gguf_path(f));
    const gguf_value *merges = spm ? NULL : esft_gguf_get_arr(f, "tokenizer.ggml.merges");
    if (!spm && (!merges || merges->v.arr.elem_type != GGUF_VT_STRING))
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: tokenizer.ggml.merges missing or not a string array",
                         esft_gguf_path(f));
    const gguf_value *scores = spm ? esft_gguf_get_arr(f, "tokenizer.ggml.scores") : NULL;
    if (spm && (!scores || scores->v.arr.n != toks->v.arr.n ||
                (scores->v.arr.elem_type != GGUF_VT_FLOAT32 && scores->v.arr.elem_type != GGUF_VT_FLOAT64)))
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: tokenizer.ggml.scores missing or not %llu floats (SentencePiece merges by them)",
                         esft_gguf_path(f), (unsigned long long)toks->v.arr.n);
    const gguf_value *types = esft_gguf_get_arr(f, "tokenizer.ggml.token_type");
    if (types && (types->v.arr.n != toks->v.arr.n ||
                  (types->v.arr.elem_type != GGUF_VT_INT32 && types->v.arr.elem_type != GGUF_VT_UINT32)))
        return esft_errf(err, ESFT_ERR_FORMAT,
                         "%s: tokenizer.ggml.token_type has %llu entries of type %d for %llu tokens",
                         esft_gguf_path(f), (unsigned long long)types->v.arr.n, (int)types->v.arr.elem_type,
                         (unsigned long long)toks->v.arr.n);

    esft_tokenizer *t = calloc(1, sizeof *t);
    if (!t) return oom(err, NULL);
    int32_t n = (int32_t)toks->v.arr.n;
    t->n_vocab = n;
    t->spm = spm;
    t->pre = pre;
    snprintf(t->pre_name, sizeof t->pre_name, "%s", pre_name);

    /* token texts */
    uint64_t total = 0;
    for (int32_t i = 0; i < n; i++) total += toks->v.arr.items[i].v.str.len + 1;
    if (total > UINT32_MAX) {
        esft_tokenizer_free(t);
        return esft_errf(err, ESFT_ERR_FORMAT, "%s: token texts too large", esft_gguf_path(f));
    }
    t->text = malloc(total ? total : 1);
    t->text_off = malloc(((size_t)n + 1) * sizeof *t->text_off);
    t->type = malloc((size_t)n);
    t->eog = calloc((size_t)n, 1);
    t->vmask = pow2_at_least((size_t)n * 2) - 1;
    t->vhash = malloc((t->vmask + 1) * sizeof *t->vhash);
    if (!t->text || !t->text_off || !t->type || !t->eog || !t->vhash) return oom(err, t);
    memset(t->vhash, 0xff, (t->vmask + 1) * sizeof *t->vhash);
    uint32_t off = 0;
    for (int32_t i = 0; i < n; i++) {
        const gguf_value *v = &toks->v.arr.items[i];
        t->text_off[i] = off;
        memcpy(t->text + off, v->v.str.data, v->v.str.len);
        off += (uint32_t)v->v.str.len;
        t->text[off++] = '\0';
        if (v->v.str.len > t->max_text_len) t->max_text_len = (size_t)v->v.str.len;
        uint8_t ty = TT_NORMAL;
        if (types) {
            int64_t x = types->v.arr.elem_type == GGUF_VT_INT32 ? types->v.arr.items[i].v.i64
                                                                 : (int64_t)types->v.arr.items[i].v.u64;
            ty = (x >= TT_NORMAL && x <= TT_BYTE) ? (uint8_t)x : (x == 0 ? TT_UNDEFINED : TT_NORMAL);
        }
        t->type[i] = ty;
    }
    t->text_off[n] = off;
    for (int32_t i = 0; i < n; i++) vocab_insert(t, i);

    esft_status st = spm ? spm_setup(f, t, scores, err) : bpe_setup(f, t, merges, err);
    if (st != ESFT_OK) {
        esft_tokenizer_free(t);
        return st;
    }

    /* special ids */
    t->bos = special_id(f, "tokenizer.ggml.bos_token_id", n);
    t->eos = special_id(f, "tokenizer.ggml.eos_token_id", n);
    t->eot = special_id(f, "tokenizer.ggml.eot_token_id", n);
    t->eom = special_id(f, "tokenizer.ggml.eom_token_id", n);
    t->pad = special_id(f, "tokenizer.ggml.padding_token_id", n);
    int32_t fim_pad = special_id(f, "tokenizer.ggml.fim_pad_token_id", n);
    int32_t fim_rep = special_id(f, "tokenizer.ggml.fim_rep_token_id", n);
    int32_t fim_sep = special_id(f, "tokenizer.ggml.fim_sep_token_id", n);
    /* found by text: forced to control, as llama.cpp does */
#define DETECT(var, list)                                                  \
    do {                                                                   \
        if (var < 0) {                                                     \
            var = first_with_text(t, list, sizeof list / sizeof list[0]);  \
            if (var >= 0) t->type[var] = TT_CONTROL;                       \
        }                                                                  \
    } while (0)
    DETECT(t->eot, EOT_TEXTS);
    DETECT(t->eom, EOM_TEXTS);
    DETECT(fim_pad, FIM_PAD_TEXTS);
    DETECT(fim_rep, FIM_REP_TEXTS);
    DETECT(fim_sep, FIM_SEP_TEXTS);
#undef DETECT
    for (int32_t i = 0; i < n; i++) {
        size_t len;
        const char *s = tok_text(t, i, &len);
        if (IN_LIST(s, len, EOG_TEXTS)) {
            t->eog[i] = 1;
            t->type[i] = TT_CONTROL;
        }
    }
    int32_t eogs[] = {t->eos, t->eot, t->eom, fim_pad, fim_rep, fim_sep};
    for (size_t i = 0; i < sizeof eogs / sizeof eogs[0]; i++)
        if (eogs[i] >= 0) t->eog[eogs[i]] = 1;

    t->add_bos = pre->add_bos;
    bool ab;
    if (esft_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &ab)) t->add_bos = ab;

    /* special tokens, longest first (ties by id) */
    size_t ns = 0;
    for (int32_t i = 0; i < n; i++) {
        uint8_t ty = t->type[i];
        if ((ty == TT_CONTROL || ty == TT_USER_DEFINED || ty == TT_UNKNOWN) &&
            t->text_off[i + 1] - t->text_off[i] > 1)
            ns++;
    }
    t->special = malloc((ns ? ns : 1) * sizeof *t->special);
    len_id *order = malloc((ns ? ns : 1) * sizeof *order);
    if (!t->special || !order) {
        free(order);
        return oom(err, t);
    }
    for (int32_t i = 0; i < n; i++) {
        uint8_t ty = t->type[i];
        uint32_t len = t->text_off[i + 1] - t->text_off[i] - 1;
        if ((ty == TT_CONTROL || ty == TT_USER_DEFINED || ty == TT_UNKNOWN) && len > 0)
            order[t->n_special++] = (len_id){len, i};
    }
    qsort(order, t->n_special, sizeof *order, cmp_len_id);
    for (size_t i = 0; i < t->n_special; i++) t->special[i] = order[i].id;
    free(order);

    /* decoded pieces */
    size_t ptotal = 0;
    for (int32_t i = 0; i < n; i++) ptotal += t->text_off[i + 1] - t->text_off[i];
    t->piece = malloc(ptotal ? ptotal : 1);
    t->piece_off = malloc(((size_t)n + 1) * sizeof *t->piece_off);
    if (!t->piece || !t->piece_off) return oom(err, t);
    uint32_t po = 0;
    for (int32_t i = 0; i < n; i++) {
        t->piece_off[i] = po;
        size_t len;
        const char *s = tok_text(t, i, &len);
        uint8_t ty = t->type[i];
        if (ty == TT_CONTROL || ty == TT_USER_DEFINED || ty == TT_UNKNOWN) {
            memcpy(t->piece + po, s, len);
            po += (uint32_t)len;
        } else if (spm && (ty == TT_NORMAL || ty == TT_BYTE)) {
            po += (uint32_t)spm_piece_bytes(s, len, ty, t->piece + po);
        } else if (ty == TT_NORMAL || ty == TT_BYTE) {
            size_t k = 0;
            while (k < len) {
                uint32_t cp;
                size_t l = utf8_next((const unsigned char *)s + k, len - k, &cp);
                if (l == 0) {
                    t->piece[po++] = s[k++];
                } else if (cp < 324 && t->byte_of_cpt[cp] >= 0) {
                    t->piece[po++] = (char)t->byte_of_cpt[cp];
                    k += l;
                } else {
                    memcpy(t->piece + po, s + k, l);
                    po += (uint32_t)l;
                    k += l;
                }
            }
        } /* unused / undefined tokens decode to nothing, as in llama.cpp */
    }
    t->piece_off[n] = po;

    /* regexes */
    for (int i = 0; i < MAX_REGEX && pre->regex[i]; i++) {
        int ec;
        PCRE2_SIZE eo;
        pcre2_code *re = pcre2_compile((PCRE2_SPTR)pre->regex[i], PCRE2_ZERO_TERMINATED,
                                       PCRE2_UTF | PCRE2_UCP | PCRE2_NO_UTF_CHECK, &ec, &eo, NULL);
        if (!re) {
            PCRE2_UCHAR msg[256];
            pcre2_get_error_message(ec, msg, sizeof msg);
            esft_tokenizer_free(t);
            return esft_errf(err, ESFT_ERR_UNSUPPORTED,
                             "tokenizer: PCRE2 cannot compile the '%s' regex %d at offset %zu: %s",
                             pre->canonical, i, (size_t)eo, (const char *)msg);
        }
        (void)pcre2_jit_compile(re, PCRE2_JIT_COMPLETE); /* interpreter when JIT is unavailable */
        t->re[t->n_re++] = re;
    }

    *out = t;
    return ESFT_OK;
}

esft_status esft_tokenizer_from_gguf(const gguf_file *f, esft_tokenizer **out, esft_err *err) {
    return esft_tokenizer_from_gguf_ex(f, NULL, out, err);
}

/* ------------------------------------------------------------- encoding */

typedef struct ivec {
    int32_t *v;
    size_t n, cap;
} ivec;

static bool ivec_push(ivec *a, int32_t x) {
    if (a->n == a->cap) {
        size_t c = a->cap ? a->cap * 2 : 64;
        int32_t *p = realloc(a->v, c * sizeof *p);
        if (!p) return false;
        a->v = p;
        a->cap = c;
    }
    a->v[a->n++] = x;
    return true;
}

typedef struct span {
    size_t a, b; /* [a, b) */
} span;

typedef struct svec {
    span *v;
    size_t n, cap;
} svec;

static bool svec_push(svec *s, size_t a, size_t b) {
    if (s->n == s->cap) {
        size_t c = s->cap ? s->cap * 2 : 64;
        span *p = realloc(s->v, c * sizeof *p);
        if (!p) return false;
        s->v = p;
        s->cap = c;
    }
    s->v[s->n].a = a;
    s->v[s->n].b = b;
    s->n++;
    return true;
}

typedef struct hentry {
    int32_t rank, left, right, lid, rid;
} hentry;

/* Per-call scratch space (the tokenizer itself stays read-only, so calls
 * from several threads are safe). */
typedef struct scratch {
    int32_t *id, *prev, *next;
    int32_t *sym_start; /* spm: each symbol's first byte */
    size_t cap;
    hentry *heap;
    size_t hn, hcap;
    char *enc;
    size_t enc_cap;
    pcre2_match_data *md;
    char *clean;      /* UTF-8-sanitised copy of a raw fragment */
    size_t *clean_map; /* clean offset -> original offset */
    size_t clean_cap;
    svec s0, s1;
} scratch;

static void scratch_free(scratch *s) {
    free(s->id);
    free(s->prev);
    free(s->next);
    free(s->sym_start);
    free(s->heap);
    free(s->enc);
    free(s->clean);
    free(s->clean_map);
    free(s->s0.v);
    free(s->s1.v);
    if (s->md) pcre2_match_data_free(s->md);
}

static inline bool hless(const hentry *x, const hentry *y) {
    return x->rank < y->rank || (x->rank == y->rank && x->left < y->left);
}

static bool heap_push(scratch *s, hentry e) {
    if (s->hn == s->hcap) {
        size_t c = s->hcap ? s->hcap * 2 : 64;
        hentry *p = realloc(s->heap, c * sizeof *p);
        if (!p) return false;
        s->heap = p;
        s->hcap = c;
    }
    size_t i = s->hn++;
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!hless(&e, &s->heap[p])) break;
        s->heap[i] = s->heap[p];
        i = p;
    }
    s->heap[i] = e;
    return true;
}

static hentry heap_pop(scratch *s) {
    hentry top = s->heap[0];
    hentry last = s->heap[--s->hn];
    size_t i = 0, n = s->hn;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && hless(&s->heap[c + 1], &s->heap[c])) c++;
        if (!hless(&s->heap[c], &last)) break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0) s->heap[i] = last;
    return top;
}

static bool add_pair(const esft_tokenizer *t, scratch *s, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    int32_t lid = s->id[l], rid = s->id[r], rank, res;
    if (lid < 0 || rid < 0 || !merge_lookup(t, lid, rid, &rank, &res)) return true;
    hentry e = {rank, l, r, lid, rid};
    return heap_push(s, e);
}

static bool ensure_enc(scratch *s, size_t need) {
    if (need > s->enc_cap) {
        char *p = realloc(s->enc, need);
        if (!p) return false;
        s->enc = p;
        s->enc_cap = need;
    }
    return true;
}

/* Room for n symbols in the per-symbol arrays. */
static bool ensure_symbols(scratch *s, size_t n) {
    if (n <= s->cap) return true;
    size_t c = n * 2;
    int32_t **arrays[] = {&s->id, &s->prev, &s->next, &s->sym_start};
    for (size_t k = 0; k < sizeof arrays / sizeof arrays[0]; k++) {
        int32_t *a = realloc(*arrays[k], c * sizeof *a);
        if (!a) return false;
        *arrays[k] = a;
    }
    s->cap = c;
    return true;
}

/* BPE of one pre-tokenized piece (raw bytes), appending ids. */
static bool bpe_piece(const esft_tokenizer *t, scratch *s, const unsigned char *w, size_t n, ivec *out) {
    if (n == 0) return true;
    if (t->pre->ignore_merges && n > 1) {
        if (!ensure_enc(s, n * 2)) return false;
        size_t k = 0;
        for (size_t i = 0; i < n; i++) {
            memcpy(s->enc + k, t->byte_enc[w[i]], t->byte_enc_len[w[i]]);
            k += t->byte_enc_len[w[i]];
        }
        int32_t id = vocab_lookup(t, s->enc, k);
        if (id >= 0) return ivec_push(out, id);
    }
    if (!ensure_symbols(s, n)) return false;
    for (size_t i = 0; i < n; i++) {
        s->id[i] = t->byte_tok[w[i]];
        s->prev[i] = (int32_t)i - 1;
        s->next[i] = i + 1 < n ? (int32_t)i + 1 : -1;
    }
    s->hn = 0;
    for (size_t i = 1; i < n; i++)
        if (!add_pair(t, s, (int32_t)i - 1, (int32_t)i)) return false;
    while (s->hn > 0) {
        hentry e = heap_pop(s);
        /* stale: a side was merged away or has grown since the push */
        if (s->id[e.left] != e.lid || s->id[e.right] != e.rid || s->next[e.left] != e.right) continue;
        int32_t rank, res;
        if (!merge_lookup(t, e.lid, e.rid, &rank, &res)) continue;
        s->id[e.left] = res;
        int32_t nx = s->next[e.right];
        s->next[e.left] = nx;
        if (nx >= 0) s->prev[nx] = e.left;
        s->id[e.right] = -2; /* dead */
        s->next[e.right] = -1;
        if (!add_pair(t, s, s->prev[e.left], e.left)) return false;
        if (!add_pair(t, s, e.left, nx)) return false;
    }
    for (int32_t i = 0; i >= 0; i = s->next[i]) {
        int32_t id = s->id[i];
        if (id >= 0) {
            if (!ivec_push(out, id)) return false;
        } else {
            /* byte without a token of its own: llama.cpp tries each byte of
             * its encoded form as a one-byte token and drops the rest */
            unsigned char b = w[i];
            for (int k = 0; k < t->byte_enc_len[b]; k++) {
                int32_t x = vocab_lookup(t, &t->byte_enc[b][k], 1);
                if (x >= 0 && !ivec_push(out, x)) return false;
            }
        }
    }
    return true;
}

static esft_status pre_and_bpe(const esft_tokenizer *t, scratch *s, const char *text, size_t len,
                               ivec *out, esft_err *err) {
    /* UTF-8 check; an invalid byte becomes U+FFFD in a clean copy */
    const char *subj = text;
    size_t slen = len;
    const size_t *map = NULL;
    {
        size_t i = 0;
        uint32_t cp;
        bool ok = true;
        while (i < len) {
            size_t l = utf8_next((const unsigned char *)text + i, len - i, &cp);
            if (!l) {
                ok = false;
                break;
            }
            i += l;
        }
        if (!ok) {
            size_t need = len * 3 + 1;
            if (need > s->clean_cap) {
                char *c = realloc(s->clean, need);
                if (!c) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
                s->clean = c;
                size_t *m = realloc(s->clean_map, need * sizeof *m);
                if (!m) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
                s->clean_map = m;
                s->clean_cap = need;
            }
            size_t o = 0;
            i = 0;
            while (i < len) {
                size_t l = utf8_next((const unsigned char *)text + i, len - i, &cp);
                if (l) {
                    for (size_t k = 0; k < l; k++) {
                        s->clean[o] = text[i + k];
                        s->clean_map[o++] = i + k;
                    }
                    i += l;
                } else {
                    static const char fffd[3] = {(char)0xef, (char)0xbf, (char)0xbd};
                    for (size_t k = 0; k < 3; k++) {
                        s->clean[o] = fffd[k];
                        s->clean_map[o++] = i;
                    }
                    i++;
                }
            }
            s->clean_map[o] = len;
            subj = s->clean;
            slen = o;
            map = s->clean_map;
        }
    }

    svec *cur = &s->s0, *nxt = &s->s1;
    cur->n = 0;
    if (!svec_push(cur, 0, slen)) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    for (int r = 0; r < t->n_re; r++) {
        nxt->n = 0;
        for (size_t k = 0; k < cur->n; k++) {
            size_t a = cur->v[k].a, b = cur->v[k].b, plen = b - a, pos = 0, last = 0;
            while (pos < plen) {
                int rc = pcre2_match(t->re[r], (PCRE2_SPTR)subj + a, plen, pos, PCRE2_NO_UTF_CHECK, s->md,
                                     NULL);
                if (rc == PCRE2_ERROR_JIT_STACKLIMIT)
                    rc = pcre2_match(t->re[r], (PCRE2_SPTR)subj + a, plen, pos,
                                     PCRE2_NO_UTF_CHECK | PCRE2_NO_JIT, s->md, NULL);
                if (rc == PCRE2_ERROR_NOMATCH) break;
                if (rc < 0) {
                    PCRE2_UCHAR msg[256];
                    pcre2_get_error_message(rc, msg, sizeof msg);
                    return esft_errf(err, ESFT_ERR_INVALID_ARG, "tokenize: regex match failed: %s",
                                     (const char *)msg);
                }
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(s->md);
                size_t ms = ov[0], me = ov[1];
                if (me <= ms) { /* empty match: step one character */
                    pos = ms + 1;
                    while (pos < plen && ((unsigned char)subj[a + pos] & 0xc0) == 0x80) pos++;
                    continue;
                }
                if ((ms > last && !svec_push(nxt, a + last, a + ms)) || !svec_push(nxt, a + ms, a + me))
                    return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
                last = pos = me;
            }
            if (last < plen && !svec_push(nxt, a + last, b))
                return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
        }
        svec *tmp = cur;
        cur = nxt;
        nxt = tmp;
    }
    for (size_t k = 0; k < cur->n; k++) {
        size_t a = cur->v[k].a, b = cur->v[k].b;
        if (map) {
            a = map[a];
            b = map[b];
        }
        if (!bpe_piece(t, s, (const unsigned char *)text + a, b - a, out))
            return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    }
    return ESFT_OK;
}

/* SentencePiece of one raw fragment w[0..n) (spaces already U+2581), as
 * llama.cpp's SPM session: UTF-8 characters by lead byte, then the adjacent
 * pair whose concatenation is the best-scored token merges first. A heap
 * entry (rank, left, right, lid = the pair's byte length) is stale once
 * either side has changed length. */
static bool spm_pair(const esft_tokenizer *t, scratch *s, const char *w, int32_t l, int32_t r) {
    if (l < 0 || r < 0) return true;
    size_t a = (size_t)s->sym_start[l], len = (size_t)(s->id[l] + s->id[r]);
    int32_t tok = vocab_lookup(t, w + a, len);
    if (tok < 0) return true;
    hentry e = {t->score_rank[tok], l, r, (int32_t)len, tok};
    return heap_push(s, e);
}

static bool spm_piece(const esft_tokenizer *t, scratch *s, const char *w, size_t n, ivec *out) {
    static const uint8_t utf8_len[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
    if (n == 0) return true;
    if (n > (size_t)INT32_MAX / 2) return false;
    if (!ensure_symbols(s, n)) return false;
    int32_t ns = 0;
    for (size_t o = 0; o < n; ns++) {
        size_t l = utf8_len[(unsigned char)w[o] >> 4];
        if (l > n - o) l = n - o;
        s->sym_start[ns] = (int32_t)o;
        s->id[ns] = (int32_t)l; /* symbol length in bytes; 0 once merged away */
        s->prev[ns] = ns - 1;
        o += l;
        s->next[ns] = o == n ? -1 : ns + 1;
    }
    s->hn = 0;
    for (int32_t i = 1; i < ns; i++)
        if (!spm_pair(t, s, w, i - 1, i)) return false;
    while (s->hn > 0) {
        hentry e = heap_pop(s);
        if (s->id[e.left] == 0 || s->id[e.right] == 0 || s->id[e.left] + s->id[e.right] != e.lid) continue;
        s->id[e.left] += s->id[e.right];
        s->id[e.right] = 0;
        int32_t nx = s->next[e.right];
        s->next[e.left] = nx;
        if (nx >= 0) s->prev[nx] = e.left;
        if (!spm_pair(t, s, w, s->prev[e.left], e.left) || !spm_pair(t, s, w, e.left, nx)) return false;
    }
    for (int32_t i = 0; i >= 0; i = s->next[i]) {
        const char *sym = w + s->sym_start[i];
        int32_t tok = vocab_lookup(t, sym, (size_t)s->id[i]);
        if (tok >= 0) {
            if (!ivec_push(out, tok)) return false;
            continue;
        }
        for (int32_t k = 0; k < s->id[i]; k++) { /* byte fallback */
            int32_t b = t->byte_tok[(unsigned char)sym[k]];
            if (b >= 0 && !ivec_push(out, b)) return false;
        }
    }
    return true;
}

/* A raw fragment through SentencePiece: the optional leading space, spaces
 * as U+2581, then the merges. */
static esft_status spm_fragment(const esft_tokenizer *t, scratch *s, const char *text, size_t len,
                                bool space_prefix, ivec *out, esft_err *err) {
    size_t spaces = space_prefix ? 1 : 0;
    for (size_t i = 0; i < len; i++) spaces += text[i] == ' ';
    if (!ensure_enc(s, len + 2 * spaces + 1))
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    size_t o = 0;
    if (space_prefix) {
        memcpy(s->enc, SPM_SPACE, 3);
        o = 3;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(s->enc + o, SPM_SPACE, 3);
            o += 3;
        } else {
            s->enc[o++] = text[i];
        }
    }
    if (!spm_piece(t, s, s->enc, o, out)) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    return ESFT_OK;
}

typedef struct frag {
    size_t off, len;
    int32_t id; /* >= 0: a special token; -1: raw text */
} frag;

static const char *find_bytes(const char *h, size_t hn, const char *nd, size_t nn) {
    if (nn == 0 || nn > hn) return NULL;
    const char *end = h + hn - nn + 1;
    for (const char *p = h; p < end;) {
        p = memchr(p, nd[0], (size_t)(end - p));
        if (!p) return NULL;
        if (memcmp(p, nd, nn) == 0) return p;
        p++;
    }
    return NULL;
}

esft_status esft_tokenize(const esft_tokenizer *t, const char *text, size_t len, bool parse_special,
                          bool add_bos, int32_t **ids, size_t *n_ids, esft_err *err) {
    *ids = NULL;
    *n_ids = 0;
    if (!t || (!text && len))
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "tokenize: NULL tokenizer or text");
    esft_status st = ESFT_OK;
    ivec out = {0};
    scratch s = {0};
    frag *fa = NULL, *fb = NULL;
    size_t na = 0, nb = 0, cap = 0;

    if (add_bos && t->add_bos && t->bos >= 0 && !ivec_push(&out, t->bos)) goto nomem;
    if (len == 0) goto done;

    /* 1. special tokens */
    cap = 16;
    fa = malloc(cap * sizeof *fa);
    fb = malloc(cap * sizeof *fb);
    if (!fa || !fb) goto nomem;
    fa[0] = (frag){0, len, -1};
    na = 1;
    for (size_t si = 0; si < t->n_special; si++) {
        int32_t sid = t->special[si];
        uint8_t ty = t->type[sid];
        if (!parse_special && (ty == TT_CONTROL || ty == TT_UNKNOWN)) continue;
        size_t sl;
        const char *stxt = tok_text(t, sid, &sl);
        nb = 0;
        bool found = false;
        for (size_t k = 0; k < na; k++) {
            /* each piece of a fragment adds at most 2 entries */
            if (nb + 3 > cap) {
                size_t c = cap * 2 + 3;
                frag *p = realloc(fa, c * sizeof *p);
                if (!p) goto nomem;
                fa = p;
                p = realloc(fb, c * sizeof *p);
                if (!p) goto nomem;
                fb = p;
                cap = c;
            }
            if (fa[k].id >= 0) {
                fb[nb++] = fa[k];
                continue;
            }
            size_t o = fa[k].off, l = fa[k].len;
            for (;;) {
                const char *m = find_bytes(text + o, l, stxt, sl);
                if (!m) {
                    fb[nb++] = (frag){o, l, -1};
                    break;
                }
                found = true;
                size_t mo = (size_t)(m - text);
                if (mo > o) fb[nb++] = (frag){o, mo - o, -1};
                fb[nb++] = (frag){mo, sl, sid};
                l -= mo + sl - o;
                o = mo + sl;
                if (l == 0) break;
                if (nb + 3 > cap) {
                    size_t c = cap * 2 + 3;
                    frag *p = realloc(fa, c * sizeof *p);
                    if (!p) goto nomem;
                    fa = p;
                    p = realloc(fb, c * sizeof *p);
                    if (!p) goto nomem;
                    fb = p;
                    cap = c;
                }
            }
        }
        if (found) {
            frag *tmp = fa;
            fa = fb;
            fb = tmp;
            na = nb;
        }
    }

    /* 2-3. pre-tokenize and BPE the raw fragments */
    s.md = pcre2_match_data_create(4, NULL);
    if (!s.md) goto nomem;
    bool after_special = true; /* spm: the text start counts as after a special token */
    for (size_t k = 0; k < na; k++) {
        if (fa[k].id >= 0) {
            if (!ivec_push(&out, fa[k].id)) goto nomem;
            after_special = true;
            continue;
        }
        if (t->spm)
            st = spm_fragment(t, &s, text + fa[k].off, fa[k].len, t->add_space_prefix && after_special, &out, err);
        else
            st = pre_and_bpe(t, &s, text + fa[k].off, fa[k].len, &out, err);
        if (st != ESFT_OK) goto fail;
        after_special = false;
    }
done:
    free(fa);
    free(fb);
    scratch_free(&s);
    if (!out.v) { /* empty result: still hand back a valid pointer */
        out.v = malloc(sizeof *out.v);
        if (!out.v) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
    }
    *ids = out.v;
    *n_ids = out.n;
    return ESFT_OK;
nomem:
    st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "tokenize: out of memory");
fail:
    free(fa);
    free(fb);
    scratch_free(&s);
    free(out.v);
    return st;
}

/* ------------------------------------------------------------- decoding */

int esft_token_bytes(const esft_tokenizer *t, int32_t id, char *buf, size_t cap) {
    if (!t || id < 0 || id >= t->n_vocab) return -1;
    size_t n = t->piece_off[id + 1] - t->piece_off[id];
    if (buf && cap) memcpy(buf, t->piece + t->piece_off[id], n < cap ? n : cap);
    return (int)n;
}

esft_status esft_detokenize(const esft_tokenizer *t, const int32_t *ids, size_t n, char **text,
                            size_t *len, esft_err *err) {
    *text = NULL;
    if (len) *len = 0;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= t->n_vocab)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "detokenize: token id %d at %zu out of range [0, %d)",
                             (int)ids[i], i, (int)t->n_vocab);
        total += t->piece_off[ids[i] + 1] - t->piece_off[ids[i]];
    }
    char *s = malloc(total + 1);
    if (!s) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "detokenize: out of memory");
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        size_t l = t->piece_off[ids[i] + 1] - t->piece_off[ids[i]];
        memcpy(s + o, t->piece + t->piece_off[ids[i]], l);
        o += l;
    }
    s[o] = '\0';
    *text = s;
    if (len) *len = o;
    return ESFT_OK;
}

/* ------------------------------------------------------------- queries */

int32_t esft_tokenizer_n_vocab(const esft_tokenizer *t) { return t->n_vocab; }
size_t esft_tokenizer_max_token_bytes(const esft_tokenizer *t) { return t->max_text_len; }
int32_t esft_tokenizer_bos(const esft_tokenizer *t) { return t->bos; }
int32_t esft_tokenizer_eos(const esft_tokenizer *t) { return t->eos; }
int32_t esft_tokenizer_eot(const esft_tokenizer *t) { return t->eot; }
bool esft_tokenizer_add_bos(const esft_tokenizer *t) { return t->add_bos; }

bool esft_tokenizer_is_eog(const esft_tokenizer *t, int32_t id) {
    return t && id >= 0 && id < t->n_vocab && t->eog[id];
}

int esft_tokenizer_token_type(const esft_tokenizer *t, int32_t id) {
    if (!t || id < 0 || id >= t->n_vocab) return -1;
    return t->type[id];
}

int32_t esft_tokenizer_find(const esft_tokenizer *t, const char *text) {
    if (!t || !text) return -1;
    return vocab_lookup(t, text, strlen(text));
}

const char *esft_tokenizer_pre(const esft_tokenizer *t) { return t->pre_name; }
const char *esft_tokenizer_pre_kind(const esft_tokenizer *t) { return t->pre->canonical; }
