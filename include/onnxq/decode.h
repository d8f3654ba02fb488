/*
 * onnxq/decode.h: decoding one compressed tensor, for devices.
 *
 * A compressed tensor travels as a bitstream (the bytes of the uint8
 * initializer NAME::onnxq in a compressed model, docs/FORMAT.md).  These
 * calls decode it with no protobuf, no file I/O and, for quantized and
 * integer tensors, no allocation: the caller provides the output buffer and
 * a workspace of the size onnxq_stream_inspect reports.  (Tensors stored
 * losslessly with zstd or in byte planes let zstd allocate its own context.)
 *
 *     onnxq_stream_info info;
 *     if (onnxq_stream_inspect(stream, size, &info, &err) == ONNXQ_OK) {
 *         void *w = malloc(info.bytes);      // info.dtype elements
 *         void *ws = malloc(info.workspace);
 *         onnxq_stream_decode(stream, size, w, info.bytes, ws, info.workspace, &err);
 *     }
 *
 * The same bitstream decodes to the same bits on every machine.
 */
#ifndef ONNXQ_DECODE_H
#define ONNXQ_DECODE_H

#include "onnxq/common.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct onnxq_stream_info {
    int dtype;             /* the original element type (onnxq_dtype) */
    int rank;
    int64_t dims[16];
    uint64_t elements;
    uint64_t bytes;        /* decoded size in the original type */
    size_t workspace;      /* bytes of workspace onnxq_stream_decode needs */
    int method;            /* 0 stored, 1 zstd, 2 planes, 3 quantized, 4 integer */
    onnxq_quantizer quantizer; /* for method 3 */
} onnxq_stream_info;

/* Check a bitstream (magic, version, CRC) and describe it. */
ONNXQ_API onnxq_status onnxq_stream_inspect(const void *stream, size_t size, onnxq_stream_info *info,
                                  onnxq_error *err);

/* Decode into `out` (exactly info.bytes bytes, little-endian elements of the
 * original type) using `workspace` (at least info.workspace bytes). */
ONNXQ_API onnxq_status onnxq_stream_decode(const void *stream, size_t size, void *out, size_t out_size,
                                 void *workspace, size_t workspace_size, onnxq_error *err);

#ifdef __cplusplus
}
#endif
#endif /* ONNXQ_DECODE_H */
