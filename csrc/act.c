/*
 * act.c -- the activations of act.h over an array, so tests can measure
 * their error against libm and NumPy.
 */
#include "act.h"

#if !SN_DOUBLE
const char *sn_function_name(int kind) {
    static const char *const names[SN_N_FUNCTIONS] = {
        [SN_FN_EXP] = "exp", [SN_FN_SIGMOID] = "sigmoid",
        [SN_FN_TANH] = "tanh", [SN_FN_SOFTSIGN] = "softsign"};
    return kind >= 0 && kind < SN_N_FUNCTIONS ? names[kind] : NULL;
}
#endif

int SN_FN(sn_activate)(real *y, const real *x, int64_t n, int kind) {
    if (n < 0)
        return SN_EDIM;
    if ((n > 0 && (!y || !x)) || kind < 0 || kind >= SN_N_FUNCTIONS)
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
