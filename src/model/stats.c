/* stats.c: summary statistics of a tensor's values. */
#include "config.h"
#include "onnx_io.h"
#include "common/dtype.h"
#include "common/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Element k of little-endian data of an integer or floating type, as double. */
static double element_value(int dtype, const uint8_t *raw, uint64_t k)
{
    switch (dtype) {
    case ONNXQ_DTYPE_FLOAT: { float v; memcpy(&v, raw + 4 * k, 4); return v; }
    case ONNXQ_DTYPE_DOUBLE: { double v; memcpy(&v, raw + 8 * k, 8); return v; }
    case ONNXQ_DTYPE_FLOAT16: { uint16_t v; memcpy(&v, raw + 2 * k, 2); return half_to_float(v); }
    case ONNXQ_DTYPE_BFLOAT16: { uint16_t v; memcpy(&v, raw + 2 * k, 2); return bfloat16_to_float(v); }
    case ONNXQ_DTYPE_UINT64: return (double)(uint64_t)dtype_integer_at(dtype, raw, k);
    default: return (double)dtype_integer_at(dtype, raw, k);
    }
}

/* Real-valued types element_value reads (not strings, complex or float8). */
static int has_values(int dtype)
{
    switch (dtype) {
    case ONNXQ_DTYPE_FLOAT: case ONNXQ_DTYPE_DOUBLE: case ONNXQ_DTYPE_FLOAT16:
    case ONNXQ_DTYPE_BFLOAT16: case ONNXQ_DTYPE_UINT8: case ONNXQ_DTYPE_BOOL:
    case ONNXQ_DTYPE_INT8: case ONNXQ_DTYPE_UINT16: case ONNXQ_DTYPE_INT16:
    case ONNXQ_DTYPE_UINT32: case ONNXQ_DTYPE_INT32: case ONNXQ_DTYPE_UINT64:
    case ONNXQ_DTYPE_INT64: case ONNXQ_DTYPE_UINT4: case ONNXQ_DTYPE_INT4:
        return 1;
    }
    return 0;
}

/* The statistics of n elements of dtype (little-endian, as stored). */
static void values_stats(int dtype, const uint8_t *raw, uint64_t count, onnxq_tensor_stats *st)
{
    /* Welford's update: one pass, and no cancellation in the variance. */
    double mean = 0, m2 = 0, lo = INFINITY, hi = -INFINITY;
    uint64_t n = 0;
    for (uint64_t k = 0; k < count; k++) {
        double v = element_value(dtype, raw, k);
        if (!isfinite(v)) {
            st->nonfinite++;
            continue;
        }
        n++;
        double delta = v - mean;
        mean += delta / (double)n;
        m2 += delta * (v - mean);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        st->zeros += v == 0;
    }
    st->min = n ? lo : NAN;
    st->max = n ? hi : NAN;
    st->mean = n ? mean : NAN;
    st->std = n ? sqrt(m2 / (double)n) : NAN;
}

onnxq_status onnxq_values_stats(int dtype, const void *data, uint64_t n, onnxq_tensor_stats *st,
                                onnxq_error *err)
{
    memset(st, 0, sizeof *st);
    if (!has_values(dtype))
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "no statistics for %s",
                          onnxq_dtype_name(dtype));
    values_stats(dtype, data, n, st);
    return onnxq_ok(err);
}

onnxq_status onnxq_tensor_stats_compute(onnxq_model *m, size_t i, onnxq_tensor_stats *st,
                                        onnxq_error *err)
{
    memset(st, 0, sizeof *st);
    if (i >= m->n_tensors)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no tensor number %zu", m->name, i);
    const model_tensor *mt = &m->tensors[i];
    int dtype = mt->proto->data_type;
    if (!has_values(dtype))
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': no statistics for %s",
                          m->name, mt->proto->name ? mt->proto->name : "",
                          onnxq_dtype_name(dtype));
    uint8_t *raw = malloc(mt->bytes ? mt->bytes : 1);
    if (!raw)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    onnxq_status s = onnxq_tensor_read_raw(m, i, raw, mt->bytes, err);
    if (s != ONNXQ_OK) {
        free(raw);
        return s;
    }
    values_stats(dtype, raw, mt->elements, st);
    free(raw);
    return onnxq_ok(err);
}
