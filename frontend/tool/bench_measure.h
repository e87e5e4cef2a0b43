/* Timed measurements for `esft bench`: each returns numbers, prints
 * nothing, and fails with a status and a message. The tables of `bench
 * decode|matmul|ops` and the devices of `bench report` are made of these. */
#ifndef ESFT_BENCH_MEASURE_H
#define ESFT_BENCH_MEASURE_H

#include <stddef.h>

#include "generate.h"
#include "model.h"

/* Multiply-adds ×2 per token in the model's matmuls (LM head included). */
double bench_matmul_flops_per_token(const esft_model *m);

/* Where a generation's prefill ended: the first pass in which all `batch`
 * sequences gave a token; the passes after it only decode. Never set
 * (seconds_started 0) when early sequences finish before the last prompt is
 * fed (a batch of prompts over several passes and few new tokens). */
typedef struct bench_split {
    int batch;
    double seconds_started; /* since generate began */
    long tokens_started;    /* new tokens by then (at least batch) */
    long tokens_before;     /* new tokens before the last pass (bookkeeping) */
} bench_split;

/* One generate call over `batch` sequences of prompt_len random byte
 * tokens, max_new tokens each (end-of-generation ignored); with lr,
 * sequence i decodes as low-rank member request_member[i]; split (may be
 * NULL) gets where its prefill ended. */
esft_status bench_generate(esft_model *m, int batch, int prompt_len, int max_new, const struct esft_lowrank *lr,
                           const int32_t *request_member, esft_gen_stats *st, bench_split *split, esft_err *err);

/* Decode tokens/s of `batch` sequences of prompt_len random byte tokens,
 * n_new+1 tokens each: the new tokens after the prefill (bench_split) over
 * the seconds after it, in one generation, after nothing else (the caller
 * warms up). Timing the decode passes themselves, where the difference of a
 * prefill-only run and a full run let the noise of either (a busy machine)
 * into the rate. prefill_tok_s: prompt tokens/s up to the split (0, and
 * the rate over the whole generation, when there is none). */
esft_status bench_decode(esft_model *m, int batch, int prompt_len, int n_new, double *tok_s, double *prefill_tok_s,
                         esft_err *err);

/* Seconds per call of y = x·Wᵀ (x [T×K] f32, W [N×K] in the backend's work
 * dtype), repeated for min_seconds (or reps calls when reps > 0) after a
 * warm-up call. */
esft_status bench_matmul(esft_backend *be, int T, int N, int K, double min_seconds, int reps, double *seconds,
                         esft_err *err);

/* perturb (members == 0: f32 master → work copy) or es_update with
 * `members` seeds over n weights (adam: the fused Adam step es_optimize
 * instead), repeated for min_seconds: Gnormals/s and GB/s moved (perturb
 * reads 4 B and writes the work dtype per weight; es_update reads and
 * writes 4 B; Adam also m and v: 12 B each way). */
esft_status bench_noise(esft_backend *be, size_t n, int members, bool adam, double min_seconds,
                        double *gnormals_per_s, double *gbytes_per_s, double *ms_per_call, esft_err *err);

/* Device-to-device copy of `bytes`: GB/s of bytes read plus written. */
esft_status bench_copy(esft_backend *be, size_t bytes, double min_seconds, double *gbytes_per_s, esft_err *err);

#endif
