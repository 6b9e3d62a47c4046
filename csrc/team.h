/*
 * team.h -- thread teams that fall back to one thread under contention
 * (see team.c).  Use around every parallel region:
 *
 *     sn_team team;
 *     int nt = sn_team_begin(&team, wanted);
 *     #pragma omp parallel num_threads(nt) if (nt > 1)
 *     {
 *         ... the thread's share ...
 *         sn_team_finish(&team, omp_get_thread_num());
 *     }
 *     sn_team_end(&team);
 */
#ifndef SEQNET_TEAM_H
#define SEQNET_TEAM_H

#include "common.h"

#define SN_TEAM_MAX SN_MAX_THREADS

typedef struct {
    int size;
    double start;
    double finish[SN_TEAM_MAX];
} sn_team;

double sn_now(void);
int sn_team_begin(sn_team *team, int want);
void sn_team_finish(sn_team *team, int tid);
void sn_team_end(const sn_team *team);

#endif
