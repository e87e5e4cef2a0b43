#include "evaluate.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "eval_stats.h"

esft_status esft_prompts_tokenize(const esft_model *m, const esft_task *t, const esft_chat_template *tmpl,
                                  const char *system, int max_new, esft_prompts *out, esft_err *err) {
    memset(out, 0, sizeof *out);
    out->ids = calloc((size_t)t->n_items, sizeof *out->ids);
    out->len = calloc((size_t)t->n_items, sizeof *out->len);
    if (!out->ids || !out->len) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    out->n = t->n_items;
    for (int i = 0; i < t->n_items; i++) {
        size_t n = 0;
        esft_status st = esft_prompt_ids(m, tmpl, system, t->items[i].prompt, max_new, &out->ids[i], &n, err);
        if (st) return esft_err_prefix(err, st, "%s (task %s) item %d", t->source, t->name, i);
        out->len[i] = (int)n;
    }
    return ESFT_OK;
}

esft_status esft_run_chat_template(const esft_model *m, esft_run_config *c, esft_chat_template *tmpl,
                                   const esft_chat_template **out, esft_err *err) {
    *out = NULL;
    if (!c->chat) return ESFT_OK;
    esft_status st = esft_chat_template_from_gguf(m->gguf, m->tok, c->chat_template[0] ? c->chat_template : NULL,
                                                  tmpl, err);
    if (st) return st;
    snprintf(c->chat_template, sizeof c->chat_template, "%s", esft_chat_family_name(tmpl->family));
    *out = tmpl;
    return ESFT_OK;
}

void esft_prompts_free(esft_prompts *p) {
    for (int i = 0; p->ids && i < p->n; i++) free(p->ids[i]);
    free(p->ids);
    free(p->len);
    memset(p, 0, sizeof *p);
}

void esft_eval_result_free(esft_eval_result *r, int n) {
    if (r->responses)
        for (int i = 0; i < n; i++) esft_gen_result_free(&r->responses[i]);
    free(r->responses);
    free(r->scores);
    memset(r, 0, sizeof *r);
}

void esft_eval_summarise(const esft_score *scores, int n, int n_parts, esft_eval_result *out) {
    out->mean_reward = out->accuracy = 0;
    out->timeouts = 0;
    long correct = 0;
    for (int k = 0; k < ESFT_TASK_MAX_PARTS; k++) out->mean_parts[k] = 0;
    for (int i = 0; i < n; i++) {
        out->mean_reward += scores[i].reward / n;
        out->accuracy += (double)scores[i].correct / n;
        for (int k = 0; k < n_parts; k++) out->mean_parts[k] += scores[i].parts[k] / n;
        correct += scores[i].correct;
        out->timeouts += scores[i].timed_out;
    }
    esft_wilson_interval(correct, n, ESFT_Z95, &out->accuracy_lo, &out->accuracy_hi);
}

/* Scores every response of the pass at once (a reward command gets them
 * as one batch). */
static esft_status score_all(esft_task *t, const int *items, int n, const esft_gen_result *res, esft_score *scores,
                             esft_err *err) {
    const char **texts = calloc((size_t)n + 1, sizeof *texts);
    size_t *lens = calloc((size_t)n + 1, sizeof *lens);
    esft_status st = texts && lens ? ESFT_OK : esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; !st && i < n; i++) texts[i] = res[i].text ? res[i].text : "", lens[i] = res[i].text_len;
    if (!st) st = esft_task_score(t, n, items, texts, lens, scores, err);
    free(texts), free(lens);
    return st;
}

esft_status esft_evaluate(esft_model *m, esft_task *t, const esft_prompts *prompts,
                          const int *items, int n, const esft_eval_params *p,
                          esft_eval_result *out, esft_err *err) {
    memset(out, 0, sizeof *out);
    esft_gen_request *reqs = calloc((size_t)n, sizeof *reqs);
    esft_gen_result *res = calloc((size_t)n, sizeof *res);
    esft_score *scores = calloc((size_t)n, sizeof *scores);
    if (!reqs || !res || !scores) {
        free(reqs), free(res), free(scores);
        return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    }
    for (int i = 0; i < n; i++) reqs[i] = (esft_gen_request){prompts->ids[items[i]], prompts->len[items[i]]};
    esft_gen_params gp = {.max_new = p->max_new, .max_slots = p->max_slots, .sampling = p->sampling,
                          .on_progress = p->on_progress, .user = p->user, .lowrank = p->lowrank,
                          .request_member = p->request_member};
    esft_gen_stats stats;
    esft_status st = esft_generate(m, reqs, n, &gp, res, &stats, err);
    free(reqs);
    if (st) {
        free(res), free(scores);
        return st;
    }
    out->n = n;
    out->new_tokens = stats.new_tokens;
    out->seconds = stats.seconds;
    if ((st = score_all(t, items, n, res, scores, err))) {
        for (int i = 0; i < n; i++) esft_gen_result_free(&res[i]);
        free(res), free(scores);
        return st;
    }
    esft_eval_summarise(scores, n, t->n_parts, out);
    if (p->keep) {
        out->responses = res;
        out->scores = scores;
    } else {
        for (int i = 0; i < n; i++) esft_gen_result_free(&res[i]);
        free(res);
        free(scores);
    }
    return ESFT_OK;
}

/* log-softmax normaliser of a row */
static double log_sum_exp(const float *x, int n) {
    float mx = x[0];
    for (int i = 1; i < n; i++) mx = x[i] > mx ? x[i] : mx;
    double s = 0;
    for (int i = 0; i < n; i++) s += exp((double)x[i] - mx);
    return mx + log(s);
}

esft_status esft_mean_kl(esft_model *m, esft_model *base, const esft_prompts *prompts,
                         const int *items, const esft_gen_result *responses, int n, double *kl,
                         long *n_tokens, esft_err *err) {
    *kl = 0;
    *n_tokens = 0;
    if (m->hp.n_vocab != base->hp.n_vocab)
        return esft_errf(err, ESFT_ERR_INVALID_ARG, "--kl-base: vocabulary %d differs from %d",
                         base->hp.n_vocab, m->hp.n_vocab);
    int max_len = 1;
    for (int i = 0; i < n; i++) {
        int L = prompts->len[items[i]] + responses[i].n_tokens;
        if (L > max_len) max_len = L;
    }
    const int V = m->hp.n_vocab;
    esft_forward_ctx fm, fb;
    esft_status st = esft_forward_ctx_init(&fm, m, max_len, max_len, 1, max_len, err);
    if (st) return st;
    if ((st = esft_forward_ctx_init(&fb, base, max_len, max_len, 1, max_len, err))) {
        esft_forward_ctx_free(&fm);
        return st;
    }
    int32_t *tok = malloc((size_t)max_len * sizeof *tok), *seq = calloc((size_t)max_len, sizeof *seq);
    int32_t *pos = malloc((size_t)max_len * sizeof *pos), *rows = malloc((size_t)max_len * sizeof *rows);
    float *lm = malloc((size_t)max_len * V * sizeof *lm), *lb = malloc((size_t)max_len * V * sizeof *lb);
    double total = 0;
    long count = 0;
    if (!tok || !seq || !pos || !rows || !lm || !lb) st = esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n && !st; i++) {
        const int P = prompts->len[items[i]], R = responses[i].n_tokens;
        if (R == 0) continue;
        memcpy(tok, prompts->ids[items[i]], (size_t)P * sizeof *tok);
        memcpy(tok + P, responses[i].tokens, (size_t)R * sizeof *tok);
        for (int j = 0; j < P + R; j++) pos[j] = j;
        /* the positions whose next-token distributions produced the response */
        for (int r = 0; r < R; r++) rows[r] = P - 1 + r;
        const int T = P + R - 1;
        if ((st = esft_forward(&fm, tok, seq, pos, T, rows, R, err)) ||
            (st = esft_download(&fm.logits, 0, lm, (size_t)R * V)) ||
            (st = esft_forward(&fb, tok, seq, pos, T, rows, R, err)) ||
            (st = esft_download(&fb.logits, 0, lb, (size_t)R * V)))
            break;
        for (int r = 0; r < R; r++) {
            const float *a = lm + (size_t)r * V, *b = lb + (size_t)r * V;
            double za = log_sum_exp(a, V), zb = log_sum_exp(b, V), d = 0;
            for (int v = 0; v < V; v++) {
                double lpa = a[v] - za, lpb = b[v] - zb;
                d += exp(lpa) * (lpa - lpb);
            }
            total += d;
            count++;
        }
    }
    free(tok), free(seq), free(pos), free(rows), free(lm), free(lb);
    esft_forward_ctx_free(&fm);
    esft_forward_ctx_free(&fb);
    if (st) return st;
    *kl = count ? total / count : 0;
    *n_tokens = count;
    return ESFT_OK;
}
