/* engine.c: building the engine from a model and running its graph.
 *
 * Creation does everything that does not depend on the input: it names
 * every value, binds every node to its operator (so an unsupported one is
 * reported before any work), decodes the compressed tensors, converts the
 * initializers and evaluates Constant nodes.  A run then only walks the
 * nodes in the model's order, which ONNX requires to be topological. */
#include "config.h"
#include "engine.h"
#include "gemm.h"
#include "igemm.h"
#include "model/container.h"
#include "common/dtype.h"
#include "common/error.h"
#include "model/onnx_io.h"
#include "window.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>


struct onnxq_engine {
    onnxq_model *model;
    int threads;
    team *team;            /* threads - 1 workers, asleep between runs */
    size_t n_values;
    char **names;          /* slot names, borrowed from the model */
    tensor *values;
    size_t n_nodes;
    eng_node *nodes;
    size_t n_inputs, n_outputs;
    int *inputs, *outputs;
    void *scratch;
    size_t scratch_size;
    double *op_seconds;    /* per node, when ONNXQ_PROFILE is set */
    int64_t runs;          /* counted when ONNXQ_PROFILE is set */
    engine_observer observer;
    void *observer_ctx;
};

/* ---- Value slots ------------------------------------------------------------- */

static int find_slot(const onnxq_engine *e, const char *name)
{
    for (size_t i = e->n_values; i-- > 0;)
        if (!strcmp(e->names[i], name))
            return (int)i;
    return -1;
}

static int add_slot(onnxq_engine *e, const char *name)
{
    int found = find_slot(e, name);
    if (found >= 0)
        return found;
    char **names = realloc(e->names, (e->n_values + 1) * sizeof *names);
    if (!names)
        return -1;
    e->names = names;
    tensor *values = realloc(e->values, (e->n_values + 1) * sizeof *values);
    if (!values)
        return -1;
    e->values = values;
    memset(&values[e->n_values], 0, sizeof *values);
    names[e->n_values] = (char *)name;
    return (int)e->n_values++;
}

/* Fill a slot with constant element bytes of a supported type.  Half and
 * brain floats become float32, the type the engine computes in. */
static onnxq_status set_constant(onnxq_engine *e, int slot, int dtype, int rank,
                                 const int64_t *dims, const void *raw, int64_t n,
                                 onnxq_error *err)
{
    const char *name = e->names[slot];
    if (rank > TENSOR_MAX_RANK)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': rank %d is above %d",
                          e->model->name, name, rank, TENSOR_MAX_RANK);
    int as = dtype == ONNXQ_DTYPE_FLOAT16 || dtype == ONNXQ_DTYPE_BFLOAT16 ? ONNXQ_DTYPE_FLOAT
                                                                          : dtype;
    if (!tensor_dtype_supported(as))
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': %s tensors are not supported by the engine",
                          e->model->name, name, onnxq_dtype_name(dtype));
    tensor *t = &e->values[slot];
    size_t bytes = (size_t)n * tensor_elem_size(as);
    free(t->data);
    t->data = malloc(bytes ? bytes : 1);
    if (!t->data)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", e->model->name);
    t->capacity = bytes;
    t->dtype = as;
    t->rank = rank;
    for (int d = 0; d < rank; d++)
        t->dims[d] = dims[d];
    t->n = n;
    if (as == dtype) {
        memcpy(t->data, raw, bytes);
    } else {
        const uint16_t *h = raw;
        float *f = t->data;
        for (int64_t i = 0; i < n; i++)
            f[i] = dtype == ONNXQ_DTYPE_FLOAT16 ? half_to_float(h[i]) : bfloat16_to_float(h[i]);
    }
    t->constant = t->defined = 1;
    return ONNXQ_OK;
}

static onnxq_status load_proto(onnxq_engine *e, int slot, const Onnx__TensorProto *p,
                               onnxq_error *err)
{
    uint8_t *raw;
    uint64_t n, bytes;
    onnxq_status s = tensor_proto_read(e->model->name, p, &raw, &n, &bytes, err);
    if (s == ONNXQ_OK)
        s = set_constant(e, slot, p->data_type, (int)p->n_dims, p->dims, raw, (int64_t)n, err);
    free(raw);
    return s;
}

static onnxq_status load_initializers(onnxq_engine *e, onnxq_error *err)
{
    onnxq_model *m = e->model;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const model_tensor *mt = &m->tensors[i];
        int slot = add_slot(e, mt->proto->name ? mt->proto->name : "");
        if (slot < 0)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        if (mt->bytes == 0 && mt->elements != 0)
            return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': %s tensors are not supported by the engine",
                              m->name, e->names[slot], onnxq_dtype_name(mt->proto->data_type));
        void *raw = malloc(mt->bytes + 1);
        if (!raw)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        onnxq_status s = onnxq_tensor_read_raw(m, i, raw, mt->bytes, err);
        if (s == ONNXQ_OK)
            s = set_constant(e, slot, mt->proto->data_type, (int)mt->proto->n_dims,
                             mt->proto->dims, raw, (int64_t)mt->elements, err);
        free(raw);
        if (s != ONNXQ_OK)
            return s;
    }
    return ONNXQ_OK;
}

/* ---- Nodes ------------------------------------------------------------------------ */

static int64_t opset_of(const onnxq_model *m, const char *domain)
{
    const Onnx__ModelProto *p = m->proto;
    for (size_t i = 0; i < p->n_opset_import; i++) {
        const char *d = p->opset_import[i]->domain ? p->opset_import[i]->domain : "";
        if (!strcmp(d, "ai.onnx"))
            d = "";
        if (!strcmp(d, domain))
            return p->opset_import[i]->version;
    }
    return 0;
}

static const char *node_label(const Onnx__NodeProto *n)
{
    return n->name && n->name[0] ? n->name : n->n_output && n->output[0] ? n->output[0] : "";
}

/* A Constant's value, from whichever attribute holds it. */
static onnxq_status eval_constant(onnxq_engine *e, const Onnx__NodeProto *n, int slot,
                                  onnxq_error *err)
{
    for (size_t i = 0; i < n->n_attribute; i++) {
        const Onnx__AttributeProto *a = n->attribute[i];
        const char *name = a->name ? a->name : "";
        if (!strcmp(name, "value") && a->t)
            return load_proto(e, slot, a->t, err);
        if (!strcmp(name, "value_float"))
            return set_constant(e, slot, ONNXQ_DTYPE_FLOAT, 0, NULL, &a->f, 1, err);
        if (!strcmp(name, "value_int"))
            return set_constant(e, slot, ONNXQ_DTYPE_INT64, 0, NULL, &a->i, 1, err);
        if (!strcmp(name, "value_floats")) {
            int64_t len = (int64_t)a->n_floats;
            return set_constant(e, slot, ONNXQ_DTYPE_FLOAT, 1, &len, a->floats, len, err);
        }
        if (!strcmp(name, "value_ints")) {
            int64_t len = (int64_t)a->n_ints;
            return set_constant(e, slot, ONNXQ_DTYPE_INT64, 1, &len, a->ints, len, err);
        }
    }
    return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: node '%s' (Constant): no supported value attribute",
                      e->model->name, node_label(n));
}

/* Pair k of a Decode node, decoded once into a constant. */
static onnxq_status decode_compressed(onnxq_engine *e, const Onnx__NodeProto *n, size_t k,
                                      int slot, onnxq_error *err)
{
    codec_info info;
    void *data;
    onnxq_status s = container_decode_node(e->model, n, k, &info, &data, err);
    if (s != ONNXQ_OK)
        return s;
    s = set_constant(e, slot, info.dtype, info.rank, info.dims, data, (int64_t)info.elements, err);
    free(data);
    return s;
}

static onnxq_status bind_node(onnxq_engine *e, const Onnx__NodeProto *n, onnxq_error *err)
{
    const char *domain = n->domain ? n->domain : "";
    if (!strcmp(domain, "ai.onnx"))
        domain = "";
    const char *op = n->op_type ? n->op_type : "";
    const op_def *def = ops_find(domain, op);
    if (!def)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: node '%s': operator %s%s%s is not supported by the engine",
                          e->model->name, node_label(n), domain, domain[0] ? "." : "", op);
    eng_node *en = &e->nodes[e->n_nodes];
    memset(en, 0, sizeof *en);
    en->proto = n;
    en->op = def;
    en->opset = opset_of(e->model, domain);
    en->in = malloc((n->n_input + 1) * sizeof *en->in);
    en->out = malloc((n->n_output + 1) * sizeof *en->out);
    en->derived = calloc(DERIVED_SLOTS, sizeof *en->derived);
    if (!en->in || !en->out || !en->derived) {
        free(en->in);
        free(en->out);
        free(en->derived);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", e->model->name);
    }
    e->n_nodes++;
    en->n_in = n->n_input;
    en->n_out = n->n_output;
    for (size_t i = 0; i < n->n_input; i++) {
        const char *name = n->input[i] ? n->input[i] : "";
        en->in[i] = -1;
        if (!name[0])
            continue;
        int slot = find_slot(e, name);
        if (slot < 0)
            return onnxq_fail(err, ONNXQ_ERR_NOT_ONNX, "%s: node '%s' (%s): input '%s' is not produced before it",
                              e->model->name, node_label(n), op, name);
        en->in[i] = slot;
    }
    for (size_t i = 0; i < n->n_output; i++) {
        const char *name = n->output[i] ? n->output[i] : "";
        en->out[i] = name[0] ? add_slot(e, name) : -1;
        if (name[0] && en->out[i] < 0)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", e->model->name);
    }
    return ONNXQ_OK;
}

static onnxq_status bind_graph(onnxq_engine *e, onnxq_error *err)
{
    const Onnx__GraphProto *g = e->model->proto->graph;
    e->nodes = calloc(g->n_node + 1, sizeof *e->nodes);
    if (!e->nodes)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", e->model->name);
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        onnxq_status s;
        int is_constant = n->op_type && !strcmp(n->op_type, "Constant") &&
                          (!n->domain || !n->domain[0]) && n->n_output == 1;
        if (container_is_decode_node(n) || is_constant) {
            s = ONNXQ_OK;
            for (size_t k = 0; k < n->n_output && s == ONNXQ_OK; k++) {
                int slot = add_slot(e, n->output[k] ? n->output[k] : "");
                if (slot < 0)
                    return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", e->model->name);
                s = is_constant ? eval_constant(e, n, slot, err)
                                : decode_compressed(e, n, k, slot, err);
            }
        } else {
            s = bind_node(e, n, err);
        }
        if (s != ONNXQ_OK)
            return s;
    }
    return ONNXQ_OK;
}

static onnxq_status bind_io(onnxq_engine *e, onnxq_error *err)
{
    onnxq_model *m = e->model;
    const Onnx__GraphProto *g = m->proto->graph;
    e->inputs = calloc(m->n_inputs + 1, sizeof *e->inputs);
    e->outputs = calloc(g->n_output + 1, sizeof *e->outputs);
    if (!e->inputs || !e->outputs)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    for (size_t i = 0; i < m->n_inputs; i++) {
        int slot = add_slot(e, m->inputs[i]->name ? m->inputs[i]->name : "");
        if (slot < 0)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        e->inputs[e->n_inputs++] = slot;
    }
    return ONNXQ_OK;
}

static onnxq_status bind_outputs(onnxq_engine *e, onnxq_error *err)
{
    const Onnx__GraphProto *g = e->model->proto->graph;
    for (size_t i = 0; i < g->n_output; i++) {
        const char *name = g->output[i]->name ? g->output[i]->name : "";
        int slot = find_slot(e, name);
        if (slot < 0)
            return onnxq_fail(err, ONNXQ_ERR_NOT_ONNX, "%s: graph output '%s' is not produced by any node",
                              e->model->name, name);
        e->outputs[e->n_outputs++] = slot;
    }
    return ONNXQ_OK;
}

/* ---- Folding activations into convolutions ------------------------------------------------ */

static int uses_of(const onnxq_engine *e, int slot, size_t *user)
{
    int n = 0;
    for (size_t i = 0; i < e->n_nodes; i++)
        for (size_t k = 0; k < e->nodes[i].n_in; k++)
            if (e->nodes[i].in[k] == slot) {
                n++;
                *user = i;
            }
    for (size_t i = 0; i < e->n_outputs; i++)
        n += e->outputs[i] == slot;
    return n;
}

/* The node's attribute `name`, or NULL. */
static const Onnx__AttributeProto *node_attr(const eng_node *n, const char *name)
{
    return onnx_attr(n->proto, name);
}

static int op_is(const eng_node *n, const char *name)
{
    return !strcmp(n->op->domain, "") && !strcmp(n->op->name, name);
}

/* The bounds of a Relu, or of a Clip whose bounds are constants. */
static int clamp_bounds(const onnxq_engine *e, const eng_node *n, float *lo, float *hi)
{
    *lo = -INFINITY;
    *hi = INFINITY;
    if (op_is(n, "Relu")) {
        *lo = 0;
        return 1;
    }
    if (!op_is(n, "Clip"))
        return 0;
    if (n->opset < 11) {
        for (size_t i = 0; i < n->proto->n_attribute; i++) {
            const Onnx__AttributeProto *a = n->proto->attribute[i];
            if (a->name && !strcmp(a->name, "min"))
                *lo = a->f;
            if (a->name && !strcmp(a->name, "max"))
                *hi = a->f;
        }
        return 1;
    }
    for (size_t k = 1; k < 3 && k < n->n_in; k++) {
        if (n->in[k] < 0)
            continue;
        const tensor *t = &e->values[n->in[k]];
        if (!t->constant || t->dtype != ONNXQ_DTYPE_FLOAT || t->n != 1)
            return 0;
        *(k == 1 ? lo : hi) = *(const float *)t->data;
    }
    return 1;
}

/* A constant float input of n values used by this node alone, or NULL. */
static tensor *own_constant(onnxq_engine *e, const eng_node *n, size_t k, int64_t count)
{
    size_t user;
    if (k >= n->n_in || n->in[k] < 0)
        return NULL;
    tensor *t = &e->values[n->in[k]];
    if (!t->constant || t->dtype != ONNXQ_DTYPE_FLOAT || (count >= 0 && t->n != count) ||
        uses_of(e, n->in[k], &user) != 1)
        return NULL;
    return t;
}

/* A Conv whose only consumer is an inference BatchNormalization takes the
 * normalization into its weights and bias, when all of them are constants
 * nothing else uses: the weights of output channel o scaled by
 * s = scale / sqrt(var + epsilon), the bias (b - mean) s + B, written over
 * B's values.  One pass over the data instead of two, and a Relu or Clip
 * after the normalization can then fold into the Conv too. */
static void fold_batch_norms(onnxq_engine *e)
{
    for (size_t i = 0; i < e->n_nodes; i++) {
        eng_node *conv = &e->nodes[i];
        size_t user = 0;
        if (!op_is(conv, "Conv") || conv->n_out != 1 || conv->out[0] < 0 ||
            uses_of(e, conv->out[0], &user) != 1)
            continue;
        eng_node *bn = &e->nodes[user];
        int extra_outputs = 0;
        for (size_t k = 1; k < bn->n_out; k++)
            extra_outputs |= bn->out[k] >= 0;
        tensor *w = own_constant(e, conv, 1, -1);
        if (!op_is(bn, "BatchNormalization") || bn->folded || extra_outputs || bn->n_in != 5 ||
            bn->in[0] != conv->out[0] || bn->out[0] < 0 || !w || w->rank < 1 || !w->dims[0])
            continue;
        int64_t m = w->dims[0], per = w->n / m;
        tensor *b = conv->n_in > 2 && conv->in[2] >= 0 ? own_constant(e, conv, 2, m) : NULL;
        tensor *scale = own_constant(e, bn, 1, m), *beta = own_constant(e, bn, 2, m);
        tensor *mean = own_constant(e, bn, 3, m), *var = own_constant(e, bn, 4, m);
        if ((conv->n_in > 2 && conv->in[2] >= 0 && !b) || !scale || !beta || !mean || !var)
            continue;
        float eps = 1e-5f;
        int plain = 1; /* not spatial = 0 (opset < 9) nor training_mode = 1 */
        for (size_t a = 0; a < bn->proto->n_attribute; a++) {
            const Onnx__AttributeProto *at = bn->proto->attribute[a];
            const char *name = at->name ? at->name : "";
            if (!strcmp(name, "epsilon"))
                eps = at->f;
            if ((!strcmp(name, "spatial") && at->i == 0) ||
                (!strcmp(name, "training_mode") && at->i != 0))
                plain = 0;
        }
        if (!plain)
            continue;
        int *in = conv->n_in > 2 ? conv->in : realloc(conv->in, 3 * sizeof *conv->in);
        if (!in)
            continue;
        float *wd = w->data, *bias = beta->data;
        const float *sc = scale->data, *mu = mean->data, *vr = var->data;
        for (int64_t o = 0; o < m; o++) {
            float f = sc[o] / sqrtf(vr[o] + eps);
            for (int64_t j = 0; j < per; j++)
                wd[o * per + j] *= f;
            bias[o] = ((b ? ((const float *)b->data)[o] : 0.0f) - mu[o]) * f + bias[o];
        }
        conv->in = in;
        conv->in[2] = bn->in[2];
        conv->n_in = 3;
        conv->out[0] = bn->out[0];
        bn->folded = 1;
    }
}

/* A Conv or an Add whose only consumer is a Relu or a constant Clip
 * writes the clamped result straight into the activation's output: one
 * pass over the data instead of two. */
static void fold_activations(onnxq_engine *e)
{
    for (size_t i = 0; i < e->n_nodes; i++) {
        eng_node *conv = &e->nodes[i];
        size_t user = 0;
        if ((!op_is(conv, "Conv") && !op_is(conv, "Add")) || conv->n_out != 1 ||
            conv->out[0] < 0 || uses_of(e, conv->out[0], &user) != 1)
            continue;
        eng_node *act = &e->nodes[user];
        float lo, hi;
        if (act->folded || act->n_out != 1 || act->out[0] < 0 || act->in[0] != conv->out[0] ||
            !clamp_bounds(e, act, &lo, &hi))
            continue;
        conv->out[0] = act->out[0];
        conv->has_clamp = 1;
        conv->clamp_lo = lo;
        conv->clamp_hi = hi;
        act->folded = 1;
    }
}

size_t engine_folded_nodes(const onnxq_engine *e)
{
    size_t n = 0;
    for (size_t i = 0; i < e->n_nodes; i++)
        n += e->nodes[i].folded != 0;
    return n;
}

int engine_default_threads(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n < 1 ? 1 : n > 64 ? 64 : (int)n;
}


/* A Conv of one group whose only consumer (after a folded Relu or Clip) is
 * a 2-D MaxPool computes the pooled output band by band, each band of its
 * own output pooled while it is still in the core's cache: squeezenet1.1's
 * first convolution would otherwise write 3.2 MB to memory for the pooling
 * to read back. */
static void fold_pools(onnxq_engine *e)
{
    for (size_t i = 0; i < e->n_nodes; i++) {
        eng_node *conv = &e->nodes[i];
        size_t user = 0;
        const Onnx__AttributeProto *group = node_attr(conv, "group");
        if (!op_is(conv, "Conv") || conv->folded || conv->n_out != 1 || conv->out[0] < 0 ||
            (group && group->i != 1) || uses_of(e, conv->out[0], &user) != 1)
            continue;
        eng_node *pool = &e->nodes[user];
        const Onnx__AttributeProto *kernel = node_attr(pool, "kernel_shape");
        const Onnx__AttributeProto *order = node_attr(pool, "storage_order");
        if (!op_is(pool, "MaxPool") || pool->folded || pool->n_in != 1 ||
            pool->in[0] != conv->out[0] || pool->out[0] < 0 ||
            (pool->n_out > 1 && pool->out[1] >= 0) || !kernel || kernel->n_ints != 2 ||
            (order && order->i))
            continue;
        conv->out[0] = pool->out[0];
        conv->pool = pool;
        pool->folded = 1;
    }
}

/* x HardSigmoid(x) (a hard swish, as MobileNetV3 models write it): the
 * HardSigmoid folded into the Mul, one pass over memory instead of two. */
static void fold_hard_swish(onnxq_engine *e)
{
    for (size_t h = 0; h < e->n_nodes; h++) {
        eng_node *hs = &e->nodes[h];
        size_t user = 0;
        if (!op_is(hs, "HardSigmoid") || hs->folded || hs->n_in != 1 || hs->n_out != 1 ||
            hs->out[0] < 0 || uses_of(e, hs->out[0], &user) != 1)
            continue;
        eng_node *mul = &e->nodes[user];
        if (!op_is(mul, "Mul") || mul->folded || mul->n_in != 2 || mul->gate)
            continue;
        for (int k = 0; k < 2 && !mul->gate; k++)
            if (mul->in[k] == hs->out[0] && mul->in[1 - k] == hs->in[0]) {
                mul->gate = hs;
                mul->gate_x = 1 - k;
                mul->in[k] = hs->in[0];
                hs->folded = 1;
            }
    }
}

onnxq_status onnxq_engine_create(onnxq_model *model, const onnxq_engine_options *options,
                                 onnxq_engine **out, onnxq_error *err)
{
    *out = NULL;
    onnxq_engine *e = calloc(1, sizeof *e);
    if (!e)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    e->model = model;
    e->threads = options && options->threads > 0 ? options->threads : engine_default_threads();
    if (!(e->team = team_create(e->threads))) {
        int threads = e->threads;
        free(e);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: cannot start %d threads", model->name,
                          threads);
    }
    onnxq_status s = load_initializers(e, err);
    if (s == ONNXQ_OK)
        s = bind_io(e, err);
    if (s == ONNXQ_OK)
        s = bind_graph(e, err);
    if (s == ONNXQ_OK)
        s = bind_outputs(e, err);
    if (s == ONNXQ_OK) {
        fold_batch_norms(e);
        fold_activations(e);
        fold_hard_swish(e);
        fold_pools(e);
    }
    if (s == ONNXQ_OK && getenv("ONNXQ_PROFILE") && *getenv("ONNXQ_PROFILE") &&
        !(e->op_seconds = calloc(e->n_nodes + 1, sizeof *e->op_seconds)))
        s = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", model->name);
    if (s != ONNXQ_OK) {
        onnxq_engine_free(e);
        return s;
    }
    *out = e;
    return onnxq_ok(err);
}

static void print_profile(const onnxq_engine *e);

void onnxq_engine_free(onnxq_engine *e)
{
    if (!e)
        return;
    if (e->op_seconds) {
        print_profile(e);
        free(e->op_seconds);
    }
    for (size_t i = 0; i < e->n_values; i++)
        tensor_release(&e->values[i]);
    for (size_t i = 0; i < e->n_nodes; i++) {
        free(e->nodes[i].in);
        free(e->nodes[i].out);
        for (int k = 0; e->nodes[i].derived && k < DERIVED_SLOTS; k++)
            tensor_release(&e->nodes[i].derived[k]);
        free(e->nodes[i].derived);
    }
    team_free(e->team);
    free(e->values);
    free(e->names);
    free(e->scratch);
    free(e->nodes);
    free(e->inputs);
    free(e->outputs);
    free(e);
}

size_t onnxq_engine_input_count(const onnxq_engine *e) { return e->n_inputs; }
size_t onnxq_engine_output_count(const onnxq_engine *e) { return e->n_outputs; }
const char *onnxq_engine_input_name(const onnxq_engine *e, size_t i)
{
    return i < e->n_inputs ? e->names[e->inputs[i]] : NULL;
}
const char *onnxq_engine_output_name(const onnxq_engine *e, size_t i)
{
    return i < e->n_outputs ? e->names[e->outputs[i]] : NULL;
}

/* ---- Running ------------------------------------------------------------------------ */

static onnxq_status set_input(onnxq_engine *e, size_t i, const onnxq_tensor_view *v,
                              onnxq_error *err)
{
    const char *name = e->names[e->inputs[i]];
    if (!tensor_dtype_supported(v->dtype))
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: input '%s': %s inputs are not supported by the engine",
                          e->model->name, name, onnxq_dtype_name(v->dtype));
    if (v->rank < 0 || v->rank > TENSOR_MAX_RANK)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: input '%s': rank %d is out of range",
                          e->model->name, name, v->rank);
    onnxq_value_info want;
    onnxq_model_input(e->model, i, &want);
    if (want.dtype && want.dtype != v->dtype)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: input '%s' is %s, given %s", e->model->name,
                          name, onnxq_dtype_name(want.dtype), onnxq_dtype_name(v->dtype));
    if (want.rank >= 0 && want.rank != v->rank)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: input '%s' has rank %d, given %d",
                          e->model->name, name, want.rank, v->rank);
    for (int d = 0; want.rank > 0 && d < want.rank; d++)
        if (want.dims[d] >= 0 && want.dims[d] != v->dims[d])
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                              "%s: input '%s': dimension %d is %lld, given %lld", e->model->name,
                              name, d, (long long)want.dims[d], (long long)v->dims[d]);
    op_ctx c = { .model_name = e->model->name, .err = err };
    tensor *t = &e->values[e->inputs[i]];
    onnxq_status s = tensor_prepare(&c, t, v->dtype, v->rank, v->dims);
    if (s == ONNXQ_OK && t->n)
        memcpy(t->data, v->data, (size_t)t->n * tensor_elem_size(v->dtype));
    return s;
}

static void view_of(const tensor *t, onnxq_tensor_view *v)
{
    memset(v, 0, sizeof *v);
    if (!t || !t->defined)
        return;
    v->dtype = t->dtype;
    v->rank = t->rank;
    memcpy(v->dims, t->dims, (size_t)t->rank * sizeof *t->dims);
    v->data = t->data;
}

/* Show the observer the node's inputs and outputs as views. */
static onnxq_status observe(onnxq_engine *e, const eng_node *n, tensor **ins, tensor **outs)
{
    onnxq_tensor_view in[n->n_in + 1], out[n->n_out + 1];
    for (size_t i = 0; i < n->n_in; i++)
        view_of(ins[i], &in[i]);
    for (size_t i = 0; i < n->n_out; i++)
        view_of(outs[i], &out[i]);
    return e->observer(e->observer_ctx, n->proto, in, n->n_in, out, n->n_out);
}

static onnxq_status run_node(onnxq_engine *e, const eng_node *n, onnxq_error *err)
{
    tensor *ins[n->n_in + 1], *outs[n->n_out + 1];
    for (size_t i = 0; i < n->n_in; i++) {
        ins[i] = n->in[i] < 0 ? NULL : &e->values[n->in[i]];
        if (ins[i] && !ins[i]->defined)
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: node '%s' (%s): input '%s' has no value",
                              e->model->name, node_label(n->proto), n->op->name,
                              e->names[n->in[i]]);
    }
    /* An omitted output still gets a scratch slot so operators can write
     * every output they compute. */
    tensor scratch[n->n_out + 1];
    memset(scratch, 0, sizeof scratch);
    for (size_t i = 0; i < n->n_out; i++)
        outs[i] = n->out[i] < 0 ? &scratch[i] : &e->values[n->out[i]];
    op_ctx c = { .model_name = e->model->name, .node = n, .in = ins, .out = outs,
                 .n_in = n->n_in, .n_out = n->n_out, .threads = e->threads, .team = e->team,
                 .err = err,
                 .scratch = &e->scratch, .scratch_size = &e->scratch_size };
    onnxq_status s = n->op->run(&c);
    if (s == ONNXQ_OK && e->observer)
        s = observe(e, n, ins, outs);
    for (size_t i = 0; i < n->n_out; i++)
        tensor_release(&scratch[i]);
    return s;
}

void engine_set_observer(onnxq_engine *e, engine_observer fn, void *ctx)
{
    e->observer = fn;
    e->observer_ctx = ctx;
}

double monotonic_seconds(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + t.tv_nsec * 1e-9;
}

/* ONNXQ_PROFILE=1: time spent per operator type, printed when the engine
 * is freed, for finding what to optimize. */
static void print_profile(const onnxq_engine *e)
{
    double total = 0;
    for (size_t i = 0; i < e->n_nodes; i++)
        total += e->op_seconds[i];
    fprintf(stderr,
            "onnxq engine profile (%s): %.3f s in operators, GEMM kernels %s and %s (8-bit), "
            "window kernels %s\n",
            e->model->name, total, gemm_kernel_name(), igemm_kernel_name(), window_kernel_name());
    for (size_t i = 0; i < e->n_nodes; i++) {
        const char *op = e->nodes[i].op->name;
        int first = 1;
        for (size_t k = 0; k < i; k++)
            first &= strcmp(e->nodes[k].op->name, op) != 0;
        if (!first)
            continue;
        double t = 0;
        for (size_t k = i; k < e->n_nodes; k++)
            if (!strcmp(e->nodes[k].op->name, op))
                t += e->op_seconds[k];
        fprintf(stderr, "  %-28s %8.3f s %5.1f %%\n", op, t, total > 0 ? 100 * t / total : 0);
    }
    if (strcmp(getenv("ONNXQ_PROFILE"), "nodes"))
        return;
    /* Every node: its time per run and its first output's shape. */
    for (size_t i = 0; i < e->n_nodes; i++) {
        const eng_node *n = &e->nodes[i];
        if (n->folded)
            continue;
        char shape[96] = "";
        const tensor *y = n->n_out && n->out[0] >= 0 ? &e->values[n->out[0]] : NULL;
        for (int d = 0; y && d < y->rank; d++)
            snprintf(shape + strlen(shape), sizeof shape - strlen(shape), "%s%lld", d ? "x" : "",
                     (long long)y->dims[d]);
        fprintf(stderr, "  node %4zu %-24s %-18s %9.3f ms %s\n", i, n->op->name, shape,
                e->runs > 1 ? 1000 * e->op_seconds[i] / (double)(e->runs - 1) : 0.0,
                n->proto->name ? n->proto->name : "");
    }
}

onnxq_status onnxq_engine_run(onnxq_engine *e, const onnxq_tensor_view *inputs, size_t count,
                              onnxq_error *err)
{
    if (count != e->n_inputs)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: the graph takes %zu inputs, given %zu",
                          e->model->name, e->n_inputs, count);
    for (size_t i = 0; i < e->n_values; i++)
        if (!e->values[i].constant)
            e->values[i].defined = 0;
    for (size_t i = 0; i < count; i++) {
        onnxq_status s = set_input(e, i, &inputs[i], err);
        if (s != ONNXQ_OK)
            return s;
    }
    e->runs++;
    for (size_t i = 0; i < e->n_nodes; i++) {
        if (e->nodes[i].folded)
            continue;
        double t0 = e->op_seconds ? monotonic_seconds() : 0;
        onnxq_status s = run_node(e, &e->nodes[i], err);
        /* Not the first run, which also prepares what operators keep
         * (the QLinear operators' weights, say). */
        if (e->op_seconds && e->runs > 1)
            e->op_seconds[i] += monotonic_seconds() - t0;
        if (s != ONNXQ_OK)
            return s;
    }
    return onnxq_ok(err);
}

onnxq_status onnxq_engine_output(const onnxq_engine *e, size_t i, onnxq_tensor_view *out,
                                 onnxq_error *err)
{
    if (i >= e->n_outputs)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no output number %zu", e->model->name, i);
    const tensor *t = &e->values[e->outputs[i]];
    if (!t->defined)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: output '%s' has no value (run first)",
                          e->model->name, e->names[e->outputs[i]]);
    out->dtype = t->dtype;
    out->rank = t->rank;
    for (int d = 0; d < t->rank; d++)
        out->dims[d] = t->dims[d];
    out->data = t->data;
    return onnxq_ok(err);
}

/* ---- What operators share ------------------------------------------------------------- */

size_t tensor_elem_size(int dtype)
{
    switch (dtype) {
    case ONNXQ_DTYPE_FLOAT: case ONNXQ_DTYPE_INT32: return 4;
    case ONNXQ_DTYPE_INT64: return 8;
    case ONNXQ_DTYPE_INT8: case ONNXQ_DTYPE_UINT8: case ONNXQ_DTYPE_BOOL: return 1;
    default: return 0;
    }
}

int tensor_dtype_supported(int dtype) { return tensor_elem_size(dtype) != 0; }

onnxq_status tensor_prepare(op_ctx *c, tensor *t, int dtype, int rank, const int64_t *dims)
{
    if (rank > TENSOR_MAX_RANK)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "rank %d is above %d", rank, TENSOR_MAX_RANK);
    int64_t n = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0)
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "negative dimension %lld", (long long)dims[d]);
        if (dims[d] && n > INT64_MAX / 16 / dims[d])
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "shape too large");
        n *= dims[d];
    }
    size_t bytes = (size_t)n * tensor_elem_size(dtype);
    if (t->constant)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "writes over a constant");
    const tensor *h = t->home;
    if (h && bytes && bytes == t->home_bytes && h->data && !h->borrowed &&
        h->capacity >= t->home_offset + bytes) {
        if (!t->borrowed)
            free(t->data);
        t->data = (uint8_t *)h->data + t->home_offset;
        t->capacity = bytes;
        t->borrowed = 1;
    } else if (t->borrowed) {
        t->data = NULL;
        t->capacity = 0;
        t->borrowed = 0;
    }
    /* Never NULL, even for no elements: operators may memcpy from it. */
    if (bytes > t->capacity || !t->data) {
        void *p = realloc(t->data, bytes ? bytes : 1);
        if (!p)
            return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory for %zu bytes", bytes);
        t->data = p;
        t->capacity = bytes;
    }
    t->dtype = dtype;
    t->rank = rank;
    for (int d = 0; d < rank; d++)
        t->dims[d] = dims[d];
    t->n = n;
    t->defined = 1;
    return ONNXQ_OK;
}

void tensor_release(tensor *t)
{
    if (!t->borrowed)
        free(t->data);
    t->data = NULL;
    t->capacity = 0;
    t->borrowed = 0;
}

onnxq_status tensor_view(op_ctx *c, tensor *y, const tensor *x, int rank, const int64_t *dims)
{
    /* A copy instead when y has a place in a Concat's output to fill, when
     * x's buffer may move before y's consumers read it (x sits in a
     * Concat's output, which can move), or when y is x. */
    if (y->home || x->borrowed || y == x || y->constant || rank > TENSOR_MAX_RANK) {
        onnxq_status s = tensor_prepare(c, y, x->dtype, rank, dims);
        if (s == ONNXQ_OK && y != x && x->n)
            memcpy(y->data, x->data, (size_t)x->n * tensor_elem_size(x->dtype));
        return s;
    }
    if (!y->borrowed)
        free(y->data);
    y->data = x->data;
    y->capacity = 0;
    y->borrowed = 1;
    y->dtype = x->dtype;
    y->rank = rank;
    memcpy(y->dims, dims, (size_t)rank * sizeof *dims);
    y->n = x->n;
    y->defined = 1;
    return ONNXQ_OK;
}

onnxq_status tensor_copy(op_ctx *c, tensor *dst, const tensor *src)
{
    if (dst == src)
        return ONNXQ_OK;
    onnxq_status s = tensor_prepare(c, dst, src->dtype, src->rank, src->dims);
    if (s == ONNXQ_OK && src->n)
        memcpy(dst->data, src->data, (size_t)src->n * tensor_elem_size(src->dtype));
    return s;
}

onnxq_status op_broadcast_shape(op_ctx *c, int ra, const int64_t *a, int rb, const int64_t *b,
                                int *rank, int64_t *dims)
{
    int r = ra > rb ? ra : rb;
    for (int d = r - 1; d >= 0; d--) {
        int da = d - (r - ra), db = d - (r - rb);
        int64_t na = da >= 0 ? a[da] : 1, nb = db >= 0 ? b[db] : 1;
        if (na != nb && na != 1 && nb != 1)
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "shapes do not broadcast (dimension %lld against %lld)",
                           (long long)na, (long long)nb);
        dims[d] = na == 1 ? nb : na;
    }
    *rank = r;
    return ONNXQ_OK;
}

void tensor_broadcast_strides(const tensor *t, int rank, int64_t *stride)
{
    int64_t st = 1;
    for (int d = rank - 1; d >= 0; d--) {
        int dt = d - (rank - t->rank);
        int64_t len = dt >= 0 ? t->dims[dt] : 1;
        stride[d] = len == 1 ? 0 : st;
        st *= len;
    }
}

int64_t tensor_int_at(const tensor *t, int64_t i)
{
    switch (t->dtype) {
    case ONNXQ_DTYPE_INT64: return ((const int64_t *)t->data)[i];
    case ONNXQ_DTYPE_INT32: return ((const int32_t *)t->data)[i];
    case ONNXQ_DTYPE_INT8: return ((const int8_t *)t->data)[i];
    case ONNXQ_DTYPE_UINT8: case ONNXQ_DTYPE_BOOL: return ((const uint8_t *)t->data)[i];
    case ONNXQ_DTYPE_FLOAT: return (int64_t)((const float *)t->data)[i];
    default: return 0;
    }
}

onnxq_status op_fail(op_ctx *c, onnxq_status status, const char *fmt, ...)
{
    char what[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    if (c->node)
        return onnxq_fail(c->err, status, "%s: node '%s' (%s): %s", c->model_name,
                          node_label(c->node->proto), c->node->op->name, what);
    return onnxq_fail(c->err, status, "%s: %s", c->model_name, what);
}

const Onnx__AttributeProto *op_attr(const op_ctx *c, const char *name)
{
    return node_attr(c->node, name);
}

int64_t op_attr_int(const op_ctx *c, const char *name, int64_t fallback)
{
    return onnx_attr_int(c->node->proto, name, fallback);
}

float op_attr_float(const op_ctx *c, const char *name, float fallback)
{
    return onnx_attr_float(c->node->proto, name, fallback);
}

const int64_t *op_attr_ints(const op_ctx *c, const char *name, size_t *n)
{
    return onnx_attr_ints(c->node->proto, name, n);
}

const char *op_attr_string(const op_ctx *c, const char *name, const char *fallback)
{
    static _Thread_local char buf[64];
    return onnx_attr_string_into(c->node->proto, name, fallback, buf, sizeof buf);
}

void *op_scratch(op_ctx *c, size_t bytes)
{
    if (bytes > *c->scratch_size) {
        free(*c->scratch);
        *c->scratch = NULL;
        *c->scratch_size = 0;
        bytes = (bytes + 63) / 64 * 64;
        void *p = aligned_alloc(64, bytes);
        if (!p)
            return NULL;
        *c->scratch = p;
        *c->scratch_size = bytes;
    }
    return *c->scratch;
}

onnxq_status op_need(op_ctx *c, size_t i, int dtype)
{
    const tensor *t = op_in(c, i);
    if (!t)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "input %zu is missing", i);
    if (dtype && t->dtype != dtype)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "input %zu is %s, expected %s", i,
                       onnxq_dtype_name(t->dtype), onnxq_dtype_name(dtype));
    return ONNXQ_OK;
}

onnxq_status op_read_ints(op_ctx *c, const tensor *t, int64_t *out, size_t max, size_t *n)
{
    if (t->dtype != ONNXQ_DTYPE_INT64 && t->dtype != ONNXQ_DTYPE_INT32)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "expected int64 values, got %s",
                       onnxq_dtype_name(t->dtype));
    if ((size_t)t->n > max)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%lld values, at most %zu supported",
                       (long long)t->n, max);
    for (int64_t i = 0; i < t->n; i++)
        out[i] = tensor_int_at(t, i);
    *n = (size_t)t->n;
    return ONNXQ_OK;
}

const op_def *ops_find(const char *domain, const char *name)
{
    const op_def *tables[] = { ops_math, ops_nn, ops_shape, ops_quant };
    for (size_t t = 0; t < sizeof tables / sizeof *tables; t++)
        for (const op_def *d = tables[t]; d->name; d++)
            if (!strcmp(d->domain, domain) && !strcmp(d->name, name))
                return d;
    return NULL;
}
