/* eval.c: scoring a model on a dataset, and the preprocessed-image cache.
 *
 * The images are first brought to 8-bit pixels (decoded, resized and
 * cropped in parallel, or read back from the cache), then converted to the
 * model's input convention one at a time and run through the engine.  The
 * cache holds the 8-bit crops, so one cache serves every preset. */
#include "config.h"
#include "dataset.h"
#include "error.h"
#include "fileio.h"
#include "onnx_io.h"
#include "onnxq/eval.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

onnxq_status onnxq_preset(const char *name, onnxq_preprocess *p, onnxq_error *err)
{
    memset(p, 0, sizeof *p);
    p->scale = 1;
    p->std[0] = p->std[1] = p->std[2] = 1;
    p->resize = 256;
    if (!strcmp(name, "caffe")) {
        p->bgr = 1;
        p->mean[0] = 123.68f, p->mean[1] = 116.779f, p->mean[2] = 103.939f;
    } else if (!strcmp(name, "torch")) {
        p->scale = 1.0f / 255;
        p->mean[0] = 0.485f, p->mean[1] = 0.456f, p->mean[2] = 0.406f;
        p->std[0] = 0.229f, p->std[1] = 0.224f, p->std[2] = 0.225f;
    } else if (!strcmp(name, "tf")) {
        p->scale = 1.0f / 127.5f;
        p->mean[0] = p->mean[1] = p->mean[2] = 1;
    } else if (!strcmp(name, "unit")) {
        p->scale = 1.0f / 255;
    } else if (strcmp(name, "raw")) {
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "unknown preset '%s' (caffe, torch, tf, unit or raw)", name);
    }
    return onnxq_ok(err);
}

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ---- The model's input ---------------------------------------------------------------- */

typedef struct input_layout {
    int rank;
    int64_t dims[ONNXQ_MAX_DIMS];
    int nhwc;            /* channels last */
    int channels, height, width;
} input_layout;

static onnxq_status layout_of(onnxq_model *m, const onnxq_dataset *ds, input_layout *l,
                              onnxq_error *err)
{
    onnxq_value_info in;
    if (m->n_inputs < 1)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: the model has no input", m->name);
    onnxq_model_input(m, 0, &in);
    if (in.dtype != ONNXQ_DTYPE_FLOAT)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: input '%s' is %s, not float32", m->name,
                          in.name, onnxq_dtype_name(in.dtype));
    memset(l, 0, sizeof *l);
    l->rank = in.rank;
    for (int d = 0; d < in.rank; d++)
        l->dims[d] = in.dims[d] < 0 ? 1 : in.dims[d]; /* a symbolic batch runs as 1 */
    if (ds->kind == DATASET_IDX) {
        int64_t n = 1;
        for (int d = 0; d < in.rank; d++)
            n *= l->dims[d];
        if (in.rank < 1 || n != (int64_t)ds->rows * ds->cols)
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                              "%s: input '%s' does not hold one %dx%d image", m->name, in.name,
                              ds->rows, ds->cols);
        l->channels = 1, l->height = ds->rows, l->width = ds->cols;
        return ONNXQ_OK;
    }
    if (in.rank != 4 || (in.dims[1] != 3 && in.dims[3] != 3))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "%s: input '%s' is not a 3-channel image batch (NCHW or NHWC)", m->name,
                          in.name);
    l->nhwc = in.dims[1] != 3;
    l->channels = 3;
    l->height = (int)(l->nhwc ? l->dims[1] : l->dims[2]);
    l->width = (int)(l->nhwc ? l->dims[2] : l->dims[3]);
    if (in.dims[0] > 1)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: input batch of %lld (1 supported)",
                          m->name, (long long)in.dims[0]);
    return ONNXQ_OK;
}

/* 8-bit pixels to the model's input values. */
static void to_input(const uint8_t *px, const input_layout *l, const onnxq_preprocess *p,
                     float *out)
{
    int hw = l->height * l->width;
    if (l->channels == 1) {
        for (int i = 0; i < hw; i++)
            out[i] = (px[i] * p->scale - p->mean[0]) / p->std[0];
        return;
    }
    for (int c = 0; c < 3; c++) {
        int src = p->bgr ? 2 - c : c; /* model channel c reads this RGB channel */
        float scale = p->scale / p->std[src], shift = p->mean[src] / p->std[src];
        for (int i = 0; i < hw; i++) {
            float v = px[3 * i + src] * scale - shift;
            if (l->nhwc)
                out[3 * i + c] = v;
            else
                out[c * hw + i] = v;
        }
    }
}

/* ---- Pixels, decoded or cached ------------------------------------------------------------ */

typedef struct pixel_set {
    size_t n, size;    /* images, bytes per image */
    uint8_t *data;
    uint8_t *ok;       /* 1 when image i decoded */
} pixel_set;

static uint64_t fnv(uint64_t h, const void *data, size_t n)
{
    const uint8_t *p = data;
    for (size_t i = 0; i < n; i++)
        h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

/* Names the dataset (its files, labels and sizes) and the crop settings. */
static uint64_t cache_key(const onnxq_dataset *ds, int resize, int crop)
{
    uint64_t h = 0xcbf29ce484222325ull;
    const char tag[] = "onnxq pixel cache 1";
    h = fnv(h, tag, sizeof tag);
    h = fnv(h, &ds->kind, sizeof ds->kind);
    h = fnv(h, ds->source, strlen(ds->source));
    h = fnv(h, &ds->n, sizeof ds->n);
    h = fnv(h, &resize, sizeof resize);
    h = fnv(h, &crop, sizeof crop);
    for (size_t i = 0; ds->kind == DATASET_JPEG && i < ds->n; i++) {
        struct stat st;
        h = fnv(h, ds->items[i].path, strlen(ds->items[i].path) + 1);
        if (stat(ds->items[i].path, &st) == 0) {
            h = fnv(h, &st.st_size, sizeof st.st_size);
            h = fnv(h, &st.st_mtime, sizeof st.st_mtime);
        }
    }
    return h;
}

static char *cache_path(const char *dir, uint64_t key)
{
    char name[64];
    snprintf(name, sizeof name, "pixels-%016llx.bin", (unsigned long long)key);
    return path_join(dir, name);
}

static int cache_load(const char *path, pixel_set *ps)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    int ok = fread(ps->ok, 1, ps->n, f) == ps->n &&
             fread(ps->data, ps->size, ps->n, f) == ps->n && fgetc(f) == EOF;
    fclose(f);
    return ok ? 0 : -1;
}

static void cache_store(const char *dir, const char *path, const pixel_set *ps)
{
    mkdir(dir, 0777); /* one level is enough; a failure shows at open */
    atomic_file af;
    if (atomic_open(&af, path, 1, NULL) != ONNXQ_OK)
        return;
    if (atomic_write(&af, ps->ok, ps->n, NULL) != ONNXQ_OK ||
        atomic_write(&af, ps->data, ps->size * ps->n, NULL) != ONNXQ_OK ||
        atomic_commit(&af, NULL) != ONNXQ_OK)
        atomic_abort(&af);
}

static onnxq_status decode_all(const onnxq_dataset *ds, int resize, int crop, int threads,
                               pixel_set *ps, onnxq_eval_result *r)
{
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (size_t i = 0; i < ds->n; i++) {
        onnxq_error e;
        ps->ok[i] = dataset_load_pixels(ds, i, resize, crop, ps->data + i * ps->size, &e) ==
                    ONNXQ_OK;
        if (!ps->ok[i]) {
#pragma omp critical
            if (!r->first_failure[0])
                snprintf(r->first_failure, sizeof r->first_failure, "%s", e.message);
        }
    }
    return ONNXQ_OK;
}

static onnxq_status get_pixels(const onnxq_dataset *ds, const onnxq_eval_options *o, int crop,
                               int threads, pixel_set *ps, onnxq_eval_result *r,
                               onnxq_error *err)
{
    ps->n = ds->n;
    ps->size = ds->kind == DATASET_IDX ? (size_t)ds->rows * ds->cols : (size_t)crop * crop * 3;
    ps->data = malloc(ps->size * ps->n + 1);
    ps->ok = malloc(ps->n + 1);
    if (!ps->data || !ps->ok)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory for %zu images", ds->source,
                          ds->n);
    char *path = NULL;
    int use_cache = o->cache_dir && ds->kind == DATASET_JPEG;
    if (use_cache && (path = cache_path(o->cache_dir, cache_key(ds, o->pre.resize, crop))) &&
        cache_load(path, ps) == 0) {
        r->cache_hit = 1;
        free(path);
        return ONNXQ_OK;
    }
    onnxq_status s = decode_all(ds, o->pre.resize, crop, threads, ps, r);
    if (s == ONNXQ_OK && use_cache && path)
        cache_store(o->cache_dir, path, ps);
    free(path);
    return s;
}

/* ---- Scores -------------------------------------------------------------------------------- */

/* The output as class scores: flattened, the background class of a
 * 1001-wide output dropped. */
static onnxq_status class_scores(onnxq_engine *e, const char *name, int classes,
                                 const float **scores, int *n, onnxq_error *err)
{
    onnxq_tensor_view v;
    onnxq_status s = onnxq_engine_output(e, 0, &v, err);
    if (s != ONNXQ_OK)
        return s;
    if (v.dtype != ONNXQ_DTYPE_FLOAT)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: output is %s, not float32", name,
                          onnxq_dtype_name(v.dtype));
    int64_t count = 1;
    for (int d = 0; d < v.rank; d++)
        count *= v.dims[d];
    *scores = v.data;
    if (count == 1001 && classes != 1001) {
        (*scores)++;
        count--;
    }
    *n = (int)count;
    return ONNXQ_OK;
}

static int rank_of(const float *s, int n, int label)
{
    int above = 0;
    for (int i = 0; i < n; i++)
        above += s[i] > s[label] || (s[i] == s[label] && i < label);
    return above;
}

static int argmax(const float *s, int n)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[best])
            best = i;
    return best;
}

/* Log-probabilities: the scores themselves when they already are a
 * distribution (a softmax output), else their log-softmax. */
static void log_probs(const float *s, int n, double *out)
{
    double sum = 0, mx = -INFINITY;
    int dist = 1;
    for (int i = 0; i < n; i++) {
        if (s[i] < 0 || s[i] > 1)
            dist = 0;
        sum += s[i];
        mx = s[i] > mx ? s[i] : mx;
    }
    if (dist && fabs(sum - 1) < 1e-3) {
        for (int i = 0; i < n; i++)
            out[i] = log(s[i] > 1e-30 ? s[i] / sum : 1e-30);
        return;
    }
    double z = 0;
    for (int i = 0; i < n; i++)
        z += exp(s[i] - mx);
    for (int i = 0; i < n; i++)
        out[i] = s[i] - mx - log(z);
}

static double kl_divergence(const float *ref, const float *model, int n, double *a, double *b)
{
    log_probs(ref, n, a);
    log_probs(model, n, b);
    double kl = 0;
    for (int i = 0; i < n; i++)
        kl += exp(a[i]) * (a[i] - b[i]);
    return kl;
}

#define MAX_CLASSES (1 << 20)

typedef struct runner {
    onnxq_engine *engine;
    onnxq_tensor_view input;
    const char *name;
} runner;

static onnxq_status runner_make(onnxq_model *m, const input_layout *l, int threads, float *buf,
                                runner *r, onnxq_error *err)
{
    onnxq_engine_options eo = { .threads = threads };
    r->name = m->name;
    onnxq_status s = onnxq_engine_create(m, &eo, &r->engine, err);
    if (s != ONNXQ_OK)
        return s;
    size_t inputs = onnxq_engine_input_count(r->engine);
    if (inputs != 1) {
        onnxq_engine_free(r->engine);
        r->engine = NULL;
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: the model takes %zu inputs (1 supported)",
                          m->name, inputs);
    }
    r->input.dtype = ONNXQ_DTYPE_FLOAT;
    r->input.rank = l->rank;
    memcpy(r->input.dims, l->dims, sizeof l->dims);
    r->input.data = buf;
    return ONNXQ_OK;
}

static int default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : (int)n;
}

typedef struct tally {
    size_t top1, top5, agree, ref_top1, ref_top5;
    double kl;
} tally;

static onnxq_status score_one(runner *run, runner *ref, int label, int classes, tally *t,
                              double *work, onnxq_error *err)
{
    const float *s = NULL, *rs = NULL;
    int n = 0, rn = 0;
    onnxq_status st = onnxq_engine_run(run->engine, &run->input, 1, err);
    if (st == ONNXQ_OK)
        st = class_scores(run->engine, run->name, classes, &s, &n, err);
    if (st == ONNXQ_OK && n > MAX_CLASSES)
        st = onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: %d outputs (at most %d classes)", run->name,
                        n, MAX_CLASSES);
    if (st == ONNXQ_OK && label >= n)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: label %d but only %d outputs", run->name,
                        label, n);
    if (st == ONNXQ_OK && ref->engine) {
        st = onnxq_engine_run(ref->engine, &ref->input, 1, err);
        if (st == ONNXQ_OK)
            st = class_scores(ref->engine, ref->name, classes, &rs, &rn, err);
        if (st == ONNXQ_OK && rn != n)
            st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: %d outputs, the reference has %d",
                            run->name, n, rn);
    }
    if (st != ONNXQ_OK)
        return st;
    int rank = rank_of(s, n, label);
    t->top1 += rank < 1;
    t->top5 += rank < 5;
    if (rs) {
        int rrank = rank_of(rs, n, label);
        t->ref_top1 += rrank < 1;
        t->ref_top5 += rrank < 5;
        t->agree += argmax(s, n) == argmax(rs, n);
        t->kl += kl_divergence(rs, s, n, work, work + n);
    }
    return ONNXQ_OK;
}

onnxq_status onnxq_evaluate(onnxq_model *m, onnxq_dataset *ds, const onnxq_eval_options *o,
                            onnxq_eval_result *r, onnxq_error *err)
{
    memset(r, 0, sizeof *r);
    r->agreement = r->kl = r->ref_top1 = r->ref_top5 = NAN;
    int threads = o->threads > 0 ? o->threads : default_threads();
    input_layout l;
    onnxq_status s = layout_of(m, ds, &l, err);
    if (s != ONNXQ_OK)
        return s;
    if (ds->kind == DATASET_JPEG && o->pre.crop && o->pre.crop != l.height)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: crop %d does not fit the input's %dx%d",
                          m->name, o->pre.crop, l.height, l.width);
    if (ds->kind == DATASET_JPEG && (l.height != l.width || o->pre.resize < l.height))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: a %dx%d input needs a square crop within resize %d",
                          m->name, l.height, l.width, o->pre.resize);
    input_layout rl;
    if (o->reference && (s = layout_of(o->reference, ds, &rl, err)) != ONNXQ_OK)
        return s;
    if (o->reference && (rl.height != l.height || rl.width != l.width || rl.nhwc != l.nhwc))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: the reference takes a different input",
                          o->reference->name);
    size_t values = (size_t)l.channels * l.height * l.width;
    float *buf = malloc(values * sizeof *buf);
    double *work = malloc(2 * (size_t)MAX_CLASSES * sizeof *work);
    pixel_set ps = { 0 };
    runner run = { 0 }, ref = { 0 };
    tally t = { 0 };
    double t0 = now();
    if (!buf || !work)
        s = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    if (s == ONNXQ_OK)
        s = get_pixels(ds, o, l.height, threads, &ps, r, err);
    double t1 = now();
    if (s == ONNXQ_OK)
        s = runner_make(m, &l, threads, buf, &run, err);
    if (s == ONNXQ_OK && o->reference)
        s = runner_make(o->reference, &l, threads, buf, &ref, err);
    for (size_t i = 0; s == ONNXQ_OK && i < ds->n; i++) {
        if (!ps.ok[i]) {
            r->failed++;
        } else {
            to_input(ps.data + i * ps.size, &l, &o->pre, buf);
            s = score_one(&run, &ref, ds->items[i].label, ds->classes, &t, work, err);
            r->images++;
        }
        if (o->progress)
            o->progress(o->progress_ctx, i + 1, ds->n);
    }
    r->decode_seconds = t1 - t0;
    r->run_seconds = now() - t1;
    if (r->images) {
        double n = (double)r->images;
        r->top1 = 100.0 * t.top1 / n;
        r->top5 = 100.0 * t.top5 / n;
        if (o->reference) {
            r->agreement = 100.0 * t.agree / n;
            r->kl = t.kl / n;
            r->ref_top1 = 100.0 * t.ref_top1 / n;
            r->ref_top5 = 100.0 * t.ref_top5 / n;
        }
    }
    if (s == ONNXQ_OK && !r->images)
        s = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no image could be read (%s)", ds->source,
                       r->first_failure);
    onnxq_engine_free(run.engine);
    onnxq_engine_free(ref.engine);
    free(ps.data);
    free(ps.ok);
    free(buf);
    free(work);
    return s == ONNXQ_OK ? onnxq_ok(err) : s;
}
