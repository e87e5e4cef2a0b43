#include "es.h"

#include <fnmatch.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "esft_hash.h"
#include "noise.h"

const char *esft_noise_mode_name(esft_noise_mode m) {
    switch (m) {
    case ESFT_NOISE_UNSET: return "unset";
    case ESFT_NOISE_FULL: return "full";
    case ESFT_NOISE_LOWRANK: return "lowrank";
    }
    return "unknown";
}

bool esft_noise_mode_from_name(const char *name, esft_noise_mode *out) {
    for (int m = ESFT_NOISE_FULL; m <= ESFT_NOISE_LOWRANK; m++)
        if (strcmp(name, esft_noise_mode_name((esft_noise_mode)m)) == 0) {
            *out = (esft_noise_mode)m;
            return true;
        }
    return false;
}

const char *esft_shaping_name(esft_shaping s) {
    switch (s) {
    case ESFT_SHAPING_ZSCORE: return "zscore";
    case ESFT_SHAPING_RANK: return "rank";
    case ESFT_SHAPING_RAW: return "raw";
    }
    return "unknown";
}

bool esft_shaping_from_name(const char *name, esft_shaping *out) {
    for (int s = ESFT_SHAPING_ZSCORE; s <= ESFT_SHAPING_RAW; s++)
        if (strcmp(name, esft_shaping_name((esft_shaping)s)) == 0) {
            *out = (esft_shaping)s;
            return true;
        }
    return false;
}

void esft_shape_fitness(esft_shaping s, const double *r, int n, double *z) {
    if (n <= 0) return;
    if (s == ESFT_SHAPING_RAW) {
        for (int k = 0; k < n; k++) z[k] = r[k];
        return;
    }
    if (s == ESFT_SHAPING_ZSCORE) {
        double mean = 0, var = 0;
        for (int k = 0; k < n; k++) mean += r[k];
        mean /= n;
        for (int k = 0; k < n; k++) var += (r[k] - mean) * (r[k] - mean);
        double sd = sqrt(var / n);
        for (int k = 0; k < n; k++) z[k] = (r[k] - mean) / (sd + 1e-8);
        return;
    }
    /* centered ranks: rank(k) = number of smaller rewards + (ties - 1) / 2,
     * mapped to rank / (n - 1) - 0.5 */
    for (int k = 0; k < n; k++) {
        int less = 0, equal = 0;
        for (int j = 0; j < n; j++) {
            less += r[j] < r[k];
            equal += r[j] == r[k];
        }
        double rank = less + (equal - 1) / 2.0;
        z[k] = n > 1 ? rank / (n - 1) - 0.5 : 0.0;
    }
}

uint64_t esft_es_member(uint64_t run_seed, uint64_t iter, int k, bool antithetic, float *sign) {
    if (!antithetic) {
        *sign = 1.0f;
        return esft_member_seed(run_seed, iter, (uint64_t)k);
    }
    *sign = (k & 1) ? -1.0f : 1.0f;
    return esft_member_seed(run_seed, iter, (uint64_t)(k / 2));
}

int esft_es_coefficients(uint64_t run_seed, uint64_t iter, const double *z, int n, float alpha,
                         bool antithetic, uint64_t *seeds, float *coeffs) {
    const double scale = (double)alpha / n;
    if (!antithetic) {
        for (int k = 0; k < n; k++) {
            seeds[k] = esft_member_seed(run_seed, iter, (uint64_t)k);
            coeffs[k] = (float)(scale * z[k]);
        }
        return n;
    }
    for (int j = 0; j < n / 2; j++) {
        seeds[j] = esft_member_seed(run_seed, iter, (uint64_t)j);
        coeffs[j] = (float)(scale * (z[2 * j] - z[2 * j + 1]));
    }
    return n / 2;
}

static int cmp_int(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

void esft_select_batch(uint64_t run_seed, uint64_t iter, int n, int batch, int *out) {
    if (batch >= n) {
        for (int i = 0; i < n; i++) out[i] = i;
        return;
    }
    int *perm = malloc((size_t)n * sizeof *perm);
    if (!perm) { /* fall back to a strided pick; still a pure function */
        for (int i = 0; i < batch; i++) out[i] = (int)(((int64_t)i * n) / batch);
        return;
    }
    for (int i = 0; i < n; i++) perm[i] = i;
    /* a stream distinct from member seeds: domain-separated by a constant */
    uint64_t state = esft_member_seed(run_seed ^ 0x42415443484553ull, iter, 0);
    for (int i = 0; i < batch; i++) {
        int j = i + (int)(esft_splitmix64_next(&state) % (uint64_t)(n - i));
        int t = perm[i];
        perm[i] = perm[j];
        perm[j] = t;
    }
    memcpy(out, perm, (size_t)batch * sizeof *out);
    qsort(out, (size_t)batch, sizeof *out, cmp_int);
    free(perm);
}

bool esft_glob_match(const char *pattern, const char *name) {
    return fnmatch(pattern, name, 0) == 0;
}
