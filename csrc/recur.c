/*
 * recur.c -- forward and backward time loops shared by the LSTM, GRU and
 * Elman cells.
 *
 * Forward:  gates = x.W for every valid (t, b) in ONE GEMM (one per step
 *           only for the ragged tail), or step by step (see
 *           sn_recur_forward); token codes gather rows of W instead of
 *           multiplying; then per step the recurrent GEMM
 *           h_prev.U of the active rows, with the cell's pointwise maths
 *           applied straight after on the same slice of hidden units.
 * Backward: per step the cell's pointwise backward, then dh_prev =
 *           dgates.U^T; after the loop dx, dW, dU and db as GEMMs (or a
 *           column sum) over all valid steps.  Parameter gradients are
 *           never summed inside the loop, where rows may be split over
 *           threads.
 * Threads:  one parallel region around the whole time loop, split over
 *           batch rows or over hidden units (see plan_threads).  A thread
 *           writes only its own rows or units, so no sum is ever split and
 *           results do not depend on the thread count.
 */
#include <string.h>
#include "gemm.h"
#include "recur.h"
#include "team.h"

/* Below this many multiply-adds in the whole loop, starting threads costs
 * more than they save. */
#define SN_LOOP_MIN_PARALLEL (1 << 20)
/* Below this many per step, a barrier per step costs more than a second
 * thread saves. */
#define SN_STEP_MIN_PARALLEL (1 << 18)
/* Fewest batch rows worth a thread of their own. */
#define SN_MIN_ROWS_PER_THREAD 4

typedef struct {
    int64_t *nact;   /* (T) active rows at each step / time */
    real *Up;        /* packed recurrent weights */
    real *Wp;        /* forward: packed input weights (step by step x.W) */
    real *dgates, *dgates_h, *dstep, *dh_carry, *dc_carry, *dfirst;
    char *thread;    /* per-thread scratch */
    size_t thread_bytes;
    void *gemm_ws;
} SN_FN(layout);

/* One sequence of sn_take calls sizes the workspace (base NULL) and carves
 * it up, so the two cannot disagree. */
static size_t SN_FN(carve)(SN_FN(layout) *L, char *base,
                           const SN_FN(sn_cell) *cell, int64_t T, int64_t B,
                           int64_t I, int64_t H, int nt, int backward) {
    const int64_t G = cell->info.n_gates * H;
    const size_t r = sizeof(real);
    sn_arena a = {base, 0};
    memset(L, 0, sizeof *L);
    L->nact = sn_take(&a, sizeof(int64_t) * T);
    if (!backward) {
        /* each gate's H columns in panels: at most H + nr columns */
        L->Up = sn_take(&a, r * cell->info.n_gates * (H + SN_MAX_NR) * H);
        L->Wp = sn_take(&a, r * cell->info.n_gates * (H + SN_MAX_NR) * I);
        /* packed h_prev and x, the step's x.W (GRU), the slice's
         * recurrent pre-activations, then a row of gates (and hn) not
         * kept */
        L->thread_bytes = sn_round_up(r * (B + SN_MAX_MR) * H) +
                          sn_round_up(r * (B + SN_MAX_MR) * I) +
                          2 * sn_round_up(r * B * (G + cell->info.n_gates *
                                                      SN_MAX_NR)) +
                          sn_round_up(r * (G + H));
    } else {
        L->Up = sn_take(&a, r * (H + SN_MAX_NR) * G);
        L->dgates = sn_take(&a, r * T * B * G);
        if (cell->separate_h)
            L->dgates_h = sn_take(&a, r * T * B * G);
        L->dstep = sn_take(&a, r * 2 * B * G);
        L->dh_carry = sn_take(&a, r * B * H);
        if (cell->info.has_c)
            L->dc_carry = sn_take(&a, r * B * H);
        L->dfirst = sn_take(&a, r * B * G);
        L->thread_bytes = 0;   /* the backward GEMM reads its rows in place */
    }
    L->thread = sn_take(&a, L->thread_bytes * nt);
    L->gemm_ws = sn_take(&a, sn_gemm_workspace_size(nt));
    return a.used + SN_ALIGN;
}

size_t SN_FN(sn_recur_workspace_size)(const SN_FN(sn_cell) *cell, int64_t T,
                                      int64_t B, int64_t I, int64_t H,
                                      int n_threads) {
    SN_FN(layout) L;
    int nt = sn_threads(n_threads);
    size_t f = SN_FN(carve)(&L, NULL, cell, T, B, I, H, nt, 0);
    size_t b = SN_FN(carve)(&L, NULL, cell, T, B, I, H, nt, 1);
    return SN_MAX(f, b);
}

/* nact[t] = number of rows valid at time t = rows active at step t. */
static void count_active(int64_t *nact, const int64_t *lengths, int64_t T,
                         int64_t B) {
    int64_t n = B;
    for (int64_t t = 0; t < T; t++) {
        while (n > 0 && lengths[n - 1] <= t)
            n--;
        nact[t] = n;
    }
}

/* Zero rows b >= nact[t] of a (T, B, width) array. */
static void SN_FN(zero_padding)(real *Y, int64_t width, const int64_t *nact,
                                int64_t T, int64_t B) {
    for (int64_t t = 0; t < T; t++)
        if (nact[t] < B)
            memset(Y + (t * B + nact[t]) * width, 0,
                   sizeof(real) * (B - nact[t]) * width);
}

/* C[t, b] = A[t, b] . op(Bm) for the valid rows b < nact[t] only: one GEMM
 * for the leading steps where every row is valid, one per ragged step. */
static void SN_FN(valid_rows_gemm)(real *C, int64_t ldc, const real *A,
                                   int64_t lda, const real *Bm, int64_t ldb,
                                   int trans_b, int64_t N, int64_t K,
                                   const int64_t *nact, int64_t T, int64_t B,
                                   void *ws, int nt) {
    int64_t full = 0;
    while (full < T && nact[full] == B)
        full++;
    if (full > 0)
        SN_FN(sn_gemm_run)(C, ldc, A, lda, Bm, ldb, 0, 0, trans_b, full * B,
                           N, K, ws, nt);
    for (int64_t t = full; t < T && nact[t] > 0; t++)
        SN_FN(sn_gemm_run)(C + t * B * ldc, ldc, A + t * B * lda, lda, Bm,
                           ldb, 0, 0, trans_b, nact[t], N, K, ws, nt);
}

/* C += sum over t of A[t + shift]^T . Bm[t], over the rows valid at both
 * times (shift is -1, 0 or +1; valid at the later time implies valid at the
 * earlier one). */
static void SN_FN(valid_rows_gemm_tn)(real *C, int64_t ldc, const real *A,
                                      int64_t lda, const real *Bm,
                                      int64_t ldb, int64_t M, int64_t N,
                                      int shift, const int64_t *nact,
                                      int64_t T, int64_t B, void *ws, int nt) {
    const int64_t t0 = shift < 0 ? 1 : 0, t1 = shift > 0 ? T - 1 : T;
    const int64_t late = shift > 0 ? 1 : 0;
    int64_t full = t0;
    while (full < t1 && nact[full + late] == B)
        full++;
    if (full > t0)
        SN_FN(sn_gemm_run)(C, ldc, A + (t0 + shift) * B * lda, lda,
                           Bm + t0 * B * ldb, ldb, 1, 1, 0, M, N,
                           (full - t0) * B, ws, nt);
    for (int64_t t = full; t < t1 && nact[t + late] > 0; t++)
        SN_FN(sn_gemm_run)(C, ldc, A + (t + shift) * B * lda, lda,
                           Bm + t * B * ldb, ldb, 1, 1, 0, M, N,
                           nact[t + late], ws, nt);
}

/* dW += x^T . dgates and db += column sums of dgates over the valid
 * (t, b), and, when dU is given (forward direction, dU multiplying the same
 * dgates), dU += h_prev^T . dgates with h_prev = h0 at time 0: one stacked
 * GEMM for the leading steps where every row is valid, one per ragged
 * step.  db is the GEMM of a row of ones, so it is summed in the same
 * order as the weights.  Token codes add each dgates row to its row of dW
 * instead, in the order t, then b. */
static void SN_FN(weight_grads)(SN_FN(sn_rnn) *r, real *dW, real *db,
                                real *dU, const int64_t *codes,
                                const int64_t *nact, void *ws, int nt) {
    static const real one = 1;
    const int64_t T = r->T, B = r->B, I = r->I, H = r->H, G = r->G;
    int64_t full = 0;
    while (full < T && nact[full] == B)
        full++;
    for (int64_t t0 = 0, t1; t0 < T && nact[t0] > 0; t0 = t1) {
        t1 = t0 < full ? full : t0 + 1;
        const int64_t rows = t0 < full ? (full - t0) * B : nact[t0];
        SN_FN(sn_tn_part) parts[3];
        int nparts = 0;
        if (!codes)
            parts[nparts++] = (SN_FN(sn_tn_part)){dW, G, r->x + t0 * B * I,
                                                 NULL, I, rows, I};
        parts[nparts++] = (SN_FN(sn_tn_part)){db, G, &one, NULL, 0, rows, 1};
        if (dU) {
            /* time t0 - 1, or h0 for the rows of time 0 (t0 == 0 < full) */
            if (t0 == 0)
                parts[nparts++] = (SN_FN(sn_tn_part)){dU, G, r->h0, r->h, H,
                                                     B, H};
            else
                parts[nparts++] = (SN_FN(sn_tn_part)){
                    dU, G, r->h + (t0 - 1) * B * H, NULL, H, rows, H};
        }
        SN_FN(sn_gemm_tn_parts)(parts, nparts, r->dgates + t0 * B * G, G, G,
                                rows, ws, nt);
    }
    if (codes)
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < nact[t]; b++) {
                real *restrict dst = dW + codes[t * B + b] * G;
                const real *restrict src = r->dgates + (t * B + b) * G;
                for (int64_t j = 0; j < G; j++)
                    dst[j] += src[j];
            }
}

/* How the time loop splits over threads.
 *
 * SPLIT_ROWS: the batch is cut into one chunk of rows per thread, each
 * carried through the whole sequence with all hidden units, so there is no
 * barrier inside the loop (a thread slowed by a busy core shows as a late
 * finish, and team.c runs the next regions on one thread).  Used whenever
 * every thread gets a few rows.  SPLIT_UNITS: each thread owns a slice of
 * hidden units (whole panels of nr, so tiles never depend on the thread
 * count) for all rows, with one barrier per step; for small batches with
 * large steps.  Either way a thread writes only its own rows or units and
 * every element is computed by the same arithmetic, so results do not
 * depend on the split.
 */
enum { SPLIT_ROWS, SPLIT_UNITS };

typedef struct {
    int threads, mode;
    int64_t chunk;   /* SPLIT_ROWS: rows per chunk */
} sn_plan;

static sn_plan plan_threads(int64_t steps, int64_t B, int64_t H, int64_t G,
                            int nr, int nt) {
    sn_plan p = {1, SPLIT_ROWS, B};
    const double step_work = (double)B * H * G;
    if (nt <= 1 || step_work * steps < SN_LOOP_MIN_PARALLEL)
        return p;
    if (B >= SN_MIN_ROWS_PER_THREAD * 2) {
        p.threads = (int)SN_MIN((int64_t)nt, B / SN_MIN_ROWS_PER_THREAD);
        /* One chunk per thread, of equal rows (in fours: the partial
         * tiles take a chunk's edge, gemm.h): every chunk streams all of U
         * (and W) each step, so more chunks multiply that traffic -- with
         * U out of L2 (the "large" shapes) two chunks per thread made 2
         * threads slower than one.  Whole tiles instead split 64 rows
         * 36 + 28 for 12-row tiles. */
        const int64_t q = SN_MIN_ROWS_PER_THREAD;
        p.chunk = ((B + p.threads - 1) / p.threads + q - 1) / q * q;
        return p;
    }
    if (step_work >= SN_STEP_MIN_PARALLEL) {
        p.mode = SPLIT_UNITS;
        p.threads = (int)SN_MIN((int64_t)nt, (H + nr - 1) / nr);
    }
    return p;
}

/* SPLIT_UNITS: thread tid's hidden units [j0, j1). */
static void unit_slice(int threads, int tid, int64_t H, int nr, int64_t *j0,
                       int64_t *j1) {
    int64_t panels = (H + nr - 1) / nr;
    *j0 = SN_MIN(H, panels * tid / threads * nr);
    *j1 = SN_MIN(H, panels * (tid + 1) / threads * nr);
}

/* Weights M (K x G, gates side by side) in panels: whole rows of G
 * columns, or (SPLIT_UNITS) each gate's H columns in panels of their own,
 * K*(H + SN_MAX_NR) apart, so that a thread's units of every gate are
 * whole panels. */
static void SN_FN(pack_gates)(real *P, const real *M, int64_t K, int64_t H,
                              int64_t G, int ngates, int nr, int mode) {
    if (mode == SPLIT_UNITS)
        for (int q = 0; q < ngates; q++)
            SN_FN(sn_pack_b)(P + q * (size_t)(H + SN_MAX_NR) * K, M + q * H,
                             G, 0, K, H, nr);
    else
        SN_FN(sn_pack_b)(P, M, G, 0, K, G, nr);
}

/* Active rows among [r0, r1) at a step where rows [0, n) are active. */
static inline int64_t own_rows(int64_t n, int64_t r0, int64_t r1) {
    int64_t hi = SN_MIN(n, r1);
    return hi > r0 ? hi - r0 : 0;
}

/* What a span of the time loop needs besides its rows and units. */
typedef struct {
    const SN_FN(sn_cell) *cell;
    SN_FN(sn_rnn) *r;
    const SN_FN(sn_ukr) *u;
    const SN_FN(layout) *L;
    const int64_t *lengths;
    int reverse;
    int64_t steps;
    int barrier;     /* SPLIT_UNITS: synchronise every step */
    int step_x;      /* forward: x.W step by step, not all steps at once */
    const real *W;   /* forward: the input weights (I, G) */
    const int64_t *codes;   /* token codes (T, B), or NULL */
} SN_FN(loop);

static inline int64_t time_of(const int64_t *lengths, int64_t b, int64_t s,
                              int reverse) {
    return reverse ? lengths[b] - 1 - s : s;
}

/* Reverse direction: rows [r0, r0 + n) at step s each sit at their own
 * time, so they are gathered into packed panels of mr rows (rows past n
 * zero): row b of the (T, B, K) array `base` at time t_b + shift, or row b
 * of `first` (h0) at step 0 when `first` is given. */
static void SN_FN(gather_panels)(real *Ap, const SN_FN(loop) *lp,
                                 const real *base, const real *first,
                                 int64_t K, int shift, int64_t r0, int64_t n,
                                 int64_t s) {
    const int mr = lp->u->mr;
    const int64_t B = lp->r->B;
    for (int64_t i0 = 0; i0 < n; i0 += mr) {
        real *dst = Ap + i0 * K;
        const int64_t rows = SN_MIN((int64_t)mr, n - i0);
        if (rows < mr)
            memset(dst, 0, sizeof(real) * mr * K);
        for (int64_t i = 0; i < rows; i++) {
            const int64_t b = r0 + i0 + i;
            const int64_t t = time_of(lp->lengths, b, s, 1) + shift;
            const real *src = first && s == 0 ? first + b * K
                                              : base + (t * B + b) * K;
            for (int64_t p = 0; p < K; p++)
                dst[p * mr + i] = src[p];
        }
    }
}

/* x.W of token codes for rows [r0, r0 + n) at step s, units [j0, j0 + w)
 * of every gate: row `code` of W, into (add == 0) or added to (add == 1)
 * C's rows (row stride ldc, gate q at column q*gstride) -- where the GEMM
 * would have put or summed it. */
static void SN_FN(gather_x)(const SN_FN(loop) *lp, real *C, int64_t ldc,
                            int64_t gstride, int64_t r0, int64_t n,
                            int64_t s, int64_t j0, int64_t w, int add) {
    const SN_FN(sn_rnn) *r = lp->r;
    const int64_t B = r->B, H = r->H, G = r->G;
    for (int64_t i = 0; i < n; i++) {
        const int64_t b = r0 + i, t = time_of(lp->lengths, b, s, lp->reverse);
        const real *src = lp->W + lp->codes[t * B + b] * G + j0;
        for (int q = 0; q < lp->cell->info.n_gates; q++) {
            real *restrict dst = C + i * ldc + q * gstride;
            const real *restrict wq = src + q * H;
            if (add)
                for (int64_t k = 0; k < w; k++)
                    dst[k] += wq[k];
            else
                memcpy(dst, wq, sizeof(real) * w);
        }
    }
}

/* C = A . Wp (+ A2 . W2p when K2 > 0) for units [j0, j0 + w) of every
 * gate, gate q's columns gstride apart in C: all gates in one GEMM when
 * the span has every unit (panels of whole rows), else gate by gate from
 * per-gate panels (SPLIT_UNITS).  Weights as packed by pack_gates. */
static void SN_FN(gate_gemm)(const SN_FN(loop) *lp, real *C, int64_t ldc,
                             int64_t gstride, const real *A, int64_t lda,
                             const real *Wp, int64_t K, const real *A2,
                             int64_t lda2, const real *W2p, int64_t K2,
                             int64_t n, int64_t j0, int64_t w) {
    const int64_t H = lp->r->H;
    const int ngates = lp->cell->info.n_gates;
    if (!lp->barrier) {
        SN_FN(sn_gemm_packed2)(lp->u, C, ldc, A, lda, Wp, K, A2, lda2, W2p,
                               K2, 0, n, ngates * H);
        return;
    }
    const size_t panels = (size_t)(H + SN_MAX_NR);
    for (int q = 0; q < ngates; q++)
        SN_FN(sn_gemm_packed2)(lp->u, C + q * gstride, ldc, A, lda,
                               Wp + (q * panels + j0) * K, K, A2, lda2,
                               K2 ? W2p + (q * panels + j0) * K2 : NULL, K2,
                               0, n, w);
}

/* The forward time loop for rows [r0, r1) and units [j0, j1); scratch is
 * this thread's buffer: packed h_prev, packed x and the step's input
 * projection (GRU), then the recurrent pre-activations. */
static void SN_FN(forward_span)(const SN_FN(loop) *lp, int64_t r0, int64_t r1,
                                int64_t j0, int64_t j1, char *scratch) {
    const SN_FN(sn_cell) *cell = lp->cell;
    SN_FN(sn_rnn) *r = lp->r;
    const int64_t B = r->B, H = r->H, I = r->I, G = r->G;
    const int64_t *lengths = lp->lengths;
    const int ngates = cell->info.n_gates, reverse = lp->reverse;
    const int64_t w = j1 - j0, cw = ngates * w;
    real *Ah = (real *)scratch;
    real *Ax = (real *)((char *)Ah + sn_round_up(sizeof(real) * (B + SN_MAX_MR) * H));
    real *xs = (real *)((char *)Ax + sn_round_up(sizeof(real) * (B + SN_MAX_MR) * I));
    const size_t slice = sn_round_up(sizeof(real) * B * (G + ngates * SN_MAX_NR));
    real *rg = (real *)((char *)xs + slice);
    real *gsc = (real *)((char *)rg + slice);
    for (int64_t s = 0; s < lp->steps; s++) {
        const int64_t n = own_rows(lp->L->nact[s], r0, r1);
        if (n == 0 && !lp->barrier)
            break;
        /* The input projection of the active rows, when it was not done
         * for all steps at once: forwards the rows sit side by side at time
         * s and are read in place; in reverse they are gathered. */
        const int step_x = lp->step_x && n > 0;
        const real *Ax_s = r->x ? r->x + (s * B + r0) * I : NULL;
        int64_t ldx = I;
        if (step_x && reverse && !lp->codes) {
            SN_FN(gather_panels)(Ax, lp, r->x, NULL, I, 0, r0, n, s);
            Ax_s = Ax;
            ldx = 0;
        }
        /* x.W on its own, into xs, for a cell that needs it apart (GRU),
         * the same (n, ngates*w) layout as rg: never written to gates. */
        const int apart = step_x && !cell->sum_x;
        if (apart && lp->codes)
            SN_FN(gather_x)(lp, xs, cw, w, r0, n, s, j0, w, 0);
        else if (apart)
            SN_FN(gate_gemm)(lp, xs, cw, w, Ax_s, ldx, lp->L->Wp, I, NULL, 0,
                             NULL, 0, n, j0, w);
        /* h_prev of the active rows: read in place forwards (time s - 1 or
         * h0), gathered in reverse (each row's time + 1, or h0). */
        const real *A = (s == 0 ? r->h0 : r->h + (s - 1) * B * H) + r0 * H;
        int64_t lda = H;
        if (reverse) {
            SN_FN(gather_panels)(Ah, lp, r->h, r->h0, H, 1, r0, n, s);
            A = Ah;
            lda = 0;
        }
        /* rg[b] = h_prev[b] . U for these units of every gate -- after x.W
         * in the same tiles when the cell takes the two summed, so that the
         * input projection is never written out (only the cell's outputs
         * are). */
        const int summed = step_x && cell->sum_x;
        if (summed && !lp->codes)
            SN_FN(gate_gemm)(lp, rg, cw, w, Ax_s, ldx, lp->L->Wp, I, A, lda,
                             lp->L->Up, H, n, j0, w);
        else
            SN_FN(gate_gemm)(lp, rg, cw, w, A, lda, lp->L->Up, H, NULL, 0,
                             NULL, 0, n, j0, w);
        /* The codes' rows of W, added as the tile would have summed
         * them: (x.W + h_prev.U) is the same sum either way round. */
        if (summed && lp->codes)
            SN_FN(gather_x)(lp, rg, cw, w, r0, n, s, j0, w, 1);
        /* Gates that no backward pass will read go to one scratch row,
         * reused row after row so that it stays in L1 (inference), unless
         * they hold x.W on entry. */
        const int scratch = step_x && !r->keep;
        for (int64_t b = r0; b < r0 + n; b++) {
            int64_t t = time_of(lengths, b, s, reverse);
            int64_t tprev = s == 0 ? -1 : (reverse ? t + 1 : t - 1);
            real *g = scratch ? gsc : r->gates + (t * B + b) * G;
            real *hn = !r->hn ? NULL
                              : (scratch ? g + G : r->hn + (t * B + b) * H);
            cell->forward_row(r, t, b, tprev, j0, j1, rg + (b - r0) * cw, w,
                              summed ? SN_X_SUMMED
                                     : (apart ? SN_X_APART : SN_X_GATES),
                              xs + (b - r0) * cw, g, hn);
        }
        if (lp->barrier) {
            #pragma omp barrier
        }
    }
}

/* The backward time loop for rows [r0, r1) and units [j0, j1).  The
 * recurrent GEMM reads this step's recurrent-side dgates in place when the
 * rows sit side by side at one time (forwards); in reverse each row is at
 * its own time, and its units' columns are gathered into a step buffer. */
static void SN_FN(backward_span)(const SN_FN(loop) *lp, int64_t r0,
                                 int64_t r1, int64_t j0, int64_t j1) {
    const SN_FN(sn_cell) *cell = lp->cell;
    SN_FN(sn_rnn) *r = lp->r;
    const int64_t B = r->B, H = r->H, G = r->G, *lengths = lp->lengths;
    const int reverse = lp->reverse, ngates = cell->info.n_gates;
    const int64_t w = j1 - j0;
    const real *UTp = lp->L->Up + j0 * G;   /* these units' columns */
    const real *dgr = cell->separate_h ? r->dgates_h : r->dgates;
    for (int64_t s = lp->steps - 1; s >= 0; s--) {
        const int64_t n = own_rows(lp->L->nact[s], r0, r1);
        /* Two step buffers: with SPLIT_UNITS a thread may start step s
         * while another still multiplies the buffer of step s + 1. */
        real *dstep = lp->L->dstep + (s & 1) * B * G;
        for (int64_t b = r0; b < r0 + n; b++) {
            int64_t t = time_of(lengths, b, s, reverse);
            int64_t tprev = s == 0 ? -1 : (reverse ? t + 1 : t - 1);
            cell->backward_row(r, t, b, tprev, j0, j1);
            if (reverse)
                for (int q = 0; q < ngates; q++)
                    memcpy(dstep + b * G + q * H + j0,
                           dgr + (t * B + b) * G + q * H + j0,
                           sizeof(real) * w);
        }
        if (lp->barrier) {
            #pragma omp barrier
        }
        const real *A = reverse ? dstep : dgr + s * B * G;
        SN_FN(sn_gemm_packed)(lp->u, r->dh_carry + r0 * H + j0, H,
                              A + r0 * G, G, UTp, cell->direct_dh ? 1 : 0, n,
                              w, G);
    }
}

int SN_FN(sn_recur_forward)(const SN_FN(sn_cell) *cell, SN_FN(sn_rnn) *r,
                            real *h_n, real *c_n, const real *W,
                            const int64_t *lengths, int reverse,
                            void *workspace, size_t workspace_size,
                            int n_threads) {
    const int64_t T = r->T, B = r->B, I = r->I, H = r->H, G = r->G;
    const int nt = sn_threads(n_threads);
    (void)workspace_size;

    SN_FN(layout) L;
    SN_FN(carve)(&L, sn_align_ptr(workspace), cell, T, B, I, H, nt, 0);
    const SN_FN(sn_ukr) *u = SN_FN(sn_ukr_get)();
    const int nr = u->nr, ngates = cell->info.n_gates;
    const int64_t steps = lengths[0];
    count_active(L.nact, lengths, T, B);

    SN_FN(zero_padding)(r->h, H, L.nact, T, B);
    if (r->gates != r->h)
        SN_FN(zero_padding)(r->gates, G, L.nact, T, B);
    if (r->c)
        SN_FN(zero_padding)(r->c, H, L.nact, T, B);
    if (r->hn)
        SN_FN(zero_padding)(r->hn, H, L.nact, T, B);
    /* The input projection x.W of every valid (t, b): when W and U
     * together fit in L2 and the batch fills a (partial) tile, step by
     * step in the recurrent GEMM's tiles (LSTM, Elman: x.W + h_prev.U in
     * one accumulator tile) or just before it (GRU, into a per-thread
     * scratch the cell reads), so that it never travels through memory
     * (one GEMM over all steps writes T*B*G values out and reads them
     * back).  Otherwise one GEMM over all steps: W streamed from L3 every
     * step, or multiplied through the row kernel for a few rows, would
     * cost more.  The choice depends on the shapes and the machine, never
     * on the thread count. */
    const sn_plan plan = plan_threads(steps, B, H, G, nr, nt);
    const int step_x = B >= SN_FN(sn_ukr_min_rows)(u) &&
                       (double)sizeof(real) * (I + H) * G <=
                           0.75 * (double)sn_l2_bytes();
    if (!step_x && r->codes) {
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < L.nact[t]; b++)
                memcpy(r->gates + (t * B + b) * G,
                       W + r->codes[t * B + b] * G,
                       sizeof(real) * G);
    } else if (!step_x) {
        SN_FN(valid_rows_gemm)(r->gates, G, r->x, I, W, G, 0, G, I, L.nact,
                               T, B, L.gemm_ws, nt);
    }

    /* U (and W) in panels, once per call: whole rows of G columns when
     * threads split the batch, each gate's columns apart when they split
     * units. */
    SN_FN(pack_gates)(L.Up, r->U, H, H, G, ngates, nr, plan.mode);
    if (step_x && !r->codes)
        SN_FN(pack_gates)(L.Wp, W, I, H, G, ngates, nr, plan.mode);

    const SN_FN(loop) lp = {cell, r, u, &L, lengths, reverse, steps,
                            plan.mode == SPLIT_UNITS, step_x, W,
                            r->codes};
    sn_team team;
    const int nteam = sn_team_begin(&team, plan.threads);
    if (plan.mode == SPLIT_UNITS)
        team.size = 1;   /* a barrier every step: no lag to measure */
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        const int tid = omp_get_thread_num();
        char *mine = L.thread + L.thread_bytes * tid;
        if (plan.mode == SPLIT_ROWS) {
            #pragma omp for schedule(dynamic, 1) nowait
            for (int64_t r0 = 0; r0 < B; r0 += plan.chunk)
                SN_FN(forward_span)(&lp, r0, SN_MIN(B, r0 + plan.chunk), 0, H,
                                    mine);
            sn_team_finish(&team, tid);
        } else {
            int64_t j0, j1;
            unit_slice(nteam, tid, H, nr, &j0, &j1);
            SN_FN(forward_span)(&lp, 0, B, j0, j1, mine);
        }
    }
    sn_team_end(&team);

    /* The final state is the output at each row's last valid step. */
    for (int64_t b = 0; b < B; b++) {
        int64_t t = reverse ? 0 : lengths[b] - 1;
        memcpy(h_n + b * H, r->h + (t * B + b) * H, sizeof(real) * H);
        if (cell->info.has_c)
            memcpy(c_n + b * H, r->c + (t * B + b) * H, sizeof(real) * H);
    }
    return SN_OK;
}

int SN_FN(sn_recur_backward)(const SN_FN(sn_cell) *cell, SN_FN(sn_rnn) *r,
                             real *dx, real *dh0, real *dc0, real *dW,
                             real *dU, real *db, const real *dh_n,
                             const real *dc_n, const real *W,
                             const int64_t *lengths, int reverse,
                             void *workspace, size_t workspace_size,
                             int n_threads) {
    const int64_t T = r->T, B = r->B, I = r->I, H = r->H, G = r->G;
    const int nt = sn_threads(n_threads);
    (void)workspace_size;

    SN_FN(layout) L;
    SN_FN(carve)(&L, sn_align_ptr(workspace), cell, T, B, I, H, nt, 1);
    const SN_FN(sn_ukr) *u = SN_FN(sn_ukr_get)();
    const int nr = u->nr;
    const int64_t steps = lengths[0];
    count_active(L.nact, lengths, T, B);
    r->dgates = L.dgates;
    r->dgates_h = L.dgates_h;
    r->dh_carry = L.dh_carry;
    r->dc_carry = L.dc_carry;
    if (dh_n)
        memcpy(L.dh_carry, dh_n, sizeof(real) * B * H);
    else
        memset(L.dh_carry, 0, sizeof(real) * B * H);
    if (cell->info.has_c) {
        if (dc_n)
            memcpy(L.dc_carry, dc_n, sizeof(real) * B * H);
        else
            memset(L.dc_carry, 0, sizeof(real) * B * H);
    }

    /* U^T in panels of hidden units, once per call: dh_prev = dgates.U^T. */
    SN_FN(sn_pack_b)(L.Up, r->U, G, 1, G, H, nr);

    const sn_plan plan = plan_threads(steps, B, H, G, nr, nt);
    const SN_FN(loop) lp = {cell, r, u, &L, lengths, reverse, steps,
                            plan.mode == SPLIT_UNITS, 0, W, NULL};
    sn_team team;
    const int nteam = sn_team_begin(&team, plan.threads);
    if (plan.mode == SPLIT_UNITS)
        team.size = 1;   /* a barrier every step: no lag to measure */
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        if (plan.mode == SPLIT_ROWS) {
            #pragma omp for schedule(dynamic, 1) nowait
            for (int64_t r0 = 0; r0 < B; r0 += plan.chunk)
                SN_FN(backward_span)(&lp, r0, SN_MIN(B, r0 + plan.chunk), 0,
                                     H);
            sn_team_finish(&team, omp_get_thread_num());
        } else {
            int64_t j0, j1;
            unit_slice(nteam, omp_get_thread_num(), H, nr, &j0, &j1);
            SN_FN(backward_span)(&lp, 0, B, j0, j1);
        }
    }
    sn_team_end(&team);

    memcpy(dh0, L.dh_carry, sizeof(real) * B * H);
    if (cell->info.has_c)
        memcpy(dc0, L.dc_carry, sizeof(real) * B * H);
    if (dx) {
        SN_FN(zero_padding)(dx, I, L.nact, T, B);
        SN_FN(valid_rows_gemm)(dx, I, L.dgates, G, W, G, 1, I, G, L.nact, T,
                               B, L.gemm_ws, nt);
    }
    /* dW, db and -- forwards, when it multiplies the same dgates -- dU in
     * one pass over dgates. */
    const int fuse_u = !reverse && !cell->separate_h;
    SN_FN(weight_grads)(r, dW, db, fuse_u ? dU : NULL, r->codes, L.nact,
                        L.gemm_ws, nt);
    if (!fuse_u) {
        const real *dgh = cell->separate_h ? L.dgates_h : L.dgates;
        SN_FN(valid_rows_gemm_tn)(dU, G, r->h, H, dgh, G, H, G,
                                  reverse ? 1 : -1, L.nact, T, B, L.gemm_ws,
                                  nt);
        /* The step that read h0: time 0 forwards, the last valid time in
         * reverse. */
        for (int64_t b = 0; b < B; b++) {
            int64_t t = reverse ? lengths[b] - 1 : 0;
            memcpy(L.dfirst + b * G, dgh + (t * B + b) * G,
                   sizeof(real) * G);
        }
        SN_FN(sn_gemm_run)(dU, G, r->h0, H, L.dfirst, G, 1, 1, 0, H, G, B,
                           L.gemm_ws, nt);
    }
    if (cell->backward_params)
        cell->backward_params(r, L.nact, lengths, reverse);
    return SN_OK;
}

void SN_FN(sn_valid_colsum)(real *out, const real *src, int64_t ld,
                            int64_t width, const int64_t *nact, int64_t T,
                            int64_t B) {
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < nact[t]; b++) {
            const real *row = src + (t * B + b) * ld;
            for (int64_t j = 0; j < width; j++)
                out[j] += row[j];
        }
}
