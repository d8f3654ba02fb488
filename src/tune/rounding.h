/* rounding.h: error-feedback rounding of weight tensors (GPTQ).
 *
 * Rounding each weight to its nearest level treats a layer's errors as
 * independent, but they add up in each output through the layer's inputs,
 * which are strongly correlated.  Given the Gram matrix H of a layer's
 * inputs (sum of x x^T over calibration images), the rounding error of
 * one weight can be compensated by moving the weights not yet rounded
 * along H^-1, which keeps the layer's output error (W - Q) H (W - Q)^T
 * small (Frantar et al., "GPTQ", 2023, after Hassibi and Stork's Optimal
 * Brain Surgeon).  The levels stay the quantizer's own, so the coded file
 * needs nothing new: the rounded weights are written back as floats on the
 * grid and compression finds exactly those indices again. */
#ifndef ONNXQ_ROUNDING_H
#define ONNXQ_ROUNDING_H

#include "onnxq/eval.h"
#include "decode/quant.h"

typedef struct rounding_stats rounding_stats;

/* Gather H for the float weight of every Conv, Gemm and MatMul of model,
 * running up to `images` of the scorer's images (the number run in *ran),
 * and factor it. */
onnxq_status rounding_collect(onnxq_model *model, onnxq_scorer *scorer, size_t images,
                              rounding_stats **out, size_t *ran, onnxq_error *err);
void rounding_free(rounding_stats *r);

/* Nonzero when initializer i can be rounded with error feedback. */
int rounding_covers(const rounding_stats *r, size_t i);

/* In `model` (a copy of the one the statistics came from), replace each
 * covered float tensor whose steps[i] is above 0 by its error-feedback
 * rounding under the quantizer o gives it at that step. */
onnxq_status rounding_apply(const rounding_stats *r, onnxq_model *model,
                            const onnxq_compress_options *o, const double *steps,
                            onnxq_error *err);

/* The core, for tests: round the rows x cols matrix w (row-major, rows
 * rounded independently) given the cols x cols Gram matrix of its inputs,
 * summed from `samples` input vectors (0: not known, H taken as it is),
 * with the prepared quantizer qp.  Returns 0, or -1 when out of memory,
 * when H cannot be factored or a weight has no level. */
int rounding_round_matrix(float *w, int64_t rows, int64_t cols, const double *gram,
                          double samples, const quant_params *qp);

#endif
