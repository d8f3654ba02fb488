/* scorer.h: the scorer's prepared images, for the library's other modules. */
#ifndef ONNXQ_SCORER_H
#define ONNXQ_SCORER_H

#include "engine/engine.h"
#include "onnxq/eval.h"

/* Run m on `images` of the scorer's images, spread evenly over the set
 * (all of them when 0 or more than there are), with `fn` watching every
 * node.  Returns the number of images run in *ran. */
onnxq_status scorer_observe(onnxq_scorer *s, onnxq_model *m, size_t images, engine_observer fn,
                            void *ctx, size_t *ran, onnxq_error *err);

/* Called, when set, with each scored candidate image's log-probabilities
 * (scorers with a reference only). */
typedef void (*scorer_logp_fn)(void *ctx, size_t k, const double *logp, int n);
void scorer_set_logp_hook(onnxq_scorer *s, scorer_logp_fn fn, void *ctx);

/* The paired difference of two accuracies on n images, in points, and
 * its 95 % interval, from the images right only in the first (lost) and
 * only in the second (gained); NaN for n = 0. */
void paired_difference(size_t lost, size_t gained, size_t n, double *diff, double *lo, double *hi);

#endif
