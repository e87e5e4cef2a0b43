/* Tokenizer built from GGUF metadata (tokenizer.ggml.*): byte-level BPE
 * (tokenizer.ggml.model "gpt2") or SentencePiece ("llama": merges by
 * tokenizer.ggml.scores, byte fallback; Gemma, Llama 2, Mistral), with the
 * ids llama.cpp gives.
 *
 * Byte-level BPE:
 * Encoding: special/control tokens found in the text are matched whole (when
 * parse_special), the rest is split by the pre-tokenizer regexes named by
 * tokenizer.ggml.pre (PCRE2, UTF-8, Unicode properties), each piece is mapped
 * to GPT-2's byte-to-unicode alphabet and merged by BPE rank. Token ids equal
 * llama.cpp's for the supported pre-tokenizers (gpt2, smollm, qwen2,
 * llama-bpe and others sharing their regexes). Decoding is exact bytes. */
#ifndef ESFT_TOKENIZER_H
#define ESFT_TOKENIZER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../backends/status.h"
#include "gguf.h"

typedef struct esft_tokenizer esft_tokenizer;

esft_status esft_tokenizer_from_gguf(const gguf_file *f, esft_tokenizer **out, esft_err *err);
/* As above, with the pre-tokenizer named by pre_override (a llama.cpp
 * tokenizer.ggml.pre name, e.g. "gpt-2", "qwen2", "llama-bpe") instead of
 * the file's; NULL uses the file's. A missing tokenizer.ggml.pre means
 * "default" (as in llama.cpp); an unknown name is ESFT_ERR_UNSUPPORTED, and
 * a tokenizer.ggml.model other than "gpt2" and "llama" too. SentencePiece
 * vocabularies ignore pre_override (esft_tokenizer_pre says "spm"). */
esft_status esft_tokenizer_from_gguf_ex(const gguf_file *f, const char *pre_override,
                                        esft_tokenizer **out, esft_err *err);
void esft_tokenizer_free(esft_tokenizer *tok);

/* Encodes len bytes of text. add_bos prepends BOS only when the model asks
 * for it (tokenizer.ggml.add_bos_token, default false for gpt2-style).
 * *ids is malloc'd (also when *n_ids is 0); the caller frees it.
 * As in llama.cpp: control/unknown tokens are matched only with
 * parse_special, user-defined ones (type 4) always; a byte whose GPT-2
 * character is not in the vocabulary is dropped (SmolLM2 lacks 21 such
 * bytes, e.g. 0x04, 0xff). Invalid UTF-8 is tokenized byte for byte and
 * decodes back to the same bytes (llama.cpp would substitute U+FFFD).
 * Safe to call from several threads on one tokenizer. */
esft_status esft_tokenize(const esft_tokenizer *tok, const char *text, size_t len,
                          bool parse_special, bool add_bos, int32_t **ids, size_t *n_ids,
                          esft_err *err);

/* The bytes token `id` stands for (byte-level decoded; special tokens give
 * their text). Returns the byte count, or -1 for an id out of range. Writes
 * at most cap bytes (no NUL). */
int esft_token_bytes(const esft_tokenizer *tok, int32_t id, char *buf, size_t cap);

/* Appends the decoding of ids[0..n) to a malloc'd, NUL-terminated string. */
esft_status esft_detokenize(const esft_tokenizer *tok, const int32_t *ids, size_t n, char **text,
                            size_t *len, esft_err *err);

int32_t esft_tokenizer_n_vocab(const esft_tokenizer *tok);
/* The longest token text in bytes: no token stands for more input bytes, so
 * a text of L bytes encodes to at least L / this many tokens (bytes the
 * vocabulary lacks are dropped and count for nothing). */
size_t esft_tokenizer_max_token_bytes(const esft_tokenizer *tok);
int32_t esft_tokenizer_bos(const esft_tokenizer *tok); /* -1 if none */
int32_t esft_tokenizer_eos(const esft_tokenizer *tok); /* -1 if none */
int32_t esft_tokenizer_eot(const esft_tokenizer *tok); /* -1 if none */
/* End of generation: EOS, EOT, or another token llama.cpp treats as end
 * (e.g. <|im_end|>, <|endoftext|>) */
bool esft_tokenizer_is_eog(const esft_tokenizer *tok, int32_t id);
/* Id of the token whose text is exactly `text`, or -1. */
int32_t esft_tokenizer_find(const esft_tokenizer *tok, const char *text);
const char *esft_tokenizer_pre(const esft_tokenizer *tok); /* pre-tokenizer name */
/* The regex set that name stands for: "gpt-2", "smollm", "qwen2",
 * "llama-bpe", "dbrx", "default" or "falcon" (aliases resolved); "spm" for
 * SentencePiece. */
const char *esft_tokenizer_pre_kind(const esft_tokenizer *tok);
/* Whether the model asks for a BOS token (tokenizer.ggml.add_bos_token, else
 * the pre-tokenizer family's llama.cpp default). */
bool esft_tokenizer_add_bos(const esft_tokenizer *tok);
/* GGUF token type of `id` (1 normal, 2 unknown, 3 control, 4 user-defined,
 * 5 unused, 6 byte; tokens llama.cpp detects as EOG/EOT/FIM by their text
 * count as control), or -1 for an id out of range. */
int esft_tokenizer_token_type(const esft_tokenizer *tok, int32_t id);

#endif
