/* rounding.c: error-feedback rounding of weight tensors (GPTQ).
 *
 * A layer's weights form a matrix W of output rows by input columns (per
 * group for grouped convolutions, whose groups see distinct inputs).  Its
 * rows are rounded independently, column by column in the order of the
 * inputs' energy (the largest first, as GPTQ's "act order"); each
 * column's rounding error e is spread over the columns still to come as
 * e / U[i][i] * U[i][j], U being the upper Cholesky factor of H^-1 in that
 * column order.  H is damped by 1 % of its mean diagonal so that inputs
 * the calibration images hardly excite do not get huge corrections.
 *
 * H is a sample estimate: d columns from N input vectors.  Where N is not
 * many times d (a classifier after global pooling sees one vector an image:
 * googlenet's 1024 columns from 250 vectors), its off-diagonal part is
 * mostly the noise of those images, and the feedback fits the rounding
 * errors to them: on the calibration images themselves googlenet's
 * classifier then moved the KL 9 times less than on others, and with every
 * tensor quantized the KL on the decision images was 3.8 times that on the
 * calibration images (docs/BENCHMARKS.md).  So the off-diagonal part is
 * scaled by N / (N + d), toward H's diagonal (as Ledoit and Wolf's
 * estimator shrinks a sample covariance toward a diagonal target): kept
 * nearly whole for a 3x3 convolution on 28 x 28 positions, a fifth of it
 * kept for googlenet's 1024-wide classifier on 250 images. */
#include "config.h"
#include "rounding.h"
#include "compress/compress.h"
#include "gram.h"
#include "common/error.h"
#include "model/onnx_io.h"
#include "encode/quantize.h"
#include "scorer.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Larger layers would spend seconds factoring H; they are rounded to nearest. */
#define MAX_COLUMNS 4096

/* Row r of group g is output r + g * rows; column j of that row is at
 * (g * rows + r) * cols + j in the tensor, or at j * rows + r when the
 * tensor holds W transposed (the right operand of MatMul, Gemm's B
 * without transB). */
typedef struct layer {
    const Onnx__NodeProto *node; /* the node reading the weight; NULL when none seen */
    int excluded;                /* read by several nodes or in an unexpected shape */
    int transposed;
    int64_t groups, rows, cols;
    double *gram;                /* per group, cols x cols */
    double samples;              /* input vectors summed into each group's gram (N) */
    double *factor;              /* per group: U for the columns in `order` */
    int64_t *order;              /* per group: the columns in rounding order */
    unsigned char *dead;         /* per group and column: an input that was always 0 */
} layer;

struct rounding_stats {
    size_t n;
    layer *layers; /* per initializer */
};

static int is_op(const Onnx__NodeProto *node, const char *name)
{
    return (!node->domain || !node->domain[0]) && node->op_type && !strcmp(node->op_type, name);
}

static int64_t elements_of(const onnxq_tensor_view *v)
{
    int64_t n = 1;
    for (int d = 0; d < v->rank; d++)
        n *= v->dims[d];
    return n;
}

/* The shape of W as this node uses it; 0 when it is not a layer we handle. */
static int layer_shape(const Onnx__NodeProto *node, const onnxq_tensor_view *x,
                       const onnxq_tensor_view *w, layer *l)
{
    l->groups = 1;
    if (is_op(node, "Conv")) {
        int64_t group = onnx_attr_int(node, "group", 1);
        if (w->rank != 4 || group < 1 || w->dims[0] % group || !w->dims[0])
            return 0;
        l->groups = group;
        l->rows = w->dims[0] / group;
        l->cols = elements_of(w) / w->dims[0];
        return 1;
    }
    if (w->rank != 2 || x->rank < 1)
        return 0;
    int gemm = is_op(node, "Gemm");
    if (gemm && onnx_attr_int(node, "transB", 0)) {
        l->rows = w->dims[0];
        l->cols = w->dims[1];
    } else {
        l->transposed = 1;
        l->rows = w->dims[1];
        l->cols = w->dims[0];
    }
    int64_t k = gemm && onnx_attr_int(node, "transA", 0) ? x->dims[0] : x->dims[x->rank - 1];
    return k == l->cols;
}

/* H += the Gram matrix of x's rows (MatMul, Gemm), or of its columns for
 * Gemm's transA; -1 when out of memory. */
static int add_dense_gram(const Onnx__NodeProto *node, const onnxq_tensor_view *x, layer *l)
{
    int64_t k = l->cols, m = elements_of(x) / k;
    float *acc = malloc((size_t)(k * k + 1) * sizeof *acc);
    if (!acc)
        return -1;
    int columns = is_op(node, "Gemm") && onnx_attr_int(node, "transA", 0);
    gram_accumulate(l->gram, x->data, k, m, columns ? m : k, columns, acc);
    l->samples += (double)m;
    free(acc);
    return 0;
}

typedef struct collector {
    onnxq_model *model;
    rounding_stats *r;
} collector;

static onnxq_status observe(void *ctx, const Onnx__NodeProto *node, const onnxq_tensor_view *in,
                            size_t n_in, const onnxq_tensor_view *out, size_t n_out)
{
    collector *k = ctx;
    (void)out;
    (void)n_out;
    if (!is_op(node, "Conv") && !is_op(node, "Gemm") && !is_op(node, "MatMul"))
        return ONNXQ_OK;
    if (n_in < 2 || !in[0].data || !in[1].data || in[0].dtype != ONNXQ_DTYPE_FLOAT ||
        in[1].dtype != ONNXQ_DTYPE_FLOAT || !node->input[1])
        return ONNXQ_OK;
    const onnxq_tensor_view *x = &in[0], *w = &in[1];
    size_t t = onnxq_model_find_tensor(k->model, node->input[1]);
    if (t == (size_t)-1 || k->model->tensors[t].proto->data_type != ONNXQ_DTYPE_FLOAT)
        return ONNXQ_OK;
    layer *l = &k->r->layers[t];
    if (l->excluded)
        return ONNXQ_OK;
    if (l->node && l->node != node) {
        l->excluded = 1;
        return ONNXQ_OK;
    }
    if (!l->node) {
        if (!layer_shape(node, x, w, l) || l->cols > MAX_COLUMNS) {
            l->excluded = 1;
            return ONNXQ_OK;
        }
        l->node = node;
        l->gram = calloc((size_t)(l->groups * l->cols * l->cols), sizeof *l->gram);
        if (!l->gram)
            return ONNXQ_ERR_NOMEM;
    }
    int rc = is_op(node, "Conv") ? gram_conv(node, x, w, l->gram, &l->samples)
                                 : add_dense_gram(node, x, l);
    if (rc > 0) {
        l->excluded = 1; /* a geometry gram_conv does not take: rounded to nearest */
        return ONNXQ_OK;
    }
    return rc < 0 ? ONNXQ_ERR_NOMEM : ONNXQ_OK;
}

/* ---- Factoring H ---------------------------------------------------------------- */

/* In-place lower Cholesky factor of the d x d matrix a; -1 when a is not
 * positive definite. */
static int cholesky(double *a, int64_t d)
{
    for (int64_t j = 0; j < d; j++) {
        double s = a[j * d + j];
        for (int64_t k = 0; k < j; k++)
            s -= a[j * d + k] * a[j * d + k];
        if (!(s > 0))
            return -1;
        double root = sqrt(s);
        a[j * d + j] = root;
        for (int64_t i = j + 1; i < d; i++) {
            double v = a[i * d + j];
            for (int64_t k = 0; k < j; k++)
                v -= a[i * d + k] * a[j * d + k];
            a[i * d + j] = v / root;
        }
        for (int64_t i = 0; i < j; i++)
            a[i * d + j] = 0;
    }
    return 0;
}

/* In-place inverse of a lower triangular matrix. */
static void invert_lower(double *l, int64_t d)
{
    for (int64_t j = 0; j < d; j++) {
        l[j * d + j] = 1 / l[j * d + j];
        for (int64_t i = j + 1; i < d; i++) {
            double s = 0;
            for (int64_t k = j; k < i; k++)
                s += l[i * d + k] * l[k * d + j];
            l[i * d + j] = -s / l[i * d + i];
        }
    }
}

typedef struct ranked {
    double energy;
    int64_t column;
} ranked;

static int by_energy(const void *a, const void *b)
{
    const ranked *x = a, *y = b;
    if (x->energy != y->energy)
        return x->energy > y->energy ? -1 : 1;
    return (x->column > y->column) - (x->column < y->column);
}

/* U, the order and the dead inputs of one group from its Gram matrix g.
 * Returns -1 when out of memory or when H cannot be factored. */
static int factor_group(const double *g, int64_t d, double samples, double *u, int64_t *order,
                        unsigned char *dead)
{
    /* How much of H's off-diagonal part to keep: N / (N + d); all of it
     * when N is not known. */
    double keep = samples > 0 ? samples / (samples + (double)d) : 1;
    ranked *rank = malloc((size_t)d * sizeof *rank);
    double *h = malloc((size_t)(d * d) * sizeof *h);
    int rc = rank && h ? 0 : -1;
    double mean = 0;
    for (int64_t i = 0; !rc && i < d; i++) {
        dead[i] = !(g[i * d + i] > 0);
        rank[i].energy = dead[i] ? 1 : g[i * d + i];
        rank[i].column = i;
        mean += rank[i].energy / (double)d;
    }
    if (!rc) {
        qsort(rank, (size_t)d, sizeof *rank, by_energy);
        for (int64_t i = 0; i < d; i++)
            order[i] = rank[i].column;
    }
    for (double damp = 0.01; !rc; damp *= 10) {
        for (int64_t a = 0; a < d; a++)
            for (int64_t b = 0; b < d; b++) {
                int64_t i = order[a], j = order[b];
                h[a * d + b] = dead[i] || dead[j] ? (i == j) : g[i * d + j] * (i == j ? 1 : keep);
            }
        for (int64_t a = 0; a < d; a++)
            h[a * d + a] += damp * mean;
        if (cholesky(h, d) == 0)
            break;
        if (damp >= 10)
            rc = -1;
    }
    if (!rc) {
        /* H^-1 = L^-T L^-1, then its own lower factor, transposed to U. */
        invert_lower(h, d);
        cblas_dsyrk(CblasRowMajor, CblasLower, CblasTrans, (int)d, (int)d, 1.0, h, (int)d, 0.0, u,
                    (int)d);
        if (cholesky(u, d) != 0)
            rc = -1;
    }
    for (int64_t i = 0; !rc && i < d; i++)
        for (int64_t j = 0; j < i; j++) {
            u[j * d + i] = u[i * d + j];
            u[i * d + j] = 0;
        }
    free(rank);
    free(h);
    return rc;
}

static int factor_layer(layer *l)
{
    int64_t d = l->cols;
    l->factor = malloc((size_t)(l->groups * d * d) * sizeof *l->factor);
    l->order = malloc((size_t)(l->groups * d) * sizeof *l->order);
    l->dead = malloc((size_t)(l->groups * d));
    if (!l->factor || !l->order || !l->dead)
        return -1;
    int rc = 0;
#pragma omp parallel for schedule(dynamic) reduction(| : rc)
    for (int64_t g = 0; g < l->groups; g++)
        rc |= factor_group(l->gram + g * d * d, d, l->samples, l->factor + g * d * d,
                           l->order + g * d, l->dead + g * d);
    free(l->gram);
    l->gram = NULL;
    return rc;
}

static void layer_free(layer *l)
{
    free(l->gram);
    free(l->factor);
    free(l->order);
    free(l->dead);
}

void rounding_free(rounding_stats *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        layer_free(&r->layers[i]);
    free(r->layers);
    free(r);
}

onnxq_status rounding_collect(onnxq_model *model, onnxq_scorer *scorer, size_t images,
                              rounding_stats **out, size_t *ran, onnxq_error *err)
{
    *out = NULL;
    rounding_stats *r = calloc(1, sizeof *r);
    if (r) {
        r->n = model->n_tensors;
        r->layers = calloc(r->n + 1, sizeof *r->layers);
    }
    if (!r || !r->layers) {
        rounding_free(r);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    }
    collector k = { model, r };
    /* OpenBLAS (gram.c's ssyrk, called between operators) in the calling
     * thread: a pool of its own would spin beside the engine's threads. */
    openblas_set_num_threads(1);
    onnxq_status st = scorer_observe(scorer, model, images, observe, &k, ran, err);
    if (st == ONNXQ_ERR_NOMEM)
        st = onnxq_fail(err, st, "%s: out of memory for the input statistics", model->name);
    for (size_t i = 0; st == ONNXQ_OK && i < r->n; i++) {
        layer *l = &r->layers[i];
        if (l->excluded || !l->node || factor_layer(l) != 0) {
            layer_free(l);
            memset(l, 0, sizeof *l); /* rounded to nearest */
        }
    }
    if (st != ONNXQ_OK) {
        rounding_free(r);
        return st;
    }
    *out = r;
    return onnxq_ok(err);
}

int rounding_covers(const rounding_stats *r, size_t i)
{
    return r && i < r->n && r->layers[i].factor;
}

/* ---- Rounding ------------------------------------------------------------------------ */

/* The quantizer's level for v in output channel `out` (whose elements
 * start at out * inner, for per-channel steps); -1 in *bad when v has none. */
static float level_of(const quant_params *qp, float v, int64_t out, int *bad)
{
    int32_t k;
    uint64_t first = (uint64_t)out * (qp->inner ? qp->inner : 1);
    if (quant_encode_at(qp, &v, first, 1, &k) != 0) {
        *bad = 1;
        return v;
    }
    float back;
    quant_decode_at(qp, &k, first, 1, &back);
    return back;
}

/* Round one row (output) of group g in place. */
static int round_row(const layer *l, const quant_params *qp, float *w, int64_t g, int64_t r,
                     double *row)
{
    int64_t d = l->cols, out = g * l->rows + r, outputs = l->groups * l->rows;
    const double *u = l->factor + g * d * d;
    const int64_t *order = l->order + g * d;
    const unsigned char *dead = l->dead + g * d;
    int bad = 0;
#define AT(j) w[l->transposed ? (j) * outputs + out : out * d + (j)]
    for (int64_t a = 0; a < d; a++)
        row[a] = dead[order[a]] ? 0 : AT(order[a]);
    for (int64_t i = 0; i < d; i++) {
        float q = level_of(qp, (float)row[i], out, &bad);
        double e = (row[i] - q) / u[i * d + i];
        row[i] = q;
        const double *ui = u + i * d;
        for (int64_t j = i + 1; j < d; j++)
            row[j] -= e * ui[j];
    }
    for (int64_t a = 0; a < d; a++)
        AT(order[a]) = (float)row[a];
#undef AT
    return bad ? -1 : 0;
}

static int round_layer(const layer *l, const quant_params *qp, float *w)
{
    int64_t jobs = l->groups * l->rows;
    int bad = 0;
#pragma omp parallel reduction(| : bad)
    {
        double *row = malloc((size_t)l->cols * sizeof *row);
        bad |= !row;
#pragma omp for schedule(static)
        for (int64_t job = 0; job < jobs; job++)
            if (row)
                bad |= round_row(l, qp, w, job / l->rows, job % l->rows, row) != 0;
        free(row);
    }
    return bad ? -1 : 0;
}

int rounding_round_matrix(float *w, int64_t rows, int64_t cols, const double *gram,
                          double samples, const quant_params *qp)
{
    layer l = { .rows = rows, .cols = cols, .groups = 1, .samples = samples };
    l.gram = malloc((size_t)(cols * cols) * sizeof *l.gram);
    if (!l.gram)
        return -1;
    memcpy(l.gram, gram, (size_t)(cols * cols) * sizeof *gram);
    int rc = factor_layer(&l) != 0 || round_layer(&l, qp, w) != 0 ? -1 : 0;
    layer_free(&l);
    return rc;
}

static onnxq_status round_tensor(const layer *l, onnxq_model *model, size_t t,
                                 const onnxq_compress_options *o, double step, onnxq_error *err)
{
    onnxq_tensor_info info;
    onnxq_model_tensor_info(model, t, &info);
    quant_params qp;
    onnxq_status st = compress_setup_quant(model, t, o, step, &qp, err);
    if (st != ONNXQ_OK)
        return st;
    float *w = malloc(info.elements * sizeof *w + 1);
    if (!w)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    if (st == ONNXQ_OK)
        st = onnxq_tensor_read_float(model, t, w, info.elements, err);
    if (st == ONNXQ_OK && quant_prepare(&qp, w, info.elements) != 0)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    if (st == ONNXQ_OK && round_layer(l, &qp, w) != 0)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                        "%s: tensor '%s': step %g is too small for its weights", model->name,
                        info.name, step);
    if (st == ONNXQ_OK)
        st = onnxq_tensor_replace(model, t, ONNXQ_DTYPE_FLOAT, info.rank, info.dims, w,
                                  info.elements * sizeof *w, err);
    free(w);
    quant_free(&qp);
    return st;
}

onnxq_status rounding_apply(const rounding_stats *r, onnxq_model *model,
                            const onnxq_compress_options *o, const double *steps,
                            onnxq_error *err)
{
    /* Only the step quantizers: the others derive their levels from the
     * weights' range, which rounding would move. */
    if (o->quantizer != ONNXQ_QUANT_MIDRISE && o->quantizer != ONNXQ_QUANT_MIDTREAD &&
        o->quantizer != ONNXQ_QUANT_DEADZONE)
        return onnxq_ok(err);
    for (size_t t = 0; t < r->n && t < model->n_tensors; t++) {
        if (!rounding_covers(r, t) || !(steps[t] > 0))
            continue;
        onnxq_status st = round_tensor(&r->layers[t], model, t, o, steps[t], err);
        if (st != ONNXQ_OK)
            return st;
    }
    return onnxq_ok(err);
}
