/*
 * gru.c -- GRU forward and backward (BPTT), gate order r z n, the reset
 * gate applied after the recurrent matmul (PyTorch / cuDNN form):
 *
 *   r = sigmoid(a_r)   z = sigmoid(a_z)   hn = h_prev.U_n + bh
 *   n = act(x.W_n + b_n + r*hn)           h = (1-z)*n + z*h_prev
 * with a = x.W + h_prev.U + b for r and z, and act the layer's activation
 * (tanh, softsign or relu; the gates stay sigmoid).
 */
#include "act.h"
#include "recur.h"

/* `apart` (x.W at xg, gate q at xg + q*w, rather than in g) and `act` are
 * compile-time constants at each call, so both loops vectorise.  Two loops,
 * as in lstm.c: r, z and n's pre-activation (left in n's place), then n and
 * h, so that tanh does not wait in line behind the sigmoids' chains. */
SN_INLINE void forward_units(real *restrict g, real *restrict h,
                             real *restrict hn, const real *restrict hp,
                             const real *restrict rg,
                             const real *restrict xg,
                             const real *restrict bias,
                             const real *restrict bh, int64_t H, int64_t j0,
                             int64_t j1, int64_t w, const int apart,
                             const int act) {
    for (int64_t j = j0; j < j1; j++) {
        const int64_t k = j - j0;
        const real xr = apart ? xg[k] : g[j];
        const real xz = apart ? xg[w + k] : g[H + j];
        const real xn = apart ? xg[2 * w + k] : g[2 * H + j];
        real rr = sn_sigmoid(xr + rg[k] + bias[j]);
        real z = sn_sigmoid(xz + rg[w + k] + bias[H + j]);
        real hnj = rg[2 * w + k] + bh[j];
        g[j] = rr;
        g[H + j] = z;
        g[2 * H + j] = xn + bias[2 * H + j] + rr * hnj;
        hn[j] = hnj;
    }
    for (int64_t j = j0; j < j1; j++) {
        const real n = sn_act(act, g[2 * H + j]), z = g[H + j];
        g[2 * H + j] = n;
        h[j] = (1 - z) * n + z * hp[j];
    }
}

/* The n gate needs x.W and h_prev.U apart (sum_x is 0): xin is
 * SN_X_GATES or SN_X_APART. */
SN_CLONES static void forward_row(const SN_FN(sn_rnn) *r, int64_t t, int64_t b,
                        int64_t tprev, int64_t j0, int64_t j1,
                        const real *rg, int64_t w, int xin, const real *xg,
                        real *g, real *hn) {
    const int64_t H = r->H, row = t * r->B + b;
    const real *hp = tprev < 0 ? r->h0 + b * H : r->h + (tprev * r->B + b) * H;
    real *h = r->h + row * H;
#define SN_GRU_FORWARD(ACT)                                                    \
    (xin == SN_X_APART                                                        \
         ? forward_units(g, h, hn, hp, rg, xg, r->b, r->bh, H, j0, j1, w, 1,  \
                         ACT)                                                 \
         : forward_units(g, h, hn, hp, rg, NULL, r->b, r->bh, H, j0, j1, w,   \
                         0, ACT))
    switch (r->activation) {
    case SN_RELU: SN_GRU_FORWARD(SN_RELU); break;
    case SN_SOFTSIGN: SN_GRU_FORWARD(SN_SOFTSIGN); break;
    default: SN_GRU_FORWARD(SN_TANH); break;
    }
#undef SN_GRU_FORWARD
}

SN_INLINE void backward_units(const real *restrict g,
                              const real *restrict hn,
                              const real *restrict hp,
                              const real *restrict dh, real *restrict dg,
                              real *restrict dgh,
                              real *restrict dhc, int64_t H, int64_t j0,
                              int64_t j1, const int has_dh, const int act) {
    for (int64_t j = j0; j < j1; j++) {
        real rr = g[j], z = g[H + j], n = g[2 * H + j];
        real dht = dhc[j];
        if (has_dh)
            dht += dh[j];
        /* h = (1-z)*n + z*h_prev */
        real dan = dht * (1 - z) * sn_act_grad(act, n);
        real daz = dht * (hp[j] - n) * z * (1 - z);
        /* n = act(a_n + r*hn) */
        real dar = dan * hn[j] * rr * (1 - rr);
        real dhn = dan * rr;
        dhc[j] = dht * z;       /* the direct path; the GEMM adds dgh.U^T */
        dg[j] = dgh[j] = dar;
        dg[H + j] = dgh[H + j] = daz;
        dg[2 * H + j] = dan;
        dgh[2 * H + j] = dhn;
    }
}

SN_CLONES static void backward_row(const SN_FN(sn_rnn) *r, int64_t t, int64_t b,
                         int64_t tprev, int64_t j0, int64_t j1) {
    const int64_t H = r->H, row = t * r->B + b;
    const real *g = r->gates + row * 3 * H, *hn = r->hn + row * H;
    const real *hp = tprev < 0 ? r->h0 + b * H : r->h + (tprev * r->B + b) * H;
    real *dg = r->dgates + row * 3 * H, *dgh = r->dgates_h + row * 3 * H;
    real *dhc = r->dh_carry + b * H;
    const real *dh = r->dh ? r->dh + row * H : NULL;
#define SN_GRU_BACKWARD(ACT)                                                   \
    (dh ? backward_units(g, hn, hp, dh, dg, dgh, dhc, H, j0, j1, 1, ACT)      \
        : backward_units(g, hn, hp, NULL, dg, dgh, dhc, H, j0, j1, 0, ACT))
    switch (r->activation) {
    case SN_RELU: SN_GRU_BACKWARD(SN_RELU); break;
    case SN_SOFTSIGN: SN_GRU_BACKWARD(SN_SOFTSIGN); break;
    default: SN_GRU_BACKWARD(SN_TANH); break;
    }
#undef SN_GRU_BACKWARD
}

/* dbh += sum of d hn = r * da_n: the n block of dgates_h. */
static void backward_params(const SN_FN(sn_rnn) *r, const int64_t *nact,
                            const int64_t *lengths, int reverse) {
    (void)lengths;
    (void)reverse;
    SN_FN(sn_valid_colsum)(r->dbh, r->dgates_h + 2 * r->H, r->G, r->H, nact,
                           r->T, r->B);
}

const SN_FN(sn_cell) SN_FN(sn_cell_gru) = {
    .info = {.name = "gru", .n_gates = 3, .has_hn = 1, .has_bh = 1,
             .activation = 1, .forget_gate = -1},
    .direct_dh = 1,
    .separate_h = 1,
    .forward_row = forward_row,
    .backward_row = backward_row,
    .backward_params = backward_params,
};
