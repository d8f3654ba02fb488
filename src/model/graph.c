/* graph.c: small edits of a model's graph (graph.h). */
#include "config.h"
#include "graph.h"
#include "common/error.h"

#include <stdlib.h>
#include <string.h>

static int same(const char *a, const char *b) { return a && b && !strcmp(a, b); }

size_t graph_readers(const Onnx__GraphProto *g, const char *name)
{
    size_t n = 0;
    for (size_t k = 0; k < g->n_node; k++)
        for (size_t i = 0; i < g->node[k]->n_input; i++)
            n += same(g->node[k]->input[i], name);
    for (size_t o = 0; o < g->n_output; o++)
        n += same(g->output[o]->name, name);
    return n;
}

size_t graph_writer(const Onnx__GraphProto *g, const char *name)
{
    for (size_t k = 0; k < g->n_node; k++)
        for (size_t o = 0; o < g->node[k]->n_output; o++)
            if (same(g->node[k]->output[o], name))
                return k;
    return (size_t)-1;
}

onnxq_status graph_add_float_initializer(onnxq_model *m, const char *name, int rank,
                                         const int64_t *dims, const float *values,
                                         onnxq_error *err)
{
    Onnx__GraphProto *g = m->proto->graph;
    uint64_t n = 1;
    for (int d = 0; d < rank; d++)
        n *= (uint64_t)dims[d];
    Onnx__TensorProto *t = malloc(sizeof *t);
    Onnx__TensorProto **list = realloc(g->initializer, (g->n_initializer + 1) * sizeof *list);
    if (list)
        g->initializer = list;
    if (t)
        onnx__tensor_proto__init(t);
    if (t && list && (t->name = strdup(name)) && (t->dims = malloc(((size_t)rank + 1) * sizeof *t->dims)) &&
        (t->raw_data.data = malloc(n * 4 + 1))) {
        t->n_dims = (size_t)rank;
        if (rank)
            memcpy(t->dims, dims, (size_t)rank * sizeof *dims);
        t->data_type = ONNXQ_DTYPE_FLOAT;
        t->has_data_type = 1;
        memcpy(t->raw_data.data, values, n * 4); /* little-endian hosts only, as everywhere */
        t->raw_data.len = n * 4;
        t->has_raw_data = 1;
        g->initializer[g->n_initializer++] = t;
        return ONNXQ_OK;
    }
    if (t)
        onnx__tensor_proto__free_unpacked(t, NULL);
    return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
}

void graph_remove_node(Onnx__GraphProto *g, size_t k)
{
    onnx__node_proto__free_unpacked(g->node[k], NULL);
    memmove(g->node + k, g->node + k + 1, (g->n_node - k - 1) * sizeof *g->node);
    g->n_node--;
}

void graph_drop_if_unread(Onnx__GraphProto *g, const char *name)
{
    if (graph_readers(g, name))
        return;
    for (size_t i = 0; i < g->n_input; i++)
        if (same(g->input[i]->name, name)) {
            onnx__value_info_proto__free_unpacked(g->input[i], NULL);
            memmove(g->input + i, g->input + i + 1, (g->n_input - i - 1) * sizeof *g->input);
            g->n_input--;
            break;
        }
    for (size_t i = 0; i < g->n_initializer; i++)
        if (same(g->initializer[i]->name, name)) {
            onnx__tensor_proto__free_unpacked(g->initializer[i], NULL);
            memmove(g->initializer + i, g->initializer + i + 1,
                    (g->n_initializer - i - 1) * sizeof *g->initializer);
            g->n_initializer--;
            return;
        }
}
