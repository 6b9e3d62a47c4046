/*
 * monitor.c -- what a training dashboard shows of each update: per group of
 * parameters (a layer and direction, the output layer), the sum of squared
 * parameters and the sum of squared changes, added up over an epoch's
 * updates (Deeplearning4j's update:parameter ratio, from one pass over the
 * flat buffer).
 *
 * Sums are in double, in fixed lanes (element i of a group in lane
 * i % lanes), added lane by lane at the end: the order depends on the
 * group's size only, never on the threads.
 */
#include "common.h"

#define SN_STATS_LANES 16

/* sums is (n_groups, 2), accumulated: sums[g][0] += sum p^2 and
 * sums[g][1] += sum (p - prev)^2 over group g, elements
 * [bounds[g], bounds[g+1]) of param; prev is (n,), read then overwritten
 * with param (the "before" of the next update); param is (n,), read;
 * bounds is (n_groups + 1), non-decreasing, from 0 to at most n. */
SN_CLONES int SN_FN(sn_update_stats)(double *restrict sums,
                                     real *restrict prev,
                                     const real *restrict param,
                                     const int64_t *restrict bounds,
                                     int64_t n_groups, int64_t n) {
    if (n < 0 || n_groups < 0)
        return SN_EDIM;
    if (!sums || !bounds || (n > 0 && (!prev || !param)))
        return SN_EARG;
    if (bounds[0] < 0 || bounds[n_groups] > n)
        return SN_EDIM;
    for (int64_t g = 0; g < n_groups; g++)
        if (bounds[g + 1] < bounds[g])
            return SN_EDIM;
    for (int64_t g = 0; g < n_groups; g++) {
        const int64_t i0 = bounds[g], len = bounds[g + 1] - i0;
        const real *restrict p = param + i0;
        real *restrict q = prev + i0;
        double pp[SN_STATS_LANES] = {0}, dd[SN_STATS_LANES] = {0};
        int64_t i = 0;
        for (; i + SN_STATS_LANES <= len; i += SN_STATS_LANES)
            for (int j = 0; j < SN_STATS_LANES; j++) {
                const double v = p[i + j], d = v - (double)q[i + j];
                pp[j] += v * v;
                dd[j] += d * d;
                q[i + j] = p[i + j];
            }
        for (int j = 0; i < len; i++, j++) {
            const double v = p[i], d = v - (double)q[i];
            pp[j] += v * v;
            dd[j] += d * d;
            q[i] = p[i];
        }
        double sp = 0, sd = 0;
        for (int j = 0; j < SN_STATS_LANES; j++) {
            sp += pp[j];
            sd += dd[j];
        }
        sums[2 * g] += sp;
        sums[2 * g + 1] += sd;
    }
    return SN_OK;
}
