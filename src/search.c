/* search.c: compressing and scoring; the smallest file within an accuracy drop.
 *
 * The search gives each weight tensor its own step.  It first measures how
 * sensitive the network's output is to each tensor: quantize that tensor
 * alone at a reference step and measure the KL divergence of the outputs
 * from the original's on a few images.  Modelling a tensor's added KL as
 * a_t s^2 (quantization noise power) and its rate as n_t (h_t - log2 s)
 * (high-rate theory), the Lagrangian optimum puts every tensor at the same
 * slope: s_t = g sqrt(n_t / a_t).  One global factor g is left, found by
 * bisection on the accuracy measured on all the scorer's images; the
 * smallest file that passes is kept. */
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

/* Compress m (which this takes over) with o and score it. */
static onnxq_status compress_and_score(onnxq_model *m, const onnxq_compress_options *o,
                                       onnxq_scorer *scorer, size_t max_images, onnxq_point *p,
                                       onnxq_model **keep, onnxq_compress_report **report,
                                       onnxq_error *err)
{
    memset(p, 0, sizeof *p);
    if (keep)
        *keep = NULL;
    if (report)
        *report = NULL;
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
        memset(p, 0, sizeof *p);
        if (keep)
            *keep = NULL;
        if (report)
            *report = NULL;
        return st;
    }
    return compress_and_score(m, o, scorer, max_images, p, keep, report, err);
}

/* ---- The max-drop search ----------------------------------------------------------- */

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
    size_t images = s->o->calibration_images ? s->o->calibration_images : 100;
    onnxq_status st = rounding_collect(s->original, s->scorer, images, &s->rounding, err);
    if (st != ONNXQ_OK)
        return st;
    size_t covered = 0, candidates = 0;
    for (size_t i = 0; i < s->n; i++) {
        candidates += s->candidate[i] != 0;
        covered += s->candidate[i] && rounding_covers(s->rounding, i);
    }
    say(s, "error-feedback rounding for %zu of %zu tensors (inputs of %zu images)", covered,
        candidates, images);
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

/* Score the allocation at log2g; keep it when it passes and is the
 * smallest so far. */
static onnxq_status try_scale(search *s, double log2g, int *ok, onnxq_model **best,
                              onnxq_compress_report **best_report, onnxq_point *best_point,
                              double *best_steps, onnxq_error *err)
{
    double *steps = malloc((s->n + 1) * sizeof *steps);
    if (!steps)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", s->original->name);
    steps_for(s, log2g, steps);
    onnxq_point p;
    onnxq_model *m = NULL;
    onnxq_compress_report *r = NULL;
    onnxq_status st = trial(s, steps, 0, &p, &m, &r, err);
    if (st == ONNXQ_OK) {
        *ok = passes(s, &p);
        say(s, "scale 2^%-7.3f %.3f b/w coded, %llu bytes: top-1 %.2f (drop %.2f), top-5 %.2f (drop %.2f)%s",
            log2g, p.coded_bpw, (unsigned long long)p.file_bytes, p.eval.top1,
            p.eval.ref_top1 - p.eval.top1, p.eval.top5, p.eval.ref_top5 - p.eval.top5,
            *ok ? "  ok" : "");
        if (*ok && (!*best || p.file_bytes < best_point->file_bytes)) {
            onnxq_model_free(*best);
            onnxq_compress_report_free(*best_report);
            *best = m;
            *best_report = r;
            *best_point = p;
            memcpy(best_steps, steps, s->n * sizeof *steps);
            m = NULL;
            r = NULL;
        }
    }
    onnxq_model_free(m);
    onnxq_compress_report_free(r);
    free(steps);
    return st;
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
    search s = { .original = original, .scorer = scorer, .o = o, .n = original->n_tensors };
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

    /* Bracket: from a fine allocation (median step 1/8 of the Laplacian
     * scale) coarsen by factors of 2 until the drop is exceeded, then
     * bisect between the last pass and the first failure. */
    double lo = log2g_for(&s, 0.125), hi = lo;
    int ok = 0, have_pass = 0;
    for (int k = 0; st == ONNXQ_OK && k < 8; k++) {
        st = try_scale(&s, hi, &ok, best, best_report, &res->best, res->steps, err);
        if (st != ONNXQ_OK || !ok)
            break;
        have_pass = 1;
        lo = hi;
        hi += 1;
    }
    if (st == ONNXQ_OK && !have_pass) {
        /* Even the fine allocation fails: go finer. */
        for (int k = 0; st == ONNXQ_OK && k < 6 && !ok; k++) {
            hi = lo;
            lo -= 2;
            st = try_scale(&s, lo, &ok, best, best_report, &res->best, res->steps, err);
        }
        have_pass = ok;
    }
    for (int k = 0; st == ONNXQ_OK && have_pass && k < 6 && hi - lo > 0.02; k++) {
        double mid = (lo + hi) / 2;
        st = try_scale(&s, mid, &ok, best, best_report, &res->best, res->steps, err);
        if (ok)
            lo = mid;
        else
            hi = mid;
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
