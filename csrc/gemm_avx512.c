/*
 * gemm_avx512.c -- AVX-512F micro-kernel; the only file built with
 * -mavx512f.
 *
 * Tile 8 x 2 vectors (8 x 32 float, 8 x 16 double): 16 accumulators, two B
 * vectors and one broadcast = 19 of the 32 zmm registers, leaving room for
 * the compiler to pipeline loads.  8 rows match the batch sizes (8, 16,
 * 32, 64) that recurrent steps run on, so edge tiles are rare.
 */
#define SN_SIMD_AVX512
#include "simd.h"
#include "gemm.h"

/* Sums run kc = KC terms deep before they are added to C (gemm.h). */
#define KC 256
#define MR 8

static void SN_FN(ukr_avx512)(int64_t k, const real *restrict A,
                              int64_t rs, int64_t cs,
                              const real *restrict Bp, real *restrict C,
                              int64_t ldc, real beta) {
    SN_UKR_BODY(MR)
}

static void SN_FN(row_avx512)(int64_t k, const real *restrict A, int64_t cs,
                             const real *restrict Bp, real *restrict C,
                             real beta) {
    SN_ROW_BODY
}

static void SN_FN(row_wide_avx512)(int64_t k, const real *restrict A,
                                 int64_t cs, const real *restrict Bp,
                                 int64_t ps, real *restrict C, real beta) {
    SN_ROW_WIDE_BODY
}

const SN_FN(sn_ukr) SN_FN(sn_ukr_avx512) = {MR, 2 * VLEN, KC, SN_FN(ukr_avx512),
                                          SN_FN(row_avx512),
                                          SN_FN(row_wide_avx512)};
