/* team.c: worker threads that spin briefly, then sleep (see team.h).
 *
 * The loop in hand is published in one 64-bit word, `claim`: the loop's
 * number (its round) in the high half, the next unclaimed task in the low
 * half.  A thread takes a task by compare-and-swap on the whole word, so a
 * worker that wakes late, after its loop has ended and another begun,
 * cannot take a task of the new loop thinking it is of the old one: the
 * round no longer matches.  And the loop's function and argument are read
 * only after a task is claimed, when the caller cannot be changing them
 * (it waits for every claimed task before it returns).
 *
 * Sleeping and waking: a worker about to sleep counts itself in `sleepers`
 * and checks the round again, both under the lock; the caller publishes
 * the round, then looks at `sleepers`.  Both sequentially consistent, so
 * one of the two sees the other: either the worker sees the new round and
 * does not sleep, or the caller sees a sleeper and signals it under the
 * lock.  The caller waiting for the last tasks does the same with
 * `caller_asleep`. */
#define _POSIX_C_SOURCE 200809L
#include "team.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

/* How long a thread spins for work (or, on the caller, for the last tasks
 * to finish) before it sleeps.  Long enough to span the gaps between one
 * inference's loops; short enough that when the machine has more threads
 * than cores, little of a core goes to spinning. */
#define SPIN_NS 50000

struct team {
    int size;
    pthread_t *workers;
    pthread_mutex_t lock;
    pthread_cond_t wake, finished;
    _Atomic uint64_t claim;    /* round << 32 | next task */
    _Atomic int64_t done;      /* tasks run in this round */
    _Atomic int sleepers;
    _Atomic int caller_asleep;
    _Atomic int stopping;
    /* This round's loop: written by the caller while the word is closed,
     * read by threads once they hold a task of it. */
    _Atomic(team_task *) fn;
    _Atomic(void *) arg;
    _Atomic int64_t tasks;
    _Atomic int64_t grain; /* tasks claimed at a time */
};

typedef struct {
    team *t;
    int index;
} worker_start;

static void relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ volatile("yield");
#endif
}

static int64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Spin until ready(t, want) or SPIN_NS have passed; its last answer. */
static int spin_until(int (*ready)(team *, uint64_t), team *t, uint64_t want)
{
    int64_t start = now_ns();
    for (int i = 1;; i++) {
        if (ready(t, want))
            return 1;
        relax();
        if (i % 64 == 0 && now_ns() - start > SPIN_NS)
            return ready(t, want);
    }
}

/* Run tasks of round `round` while there are any; how many were run. */
static int64_t run_tasks(team *t, uint32_t round, int worker)
{
    int64_t ran = 0;
    uint64_t v = atomic_load(&t->claim);
    for (;;) {
        if ((uint32_t)(v >> 32) != round)
            break;
        /* Claimed only if the task exists: if `tasks` is already the next
         * round's, the claim below fails (see team_run). */
        int64_t next = (int64_t)(uint32_t)v, tasks = atomic_load(&t->tasks);
        if (next >= tasks)
            break;
        int64_t grain = atomic_load(&t->grain), end = tasks - next < grain ? tasks : next + grain;
        if (!atomic_compare_exchange_weak(&t->claim, &v, v + (uint64_t)(end - next)))
            continue;
        team_task *fn = atomic_load(&t->fn);
        void *arg = atomic_load(&t->arg);
        for (int64_t i = next; i < end; i++)
            fn(arg, i, worker);
        ran += end - next;
        v = atomic_load(&t->claim);
    }
    return ran;
}

static int round_changed(team *t, uint64_t seen)
{
    return (uint32_t)(atomic_load(&t->claim) >> 32) != (uint32_t)seen ||
           atomic_load(&t->stopping);
}

static int all_done(team *t, uint64_t tasks)
{
    return atomic_load(&t->done) == (int64_t)tasks;
}

static void *worker_main(void *p)
{
    worker_start *ws = p;
    team *t = ws->t;
    int index = ws->index;
    free(ws);
    uint32_t seen = 0;
    for (;;) {
        if (!spin_until(round_changed, t, seen)) {
            pthread_mutex_lock(&t->lock);
            atomic_fetch_add(&t->sleepers, 1);
            while (!round_changed(t, seen))
                pthread_cond_wait(&t->wake, &t->lock);
            atomic_fetch_sub(&t->sleepers, 1);
            pthread_mutex_unlock(&t->lock);
        }
        if (atomic_load(&t->stopping))
            return NULL;
        seen = (uint32_t)(atomic_load(&t->claim) >> 32);
        int64_t ran = run_tasks(t, seen, index);
        if (ran) {
            atomic_fetch_add(&t->done, ran);
            if (atomic_load(&t->caller_asleep)) {
                pthread_mutex_lock(&t->lock);
                pthread_cond_signal(&t->finished);
                pthread_mutex_unlock(&t->lock);
            }
        }
    }
}

team *team_create(int size)
{
    team *t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    t->size = 1;
    if (size <= 1)
        return t;
    t->workers = calloc((size_t)size - 1, sizeof *t->workers);
    if (!t->workers || pthread_mutex_init(&t->lock, NULL)) {
        free(t->workers);
        free(t);
        return NULL;
    }
    pthread_cond_init(&t->wake, NULL);
    pthread_cond_init(&t->finished, NULL);
    for (int i = 1; i < size; i++) {
        worker_start *ws = malloc(sizeof *ws);
        if (ws)
            *ws = (worker_start){ t, i };
        if (!ws || pthread_create(&t->workers[i - 1], NULL, worker_main, ws)) {
            free(ws);
            break;
        }
        t->size++;
    }
    if (t->size < size) {
        team_free(t);
        return NULL;
    }
    return t;
}

void team_free(team *t)
{
    if (!t)
        return;
    if (t->workers) {
        pthread_mutex_lock(&t->lock);
        atomic_store(&t->stopping, 1);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
        for (int i = 0; i < t->size - 1; i++)
            pthread_join(t->workers[i], NULL);
        pthread_cond_destroy(&t->wake);
        pthread_cond_destroy(&t->finished);
        pthread_mutex_destroy(&t->lock);
        free(t->workers);
    }
    free(t);
}

int team_size(const team *t) { return t ? t->size : 1; }

void team_run(team *t, int64_t tasks, team_task *fn, void *arg)
{
    if (!t || t->size < 2 || tasks < 2 || tasks > INT32_MAX) {
        for (int64_t i = 0; i < tasks; i++)
            fn(arg, i, 0);
        return;
    }
    /* Close the last round to latecomers first: a worker still in its
     * claim loop must not take "task 69 of 106" of the last round, having
     * read the new count.  After this store no task of it can be claimed
     * (all stores here sequentially consistent, so a worker that sees the
     * new count sees the round closed). */
    uint32_t round = (uint32_t)(atomic_load(&t->claim) >> 32);
    atomic_store(&t->claim, (uint64_t)round << 32 | UINT32_MAX);
    atomic_store(&t->fn, fn);
    atomic_store(&t->arg, arg);
    atomic_store(&t->tasks, tasks);
    /* Claims a few tasks at a time, an eighth of each thread's share at
     * most: every claim moves the claim word's cache line between cores,
     * a cost like that of a small task (a 7 x 7 plane).  Uneven tasks
     * still even out to within one claim. */
    int64_t grain = tasks / (8 * (int64_t)t->size);
    atomic_store(&t->grain, grain < 1 ? 1 : grain);
    atomic_store(&t->done, 0);
    round++;
    atomic_store(&t->claim, (uint64_t)round << 32);
    if (atomic_load(&t->sleepers)) {
        pthread_mutex_lock(&t->lock);
        pthread_cond_broadcast(&t->wake);
        pthread_mutex_unlock(&t->lock);
    }
    int64_t ran = run_tasks(t, round, 0);
    atomic_fetch_add(&t->done, ran);
    if (!spin_until(all_done, t, (uint64_t)tasks)) {
        pthread_mutex_lock(&t->lock);
        atomic_store(&t->caller_asleep, 1);
        while (!all_done(t, (uint64_t)tasks))
            pthread_cond_wait(&t->finished, &t->lock);
        atomic_store(&t->caller_asleep, 0);
        pthread_mutex_unlock(&t->lock);
    }
}

typedef struct {
    team_range *fn;
    void *arg;
    int64_t n, chunk;
} ranges;

static void one_range(void *arg, int64_t index, int worker)
{
    const ranges *r = arg;
    int64_t from = index * r->chunk, to = r->n < from + r->chunk ? r->n : from + r->chunk;
    if (from < to)
        r->fn(r->arg, from, to, worker);
}

void team_run_ranges(team *t, int64_t n, int64_t min_split, team_range *fn, void *arg)
{
    int64_t parts = n >= min_split ? team_size(t) : 1;
    if (parts < 2) {
        if (n > 0)
            fn(arg, 0, n, 0);
        return;
    }
    ranges r = { fn, arg, n, (n + parts - 1) / parts };
    team_run(t, parts, one_range, &r);
}
