/*
 * loss.c -- output layers fused with their losses.
 *
 *   z = X . V + c                          (one GEMM over all N rows)
 *   softmax cross-entropy: loss_i = -log softmax(z_i)[y_i]
 *                          dz_i   = w_i * (softmax(z_i) - onehot(y_i))
 *   mean squared error:    loss_i = mean_k (z_ik - y_ik)^2
 *                          dz_i   = 2 * w_i * (z_i - y_i) / K
 *   dX = dz . V^T,  dV += X^T . dz,  dc += sum_i dz_i
 *
 * The GEMMs use the threads; the pointwise part is a single pass.
 */
#include <math.h>
#include <string.h>
#include "act.h"
#include "gemm.h"

/* The softmax's max and sum run in this many fixed lanes (element k in
 * lane k % lanes, the lanes combined in order at the end): the sum
 * vectorises and its rounding depends on K alone, never on the threads;
 * the max, exact in any order, runs as independent chains (GCC leaves it
 * scalar). */
#define SN_SOFTMAX_LANES 16

/* z[k] = exp(z[k] - m) with m = max_k z[k]; returns m, and the sum of the
 * new z in *sum. */
static real SN_FN(exp_shifted)(real *restrict z, int64_t K, real *sum) {
    real lane[SN_SOFTMAX_LANES];
    for (int j = 0; j < SN_SOFTMAX_LANES; j++)
        lane[j] = z[0];
    int64_t k = 0;
    for (; k + SN_SOFTMAX_LANES <= K; k += SN_SOFTMAX_LANES)
        for (int j = 0; j < SN_SOFTMAX_LANES; j++)
            lane[j] = z[k + j] > lane[j] ? z[k + j] : lane[j];
    for (int j = 0; k < K; k++, j++)
        lane[j] = z[k] > lane[j] ? z[k] : lane[j];
    real m = lane[0];
    for (int j = 1; j < SN_SOFTMAX_LANES; j++)
        m = lane[j] > m ? lane[j] : m;
    for (k = 0; k < K; k++)
        z[k] = sn_exp(z[k] - m);
    for (int j = 0; j < SN_SOFTMAX_LANES; j++)
        lane[j] = 0;
    for (k = 0; k + SN_SOFTMAX_LANES <= K; k += SN_SOFTMAX_LANES)
        for (int j = 0; j < SN_SOFTMAX_LANES; j++)
            lane[j] += z[k + j];
    for (int j = 0; k < K; k++, j++)
        lane[j] += z[k];
    real s = 0;
    for (int j = 0; j < SN_SOFTMAX_LANES; j++)
        s += lane[j];
    *sum = s;
    return m;
}

/* z = X . V + c into Z. */
static void SN_FN(dense)(real *Z, const real *X, const real *V, const real *c,
                         int64_t N, int64_t H, int64_t K, void *ws, int nt) {
    SN_FN(sn_gemm_run)(Z, K, X, H, V, K, 0, 0, 0, N, K, H, ws, nt);
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < K; k++)
            Z[i * K + k] += c[k];
}

/* The backward half shared by both losses, from dz in D. */
static void SN_FN(dense_backward)(real *dX, real *dV, real *dc,
                                  const real *D, const real *X,
                                  const real *V, int64_t N, int64_t H,
                                  int64_t K, void *ws, int nt) {
    if (dX)
        SN_FN(sn_gemm_run)(dX, H, D, K, V, K, 0, 0, 1, N, H, K, ws, nt);
    SN_FN(sn_gemm_run)(dV, K, X, H, D, K, 1, 1, 0, H, K, N, ws, nt);
    for (int64_t i = 0; i < N; i++)
        for (int64_t k = 0; k < K; k++)
            dc[k] += D[i * K + k];
}

static int check(const real *X, const real *V, const real *c, void *ws,
                 size_t ws_size, int64_t N, int64_t H, int64_t K, int nt) {
    if (N < 1 || H < 1 || K < 1)
        return SN_EDIM;
    if (!X || !V || !c || !ws)
        return SN_EARG;
    if (ws_size < sn_gemm_workspace_size(nt))
        return SN_EWORKSPACE;
    return SN_OK;
}

int SN_FN(sn_softmax_xent)(double *loss, real *P, real *dX, real *dV,
                           real *dc, const real *X, const real *V,
                           const real *c, const int64_t *y, const real *w,
                           int64_t N, int64_t H, int64_t K, void *workspace,
                           size_t workspace_size, int n_threads) {
    const int nt = sn_threads(n_threads);
    int st = check(X, V, c, workspace, workspace_size, N, H, K, nt);
    if (st != SN_OK)
        return st;
    if (!P || (y && (!loss || !dV || !dc)))
        return SN_EARG;
    if (y)
        for (int64_t i = 0; i < N; i++)
            if (y[i] < 0 || y[i] >= K)
                return SN_ELABEL;
    SN_FN(dense)(P, X, V, c, N, H, K, workspace, nt);

    /* Rows are summed in order, so the total is the same for any thread
     * count. */
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        real *z = P + i * K;
        const real wi = w ? w[i] : 1;
        if (y && wi == 0) {
            memset(z, 0, sizeof(real) * K);
            continue;
        }
        const real zy = y ? z[y[i]] : 0;
        real s;
        const real m = SN_FN(exp_shifted)(z, K, &s);
        /* -log softmax(z)[y] = m + log(sum exp(z - m)) - z_y */
        if (y)
            total += (double)wi * ((double)m + log((double)s) - (double)zy);
        const real inv = 1 / s;
        for (int64_t k = 0; k < K; k++)
            z[k] *= inv;
        if (y) {
            for (int64_t k = 0; k < K; k++)
                z[k] *= wi;
            z[y[i]] -= wi;
        }
    }
    if (!y)
        return SN_OK;
    *loss = total;
    SN_FN(dense_backward)(dX, dV, dc, P, X, V, N, H, K, workspace, nt);
    return SN_OK;
}

int SN_FN(sn_linear_mse)(double *loss, real *Z, real *dX, real *dV, real *dc,
                         const real *X, const real *V, const real *c,
                         const real *y, const real *w, int64_t N, int64_t H,
                         int64_t K, void *workspace, size_t workspace_size,
                         int n_threads) {
    const int nt = sn_threads(n_threads);
    int st = check(X, V, c, workspace, workspace_size, N, H, K, nt);
    if (st != SN_OK)
        return st;
    if (!Z || (y && (!loss || !dV || !dc)))
        return SN_EARG;
    SN_FN(dense)(Z, X, V, c, N, H, K, workspace, nt);
    if (!y)
        return SN_OK;
    double total = 0;
    for (int64_t i = 0; i < N; i++) {
        const real wi = w ? w[i] : 1;
        double row = 0;
        for (int64_t k = 0; k < K; k++) {
            real e = Z[i * K + k] - y[i * K + k];
            row += (double)e * e;
            Z[i * K + k] = 2 * wi * e / K;
        }
        total += wi * row / K;
    }
    *loss = total;
    SN_FN(dense_backward)(dX, dV, dc, Z, X, V, N, H, K, workspace, nt);
    return SN_OK;
}
