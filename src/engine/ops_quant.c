/* ops_quant.c: QuantizeLinear, DequantizeLinear and the QLinear operators.
 *
 * The QLinear operators subtract the zero points, run the float kernels on
 * the integer-valued results (exact while partial sums stay below 2^24,
 * which covers most real layers) and requantize with one float multiplier
 * per output channel, as onnxruntime does.  Where the CPU has a vector
 * kernel for it, a QLinearConv in one group and a QLinearMatMul by a
 * constant weight (most of an int8 MobileNet's work) run instead as an
 * 8-bit GEMM (igemm.c), with exact integer sums and the same results. */
#include "config.h"
#include "engine.h"
#include "igemm.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int is_q8(int dtype) { return dtype == ONNXQ_DTYPE_UINT8 || dtype == ONNXQ_DTYPE_INT8; }

/* Round half to even, for |v| < 2^22: adding and removing 1.5 * 2^23
 * leaves no fraction bits, so the FPU's default rounding does the work
 * (nearbyintf is a library call on baseline x86-64). */
static inline float round_even(float v)
{
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

/* Round half to even, add the zero point and saturate.  The zero point
 * comes after rounding, as the spec orders it; clamping before rounding
 * to the integer bounds less the zero point gives the same result and
 * keeps the value small enough for round_even. */
static inline int32_t saturate(float v, float zero, int dtype)
{
    float lo = dtype == ONNXQ_DTYPE_UINT8 ? 0.0f : -128.0f;
    float hi = dtype == ONNXQ_DTYPE_UINT8 ? 255.0f : 127.0f;
    return (int32_t)(round_even(min_f(max_f(v, lo - zero), hi - zero)) + zero);
}

static inline void store_q8(tensor *t, int64_t i, int32_t v)
{
    if (t->dtype == ONNXQ_DTYPE_UINT8)
        ((uint8_t *)t->data)[i] = (uint8_t)v;
    else
        ((int8_t *)t->data)[i] = (int8_t)v;
}

/* out[at + k] = saturate(round((acc[k] + bias) * mult) + zero) for k < n. */
VECTOR_CLONES static void requantize(const float *restrict acc, float bias, float mult, float zero,
                                     tensor *out, int64_t at, int64_t n)
{
    float lo = (out->dtype == ONNXQ_DTYPE_UINT8 ? 0.0f : -128.0f) - zero;
    float hi = (out->dtype == ONNXQ_DTYPE_UINT8 ? 255.0f : 127.0f) - zero;
    int32_t tmp[256];
    for (int64_t k0 = 0; k0 < n; k0 += 256) {
        int64_t m = n - k0 < 256 ? n - k0 : 256;
        for (int64_t k = 0; k < m; k++)
            tmp[k] = (int32_t)(round_even(min_f(max_f((acc[k0 + k] + bias) * mult, lo), hi)) + zero);
        if (out->dtype == ONNXQ_DTYPE_UINT8) {
            uint8_t *restrict y = (uint8_t *)out->data + at + k0;
            for (int64_t k = 0; k < m; k++)
                y[k] = (uint8_t)tmp[k];
        } else {
            int8_t *restrict y = (int8_t *)out->data + at + k0;
            for (int64_t k = 0; k < m; k++)
                y[k] = (int8_t)tmp[k];
        }
    }
}

/* Scale and zero point along `axis` (-1: per tensor), checked against x. */
typedef struct qparams {
    const float *scale;
    const tensor *zp;    /* NULL: 0 */
    int64_t count;       /* 1, or x's dims[axis] */
    int64_t inner;       /* elements per step along the axis */
} qparams;

static onnxq_status qparams_get(op_ctx *c, const tensor *x, size_t scale_in, size_t zp_in,
                                int64_t axis, qparams *q)
{
    const tensor *sc = op_in(c, scale_in), *zp = op_in(c, zp_in);
    if (!sc || sc->dtype != ONNXQ_DTYPE_FLOAT)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "input %zu (scale) must be float", scale_in);
    q->scale = sc->data;
    q->zp = zp;
    q->count = sc->n;
    q->inner = 1;
    if (zp && zp->n != sc->n)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "scale and zero point differ in size");
    if (sc->n == 1 && sc->rank <= 1)
        return ONNXQ_OK;
    if (sc->rank != 1)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "scales of rank %d", sc->rank);
    int64_t a = axis < 0 ? axis + x->rank : axis;
    if (a < 0 || a >= x->rank || x->dims[a] != sc->n)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "%lld scales along axis %lld", (long long)sc->n,
                       (long long)axis);
    for (int d = (int)a + 1; d < x->rank; d++)
        q->inner *= x->dims[d];
    return ONNXQ_OK;
}

static inline int64_t q_channel(const qparams *q, int64_t i)
{
    return q->count == 1 ? 0 : i / q->inner % q->count;
}

static inline int64_t q_zero(const qparams *q, int64_t ch)
{
    return q->zp ? tensor_int_at(q->zp, ch) : 0;
}

typedef struct {
    const tensor *x;
    int32_t zero;
    float *out;
    float scale; /* 1: centring alone */
} center_job;

/* Elements [from, to) of (x - zero) scale as floats.  In 32 bits, which
 * vectorizes (64-bit integers to float do not without AVX-512DQ). */
VECTOR_CLONES static void center_range(void *arg, int64_t from, int64_t to, int worker)
{
    const center_job *j = arg;
    float *restrict o = j->out;
    int32_t z = j->zero;
    (void)worker;
    float scale = j->scale;
    if (j->x->dtype == ONNXQ_DTYPE_UINT8) {
        const uint8_t *restrict xd = j->x->data;
        for (int64_t i = from; i < to; i++)
            o[i] = (float)((int32_t)xd[i] - z) * scale;
    } else {
        const int8_t *restrict xd = j->x->data;
        for (int64_t i = from; i < to; i++)
            o[i] = (float)((int32_t)xd[i] - z) * scale;
    }
}

typedef struct {
    const float *x;
    float scale, zero;
    tensor *out;
} quantize_job;

/* Elements [from, to) of a per-tensor QuantizeLinear. */
VECTOR_CLONES static void quantize_range(void *arg, int64_t from, int64_t to, int worker)
{
    const quantize_job *j = arg;
    const float *restrict x = j->x;
    (void)worker;
    if (j->out->dtype == ONNXQ_DTYPE_UINT8) {
        uint8_t *restrict y = j->out->data;
        for (int64_t i = from; i < to; i++)
            y[i] = (uint8_t)saturate(x[i] / j->scale, j->zero, ONNXQ_DTYPE_UINT8);
    } else {
        int8_t *restrict y = j->out->data;
        for (int64_t i = from; i < to; i++)
            y[i] = (int8_t)saturate(x[i] / j->scale, j->zero, ONNXQ_DTYPE_INT8);
    }
}

static onnxq_status op_quantize_linear(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    qparams q;
    if ((s = qparams_get(c, x, 1, 2, op_attr_int(c, "axis", 1), &q)) != ONNXQ_OK)
        return s;
    int out = q.zp ? q.zp->dtype : ONNXQ_DTYPE_UINT8;
    if (!is_q8(out))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s output", onnxq_dtype_name(out));
    if ((s = tensor_prepare(c, c->out[0], out, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    const float *xd = x->data;
    if (q.count == 1) {
        quantize_job job = { xd, q.scale[0], (float)q_zero(&q, 0), c->out[0] };
        team_run_ranges(c->team, x->n, 1 << 16, quantize_range, &job);
        return ONNXQ_OK;
    }
    for (int64_t i = 0; i < x->n; i++) {
        int64_t ch = q_channel(&q, i);
        store_q8(c->out[0], i, saturate(xd[i] / q.scale[ch], (float)q_zero(&q, ch), out));
    }
    return ONNXQ_OK;
}

static onnxq_status op_dequantize_linear(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    if (!is_q8(x->dtype) && x->dtype != ONNXQ_DTYPE_INT32)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s input", onnxq_dtype_name(x->dtype));
    qparams q;
    if ((s = qparams_get(c, x, 1, 2, op_attr_int(c, "axis", 1), &q)) != ONNXQ_OK)
        return s;
    if ((s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_FLOAT, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    float *yd = c->out[0]->data;
    if (q.count == 1 && is_q8(x->dtype)) {
        center_job job = { x, (int32_t)q_zero(&q, 0), yd, q.scale[0] };
        team_run_ranges(c->team, x->n, 1 << 16, center_range, &job);
        return ONNXQ_OK;
    }
    for (int64_t i = 0; i < x->n; i++) {
        int64_t ch = q_channel(&q, i);
        yd[i] = (float)(tensor_int_at(x, i) - q_zero(&q, ch)) * q.scale[ch];
    }
    return ONNXQ_OK;
}

/* x - zero point as integer-valued floats, into `out`. */
static onnxq_status centered(op_ctx *c, const tensor *x, const qparams *q, tensor *out)
{
    if (!is_q8(x->dtype))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s input", onnxq_dtype_name(x->dtype));
    onnxq_status s = tensor_prepare(c, out, ONNXQ_DTYPE_FLOAT, x->rank, x->dims);
    if (s != ONNXQ_OK)
        return s;
    float *restrict o = out->data;
    if (q->count == 1) {
        center_job job = { x, (int32_t)q_zero(q, 0), o, 1.0f };
        team_run_ranges(c->team, x->n, 1 << 16, center_range, &job);
        return ONNXQ_OK;
    }
    for (int64_t i = 0; i < x->n; i++)
        o[i] = (float)(tensor_int_at(x, i) - q_zero(q, q_channel(q, i)));
    return ONNXQ_OK;
}

static onnxq_status scalar_param(op_ctx *c, size_t i, const char *what)
{
    const tensor *t = op_in(c, i);
    if (t && t->n != 1)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "a per-channel %s", what);
    return ONNXQ_OK;
}

/* The inputs both QLinearConv and QLinearMatMul take: x (0), its scale
 * and zero point (1, 2), the weight (3), its scales and zero points (4, 5,
 * per channel along w_axis), the output's scale and zero point (6, 7).
 * *out is the output element type. */
static onnxq_status qlinear_inputs(op_ctx *c, int64_t x_axis, int64_t w_axis, qparams *qx,
                                   qparams *qw, qparams *qy, int *out)
{
    onnxq_status s = ONNXQ_OK;
    for (size_t i = 0; i < 8 && s == ONNXQ_OK; i++)
        s = op_need(c, i, 0);
    if (s == ONNXQ_OK)
        s = scalar_param(c, 1, "input scale");
    if (s == ONNXQ_OK)
        s = scalar_param(c, 6, "output scale");
    if (s == ONNXQ_OK)
        s = qparams_get(c, c->in[0], 1, 2, x_axis, qx);
    if (s == ONNXQ_OK)
        s = qparams_get(c, c->in[3], 4, 5, w_axis, qw);
    if (s == ONNXQ_OK)
        s = qparams_get(c, c->in[0], 6, 7, x_axis, qy);
    if (s != ONNXQ_OK)
        return s;
    *out = c->in[7]->dtype;
    if (!is_q8(*out))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s output", onnxq_dtype_name(*out));
    return ONNXQ_OK;
}

/* The weight less its zero points, as floats: a constant weight is
 * centred once and kept with the node, another one goes to `scratch`. */
static onnxq_status centered_weight(op_ctx *c, const tensor *w, const qparams *q,
                                    tensor *scratch, tensor **result)
{
    *result = w->constant ? c->node->derived : scratch;
    if (w->constant && (*result)->defined)
        return ONNXQ_OK;
    return centered(c, w, q, *result);
}

/* A QLinearConv's multiplier for output channel ch, the same on
 * both paths, so they round alike. */
static float qconv_mult(const qparams *qx, const qparams *qw, const qparams *qy, int64_t ch)
{
    return qx->scale[0] * qw->scale[qw->count == 1 ? 0 : ch] / qy->scale[0];
}

typedef struct {
    const float *acc;    /* the float path's results; NULL with a sink */
    const int32_t *bias; /* NULL: none */
    const qparams *qx, *qw, *qy;
    int64_t channels;
    tensor *out;         /* shaped: its planes are the results' */
} requant_job;

/* Plane `plane` (image * channels + channel) of a QLinearConv's float
 * results to its output type. */
static void requant_values(const requant_job *j, int64_t plane, const float *values)
{
    int64_t per = j->out->n / (j->out->dims[0] * j->channels), ch = plane % j->channels;
    float bias = j->bias ? (float)j->bias[ch] : 0.0f;
    requantize(values, bias, qconv_mult(j->qx, j->qw, j->qy, ch), (float)q_zero(j->qy, 0), j->out,
               plane * per, per);
}

static void requant_plane(void *arg, int64_t plane, int worker)
{
    const requant_job *j = arg;
    int64_t per = j->out->n / (j->out->dims[0] * j->channels);
    (void)worker;
    requant_values(j, plane, j->acc + plane * per);
}

static void requant_sink(void *arg, int64_t plane, const float *values, int worker)
{
    (void)worker;
    requant_values(arg, plane, values);
}

/* A constant 8-bit weight less its zero points, as int8 rows of
 * igemm_depth(depth) bytes, one per output channel (derived[0]), with
 * their sums (derived[3]), made on the first run.  Element p of row r is
 * w[r depth + p], or w[p rows + r] when `columns` (a MatMul's weight,
 * depth x rows).  0 when some centred value does not fit in int8 (a uint8
 * weight whose zero point is far from 128). */
static int int8_weight(op_ctx *c, const tensor *w, const qparams *qw, int64_t rows,
                       int64_t depth, int columns)
{
    tensor *a = &c->node->derived[0], *sums = &c->node->derived[3];
    if (a->defined)
        return a->dtype == ONNXQ_DTYPE_INT8;
    int64_t kq = igemm_depth(depth), dims[2] = { rows, kq };
    if (tensor_prepare(c, a, ONNXQ_DTYPE_INT8, 2, dims) != ONNXQ_OK ||
        tensor_prepare(c, sums, ONNXQ_DTYPE_INT32, 1, dims) != ONNXQ_OK) {
        a->defined = 0;
        return 0;
    }
    int8_t *out = a->data;
    int32_t *sum = sums->data;
    for (int64_t r = 0; r < rows; r++) {
        sum[r] = 0;
        for (int64_t p = 0; p < kq; p++) {
            int64_t i = columns ? p * rows + r : r * depth + p;
            int64_t v = p < depth ? tensor_int_at(w, i) - q_zero(qw, q_channel(qw, i)) : 0;
            if (v < -128 || v > 127) {
                a->defined = 0; /* left to the float path */
                return 0;
            }
            out[r * kq + p] = (int8_t)v;
            sum[r] += (int32_t)v;
        }
    }
    return 1;
}

/* The requantization of an 8-bit GEMM over the int8_weight rows: per row
 * (output channel) its multiplier, as the float path computes it, and its
 * offset, the bias less the input's zero point times the row's sum (in
 * derived[1] and [2]).  An int8 input is read as uint8 with 128 added,
 * its zero point too. */
static onnxq_status igemm_params(op_ctx *c, const tensor *x, const qparams *qx, const qparams *qw,
                                 const qparams *qy, const int32_t *bias, int out, igemm_out *o)
{
    tensor *mult = &c->node->derived[1], *offset = &c->node->derived[2];
    const int32_t *sums = c->node->derived[3].data;
    int64_t m = c->node->derived[3].dims[0];
    onnxq_status s = tensor_prepare(c, mult, ONNXQ_DTYPE_FLOAT, 1, &m);
    if (s == ONNXQ_OK)
        s = tensor_prepare(c, offset, ONNXQ_DTYPE_INT32, 1, &m);
    if (s != ONNXQ_OK)
        return s;
    int flip = x->dtype == ONNXQ_DTYPE_INT8;
    int32_t zx = (int32_t)q_zero(qx, 0) + (flip ? 128 : 0);
    float *mv = mult->data;
    int32_t *ov = offset->data;
    for (int64_t r = 0; r < m; r++) {
        mv[r] = qconv_mult(qx, qw, qy, r);
        ov[r] = (bias ? bias[r] : 0) - zx * sums[r];
    }
    int is_u8 = out == ONNXQ_DTYPE_UINT8;
    *o = (igemm_out){ ov, mv, (int32_t)q_zero(qy, 0), is_u8 ? 0 : -128, is_u8 ? 255 : 127, flip };
    return ONNXQ_OK;
}

static onnxq_status op_qlinear_conv(op_ctx *c)
{
    qparams qx, qw, qy;
    int out;
    onnxq_status s = qlinear_inputs(c, 1, 0, &qx, &qw, &qy, &out);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0], *w = c->in[3], *b = op_in(c, 8);
    int64_t m = w->dims[0];
    if (b && (b->dtype != ONNXQ_DTYPE_INT32 || b->n != m))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "bias must be int32 with one value per channel");
    conv_kind kind = is_q8(x->dtype) ? conv_kind_of(c, x, w) : CONV_OTHER;
    if ((kind == CONV_POINTWISE || kind == CONV_PLAIN) && w->constant && w->n / m <= 65536 &&
        igemm_fast() && int8_weight(c, w, &qw, m, w->n / m, 0)) {
        /* As an 8-bit GEMM, exact integer sums requantized as stored. */
        igemm_out o;
        if ((s = igemm_params(c, x, &qx, &qw, &qy, b ? b->data : NULL, out, &o)) != ONNXQ_OK)
            return s;
        return conv_compute_q8(c, x, w, (uint8_t)q_zero(&qx, 0), c->node->derived[0].data, &o,
                               c->out[0], out);
    }
    tensor wf = { 0 }, *wc = NULL, *xf = &c->node->derived[1], *yf = &c->node->derived[2];
    if (kind == CONV_DEPTHWISE) {
        /* Centred as the planes are read, requantized as they come out. */
        requant_job job = { NULL, b ? b->data : NULL, &qx, &qw, &qy, m, c->out[0] };
        if ((s = centered_weight(c, w, &qw, &wf, &wc)) == ONNXQ_OK)
            s = conv_depthwise_q8(c, x, (int32_t)q_zero(&qx, 0), wc, c->out[0], out,
                                  requant_sink, &job);
        free(wf.data);
        return s;
    }
    if ((s = centered(c, x, &qx, xf)) == ONNXQ_OK)
        s = centered_weight(c, w, &qw, &wf, &wc);
    if (s == ONNXQ_OK)
        s = conv_compute(c, xf, wc, NULL, yf);
    if (s == ONNXQ_OK)
        s = tensor_prepare(c, c->out[0], out, yf->rank, yf->dims);
    if (s == ONNXQ_OK) {
        requant_job job = { yf->data, b ? b->data : NULL, &qx, &qw, &qy, m, c->out[0] };
        team_run(yf->n >= (1 << 16) ? c->team : NULL, yf->dims[0] * m, requant_plane, &job);
    }
    free(wf.data);
    return s;
}

typedef struct {
    const int8_t *w;     /* rows of igemm_depth(k) bytes, one per output column */
    const uint8_t *x;
    const igemm_out *o;
    uint8_t *y;
    uint8_t *work;       /* per bytes for each thread */
    size_t per;
    int64_t k, n, chunk; /* chunk: output columns per task */
} imatvec_job;

/* Columns [i chunk, (i + 1) chunk) of one row of a QLinearMatMul's output,
 * as an 8-bit GEMM of the weight's columns by the input row. */
static void imatvec_chunk(void *arg, int64_t task, int worker)
{
    const imatvec_job *j = arg;
    int64_t chunks = (j->n + j->chunk - 1) / j->chunk, row = task / chunks;
    int64_t c0 = task % chunks * j->chunk, count = j->n - c0 < j->chunk ? j->n - c0 : j->chunk;
    igemm_out o = *j->o;
    o.offset += c0;
    o.mult += c0;
    igemm(count, 1, j->k, j->w + c0 * igemm_depth(j->k), j->x + row * j->k, 1, &o,
          j->y + row * j->n + c0, 1, j->work + (size_t)worker * j->per);
}

/* QLinearMatMul by a constant 2-D weight (int8_weight done, by columns):
 * each row of the input times the weight as an 8-bit GEMM. */
static onnxq_status qmatmul_int8(op_ctx *c, const qparams *qa, const qparams *qb,
                                 const qparams *qy, int out)
{
    const tensor *a = c->in[0], *b = c->in[3];
    int64_t k = b->dims[0], n = b->dims[1], dims[TENSOR_MAX_RANK];
    for (int d = 0; d < a->rank; d++)
        dims[d] = a->dims[d];
    dims[a->rank - 1] = n;
    igemm_out o;
    onnxq_status s = igemm_params(c, a, qa, qb, qy, NULL, out, &o);
    if (s == ONNXQ_OK)
        s = tensor_prepare(c, c->out[0], out, a->rank, dims);
    size_t per = (igemm_workspace(k, 1) + 63) / 64 * 64;
    uint8_t *work = s == ONNXQ_OK ? op_scratch(c, (size_t)c->threads * per) : NULL;
    if (s != ONNXQ_OK || !work)
        return s != ONNXQ_OK ? s : op_fail(c, ONNXQ_ERR_NOMEM, "out of memory");
    imatvec_job job = { c->node->derived[0].data, a->data, &o, c->out[0]->data, work, per, k, n,
                        96 };
    int64_t tasks = a->n / k * ((n + job.chunk - 1) / job.chunk);
    team_run(n * k >= (1 << 16) ? c->team : NULL, tasks, imatvec_chunk, &job);
    return ONNXQ_OK;
}

static onnxq_status op_qlinear_matmul(op_ctx *c)
{
    /* b may have one scale per column (per output channel). */
    qparams qa, qb, qy;
    int out;
    onnxq_status s = qlinear_inputs(c, -1, -1, &qa, &qb, &qy, &out);
    if (s != ONNXQ_OK)
        return s;
    const tensor *a = c->in[0], *b = c->in[3];
    /* A batch of a few rows by a constant weight: an 8-bit GEMM per row. */
    if (b->constant && b->rank == 2 && a->rank >= 1 && a->dims[a->rank - 1] == b->dims[0] &&
        b->dims[0] <= 65536 && a->n / b->dims[0] <= 16 && igemm_fast() &&
        int8_weight(c, b, &qb, b->dims[1], b->dims[0], 1))
        return qmatmul_int8(c, &qa, &qb, &qy, out);
    tensor bf = { 0 }, *bc = NULL, *af = &c->node->derived[1], *yf = &c->node->derived[2];
    if ((s = centered(c, a, &qa, af)) == ONNXQ_OK)
        s = centered_weight(c, b, &qb, &bf, &bc);
    if (s == ONNXQ_OK)
        s = matmul_compute(c, af, bc, yf);
    if (s == ONNXQ_OK)
        s = tensor_prepare(c, c->out[0], out, yf->rank, yf->dims);
    if (s == ONNXQ_OK) {
        const float *yv = yf->data;
        int64_t cols = b->rank > 1 ? b->dims[b->rank - 1] : 1;
        for (int64_t i = 0; i < yf->n; i++) {
            float mult = qa.scale[0] * qb.scale[qb.count == 1 ? 0 : i % cols] / qy.scale[0];
            store_q8(c->out[0], i, saturate(yv[i] * mult, (float)q_zero(&qy, 0), out));
        }
    }
    free(bf.data);
    return s;
}

/* Elements [from, to) of QLinearAdd for 8-bit types T (b a scalar when
 * b_scalar). */
#define QLINEAR_ADD(name, T, dtype)                                                       \
    VECTOR_CLONES static void name(const T *restrict a, const T *restrict b, int b_scalar,  \
                                   float za, float zb, float zy, float sa, float sb,        \
                                   T *restrict y, int64_t from, int64_t to)                 \
    {                                                                                       \
        for (int64_t i = from; i < to; i++) {                                               \
            float va = ((float)a[i] - za) * sa, vb = ((float)b[b_scalar ? 0 : i] - zb) * sb; \
            y[i] = (T)saturate(va + vb, zy, dtype);                                         \
        }                                                                                   \
    }
QLINEAR_ADD(qlinear_add_u8, uint8_t, ONNXQ_DTYPE_UINT8)
QLINEAR_ADD(qlinear_add_s8, int8_t, ONNXQ_DTYPE_INT8)
#undef QLINEAR_ADD

typedef struct {
    const tensor *a, *b, *y;
    float za, zb, zy, sa, sb;
} qadd_job;

static void qadd_range(void *arg, int64_t from, int64_t to, int worker)
{
    const qadd_job *j = arg;
    (void)worker;
    if (j->a->dtype == ONNXQ_DTYPE_UINT8)
        qlinear_add_u8(j->a->data, j->b->data, j->b->n == 1, j->za, j->zb, j->zy, j->sa, j->sb,
                       j->y->data, from, to);
    else
        qlinear_add_s8(j->a->data, j->b->data, j->b->n == 1, j->za, j->zb, j->zy, j->sa, j->sb,
                       j->y->data, from, to);
}

/* com.microsoft QLinearAdd: C = quantize(dequantize(A) + dequantize(B)). */
static onnxq_status op_qlinear_add(op_ctx *c)
{
    onnxq_status s = ONNXQ_OK;
    for (size_t i = 0; i < 7 && s == ONNXQ_OK; i++)
        if (i != 2 && i != 5)
            s = op_need(c, i, 0);
    for (size_t i = 1; i < 8 && s == ONNXQ_OK; i += 3)
        s = scalar_param(c, i, "scale");
    if (s != ONNXQ_OK)
        return s;
    const tensor *a = c->in[0], *b = c->in[3];
    if (a->dtype != b->dtype || !is_q8(a->dtype))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "inputs %s and %s", onnxq_dtype_name(a->dtype),
                       onnxq_dtype_name(b->dtype));
    if (b->n != a->n && b->n != 1)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "broadcasting other than a scalar");
    qparams qa, qb, qy;
    if ((s = qparams_get(c, a, 1, 2, -1, &qa)) != ONNXQ_OK ||
        (s = qparams_get(c, b, 4, 5, -1, &qb)) != ONNXQ_OK ||
        (s = qparams_get(c, a, 6, 7, -1, &qy)) != ONNXQ_OK)
        return s;
    if ((s = tensor_prepare(c, c->out[0], a->dtype, a->rank, a->dims)) != ONNXQ_OK)
        return s;
    float za = (float)q_zero(&qa, 0), zb = (float)q_zero(&qb, 0), zy = (float)q_zero(&qy, 0);
    float sa = qa.scale[0] / qy.scale[0], sb = qb.scale[0] / qy.scale[0];
    qadd_job job = { a, b, c->out[0], za, zb, zy, sa, sb };
    team_run_ranges(c->team, a->n, 1 << 16, qadd_range, &job);
    return ONNXQ_OK;
}

/* com.microsoft QLinearGlobalAveragePool (NCHW unless channels_last). */
/* The sum of count elements of an 8-bit x, step apart from `start`. */
static int64_t sum_q8(const tensor *x, int64_t start, int64_t count, int64_t step)
{
    int64_t sum = 0;
    if (x->dtype == ONNXQ_DTYPE_UINT8) {
        const uint8_t *d = (const uint8_t *)x->data + start;
        for (int64_t i = 0; i < count; i++)
            sum += d[i * step];
    } else {
        const int8_t *d = (const int8_t *)x->data + start;
        for (int64_t i = 0; i < count; i++)
            sum += d[i * step];
    }
    return sum;
}

static onnxq_status op_qlinear_global_average_pool(op_ctx *c)
{
    onnxq_status s = ONNXQ_OK;
    for (size_t i = 0; i < 5 && s == ONNXQ_OK; i++)
        if (i != 2)
            s = op_need(c, i, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    if (!is_q8(x->dtype) || x->rank < 3)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s input of rank %d", onnxq_dtype_name(x->dtype),
                       x->rank);
    int last = (int)op_attr_int(c, "channels_last", 0);
    qparams qx, qy;
    if ((s = qparams_get(c, x, 1, 2, -1, &qx)) != ONNXQ_OK ||
        (s = qparams_get(c, x, 3, 4, -1, &qy)) != ONNXQ_OK)
        return s;
    int64_t n = x->dims[0], ch = last ? x->dims[x->rank - 1] : x->dims[1];
    int64_t area = x->n / (n * ch), dims[TENSOR_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        dims[d] = 1;
    dims[0] = n;
    dims[last ? x->rank - 1 : 1] = ch;
    if ((s = tensor_prepare(c, c->out[0], x->dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    float zx = (float)q_zero(&qx, 0), zy = (float)q_zero(&qy, 0);
    float mult = qx.scale[0] / qy.scale[0] / (float)area;
    for (int64_t in = 0; in < n; in++)
        for (int64_t k = 0; k < ch; k++) {
            int64_t sum = last ? sum_q8(x, in * area * ch + k, area, ch)
                               : sum_q8(x, (in * ch + k) * area, area, 1);
            float v = ((float)sum - zx * (float)area) * mult;
            store_q8(c->out[0], in * ch + k, saturate(v, zy, x->dtype));
        }
    return ONNXQ_OK;
}

const op_def ops_quant[] = {
    { "", "QuantizeLinear", op_quantize_linear },
    { "", "DequantizeLinear", op_dequantize_linear },
    { "", "QLinearConv", op_qlinear_conv },
    { "", "QLinearMatMul", op_qlinear_matmul },
    { "com.microsoft", "QLinearAdd", op_qlinear_add },
    { "com.microsoft", "QLinearGlobalAveragePool", op_qlinear_global_average_pool },
    { NULL, NULL, NULL },
};
