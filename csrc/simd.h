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
/* One row across SN_WIDE consecutive panels (panel q at Bp + q*ps): the
 * row body's chains, SN_WIDE times over, interleaved so that FMA latency
 * is hidden -- each element still summed exactly as in the full tile. */
#define SN_ROW_WIDE_BODY                                                      \
    VEC e[SN_WIDE][2];                                                        \
    _Pragma("GCC unroll 8")                                                   \
    for (int q = 0; q < SN_WIDE; q++)                                         \
        e[q][0] = e[q][1] = VZERO();                                          \
    for (int64_t p = 0; p < k; p++) {                                         \
        const VEC a = VSET1(A[p * cs]);                                       \
        _Pragma("GCC unroll 8")                                               \
        for (int q = 0; q < SN_WIDE; q++) {                                   \
            const real *b = Bp + q * ps + p * 2 * VLEN;                       \
            e[q][0] = VFMA(a, VLOAD(b), e[q][0]);                             \
            e[q][1] = VFMA(a, VLOAD(b + VLEN), e[q][1]);                      \
        }                                                                     \
    }                                                                         \
    _Pragma("GCC unroll 8")                                                   \
    for (int q = 0; q < SN_WIDE; q++) {                                       \
        real *c = C + q * 2 * VLEN;                                           \
        if (beta == 0) {                                                      \
            VSTORE(c, e[q][0]);                                               \
            VSTORE(c + VLEN, e[q][1]);                                        \
        } else if (beta == 1) {                                               \
            VSTORE(c, VADD(VLOAD(c), e[q][0]));                               \
            VSTORE(c + VLEN, VADD(VLOAD(c + VLEN), e[q][1]));                 \
        } else {                                                              \
            const VEC bv = VSET1(beta);                                       \
            VSTORE(c, VFMA(bv, VLOAD(c), e[q][0]));                           \
            VSTORE(c + VLEN, VFMA(bv, VLOAD(c + VLEN), e[q][1]));             \
        }                                                                     \
    }

#endif

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
    /* One branch, then fully unrolled stores: the accumulators stay in   \
     * registers (a loop over i around the branch spills them). */          \
    if (beta == 0) {                                                          \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < MR; i++) {                                        \
            VSTORE(C + i * ldc, acc[i][0]);                                   \
            VSTORE(C + i * ldc + VLEN, acc[i][1]);                            \
        }                                                                     \
    } else if (beta == 1) {                                                   \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < MR; i++) {                                        \
            real *c = C + i * ldc;                                            \
            VSTORE(c, VADD(VLOAD(c), acc[i][0]));                             \
            VSTORE(c + VLEN, VADD(VLOAD(c + VLEN), acc[i][1]));               \
        }                                                                     \
    } else {                                                                  \
        const VEC bv = VSET1(beta);                                           \
        _Pragma("GCC unroll 16")                                              \
        for (int i = 0; i < MR; i++) {                                        \
            real *c = C + i * ldc;                                            \
            VSTORE(c, VFMA(bv, VLOAD(c), acc[i][0]));                         \
            VSTORE(c + VLEN, VFMA(bv, VLOAD(c + VLEN), acc[i][1]));           \
        }                                                                     \
    }

/* One row, with exactly the arithmetic of a row of the full tile (one FMA
 * chain per vector, k increasing), so a row's result does not depend on
 * whether it fell in a full tile or an edge -- predictions do not depend on
 * which other sequences share their batch. */
#define SN_ROW_BODY                                                           \
    VEC e0 = VZERO(), e1 = VZERO();                                           \
    for (int64_t p = 0; p < k; p++) {                                         \
        const VEC a = VSET1(A[p * cs]);                                       \
        e0 = VFMA(a, VLOAD(Bp), e0);                                          \
        e1 = VFMA(a, VLOAD(Bp + VLEN), e1);                                   \
        Bp += 2 * VLEN;                                                       \
    }                                                                         \
    if (beta == 0) {                                                          \
        VSTORE(C, e0);                                                        \
        VSTORE(C + VLEN, e1);                                                 \
    } else if (beta == 1) {                                                   \
        VSTORE(C, VADD(VLOAD(C), e0));                                        \
        VSTORE(C + VLEN, VADD(VLOAD(C + VLEN), e1));                          \
    } else {                                                                  \
        const VEC bv = VSET1(beta);                                           \
        VSTORE(C, VFMA(bv, VLOAD(C), e0));                                    \
        VSTORE(C + VLEN, VFMA(bv, VLOAD(C + VLEN), e1));                      \
    }

/* One row across SN_WIDE consecutive panels (panel q at Bp + q*ps): the
 * row body's chains, SN_WIDE times over, interleaved so that FMA latency
 * is hidden -- each element still summed exactly as in the full tile. */
#define SN_ROW_WIDE_BODY                                                      \
    VEC e[SN_WIDE][2];                                                        \
    _Pragma("GCC unroll 8")                                                   \
    for (int q = 0; q < SN_WIDE; q++)                                         \
        e[q][0] = e[q][1] = VZERO();                                          \
    for (int64_t p = 0; p < k; p++) {                                         \
        const VEC a = VSET1(A[p * cs]);                                       \
        _Pragma("GCC unroll 8")                                               \
        for (int q = 0; q < SN_WIDE; q++) {                                   \
            const real *b = Bp + q * ps + p * 2 * VLEN;                       \
            e[q][0] = VFMA(a, VLOAD(b), e[q][0]);                             \
            e[q][1] = VFMA(a, VLOAD(b + VLEN), e[q][1]);                      \
        }                                                                     \
    }                                                                         \
    _Pragma("GCC unroll 8")                                                   \
    for (int q = 0; q < SN_WIDE; q++) {                                       \
        real *c = C + q * 2 * VLEN;                                           \
        if (beta == 0) {                                                      \
            VSTORE(c, e[q][0]);                                               \
            VSTORE(c + VLEN, e[q][1]);                                        \
        } else if (beta == 1) {                                               \
            VSTORE(c, VADD(VLOAD(c), e[q][0]));                               \
            VSTORE(c + VLEN, VADD(VLOAD(c + VLEN), e[q][1]));                 \
        } else {                                                              \
            const VEC bv = VSET1(beta);                                       \
            VSTORE(c, VFMA(bv, VLOAD(c), e[q][0]));                           \
            VSTORE(c + VLEN, VFMA(bv, VLOAD(c + VLEN), e[q][1]));             \
        }                                                                     \
    }

#endif
