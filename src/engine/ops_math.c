/* ops_math.c: elementwise operators, with numpy-style broadcasting. */
#include "config.h"
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Unary float operators ------------------------------------------------------ */

typedef enum {
    U_RELU, U_LEAKY, U_SIGMOID, U_HARDSIGMOID, U_HARDSIGMOID_GATE, U_HARDSWISH, U_TANH, U_EXP,
    U_LOG, U_SQRT, U_NEG, U_ABS, U_RECIPROCAL, U_FLOOR, U_CEIL, U_ELU, U_SELU, U_SOFTPLUS,
    U_ERF, U_CLIP, U_ROUND, U_SIGN, U_SOFTSIGN, U_THRESHOLDED_RELU, U_CELU
} unary_kind;

typedef struct unary_params {
    float alpha, beta, gamma, lo, hi;
} unary_params;

VECTOR_CLONES static void unary_apply(unary_kind k, const unary_params *p,
                                      const float *restrict x, float *restrict y, int64_t n)
{
    int64_t i;
    switch (k) {
    case U_RELU: for (i = 0; i < n; i++) y[i] = max_f(x[i], 0.0f); break;
    case U_LEAKY: for (i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : p->alpha * x[i]; break;
    case U_SIGMOID:
        for (i = 0; i < n; i++)
            y[i] = x[i] >= 0 ? 1 / (1 + expf(-x[i])) : expf(x[i]) / (1 + expf(x[i]));
        break;
    case U_HARDSIGMOID:
        for (i = 0; i < n; i++) y[i] = max_f(0, min_f(1, p->alpha * x[i] + p->beta));
        break;
    case U_HARDSIGMOID_GATE: /* x HardSigmoid(x), the same operations as the two apart */
        for (i = 0; i < n; i++) y[i] = x[i] * max_f(0, min_f(1, p->alpha * x[i] + p->beta));
        break;
    case U_HARDSWISH:
        for (i = 0; i < n; i++) y[i] = x[i] * max_f(0, min_f(1, x[i] / 6 + 0.5f));
        break;
    case U_TANH: for (i = 0; i < n; i++) y[i] = tanhf(x[i]); break;
    case U_EXP: for (i = 0; i < n; i++) y[i] = expf(x[i]); break;
    case U_LOG: for (i = 0; i < n; i++) y[i] = logf(x[i]); break;
    case U_SQRT: for (i = 0; i < n; i++) y[i] = sqrtf(x[i]); break;
    case U_NEG: for (i = 0; i < n; i++) y[i] = -x[i]; break;
    case U_ABS: for (i = 0; i < n; i++) y[i] = fabsf(x[i]); break;
    case U_RECIPROCAL: for (i = 0; i < n; i++) y[i] = 1 / x[i]; break;
    case U_FLOOR: for (i = 0; i < n; i++) y[i] = floorf(x[i]); break;
    case U_CEIL: for (i = 0; i < n; i++) y[i] = ceilf(x[i]); break;
    case U_ROUND: for (i = 0; i < n; i++) y[i] = nearbyintf(x[i]); break;
    case U_SIGN: for (i = 0; i < n; i++) y[i] = (float)((x[i] > 0) - (x[i] < 0)); break;
    case U_SOFTSIGN: for (i = 0; i < n; i++) y[i] = x[i] / (1 + fabsf(x[i])); break;
    case U_ELU:
        for (i = 0; i < n; i++) y[i] = x[i] >= 0 ? x[i] : p->alpha * (expf(x[i]) - 1);
        break;
    case U_CELU:
        for (i = 0; i < n; i++)
            y[i] = max_f(0, x[i]) + min_f(0, p->alpha * (expf(x[i] / p->alpha) - 1));
        break;
    case U_SELU:
        for (i = 0; i < n; i++)
            y[i] = p->gamma * (x[i] > 0 ? x[i] : p->alpha * (expf(x[i]) - 1));
        break;
    case U_SOFTPLUS:
        for (i = 0; i < n; i++) y[i] = x[i] > 20 ? x[i] : log1pf(expf(x[i]));
        break;
    case U_ERF: for (i = 0; i < n; i++) y[i] = erff(x[i]); break;
    case U_THRESHOLDED_RELU: for (i = 0; i < n; i++) y[i] = x[i] > p->alpha ? x[i] : 0; break;
    case U_CLIP:
        for (i = 0; i < n; i++) {
            float v = x[i] < p->lo ? p->lo : x[i];
            y[i] = v > p->hi ? p->hi : v;
        }
        break;
    }
}

typedef struct {
    unary_kind kind;
    const unary_params *params;
    const float *x;
    float *y;
} unary_job;

static void unary_range(void *arg, int64_t from, int64_t to, int worker)
{
    const unary_job *j = arg;
    (void)worker;
    unary_apply(j->kind, j->params, j->x + from, j->y + from, to - from);
}

/* y = k(input `in`). */
static onnxq_status run_unary_on(op_ctx *c, size_t in, unary_kind k, const unary_params *p)
{
    onnxq_status s = op_need(c, in, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[in];
    if ((s = tensor_prepare(c, c->out[0], x->dtype, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    /* Large tensors in a chunk per thread. */
    unary_job job = { k, p, x->data, c->out[0]->data };
    team_run_ranges(c->team, x->n, 1 << 16, unary_range, &job);
    return ONNXQ_OK;
}

static onnxq_status run_unary(op_ctx *c, unary_kind k, const unary_params *p)
{
    return run_unary_on(c, 0, k, p);
}

#define UNARY(fn, kind)                                   \
    static onnxq_status fn(op_ctx *c)                     \
    {                                                     \
        unary_params p = { 0 };                           \
        return run_unary(c, kind, &p);                    \
    }
UNARY(op_relu, U_RELU)
UNARY(op_sigmoid, U_SIGMOID)
UNARY(op_hardswish, U_HARDSWISH)
UNARY(op_tanh, U_TANH)
UNARY(op_exp, U_EXP)
UNARY(op_log, U_LOG)
UNARY(op_sqrt, U_SQRT)
UNARY(op_reciprocal, U_RECIPROCAL)
UNARY(op_floor, U_FLOOR)
UNARY(op_ceil, U_CEIL)
UNARY(op_round, U_ROUND)
UNARY(op_softplus, U_SOFTPLUS)
UNARY(op_softsign, U_SOFTSIGN)
UNARY(op_erf, U_ERF)

/* The activations whose one attribute is alpha. */
#define UNARY_ALPHA(fn, kind, alpha_default)                                   \
    static onnxq_status fn(op_ctx *c)                                          \
    {                                                                          \
        unary_params p = { .alpha = op_attr_float(c, "alpha", alpha_default) }; \
        return run_unary(c, kind, &p);                                         \
    }
UNARY_ALPHA(op_leaky_relu, U_LEAKY, 0.01f)
UNARY_ALPHA(op_elu, U_ELU, 1.0f)
UNARY_ALPHA(op_celu, U_CELU, 1.0f)
UNARY_ALPHA(op_thresholded_relu, U_THRESHOLDED_RELU, 1.0f)

static onnxq_status op_hard_sigmoid(op_ctx *c)
{
    unary_params p = { .alpha = op_attr_float(c, "alpha", 0.2f),
                       .beta = op_attr_float(c, "beta", 0.5f) };
    return run_unary(c, U_HARDSIGMOID, &p);
}

static onnxq_status op_selu(op_ctx *c)
{
    unary_params p = { .alpha = op_attr_float(c, "alpha", 1.67326319217681884765625f),
                       .gamma = op_attr_float(c, "gamma", 1.05070102214813232421875f) };
    return run_unary(c, U_SELU, &p);
}

/* Clip's bounds were attributes up to opset 10 and are optional inputs since. */
static onnxq_status op_clip(op_ctx *c)
{
    unary_params p = { .lo = -INFINITY, .hi = INFINITY };
    if (c->node->opset < 11) {
        p.lo = op_attr_float(c, "min", -INFINITY);
        p.hi = op_attr_float(c, "max", INFINITY);
    } else {
        const tensor *lo = op_in(c, 1), *hi = op_in(c, 2);
        if ((lo && (lo->dtype != ONNXQ_DTYPE_FLOAT || lo->n != 1)) ||
            (hi && (hi->dtype != ONNXQ_DTYPE_FLOAT || hi->n != 1)))
            return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "min and max must be float scalars");
        if (lo)
            p.lo = *(const float *)lo->data;
        if (hi)
            p.hi = *(const float *)hi->data;
    }
    return run_unary(c, U_CLIP, &p);
}

static onnxq_status op_neg(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    if (x->dtype == ONNXQ_DTYPE_FLOAT) {
        unary_params p = { 0 };
        return run_unary(c, U_NEG, &p);
    }
    if (x->dtype != ONNXQ_DTYPE_INT64 && x->dtype != ONNXQ_DTYPE_INT32)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s input", onnxq_dtype_name(x->dtype));
    if ((s = tensor_prepare(c, c->out[0], x->dtype, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    for (int64_t i = 0; i < x->n; i++) {
        if (x->dtype == ONNXQ_DTYPE_INT64)
            ((int64_t *)c->out[0]->data)[i] = -((const int64_t *)x->data)[i];
        else
            ((int32_t *)c->out[0]->data)[i] = -((const int32_t *)x->data)[i];
    }
    return ONNXQ_OK;
}

static onnxq_status op_abs(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    if (c->in[0]->dtype == ONNXQ_DTYPE_FLOAT) {
        unary_params p = { 0 };
        return run_unary(c, U_ABS, &p);
    }
    return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s input", onnxq_dtype_name(c->in[0]->dtype));
}

static onnxq_status op_sign(op_ctx *c)
{
    unary_params p = { 0 };
    return run_unary(c, U_SIGN, &p);
}

/* ---- Broadcasting ------------------------------------------------------------------- */

/* The output shape of numpy broadcasting a and b, and for each operand its
 * element strides in the output's coordinates (0 along broadcast axes). */
typedef struct bcast {
    int rank;
    int64_t dims[TENSOR_MAX_RANK];
    int64_t sa[TENSOR_MAX_RANK], sb[TENSOR_MAX_RANK];
} bcast;

static onnxq_status bcast_shapes(op_ctx *c, const tensor *a, const tensor *b, bcast *bc)
{
    onnxq_status s = op_broadcast_shape(c, a->rank, a->dims, b->rank, b->dims, &bc->rank, bc->dims);
    if (s == ONNXQ_OK) {
        tensor_broadcast_strides(a, bc->rank, bc->sa);
        tensor_broadcast_strides(b, bc->rank, bc->sb);
    }
    return s;
}

/* Calls body(out_offset, a_offset, b_offset, inner, inner_sa, inner_sb) for
 * each run along the last axis. */
#define BCAST_LOOP(bc, ...)                                                          \
    do {                                                                             \
        int64_t idx_[TENSOR_MAX_RANK] = { 0 };                                       \
        int r_ = (bc).rank;                                                          \
        int64_t inner = r_ ? (bc).dims[r_ - 1] : 1;                                  \
        int64_t isa = r_ ? (bc).sa[r_ - 1] : 0, isb = r_ ? (bc).sb[r_ - 1] : 0;     \
        int64_t outer = 1;                                                           \
        for (int d_ = 0; d_ < r_ - 1; d_++)                                          \
            outer *= (bc).dims[d_];                                                  \
        if (inner == 0)                                                              \
            outer = 0;                                                               \
        for (int64_t o_ = 0; o_ < outer; o_++) {                                     \
            int64_t oa = 0, ob = 0;                                                  \
            for (int d_ = 0; d_ < r_ - 1; d_++) {                                    \
                oa += idx_[d_] * (bc).sa[d_];                                        \
                ob += idx_[d_] * (bc).sb[d_];                                        \
            }                                                                        \
            int64_t oo = o_ * inner;                                                 \
            __VA_ARGS__;                                                             \
            index_next(idx_, (bc).dims, r_ - 1);                                     \
        }                                                                            \
    } while (0)

typedef enum { B_ADD, B_SUB, B_MUL, B_DIV, B_POW, B_MAX, B_MIN, B_PRELU, B_MOD, B_FMOD,
               B_EQUAL, B_LESS, B_GREATER, B_LESS_EQUAL, B_GREATER_EQUAL } binary_kind;

static int is_comparison(binary_kind k) { return k >= B_EQUAL; }

static inline float fbin(binary_kind k, float a, float b)
{
    switch (k) {
    case B_ADD: return a + b;
    case B_SUB: return a - b;
    case B_MUL: return a * b;
    case B_DIV: return a / b;
    case B_POW: return powf(a, b);
    case B_MAX: return a > b ? a : b;
    case B_MIN: return a < b ? a : b;
    case B_PRELU: return a < 0 ? a * b : a;
    case B_MOD: case B_FMOD: return fmodf(a, b);
    default: return 0;
    }
}

static inline int64_t ibin(binary_kind k, int64_t a, int64_t b)
{
    switch (k) {
    case B_ADD: return (int64_t)((uint64_t)a + (uint64_t)b);
    case B_SUB: return (int64_t)((uint64_t)a - (uint64_t)b);
    case B_MUL: return (int64_t)((uint64_t)a * (uint64_t)b);
    case B_DIV: return b ? a / b : 0;
    case B_MAX: return a > b ? a : b;
    case B_MIN: return a < b ? a : b;
    case B_FMOD: return b ? a % b : 0;
    case B_MOD: {
        if (!b)
            return 0;
        int64_t r = a % b;
        return r && ((r < 0) != (b < 0)) ? r + b : r; /* Mod with fmod=0: sign of b */
    }
    case B_POW: {
        int64_t r = 1;
        for (int64_t i = 0; i < b; i++)
            r *= a;
        return r;
    }
    default: return 0;
    }
}

static inline uint8_t cmp(binary_kind k, double a, double b)
{
    switch (k) {
    case B_EQUAL: return a == b;
    case B_LESS: return a < b;
    case B_GREATER: return a > b;
    case B_LESS_EQUAL: return a <= b;
    case B_GREATER_EQUAL: return a >= b;
    default: return 0;
    }
}

/* Merge neighbouring axes both operands step through as one (both
 * contiguous across them, or both broadcast), from the innermost out, so
 * the loops below run long inner loops: x[N,C,H,W] * s[1,C,1,1] becomes
 * C runs of H*W. */
static void bcast_merge(bcast *bc)
{
    int r = bc->rank;
    while (r >= 2) {
        int d = r - 2; /* try to merge axis d into d + 1 */
        int64_t inner = bc->dims[d + 1];
        if (bc->sa[d] != bc->sa[d + 1] * inner || bc->sb[d] != bc->sb[d + 1] * inner)
            break;
        bc->dims[d] *= inner;
        bc->sa[d] = bc->sa[d + 1];
        bc->sb[d] = bc->sb[d + 1];
        r--;
    }
    bc->rank = r;
}

/* y = a k b, broadcast; a sum clamped to [lo, hi] (a Relu folded into an
 * Add). */
VECTOR_CLONES static void float_binary(binary_kind k, const bcast *bc, const float *restrict a,
                                       const float *restrict b, float lo, float hi,
                                       float *restrict y)
{
    BCAST_LOOP(*bc, {
        const float *pa = a + oa, *pb = b + ob;
        float *py = y + oo;
        if (isa == 1 && isb == 1) {
            switch (k) {
            case B_ADD:
                for (int64_t i = 0; i < inner; i++)
                    py[i] = clamp_f(pa[i] + pb[i], lo, hi);
                break;
            case B_MUL: for (int64_t i = 0; i < inner; i++) py[i] = pa[i] * pb[i]; break;
            default: for (int64_t i = 0; i < inner; i++) py[i] = fbin(k, pa[i], pb[i]); break;
            }
        } else if (isa == 1 && isb == 0) {
            float vb = *pb;
            switch (k) {
            case B_ADD:
                for (int64_t i = 0; i < inner; i++)
                    py[i] = clamp_f(pa[i] + vb, lo, hi);
                break;
            case B_MUL: for (int64_t i = 0; i < inner; i++) py[i] = pa[i] * vb; break;
            default: for (int64_t i = 0; i < inner; i++) py[i] = fbin(k, pa[i], vb); break;
            }
        } else if (k == B_ADD) {
            for (int64_t i = 0; i < inner; i++)
                py[i] = clamp_f(pa[i * isa] + pb[i * isb], lo, hi);
        } else {
            for (int64_t i = 0; i < inner; i++)
                py[i] = fbin(k, pa[i * isa], pb[i * isb]);
        }
    });
}

typedef struct {
    binary_kind kind;
    const bcast *bc; /* of rank 1: one run */
    const float *a, *b;
    float lo, hi;
    float *y;
} binary_job;

static void binary_range(void *arg, int64_t from, int64_t to, int worker)
{
    const binary_job *j = arg;
    bcast mine = *j->bc;
    (void)worker;
    mine.dims[0] = to - from;
    float_binary(j->kind, &mine, j->a + from * mine.sa[0], j->b + from * mine.sb[0], j->lo, j->hi,
                 j->y + from);
}

static onnxq_status run_binary(op_ctx *c, binary_kind k, const tensor *a, const tensor *b,
                               tensor *y)
{
    if (a->dtype != b->dtype)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "inputs of different types (%s, %s)",
                       onnxq_dtype_name(a->dtype), onnxq_dtype_name(b->dtype));
    bcast bc;
    onnxq_status s = bcast_shapes(c, a, b, &bc);
    int out_type = is_comparison(k) ? ONNXQ_DTYPE_BOOL : a->dtype;
    if (s == ONNXQ_OK)
        s = tensor_prepare(c, y, out_type, bc.rank, bc.dims);
    if (s != ONNXQ_OK)
        return s;
    float lo, hi;
    folded_clamp(c->node, &lo, &hi);
    if (a->dtype == ONNXQ_DTYPE_FLOAT && !is_comparison(k)) {
        bcast_merge(&bc);
        const float *fa = a->data, *fb = b->data;
        float *fy = y->data;
        if (bc.rank != 1) {
            float_binary(k, &bc, fa, fb, lo, hi, fy);
            return ONNXQ_OK;
        }
        /* One run (operands of one shape, or one a scalar): a chunk per
         * thread. */
        binary_job job = { k, &bc, fa, fb, lo, hi, fy };
        team_run_ranges(c->team, bc.dims[0], 1 << 16, binary_range, &job);
        return ONNXQ_OK;
    }
    if (is_comparison(k)) {
        uint8_t *py = y->data;
        int fl = a->dtype == ONNXQ_DTYPE_FLOAT;
        const float *fa = a->data, *fb = b->data;
        BCAST_LOOP(bc, {
            for (int64_t i = 0; i < inner; i++) {
                int64_t ia = oa + i * isa, ib = ob + i * isb;
                py[oo + i] = fl ? cmp(k, fa[ia], fb[ib])
                                : cmp(k, (double)tensor_int_at(a, ia), (double)tensor_int_at(b, ib));
            }
        });
        return ONNXQ_OK;
    }
    if (a->dtype == ONNXQ_DTYPE_BOOL || a->dtype == ONNXQ_DTYPE_FLOAT)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s inputs", onnxq_dtype_name(a->dtype));
    /* Integer results wrap to the element type, as in C and numpy. */
    BCAST_LOOP(bc, {
        for (int64_t i = 0; i < inner; i++) {
            int64_t v = ibin(k, tensor_int_at(a, oa + i * isa), tensor_int_at(b, ob + i * isb));
            switch (y->dtype) {
            case ONNXQ_DTYPE_INT64: ((int64_t *)y->data)[oo + i] = v; break;
            case ONNXQ_DTYPE_INT32: ((uint32_t *)y->data)[oo + i] = (uint32_t)v; break;
            default: ((uint8_t *)y->data)[oo + i] = (uint8_t)v; break;
            }
        }
    });
    /* A Relu folded into an integer Add (rare: a folded Clip has float
     * bounds, so float inputs). */
    for (int64_t i = 0; c->node && c->node->has_clamp && i < y->n; i++) {
        int64_t v = tensor_int_at(y, i);
        if ((double)v < lo || (double)v > hi) {
            v = (double)v < lo ? (int64_t)lo : (int64_t)hi;
            switch (y->dtype) {
            case ONNXQ_DTYPE_INT64: ((int64_t *)y->data)[i] = v; break;
            case ONNXQ_DTYPE_INT32: ((uint32_t *)y->data)[i] = (uint32_t)v; break;
            default: ((uint8_t *)y->data)[i] = (uint8_t)v; break;
            }
        }
    }
    return ONNXQ_OK;
}

static onnxq_status run_binary_op(op_ctx *c, binary_kind k)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, 0);
    if (s != ONNXQ_OK)
        return s;
    if (c->node->opset < 7 && op_attr(c, "broadcast"))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "the legacy 'broadcast' attribute (opset < 7)");
    return run_binary(c, k, c->in[0], c->in[1], c->out[0]);
}

#define BINARY(fn, kind) \
    static onnxq_status fn(op_ctx *c) { return run_binary_op(c, kind); }
BINARY(op_add, B_ADD)
BINARY(op_sub, B_SUB)
static onnxq_status op_mul(op_ctx *c)
{
    const eng_node *gate = c->node->gate;
    if (gate) {
        /* x HardSigmoid(x), the HardSigmoid folded in (a hard swish). */
        op_ctx g = *c;
        g.node = gate;
        unary_params p = { .alpha = op_attr_float(&g, "alpha", 0.2f),
                           .beta = op_attr_float(&g, "beta", 0.5f) };
        return run_unary_on(c, (size_t)c->node->gate_x, U_HARDSIGMOID_GATE, &p);
    }
    return run_binary_op(c, B_MUL);
}
BINARY(op_div, B_DIV)
BINARY(op_pow, B_POW)
BINARY(op_prelu, B_PRELU)
BINARY(op_equal, B_EQUAL)
BINARY(op_less, B_LESS)
BINARY(op_greater, B_GREATER)
BINARY(op_less_equal, B_LESS_EQUAL)
BINARY(op_greater_equal, B_GREATER_EQUAL)

static onnxq_status op_mod(op_ctx *c)
{
    int fmod_mode = (int)op_attr_int(c, "fmod", 0);
    if (!fmod_mode && op_in(c, 0) && c->in[0]->dtype == ONNXQ_DTYPE_FLOAT)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "float Mod needs fmod=1");
    return run_binary_op(c, fmod_mode ? B_FMOD : B_MOD);
}

/* Sum, Max, Min and Mean fold their inputs pairwise into the output. */
static onnxq_status run_variadic(op_ctx *c, binary_kind k, int mean)
{
    if (c->n_in == 0 || !op_in(c, 0))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "no inputs");
    tensor *y = c->out[0];
    onnxq_status s = tensor_copy(c, y, c->in[0]);
    /* Each step reads the accumulated value from a copy, since the result
     * may broadcast to a larger shape than the accumulator holds. */
    for (size_t i = 1; s == ONNXQ_OK && i < c->n_in; i++) {
        if ((s = op_need(c, i, y->dtype)) != ONNXQ_OK)
            break;
        tensor acc = { 0 };
        if ((s = tensor_copy(c, &acc, y)) == ONNXQ_OK)
            s = run_binary(c, k, &acc, c->in[i], y);
        free(acc.data);
    }
    if (s == ONNXQ_OK && mean) {
        if (y->dtype != ONNXQ_DTYPE_FLOAT)
            return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "Mean of %s", onnxq_dtype_name(y->dtype));
        float *p = y->data;
        for (int64_t i = 0; i < y->n; i++)
            p[i] /= (float)c->n_in;
    }
    return s;
}

static onnxq_status op_sum(op_ctx *c) { return run_variadic(c, B_ADD, 0); }
static onnxq_status op_max(op_ctx *c) { return run_variadic(c, B_MAX, 0); }
static onnxq_status op_min(op_ctx *c) { return run_variadic(c, B_MIN, 0); }
static onnxq_status op_mean(op_ctx *c) { return run_variadic(c, B_ADD, 1); }

static onnxq_status op_where(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_BOOL);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, 0);
    if (s == ONNXQ_OK)
        s = op_need(c, 2, c->in[1]->dtype);
    if (s != ONNXQ_OK)
        return s;
    const tensor *cond = c->in[0], *x = c->in[1], *yv = c->in[2];
    bcast b1, b2;
    if ((s = bcast_shapes(c, cond, x, &b1)) != ONNXQ_OK)
        return s;
    tensor shape = { .rank = b1.rank };
    memcpy(shape.dims, b1.dims, sizeof shape.dims);
    if ((s = bcast_shapes(c, &shape, yv, &b2)) != ONNXQ_OK)
        return s;
    tensor *out = c->out[0];
    if ((s = tensor_prepare(c, out, x->dtype, b2.rank, b2.dims)) != ONNXQ_OK)
        return s;
    int64_t sc[TENSOR_MAX_RANK], sx[TENSOR_MAX_RANK], sy[TENSOR_MAX_RANK];
    tensor_broadcast_strides(cond, out->rank, sc);
    tensor_broadcast_strides(x, out->rank, sx);
    tensor_broadcast_strides(yv, out->rank, sy);
    size_t es = tensor_elem_size(x->dtype);
    int64_t idx[TENSOR_MAX_RANK] = { 0 };
    for (int64_t i = 0; i < out->n; i++) {
        int64_t oc = 0, ox = 0, oy = 0;
        for (int d = 0; d < out->rank; d++) {
            oc += idx[d] * sc[d];
            ox += idx[d] * sx[d];
            oy += idx[d] * sy[d];
        }
        const uint8_t *src = ((const uint8_t *)cond->data)[oc] ? (const uint8_t *)x->data + ox * es
                                                               : (const uint8_t *)yv->data + oy * es;
        memcpy((uint8_t *)out->data + i * es, src, es);
        index_next(idx, out->dims, out->rank);
    }
    return ONNXQ_OK;
}

const op_def ops_math[] = {
    { "", "Relu", op_relu },
    { "", "LeakyRelu", op_leaky_relu },
    { "", "PRelu", op_prelu },
    { "", "Sigmoid", op_sigmoid },
    { "", "HardSigmoid", op_hard_sigmoid },
    { "", "HardSwish", op_hardswish },
    { "", "Tanh", op_tanh },
    { "", "Exp", op_exp },
    { "", "Log", op_log },
    { "", "Sqrt", op_sqrt },
    { "", "Neg", op_neg },
    { "", "Abs", op_abs },
    { "", "Sign", op_sign },
    { "", "Reciprocal", op_reciprocal },
    { "", "Floor", op_floor },
    { "", "Ceil", op_ceil },
    { "", "Round", op_round },
    { "", "Elu", op_elu },
    { "", "Celu", op_celu },
    { "", "Selu", op_selu },
    { "", "Softplus", op_softplus },
    { "", "Softsign", op_softsign },
    { "", "Erf", op_erf },
    { "", "ThresholdedRelu", op_thresholded_relu },
    { "", "Clip", op_clip },
    { "", "Add", op_add },
    { "", "Sub", op_sub },
    { "", "Mul", op_mul },
    { "", "Div", op_div },
    { "", "Pow", op_pow },
    { "", "Mod", op_mod },
    { "", "Equal", op_equal },
    { "", "Less", op_less },
    { "", "Greater", op_greater },
    { "", "LessOrEqual", op_less_equal },
    { "", "GreaterOrEqual", op_greater_equal },
    { "", "Sum", op_sum },
    { "", "Max", op_max },
    { "", "Min", op_min },
    { "", "Mean", op_mean },
    { "", "Where", op_where },
    { NULL, NULL, NULL },
};
