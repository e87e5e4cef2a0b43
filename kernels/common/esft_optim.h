/* The optimizer rules on the ES gradient, per element, shared by the cpu,
 * OpenCL and CUDA backends (the same C subset as esft_philox.h, which must
 * be included first; GLSL writes the same formula in es_optimize.comp).
 *
 * The fused op es_optimize (backends/backend.h) computes, for element i:
 *   g  = sum_k coeffs[k] * eps(seeds[k], tid, i)     (as es_update's acc)
 *   g  = g - l2 * theta                              (adam's coupled decay)
 *   SGD:      u = g
 *   MOMENTUM: m = beta1 * m + g;                              u = m
 *   ADAM:     m = beta1 * m + (1 - beta1) * g
 *             v = beta2 * v + (1 - beta2) * g * g
 *             u = (m * bc1) / (sqrt(v * bc2) + eps)   bc_j = 1 / (1 - beta_j^t)
 *   theta = theta + (lr * u - decay * theta - anchor * (theta - base))
 * all in f32. ES ascends the reward, so the step is added. `decay` is the
 * decoupled pull toward zero (lr * weight_decay), `anchor` the pull toward
 * the base model (lr * lambda); either may be 0. */
#ifndef ESFT_OPTIM_H
#define ESFT_OPTIM_H

/* the OpenCL host prepends the rules, as it does esft_philox.h */
#ifndef ESFT_OPTIM_RULES_H
#include "esft_optim_rules.h"
#endif

/* The new (theta, m, v) of one element. */
typedef struct esft_opt_elem {
    float theta, m, v;
} esft_opt_elem;

ESFT_FN esft_opt_elem esft_opt_element(ESFT_S32 rule, float theta, float g, float m, float v, float base,
                                       float lr, float beta1, float beta2, float eps, float bc1, float bc2,
                                       float l2, float decay, float anchor) {
    esft_opt_elem r;
    g = ESFT_FMAF(-l2, theta, g);
    float u = g;
    if (rule == ESFT_OPT_MOMENTUM) {
        m = ESFT_FMAF(beta1, m, g);
        u = m;
    } else if (rule == ESFT_OPT_ADAM) {
        m = ESFT_FMAF(beta1, m, (1.0f - beta1) * g);
        v = ESFT_FMAF(beta2, v, ((1.0f - beta2) * g) * g);
        u = (m * bc1) / (ESFT_SQRTF(v * bc2) + eps);
    }
    float step = ESFT_FMAF(lr, u, ESFT_FMAF(-anchor, theta - base, -decay * theta));
    r.theta = theta + step;
    r.m = m;
    r.v = v;
    return r;
}

#endif
