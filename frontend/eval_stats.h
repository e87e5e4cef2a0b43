/* The statistics an evaluation reports: pass@k and a confidence interval
 * for an accuracy. */
#ifndef ESFT_EVAL_STATS_H
#define ESFT_EVAL_STATS_H

/* z of a two-sided 95% normal interval */
#define ESFT_Z95 1.959963984540054

/* The unbiased pass@k of one problem with n samples of which c are
 * correct (Chen et al. 2021): 1 - C(n-c, k) / C(n, k), the chance that k
 * samples drawn without replacement hold a correct one. 0 <= c <= n,
 * 1 <= k <= n; outside that, NAN. */
double esft_pass_at_k(int n, int c, int k);

/* The mean of esft_pass_at_k(samples, correct[i], k) over n_items problems. */
double esft_mean_pass_at_k(const int *correct, int n_items, int samples, int k);

/* The Wilson score interval [lo, hi] of a proportion c/n at normal
 * quantile z (ESFT_Z95 for 95%); n = 0 gives [0, 1]. */
void esft_wilson_interval(long c, long n, double z, double *lo, double *hi);

#endif
