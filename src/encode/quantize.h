/* quantize.h: weights to quantizer indices (decode/quant.h rebuilds them). */
#ifndef ONNXQ_QUANTIZE_H
#define ONNXQ_QUANTIZE_H

#include "decode/quant.h"

/* Fill the data-dependent parameters (mu-law peak, minifloat scale, int
 * scales, the Laplacian reconstruction point when recon < 0) from the weights.
 * Returns 0, or -1 when out of memory. */
int quant_prepare(quant_params *p, const float *w, size_t n);

/* Indices of w[0..n).  Returns 0, or -1 when an index would reach
 * QUANT_MAX_INDEX (the step is too small for these weights) or w holds a
 * NaN or an infinity. */
int quant_encode(const quant_params *p, const float *w, size_t n, int32_t *q);

/* The same for a slice of a tensor whose first element is element `first`
 * (it decides the channel of per-channel scales). */
int quant_encode_at(const quant_params *p, const float *w, uint64_t first, size_t n, int32_t *q);

/* The Laplacian centroid of a bin of width step, from its inner edge, in
 * steps, for a Laplacian of scale b (mean absolute value). */
double laplace_centroid(double step, double b);

#endif
