/*
 * finite.c -- whether an array holds only finite values: the input check of
 * every fit and predict, in one pass over the values and without the
 * boolean temporary of NumPy's isfinite(x).all().  Predicting one short
 * sequence calls it right after the previous call's kernels have left the
 * caches cold, where each NumPy call costs microseconds.
 */
#include <string.h>
#include "common.h"

/* The exponent field: all ones in an infinity or a NaN, and only there. */
#if SN_DOUBLE
#define SN_INF_BITS 0x7ff0000000000000ULL
#else
#define SN_INF_BITS 0x7f800000U
#endif

/* Values tested per branch-free block; a block with a bad value ends the
 * scan. */
#define SN_FINITE_BLOCK 4096

SN_CLONES int SN_FN(sn_all_finite)(int *finite, const real *x, int64_t n) {
    if (n < 0)
        return SN_EDIM;
    if (!finite || (n > 0 && !x))
        return SN_EARG;
    *finite = 1;
    for (int64_t i0 = 0; i0 < n; i0 += SN_FINITE_BLOCK) {
        const int64_t i1 = SN_MIN(n, i0 + SN_FINITE_BLOCK);
        sn_bits bad = 0;
        for (int64_t i = i0; i < i1; i++) {
            sn_bits u;
            memcpy(&u, x + i, sizeof u);
            bad |= (sn_bits)((u & SN_INF_BITS) == SN_INF_BITS);
        }
        if (bad) {
            *finite = 0;
            break;
        }
    }
    return SN_OK;
}
