/* team.h: the engine's worker threads.
 *
 *   team *t = team_create(4);           the caller and three workers
 *   team_run(t, tasks, fn, arg);        fn(arg, i, worker) for i < tasks
 *   team_free(t);
 *
 * One inference runs some fifty parallel loops a few microseconds apart,
 * so between loops the workers spin, ready, rather than sleep.  But only
 * briefly: OpenMP's threads (libgomp) spin for milliseconds, and two
 * processes of two threads each on two cores then spend their time
 * spinning while the thread with the work waits for a core (224 ms per
 * squeezenet1.1 image instead of 13).  Here a worker spins for some tens of
 * microseconds, then sleeps until the next loop.
 *
 * Tasks are handed out a few at a time as threads come free, the caller
 * taking them too, so a loop never waits for a worker that has not woken
 * up: the caller runs what is left.  `worker` is 0 on the caller and
 * 1 .. size-1 on the workers, for per-thread scratch space.  team_run
 * returns when every task has run.  One caller at a time per team. */
#ifndef ONNXQ_TEAM_H
#define ONNXQ_TEAM_H
#include <stdint.h>

typedef struct team team;
typedef void team_task(void *arg, int64_t index, int worker);

/* A team of `size` threads, the caller counted: size - 1 workers are
 * started.  NULL when out of memory or threads; size <= 1 starts none and
 * returns a team that runs everything on the caller. */
team *team_create(int size);
void team_free(team *t);
/* Threads in the team, the caller counted; 1 for NULL. */
int team_size(const team *t);
/* fn(arg, i, worker) for every i in [0, tasks), on the caller and the
 * workers; on the caller alone when t is NULL or tasks < 2. */
void team_run(team *t, int64_t tasks, team_task *fn, void *arg);

typedef void team_range(void *arg, int64_t from, int64_t to, int worker);
/* fn(arg, from, to, worker) over [0, n) cut into one range per thread, for
 * loops whose iterations all cost the same; one range, on the caller, when
 * n < min_split (too little work to be worth waking a thread for). */
void team_run_ranges(team *t, int64_t n, int64_t min_split, team_range *fn, void *arg);

#endif
