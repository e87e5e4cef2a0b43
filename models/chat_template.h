/* Chat templates: a conversation (system/user/assistant messages) as the
 * prompt text a chat model was trained on.
 *
 * A GGUF stores its template as Jinja source (tokenizer.chat_template). esft
 * does not run Jinja: it recognises the template's family from substrings
 * (esft_chat_detect) and formats with that family's built-in rules, which
 * reproduce the reference templates byte for byte (tests/test_chat_template.c
 * checks them against transformers' apply_chat_template). Families:
 *
 *   chatml   <|im_start|>ROLE\nCONTENT<|im_end|>\n per message, generation
 *            prompt <|im_start|>assistant\n (Qwen2/2.5/3, SmolLM2). A
 *            default system turn the template inserts when the conversation
 *            has none (SmolLM2, Qwen2, Qwen2.5) is taken from the template.
 *   llama3   BOS, then <|start_header_id|>ROLE<|end_header_id|>\n\n
 *            trim(CONTENT)<|eot_id|> per message (Llama 3 / 3.0 form).
 *   gemma    BOS, then <start_of_turn>ROLE\ntrim(CONTENT)<end_of_turn>\n,
 *            "assistant" spelled "model"; a system message is folded into
 *            the first user turn as SYSTEM\n\n (Gemma 3's rule, with the
 *            separator its template writes; Gemma 2's own template refuses
 *            system messages).
 *   mistral  BOS, [INST]USER[/INST] and ASSISTANT</s>; a system message
 *            goes before the last user message as SYSTEM\n\nUSER (the
 *            v3-tekken form of Mistral Nemo); no generation prompt.
 *   none     the contents as they are, concatenated (no template).
 *
 * trim is Python's str.strip() (Unicode whitespace), as Jinja's. Gemma and
 * Mistral need user/assistant turns to alternate, starting with user, after
 * an optional leading system message; other orders are refused as their
 * templates refuse them. */
#ifndef ESFT_CHAT_TEMPLATE_H
#define ESFT_CHAT_TEMPLATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backends/status.h"
#include "gguf.h"
#include "tokenizer.h"

typedef enum esft_chat_family {
    ESFT_CHAT_NONE = 0,
    ESFT_CHAT_CHATML,
    ESFT_CHAT_LLAMA3,
    ESFT_CHAT_GEMMA,
    ESFT_CHAT_MISTRAL,
} esft_chat_family;

#define ESFT_CHAT_TEXT_MAX 256

typedef struct esft_chat_template {
    esft_chat_family family;
    char bos[ESFT_CHAT_TEXT_MAX];            /* BOS text the template starts with */
    char eos[ESFT_CHAT_TEXT_MAX];            /* EOS text after assistant turns (mistral) */
    char default_system[ESFT_CHAT_TEXT_MAX * 4]; /* chatml: system turn used when none is given ("" none) */
    char system_separator[16];               /* gemma, mistral: between system text and user text */
} esft_chat_template;

typedef struct esft_chat_message {
    const char *role;    /* "system", "user" or "assistant" */
    const char *content; /* UTF-8, may be empty */
} esft_chat_message;

/* "chatml", "llama3", "gemma", "mistral", "none". */
const char *esft_chat_family_name(esft_chat_family f);
/* The family named `name`; false if none is. */
bool esft_chat_family_from_name(const char *name, esft_chat_family *out);
/* The names accepted by --template, "chatml|llama3|gemma|mistral|none". */
const char *esft_chat_family_names(void);

/* The family of Jinja template source `jinja`; false when unrecognised
 * (including Llama 3.1+ templates, whose date preamble esft does not
 * reproduce). */
bool esft_chat_detect(const char *jinja, esft_chat_family *out);

/* A template of `family` with the family's usual BOS/EOS texts and no
 * default system turn. */
void esft_chat_template_init(esft_chat_template *t, esft_chat_family family);

/* The template of a model: `override` (a family name, NULL: detect from
 * tokenizer.chat_template) with the BOS/EOS texts of the model's tokenizer.
 * Fails with ESFT_ERR_INVALID_ARG naming the fallback flag when the model
 * has no template or an unrecognised one, or when the tokenizer lacks a
 * special token the family needs (it would be split into plain text). */
esft_status esft_chat_template_from_gguf(const gguf_file *f, const esft_tokenizer *tok,
                                         const char *override, esft_chat_template *out,
                                         esft_err *err);

/* Formats msgs[0..n) (plus the assistant turn's opening when
 * add_generation_prompt) into *out (malloc'd, NUL-terminated). The text
 * contains the template's special tokens (and BOS) as text: tokenize it with
 * special tokens parsed and without adding another BOS. */
esft_status esft_chat_format(const esft_chat_template *t, const esft_chat_message *msgs, int n,
                             bool add_generation_prompt, char **out, esft_err *err);

/* Token ids of the formatted conversation (*ids malloc'd): special tokens
 * parsed, and BOS only where the template writes it, as transformers'
 * apply_chat_template(tokenize=True) does; family none adds the model's BOS
 * as for any plain text. */
esft_status esft_chat_tokenize(const esft_tokenizer *tok, const esft_chat_template *t,
                               const esft_chat_message *msgs, int n, bool add_generation_prompt,
                               int32_t **ids, size_t *n_ids, esft_err *err);

#endif
