/* codec_encode.h: writing one tensor's bitstream (decode/codec.h reads it). */
#ifndef ONNXQ_CODEC_ENCODE_H
#define ONNXQ_CODEC_ENCODE_H

#include "decode/codec.h"

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

#endif
