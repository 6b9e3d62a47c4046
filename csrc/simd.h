/*
 * simd.h -- one vector vocabulary for the SIMD micro-kernels.
 *
 * A micro-kernel source defines SN_SIMD_AVX512 or SN_SIMD_AVX2 and includes
 * this file; VEC, VLEN and the V* operations then name the float or double
 * intrinsics of that ISA (SN_DOUBLE picks the type, as everywhere).
 */
#ifndef SEQNET_SIMD_H
#define SEQNET_SIMD_H

#include <immintrin.h>
#include "common.h"

#if defined(SN_SIMD_AVX512) && SN_DOUBLE
typedef __m512d VEC;
#define VLEN 8
#define VLOAD _mm512_loadu_pd
#define VSTORE _mm512_storeu_pd
#define VSET1 _mm512_set1_pd
#define VFMA _mm512_fmadd_pd
#define VADD _mm512_add_pd
#define VZERO _mm512_setzero_pd
#elif defined(SN_SIMD_AVX512)
typedef __m512 VEC;
#define VLEN 16
#define VLOAD _mm512_loadu_ps
#define VSTORE _mm512_storeu_ps
#define VSET1 _mm512_set1_ps
#define VFMA _mm512_fmadd_ps
#define VADD _mm512_add_ps
#define VZERO _mm512_setzero_ps
#elif defined(SN_SIMD_AVX2) && SN_DOUBLE
typedef __m256d VEC;
#define VLEN 4
#define VLOAD _mm256_loadu_pd
#define VSTORE _mm256_storeu_pd
#define VSET1 _mm256_set1_pd
#define VFMA _mm256_fmadd_pd
#define VADD _mm256_add_pd
#define VZERO _mm256_setzero_pd
#elif defined(SN_SIMD_AVX2)
typedef __m256 VEC;
#define VLEN 8
#define VLOAD _mm256_loadu_ps
#define VSTORE _mm256_storeu_ps
#define VSET1 _mm256_set1_ps
#define VFMA _mm256_fmadd_ps
#define VADD _mm256_add_ps
#define VZERO _mm256_setzero_ps
#else
#error "define SN_SIMD_AVX512 or SN_SIMD_AVX2 before including simd.h"
#endif

/* Stores N pairs of accumulators, ACC[i][0] and ACC[i][1] at ADDR(i) and
 * ADDR(i) + VLEN: C = acc, C += acc or C = beta*C + acc.  One branch, then
 * fully unrolled stores, so that the accumulators stay in registers (a
 * loop around the branch spills them). */
#define SN_STORE_PAIRS(N, ADDR, ACC)                                          \
    if (beta == 0) {                                                          \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < (N); i++) {                                       \
            VSTORE(ADDR(i), ACC[i][0]);                                       \
            VSTORE(ADDR(i) + VLEN, ACC[i][1]);                                \
        }                                                                     \
    } else if (beta == 1) {                                                   \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < (N); i++) {                                       \
            real *c = ADDR(i);                                                \
            VSTORE(c, VADD(VLOAD(c), ACC[i][0]));                             \
            VSTORE(c + VLEN, VADD(VLOAD(c + VLEN), ACC[i][1]));               \
        }                                                                     \
    } else {                                                                  \
        const VEC bv = VSET1(beta);                                           \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < (N); i++) {                                       \
            real *c = ADDR(i);                                                \
            VSTORE(c, VFMA(bv, VLOAD(c), ACC[i][0]));                         \
            VSTORE(c + VLEN, VFMA(bv, VLOAD(c + VLEN), ACC[i][1]));           \
        }                                                                     \
    }

/* Row i of a micro-kernel tile; panel q of a row kernel's output. */
#define SN_TILE_ROW(i) (C + (i) * ldc)
#define SN_ROW_PANEL(q) (C + (q) * 2 * VLEN)

/* The body every SIMD micro-kernel shares: an MR x (2*VLEN) tile, two
 * vectors of B per k and one broadcast of A(i, p) = A[i*rs + p*cs] per row,
 * accumulated with FMA in increasing k; then C = acc, C += acc or
 * C = beta*C + acc. */
#define SN_UKR_BODY(MR)                                                       \
    VEC acc[MR][2];                                                           \
    const real *arow[MR];                                                     \
    _Pragma("GCC unroll 16")                                                  \
    for (int i = 0; i < MR; i++) {                                            \
        acc[i][0] = acc[i][1] = VZERO();                                      \
        arow[i] = A + i * rs;                                                 \
    }                                                                         \
    for (int64_t p = 0, off = 0; p < k; p++, off += cs) {                     \
        const VEC b0 = VLOAD(Bp), b1 = VLOAD(Bp + VLEN);                      \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < MR; i++) {                                        \
            const VEC a = VSET1(arow[i][off]);                                \
            acc[i][0] = VFMA(a, b0, acc[i][0]);                               \
            acc[i][1] = VFMA(a, b1, acc[i][1]);                               \
        }                                                                     \
        Bp += 2 * VLEN;                                                       \
    }                                                                         \
    SN_STORE_PAIRS(MR, SN_TILE_ROW, acc)

/* The micro-kernel of ISA for tiles of R rows -- its full tile and its
 * partial ones (gemm.h): ukr_<ISA>_<R>. */
#define SN_UKR_OF(ISA, R)                                                     \
    static void SN_FN(ukr_##ISA##_##R)(int64_t k, const real *restrict A,     \
                                       int64_t rs, int64_t cs,                \
                                       const real *restrict Bp,               \
                                       real *restrict C, int64_t ldc,         \
                                       real beta) {                           \
        SN_UKR_BODY(R)                                                        \
    }

/* One row across NP consecutive panels (panel q at Bp + q*ps), with
 * exactly the arithmetic of a row of the full tile (one FMA chain per
 * vector, k increasing), so a row's result does not depend on whether it
 * fell in a full tile or an edge -- predictions do not depend on which
 * other sequences share their batch.  Several panels interleave their
 * chains, which hides the FMA latency a single row is bound by. */
#define SN_ROWS_BODY(NP)                                                      \
    VEC e[NP][2];                                                             \
    _Pragma("GCC unroll 8")                                                   \
    for (int q = 0; q < (NP); q++)                                            \
        e[q][0] = e[q][1] = VZERO();                                          \
    for (int64_t p = 0; p < k; p++) {                                         \
        const VEC a = VSET1(A[p * cs]);                                       \
        _Pragma("GCC unroll 8")                                               \
        for (int q = 0; q < (NP); q++) {                                      \
            const real *b = Bp + q * ps + p * 2 * VLEN;                       \
            e[q][0] = VFMA(a, VLOAD(b), e[q][0]);                             \
            e[q][1] = VFMA(a, VLOAD(b + VLEN), e[q][1]);                      \
        }                                                                     \
    }                                                                         \
    SN_STORE_PAIRS(NP, SN_ROW_PANEL, e)

/* The row kernel (one panel) and the wide one (SN_WIDE panels, ps apart). */
#define SN_ROW_BODY                                                           \
    const int64_t ps = 0;                                                     \
    SN_ROWS_BODY(1)
#define SN_ROW_WIDE_BODY SN_ROWS_BODY(SN_WIDE)

#endif
