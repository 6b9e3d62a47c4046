/*
 * gemm.h -- private GEMM pieces shared by the driver and the cell kernels.
 *
 * Micro-kernel contract (every ISA implements exactly this):
 *   C (mr, nr) = beta*C + A . Bp over k, where A(i, p) = A[i*rs + p*cs] --
 *   a packed panel (rs = 1, cs = mr) or rows of a row-major matrix
 *   (rs = lda, cs = 1) -- and Bp a packed panel of nr columns
 *   (Bp[p*nr + j] = B(p, j)).  C has row stride ldc.  The tile is always
 *   full: the driver routes edge tiles through a scratch tile.  C is never
 *   read when beta == 0; beta == 1 adds without multiplying.  Each element
 *   is summed over p in increasing order, so its value does not depend on
 *   where the tile sits -- what keeps results identical across threads.
 * Row kernel: the same for ONE row, A(p) = A[p*cs]: C (1, nr) = beta*C +
 *   A . Bp; used for the rows of an edge tile that no partial tile
 *   (sn_ukr.part) takes.  It sums exactly as a row of the full tile does,
 *   so a row's result never depends on where it sits.
 */
#ifndef SEQNET_GEMM_H
#define SEQNET_GEMM_H

#include "common.h"

/* The largest tile any micro-kernel may declare (sizes the edge scratch). */
#define SN_MAX_MR 16
#define SN_MAX_NR 64
/* Partial-row tiles a micro-kernel may declare (sn_ukr.part). */
#define SN_MAX_PARTS 2

typedef void (*SN_FN(sn_ukr_fn))(int64_t k, const real *restrict A,
                                 int64_t rs, int64_t cs,
                                 const real *restrict Bp, real *restrict C,
                                 int64_t ldc, real beta);

typedef void (*SN_FN(sn_row_fn))(int64_t k, const real *restrict A,
                                 int64_t cs, const real *restrict Bp,
                                 real *restrict C, real beta);

/* Row kernel over SN_WIDE consecutive panels, panel q at Bp + q*ps:
 * C (1, SN_WIDE*nr) = beta*C + A . Bp, each element summed exactly as the
 * row kernel sums it.  Single rows (one stream, B = 1) are bound by the
 * latency of one FMA chain per vector; several panels at once hide it. */
#define SN_WIDE 4
typedef void (*SN_FN(sn_row_wide_fn))(int64_t k, const real *restrict A,
                                      int64_t cs, const real *restrict Bp,
                                      int64_t ps, real *restrict C,
                                      real beta);

/* A micro-kernel and how the driver blocks for it.  kc is the depth of a
 * block of K: each element of C is summed kc terms at a time and the
 * partial sums added to C, so kc is part of the arithmetic (it fixes the
 * bits) and belongs to the ISA, never to the machine or the thread count.
 * The row and column blocks (sn_gemm_blocks) only decide what is reused
 * from which cache level; they follow the L2 size and never change a
 * result. */
typedef struct {
    int mr, nr, kc;
    SN_FN(sn_ukr_fn) fn;
    SN_FN(sn_row_fn) row;
    SN_FN(sn_row_wide_fn) row_wide;
    /* Tiles of fewer rows for the edges, the micro-kernel's contract with
     * part_rows[q] rows in place of mr (descending; 0 ends the list): a
     * batch that is not a multiple of mr keeps whole vectors of FMA
     * chains in its last rows rather than falling to the row kernel.
     * Each element is summed as in the full tile. */
    int part_rows[SN_MAX_PARTS];
    SN_FN(sn_ukr_fn) part[SN_MAX_PARTS];
} SN_FN(sn_ukr);

extern const SN_FN(sn_ukr) SN_FN(sn_ukr_ref);
#ifdef SN_HAVE_AVX2
extern const SN_FN(sn_ukr) SN_FN(sn_ukr_avx2);
#endif
#ifdef SN_HAVE_AVX512
extern const SN_FN(sn_ukr) SN_FN(sn_ukr_avx512);
#endif

/* The micro-kernel of the ISA path in use (sn_isa_current). */
const SN_FN(sn_ukr) *SN_FN(sn_ukr_get)(void);

/* The fewest rows a tile of u takes at full width: its smallest partial
 * tile, else mr.  Fewer rows go to the row kernel. */
static inline int SN_FN(sn_ukr_min_rows)(const SN_FN(sn_ukr) *u) {
    int rows = u->mr;
    for (int t = 0; t < SN_MAX_PARTS; t++)
        if (u->part_rows[t] > 0 && u->part_rows[t] < rows)
            rows = u->part_rows[t];
    return rows;
}

/* Upper bounds of the blocks, which size the packing workspace whatever
 * the path and the cache: kc of every micro-kernel, the rows of a block
 * of A, and the bytes of a kc x nc block of B. */
#define SN_GEMM_MAX_KC 256
#define SN_GEMM_MAX_MC 192
#define SN_GEMM_MAX_B_BYTES (1 << 20)

/* The blocks of the GEMM driver for micro-kernel u on this machine: a
 * kc x nc block of B in half of a core's L2 (re-read for every block of
 * rows) and an mc x kc block of A in a quarter (re-read for every panel
 * of B), in whole tiles, within the bounds above. */
typedef struct {
    int64_t kc, mc, nc;
} sn_gemm_blocks;
sn_gemm_blocks SN_FN(sn_gemm_blocks_of)(const SN_FN(sn_ukr) *u);

/* Elements of a packed buffer holding m rows (k deep) in panels of r. */
static inline size_t sn_packed_size(int64_t m, int64_t k, int r) {
    return (size_t)((m + r - 1) / r) * (size_t)r * (size_t)k;
}

/* Pack rows [0, m) of op(A) (op(A) is m x k; trans: A stored k x m) into
 * panels of mr rows, zero-padding the last panel. */
void SN_FN(sn_pack_a)(real *restrict Ap, const real *restrict A, int64_t lda,
                      int trans, int64_t m, int64_t k, int mr);

/* Pack columns [0, n) of op(B) (op(B) is k x n; trans: B stored n x k) into
 * panels of nr columns, zero-padding the last panel. */
void SN_FN(sn_pack_b)(real *restrict Bp, const real *restrict B, int64_t ldb,
                      int trans, int64_t k, int64_t n, int nr);

/* C (m, n) = beta*C + A . B with B packed, serial.  A is packed panels
 * (lda == 0) or a row-major matrix with row stride lda, read in place.  Bp
 * may start at any panel boundary of a larger packed matrix. */
void SN_FN(sn_gemm_packed)(const SN_FN(sn_ukr) *u, real *restrict C,
                           int64_t ldc, const real *restrict A, int64_t lda,
                           const real *restrict Bp, real beta,
                           int64_t m, int64_t n, int64_t k);

/* C (m, n) = beta*C + A^T . Bp, serial, with A (k x m, row stride lda)
 * read in place: the sums of sn_gemm_packed on A^T packed, unpacked. */
void SN_FN(sn_gemm_packed_tn)(const SN_FN(sn_ukr) *u, real *restrict C,
                              int64_t ldc, const real *restrict A,
                              int64_t lda, const real *restrict Bp,
                              real beta, int64_t m, int64_t n, int64_t k);

/* C (m, n) = beta*C + A1 . B1 + A2 . B2, each operand as A and Bp of
 * sn_gemm_packed with its own depth (k2 == 0: one operand), tile by tile
 * so that a tile takes both products while it is in L1.  Each element is
 * summed over each k in increasing order, the second sum added to the
 * first: the bits of two sn_gemm_packed calls, the second with beta 1. */
void SN_FN(sn_gemm_packed2)(const SN_FN(sn_ukr) *u, real *restrict C,
                            int64_t ldc, const real *A1, int64_t lda1,
                            const real *B1p, int64_t k1, const real *A2,
                            int64_t lda2, const real *B2p, int64_t k2,
                            real beta, int64_t m, int64_t n);

/* The driver behind sn_gemm_f32/f64 without argument checks. */
void SN_FN(sn_gemm_run)(real *C, int64_t ldc, const real *A, int64_t lda,
                        const real *Bm, int64_t ldb, real beta, int trans_a,
                        int trans_b, int64_t M, int64_t N, int64_t K,
                        void *workspace, int n_threads);

/* One block of rows of a stacked weight-gradient GEMM: C (m, N) +=
 * A^T . Bm, where A holds K rows of m: row p at A0 + p*lda for p < split,
 * at A1 + (p - split)*lda after (two arrays read as one; lda == 0 repeats
 * row 0 -- a row of ones makes C the column sums of Bm). */
typedef struct {
    real *C;
    int64_t ldc;
    const real *A0, *A1;
    int64_t lda, split, m;
} SN_FN(sn_tn_part);

/* Every part's C += A^T . Bm (Bm is K x N, row stride ldb), in one pass
 * over Bm: each KC x NC block of Bm is packed once for all parts.  Each
 * element is summed over K in increasing order, whatever the threads. */
void SN_FN(sn_gemm_tn_parts)(const SN_FN(sn_tn_part) *parts, int nparts,
                             const real *Bm, int64_t ldb, int64_t N,
                             int64_t K, void *workspace, int n_threads);

#endif
