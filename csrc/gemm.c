/*
 * gemm.c -- the GEMM driver: blocking, packing, edge tiles, threads.
 *
 * C is cut into jobs of MC x NC; a job walks K in blocks of KC, packs its
 * block of op(A) and op(B) into per-thread buffers and runs the micro-kernel
 * over the tiles.  Threads take whole jobs as they come free (a thread on a
 * busy core takes fewer), so they write disjoint parts of C and every
 * element is summed over K in the same order whatever the thread count:
 * 1, 2 or 3 threads give the same bits.
 */
#include <string.h>
#include "gemm.h"
#include "team.h"

/* Blocks sized for a 32-48 KiB L1 and a 1-2 MiB L2 per core: a KC x nr
 * panel of B stays in L1 while an MC x KC block of A stays in L2. */
#define KC 256
#define MC 96
#define NC 384
/* Below this many multiply-adds a second thread costs more than it saves. */
#define SN_GEMM_MIN_PARALLEL (1 << 20)

const SN_FN(sn_ukr) *SN_FN(sn_ukr_get)(void) {
    switch (sn_isa_current()) {
#ifdef SN_HAVE_AVX512
    case SN_ISA_AVX512: return &SN_FN(sn_ukr_avx512);
#endif
#ifdef SN_HAVE_AVX2
    case SN_ISA_AVX2: return &SN_FN(sn_ukr_avx2);
#endif
    default: return &SN_FN(sn_ukr_ref);
    }
}

void SN_FN(sn_pack_a)(real *restrict Ap, const real *restrict A, int64_t lda,
                      int trans, int64_t m, int64_t k, int mr) {
    for (int64_t i0 = 0; i0 < m; i0 += mr) {
        int64_t rows = SN_MIN((int64_t)mr, m - i0);
        for (int64_t p = 0; p < k; p++) {
            real *dst = Ap + p * mr;
            int64_t i = 0;
            if (trans)
                for (; i < rows; i++) dst[i] = A[p * lda + i0 + i];
            else
                for (; i < rows; i++) dst[i] = A[(i0 + i) * lda + p];
            for (; i < mr; i++) dst[i] = 0;
        }
        Ap += (size_t)mr * k;
    }
}

void SN_FN(sn_pack_b)(real *restrict Bp, const real *restrict B, int64_t ldb,
                      int trans, int64_t k, int64_t n, int nr) {
    for (int64_t j0 = 0; j0 < n; j0 += nr) {
        int64_t cols = SN_MIN((int64_t)nr, n - j0);
        for (int64_t p = 0; p < k; p++) {
            real *dst = Bp + p * nr;
            int64_t j = 0;
            if (trans)
                for (; j < cols; j++) dst[j] = B[(j0 + j) * ldb + p];
            else
                for (; j < cols; j++) dst[j] = B[p * ldb + j0 + j];
            for (; j < nr; j++) dst[j] = 0;
        }
        Bp += (size_t)nr * k;
    }
}

/* C tile = beta*C + edge, for the first rows x cols of an nr-wide edge. */
static void SN_FN(merge_edge)(real *c, int64_t ldc, const real *edge, int nr,
                              int64_t rows, int64_t cols, real beta) {
    for (int64_t i = 0; i < rows; i++)
        for (int64_t j = 0; j < cols; j++) {
            real v = edge[i * nr + j];
            if (beta == 0)
                c[i * ldc + j] = v;
            else if (beta == 1)
                c[i * ldc + j] += v;
            else
                c[i * ldc + j] = beta * c[i * ldc + j] + v;
        }
}

void SN_FN(sn_gemm_packed)(const SN_FN(sn_ukr) *u, real *restrict C,
                           int64_t ldc, const real *restrict A, int64_t lda,
                           const real *restrict Bp, real beta,
                           int64_t m, int64_t n, int64_t k) {
    const int mr = u->mr, nr = u->nr;
    /* A(i, p) = A[i*rs + p*cs]; tile i0 starts at A + i0*tile_rs. */
    const int64_t rs = lda ? lda : 1, cs = lda ? 1 : mr;
    const int64_t tile_rs = lda ? lda : k;
    real edge[SN_MAX_MR * SN_MAX_NR];
    for (int64_t j0 = 0; j0 < n; j0 += nr) {
        const real *b = Bp + (size_t)(j0 / nr) * nr * k;
        int64_t cols = SN_MIN((int64_t)nr, n - j0);
        for (int64_t i0 = 0; i0 < m; i0 += mr) {
            const real *a = A + i0 * tile_rs;
            int64_t rows = SN_MIN((int64_t)mr, m - i0);
            real *c = C + i0 * ldc + j0;
            if (rows == mr && cols == nr) {
                u->fn(k, a, rs, cs, b, c, ldc, beta);
            } else if (rows == mr) {
                u->fn(k, a, rs, cs, b, edge, nr, 0);
                SN_FN(merge_edge)(c, ldc, edge, nr, rows, cols, beta);
            } else if (lda || 4 * rows <= mr) {
                /* A few rows, or rows an unpacked A does not have past m:
                 * one row at a time. */
                for (int64_t i = 0; i < rows; i++) {
                    if (cols == nr) {
                        u->row(k, a + i * rs, cs, b, c + i * ldc, beta);
                    } else {
                        u->row(k, a + i * rs, cs, b, edge, 0);
                        SN_FN(merge_edge)(c + i * ldc, ldc, edge, nr, 1, cols,
                                          beta);
                    }
                }
            } else {   /* packed panels are zero-padded past m */
                u->fn(k, a, rs, cs, b, edge, nr, 0);
                SN_FN(merge_edge)(c, ldc, edge, nr, rows, cols, beta);
            }
        }
    }
}

/* Per-thread packing buffers: one MC x KC block of A, one KC x NC of B,
 * sized for double so that one workspace size serves both types. */
static size_t gemm_thread_bytes(void) {
    return sn_round_up(sizeof(double) * (sn_packed_size(MC, KC, SN_MAX_MR) +
                                         sn_packed_size(NC, KC, SN_MAX_NR)));
}

void SN_FN(sn_gemm_run)(real *C, int64_t ldc, const real *A, int64_t lda,
                        const real *Bm, int64_t ldb, real beta, int trans_a,
                        int trans_b, int64_t M, int64_t N, int64_t K,
                        void *workspace, int n_threads) {
    if (M <= 0 || N <= 0)
        return;
    const SN_FN(sn_ukr) *u = SN_FN(sn_ukr_get)();
    char *ws = sn_align_ptr(workspace);
    const size_t per_thread = gemm_thread_bytes();
    const int64_t mjobs = (M + MC - 1) / MC, njobs = (N + NC - 1) / NC;
    const int64_t jobs = mjobs * njobs;
    int nt = sn_threads(n_threads);
    if ((double)M * N * K < SN_GEMM_MIN_PARALLEL || jobs == 1)
        nt = 1;
    nt = (int)SN_MIN((int64_t)nt, jobs);

    sn_team team;
    nt = sn_team_begin(&team, nt);
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        real *Ap = (real *)(ws + per_thread * omp_get_thread_num());
        real *Bp = Ap + sn_packed_size(MC, KC, SN_MAX_MR);
        #pragma omp for schedule(dynamic, 1) nowait
        for (int64_t job = 0; job < jobs; job++) {
            int64_t i0 = (job / njobs) * MC, j0 = (job % njobs) * NC;
            int64_t m = SN_MIN((int64_t)MC, M - i0);
            int64_t n = SN_MIN((int64_t)NC, N - j0);
            real *c = C + i0 * ldc + j0;
            if (K == 0) {
                for (int64_t i = 0; i < m; i++)
                    for (int64_t j = 0; j < n; j++)
                        c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
                continue;
            }
            for (int64_t p0 = 0; p0 < K; p0 += KC) {
                int64_t k = SN_MIN((int64_t)KC, K - p0);
                const real *a = trans_a ? A + p0 * lda + i0 : A + i0 * lda + p0;
                const real *b = trans_b ? Bm + j0 * ldb + p0 : Bm + p0 * ldb + j0;
                SN_FN(sn_pack_a)(Ap, a, lda, trans_a, m, k, u->mr);
                SN_FN(sn_pack_b)(Bp, b, ldb, trans_b, k, n, u->nr);
                SN_FN(sn_gemm_packed)(u, c, ldc, Ap, 0, Bp,
                                      p0 == 0 ? beta : 1, m, n, k);
            }
        }
        sn_team_finish(&team, omp_get_thread_num());
    }
    sn_team_end(&team);
}

#if !SN_DOUBLE
/* Type-independent: compiled once, with the float32 instance. */
size_t sn_gemm_workspace_size(int n_threads) {
    return SN_ALIGN + gemm_thread_bytes() * (size_t)sn_threads(n_threads);
}
#endif

int SN_FN(sn_gemm)(real *C, int64_t ldc, const real *A, int64_t lda,
                   const real *Bm, int64_t ldb, real beta, int trans_a,
                   int trans_b, int64_t M, int64_t N, int64_t K,
                   void *workspace, size_t workspace_size, int n_threads) {
    if (M < 0 || N < 0 || K < 0)
        return SN_EDIM;
    if (!C || (K > 0 && (!A || !Bm)) || (M > 0 && N > 0 && !workspace))
        return SN_EARG;
    if (ldc < N || lda < (trans_a ? M : K) || ldb < (trans_b ? K : N))
        return SN_EDIM;
    if (workspace_size < sn_gemm_workspace_size(n_threads))
        return SN_EWORKSPACE;
    SN_FN(sn_gemm_run)(C, ldc, A, lda, Bm, ldb, beta, trans_a, trans_b, M, N,
                       K, workspace, n_threads);
    return SN_OK;
}
