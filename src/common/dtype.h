/* dtype.h: element types and the exact half-precision conversions. */
#ifndef ONNXQ_DTYPE_H
#define ONNXQ_DTYPE_H

#include <stdint.h>
#include "onnxq/onnxq.h"

/* Bytes taken by `elements` elements of dtype (4-bit types pack two to a
 * byte); UINT64_MAX when dtype has no fixed size or the size overflows. */
uint64_t dtype_data_bytes(int dtype, uint64_t elements);

/* Element i of little-endian integer data (int4 to int64, bool; uint64 as
 * its two's-complement bits). */
int64_t dtype_integer_at(int dtype, const uint8_t *raw, uint64_t i);

float half_to_float(uint16_t h);
float bfloat16_to_float(uint16_t b);
/* Round to nearest even; overflow gives infinity, NaN stays NaN. */
uint16_t float_to_half(float f);
uint16_t float_to_bfloat16(float f);

#endif
