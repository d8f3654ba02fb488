/* search.c: compressing and scoring; the smallest file within an accuracy drop.
 *
 * The search gives each weight tensor its own step.  It first measures how
 * sensitive the network's output is to each tensor: quantize that tensor
 * alone at a reference step and measure the KL divergence of the outputs
 * from the original's on a few images.  Modelling a tensor's added KL as
 * a_t s^2 (quantization noise power) and its rate as n_t (h_t - log2 s)
 * (high-rate theory), the Lagrangian optimum puts every tensor at the same
 * slope: s_t = g sqrt(n_t / a_t).  One global factor g is left.  It is
 * bracketed and bisected on the accuracy measured on all the scorer's
 * images, then again with the trend of the drop against the KL as a
 * second condition (see fit_trend), and the coarsest allocation that
 * meets both is written. */
#include "config.h"
#include "error.h"
#include "fit.h"
#include "onnx_io.h"
#include "onnxq/search.h"
#include "rounding.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void clear_outputs(onnxq_point *p, onnxq_model **keep, onnxq_compress_report **report)
{
    memset(p, 0, sizeof *p);
    if (keep)
        *keep = NULL;
    if (report)
        *report = NULL;
}

/* Compress m (which this takes over) with o and score it. */
static onnxq_status compress_and_score(onnxq_model *m, const onnxq_compress_options *o,
                                       onnxq_scorer *scorer, size_t max_images, onnxq_point *p,
                                       onnxq_model **keep, onnxq_compress_report **report,
                                       onnxq_error *err)
{
    clear_outputs(p, keep, report);
    onnxq_compress_report *r = NULL;
    onnxq_status st = onnxq_compress(m, o, &r, err);
    void *packed = NULL;
    size_t packed_size = 0;
    if (st == ONNXQ_OK)
        st = onnxq_model_serialize(m, &packed, &packed_size, err);
    free(packed);
    if (st == ONNXQ_OK) {
        double q = (double)r->quantized_parameters;
        p->quantized = r->quantized_parameters;
        p->entropy_bpw = q > 0 ? r->quantized_entropy_bits / q : NAN;
        p->coded_bpw = q > 0 ? 8.0 * (double)r->quantized_payload_bytes / q : NAN;
        p->weight_bytes = r->coded_bytes;
        p->file_bytes = packed_size;
        p->ratio = r->coded_bytes ? (double)r->original_bytes / (double)r->coded_bytes : NAN;
        st = onnxq_scorer_run_some(scorer, m, max_images, &p->eval, err);
    }
    if (st == ONNXQ_OK && keep) {
        *keep = m;
        m = NULL;
    }
    if (st == ONNXQ_OK && report) {
        *report = r;
        r = NULL;
    }
    onnxq_compress_report_free(r);
    onnxq_model_free(m);
    return st;
}

onnxq_status onnxq_score_compressed(const void *bytes, size_t size, const char *name,
                                    const onnxq_compress_options *o, onnxq_scorer *scorer,
                                    size_t max_images, onnxq_point *p, onnxq_model **keep,
                                    onnxq_compress_report **report, onnxq_error *err)
{
    onnxq_model *m;
    onnxq_status st = onnxq_model_from_memory(bytes, size, name, NULL, &m, err);
    if (st != ONNXQ_OK) {
        clear_outputs(p, keep, report);
        return st;
    }
    return compress_and_score(m, o, scorer, max_images, p, keep, report, err);
}

/* ---- The max-drop search ----------------------------------------------------------- */

#define MAX_RECORDS 48

typedef struct record {
    double log2g, kl, drop1, drop5;
    int passed;
} record;

typedef struct search {
    onnxq_model *original;
    onnxq_scorer *scorer;
    const onnxq_search_options *o;
    void *bytes;
    size_t size;
    size_t n;                /* initializers */
    int *candidate;          /* quantized by the search */
    double *elements, *scale, *weight; /* n_t, Laplacian scale b_t, sqrt(n_t / a_t) */
    rounding_stats *rounding; /* NULL: round to nearest */
    size_t trials;
    record records[MAX_RECORDS]; /* every allocation scored on all the images */
    size_t n_records;
    onnxq_search_result *res;    /* the trend, the counts and the choice go here */
} search;

static void say(const search *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const search *s, const char *fmt, ...)
{
    if (!s->o->log)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    s->o->log(s->o->log_ctx, line);
}

/* The tensors the base options' rules would quantize. */
static onnxq_status pick_candidates(search *s, onnxq_error *err)
{
    const onnxq_compress_options *b = &s->o->base;
    size_t count = 0;
    for (size_t i = 0; i < s->n; i++) {
        onnxq_tensor_info info;
        onnxq_model_tensor_info(s->original, i, &info);
        s->candidate[i] = onnxq_dtype_is_float(info.dtype) && info.elements >= b->min_size &&
                          info.elements >= 2 && (b->include_1d || info.rank >= 2);
        if (!s->candidate[i])
            continue;
        float *x = malloc(info.elements * sizeof *x + 1);
        double loc, scale;
        if (!x)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", s->original->name);
        onnxq_status st = onnxq_tensor_read_float(s->original, i, x, info.elements, err);
        if (st == ONNXQ_OK && fit_laplace(x, info.elements, &loc, &scale) != 0)
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", s->original->name);
        free(x);
        if (st != ONNXQ_OK)
            return st;
        s->elements[i] = (double)info.elements;
        s->scale[i] = scale > 0 ? scale : 1e-6;
        count++;
    }
    if (!count)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no weight tensor to quantize",
                          s->original->name);
    return ONNXQ_OK;
}

static onnxq_status trial(search *s, const double *steps, size_t images, onnxq_point *p,
                          onnxq_model **keep, onnxq_compress_report **report, onnxq_error *err)
{
    onnxq_compress_options o = s->o->base;
    o.tensor_steps = steps;
    o.n_tensor_steps = s->n;
    o.progress = NULL;
    s->trials++;
    onnxq_model *m;
    onnxq_status st = onnxq_model_from_memory(s->bytes, s->size, s->original->name, NULL, &m, err);
    if (st == ONNXQ_OK && s->rounding)
        st = rounding_apply(s->rounding, m, &o, steps, err);
    if (st != ONNXQ_OK) {
        onnxq_model_free(m);
        return st;
    }
    return compress_and_score(m, &o, s->scorer, images, p, keep, report, err);
}

/* a_t: the output KL with tensor t alone quantized at the reference step,
 * per squared step. */
static onnxq_status measure_sensitivity(search *s, double *sensitivity, onnxq_error *err)
{
    /* In units of the tensor's Laplacian scale: fine enough for the error
     * to act as noise (the s^2 model), coarse enough to move the output. */
    const double reference_step = 0.25;
    size_t images = s->o->calibration_images ? s->o->calibration_images : 100;
    double *steps = malloc((s->n + 1) * sizeof *steps);
    if (!steps)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", s->original->name);
    onnxq_status st = ONNXQ_OK;
    for (size_t t = 0; t < s->n && st == ONNXQ_OK; t++) {
        if (!s->candidate[t])
            continue;
        for (size_t i = 0; i < s->n; i++)
            steps[i] = -1; /* everything else stays as it is */
        steps[t] = reference_step * s->scale[t];
        onnxq_point p;
        st = trial(s, steps, images, &p, NULL, NULL, err);
        if (st != ONNXQ_OK)
            break;
        double kl = p.eval.kl > 1e-12 ? p.eval.kl : 1e-12;
        sensitivity[t] = kl / (steps[t] * steps[t]);
        s->weight[t] = sqrt(s->elements[t] / sensitivity[t]);
        onnxq_tensor_info info;
        onnxq_model_tensor_info(s->original, t, &info);
        say(s, "sensitivity %-32s %9.0f weights  step %.3g  KL %.3g", info.name, s->elements[t],
            steps[t], p.eval.kl);
    }
    free(steps);
    return st;
}

static onnxq_status collect_statistics(search *s, onnxq_error *err)
{
    size_t images = s->o->calibration_images ? s->o->calibration_images : 100, ran;
    onnxq_status st = rounding_collect(s->original, s->scorer, images, &s->rounding, &ran, err);
    if (st != ONNXQ_OK)
        return st;
    size_t covered = 0, candidates = 0;
    for (size_t i = 0; i < s->n; i++) {
        candidates += s->candidate[i] != 0;
        covered += s->candidate[i] && rounding_covers(s->rounding, i);
    }
    s->res->rounded = covered;
    say(s, "error-feedback rounding for %zu of %zu tensors (inputs of %zu images)", covered,
        candidates, ran);
    return ONNXQ_OK;
}

static void steps_for(const search *s, double log2g, double *steps)
{
    for (size_t i = 0; i < s->n; i++)
        steps[i] = s->candidate[i] ? exp2(log2g) * s->weight[i] : 0;
}

static int passes(const search *s, const onnxq_point *p)
{
    const onnxq_eval_result *r = &p->eval;
    return r->ref_top1 - r->top1 <= s->o->max_drop + 1e-9 &&
           r->ref_top5 - r->top5 <= s->o->max_drop + 1e-9;
}

/* Score the allocation at log2g and record the figures. */
static onnxq_status probe(search *s, double log2g, const record **out, onnxq_error *err)
{
    double *steps = malloc((s->n + 1) * sizeof *steps);
    if (!steps)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", s->original->name);
    steps_for(s, log2g, steps);
    onnxq_point p;
    onnxq_status st = trial(s, steps, 0, &p, NULL, NULL, err);
    free(steps);
    if (st != ONNXQ_OK)
        return st;
    record *r = &s->records[s->n_records < MAX_RECORDS ? s->n_records++ : MAX_RECORDS - 1];
    r->log2g = log2g;
    r->kl = p.eval.kl;
    r->drop1 = p.eval.ref_top1 - p.eval.top1;
    r->drop5 = p.eval.ref_top5 - p.eval.top5;
    r->passed = passes(s, &p);
    say(s, "scale 2^%-7.3f %.3f b/w coded, %llu bytes: top-1 %.2f (drop %.2f), top-5 %.2f (drop %.2f), KL %.4f%s",
        log2g, p.coded_bpw, (unsigned long long)p.file_bytes, p.eval.top1, r->drop1, p.eval.top5,
        r->drop5, r->kl, r->passed ? "  ok" : "");
    *out = r;
    return ONNXQ_OK;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* The factor g that puts the median candidate at a step of `units` times
 * its Laplacian scale, as log2. */
static double log2g_for(const search *s, double units)
{
    double *ratio = malloc((s->n + 1) * sizeof *ratio);
    size_t k = 0;
    for (size_t i = 0; ratio && i < s->n; i++)
        if (s->candidate[i])
            ratio[k++] = log2(units * s->scale[i] / s->weight[i]);
    double median = 0;
    if (k) {
        qsort(ratio, k, sizeof *ratio, cmp_double);
        median = ratio[k / 2];
    }
    free(ratio);
    return median;
}

typedef int (*accept_fn)(const search *s, const record *r);

static int measured_pass(const search *s, const record *r)
{
    (void)s;
    return r->passed;
}

static int on_trend(const search *s, const record *r)
{
    return r->passed && r->kl <= s->res->kl_allowed;
}

/* The largest recorded log2g accepted in *lo, the smallest recorded above
 * it in *hi (*lo when none); 0 when no record is accepted. */
static int recorded_bounds(const search *s, accept_fn accept, double *lo, double *hi)
{
    int have = 0;
    for (size_t i = 0; i < s->n_records; i++)
        if (accept(s, &s->records[i]) && (!have || s->records[i].log2g > *lo)) {
            *lo = s->records[i].log2g;
            have = 1;
        }
    if (!have)
        return 0;
    *hi = *lo;
    for (size_t i = 0; i < s->n_records; i++) {
        double g = s->records[i].log2g;
        if (g > *lo && (*hi == *lo || g < *hi))
            *hi = g;
    }
    return 1;
}

/* The largest log2g the allocation is accepted at, to 0.02: from what is
 * recorded, or else from `start` refined by factors of 4 until accepted;
 * coarsened by factors of 2 while accepted, then bisected. */
static onnxq_status search_scale(search *s, accept_fn accept, double start, double *lo,
                                 int *found, onnxq_error *err)
{
    double l = start, h = start;
    const record *r;
    onnxq_status st = ONNXQ_OK;
    int have = recorded_bounds(s, accept, &l, &h);
    for (int k = 0; !have && k < 6 && st == ONNXQ_OK; k++) {
        if ((st = probe(s, l, &r, err)) == ONNXQ_OK && accept(s, r))
            have = 1;
        else {
            h = l;
            l -= 2;
        }
    }
    if (have && h == l)
        for (int k = 0; k < 8 && st == ONNXQ_OK; k++) {
            h = l + 1;
            if ((st = probe(s, h, &r, err)) != ONNXQ_OK || !accept(s, r))
                break;
            l = h;
        }
    for (int k = 0; have && st == ONNXQ_OK && k < 6 && h - l > 0.02; k++) {
        double mid = (l + h) / 2;
        if ((st = probe(s, mid, &r, err)) == ONNXQ_OK && accept(s, r))
            l = mid;
        else
            h = mid;
    }
    *lo = l;
    *found = have;
    return st;
}

/* Accuracy measured on a finite set moves by whole images, and near the
 * limit the flips that cost and those that gain nearly cancel: the
 * largest step that happens to pass is often a lucky one that does not
 * pass on other images.  The expected drop grows smoothly with the output
 * KL, so fit drop = a KL through the trials near the limit (KL up to 3
 * times that of the coarsest pass) and demand KL <= max_drop / a as well. */
static void fit_trend(search *s, double log2g_pass)
{
    double kl_pass = 0, kk = 0, d1 = 0, d5 = 0;
    size_t used = 0;
    for (size_t i = 0; i < s->n_records; i++)
        if (s->records[i].log2g == log2g_pass)
            kl_pass = s->records[i].kl;
    for (size_t i = 0; i < s->n_records; i++) {
        const record *r = &s->records[i];
        if (!(r->kl > 0) || (kl_pass > 0 && r->kl > 3 * kl_pass))
            continue;
        kk += r->kl * r->kl;
        d1 += r->drop1 * r->kl;
        d5 += r->drop5 * r->kl;
        used++;
    }
    double a1 = kk > 0 ? d1 / kk : 0, a5 = kk > 0 ? d5 / kk : 0, a = a1 > a5 ? a1 : a5;
    s->res->kl_allowed = a > 0 ? s->o->max_drop / a : INFINITY;
    s->res->top1_per_kl = a1;
    s->res->top5_per_kl = a5;
    say(s, "trend over %zu trials: top-1 drop %.3g x KL, top-5 drop %.3g x KL; KL allowed %.4g",
        used, a1, a5, s->res->kl_allowed);
}

onnxq_status onnxq_search_max_drop(onnxq_model *original, onnxq_scorer *scorer,
                                   const onnxq_search_options *o, onnxq_model **best,
                                   onnxq_compress_report **best_report, onnxq_search_result *res,
                                   onnxq_error *err)
{
    memset(res, 0, sizeof *res);
    *best = NULL;
    *best_report = NULL;
    if (!(o->max_drop >= 0))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "the accuracy drop must be 0 or more");
    search s = { .original = original, .scorer = scorer, .o = o, .n = original->n_tensors,
                 .res = res };
    onnxq_status st = onnxq_model_serialize(original, &s.bytes, &s.size, err);
    s.candidate = calloc(s.n + 1, sizeof *s.candidate);
    s.elements = calloc(s.n + 1, sizeof *s.elements);
    s.scale = calloc(s.n + 1, sizeof *s.scale);
    s.weight = calloc(s.n + 1, sizeof *s.weight);
    res->n_tensors = s.n;
    res->steps = calloc(s.n + 1, sizeof *res->steps);
    res->sensitivity = calloc(s.n + 1, sizeof *res->sensitivity);
    if (st == ONNXQ_OK && (!s.candidate || !s.elements || !s.scale || !s.weight || !res->steps ||
                           !res->sensitivity))
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", original->name);
    if (st == ONNXQ_OK)
        st = pick_candidates(&s, err);
    if (st == ONNXQ_OK && o->error_feedback)
        st = collect_statistics(&s, err);
    if (st == ONNXQ_OK)
        st = measure_sensitivity(&s, res->sensitivity, err);

    double lo = 0;
    int found = 0;
    if (st == ONNXQ_OK)
        st = search_scale(&s, measured_pass, log2g_for(&s, 0.125), &lo, &found, err);
    if (st == ONNXQ_OK && found) {
        fit_trend(&s, lo);
        st = search_scale(&s, on_trend, lo - 2, &lo, &found, err);
    }
    if (st == ONNXQ_OK && found) {
        steps_for(&s, lo, res->steps);
        st = trial(&s, res->steps, 0, &res->best, best, best_report, err);
    }
    if (st == ONNXQ_OK && !*best)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                        "%s: no allocation kept the drop within %.2f %% on these images",
                        original->name, o->max_drop);
    res->trials = s.trials;
    free(s.bytes);
    free(s.candidate);
    free(s.elements);
    free(s.scale);
    free(s.weight);
    rounding_free(s.rounding);
    if (st != ONNXQ_OK) {
        onnxq_model_free(*best);
        onnxq_compress_report_free(*best_report);
        *best = NULL;
        *best_report = NULL;
        onnxq_search_result_free(res);
        return st;
    }
    return onnxq_ok(err);
}

void onnxq_search_result_free(onnxq_search_result *r)
{
    free(r->steps);
    free(r->sensitivity);
    r->steps = r->sensitivity = NULL;
}
