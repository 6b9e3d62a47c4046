/*
 * common.h -- private helpers shared by the kernel sources.
 *
 * Typed sources (gemm, cells) are compiled twice, once with SN_DOUBLE=0 and
 * once with SN_DOUBLE=1; `real` and SN_FN(name) give the float32 / float64
 * names from the one source.
 */
#ifndef SEQNET_COMMON_H
#define SEQNET_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include "seqnet.h"

#ifndef SN_DOUBLE
#define SN_DOUBLE 0
#endif

/* sn_bits: an unsigned integer as wide as real, for its bit pattern
 * (unsigned: shifts of any pattern are defined). */
#if SN_DOUBLE
typedef double real;
typedef uint64_t sn_bits;
#define SN_SFX f64
#else
typedef float real;
typedef uint32_t sn_bits;
#define SN_SFX f32
#endif

#define SN_CAT2(a, b) a##_##b
#define SN_CAT(a, b) SN_CAT2(a, b)
#define SN_FN(name) SN_CAT(name, SN_SFX)

/* Inlined into every caller, so constant flag arguments specialise its
 * loops (which then vectorise without branches). */
#if defined(__GNUC__)
#define SN_INLINE static inline __attribute__((always_inline))
#else
#define SN_INLINE static inline
#endif

/* Element-wise loops (the cells' row functions) are compiled for AVX-512,
 * AVX2 and baseline x86-64, the best picked once at load time by the
 * loader's CPU check; the GEMM micro-kernels are dispatched by cpu.c
 * instead, so that SEQNET_ISA can choose them. */
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && \
    defined(__linux__) && !defined(SN_NO_CLONES)
#define SN_CLONES \
    __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define SN_CLONES
#endif

#define SN_MIN(a, b) ((a) < (b) ? (a) : (b))
#define SN_MAX(a, b) ((a) > (b) ? (a) : (b))

/* Every workspace sub-buffer starts on a cache line. */
#define SN_ALIGN 64
static inline size_t sn_round_up(size_t n) {
    return (n + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN;
}
static inline char *sn_align_ptr(void *p) {
    uintptr_t u = (uintptr_t)p;
    return (char *)((u + SN_ALIGN - 1) / SN_ALIGN * SN_ALIGN);
}

/* A bump allocator over a caller-owned workspace.  Sizes are computed by the
 * same sequence of sn_take calls with base == NULL (see *_workspace_size). */
typedef struct {
    char *base;
    size_t used;
} sn_arena;

static inline void *sn_take(sn_arena *a, size_t bytes) {
    void *p = a->base ? a->base + a->used : NULL;
    a->used += sn_round_up(bytes);
    return p;
}

#ifdef _OPENMP
#include <omp.h>
#else
static inline int omp_get_thread_num(void) { return 0; }
static inline int omp_get_num_threads(void) { return 1; }
static inline int omp_get_max_threads(void) { return 1; }
#endif

/* The most threads a parallel region runs (team.h's SN_TEAM_MAX): thread
 * counts and the workspaces sized for them are clamped to it here, once. */
#define SN_MAX_THREADS 256

/* Whether this process is a fork() child of the one that loaded seqnet
 * (cpu.c). */
int sn_forked(void);

/* Resolve the n_threads argument: <= 0 means the OpenMP default; more
 * than SN_MAX_THREADS means SN_MAX_THREADS; in a forked child, 1: GNU
 * libgomp hangs in the first parallel region of a child whose parent had
 * started its threads, and whether it had (seqnet or any other library
 * sharing libgomp) is unknowable.  A build without OpenMP runs everything
 * on the calling thread.  Every kernel's thread count and workspace size
 * goes through here. */
static inline int sn_threads(int n_threads) {
#ifdef _OPENMP
    if (sn_forked())
        return 1;
    const int n = n_threads > 0 ? n_threads : omp_get_max_threads();
    return n < SN_MAX_THREADS ? n : SN_MAX_THREADS;
#else
    (void)n_threads;
    return 1;
#endif
}

#endif
