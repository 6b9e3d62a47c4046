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
