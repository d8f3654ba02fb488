/* symencode.h: coding integer indices (decode/symcode.h describes the
 * coder and decodes them). */
#ifndef ONNXQ_SYMENCODE_H
#define ONNXQ_SYMENCODE_H

#include "decode/symcode.h"

/* How symcode_encode may code. */
enum { SYMCODE_NARROW = 0, SYMCODE_WIDE = 1 /* wide rANS allowed (a format 4 stream) */ };

/* Append the coded form of q[0..n) to out. */
symcode_status symcode_encode(const int32_t *q, size_t n, int modes, bytebuf *out);

/* Whether a stream symcode_encode wrote is in wide mode. */
int symcode_is_wide(const uint8_t *stream, size_t size);

/* The empirical 0th-order entropy of q[0..n), in bits per index. */
double symcode_entropy(const int32_t *q, size_t n);

#endif
