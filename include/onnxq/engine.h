/*
 * onnxq/engine.h: the bundled CPU inference engine.
 *
 * The engine runs a model's graph on the CPU.  Compressed models run as
 * they are: the ai.onnxq tensors are decoded in memory when the engine is
 * created (the decompressing loader), nothing is written to disk.
 *
 *     onnxq_engine *e;
 *     if (onnxq_engine_create(model, NULL, &e, &err) == ONNXQ_OK) {
 *         onnxq_tensor_view in = { ONNXQ_DTYPE_FLOAT, 4, {1, 3, 224, 224}, pixels };
 *         onnxq_engine_run(e, &in, 1, &err);
 *         onnxq_tensor_view out;
 *         onnxq_engine_output(e, 0, &out, &err);   // valid until the next run
 *     }
 *
 * The model must outlive its engine and must not be changed while the
 * engine exists.  One engine runs one graph at a time; distinct engines may
 * run in distinct threads.
 */
#ifndef ONNXQ_ENGINE_H
#define ONNXQ_ENGINE_H

#include "onnxq/onnxq.h"

#ifdef __cplusplus
extern "C" {
#endif

/* A tensor passed in or read out: dense, row-major, little-endian. */
typedef struct onnxq_tensor_view {
    int dtype;                      /* onnxq_dtype */
    int rank;
    int64_t dims[ONNXQ_MAX_DIMS];
    void *data;
} onnxq_tensor_view;

typedef struct onnxq_engine_options {
    int threads;   /* worker threads inside operators; 0: one per core */
} onnxq_engine_options;

typedef struct onnxq_engine onnxq_engine;

/* Build an engine for the model: check every node's operator, decode the
 * compressed tensors and convert the initializers.  An operator the engine
 * does not implement fails with ONNXQ_ERR_UNSUPPORTED naming the node. */
ONNXQ_API onnxq_status onnxq_engine_create(onnxq_model *model, const onnxq_engine_options *options,
                                 onnxq_engine **engine, onnxq_error *err);
ONNXQ_API void onnxq_engine_free(onnxq_engine *engine);

/* The graph inputs the caller provides (those without an initializer), in
 * order; and the graph outputs. */
ONNXQ_API size_t onnxq_engine_input_count(const onnxq_engine *engine);
ONNXQ_API size_t onnxq_engine_output_count(const onnxq_engine *engine);
ONNXQ_API const char *onnxq_engine_input_name(const onnxq_engine *engine, size_t i);
ONNXQ_API const char *onnxq_engine_output_name(const onnxq_engine *engine, size_t i);

/* Run the graph on `count` inputs given in input order.  Shapes may change
 * from one run to the next; buffers are kept and reused. */
ONNXQ_API onnxq_status onnxq_engine_run(onnxq_engine *engine, const onnxq_tensor_view *inputs,
                              size_t count, onnxq_error *err);

/* Output i of the last run.  The data belongs to the engine. */
ONNXQ_API onnxq_status onnxq_engine_output(const onnxq_engine *engine, size_t i, onnxq_tensor_view *out,
                                 onnxq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_ENGINE_H */
