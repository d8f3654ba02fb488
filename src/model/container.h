/* container.h: the ai.onnxq Decode nodes a compressed model carries.
 *
 * A compressed initializer NAME becomes a uint8 initializer NAME::onnxq
 * holding its bitstream plus a Decode node from it to NAME.  These calls
 * write them (compression), and find and decode them without writing
 * anything back into the model (the engine's loader, decompression). */
#ifndef ONNXQ_CONTAINER_H
#define ONNXQ_CONTAINER_H

#include "common/bytes.h"
#include "decode/codec.h"
#include "onnx_io.h"

int container_is_decode_node(const Onnx__NodeProto *node);

/* Tensor i becomes the UINT8 tensor NAME::onnxq holding `stream`, and a
 * Decode node, inserted at *n_front (which moves past it: Decode nodes go
 * first), gives NAME back; the model declares the ai.onnxq domain. */
onnxq_status container_pack(onnxq_model *m, size_t i, const bytebuf *stream, size_t *n_front,
                            onnxq_error *err);

/* Decode the bitstream a Decode node reads into a malloc'd buffer holding
 * the original tensor (info->dtype, info->dims, info->bytes). */
onnxq_status container_decode_node(onnxq_model *model, const Onnx__NodeProto *node,
                                   codec_info *info, void **out, onnxq_error *err);

#endif
