#include "eval_stats.h"

#include <math.h>

double esft_pass_at_k(int n, int c, int k) {
    if (n < 1 || c < 0 || c > n || k < 1 || k > n) return NAN;
    if (n - c < k) return 1.0; /* every k-subset holds a correct sample */
    /* C(n-c, k) / C(n, k) = prod_{i=n-c+1..n} (1 - k/i): no huge binomials */
    double miss = 1.0;
    for (int i = n - c + 1; i <= n; i++) miss *= 1.0 - (double)k / i;
    return 1.0 - miss;
}

double esft_mean_pass_at_k(const int *correct, int n_items, int samples, int k) {
    double sum = 0;
    for (int i = 0; i < n_items; i++) sum += esft_pass_at_k(samples, correct[i], k);
    return n_items > 0 ? sum / n_items : NAN;
}

void esft_wilson_interval(long c, long n, double z, double *lo, double *hi) {
    if (n <= 0) {
        *lo = 0, *hi = 1;
        return;
    }
    double p = (double)c / n, z2 = z * z, d = 1 + z2 / n;
    double centre = (p + z2 / (2.0 * n)) / d;
    double half = z / d * sqrt(p * (1 - p) / n + z2 / (4.0 * n * n));
    *lo = fmax(0.0, centre - half);
    *hi = fmin(1.0, centre + half);
}
