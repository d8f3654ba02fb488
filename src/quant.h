/* quant.h: scalar quantizers: weights to integer indices and back.
 *
 * Reconstruction (index to value) uses only exactly rounded IEEE double
 * operations (+, -, *, /, ldexp) in a fixed order, so it gives the same
 * float on every machine; mu-law's exponential is computed here for that
 * reason rather than by the C library. */
#ifndef ONNXQ_QUANT_H
#define ONNXQ_QUANT_H

#include <stddef.h>
#include <stdint.h>
#include "onnxq/onnxq.h"

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

/* Fill the data-dependent parameters (mu-law peak, minifloat scale, int
 * scales, the Laplacian reconstruction point when recon < 0) from the weights.
 * Returns 0, or -1 when out of memory. */
int quant_prepare(quant_params *p, const float *w, size_t n);

/* Indices of w[0..n).  Returns 0, or -1 when an index would reach
 * QUANT_MAX_INDEX (the step is too small for these weights) or w holds a
 * NaN or an infinity. */
int quant_encode(const quant_params *p, const float *w, size_t n, int32_t *q);

/* Values of indices q[0..n). */
void quant_decode(const quant_params *p, const int32_t *q, size_t n, float *out);

/* The same for a slice of a tensor whose first element is element `first`
 * (it decides the channel of per-channel scales). */
int quant_encode_at(const quant_params *p, const float *w, uint64_t first, size_t n, int32_t *q);
void quant_decode_at(const quant_params *p, const int32_t *q, uint64_t first, size_t n,
                     float *out);

void quant_free(quant_params *p);

/* The Laplacian centroid of a bin of width step, from its inner edge, in
 * steps, for a Laplacian of scale b (mean absolute value). */
double laplace_centroid(double step, double b);

/* exp(x) for 0 <= x < 700 with a fixed sequence of IEEE operations. */
double det_exp(double x);

#endif
