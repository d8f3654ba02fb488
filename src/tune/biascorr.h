/* biascorr.h: removing the mean shift rounding adds to a layer's outputs.
 *
 * The rounding error E = Q - W of a layer's weights adds E E[x] to its
 * outputs on average, a shift that does not average out over images and
 * that ReLUs downstream turn into lost accuracy; thin and depthwise layers
 * suffer most.  When the layer's input x is act(BN(y)) in the model as
 * given, the BatchNormalization's shift and scale say its output is about
 * N(beta, gamma^2) per channel, so E[x] is the mean of that normal through
 * the ReLU or Clip, with no image at all; subtracting E E[x] from the bias
 * cancels the shift (Nagel et al., "Data-Free Quantization Through Weight
 * Equalization and Bias Correction", ICCV 2019). */
#ifndef ONNXQ_BIASCORR_H
#define ONNXQ_BIASCORR_H

#include "onnxq/onnxq.h"

typedef struct bias_plan bias_plan;

/* The layers of `folded` (the model with its affine nodes folded) whose
 * bias can be corrected: Conv with a float bias, whose input comes from
 * a Relu or a Clip of a BatchNormalization in `reference` (the model as
 * given).  *plan is NULL when there are none. */
onnxq_status bias_plan_make(onnxq_model *reference, onnxq_model *folded, bias_plan **plan,
                            onnxq_error *err);
void bias_plan_free(bias_plan *plan);
/* Layers planned. */
size_t bias_plan_layers(const bias_plan *plan);

/* In m (a copy of the folded model): each planned weight whose steps[i]
 * is above 0 rounded to the levels compression under o will give it (to
 * nearest, so compression finds the same indices again), and its bias
 * corrected for the rounding error. */
onnxq_status bias_correct(const bias_plan *plan, onnxq_model *m, const onnxq_compress_options *o,
                          const double *steps, onnxq_error *err);

#endif
