/* fit.h: distribution fitting inside the library. */
#ifndef ONNXQ_FIT_H
#define ONNXQ_FIT_H

#include <stddef.h>

/* The Laplacian's maximum-likelihood fit: loc = median, scale = mean |x - loc|.
 * Returns -1 when out of memory. */
int fit_laplace(const float *x, size_t n, double *loc, double *scale);

#endif
