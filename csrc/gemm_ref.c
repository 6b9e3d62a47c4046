/*
 * gemm_ref.c -- the portable micro-kernel: the oracle and the fallback.
 *
 * Tile 4 x 8: 32 accumulators, which a compiler keeps in eight 128-bit
 * registers (float) or sixteen (double) on baseline x86-64, and in
 * registers on any 64-bit target.  Plain C, no intrinsics.
 */
#include "gemm.h"

/* Sums run kc = KC terms deep before they are added to C (gemm.h). */
#define KC 256
#define MR 4
#define NR 8

static void SN_FN(ukr_ref)(int64_t k, const real *restrict A, int64_t rs,
                           int64_t cs, const real *restrict Bp,
                           real *restrict C, int64_t ldc, real beta) {
    real acc[MR][NR] = {{0}};
    for (int64_t p = 0; p < k; p++) {
        const real *b = Bp + p * NR;
        for (int i = 0; i < MR; i++)
            for (int j = 0; j < NR; j++)
                acc[i][j] += A[i * rs + p * cs] * b[j];
    }
    for (int i = 0; i < MR; i++) {
        real *c = C + i * ldc;
        if (beta == 0)
            for (int j = 0; j < NR; j++) c[j] = acc[i][j];
        else if (beta == 1)
            for (int j = 0; j < NR; j++) c[j] += acc[i][j];
        else
            for (int j = 0; j < NR; j++) c[j] = beta * c[j] + acc[i][j];
    }
}

static void SN_FN(row_ref)(int64_t k, const real *restrict A, int64_t cs,
                           const real *restrict Bp, real *restrict C,
                           real beta) {
    real acc[NR] = {0};
    for (int64_t p = 0; p < k; p++)
        for (int j = 0; j < NR; j++)
            acc[j] += A[p * cs] * Bp[p * NR + j];
    for (int j = 0; j < NR; j++)
        C[j] = beta == 0 ? acc[j] : (beta == 1 ? C[j] + acc[j]
                                                : beta * C[j] + acc[j]);
}

static void SN_FN(row_wide_ref)(int64_t k, const real *restrict A,
                                int64_t cs, const real *restrict Bp,
                                int64_t ps, real *restrict C, real beta) {
    for (int q = 0; q < SN_WIDE; q++)
        SN_FN(row_ref)(k, A, cs, Bp + q * ps, C + q * NR, beta);
}

const SN_FN(sn_ukr) SN_FN(sn_ukr_ref) = {MR, NR, KC, SN_FN(ukr_ref),
                                         SN_FN(row_ref), SN_FN(row_wide_ref)};
