/* fold.c: per-channel affine nodes folded into the Conv or Gemm before
 * them (fold.h).
 *
 * A BatchNormalization (inference form), or a Mul or Add by a constant
 * that is one value per output channel (or one for all), right after a
 * Conv or a Gemm whose output nothing else reads, is the same as a Conv or
 * Gemm with other weights and bias:
 *   BN:  W' = W f, b' = (b - mean) f + beta, f = scale / sqrt(var + eps)
 *   Mul: W' = W c, b' = b c;   Add: b' = b + a.
 * f is computed as the engine computes it when it folds a BatchNorm at
 * load (float, sqrtf), so the engine gives the folded model's outputs the
 * very bits it gives the original's. */
#include "config.h"
#include "fold.h"
#include "common/error.h"
#include "model/graph.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int op_is(const Onnx__NodeProto *n, const char *op)
{
    return (!n->domain || !n->domain[0]) && n->op_type && !strcmp(n->op_type, op);
}

/* A float initializer's values (malloc'd) when it has `count` elements
 * (or 1 when scalar_ok), else NULL. */
static float *read_param(onnxq_model *m, const char *name, uint64_t count, int scalar_ok)
{
    size_t i = name ? onnxq_model_find_tensor(m, name) : (size_t)-1;
    if (i == (size_t)-1 || m->tensors[i].proto->data_type != ONNXQ_DTYPE_FLOAT)
        return NULL;
    uint64_t n = m->tensors[i].elements;
    if (n != count && !(scalar_ok && n == 1))
        return NULL;
    float *v = malloc(count * sizeof *v + 1);
    float one;
    if (v && onnxq_tensor_read_float(m, i, n == count ? v : &one, n, NULL) == ONNXQ_OK) {
        for (uint64_t k = 0; n != count && k < count; k++)
            v[k] = one;
        return v;
    }
    free(v);
    return NULL;
}

/* Whether a constant of this shape is one value per output channel of a
 * 2-D Conv's output (NCHW: [M,1,1] or [1,M,1,1]) or a Gemm's ([M] or
 * [1,M]), or a single value: broadcast right-aligned, the channel axis. */
static int per_channel_shape(const Onnx__TensorProto *t, int conv, int64_t m)
{
    int r = (int)t->n_dims;
    uint64_t n = 1;
    for (int d = 0; d < r; d++)
        n *= (uint64_t)t->dims[d];
    if (n == 1)
        return 1;
    int at = conv ? r - 3 : r - 1;
    if (at < 0 || r > (conv ? 4 : 2))
        return 0;
    for (int d = 0; d < r; d++)
        if (t->dims[d] != (d == at ? m : 1))
            return 0;
    return 1;
}

typedef struct layer_ref {
    Onnx__NodeProto *node;
    size_t w;               /* the weight's initializer */
    int64_t m, per;         /* output channels, weights per channel */
    int rows;               /* Gemm without transB: channel m is column m */
} layer_ref;

/* The Conv or Gemm that writes `value` and whose weights a fold may
 * change: read by that node only, float, and (Gemm) alpha = beta = 1. */
static int folding_target(onnxq_model *m, const char *value, layer_ref *l)
{
    Onnx__GraphProto *g = m->proto->graph;
    size_t k = graph_writer(g, value);
    if (k == (size_t)-1 || graph_readers(g, value) != 1)
        return 0;
    Onnx__NodeProto *n = g->node[k];
    int conv = op_is(n, "Conv"), gemm = op_is(n, "Gemm");
    if ((!conv && !gemm) || n->n_input < 2 || n->n_output != 1)
        return 0;
    if (gemm && (onnx_attr_float(n, "alpha", 1) != 1 || onnx_attr_float(n, "beta", 1) != 1 ||
                 onnx_attr_int(n, "transA", 0)))
        return 0;
    size_t w = onnxq_model_find_tensor(m, n->input[1]);
    if (w == (size_t)-1 || m->tensors[w].proto->data_type != ONNXQ_DTYPE_FLOAT ||
        graph_readers(g, n->input[1]) != 1 || m->tensors[w].proto->n_dims != (conv ? 4u : 2u))
        return 0;
    const Onnx__TensorProto *t = m->tensors[w].proto;
    l->node = n;
    l->w = w;
    l->rows = gemm && !onnx_attr_int(n, "transB", 0);
    l->m = l->rows ? t->dims[1] : t->dims[0];
    l->per = l->m ? (int64_t)(m->tensors[w].elements / (uint64_t)l->m) : 0;
    if (n->n_input > 2 && n->input[2] && n->input[2][0]) { /* a bias: one float per channel, its own */
        size_t b = onnxq_model_find_tensor(m, n->input[2]);
        if (b == (size_t)-1 || graph_readers(g, n->input[2]) != 1 ||
            m->tensors[b].proto->data_type != ONNXQ_DTYPE_FLOAT ||
            m->tensors[b].elements != (uint64_t)l->m)
            return 0;
    }
    return l->m > 0;
}

/* The per-channel factor f and offset a of node n (y = x f + a), or 0 when
 * it is not a fold this takes. */
static int affine_of(onnxq_model *m, const Onnx__NodeProto *n, const layer_ref *l, float *f,
                     float *a)
{
    int conv = op_is(l->node, "Conv");
    for (int64_t c = 0; c < l->m; c++)
        f[c] = 1, a[c] = 0;
    if (op_is(n, "BatchNormalization")) {
        if (!conv || n->n_input != 5 || onnx_attr_int(n, "training_mode", 0) ||
            !onnx_attr_int(n, "spatial", 1))
            return 0;
        for (size_t o = 1; o < n->n_output; o++)
            if (n->output[o] && n->output[o][0])
                return 0;
        float *sc = read_param(m, n->input[1], (uint64_t)l->m, 0);
        float *beta = read_param(m, n->input[2], (uint64_t)l->m, 0);
        float *mean = read_param(m, n->input[3], (uint64_t)l->m, 0);
        float *var = read_param(m, n->input[4], (uint64_t)l->m, 0);
        int ok = sc && beta && mean && var;
        float eps = onnx_attr_float(n, "epsilon", 1e-5f);
        for (int64_t c = 0; ok && c < l->m; c++) {
            f[c] = sc[c] / sqrtf(var[c] + eps);
            a[c] = beta[c] - mean[c] * f[c]; /* only for reporting: the bias uses the engine's form */
        }
        free(sc), free(beta), free(mean), free(var);
        return ok;
    }
    int mul = op_is(n, "Mul"), add = op_is(n, "Add");
    if ((!mul && !add) || n->n_input != 2 || n->n_output != 1)
        return 0;
    const char *other = n->input[0] && !strcmp(n->input[0], l->node->output[0]) ? n->input[1] : n->input[0];
    size_t i = other ? onnxq_model_find_tensor(m, other) : (size_t)-1;
    if (i == (size_t)-1 || !per_channel_shape(m->tensors[i].proto, conv, l->m))
        return 0;
    float *v = read_param(m, other, (uint64_t)l->m, 1);
    if (!v)
        return 0;
    for (int64_t c = 0; c < l->m; c++)
        (mul ? f : a)[c] = v[c];
    free(v);
    return 1;
}

/* Apply the fold of node n (its affine f, a) to layer l's weight and bias. */
static onnxq_status apply(onnxq_model *m, const Onnx__NodeProto *n, layer_ref *l, const float *f,
                          const float *a, onnxq_error *err)
{
    model_tensor *wt = &m->tensors[l->w];
    float *w = malloc(wt->elements * sizeof *w + 1), *b = malloc((size_t)l->m * sizeof *b + 1);
    onnxq_status st = w && b ? onnxq_tensor_read_float(m, l->w, w, wt->elements, err)
                             : onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    const char *bias_name = l->node->n_input > 2 && l->node->input[2] && l->node->input[2][0]
                                ? l->node->input[2] : NULL;
    size_t bi = bias_name ? onnxq_model_find_tensor(m, bias_name) : (size_t)-1;
    if (st == ONNXQ_OK && bias_name)
        st = onnxq_tensor_read_float(m, bi, b, (uint64_t)l->m, err);
    else if (st == ONNXQ_OK)
        memset(b, 0, (size_t)l->m * sizeof *b);
    if (st == ONNXQ_OK) {
        int bn = op_is(n, "BatchNormalization");
        float *beta = bn ? read_param(m, n->input[2], (uint64_t)l->m, 0) : NULL;
        float *mean = bn ? read_param(m, n->input[3], (uint64_t)l->m, 0) : NULL;
        for (int64_t c = 0; c < l->m; c++) {
            for (int64_t j = 0; j < l->per; j++)
                w[l->rows ? j * l->m + c : c * l->per + j] *= f[c];
            b[c] = bn ? (b[c] - mean[c]) * f[c] + beta[c] : b[c] * f[c] + a[c];
        }
        free(beta), free(mean);
        const Onnx__TensorProto *t = wt->proto;
        st = onnxq_tensor_replace(m, l->w, ONNXQ_DTYPE_FLOAT, (int)t->n_dims, t->dims, w,
                                  wt->elements * sizeof *w, err);
    }
    if (st == ONNXQ_OK && bias_name) {
        int64_t dim = l->m;
        st = onnxq_tensor_replace(m, bi, ONNXQ_DTYPE_FLOAT, 1, &dim, b, (size_t)l->m * sizeof *b, err);
    } else if (st == ONNXQ_OK) {
        /* A new bias, named after the layer's output. */
        Onnx__NodeProto *node = l->node;
        size_t len = strlen(node->output[0]) + 16;
        char *name = malloc(len), **inputs = realloc(node->input, 3 * sizeof *inputs);
        int64_t dim = l->m;
        if (inputs)
            node->input = inputs;
        if (!name || !inputs) {
            free(name);
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        } else {
            snprintf(name, len, "%s::folded_bias", node->output[0]);
            if (node->n_input == 3)
                free(node->input[2]);
            node->input[2] = name;
            node->n_input = 3;
            st = graph_add_float_initializer(m, name, 1, &dim, b, err);
        }
    }
    free(w);
    free(b);
    return st;
}

/* Node k folded into the layer before it: the layer now writes k's
 * output; k and the constants only it read are gone. */
static onnxq_status remove_folded(onnxq_model *m, size_t k, layer_ref *l, onnxq_error *err)
{
    Onnx__GraphProto *g = m->proto->graph;
    Onnx__NodeProto *n = g->node[k];
    char *out = strdup(n->output[0]), *params[5] = { 0 };
    size_t np = 0;
    for (size_t i = 0; i < n->n_input && np < 5; i++)
        if (n->input[i] && strcmp(n->input[i], l->node->output[0]) && (params[np] = strdup(n->input[i])))
            np++;
    if (!out) {
        for (size_t i = 0; i < np; i++)
            free(params[i]);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    free(l->node->output[0]);
    l->node->output[0] = out;
    graph_remove_node(g, k);
    for (size_t i = 0; i < np; i++) {
        graph_drop_if_unread(g, params[i]);
        free(params[i]);
    }
    return model_reindex(m, err);
}

onnxq_status fold_affine(onnxq_model *m, size_t *folded, onnxq_error *err)
{
    *folded = 0;
    Onnx__GraphProto *g = m->proto->graph;
    onnxq_status st = ONNXQ_OK;
    for (size_t k = 0; k < g->n_node && st == ONNXQ_OK;) {
        Onnx__NodeProto *n = g->node[k];
        layer_ref l;
        if (!n->n_input || !n->input[0] ||
            !(op_is(n, "BatchNormalization") || op_is(n, "Mul") || op_is(n, "Add"))) {
            k++;
            continue;
        }
        /* The layer's output may be either operand of a Mul or an Add. */
        int found = folding_target(m, n->input[0], &l);
        if (!found && n->n_input == 2 && n->input[1] && !op_is(n, "BatchNormalization"))
            found = folding_target(m, n->input[1], &l);
        float *f = found ? malloc((size_t)l.m * sizeof *f + 1) : NULL;
        float *a = found ? malloc((size_t)l.m * sizeof *a + 1) : NULL;
        if (found && f && a && affine_of(m, n, &l, f, a)) {
            st = apply(m, n, &l, f, a, err);
            if (st == ONNXQ_OK)
                st = remove_folded(m, k, &l, err);
            if (st == ONNXQ_OK)
                ++*folded; /* k now holds the next node */
        } else {
            k++;
        }
        free(f);
        free(a);
    }
    return st;
}
