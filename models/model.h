/* Llama-family transformer (llama incl. Llama 3 rope scaling, qwen2, qwen3,
 * gemma3) written once against the backend
 * interface: loading from a GGUF file or a Hugging Face directory (source.h),
 * f32 master weights, working copies for the
 * forward pass, and the packed-batch forward itself. */
#ifndef ESFT_MODEL_H
#define ESFT_MODEL_H

#include <stdbool.h>
#include <stdint.h>

#include "../backends/backend.h"
#include "gguf.h"
#include "tokenizer.h"

typedef enum esft_arch {
    ESFT_ARCH_LLAMA = 0,
    ESFT_ARCH_QWEN2,
    ESFT_ARCH_QWEN3,
    ESFT_ARCH_GEMMA3,
} esft_arch;

typedef struct esft_hparams {
    esft_arch arch;
    int n_vocab;
    int n_embd;      /* D */
    int n_layer;
    int n_head;      /* H */
    int n_head_kv;   /* KVH; H % KVH == 0 */
    int head_dim;    /* hd */
    int n_ff;        /* FF */
    int n_ctx_train;
    float rms_eps;
    float rope_base;
    esft_rope_style rope_style;
    bool tied_output; /* LM head is token_embd */
    /* what differs between the architectures, as switches of one forward */
    bool qkv_bias;       /* q/k/v projections have biases (qwen2) */
    bool qk_norm;        /* per-head RMSNorm of q and k before rope (qwen3, gemma3) */
    bool post_norms;     /* RMSNorm of each block's output before the residual add (gemma3) */
    bool gelu_ffn;       /* GeGLU with tanh GELU instead of SwiGLU (gemma3) */
    float embd_scale;    /* token embeddings are multiplied by it (gemma3: sqrt(D)); 1 otherwise */
    float attn_scale;    /* attention score scale: 1/sqrt(head_dim) unless the model sets it */
    int sliding_window;  /* > 0: sliding layers attend to this many positions (incl. their own) */
    int swa_period;      /* with sliding_window: layer l is global iff (l + 1) % swa_period == 0 */
    float rope_base_swa; /* rope base of the sliding layers */
} esft_hparams;

/* Whether layer l attends over a sliding window (else the whole past). */
bool esft_layer_slides(const esft_hparams *hp, int l);

/* One tensor of the model. `master` holds the f32 weights that ES trains;
 * `work` is what the forward pass reads: matrices in the backend's compute
 * dtype, vectors (norms, biases) in f32. When the model is loaded for
 * inference only and the dtypes agree, work shares master's memory. */
typedef struct esft_param {
    char name[96];
    uint32_t id;           /* FNV-1a of name: the noise stream of this tensor */
    uint32_t n_dims;
    uint64_t ne[4];        /* GGUF order: ne[0] is the row length */
    size_t n;              /* elements */
    ggml_type file_type;   /* type in the source GGUF */
    esft_buf master;       /* [n] f32 */
    esft_buf work;         /* [n] compute dtype or f32 */
    bool work_is_master;
} esft_param;

typedef struct esft_layer {
    esft_param *attn_norm;            /* [D] */
    esft_param *wq, *wk, *wv;         /* [H*hd x D], [KVH*hd x D], [KVH*hd x D] */
    esft_param *bq, *bk, *bv;         /* qwen2 biases or NULL */
    esft_param *q_norm, *k_norm;      /* [hd] per-head norms (qk_norm) or NULL */
    esft_param *wo;                   /* [D x H*hd] */
    esft_param *post_attn_norm;       /* [D] (post_norms) or NULL */
    esft_param *ffn_norm;             /* [D] */
    esft_param *w_gate, *w_up;        /* [FF x D] */
    esft_param *w_down;               /* [D x FF] */
    esft_param *post_ffn_norm;        /* [D] (post_norms) or NULL */
} esft_layer;

typedef struct esft_model {
    esft_hparams hp;
    esft_backend *be;
    gguf_file *gguf;          /* metadata (a Hugging Face directory's as GGUF keys, no tensors) */
    esft_tokenizer *tok;
    int n_params;
    esft_param *params;       /* every tensor, in file order */
    esft_param *tok_embd;     /* [V x D] */
    esft_param *output_norm;  /* [D] */
    esft_param *output;       /* [V x D]; == tok_embd when tied */
    esft_param *rope_freqs;   /* [hd/2] frequency divisors (Llama 3 rope scaling) or NULL */
    esft_layer *layers;       /* [n_layer] */
} esft_model;

typedef struct esft_model_options {
    bool trainable; /* keep master and work apart (needed to perturb) */
} esft_model_options;

/* What esft_model_load would allocate for the model at path, from its
 * tensor list alone (nothing is read): the f32 master and the working copy
 * (0 when it is the master: not trainable, f32 work type). */
esft_status esft_model_plan_weights(const char *path, esft_dtype work_dtype, bool trainable, uint64_t *master_bytes,
                                    uint64_t *work_bytes, esft_err *err);

/* path: a GGUF file, or a Hugging Face model directory (hf.h). */
esft_status esft_model_load(const char *path, esft_backend *be, const esft_model_options *opts,
                            esft_model **out, esft_err *err);
void esft_model_free(esft_model *m);

const char *esft_arch_name(esft_arch arch);
/* The hyper-parameters of a model's metadata, checked as the loader checks
 * them (n_vocab is left 0: the loader takes it from the tokenizer). */
esft_status esft_hparams_read(const gguf_file *f, esft_hparams *hp, esft_err *err);
/* Total f32 parameters. */
size_t esft_model_n_elements(const esft_model *m);

/* Scratch and KV cache for forward passes: allocated once per generate call
 * for at most max_tokens tokens per pass, n_slots sequences of max_ctx. */
struct esft_lowrank; /* lowrank.h */

typedef struct esft_forward_ctx {
    const esft_model *m;
    int max_tokens, n_slots, max_ctx;
    int max_rows;             /* logits rows per pass */
    esft_buf x, h;            /* [T x D] residual stream, normed input */
    esft_buf q, att;          /* [T x H*hd] */
    esft_buf k, v;            /* [T x KVH*hd] */
    esft_buf gate, up;        /* [T x FF] */
    esft_buf tokens, seq, pos;/* [T] i32 */
    esft_buf rows;            /* [T] i32: tokens whose logits are wanted */
    esft_buf sel;             /* [R x D] selected rows */
    esft_buf logits;          /* [R x V] */
    esft_buf argmax;          /* [R] i32 */
    esft_buf *kcache, *vcache;/* [n_layer] each [n_slots x max_ctx x KVH*hd] */
    /* low-rank members (lowrank.h; NULL: none): slot_member[s] is the
     * member whose tokens KV slot s holds (host, [n_slots]) */
    const struct esft_lowrank *lr;
    const int32_t *slot_member;
    esft_buf lr_member, lr_scale;         /* [T] factor set and scale of each token */
    esft_buf lr_row_member, lr_row_scale; /* [max_rows] the same for logits rows */
} esft_forward_ctx;

/* What a forward context of these sizes allocates (esft_forward_ctx_init),
 * in bytes: the K and V caches of every layer, and the activations. */
void esft_forward_ctx_bytes(const esft_hparams *hp, int max_tokens, int max_rows, int n_slots, int max_ctx,
                            uint64_t *kv_bytes, uint64_t *scratch_bytes);

/* max_rows: logits rows per pass (0: min(max_tokens, n_slots), enough for
 * generation, where each slot needs at most one row per pass). */
esft_status esft_forward_ctx_init(esft_forward_ctx *fc, const esft_model *m, int max_tokens,
                                  int max_rows, int n_slots, int max_ctx, esft_err *err);
void esft_forward_ctx_free(esft_forward_ctx *fc);
/* Copies the keys and values of positions [0, n_pos) of slot src into slot
 * dst, every layer (a prompt prefix computed once, shared by other slots). */
esft_status esft_forward_ctx_copy_kv(esft_forward_ctx *fc, int dst, int src, int n_pos, esft_err *err);
/* Makes every later forward pass add the per-member corrections of lr
 * (whose factors must stay filled), token by token as slot_member says. */
esft_status esft_forward_ctx_set_lowrank(esft_forward_ctx *fc, const struct esft_lowrank *lr,
                                         const int32_t *slot_member, esft_err *err);

/* One forward pass over a packed batch of n tokens. Token i is tokens[i] at
 * position pos[i] of KV slot seq[i]. Logits are computed only for the tokens
 * listed in rows[0..n_rows) and left in fc->logits ([n_rows x V], on the
 * device). */
esft_status esft_forward(esft_forward_ctx *fc, const int32_t *tokens, const int32_t *seq,
                         const int32_t *pos, int n, const int32_t *rows, int n_rows,
                         esft_err *err);

#endif
