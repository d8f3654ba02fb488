/* compress.h: what other modules share with compression. */
#ifndef ONNXQ_COMPRESS_H
#define ONNXQ_COMPRESS_H

#include "model/onnx_io.h"
#include "decode/quant.h"

#include <regex.h>

/* The quantizer compression gives tensor i of m at `step` under options o
 * (before quant_prepare, which fills what depends on the weights). */
onnxq_status compress_setup_quant(const onnxq_model *m, size_t i, const onnxq_compress_options *o,
                                  double step, quant_params *q, onnxq_error *err);

/* When tensor i of m (its float values) lies on an integer grid that
 * compression keeps exactly (onnxq_compress_options.keep_grids), the
 * grid's median step; else 0. */
double compress_grid_step(const onnxq_model *m, size_t i, const float *values);

/* o->exclude compiled into *re (*have set; regfree it then), or *have 0
 * when there is none: the one place --exclude is parsed, for compression
 * and the search alike. */
onnxq_status compress_exclusion(const onnxq_compress_options *o, regex_t *re, int *have,
                                onnxq_error *err);

/* Whether `name` matches the compiled --exclude (re NULL: none given). */
int compress_excluded(const regex_t *re, const char *name);

#endif
