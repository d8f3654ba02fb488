/* bench_engine.c: inference latency and throughput of the bundled engine.
 *
 *   bench_engine [--csv] MODEL...
 *   bench_engine --latency THREADS MODEL      (bench/latency.sh)
 *
 * For each model and for 1 and 2 threads:
 *   latency     batch 1, threads inside the operators: the median of
 *               repeated runs after a warm-up;
 *   throughput  batches of 8 images spread over one single-threaded engine
 *               per thread (threads across the batch), in images per second.
 * With --latency, only the latency with THREADS threads, in ms.
 * Inputs are pseudo-random images of the model's input shape. */
#include "onnxq/engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

typedef struct job {
    onnxq_model *model;
    onnxq_tensor_view input;
    int images;
    int failed;
} job;

static int make_input(onnxq_model *m, onnxq_tensor_view *v)
{
    onnxq_value_info info;
    onnxq_model_input(m, 0, &info);
    if (info.dtype != ONNXQ_DTYPE_FLOAT || info.rank < 1)
        return -1;
    size_t n = 1;
    v->dtype = ONNXQ_DTYPE_FLOAT;
    v->rank = info.rank;
    for (int d = 0; d < info.rank; d++) {
        v->dims[d] = info.dims[d] < 0 ? 1 : info.dims[d];
        n *= (size_t)v->dims[d];
    }
    float *x = malloc(n * sizeof *x);
    if (!x)
        return -1;
    uint64_t s = 88172645463325252ull;
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13, s ^= s >> 7, s ^= s << 17;
        x[i] = (float)(s % 2001) / 1000.0f - 1.0f;
    }
    v->data = x;
    return 0;
}

static double latency_ms(onnxq_model *m, const onnxq_tensor_view *in, int threads)
{
    onnxq_engine *e;
    onnxq_error err;
    onnxq_engine_options o = { .threads = threads };
    if (onnxq_engine_create(m, &o, &e, &err) != ONNXQ_OK) {
        fprintf(stderr, "bench_engine: %s\n", err.message);
        return -1;
    }
    double t[64];
    int runs = 0;
    for (int i = 0; i < 3; i++)
        onnxq_engine_run(e, in, 1, &err);
    double start = now();
    while (runs < 64 && (runs < 10 || now() - start < 3.0)) {
        double t0 = now();
        if (onnxq_engine_run(e, in, 1, &err) != ONNXQ_OK) {
            fprintf(stderr, "bench_engine: %s\n", err.message);
            onnxq_engine_free(e);
            return -1;
        }
        t[runs++] = now() - t0;
    }
    onnxq_engine_free(e);
    qsort(t, (size_t)runs, sizeof *t, cmp_double);
    return 1000 * t[runs / 2];
}

static void *worker(void *arg)
{
    job *j = arg;
    onnxq_engine *e;
    onnxq_error err;
    onnxq_engine_options o = { .threads = 1 };
    if (onnxq_engine_create(j->model, &o, &e, &err) != ONNXQ_OK) {
        j->failed = 1;
        return NULL;
    }
    for (int i = 0; i < j->images; i++)
        if (onnxq_engine_run(e, &j->input, 1, &err) != ONNXQ_OK)
            j->failed = 1;
    onnxq_engine_free(e);
    return NULL;
}

/* Images per second for `rounds` batches of 8 spread over `threads` engines. */
static double throughput(onnxq_model *m, const onnxq_tensor_view *in, int threads, int rounds)
{
    pthread_t tid[8];
    job jobs[8];
    double start = now();
    for (int t = 0; t < threads; t++) {
        jobs[t] = (job){ m, *in, 8 * rounds / threads + (t < (8 * rounds) % threads), 0 };
        pthread_create(&tid[t], NULL, worker, &jobs[t]);
    }
    int failed = 0;
    for (int t = 0; t < threads; t++) {
        pthread_join(tid[t], NULL);
        failed |= jobs[t].failed;
    }
    return failed ? -1 : 8.0 * rounds / (now() - start);
}

int main(int argc, char **argv)
{
    int csv = 0, first = 1;
    if (argc == 4 && !strcmp(argv[1], "--latency")) {
        onnxq_model *m;
        onnxq_error err;
        onnxq_tensor_view in;
        if (onnxq_model_open(argv[3], &m, &err) != ONNXQ_OK || make_input(m, &in)) {
            fprintf(stderr, "bench_engine: %s: cannot load or has no float input\n", argv[3]);
            return 1;
        }
        double ms = latency_ms(m, &in, atoi(argv[2]));
        printf("%.3f\n", ms);
        free(in.data);
        onnxq_model_free(m);
        return ms > 0 ? 0 : 1;
    }
    if (argc > 1 && !strcmp(argv[1], "--csv")) {
        csv = 1;
        first = 2;
    }
    if (first >= argc) {
        fprintf(stderr, "usage: bench_engine [--csv] MODEL...\n"
                        "       bench_engine --latency THREADS MODEL\n");
        return 2;
    }
    if (csv)
        printf("model,threads,latency_ms,throughput_images_per_s\n");
    else
        printf("%-44s %7s %12s %18s\n", "model", "threads", "latency ms", "throughput img/s");
    for (int a = first; a < argc; a++) {
        onnxq_model *m;
        onnxq_error err;
        onnxq_tensor_view in;
        if (onnxq_model_open(argv[a], &m, &err) != ONNXQ_OK || make_input(m, &in)) {
            fprintf(stderr, "bench_engine: %s: cannot load or has no float input\n", argv[a]);
            return 1;
        }
        const char *name = strrchr(argv[a], '/') ? strrchr(argv[a], '/') + 1 : argv[a];
        double single = latency_ms(m, &in, 1);
        int rounds = single > 0 ? (int)(2000 / (single * 8)) + 1 : 1;
        for (int threads = 1; threads <= 2; threads++) {
            double lat = threads == 1 ? single : latency_ms(m, &in, threads);
            double tput = throughput(m, &in, threads, rounds);
            if (csv)
                printf("%s,%d,%.3f,%.1f\n", name, threads, lat, tput);
            else
                printf("%-44s %7d %12.2f %18.1f\n", name, threads, lat, tput);
            fflush(stdout);
        }
        free(in.data);
        onnxq_model_free(m);
    }
    return 0;
}
