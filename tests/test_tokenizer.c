/* Tokenizer against llama.cpp's golden ids.
 *
 * tests/fixtures/tokenizer_*.txt are written by scripts/gen-tokenizer-golden.py
 * with llama.cpp (llama-cpp-python): one line of ids per case of
 * tests/data/tokenizer_corpus.txt. Every fixture present is checked line by
 * line (exact ids); the meta fixtures check BOS/EOS/EOT, add_bos, the
 * end-of-generation set and every token's decoded bytes; the aliases
 * fixtures check that other pre-tokenizer names reproduce their group's ids.
 * Fixtures whose model is a Hugging Face directory (tokenizer_*hf*.txt) come
 * from the tokenizers library on its tokenizer.json
 * (scripts/gen-hf-tokenizer-golden.py); the directory is read as esft reads
 * any model (models/source.h), so they check tokenizer.json -> esft.
 * Fixtures with "# vocab: augmented-v1" were made from SmolLM2's vocabulary
 * plus a few tokens (see augmented_v1()); this test builds the same GGUF.
 * Further checks: byte-exact round trips, special tokens whole or not, EOG,
 * BOS/EOS, invalid UTF-8 and random bytes, long runs, error paths, speed.
 *
 * Corpus escapes (one case per line): \n -> newline, \r -> CR, \t -> tab,
 * \\ -> backslash; a backslash before anything else is kept.
 *
 * Exit 77 (skip) when the model file is absent. */
#include <dirent.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "esft_hash.h"
#include "source.h"
#include "testutil.h"
#include "tokenizer.h"

#ifndef ESFT_TEST_DATA_DIR
#define ESFT_TEST_DATA_DIR "tests"
#endif
#ifndef ESFT_TEST_BINARY_DIR
#define ESFT_TEST_BINARY_DIR "."
#endif

#define MAX_MODELS 12

typedef struct tcase {
    char *s;
    size_t n;
} tcase;

static char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    size_t r;
    while (buf && (r = fread(buf + n, 1, cap - n, f)) > 0) {
        n += r;
        if (n == cap) {
            char *nb = realloc(buf, cap * 2 + 1);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) return NULL;
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

/* Splits on '\n' in place; returns the number of lines (a final newline
 * ends the last line, it does not start an empty one). */
static size_t split_lines(char *buf, size_t len, char ***out) {
    size_t n = 0, cap = 64;
    char **v = malloc(cap * sizeof *v);
    size_t i = 0;
    while (i < len) {
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
        }
        v[n++] = buf + i;
        char *nl = memchr(buf + i, '\n', len - i);
        if (!nl) break;
        *nl = '\0';
        i = (size_t)(nl - buf) + 1;
    }
    *out = v;
    return n;
}

static tcase unescape(const char *s) {
    size_t n = strlen(s);
    tcase c = {malloc(n + 1), 0};
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n && strchr("nrt\\", s[i + 1])) {
            char e = s[++i];
            c.s[c.n++] = e == 'n' ? '\n' : e == 'r' ? '\r' : e == 't' ? '\t' : '\\';
        } else {
            c.s[c.n++] = s[i];
        }
    }
    c.s[c.n] = '\0';
    return c;
}

static void print_ids(const char *label, const int32_t *ids, size_t n) {
    fprintf(stderr, "    %s (%zu):", label, n);
    for (size_t i = 0; i < n; i++) fprintf(stderr, " %d", (int)ids[i]);
    fputc('\n', stderr);
}

static size_t parse_ids(const char *line, int32_t **out) {
    size_t n = 0, cap = 16;
    int32_t *v = malloc(cap * sizeof *v);
    const char *p = line;
    char *end;
    for (;;) {
        long x = strtol(p, &end, 10);
        if (end == p) break;
        if (n == cap) {
            cap *= 2;
            v = realloc(v, cap * sizeof *v);
        }
        v[n++] = (int32_t)x;
        p = end;
    }
    *out = v;
    return n;
}

/* ------------------------------------------------------------- models */

static const char *g_model_dir;
static struct {
    char name[320];
    gguf_file *f;
} g_models[MAX_MODELS];
static int g_n_models;

static gguf_file *cached(const char *key) {
    for (int i = 0; i < g_n_models; i++)
        if (strcmp(g_models[i].name, key) == 0) return g_models[i].f;
    return NULL;
}

static void cache(const char *key, gguf_file *f) {
    if (g_n_models < MAX_MODELS) {
        snprintf(g_models[g_n_models].name, sizeof g_models[0].name, "%s", key);
        g_models[g_n_models++].f = f;
    }
}

static gguf_file *model(const char *name) {
    gguf_file *f = cached(name);
    if (f) return f;
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", g_model_dir, name);
    esft_err err;
    esft_model_source src; /* a GGUF file, or a Hugging Face directory's metadata as GGUF keys */
    if (esft_source_open(path, &src, &err) != ESFT_OK) {
        fprintf(stderr, "note: %s\n", err.msg);
        return NULL;
    }
    f = esft_source_take_meta(&src);
    esft_source_close(&src);
    cache(name, f);
    return f;
}

/* The "augmented-v1" vocabulary of scripts/gen-tokenizer-golden.py
 * (augment_v1 there): the model's tokens, types and merges plus
 *   "00".."99" (merges "a b") then "000".."999" (merges "ab c"),
 *   "Supercalifragilisticexpialidocious" (normal, no merge),
 *   user-defined "<think>", "</think>", control "<|tool|>", "<|tool|>call".
 * Written to a temporary GGUF and opened. */
static gguf_file *augmented_v1(const char *name) {
    char key[300];
    snprintf(key, sizeof key, "augmented-v1:%s", name);
    gguf_file *f = cached(key);
    if (f) return f;
    gguf_file *base = model(name);
    if (!base) return NULL;
    const gguf_value *tk = esft_gguf_get_arr(base, "tokenizer.ggml.tokens");
    const gguf_value *ty = esft_gguf_get_arr(base, "tokenizer.ggml.token_type");
    const gguf_value *mg = esft_gguf_get_arr(base, "tokenizer.ggml.merges");
    if (!tk || !ty || !mg) return NULL;
    static char digits[1100][4], dmerge[1100][5];
    static const char *const extra[] = {"Supercalifragilisticexpialidocious", "<think>", "</think>",
                                        "<|tool|>", "<|tool|>call"};
    static const int32_t extra_type[] = {1, 4, 4, 3, 3};
    size_t nd = 0;
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++, nd++) {
            snprintf(digits[nd], sizeof digits[nd], "%d%d", a, b);
            snprintf(dmerge[nd], sizeof dmerge[nd], "%d %d", a, b);
        }
    for (int a = 0; a < 10; a++)
        for (int b = 0; b < 10; b++)
            for (int c = 0; c < 10; c++, nd++) {
                snprintf(digits[nd], sizeof digits[nd], "%d%d%d", a, b, c);
                snprintf(dmerge[nd], sizeof dmerge[nd], "%d%d %d", a, b, c);
            }
    size_t nt = (size_t)tk->v.arr.n, nm = (size_t)mg->v.arr.n, ne = sizeof extra / sizeof extra[0];
    const char **tv = malloc((nt + nd + ne) * sizeof *tv);
    int32_t *yv = malloc((nt + nd + ne) * sizeof *yv);
    const char **mv = malloc((nm + nd) * sizeof *mv);
    for (size_t i = 0; i < nt; i++) {
        tv[i] = tk->v.arr.items[i].v.str.data;
        yv[i] = (int32_t)ty->v.arr.items[i].v.i64;
    }
    for (size_t i = 0; i < nd; i++) {
        tv[nt + i] = digits[i];
        yv[nt + i] = 1;
    }
    for (size_t i = 0; i < ne; i++) {
        tv[nt + nd + i] = extra[i];
        yv[nt + nd + i] = extra_type[i];
    }
    for (size_t i = 0; i < nm; i++) mv[i] = mg->v.arr.items[i].v.str.data;
    for (size_t i = 0; i < nd; i++) mv[nm + i] = dmerge[i];

    char path[1024];
    snprintf(path, sizeof path, "%s/test_tokenizer_augmented_v1.gguf", ESFT_TEST_BINARY_DIR);
    esft_err err;
    gguf_writer *w = esft_gguf_writer_new();
    bool ok = w && esft_gguf_writer_copy_kvs(w, base, &err) == ESFT_OK &&
              esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", tv, nt + nd + ne, &err) == ESFT_OK &&
              esft_gguf_writer_set_i32_arr(w, "tokenizer.ggml.token_type", yv, nt + nd + ne, &err) == ESFT_OK &&
              esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.merges", mv, nm + nd, &err) == ESFT_OK &&
              esft_gguf_writer_write(w, path, &err) == ESFT_OK && esft_gguf_open(path, &f, &err) == ESFT_OK;
    CHECKF(ok, "building the augmented-v1 vocabulary: %s", err.msg);
    esft_gguf_writer_free(w);
    remove(path);
    free(tv);
    free(yv);
    free(mv);
    if (!ok) return NULL;
    cache(key, f);
    return f;
}

/* -------------------------------------------------------- fixtures */

static tcase *g_cases;
static size_t g_n_cases;
static int g_fixtures_run;

static const char *header(char **lines, size_t n, const char *key, char *buf, size_t cap);

/* The GGUF a fixture was made from ("# model:" and optional "# vocab:"). */
static gguf_file *fixture_model(const char *fname, char **lines, size_t n) {
    char mname[256], vocab[64];
    if (!header(lines, n, "model", mname, sizeof mname)) {
        CHECKF(0, "%s: no model header", fname);
        return NULL;
    }
    gguf_file *f = NULL;
    if (!header(lines, n, "vocab", vocab, sizeof vocab)) {
        f = model(mname);
    } else if (strcmp(vocab, "augmented-v1") == 0) {
        f = augmented_v1(mname);
    } else {
        CHECKF(0, "%s: unknown vocabulary variant '%s'", fname, vocab);
        return NULL;
    }
    if (!f) printf("%-40s skipped (model %s absent)\n", fname, mname);
    return f;
}

static const char *header(char **lines, size_t n, const char *key, char *buf, size_t cap) {
    size_t kl = strlen(key);
    for (size_t i = 0; i < n && lines[i][0] == '#'; i++) {
        const char *l = lines[i] + 1;
        while (*l == ' ') l++;
        if (strncmp(l, key, kl) == 0 && l[kl] == ':') {
            l += kl + 1;
            while (*l == ' ') l++;
            snprintf(buf, cap, "%s", l);
            return buf;
        }
    }
    return NULL;
}

/* Tokenizes the whole corpus with pre-tokenizer `pre` and compares with the
 * id lines (lines after the '#' header). Returns lines matched. */
static size_t compare_ids(const char *label, gguf_file *f, const char *pre, bool parse_special,
                          char **lines, size_t n_lines) {
    size_t first = 0;
    while (first < n_lines && lines[first][0] == '#') first++;
    size_t n_rows = n_lines - first;
    CHECKF(n_rows == g_n_cases, "%s: %zu id lines for %zu corpus cases (regenerate the fixture)", label,
           n_rows, g_n_cases);
    esft_tokenizer *tok = NULL;
    esft_err err;
    esft_status st = esft_tokenizer_from_gguf_ex(f, pre, &tok, &err);
    CHECKF(st == ESFT_OK, "%s: %s", label, err.msg);
    if (st != ESFT_OK) return 0;
    size_t matched = 0, shown = 0;
    for (size_t i = 0; i < n_rows && i < g_n_cases; i++) {
        int32_t *want, *got = NULL;
        size_t nw = parse_ids(lines[first + i], &want), ng = 0;
        st = esft_tokenize(tok, g_cases[i].s, g_cases[i].n, parse_special, false, &got, &ng, &err);
        bool same = st == ESFT_OK && ng == nw && memcmp(got, want, nw * sizeof *want) == 0;
        if (same) {
            matched++;
        } else if (shown++ < 5) {
            fprintf(stderr, "  %s: case %zu differs: \"%s\"\n", label, i + 1, g_cases[i].s);
            print_ids("reference", want, nw);
            if (st == ESFT_OK)
                print_ids("esft     ", got, ng);
            else
                fprintf(stderr, "    esft error: %s\n", err.msg);
        }
        free(want);
        free(got);
    }
    esft_tokenizer_free(tok);
    return matched;
}

static void check_ids_fixture(const char *fname, char **lines, size_t n) {
    char pre[64], ps[16];
    if (!header(lines, n, "pre", pre, sizeof pre) || !header(lines, n, "parse_special", ps, sizeof ps)) {
        CHECKF(0, "%s: header lacks pre/parse_special", fname);
        return;
    }
    gguf_file *f = fixture_model(fname, lines, n);
    if (!f) return;
    const char *own = esft_gguf_get_str(f, "tokenizer.ggml.pre");
    const char *override = (own && strcmp(own, pre) == 0) ? NULL : pre;
    /* a tokenizer.json fixture runs the pipeline esft recognised in the file */
    char ref[64];
    if (header(lines, n, "reference", ref, sizeof ref) && strncmp(ref, "tokenizers ", 11) == 0)
        CHECKF(override == NULL, "%s: tokenizer.json read as pre-tokenizer '%s', not '%s'", fname, own ? own : "?", pre);
    size_t rows = 0;
    for (size_t i = 0; i < n; i++) rows += lines[i][0] != '#';
    size_t m = compare_ids(fname, f, override, atoi(ps) != 0, lines, n);
    printf("%-40s pre %-10s %3zu / %zu lines match the reference\n", fname, pre, m, rows);
    CHECKF(m == rows && rows == g_n_cases, "%s: %zu of %zu lines match", fname, m, rows);
    g_fixtures_run++;
}

/* "<alias> <representative>" lines: the alias must reproduce the
 * representative's fixture (which llama.cpp produced for both). */
static void check_aliases(const char *fname, char **lines, size_t n, const char *fixdir) {
    gguf_file *f = fixture_model(fname, lines, n);
    if (!f) return;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", fname);
    char *us = strstr(stem, "_aliases.txt");
    if (us) *us = '\0';
    const char *own = esft_gguf_get_str(f, "tokenizer.ggml.pre");
    int n_alias = 0, n_ok = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '#' || !lines[i][0]) continue;
        char alias[64], rep[64];
        if (sscanf(lines[i], "%63s %63s", alias, rep) != 2) continue;
        char path[2048];
        if (own && strcmp(rep, own) == 0)
            snprintf(path, sizeof path, "%s/%s.txt", fixdir, stem);
        else
            snprintf(path, sizeof path, "%s/%s_%s.txt", fixdir, stem, rep);
        size_t len;
        char *buf = slurp(path, &len);
        CHECKF(buf != NULL, "%s: cannot read %s", fname, path);
        if (!buf) continue;
        char **rl;
        size_t rn = split_lines(buf, len, &rl);
        size_t rows = 0;
        for (size_t k = 0; k < rn; k++) rows += rl[k][0] != '#';
        char label[160];
        snprintf(label, sizeof label, "alias %s (as %s)", alias, rep);
        size_t m = compare_ids(label, f, alias, true, rl, rn);
        n_alias++;
        n_ok += m == rows;
        CHECKF(m == rows, "%s: %zu of %zu lines match", label, m, rows);
        free(rl);
        free(buf);
    }
    printf("%-40s %d / %d pre-tokenizer aliases reproduce llama.cpp's ids\n", fname, n_ok, n_alias);
    g_fixtures_run++;
}

static void check_meta(const char *fname, char **lines, size_t n) {
    gguf_file *f = fixture_model(fname, lines, n);
    if (!f) return;
    esft_tokenizer *tok = NULL;
    esft_err err;
    if (esft_tokenizer_from_gguf(f, &tok, &err) != ESFT_OK) {
        CHECKF(0, "%s: %s", fname, err.msg);
        return;
    }
    int checked = 0;
    for (size_t i = 0; i < n; i++) {
        if (lines[i][0] == '#') continue;
        char key[32];
        const char *sp = strchr(lines[i], ' ');
        if (!sp || (size_t)(sp - lines[i]) >= sizeof key) continue;
        memcpy(key, lines[i], (size_t)(sp - lines[i]));
        key[sp - lines[i]] = '\0';
        const char *val = sp + 1;
        checked++;
        if (strcmp(key, "n_vocab") == 0) {
            CHECKF(esft_tokenizer_n_vocab(tok) == atoi(val), "n_vocab %d vs llama.cpp %s",
                   esft_tokenizer_n_vocab(tok), val);
        } else if (strcmp(key, "bos") == 0) {
            CHECKF(esft_tokenizer_bos(tok) == atoi(val), "bos %d vs llama.cpp %s", esft_tokenizer_bos(tok), val);
        } else if (strcmp(key, "eos") == 0) {
            CHECKF(esft_tokenizer_eos(tok) == atoi(val), "eos %d vs llama.cpp %s", esft_tokenizer_eos(tok), val);
        } else if (strcmp(key, "eot") == 0) {
            CHECKF(esft_tokenizer_eot(tok) == atoi(val), "eot %d vs llama.cpp %s", esft_tokenizer_eot(tok), val);
        } else if (strcmp(key, "add_bos") == 0) {
            CHECKF(esft_tokenizer_add_bos(tok) == (atoi(val) != 0), "add_bos %d vs llama.cpp %s",
                   (int)esft_tokenizer_add_bos(tok), val);
        } else if (strcmp(key, "eog") == 0) {
            int32_t *want;
            size_t nw = parse_ids(val, &want), ng = 0, k = 0;
            bool same = true;
            for (int32_t id = 0; id < esft_tokenizer_n_vocab(tok); id++) {
                if (!esft_tokenizer_is_eog(tok, id)) continue;
                ng++;
                if (k >= nw || want[k++] != id) same = false;
            }
            CHECKF(same && ng == nw, "end-of-generation set differs from llama.cpp's (%zu vs %zu ids)", ng, nw);
            free(want);
        } else if (strcmp(key, "pieces_fnv1a64") == 0) {
            uint64_t h = ESFT_FNV1A64_INIT;
            char buf[1024];
            for (int32_t id = 0; id < esft_tokenizer_n_vocab(tok); id++) {
                int len = esft_token_bytes(tok, id, buf, sizeof buf);
                unsigned char hdr[4] = {(unsigned char)len, (unsigned char)(len >> 8),
                                        (unsigned char)(len >> 16), (unsigned char)(len >> 24)};
                h = esft_fnv1a64(h, hdr, sizeof hdr);
                h = esft_fnv1a64(h, buf, len < 0 ? 0 : len < (int)sizeof buf ? (size_t)len : sizeof buf);
            }
            char hex[17];
            snprintf(hex, sizeof hex, "%016llx", (unsigned long long)h);
            CHECKF(strcmp(hex, val) == 0, "hash of all token pieces %s vs llama.cpp %s", hex, val);
        } else {
            checked--;
        }
    }
    printf("%-40s %d properties compared with llama.cpp\n", fname, checked);
    CHECK(checked >= 7);
    esft_tokenizer_free(tok);
    g_fixtures_run++;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void run_fixtures(void) {
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/fixtures", ESFT_TEST_DATA_DIR);
    DIR *d = opendir(dir);
    if (!d) return;
    char *names[256];
    int nn = 0;
    struct dirent *e;
    while ((e = readdir(d)) && nn < 256) {
        size_t l = strlen(e->d_name);
        if (strncmp(e->d_name, "tokenizer_", 10) == 0 && l > 4 && strcmp(e->d_name + l - 4, ".txt") == 0)
            names[nn++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, (size_t)nn, sizeof *names, cmp_str);
    for (int i = 0; i < nn; i++) {
        char path[1280];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        size_t len;
        char *buf = slurp(path, &len);
        CHECKF(buf != NULL, "cannot read %s", path);
        if (buf) {
            char **lines;
            size_t n = split_lines(buf, len, &lines);
            size_t l = strlen(names[i]);
            if (l > 9 && strcmp(names[i] + l - 9, "_meta.txt") == 0)
                check_meta(names[i], lines, n);
            else if (l > 12 && strcmp(names[i] + l - 12, "_aliases.txt") == 0)
                check_aliases(names[i], lines, n, dir);
            else
                check_ids_fixture(names[i], lines, n);
            free(lines);
            free(buf);
        }
        free(names[i]);
    }
}

/* ------------------------------------------------------ other checks */

/* GPT-2's byte-to-unicode map, to tell which bytes have a token of their
 * own: the vocabulary may lack some (SmolLM2 lacks 0x04, 0xc0, 0xff, ...);
 * llama.cpp drops such bytes, and so does esft. */
static bool g_byte_ok[256];

static void init_byte_ok(const esft_tokenizer *tok) {
    int n = 0;
    for (int b = 0; b < 256; b++) {
        bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174);
        unsigned cp = printable ? (unsigned)b : 256u + (unsigned)n++;
        char u[3] = {0};
        if (cp < 0x80) {
            u[0] = (char)cp;
        } else {
            u[0] = (char)(0xc0 | (cp >> 6));
            u[1] = (char)(0x80 | (cp & 0x3f));
        }
        g_byte_ok[b] = esft_tokenizer_find(tok, u) >= 0;
    }
}

/* tokenize + detokenize gives the input back, less the bytes without a
 * token (when `drop`, else exactly). */
static bool roundtrip_ex(const esft_tokenizer *tok, const char *s, size_t n, bool special, bool drop) {
    int32_t *ids = NULL;
    size_t ni = 0;
    esft_err err;
    if (esft_tokenize(tok, s, n, special, false, &ids, &ni, &err) != ESFT_OK) {
        fprintf(stderr, "  tokenize failed: %s\n", err.msg);
        return false;
    }
    char *want = malloc(n + 1);
    size_t nw = 0;
    for (size_t i = 0; i < n; i++)
        if (!drop || g_byte_ok[(unsigned char)s[i]]) want[nw++] = s[i];
    char *out = NULL;
    size_t no = 0;
    bool ok = esft_detokenize(tok, ids, ni, &out, &no, &err) == ESFT_OK && no == nw &&
              memcmp(out, want, nw) == 0 && out[no] == '\0';
    free(want);
    free(ids);
    free(out);
    return ok;
}

static bool roundtrip(const esft_tokenizer *tok, const char *s, size_t n, bool special) {
    return roundtrip_ex(tok, s, n, special, false);
}

static bool contains(const int32_t *ids, size_t n, int32_t id) {
    for (size_t i = 0; i < n; i++)
        if (ids[i] == id) return true;
    return false;
}

static void check_behaviour(gguf_file *f) {
    esft_tokenizer *tok = NULL;
    esft_err err;
    esft_status st = esft_tokenizer_from_gguf(f, &tok, &err);
    CHECKF(st == ESFT_OK, "%s", err.msg);
    if (st != ESFT_OK) return;
    CHECK(strcmp(esft_tokenizer_pre(tok), "smollm") == 0);

    /* byte-exact round trips of every case, with and without specials
     * (less the bytes the vocabulary has no token for) */
    init_byte_ok(tok);
    int n_missing = 0;
    for (int b = 0; b < 256; b++) n_missing += !g_byte_ok[b];
    printf("%d of 256 bytes have no token of their own (dropped, as by llama.cpp)\n", n_missing);
    CHECK(g_byte_ok['a'] && g_byte_ok[0x80] && g_byte_ok['\n']);
    int bad = 0;
    for (size_t i = 0; i < g_n_cases; i++) {
        for (int sp = 0; sp < 2; sp++) {
            if (!roundtrip_ex(tok, g_cases[i].s, g_cases[i].n, sp, true)) {
                if (bad++ < 5) fprintf(stderr, "  round trip fails (special=%d): \"%s\"\n", sp, g_cases[i].s);
            }
        }
    }
    CHECKF(bad == 0, "%d round trips fail", bad);

    /* special tokens: whole with parse_special, plain text without */
    int32_t im_start = esft_tokenizer_find(tok, "<|im_start|>");
    int32_t im_end = esft_tokenizer_find(tok, "<|im_end|>");
    CHECK(im_start >= 0 && im_end >= 0);
    const char *chat = "<|im_start|>user\nHi<|im_end|>";
    int32_t *ids = NULL;
    size_t n = 0;
    CHECK(esft_tokenize(tok, chat, strlen(chat), true, false, &ids, &n, &err) == ESFT_OK);
    CHECK(n >= 3 && ids[0] == im_start && ids[n - 1] == im_end);
    free(ids);
    CHECK(esft_tokenize(tok, chat, strlen(chat), false, false, &ids, &n, &err) == ESFT_OK);
    CHECK(n > 3 && !contains(ids, n, im_start) && !contains(ids, n, im_end));
    free(ids);
    CHECK(esft_tokenizer_token_type(tok, im_end) == 3);
    CHECK(esft_tokenizer_token_type(tok, -1) == -1);

    /* end of generation */
    CHECK(esft_tokenizer_is_eog(tok, im_end));
    CHECK(esft_tokenizer_is_eog(tok, esft_tokenizer_eos(tok)));
    CHECK(!esft_tokenizer_is_eog(tok, im_start));
    CHECK(!esft_tokenizer_is_eog(tok, esft_tokenizer_find(tok, "Hello")));
    CHECK(!esft_tokenizer_is_eog(tok, -1) && !esft_tokenizer_is_eog(tok, esft_tokenizer_n_vocab(tok)));

    /* BOS/EOS from the metadata */
    uint32_t bos = 0, eos = 0;
    CHECK(esft_gguf_get_u32(f, "tokenizer.ggml.bos_token_id", &bos));
    CHECK(esft_gguf_get_u32(f, "tokenizer.ggml.eos_token_id", &eos));
    CHECK(esft_tokenizer_bos(tok) == (int32_t)bos && esft_tokenizer_eos(tok) == (int32_t)eos);
    bool add_bos = true;
    CHECK(esft_gguf_get_bool(f, "tokenizer.ggml.add_bos_token", &add_bos));
    CHECK(esft_tokenizer_add_bos(tok) == add_bos);
    CHECK(esft_tokenize(tok, "Hi", 2, true, true, &ids, &n, &err) == ESFT_OK);
    CHECK(n >= 1 && (ids[0] == (int32_t)bos) == add_bos);
    free(ids);

    /* empty input */
    CHECK(esft_tokenize(tok, "", 0, true, false, &ids, &n, &err) == ESFT_OK && n == 0 && ids != NULL);
    free(ids);

    /* decoding */
    char buf[64];
    CHECK(esft_token_bytes(tok, im_end, buf, sizeof buf) == 10 && memcmp(buf, "<|im_end|>", 10) == 0);
    CHECK(esft_token_bytes(tok, -1, buf, sizeof buf) == -1);
    CHECK(esft_token_bytes(tok, esft_tokenizer_n_vocab(tok), buf, sizeof buf) == -1);
    CHECK(esft_token_bytes(tok, im_end, buf, 3) == 10); /* truncated copy, full length */
    int32_t badid = esft_tokenizer_n_vocab(tok);
    char *txt = NULL;
    CHECK(esft_detokenize(tok, &badid, 1, &txt, NULL, &err) == ESFT_ERR_INVALID_ARG && txt == NULL);

    /* invalid UTF-8 and arbitrary bytes do not crash and still round-trip
     * (less bytes without a token, e.g. 0xff in SmolLM2) */
    static const char *const invalid[] = {
        "\xff", "\xfe\xff", "abc\xe4\xb8", "\xe4\xb8 tail", "\xc0\x80", "\xed\xa0\x80 surrogate",
        ("a\x80" "b"), "\xf4\x90\x80\x80", "caf\xc3", "\xc3\xa9\xa9", " \xff\xff  \xfe<|im_end|>\xff",
        "\xe4\xb8<|im_end|>\xad", "x\xa9\xa9\xa9y", "\x80\x80\x80\x80\x80",
    };
    /* bytes that do have tokens come back exactly */
    static const char *const exact[] = {"abc\xe4\xb8", "\xe4\xb8<|im_end|>\xad", "\xed\xa0\x80 surrogate"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        CHECK(roundtrip(tok, exact[i], strlen(exact[i]), i & 1));
    bad = 0;
    for (size_t i = 0; i < sizeof invalid / sizeof invalid[0]; i++)
        for (int sp = 0; sp < 2; sp++) bad += !roundtrip_ex(tok, invalid[i], strlen(invalid[i]), sp, true);
    CHECKF(bad == 0, "%d invalid UTF-8 round trips fail", bad);
    uint64_t x = 0x9e3779b97f4a7c15ull;
    char rnd[4096];
    bad = 0;
    for (int rep = 0; rep < 20; rep++) {
        size_t len = 1 + (size_t)(rep * 211) % sizeof rnd;
        for (size_t i = 0; i < len; i++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            rnd[i] = (char)(x >> 24);
        }
        bad += !roundtrip_ex(tok, rnd, len, rep & 1, true);
    }
    CHECKF(bad == 0, "%d random-byte round trips fail", bad);
    const char nul[] = "a\0b\0\0c";
    CHECK(roundtrip(tok, nul, sizeof nul - 1, true));

    /* long runs (regex backtracking, BPE heap) */
    size_t big = 100000;
    char *lots = malloc(big);
    memset(lots, ' ', big);
    CHECK(roundtrip(tok, lots, big, true));
    memset(lots, 'a', big);
    CHECK(roundtrip(tok, lots, big, true));
    for (size_t i = 0; i < big; i++) lots[i] = "9 \n\t"[i % 4];
    CHECK(roundtrip(tok, lots, big, true));
    free(lots);

    /* speed: 200 chat prompts */
    const char *prompt =
        "<|im_start|>system\nYou are a helpful assistant. You first think about the reasoning process "
        "in the mind and then provide the user with the answer.<|im_end|>\n<|im_start|>user\nUsing the "
        "numbers [%d, %d, %d, %d], create an equation that equals %d. You can use basic arithmetic "
        "operations (+, -, *, /) and each number can only be used once. Show your work in <think> "
        "</think> tags. And return the final answer in <answer> </answer> tags, for example <answer> "
        "(1 + 2) / 3 </answer>.<|im_end|>\n<|im_start|>assistant\nLet me solve this step by step.\n<think>";
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    size_t total = 0;
    for (int i = 0; i < 200; i++) {
        char p[1024];
        int len = snprintf(p, sizeof p, prompt, i % 97, (i * 7) % 89, (i * 13) % 83, i % 10, 100 + i);
        if (esft_tokenize(tok, p, (size_t)len, true, false, &ids, &n, &err) == ESFT_OK) {
            total += n;
            free(ids);
        }
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + 1e-9 * (double)(t1.tv_nsec - t0.tv_nsec);
    printf("tokenized 200 prompts (%zu tokens) in %.1f ms\n", total, secs * 1e3);
    CHECKF(secs < 1.0, "200 prompts took %.3f s", secs);

    esft_tokenizer_free(tok);

    /* errors: unknown pre-tokenizer, unsupported tokenizer model */
    st = esft_tokenizer_from_gguf_ex(f, "no-such-pre", &tok, &err);
    CHECK(st == ESFT_ERR_UNSUPPORTED && tok == NULL && strstr(err.msg, "no-such-pre") != NULL);
    st = esft_tokenizer_from_gguf_ex(f, "gpt2", &tok, &err); /* esft alias of gpt-2 */
    CHECK(st == ESFT_OK);
    if (st == ESFT_OK) {
        CHECK(strcmp(esft_tokenizer_pre(tok), "gpt2") == 0);
        esft_tokenizer_free(tok);
    }

    /* a SentencePiece vocabulary without scores; a model esft lacks */
    const char *bad_models[] = {"llama", "bert"};
    for (int k = 0; k < 2; k++) {
        gguf_writer *w = esft_gguf_writer_new();
        char path[1024];
        snprintf(path, sizeof path, "%s/test_tokenizer_model.gguf", ESFT_TEST_BINARY_DIR);
        CHECK(w && esft_gguf_writer_copy_kvs(w, f, &err) == ESFT_OK);
        CHECK(esft_gguf_writer_set_str(w, "tokenizer.ggml.model", bad_models[k], &err) == ESFT_OK);
        CHECK(esft_gguf_writer_write(w, path, &err) == ESFT_OK);
        esft_gguf_writer_free(w);
        gguf_file *g = NULL;
        if (esft_gguf_open(path, &g, &err) == ESFT_OK) {
            st = esft_tokenizer_from_gguf(g, &tok, &err);
            if (k == 0)
                CHECKF(st == ESFT_ERR_FORMAT && strstr(err.msg, "tokenizer.ggml.scores") != NULL, "%s", err.msg);
            else
                CHECKF(st == ESFT_ERR_UNSUPPORTED && strstr(err.msg, "bert") != NULL, "%s", err.msg);
            esft_gguf_close(g);
        } else {
            CHECKF(0, "%s", err.msg);
        }
        remove(path);
    }
}

/* ------------------------------------------- SentencePiece, by hand */

#define SP "\xe2\x96\x81" /* U+2581 */

/* A small SentencePiece vocabulary: <unk> <s> </s>, the 256 byte tokens
 * (ids 3..258), then normal tokens with their scores and one user-defined
 * token. Ids of the normal tokens: 259 + their index in SPM_WORDS. */
static const struct {
    const char *text;
    float score;
    int type;
} SPM_WORDS[] = {
    {SP, -2, 1},       {"a", -3, 1},   {"b", -3, 1},     {"c", -3, 1},     /* 259..262 */
    {"ab", -1, 1},     {"bc", -2, 1},  {"x", -3, 1},     {"y", -3, 1},     /* 263..266 */
    {"z", -3, 1},      {"xy", -5, 1},  {"yz", -4, 1},    {SP "a", -1.5f, 1}, /* 267..270 */
    {"aa", -1, 1},     {"h", -9, 1},   {"e", -9, 1},     {"l", -9, 1},     /* 271..274 */
    {"o", -9, 1},      {"he", -10, 1}, {"ll", -4, 1},    {"llo", -6, 1},   /* 275..278 */
    {"hello", -1, 1},  {SP "hello", -0.5f, 1},           {"<sep>", 0, 4},  /* 279..281 */
};
#define SPM_ID(i) (259 + (i))
#define SPM_BYTE(b) (3 + (b))

static esft_tokenizer *spm_tokenizer(bool add_space_prefix) {
    enum { N = 259 + sizeof SPM_WORDS / sizeof SPM_WORDS[0] };
    static char bytes[256][8];
    const char *text[N];
    float score[N];
    int32_t type[N];
    text[0] = "<unk>", text[1] = "<s>", text[2] = "</s>";
    type[0] = 2, type[1] = 3, type[2] = 3;
    score[0] = score[1] = score[2] = 0;
    for (int b = 0; b < 256; b++) {
        snprintf(bytes[b], sizeof bytes[b], "<0x%02X>", b);
        text[3 + b] = bytes[b], type[3 + b] = 6, score[3 + b] = 0;
    }
    for (size_t i = 0; i < sizeof SPM_WORDS / sizeof SPM_WORDS[0]; i++) {
        text[259 + i] = SPM_WORDS[i].text;
        score[259 + i] = SPM_WORDS[i].score;
        type[259 + i] = SPM_WORDS[i].type;
    }
    esft_err err;
    char path[1024];
    snprintf(path, sizeof path, "%s/test_tokenizer_spm.gguf", ESFT_TEST_BINARY_DIR);
    gguf_writer *w = esft_gguf_writer_new();
    bool ok = w && esft_gguf_writer_set_str(w, "tokenizer.ggml.model", "llama", &err) == ESFT_OK &&
              esft_gguf_writer_set_str_arr(w, "tokenizer.ggml.tokens", text, N, &err) == ESFT_OK &&
              esft_gguf_writer_set_f32_arr(w, "tokenizer.ggml.scores", score, N, &err) == ESFT_OK &&
              esft_gguf_writer_set_i32_arr(w, "tokenizer.ggml.token_type", type, N, &err) == ESFT_OK &&
              esft_gguf_writer_set_u32(w, "tokenizer.ggml.bos_token_id", 1, &err) == ESFT_OK &&
              esft_gguf_writer_set_u32(w, "tokenizer.ggml.eos_token_id", 2, &err) == ESFT_OK &&
              esft_gguf_writer_set_u32(w, "tokenizer.ggml.unknown_token_id", 0, &err) == ESFT_OK &&
              esft_gguf_writer_set_bool(w, "tokenizer.ggml.add_space_prefix", add_space_prefix, &err) == ESFT_OK &&
              esft_gguf_writer_write(w, path, &err) == ESFT_OK;
    esft_gguf_writer_free(w);
    gguf_file *g = NULL;
    esft_tokenizer *tok = NULL;
    ok = ok && esft_gguf_open(path, &g, &err) == ESFT_OK && esft_tokenizer_from_gguf(g, &tok, &err) == ESFT_OK;
    CHECKF(ok, "SentencePiece vocabulary: %s", err.msg);
    esft_gguf_close(g);
    remove(path);
    return tok;
}

/* Encodes `text` and compares with want[0..n) (ids; -1 ends the list). */
static void spm_case(const esft_tokenizer *tok, const char *label, const char *text, size_t len, bool special,
                     bool bos, const int32_t *want) {
    size_t n = 0;
    while (want[n] >= 0) n++;
    int32_t *got = NULL;
    size_t ng = 0;
    esft_err err;
    bool ok = esft_tokenize(tok, text, len, special, bos, &got, &ng, &err) == ESFT_OK && ng == n &&
              memcmp(got, want, n * sizeof *want) == 0;
    CHECKF(ok, "SentencePiece: %s", label);
    if (!ok) {
        print_ids("want", want, n);
        print_ids("got ", got, ng);
    }
    free(got);
}

static void check_spm(void) {
    esft_tokenizer *tok = spm_tokenizer(true), *raw = spm_tokenizer(false);
    if (!tok || !raw) {
        esft_tokenizer_free(tok);
        esft_tokenizer_free(raw);
        return;
    }
    CHECK(strcmp(esft_tokenizer_pre(tok), "spm") == 0);
    CHECK(esft_tokenizer_add_bos(tok)); /* SentencePiece's default */
    CHECK(esft_tokenizer_bos(tok) == 1 && esft_tokenizer_eos(tok) == 2);
    const esft_tokenizer *T = raw;
#define CASE(tk, text, special, bos, ...)                                                     \
    do {                                                                                       \
        const int32_t want_[] = {__VA_ARGS__, -1};                                             \
        spm_case(tk, #tk ": " #text, text, sizeof text - 1, special, bos, want_);              \
    } while (0)
    /* the best-scored pair merges first: ab (-1) before bc (-2) */
    CASE(T, "abc", true, false, SPM_ID(4), SPM_ID(3));
    /* yz (-4) before xy (-5) */
    CASE(T, "xyz", true, false, SPM_ID(6), SPM_ID(10));
    /* equal scores: the leftmost pair first */
    CASE(T, "aaa", true, false, SPM_ID(12), SPM_ID(1));
    /* a chain: ll, then llo, then he, then hello */
    CASE(T, "hello", true, false, SPM_ID(20));
    /* a space is U+2581; without add_space_prefix none is added */
    CASE(T, "a b", true, false, SPM_ID(1), SPM_ID(0), SPM_ID(2));
    CASE(T, " a", true, false, SPM_ID(11));
    /* with it, one before the text */
    CASE(tok, "a b", true, false, SPM_ID(11), SPM_ID(0), SPM_ID(2));
    CASE(tok, "hello", true, false, SPM_ID(21));
    /* and one after each special token; never inside a text */
    CASE(tok, "a</s>a", true, false, SPM_ID(11), 2, SPM_ID(11));
    CASE(tok, "a</s>a", false, false, SPM_ID(11), SPM_BYTE('<'), SPM_BYTE('/'), SPM_BYTE('s'), SPM_BYTE('>'),
         SPM_ID(1));
    /* user-defined tokens are cut out even without parse_special */
    CASE(tok, "a<sep>b", false, false, SPM_ID(11), SPM_ID(22), SPM_ID(0), SPM_ID(2));
    /* byte fallback for characters the vocabulary lacks */
    CASE(T, "\xc3\xa9", true, false, SPM_BYTE(0xc3), SPM_BYTE(0xa9));
    CASE(T, "a\xe2\x82\xac" "b", true, false, SPM_ID(1), SPM_BYTE(0xe2), SPM_BYTE(0x82), SPM_BYTE(0xac), SPM_ID(2));
    /* a lead byte takes its sequence's length whatever follows, as llama.cpp
     * splits: 0xe2 swallows "ab", which is then no token */
    CASE(T, "\xe2" "abc", true, false, SPM_BYTE(0xe2), SPM_BYTE('a'), SPM_BYTE('b'), SPM_ID(3));
    /* BOS on request only */
    CASE(tok, "a", true, true, 1, SPM_ID(11));
#undef CASE
    int32_t *ids = NULL;
    size_t n = 0;
    esft_err err;
    CHECK(esft_tokenize(tok, "", 0, true, true, &ids, &n, &err) == ESFT_OK && n == 1 && ids[0] == 1);
    free(ids);

    /* decoding: U+2581 is a space, <0xXX> its byte, special tokens their text */
    const int32_t dec[] = {SPM_ID(11), SPM_ID(0), SPM_ID(2), SPM_BYTE(0xc3), SPM_BYTE(0xa9), 2, SPM_ID(22)};
    char *text = NULL;
    size_t len = 0;
    CHECK(esft_detokenize(tok, dec, sizeof dec / sizeof dec[0], &text, &len, &err) == ESFT_OK);
    CHECKF(text && strcmp(text, " a b\xc3\xa9</s><sep>") == 0, "decoded '%s'", text ? text : "(null)");
    free(text);
    /* round trip of text the vocabulary covers partly */
    const char *rt = "hello a\xc3\xa9 b\tc\n\xf0\x9f\x98\x80" " abc";
    CHECK(esft_tokenize(raw, rt, strlen(rt), false, false, &ids, &n, &err) == ESFT_OK);
    CHECK(esft_detokenize(raw, ids, n, &text, &len, &err) == ESFT_OK);
    CHECKF(text && strcmp(text, rt) == 0, "round trip '%s'", text ? text : "(null)");
    free(ids);
    free(text);
    esft_tokenizer_free(tok);
    esft_tokenizer_free(raw);
}
#undef SP

int main(void) {
    g_model_dir = getenv("ESFT_MODEL_DIR");
    if (!g_model_dir || !*g_model_dir) g_model_dir = ESFT_TEST_DATA_DIR "/../models/cache";

    char path[1024];
    snprintf(path, sizeof path, "%s/data/tokenizer_corpus.txt", ESFT_TEST_DATA_DIR);
    size_t len;
    char *corpus = slurp(path, &len);
    if (!corpus) {
        fprintf(stderr, "cannot read %s\n", path);
        return 1;
    }
    char **lines;
    g_n_cases = split_lines(corpus, len, &lines);
    g_cases = malloc(g_n_cases * sizeof *g_cases);
    for (size_t i = 0; i < g_n_cases; i++) g_cases[i] = unescape(lines[i]);
    free(lines);
    CHECK(g_n_cases >= 220);

    gguf_file *smol = model("SmolLM2-135M-Instruct.Q4_1.gguf");
    if (!smol) {
        printf("SmolLM2-135M-Instruct.Q4_1.gguf absent in %s: skipped\n", g_model_dir);
        return TEST_SKIP_CODE;
    }
    run_fixtures();
    CHECKF(g_fixtures_run > 0, "no tokenizer fixtures in %s/fixtures", ESFT_TEST_DATA_DIR);
    check_behaviour(smol);
    check_spm();

    for (int i = 0; i < g_n_models; i++) esft_gguf_close(g_models[i].f);
    for (size_t i = 0; i < g_n_cases; i++) free(g_cases[i].s);
    free(g_cases);
    free(corpus);
    return TEST_EXIT();
}
