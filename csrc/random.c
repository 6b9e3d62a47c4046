/*
 * random.c -- a counter-based generator and inverted dropout.
 *
 * u(seed, stream, i) mixes the three numbers with the splitmix64 finaliser,
 * so any element's draw is computed on its own: threads split the index
 * range freely and the mask of a forward pass is replayed exactly on the
 * way back.
 */
#include "common.h"
#include "team.h"

static inline uint64_t mix64(uint64_t z) {
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

#if !SN_DOUBLE
/* Type-independent: compiled once, with the float32 instance. */
double sn_uniform(uint64_t seed, uint64_t stream, uint64_t i) {
    uint64_t key = mix64(seed + 0x9e3779b97f4a7c15ULL * (stream + 1));
    uint64_t z = mix64(key ^ mix64(i + 0x632be59bd9b4e019ULL));
    return (double)(z >> 11) * 0x1.0p-53;
}
#endif

int SN_FN(sn_dropout)(real *a, int64_t n, double rate, uint64_t seed,
                      uint64_t stream, int n_threads) {
    if (n < 0)
        return SN_EDIM;
    if (!a || !(rate >= 0 && rate < 1))
        return SN_EARG;
    if (rate == 0)
        return SN_OK;
    const real keep_scale = (real)(1 / (1 - rate));
    const int nt = n < (1 << 15) ? 1 : sn_threads(n_threads);
    sn_team team;
    const int nteam = sn_team_begin(&team, nt);
    #pragma omp parallel num_threads(nteam) if (nteam > 1)
    {
        #pragma omp for schedule(static) nowait
        for (int64_t i = 0; i < n; i++)
            a[i] = sn_uniform(seed, stream, (uint64_t)i) < rate
                       ? 0 : a[i] * keep_scale;
        sn_team_finish(&team, omp_get_thread_num());
    }
    sn_team_end(&team);
    return SN_OK;
}
