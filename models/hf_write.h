/* Writes a model source (a GGUF file, a Hugging Face directory, a trained
 * final.gguf) as a Hugging Face model directory that transformers, vLLM and
 * esft itself load:
 *
 *   config.json             architecture and sizes (LlamaForCausalLM /
 *                           Qwen2ForCausalLM), bos/eos ids, tie_word_embeddings
 *   model.safetensors       every tensor under its Hugging Face name, in
 *                           BF16 (default) or F32; llama q/k rows put back in
 *                           Hugging Face's rotary order
 *   tokenizer.json          byte-level BPE: vocabulary, merges, added tokens
 *                           (control and user-defined), the pre-tokenizer that
 *                           matches the model's tokenizer.ggml.pre, and BOS
 *                           added by the post-processor when the model asks
 *   tokenizer_config.json   special tokens, add_bos_token, chat template
 *   generation_config.json  bos id and every end-of-generation id esft stops at
 *
 * Only what esft runs is written: llama and qwen2 with the pre-tokenizers
 * the reader (hf.h) recognises (gpt-2, smollm, qwen2, llama-bpe and their
 * aliases); anything else is refused with one line naming it. The files go
 * into "<dir>.tmp.<pid>", are each synced, and the directory is renamed into
 * place at the end, so a reader never sees a half-written model. An
 * existing non-empty dir is refused unless force, which replaces it. */
#ifndef ESFT_HF_WRITE_H
#define ESFT_HF_WRITE_H

#include <stdbool.h>

#include "safetensors.h"
#include "source.h"

/* dtype: ESFT_ST_BF16, ESFT_ST_F16 or ESFT_ST_F32 for the matrices and
 * vectors alike (Hugging Face models keep one dtype). */
esft_status esft_hf_write(const esft_model_source *src, const char *dir, esft_st_dtype dtype, bool force,
                          esft_err *err);

#endif
