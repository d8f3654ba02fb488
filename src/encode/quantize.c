/* quantize.c: weights to quantizer indices (the encoder's half of the
 * quantizers; decode/quant.c rebuilds values from indices). */
#include "config.h"
#include "quantize.h"
#include "fit.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

double laplace_centroid(double step, double b)
{
    if (!(b > 0) || !(step > 0))
        return 0.5;
    double t = step / b;
    if (t < 1e-6)
        return 0.5;
    return 1.0 / t - 1.0 / expm1(t);
}

static double peak_abs(const float *w, size_t n)
{
    double m = 0;
    for (size_t i = 0; i < n; i++)
        m = fmax(m, fabs((double)w[i]));
    return m;
}

/* Largest magnitude a minifloat with these fields holds (no infinities). */
static double minifloat_max(int e, int m)
{
    int bias = (1 << (e - 1)) - 1;
    return ldexp((double)((2 << m) - 1), (1 << e) - 1 - bias - m);
}

static int prepare_int(quant_params *p, const float *w, size_t n)
{
    uint32_t C = p->channels ? p->channels : 1;
    uint64_t inner = p->inner ? p->inner : 1;
    if (C == 1)
        inner = n ? n : 1;
    p->channels = C;
    p->inner = inner;
    free(p->scales);
    free(p->zero_points);
    p->scales = malloc(C * sizeof *p->scales);
    p->zero_points = malloc(C * sizeof *p->zero_points);
    double *lo = calloc(C, sizeof *lo), *hi = calloc(C, sizeof *hi);
    if (!p->scales || !p->zero_points || !lo || !hi) {
        free(lo);
        free(hi);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = (uint32_t)((i / inner) % C);
        lo[c] = fmin(lo[c], w[i]);
        hi[c] = fmax(hi[c], w[i]);
    }
    double levels = (1 << p->int_bits) - 1;
    for (uint32_t c = 0; c < C; c++) {
        double s = p->symmetric ? fmax(-lo[c], hi[c]) / ((1 << (p->int_bits - 1)) - 1)
                                : (hi[c] - lo[c]) / levels;
        p->scales[c] = s > 0 && isfinite(s) ? (float)s : 1.0f;
        double zp = nearbyint(-lo[c] / (double)p->scales[c]);
        p->zero_points[c] = (int32_t)(zp < 0 ? 0 : zp > levels ? levels : zp);
    }
    free(lo);
    free(hi);
    return 0;
}

/* Per-channel steps for channels/inner: each channel's step the
 * tensor's times its RMS over the tensor's, to a quarter octave. */
static int prepare_channel_steps(quant_params *p, const float *w, size_t n)
{
    uint32_t C = p->channels;
    uint64_t inner = p->inner ? p->inner : 1;
    double *sq = calloc(C + 1, sizeof *sq), total = 0;
    free(p->chan_exps);
    free(p->chan_steps);
    p->chan_exps = malloc(C + 1);
    p->chan_steps = malloc((C + 1) * sizeof *p->chan_steps);
    if (!sq || !p->chan_exps || !p->chan_steps) {
        free(sq);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        double v = (double)w[i] * w[i];
        sq[(i / inner) % C] += v;
        total += v;
    }
    double per = (double)n / C, rms = sqrt(total / (double)n);
    for (uint32_t c = 0; c < C; c++) {
        double r = sqrt(sq[c] / per);
        double e = r > 0 && rms > 0 ? nearbyint(4 * log2(r / rms)) : -127;
        p->chan_exps[c] = (int8_t)(e < -127 ? -127 : e > 127 ? 127 : e);
        p->chan_steps[c] = quant_channel_step(p->step, p->chan_exps[c]);
    }
    free(sq);
    return 0;
}

int quant_prepare(quant_params *p, const float *w, size_t n)
{
    if (p->want_channel_steps && p->channels > 1 && prepare_channel_steps(p, w, n) != 0)
        return -1;
    switch (p->kind) {
    case ONNXQ_QUANT_MIDRISE:
        break;
    case ONNXQ_QUANT_MIDTREAD:
    case ONNXQ_QUANT_DEADZONE:
        if (p->kind == ONNXQ_QUANT_MIDTREAD)
            p->sigma = 0.5;
        if (p->recon < 0) {
            /* The bins are centred on zero; the Laplacian fit supplies the scale. */
            double loc, b;
            if (fit_laplace(w, n, &loc, &b) != 0)
                return -1;
            p->recon = laplace_centroid(p->step, b);
        }
        break;
    case ONNXQ_QUANT_MULAW:
        p->peak = (float)peak_abs(w, n);
        if (!(p->peak > 0))
            p->peak = 1;
        p->log1p_mu = log1p(p->mu);
        break;
    case ONNXQ_QUANT_FLOAT: {
        double peak = peak_abs(w, n), top = minifloat_max(p->exp_bits, p->man_bits);
        int s = 0;
        if (peak > 0) {
            while (ldexp(top, s) < peak)
                s++;
            while (ldexp(top, s - 1) >= peak)
                s--;
        }
        p->scale_exp = s;
        break;
    }
    case ONNXQ_QUANT_INT:
        return prepare_int(p, w, n);
    case ONNXQ_QUANT_NONE:
        break;
    }
    return 0;
}

static int32_t minifloat_pattern(const quant_params *p, double x)
{
    int e = p->exp_bits, m = p->man_bits, bias = (1 << (e - 1)) - 1;
    int32_t top = (1 << (e + m)) - 1;
    x = ldexp(x, -p->scale_exp);
    double min_normal = ldexp(1.0, 1 - bias);
    double pattern;
    if (x < min_normal) {
        pattern = nearbyint(ldexp(x, bias - 1 + m));
    } else {
        int ex;
        double f = frexp(x, &ex); /* x = f 2^ex, f in [0.5, 1) */
        int E = ex - 1 + bias;
        double mant = nearbyint(ldexp(2 * f - 1, m));
        pattern = ldexp((double)E, m) + mant;
    }
    return pattern > top ? top : (int32_t)pattern;
}

static int32_t clamp_i32(double v, double lo, double hi)
{
    return (int32_t)(v < lo ? lo : v > hi ? hi : v);
}

int quant_encode(const quant_params *p, const float *w, size_t n, int32_t *q)
{
    return quant_encode_at(p, w, 0, n, q);
}

/* The step of element i: its channel's, or the tensor's. */
static inline double step_of(const quant_params *p, uint64_t i)
{
    return p->chan_steps ? (double)p->chan_steps[i / p->inner % p->channels] : p->step;
}

int quant_encode_at(const quant_params *p, const float *w, uint64_t first, size_t n, int32_t *q)
{
    const double limit = QUANT_MAX_INDEX - 1;
    for (size_t i = 0; i < n; i++) {
        double x = w[i];
        if (!isfinite(x))
            return -1;
        double a = fabs(x), idx;
        switch (p->kind) {
        case ONNXQ_QUANT_MIDRISE:
            idx = floor(x / step_of(p, first + i));
            if (fabs(idx) > limit)
                return -1;
            q[i] = (int32_t)idx;
            continue;
        case ONNXQ_QUANT_MIDTREAD:
        case ONNXQ_QUANT_DEADZONE: {
            double t = a / step_of(p, first + i);
            idx = t <= p->sigma ? 0 : floor(t - p->sigma) + 1;
            break;
        }
        case ONNXQ_QUANT_MULAW: {
            double y = log1p(p->mu * a / p->peak) / p->log1p_mu;
            idx = floor(y / p->step + 0.5);
            break;
        }
        case ONNXQ_QUANT_FLOAT:
            idx = minifloat_pattern(p, a);
            break;
        case ONNXQ_QUANT_INT: {
            uint32_t c = p->channels > 1 ? (uint32_t)((first + i) / p->inner % p->channels) : 0;
            double r = nearbyint(x / (double)p->scales[c]);
            /* Indices are relative to the zero point, so 0.0 is index 0. */
            double lo = p->symmetric ? -((1 << (p->int_bits - 1)) - 1) : -p->zero_points[c];
            double hi = p->symmetric ? -lo : ((1 << p->int_bits) - 1) - p->zero_points[c];
            q[i] = clamp_i32(r, lo, hi);
            continue;
        }
        default:
            return -1;
        }
        if (idx > limit)
            return -1;
        q[i] = x < 0 ? -(int32_t)idx : (int32_t)idx;
    }
    return 0;
}
