/* The backend conformance suite: every op of backends/backend.h, on every
 * device of every backend in the registry, against plain scalar references
 * written here (double precision where it matters).
 *
 * - odd shapes (1, 3, 17, 129) and realistic ones (T=5, N=576, K=1536);
 * - guard zones: every buffer is allocated GUARD elements longer than the
 *   op needs, the tail holds a NaN sentinel that must survive; outputs start
 *   as sentinel too, so an element an op forgets to write fails the check;
 *   inputs must come back unchanged;
 * - normalised error bounds: max|out - ref| / max(1, max|ref|) (or the
 *   per-element form noted at each op);
 * - an op/dtype a backend does not support (esft_supports) is skipped and
 *   reported, never failed.
 * A new backend is covered as soon as it joins the registry. */
#include <inttypes.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "esft_hash.h"
#include "registry.h"
#include "ref_noise.h"
#include "testutil.h"

#define GUARD 67
#define SENT32 0x7FBADBADu /* NaN */
#define SENT16 0x7FADu     /* NaN in f16 and in bf16 */

/* ------------------------------------------------------------ test rng */

static uint64_t rng_state = 0x243F6A8885A308D3ull;

static uint64_t rng_u64(void) { return esft_splitmix64_next(&rng_state); }

/* uniform in [lo, hi) */
static float rng_f(float lo, float hi) {
    return lo + (hi - lo) * (float)((double)(rng_u64() >> 11) * 0x1.0p-53);
}

static float *rand_f32(size_t n, float lo, float hi) {
    float *p = malloc((n ? n : 1) * sizeof *p);
    for (size_t i = 0; i < n; i++) p[i] = rng_f(lo, hi);
    return p;
}


static double f16_value(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 31, m = h & 1023;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    if (e == 31) v = m ? NAN : INFINITY;
    return s ? -v : v;
}

static double bf16_value(uint16_t h) {
    uint32_t u = (uint32_t)h << 16;
    float f;
    memcpy(&f, &u, 4);
    return f;
}

/* A random finite f16 with |value| in about [2^-6, 2) (plus some zeros). */
static uint16_t rand_f16(void) {
    uint64_t r = rng_u64();
    if ((r & 63) == 0) return (uint16_t)((r >> 8) & 0x8000);
    uint16_t e = (uint16_t)(9 + (r >> 16) % 7); /* 2^-6 .. 2^0 */
    return (uint16_t)(((r >> 8) & 0x8000) | (e << 10) | ((r >> 24) & 1023));
}

static uint16_t bf16_trunc(float f) {
    uint32_t u;
    memcpy(&u, &f, 4);
    return (uint16_t)(u >> 16);
}

/* -------------------------------------------------- guarded buffers */

typedef struct tbuf {
    esft_buf b;
    size_t n; /* elements the op may touch */
} tbuf;

static void fill_sentinel(void *p, esft_dtype dt, size_t from, size_t to) {
    if (esft_dtype_size(dt) == 4) {
        uint32_t *q = p;
        for (size_t i = from; i < to; i++) q[i] = SENT32;
    } else {
        uint16_t *q = p;
        for (size_t i = from; i < to; i++) q[i] = SENT16;
    }
}

/* n elements from data (or sentinel if NULL), then GUARD sentinel elements. */
static bool tb_make(esft_backend *be, tbuf *t, esft_dtype dt, size_t n, const void *data) {
    memset(t, 0, sizeof *t);
    t->n = n;
    size_t es = esft_dtype_size(dt), cap = n + GUARD;
    void *h = malloc(cap * es);
    fill_sentinel(h, dt, 0, cap);
    if (data) memcpy(h, data, n * es);
    esft_status st = esft_buf_alloc(be, &t->b, dt, cap);
    if (st == ESFT_OK) st = esft_upload(&t->b, 0, h, cap);
    free(h);
    CHECKF(st == ESFT_OK, "%s: allocating %zu x %s: %s", be->kind, cap, esft_dtype_name(dt),
           be->err.msg);
    return st == ESFT_OK;
}

/* Host copy of the first n elements (caller frees). */
static void *tb_get(tbuf *t) {
    size_t es = esft_dtype_size(t->b.dtype);
    void *h = malloc((t->n ? t->n : 1) * es);
    esft_status st = esft_download(&t->b, 0, h, t->n);
    CHECKF(st == ESFT_OK, "download: %s", t->b.be->err.msg);
    if (st != ESFT_OK) fill_sentinel(h, t->b.dtype, 0, t->n);
    return h;
}

/* The sentinel tail is intact. */
static bool tb_guard_ok(tbuf *t) {
    size_t es = esft_dtype_size(t->b.dtype);
    void *h = malloc(GUARD * es), *want = malloc(GUARD * es);
    fill_sentinel(want, t->b.dtype, 0, GUARD);
    bool ok = esft_download(&t->b, t->n, h, GUARD) == ESFT_OK && memcmp(h, want, GUARD * es) == 0;
    free(h);
    free(want);
    return ok;
}

/* The first n elements equal data bit for bit (inputs are left alone). */
static bool tb_equals(tbuf *t, const void *data) {
    void *h = tb_get(t);
    bool ok = memcmp(h, data, t->n * esft_dtype_size(t->b.dtype)) == 0;
    free(h);
    return ok;
}

static void tb_free(tbuf *t) { esft_buf_free(&t->b); }

#define CHECK_GUARD(t) CHECKF(tb_guard_ok(t), "%s: guard zone after '%s' overwritten", bk, #t)
#define CHECK_OK(call) CHECKF((call) == ESFT_OK, "%s: %s failed: %s", bk, #call, be->err.msg)

/* max |a - ref| / max(1, max |ref|); NaN anywhere gives +inf. */
static double norm_err_f(const float *a, const double *ref, size_t n) {
    double md = 0, mr = 1;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - ref[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / mr;
}

/* --------------------------------------------------- per-op bookkeeping */

static int op_fail0;

static bool op_begin(esft_backend *be, esft_op op, esft_dtype dt) {
    op_fail0 = test_failed_;
    if (!esft_supports(be, op, dt)) {
        printf("[%s] %-10s %-5s SKIP (unsupported)\n", be->kind, esft_op_name(op),
               esft_dtype_name(dt));
        return false;
    }
    return true;
}

static void op_end(esft_backend *be, esft_op op, esft_dtype dt, const char *note) {
    printf("[%s] %-10s %-5s %s%s%s\n", be->kind, esft_op_name(op), esft_dtype_name(dt),
           test_failed_ == op_fail0 ? "PASS" : "FAIL", note ? "  " : "", note ? note : "");
}

/* ================================================================ ops */

static void t_philox(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_PHILOX, ESFT_F32)) return;
    const struct {
        uint64_t first;
        size_t n;
        uint32_t c2, c3;
        uint64_t key;
    } cs[] = {{0, 1, 0, 0, 0},
              {5, 3, 1, 2, 3},
              {0xFFFFFFF0ull, 17, 0x17265f1b, 0x45534654, 0x6310bf04d8207f46ull},
              {123456789, 129, 7, 8, 0xFFFFFFFFFFFFFFFFull},
              {0xFFFFFFFFull - 50000, 100003, 0xDEADBEEF, 0x45534654, 42}};
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        size_t n = cs[c].n;
        tbuf o;
        if (!tb_make(be, &o, ESFT_I32, 4 * n, NULL)) continue;
        CHECK_OK(esft_philox(be, &o.b, n, cs[c].first, cs[c].c2, cs[c].c3, cs[c].key));
        uint32_t *w = tb_get(&o);
        size_t bad = 0;
        for (size_t b = 0; b < n; b++) {
            uint64_t ctr = cs[c].first + b;
            uint32_t in[4] = {(uint32_t)ctr, (uint32_t)(ctr >> 32), cs[c].c2, cs[c].c3}, x[4];
            ref_philox(in, cs[c].key, x);
            bad += memcmp(x, w + 4 * b, sizeof x) != 0;
        }
        CHECKF(bad == 0, "%s: philox case %zu: %zu of %zu blocks differ", bk, c, bad, n);
        CHECK_GUARD(&o);
        free(w);
        tb_free(&o);
    }
    op_end(be, ESFT_OP_PHILOX, ESFT_F32, "bit-exact");
}

static void t_noise(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_NOISE, ESFT_F32)) return;
    const struct {
        uint64_t first;
        size_t n;
    } cs[] = {{0, 1}, {1, 3}, {2, 17}, {3, 129}, {0, 100003}, {(1ull << 32) - 3, 1031},
              {(1ull << 34) - 5, 4099}, {0xFFFFFFFFFFFF0000ull, 777},
              {0xFFFFFFFFFFFFFFFFull - 76, 77}}; /* ends at the last index */
    uint64_t seed = 0x6310bf04d8207f46ull;
    uint32_t tid = 0x17265f1bu;
    double worst = 0;
    for (size_t c = 0; c < sizeof cs / sizeof cs[0]; c++) {
        size_t n = cs[c].n;
        tbuf o;
        if (!tb_make(be, &o, ESFT_F32, n, NULL)) continue;
        CHECK_OK(esft_noise(be, &o.b, n, cs[c].first, tid, seed));
        float *z = tb_get(&o);
        double md = 0;
        for (size_t i = 0; i < n; i++) {
            double d = fabs(z[i] - ref_eps(seed, tid, cs[c].first + i));
            if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        }
        if (md > worst) worst = md;
        CHECKF(md <= 1e-5, "%s: noise case %zu: max abs error %g", bk, c, md);
        CHECK_GUARD(&o);
        /* a sub-range computed on its own is bit-identical */
        if (n > 8) {
            size_t off = 5, m = n - 7;
            tbuf o2;
            if (tb_make(be, &o2, ESFT_F32, m, NULL)) {
                CHECK_OK(esft_noise(be, &o2.b, m, cs[c].first + off, tid, seed));
                CHECKF(tb_equals(&o2, z + off), "%s: noise at offset differs from the full range",
                       bk);
                CHECK_GUARD(&o2);
                tb_free(&o2);
            }
        }
        free(z);
        tb_free(&o);
    }
    char note[64];
    snprintf(note, sizeof note, "max abs err %.2g", worst);
    op_end(be, ESFT_OP_NOISE, ESFT_F32, note);
}

static void t_perturb(esft_backend *be, esft_dtype wd) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_PERTURB, wd)) return;
    const size_t sizes[] = {1, 3, 17, 129, 1000, 100003};
    const float sigmas[] = {0.001f, -0.001f, 0.0f, 0.5f};
    double worst = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        size_t n = sizes[si];
        float *m = rand_f32(n, -1.0f, 1.0f);
        tbuf mb, wb;
        if (!tb_make(be, &mb, ESFT_F32, n, m)) {
            free(m);
            continue;
        }
        if (!tb_make(be, &wb, wd, n, NULL)) {
            tb_free(&mb);
            free(m);
            continue;
        }
        for (size_t s = 0; s < sizeof sigmas / sizeof sigmas[0]; s++) {
            float sigma = sigmas[s];
            uint64_t seed = 0x1234567890ABCDEFull + si;
            uint32_t tid = 0xCAFEF00Du ^ (uint32_t)si;
            CHECK_OK(esft_perturb(be, &wb.b, &mb.b, n, tid, seed, sigma));
            void *w = tb_get(&wb);
            size_t bad = 0;
            double md = 0;
            for (size_t i = 0; i < n; i++) {
                double e = ref_eps(seed, tid, i);
                double ref = (double)m[i] + (double)sigma * e, got, tol;
                /* the f32 value before the cast may be off by the noise's
                 * error (~1e-6 relative) times sigma, plus an f32 rounding */
                double slack = 1e-6 * (fabs(m[i]) + fabs(sigma) * fmax(1.0, fabs(e)));
                if (wd == ESFT_F32) {
                    got = ((float *)w)[i];
                    tol = 1e-6 * fmax(1.0, fabs(ref));
                    if (sigma == 0.0f) tol = 0; /* a plain copy */
                } else if (wd == ESFT_F16) {
                    got = f16_value(((uint16_t *)w)[i]);
                    tol = fabs(ref) * 0x1.0p-11 + 0x1.0p-25 + slack;
                } else {
                    got = bf16_value(((uint16_t *)w)[i]);
                    tol = fabs(ref) * 0x1.0p-8 + slack;
                }
                double d = fabs(got - ref);
                if (!(d <= tol)) {
                    bad++;
                }
                if (d > md || isnan(d)) md = d;
            }
            if (wd == ESFT_F32 && md > worst) worst = md;
            CHECKF(bad == 0, "%s: perturb %s n=%zu sigma=%g: %zu elements off (max abs %g)", bk,
                   esft_dtype_name(wd), n, sigma, bad, md);
            free(w);
        }
        CHECK_GUARD(&wb);
        CHECK_GUARD(&mb);
        CHECKF(tb_equals(&mb, m), "%s: perturb changed master", bk);
        tb_free(&mb);
        tb_free(&wb);
        free(m);
    }
    char note[64];
    snprintf(note, sizeof note, "max abs err %.2g", worst);
    op_end(be, ESFT_OP_PERTURB, wd, wd == ESFT_F32 ? note : "within half an ulp");
}

static void t_es_update(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_ES_UPDATE, ESFT_F32)) return;
    const size_t sizes[] = {1, 3, 17, 129, 4099, 65539};
    const int members[] = {1, 2, 30, 41};
    double worst = 0;
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
        for (size_t mi = 0; mi < sizeof members / sizeof members[0]; mi++) {
            size_t n = sizes[si];
            int K = members[mi];
            uint64_t *seeds = malloc((size_t)K * sizeof *seeds);
            float *co = malloc((size_t)K * sizeof *co);
            for (int k = 0; k < K; k++) {
                seeds[k] = rng_u64();
                co[k] = rng_f(-1.0f, 1.0f) * 1e-3f;
            }
            uint32_t tid = (uint32_t)rng_u64();
            /* two masters: values ~ 1 (update small next to them) and zeros
             * (the update alone, normalised by its own size) */
            for (int zero = 0; zero < 2; zero++) {
                float *m = zero ? calloc(n, sizeof *m) : rand_f32(n, -1.0f, 1.0f);
                tbuf mb;
                if (!tb_make(be, &mb, ESFT_F32, n, m)) {
                    free(m);
                    continue;
                }
                CHECK_OK(esft_es_update(be, &mb.b, n, tid, seeds, co, K));
                float *got = tb_get(&mb);
                double *ref = malloc(n * sizeof *ref);
                double scale = 0; /* size of the update: max over i of sum |c_k eps_k| */
                for (size_t i = 0; i < n; i++) {
                    double s = 0, a = 0;
                    for (int k = 0; k < K; k++) {
                        double e = co[k] * ref_eps(seeds[k], tid, i);
                        s += e;
                        a += fabs(e);
                    }
                    ref[i] = (double)m[i] + s;
                    if (a > scale) scale = a;
                }
                double md = 0;
                for (size_t i = 0; i < n; i++) {
                    double d = fabs(got[i] - ref[i]);
                    if (!(d <= md)) md = isnan(d) ? INFINITY : d;
                }
                /* relative to the master's magnitude (1) or, for zero
                 * masters, to the update's */
                double err = zero ? md / scale : md;
                if (err > worst) worst = err;
                CHECKF(err <= (zero ? 2e-6 : 1e-6),
                       "%s: es_update n=%zu K=%d %s master: normalised error %g", bk, n, K,
                       zero ? "zero" : "random", err);
                CHECK_GUARD(&mb);
                free(ref);
                free(got);
                free(m);
                tb_free(&mb);
            }
            free(seeds);
            free(co);
        }
    }
    /* determinism: the same update on the same data is bit-identical, and
     * an update with all-zero coefficients leaves master untouched */
    {
        size_t n = 10007;
        float *m = rand_f32(n, -1.0f, 1.0f);
        uint64_t seeds[3] = {1, 2, 3};
        float co[3] = {1e-3f, -2e-3f, 5e-4f}, zc[3] = {0, 0, 0};
        tbuf a, b;
        if (tb_make(be, &a, ESFT_F32, n, m) && tb_make(be, &b, ESFT_F32, n, m)) {
            CHECK_OK(esft_es_update(be, &a.b, n, 99, seeds, co, 3));
            CHECK_OK(esft_es_update(be, &b.b, n, 99, seeds, co, 3));
            float *ha = tb_get(&a);
            CHECKF(tb_equals(&b, ha), "%s: es_update is not deterministic", bk);
            free(ha);
            CHECK_OK(esft_es_update(be, &a.b, n, 99, seeds, zc, 3));
            tbuf c;
            if (tb_make(be, &c, ESFT_F32, n, m)) {
                CHECK_OK(esft_es_update(be, &c.b, n, 99, seeds, zc, 3));
                CHECKF(tb_equals(&c, m), "%s: zero coefficients changed master", bk);
                tb_free(&c);
            }
            tb_free(&a);
            tb_free(&b);
        }
        free(m);
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_ES_UPDATE, ESFT_F32, note);
}

/* es_optimize against textbook optimizers in double precision with the
 * gradient materialised: g = sum_k c_k eps_k from ref_eps, then SGD,
 * heavy-ball momentum or Adam (bias-corrected), decoupled decay and the
 * anchor, over several steps with fresh seeds each step. */
typedef struct opt_case {
    const char *name;
    esft_opt_step s; /* bc1/bc2 are filled per step */
} opt_case;

/* One textbook step of oc's rule on every element, with gradient g[i]. */
static void ref_opt_rule(const opt_case *oc, int t, size_t n, const double *g_in, double *th, double *m, double *v,
                         const double *base) {
    const esft_opt_step *s = &oc->s;
    for (size_t i = 0; i < n; i++) {
        double g = g_in[i] - (double)s->l2 * th[i];
        double u = g;
        if (s->rule == ESFT_OPT_MOMENTUM) {
            m[i] = s->beta1 * m[i] + g;
            u = m[i];
        } else if (s->rule == ESFT_OPT_ADAM) {
            m[i] = s->beta1 * m[i] + (1.0 - s->beta1) * g;
            v[i] = s->beta2 * v[i] + (1.0 - s->beta2) * g * g;
            double mh = m[i] / (1.0 - pow(s->beta1, t)), vh = v[i] / (1.0 - pow(s->beta2, t));
            u = mh / (sqrt(vh) + s->eps);
        }
        th[i] += s->lr * u - s->decay * th[i] - s->anchor * (th[i] - (base ? base[i] : 0.0));
    }
}

static void ref_opt_step(const opt_case *oc, int t, size_t n, uint32_t tid, const uint64_t *seeds,
                         const float *co, int K, double *th, double *m, double *v, const double *base) {
    double *g = malloc(n * sizeof *g);
    if (!g) return;
    for (size_t i = 0; i < n; i++) {
        g[i] = 0;
        for (int k = 0; k < K; k++) g[i] += (double)co[k] * ref_eps(seeds[k], tid, i);
    }
    ref_opt_rule(oc, t, n, g, th, m, v, base);
    free(g);
}

/* The rules, each with a decay or an anchor (bounds: t_es_optimize). */
static const opt_case opt_cases[] = {
    {"sgd+anchor", {.rule = ESFT_OPT_SGD, .lr = 0.01f, .anchor = 0.05f}},
    {"momentum+decay", {.rule = ESFT_OPT_MOMENTUM, .lr = 0.01f, .beta1 = 0.9f, .decay = 0.001f}},
    {"adam+l2", {.rule = ESFT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 0.05f, .l2 = 0.1f}},
    {"adamw+anchor",
     {.rule = ESFT_OPT_ADAM, .lr = 0.01f, .beta1 = 0.8f, .beta2 = 0.99f, .eps = 0.05f, .decay = 0.002f,
      .anchor = 0.01f}},
};

/* max |got - ref| / max(floor, max |ref|) (norm_err_f with a chosen floor) */
static double norm_err_floor(const float *got, const double *ref, size_t n, double floor) {
    double md = 0, mr = floor;
    for (size_t i = 0; i < n; i++) {
        double d = fabs(got[i] - ref[i]);
        if (!(d <= md)) md = isnan(d) ? INFINITY : d;
        if (fabs(ref[i]) > mr) mr = fabs(ref[i]);
    }
    return md / mr;
}

/* One optimizer trial: a master of n weights on the device and its double
 * reference, with state, a base, and the worst errors seen so far. */
typedef struct opt_trial {
    size_t n;
    float *m0, *b0, *st0;
    double *th, *th0, *base, *rm, *rv;
    tbuf mb, sb, bb;
    bool ok;
} opt_trial;

static void opt_trial_begin(esft_backend *be, opt_trial *q, size_t n) {
    q->n = n;
    /* small masters, so that their f32 rounding (half an ulp per step) stays far below the bound
     * on the change; the base is far from them, so that the anchor pulls hard */
    q->m0 = rand_f32(n, -0.05f, 0.05f), q->b0 = rand_f32(n, -1.0f, 1.0f);
    q->st0 = calloc(2 * n, sizeof *q->st0);
    q->th = malloc(n * sizeof *q->th), q->th0 = malloc(n * sizeof *q->th0), q->base = malloc(n * sizeof *q->base);
    q->rm = calloc(n, sizeof *q->rm), q->rv = calloc(n, sizeof *q->rv);
    for (size_t i = 0; i < n; i++) q->th[i] = q->th0[i] = q->m0[i], q->base[i] = q->b0[i];
    q->ok = tb_make(be, &q->mb, ESFT_F32, n, q->m0);
    q->ok = tb_make(be, &q->sb, ESFT_F32, 2 * n, q->st0) && q->ok;
    q->ok = tb_make(be, &q->bb, ESFT_F32, n, q->b0) && q->ok;
}

/* oc's step at t (1-based): its bias corrections filled in. */
static esft_opt_step opt_step_of(const opt_case *oc, int t) {
    esft_opt_step s = oc->s;
    s.bc1 = (float)(1.0 / (1.0 - pow(s.beta1, t)));
    s.bc2 = (float)(1.0 / (1.0 - pow(s.beta2, t)));
    return s;
}

/* The device's master and state against the reference (bounds: t_es_optimize),
 * worst[] = {master, change, state} raised; then everything freed. */
static void opt_trial_end(const char *bk, opt_trial *q, const opt_case *oc, const char *what, double worst[3]) {
    const size_t n = q->n;
    if (q->ok) {
        float *got = tb_get(&q->mb);
        float *gst = tb_get(&q->sb);
        double *change = malloc(n * sizeof *change);
        float *gchange = malloc(n * sizeof *gchange);
        for (size_t i = 0; i < n; i++) change[i] = q->th[i] - q->th0[i], gchange[i] = (float)(got[i] - q->m0[i]);
        double e_master = norm_err_f(got, q->th, n);
        double e_change = norm_err_floor(gchange, change, n, oc->s.lr); /* lr: a displacement that cancels to ~0 is not the scale */
        double e_state = oc->s.rule == ESFT_OPT_SGD ? 0 : norm_err_floor(gst, q->rm, n, 0.01);
        if (oc->s.rule == ESFT_OPT_ADAM) {
            double ev = norm_err_floor(gst + n, q->rv, n, 0.01 * 0.01);
            if (ev > e_state) e_state = ev;
        }
        if (e_master > worst[0]) worst[0] = e_master;
        if (e_change > worst[1]) worst[1] = e_change;
        if (e_state > worst[2]) worst[2] = e_state;
        CHECKF(e_master <= 1e-6, "%s: %s %s: master normalised error %g", bk, what, oc->name, e_master);
        CHECKF(e_change <= 2e-6, "%s: %s %s: change normalised error %g", bk, what, oc->name, e_change);
        CHECKF(e_state <= 1e-6, "%s: %s %s: state normalised error %g", bk, what, oc->name, e_state);
        /* state past the rule's own part and the base are untouched */
        if (oc->s.rule != ESFT_OPT_ADAM)
            for (size_t i = oc->s.rule == ESFT_OPT_MOMENTUM ? n : 0; i < 2 * n; i++)
                CHECKF(gst[i] == 0.0f, "%s: %s %s wrote state it does not own", bk, what, oc->name);
        CHECKF(tb_equals(&q->bb, q->b0), "%s: %s %s changed the base", bk, what, oc->name);
        CHECK_GUARD(&q->mb);
        CHECK_GUARD(&q->sb);
        free(got), free(gst), free(change), free(gchange);
    }
    tb_free(&q->mb), tb_free(&q->sb), tb_free(&q->bb);
    free(q->m0), free(q->b0), free(q->st0), free(q->th), free(q->th0), free(q->base), free(q->rm), free(q->rv);
}

static void t_es_optimize(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_ES_OPTIMIZE, ESFT_F32)) return;
    /* Bounds: the master <= 1e-6 normalised as everywhere in this suite; the
     * displacement theta_T - theta_0 alone <= 2e-6 of max(its size, lr) (a few
     * ulps of eps, sqrt and division on devices whose sqrt/divide are not
     * correctly rounded, over the steps); the state <= 1e-6 of max(its size,
     * 0.01 for m, 1e-4 for v): with n = 1 a moment can cancel to ~0, which is
     * no scale to measure against.
     * Adam's eps is set near the gradient's size / 10 so that an element whose
     * gradient nearly cancels (sign decided by the last f32 rounding) cannot
     * flip its step: the bound then measures the rule, not the cancellation. */
    const struct { size_t n; int K; } shapes[] = {{1, 1}, {17, 30}, {4099, 3}, {65539, 2}};
    const int T = 4;
    double worst[3] = {0};
    for (size_t ci = 0; ci < sizeof opt_cases / sizeof opt_cases[0]; ci++) {
        const opt_case *oc = &opt_cases[ci];
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            size_t n = shapes[si].n;
            int K = shapes[si].K;
            uint32_t tid = (uint32_t)rng_u64();
            opt_trial q;
            opt_trial_begin(be, &q, n);
            for (int t = 1; q.ok && t <= T; t++) {
                uint64_t seeds[30];
                float co[30];
                for (int k = 0; k < K; k++) seeds[k] = rng_u64(), co[k] = rng_f(-1.0f, 1.0f) / (float)K;
                esft_opt_step s = opt_step_of(oc, t);
                CHECK_OK(esft_es_optimize(be, &q.mb.b, &q.sb.b, &q.bb.b, n, tid, seeds, co, K, &s));
                ref_opt_step(oc, t, n, tid, seeds, co, K, q.th, q.rm, q.rv, q.base);
            }
            char what[64];
            snprintf(what, sizeof what, "es_optimize n=%zu K=%d", n, K);
            opt_trial_end(bk, &q, oc, what, worst);
        }
    }
    /* bit-identical on a repeat, and SGD with nothing but the gradient is es_update up to the
     * rounding of lr * g (lr = 1: exactly the same sum) */
    {
        size_t n = 10007;
        float *m = rand_f32(n, -1.0f, 1.0f);
        uint64_t seeds[3] = {1, 2, 3};
        float co[3] = {1e-3f, -2e-3f, 5e-4f};
        esft_opt_step s = {.rule = ESFT_OPT_SGD, .lr = 1.0f};
        tbuf a, b;
        if (tb_make(be, &a, ESFT_F32, n, m) && tb_make(be, &b, ESFT_F32, n, m)) {
            CHECK_OK(esft_es_optimize(be, &a.b, NULL, NULL, n, 99, seeds, co, 3, &s));
            CHECK_OK(esft_es_update(be, &b.b, n, 99, seeds, co, 3));
            float *ha = tb_get(&a);
            CHECKF(tb_equals(&b, ha), "%s: es_optimize sgd lr=1 differs from es_update", bk);
            free(ha);
            tb_free(&a);
            tb_free(&b);
        }
        free(m);
    }
    char note[96];
    snprintf(note, sizeof note, "max normalised err master %.2g, change %.2g, state %.2g", worst[0],
             worst[1], worst[2]);
    op_end(be, ESFT_OP_ES_OPTIMIZE, ESFT_F32, note);
}

/* W stored as dtype wd; returns the exact values the reference uses. */
static void *make_weights(esft_dtype wd, size_t n, double **vals) {
    double *v = malloc(n * sizeof *v);
    void *w;
    if (wd == ESFT_F32) {
        float *f = rand_f32(n, -1.0f, 1.0f);
        for (size_t i = 0; i < n; i++) v[i] = f[i];
        w = f;
    } else if (wd == ESFT_F16) {
        uint16_t *h = malloc(n * sizeof *h);
        for (size_t i = 0; i < n; i++) {
            h[i] = rand_f16();
            v[i] = f16_value(h[i]);
        }
        w = h;
    } else {
        uint16_t *h = malloc(n * sizeof *h);
        for (size_t i = 0; i < n; i++) {
            h[i] = bf16_trunc(rng_f(-1.0f, 1.0f));
            v[i] = bf16_value(h[i]);
        }
        w = h;
    }
    *vals = v;
    return w;
}

static void t_matmul(esft_backend *be, esft_dtype wd) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_MATMUL, wd)) return;
    const int shapes[][3] = {{1, 1, 1},     {1, 3, 17},     {3, 17, 129},  {1, 129, 17},
                             {17, 129, 3},  {2, 1000, 64},  {1, 576, 1536}, {5, 576, 1536},
                             {4, 1536, 576}, {1, 1031, 577}, {33, 65, 130},
                             {19, 67, 600}}; /* T > 8, K over several cpu blocks */
    double tol = wd == ESFT_F32 ? 1e-5 : wd == ESFT_F16 ? 1e-3 : 1e-2;
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], N = shapes[s][1], K = shapes[s][2];
        float *x = rand_f32((size_t)T * K, -1.0f, 1.0f);
        float *bias = rand_f32((size_t)N, -1.0f, 1.0f);
        double *wv;
        void *w = make_weights(wd, (size_t)N * K, &wv);
        tbuf xb, wb, bb, yb;
        bool ok = tb_make(be, &xb, ESFT_F32, (size_t)T * K, x);
        ok = tb_make(be, &wb, wd, (size_t)N * K, w) && ok;
        ok = tb_make(be, &bb, ESFT_F32, (size_t)N, bias) && ok;
        ok = tb_make(be, &yb, ESFT_F32, (size_t)T * N, NULL) && ok;
        double *ref = malloc((size_t)T * N * sizeof *ref);
        for (int with_bias = 0; ok && with_bias < 2; with_bias++) {
            CHECK_OK(esft_matmul(be, &yb.b, &xb.b, &wb.b, with_bias ? &bb.b : NULL, T, N, K));
            for (int t = 0; t < T; t++)
                for (int n = 0; n < N; n++) {
                    double acc = with_bias ? bias[n] : 0.0;
                    for (int k = 0; k < K; k++)
                        acc += (double)x[(size_t)t * K + k] * wv[(size_t)n * K + k];
                    ref[(size_t)t * N + n] = acc;
                }
            float *y = tb_get(&yb);
            double err = norm_err_f(y, ref, (size_t)T * N);
            if (err > worst) worst = err;
            CHECKF(err <= tol, "%s: matmul %s T=%d N=%d K=%d bias=%d: normalised error %g", bk,
                   esft_dtype_name(wd), T, N, K, with_bias, err);
            free(y);
            CHECK_GUARD(&yb);
        }
        if (ok) {
            CHECKF(tb_equals(&xb, x) && tb_equals(&wb, w) && tb_equals(&bb, bias),
                   "%s: matmul changed an input", bk);
            CHECK_GUARD(&xb);
            CHECK_GUARD(&wb);
        }
        tb_free(&xb);
        tb_free(&wb);
        tb_free(&bb);
        tb_free(&yb);
        free(ref);
        free(x);
        free(bias);
        free(w);
        free(wv);
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_MATMUL, wd, note);
}

static void t_rmsnorm(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_RMSNORM, ESFT_F32)) return;
    const int shapes[][2] = {{1, 1}, {3, 17}, {2, 129}, {5, 576}, {17, 3}, {1, 1536}};
    const float epss[] = {1e-5f, 1e-6f};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (size_t e = 0; e < 2; e++) {
            for (int inplace = 0; inplace < 2; inplace++) {
                int T = shapes[s][0], D = shapes[s][1];
                size_t n = (size_t)T * D;
                float *x = rand_f32(n, -3.0f, 3.0f), *w = rand_f32((size_t)D, -2.0f, 2.0f);
                if (s == 0) x[0] = 0.0f; /* all-zero row: eps keeps it finite */
                tbuf xb, wb, yb;
                bool ok = tb_make(be, &xb, ESFT_F32, n, x);
                ok = tb_make(be, &wb, ESFT_F32, (size_t)D, w) && ok;
                ok = (inplace || tb_make(be, &yb, ESFT_F32, n, NULL)) && ok;
                tbuf *out = inplace ? &xb : &yb;
                if (ok) {
                    CHECK_OK(esft_rmsnorm(be, &out->b, &xb.b, &wb.b, T, D, epss[e]));
                    double *ref = malloc(n * sizeof *ref);
                    for (int t = 0; t < T; t++) {
                        double ss = 0;
                        for (int i = 0; i < D; i++) ss += (double)x[t * D + i] * x[t * D + i];
                        double sc = 1.0 / sqrt(ss / D + (double)epss[e]);
                        for (int i = 0; i < D; i++) ref[t * D + i] = x[t * D + i] * sc * w[i];
                    }
                    float *y = tb_get(out);
                    double err = norm_err_f(y, ref, n);
                    if (err > worst) worst = err;
                    CHECKF(err <= 1e-5, "%s: rmsnorm T=%d D=%d inplace=%d: error %g", bk, T, D,
                           inplace, err);
                    CHECK_GUARD(out);
                    if (!inplace) CHECKF(tb_equals(&xb, x), "%s: rmsnorm changed x", bk);
                    CHECKF(tb_equals(&wb, w), "%s: rmsnorm changed w", bk);
                    free(y);
                    free(ref);
                }
                tb_free(&xb);
                tb_free(&wb);
                if (!inplace) tb_free(&yb);
                free(x);
                free(w);
            }
        }
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_RMSNORM, ESFT_F32, note);
}

static void t_rope(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_ROPE, ESFT_F32)) return;
    const int shapes[][3] = {{1, 1, 2}, {5, 3, 8}, {3, 9, 64}, {17, 2, 128}, {2, 12, 128}};
    const float bases[] = {10000.0f, 1000000.0f, 100000.0f};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        for (int variant = 0; variant < 4; variant++) { /* style x with/without frequency factors */
            const int style = variant & 1;
            const bool use_ff = variant >= 2;
            int T = shapes[s][0], H = shapes[s][1], hd = shapes[s][2];
            float base = bases[s % 3];
            size_t n = (size_t)T * H * hd;
            float *x = rand_f32(n, -2.0f, 2.0f);
            float *ff = rand_f32((size_t)hd / 2, 1.0f, 8.0f); /* Llama 3 divisors lie in [1, factor] */
            int32_t *pos = malloc((size_t)T * sizeof *pos);
            const int32_t pick[] = {0, 1, 7, 31, 100, 1000, 4095, 32767};
            for (int t = 0; t < T; t++) pos[t] = pick[(t + s) % 8];
            tbuf xb, pb, fb;
            bool ok = tb_make(be, &xb, ESFT_F32, n, x);
            ok = tb_make(be, &pb, ESFT_I32, (size_t)T, pos) && ok;
            ok = tb_make(be, &fb, ESFT_F32, (size_t)hd / 2, ff) && ok;
            if (ok) {
                CHECK_OK(esft_rope(be, &xb.b, &pb.b, T, H, hd, base, use_ff ? &fb.b : NULL, (esft_rope_style)style));
                float *y = tb_get(&xb);
                for (int t = 0; t < T; t++) {
                    double *ref = malloc((size_t)H * hd * sizeof *ref);
                    for (int h = 0; h < H; h++) {
                        const float *v = x + ((size_t)t * H + h) * hd;
                        double *r = ref + (size_t)h * hd;
                        for (int i = 0; i < hd / 2; i++) {
                            double th = pos[t] * pow(base, -2.0 * i / hd) / (use_ff ? ff[i] : 1.0);
                            int i0 = style == ESFT_ROPE_NEOX ? i : 2 * i;
                            int i1 = style == ESFT_ROPE_NEOX ? i + hd / 2 : 2 * i + 1;
                            r[i0] = v[i0] * cos(th) - v[i1] * sin(th);
                            r[i1] = v[i0] * sin(th) + v[i1] * cos(th);
                        }
                    }
                    /* an angle of pos radians has an f32 resolution of ~pos * 6e-8 */
                    double tol = 1e-5 + 1e-7 * pos[t];
                    double err = norm_err_f(y + (size_t)t * H * hd, ref, (size_t)H * hd);
                    if (pos[t] <= 1000 && err > worst) worst = err;
                    CHECKF(err <= tol, "%s: rope %s%s T=%d H=%d hd=%d pos=%d: error %g", bk,
                           style ? "neox" : "norm", use_ff ? " (freq factors)" : "", T, H, hd, pos[t], err);
                    free(ref);
                }
                CHECK_GUARD(&xb);
                CHECKF(tb_equals(&pb, pos) && tb_equals(&fb, ff), "%s: rope changed pos or factors", bk);
                free(y);
            }
            tb_free(&xb);
            tb_free(&pb);
            tb_free(&fb);
            free(x);
            free(ff);
            free(pos);
        }
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g (pos <= 1000)", worst);
    op_end(be, ESFT_OP_ROPE, ESFT_F32, note);
}

/* The gated activations, in double. */
static double silu_ref(double g) { return g / (1.0 + exp(-g)); }
static double gelu_tanh_ref(double g) {
    return 0.5 * g * (1.0 + tanh(0.79788456080286536 /* sqrt(2 / pi) */ * (g + 0.044715 * g * g * g)));
}

/* swiglu or geglu: y = act(gate) * up */
static void t_glu(esft_backend *be, esft_op op) {
    const char *bk = be->kind, *name = esft_op_name(op);
    double (*act)(double) = op == ESFT_OP_GEGLU ? gelu_tanh_ref : silu_ref;
    /* OpenCL allows tanh 5 ulp: near 1 + tanh = 0 (gate -12) that is ~1e-5 of
     * g * u / 2 */
    const double tol = op == ESFT_OP_GEGLU ? 3e-5 : 1e-5;
    if (!op_begin(be, op, ESFT_F32)) return;
    const size_t sizes[] = {1, 3, 17, 129, 100003};
    double worst = 0;
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int alias = 0; alias < 3; alias++) { /* 0: y separate, 1: y = gate, 2: y = up */
            size_t n = sizes[s];
            float *g = rand_f32(n, -12.0f, 12.0f), *u = rand_f32(n, -3.0f, 3.0f);
            if (n > 5) g[3] = -100.0f, g[4] = 100.0f, g[5] = 0.0f;
            tbuf gb, ub, yb;
            bool ok = tb_make(be, &gb, ESFT_F32, n, g);
            ok = tb_make(be, &ub, ESFT_F32, n, u) && ok;
            ok = (alias || tb_make(be, &yb, ESFT_F32, n, NULL)) && ok;
            tbuf *out = alias == 1 ? &gb : alias == 2 ? &ub : &yb;
            if (ok) {
                CHECK_OK(op == ESFT_OP_GEGLU ? esft_geglu(be, &out->b, &gb.b, &ub.b, n)
                                             : esft_swiglu(be, &out->b, &gb.b, &ub.b, n));
                float *y = tb_get(out);
                size_t bad = 0;
                double md = 0;
                for (size_t i = 0; i < n; i++) {
                    double ref = act((double)g[i]) * u[i];
                    double d = fabs(y[i] - ref) / fmax(1.0, fabs(ref));
                    if (!(d <= tol)) bad++;
                    if (d > md || isnan(d)) md = d;
                }
                if (md > worst) worst = md;
                CHECKF(bad == 0, "%s: %s n=%zu alias=%d: %zu off (max %g)", bk, name, n, alias, bad,
                       md);
                CHECK_GUARD(out);
                if (alias != 1) CHECKF(tb_equals(&gb, g), "%s: %s changed gate", bk, name);
                if (alias != 2) CHECKF(tb_equals(&ub, u), "%s: %s changed up", bk, name);
                free(y);
            }
            tb_free(&gb);
            tb_free(&ub);
            if (!alias) tb_free(&yb);
            free(g);
            free(u);
        }
    }
    char note[64];
    snprintf(note, sizeof note, "max rel err %.2g", worst);
    op_end(be, op, ESFT_F32, note);
}

static void t_add(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_ADD, ESFT_F32)) return;
    const size_t sizes[] = {1, 3, 17, 129, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        for (int alias = 0; alias < 3; alias++) { /* y separate, y = a, y = b */
            size_t n = sizes[s];
            float *a = rand_f32(n, -10.0f, 10.0f), *b = rand_f32(n, -1e-3f, 1e-3f);
            float *want = malloc(n * sizeof *want);
            for (size_t i = 0; i < n; i++) want[i] = a[i] + b[i]; /* f32, correctly rounded */
            tbuf ab, bb, yb;
            bool ok = tb_make(be, &ab, ESFT_F32, n, a);
            ok = tb_make(be, &bb, ESFT_F32, n, b) && ok;
            ok = (alias || tb_make(be, &yb, ESFT_F32, n, NULL)) && ok;
            tbuf *out = alias == 1 ? &ab : alias == 2 ? &bb : &yb;
            if (ok) {
                CHECK_OK(esft_add(be, &out->b, &ab.b, &bb.b, n));
                CHECKF(tb_equals(out, want), "%s: add n=%zu alias=%d: not a + b", bk, n, alias);
                CHECK_GUARD(out);
                if (alias != 1) CHECKF(tb_equals(&ab, a), "%s: add changed a", bk);
                if (alias != 2) CHECKF(tb_equals(&bb, b), "%s: add changed b", bk);
            }
            tb_free(&ab);
            tb_free(&bb);
            if (!alias) tb_free(&yb);
            free(a);
            free(b);
            free(want);
        }
    }
    op_end(be, ESFT_OP_ADD, ESFT_F32, "bit-exact");
}

static void t_scale(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_SCALE, ESFT_F32)) return;
    const size_t sizes[] = {1, 3, 17, 129, 100003};
    for (size_t s = 0; s < sizeof sizes / sizeof sizes[0]; s++) {
        size_t n = sizes[s];
        float *x = rand_f32(n, -10.0f, 10.0f), *want = malloc(n * sizeof *want);
        const float factor = 0.99975f;
        for (size_t i = 0; i < n; i++) want[i] = x[i] * factor; /* f32, correctly rounded */
        tbuf xb;
        if (tb_make(be, &xb, ESFT_F32, n, x)) {
            CHECK_OK(esft_scale(be, &xb.b, n, factor));
            CHECKF(tb_equals(&xb, want), "%s: scale n=%zu: not x * factor", bk, n);
            CHECK_GUARD(&xb);
        }
        tb_free(&xb);
        free(x);
        free(want);
    }
    op_end(be, ESFT_OP_SCALE, ESFT_F32, "bit-exact");
}

static void t_get_rows(esft_backend *be, esft_dtype dt) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_GET_ROWS, dt)) return;
    const int shapes[][3] = {{1, 1, 1}, {3, 3, 5}, {17, 17, 40}, {5, 576, 97}, {2, 129, 2}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], D = shapes[s][1], R = shapes[s][2];
        double *vals;
        void *tab = make_weights(dt, (size_t)R * D, &vals);
        int32_t *ids = malloc((size_t)T * sizeof *ids);
        for (int t = 0; t < T; t++) ids[t] = (int32_t)(rng_u64() % (uint64_t)R);
        ids[0] = R - 1; /* the last row */
        if (T > 2) ids[1] = 0, ids[2] = 0; /* the first row, repeated */
        tbuf tb, ib, yb;
        bool ok = tb_make(be, &tb, dt, (size_t)R * D, tab);
        ok = tb_make(be, &ib, ESFT_I32, (size_t)T, ids) && ok;
        ok = tb_make(be, &yb, ESFT_F32, (size_t)T * D, NULL) && ok;
        if (ok) {
            /* the op must see a whole number of rows: show it exactly R rows,
             * the guard lies beyond them */
            tb.b.n = (size_t)R * D;
            CHECK_OK(esft_get_rows(be, &yb.b, &tb.b, &ib.b, T, D));
            tb.b.n = (size_t)R * D + GUARD;
            float *y = tb_get(&yb);
            size_t bad = 0;
            for (int t = 0; t < T; t++)
                for (int i = 0; i < D; i++)
                    bad += y[(size_t)t * D + i] != (float)vals[(size_t)ids[t] * D + i];
            CHECKF(bad == 0, "%s: get_rows %s T=%d D=%d: %zu elements differ", bk,
                   esft_dtype_name(dt), T, D, bad);
            CHECK_GUARD(&yb);
            CHECK_GUARD(&tb);
            CHECKF(tb_equals(&tb, tab) && tb_equals(&ib, ids), "%s: get_rows changed an input", bk);
            free(y);
        }
        tb_free(&tb);
        tb_free(&ib);
        tb_free(&yb);
        free(tab);
        free(vals);
        free(ids);
    }
    op_end(be, ESFT_OP_GET_ROWS, dt, "bit-exact");
}

/* Host mirror of the KV caches for the attention reference. */
typedef struct attn_case {
    int H, KVH, hd, max_ctx, n_slots;
    int window; /* 0: whole causal past */
    float *kc, *vc; /* [slots][ctx][KVH][hd] as expected after each call */
    bool *filled;   /* [slots][ctx] */
} attn_case;

static void attn_call(esft_backend *be, attn_case *ac, tbuf *kcb, tbuf *vcb, int T,
                      const int32_t *seq, const int32_t *pos, double *worst) {
    const char *bk = be->kind;
    int H = ac->H, KVH = ac->KVH, hd = ac->hd, C = ac->max_ctx;
    size_t qn = (size_t)T * H * hd, kn = (size_t)T * KVH * hd, row = (size_t)KVH * hd;
    float *q = rand_f32(qn, -2.0f, 2.0f), *k = rand_f32(kn, -2.0f, 2.0f),
          *v = rand_f32(kn, -1.0f, 1.0f);
    float scale = 1.0f / sqrtf((float)hd);
    tbuf qb, kb, vb, ob, sb, pb;
    bool ok = tb_make(be, &qb, ESFT_F32, qn, q);
    ok = tb_make(be, &kb, ESFT_F32, kn, k) && ok;
    ok = tb_make(be, &vb, ESFT_F32, kn, v) && ok;
    ok = tb_make(be, &ob, ESFT_F32, qn, NULL) && ok;
    ok = tb_make(be, &sb, ESFT_I32, (size_t)T, seq) && ok;
    ok = tb_make(be, &pb, ESFT_I32, (size_t)T, pos) && ok;
    if (ok) {
        /* the caches are passed as exactly n_slots slots; the guard is past them */
        size_t cn = (size_t)ac->n_slots * C * row;
        kcb->b.n = vcb->b.n = cn;
        CHECK_OK(esft_attention(be, &ob.b, &qb.b, &kb.b, &vb.b, &kcb->b, &vcb->b, &sb.b, &pb.b, T,
                                H, KVH, hd, C, ac->window, scale));
        kcb->b.n = vcb->b.n = cn + GUARD;
        /* the expected caches */
        for (int t = 0; t < T; t++) {
            size_t at = ((size_t)seq[t] * C + pos[t]) * row;
            memcpy(ac->kc + at, k + (size_t)t * row, row * sizeof(float));
            memcpy(ac->vc + at, v + (size_t)t * row, row * sizeof(float));
            ac->filled[(size_t)seq[t] * C + pos[t]] = true;
        }
        CHECKF(tb_equals(kcb, ac->kc), "%s: attention: k cache differs from what was stored", bk);
        CHECKF(tb_equals(vcb, ac->vc), "%s: attention: v cache differs from what was stored", bk);
        CHECK_GUARD(kcb);
        CHECK_GUARD(vcb);
        /* the reference output */
        double *ref = malloc(qn * sizeof *ref), *sc = malloc((size_t)C * sizeof *sc);
        int G = H / KVH;
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                const float *qv = q + ((size_t)t * H + h) * hd;
                size_t base = (size_t)seq[t] * C * row + (size_t)(h / G) * hd;
                double mx = -INFINITY, sum = 0;
                const int j0 = ac->window > 0 && pos[t] >= ac->window ? pos[t] - ac->window + 1 : 0;
                for (int j = j0; j <= pos[t]; j++) {
                    if (!ac->filled[(size_t)seq[t] * C + j]) {
                        fprintf(stderr, "test bug: slot %d pos %d never written\n", seq[t], j);
                        abort();
                    }
                    double s = 0;
                    for (int d = 0; d < hd; d++) s += (double)qv[d] * ac->kc[base + j * row + d];
                    sc[j] = s * scale;
                    if (sc[j] > mx) mx = sc[j];
                }
                for (int j = j0; j <= pos[t]; j++) sum += (sc[j] = exp(sc[j] - mx));
                for (int d = 0; d < hd; d++) {
                    double o = 0;
                    for (int j = j0; j <= pos[t]; j++) o += sc[j] * ac->vc[base + j * row + d];
                    ref[((size_t)t * H + h) * hd + d] = o / sum;
                }
            }
        float *out = tb_get(&ob);
        double err = norm_err_f(out, ref, qn);
        if (err > *worst) *worst = err;
        CHECKF(err <= 1e-5, "%s: attention H=%d KVH=%d hd=%d T=%d window=%d: error %g", bk, H, KVH, hd, T,
               ac->window, err);
        CHECK_GUARD(&ob);
        CHECKF(tb_equals(&qb, q) && tb_equals(&kb, k) && tb_equals(&vb, v) &&
                   tb_equals(&sb, seq) && tb_equals(&pb, pos),
               "%s: attention changed an input", bk);
        free(out);
        free(ref);
        free(sc);
    }
    tb_free(&qb);
    tb_free(&kb);
    tb_free(&vb);
    tb_free(&ob);
    tb_free(&sb);
    tb_free(&pb);
    free(q);
    free(k);
    free(v);
}

static void t_attention(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_ATTENTION, ESFT_F32)) return;
    (void)bk;
    const int heads[][3] = {{1, 1, 1}, {4, 2, 16}, {6, 3, 3}, {9, 3, 64}, {8, 8, 32}};
    double worst = 0;
    for (size_t hc = 0; hc < sizeof heads / sizeof heads[0]; hc++) {
        /* some shapes with a sliding window of 3 (Gemma 3's local layers) */
        attn_case ac = {heads[hc][0], heads[hc][1], heads[hc][2], 40, 3, hc % 2 ? 3 : 0, NULL, NULL, NULL};
        size_t cn = (size_t)ac.n_slots * ac.max_ctx * ac.KVH * ac.hd;
        ac.kc = malloc(cn * sizeof(float));
        ac.vc = malloc(cn * sizeof(float));
        ac.filled = calloc((size_t)ac.n_slots * ac.max_ctx, sizeof(bool));
        fill_sentinel(ac.kc, ESFT_F32, 0, cn);
        fill_sentinel(ac.vc, ESFT_F32, 0, cn);
        tbuf kcb, vcb;
        bool ok = tb_make(be, &kcb, ESFT_F32, cn, NULL);
        ok = tb_make(be, &vcb, ESFT_F32, cn, NULL) && ok;
        if (ok) {
            /* 1. prefill of three sequences of different lengths, packed;
             *    never-written cache positions hold NaN: reading past pos
             *    poisons the output */
            int32_t s1[11], p1[11];
            int T = 0;
            for (int i = 0; i < 7; i++) s1[T] = 0, p1[T++] = i;
            for (int i = 0; i < 3; i++) s1[T] = 2, p1[T++] = i;
            s1[T] = 1, p1[T++] = 0;
            attn_call(be, &ac, &kcb, &vcb, T, s1, p1, &worst);
            /* 2. decode: one token per sequence, in another order */
            int32_t s2[3] = {1, 0, 2}, p2[3] = {1, 7, 3};
            attn_call(be, &ac, &kcb, &vcb, 3, s2, p2, &worst);
            /* 3. mixed: a chunked prefill continuing sequence 1 next to decodes */
            int32_t s3[6] = {1, 1, 1, 1, 0, 2}, p3[6] = {2, 3, 4, 5, 8, 4};
            attn_call(be, &ac, &kcb, &vcb, 6, s3, p3, &worst);
            /* 4. a single decode deep into the context */
            int32_t s4[1] = {0}, p4[1] = {9};
            attn_call(be, &ac, &kcb, &vcb, 1, s4, p4, &worst);
        }
        tb_free(&kcb);
        tb_free(&vcb);
        free(ac.kc);
        free(ac.vc);
        free(ac.filled);
    }
    /* a long sequence (SmolLM2 shape): prefill 300 tokens, then decode 2 */
    {
        attn_case ac = {9, 3, 64, 320, 1, 0, NULL, NULL, NULL};
        size_t cn = (size_t)ac.max_ctx * ac.KVH * ac.hd;
        ac.kc = malloc(cn * sizeof(float));
        ac.vc = malloc(cn * sizeof(float));
        ac.filled = calloc((size_t)ac.max_ctx, sizeof(bool));
        fill_sentinel(ac.kc, ESFT_F32, 0, cn);
        fill_sentinel(ac.vc, ESFT_F32, 0, cn);
        tbuf kcb, vcb;
        bool ok = tb_make(be, &kcb, ESFT_F32, cn, NULL);
        ok = tb_make(be, &vcb, ESFT_F32, cn, NULL) && ok;
        if (ok) {
            int32_t s[300], p[300];
            for (int i = 0; i < 300; i++) s[i] = 0, p[i] = i;
            attn_call(be, &ac, &kcb, &vcb, 300, s, p, &worst);
            int32_t sd[1] = {0}, pd[1] = {300};
            attn_call(be, &ac, &kcb, &vcb, 1, sd, pd, &worst);
            pd[0] = 301;
            attn_call(be, &ac, &kcb, &vcb, 1, sd, pd, &worst);
        }
        tb_free(&kcb);
        tb_free(&vcb);
        free(ac.kc);
        free(ac.vc);
        free(ac.filled);
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_ATTENTION, ESFT_F32, note);
}

static void t_argmax(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_ARGMAX, ESFT_F32)) return;
    const int shapes[][2] = {{1, 1}, {3, 2}, {5, 17}, {4, 129}, {3, 49152}};
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        int T = shapes[s][0], N = shapes[s][1];
        float *x = rand_f32((size_t)T * N, -5.0f, 5.0f);
        int32_t *want = malloc((size_t)T * sizeof *want);
        for (int t = 0; t < T; t++) {
            float *r = x + (size_t)t * N;
            switch (t % 5) {
            case 0: /* a tie between two maxima: the first wins */
                if (N > 2) r[N - 1] = r[N / 2] = 9.0f;
                break;
            case 1: /* all equal */
                for (int i = 0; i < N; i++) r[i] = -1.5f;
                break;
            case 2: /* all negative, -inf present, max at the end */
                for (int i = 0; i < N; i++) r[i] = -fabsf(r[i]) - 1.0f;
                r[0] = -INFINITY;
                r[N - 1] = -0.5f;
                break;
            case 3: /* max at index 0 with a later tie */
                r[0] = 7.0f;
                if (N > 1) r[N - 1] = 7.0f;
                break;
            default: break;
            }
            int best = 0;
            for (int i = 1; i < N; i++)
                if (r[i] > r[best]) best = i;
            want[t] = best;
        }
        tbuf xb, ib;
        bool ok = tb_make(be, &xb, ESFT_F32, (size_t)T * N, x);
        ok = tb_make(be, &ib, ESFT_I32, (size_t)T, NULL) && ok;
        if (ok) {
            CHECK_OK(esft_argmax(be, &ib.b, &xb.b, T, N));
            int32_t *got = tb_get(&ib);
            for (int t = 0; t < T; t++)
                CHECKF(got[t] == want[t], "%s: argmax T=%d N=%d row %d: %d, want %d", bk, T, N, t,
                       got[t], want[t]);
            CHECK_GUARD(&ib);
            CHECKF(tb_equals(&xb, x), "%s: argmax changed x", bk);
            free(got);
        }
        tb_free(&xb);
        tb_free(&ib);
        free(x);
        free(want);
    }
    op_end(be, ESFT_OP_ARGMAX, ESFT_F32, "exact");
}

/* Buffers: upload / download / copy with offsets. */
static void t_buffers(esft_backend *be) {
    const char *bk = be->kind;
    int f0 = test_failed_;
    const esft_dtype dts[] = {ESFT_F32, ESFT_F16, ESFT_BF16, ESFT_I32};
    for (size_t d = 0; d < 4; d++) {
        size_t n = 1001, es = esft_dtype_size(dts[d]);
        unsigned char *h = malloc(n * es), *g = malloc(n * es);
        for (size_t i = 0; i < n * es; i++) h[i] = (unsigned char)rng_u64();
        esft_buf a, b;
        CHECK_OK(esft_buf_alloc(be, &a, dts[d], n));
        CHECK_OK(esft_buf_alloc(be, &b, dts[d], n));
        CHECK(a.n >= n && a.dtype == dts[d] && a.be == be);
        CHECK_OK(esft_upload(&a, 0, h, n));
        CHECK_OK(esft_copy(&b, 0, &a, 0, n));
        CHECK_OK(esft_copy(&b, 10, &a, 500, 77));
        CHECK_OK(esft_synchronize(be));
        CHECK_OK(esft_download(&b, 0, g, n));
        CHECK(memcmp(g, h, 10 * es) == 0 && memcmp(g + 10 * es, h + 500 * es, 77 * es) == 0 &&
              memcmp(g + 87 * es, h + 87 * es, (n - 87) * es) == 0);
        CHECK_OK(esft_download(&a, 3, g, 5));
        CHECK(memcmp(g, h + 3 * es, 5 * es) == 0);
        CHECK(esft_download(&a, n - 2, g, 5) != ESFT_OK); /* out of range: refused */
        esft_buf_free(&a);
        esft_buf_free(&b);
        free(h);
        free(g);
    }
    printf("[%s] %-10s %-5s %s\n", bk, "buffers", "all", test_failed_ == f0 ? "PASS" : "FAIL");
}

/* ------------------------------------------------ low-rank members (EGGROLL) */

/* Random member index per token in [0, P), as i32. */
static int32_t *rand_members(int T, int P) {
    int32_t *m = malloc((size_t)T * sizeof *m);
    for (int t = 0; t < T; t++) m[t] = (int32_t)(rng_u64() % (uint64_t)P);
    return m;
}

/* y[t, :] += s_t (x_t . B_k) . A_k^T, in double, from the stacked factors. */
static void ref_lowrank_matmul(double *y, const float *x, const float *A, const float *B, const int32_t *mem,
                               const float *s, int T, int N, int K, int R) {
    for (int t = 0; t < T; t++) {
        const float *Ak = A + (size_t)mem[t] * N * R, *Bk = B + (size_t)mem[t] * K * R;
        for (int i = 0; i < N; i++) {
            double acc = 0;
            for (int r = 0; r < R; r++) {
                double u = 0;
                for (int j = 0; j < K; j++) u += (double)x[(size_t)t * K + j] * Bk[(size_t)j * R + r];
                acc += u * Ak[(size_t)i * R + r];
            }
            y[(size_t)t * N + i] += s[t] * acc;
        }
    }
}

static void t_lowrank_matmul(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_LOWRANK_MATMUL, ESFT_F32)) return;
    /* T, N, K, R, P */
    const int shapes[][5] = {{1, 1, 1, 1, 1}, {3, 17, 5, 2, 2}, {17, 129, 33, 4, 3}, {5, 576, 96, 1, 5},
                             {2, 3, 129, 8, 1}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int T = shapes[s][0], N = shapes[s][1], K = shapes[s][2], R = shapes[s][3], P = shapes[s][4];
        float *y = rand_f32((size_t)T * N, -1, 1), *x = rand_f32((size_t)T * K, -1, 1);
        float *A = rand_f32((size_t)P * N * R, -2, 2), *B = rand_f32((size_t)P * K * R, -2, 2);
        float *sc = rand_f32((size_t)T, -0.5f, 0.5f);
        int32_t *mem = rand_members(T, P);
        double *ref = malloc((size_t)T * N * sizeof *ref);
        for (size_t i = 0; i < (size_t)T * N; i++) ref[i] = y[i];
        ref_lowrank_matmul(ref, x, A, B, mem, sc, T, N, K, R);
        tbuf yb, xb, ab, bb, mb, sb;
        bool ok = tb_make(be, &yb, ESFT_F32, (size_t)T * N, y);
        ok = tb_make(be, &xb, ESFT_F32, (size_t)T * K, x) && ok;
        ok = tb_make(be, &ab, ESFT_F32, (size_t)P * N * R, A) && ok;
        ok = tb_make(be, &bb, ESFT_F32, (size_t)P * K * R, B) && ok;
        ok = tb_make(be, &mb, ESFT_I32, (size_t)T, mem) && ok;
        ok = tb_make(be, &sb, ESFT_F32, (size_t)T, sc) && ok;
        if (ok) {
            CHECK_OK(esft_lowrank_matmul(be, &yb.b, &xb.b, &ab.b, &bb.b, &mb.b, &sb.b, T, N, K, R, P));
            float *got = tb_get(&yb);
            double err = norm_err_f(got, ref, (size_t)T * N);
            if (err > worst) worst = err;
            CHECKF(err <= 1e-5, "%s: lowrank_matmul T=%d N=%d K=%d R=%d P=%d: normalised error %g", bk, T, N, K,
                   R, P, err);
            CHECK_GUARD(&yb);
            CHECKF(tb_equals(&xb, x) && tb_equals(&ab, A) && tb_equals(&bb, B), "%s: lowrank_matmul changed an input",
                   bk);
            free(got);
        }
        tb_free(&yb), tb_free(&xb), tb_free(&ab), tb_free(&bb), tb_free(&mb), tb_free(&sb);
        free(y), free(x), free(A), free(B), free(sc), free(mem), free(ref);
    }
    /* a member index outside [0, P) is refused, not read out of bounds */
    {
        float one = 1.0f;
        int32_t bad = 2;
        tbuf yb, xb, ab, bb, mb, sb;
        bool ok = tb_make(be, &yb, ESFT_F32, 1, &one) && tb_make(be, &xb, ESFT_F32, 1, &one) &&
                  tb_make(be, &ab, ESFT_F32, 1, &one) && tb_make(be, &bb, ESFT_F32, 1, &one) &&
                  tb_make(be, &mb, ESFT_I32, 1, &bad) && tb_make(be, &sb, ESFT_F32, 1, &one);
        /* device kernels cannot report it; the host default and the cpu do */
        if (ok && (!be->ops->lowrank_matmul || strcmp(be->kind, "cpu") == 0))
            CHECKF(esft_lowrank_matmul(be, &yb.b, &xb.b, &ab.b, &bb.b, &mb.b, &sb.b, 1, 1, 1, 1, 1) != ESFT_OK,
                   "%s: lowrank_matmul accepted member 2 of 1", bk);
        CHECKF(esft_lowrank_matmul(be, &yb.b, &xb.b, &ab.b, &bb.b, &mb.b, &sb.b, 1, 1, 1, 0, 1) != ESFT_OK,
               "%s: lowrank_matmul accepted rank 0", bk);
        tb_free(&yb), tb_free(&xb), tb_free(&ab), tb_free(&bb), tb_free(&mb), tb_free(&sb);
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_LOWRANK_MATMUL, ESFT_F32, note);
}

static void t_lowrank_rows(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_LOWRANK_ROWS, ESFT_F32)) return;
    /* T, D, V, R, P */
    const int shapes[][5] = {{1, 1, 1, 1, 1}, {3, 17, 5, 2, 2}, {17, 129, 40, 4, 3}, {5, 576, 97, 1, 5}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int T = shapes[s][0], D = shapes[s][1], V = shapes[s][2], R = shapes[s][3], P = shapes[s][4];
        float *y = rand_f32((size_t)T * D, -1, 1);
        float *A = rand_f32((size_t)P * V * R, -2, 2), *B = rand_f32((size_t)P * D * R, -2, 2);
        float *sc = rand_f32((size_t)T, -0.5f, 0.5f);
        int32_t *mem = rand_members(T, P), *ids = rand_members(T, V);
        double *ref = malloc((size_t)T * D * sizeof *ref);
        for (int t = 0; t < T; t++) {
            const float *arow = A + ((size_t)mem[t] * V + (size_t)ids[t]) * R, *Bk = B + (size_t)mem[t] * D * R;
            for (int d = 0; d < D; d++) {
                double acc = 0;
                for (int r = 0; r < R; r++) acc += (double)arow[r] * Bk[(size_t)d * R + r];
                ref[(size_t)t * D + d] = y[(size_t)t * D + d] + sc[t] * acc;
            }
        }
        tbuf yb, ab, bb, ib, mb, sb;
        bool ok = tb_make(be, &yb, ESFT_F32, (size_t)T * D, y);
        ok = tb_make(be, &ab, ESFT_F32, (size_t)P * V * R, A) && ok;
        ok = tb_make(be, &bb, ESFT_F32, (size_t)P * D * R, B) && ok;
        ok = tb_make(be, &ib, ESFT_I32, (size_t)T, ids) && ok;
        ok = tb_make(be, &mb, ESFT_I32, (size_t)T, mem) && ok;
        ok = tb_make(be, &sb, ESFT_F32, (size_t)T, sc) && ok;
        if (ok) {
            CHECK_OK(esft_lowrank_rows(be, &yb.b, &ab.b, &bb.b, &ib.b, &mb.b, &sb.b, T, D, V, R, P));
            float *got = tb_get(&yb);
            double err = norm_err_f(got, ref, (size_t)T * D);
            if (err > worst) worst = err;
            CHECKF(err <= 1e-5, "%s: lowrank_rows T=%d D=%d V=%d R=%d P=%d: normalised error %g", bk, T, D, V, R, P,
                   err);
            CHECK_GUARD(&yb);
            CHECKF(tb_equals(&ab, A) && tb_equals(&bb, B), "%s: lowrank_rows changed a factor", bk);
            free(got);
        }
        tb_free(&yb), tb_free(&ab), tb_free(&bb), tb_free(&ib), tb_free(&mb), tb_free(&sb);
        free(y), free(A), free(B), free(sc), free(mem), free(ids), free(ref);
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_LOWRANK_ROWS, ESFT_F32, note);
}

static void t_lowrank_update(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_LOWRANK_UPDATE, ESFT_F32)) return;
    /* N, K, R, P */
    const int shapes[][4] = {{1, 1, 1, 1}, {3, 5, 2, 2}, {17, 129, 4, 3}, {129, 96, 1, 30}, {40, 576, 2, 7}};
    double worst = 0;
    for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
        const int N = shapes[s][0], K = shapes[s][1], R = shapes[s][2], P = shapes[s][3];
        float *A = rand_f32((size_t)P * N * R, -2, 2), *B = rand_f32((size_t)P * K * R, -2, 2);
        float *co = rand_f32((size_t)P, -1e-3f, 1e-3f);
        /* a zero master shows the update alone, normalised by its own size */
        for (int zero = 0; zero < 2; zero++) {
            float *w = zero ? calloc((size_t)N * K, sizeof *w) : rand_f32((size_t)N * K, -1, 1);
            double *ref = malloc((size_t)N * K * sizeof *ref), scale = 0;
            for (int i = 0; i < N; i++)
                for (int j = 0; j < K; j++) {
                    double acc = 0, mag = 0;
                    for (int k = 0; k < P; k++)
                        for (int r = 0; r < R; r++) {
                            double e = (double)co[k] * A[((size_t)k * N + i) * R + r] * B[((size_t)k * K + j) * R + r];
                            acc += e, mag += fabs(e);
                        }
                    ref[(size_t)i * K + j] = w[(size_t)i * K + j] + acc;
                    if (mag > scale) scale = mag;
                }
            tbuf wb, ab, bb;
            bool ok = tb_make(be, &wb, ESFT_F32, (size_t)N * K, w);
            ok = tb_make(be, &ab, ESFT_F32, (size_t)P * N * R, A) && ok;
            ok = tb_make(be, &bb, ESFT_F32, (size_t)P * K * R, B) && ok;
            if (ok) {
                CHECK_OK(esft_lowrank_update(be, &wb.b, &ab.b, &bb.b, co, N, K, R, P));
                float *got = tb_get(&wb);
                double md = 0;
                for (size_t i = 0; i < (size_t)N * K; i++) {
                    double d = fabs(got[i] - ref[i]);
                    if (!(d <= md)) md = isnan(d) ? INFINITY : d;
                }
                double err = zero ? md / scale : md;
                if (err > worst) worst = err;
                CHECKF(err <= 1e-6, "%s: lowrank_update N=%d K=%d R=%d P=%d %s master: normalised error %g", bk, N,
                       K, R, P, zero ? "zero" : "random", err);
                CHECK_GUARD(&wb);
                CHECKF(tb_equals(&ab, A) && tb_equals(&bb, B), "%s: lowrank_update changed a factor", bk);
                free(got);
            }
            tb_free(&wb), tb_free(&ab), tb_free(&bb);
            free(w), free(ref);
        }
        free(A), free(B), free(co);
    }
    char note[64];
    snprintf(note, sizeof note, "max normalised err %.2g", worst);
    op_end(be, ESFT_OP_LOWRANK_UPDATE, ESFT_F32, note);
}

/* lowrank_optimize: the rules of es_optimize with the gradient
 * g = sum_k c_k A_k B_k^T (double reference), fresh factors each step as an
 * ES iteration draws them; the bounds of t_es_optimize. */
static void t_lowrank_optimize(esft_backend *be) {
    const char *bk = be->kind;
    if (!op_begin(be, ESFT_OP_LOWRANK_OPTIMIZE, ESFT_F32)) return;
    /* N, K, R, P */
    const int shapes[][4] = {{1, 1, 1, 1}, {17, 129, 4, 3}, {40, 576, 2, 7}};
    const int T = 3;
    double worst[3] = {0};
    for (size_t ci = 0; ci < sizeof opt_cases / sizeof opt_cases[0]; ci++) {
        const opt_case *oc = &opt_cases[ci];
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int N = shapes[si][0], K = shapes[si][1], R = shapes[si][2], P = shapes[si][3];
            const size_t n = (size_t)N * K;
            opt_trial q;
            opt_trial_begin(be, &q, n);
            double *g = malloc(n * sizeof *g);
            for (int t = 1; q.ok && g && t <= T; t++) {
                float *A = rand_f32((size_t)P * N * R, -1, 1), *B = rand_f32((size_t)P * K * R, -1, 1);
                float *co = rand_f32((size_t)P, -1.0f / P, 1.0f / P);
                for (int i = 0; i < N; i++)
                    for (int j = 0; j < K; j++) {
                        double acc = 0;
                        for (int k = 0; k < P; k++)
                            for (int r = 0; r < R; r++)
                                acc += (double)co[k] * A[((size_t)k * N + i) * R + r] * B[((size_t)k * K + j) * R + r];
                        g[(size_t)i * K + j] = acc;
                    }
                tbuf ab, bb;
                bool ok = tb_make(be, &ab, ESFT_F32, (size_t)P * N * R, A);
                ok = tb_make(be, &bb, ESFT_F32, (size_t)P * K * R, B) && ok;
                if (ok) {
                    esft_opt_step s = opt_step_of(oc, t);
                    CHECK_OK(esft_lowrank_optimize(be, &q.mb.b, &q.sb.b, &q.bb.b, &ab.b, &bb.b, co, N, K, R, P, &s));
                    CHECKF(tb_equals(&ab, A) && tb_equals(&bb, B), "%s: lowrank_optimize changed a factor", bk);
                    ref_opt_rule(oc, t, n, g, q.th, q.rm, q.rv, q.base);
                } else q.ok = false;
                tb_free(&ab), tb_free(&bb);
                free(A), free(B), free(co);
            }
            free(g);
            char what[80];
            snprintf(what, sizeof what, "lowrank_optimize N=%d K=%d R=%d P=%d", N, K, R, P);
            opt_trial_end(bk, &q, oc, what, worst);
        }
    }
    char note[96];
    snprintf(note, sizeof note, "max normalised err master %.2g, change %.2g, state %.2g", worst[0], worst[1],
             worst[2]);
    op_end(be, ESFT_OP_LOWRANK_OPTIMIZE, ESFT_F32, note);
}

static void run_lowrank(esft_backend *be) {
    t_lowrank_matmul(be);
    t_lowrank_rows(be);
    t_lowrank_update(be);
    t_lowrank_optimize(be);
}

/* The host defaults that a backend without low-rank kernels gets: the same
 * checks through a copy of the backend's table with those slots emptied. */
static void run_lowrank_host_default(esft_backend *be) {
    if (!be->ops->lowrank_matmul && !be->ops->lowrank_rows && !be->ops->lowrank_update && !be->ops->lowrank_optimize)
        return;
    esft_backend_ops ops = *be->ops;
    ops.lowrank_matmul = NULL;
    ops.lowrank_rows = NULL;
    ops.lowrank_update = NULL;
    ops.lowrank_optimize = NULL;
    esft_backend shadow = *be;
    shadow.ops = &ops;
    char kind[64];
    snprintf(kind, sizeof kind, "%s-host", be->kind);
    shadow.kind = kind;
    run_lowrank(&shadow);
}

static void run_backend(esft_backend *be) {
    printf("== %s: %s (work dtype %s, %d threads)\n", be->kind, be->device_name,
           esft_dtype_name(be->work_dtype), be->n_threads);
    int f0 = test_failed_, p0 = test_passed_;
    t_buffers(be);
    t_philox(be);
    t_noise(be);
    t_perturb(be, ESFT_F32);
    t_perturb(be, ESFT_F16);
    t_perturb(be, ESFT_BF16);
    t_es_update(be);
    t_es_optimize(be);
    t_matmul(be, ESFT_F32);
    t_matmul(be, ESFT_F16);
    t_matmul(be, ESFT_BF16);
    t_rmsnorm(be);
    t_rope(be);
    t_glu(be, ESFT_OP_SWIGLU);
    t_glu(be, ESFT_OP_GEGLU);
    t_add(be);
    t_scale(be);
    t_get_rows(be, ESFT_F32);
    t_get_rows(be, ESFT_F16);
    t_get_rows(be, ESFT_BF16);
    t_attention(be);
    t_argmax(be);
    run_lowrank(be);
    run_lowrank_host_default(be);
    printf("== %s: %d checks passed, %d failed\n", be->kind, test_passed_ - p0,
           test_failed_ - f0);
}

int main(void) {
    int n_devices = 0;
    for (int d = 0; d < esft_registry_n_drivers(); d++) {
        const esft_backend_driver *drv = esft_registry_driver(d);
        esft_device_info infos[16];
        esft_err err = {{0}};
        int k = drv->enumerate(infos, 16, &err);
        if (k < 0) {
            printf("== %s: unavailable here (%s), skipped\n", drv->name, err.msg);
            continue;
        }
        if (k == 0) printf("== %s: no devices, skipped\n", drv->name);
        for (int i = 0; i < k; i++) {
            /* host threads: the default, then 3 (uneven splits of every op) */
            for (int threads = 0; threads <= 3; threads += 3) {
                esft_backend_options o = {0};
                o.device_index = infos[i].index;
                o.n_threads = threads;
                esft_backend *be = NULL;
                esft_status st = drv->create(&o, &be, &err);
                CHECKF(st == ESFT_OK, "%s device %d (%s) enumerated but does not open: %s",
                       drv->name, i, infos[i].name, err.msg);
                if (st != ESFT_OK) continue;
                n_devices++;
                run_backend(be);
                esft_backend_destroy(be);
            }
        }
    }
    CHECKF(n_devices > 0, "no backend device could be tested (the cpu backend is always built)");
    return TEST_EXIT();
}
