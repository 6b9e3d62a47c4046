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
static inline real sn_exp(real x) { return exp(x); }
static inline real sn_tanh(real x) { return tanh(x); }
static inline real sn_fabs(real x) { return fabs(x); }
#else
static inline real sn_exp(real x) { return expf(x); }
static inline real sn_tanh(real x) { return tanhf(x); }
static inline real sn_fabs(real x) { return fabsf(x); }
#endif

static inline real sn_sigmoid(real x) { return 1 / (1 + sn_exp(-x)); }

static inline real sn_act(int activation, real x) {
    switch (activation) {
    case SN_RELU: return x > 0 ? x : 0;
    case SN_SOFTSIGN: return x / (1 + sn_fabs(x));
    default: return sn_tanh(x);
    }
}

/* d act / d x as a function of y = act(x). */
static inline real sn_act_grad(int activation, real y) {
    switch (activation) {
    case SN_RELU: return y > 0 ? 1 : 0;
    case SN_SOFTSIGN: {
        real s = 1 - sn_fabs(y);     /* softsign'(x) = 1/(1+|x|)^2 */
        return s * s;
    }
    default: return 1 - y * y;
    }
}

#endif
