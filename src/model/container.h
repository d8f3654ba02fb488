/* container.h: the ai.onnxq Decode node a compressed model carries.
 *
 * A compressed initializer NAME becomes a uint8 initializer NAME::onnxq
 * holding its bitstream, and a pair of the Decode node at the front of the
 * graph: input k (NAME::onnxq) is decoded into output k (NAME).  One node
 * holds every pair, so a small model does not pay a node per tensor;
 * files with a node per tensor (written before) are read the same way.
 * These calls write them (compression), and find and decode them without
 * writing anything back into the model (the engine's loader,
 * decompression). */
#ifndef ONNXQ_CONTAINER_H
#define ONNXQ_CONTAINER_H

#include "common/bytes.h"
#include "decode/codec.h"
#include "onnx_io.h"

/* A Decode node: as many inputs as outputs, at least one. */
int container_is_decode_node(const Onnx__NodeProto *node);

/* Tensor i becomes the UINT8 tensor NAME::onnxq holding `stream`, and
 * *decode gives NAME back: the Decode node this creates at the front of
 * the graph when *decode is NULL, else the one it created before; the
 * model declares the ai.onnxq domain. */
onnxq_status container_pack(onnxq_model *m, size_t i, const bytebuf *stream,
                            Onnx__NodeProto **decode, onnxq_error *err);

/* Decode the bitstream of pair k of a Decode node into a malloc'd buffer
 * holding the original tensor (info->dtype, info->dims, info->bytes). */
onnxq_status container_decode_node(onnxq_model *model, const Onnx__NodeProto *node, size_t k,
                                   codec_info *info, void **out, onnxq_error *err);

#endif
