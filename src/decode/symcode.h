/* symcode.h: entropy coding of integer symbol arrays (quantization indices).
 *
 * A static, two-pass rANS coder (two interleaved 32-bit states, 16-bit
 * renormalization, integer arithmetic only: every machine decodes the same
 * bitstream to the same integers).  Indices with |q| < T are symbols of
 * their own; larger ones are coded as an escape class k (|q| - T + 1 in
 * [2^k, 2^(k+1))) with the sign, plus k raw bits.  Optionally the frequency
 * table is switched among up to four contexts chosen from the magnitudes of
 * the two previous indices, which takes the coded size below the 0th-order
 * entropy when magnitudes cluster (as they do along a filter's weights).
 * Index sets shaped like a comb (weights quantized before, on another
 * grid) are coded as the integers of a lattice (lattice.h) or as ranks in
 * a dictionary of their values.  Where the frequency tables would cost too
 * much for the tensor's size (hundreds of distinct indices in a few
 * thousand), the indices go to adaptive.h's coder instead, which sends none.
 * The encoder (encode/symencode.h) picks the mode, T and the contexts by
 * measured cost; this is the decoder. */
#ifndef ONNXQ_SYMCODE_H
#define ONNXQ_SYMCODE_H

#include <stddef.h>
#include <stdint.h>
#include "common/bytes.h"

#define SYMCODE_MAX_CTX 4
#define SYMCODE_MAX_T 4096

typedef enum {
    SYMCODE_OK = 0,
    SYMCODE_NOMEM = -1,
    SYMCODE_CORRUPT = -2,   /* the stream is malformed or does not decode exactly */
    SYMCODE_WORKSPACE = -3, /* the caller's workspace is too small */
    SYMCODE_RANGE = -4      /* an index beyond what the coder takes (|q| >= 2^30) */
} symcode_status;

/* Bytes of workspace symcode_decode needs for this stream; 0 when the
 * stream's header is malformed. */
size_t symcode_workspace_size(const uint8_t *in, size_t size);

/* Decode exactly n indices.  The stream must be used up exactly. */
symcode_status symcode_decode(const uint8_t *in, size_t size, int32_t *q, size_t n,
                              void *workspace, size_t workspace_size);

#endif
