/* symencode.h: coding integer indices (decode/symcode.h describes the
 * coder and decodes them). */
#ifndef ONNXQ_SYMENCODE_H
#define ONNXQ_SYMENCODE_H

#include "decode/symcode.h"

/* Append the coded form of q[0..n) to out. */
symcode_status symcode_encode(const int32_t *q, size_t n, bytebuf *out);

/* The empirical 0th-order entropy of q[0..n), in bits per index. */
double symcode_entropy(const int32_t *q, size_t n);

#endif
