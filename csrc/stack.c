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

/* The batch greedy pass: every layer's states (B, H) twice (before and
 * after the step, layer l's block at B*off_l), a tape for one step, the
 * embedded inputs, codes, logits, the live rows' samples and the layer and
 * GEMM workspaces. */
typedef struct {
    real *h, *c, *h2, *c2, *th, *tc, *gates, *hn, *x, *z;
    int64_t *codes, *ones, *sample;
    double *total, *logp;   /* (B); (K) one row's log-probabilities */
    char *lws, *gws;
    size_t lws_size, gws_size;
} SN_FN(greedy_ws);

static size_t SN_FN(carve_greedy)(SN_FN(greedy_ws) *w, char *base,
                                  const sn_layer *layers, int n_layers,
                                  int64_t Htot, int64_t Gmax, int64_t Hmax,
                                  int64_t K, int64_t B, int n_threads) {
    sn_arena a = {base, 0};
    const size_t r = sizeof(real), i = sizeof(int64_t);
    w->h = sn_take(&a, r * B * Htot);
    w->c = sn_take(&a, r * B * Htot);
    w->h2 = sn_take(&a, r * B * Htot);
    w->c2 = sn_take(&a, r * B * Htot);
    w->th = sn_take(&a, r * B * Hmax);
    w->tc = sn_take(&a, r * B * Hmax);
    w->gates = sn_take(&a, r * B * Gmax);
    w->hn = sn_take(&a, r * B * Hmax);
    w->x = sn_take(&a, r * B * layers[0].I);
    w->z = sn_take(&a, r * B * K);
    w->codes = sn_take(&a, i * B);
    w->ones = sn_take(&a, i * B);
    w->sample = sn_take(&a, i * B);
    w->total = sn_take(&a, sizeof(double) * B);
    w->logp = sn_take(&a, sizeof(double) * K);
    w->lws_size = 0;
    for (int l = 0; l < n_layers; l++)
        w->lws_size = SN_MAX(w->lws_size, SN_FN(sn_layer_workspace_size)(
                                              layers + l, 1, B, n_threads));
    w->lws = sn_take(&a, w->lws_size);
    w->gws_size = sn_gemm_workspace_size(n_threads);
    w->gws = sn_take(&a, w->gws_size);
    return a.used + SN_ALIGN;
}

size_t SN_FN(sn_decode_workspace_size)(const sn_layer *layers, int n_layers,
                                       int64_t K, int64_t B, int64_t max_len,
                                       int64_t width, int n_threads) {
    int64_t Htot, Gmax, Hmax;
    SN_FN(decode_ws) w;
    SN_FN(greedy_ws) g;
    if (SN_FN(check_stack)(layers, n_layers, &Htot, &Gmax, &Hmax) != SN_OK ||
        K < 1 || B < 1 || max_len < 1 || width < 1 ||
        K > ((int64_t)1 << 40) || B > ((int64_t)1 << 30) ||
        max_len > ((int64_t)1 << 30) || width > ((int64_t)1 << 20) ||
        width * SN_MAX(K, SN_MAX(Htot, max_len)) > ((int64_t)1 << 40) ||
        B * SN_MAX(SN_MAX(K, Gmax), SN_MAX(Htot, layers[0].I)) >
            ((int64_t)1 << 40))
        return 0;
    const int nt = sn_threads(n_threads);
    size_t size = SN_FN(carve_greedy)(&g, NULL, layers, n_layers, Htot, Gmax,
                                      Hmax, K, B, nt);
    if (width > 1)
        size += (size_t)nt * SN_FN(carve_decode)(&w, NULL, Htot, Gmax, Hmax,
                                                 K, max_len, width);
    return size;
}

/* log softmax in place over K values, in double. */
static void SN_FN(log_softmax)(double *logp, int64_t K) {
    double zmax = -INFINITY, sum = 0;
    for (int64_t k = 0; k < K; k++)
        zmax = logp[k] > zmax ? logp[k] : zmax;
    for (int64_t k = 0; k < K; k++) {
        logp[k] -= zmax;
        sum += exp(logp[k]);
    }
    const double lse = log(sum);
    for (int64_t k = 0; k < K; k++)
        logp[k] -= lse;
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
    for (int64_t k = 0; k < K; k++)
        logp[k] = (double)(w->z[k] + cb[k]);
    SN_FN(log_softmax)(logp, K);
}

/* Greedy decoding of every sample at once: one step of every layer for
 * the live rows (sn_layer_forward over one step: GEMMs for the batch),
 * their logits by one GEMM; a row that ends leaves, the rest move up.
 * logp is a scratch row of K doubles. */
static int SN_FN(greedy_batch)(int64_t *out, int64_t *lengths,
                               double *scores, double *logp, const real *h0,
                               const real *c0, int64_t Htot,
                               const sn_layer *layers, int n_layers,
                               const real *E, const real *V, const real *cb,
                               int64_t K, int64_t B, int64_t max_len,
                               SN_FN(greedy_ws) *w, int n_threads) {
    const int has_c = SN_FN(sn_cell_of)(layers[0].cell)->info.has_c;
    const int64_t I0 = layers[0].I, Htop = layers[n_layers - 1].H;
    for (int64_t b = 0; b < B; b++) {
        int64_t off = 0;
        for (int l = 0; l < n_layers; l++) {
            const int64_t H = layers[l].H;
            memcpy(w->h + B * off + b * H, h0 + b * Htot + off,
                   sizeof(real) * H);
            memcpy(w->c + B * off + b * H, c0 + b * Htot + off,
                   sizeof(real) * H);
            off += H;
        }
        w->codes[b] = 0;
        w->ones[b] = 1;
        w->sample[b] = b;
        w->total[b] = 0;
        lengths[b] = 0;
    }
    int64_t live = B;
    for (int64_t t = 0; t < max_len && live > 0; t++) {
        const real *x = NULL;
        if (E) {
            for (int64_t j = 0; j < live; j++)
                memcpy(w->x + j * I0, E + w->codes[j] * I0,
                       sizeof(real) * I0);
            x = w->x;
        }
        int64_t off = 0;
        for (int l = 0; l < n_layers; l++) {
            const int64_t H = layers[l].H;
            real *h_new = w->h2 + B * off, *c_new = w->c2 + B * off;
            sn_tape tape = {.h = w->th, .c = w->tc, .gates = w->gates,
                            .hn = w->hn, .h_n = h_new, .c_n = c_new};
            int st = SN_FN(sn_layer_forward)(
                &tape, layers + l, x, x ? NULL : w->codes, w->h + B * off,
                has_c ? w->c + B * off : NULL, w->ones, 1, live, 0, 0,
                w->lws, w->lws_size, n_threads);
            if (st != SN_OK)
                return st;
            x = h_new;
            off += H;
        }
        int st = SN_FN(sn_gemm)(w->z, K, x, Htop, V, K, 0, 0, 0, live, K,
                                Htop, w->gws, w->gws_size, n_threads);
        if (st != SN_OK)
            return st;
        int64_t kept = 0;
        for (int64_t j = 0; j < live; j++) {
            const int64_t b = w->sample[j];
            for (int64_t k = 0; k < K; k++)
                logp[k] = (double)(w->z[j * K + k] + cb[k]);
            SN_FN(log_softmax)(logp, K);
            int64_t code = 0;
            for (int64_t k = 1; k < K; k++)
                if (logp[k] > logp[code])
                    code = k;        /* the lowest code among ties */
            w->total[j] += logp[code];
            if (code == 0) {
                scores[b] = w->total[j] / (double)(lengths[b] + 1);
                continue;
            }
            out[b * max_len + lengths[b]++] = code;
            if (t + 1 == max_len) {
                scores[b] = w->total[j] / (double)lengths[b];
                continue;
            }
            /* Row j moves up to row `kept` of the next step. */
            off = 0;
            for (int l = 0; l < n_layers; l++) {
                const int64_t H = layers[l].H;
                memmove(w->h2 + B * off + kept * H, w->h2 + B * off + j * H,
                        sizeof(real) * H);
                memmove(w->c2 + B * off + kept * H, w->c2 + B * off + j * H,
                        sizeof(real) * H);
                off += H;
            }
            w->sample[kept] = b;
            w->codes[kept] = code;
            w->total[kept] = w->total[j];
            kept++;
        }
        live = kept;
        real *swap = w->h;
        w->h = w->h2;
        w->h2 = swap;
        swap = w->c;
        w->c = w->c2;
        w->c2 = swap;
    }
    return SN_OK;
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
        (E == NULL && layers[0].I != K))
        return SN_EDIM;
    if (!out || !lengths || !scores || !h0 || !c0 || !V || !cb || !workspace)
        return SN_EARG;
    const int nt = sn_threads(n_threads);
    const size_t need = SN_FN(sn_decode_workspace_size)(
        layers, n_layers, K, B, max_len, width, nt);
    if (need == 0)
        return SN_EDIM;
    if (workspace_size < need)
        return SN_EWORKSPACE;
    char *base = sn_align_ptr(workspace);
    SN_FN(greedy_ws) g;
    const size_t greedy_size = SN_FN(carve_greedy)(
        &g, base, layers, n_layers, Htot, Gmax, Hmax, K, B, nt);
    char *beams = base + greedy_size;
    SN_FN(decode_ws) w0;
    const size_t each = width > 1 ? SN_FN(carve_decode)(
        &w0, NULL, Htot, Gmax, Hmax, K, max_len, width) : 0;
    st = SN_FN(greedy_batch)(out, lengths, scores, g.logp, h0, c0, Htot, layers,
                             n_layers, E, V, cb, K, B, max_len, &g, nt);
    if (st != SN_OK || width == 1)
        return st;
    const int nteam = (int)SN_MIN((int64_t)nt, B);
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        SN_FN(decode_ws) w;
        char *mine = beams + (size_t)omp_get_thread_num() * each;
        SN_FN(carve_decode)(&w, sn_align_ptr(mine), Htot, Gmax, Hmax, K,
                            max_len, width);
        #pragma omp for schedule(static)
        for (int64_t b = 0; b < B; b++)
            SN_FN(beam_one)(out + b * max_len, lengths + b, scores + b,
                            h0 + b * Htot, c0 + b * Htot, Htot, layers,
                            n_layers, E, V, cb, K, max_len, width, &w);
    }
    return SN_OK;
}
