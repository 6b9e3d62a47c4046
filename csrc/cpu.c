/*
 * cpu.c -- which micro-kernel paths this CPU and OS can run, chosen once.
 *
 * A path is usable when the CPU reports the instructions (CPUID) and the OS
 * saves the wider registers on a context switch (XGETBV).  SEQNET_ISA=ref,
 * avx2 or avx512 in the environment forces a path at first use; asking for a
 * path the machine lacks falls back to the best available one.
 *
 * Also here: one core's measured FMA throughput on the path in use
 * (sn_fma_peak_gflops), the yardstick of the benchmarks' %peak -- the one
 * timing loop in csrc/, since the peak belongs to the path cpu.c picks.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "common.h"

#if defined(__unix__) || defined(__APPLE__)
#include <pthread.h>

static volatile int sn_in_child = 0;

static void sn_note_fork(void) { sn_in_child = 1; }

/* Registered when the library loads, so that every fork() after it marks
 * the child (see sn_threads). */
__attribute__((constructor)) static void sn_watch_forks(void) {
    pthread_atfork(NULL, NULL, sn_note_fork);
}

int sn_forked(void) { return sn_in_child; }
#else
int sn_forked(void) { return 0; }
#endif

#if defined(__x86_64__) || defined(_M_X64) || defined(__i386__)
#include <cpuid.h>

static uint64_t sn_xgetbv0(void) {
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((uint64_t)hi << 32) | lo;
}

static int sn_detect(void) {
    unsigned a, b, c, d;
    int avail = 1 << SN_ISA_REF;
    if (!__get_cpuid(1, &a, &b, &c, &d))
        return avail;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx)
        return avail;
    uint64_t xcr0 = sn_xgetbv0();
    int os_ymm = (xcr0 & 0x6) == 0x6;            /* SSE and AVX state */
    int os_zmm = (xcr0 & 0xe6) == 0xe6;          /* + opmask, ZMM state */
    if (__get_cpuid_max(0, NULL) < 7)
        return avail;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1, avx512f = (b >> 16) & 1;
    if (os_ymm && avx2 && fma)
        avail |= 1 << SN_ISA_AVX2;
    if (os_zmm && avx512f && (avail & (1 << SN_ISA_AVX2)))
        avail |= 1 << SN_ISA_AVX512;
    return avail;
}

/* Bytes of the level-2 data (or unified) cache of one core: CPUID leaf 4
 * (Intel), else leaf 0x80000006 (AMD); 0 when neither answers. */
static size_t sn_detect_l2(void) {
    unsigned a, b, c, d;
    if (__get_cpuid_max(0, NULL) >= 4)
        for (unsigned i = 0; i < 16; i++) {
            __cpuid_count(4, i, a, b, c, d);
            unsigned type = a & 0x1f, level = (a >> 5) & 0x7;
            if (type == 0)
                break;
            if (level == 2 && (type == 1 || type == 3))
                return (size_t)((b >> 22) + 1) * (((b >> 12) & 0x3ff) + 1) *
                       ((b & 0xfff) + 1) * ((size_t)c + 1);
        }
    if (__get_cpuid_max(0x80000000, NULL) >= 0x80000006) {
        __cpuid(0x80000006, a, b, c, d);
        return (size_t)(c >> 16) * 1024;
    }
    return 0;
}
#else
static int sn_detect(void) { return 1 << SN_ISA_REF; }
static size_t sn_detect_l2(void) { return 0; }
#endif

size_t sn_l2_bytes(void) {
    static size_t l2 = 0;
    if (l2 == 0) {
        size_t found = sn_detect_l2();
        /* 256 KiB: the smallest L2 of the last decade's x86 cores. */
        l2 = found >= 65536 ? found : 262144;
    }
    return l2;
}

/* Paths compiled into this build; cpu.c learns them from the build system. */
static int sn_compiled(void) {
    int m = 1 << SN_ISA_REF;
#ifdef SN_HAVE_AVX2
    m |= 1 << SN_ISA_AVX2;
#endif
#ifdef SN_HAVE_AVX512
    m |= 1 << SN_ISA_AVX512;
#endif
    return m;
}

static int sn_available = -1;
static int sn_current = -1;

int sn_isa_available(void) {
    if (sn_available < 0)
        sn_available = sn_detect() & sn_compiled();
    return sn_available;
}

static int sn_best(int avail) {
    for (int isa = SN_ISA_AVX512; isa > SN_ISA_REF; isa--)
        if (avail & (1 << isa))
            return isa;
    return SN_ISA_REF;
}

int sn_isa_current(void) {
    if (sn_current < 0) {
        int avail = sn_isa_available();
        int isa = sn_best(avail);
        const char *env = getenv("SEQNET_ISA");
        if (env) {
            for (int i = SN_ISA_REF; i <= SN_ISA_AVX512; i++)
                if (strcmp(env, sn_isa_name(i)) == 0 && (avail & (1 << i)))
                    isa = i;
        }
        sn_current = isa;
    }
    return sn_current;
}

int sn_set_isa(int isa) {
    if (isa < SN_ISA_REF || isa > SN_ISA_AVX512 ||
        !(sn_isa_available() & (1 << isa)))
        return SN_EARG;
    sn_current = isa;
    return SN_OK;
}

const char *sn_isa_name(int isa) {
    switch (isa) {
    case SN_ISA_REF: return "ref";
    case SN_ISA_AVX2: return "avx2";
    case SN_ISA_AVX512: return "avx512";
    default: return NULL;
    }
}

int sn_has_openmp(void) {
#ifdef _OPENMP
    return 1;
#else
    return 0;
#endif
}

int sn_max_threads(void) { return omp_get_max_threads(); }

/* ---- measured FMA peak (for the benchmarks' %peak) ----
 *
 * Each loop runs n rounds of `acc = acc*m + c` on independent accumulators,
 * enough of them to cover the FMA latency on every FMA port (4 cycles x 2
 * ports on recent x86 cores: 8 chains at least), few enough to stay in
 * registers with m and c.  m and c come from the caller at run time and the
 * accumulators are summed into the result, so no round can be folded away;
 * with m just below 1 and c small the values stay near 1, never
 * overflowing or going subnormal. */

/* Independent chains of each loop (a chain is one register: 8 floats of
 * a ymm, 16 of a zmm; the reference loop's are single floats, which the
 * compiler packs as it can).  One round is 2 flops per float of them. */
enum { SN_PEAK_REF_CHAINS = 32, SN_PEAK_AVX2_CHAINS = 12,
       SN_PEAK_AVX512_CHAINS = 16 };

/* The reference path's loop: whatever the baseline flags make of it (on
 * x86-64, SSE2 multiplies and adds, 4 lanes wide, no FMA). */
static float sn_peak_loop_ref(int64_t n, float m, float c) {
    float acc[SN_PEAK_REF_CHAINS];
    for (int j = 0; j < SN_PEAK_REF_CHAINS; j++)
        acc[j] = 1.0f + (float)j / SN_PEAK_REF_CHAINS;
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < SN_PEAK_REF_CHAINS; j++)
            acc[j] = acc[j] * m + c;
    float sum = 0.0f;
    for (int j = 0; j < SN_PEAK_REF_CHAINS; j++)
        sum += acc[j];
    return sum;
}

#if (defined(SN_HAVE_AVX2) || defined(SN_HAVE_AVX512)) && \
    defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

#if defined(SN_HAVE_AVX2) && defined(__x86_64__) && defined(__GNUC__)
/* 12 ymm chains + m + c: 14 of the 16 ymm registers. */
__attribute__((target("avx2,fma")))
static float sn_peak_loop_avx2(int64_t n, float m, float c) {
    const __m256 vm = _mm256_set1_ps(m), vc = _mm256_set1_ps(c);
    __m256 acc[SN_PEAK_AVX2_CHAINS];
    for (int j = 0; j < SN_PEAK_AVX2_CHAINS; j++)
        acc[j] = _mm256_set1_ps(1.0f + (float)j / SN_PEAK_AVX2_CHAINS);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < SN_PEAK_AVX2_CHAINS; j++)
            acc[j] = _mm256_fmadd_ps(acc[j], vm, vc);
    __m256 sum = acc[0];
    for (int j = 1; j < SN_PEAK_AVX2_CHAINS; j++)
        sum = _mm256_add_ps(sum, acc[j]);
    float lanes[8];
    _mm256_storeu_ps(lanes, sum);
    return lanes[0] + lanes[1] + lanes[2] + lanes[3] + lanes[4] + lanes[5] +
           lanes[6] + lanes[7];
}
#endif

#if defined(SN_HAVE_AVX512) && defined(__x86_64__) && defined(__GNUC__)
/* 16 zmm chains + m + c: 18 of the 32 zmm registers. */
__attribute__((target("avx512f,fma")))
static float sn_peak_loop_avx512(int64_t n, float m, float c) {
    const __m512 vm = _mm512_set1_ps(m), vc = _mm512_set1_ps(c);
    __m512 acc[SN_PEAK_AVX512_CHAINS];
    for (int j = 0; j < SN_PEAK_AVX512_CHAINS; j++)
        acc[j] = _mm512_set1_ps(1.0f + (float)j / SN_PEAK_AVX512_CHAINS);
    for (int64_t i = 0; i < n; i++)
        for (int j = 0; j < SN_PEAK_AVX512_CHAINS; j++)
            acc[j] = _mm512_fmadd_ps(acc[j], vm, vc);
    __m512 sum = acc[0];
    for (int j = 1; j < SN_PEAK_AVX512_CHAINS; j++)
        sum = _mm512_add_ps(sum, acc[j]);
    return _mm512_reduce_add_ps(sum);
}
#endif

static double sn_now(void) {
    struct timespec ts;
#if defined(CLOCK_MONOTONIC)
    clock_gettime(CLOCK_MONOTONIC, &ts);
#else
    timespec_get(&ts, TIME_UTC);
#endif
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Where the results go, so that every loop's work is used. */
static volatile float sn_peak_sink;

double sn_fma_peak_gflops(double seconds) {
    if (!(seconds > 0.0 && seconds <= 10.0))   /* also refuses NaN */
        return 0.0;
    float (*loop)(int64_t, float, float) = sn_peak_loop_ref;
    double flops_per_round = 2.0 * SN_PEAK_REF_CHAINS;
    switch (sn_isa_current()) {
#if defined(SN_HAVE_AVX512) && defined(__x86_64__) && defined(__GNUC__)
    case SN_ISA_AVX512:
        loop = sn_peak_loop_avx512;
        flops_per_round = 2.0 * 16 * SN_PEAK_AVX512_CHAINS;   /* 16 lanes */
        break;
#endif
#if defined(SN_HAVE_AVX2) && defined(__x86_64__) && defined(__GNUC__)
    case SN_ISA_AVX2:
        loop = sn_peak_loop_avx2;
        flops_per_round = 2.0 * 8 * SN_PEAK_AVX2_CHAINS;       /* 8 lanes */
        break;
#endif
    default:
        break;
    }
    /* m and c read through the volatile sink: unknown to the compiler. */
    sn_peak_sink = 1.0f - 1.0f / 1048576;
    float m = sn_peak_sink, c = (1.0f - m) * 0.5f;

    /* Calibrate: double the rounds until a call lasts a millisecond (and
     * the core has left any idle clock), then size blocks of about a
     * fifth of `seconds` each and keep the fastest of them. */
    int64_t n = 256;
    double t = 0.0;
    for (;;) {
        double t0 = sn_now();
        sn_peak_sink += loop(n, m, c);
        t = sn_now() - t0;
        if (t >= 1e-3 || n >= ((int64_t)1 << 40))
            break;
        n *= 2;
    }
    const int min_blocks = 3;
    double block = seconds / 5;
    int64_t rounds = (int64_t)((double)n * block / (t > 0 ? t : 1e-3));
    if (rounds < 1)
        rounds = 1;
    double best = 0.0, spent = 0.0;
    for (int b = 0; b < min_blocks || spent < seconds; b++) {
        double t0 = sn_now();
        sn_peak_sink += loop(rounds, m, c);
        double dt = sn_now() - t0;
        spent += dt;
        if (dt > 0 && flops_per_round * (double)rounds / dt > best)
            best = flops_per_round * (double)rounds / dt;
    }
    return best * 1e-9;
}
