/* biascorr.c: bias correction without images (biascorr.h). */
#include "config.h"
#include "biascorr.h"
#include "common/error.h"
#include "compress/compress.h"
#include "encode/quantize.h"
#include "model/graph.h"
#include "model/onnx_io.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct bias_layer {
    size_t weight, bias;        /* initializers of the folded model */
    int64_t out, group, in_per_group, kernel; /* weight [out, in_per_group, kh, kw] */
    double *mean;               /* E[x] per input channel (group * in_per_group) */
} bias_layer;

struct bias_plan {
    size_t n;
    bias_layer *layers;
};

static int op_is(const Onnx__NodeProto *n, const char *op)
{
    return (!n->domain || !n->domain[0]) && n->op_type && !strcmp(n->op_type, op);
}

/* A float initializer of m by name into a malloc'd array of `count`. */
static float *read_floats(onnxq_model *m, const char *name, uint64_t count)
{
    size_t i = name ? onnxq_model_find_tensor(m, name) : (size_t)-1;
    if (i == (size_t)-1 || m->tensors[i].proto->data_type != ONNXQ_DTYPE_FLOAT ||
        m->tensors[i].elements != count)
        return NULL;
    float *v = malloc(count * sizeof *v + 1);
    if (v && onnxq_tensor_read_float(m, i, v, count, NULL) != ONNXQ_OK) {
        free(v);
        v = NULL;
    }
    return v;
}

/* E[clip(y, lo, hi)] for y ~ N(mu, s^2). */
static double clipped_normal_mean(double mu, double s, double lo, double hi)
{
    if (!(s > 0))
        return mu < lo ? lo : mu > hi ? hi : mu;
    double a = (lo - mu) / s, b = (hi - mu) / s;
    double Pa = 0.5 * erfc(-a / sqrt(2)), Pb = isinf(b) ? 1 : 0.5 * erfc(-b / sqrt(2));
    double pa = exp(-a * a / 2) / sqrt(2 * M_PI), pb = isinf(b) ? 0 : exp(-b * b / 2) / sqrt(2 * M_PI);
    return lo * Pa + (isinf(hi) ? 0 : hi * (1 - Pb)) + mu * (Pb - Pa) + s * (pa - pb);
}

/* The clip range of a Relu or Clip node (inputs since opset 11,
 * attributes before), or 0 when n is neither. */
static int activation_range(onnxq_model *m, const Onnx__NodeProto *n, double *lo, double *hi)
{
    *lo = 0;
    *hi = INFINITY;
    if (op_is(n, "Relu"))
        return 1;
    if (!op_is(n, "Clip"))
        return 0;
    *lo = onnx_attr_float(n, "min", -INFINITY);
    *hi = onnx_attr_float(n, "max", INFINITY);
    for (size_t k = 1; k < 3 && k < n->n_input; k++) {
        if (!n->input[k] || !n->input[k][0])
            continue;
        float *v = read_floats(m, n->input[k], 1);
        if (!v)
            return 0;
        *(k == 1 ? lo : hi) = *v;
        free(v);
    }
    return *lo < *hi;
}

/* E[x] per channel of value x of the reference, when it is act(BN(y)). */
static double *input_means(onnxq_model *ref, const char *x, int64_t channels)
{
    Onnx__GraphProto *g = ref->proto->graph;
    size_t a = graph_writer(g, x);
    double lo, hi;
    if (a == (size_t)-1 || !activation_range(ref, g->node[a], &lo, &hi) || !g->node[a]->n_input)
        return NULL;
    size_t b = graph_writer(g, g->node[a]->input[0]);
    if (b == (size_t)-1 || !op_is(g->node[b], "BatchNormalization") || g->node[b]->n_input != 5)
        return NULL;
    float *scale = read_floats(ref, g->node[b]->input[1], (uint64_t)channels);
    float *shift = read_floats(ref, g->node[b]->input[2], (uint64_t)channels);
    double *mean = scale && shift ? malloc((size_t)channels * sizeof *mean + 1) : NULL;
    for (int64_t c = 0; mean && c < channels; c++)
        mean[c] = clipped_normal_mean(shift[c], fabs((double)scale[c]), lo, hi);
    free(scale);
    free(shift);
    return mean;
}

static int plan_layer(onnxq_model *ref, onnxq_model *folded, const Onnx__NodeProto *n,
                      bias_layer *l)
{
    if (!op_is(n, "Conv") || n->n_input < 3 || !n->input[0] || !n->input[1] || !n->input[2] ||
        !n->input[2][0])
        return 0;
    size_t w = onnxq_model_find_tensor(folded, n->input[1]);
    size_t b = onnxq_model_find_tensor(folded, n->input[2]);
    if (w == (size_t)-1 || b == (size_t)-1)
        return 0;
    const Onnx__TensorProto *wt = folded->tensors[w].proto;
    if (wt->data_type != ONNXQ_DTYPE_FLOAT || wt->n_dims != 4 ||
        folded->tensors[b].proto->data_type != ONNXQ_DTYPE_FLOAT ||
        folded->tensors[b].elements != (uint64_t)wt->dims[0])
        return 0;
    int64_t group = onnx_attr_int(n, "group", 1);
    if (group < 1 || wt->dims[0] % group)
        return 0;
    l->weight = w;
    l->bias = b;
    l->out = wt->dims[0];
    l->group = group;
    l->in_per_group = wt->dims[1];
    l->kernel = wt->dims[2] * wt->dims[3];
    l->mean = input_means(ref, n->input[0], group * wt->dims[1]);
    return l->mean != NULL;
}

onnxq_status bias_plan_make(onnxq_model *reference, onnxq_model *folded, bias_plan **plan,
                            onnxq_error *err)
{
    *plan = NULL;
    Onnx__GraphProto *g = folded->proto->graph;
    bias_plan *p = calloc(1, sizeof *p);
    if (p)
        p->layers = calloc(g->n_node + 1, sizeof *p->layers);
    if (!p || !p->layers) {
        free(p);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", folded->name);
    }
    for (size_t k = 0; k < g->n_node; k++)
        p->n += plan_layer(reference, folded, g->node[k], &p->layers[p->n]);
    if (!p->n) {
        bias_plan_free(p);
        p = NULL;
    }
    *plan = p;
    return onnxq_ok(err);
}

void bias_plan_free(bias_plan *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->layers[i].mean);
    free(p->layers);
    free(p);
}

size_t bias_plan_layers(const bias_plan *p) { return p ? p->n : 0; }

/* w rounded in place to the quantizer's levels. */
static onnxq_status round_to_levels(onnxq_model *m, size_t t, const onnxq_compress_options *o,
                                    double step, float *w, uint64_t n, onnxq_error *err)
{
    quant_params qp;
    onnxq_status st = compress_setup_quant(m, t, o, step, &qp, err);
    if (st != ONNXQ_OK)
        return st;
    int32_t *q = malloc(n * sizeof *q + 1);
    if (!q || quant_prepare(&qp, w, n) != 0)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    else if (quant_encode(&qp, w, n, q) != 0)
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: step %g is too small for tensor %zu",
                        m->name, step, t);
    else
        quant_decode(&qp, q, n, w);
    free(q);
    quant_free(&qp);
    return st;
}

static onnxq_status correct_layer(const bias_layer *l, onnxq_model *m,
                                  const onnxq_compress_options *o, double step, onnxq_error *err)
{
    uint64_t n = m->tensors[l->weight].elements;
    float *w = malloc(n * sizeof *w + 1), *q = malloc(n * sizeof *q + 1);
    float *b = malloc((size_t)l->out * sizeof *b + 1);
    onnxq_status st = w && q && b ? onnxq_tensor_read_float(m, l->weight, w, n, err)
                                  : onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    if (st == ONNXQ_OK)
        st = onnxq_tensor_read_float(m, l->bias, b, (uint64_t)l->out, err);
    if (st == ONNXQ_OK) {
        memcpy(q, w, n * sizeof *q);
        st = round_to_levels(m, l->weight, o, step, q, n, err);
    }
    int64_t per_group = l->out / l->group, per_out = l->in_per_group * l->kernel;
    for (int64_t c = 0; st == ONNXQ_OK && c < l->out; c++) {
        const double *mean = l->mean + (c / per_group) * l->in_per_group;
        double shift = 0;
        for (int64_t i = 0; i < l->in_per_group; i++) {
            double e = 0;
            for (int64_t k = 0; k < l->kernel; k++) {
                size_t at = (size_t)(c * per_out + i * l->kernel + k);
                e += (double)q[at] - (double)w[at];
            }
            shift += e * mean[i];
        }
        b[c] = (float)((double)b[c] - shift);
    }
    const Onnx__TensorProto *wt = m->tensors[l->weight].proto;
    int64_t dim = l->out;
    if (st == ONNXQ_OK)
        st = onnxq_tensor_replace(m, l->weight, ONNXQ_DTYPE_FLOAT, (int)wt->n_dims, wt->dims, q,
                                  n * sizeof *q, err);
    if (st == ONNXQ_OK)
        st = onnxq_tensor_replace(m, l->bias, ONNXQ_DTYPE_FLOAT, 1, &dim, b,
                                  (size_t)l->out * sizeof *b, err);
    free(w);
    free(q);
    free(b);
    return st;
}

onnxq_status bias_correct(const bias_plan *p, onnxq_model *m, const onnxq_compress_options *o,
                          const double *steps, onnxq_error *err)
{
    if (!p || (o->quantizer != ONNXQ_QUANT_MIDRISE && o->quantizer != ONNXQ_QUANT_MIDTREAD &&
               o->quantizer != ONNXQ_QUANT_DEADZONE))
        return onnxq_ok(err);
    for (size_t i = 0; i < p->n; i++) {
        const bias_layer *l = &p->layers[i];
        if (!(steps[l->weight] > 0))
            continue;
        onnxq_status st = correct_layer(l, m, o, steps[l->weight], err);
        if (st != ONNXQ_OK)
            return st;
    }
    return onnxq_ok(err);
}
