/* esft bench es. Tokens/s are measured as in `bench decode`: the time of a
 * generation of new+1 tokens minus that of 1 token (the prefill), so the
 * two lines compare decoding alone; the iteration line adds what the mode
 * costs around it (perturbing each member, or drawing the factors) and the
 * prefill. */
#include "bench_es.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_measure.h"
#include "cli.h"
#include "commands.h"
#include "es_lowrank.h"
#include "es_step.h"

typedef struct es_timing {
    long tokens_split, tokens_n;   /* new tokens at the end of the prefill (bench_split) and in all */
    double seconds_split, seconds_n; /* seconds by then, and in all */
    double setup;              /* perturbing / drawing factors, per generation */
} es_timing;

/* Full-rank members: perturb, then generate the member's batch, for each. */
static esft_status time_full(esft_model *m, const bool *sel, const esft_run_config *c, int batch, int prompt_len,
                             int n_new, es_timing *t, esft_err *err) {
    for (int k = 0; k < c->pop; k++) {
        esft_gen_stats b;
        bench_split sp;
        const double t0 = esft_now_seconds();
        esft_status st = esft_es_perturb_member(m, sel, c, 0, k, err);
        t->setup += esft_now_seconds() - t0;
        if (!st) st = bench_generate(m, batch, prompt_len, n_new + 1, NULL, NULL, &b, &sp, err);
        if (st) return st;
        t->tokens_split += sp.tokens_started, t->tokens_n += b.new_tokens;
        t->seconds_split += sp.seconds_started, t->seconds_n += b.seconds;
    }
    return ESFT_OK;
}

/* Low-rank members: the factors, then every member x batch in one generation. */
static esft_status time_lowrank(esft_model *m, const bool *sel, const esft_run_config *c, int batch, int prompt_len,
                                int n_new, es_timing *t, esft_err *err) {
    const int n = c->pop * batch;
    int32_t *member = malloc((size_t)n * sizeof *member);
    if (!member) return esft_errf(err, ESFT_ERR_OUT_OF_MEMORY, "out of memory");
    for (int i = 0; i < n; i++) member[i] = i / batch;
    esft_lowrank lr;
    const double t0 = esft_now_seconds();
    esft_status st = esft_es_lowrank_members(&lr, m, sel, c, 0, 0, c->pop, err);
    t->setup = esft_now_seconds() - t0;
    esft_gen_stats b;
    bench_split sp;
    if (!st) st = bench_generate(m, n, prompt_len, n_new + 1, &lr, member, &b, &sp, err);
    if (!st) {
        t->tokens_split = sp.tokens_started, t->tokens_n = b.new_tokens;
        t->seconds_split = sp.seconds_started, t->seconds_n = b.seconds;
        esft_lowrank_free(&lr);
    }
    free(member);
    return st;
}

static double decode_rate(const es_timing *t) {
    const double dt = t->seconds_n - t->seconds_split;
    return dt > 0 ? (double)(t->tokens_n - t->tokens_split) / dt : 0;
}

int bench_es_command(int argc, char **argv) {
    cli_common c = CLI_COMMON_INIT;
    const char *noise = "lowrank";
    int rank = 1, pop = 30, batch = 2, prompt_len = 16, n_new = 32;
    const cli_opt opts[] = {
        {"model", CLI_STR, &c.model, "FILE", "GGUF model (default: SmolLM2-135M-Instruct)", 0, 0},
        {"noise", CLI_STR, &noise, "M", "full | lowrank (default lowrank)", 0, 0},
        {"rank", CLI_INT, &rank, "R", "rank of low-rank members (default 1)", 1, ESFT_LOWRANK_MAX_RANK},
        {"pop", CLI_INT, &pop, "N", "population size (default 30)", 2, 1 << 16},
        {"batch", CLI_INT, &batch, "B", "prompts per member (default 2)", 1, 1 << 16},
        {"prompt-len", CLI_INT, &prompt_len, "N", "prompt tokens per sequence (default 16)", 1, 1 << 16},
        {"new", CLI_INT, &n_new, "N", "decoded tokens per sequence (default 32)", 1, 1 << 16},
        CLI_COMMON_OPTS(c),
    };
    const cli_command cmd = {"bench es", "[--model FILE] [--noise full|lowrank] [--rank R] [--pop N] [--batch B] [options]",
                             "Generation tokens/s of one ES iteration (pop x batch sequences of random\n"
                             "byte tokens, greedy) beside plain batched decoding of pop x batch sequences:\n"
                             "full-rank members decode one after another at batch B, low-rank members\n"
                             "all together over the shared weights. Measured, never asserted.",
                             opts, (int)(sizeof opts / sizeof opts[0]), 0, 0};
    int rc = cli_parse(&cmd, argc, argv, NULL, NULL);
    if (rc) return rc < 0 ? ESFT_EXIT_OK : rc;
    esft_run_config cfg = {.run_seed = 1, .pop = pop, .sigma = 0.001f, .alpha = 0.0005f, .max_new = n_new,
                           .rank = rank};
    snprintf(cfg.params, sizeof cfg.params, "*");
    if (!esft_noise_mode_from_name(noise, &cfg.noise)) {
        fprintf(stderr, "esft bench es: --noise %s: expected full or lowrank\n", noise);
        return ESFT_EXIT_USAGE;
    }
    if (cfg.noise == ESFT_NOISE_FULL) cfg.rank = 0;
    const long total = (long)pop * batch;
    if (total > 1 << 16) {
        fprintf(stderr, "esft bench es: --pop %d x --batch %d = %ld sequences: at most 65536\n", pop, batch, total);
        return ESFT_EXIT_USAGE;
    }
    char path[1024];
    esft_backend *be = NULL;
    if ((rc = cli_open_backend(&c, &be))) return rc;
    if ((rc = cli_model_path("bench es", c.model, path, sizeof path))) {
        esft_backend_destroy(be);
        return rc;
    }
    esft_model *m = NULL;
    esft_err err = {{0}};
    esft_model_options mo = {.trainable = true};
    bool *sel = NULL;
    int n_sel = 0;
    if (esft_model_load(path, be, &mo, &m, &err) || !(sel = esft_es_select(m, cfg.params, &n_sel)) ||
        (cfg.noise == ESFT_NOISE_LOWRANK && esft_es_lowrank_select(m, &cfg, sel, &n_sel, &err))) {
        fprintf(stderr, "esft bench es: %s\n", sel || !m ? err.msg : "out of memory");
        free(sel);
        esft_model_free(m);
        esft_backend_destroy(be);
        return ESFT_EXIT_RUNTIME;
    }
    printf("model %s, backend %s (%s), %d threads\n", path, be->kind, be->device_name, be->n_threads);
    printf("ES generation: noise %s", esft_noise_mode_name(cfg.noise));
    if (cfg.noise == ESFT_NOISE_LOWRANK) printf(" rank %d", rank);
    printf(", pop %d x batch %d = %ld sequences, prompt %d tokens, %d new tokens each\n", pop, batch, total,
           prompt_len, n_new);
    es_timing es = {0};
    double decode_tps = 0, prefill = 0;
    esft_status st = bench_decode(m, 1, prompt_len, 1, &decode_tps, &prefill, &err); /* warm-up */
    if (!st) st = cfg.noise == ESFT_NOISE_LOWRANK ? time_lowrank(m, sel, &cfg, batch, prompt_len, n_new, &es, &err)
                                                   : time_full(m, sel, &cfg, batch, prompt_len, n_new, &es, &err);
    if (!st) st = esft_es_unperturb(m, sel, &err);
    if (!st) st = bench_decode(m, (int)total, prompt_len, n_new, &decode_tps, &prefill, &err);
    if (st) {
        fprintf(stderr, "esft bench es: %s\n", err.msg);
        rc = ESFT_EXIT_RUNTIME;
    } else {
        const double es_tps = decode_rate(&es);
        const double iter_s = es.setup + es.seconds_n;
        printf("%-34s %10.1f tok/s\n", "ES generation (decode)", es_tps);
        printf("%-34s %10.1f tok/s\n", "bench decode at the same batch", decode_tps);
        printf("%-34s %10.1f %%\n", "ratio", decode_tps > 0 ? 100.0 * es_tps / decode_tps : 0.0);
        printf("%-34s %10.2f s (%s %.2f s, prefill and %d tokens %.2f s)\n", "one iteration's generation", iter_s,
               cfg.noise == ESFT_NOISE_LOWRANK ? "factors" : "perturbing", es.setup, n_new + 1, es.seconds_n);
    }
    free(sel);
    esft_model_free(m);
    esft_backend_destroy(be);
    return rc;
}
