/* quant.c: rebuilding values from quantizer indices (the decoder's half;
 * encode/quantize.c turns weights into indices). */
#include "config.h"
#include "quant.h"
#include "common/bytes.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

const char *onnxq_quantizer_name(onnxq_quantizer q)
{
    switch (q) {
    case ONNXQ_QUANT_NONE: return "none";
    case ONNXQ_QUANT_MIDRISE: return "midrise";
    case ONNXQ_QUANT_MIDTREAD: return "midtread";
    case ONNXQ_QUANT_DEADZONE: return "deadzone";
    case ONNXQ_QUANT_MULAW: return "mulaw";
    case ONNXQ_QUANT_FLOAT: return "float";
    case ONNXQ_QUANT_INT: return "int";
    }
    return "unknown";
}

double det_exp(double x)
{
    /* x = k ln2 + r with |r| <= ln2/2, then a Taylor polynomial for e^r:
     * degree 13 leaves an error far below one double ulp. */
    static const double ln2_hi = 6.93147180369123816490e-01;
    static const double ln2_lo = 1.90821492927058770002e-10;
    static const double inv_ln2 = 1.44269504088896338700e+00;
    int k = (int)(x * inv_ln2 + 0.5);
    double r = (x - k * ln2_hi) - k * ln2_lo;
    double p = 1.0 / 6227020800.0; /* 1/13! */
    static const double inv_fact[13] = {
        1.0, 1.0, 1.0 / 2, 1.0 / 6, 1.0 / 24, 1.0 / 120, 1.0 / 720, 1.0 / 5040, 1.0 / 40320,
        1.0 / 362880, 1.0 / 3628800, 1.0 / 39916800, 1.0 / 479001600,
    };
    for (int i = 12; i >= 0; i--)
        p = p * r + inv_fact[i];
    return ldexp(p, k);
}

double minifloat_value(const quant_params *p, uint32_t pattern)
{
    int m = p->man_bits, bias = (1 << (p->exp_bits - 1)) - 1;
    uint32_t E = pattern >> m, M = pattern & ((1u << m) - 1);
    double v = E == 0 ? ldexp((double)M, 1 - bias - m)
                      : ldexp((double)((1u << m) + M), (int)E - bias - m);
    return ldexp(v, p->scale_exp);
}

float quant_magnitude_value(const quant_params *p, uint32_t a)
{
    switch (p->kind) {
    case ONNXQ_QUANT_MIDTREAD:
    case ONNXQ_QUANT_DEADZONE:
        /* (sigma + a - 1 + recon) * step for a != 0 */
        return a ? (float)(((double)a + (p->sigma - 1 + p->recon)) * p->step) : 0.0f;
    case ONNXQ_QUANT_MULAW: {
        double y = (double)a * p->step;
        return (float)(p->peak * (det_exp(y * p->log1p_mu) - 1.0) / p->mu);
    }
    case ONNXQ_QUANT_FLOAT:
        return (float)minifloat_value(p, a);
    default:
        return 0.0f;
    }
}

#define LUT_SIZE 1024

float quant_channel_step(double step, int e)
{
    static const double quarter[4] = { 1.0, 0x1.306fe0a31b715p+0, 0x1.6a09e667f3bcdp+0,
                                       0x1.ae89f995ad3adp+0 }; /* 2^(k/4) */
    return (float)ldexp(step * quarter[e & 3], e >> 2);
}

float quant_unit(const quant_params *p, int32_t q)
{
    if (p->kind == ONNXQ_QUANT_MIDRISE)
        return (float)((double)q + 0.5);
    if (!q)
        return 0.0f;
    uint32_t a = q < 0 ? (uint32_t)0 - (uint32_t)q : (uint32_t)q;
    float v = (float)((double)a + (p->sigma - 1 + p->recon));
    return q < 0 ? -v : v;
}

int quant_read_channel_steps(const quant_params *p, float *steps)
{
    bitreader br;
    bitr_init(&br, p->chan_code, p->chan_code_len);
    int e = p->first_exp;
    for (uint32_t c = 0; c < p->channels; c++) {
        if (c) {
            uint32_t z = bitr_expgolomb(&br, 1);
            e += (z & 1) ? -(int)(z >> 1) - 1 : (int)(z >> 1);
        }
        if (br.error || e < -128 || e > 127)
            return -1;
        steps[c] = quant_channel_step(p->step, e);
    }
    return 0;
}

void quant_scale_channels(const quant_params *p, float *out, uint64_t n)
{
    const uint64_t inner = p->inner ? p->inner : 1;
    const uint32_t C = p->channels;
    if (inner == 1) { /* the last axis: one step per column */
        for (uint64_t i = 0; i + C <= n; i += C)
            for (uint32_t c = 0; c < C; c++)
                out[i + c] *= p->chan_steps[c];
        for (uint64_t i = n - n % C; i < n; i++)
            out[i] *= p->chan_steps[i % C];
        return;
    }
    for (uint64_t i = 0; i < n; i += inner) {
        float s = p->chan_steps[(i / inner) % C];
        uint64_t end = n - i < inner ? n : i + inner;
        for (uint64_t j = i; j < end; j++)
            out[j] *= s;
    }
}

void quant_decode_at(const quant_params *p, const int32_t *q, uint64_t first, size_t n,
                     float *out)
{
    if (p->chan_steps) {
        for (size_t i = 0; i < n; i++)
            out[i] = quant_unit(p, q[i]) * p->chan_steps[(first + i) / p->inner % p->channels];
        return;
    }
    if (p->kind != ONNXQ_QUANT_INT) {
        quant_decode(p, q, n, out); /* no channels: where the slice starts does not matter */
        return;
    }
    for (size_t i = 0; i < n; i++) {
        uint32_t c = p->channels > 1 ? (uint32_t)((first + i) / p->inner % p->channels) : 0;
        out[i] = (float)((double)q[i] * (double)p->scales[c]);
    }
}

void quant_decode(const quant_params *p, const int32_t *q, size_t n, float *out)
{
    if (p->chan_steps) {
        quant_decode_at(p, q, 0, n, out);
        return;
    }
    switch (p->kind) {
    case ONNXQ_QUANT_MIDRISE:
        for (size_t i = 0; i < n; i++)
            out[i] = (float)(((double)q[i] + 0.5) * p->step);
        return;
    case ONNXQ_QUANT_MIDTREAD:
    case ONNXQ_QUANT_DEADZONE:
    case ONNXQ_QUANT_MULAW:
    case ONNXQ_QUANT_FLOAT: {
        /* Almost every index is small: look the value up, computed once by
         * the same function that handles the rare large ones. */
        float lut[LUT_SIZE];
        uint32_t filled = n < LUT_SIZE ? (uint32_t)n : LUT_SIZE;
        for (uint32_t a = 0; a < filled; a++)
            lut[a] = quant_magnitude_value(p, a);
        for (size_t i = 0; i < n; i++) {
            /* Signs are random: set the sign bit instead of branching on it. */
            uint32_t v = (uint32_t)q[i], neg = v >> 31;
            uint32_t a = (v ^ (0u - neg)) + neg;
            float r = a < filled ? lut[a] : quant_magnitude_value(p, a);
            uint32_t bits;
            memcpy(&bits, &r, 4);
            bits ^= neg << 31;
            memcpy(&out[i], &bits, 4);
        }
        return;
    }
    case ONNXQ_QUANT_INT:
        quant_decode_at(p, q, 0, n, out);
        return;
    case ONNXQ_QUANT_NONE:
        break;
    }
    memset(out, 0, n * sizeof *out);
}

void quant_free(quant_params *p)
{
    free(p->scales);
    free(p->zero_points);
    free(p->chan_steps);
    free(p->chan_exps);
    p->scales = NULL;
    p->zero_points = NULL;
    p->chan_steps = NULL;
    p->chan_exps = NULL;
}
