/* rans32_encode.h: coding indices in wide rANS (decode/rans32.h). */
#ifndef ONNXQ_RANS32_ENCODE_H
#define ONNXQ_RANS32_ENCODE_H

#include <stddef.h>
#include <stdint.h>
#include "common/bytes.h"

/* Append q[0..n) (each |q| < 2^30) coded with `lanes` states (a power of
 * two up to 32) to out.  0; 1 when the indices need more symbols than the
 * mode has (nothing is appended); -1 when out of memory. */
int rans32_encode(const int32_t *q, size_t n, unsigned lanes, bytebuf *out);

#endif
