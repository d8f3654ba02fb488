/* codec.h: one tensor's bitstream, the payload of an ai.onnxq Decode node.
 *
 * A bitstream is self-describing: magic, format version, method, the
 * original element type and shape, the method's parameters, the payload,
 * and a CRC-32 over all of it.  Decoding needs no protobuf and allocates
 * nothing: the caller provides the output and a workspace whose size
 * codec_inspect reports.  docs/FORMAT.md is the specification. */
#ifndef ONNXQ_CODEC_H
#define ONNXQ_CODEC_H

#include <stddef.h>
#include <stdint.h>
#include "bytes.h"
#include "onnxq/onnxq.h"
#include "quant.h"

#define CODEC_MAGIC "ONXQ"
#define CODEC_VERSION 3 /* 2: the entropy coder may map indices through a lattice;
                          * 3: it may code them adaptively (adaptive.h) */
#define CODEC_MAX_RANK 16

typedef enum codec_method {
    CODEC_STORED = 0,    /* element bytes as they are */
    CODEC_ZSTD = 1,      /* element bytes through zstd */
    CODEC_PLANES = 2,    /* floating-point bytes split into planes, each coded */
    CODEC_QUANTIZED = 3, /* quantizer indices through the rANS coder */
    CODEC_INTEGER = 4    /* integer elements through the rANS coder (lossless) */
} codec_method;

typedef struct codec_info {
    codec_method method;
    int dtype;
    int rank;
    int64_t dims[CODEC_MAX_RANK];
    uint64_t elements;
    uint64_t bytes;           /* decoded size in the original dtype */
    quant_params quant;       /* CODEC_QUANTIZED (scales point into the stream) */
    size_t workspace;         /* what codec_decode needs */
    size_t payload_offset, payload_size;
} codec_info;

/* What a tensor is, for encoding. */
typedef struct codec_tensor {
    int dtype;
    int rank;
    const int64_t *dims;
    uint64_t elements;
    const void *raw;       /* little-endian element bytes */
    uint64_t raw_size;
} codec_tensor;

typedef struct codec_stats {
    double entropy;        /* 0th-order entropy of the coded symbols, bits per element */
    size_t payload_bytes;  /* coded bytes without the header and CRC */
} codec_stats;

/* Encode losslessly with `method` (STORED, ZSTD, PLANES or INTEGER). */
onnxq_status codec_encode_lossless(const codec_tensor *t, codec_method method, bytebuf *out,
                                   codec_stats *stats, onnxq_error *err);

/* Quantize float values (t->raw is ignored) with prepared parameters and
 * code the indices.  The indices are computed in place: `values` holds
 * them (as int32) afterwards, so the tensor is never copied.  *sq_error
 * (when not NULL) gets the sum of squared differences between the values
 * and what the decoder will rebuild. */
onnxq_status codec_encode_quantized(const codec_tensor *t, float *values, const quant_params *q,
                                    bytebuf *out, codec_stats *stats, double *sq_error,
                                    onnxq_error *err);

/* Parse and check a bitstream's header and CRC. `name` is for messages. */
onnxq_status codec_inspect(const uint8_t *in, size_t size, codec_info *info, const char *name,
                           onnxq_error *err);

/* Decode into `out` (info.bytes bytes, the original dtype). */
onnxq_status codec_decode(const uint8_t *in, size_t size, void *out, size_t out_size,
                          void *workspace, size_t workspace_size, const char *name,
                          onnxq_error *err);

/* The same for a stream codec_inspect has already checked into `info`
 * (so the CRC is not computed twice). */
onnxq_status codec_decode_inspected(const uint8_t *in, const codec_info *info, void *out,
                                    size_t out_size, void *workspace, size_t workspace_size,
                                    const char *name, onnxq_error *err);

#endif
