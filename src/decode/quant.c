/* quant.c: rebuilding values from quantizer indices (the decoder's half;
 * encode/quantize.c turns weights into indices). */
#include "config.h"
#include "quant.h"

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

void quant_decode_at(const quant_params *p, const int32_t *q, uint64_t first, size_t n,
                     float *out)
{
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
    p->scales = NULL;
    p->zero_points = NULL;
}
