/*
 * act.h -- scalar activations and their derivatives written from outputs.
 *
 * sigmoid never overflows: exp(-x) may reach inf, and 1/(1+inf) is 0.
 */
#ifndef SEQNET_ACT_H
#define SEQNET_ACT_H

#include <math.h>
#include "common.h"

#if SN_DOUBLE
#define SN_EXP exp
#define SN_TANH tanh
#define SN_FABS fabs
#else
#define SN_EXP expf
#define SN_TANH tanhf
#define SN_FABS fabsf
#endif

static inline real sn_sigmoid(real x) { return 1 / (1 + SN_EXP(-x)); }

static inline real sn_act(int activation, real x) {
    switch (activation) {
    case SN_RELU: return x > 0 ? x : 0;
    case SN_SOFTSIGN: return x / (1 + SN_FABS(x));
    default: return SN_TANH(x);
    }
}

/* d act / d x as a function of y = act(x). */
static inline real sn_act_grad(int activation, real y) {
    switch (activation) {
    case SN_RELU: return y > 0 ? 1 : 0;
    case SN_SOFTSIGN: {
        real s = 1 - SN_FABS(y);     /* softsign'(x) = 1/(1+|x|)^2 */
        return s * s;
    }
    default: return 1 - y * y;
    }
}

#endif
