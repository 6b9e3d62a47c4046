/*
 * act.c -- the activations of act.h over an array, so tests can measure
 * their error against libm and NumPy.
 */
#include "act.h"

int SN_FN(sn_activate)(real *y, const real *x, int64_t n, int kind) {
    if (n < 0)
        return SN_EDIM;
    if ((n > 0 && (!y || !x)) || kind < SN_FN_EXP || kind > SN_FN_SOFTSIGN)
        return SN_EARG;
    for (int64_t i = 0; i < n; i++) {
        switch (kind) {
        case SN_FN_EXP: y[i] = sn_exp(x[i]); break;
        case SN_FN_SIGMOID: y[i] = sn_sigmoid(x[i]); break;
        case SN_FN_TANH: y[i] = sn_tanh(x[i]); break;
        default: y[i] = sn_act(SN_SOFTSIGN, x[i]); break;
        }
    }
    return SN_OK;
}
