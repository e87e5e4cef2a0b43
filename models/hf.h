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

esft_status esft_hf_open(const char *dir, esft_model_source *src, esft_err *err);
void esft_hf_files_free(esft_source_files *files);

#endif
