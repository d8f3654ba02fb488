/* graph.h: small edits of a model's graph (for folding): who reads a
 * value, adding and dropping initializers, removing nodes.  Callers run
 * model_reindex once their edits are done. */
#ifndef ONNXQ_GRAPH_H
#define ONNXQ_GRAPH_H

#include "onnx_io.h"

/* How many node inputs and graph outputs read the value `name`. */
size_t graph_readers(const Onnx__GraphProto *g, const char *name);

/* The node that writes `name`, or (size_t)-1. */
size_t graph_writer(const Onnx__GraphProto *g, const char *name);

/* Append a float initializer (raw data copied); the index must be rebuilt. */
onnxq_status graph_add_float_initializer(onnxq_model *m, const char *name, int rank,
                                         const int64_t *dims, const float *values,
                                         onnxq_error *err);

/* Remove node k (freed). */
void graph_remove_node(Onnx__GraphProto *g, size_t k);

/* Remove the initializer `name` when nothing reads it any more (and its
 * graph input entry, for models that list initializers as inputs). */
void graph_drop_if_unread(Onnx__GraphProto *g, const char *name);

#endif
