/*
 * gemm_avx2.c -- AVX2 + FMA micro-kernel; the only file built with
 * -mavx2 -mfma.
 *
 * Tile 6 x 2 vectors (6 x 16 float, 6 x 8 double): 12 accumulators, two B
 * vectors and one broadcast = 15 of the 16 ymm registers.  Edges of 4 or
 * 2 rows (batches of 64 or 32) take partial tiles of those rows.
 */
#define SN_SIMD_AVX2
#include "simd.h"
#include "gemm.h"

/* Sums run kc = KC terms deep before they are added to C (gemm.h). */
#define KC 256
#define MR 6

/* The full tile and the partial tiles of the edges. */
SN_UKR_OF(avx2, 6)
SN_UKR_OF(avx2, 4)
SN_UKR_OF(avx2, 2)

static void SN_FN(row_avx2)(int64_t k, const real *restrict A, int64_t cs,
                             const real *restrict Bp, real *restrict C,
                             real beta) {
    SN_ROW_BODY
}

static void SN_FN(row_wide_avx2)(int64_t k, const real *restrict A,
                                 int64_t cs, const real *restrict Bp,
                                 int64_t ps, real *restrict C, real beta) {
    SN_ROW_WIDE_BODY
}

const SN_FN(sn_ukr) SN_FN(sn_ukr_avx2) = {
    MR, 2 * VLEN, KC, SN_FN(ukr_avx2_6), SN_FN(row_avx2),
    SN_FN(row_wide_avx2), {4, 2}, {SN_FN(ukr_avx2_4), SN_FN(ukr_avx2_2)}};
