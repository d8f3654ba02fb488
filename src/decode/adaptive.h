/* adaptive.h: integer indices through adaptive binary models.
 *
 * The rANS coder of symcode.c sends a frequency table, which costs about
 * half of log2(n) bits per distinct index: too much when a tensor of a few
 * thousand weights takes hundreds of distinct indices (mu-law, minifloats,
 * fine steps).  This coder sends no table.  Each index is binarized
 * (zero flag, sign, the exponent of its magnitude in unary, then the
 * bits below the leading one) and every binary decision learns
 * its probability as it goes (rangecoder.h), with the zero flag and the
 * exponent conditioned on the magnitudes of the two previous indices.
 * Decoding is serial and about ten times slower than rANS, so the index
 * coder uses it only where a table would cost too much.  This is the
 * decoder; encode/adaptive_encode.h codes. */
#ifndef ONNXQ_ADAPTIVE_H
#define ONNXQ_ADAPTIVE_H

#include <stddef.h>
#include <stdint.h>
#include "common/bytes.h"

/* Bytes of workspace adaptive_decode needs (its bit models, about 32 KB),
 * aligned for any type. */
size_t adaptive_workspace_size(void);

/* Decode exactly n indices from in[0..size), which they must use up;
 * 0, or -1 when the stream is corrupt. */
int adaptive_decode(const uint8_t *in, size_t size, int32_t *q, size_t n, void *workspace);

#endif
