/*
 * team.c -- how many threads a parallel region gets: the number asked for,
 * or one while the machine's other cores are busy.
 *
 * An OpenMP region ends when its last thread arrives, and a thread whose
 * core is taken by another process arrives a scheduler time slice late --
 * milliseconds, far more than a second thread saves on most regions here.
 * So every region records when each thread finished its share; when the
 * last one came in much later than the first had finished all it could
 * take (the work is handed out dynamically, so an on-time thread takes
 * everything a late one leaves), the regions of the next while run on one
 * thread.  That while is a span of time, not a count of regions, so that
 * a passing hiccup costs little and a busy machine is probed again at a
 * steady rate whatever the regions' sizes: it doubles (10 ms up to 1 s)
 * while the contention lasts and halves after each region with the full
 * team that runs clean.  Results never depend on the team size (threads
 * only split disjoint outputs), so this changes speed, never bits.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include "seqnet.h"
#include "team.h"

/* On unless SEQNET_ADAPTIVE_THREADS=0 (or sn_set_adaptive_threads(0)):
 * it is state shared by every call in the process and driven by the wall
 * clock, so a call's speed -- never its bits -- depends on what ran before
 * it; but without it, a 2-thread CharRNN epoch with one core busy took
 * 1.6 times as long (bench/busy_threads.py).  -1: not yet read. */
static int adaptive = -1;

static int adaptive_on(void) {
    if (adaptive < 0) {
        const char *env = getenv("SEQNET_ADAPTIVE_THREADS");
        adaptive = !(env != NULL && strcmp(env, "0") == 0);
    }
    return adaptive;
}

/* The back-off: single-thread regions until `until`, for spans of `len`
 * (both in ns; relaxed atomics, as racing updates are harmless). */
#if defined(__STDC_NO_ATOMICS__)
static long long backoff_until, backoff_len;
#define LOAD(x) (x)
#define STORE(x, v) ((x) = (v))
#else
#include <stdatomic.h>
static atomic_llong backoff_until, backoff_len;
#define LOAD(x) atomic_load_explicit(&(x), memory_order_relaxed)
#define STORE(x, v) atomic_store_explicit(&(x), (v), memory_order_relaxed)
#endif

/* A late thread this much (seconds) and half the first thread's busy time
 * behind marks contention: 1 ms stays clear of the wake-up delay of a
 * sleeping OpenMP thread on a quiet machine (a fraction of a millisecond)
 * and well under the scheduler time slice that a busy core costs. */
#define SN_LATE_SECONDS 1e-3
/* The shortest and longest single-thread span, in ns. */
#define SN_BACKOFF_MIN 10000000LL
#define SN_BACKOFF_MAX 1000000000LL

double sn_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static long long now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

void sn_set_adaptive_threads(int on) {
    adaptive = on != 0;
    STORE(backoff_until, 0);
    STORE(backoff_len, 0);
}

int sn_team_begin(sn_team *team, int want) {
    team->size = 1;
    if (want <= 1)
        return 1;
    if (adaptive_on() && now_ns() < LOAD(backoff_until))
        return 1;
    team->size = want < SN_TEAM_MAX ? want : SN_TEAM_MAX;
    team->start = sn_now();
    /* OpenMP may grant fewer threads than asked (OMP_THREAD_LIMIT, nested
     * regions): threads that never ran count as finishing at the start. */
    for (int i = 0; i < team->size; i++)
        team->finish[i] = team->start;
    return team->size;
}

void sn_team_finish(sn_team *team, int tid) {
    if (team->size > 1 && tid < team->size)
        team->finish[tid] = sn_now();
}

void sn_team_end(const sn_team *team) {
    if (team->size <= 1 || !adaptive_on())
        return;
    double first = team->finish[0], last = team->finish[0];
    for (int i = 1; i < team->size; i++) {
        first = team->finish[i] < first ? team->finish[i] : first;
        last = team->finish[i] > last ? team->finish[i] : last;
    }
    const double lag = last - first;
    long long len = LOAD(backoff_len);
    if (lag > SN_LATE_SECONDS && lag > 0.5 * (first - team->start)) {
        len = len < SN_BACKOFF_MIN ? SN_BACKOFF_MIN
                                   : (2 * len > SN_BACKOFF_MAX ? SN_BACKOFF_MAX
                                                               : 2 * len);
        STORE(backoff_len, len);
        STORE(backoff_until, now_ns() + len);
    } else if (len > 0) {
        STORE(backoff_len, len / 2);
    }
}
