/* gram.h: the Gram matrices of a layer's inputs, for error-feedback
 * rounding (rounding.h): H = sum of x x^T over the vectors each output
 * of the layer sees.  They come from the tensors the engine hands its
 * observer; the layer's geometry from the node's attributes. */
#ifndef ONNXQ_GRAM_H
#define ONNXQ_GRAM_H

#include <stdint.h>
#include "onnx.pb-c.h"
#include "onnxq/engine.h"

/* h (k x k, symmetric, double) += the Gram matrix of k-long vectors: the
 * columns of a (k rows of m, row stride lda) when columns is set, else its
 * rows (m rows of k, row stride lda).  acc is k x k floats of scratch. */
void gram_accumulate(double *h, const float *a, int64_t k, int64_t m, int64_t lda, int columns,
                     float *acc);

/* For a 2-D Conv node with input x (N, C, H, W) and weight w (M, C/group,
 * kh, kw): for each group g, gram[g] (kk x kk, kk = C/group kh kw) gains
 * P P^T, P being the group's im2col matrix of every image of x.  Returns
 * 0, 1 when the node's geometry is one this does not take (it is then
 * left alone), or -1 when out of memory.  *columns grows by the columns
 * of P added (images times output positions). */
int gram_conv(const Onnx__NodeProto *node, const onnxq_tensor_view *x,
              const onnxq_tensor_view *w, double *gram, double *columns);

#endif
