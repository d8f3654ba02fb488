/* adaptive_encode.h: the adaptive coder's encoder (decode/adaptive.h). */
#ifndef ONNXQ_ADAPTIVE_ENCODE_H
#define ONNXQ_ADAPTIVE_ENCODE_H

#include "decode/adaptive.h"

/* Append the coded form of q[0..n) (each |q| < 2^30) to out: with the
 * default parameters, or (search) with those of a few sets that code
 * smallest.  0, or -1 when out of memory. */
int adaptive_encode(const int32_t *q, size_t n, int search, bytebuf *out);

#endif
