/* scorer.h: the scorer's prepared images, for the library's other modules. */
#ifndef ONNXQ_SCORER_H
#define ONNXQ_SCORER_H

#include "engine.h"
#include "onnxq/eval.h"

/* Run m on `images` of the scorer's images, spread evenly over the set
 * (all of them when 0 or more than there are), with `fn` watching every
 * node.  Returns the number of images run in *ran. */
onnxq_status scorer_observe(onnxq_scorer *s, onnxq_model *m, size_t images, engine_observer fn,
                            void *ctx, size_t *ran, onnxq_error *err);

#endif
