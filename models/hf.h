/* A Hugging Face model directory as a model source (source.h):
 *
 *   config.json            -> GGUF hyper-parameter keys (<arch>.block_count, ...)
 *   tokenizer.json         -> tokenizer.ggml.* (vocabulary, types, merges, and
 *   tokenizer_config.json     the pre-tokenizer recognised from its pipeline),
 *                             special token ids, add_bos, chat template
 *   model.safetensors, or model.safetensors.index.json + its shards
 *                          -> tensors renamed to GGUF names; llama q/k rows
 *                             interleaved and Gemma norms stored as 1 + w, as
 *                             llama.cpp's converter does; Llama 3 rope scaling
 *                             as its rope_freqs.weight
 *
 * The metadata is written as an in-memory GGUF, so the model, its tokenizer
 * and checkpoints read it exactly like a file's. Architectures: llama,
 * qwen2, qwen3, gemma3_text; tensors f32, f16, bf16 (memory-mapped; converted
 * when read). Any setting esft would silently get wrong (other rope scalings,
 * soft-capping, sliding windows outside Gemma 3, a
 * normaliser or pre-tokenizer it does not know, byte fallback) is refused
 * with one line naming the file and key. */
#ifndef ESFT_HF_H
#define ESFT_HF_H

#include "source.h"

/* Hugging Face's split regexes of the Qwen2 (NUM "\\p{N}") and Llama 3
 * (NUM "\\p{N}{1,3}") tokenizers, as tokenizer.json spells them: what the
 * reader recognises and the writer (hf_write.h) writes. */
#define ESFT_HF_SPLIT(NUM)                                                                    \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|" NUM                            \
    "| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"

esft_status esft_hf_open(const char *dir, esft_model_source *src, esft_err *err);
void esft_hf_files_free(esft_source_files *files);
/* The Hugging Face name of a GGUF tensor name ("blk.3.attn_q.weight" ->
 * "model.layers.3.self_attn.q_proj.weight") into out; false when the name
 * has none esft knows or does not fit. */
bool esft_hf_tensor_name(const char *gguf, char *out, size_t cap);

#endif
