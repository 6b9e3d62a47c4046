/*
 * gemm_avx512.c -- AVX-512F micro-kernel; the only file built with
 * -mavx512f.
 *
 * Tile 12 x 2 vectors (12 x 32 float, 12 x 16 double): 24 accumulators,
 * two B vectors and one broadcast = 27 of the 32 zmm registers.  Twelve
 * rows give each B vector loaded 12 FMAs (8 rows: 8), which is what keeps
 * the FMA units fed when B comes from L2 (a recurrent GEMM's U^T panels,
 * 1024 deep on the medium shape); bench/compare_torch.py's medium and
 * large rows measure it.  Batches of 8, 16, 32 or 64 rows end in a
 * partial tile of 8 or 4 rows, which keeps 16 or 8 FMA chains going.
 */
#define SN_SIMD_AVX512
#include "simd.h"
#include "gemm.h"

/* Sums run kc = KC terms deep before they are added to C (gemm.h). */
#define KC 256
#define MR 12

/* The full tile and the partial tiles of the edges. */
SN_UKR_OF(avx512, 12)
SN_UKR_OF(avx512, 8)
SN_UKR_OF(avx512, 4)

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

const SN_FN(sn_ukr) SN_FN(sn_ukr_avx512) = {
    MR, 2 * VLEN, KC, SN_FN(ukr_avx512_12), SN_FN(row_avx512),
    SN_FN(row_wide_avx512), {8, 4},
    {SN_FN(ukr_avx512_8), SN_FN(ukr_avx512_4)}};
