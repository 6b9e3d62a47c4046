/*
 * cpu.c -- which micro-kernel paths this CPU and OS can run, chosen once.
 *
 * A path is usable when the CPU reports the instructions (CPUID) and the OS
 * saves the wider registers on a context switch (XGETBV).  SEQNET_ISA=ref,
 * avx2 or avx512 in the environment forces a path at first use; asking for a
 * path the machine lacks falls back to the best available one.
 */
#include <stdlib.h>
#include <string.h>
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
