/* dtype.c: ONNX element types. */
#include "config.h"
#include "dtype.h"

#include <math.h>
#include <string.h>

static const struct {
    const char *name;
    unsigned bits;
} dtype_table[] = {
    [ONNXQ_DTYPE_UNDEFINED] = {"undefined", 0},
    [ONNXQ_DTYPE_FLOAT] = {"float32", 32},
    [ONNXQ_DTYPE_UINT8] = {"uint8", 8},
    [ONNXQ_DTYPE_INT8] = {"int8", 8},
    [ONNXQ_DTYPE_UINT16] = {"uint16", 16},
    [ONNXQ_DTYPE_INT16] = {"int16", 16},
    [ONNXQ_DTYPE_INT32] = {"int32", 32},
    [ONNXQ_DTYPE_INT64] = {"int64", 64},
    [ONNXQ_DTYPE_STRING] = {"string", 0},
    [ONNXQ_DTYPE_BOOL] = {"bool", 8},
    [ONNXQ_DTYPE_FLOAT16] = {"float16", 16},
    [ONNXQ_DTYPE_DOUBLE] = {"float64", 64},
    [ONNXQ_DTYPE_UINT32] = {"uint32", 32},
    [ONNXQ_DTYPE_UINT64] = {"uint64", 64},
    [ONNXQ_DTYPE_COMPLEX64] = {"complex64", 64},
    [ONNXQ_DTYPE_COMPLEX128] = {"complex128", 128},
    [ONNXQ_DTYPE_BFLOAT16] = {"bfloat16", 16},
    [ONNXQ_DTYPE_FLOAT8E4M3FN] = {"float8e4m3fn", 8},
    [ONNXQ_DTYPE_FLOAT8E4M3FNUZ] = {"float8e4m3fnuz", 8},
    [ONNXQ_DTYPE_FLOAT8E5M2] = {"float8e5m2", 8},
    [ONNXQ_DTYPE_FLOAT8E5M2FNUZ] = {"float8e5m2fnuz", 8},
    [ONNXQ_DTYPE_UINT4] = {"uint4", 4},
    [ONNXQ_DTYPE_INT4] = {"int4", 4},
};

#define DTYPE_COUNT ((int)(sizeof dtype_table / sizeof dtype_table[0]))

const char *onnxq_dtype_name(int dtype)
{
    return dtype >= 0 && dtype < DTYPE_COUNT ? dtype_table[dtype].name : "unknown";
}

unsigned onnxq_dtype_bits(int dtype)
{
    return dtype >= 0 && dtype < DTYPE_COUNT ? dtype_table[dtype].bits : 0;
}

int onnxq_dtype_is_float(int dtype)
{
    return dtype == ONNXQ_DTYPE_FLOAT || dtype == ONNXQ_DTYPE_FLOAT16 ||
           dtype == ONNXQ_DTYPE_BFLOAT16 || dtype == ONNXQ_DTYPE_DOUBLE;
}

uint64_t dtype_data_bytes(int dtype, uint64_t elements)
{
    unsigned bits = onnxq_dtype_bits(dtype);
    if (bits == 0)
        return UINT64_MAX;
    if (bits == 4)
        return elements / 2 + (elements & 1);
    uint64_t per = bits / 8;
    if (elements > UINT64_MAX / per)
        return UINT64_MAX;
    return elements * per;
}

int64_t dtype_integer_at(int dtype, const uint8_t *raw, uint64_t i)
{
    switch (dtype) {
    case ONNXQ_DTYPE_INT8: return (int8_t)raw[i];
    case ONNXQ_DTYPE_UINT8: case ONNXQ_DTYPE_BOOL: return raw[i];
    case ONNXQ_DTYPE_INT16: { int16_t v; memcpy(&v, raw + 2 * i, 2); return v; }
    case ONNXQ_DTYPE_UINT16: { uint16_t v; memcpy(&v, raw + 2 * i, 2); return v; }
    case ONNXQ_DTYPE_INT32: { int32_t v; memcpy(&v, raw + 4 * i, 4); return v; }
    case ONNXQ_DTYPE_UINT32: { uint32_t v; memcpy(&v, raw + 4 * i, 4); return v; }
    case ONNXQ_DTYPE_INT64: case ONNXQ_DTYPE_UINT64: { int64_t v; memcpy(&v, raw + 8 * i, 8); return v; }
    case ONNXQ_DTYPE_UINT4: return (raw[i / 2] >> (4 * (i & 1))) & 15;
    case ONNXQ_DTYPE_INT4: {
        int v = (raw[i / 2] >> (4 * (i & 1))) & 15;
        return v >= 8 ? v - 16 : v;
    }
    }
    return 0;
}

/* The conversions work on bit patterns, so they are exact and the same on
 * every machine whatever its floating-point environment. */

static float float_from_bits(uint32_t u)
{
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static uint32_t float_bits(float f)
{
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

float half_to_float(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000) << 16;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t man = h & 0x3ff;
    if (exp == 0x1f) /* infinity or NaN, payload kept */
        return float_from_bits(sign | 0x7f800000 | (man << 13));
    if (exp == 0) {
        if (man == 0)
            return float_from_bits(sign);
        /* Subnormal half: normalize into a float32 normal. */
        exp = 127 - 15 + 1;
        while (!(man & 0x400)) {
            man <<= 1;
            exp--;
        }
        man &= 0x3ff;
        return float_from_bits(sign | (exp << 23) | (man << 13));
    }
    return float_from_bits(sign | ((exp + 127 - 15) << 23) | (man << 13));
}

float bfloat16_to_float(uint16_t b) { return float_from_bits((uint32_t)b << 16); }

uint16_t float_to_bfloat16(float f)
{
    uint32_t u = float_bits(f);
    if ((u & 0x7fffffff) > 0x7f800000) /* NaN: keep it quiet and a NaN */
        return (uint16_t)((u >> 16) | 0x40);
    u += 0x7fff + ((u >> 16) & 1); /* round to nearest even */
    return (uint16_t)(u >> 16);
}

uint16_t float_to_half(float f)
{
    uint32_t u = float_bits(f);
    uint16_t sign = (uint16_t)((u >> 16) & 0x8000);
    uint32_t abs = u & 0x7fffffff;
    if (abs > 0x7f800000) /* NaN */
        return sign | 0x7e00 | (uint16_t)((abs >> 13) & 0x3ff);
    if (abs >= 0x477ff000) /* rounds to >= 65520: infinity */
        return sign | 0x7c00;
    if (abs < 0x38800000) { /* below the smallest normal half: subnormal or zero */
        if (abs < 0x33000000) /* below half the smallest subnormal */
            return sign;
        uint32_t exp = abs >> 23;
        uint32_t man = (abs & 0x7fffff) | 0x800000;
        /* value = man * 2^(exp - 150) = half_man * 2^-24 */
        unsigned shift = 126 - exp;
        uint32_t half_man = man >> shift;
        uint32_t rest = man & ((1u << shift) - 1);
        uint32_t halfway = 1u << (shift - 1);
        if (rest > halfway || (rest == halfway && (half_man & 1)))
            half_man++;
        return sign | (uint16_t)half_man;
    }
    uint32_t r = abs + 0xfff + ((abs >> 13) & 1) - (112u << 23); /* rebias, round */
    return sign | (uint16_t)(r >> 13);
}
