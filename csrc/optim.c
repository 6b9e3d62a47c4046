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
 * Norms are summed serially in double, so they do not depend on threads;
 * the element-wise update splits over disjoint ranges.
 */
#include <math.h>
#include "common.h"
#include "team.h"

static double SN_FN(norm2)(const real *g, int64_t n) {
    double s = 0;
    for (int64_t i = 0; i < n; i++)
        s += (double)g[i] * g[i];
    return sqrt(s);
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
    const real scale = cfg->clip_norm > 0 && norm > cfg->clip_norm
                           ? (real)(cfg->clip_norm / norm) : 1;

    const real lr = (real)cfg->learning_rate, mu = (real)cfg->momentum;
    const real b1 = (real)cfg->beta1, b2 = (real)cfg->beta2;
    const real rho = (real)cfg->rho, eps = (real)cfg->epsilon;
    const real l1 = (real)cfg->l1, l2 = (real)cfg->l2;
    const real c1 = (real)(1 - pow(cfg->beta1, (double)step));
    const real c2 = (real)(1 - pow(cfg->beta2, (double)step));
    real *s1 = state, *s2 = state + n;
    const int kind = cfg->kind;

    sn_team team;
    const int nteam = sn_team_begin(&team, nt);
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        #pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < n; i++) {
            real g = grad[i] * scale, p = param[i];
            if (decay && decay[i])
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
        sn_team_finish(&team, omp_get_thread_num());
    }
    sn_team_end(&team);
    return SN_OK;
}
