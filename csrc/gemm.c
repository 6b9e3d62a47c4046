/*
 * gemm.c -- the GEMM driver: blocking, packing, edge tiles, threads.
 *
 * Threads take whole jobs (disjoint blocks of C) as they come free (a
 * thread on a busy core takes fewer), and every element is summed over K
 * in the same order whatever the job layout: 1, 2 or 3 threads give the
 * same bits.
 */
#include <string.h>
#include "gemm.h"
#include "team.h"

/* Blocks (sn_gemm_blocks_of): a kc x nr micro-panel of B stays in L1
 * while the micro-kernel streams mc x kc of A from L2, and the kc x nc
 * block of B is reused for every mc block of A from L2.  The GEMM-bound
 * shapes of bench/compare_torch.py (medium, large) measure the choice. */
/* Below this many multiply-adds a second thread costs more than it saves:
 * waking a sleeping OpenMP thread takes a fraction of a millisecond (at
 * 2**20, the x.W of bench/compare_torch.py's latency config was slower on
 * 2 threads than on one). */
#define SN_GEMM_MIN_PARALLEL (1 << 23)
/* A^T is read in place (not packed) when A's rows are at most this many
 * bytes apart: a KC-row block then spans at most 32 pages, well within the
 * L1 DTLB; rows kilobytes apart would touch a page per k.  The backward of
 * bench/compare_torch.py's small config (rows 64 and 256 bytes apart)
 * measures it. */
#define SN_GEMM_INPLACE_MAX_LD 512

static inline int in_place_at(int64_t lda) {
    return lda > 0 && lda * (int64_t)sizeof(real) <= SN_GEMM_INPLACE_MAX_LD;
}

/* Jobs per thread to aim for, so that a thread slowed by a busy core
 * leaves its share to the others. */
#define SN_GEMM_JOBS_PER_THREAD 4

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

sn_gemm_blocks SN_FN(sn_gemm_blocks_of)(const SN_FN(sn_ukr) *u) {
    const int64_t l2 = (int64_t)sn_l2_bytes();
    const int64_t kc = SN_MIN(u->kc, SN_GEMM_MAX_KC);
    const int64_t row = kc * (int64_t)sizeof(real);   /* bytes per kc */
    int64_t mc = SN_MIN(l2 / 4 / row, (int64_t)SN_GEMM_MAX_MC);
    int64_t nc = SN_MIN(l2 / 2, (int64_t)SN_GEMM_MAX_B_BYTES) / row;
    mc = SN_MAX(mc / u->mr, (int64_t)1) * u->mr;
    nc = SN_MAX(nc / u->nr, (int64_t)1) * u->nr;
    return (sn_gemm_blocks){kc, mc, nc};
}

/* The packing loops, with the panel width a constant so that the copies
 * vectorise; `trans` is constant too at each call. */
SN_INLINE void pack_rows(real *restrict P, const real *restrict S,
                         int64_t ld, int trans, int64_t m, int64_t k,
                         const int r) {
    for (int64_t i0 = 0; i0 < m; i0 += r) {
        const int64_t rows = SN_MIN((int64_t)r, m - i0);
        if (rows == r && trans) {
            for (int64_t p = 0; p < k; p++)
                for (int i = 0; i < r; i++)
                    P[p * r + i] = S[p * ld + i0 + i];
        } else if (rows == r) {
            for (int64_t p = 0; p < k; p++)
                for (int i = 0; i < r; i++)
                    P[p * r + i] = S[(i0 + i) * ld + p];
        } else {   /* the edge panel: zeros, then the rows there are */
            memset(P, 0, sizeof(real) * r * k);
            if (trans)
                for (int64_t p = 0; p < k; p++)
                    for (int64_t i = 0; i < rows; i++)
                        P[p * r + i] = S[p * ld + i0 + i];
            else
                for (int64_t i = 0; i < rows; i++)
                    for (int64_t p = 0; p < k; p++)
                        P[p * r + i] = S[(i0 + i) * ld + p];
        }
        P += (size_t)r * k;
    }
}

/* Panels of r rows of op(S) (op(S) is m x k; trans: S stored k x m). */
static void SN_FN(pack_panels)(real *restrict P, const real *restrict S,
                               int64_t ld, int trans, int64_t m, int64_t k,
                               int r) {
#define SN_PACK_CASE(R)                                                       \
    case R:                                                                   \
        if (trans)                                                            \
            pack_rows(P, S, ld, 1, m, k, R);                                  \
        else                                                                  \
            pack_rows(P, S, ld, 0, m, k, R);                                  \
        return;
    switch (r) {
        SN_PACK_CASE(4)
        SN_PACK_CASE(6)
        SN_PACK_CASE(8)
        SN_PACK_CASE(16)
        SN_PACK_CASE(32)
    default:
        if (trans)
            pack_rows(P, S, ld, 1, m, k, r);
        else
            pack_rows(P, S, ld, 0, m, k, r);
    }
#undef SN_PACK_CASE
}

void SN_FN(sn_pack_a)(real *restrict Ap, const real *restrict A, int64_t lda,
                      int trans, int64_t m, int64_t k, int mr) {
    SN_FN(pack_panels)(Ap, A, lda, trans, m, k, mr);
}

/* Columns of op(B) are rows of op(B)^T: B packs like A with the transpose
 * flag flipped. */
void SN_FN(sn_pack_b)(real *restrict Bp, const real *restrict B, int64_t ldb,
                      int trans, int64_t k, int64_t n, int nr) {
    SN_FN(pack_panels)(Bp, B, ldb, !trans, n, k, nr);
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

/* One operand of a packed GEMM: A -- packed panels when lda == 0, else
 * read in place with row stride lda: row-major when !trans, its transpose
 * (A(i, p) = A[p*lda + i]) when trans -- and Bp's panels k deep. */
typedef struct {
    const real *A, *Bp;
    int64_t lda, k;
    int trans;
} SN_FN(operand);

/* An operand's A(i, p) = A[i*rs + p*cs], its tile i0 and B panel j0. */
static inline void SN_FN(operand_at)(const SN_FN(operand) *o, int mr, int nr,
                                     int64_t i0, int64_t j0, const real **a,
                                     int64_t *rs, int64_t *cs,
                                     const real **b) {
    if (!o->lda) {
        *rs = 1;
        *cs = mr;
        *a = o->A + i0 * o->k;
    } else if (o->trans) {
        *rs = 1;
        *cs = o->lda;
        *a = o->A + i0;
    } else {
        *rs = o->lda;
        *cs = 1;
        *a = o->A + i0 * o->lda;
    }
    *b = o->Bp + (size_t)(j0 / nr) * nr * o->k;
}

/* Whether an edge tile of `rows` < mr rows takes an operand row by row:
 * always for A read in place (it has no rows past m), and for packed panels
 * when the rows are few enough that a full tile would waste most of its
 * work.  A tile of mr rows (an edge in columns only) is one micro-kernel
 * call into the scratch tile. */
static inline int SN_FN(by_rows)(const SN_FN(operand) *o, int64_t rows,
                                 int mr) {
    return rows < mr && (o->lda || 4 * rows <= mr);
}

/* An edge tile (rows x cols, within one nr panel; gemm_ops writes the
 * full ones) at rows i0, panel j0 of C = beta*C + the sum of the
 * operands' products.  Full-width rows are written in place by partial
 * tiles and the row kernel, the first operand with beta and the others
 * added; a narrower edge is summed in a scratch tile and merged. */
static void SN_FN(tile)(const SN_FN(sn_ukr) *u, real *restrict c,
                        int64_t ldc, const SN_FN(operand) *ops, int nops,
                        int64_t i0, int64_t j0, int64_t rows, int64_t cols,
                        real beta) {
    const int mr = u->mr, nr = u->nr;
    const real *a, *b;
    int64_t rs, cs;
    if (cols == nr) {
        /* Fewer rows than a tile, in place: partial tiles while they fit,
         * then the row kernel (either reads only the rows it writes, so A
         * may be read in place and packed panels need no padding). */
        int64_t i = 0;
        for (int t = 0; t < SN_MAX_PARTS && u->part_rows[t] > 0; t++)
            for (; rows - i >= u->part_rows[t]; i += u->part_rows[t])
                for (int q = 0; q < nops; q++) {
                    SN_FN(operand_at)(&ops[q], mr, nr, i0, j0, &a, &rs, &cs,
                                      &b);
                    u->part[t](ops[q].k, a + i * rs, rs, cs, b, c + i * ldc,
                               ldc, q == 0 ? beta : 1);
                }
        for (; i < rows; i++)
            for (int q = 0; q < nops; q++) {
                SN_FN(operand_at)(&ops[q], mr, nr, i0, j0, &a, &rs, &cs, &b);
                u->row(ops[q].k, a + i * rs, cs, b, c + i * ldc,
                       q == 0 ? beta : 1);
            }
        return;
    }
    real edge[SN_MAX_MR * SN_MAX_NR];
    for (int q = 0; q < nops; q++) {
        SN_FN(operand_at)(&ops[q], mr, nr, i0, j0, &a, &rs, &cs, &b);
        const real be = q == 0 ? 0 : 1;
        if (SN_FN(by_rows)(&ops[q], rows, mr))
            for (int64_t i = 0; i < rows; i++)
                u->row(ops[q].k, a + i * rs, cs, b, edge + i * nr, be);
        else   /* packed panels are zero-padded past m */
            u->fn(ops[q].k, a, rs, cs, b, edge, nr, be);
    }
    SN_FN(merge_edge)(c, ldc, edge, nr, rows, cols, beta);
}

/* C = beta*C + the sum of the operands' products, tile by tile. */
static void SN_FN(gemm_ops)(const SN_FN(sn_ukr) *u, real *restrict C,
                            int64_t ldc, const SN_FN(operand) *ops, int nops,
                            real beta, int64_t m, int64_t n) {
    const int mr = u->mr, nr = u->nr;
    int64_t wide = 0;   /* columns done SN_WIDE panels at a time */
    /* Fewer rows than the smallest tile: each taken by the row kernel,
     * several panels at once, operand by operand as tile() takes them. */
    int rows_only = m < SN_FN(sn_ukr_min_rows)(u);
    for (int q = 0; q < nops; q++)
        rows_only &= SN_FN(by_rows)(&ops[q], m, mr);
    if (rows_only) {
        const int64_t step = (int64_t)SN_WIDE * nr;
        const real *a, *b;
        int64_t rs, cs;
        for (; wide + step <= n; wide += step)
            for (int q = 0; q < nops; q++) {
                SN_FN(operand_at)(&ops[q], mr, nr, 0, wide, &a, &rs, &cs, &b);
                for (int64_t i = 0; i < m; i++)
                    u->row_wide(ops[q].k, a + i * rs, cs, b,
                                (int64_t)nr * ops[q].k, C + i * ldc + wide,
                                q == 0 ? beta : 1);
            }
    }
    const int64_t full_m = m / mr * mr;
    for (int64_t j0 = wide; j0 < n; j0 += nr) {
        const int64_t cols = SN_MIN((int64_t)nr, n - j0);
        int64_t i0 = 0;
        if (cols == nr) {
            /* Full tiles, written in place operand by operand: each
             * operand's B panel stays in L1 across the rows, where the
             * panels of two together (k1 + k2 deep) may not fit.  A tile's
             * sums are the same either way round: the first operand with
             * beta, the others added. */
            const real *a, *b;
            int64_t rs, cs;
            for (int q = 0; q < nops; q++)
                for (int64_t t0 = 0; t0 < full_m; t0 += mr) {
                    SN_FN(operand_at)(&ops[q], mr, nr, t0, j0, &a, &rs, &cs,
                                      &b);
                    u->fn(ops[q].k, a, rs, cs, b, C + t0 * ldc + j0, ldc,
                          q == 0 ? beta : 1);
                }
            i0 = full_m;
        }
        for (; i0 < m; i0 += mr)   /* edges: tile() */
            SN_FN(tile)(u, C + i0 * ldc + j0, ldc, ops, nops, i0, j0,
                        SN_MIN((int64_t)mr, m - i0), cols, beta);
    }
}

void SN_FN(sn_gemm_packed2)(const SN_FN(sn_ukr) *u, real *restrict C,
                            int64_t ldc, const real *A1, int64_t lda1,
                            const real *B1p, int64_t k1, const real *A2,
                            int64_t lda2, const real *B2p, int64_t k2,
                            real beta, int64_t m, int64_t n) {
    const SN_FN(operand) ops[2] = {{A1, B1p, lda1, k1, 0},
                                   {A2, B2p, lda2, k2, 0}};
    SN_FN(gemm_ops)(u, C, ldc, ops, k2 > 0 ? 2 : 1, beta, m, n);
}

void SN_FN(sn_gemm_packed)(const SN_FN(sn_ukr) *u, real *restrict C,
                           int64_t ldc, const real *restrict A, int64_t lda,
                           const real *restrict Bp, real beta,
                           int64_t m, int64_t n, int64_t k) {
    const SN_FN(operand) op = {A, Bp, lda, k, 0};
    SN_FN(gemm_ops)(u, C, ldc, &op, 1, beta, m, n);
}

void SN_FN(sn_gemm_packed_tn)(const SN_FN(sn_ukr) *u, real *restrict C,
                              int64_t ldc, const real *restrict A,
                              int64_t lda, const real *restrict Bp,
                              real beta, int64_t m, int64_t n, int64_t k) {
    const SN_FN(operand) op = {A, Bp, lda, k, 1};
    SN_FN(gemm_ops)(u, C, ldc, &op, 1, beta, m, n);
}

/* Per-thread packing buffers: the largest block of A and of B any path
 * and cache size may use, for whichever type needs more, so that one
 * workspace size serves every path (sn_set_isa may switch between the
 * sizing and the call) and both types.  B's block holds at most
 * SN_GEMM_MAX_B_BYTES, plus the zero padding of its last panel. */
static inline size_t a_block_bytes(void) {
    return sn_round_up(sizeof(double) * sn_packed_size(
        SN_GEMM_MAX_MC, SN_GEMM_MAX_KC, SN_MAX_MR));
}

static size_t gemm_thread_bytes(void) {
    return a_block_bytes() +
           sn_round_up(SN_GEMM_MAX_B_BYTES +
                       sizeof(double) * SN_MAX_NR * SN_GEMM_MAX_KC);
}

/* Where a thread's block of B starts in its packing buffers. */
static inline real *b_block(real *Ap) {
    return (real *)((char *)Ap + a_block_bytes());
}

/* C = beta*C for rows [0, m), columns [0, n) (K == 0). */
static void SN_FN(scale_c)(real *c, int64_t ldc, int64_t m, int64_t n,
                           real beta) {
    for (int64_t i = 0; i < m; i++)
        for (int64_t j = 0; j < n; j++)
            c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j];
}

/* How a GEMM of M rows (in mblocks MC-row blocks) by N columns is cut into
 * jobs of a group of row blocks by a block of col_w columns.  On one thread
 * (or when the work is too small to share) one group of every row block
 * per NC columns.  On more, each job packs its own blocks of op(B) (and of
 * op(A) when A is packed), so the cut repeats the smaller operand: when
 * M >= N, about SN_GEMM_JOBS_PER_THREAD row groups per thread, each
 * packing B again; else one block of columns per thread (or a few each,
 * at most NC wide), each packing A again.  The weight gradients (a few
 * hundred rows by thousands of columns, summed over every (t, b)) scaled
 * 1.0-1.3x on 2 threads cut by rows, ~1.8x cut by columns.  A column block
 * holds every row, so more than one per thread would pack all of A once
 * more each. */
typedef struct {
    int threads;
    int64_t group_blocks, col_w, ncols, jobs;
} sn_jobs;

static sn_jobs plan_jobs(int64_t mblocks, int64_t M, int64_t N, int nr,
                         int64_t NC, double work, int n_threads) {
    int nt = sn_threads(n_threads);
    if (work < SN_GEMM_MIN_PARALLEL)
        nt = 1;
    sn_jobs p;
    int64_t groups = 1;
    p.col_w = NC;
    if (nt > 1) {
        if (M >= N) {
            const int64_t want = SN_GEMM_JOBS_PER_THREAD * nt;
            const int64_t ncb = (N + NC - 1) / NC;
            groups = SN_MIN(mblocks, SN_MAX((int64_t)1, (want + ncb - 1) / ncb));
        } else {
            /* A multiple of nt blocks of at most NC columns. */
            const int64_t panels = (N + nr - 1) / nr, most = NC / nr;
            const int64_t cuts = SN_MIN(panels, nt * ((panels + nt * most - 1) /
                                                      (nt * most)));
            p.col_w = (panels + cuts - 1) / cuts * nr;
        }
    }
    p.ncols = (N + p.col_w - 1) / p.col_w;
    p.group_blocks = (mblocks + groups - 1) / groups;
    p.jobs = (mblocks + p.group_blocks - 1) / p.group_blocks * p.ncols;
    p.threads = (int)SN_MIN((int64_t)nt, p.jobs);
    return p;
}

/* C is cut into jobs of a group of MC-row blocks by a block of columns
 * (plan_jobs).  A job walks K in blocks of KC: it packs its KC x col_w
 * block of op(B) once, then for each MC block of its rows packs that block
 * of op(A) -- or reads it in place: always when A is row-major, when
 * transposed if its rows are close (in_place_at) -- and runs the
 * micro-kernel over the tiles.  One thread takes all rows in one group,
 * so B is packed once per K block.  Every element is summed over K in the
 * same order in any job layout, so the layout never changes a result. */
void SN_FN(sn_gemm_run)(real *C, int64_t ldc, const real *A, int64_t lda,
                        const real *Bm, int64_t ldb, real beta, int trans_a,
                        int trans_b, int64_t M, int64_t N, int64_t K,
                        void *workspace, int n_threads) {
    if (M <= 0 || N <= 0)
        return;
    const SN_FN(sn_ukr) *u = SN_FN(sn_ukr_get)();
    char *ws = sn_align_ptr(workspace);
    const size_t per_thread = gemm_thread_bytes();
    const sn_gemm_blocks bl = SN_FN(sn_gemm_blocks_of)(u);
    const int64_t KC = bl.kc, MC = bl.mc;
    const sn_jobs plan = plan_jobs((M + MC - 1) / MC, M, N, u->nr, bl.nc,
                                   (double)M * N * K, n_threads);
    const int64_t group_rows = plan.group_blocks * MC, jobs = plan.jobs;
    const int64_t njobs = plan.ncols, col_w = plan.col_w;
    int nt = plan.threads;

    sn_team team;
    nt = sn_team_begin(&team, nt);
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        real *Ap = (real *)(ws + per_thread * omp_get_thread_num());
        real *Bp = b_block(Ap);
        #pragma omp for schedule(dynamic, 1) nowait
        for (int64_t job = 0; job < jobs; job++) {
            const int64_t g0 = (job / njobs) * group_rows;
            const int64_t j0 = (job % njobs) * col_w;
            const int64_t g1 = SN_MIN(M, g0 + group_rows);
            const int64_t n = SN_MIN(col_w, N - j0);
            if (K == 0) {
                SN_FN(scale_c)(C + g0 * ldc + j0, ldc, g1 - g0, n, beta);
                continue;
            }
            for (int64_t p0 = 0; p0 < K; p0 += KC) {
                const int64_t k = SN_MIN((int64_t)KC, K - p0);
                const real *b = trans_b ? Bm + j0 * ldb + p0
                                        : Bm + p0 * ldb + j0;
                SN_FN(sn_pack_b)(Bp, b, ldb, trans_b, k, n, u->nr);
                for (int64_t i0 = g0; i0 < g1; i0 += MC) {
                    const int64_t m = SN_MIN((int64_t)MC, g1 - i0);
                    const real beta_k = p0 == 0 ? beta : 1;
                    real *c = C + i0 * ldc + j0;
                    if (!trans_a) {   /* rows of A are read in place */
                        SN_FN(sn_gemm_packed)(u, c, ldc, A + i0 * lda + p0,
                                              lda, Bp, beta_k, m, n, k);
                    } else if (in_place_at(lda)) {
                        SN_FN(sn_gemm_packed_tn)(u, c, ldc, A + p0 * lda + i0,
                                                 lda, Bp, beta_k, m, n, k);
                    } else {
                        SN_FN(sn_pack_a)(Ap, A + p0 * lda + i0, lda, 1, m, k,
                                         u->mr);
                        SN_FN(sn_gemm_packed)(u, c, ldc, Ap, 0, Bp, beta_k, m,
                                              n, k);
                    }
                }
            }
        }
        sn_team_finish(&team, omp_get_thread_num());
    }
    sn_team_end(&team);
}

/* Panels of r rows of A^T for rows [i0, i0 + m) of a part, K rows
 * [p0, p0 + k) of A: each panel from its rows before the split, then from
 * those after. */
static void SN_FN(pack_part)(real *restrict P, const SN_FN(sn_tn_part) *pt,
                             int64_t i0, int64_t m, int64_t p0, int64_t k,
                             int r) {
    const int64_t k0 = SN_MAX((int64_t)0, SN_MIN(k, pt->split - p0));
    for (int64_t q0 = 0; q0 < m; q0 += r, P += (size_t)r * k) {
        const int64_t rows = SN_MIN((int64_t)r, m - q0);
        if (k0 > 0)
            SN_FN(pack_panels)(P, pt->A0 + p0 * pt->lda + i0 + q0, pt->lda,
                               1, rows, k0, r);
        if (k0 < k)
            SN_FN(pack_panels)(P + (size_t)r * k0,
                               pt->A1 + (p0 + k0 - pt->split) * pt->lda +
                                   i0 + q0,
                               pt->lda, 1, rows, k - k0, r);
    }
}

/* The parts' rows are laid end to end, each starting on an MC boundary,
 * and cut like the rows of sn_gemm_run: one thread takes every part in one
 * job per NC column block, so each block of Bm is packed once. */
void SN_FN(sn_gemm_tn_parts)(const SN_FN(sn_tn_part) *parts, int nparts,
                             const real *Bm, int64_t ldb, int64_t N,
                             int64_t K, void *workspace, int n_threads) {
    if (N <= 0 || K <= 0 || nparts <= 0)
        return;
    const SN_FN(sn_ukr) *u = SN_FN(sn_ukr_get)();
    char *ws = sn_align_ptr(workspace);
    const size_t per_thread = gemm_thread_bytes();
    const sn_gemm_blocks bl = SN_FN(sn_gemm_blocks_of)(u);
    const int64_t KC = bl.kc, MC = bl.mc;
    int64_t mblocks = 0, rows = 0;
    for (int q = 0; q < nparts; q++) {
        mblocks += (parts[q].m + MC - 1) / MC;   /* each part starts a block */
        rows += parts[q].m;
    }
    const sn_jobs plan = plan_jobs(mblocks, rows, N, u->nr, bl.nc,
                                   (double)rows * N * K, n_threads);
    const int64_t group_blocks = plan.group_blocks, jobs = plan.jobs;
    const int64_t njobs = plan.ncols, col_w = plan.col_w;
    int nt = plan.threads;

    sn_team team;
    nt = sn_team_begin(&team, nt);
    #pragma omp parallel num_threads(nt) if (nt > 1)
    {
        real *Ap = (real *)(ws + per_thread * omp_get_thread_num());
        real *Bp = b_block(Ap);
        #pragma omp for schedule(dynamic, 1) nowait
        for (int64_t job = 0; job < jobs; job++) {
            const int64_t blk0 = (job / njobs) * group_blocks;
            const int64_t blk1 = blk0 + group_blocks;
            const int64_t j0 = (job % njobs) * col_w;
            const int64_t n = SN_MIN(col_w, N - j0);
            for (int64_t p0 = 0; p0 < K; p0 += KC) {
                const int64_t k = SN_MIN((int64_t)KC, K - p0);
                SN_FN(sn_pack_b)(Bp, Bm + p0 * ldb + j0, ldb, 0, k, n, u->nr);
                int64_t blk = 0;   /* global index of the part's first block */
                for (int q = 0; q < nparts; q++) {
                    const SN_FN(sn_tn_part) *pt = &parts[q];
                    const int64_t nb = (pt->m + MC - 1) / MC;
                    for (int64_t b = SN_MAX(blk0 - blk, (int64_t)0);
                         b < nb && blk + b < blk1; b++) {
                        const int64_t i0 = b * MC;
                        const int64_t m = SN_MIN((int64_t)MC, pt->m - i0);
                        real *c = pt->C + i0 * pt->ldc + j0;
                        /* In place unless the block straddles the split. */
                        if (in_place_at(pt->lda) &&
                            (p0 + k <= pt->split || p0 >= pt->split)) {
                            const real *a = p0 < pt->split
                                ? pt->A0 + p0 * pt->lda
                                : pt->A1 + (p0 - pt->split) * pt->lda;
                            SN_FN(sn_gemm_packed_tn)(u, c, pt->ldc, a + i0,
                                                     pt->lda, Bp, 1, m, n, k);
                            continue;
                        }
                        SN_FN(pack_part)(Ap, pt, i0, m, p0, k, u->mr);
                        SN_FN(sn_gemm_packed)(u, c, pt->ldc, Ap, 0, Bp, 1, m,
                                              n, k);
                    }
                    blk += nb;
                }
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
