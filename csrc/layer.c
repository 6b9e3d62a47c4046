/*
 * layer.c -- the one recurrent layer API: a forward and a backward entry
 * point for every cell kind, taking one layer descriptor (seqnet.h).
 *
 * Every argument is checked here, once per call -- dimensions (with
 * overflow), lengths, token codes, the arrays the cell needs and the
 * workspace's size -- and the cell's own table (lstm.c, gru.c, elman.c)
 * says what it needs.  The time loops (recur.c) then trust them.
 */
#include "recur.h"

/* The cells by sn_cell_kind: adding a cell is a file with its rows and its
 * table, and a line here. */
const SN_FN(sn_cell) *SN_FN(sn_cell_of)(int kind) {
    switch (kind) {
    case SN_CELL_LSTM: return &SN_FN(sn_cell_lstm);
    case SN_CELL_GRU: return &SN_FN(sn_cell_gru);
    case SN_CELL_ELMAN: return &SN_FN(sn_cell_elman);
    default: return NULL;
    }
}

#if !SN_DOUBLE
/* The descriptions are the same in both precisions: the float32 tables'. */
const sn_cell_info *sn_cell_info_of(int cell) {
    const sn_cell_f32 *c = sn_cell_of_f32(cell);
    return c ? &c->info : NULL;
}

const char *sn_activation_name(int activation) {
    static const char *const names[SN_N_ACTIVATIONS] = {
        [SN_TANH] = "tanh", [SN_RELU] = "relu", [SN_SOFTSIGN] = "softsign"};
    return activation >= 0 && activation < SN_N_ACTIVATIONS ? names[activation]
                                                           : NULL;
}
#endif

/* Most elements any array of a call may hold (2^40: 4 TiB of float32).
 * Below it, every size the workspace arithmetic forms -- a few such
 * products, times 8 bytes, times at most SN_MAX_THREADS threads -- stays
 * far inside int64_t and size_t, so none of it can overflow. */
#define SN_MAX_ELEMENTS ((int64_t)1 << 40)

static int too_big(int64_t T, int64_t B, int64_t width) {
    return B > SN_MAX_ELEMENTS / T || width > SN_MAX_ELEMENTS / (T * B);
}

/* The cell of a valid descriptor and its gate width, or an error. */
static int SN_FN(check_layer)(const SN_FN(sn_cell) **cellp, int64_t *Gp,
                              const sn_layer *L, int64_t T, int64_t B) {
    if (!L)
        return SN_EARG;
    const SN_FN(sn_cell) *cell = SN_FN(sn_cell_of)(L->cell);
    if (!cell || L->activation < 0 || L->activation >= SN_N_ACTIVATIONS ||
        (!cell->info.activation && L->activation != SN_TANH))
        return SN_EARG;
    if (T < 1 || B < 1 || L->I < 1 || L->H < 1)
        return SN_EDIM;
    const int64_t G = (int64_t)cell->info.n_gates;
    if (L->H > SN_MAX_ELEMENTS / G ||
        too_big(T, B, SN_MAX(L->I, G * L->H)) ||
        too_big(L->I + L->H, 1, G * L->H))
        return SN_EDIM;
    if (!L->W || !L->U || !L->b || (cell->info.has_bh != (L->bh != NULL)) ||
        (L->p && !cell->info.peepholes))
        return SN_EARG;
    *cellp = cell;
    *Gp = G * L->H;
    return SN_OK;
}

/* lengths in [1, T], longest first; valid codes in [0, I). */
static int check_rows(const int64_t *lengths, const int64_t *codes,
                      int64_t T, int64_t B, int64_t I) {
    if (!lengths)
        return SN_EARG;
    for (int64_t b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T ||
            (b > 0 && lengths[b] > lengths[b - 1]))
            return SN_ELENGTHS;
    if (codes)
        for (int64_t t = 0; t < T; t++)
            for (int64_t b = 0; b < B && lengths[b] > t; b++)
                if (codes[t * B + b] < 0 || codes[t * B + b] >= I)
                    return SN_ECODE;
    return SN_OK;
}

size_t SN_FN(sn_layer_workspace_size)(const sn_layer *layer, int64_t T,
                                      int64_t B, int n_threads) {
    const SN_FN(sn_cell) *cell;
    int64_t G;
    if (SN_FN(check_layer)(&cell, &G, layer, T, B) != SN_OK)
        return 0;
    return SN_FN(sn_recur_workspace_size)(cell, T, B, layer->I, layer->H,
                                          sn_threads(n_threads));
}

/* The arguments shared by forward and backward: the cell and the loop's
 * view of the layer, or an error. */
static int SN_FN(begin)(const SN_FN(sn_cell) **cellp, SN_FN(sn_rnn) *r,
                        const sn_layer *L, const sn_tape *tape, const real *x,
                        const int64_t *codes, const real *h0, const real *c0,
                        const int64_t *lengths, int64_t T, int64_t B,
                        void *workspace, size_t workspace_size,
                        int n_threads) {
    int64_t G;
    int st = SN_FN(check_layer)(cellp, &G, L, T, B);
    if (st != SN_OK)
        return st;
    const sn_cell_info *info = &(*cellp)->info;
    if (!tape || !tape->h || !tape->h_n || !h0 || !workspace ||
        (x == NULL) == (codes == NULL) ||
        (info->has_c && (!tape->c || !tape->c_n || !c0)) ||
        (!info->gates_in_h && !tape->gates) || (info->has_hn && !tape->hn))
        return SN_EARG;
    st = check_rows(lengths, codes, T, B, L->I);
    if (st != SN_OK)
        return st;
    if (workspace_size < SN_FN(sn_recur_workspace_size)(
                             *cellp, T, B, L->I, L->H, sn_threads(n_threads)))
        return SN_EWORKSPACE;
    *r = (SN_FN(sn_rnn)){
        .h = tape->h, .c = info->has_c ? tape->c : NULL,
        .gates = info->gates_in_h ? tape->h : tape->gates,
        .hn = info->has_hn ? tape->hn : NULL,
        .x = x, .h0 = h0, .c0 = info->has_c ? c0 : NULL, .codes = codes,
        .U = L->U, .b = L->b, .p = L->p, .bh = L->bh,
        .T = T, .B = B, .I = L->I, .H = L->H, .G = G,
        .activation = L->activation};
    return SN_OK;
}

int SN_FN(sn_layer_forward)(const sn_tape *tape, const sn_layer *layer,
                            const real *x, const int64_t *codes,
                            const real *h0, const real *c0,
                            const int64_t *lengths, int64_t T, int64_t B,
                            int reverse, int keep, void *workspace,
                            size_t workspace_size, int n_threads) {
    const SN_FN(sn_cell) *cell;
    SN_FN(sn_rnn) r;
    int st = SN_FN(begin)(&cell, &r, layer, tape, x, codes, h0, c0, lengths,
                          T, B, workspace, workspace_size, n_threads);
    if (st != SN_OK)
        return st;
    r.keep = keep;
    return SN_FN(sn_recur_forward)(cell, &r, tape->h_n,
                                   cell->info.has_c ? tape->c_n : NULL,
                                   layer->W, lengths, reverse, workspace,
                                   workspace_size, n_threads);
}

int SN_FN(sn_layer_backward)(real *dx, real *dh0, real *dc0,
                             const sn_layer_grads *grads, const real *dh,
                             const real *dh_n, const real *dc_n,
                             const sn_layer *layer, const real *x,
                             const int64_t *codes, const real *h0,
                             const real *c0, const sn_tape *tape,
                             const int64_t *lengths, int64_t T, int64_t B,
                             int reverse, void *workspace,
                             size_t workspace_size, int n_threads) {
    const SN_FN(sn_cell) *cell;
    SN_FN(sn_rnn) r;
    int st = SN_FN(begin)(&cell, &r, layer, tape, x, codes, h0, c0, lengths,
                          T, B, workspace, workspace_size, n_threads);
    if (st != SN_OK)
        return st;
    if (!dh0 || !grads || !grads->W || !grads->U || !grads->b ||
        (codes && dx) || (cell->info.has_c && !dc0) ||
        (layer->p && !grads->p) || (cell->info.has_bh && !grads->bh))
        return SN_EARG;
    r.dh = dh;
    r.dp = layer->p ? grads->p : NULL;
    r.dbh = cell->info.has_bh ? grads->bh : NULL;
    return SN_FN(sn_recur_backward)(cell, &r, dx, dh0,
                                    cell->info.has_c ? dc0 : NULL, grads->W,
                                    grads->U, grads->b, dh_n,
                                    cell->info.has_c ? dc_n : NULL, layer->W,
                                    lengths, reverse, workspace,
                                    workspace_size, n_threads);
}
