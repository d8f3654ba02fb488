/* engine.h: what the engine's operator modules share.
 *
 * Every value of the graph (input, initializer, node output) is a tensor
 * slot.  A slot keeps its buffer from run to run and grows it only when a
 * shape needs more, so steady-state inference allocates nothing.  Operators
 * get their input slots and fill their output slots through tensor_prepare. */
#ifndef ONNXQ_ENGINE_INTERNAL_H
#define ONNXQ_ENGINE_INTERNAL_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include "onnx.pb-c.h"
#include "onnxq/engine.h"
#include "team.h"

#define TENSOR_MAX_RANK 8
#define DERIVED_SLOTS 4

typedef struct tensor {
    int dtype;
    int rank;
    int64_t dims[TENSOR_MAX_RANK];
    int64_t n;            /* elements */
    void *data;
    size_t capacity;      /* bytes owned at data */
    int constant;         /* an initializer or a Constant's value */
    int defined;          /* holds a value for this run */
    /* In-place Concat.  A Concat whose inputs join along one contiguous run
     * of its output gives each input a home there: the output's tensor,
     * the byte offset, the input's size then.  When the input is next
     * prepared with that size, its data is that part of the output's
     * buffer (borrowed: not owned, never freed or grown), so its producer
     * writes straight into place and the Concat copies nothing.  A Concat's
     * output (a host) gets no home itself. */
    struct tensor *home;
    size_t home_offset, home_bytes;
    int borrowed, host;
} tensor;

/* Release t's buffer (unless borrowed); t keeps its type and shape. */
void tensor_release(tensor *t);

typedef struct op_ctx op_ctx;
typedef onnxq_status (*op_fn)(op_ctx *c);

typedef struct op_def {
    const char *domain; /* "" for the default ONNX domain */
    const char *name;
    op_fn run;
} op_def;

typedef struct eng_node {
    const Onnx__NodeProto *proto;
    const op_def *op;
    int64_t opset;       /* the model's opset for the node's domain */
    size_t n_in, n_out;
    int *in, *out;       /* value slots; -1 for an omitted optional input */
    /* A Relu or Clip folded into this node (a Conv): its output is clamped
     * to [clamp_lo, clamp_hi].  A folded node itself has `folded` set and
     * does not run. */
    float clamp_lo, clamp_hi;
    int has_clamp, folded;
    /* DERIVED_SLOTS tensors an operator keeps from run to run, owned by
     * the engine: what it derives once from constant inputs (the QLinear
     * operators' centred weights), and buffers for its intermediate
     * results, allocated once rather than on every run. */
    tensor *derived;
    /* A Mul whose other input was HardSigmoid(x) of input gate_x: that
     * HardSigmoid node (folded; both inputs now x), computed in one pass. */
    const struct eng_node *gate;
    int gate_x;
    /* A MaxPool folded into this node (a Conv): its output is the pooled
     * one, the convolution's never stored whole (see conv_compute). */
    const struct eng_node *pool;
} eng_node;

/* The bounds of the Relu or Clip folded into the node, or -inf and inf. */
static inline void folded_clamp(const eng_node *n, float *lo, float *hi)
{
    *lo = n && n->has_clamp ? n->clamp_lo : -INFINITY;
    *hi = n && n->has_clamp ? n->clamp_hi : INFINITY;
}

struct op_ctx {
    const char *model_name;
    const eng_node *node;
    tensor **in;         /* n_in entries, NULL for an omitted input */
    tensor **out;
    size_t n_in, n_out;
    int threads;         /* team_size(team): per-thread scratch is sized by it */
    team *team;          /* the engine's threads, for team_run */
    onnxq_error *err;
    void **scratch;      /* the engine's scratch buffer, see op_scratch */
    size_t *scratch_size;
};

/* ---- Tensors -------------------------------------------------------------- */

size_t tensor_elem_size(int dtype);
/* Nonzero for the element types the engine computes with. */
int tensor_dtype_supported(int dtype);
/* Give t a type and shape, growing its buffer when needed. */
onnxq_status tensor_prepare(op_ctx *c, tensor *t, int dtype, int rank, const int64_t *dims);
/* y: x's elements with another shape (as many elements), sharing x's
 * buffer where that is safe (y then borrows it until it is next
 * prepared), copying them otherwise. */
onnxq_status tensor_view(op_ctx *c, tensor *y, const tensor *x, int rank, const int64_t *dims);
/* Copy src's type, shape and data into dst. */
onnxq_status tensor_copy(op_ctx *c, tensor *dst, const tensor *src);
/* Element i of an integer tensor (INT64, INT32, INT8, UINT8, BOOL) as int64. */
int64_t tensor_int_at(const tensor *t, int64_t i);

/* On a function whose loops the compiler vectorizes: also compile it for
 * AVX-512 and AVX2, the copy to run picked by the CPU at load (an ifunc).
 * Memory-bound loops (pooling, depthwise convolution) run in half the
 * instructions or fewer. */
#if defined(__x86_64__) && defined(__has_attribute)
#if __has_attribute(target_clones)
#define VECTOR_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#endif
#endif
#ifndef VECTOR_CLONES
#define VECTOR_CLONES
#endif

/* On a function whose short loops fill and copy rows of a few dozen
 * values: keep them as loops.  gcc turns such loops into memset and
 * memcpy calls, whose fixed cost, paid some thirty times per 14 x 14
 * plane, outweighed the work. */
#if defined(__GNUC__) && !defined(__clang__)
#define INLINE_LOOPS __attribute__((optimize("no-tree-loop-distribute-patterns")))
#else
#define INLINE_LOOPS
#endif

/* max and min as single instructions (maxss/minss): fmaxf and fminf are
 * library calls unless NaN handling is relaxed, which onnxq does not do. */
static inline float max_f(float a, float b) { return a > b ? a : b; }
static inline float min_f(float a, float b) { return a < b ? a : b; }
/* x clamped to [lo, hi]; a NaN stays NaN. */
static inline float clamp_f(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* The numpy broadcast of shapes a and b into rank and dims, or an error. */
onnxq_status op_broadcast_shape(op_ctx *c, int ra, const int64_t *a, int rb, const int64_t *b,
                                int *rank, int64_t *dims);

/* t's element strides seen from an output of `rank` dimensions aligned to
 * the right, as numpy broadcasts: 0 along t's axes of size 1 and along the
 * leading axes t lacks. */
void tensor_broadcast_strides(const tensor *t, int rank, int64_t *stride);

/* Step a row-major multi-index over dims by one element; 0 once it has
 * wrapped around to all zeros. */
static inline int index_next(int64_t *idx, const int64_t *dims, int rank)
{
    for (int d = rank - 1; d >= 0; d--) {
        if (++idx[d] < dims[d])
            return 1;
        idx[d] = 0;
    }
    return 0;
}

/* ---- Operators' helpers ----------------------------------------------------- */

/* A one-line error naming the model, the node and its operator. */
onnxq_status op_fail(op_ctx *c, onnxq_status status, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

const Onnx__AttributeProto *op_attr(const op_ctx *c, const char *name);
int64_t op_attr_int(const op_ctx *c, const char *name, int64_t fallback);
float op_attr_float(const op_ctx *c, const char *name, float fallback);
/* The attribute's ints (count in *n), or NULL with *n = 0 when absent. */
const int64_t *op_attr_ints(const op_ctx *c, const char *name, size_t *n);
/* A string attribute, or fallback. */
const char *op_attr_string(const op_ctx *c, const char *name, const char *fallback);

/* Input i, or NULL when absent or omitted. */
static inline tensor *op_in(const op_ctx *c, size_t i) { return i < c->n_in ? c->in[i] : NULL; }

/* Demand input i of the given dtype (0: any). */
onnxq_status op_need(op_ctx *c, size_t i, int dtype);

/* A scratch buffer of at least `bytes`, owned by the engine and reused by
 * every operator (its contents do not survive the operator).  It starts on
 * a 64-byte cache line, so threads given parts of it in whole lines never
 * write to the same line. */
void *op_scratch(op_ctx *c, size_t bytes);
/* n floats rounded up to whole 64-byte cache lines: threads given parts of
 * the scratch buffer this long never write to the same line. */
static inline size_t whole_lines(size_t n) { return (n + 15) / 16 * 16; }

/* Reads a tensor of ints (INT64/INT32) into out[]; at most max entries. */
onnxq_status op_read_ints(op_ctx *c, const tensor *t, int64_t *out, size_t max, size_t *n);

/* Float convolution with the node's attributes, and numpy matmul: shared
 * by the float operators and their quantized forms. */
onnxq_status conv_compute(op_ctx *c, const tensor *x, const tensor *w, const tensor *b,
                          tensor *y);
onnxq_status matmul_compute(op_ctx *c, const tensor *a, const tensor *b, tensor *y);

typedef enum {
    CONV_OTHER,     /* grouped, or invalid */
    CONV_POINTWISE, /* 1 x 1, stride 1, unpadded, one group: a matrix product per image */
    CONV_PLAIN,     /* any other in one group */
    CONV_DEPTHWISE  /* one input and one output channel per group */
} conv_kind;
/* What the node's convolution of x by w is (CONV_OTHER when invalid). */
conv_kind conv_kind_of(op_ctx *c, const tensor *x, const tensor *w);
/* Receives the float sums of output plane `plane` (image * channels +
 * channel) of a convolution, on thread `worker`. */
typedef void plane_sink(void *arg, int64_t plane, const float *values, int worker);
/* The depthwise convolution of the 8-bit x less x_zero by the float weight
 * w, without bias or clamp: y is given its type y_dtype and shape, and
 * each output plane goes to sink (which fills y) rather than to memory. */
onnxq_status conv_depthwise_q8(op_ctx *c, const tensor *x, int32_t x_zero, const tensor *w,
                               tensor *y, int y_dtype, plane_sink *sink, void *sink_arg);
struct igemm_out;
/* The node's convolution (one group) of the 8-bit x by the int8 weight
 * rows a (one per output channel, igemm_depth(k) bytes each, k the
 * weight's values per channel, in w's order), requantized by o into y
 * (given its type y_dtype and shape).  Padding reads as the byte pad (x's
 * zero point).  w: the node's weight, for its shape. */
onnxq_status conv_compute_q8(op_ctx *c, const tensor *x, const tensor *w, uint8_t pad,
                             const int8_t *a, const struct igemm_out *o, tensor *y, int y_dtype);

/* ---- Shared with the scoring module ---------------------------------------------- */

/* Called after each node has run with the node and its inputs and
 * outputs, as views of the values it computed (an omitted one has data
 * NULL; a MaxPool folded into a Conv shows the Conv's input, not its
 * unpooled output): for collecting statistics of a layer's inputs.  A
 * status other than ONNXQ_OK stops the run. */
typedef onnxq_status (*engine_observer)(void *ctx, const Onnx__NodeProto *node,
                                        const onnxq_tensor_view *in, size_t n_in,
                                        const onnxq_tensor_view *out, size_t n_out);
void engine_set_observer(onnxq_engine *e, engine_observer fn, void *ctx);

/* Threads when the caller leaves it to us: the online cores (1 to 64). */
int engine_default_threads(void);

/* Nodes folded into others at load (a Relu into a Conv, a MaxPool after
 * one): for tests. */
size_t engine_folded_nodes(const onnxq_engine *e);
/* A monotonic clock, in seconds. */
double monotonic_seconds(void);

/* ---- The operator table ------------------------------------------------------ */

const op_def *ops_find(const char *domain, const char *name);

/* Each module's table, ended by an entry with a NULL name. */
extern const op_def ops_math[];
extern const op_def ops_nn[];
extern const op_def ops_shape[];
extern const op_def ops_quant[];

#endif
