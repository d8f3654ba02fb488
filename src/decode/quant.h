/* quant.h: the scalar quantizers' parameters, and rebuilding values from
 * their indices (encode/quantize.h computes the indices).
 *
 * Reconstruction (index to value) uses only exactly rounded IEEE double
 * operations (+, -, *, /, ldexp) in a fixed order, so it gives the same
 * float on every machine; mu-law's exponential is computed here for that
 * reason rather than by the C library. */
#ifndef ONNXQ_QUANT_H
#define ONNXQ_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "onnxq/common.h"

#define QUANT_MAX_INDEX (1 << 30) /* |index| stays below this */

typedef struct quant_params {
    onnxq_quantizer kind;
    double step;   /* midrise, midtread, deadzone: the step; mulaw: the step of the companded value */
    double sigma;  /* deadzone: half-width of the zero bin, in steps (0.5 for midtread) */
    double recon;  /* deadzone and midtread: where in a bin values are rebuilt, in steps
                      from its inner edge (0.5: the middle) */
    double mu, log1p_mu, peak; /* mulaw */
    int exp_bits, man_bits, scale_exp; /* float: values are minifloat * 2^scale_exp */
    int int_bits, symmetric;           /* int */
    /* Per-channel scales (int): channel of element i is (i / inner) % channels. */
    uint32_t channels;
    uint64_t inner;
    float *scales;
    int32_t *zero_points; /* int, asymmetric: the encoder's zero points (not stored) */
} quant_params;

/* Values of indices q[0..n). */
void quant_decode(const quant_params *p, const int32_t *q, size_t n, float *out);

/* The same for a slice of a tensor whose first element is element `first`
 * (it decides the channel of per-channel scales). */
void quant_decode_at(const quant_params *p, const int32_t *q, uint64_t first, size_t n,
                     float *out);

/* The value of the nonnegative index a for the sign-magnitude quantizers
 * (midtread, dead-zone, mu-law, minifloat); index -a is its negation. */
float quant_magnitude_value(const quant_params *p, uint32_t a);

/* A minifloat bit pattern's value (without the tensor's scale). */
double minifloat_value(const quant_params *p, uint32_t pattern);

/* Free what the encoder allocated in p (the int scales and zero points). */
void quant_free(quant_params *p);

/* exp(x) for 0 <= x < 700 with a fixed sequence of IEEE operations. */
double det_exp(double x);

#endif
