/* eval.c: scoring a model on a dataset, and the preprocessed-image cache.
 *
 * The images are first brought to 8-bit pixels (decoded, resized and
 * cropped in parallel, or read back from the cache), then converted to the
 * model's input convention one at a time and run through the engine.  The
 * cache holds the 8-bit crops, so one cache serves every preset. */
#include "config.h"
#include "dataset.h"
#include "engine.h"
#include "error.h"
#include "fileio.h"
#include "onnx_io.h"
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
    size_t failed;     /* images that did not */
    int cache_hit;     /* read back from the cache */
    char first_failure[512];
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

static void decode_all(const onnxq_dataset *ds, int resize, int crop, int threads,
                       pixel_set *ps)
{
    (void)threads;
#pragma omp parallel for num_threads(threads) schedule(dynamic, 4)
    for (size_t i = 0; i < ds->n; i++) {
        onnxq_error e;
        ps->ok[i] = dataset_load_pixels(ds, i, resize, crop, ps->data + i * ps->size, &e) ==
                    ONNXQ_OK;
        if (!ps->ok[i]) {
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
        ps->cache_hit = 1;
    } else {
        decode_all(ds, o->pre.resize, crop, threads, ps);
        if (use_cache && path)
            cache_store(o->cache_dir, path, ps);
    }
    free(path);
    for (size_t i = 0; i < ps->n; i++)
        ps->failed += !ps->ok[i];
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
     * argmax and top-1/top-5 hits. */
    int classes;
    float *ref_logp;
    int *ref_best;
    signed char *ref_hit;  /* per scored image: 1 top-1, -5 top-5 only, 0 neither */
    size_t scored;
};

static onnxq_status engine_for(onnxq_scorer *s, onnxq_model *m, onnxq_engine **e,
                               onnxq_tensor_view *in, onnxq_error *err)
{
    input_layout l;
    onnxq_status st = layout_of(m, s->ds, &l, err);
    if (st != ONNXQ_OK)
        return st;
    if (l.height != s->l.height || l.width != s->l.width || l.nhwc != s->l.nhwc ||
        l.channels != s->l.channels)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: takes a different input from %s", m->name,
                          s->ds->source);
    onnxq_engine_options eo = { .threads = s->threads };
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
    in->data = s->input;
    return ONNXQ_OK;
}

/* Run image i (already in s->input); the class scores. */
static onnxq_status run_image(onnxq_engine *e, onnxq_tensor_view *in, const char *name,
                              int classes, int label, const float **scores, int *n,
                              onnxq_error *err)
{
    onnxq_status st = onnxq_engine_run(e, in, 1, err);
    if (st == ONNXQ_OK)
        st = class_scores(e, name, classes, scores, n, err);
    if (st == ONNXQ_OK && *n > MAX_CLASSES)
        st = onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: %d outputs (at most %d classes)", name, *n,
                        MAX_CLASSES);
    if (st == ONNXQ_OK && label >= *n)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: label %d but only %d outputs", name, label,
                        *n);
    return st;
}

static onnxq_status score_reference(onnxq_scorer *s, onnxq_model *ref, onnxq_error *err)
{
    onnxq_engine *e;
    onnxq_tensor_view in;
    onnxq_status st = engine_for(s, ref, &e, &in, err);
    if (st != ONNXQ_OK)
        return st;
    double *lp = NULL;
    for (size_t i = 0, k = 0; st == ONNXQ_OK && i < s->ds->n; i++) {
        if (!s->ps.ok[i])
            continue;
        const float *sc;
        int n;
        to_input(s->ps.data + i * s->ps.size, &s->l, &s->o.pre, s->input);
        st = run_image(e, &in, ref->name, s->ds->classes, s->ds->items[i].label, &sc, &n, err);
        if (st != ONNXQ_OK)
            break;
        if (!s->ref_logp) {
            s->classes = n;
            s->ref_logp = malloc((s->ds->n - s->ps.failed) * (size_t)n * sizeof *s->ref_logp + 1);
            s->ref_best = malloc((s->ds->n + 1) * sizeof *s->ref_best);
            s->ref_hit = malloc(s->ds->n + 1);
            lp = malloc((size_t)n * sizeof *lp);
            if (!s->ref_logp || !s->ref_best || !s->ref_hit || !lp) {
                st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", ref->name);
                break;
            }
        }
        log_probs(sc, n, lp);
        for (int c = 0; c < n; c++)
            s->ref_logp[k * (size_t)n + c] = (float)lp[c];
        int rank = rank_of(sc, n, s->ds->items[i].label);
        s->ref_hit[k] = (signed char)(rank < 1 ? 1 : rank < 5 ? -5 : 0);
        s->ref_best[k++] = argmax(sc, n);
    }
    free(lp);
    onnxq_engine_free(e);
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
    free(s->ps.ok);
    free(s->input);
    free(s->ref_logp);
    free(s->ref_best);
    free(s->ref_hit);
    free(s);
}

onnxq_status onnxq_scorer_run(onnxq_scorer *s, onnxq_model *m, onnxq_eval_result *r,
                              onnxq_error *err)
{
    return onnxq_scorer_run_some(s, m, 0, r, err);
}

onnxq_status onnxq_scorer_run_some(onnxq_scorer *s, onnxq_model *m, size_t max_images,
                                   onnxq_eval_result *r, onnxq_error *err)
{
    memset(r, 0, sizeof *r);
    r->agreement = r->kl = r->ref_top1 = r->ref_top5 = NAN;
    r->decode_seconds = s->decode_seconds;
    r->cache_hit = s->ps.cache_hit;
    r->failed = s->ps.failed;
    memcpy(r->first_failure, s->ps.first_failure, sizeof r->first_failure);
    onnxq_engine *e;
    onnxq_tensor_view in;
    onnxq_status st = engine_for(s, m, &e, &in, err);
    if (st != ONNXQ_OK)
        return st;
    double t0 = monotonic_seconds(), kl = 0, *lp = NULL;
    size_t top1 = 0, top5 = 0, agree = 0, k = 0;
    size_t limit = max_images ? max_images : s->scored;
    for (size_t i = 0; st == ONNXQ_OK && i < s->ds->n && k < limit; i++) {
        if (s->ps.ok[i]) {
            const float *sc;
            int n;
            to_input(s->ps.data + i * s->ps.size, &s->l, &s->o.pre, s->input);
            st = run_image(e, &in, m->name, s->ds->classes, s->ds->items[i].label, &sc, &n, err);
            if (st == ONNXQ_OK && s->ref_logp && n != s->classes)
                st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: %d outputs, the reference has %d",
                                m->name, n, s->classes);
            if (st == ONNXQ_OK && s->ref_logp && !lp &&
                !(lp = malloc((size_t)n * sizeof *lp)))
                st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
            if (st != ONNXQ_OK)
                break;
            int rank = rank_of(sc, n, s->ds->items[i].label);
            top1 += rank < 1;
            top5 += rank < 5;
            if (s->o.on_image && !max_images)
                report_image(&s->o, s->ds, i, sc, n);
            if (s->ref_logp) {
                const float *ref = s->ref_logp + k * (size_t)n;
                log_probs(sc, n, lp);
                /* Rounded as the reference's were stored: identical outputs
                 * give a KL of exactly 0. */
                for (int c = 0; c < n; c++)
                    lp[c] = (float)lp[c];
                double d = 0;
                for (int c = 0; c < n; c++)
                    d += exp((double)ref[c]) * ((double)ref[c] - lp[c]);
                kl += d;
                agree += argmax(sc, n) == s->ref_best[k];
            }
            k++;
        }
        if (s->o.progress && !max_images)
            s->o.progress(s->o.progress_ctx, i + 1, s->ds->n);
    }
    free(lp);
    onnxq_engine_free(e);
    r->run_seconds = monotonic_seconds() - t0;
    if (st != ONNXQ_OK)
        return st;
    double n = (double)k;
    r->images = k;
    r->top1 = 100.0 * (double)top1 / n;
    r->top5 = 100.0 * (double)top5 / n;
    if (s->ref_logp) {
        size_t rt1 = 0, rt5 = 0;
        for (size_t j = 0; j < k; j++) {
            rt1 += s->ref_hit[j] >= 1;
            rt5 += s->ref_hit[j] >= 1 || s->ref_hit[j] == -5;
        }
        r->agreement = 100.0 * (double)agree / n;
        r->kl = kl / n;
        r->ref_top1 = 100.0 * (double)rt1 / n;
        r->ref_top5 = 100.0 * (double)rt5 / n;
    }
    return onnxq_ok(err);
}

onnxq_status scorer_observe(onnxq_scorer *s, onnxq_model *m, size_t images, engine_observer fn,
                            void *ctx, size_t *ran, onnxq_error *err)
{
    *ran = 0;
    onnxq_engine *e;
    onnxq_tensor_view in;
    onnxq_status st = engine_for(s, m, &e, &in, err);
    if (st != ONNXQ_OK)
        return st;
    engine_set_observer(e, fn, ctx);
    size_t want = images && images < s->scored ? images : s->scored;
    /* The k-th readable image for k = j * scored / want: every class of a
     * class-ordered set gets its share. */
    for (size_t i = 0, k = 0, j = 0; st == ONNXQ_OK && i < s->ds->n && j < want; i++) {
        if (!s->ps.ok[i])
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
