/* fit.c: fitting standard densities to weights and scoring them.
 *
 * Estimators (documented in the man page, `onnxq fit`):
 *   laplace      maximum likelihood: loc = median, scale = mean |x - median|
 *   gauss        maximum likelihood: mean, standard deviation (1/n)
 *   cauchy       maximum likelihood by EM (the Student-t scale-mixture
 *                iteration with one degree of freedom), seeded with the
 *                median and half the interquartile range
 *   logistic     moments: loc = mean, scale = sd sqrt(3) / pi
 *   uniform      maximum likelihood: the range
 *   exponential  maximum likelihood with a location: loc = min, scale = mean - min
 *   gamma        moments with a location (mean, variance, skewness)
 *   alpha        with a location: for a given loc, 1/(x - loc) is normal
 *                (truncated at 0), fitted by its mean and deviation; loc is
 *                chosen by a golden-section search on the likelihood
 * The one-sided families (exponential, gamma, alpha) have a location shift,
 * as in scipy.stats, and are fitted to -x, "mirrored", when the data skews
 * left, so they describe the heavier tail.
 *
 * Scores: the histogram spans median +- 4 IQR, clipped to the data's range,
 * with bins of twice the Freedman-Diaconis width (20 to 400 bins).  Each
 * family's bin probabilities are CDF differences, renormalized to the same
 * range as the histogram.  SSE is the sum of squared differences of bin
 * probabilities; KLD is sum P log(P/Q) over bins with P > 0, Q floored at
 * 1e-12 so a family that puts no mass where data lies scores large but
 * finite; empty histogram bins contribute nothing (p log p -> 0).  Ranks
 * follow the scores, except that the three-parameter families (gamma,
 * alpha) must be 2 % better than a two-parameter one to rank ahead of it. */
#include "config.h"
#include "fit.h"
#include "common/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static const char *family_names[ONNXQ_FAMILY_COUNT] = {
    "laplace", "gauss", "cauchy", "logistic", "uniform", "exponential", "gamma", "alpha",
};

const char *onnxq_family_name(onnxq_family f)
{
    return f >= 0 && f < ONNXQ_FAMILY_COUNT ? family_names[f] : "unknown";
}

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Quantile q of sorted s[0..n), linear between order statistics. */
static double quantile(const float *s, size_t n, double q)
{
    double pos = q * (double)(n - 1);
    size_t i = (size_t)pos;
    if (i + 1 >= n)
        return s[n - 1];
    double f = pos - (double)i;
    return s[i] + f * ((double)s[i + 1] - s[i]);
}

static float *sorted_copy(const float *x, size_t n)
{
    float *s = malloc((n + 1) * sizeof *s);
    if (s) {
        memcpy(s, x, n * sizeof *s);
        qsort(s, n, sizeof *s, cmp_float);
    }
    return s;
}

int fit_laplace(const float *x, size_t n, double *loc, double *scale)
{
    if (n == 0) {
        *loc = 0;
        *scale = 0;
        return 0;
    }
    float *s = sorted_copy(x, n);
    if (!s)
        return -1;
    double med = quantile(s, n, 0.5), sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += fabs((double)x[i] - med);
    free(s);
    *loc = med;
    *scale = sum / (double)n;
    return 0;
}

/* ---- Distribution functions ----------------------------------------------- */

static double norm_cdf(double z) { return 0.5 * erfc(-z / M_SQRT2); }
static double norm_pdf(double z) { return exp(-0.5 * z * z) / sqrt(2 * M_PI); }

/* Regularized lower incomplete gamma P(a, x). */
static double gamma_p(double a, double x)
{
    if (x <= 0)
        return 0;
    if (a > 1000) { /* Wilson-Hilferty */
        double z = (cbrt(x / a) - (1 - 1 / (9 * a))) / sqrt(1 / (9 * a));
        return norm_cdf(z);
    }
    double lead = exp(-x + a * log(x) - lgamma(a));
    if (x < a + 1) {
        double term = 1 / a, sum = term;
        for (int k = 1; k < 10000; k++) {
            term *= x / (a + k);
            sum += term;
            if (term < sum * 1e-15)
                break;
        }
        return sum * lead;
    }
    /* Continued fraction for Q (modified Lentz). */
    double b = x + 1 - a, c = 1e300, d = 1 / b, h = d;
    for (int i = 1; i < 10000; i++) {
        double an = -i * (i - a);
        b += 2;
        d = an * d + b;
        if (fabs(d) < 1e-300)
            d = 1e-300;
        c = b + an / c;
        if (fabs(c) < 1e-300)
            c = 1e-300;
        d = 1 / d;
        double delta = d * c;
        h *= delta;
        if (fabs(delta - 1) < 1e-15)
            break;
    }
    return 1 - lead * h;
}

/* One-sided families work on t = distance from loc toward the tail. */
static double one_sided_t(const onnxq_family_fit *f, double x)
{
    return (f->mirrored ? f->loc - x : x - f->loc) / f->scale;
}

static double one_sided_cdf(const onnxq_family_fit *f, double t)
{
    if (t <= 0)
        return 0;
    switch (f->family) {
    case ONNXQ_FAMILY_EXPONENTIAL: return -expm1(-t);
    case ONNXQ_FAMILY_GAMMA: return gamma_p(f->shape, t);
    case ONNXQ_FAMILY_ALPHA: return norm_cdf(f->shape - 1 / t) / norm_cdf(f->shape);
    default: return 0;
    }
}

double onnxq_family_cdf(const onnxq_family_fit *f, double x)
{
    double z = (x - f->loc) / f->scale;
    switch (f->family) {
    case ONNXQ_FAMILY_LAPLACE: return z < 0 ? 0.5 * exp(z) : 1 - 0.5 * exp(-z);
    case ONNXQ_FAMILY_GAUSS: return norm_cdf(z);
    case ONNXQ_FAMILY_CAUCHY: return 0.5 + atan(z) / M_PI;
    case ONNXQ_FAMILY_LOGISTIC: return 1 / (1 + exp(-z));
    case ONNXQ_FAMILY_UNIFORM: return z <= -1 ? 0 : z >= 1 ? 1 : (z + 1) / 2;
    case ONNXQ_FAMILY_EXPONENTIAL:
    case ONNXQ_FAMILY_GAMMA:
    case ONNXQ_FAMILY_ALPHA: {
        double g = one_sided_cdf(f, one_sided_t(f, x));
        return f->mirrored ? 1 - g : g;
    }
    }
    return NAN;
}

double onnxq_family_pdf(const onnxq_family_fit *f, double x)
{
    double z = (x - f->loc) / f->scale, s = f->scale;
    switch (f->family) {
    case ONNXQ_FAMILY_LAPLACE: return 0.5 * exp(-fabs(z)) / s;
    case ONNXQ_FAMILY_GAUSS: return norm_pdf(z) / s;
    case ONNXQ_FAMILY_CAUCHY: return 1 / (M_PI * s * (1 + z * z));
    case ONNXQ_FAMILY_LOGISTIC: {
        double e = exp(-fabs(z));
        return e / (s * (1 + e) * (1 + e));
    }
    case ONNXQ_FAMILY_UNIFORM: return fabs(z) <= 1 ? 0.5 / s : 0;
    case ONNXQ_FAMILY_EXPONENTIAL:
    case ONNXQ_FAMILY_GAMMA:
    case ONNXQ_FAMILY_ALPHA: {
        double t = one_sided_t(f, x);
        if (t <= 0)
            return 0;
        if (f->family == ONNXQ_FAMILY_EXPONENTIAL)
            return exp(-t) / s;
        if (f->family == ONNXQ_FAMILY_GAMMA)
            return exp((f->shape - 1) * log(t) - t - lgamma(f->shape)) / s;
        return norm_pdf(f->shape - 1 / t) / (t * t * norm_cdf(f->shape) * s);
    }
    }
    return NAN;
}

/* ---- Estimators ------------------------------------------------------------ */

typedef struct moments {
    double mean, sd, skew, min, max, median, iqr;
} moments;

static void fit_cauchy(const float *x, size_t n, const moments *mo, onnxq_family_fit *f)
{
    double x0 = mo->median, g = mo->iqr / 2;
    if (!(g > 0)) {
        f->ok = 0;
        return;
    }
    /* One pass per iteration: the weighted second moment about the new
     * centre follows from the sums of w, w x and w x^2. */
    for (int it = 0; it < 200; it++) {
        double sw = 0, swx = 0, swxx = 0;
        for (size_t i = 0; i < n; i++) {
            double v = (double)x[i] - x0, d = v / g;
            double w = 2 / (1 + d * d);
            sw += w;
            swx += w * v;
            swxx += w * v * v;
        }
        double shift = swx / sw; /* the new centre, relative to the old */
        double ng = sqrt(fmax(swxx - 2 * shift * swx + shift * shift * sw, 0) / (double)n);
        int done = fabs(shift) < 1e-9 * ng && fabs(ng - g) < 1e-9 * ng;
        x0 += shift;
        g = ng;
        if (done || !(g > 0))
            break;
    }
    f->loc = x0;
    f->scale = g;
}

/* Moments of the data on the side the one-sided families describe. */
static double side(const onnxq_family_fit *f, double v) { return f->mirrored ? -v : v; }

static void fit_gamma(const moments *mo, onnxq_family_fit *f)
{
    double g = fabs(mo->skew);
    if (g < 1e-3)
        g = 1e-3; /* symmetric data: a very large shape, close to a normal */
    double k = 4 / (g * g), theta = mo->sd * g / 2;
    f->shape = k;
    f->scale = theta;
    f->loc = side(f, side(f, mo->mean) - k * theta);
    f->ok = theta > 0;
}

/* Alpha with location loc: 1/(x - loc) (on the fitted side) ~ N(a/scale, 1/scale^2). */
static double alpha_at(const float *x, size_t n, size_t stride, onnxq_family_fit *f, double loc)
{
    double sum = 0, sum2 = 0;
    size_t m = 0;
    for (size_t i = 0; i < n; i += stride) {
        double t = side(f, x[i]) - loc;
        if (t <= 0)
            return -INFINITY;
        double u = 1 / t;
        sum += u;
        sum2 += u * u;
        m++;
    }
    double mean = sum / (double)m, var = sum2 / (double)m - mean * mean;
    if (!(var > 0))
        return -INFINITY;
    double s = sqrt(var);
    f->scale = 1 / s;
    f->shape = mean / s;
    f->loc = side(f, loc);
    double ll = 0;
    for (size_t i = 0; i < n; i += stride)
        ll += log(onnxq_family_pdf(f, x[i]) + 1e-300);
    return ll;
}

static void fit_alpha(const float *x, size_t n, const moments *mo, onnxq_family_fit *f)
{
    double lowest = f->mirrored ? -mo->max : mo->min;
    double span = mo->iqr > 0 ? mo->iqr : mo->sd;
    if (!(span > 0)) {
        f->ok = 0;
        return;
    }
    /* The search runs on a deterministic subsample of at most 100,000 values. */
    size_t stride = n > 100000 ? n / 100000 : 1;
    /* loc = lowest - span * 10^e, e in [-6, 3]: golden section on e. */
    double a = -6, b = 3, phi = (sqrt(5) - 1) / 2;
    double c = b - phi * (b - a), d = a + phi * (b - a);
    double fc = alpha_at(x, n, stride, f, lowest - span * pow(10, c));
    double fd = alpha_at(x, n, stride, f, lowest - span * pow(10, d));
    for (int it = 0; it < 40; it++) {
        if (fc > fd) {
            b = d;
            d = c;
            fd = fc;
            c = b - phi * (b - a);
            fc = alpha_at(x, n, stride, f, lowest - span * pow(10, c));
        } else {
            a = c;
            c = d;
            fc = fd;
            d = a + phi * (b - a);
            fd = alpha_at(x, n, stride, f, lowest - span * pow(10, d));
        }
    }
    f->ok = isfinite(alpha_at(x, n, 1, f, lowest - span * pow(10, (a + b) / 2)));
}

static void fit_family(onnxq_family fam, const float *x, size_t n, const moments *mo,
                       onnxq_family_fit *f)
{
    memset(f, 0, sizeof *f);
    f->family = fam;
    f->ok = 1;
    f->mirrored = (fam == ONNXQ_FAMILY_EXPONENTIAL || fam == ONNXQ_FAMILY_GAMMA ||
                   fam == ONNXQ_FAMILY_ALPHA) && mo->skew < 0;
    switch (fam) {
    case ONNXQ_FAMILY_LAPLACE: {
        double s = 0;
        for (size_t i = 0; i < n; i++)
            s += fabs((double)x[i] - mo->median);
        f->loc = mo->median;
        f->scale = s / (double)n;
        break;
    }
    case ONNXQ_FAMILY_GAUSS:
        f->loc = mo->mean;
        f->scale = mo->sd;
        break;
    case ONNXQ_FAMILY_CAUCHY:
        fit_cauchy(x, n, mo, f);
        break;
    case ONNXQ_FAMILY_LOGISTIC:
        f->loc = mo->mean;
        f->scale = mo->sd * sqrt(3) / M_PI;
        break;
    case ONNXQ_FAMILY_UNIFORM:
        f->loc = (mo->min + mo->max) / 2;
        f->scale = (mo->max - mo->min) / 2;
        break;
    case ONNXQ_FAMILY_EXPONENTIAL:
        f->loc = f->mirrored ? mo->max : mo->min;
        f->scale = f->mirrored ? mo->max - mo->mean : mo->mean - mo->min;
        break;
    case ONNXQ_FAMILY_GAMMA:
        fit_gamma(mo, f);
        break;
    case ONNXQ_FAMILY_ALPHA:
        fit_alpha(x, n, mo, f);
        break;
    }
    if (!(f->scale > 0) || !isfinite(f->loc))
        f->ok = 0;
}

/* ---- Scoring ----------------------------------------------------------------- */

static void score(const onnxq_fit *h, onnxq_family_fit *f)
{
    f->sse = f->kld = INFINITY;
    if (!f->ok)
        return;
    double width = (h->hi - h->lo) / h->bins;
    double total = onnxq_family_cdf(f, h->hi) - onnxq_family_cdf(f, h->lo);
    if (!(total > 0))
        return;
    double sse = 0, kld = 0, prev = onnxq_family_cdf(f, h->lo);
    for (int i = 0; i < h->bins; i++) {
        double next = onnxq_family_cdf(f, i + 1 == h->bins ? h->hi : h->lo + (i + 1) * width);
        double q = (next - prev) / total, p = h->probability[i];
        prev = next;
        if (q < 0)
            q = 0;
        sse += (p - q) * (p - q);
        if (p > 0)
            kld += p * log(p / (q > 1e-12 ? q : 1e-12));
    }
    f->sse = sse;
    f->kld = kld;
}

static const onnxq_family_fit *rank_fits;
static int rank_by_kld;

static int cmp_rank(const void *a, const void *b)
{
    const onnxq_family_fit *x = &rank_fits[*(const onnxq_family *)a];
    const onnxq_family_fit *y = &rank_fits[*(const onnxq_family *)b];
    double u = rank_by_kld ? x->kld : x->sse, v = rank_by_kld ? y->kld : y->sse;
    /* A third parameter (gamma's and alpha's shape) can always fit noise a
     * little better: such families rank ahead only when 2 % better. */
    u *= x->family == ONNXQ_FAMILY_GAMMA || x->family == ONNXQ_FAMILY_ALPHA ? 1.02 : 1;
    v *= y->family == ONNXQ_FAMILY_GAMMA || y->family == ONNXQ_FAMILY_ALPHA ? 1.02 : 1;
    if (isnan(u))
        u = INFINITY;
    if (isnan(v))
        v = INFINITY;
    if (u != v)
        return u < v ? -1 : 1;
    return (int)x->family - (int)y->family;
}

static void rank(onnxq_fit *r)
{
    for (int by = 0; by < 2; by++) {
        onnxq_family *order = by ? r->by_kld : r->by_sse;
        for (int i = 0; i < ONNXQ_FAMILY_COUNT; i++)
            order[i] = (onnxq_family)i;
        rank_fits = r->fits;
        rank_by_kld = by;
        qsort(order, ONNXQ_FAMILY_COUNT, sizeof *order, cmp_rank);
        for (int i = 0; i < ONNXQ_FAMILY_COUNT; i++) {
            if (by)
                r->fits[order[i]].rank_kld = i + 1;
            else
                r->fits[order[i]].rank_sse = i + 1;
        }
    }
}

static void histogram_range(const float *s, size_t n, const moments *mo, onnxq_fit *r)
{
    double spread = mo->iqr;
    if (!(spread > 0))
        spread = quantile(s, n, 0.999) - quantile(s, n, 0.001);
    if (!(spread > 0))
        spread = mo->max - mo->min;
    r->lo = fmax(mo->min, mo->median - 4 * spread);
    r->hi = fmin(mo->max, mo->median + 4 * spread);
    double fd = 2 * 2 * spread * pow((double)n, -1.0 / 3);
    double bins = fd > 0 ? ceil((r->hi - r->lo) / fd) : 100;
    r->bins = (int)(bins < 20 ? 20 : bins > 400 ? 400 : bins);
}

onnxq_status onnxq_fit_values(const float *x, size_t n, onnxq_fit *r, onnxq_error *err)
{
    memset(r, 0, sizeof *r);
    r->n = n;
    for (size_t i = 0; i < n; i++)
        if (!isfinite(x[i]))
            return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "cannot fit values that are not finite");
    if (n < 2)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "at least two values are needed for a fit");
    float *s = sorted_copy(x, n);
    if (!s)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory");
    moments mo = {0};
    double sum = 0;
    for (size_t i = 0; i < n; i++)
        sum += x[i];
    mo.mean = sum / (double)n;
    double m2 = 0, m3 = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - mo.mean;
        m2 += d * d;
        m3 += d * d * d;
    }
    m2 /= (double)n;
    m3 /= (double)n;
    mo.sd = sqrt(m2);
    mo.skew = m2 > 0 ? m3 / (m2 * mo.sd) : 0;
    mo.min = s[0];
    mo.max = s[n - 1];
    mo.median = quantile(s, n, 0.5);
    mo.iqr = quantile(s, n, 0.75) - quantile(s, n, 0.25);
    if (!(mo.max > mo.min)) {
        free(s);
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "all values are equal: nothing to fit");
    }
    histogram_range(s, n, &mo, r);
    r->probability = calloc((size_t)r->bins, sizeof *r->probability);
    if (!r->probability) {
        free(s);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory");
    }
    double width = (r->hi - r->lo) / r->bins;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < r->lo || s[i] > r->hi)
            continue;
        int b = (int)(((double)s[i] - r->lo) / width);
        r->probability[b < r->bins ? b : r->bins - 1] += 1;
        r->in_range++;
    }
    for (int b = 0; b < r->bins; b++)
        r->probability[b] /= (double)r->in_range;
    free(s);
    for (int f = 0; f < ONNXQ_FAMILY_COUNT; f++) {
        fit_family((onnxq_family)f, x, n, &mo, &r->fits[f]);
        score(r, &r->fits[f]);
    }
    rank(r);
    return ONNXQ_OK;
}

void onnxq_fit_free(onnxq_fit *r)
{
    free(r->probability);
    r->probability = NULL;
}
