/* intmath.h: small integer helpers that the coders and the engine share. */
#ifndef ONNXQ_INTMATH_H
#define ONNXQ_INTMATH_H

#include <stdint.h>

/* a / b rounded down and up, for b > 0 and any a. */
static inline int64_t div_floor(int64_t a, int64_t b)
{
    return a >= 0 ? a / b : -((-a + b - 1) / b);
}
static inline int64_t div_ceil(int64_t a, int64_t b) { return -div_floor(-a, b); }

/* floor(log2 x) for x > 0; 0 for x = 0. */
static inline unsigned floor_log2_u32(uint32_t x)
{
    return x ? 31u - (unsigned)__builtin_clz(x) : 0;
}

/* |v|, defined for INT32_MIN too. */
static inline uint32_t magnitude_u32(int32_t v)
{
    return v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
}

/* The context both index coders take from the two previous values: their
 * magnitudes, each capped at NEIGHBOUR_CAP, summed (docs/FORMAT.md). */
#define NEIGHBOUR_CAP 127

static inline uint32_t neighbour_sum(int32_t v1, int32_t v2)
{
    uint32_t a = magnitude_u32(v1), b = magnitude_u32(v2);
    return (a < NEIGHBOUR_CAP ? a : NEIGHBOUR_CAP) + (b < NEIGHBOUR_CAP ? b : NEIGHBOUR_CAP);
}

#endif
