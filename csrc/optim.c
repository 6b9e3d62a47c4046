/*
 * optim.c -- one optimiser update over the flat parameter buffer.
 *
 * Order of operations (PyTorch's: clip the loss gradient, then decay):
 *   norm = ||g||_2
 *   g = clamp(g, -clip_value, clip_value)            (clip_value > 0)
 *   g = g * min(1, clip_norm / ||g||_2)              (clip_norm > 0)
 *   g += l1*sign(p) + l2*p                           (where decay[i])
 *   sgd       p -= lr*g
 *   momentum  v = mu*v + g;               p -= lr*v
 *   nesterov  v = mu*v + g;               p -= lr*(g + mu*v)
 *   adagrad   s += g^2;                   p -= lr*g / (sqrt(s) + eps)
 *   rmsprop   s = rho*s + (1-rho)*g^2;    p -= lr*g / (sqrt(s) + eps)
 *   adam      m = b1*m + (1-b1)*g;  v = b2*v + (1-b2)*g^2
 *             p -= lr * (m/(1-b1^t)) / (sqrt(v/(1-b2^t)) + eps)
 * Norms are summed in double on one thread, in fixed lanes, so they do not
 * depend on the threads; the element-wise update splits over disjoint
 * ranges.
 */
#include <math.h>
#include "common.h"
#include "team.h"

/* Partial sums in this many fixed lanes (element i in lane i % lanes),
 * added lane by lane at the end: a vectorisable sum whose order depends on
 * n only, never on the threads. */
#define SN_NORM_LANES 32

#if !SN_DOUBLE
const char *sn_optimizer_name(int optimizer) {
    static const char *const names[SN_N_OPTIMIZERS] = {
        [SN_SGD] = "sgd", [SN_MOMENTUM] = "momentum",
        [SN_NESTEROV] = "nesterov", [SN_ADAGRAD] = "adagrad",
        [SN_RMSPROP] = "rmsprop", [SN_ADAM] = "adam"};
    return optimizer >= 0 && optimizer < SN_N_OPTIMIZERS ? names[optimizer]
                                                        : NULL;
}
#endif

static double SN_FN(norm2)(const real *restrict g, int64_t n) {
    double acc[SN_NORM_LANES] = {0};
    int64_t i = 0;
    for (; i + SN_NORM_LANES <= n; i += SN_NORM_LANES)
        for (int j = 0; j < SN_NORM_LANES; j++)
            acc[j] += (double)g[i + j] * g[i + j];
    for (int j = 0; i < n; i++, j++)
        acc[j] += (double)g[i] * g[i];
    double s = 0;
    for (int j = 0; j < SN_NORM_LANES; j++)
        s += acc[j];
    return sqrt(s);
}

typedef struct {
    real scale, lr, mu, b1, b2, rho, eps, l1, l2, c1, c2;
} SN_FN(consts);

/* Elements [i0, i1); `kind` and `dec` (L1/L2 apply somewhere) are
 * compile-time constants at each call, so every loop vectorises. */
SN_INLINE void SN_FN(update)(real *restrict param, real *restrict grad,
                             real *restrict s1, real *restrict s2,
                             const uint8_t *restrict decay,
                             const SN_FN(consts) *k, int64_t i0, int64_t i1,
                             const int kind, const int dec) {
    const real scale = k->scale, lr = k->lr, mu = k->mu, b1 = k->b1;
    const real b2 = k->b2, rho = k->rho, eps = k->eps, l1 = k->l1;
    const real l2 = k->l2, c1 = k->c1, c2 = k->c2;
    for (int64_t i = i0; i < i1; i++) {
        real g = grad[i] * scale, p = param[i];
        if (dec && decay[i])
            g += l1 * (p > 0 ? 1 : (p < 0 ? -1 : 0)) + l2 * p;
        grad[i] = g;
        switch (kind) {
        case SN_SGD:
            p -= lr * g;
            break;
        case SN_MOMENTUM:
            s1[i] = mu * s1[i] + g;
            p -= lr * s1[i];
            break;
        case SN_NESTEROV:
            s1[i] = mu * s1[i] + g;
            p -= lr * (g + mu * s1[i]);
            break;
        case SN_ADAGRAD:
            s1[i] += g * g;
            p -= lr * g / (sqrt(s1[i]) + eps);
            break;
        case SN_RMSPROP:
            s1[i] = rho * s1[i] + (1 - rho) * g * g;
            p -= lr * g / (sqrt(s1[i]) + eps);
            break;
        default: /* SN_ADAM */
            s1[i] = b1 * s1[i] + (1 - b1) * g;
            s2[i] = b2 * s2[i] + (1 - b2) * g * g;
            p -= lr * (s1[i] / c1) / (sqrt(s2[i] / c2) + eps);
            break;
        }
        param[i] = p;
    }
}

SN_CLONES static void SN_FN(update_range)(real *param, real *grad, real *s1,
                                          real *s2, const uint8_t *decay,
                                          const SN_FN(consts) *k, int64_t i0,
                                          int64_t i1, int kind) {
#define SN_UPDATE_CASE(KIND)                                                   \
    case KIND:                                                                \
        if (decay)                                                            \
            SN_FN(update)(param, grad, s1, s2, decay, k, i0, i1, KIND, 1);    \
        else                                                                  \
            SN_FN(update)(param, grad, s1, s2, NULL, k, i0, i1, KIND, 0);     \
        return;
    switch (kind) {
        SN_UPDATE_CASE(SN_SGD)
        SN_UPDATE_CASE(SN_MOMENTUM)
        SN_UPDATE_CASE(SN_NESTEROV)
        SN_UPDATE_CASE(SN_ADAGRAD)
        SN_UPDATE_CASE(SN_RMSPROP)
        SN_UPDATE_CASE(SN_ADAM)
    }
#undef SN_UPDATE_CASE
}

int SN_FN(sn_optim_step)(real *param, real *grad, real *state,
                         double *grad_norm, const uint8_t *decay, int64_t n,
                         const sn_optim_config *cfg, int64_t step,
                         int n_threads) {
    if (n < 0 || step < 1)
        return SN_EDIM;
    if (!param || !grad || !state || !grad_norm || !cfg ||
        cfg->kind < SN_SGD || cfg->kind > SN_ADAM)
        return SN_EARG;
    const int nt = n < (1 << 15) ? 1 : sn_threads(n_threads);
    double norm = SN_FN(norm2)(grad, n);
    *grad_norm = norm;

    const real cv = (real)cfg->clip_value;
    if (cfg->clip_value > 0) {
        for (int64_t i = 0; i < n; i++)
            grad[i] = grad[i] > cv ? cv : (grad[i] < -cv ? -cv : grad[i]);
        norm = SN_FN(norm2)(grad, n);
    }
    const SN_FN(consts) k = {
        .scale = cfg->clip_norm > 0 && norm > cfg->clip_norm
                     ? (real)(cfg->clip_norm / norm) : 1,
        .lr = (real)cfg->learning_rate, .mu = (real)cfg->momentum,
        .b1 = (real)cfg->beta1, .b2 = (real)cfg->beta2,
        .rho = (real)cfg->rho, .eps = (real)cfg->epsilon,
        .l1 = (real)cfg->l1, .l2 = (real)cfg->l2,
        .c1 = (real)(1 - pow(cfg->beta1, (double)step)),
        .c2 = (real)(1 - pow(cfg->beta2, (double)step))};

    /* Disjoint ranges in whole cache lines, one per thread. */
    sn_team team;
    const int nteam = sn_team_begin(&team, nt);
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        const int tid = omp_get_thread_num(), size = omp_get_num_threads();
        const int64_t line = 64 / (int64_t)sizeof(real);
        const int64_t per = (n / size + line) / line * line;
        const int64_t i0 = SN_MIN(n, per * tid), i1 = SN_MIN(n, i0 + per);
        SN_FN(update_range)(param, grad, state, state + n, decay, &k, i0, i1,
                            cfg->kind);
        sn_team_finish(&team, tid);
    }
    sn_team_end(&team);
    return SN_OK;
}
