/* Continuous-batching generation over a fixed set of KV slots. */
#include "generate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "esft_hash.h"

double esft_now_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

const char *esft_finish_name(esft_finish f) {
    switch (f) {
    case ESFT_FINISH_LENGTH: return "length";
    case ESFT_FINISH_EOG: return "eog";
    case ESFT_FINISH_STOP: return "stop";
    }
    return "unknown";
}

/* ---- sampling ---- */

typedef struct scored {
    float p;
    int32_t id;
} scored;

static int by_prob_desc(const void *a, const void *b) {
    const scored *x = a, *y = b;
    if (x->p != y->p) return x->p < y->p ? 1 : -1;
    return x->id < y->id ? -1 : (x->id > y->id);
}

int32_t esft_sample(float *logits, int n_vocab, const esft_sampling *s, uint64_t *rng_state,
                    void *scratch) {
    int32_t best = 0;
    for (int i = 1; i < n_vocab; i++)
        if (logits[i] > logits[best]) best = i;
    if (!(s->temperature > 0.0f)) return best;
    scored *c = scratch;
    const float inv_t = 1.0f / s->temperature, top = logits[best];
    for (int i = 0; i < n_vocab; i++) c[i] = (scored){expf((logits[i] - top) * inv_t), i};
    int n = n_vocab;
    qsort(c, (size_t)n, sizeof *c, by_prob_desc);
    if (s->top_k > 0 && s->top_k < n) n = s->top_k;
    double total = 0;
    for (int i = 0; i < n; i++) total += c[i].p;
    if (s->top_p > 0.0f && s->top_p < 1.0f) {
        double cum = 0;
        for (int i = 0; i < n; i++) {
            cum += c[i].p;
            if (cum >= s->top_p * total) {
                n = i + 1;
                total = cum;
                break;
            }
        }
    }
    double u = (double)(esft_splitmix64_next(rng_state) >> 11) * 0x1.0p-53 * total;
    double cum = 0;
    for (int i = 0; i < n; i++) {
        cum += c[i].p;
        if (u < cum) return c[i].id;
    }
    return c[n - 1].id;
}

/* ---- generation ---- */

typedef struct slot {
    int req;         /* request index, -1 when free */
    int fed;         /* tokens of this sequence already in the KV cache */
    int pending;     /* sampled token not yet fed, -1 if none */
    uint64_t rng;
} slot;

static esft_status append_token(esft_gen_result *r, int32_t id, int cap) {
    if (!r->tokens) {
        r->tokens = malloc((size_t)cap * sizeof *r->tokens);
        if (!r->tokens) return ESFT_ERR_OUT_OF_MEMORY;
    }
    r->tokens[r->n_tokens++] = id;
    return ESFT_OK;
}

static esft_status append_text(esft_gen_result *r, const char *bytes, size_t n, size_t *cap) {
    if (r->text_len + n + 1 > *cap) {
        size_t nc = (*cap ? *cap * 2 : 256);
        while (nc < r->text_len + n + 1) nc *= 2;
        char *t = realloc(r->text, nc);
        if (!t) return ESFT_ERR_OUT_OF_MEMORY;
        r->text = t;
        *cap = nc;
    }
    memcpy(r->text + r->text_len, bytes, n);
    r->text_len += n;
    r->text[r->text_len] = '\0';
    return ESFT_OK;
}

/* Looks for a stop string that ends within the last `added` bytes. */
static bool cut_at_stop(esft_gen_result *r, size_t added, const esft_gen_params *p) {
    for (int s = 0; s < p->n_stop; s++) {
        size_t sl = strlen(p->stop[s]);
        if (sl == 0 || sl > r->text_len) continue;
        size_t from = r->text_len >= added + sl ? r->text_len - added - sl + 1 : 0;
        for (size_t i = from; i + sl <= r->text_len; i++) {
            if (memcmp(r->text + i, p->stop[s], sl) == 0) {
                r->text_len = i;
                r->text[i] = '\0';
                return true;
            }
        }
    }
    return false;
}

/* Whether a prompt of n_prompt tokens leaves room for max_new in the
 * context; the reason in err if not. */
static esft_status check_context(const esft_model *m, size_t n_prompt, const char *unit,
                                 int max_new, esft_err *err) {
    const int ctx = m->hp.n_ctx_train;
    if (n_prompt + (size_t)max_new <= (size_t)ctx) return ESFT_OK;
    if (max_new >= ctx)
        return esft_errf(err, ESFT_ERR_INVALID_ARG,
                         "--max-new %d leaves no room for a prompt in the model's context of %d tokens",
                         max_new, ctx);
    return esft_errf(err, ESFT_ERR_INVALID_ARG,
                     "the prompt (%s%zu tokens) and --max-new %d exceed the model's context of %d tokens",
                     unit, n_prompt, max_new, ctx);
}

esft_status esft_messages_ids(const esft_model *m, const esft_chat_template *tmpl,
                              const esft_chat_message *msgs, int n, int max_new, int32_t **ids,
                              size_t *n_ids, esft_err *err) {
    *ids = NULL;
    *n_ids = 0;
    esft_chat_template none;
    if (!tmpl) esft_chat_template_init(&none, ESFT_CHAT_NONE);
    const esft_chat_template *t = tmpl ? tmpl : &none;
    /* a lower bound on its tokens first: tokenizing megabytes to learn they
     * cannot fit would take long */
    size_t len = 0;
    for (int i = 0; i < n; i++) len += msgs[i].content ? strlen(msgs[i].content) : 0;
    const size_t per_token = esft_tokenizer_max_token_bytes(m->tok);
    esft_status st = check_context(m, per_token ? len / per_token : 0, "at least ", max_new, err);
    if (!st) st = esft_chat_tokenize(m->tok, t, msgs, n, true, ids, n_ids, err);
    if (!st && *n_ids == 0) st = esft_errf(err, ESFT_ERR_INVALID_ARG, "empty prompt (no tokens)");
    if (!st) st = check_context(m, *n_ids, "", max_new, err);
    if (st) {
        free(*ids);
        *ids = NULL;
        *n_ids = 0;
    }
    return st;
}

esft_status esft_prompt_ids(const esft_model *m, const esft_chat_template *tmpl, const char *system,
                            const char *prompt, int max_new, int32_t **ids, size_t *n_ids, esft_err *err) {
    const esft_chat_message turns[2] = {{"system", system}, {"user", prompt}};
    const bool with_system = tmpl && system;
    return esft_messages_ids(m, tmpl, turns + !with_system, 1 + with_system, max_new, ids, n_ids, err);
}

void esft_gen_result_free(esft_gen_result *r) {
    if (!r) return;
    free(r->tokens);
    free(r->text);
    memset(r, 0, sizeof *r);
}

/* Tokens every prompt begins with (a task's shared instructions), at most
 * the shortest prompt less one: its last token must still be fed to give
 * the first logits. */
static int shared_prefix(const esft_gen_request *requests, int n_requests) {
    int n = requests[0].n_prompt - 1;
    for (int i = 1; i < n_requests && n > 0; i++) {
        const esft_gen_request *r = &requests[i];
        if (r->n_prompt - 1 < n) n = r->n_prompt - 1;
        int k = 0;
        while (k < n && r->prompt[k] == requests[0].prompt[k]) k++;
        n = k;
    }
    return n > 0 ? n : 0;
}

/* Feeds the shared prefix once, into slot 0, then copies its keys and
 * values into every other slot: a slot keeps positions [0, n) through all
 * the requests it takes, each of which starts past them. A token's keys and
 * values depend only on the tokens before it in its sequence, so these are
 * what each slot would compute (up to rounding where a pass of 256 tokens
 * or more takes OpenBLAS instead of the kernel, as any prompt's may). */
static esft_status feed_shared_prefix(esft_forward_ctx *fc, const int32_t *prefix, int n, int n_slots,
                                      int budget, int32_t *b_tok, int32_t *b_seq, int32_t *b_pos,
                                      esft_err *err) {
    for (int p0 = 0; p0 < n; p0 += budget) {
        const int cnt = n - p0 < budget ? n - p0 : budget;
        for (int i = 0; i < cnt; i++) {
            b_tok[i] = prefix[p0 + i];
            b_seq[i] = 0;
            b_pos[i] = p0 + i;
        }
        esft_status st = esft_forward(fc, b_tok, b_seq, b_pos, cnt, NULL, 0, err);
        if (st) return st;
    }
    for (int s = 1; s < n_slots; s++) {
        esft_status st = esft_forward_ctx_copy_kv(fc, s, 0, n, err);
        if (st) return esft_err_prefix(err, st, "generate: sharing the prompts' first %d tokens", n);
    }
    return ESFT_OK;
}

esft_status esft_generate(esft_model *m, const esft_gen_request *requests, int n_requests,
                          const esft_gen_params *params, esft_gen_result *results,
                          esft_gen_stats *stats, esft_err *err) {
    const double t0 = esft_now_seconds();
    esft_gen_stats st_local = {0};
    if (!stats) stats = &st_local;
    memset(stats, 0, sizeof *stats);
    memset(results, 0, (size_t)n_requests * sizeof *results);
    if (n_requests <= 0) return ESFT_OK;
    if (params->max_new < 0)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "max_new must be >= 0");
    int max_prompt = 0;
    for (int i = 0; i < n_requests; i++) {
        if (requests[i].n_prompt <= 0)
            return esft_errf(err, ESFT_ERR_INVALID_ARG, "prompt %d is empty (no tokens)", i);
        if (requests[i].n_prompt > max_prompt) max_prompt = requests[i].n_prompt;
        esft_status st = check_context(m, (size_t)requests[i].n_prompt, "", params->max_new, err);
        if (st) return esft_err_prefix(err, st, "prompt %d", i);
    }
    if (params->max_new == 0) {
        for (int i = 0; i < n_requests; i++) {
            results[i].text = calloc(1, 1);
            if (!results[i].text) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        }
        return ESFT_OK;
    }

    const int n_slots = params->max_slots > 0 && params->max_slots < n_requests ? params->max_slots
                                                                                 : n_requests;
    int budget = params->max_batch_tokens > 0 ? params->max_batch_tokens : ESFT_GEN_BATCH_TOKENS;
    if (budget < n_slots) budget = n_slots; /* every decoding slot fits in one pass */
    const int max_ctx = max_prompt + params->max_new;
    const int V = m->hp.n_vocab;
    const bool greedy = !(params->sampling.temperature > 0.0f);

    esft_forward_ctx fc;
    esft_status st = esft_forward_ctx_init(&fc, m, budget, 0, n_slots, max_ctx, err);
    if (st) return st;

    slot *slots = calloc((size_t)n_slots, sizeof *slots);
    int32_t *slot_member = calloc((size_t)n_slots, sizeof *slot_member);
    size_t *text_cap = calloc((size_t)n_requests, sizeof *text_cap);
    int32_t *b_tok = malloc((size_t)budget * sizeof *b_tok);
    int32_t *b_seq = malloc((size_t)budget * sizeof *b_seq);
    int32_t *b_pos = malloc((size_t)budget * sizeof *b_pos);
    int32_t *b_rows = malloc((size_t)n_slots * sizeof *b_rows);
    int *row_slot = malloc((size_t)n_slots * sizeof *row_slot);
    int32_t *row_ids = malloc((size_t)n_slots * sizeof *row_ids);
    float *row_logits = greedy ? NULL : malloc((size_t)n_slots * V * sizeof *row_logits);
    void *scratch = greedy ? NULL : malloc((size_t)V * sizeof(scored));
    if (!slots || !slot_member || !text_cap || !b_tok || !b_seq || !b_pos || !b_rows || !row_slot || !row_ids ||
        (!greedy && (!row_logits || !scratch))) {
        st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
        goto done;
    }
    for (int s = 0; s < n_slots; s++) slots[s].req = -1;
    if (params->lowrank && (st = esft_forward_ctx_set_lowrank(&fc, params->lowrank, slot_member, err))) goto done;

    /* Low-rank members perturb the prefix differently per member: no sharing. */
    const int shared = params->lowrank || n_requests < 2 ? 0 : shared_prefix(requests, n_requests);
    if (shared > 0) {
        if ((st = feed_shared_prefix(&fc, requests[0].prompt, shared, n_slots, budget, b_tok, b_seq, b_pos, err)))
            goto done;
        stats->prompt_tokens += shared;
        stats->passes += (shared + budget - 1) / budget;
    }

    int next_req = 0, n_done = 0;
    char piece[256];
    while (n_done < n_requests) {
        /* Free slots take the next queued prompts. */
        for (int s = 0; s < n_slots && next_req < n_requests; s++) {
            if (slots[s].req >= 0) continue;
            if (params->lowrank) slot_member[s] = params->request_member[next_req];
            slots[s] = (slot){.req = next_req++, .fed = shared, .pending = -1,
                              .rng = params->sampling.seed};
        }
        /* Pack: decode tokens first (one per slot), then prompt chunks. */
        int n = 0, n_rows = 0;
        for (int s = 0; s < n_slots; s++) {
            slot *sl = &slots[s];
            if (sl->req < 0 || sl->pending < 0) continue;
            b_tok[n] = sl->pending;
            b_seq[n] = s;
            b_pos[n] = sl->fed++;
            sl->pending = -1;
            row_slot[n_rows] = s;
            b_rows[n_rows++] = n++;
        }
        for (int s = 0; s < n_slots && n < budget; s++) {
            slot *sl = &slots[s];
            if (sl->req < 0) continue;
            const esft_gen_request *rq = &requests[sl->req];
            if (sl->fed >= rq->n_prompt) continue;
            while (sl->fed < rq->n_prompt && n < budget) {
                b_tok[n] = rq->prompt[sl->fed];
                b_seq[n] = s;
                b_pos[n] = sl->fed++;
                n++;
                stats->prompt_tokens++;
            }
            if (sl->fed == rq->n_prompt) {
                row_slot[n_rows] = s;
                b_rows[n_rows++] = n - 1;
            }
        }
        if (n == 0) {
            st = esft_errf(err, ESFT_ERR_INVALID_ARG, "generate: scheduler made no progress");
            goto done;
        }
        if ((st = esft_forward(&fc, b_tok, b_seq, b_pos, n, b_rows, n_rows, err))) goto done;
        stats->passes++;
        if (n_rows == 0) continue;
        if (greedy) {
            if ((st = esft_argmax(m->be, &fc.argmax, &fc.logits, n_rows, V)) ||
                (st = esft_download(&fc.argmax, 0, row_ids, (size_t)n_rows))) {
                esft_errf(err, st, "generate: %s", m->be->err.msg);
                goto done;
            }
        } else {
            if ((st = esft_download(&fc.logits, 0, row_logits, (size_t)n_rows * V))) {
                esft_errf(err, st, "generate: %s", m->be->err.msg);
                goto done;
            }
            for (int r = 0; r < n_rows; r++)
                row_ids[r] = esft_sample(row_logits + (size_t)r * V, V, &params->sampling,
                                         &slots[row_slot[r]].rng, scratch);
        }
        for (int r = 0; r < n_rows; r++) {
            slot *sl = &slots[row_slot[r]];
            esft_gen_result *res = &results[sl->req];
            const int32_t id = row_ids[r];
            bool finished = false;
            stats->new_tokens++;
            if (!params->ignore_eog && esft_tokenizer_is_eog(m->tok, id)) {
                res->finish = ESFT_FINISH_EOG;
                finished = true;
            } else {
                if (append_token(res, id, params->max_new)) goto oom;
                int nb = esft_token_bytes(m->tok, id, piece, sizeof piece);
                if (nb < 0) nb = 0;
                if (nb > (int)sizeof piece) nb = (int)sizeof piece; /* tokens are short */
                if (append_text(res, piece, (size_t)nb, &text_cap[sl->req])) goto oom;
                if (cut_at_stop(res, (size_t)nb, params)) {
                    res->finish = ESFT_FINISH_STOP;
                    finished = true;
                } else if (res->n_tokens >= params->max_new) {
                    res->finish = ESFT_FINISH_LENGTH;
                    finished = true;
                }
            }
            if (finished) {
                if (!res->text && !(res->text = calloc(1, 1))) goto oom;
                sl->req = -1;
                n_done++;
            } else {
                sl->pending = id;
            }
        }
        if (params->on_progress) {
            esft_gen_progress p = {n_done, n_requests, stats->prompt_tokens, stats->new_tokens,
                                   esft_now_seconds() - t0};
            params->on_progress(params->user, &p);
        }
    }
    goto done;
oom:
    st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
done:
    stats->seconds = esft_now_seconds() - t0;
    if (st)
        for (int i = 0; i < n_requests; i++) esft_gen_result_free(&results[i]);
    free(slots);
    free(slot_member);
    free(text_cap);
    free(b_tok);
    free(b_seq);
    free(b_pos);
    free(b_rows);
    free(row_slot);
    free(row_ids);
    free(row_logits);
    free(scratch);
    esft_forward_ctx_free(&fc);
    return st;
}
