/*
 * recur.h -- the time loop shared by every cell.
 *
 * A cell supplies only its pointwise maths, one batch row and one slice of
 * hidden units at a time; recur.c owns everything else: the input
 * projection GEMM over all steps, the packed recurrent weights, the
 * per-step recurrent GEMM, the thread slices and barriers, variable lengths
 * and direction, and the weight-gradient GEMMs after the backward loop.
 */
#ifndef SEQNET_RECUR_H
#define SEQNET_RECUR_H

#include "common.h"

/* Everything a cell's row functions may read or write.  Unused fields are
 * NULL.  Layouts as in seqnet.h; G = ngates*H. */
typedef struct {
    real *h, *c, *gates, *hn;        /* forward outputs (T, B, *) */
    const real *x, *h0, *c0;
    const int64_t *codes;            /* token codes (T, B) instead of x */
    const real *U, *b, *p, *bh;
    const real *dh;                  /* upstream (T, B, H) or NULL */
    real *dgates;                    /* (T, B, G) input-side d pre-activation */
    real *dgates_h;                  /* (T, B, G) recurrent side, GRU only */
    real *dh_carry, *dc_carry;       /* (B, H) gradient flowing to step - 1 */
    real *dp, *dbh;                  /* accumulated, per hidden unit */
    int64_t T, B, I, H, G;
    int activation;
    int keep;   /* forward: keep the post-activations in gates (and hn) for
                   a backward pass; 0 for inference (see forward_row) */
} SN_FN(sn_rnn);

/* Where a forward row finds its input projection (forward_row's xin). */
enum { SN_X_SUMMED = 0, SN_X_GATES = 1, SN_X_APART = 2 };

/* A cell: its public description (seqnet.h), how the time loop must treat
 * it, and its pointwise rows. */
typedef struct {
    sn_cell_info info;
    int direct_dh;  /* backward_row leaves a direct dh_prev term in dh_carry,
                       which the recurrent GEMM then adds to */
    int separate_h; /* recurrent-side gradients differ (GRU): dgates_h */
    int sum_x;      /* every gate's pre-activation is x.W + h_prev.U + b, so
                       the loop may hand the two products over summed */
    /* Row b at time t, units [j0, j1).  tprev is the time of the previous
     * state, or -1 when the row starts from h0/c0.  rg[q*w + j - j0] is
     * the recurrent pre-activation h_prev.U of gate q (no bias).  The
     * input projection x.W is, by xin: SN_X_GATES, in gates[t, b] on entry
     * (any cell); SN_X_SUMMED, already in rg (sum_x cells only); SN_X_APART,
     * at xg[q*w + j - j0] (cells without sum_x).  g is the row's gates,
     * gates[t, b] (which holds x.W with SN_X_GATES) or, when they need not
     * be kept, a scratch row; it holds the post-activations on exit.  hn
     * likewise for the GRU's hn[t, b], else NULL. */
    void (*forward_row)(const SN_FN(sn_rnn) *r, int64_t t, int64_t b,
                        int64_t tprev, int64_t j0, int64_t j1,
                        const real *rg, int64_t w, int xin, const real *xg,
                        real *g, real *hn);
    /* Writes dgates[t, b] (and dgates_h, the recurrent side, when it
     * differs) for units [j0, j1); updates dh_carry/dc_carry for those
     * units. */
    void (*backward_row)(const SN_FN(sn_rnn) *r, int64_t t, int64_t b,
                         int64_t tprev, int64_t j0, int64_t j1);
    /* Optional, after the backward loop: the cell's own parameter
     * gradients (peepholes, bh), summed over every valid (t, b) in one
     * fixed order.  nact[t] is the number of rows valid at time t. */
    void (*backward_params)(const SN_FN(sn_rnn) *r, const int64_t *nact,
                            const int64_t *lengths, int reverse);
} SN_FN(sn_cell);

/* The cells (lstm.c, gru.c, elman.c), and the table of them by
 * sn_cell_kind (layer.c): NULL for an unknown kind. */
extern const SN_FN(sn_cell) SN_FN(sn_cell_lstm);
extern const SN_FN(sn_cell) SN_FN(sn_cell_gru);
extern const SN_FN(sn_cell) SN_FN(sn_cell_elman);
const SN_FN(sn_cell) *SN_FN(sn_cell_of)(int kind);

/* out[j] += sum over valid (t, b) of src[(t*B + b)*ld + j], j < width, in
 * the order t, then b: the same bits whatever the thread count. */
void SN_FN(sn_valid_colsum)(real *out, const real *src, int64_t ld,
                            int64_t width, const int64_t *nact, int64_t T,
                            int64_t B);

size_t SN_FN(sn_recur_workspace_size)(const SN_FN(sn_cell) *cell, int64_t T,
                                      int64_t B, int64_t I, int64_t H,
                                      int n_threads);

/* The time loops behind sn_layer_forward/backward (layer.c), which has
 * checked every argument: dimensions, lengths, codes, pointers and the
 * workspace's size.  r->x or r->codes is the input. */
int SN_FN(sn_recur_forward)(const SN_FN(sn_cell) *cell, SN_FN(sn_rnn) *r,
                            real *h_n, real *c_n, const real *W,
                            const int64_t *lengths, int reverse,
                            void *workspace, size_t workspace_size,
                            int n_threads);

int SN_FN(sn_recur_backward)(const SN_FN(sn_cell) *cell, SN_FN(sn_rnn) *r,
                             real *dx, real *dh0, real *dc0, real *dW,
                             real *dU, real *db, const real *dh_n,
                             const real *dc_n, const real *W,
                             const int64_t *lengths, int reverse,
                             void *workspace, size_t workspace_size,
                             int n_threads);

#endif
