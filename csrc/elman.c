/*
 * elman.c -- Elman RNN forward and backward (BPTT):
 *
 *   h = act(x.W + h_prev.U + b),  act one of tanh, relu, softsign.
 *
 * The output h doubles as the gate buffer: it holds x.W until the step
 * overwrites it with the activation, and the backward pass needs nothing
 * else, because each derivative is written from the output.
 */
#include "act.h"
#include "recur.h"

/* `act` and `xin` (h holds x.W to add) are compile-time constants at each
 * call: one branch-free loop per case, a = (x.W + h_prev.U) + b. */
SN_INLINE void forward_units(real *restrict h, const real *restrict rg,
                             const real *restrict bias, int64_t j0,
                             int64_t j1, const int act, const int xin) {
    for (int64_t j = j0; j < j1; j++)
        h[j] = sn_act(act, (xin ? h[j] + rg[j - j0] : rg[j - j0]) + bias[j]);
}

SN_CLONES static void forward_row(const SN_FN(sn_rnn) *r, int64_t t, int64_t b,
                        int64_t tprev, int64_t j0, int64_t j1,
                        const real *rg, int64_t w, int xin,
                        const real *xg, real *g, real *hn) {
    real *h = r->h + (t * r->B + b) * r->H;   /* its own gates: g is h */
    (void)tprev;
    (void)g;
    (void)hn;
    (void)w;
    (void)xg;   /* sum_x: never SN_X_APART */
#define SN_ELMAN_FORWARD(ACT)                                                  \
    (xin ? forward_units(h, rg, r->b, j0, j1, ACT, 1)                          \
         : forward_units(h, rg, r->b, j0, j1, ACT, 0))
    switch (r->activation) {
    case SN_RELU: SN_ELMAN_FORWARD(SN_RELU); break;
    case SN_SOFTSIGN: SN_ELMAN_FORWARD(SN_SOFTSIGN); break;
    default: SN_ELMAN_FORWARD(SN_TANH); break;
    }
#undef SN_ELMAN_FORWARD
}

SN_INLINE void backward_units(const real *restrict h,
                              const real *restrict dh, real *restrict dg,
                              const real *restrict dhc, int64_t j0,
                              int64_t j1, const int act, const int has_dh) {
    for (int64_t j = j0; j < j1; j++) {
        real dht = dhc[j];
        if (has_dh)
            dht += dh[j];
        dg[j] = dht * sn_act_grad(act, h[j]);
    }
}

SN_CLONES static void backward_row(const SN_FN(sn_rnn) *r, int64_t t, int64_t b,
                         int64_t tprev, int64_t j0, int64_t j1) {
    const int64_t row = t * r->B + b;
    const real *h = r->h + row * r->H;
    const real *dh = r->dh ? r->dh + row * r->H : NULL;
    real *dg = r->dgates + row * r->H, *dhc = r->dh_carry + b * r->H;
    (void)tprev;
#define SN_ELMAN_BACKWARD(ACT)                                                 \
    (dh ? backward_units(h, dh, dg, dhc, j0, j1, ACT, 1)                       \
        : backward_units(h, NULL, dg, dhc, j0, j1, ACT, 0))
    switch (r->activation) {
    case SN_RELU: SN_ELMAN_BACKWARD(SN_RELU); break;
    case SN_SOFTSIGN: SN_ELMAN_BACKWARD(SN_SOFTSIGN); break;
    default: SN_ELMAN_BACKWARD(SN_TANH); break;
    }
#undef SN_ELMAN_BACKWARD
}

const SN_FN(sn_cell) SN_FN(sn_cell_elman) = {
    .info = {.name = "elman", .n_gates = 1, .activation = 1,
             .gates_in_h = 1, .forget_gate = -1},
    .sum_x = 1,
    .forward_row = forward_row,
    .backward_row = backward_row,
};
