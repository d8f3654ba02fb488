/* fold.h: folding per-channel affine nodes (BatchNormalization, Mul and
 * Add by per-channel constants) into the Conv or Gemm before them, before
 * quantizing: the written graph loses those nodes, and the weights that
 * get quantized are the ones the layer really applies. */
#ifndef ONNXQ_FOLD_H
#define ONNXQ_FOLD_H

#include "model/onnx_io.h"

/* Fold what can be folded exactly (up to float rounding): a node right
 * after a Conv or Gemm whose output, weight and bias nothing else reads.
 * *folded: the nodes removed.  The model's index is rebuilt. */
onnxq_status fold_affine(onnxq_model *m, size_t *folded, onnxq_error *err);

#endif
