/* Chat template families: detection from Jinja source by substrings, and
 * formatting by each family's rules (see chat_template.h). */
#include "chat_template.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------- names */

static const char *const FAMILY_NAMES[] = {
    [ESFT_CHAT_NONE] = "none",       [ESFT_CHAT_CHATML] = "chatml", [ESFT_CHAT_LLAMA3] = "llama3",
    [ESFT_CHAT_GEMMA] = "gemma",     [ESFT_CHAT_MISTRAL] = "mistral",
};
#define N_FAMILIES ((int)(sizeof FAMILY_NAMES / sizeof FAMILY_NAMES[0]))

const char *esft_chat_family_name(esft_chat_family f) {
    return (int)f >= 0 && (int)f < N_FAMILIES ? FAMILY_NAMES[f] : "unknown";
}

bool esft_chat_family_from_name(const char *name, esft_chat_family *out) {
    for (int i = 0; name && i < N_FAMILIES; i++)
        if (strcmp(name, FAMILY_NAMES[i]) == 0) {
            *out = (esft_chat_family)i;
            return true;
        }
    return false;
}

const char *esft_chat_family_names(void) { return "chatml|llama3|gemma|mistral|none"; }

/* ------------------------------------------------------------- detection */

/* Rules, first match wins. Each family's turn markers are special tokens
 * that no other family's template writes, so their presence decides:
 *   <|im_start|>                                  chatml
 *   <|start_header_id|> and <|eot_id|>            llama3, unless the
 *       template writes Llama 3.1's "Cutting Knowledge Date" preamble
 *       (3.1/3.2/3.3: not reproduced, so refused)
 *   <start_of_turn>                               gemma
 *   [INST] and [/INST] with no space after [INST] mistral (v3-tekken);
 *       "[INST] " (v1/v3 spacing), [SYSTEM_PROMPT] (v7) and <<SYS>>
 *       (Llama 2 style) are other layouts, refused. */
bool esft_chat_detect(const char *jinja, esft_chat_family *out) {
    if (!jinja) return false;
    if (strstr(jinja, "<|im_start|>")) {
        *out = ESFT_CHAT_CHATML;
        return true;
    }
    if (strstr(jinja, "<|start_header_id|>") && strstr(jinja, "<|eot_id|>")) {
        if (strstr(jinja, "Cutting Knowledge Date")) return false;
        *out = ESFT_CHAT_LLAMA3;
        return true;
    }
    if (strstr(jinja, "<start_of_turn>")) {
        *out = ESFT_CHAT_GEMMA;
        return true;
    }
    if (strstr(jinja, "[INST]") && strstr(jinja, "[/INST]") && !strstr(jinja, "[INST] ") &&
        !strstr(jinja, "[SYSTEM_PROMPT]") && !strstr(jinja, "<<SYS>>")) {
        *out = ESFT_CHAT_MISTRAL;
        return true;
    }
    return false;
}

/* Copies the Jinja string literal text s..end into out, decoding the
 * escapes \n \t \' \" \\. */
static void decode_literal(const char *s, const char *end, char *out, size_t cap) {
    size_t n = 0;
    for (const char *q = s; q < end && n + 1 < cap; q++) {
        if (q[0] == '\\' && q + 1 < end) {
            q++;
            out[n++] = *q == 'n' ? '\n' : *q == 't' ? '\t' : *q;
        } else {
            out[n++] = *q;
        }
    }
    out[n] = '\0';
}

/* The system text a ChatML template writes when the conversation has none:
 * the first "<|im_start|>system\n...<|im_end|>" whose middle is plain
 * literal text (no quote, brace or '+', so not an expression such as
 * messages[0]['content']). The "\n" after "system" may be an escape or a
 * real newline. */
static void chatml_default_system(const char *jinja, char *out, size_t cap) {
    out[0] = '\0';
    static const char head[] = "<|im_start|>system";
    for (const char *p = jinja ? strstr(jinja, head) : NULL; p; p = strstr(p + 1, head)) {
        const char *s = p + sizeof head - 1;
        if (s[0] == '\\' && s[1] == 'n') s += 2;
        else if (s[0] == '\n') s += 1;
        else continue;
        const char *end = strstr(s, "<|im_end|>");
        if (!end || end == s || strcspn(s, "'\"{}+") < (size_t)(end - s)) continue;
        decode_literal(s, end, out, cap);
        return;
    }
}

/* What a Gemma template puts between the system text and the first user
 * turn: the string literal in "first_user_prefix = messages[0]['content'] +
 * '...'" (Gemma 3 writes "\n\n", some conversions "\n"); "\n\n" when the
 * template has none (Gemma 2, which refuses system messages). */
static void gemma_system_separator(const char *jinja, char *out, size_t cap) {
    snprintf(out, cap, "\n\n");
    static const char head[] = "first_user_prefix = messages[0]['content'] + ";
    const char *p = jinja ? strstr(jinja, head) : NULL;
    if (!p) return;
    const char quote = p[sizeof head - 1], *s = p + sizeof head;
    if (quote != '\'' && quote != '"') return;
    const char *end = s;
    while (*end && *end != quote) end += end[0] == '\\' && end[1] ? 2 : 1;
    if (*end == quote) decode_literal(s, end, out, cap);
}

/* ------------------------------------------------------------- template */

void esft_chat_template_init(esft_chat_template *t, esft_chat_family family) {
    memset(t, 0, sizeof *t);
    t->family = family;
    const char *bos = family == ESFT_CHAT_LLAMA3 ? "<|begin_of_text|>"
                      : family == ESFT_CHAT_GEMMA ? "<bos>"
                      : family == ESFT_CHAT_MISTRAL ? "<s>"
                                                    : "";
    snprintf(t->bos, sizeof t->bos, "%s", bos);
    snprintf(t->eos, sizeof t->eos, "%s", family == ESFT_CHAT_MISTRAL ? "</s>" : "");
    snprintf(t->system_separator, sizeof t->system_separator, "\n\n");
}

/* Special tokens a family's text relies on (NULL-terminated): without them
 * the markers would be tokenized as plain text. */
static const char *const *family_markers(esft_chat_family f) {
    static const char *const chatml[] = {"<|im_start|>", "<|im_end|>", NULL};
    static const char *const llama3[] = {"<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>", NULL};
    static const char *const gemma[] = {"<start_of_turn>", "<end_of_turn>", NULL};
    static const char *const none[] = {NULL};
    switch (f) {
    case ESFT_CHAT_CHATML: return chatml;
    case ESFT_CHAT_LLAMA3: return llama3;
    case ESFT_CHAT_GEMMA: return gemma;
    default: return none; /* mistral's [INST] is plain text in older vocabularies */
    }
}

static bool is_special(const esft_tokenizer *tok, int32_t id) {
    const int type = esft_tokenizer_token_type(tok, id);
    return type == 2 || type == 3 || type == 4; /* unknown, control, user-defined */
}

/* The text of special token `id` into buf; false if there is none. */
static bool special_text(const esft_tokenizer *tok, int32_t id, char *buf, size_t cap) {
    if (id < 0) return false;
    const int n = esft_token_bytes(tok, id, buf, cap - 1);
    if (n <= 0 || (size_t)n >= cap) return false;
    buf[n] = '\0';
    return true;
}

esft_status esft_chat_template_from_gguf(const gguf_file *f, const esft_tokenizer *tok,
                                         const char *override, esft_chat_template *out,
                                         esft_err *err) {
    esft_chat_family family;
    const char *jinja = esft_gguf_get_str(f, "tokenizer.chat_template");
    if (override) {
        if (!esft_chat_family_from_name(override, &family))
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "--template %s: unknown template (use %s)",
                             override, esft_chat_family_names());
    } else if (!jinja) {
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "the model has no chat template (tokenizer.chat_template); name one with --template %s",
                         esft_chat_family_names());
    } else if (!esft_chat_detect(jinja, &family)) {
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "the model's chat template (tokenizer.chat_template) is not one esft knows; "
                         "name one with --template %s",
                         esft_chat_family_names());
    }
    esft_chat_template_init(out, family);
    if (family == ESFT_CHAT_NONE) return ESFT_OK;
    for (const char *const *m = family_markers(family); *m; m++) {
        const int32_t id = esft_tokenizer_find(tok, *m);
        if (id < 0 || !is_special(tok, id))
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "chat template %s: the tokenizer has no special token %s (try another --template)",
                             esft_chat_family_name(family), *m);
    }
    /* the tokenizer's BOS/EOS, as transformers' bos_token/eos_token; none
     * when it has none (the family's usual text would be plain text) */
    if (!special_text(tok, esft_tokenizer_bos(tok), out->bos, sizeof out->bos)) out->bos[0] = '\0';
    if (!special_text(tok, esft_tokenizer_eos(tok), out->eos, sizeof out->eos)) out->eos[0] = '\0';
    /* a family forced by --template takes the default system turn of the
     * model's own template only when that template is ChatML too */
    esft_chat_family own;
    if (family == ESFT_CHAT_CHATML && esft_chat_detect(jinja, &own) && own == ESFT_CHAT_CHATML)
        chatml_default_system(jinja, out->default_system, sizeof out->default_system);
    if (family == ESFT_CHAT_GEMMA && esft_chat_detect(jinja, &own) && own == ESFT_CHAT_GEMMA)
        gemma_system_separator(jinja, out->system_separator, sizeof out->system_separator);
    return ESFT_OK;
}

/* ------------------------------------------------------------- formatting */

typedef struct sbuf {
    char *s;
    size_t len, cap;
    bool oom;
} sbuf;

static void put(sbuf *b, const char *s, size_t n) {
    if (b->oom) return;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *t = realloc(b->s, cap);
        if (!t) {
            b->oom = true;
            return;
        }
        b->s = t;
        b->cap = cap;
    }
    memcpy(b->s + b->len, s, n);
    b->len += n;
    b->s[b->len] = '\0';
}

static void puts_all(sbuf *b, int n, ...) {
    va_list ap;
    va_start(ap, n);
    for (int i = 0; i < n; i++) {
        const char *s = va_arg(ap, const char *);
        put(b, s, strlen(s));
    }
    va_end(ap);
}

/* Length in bytes of the UTF-8 character at s (1 for a stray byte) and its
 * code point in *cp. */
static size_t utf8_char(const unsigned char *s, size_t avail, uint32_t *cp) {
    const int n = s[0] < 0x80 ? 1 : (s[0] >> 5) == 6 ? 2 : (s[0] >> 4) == 14 ? 3 : (s[0] >> 3) == 30 ? 4 : 0;
    if (n == 0 || (size_t)n > avail) {
        *cp = 0xFFFD;
        return 1;
    }
    uint32_t c = n == 1 ? s[0] : (uint32_t)(s[0] & (0x7F >> n));
    for (int i = 1; i < n; i++) {
        if ((s[i] & 0xC0) != 0x80) {
            *cp = 0xFFFD;
            return 1;
        }
        c = (c << 6) | (s[i] & 0x3F);
    }
    *cp = c;
    return (size_t)n;
}

/* Python's str.isspace(), which Jinja's trim (str.strip) uses. */
static bool py_space(uint32_t c) {
    return (c >= 0x09 && c <= 0x0D) || (c >= 0x1C && c <= 0x20) || c == 0x85 || c == 0xA0 ||
           c == 0x1680 || (c >= 0x2000 && c <= 0x200A) || c == 0x2028 || c == 0x2029 ||
           c == 0x202F || c == 0x205F || c == 0x3000;
}

/* Appends s with leading and trailing Python whitespace removed. */
static void put_trimmed(sbuf *b, const char *s) {
    const unsigned char *u = (const unsigned char *)s;
    size_t n = strlen(s), start = 0, end = 0;
    bool seen = false;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        const size_t k = utf8_char(u + i, n - i, &cp);
        if (!py_space(cp)) {
            if (!seen) start = i;
            seen = true;
            end = i + k;
        }
        i += k;
    }
    if (seen) put(b, s + start, end - start);
}

static esft_status check_roles(const esft_chat_message *msgs, int n, esft_err *err) {
    for (int i = 0; i < n; i++) {
        const char *r = msgs[i].role;
        if (!r || !msgs[i].content)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "message %d: missing role or content", i + 1);
        if (strcmp(r, "system") && strcmp(r, "user") && strcmp(r, "assistant"))
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "message %d: role '%s' is not system, user or assistant", i + 1, r);
    }
    return ESFT_OK;
}

/* Gemma and Mistral: after an optional leading system message, user and
 * assistant alternate starting with user. */
static esft_status check_alternating(const esft_chat_template *t, const esft_chat_message *msgs, int n,
                                     esft_err *err) {
    const int first = n > 0 && strcmp(msgs[0].role, "system") == 0;
    for (int i = first; i < n; i++) {
        const char *want = (i - first) % 2 == 0 ? "user" : "assistant";
        if (strcmp(msgs[i].role, want) != 0)
            return esft_errf(err, ESFT_ERR_INVALID_ARG,
                             "message %d: role '%s' where the %s template needs '%s' (after an "
                             "optional system message, user and assistant alternate)",
                             i + 1, msgs[i].role, esft_chat_family_name(t->family), want);
    }
    return ESFT_OK;
}

static void format_chatml(const esft_chat_template *t, const esft_chat_message *m, int n, bool gen, sbuf *b) {
    if (n > 0 && t->default_system[0] && strcmp(m[0].role, "system") != 0)
        puts_all(b, 3, "<|im_start|>system\n", t->default_system, "<|im_end|>\n");
    for (int i = 0; i < n; i++) puts_all(b, 5, "<|im_start|>", m[i].role, "\n", m[i].content, "<|im_end|>\n");
    if (gen) puts_all(b, 1, "<|im_start|>assistant\n");
}

static void format_llama3(const esft_chat_template *t, const esft_chat_message *m, int n, bool gen, sbuf *b) {
    if (n > 0) puts_all(b, 1, t->bos);
    for (int i = 0; i < n; i++) {
        puts_all(b, 3, "<|start_header_id|>", m[i].role, "<|end_header_id|>\n\n");
        put_trimmed(b, m[i].content);
        puts_all(b, 1, "<|eot_id|>");
    }
    if (gen) puts_all(b, 1, "<|start_header_id|>assistant<|end_header_id|>\n\n");
}

static void format_gemma(const esft_chat_template *t, const esft_chat_message *m, int n, bool gen, sbuf *b) {
    puts_all(b, 1, t->bos);
    const int first = n > 0 && strcmp(m[0].role, "system") == 0;
    for (int i = first; i < n; i++) {
        const bool user = strcmp(m[i].role, "user") == 0;
        puts_all(b, 3, "<start_of_turn>", user ? "user" : "model", "\n");
        if (first && i == first) puts_all(b, 2, m[0].content, t->system_separator);
        put_trimmed(b, m[i].content);
        puts_all(b, 1, "<end_of_turn>\n");
    }
    if (gen) puts_all(b, 1, "<start_of_turn>model\n");
}

static void format_mistral(const esft_chat_template *t, const esft_chat_message *m, int n, sbuf *b) {
    puts_all(b, 1, t->bos);
    const int first = n > 0 && strcmp(m[0].role, "system") == 0;
    for (int i = first; i < n; i++) {
        if (strcmp(m[i].role, "assistant") == 0)
            puts_all(b, 2, m[i].content, t->eos);
        else if (first && i == n - 1)
            puts_all(b, 5, "[INST]", m[0].content, t->system_separator, m[i].content, "[/INST]");
        else
            puts_all(b, 3, "[INST]", m[i].content, "[/INST]");
    }
}

esft_status esft_chat_format(const esft_chat_template *t, const esft_chat_message *msgs, int n,
                             bool add_generation_prompt, char **out, esft_err *err) {
    *out = NULL;
    esft_status st = check_roles(msgs, n, err);
    if (!st && (t->family == ESFT_CHAT_GEMMA || t->family == ESFT_CHAT_MISTRAL))
        st = check_alternating(t, msgs, n, err);
    if (st) return st;
    sbuf b = {0};
    put(&b, "", 0);
    switch (t->family) {
    case ESFT_CHAT_NONE:
        for (int i = 0; i < n; i++) puts_all(&b, 1, msgs[i].content);
        break;
    case ESFT_CHAT_CHATML: format_chatml(t, msgs, n, add_generation_prompt, &b); break;
    case ESFT_CHAT_LLAMA3: format_llama3(t, msgs, n, add_generation_prompt, &b); break;
    case ESFT_CHAT_GEMMA: format_gemma(t, msgs, n, add_generation_prompt, &b); break;
    case ESFT_CHAT_MISTRAL: format_mistral(t, msgs, n, &b); break;
    }
    if (b.oom) {
        free(b.s);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory formatting a chat");
    }
    *out = b.s;
    return ESFT_OK;
}

esft_status esft_chat_tokenize(const esft_tokenizer *tok, const esft_chat_template *t,
                               const esft_chat_message *msgs, int n, bool add_generation_prompt,
                               int32_t **ids, size_t *n_ids, esft_err *err) {
    *ids = NULL;
    *n_ids = 0;
    char *text;
    esft_status st = esft_chat_format(t, msgs, n, add_generation_prompt, &text, err);
    if (st) return st;
    st = esft_tokenize(tok, text, strlen(text), true, t->family == ESFT_CHAT_NONE, ids, n_ids, err);
    free(text);
    return st;
}
