/* container.h: the ai.onnxq Decode nodes a compressed model carries.
 *
 * A compressed initializer NAME becomes a uint8 initializer NAME::onnxq
 * holding its bitstream plus a Decode node from it to NAME.  These calls
 * let other modules (the engine's loader, decompression) find and decode
 * them without writing anything back into the model. */
#ifndef ONNXQ_CONTAINER_H
#define ONNXQ_CONTAINER_H

#include "codec.h"
#include "onnx_io.h"

int container_is_decode_node(const Onnx__NodeProto *node);

/* Decode the bitstream a Decode node reads into a malloc'd buffer holding
 * the original tensor (info->dtype, info->dims, info->bytes). */
onnxq_status container_decode_node(onnxq_model *model, const Onnx__NodeProto *node,
                                   codec_info *info, void **out, onnxq_error *err);

#endif
