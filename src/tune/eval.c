/* eval.c: scoring a model on a dataset, and the preprocessed-image cache.
 *
 * The images are first brought to 8-bit pixels (decoded, resized and
 * cropped in parallel, or read back from the cache), then converted to the
 * model's input convention and run through the engine, several images at
 * once on engines of their own (run_images).  The cache holds the 8-bit
 * crops, so one cache serves every preset. */
#include "config.h"
#include "cache.h"
#include "dataset.h"
#include "engine/engine.h"
#include "engine/team.h"
#include "common/error.h"
#include "model/fileio.h"
#include "model/onnx_io.h"
#include "onnxq/eval.h"
#include "scorer.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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
    if (dataset_in_memory(ds) && ds->channels == 1) {
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
    if (dataset_in_memory(ds) && (ds->channels != 3 || ds->rows != l->height ||
                                  ds->cols != l->width))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: input '%s' does not take %dx%d images",
                          m->name, in.name, ds->rows, ds->cols);
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
    unsigned char *state; /* per image: CACHE_DECODED, CACHE_FAILED */
    size_t failed;     /* images that did not decode */
    int cache_hit;     /* every image came from the cache */
    char first_failure[512];
} pixel_set;

/* Decode the images still CACHE_MISSING; mark them in fresh. */
static void decode_missing(const onnxq_dataset *ds, int resize, int crop, int threads,
                           pixel_set *ps, unsigned char *fresh)
{
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (size_t i = 0; i < ds->n; i++) {
        if (ps->state[i] != CACHE_MISSING)
            continue;
        onnxq_error e;
        int ok = dataset_load_pixels(ds, i, resize, crop, ps->data + i * ps->size, &e) ==
                 ONNXQ_OK;
        ps->state[i] = ok ? CACHE_DECODED : CACHE_FAILED;
        fresh[i] = 1;
        if (!ok) {
            memset(ps->data + i * ps->size, 0, ps->size);
#pragma omp critical
            if (!ps->first_failure[0])
                snprintf(ps->first_failure, sizeof ps->first_failure, "%s", e.message);
        }
    }
}

static onnxq_status get_pixels(const onnxq_dataset *ds, const onnxq_eval_options *o, int crop,
                               int threads, pixel_set *ps, onnxq_error *err)
{
    ps->n = ds->n;
    ps->size = dataset_in_memory(ds) ? dataset_image_bytes(ds) : (size_t)crop * crop * 3;
    ps->data = malloc(ps->size * ps->n + 1);
    ps->state = calloc(ps->n + 1, 1);
    unsigned char *fresh = calloc(ps->n + 1, 1);
    if (!ps->data || !ps->state || !fresh) {
        free(fresh);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory for %zu images", ds->source,
                          ds->n);
    }
    int use_cache = o->cache_dir && ds->kind == DATASET_JPEG;
    size_t found = use_cache ? cache_fetch(o->cache_dir, ds, o->pre.resize, crop, ps->size,
                                           ps->data, ps->state)
                             : 0;
    ps->cache_hit = found == ds->n;
    if (found < ds->n) {
        decode_missing(ds, o->pre.resize, crop, threads, ps, fresh);
        if (use_cache)
            cache_store(o->cache_dir, ds, o->pre.resize, crop, ps->size, ps->data, ps->state,
                        fresh, o->cache_limit);
    }
    free(fresh);
    for (size_t i = 0; i < ps->n; i++) {
        if (ps->state[i] == CACHE_FAILED && !ps->first_failure[0])
            snprintf(ps->first_failure, sizeof ps->first_failure, "%s: could not be decoded",
                     ds->items[i].path ? ds->items[i].path : ds->source);
        ps->failed += ps->state[i] != CACHE_DECODED;
    }
    return ONNXQ_OK;
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

/* The k best classes, best first, in rank_of's order. */
static void best_classes(const float *s, int n, int k, int *out)
{
    for (int j = 0; j < k; j++)
        out[j] = -1;
    for (int c = 0; c < n; c++) {
        int at = k;
        while (at > 0 && (out[at - 1] < 0 || s[c] > s[out[at - 1]]))
            at--;
        if (at == k)
            continue;
        memmove(out + at + 1, out + at, (size_t)(k - at - 1) * sizeof *out);
        out[at] = c;
    }
}

static void report_image(const onnxq_eval_options *o, const onnxq_dataset *ds, size_t i,
                         const float *sc, int n)
{
    int top5[5];
    char name[32];
    best_classes(sc, n, 5, top5);
    const char *shown = name;
    if (ds->kind == DATASET_JPEG)
        shown = path_basename(ds->items[i].path);
    else
        snprintf(name, sizeof name, "#%zu", i);
    o->on_image(o->on_image_ctx, i, shown, ds->items[i].label, top5);
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


#define MAX_CLASSES (1 << 20)

/* The images, ready as pixels, and what the reference model said about
 * each: scoring many candidate models (sweeps, searches) decodes the
 * images and runs the reference once. */
struct onnxq_scorer {
    onnxq_dataset *ds;
    onnxq_eval_options o;
    int threads;
    input_layout l;
    pixel_set ps;
    float *input;          /* one image's model input */
    double decode_seconds;
    /* The reference's log-probabilities (classes per scored image), its
     * five best classes and top-1/top-5 hits. */
    int classes;
    float *ref_logp;
    int *ref_top5;
    signed char *ref_hit;  /* per scored image: 1 top-1, -5 top-5 only, 0 neither */
    /* The temperature that calibrates the reference's probabilities on
     * these images' labels, and per image log sum exp(logp / T). */
    double temperature;
    double *ref_logz;
    size_t scored;
    scorer_logp_fn logp_hook;
    void *logp_ctx;
    uint64_t weight_bytes; /* the reference's weights: what each engine holds */
};

void scorer_set_logp_hook(onnxq_scorer *s, scorer_logp_fn fn, void *ctx)
{
    s->logp_hook = fn;
    s->logp_ctx = ctx;
}

static onnxq_status engine_for(onnxq_scorer *s, onnxq_model *m, int threads, float *input,
                               onnxq_engine **e, onnxq_tensor_view *in, onnxq_error *err)
{
    input_layout l;
    onnxq_status st = layout_of(m, s->ds, &l, err);
    if (st != ONNXQ_OK)
        return st;
    if (l.height != s->l.height || l.width != s->l.width || l.nhwc != s->l.nhwc ||
        l.channels != s->l.channels)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: takes a different input from %s", m->name,
                          s->ds->source);
    onnxq_engine_options eo = { .threads = threads };
    if ((st = onnxq_engine_create(m, &eo, e, err)) != ONNXQ_OK)
        return st;
    if (onnxq_engine_input_count(*e) != 1) {
        size_t inputs = onnxq_engine_input_count(*e);
        onnxq_engine_free(*e);
        *e = NULL;
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: the model takes %zu inputs (1 supported)",
                          m->name, inputs);
    }
    in->dtype = ONNXQ_DTYPE_FLOAT;
    in->rank = l.rank;
    memcpy(in->dims, l.dims, sizeof l.dims);
    in->data = input;
    return ONNXQ_OK;
}

/* ---- Running the images ------------------------------------------------------------------ */

/* One image's inference parallelizes poorly over a few threads (googlenet
 * on two cores: 27.6 ms an image with the engine's two threads, 43 ms on
 * one), while the images are independent: one engine of one thread per
 * thread allowed runs that many images at once (22.9 ms an image on two
 * cores).  The scores are handed on in image order, and the
 * engine's results do not depend on its thread count (gemm.h), so they
 * are the same bits whatever the number of engines.  Each engine holds the
 * weights unpacked, so the engines' weights together stay within
 * RUN_ENGINES_BYTES: a larger model runs fewer engines, each with more
 * threads. */
#define RUN_ENGINES_BYTES ((uint64_t)512 << 20)
/* Images run between two calls of the in-order step. */
#define RUN_CHUNK 32

/* What is done with image i (the k-th scored) once its scores are in:
 * in image order, on the caller. */
typedef onnxq_status image_step(void *ctx, size_t k, size_t i, const float *scores, int n,
                                onnxq_error *err);

typedef struct runner {
    onnxq_scorer *s;
    onnxq_model *m;
    int engines;
    onnxq_engine **engine;
    onnxq_tensor_view *in;
    float *inputs;         /* one model input per engine */
    int n;                 /* scores per image, from the first image on */
    float *scores;         /* RUN_CHUNK x n */
    const size_t *chunk;   /* the images of the current chunk */
    size_t first;          /* the chunk's first slot still to run */
    onnxq_error *errors;   /* per engine */
    size_t *failed;        /* per engine: the slot it failed at, or SIZE_MAX */
} runner;

static uint64_t weight_bytes(const onnxq_model *m)
{
    uint64_t b = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        b += m->tensors[i].bytes;
    return b;
}

static void runner_free(runner *r)
{
    for (int w = 0; r->engine && w < r->engines; w++)
        onnxq_engine_free(r->engine[w]);
    free(r->engine);
    free(r->in);
    free(r->inputs);
    free(r->scores);
    free(r->errors);
    free(r->failed);
}

static onnxq_status runner_init(runner *r, onnxq_scorer *s, onnxq_model *m, onnxq_error *err)
{
    memset(r, 0, sizeof *r);
    r->s = s;
    r->m = m;
    uint64_t bytes = weight_bytes(m);
    if (bytes < s->weight_bytes)
        bytes = s->weight_bytes;
    uint64_t engines = (uint64_t)s->threads;
    if (bytes > 0 && engines > RUN_ENGINES_BYTES / bytes)
        engines = RUN_ENGINES_BYTES / bytes;
    if (engines > s->scored / 2) /* every engine gets two images at least */
        engines = s->scored / 2;
    r->engines = engines > 1 ? (int)engines : 1;
    int threads = s->threads / r->engines;
    size_t in_floats = (size_t)s->l.channels * s->l.height * s->l.width;
    r->engine = calloc((size_t)r->engines, sizeof *r->engine);
    r->in = calloc((size_t)r->engines, sizeof *r->in);
    r->inputs = malloc((size_t)r->engines * in_floats * sizeof *r->inputs);
    r->errors = calloc((size_t)r->engines, sizeof *r->errors);
    r->failed = malloc((size_t)r->engines * sizeof *r->failed);
    onnxq_status st = ONNXQ_OK;
    if (!r->engine || !r->in || !r->inputs || !r->errors || !r->failed)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    for (int w = 0; st == ONNXQ_OK && w < r->engines; w++)
        st = engine_for(s, m, threads, r->inputs + (size_t)w * in_floats,
                        &r->engine[w], &r->in[w], err);
    if (st != ONNXQ_OK)
        runner_free(r);
    return st;
}

/* Run image i on engine w; its scores, and their count, in *scores and *n. */
static onnxq_status run_image(runner *r, int w, size_t i, const float **scores, int *n,
                              onnxq_error *err)
{
    onnxq_scorer *s = r->s;
    to_input(s->ps.data + i * s->ps.size, &s->l, &s->o.pre, (float *)r->in[w].data);
    onnxq_status st = onnxq_engine_run(r->engine[w], &r->in[w], 1, err);
    if (st == ONNXQ_OK)
        st = class_scores(r->engine[w], r->m->name, s->ds->classes, scores, n, err);
    if (st == ONNXQ_OK && *n > MAX_CLASSES)
        st = onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: %d outputs (at most %d classes)",
                        r->m->name, *n, MAX_CLASSES);
    if (st == ONNXQ_OK && s->ds->items[i].label >= *n)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: label %d but only %d outputs", r->m->name,
                        s->ds->items[i].label, *n);
    if (st == ONNXQ_OK && r->n && *n != r->n)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: %d outputs for one image, %d for another",
                        r->m->name, *n, r->n);
    return st;
}

/* Slot j of the chunk, on whichever engine is free (team task). */
static void run_slot(void *arg, int64_t index, int worker)
{
    runner *r = arg;
    size_t j = r->first + (size_t)index;
    if (r->failed[worker] != SIZE_MAX) /* this engine already failed at an earlier slot */
        return;
    const float *sc;
    int n;
    if (run_image(r, worker, r->chunk[j], &sc, &n, &r->errors[worker]) != ONNXQ_OK) {
        r->failed[worker] = j;
        return;
    }
    memcpy(r->scores + j * (size_t)r->n, sc, (size_t)n * sizeof *sc);
}

/* Every decoded image of the scorer's set through m, `step` called on each
 * in image order. */
static onnxq_status run_images(onnxq_scorer *s, onnxq_model *m, image_step *step, void *ctx,
                               onnxq_error *err)
{
    runner r;
    onnxq_status st = runner_init(&r, s, m, err);
    if (st != ONNXQ_OK)
        return st;
    team *t = r.engines > 1 ? team_create(r.engines) : NULL;
    if (r.engines > 1 && !t)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: cannot start %d threads", m->name, r.engines);
    size_t chunk[RUN_CHUNK], k = 0;
    r.chunk = chunk;
    for (size_t i = 0; st == ONNXQ_OK && i < s->ds->n;) {
        size_t len = 0;
        for (; i < s->ds->n && len < RUN_CHUNK; i++)
            if (s->ps.state[i] == CACHE_DECODED)
                chunk[len++] = i;
        if (!len)
            break;
        r.first = 0;
        if (!r.scores) { /* the first image gives the number of scores */
            const float *sc;
            int n;
            if ((st = run_image(&r, 0, chunk[0], &sc, &n, err)) != ONNXQ_OK)
                break;
            r.n = n;
            if (!(r.scores = malloc(RUN_CHUNK * (size_t)n * sizeof *r.scores))) {
                st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
                break;
            }
            memcpy(r.scores, sc, (size_t)n * sizeof *sc);
            r.first = 1;
        }
        for (int w = 0; w < r.engines; w++)
            r.failed[w] = SIZE_MAX;
        team_run(t, (int64_t)(len - r.first), run_slot, &r);
        size_t bad = SIZE_MAX;
        for (int w = 0; w < r.engines; w++)
            if (r.failed[w] < bad) {
                bad = r.failed[w];
                *err = r.errors[w];
                st = err->status;
            }
        for (size_t j = 0; st == ONNXQ_OK && j < len; j++)
            st = step(ctx, k++, chunk[j], r.scores + j * (size_t)r.n, r.n, err);
    }
    team_free(t);
    runner_free(&r);
    return st;
}

/* log sum_c exp(logp[c] / t) */
static double log_sum_exp(const float *logp, int n, double t)
{
    double mx = -INFINITY, z = 0;
    for (int c = 0; c < n; c++)
        mx = fmax(mx, logp[c] / t);
    for (int c = 0; c < n; c++)
        z += exp(logp[c] / t - mx);
    return mx + log(z);
}

/* The reference's mean negative log-likelihood of the labels at temperature t. */
static double label_nll(const onnxq_scorer *s, double t)
{
    double sum = 0;
    for (size_t k = 0, i = 0; i < s->ds->n; i++) {
        if (s->ps.state[i] != CACHE_DECODED)
            continue;
        const float *lp = s->ref_logp + k++ * (size_t)s->classes;
        int y = s->ds->items[i].label;
        sum += log_sum_exp(lp, s->classes, t) - lp[y] / t;
    }
    return sum / (double)s->scored;
}

/* Temperature scaling (Guo et al., "On calibration of modern neural
 * networks", 2017): the one t that makes softmax(logp / t) best predict
 * the labels, by golden-section search over log t.  A model's expected
 * accuracy under these probabilities is what expected_drop compares. */
static void calibrate(onnxq_scorer *s)
{
    const double g = (sqrt(5.0) - 1) / 2;
    double a = log(0.05), b = log(20), c = b - g * (b - a), d = a + g * (b - a);
    double fc = label_nll(s, exp(c)), fd = label_nll(s, exp(d));
    for (int it = 0; it < 40; it++) {
        if (fc < fd) {
            b = d, d = c, fd = fc;
            c = b - g * (b - a);
            fc = label_nll(s, exp(c));
        } else {
            a = c, c = d, fc = fd;
            d = a + g * (b - a);
            fd = label_nll(s, exp(d));
        }
    }
    s->temperature = exp((a + b) / 2);
    for (size_t k = 0; k < s->scored; k++)
        s->ref_logz[k] = log_sum_exp(s->ref_logp + k * (size_t)s->classes, s->classes,
                                     s->temperature);
}

/* The reference's answer on scored image k (image i of the set). */
typedef struct reference_run {
    onnxq_scorer *s;
    const char *name;
    double *lp;
} reference_run;

static onnxq_status keep_reference(void *ctx, size_t k, size_t i, const float *sc, int n,
                                   onnxq_error *err)
{
    reference_run *run = ctx;
    onnxq_scorer *s = run->s;
    if (!s->ref_logp) {
        s->classes = n;
        s->ref_logp = malloc(s->scored * (size_t)n * sizeof *s->ref_logp + 1);
        s->ref_top5 = malloc((s->scored + 1) * 5 * sizeof *s->ref_top5);
        s->ref_hit = malloc(s->scored + 1);
        s->ref_logz = malloc((s->scored + 1) * sizeof *s->ref_logz);
        run->lp = malloc((size_t)n * sizeof *run->lp);
        if (!s->ref_logp || !s->ref_top5 || !s->ref_hit || !s->ref_logz || !run->lp)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", run->name);
    }
    log_probs(sc, n, run->lp);
    for (int c = 0; c < n; c++)
        s->ref_logp[k * (size_t)n + c] = (float)run->lp[c];
    int rank = rank_of(sc, n, s->ds->items[i].label);
    s->ref_hit[k] = (signed char)(rank < 1 ? 1 : rank < 5 ? -5 : 0);
    best_classes(sc, n, 5, s->ref_top5 + 5 * k);
    return ONNXQ_OK;
}

static onnxq_status score_reference(onnxq_scorer *s, onnxq_model *ref, onnxq_error *err)
{
    s->weight_bytes = weight_bytes(ref);
    reference_run run = { .s = s, .name = ref->name };
    onnxq_status st = run_images(s, ref, keep_reference, &run, err);
    free(run.lp);
    if (st == ONNXQ_OK)
        calibrate(s);
    return st;
}

onnxq_status onnxq_scorer_create(onnxq_model *model, onnxq_dataset *ds,
                                 const onnxq_eval_options *o, onnxq_scorer **out,
                                 onnxq_error *err)
{
    *out = NULL;
    onnxq_scorer *s = calloc(1, sizeof *s);
    if (!s)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    s->ds = ds;
    s->o = *o;
    s->threads = o->threads > 0 ? o->threads : engine_default_threads();
    onnxq_status st = layout_of(model, ds, &s->l, err);
    if (st == ONNXQ_OK && ds->kind == DATASET_JPEG && o->pre.crop && o->pre.crop != s->l.height)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: crop %d does not fit the input's %dx%d",
                        model->name, o->pre.crop, s->l.height, s->l.width);
    if (st == ONNXQ_OK && ds->kind == DATASET_JPEG &&
        (s->l.height != s->l.width || o->pre.resize < s->l.height))
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                        "%s: a %dx%d input needs a square crop within resize %d", model->name,
                        s->l.height, s->l.width, o->pre.resize);
    if (st == ONNXQ_OK &&
        !(s->input = malloc((size_t)s->l.channels * s->l.height * s->l.width * sizeof(float))))
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    double t0 = monotonic_seconds();
    if (st == ONNXQ_OK)
        st = get_pixels(ds, o, s->l.height, s->threads, &s->ps, err);
    s->decode_seconds = monotonic_seconds() - t0;
    s->scored = ds->n - s->ps.failed;
    if (st == ONNXQ_OK && !s->scored)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no image could be read (%s)", ds->source,
                        s->ps.first_failure);
    if (st == ONNXQ_OK && o->reference)
        st = score_reference(s, o->reference, err);
    if (st != ONNXQ_OK) {
        onnxq_scorer_free(s);
        return st;
    }
    *out = s;
    return onnxq_ok(err);
}

void onnxq_scorer_free(onnxq_scorer *s)
{
    if (!s)
        return;
    free(s->ps.data);
    free(s->ps.state);
    free(s->input);
    free(s->ref_logp);
    free(s->ref_top5);
    free(s->ref_hit);
    free(s->ref_logz);
    free(s);
}

/* What a candidate does to each image, against the reference. */
typedef struct comparison {
    double kl;
    size_t agree;
    size_t lost1, gained1, lost5, gained5;  /* images right only in the reference, only in the candidate */
    double ed1, ed1_sq, ed5, ed5_sq;        /* expected losses, and their squares */
} comparison;

/* The reference's calibrated probability of class c on scored image k. */
static double ref_prob(const onnxq_scorer *s, size_t k, int c)
{
    return exp(s->ref_logp[k * (size_t)s->classes + c] / s->temperature - s->ref_logz[k]);
}

static void compare_image(const onnxq_scorer *s, size_t k, const float *sc, const double *lp,
                          int rank, comparison *cmp)
{
    const int n = s->classes;
    const float *ref = s->ref_logp + k * (size_t)n;
    const int *ref5 = s->ref_top5 + 5 * k;
    double d = 0;
    for (int c = 0; c < n; c++)
        d += exp((double)ref[c]) * ((double)ref[c] - lp[c]);
    cmp->kl += d;
    int top5[5];
    best_classes(sc, n, 5, top5);
    cmp->agree += top5[0] == ref5[0];
    int ref1 = s->ref_hit[k] >= 1, ref5_hit = ref1 || s->ref_hit[k] == -5;
    cmp->lost1 += ref1 && rank >= 1;
    cmp->gained1 += !ref1 && rank < 1;
    cmp->lost5 += ref5_hit && rank >= 5;
    cmp->gained5 += !ref5_hit && rank < 5;
    /* The accuracy the reference's calibrated probabilities expect of
     * each model's answer, the reference's minus the candidate's: zero
     * where they agree, small where a near tie flipped. */
    double e1 = top5[0] == ref5[0] ? 0 : ref_prob(s, k, ref5[0]) - ref_prob(s, k, top5[0]);
    double e5 = 0;
    for (int j = 0; j < 5; j++)
        e5 += ref_prob(s, k, ref5[j]) - ref_prob(s, k, top5[j]);
    cmp->ed1 += e1;
    cmp->ed1_sq += e1 * e1;
    cmp->ed5 += e5;
    cmp->ed5_sq += e5 * e5;
}

void paired_difference(size_t lost, size_t gained, size_t n, double *diff, double *lo, double *hi)
{
    if (!n) {
        *diff = *lo = *hi = NAN;
        return;
    }
    /* Agresti and Min (2005): the Wald interval of a paired difference
     * with half an image added to each discordant count, which keeps its
     * coverage near 95 % when few images changed (and no interval of
     * width 0 when none did). */
    double b = (double)lost + 0.5, c = (double)gained + 0.5, m = (double)n + 2;
    double d = (b - c) / m, se = sqrt(fmax(b + c - (b - c) * (b - c) / m, 0)) / m;
    *diff = 100.0 * ((double)lost - (double)gained) / (double)n;
    *lo = 100.0 * (d - 1.959963984540054 * se);
    *hi = 100.0 * (d + 1.959963984540054 * se);
}

static void fill_comparison(const onnxq_scorer *s, const comparison *cmp, size_t k,
                            onnxq_eval_result *r)
{
    double n = (double)k;
    size_t rt1 = 0, rt5 = 0;
    for (size_t j = 0; j < k; j++) {
        rt1 += s->ref_hit[j] >= 1;
        rt5 += s->ref_hit[j] >= 1 || s->ref_hit[j] == -5;
    }
    r->agreement = 100.0 * (double)cmp->agree / n;
    r->kl = cmp->kl / n;
    r->ref_top1 = 100.0 * (double)rt1 / n;
    r->ref_top5 = 100.0 * (double)rt5 / n;
    r->top1_lost = cmp->lost1;
    r->top1_gained = cmp->gained1;
    r->top5_lost = cmp->lost5;
    r->top5_gained = cmp->gained5;
    paired_difference(cmp->lost1, cmp->gained1, k, &r->top1_diff, &r->top1_diff_lo,
                      &r->top1_diff_hi);
    paired_difference(cmp->lost5, cmp->gained5, k, &r->top5_diff, &r->top5_diff_lo,
                      &r->top5_diff_hi);
    double m1 = cmp->ed1 / n, m5 = cmp->ed5 / n;
    r->expected_top1_drop = 100.0 * m1;
    r->expected_top5_drop = 100.0 * m5;
    r->expected_top1_drop_se = k > 1 ? 100.0 * sqrt(fmax(cmp->ed1_sq / n - m1 * m1, 0) / (n - 1)) : NAN;
    r->expected_top5_drop_se = k > 1 ? 100.0 * sqrt(fmax(cmp->ed5_sq / n - m5 * m5, 0) / (n - 1)) : NAN;
    r->temperature = s->temperature;
}

static void clear_comparison(onnxq_eval_result *r)
{
    r->agreement = r->kl = r->ref_top1 = r->ref_top5 = NAN;
    r->top1_diff = r->top1_diff_lo = r->top1_diff_hi = NAN;
    r->top5_diff = r->top5_diff_lo = r->top5_diff_hi = NAN;
    r->expected_top1_drop = r->expected_top5_drop = NAN;
    r->expected_top1_drop_se = r->expected_top5_drop_se = r->temperature = NAN;
}

/* A candidate's run: its hits, and how it compares with the reference. */
typedef struct candidate_run {
    onnxq_scorer *s;
    const char *name;
    double *lp;
    size_t top1, top5;
    comparison cmp;
} candidate_run;

static onnxq_status compare_candidate(void *ctx, size_t k, size_t i, const float *sc, int n,
                                      onnxq_error *err)
{
    candidate_run *run = ctx;
    onnxq_scorer *s = run->s;
    if (s->ref_logp && n != s->classes)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: %d outputs, the reference has %d",
                          run->name, n, s->classes);
    if (s->ref_logp && !run->lp && !(run->lp = malloc((size_t)n * sizeof *run->lp)))
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", run->name);
    int rank = rank_of(sc, n, s->ds->items[i].label);
    run->top1 += rank < 1;
    run->top5 += rank < 5;
    if (s->o.on_image)
        report_image(&s->o, s->ds, i, sc, n);
    if (s->ref_logp) {
        log_probs(sc, n, run->lp);
        /* Rounded as the reference's were stored: identical outputs give a
         * KL of exactly 0. */
        for (int c = 0; c < n; c++)
            run->lp[c] = (float)run->lp[c];
        if (s->logp_hook)
            s->logp_hook(s->logp_ctx, k, run->lp, n);
        compare_image(s, k, sc, run->lp, rank, &run->cmp);
    }
    if (s->o.progress)
        s->o.progress(s->o.progress_ctx, i + 1, s->ds->n);
    return ONNXQ_OK;
}

onnxq_status onnxq_scorer_run(onnxq_scorer *s, onnxq_model *m, onnxq_eval_result *r,
                              onnxq_error *err)
{
    memset(r, 0, sizeof *r);
    clear_comparison(r);
    r->decode_seconds = s->decode_seconds;
    r->cache_hit = s->ps.cache_hit;
    r->failed = s->ps.failed;
    memcpy(r->first_failure, s->ps.first_failure, sizeof r->first_failure);
    double t0 = monotonic_seconds();
    candidate_run run = { .s = s, .name = m->name };
    onnxq_status st = run_images(s, m, compare_candidate, &run, err);
    free(run.lp);
    r->run_seconds = monotonic_seconds() - t0;
    if (st != ONNXQ_OK)
        return st;
    if (s->o.progress)
        s->o.progress(s->o.progress_ctx, s->ds->n, s->ds->n);
    size_t k = s->scored;
    r->images = k;
    r->top1 = 100.0 * (double)run.top1 / (double)k;
    r->top5 = 100.0 * (double)run.top5 / (double)k;
    if (s->ref_logp)
        fill_comparison(s, &run.cmp, k, r);
    return onnxq_ok(err);
}

onnxq_status scorer_observe(onnxq_scorer *s, onnxq_model *m, size_t images, engine_observer fn,
                            void *ctx, size_t *ran, onnxq_error *err)
{
    *ran = 0;
    onnxq_engine *e;
    onnxq_tensor_view in;
    onnxq_status st = engine_for(s, m, s->threads, s->input, &e, &in, err);
    if (st != ONNXQ_OK)
        return st;
    engine_set_observer(e, fn, ctx);
    size_t want = images && images < s->scored ? images : s->scored;
    /* The k-th readable image for k = j * scored / want: every class of a
     * class-ordered set gets its share. */
    for (size_t i = 0, k = 0, j = 0; st == ONNXQ_OK && i < s->ds->n && j < want; i++) {
        if (s->ps.state[i] != CACHE_DECODED)
            continue;
        if (k++ != j * s->scored / want)
            continue;
        j++;
        to_input(s->ps.data + i * s->ps.size, &s->l, &s->o.pre, s->input);
        st = onnxq_engine_run(e, &in, 1, err);
        if (st == ONNXQ_OK)
            ++*ran;
    }
    onnxq_engine_free(e);
    return st;
}

onnxq_status onnxq_evaluate(onnxq_model *m, onnxq_dataset *ds, const onnxq_eval_options *o,
                            onnxq_eval_result *r, onnxq_error *err)
{
    onnxq_scorer *s;
    memset(r, 0, sizeof *r);
    onnxq_status st = onnxq_scorer_create(m, ds, o, &s, err);
    if (st != ONNXQ_OK)
        return st;
    st = onnxq_scorer_run(s, m, r, err);
    onnxq_scorer_free(s);
    return st;
}
