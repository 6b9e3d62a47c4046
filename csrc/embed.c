/*
 * embed.c -- a learned embedding table: rows gathered forward, their
 * gradients scattered back.
 *
 *   out[t, b] = E[codes[t, b]]            for every valid (t, b)
 *   dE[codes[t, b]] += dout[t, b]
 *
 * Only the rows of the codes in the batch are read or written.  The
 * backward adds in the order t, then b, on one thread: a table row that
 * several steps share gets its sums in a fixed order, so the result never
 * depends on the thread count.
 */
#include <string.h>
#include "common.h"

/* lengths in [1, T]; every valid code in [0, V). */
static int check(const int64_t *codes, const int64_t *lengths, int64_t T,
                 int64_t B, int64_t V, int64_t D) {
    if (T < 1 || B < 1 || V < 1 || D < 1 || B > INT64_MAX / T ||
        D > INT64_MAX / 16 / (T * B) || D > INT64_MAX / 16 / V)
        return SN_EDIM;
    if (!codes || !lengths)
        return SN_EARG;
    for (int64_t b = 0; b < B; b++)
        if (lengths[b] < 1 || lengths[b] > T)
            return SN_ELENGTHS;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++)
            if (t < lengths[b] && (codes[t * B + b] < 0 ||
                                   codes[t * B + b] >= V))
                return SN_ECODE;
    return SN_OK;
}

int SN_FN(sn_embed_forward)(real *out, const real *E, const int64_t *codes,
                            const int64_t *lengths, int64_t T, int64_t B,
                            int64_t V, int64_t D) {
    int st = check(codes, lengths, T, B, V, D);
    if (st != SN_OK)
        return st;
    if (!out || !E)
        return SN_EARG;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            real *row = out + (t * B + b) * D;
            if (t < lengths[b])
                memcpy(row, E + codes[t * B + b] * D, sizeof(real) * D);
            else
                memset(row, 0, sizeof(real) * D);
        }
    return SN_OK;
}

int SN_FN(sn_embed_backward)(real *dE, const real *dout, const int64_t *codes,
                             const int64_t *lengths, int64_t T, int64_t B,
                             int64_t V, int64_t D) {
    int st = check(codes, lengths, T, B, V, D);
    if (st != SN_OK)
        return st;
    if (!dE || !dout)
        return SN_EARG;
    for (int64_t t = 0; t < T; t++)
        for (int64_t b = 0; b < B; b++) {
            if (t >= lengths[b])
                continue;
            real *restrict dst = dE + codes[t * B + b] * D;
            const real *restrict src = dout + (t * B + b) * D;
            for (int64_t j = 0; j < D; j++)
                dst[j] += src[j];
        }
    return SN_OK;
}
