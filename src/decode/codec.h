/* codec.h: one tensor's bitstream, the payload of an ai.onnxq Decode node:
 * its format, and parsing and decoding it (encode/codec_encode.h writes it).
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
#include "common/bytes.h"
#include "onnxq/common.h"
#include "quant.h"

#define CODEC_MAGIC "ONXQ"
#define CODEC_VERSION 4 /* 2: the entropy coder may map indices through a lattice;
                          * 3: it may code them adaptively (adaptive.h);
                          * 4: in wide rANS (rans32.h) */
#define CODEC_VERSION_NARROW 3 /* what a stream without wide rANS declares */
#define CODEC_MAX_RANK 16

typedef enum codec_method {
    CODEC_STORED = 0,    /* element bytes as they are */
    CODEC_ZSTD = 1,      /* element bytes through zstd */
    CODEC_PLANES = 2,    /* floating-point bytes split into planes, each coded */
    CODEC_QUANTIZED = 3, /* quantizer indices through the rANS coder */
    CODEC_INTEGER = 4    /* integer elements through the rANS coder (lossless) */
} codec_method;

/* In a quantizer's kind byte: per-channel steps follow its parameters
 * (format 4). */
#define QUANT_CHANNEL_STEPS 0x80

/* How a floating-point plane of CODEC_PLANES is coded. */
enum { PLANE_RAW = 0, PLANE_SYMCODE = 1, PLANE_ZSTD = 2 };

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

/* The integer element types CODEC_INTEGER codes. */
int codec_is_integer_dtype(int dtype);

/* Rotate a little-endian word of `width` bytes left (or right) by one bit,
 * so the sign moves below the mantissa and the top byte holds the
 * exponent alone (CODEC_PLANES). */
void codec_rotate_word(uint8_t *w, unsigned width, int left);

#endif
