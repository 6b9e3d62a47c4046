/*
 * stack.c -- stateful stepping through a stack of layers, and character
 * generation.
 *
 * One step for B independent streams, each row on its own: the input and
 * recurrent pre-activations as two vector-matrix products (a token code's
 * x.W is its row of W), then the cell's own pointwise forward (the same
 * forward_row the time loop uses).  Generation feeds each drawn code back
 * as the next input, all in C.
 */
#include <math.h>
#include <string.h>
#include "recur.h"

/* Total state width and the widest gate row; SN_EARG/SN_EDIM on a bad
 * stack. */
static int SN_FN(check_stack)(const sn_layer *layers, int n_layers,
                              int64_t *Htot, int64_t *Gmax, int64_t *Hmax) {
    if (!layers || n_layers < 1)
        return SN_EARG;
    *Htot = *Gmax = *Hmax = 0;
    for (int l = 0; l < n_layers; l++) {
        const sn_layer *L = layers + l;
        const SN_FN(sn_cell) *cell = SN_FN(sn_cell_of)(L->cell);
        if (!cell || !L->W || !L->U || !L->b ||
            cell->info.has_bh != (L->bh != NULL) ||
            (L->p && !cell->info.peepholes) || L->activation < 0 ||
            L->activation >= SN_N_ACTIVATIONS ||
            (!cell->info.activation && L->activation != SN_TANH))
            return SN_EARG;
        if (L->I < 1 || L->H < 1 || L->H > (int64_t)1 << 40 ||
            L->I > (int64_t)1 << 40 || (l > 0 && L->I != layers[l - 1].H))
            return SN_EDIM;
        *Htot += L->H;
        *Gmax = SN_MAX(*Gmax, cell->info.n_gates * L->H);
        *Hmax = SN_MAX(*Hmax, L->H);
    }
    return SN_OK;
}

typedef struct {
    real *xg, *rg, *hnew, *cnew, *hn, *z;
} SN_FN(stack_ws);

static size_t SN_FN(carve_stack)(SN_FN(stack_ws) *w, char *base, int64_t Gmax,
                                 int64_t Hmax, int64_t K) {
    sn_arena a = {base, 0};
    const size_t r = sizeof(real);
    w->xg = sn_take(&a, r * Gmax);
    w->rg = sn_take(&a, r * Gmax);
    w->hnew = sn_take(&a, r * Hmax);
    w->cnew = sn_take(&a, r * Hmax);
    w->hn = sn_take(&a, r * Hmax);
    w->z = sn_take(&a, r * K);      /* generation: the logits */
    return a.used + SN_ALIGN;
}

size_t SN_FN(sn_stack_workspace_size)(const sn_layer *layers,
                                      int n_layers, int64_t B, int64_t K) {
    int64_t Htot, Gmax, Hmax;
    SN_FN(stack_ws) w;
    (void)B;
    if (SN_FN(check_stack)(layers, n_layers, &Htot, &Gmax, &Hmax) != SN_OK ||
        K > ((int64_t)1 << 40))
        return 0;
    return SN_FN(carve_stack)(&w, NULL, Gmax, Hmax, SN_MAX(K, 1));
}

/* y (cols) = x (rows) . M (rows, cols), skipping zero entries of x. */
static void SN_FN(vecmat)(real *restrict y, const real *restrict x,
                          const real *restrict M, int64_t rows, int64_t cols) {
    memset(y, 0, sizeof(real) * cols);
    for (int64_t k = 0; k < rows; k++) {
        const real xk = x[k];
        if (xk == 0)
            continue;
        const real *m = M + k * cols;
        for (int64_t j = 0; j < cols; j++)
            y[j] += xk * m[j];
    }
}

/* y (cols) = row `code` of M, as vecmat gives it for a one-hot x. */
static void SN_FN(coderow)(real *restrict y, int64_t code,
                           const real *restrict M, int64_t cols) {
    const real *m = M + code * cols;
    for (int64_t j = 0; j < cols; j++)
        y[j] = (real)0 + m[j];
}

/* One step of every layer for one stream, reading x (layer 0's input) or,
 * when x is NULL, the token code `code`: h_row, c_row (Htot) updated, the
 * top layer's new state returned (a pointer into h_row). */
static const real *SN_FN(step_row)(real *h_row, real *c_row, const real *x,
                                   int64_t code, const sn_layer *layers,
                                   int n_layers, SN_FN(stack_ws) *w) {
    int64_t off = 0;
    const real *in = x;
    for (int l = 0; l < n_layers; l++) {
        const sn_layer *L = layers + l;
        const SN_FN(sn_cell) *cell = SN_FN(sn_cell_of)(L->cell);
        const int64_t H = L->H, G = cell->info.n_gates * H;
        if (in)
            SN_FN(vecmat)(w->xg, in, L->W, L->I, G);
        else
            SN_FN(coderow)(w->xg, code, L->W, G);
        SN_FN(vecmat)(w->rg, h_row + off, L->U, H, G);
        SN_FN(sn_rnn) r = {.h = w->hnew, .c = w->cnew, .gates = w->xg,
                           .hn = w->hn, .h0 = h_row + off, .c0 = c_row + off,
                           .U = L->U, .b = L->b, .p = L->p, .bh = L->bh,
                           .T = 1, .B = 1, .I = L->I, .H = H, .G = G,
                           .activation = L->activation};
        if (cell->info.gates_in_h) {
            /* Elman reads x.W from its output row (see elman.c). */
            memcpy(w->hnew, w->xg, sizeof(real) * H);
            r.gates = w->hnew;
        }
        cell->forward_row(&r, 0, 0, -1, 0, H, w->rg, H, SN_X_GATES, NULL,
                          r.gates, r.hn);
        memcpy(h_row + off, w->hnew, sizeof(real) * H);
        if (cell->info.has_c)
            memcpy(c_row + off, w->cnew, sizeof(real) * H);
        in = h_row + off;
        off += H;
    }
    return in;
}

int SN_FN(sn_stack_step)(real *top, real *h, real *c, const real *x,
                         const int64_t *codes, const sn_layer *layers,
                         int n_layers, int64_t B, void *workspace,
                         size_t workspace_size) {
    int64_t Htot, Gmax, Hmax;
    int st = SN_FN(check_stack)(layers, n_layers, &Htot, &Gmax, &Hmax);
    if (st != SN_OK)
        return st;
    if (B < 1)
        return SN_EDIM;
    if (!top || !h || !c || (x == NULL) == (codes == NULL) || !workspace)
        return SN_EARG;
    if (B > ((int64_t)1 << 40))
        return SN_EDIM;
    for (int64_t b = 0; codes && b < B; b++)
        if (codes[b] < 0 || codes[b] >= layers[0].I)
            return SN_ECODE;
    if (workspace_size < SN_FN(sn_stack_workspace_size)(layers, n_layers, B, 1))
        return SN_EWORKSPACE;
    SN_FN(stack_ws) w;
    SN_FN(carve_stack)(&w, sn_align_ptr(workspace), Gmax, Hmax, 1);
    const int64_t I = layers[0].I, Htop = layers[n_layers - 1].H;
    for (int64_t b = 0; b < B; b++) {
        const real *out = SN_FN(step_row)(h + b * Htot, c + b * Htot,
                                          x ? x + b * I : NULL,
                                          codes ? codes[b] : 0, layers,
                                          n_layers, &w);
        memcpy(top + b * Htop, out, sizeof(real) * Htop);
    }
    return SN_OK;
}

/* A code drawn from softmax(z / temperature), or argmax(z) when
 * temperature <= 0, with the uniform u in [0, 1). */
static int64_t SN_FN(draw)(const real *z, int64_t K, double temperature,
                           double u) {
    int64_t best = 0;
    for (int64_t k = 1; k < K; k++)
        if (z[k] > z[best])
            best = k;
    if (temperature <= 0)
        return best;
    double total = 0;
    for (int64_t k = 0; k < K; k++)
        total += exp(((double)z[k] - z[best]) / temperature);
    double target = u * total, acc = 0;
    for (int64_t k = 0; k < K; k++) {
        acc += exp(((double)z[k] - z[best]) / temperature);
        if (acc > target)
            return k;
    }
    return best;   /* only reached through rounding at u close to 1 */
}

int SN_FN(sn_generate)(int64_t *out, real *h, real *c,
                       const sn_layer *layers, int n_layers,
                       const real *V, const real *cb, int64_t K,
                       const int64_t *prime, int64_t n_prime, int64_t start,
                       int64_t n, double temperature, uint64_t seed,
                       uint64_t stream, uint64_t first, void *workspace,
                       size_t workspace_size) {
    int64_t Htot, Gmax, Hmax;
    int st = SN_FN(check_stack)(layers, n_layers, &Htot, &Gmax, &Hmax);
    if (st != SN_OK)
        return st;
    if (K < 1 || n < 0 || n_prime < 0 || layers[0].I != K)
        return SN_EDIM;
    if (!h || !c || !V || !cb || (n > 0 && !out) || (n_prime > 0 && !prime) ||
        !workspace)
        return SN_EARG;
    if (workspace_size < SN_FN(sn_stack_workspace_size)(layers, n_layers, 1, K))
        return SN_EWORKSPACE;
    for (int64_t i = 0; i < n_prime; i++)
        if (prime[i] < 0 || prime[i] >= K)
            return SN_ECODE;
    if (n_prime == 0 && (start < 0 || start >= K))
        return SN_ECODE;
    SN_FN(stack_ws) w;
    SN_FN(carve_stack)(&w, sn_align_ptr(workspace), Gmax, Hmax, K);
    const int64_t Htop = layers[n_layers - 1].H;

    const real *top = NULL;
    int64_t fed = n_prime ? n_prime : 1;
    for (int64_t i = 0; i < fed; i++)
        top = SN_FN(step_row)(h, c, NULL, n_prime ? prime[i] : start, layers,
                              n_layers, &w);
    for (int64_t i = 0; i < n; i++) {
        SN_FN(vecmat)(w.z, top, V, Htop, K);
        for (int64_t k = 0; k < K; k++)
            w.z[k] += cb[k];
        out[i] = SN_FN(draw)(w.z, K, temperature,
                             sn_uniform(seed, stream, first + (uint64_t)i));
        if (i + 1 < n)
            top = SN_FN(step_row)(h, c, NULL, out[i], layers, n_layers, &w);
    }
    return SN_OK;
}

/* ---- encoder-decoder decoding (seqnet.SequenceToSequence) ----
 *
 * Code 0 is both the start token (the first input) and the end token (an
 * output that finishes a sequence).  The decoder's layer 0 reads codes
 * (I_0 = K), or rows of the table E (K, I_0) when E is not NULL.  A step's
 * log-probabilities are log softmax(h_top . V + cb), in double. */

typedef struct {
    SN_FN(stack_ws) s;
    real *h, *c;            /* (W, Htot) live hypotheses' states */
    real *h2, *c2;          /* (W, Htot) the same after their step */
    double *logp;           /* (W, K) */
    double *total, *ctot;   /* (W) summed log-probabilities; candidates' */
    int64_t *codes, *codes2;   /* (W, max_len) */
    int64_t *cpar, *ccode;     /* (W) candidates' parent and code */
} SN_FN(decode_ws);

static size_t SN_FN(carve_decode)(SN_FN(decode_ws) *w, char *base,
                                  int64_t Htot, int64_t Gmax, int64_t Hmax,
                                  int64_t K, int64_t max_len, int64_t W) {
    size_t used = SN_FN(carve_stack)(&w->s, base, Gmax, Hmax, K);
    sn_arena a = {base ? base + used : NULL, 0};
    const size_t r = sizeof(real), d = sizeof(double), i = sizeof(int64_t);
    w->h = sn_take(&a, r * W * Htot);
    w->c = sn_take(&a, r * W * Htot);
    w->h2 = sn_take(&a, r * W * Htot);
    w->c2 = sn_take(&a, r * W * Htot);
    w->logp = sn_take(&a, d * W * K);
    w->total = sn_take(&a, d * W);
    w->ctot = sn_take(&a, d * W);
    w->codes = sn_take(&a, i * W * max_len);
    w->codes2 = sn_take(&a, i * W * max_len);
    w->cpar = sn_take(&a, i * W);
    w->ccode = sn_take(&a, i * W);
    return used + a.used + SN_ALIGN;
}

size_t SN_FN(sn_decode_workspace_size)(const sn_layer *layers, int n_layers,
                                       int64_t K, int64_t max_len,
                                       int64_t width, int n_threads) {
    int64_t Htot, Gmax, Hmax;
    SN_FN(decode_ws) w;
    if (SN_FN(check_stack)(layers, n_layers, &Htot, &Gmax, &Hmax) != SN_OK ||
        K < 1 || max_len < 1 || width < 1 || K > ((int64_t)1 << 40) ||
        max_len > ((int64_t)1 << 30) || width > ((int64_t)1 << 20) ||
        width * SN_MAX(K, SN_MAX(Htot, max_len)) > ((int64_t)1 << 40))
        return 0;
    return (size_t)sn_threads(n_threads) *
           SN_FN(carve_decode)(&w, NULL, Htot, Gmax, Hmax, K, max_len, width);
}

/* One decoder step of one hypothesis from its state (h, c), updated in
 * place, reading `code`; logp (K) written. */
static void SN_FN(decode_step)(double *logp, real *h, real *c, int64_t code,
                               const sn_layer *layers, int n_layers,
                               const real *E, const real *V, const real *cb,
                               int64_t K, SN_FN(stack_ws) *w) {
    const real *top = SN_FN(step_row)(h, c, E ? E + code * layers[0].I : NULL,
                                      code, layers, n_layers, w);
    SN_FN(vecmat)(w->z, top, V, layers[n_layers - 1].H, K);
    double zmax = -INFINITY, sum = 0;
    for (int64_t k = 0; k < K; k++) {
        logp[k] = (double)(w->z[k] + cb[k]);
        zmax = logp[k] > zmax ? logp[k] : zmax;
    }
    for (int64_t k = 0; k < K; k++) {
        logp[k] -= zmax;
        sum += exp(logp[k]);
    }
    const double lse = log(sum);
    for (int64_t k = 0; k < K; k++)
        logp[k] -= lse;
}

/* Greedy decoding of one sample from (h, c): codes into out, their count
 * returned, the summed log-probability of the steps taken in *total. */
static int64_t SN_FN(greedy_one)(int64_t *out, double *total, real *h,
                                 real *c, const sn_layer *layers,
                                 int n_layers, const real *E, const real *V,
                                 const real *cb, int64_t K, int64_t max_len,
                                 SN_FN(decode_ws) *w) {
    int64_t code = 0, n = 0;
    *total = 0;
    for (int64_t t = 0; t < max_len; t++) {
        SN_FN(decode_step)(w->logp, h, c, code, layers, n_layers, E, V, cb, K,
                           &w->s);
        code = 0;
        for (int64_t k = 1; k < K; k++)
            if (w->logp[k] > w->logp[code])
                code = k;            /* the lowest code among ties */
        *total += w->logp[code];
        if (code == 0)
            break;
        out[n++] = code;
    }
    return n;
}

/* Beam search of one sample (see sn_decode in seqnet.h): the best
 * hypothesis replaces out/n/best only when its score is strictly higher. */
static void SN_FN(beam_one)(int64_t *out, int64_t *n_out, double *best,
                            const real *h0, const real *c0, int64_t Htot,
                            const sn_layer *layers, int n_layers,
                            const real *E, const real *V, const real *cb,
                            int64_t K, int64_t max_len, int64_t W,
                            SN_FN(decode_ws) *w) {
    const size_t sh = sizeof(real) * Htot;
    int64_t live = 1, len = 0;
    memcpy(w->h, h0, sh);
    memcpy(w->c, c0, sh);
    w->total[0] = 0;
    for (int64_t t = 0; t < max_len && live > 0; t++) {
        int64_t kept = 0;
        for (int64_t r = 0; r < live; r++) {
            real *h = w->h2 + r * Htot, *c = w->c2 + r * Htot;
            double *lp = w->logp + r * K;
            memcpy(h, w->h + r * Htot, sh);
            memcpy(c, w->c + r * Htot, sh);
            SN_FN(decode_step)(lp, h, c, t ? w->codes[r * max_len + t - 1] : 0,
                               layers, n_layers, E, V, cb, K, &w->s);
            /* Keep the W best candidates, sorted by summed log-probability;
             * candidates come in (parent, code) order, so an equal one
             * ranks after those already kept. */
            for (int64_t k = 0; k < K; k++) {
                const double v = w->total[r] + lp[k];
                int64_t at = kept;
                while (at > 0 && v > w->ctot[at - 1])
                    at--;
                if (at >= W)
                    continue;
                const int64_t last = kept < W ? kept : W - 1;
                for (int64_t j = last; j > at; j--) {
                    w->ctot[j] = w->ctot[j - 1];
                    w->cpar[j] = w->cpar[j - 1];
                    w->ccode[j] = w->ccode[j - 1];
                }
                w->ctot[at] = v;
                w->cpar[at] = r;
                w->ccode[at] = k;
                if (kept < W)
                    kept++;
            }
        }
        int64_t next = 0;
        for (int64_t j = 0; j < kept; j++) {
            const int64_t r = w->cpar[j];
            if (w->ccode[j] == 0) {
                const double score = w->ctot[j] / (double)(t + 1);
                if (score > *best) {
                    *best = score;
                    *n_out = t;
                    memcpy(out, w->codes + r * max_len, sizeof(int64_t) * t);
                }
                continue;
            }
            memcpy(w->codes2 + next * max_len, w->codes + r * max_len,
                   sizeof(int64_t) * t);
            w->codes2[next * max_len + t] = w->ccode[j];
            w->ctot[next] = w->ctot[j];
            /* Parents sit in h2/c2; the new live set goes to h/c after. */
            w->cpar[next] = r;
            next++;
        }
        for (int64_t j = 0; j < next; j++) {
            memcpy(w->h + j * Htot, w->h2 + w->cpar[j] * Htot, sh);
            memcpy(w->c + j * Htot, w->c2 + w->cpar[j] * Htot, sh);
            w->total[j] = w->ctot[j];
        }
        int64_t *swap = w->codes;
        w->codes = w->codes2;
        w->codes2 = swap;
        live = next;
        len = t + 1;
    }
    for (int64_t r = 0; r < live; r++) {     /* stopped by max_len */
        const double score = w->total[r] / (double)len;
        if (score > *best) {
            *best = score;
            *n_out = len;
            memcpy(out, w->codes + r * max_len, sizeof(int64_t) * len);
        }
    }
}

int SN_FN(sn_decode)(int64_t *out, int64_t *lengths, double *scores,
                     const real *h0, const real *c0, const sn_layer *layers,
                     int n_layers, const real *E, const real *V,
                     const real *cb, int64_t K, int64_t B, int64_t max_len,
                     int64_t width, void *workspace, size_t workspace_size,
                     int n_threads) {
    int64_t Htot, Gmax, Hmax;
    int st = SN_FN(check_stack)(layers, n_layers, &Htot, &Gmax, &Hmax);
    if (st != SN_OK)
        return st;
    if (B < 1 || K < 1 || max_len < 1 || width < 1 ||
        B > ((int64_t)1 << 40) / SN_MAX(max_len, Htot) ||
        (E == NULL && layers[0].I != K))
        return SN_EDIM;
    if (!out || !lengths || !scores || !h0 || !c0 || !V || !cb || !workspace)
        return SN_EARG;
    const int nt = sn_threads(n_threads);
    const size_t each = SN_FN(sn_decode_workspace_size)(layers, n_layers, K,
                                                        max_len, width, 1);
    if (each == 0)
        return SN_EDIM;
    if (workspace_size < (size_t)nt * each)
        return SN_EWORKSPACE;
    const int nteam = (int)SN_MIN((int64_t)nt, B);
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        SN_FN(decode_ws) w;
        char *mine = (char *)workspace + (size_t)omp_get_thread_num() * each;
        SN_FN(carve_decode)(&w, sn_align_ptr(mine), Htot, Gmax, Hmax, K,
                            max_len, width);
        #pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++) {
            int64_t *o = out + b * max_len;
            double total;
            memcpy(w.h, h0 + b * Htot, sizeof(real) * Htot);
            memcpy(w.c, c0 + b * Htot, sizeof(real) * Htot);
            int64_t n = SN_FN(greedy_one)(o, &total, w.h, w.c, layers,
                                          n_layers, E, V, cb, K, max_len, &w);
            double best = total / (double)(n + (n < max_len));
            if (width > 1)
                SN_FN(beam_one)(o, &n, &best, h0 + b * Htot, c0 + b * Htot,
                                Htot, layers, n_layers, E, V, cb, K, max_len,
                                width, &w);
            lengths[b] = n;
            scores[b] = best;
        }
    }
    return SN_OK;
}
