/* grid.h: the integer grid a float tensor may already lie on.
 *
 * Models quantized before onnxq saw them (int8 weights stored as floats
 * after dequantization, "q-dq" models) hold, per tensor or per output
 * channel, only values fl32(k s) for small integers k and one float s.
 * Coding the integers and the scales with the int quantizer's stream,
 * which rebuilds (float)((double)k * s), restores every value exactly at
 * the cost of the integers' entropy. */
#ifndef ONNXQ_GRID_H
#define ONNXQ_GRID_H

#include <stdint.h>

/* Largest |k| a grid may use: the int quantizer's 16 bits. */
#define GRID_MAX_INDEX 32767

/* When every x[i] (i < n) equals (float)((double)k * scales[c]) for an
 * integer |k| <= GRID_MAX_INDEX, c = (i / inner) % channels, fill
 * scales[0..channels) and return the largest |k| used; else return -1
 * (also when out of memory). */
int32_t grid_find(const float *x, uint64_t n, uint32_t channels, uint64_t inner, float *scales);

#endif
