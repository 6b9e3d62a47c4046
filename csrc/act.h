/*
 * act.h -- activations and their derivatives, written so that loops over
 * hidden units vectorise: no libm calls, no branches.
 *
 * sn_exp: x = n*ln2 + r with |r| <= ln2/2 (Cody-Waite), e^r by a
 * polynomial -- for float degree 6, its coefficients fitted for the least
 * maximum relative error on that interval (3.1e-9, a Taylor polynomial
 * needs degree 7 for 6e-9); for double Taylor's of degree 12 (2e-16) --
 * times 2^n built in the exponent bits.  Inputs are clamped to the finite
 * range first, so nothing overflows: sigmoid saturates to 1 or a tiny
 * positive number, tanh to exactly +-1 (a NaN input still gives NaN).
 * Measured on 2e6 points of [-20, 20] against NumPy in double
 * (tests/test_act.py holds the bounds): exp within 9.5e-8 (float)
 * and 4.8e-16 (double) relative; sigmoid within 1.6e-7 / 4.4e-16
 * relative; tanh within 9.1e-8 / 2.3e-16 absolute.
 */
#ifndef SEQNET_ACT_H
#define SEQNET_ACT_H

#include <math.h>
#include <string.h>
#include "common.h"

#if SN_DOUBLE
#define SN_EXP_MIN (-708.0)
#define SN_EXP_MAX 709.0
#define SN_ROUND_MAGIC 6755399441055744.0    /* 1.5 * 2^52 */
#define SN_MANT_BITS 52
#define SN_EXP_BIAS 1023
#define SN_LN2_HI 6.93147180369123816490e-01
#define SN_LN2_LO 1.90821492927058770002e-10
#else
#define SN_EXP_MIN (-87.0f)
#define SN_EXP_MAX 88.0f
#define SN_ROUND_MAGIC 12582912.0f            /* 1.5 * 2^23 */
#define SN_MANT_BITS 23
#define SN_EXP_BIAS 127
#define SN_LN2_HI 6.93145752e-01f
#define SN_LN2_LO 1.42860677e-06f
#endif

static inline real sn_exp(real x) {
    x = x < SN_EXP_MIN ? SN_EXP_MIN : (x > SN_EXP_MAX ? SN_EXP_MAX : x);
    /* n = round(x / ln2): adding 1.5*2^p rounds to an integer, which then
     * sits in the low mantissa bits of k. */
    const real k = x * (real)1.44269504088896340736 + SN_ROUND_MAGIC;
    const real n = k - SN_ROUND_MAGIC;
    const real r = (x - n * SN_LN2_HI) - n * SN_LN2_LO;
    real p;
#if SN_DOUBLE
    p = 1.0 / 479001600;
    p = p * r + 1.0 / 39916800;
    p = p * r + 1.0 / 3628800;
    p = p * r + 1.0 / 362880;
    p = p * r + 1.0 / 40320;
    p = p * r + 1.0 / 5040;
    p = p * r + 1.0 / 720;
    p = p * r + 1.0 / 120;
    p = p * r + 1.0 / 24;
    p = p * r + 1.0 / 6;
    p = p * r + 0.5;
#else
    /* 1 + r + c2 r^2 + ... + c6 r^6, minimax for the relative error */
    p = 1.381460473e-03f;
    p = p * r + 8.368707790e-03f;
    p = p * r + 4.166838733e-02f;
    p = p * r + 1.666652071e-01f;
    p = p * r + 4.999999345e-01f;
#endif
    p = p * r + 1;
    p = p * r + 1;
    sn_bits kb, magic_b, scale_b;
    const real magic = SN_ROUND_MAGIC;
    memcpy(&kb, &k, sizeof kb);
    memcpy(&magic_b, &magic, sizeof magic_b);
    scale_b = (kb - magic_b + SN_EXP_BIAS) << SN_MANT_BITS;   /* 2^n */
    real scale;
    memcpy(&scale, &scale_b, sizeof scale);
    return p * scale;
}

static inline real sn_sigmoid(real x) { return 1 / (1 + sn_exp(-x)); }

/* tanh(x) = sign(x) * (1 - e) / (1 + e) with e = exp(-2|x|) in (0, 1]. */
static inline real sn_tanh(real x) {
    const real ax = x < 0 ? -x : x;
    const real e = sn_exp(-2 * ax);
    const real t = (1 - e) / (1 + e);
    return x < 0 ? -t : t;
}

static inline real sn_fabs(real x) { return x < 0 ? -x : x; }

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
