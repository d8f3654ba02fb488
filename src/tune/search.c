/* search.c: compressing and scoring; the smallest file within an accuracy drop.
 *
 * The max-drop search keeps three sets of images apart (protocol in
 * docs/ACCURACY.md):
 *   - calibration images give the statistics: the layers' input Gram
 *     matrices for error-feedback rounding, and each tensor's sensitivity;
 *   - decision images choose the operating point;
 *   - verification images, never seen before, give the figures reported.
 * By default one image set is split so (spread over the classes,
 * deterministic for a seed); a separate set can verify instead.
 *
 * Each weight tensor gets its own step.  Its sensitivity a_t is the
 * output KL with that tensor alone quantized at a reference step, per
 * squared step.  Modelling the added KL as a_t s^2 and the rate as
 * n_t (h_t - log2 s) (high-rate theory), the Lagrangian optimum puts every
 * tensor at the same slope: s_t = g sqrt(n_t / a_t).  One global factor g
 * is left, and the decision images choose it.
 *
 * They choose it on the expected drop rather than the measured one.  On
 * 500 images a top-1 difference of 1 point is noise, and the largest g
 * whose measured drop happens to pass is a lucky draw that other images do
 * not repeat.  The expected drop (eval.h) counts the same flips weighted
 * by how near a tie they were under the reference's calibrated
 * probabilities; its standard error is a fraction of the measured drop's.
 * The search takes the coarsest g whose expected drop, plus 1.645
 * standard errors, stays within the target, a share of the allowed drop
 * (SEARCH_TARGET_SHARE) that leaves room for the noise of any one test
 * set and for images unlike the decision images. */
#include "config.h"
#include "dataset.h"
#include "common/error.h"
#include "encode/fit.h"
#include "model/onnx_io.h"
#include "onnxq/search.h"
#include "rounding.h"
#include "compress/fold.h"

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
                                       onnxq_scorer *scorer, onnxq_point *p, onnxq_model **keep,
                                       onnxq_compress_report **report, onnxq_error *err)
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
        p->file_bpp = r->parameters ? 8.0 * (double)packed_size / (double)r->parameters : NAN;
        st = onnxq_scorer_run(scorer, m, &p->eval, err);
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
                                    onnxq_point *p, onnxq_model **keep,
                                    onnxq_compress_report **report, onnxq_error *err)
{
    onnxq_model *m;
    onnxq_status st = onnxq_model_from_memory(bytes, size, name, NULL, &m, err);
    if (st != ONNXQ_OK) {
        clear_outputs(p, keep, report);
        return st;
    }
    return compress_and_score(m, o, scorer, p, keep, report, err);
}

/* ---- The max-drop search ----------------------------------------------------------- */

/* The expected drop allowed, as a share of the drop asked for. */
#define SEARCH_TARGET_SHARE 0.5
/* One-sided 95 %: the expected drop's estimate may be this many standard errors low. */
#define SEARCH_Z 1.645
/* Images of the calibration part the sensitivity pass runs (each tensor
 * once); the rounding statistics take them all. */
#define SENSITIVITY_IMAGES 128
#define MAX_RECORDS 48

typedef struct record {
    double log2g;
    double ed[2], se[2];  /* expected top-1 and top-5 drops and their standard errors */
    double bound;         /* the larger of ed + SEARCH_Z se */
} record;

typedef struct search {
    onnxq_model *reference;  /* the model as given */
    onnxq_model *original;   /* its copy with the affine nodes folded: what is quantized */
    uint64_t parameters;     /* the reference's: what bits per parameter divide by */
    const onnxq_search_options *o;
    onnxq_scorer *sensitivity, *calibration, *decision, *verification;
    void *bytes;
    size_t size;
    size_t n;                /* initializers */
    int *candidate;          /* quantized by the search */
    double *elements, *scale, *weight; /* n_t, Laplacian scale b_t, sqrt(n_t / a_t) */
    rounding_stats *rounding; /* NULL: round to nearest */
    size_t trials;
    record records[MAX_RECORDS]; /* every allocation scored on the decision images */
    size_t n_records;
    onnxq_search_result *res;
} search;

static void say(const search *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void say(const search *s, const char *fmt, ...)
{
    if (!s->o->log)
        return;
    char line[1024];
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

static onnxq_status trial(search *s, const double *steps, onnxq_scorer *scorer, onnxq_point *p,
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
    return compress_and_score(m, &o, scorer, p, keep, report, err);
}

/* a_t: the output KL with tensor t alone quantized at the reference step,
 * per squared step. */
static onnxq_status measure_sensitivity(search *s, double *sensitivity, onnxq_error *err)
{
    /* In units of the tensor's Laplacian scale: fine enough for the error
     * to act as noise (the s^2 model), coarse enough to move the output. */
    const double reference_step = 0.25;
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
        st = trial(s, steps, s->sensitivity, &p, NULL, NULL, err);
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
    size_t ran;
    onnxq_status st = rounding_collect(s->original, s->calibration, 0, &s->rounding, &ran, err);
    if (st != ONNXQ_OK)
        return st;
    size_t covered = 0, candidates = 0;
    for (size_t i = 0; i < s->n; i++) {
        candidates += s->candidate[i] != 0;
        covered += s->candidate[i] && rounding_covers(s->rounding, i);
    }
    s->res->rounded = covered;
    say(s, "error-feedback rounding for %zu of %zu tensors (inputs of %zu calibration images)",
        covered, candidates, ran);
    return ONNXQ_OK;
}

static void steps_for(const search *s, double log2g, double *steps)
{
    for (size_t i = 0; i < s->n; i++)
        steps[i] = s->candidate[i] ? exp2(log2g) * s->weight[i] : 0;
}

/* The upper bound on the expected drop the search decides on: the larger
 * of top-1's and top-5's. */
static double drop_bound(const onnxq_eval_result *r)
{
    double b1 = r->expected_top1_drop + SEARCH_Z * r->expected_top1_drop_se;
    double b5 = r->expected_top5_drop + SEARCH_Z * r->expected_top5_drop_se;
    return b1 > b5 ? b1 : b5;
}

/* Score the allocation at log2g on the decision images and record it. */
static onnxq_status probe(search *s, double log2g, onnxq_error *err)
{
    double *steps = malloc((s->n + 1) * sizeof *steps);
    if (!steps)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", s->original->name);
    steps_for(s, log2g, steps);
    onnxq_point p;
    onnxq_status st = trial(s, steps, s->decision, &p, NULL, NULL, err);
    free(steps);
    if (st != ONNXQ_OK)
        return st;
    record *r = &s->records[s->n_records < MAX_RECORDS ? s->n_records++ : MAX_RECORDS - 1];
    const onnxq_eval_result *e = &p.eval;
    r->log2g = log2g;
    r->ed[0] = e->expected_top1_drop;
    r->ed[1] = e->expected_top5_drop;
    r->se[0] = e->expected_top1_drop_se;
    r->se[1] = e->expected_top5_drop_se;
    r->bound = drop_bound(e);
    int passed = r->bound <= s->res->target;
    say(s, "scale 2^%-7.3f %.3f b/w coded, %.3f bits/parameter: expected drop top-1 %.2f +- %.2f, "
           "top-5 %.2f +- %.2f (measured %.2f, %.2f), KL %.4f%s",
        log2g, p.coded_bpw, 8.0 * (double)p.file_bytes / (double)s->parameters, e->expected_top1_drop, e->expected_top1_drop_se,
        e->expected_top5_drop, e->expected_top5_drop_se, e->top1_diff, e->top5_diff, e->kl,
        passed ? "  within" : "");
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

static const record *last(const search *s) { return &s->records[s->n_records - 1]; }

/* Probe at factors of 2 from `start` until two neighbouring scales
 * straddle the target (*lo within, *hi beyond), then at quarters between
 * them.  *found is 0 when even the finest scale tried is beyond it. */
static onnxq_status bracket(search *s, double start, double *lo, double *hi, int *found,
                            onnxq_error *err)
{
    const double target = s->res->target;
    onnxq_status st = probe(s, start, err);
    int within = st == ONNXQ_OK && last(s)->bound <= target;
    double g = start;
    *found = 0;
    for (int k = 0; st == ONNXQ_OK && k < 10; k++) {
        double next = within ? g + 1 : g - 1;
        if ((st = probe(s, next, err)) != ONNXQ_OK)
            break;
        int next_within = last(s)->bound <= target;
        if (next_within != within) {
            *lo = within ? g : next;
            *hi = within ? next : g;
            *found = 1;
            break;
        }
        g = next;
    }
    if (st == ONNXQ_OK && !*found && within) {
        *lo = *hi = g; /* within at the coarsest scale tried */
        *found = 1;
        return st;
    }
    for (int q = 1; st == ONNXQ_OK && *found && q < 4; q++)
        st = probe(s, *lo + 0.25 * q, err);
    return st;
}

/* The scale at which the expected drops, smoothed over the probes, meet
 * the target.  A single probe's expected drop carries the luck of which
 * near ties its rounding happened to flip; across scales it follows a
 * power of the step (about the square, as the KL does), so a line
 * through log(ed) against log2 g over the probes near the bracket is a
 * steadier estimate.  The bound adds SEARCH_Z relative standard errors
 * (their median over those probes).  Clamped to [lo, hi]. */
static double fitted_scale(const search *s, double lo, double hi)
{
    double best = hi;
    for (int m = 0; m < 2; m++) {
        double sx = 0, sy = 0, sxx = 0, sxy = 0, rel[MAX_RECORDS];
        size_t k = 0;
        for (size_t i = 0; i < s->n_records; i++) {
            const record *r = &s->records[i];
            if (!(r->ed[m] > 0) || r->log2g < lo - 1 - 1e-9 || r->log2g > hi + 1e-9)
                continue;
            double x = r->log2g, y = log(r->ed[m]);
            sx += x, sy += y, sxx += x * x, sxy += x * y;
            rel[k++] = r->se[m] / r->ed[m];
        }
        double g = lo;
        double det = (double)k * sxx - sx * sx;
        if (k >= 2 && det > 1e-12) {
            double slope = ((double)k * sxy - sx * sy) / det, icept = (sy - slope * sx) / (double)k;
            qsort(rel, k, sizeof *rel, cmp_double);
            double r = k % 2 ? rel[k / 2] : (rel[k / 2 - 1] + rel[k / 2]) / 2;
            if (slope > 0)
                g = (log(s->res->target / (1 + SEARCH_Z * r)) - icept) / slope;
            else
                g = hi; /* flat: the drop does not grow with the step here */
        }
        if (g < best)
            best = g;
    }
    return best < lo ? lo : best > hi ? hi : best;
}

/* A copy of m, its affine nodes folded when `fold`. */
static onnxq_status folded_copy(onnxq_model *m, int fold, onnxq_model **copy, size_t *folded,
                                onnxq_error *err)
{
    void *bytes;
    size_t size;
    *copy = NULL;
    *folded = 0;
    onnxq_status st = onnxq_model_serialize(m, &bytes, &size, err);
    if (st == ONNXQ_OK)
        st = onnxq_model_from_memory(bytes, size, m->name, NULL, copy, err);
    free(bytes);
    if (st == ONNXQ_OK && fold)
        st = fold_affine(*copy, folded, err);
    return st;
}

/* The three parts of the images, and a scorer for each. */
static onnxq_status make_scorers(search *s, onnxq_dataset *images, onnxq_dataset *validate,
                                 const onnxq_eval_options *eval, onnxq_dataset **parts,
                                 onnxq_error *err)
{
    const onnxq_search_options *o = s->o;
    double shares[3] = { o->calibration_share, o->decision_share, 0 };
    if (!(shares[0] > 0))
        shares[0] = validate ? 0.35 : 0.25;
    if (!(shares[1] > 0))
        shares[1] = validate ? 0.65 : 0.45;
    shares[2] = validate ? 0 : 1 - shares[0] - shares[1];
    size_t nparts = validate ? 2 : 3;
    onnxq_status st = onnxq_dataset_split(images, nparts, shares, o->seed, parts, err);
    if (st != ONNXQ_OK)
        return st;
    if (validate)
        parts[2] = NULL;
    onnxq_dataset *verify = validate ? validate : parts[2];
    if (!parts[0]->n || !parts[1]->n || !verify->n)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "%s: too few images to calibrate, decide and verify apart",
                          images->source);
    double sens_share = parts[0]->n > SENSITIVITY_IMAGES
                            ? (double)SENSITIVITY_IMAGES / (double)parts[0]->n : 1;
    st = onnxq_dataset_split(parts[0], 1, &sens_share, o->seed, &parts[3], err);
    onnxq_eval_options eo = *eval;
    eo.reference = s->reference;
    eo.progress = NULL;
    eo.on_image = NULL;
    onnxq_dataset *of[4] = { parts[3], parts[0], parts[1], verify };
    onnxq_scorer **to[4] = { &s->sensitivity, &s->calibration, &s->decision, &s->verification };
    for (int k = 0; k < 4 && st == ONNXQ_OK; k++)
        st = onnxq_scorer_create(s->reference, of[k], &eo, to[k], err);
    onnxq_search_result *res = s->res;
    if (st == ONNXQ_OK) {
        onnxq_dataset_describe(parts[0], res->calibration_images, sizeof res->calibration_images);
        onnxq_dataset_describe(parts[1], res->decision_images, sizeof res->decision_images);
        onnxq_dataset_describe(verify, res->verification_images, sizeof res->verification_images);
        say(s, "images: calibration %s; decision %s; verification %s", res->calibration_images,
            res->decision_images, res->verification_images);
    }
    return st;
}

onnxq_status onnxq_search_max_drop(onnxq_model *original, onnxq_dataset *images,
                                   onnxq_dataset *validate, const onnxq_eval_options *eval,
                                   const onnxq_search_options *o, onnxq_model **best,
                                   onnxq_compress_report **best_report, onnxq_search_result *res,
                                   onnxq_error *err)
{
    memset(res, 0, sizeof *res);
    *best = NULL;
    *best_report = NULL;
    if (!(o->max_drop >= 0))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "the accuracy drop must be 0 or more");
    /* The search works on the model with its affine nodes folded (the
     * tensors it steps are those), the original is the reference. */
    search s = { .reference = original, .o = o, .res = res };
    for (size_t i = 0; i < original->n_tensors; i++)
        s.parameters += original->tensors[i].elements;
    res->target = SEARCH_TARGET_SHARE * o->max_drop;
    onnxq_dataset *parts[4] = { NULL, NULL, NULL, NULL };
    size_t folded = 0;
    onnxq_status st = folded_copy(original, o->base.fold, &s.original, &folded, err);
    if (st == ONNXQ_OK) {
        s.n = s.original->n_tensors;
        st = make_scorers(&s, images, validate, eval, parts, err);
    }
    if (st == ONNXQ_OK)
        st = onnxq_model_serialize(s.original, &s.bytes, &s.size, err);
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
    if (st == ONNXQ_OK && folded)
        say(&s, "folded %zu BatchNormalization, Mul and Add nodes into the layers before them", folded);
    if (st == ONNXQ_OK)
        st = pick_candidates(&s, err);
    if (st == ONNXQ_OK && o->error_feedback)
        st = collect_statistics(&s, err);
    if (st == ONNXQ_OK)
        st = measure_sensitivity(&s, res->sensitivity, err);

    double lo = 0, hi = 0;
    int found = 0;
    if (st == ONNXQ_OK)
        st = bracket(&s, log2g_for(&s, 0.125), &lo, &hi, &found, err);
    if (st == ONNXQ_OK && found) {
        double g = fitted_scale(&s, lo, hi);
        say(&s, "chosen scale 2^%.3f (from the line through the expected drops)", g);
        steps_for(&s, g, res->steps);
        st = trial(&s, res->steps, s.decision, &res->decision, NULL, NULL, err);
    }
    if (st == ONNXQ_OK && found)
        st = trial(&s, res->steps, s.verification, &res->best, best, best_report, err);
    if (st == ONNXQ_OK && *best_report) {
        (*best_report)->original_parameters = s.parameters;
        (*best_report)->folded_nodes = folded;
        res->best.file_bpp = 8.0 * (double)res->best.file_bytes / (double)s.parameters;
        res->decision.file_bpp = res->best.file_bpp;
    }
    if (st == ONNXQ_OK && !*best)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                        "%s: no allocation kept the expected drop within %.2f points on these images",
                        original->name, res->target);
    res->trials = s.trials;
    free(s.bytes);
    free(s.candidate);
    free(s.elements);
    free(s.scale);
    free(s.weight);
    rounding_free(s.rounding);
    onnxq_model_free(s.original);
    onnxq_scorer_free(s.sensitivity);
    onnxq_scorer_free(s.calibration);
    onnxq_scorer_free(s.decision);
    onnxq_scorer_free(s.verification);
    for (int k = 0; k < 4; k++)
        onnxq_dataset_free(parts[k]);
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
