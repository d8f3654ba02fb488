/* container.c: the ai.onnxq Decode nodes of a compressed model: finding
 * and decoding them, writing them, and decompressing a whole model. */
#include "config.h"
#include "container.h"
#include "common/dtype.h"
#include "common/error.h"
#include "decode/codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PACKED_SUFFIX "::onnxq"

static char *concat(const char *a, const char *b)
{
    size_t la = strlen(a), lb = strlen(b);
    char *s = malloc(la + lb + 1);
    if (s) {
        memcpy(s, a, la);
        memcpy(s + la, b, lb + 1);
    }
    return s;
}

static int ensure_opset(Onnx__ModelProto *p)
{
    for (size_t i = 0; i < p->n_opset_import; i++)
        if (p->opset_import[i]->domain && !strcmp(p->opset_import[i]->domain, ONNXQ_DOMAIN))
            return 0;
    Onnx__OperatorSetIdProto **ops =
        realloc(p->opset_import, (p->n_opset_import + 1) * sizeof *ops);
    Onnx__OperatorSetIdProto *op = malloc(sizeof *op);
    if (ops)
        p->opset_import = ops;
    if (!ops || !op) {
        free(op);
        return -1;
    }
    onnx__operator_set_id_proto__init(op);
    op->domain = strdup(ONNXQ_DOMAIN);
    op->has_version = 1;
    op->version = ONNXQ_DOMAIN_VERSION;
    if (!op->domain) {
        free(op);
        return -1;
    }
    ops[p->n_opset_import++] = op;
    return 0;
}

int container_is_decode_node(const Onnx__NodeProto *n)
{
    return n->domain && !strcmp(n->domain, ONNXQ_DOMAIN) && n->op_type &&
           !strcmp(n->op_type, "Decode") && n->n_input >= 1 && n->n_input == n->n_output;
}

/* The Decode node, first in the graph: it depends on nothing but initializers. */
static Onnx__NodeProto *add_decode_node(Onnx__GraphProto *g)
{
    Onnx__NodeProto *n = malloc(sizeof *n);
    Onnx__NodeProto **nodes = realloc(g->node, (g->n_node + 1) * sizeof *nodes);
    if (nodes)
        g->node = nodes;
    if (!n || !nodes) {
        free(n);
        return NULL;
    }
    onnx__node_proto__init(n);
    n->name = strdup("onnxq_decode");
    n->op_type = strdup("Decode");
    n->domain = strdup(ONNXQ_DOMAIN);
    if (!n->name || !n->op_type || !n->domain) {
        onnx__node_proto__free_unpacked(n, NULL);
        return NULL;
    }
    memmove(g->node + 1, g->node, g->n_node * sizeof *g->node);
    g->node[0] = n;
    g->n_node++;
    return n;
}

/* Append the pair packed -> original to node n. */
static int add_pair(Onnx__NodeProto *n, const char *packed, const char *original)
{
    char **in = realloc(n->input, (n->n_input + 1) * sizeof *in);
    if (in)
        n->input = in;
    char **out = realloc(n->output, (n->n_output + 1) * sizeof *out);
    if (out)
        n->output = out;
    char *a = strdup(packed), *b = strdup(original);
    if (!in || !out || !a || !b) {
        free(a);
        free(b);
        return -1;
    }
    n->input[n->n_input++] = a;
    n->output[n->n_output++] = b;
    return 0;
}

static void remove_graph_input(Onnx__GraphProto *g, const char *name)
{
    for (size_t i = 0; i < g->n_input; i++) {
        if (g->input[i]->name && !strcmp(g->input[i]->name, name)) {
            onnx__value_info_proto__free_unpacked(g->input[i], NULL);
            memmove(g->input + i, g->input + i + 1, (g->n_input - i - 1) * sizeof *g->input);
            g->n_input--;
            return;
        }
    }
}

/* Tensor i becomes the UINT8 tensor NAME::onnxq holding `stream`, and a
 * pair of the Decode node gives NAME back. */
onnxq_status container_pack(onnxq_model *m, size_t i, const bytebuf *stream,
                            Onnx__NodeProto **decode, onnxq_error *err)
{
    Onnx__TensorProto *t = m->tensors[i].proto;
    char *original = strdup(t->name ? t->name : "");
    char *packed = original ? concat(original, PACKED_SUFFIX) : NULL;
    int64_t len = (int64_t)stream->len;
    onnxq_status st = ONNXQ_OK;
    if (!packed || ensure_opset(m->proto) != 0 ||
        (!*decode && !(*decode = add_decode_node(m->proto->graph))))
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    if (st == ONNXQ_OK)
        st = onnxq_tensor_replace(m, i, ONNXQ_DTYPE_UINT8, 1, &len, stream->data, stream->len, err);
    if (st == ONNXQ_OK) {
        free(t->name);
        t->name = packed;
        packed = NULL;
        remove_graph_input(m->proto->graph, original);
        if (add_pair(*decode, t->name, original) != 0)
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    free(original);
    free(packed);
    return st;
}

/* ---- Decompressing -------------------------------------------------------- */

int onnxq_model_is_compressed(const onnxq_model *m)
{
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; i < g->n_node; i++)
        if (container_is_decode_node(g->node[i]))
            return 1;
    return 0;
}

static void drop_opset(Onnx__ModelProto *p)
{
    for (size_t i = 0; i < p->n_opset_import; i++) {
        if (p->opset_import[i]->domain && !strcmp(p->opset_import[i]->domain, ONNXQ_DOMAIN)) {
            onnx__operator_set_id_proto__free_unpacked(p->opset_import[i], NULL);
            memmove(p->opset_import + i, p->opset_import + i + 1,
                    (p->n_opset_import - i - 1) * sizeof *p->opset_import);
            p->n_opset_import--;
            return;
        }
    }
}

static onnxq_status read_stream(onnxq_model *m, size_t i, const char *original, uint8_t **stream,
                                codec_info *info, char *label, size_t label_size,
                                onnxq_error *err);

onnxq_status container_decode_node(onnxq_model *m, const Onnx__NodeProto *node, size_t k,
                                   codec_info *info, void **out, onnxq_error *err)
{
    *out = NULL;
    const char *packed = node->input[k] ? node->input[k] : "";
    const char *original = node->output[k] ? node->output[k] : "";
    size_t i = onnxq_model_find_tensor(m, packed);
    if (i == (size_t)-1)
        return onnxq_fail(err, ONNXQ_ERR_CORRUPT, "%s: Decode node '%s' has no initializer '%s'",
                          m->name, node->name ? node->name : "", packed);
    uint8_t *stream;
    char label[600];
    onnxq_status st = read_stream(m, i, original, &stream, info, label, sizeof label, err);
    void *ws = NULL;
    if (st == ONNXQ_OK) {
        *out = malloc(info->bytes + 1);
        ws = malloc(info->workspace + 1);
        if (!*out || !ws)
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    if (st == ONNXQ_OK)
        st = codec_decode_inspected(stream, info, *out, (size_t)info->bytes, ws, info->workspace,
                                    label, err);
    free(stream);
    free(ws);
    if (st != ONNXQ_OK) {
        free(*out);
        *out = NULL;
    }
    return st;
}

/* Pair k of a Decode node back to a plain initializer. */
static onnxq_status decode_node_tensor(onnxq_model *m, const Onnx__NodeProto *node, size_t k,
                                       onnxq_error *err)
{
    codec_info info;
    void *out;
    onnxq_status st = container_decode_node(m, node, k, &info, &out, err);
    if (st != ONNXQ_OK)
        return st;
    size_t i = onnxq_model_find_tensor(m, node->input[k]);
    model_tensor *mt = &m->tensors[i];
    st = onnxq_tensor_replace(m, i, info.dtype, info.rank, info.dims, out, info.bytes, err);
    if (st == ONNXQ_OK) {
        char *name = strdup(node->output[k] ? node->output[k] : "");
        if (!name) {
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        } else {
            free(mt->proto->name);
            mt->proto->name = name;
        }
    }
    free(out);
    return st;
}

/* The metadata_props compress added (keys onnxq.*): a plain model again
 * has the original's, so a lossless round trip gives its bytes back. */
static void drop_provenance(Onnx__ModelProto *p)
{
    size_t kept = 0;
    for (size_t i = 0; i < p->n_metadata_props; i++) {
        Onnx__StringStringEntryProto *e = p->metadata_props[i];
        if (e->key && !strncmp(e->key, "onnxq.", 6))
            onnx__string_string_entry_proto__free_unpacked(e, NULL);
        else
            p->metadata_props[kept++] = e;
    }
    p->n_metadata_props = kept;
}

onnxq_status onnxq_decompress(onnxq_model *m, onnxq_error *err)
{
    if (!onnxq_model_is_compressed(m))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "%s: not compressed by onnxq (it has no %s Decode nodes)", m->name,
                          ONNXQ_DOMAIN);
    Onnx__GraphProto *g = m->proto->graph;
    size_t kept = 0;
    onnxq_status st = ONNXQ_OK;
    for (size_t i = 0; i < g->n_node; i++) {
        Onnx__NodeProto *node = g->node[i];
        if (st == ONNXQ_OK && container_is_decode_node(node)) {
            for (size_t k = 0; k < node->n_input && st == ONNXQ_OK; k++)
                st = decode_node_tensor(m, node, k, err);
            if (st == ONNXQ_OK) {
                onnx__node_proto__free_unpacked(node, NULL);
                continue;
            }
        }
        g->node[kept++] = node;
    }
    g->n_node = kept;
    if (st == ONNXQ_OK && !onnxq_model_is_compressed(m)) {
        drop_opset(m->proto);
        drop_provenance(m->proto);
    }
    onnxq_status rs = model_reindex(m, err);
    return st != ONNXQ_OK ? st : rs;
}


/* ---- The weights the graph sees ----------------------------------------------------
 *
 * Weight i is initializer i: decoded when it is a Decode node's bitstream,
 * under the name, type and shape the node gives back. */

typedef struct model_weight {
    const char *name;      /* the node's output, or the initializer's own name */
    const Onnx__NodeProto *node; /* the Decode node, or NULL */
    int dtype, rank;
    int64_t dims[CODEC_MAX_RANK];
    uint64_t elements, bytes;
    int method;               /* the codec's, for a Decode node's bitstream */
    onnxq_quantizer quantizer;
    double step;              /* midrise, midtread, dead-zone, mu-law; 0 otherwise */
    int bits;                 /* int and float quantizers; 0 otherwise */
    int per_channel;          /* per-channel steps or scales */
} model_weight;

/* Read tensor i's bitstream into a malloc'd buffer and check its header. */
static onnxq_status read_stream(onnxq_model *m, size_t i, const char *original, uint8_t **stream,
                                codec_info *info, char *label, size_t label_size,
                                onnxq_error *err)
{
    model_tensor *mt = &m->tensors[i];
    *stream = NULL;
    if (mt->proto->data_type != ONNXQ_DTYPE_UINT8 || mt->proto->n_dims != 1)
        return onnxq_fail(err, ONNXQ_ERR_CORRUPT, "%s: tensor '%s' is not a uint8 bitstream",
                          m->name, mt->proto->name);
    if (!(*stream = malloc(mt->bytes + 1)))
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    snprintf(label, label_size, "%s: tensor '%s'", m->name, original);
    onnxq_status st = onnxq_tensor_read_raw(m, i, *stream, mt->bytes, err);
    if (st == ONNXQ_OK)
        st = codec_inspect(*stream, (size_t)mt->bytes, info, label, err);
    if (st != ONNXQ_OK) {
        free(*stream);
        *stream = NULL;
    }
    return st;
}

/* What a quantized or integer bitstream's header says of its quantizer. */
static void describe_quantizer(const codec_info *info, model_weight *w)
{
    if (info->method != CODEC_QUANTIZED)
        return;
    const quant_params *q = &info->quant;
    switch (q->kind) {
    case ONNXQ_QUANT_INT: w->bits = q->int_bits; break;
    case ONNXQ_QUANT_FLOAT: w->bits = 1 + q->exp_bits + q->man_bits; break;
    default: w->step = q->step; break;
    }
    w->per_channel = q->chan_code != NULL || (q->kind == ONNXQ_QUANT_INT && q->channels > 1);
}

static onnxq_status build_weights(onnxq_model *m, onnxq_error *err)
{
    if (m->weights)
        return ONNXQ_OK;
    model_weight *w = calloc(m->n_tensors + 1, sizeof *w);
    if (!w)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    for (size_t i = 0; i < m->n_tensors; i++) {
        const Onnx__TensorProto *t = m->tensors[i].proto;
        w[i].name = t->name ? t->name : "";
        w[i].dtype = t->data_type;
        w[i].rank = (int)(t->n_dims < CODEC_MAX_RANK ? t->n_dims : CODEC_MAX_RANK);
        if (w[i].rank) /* a scalar has no dims array */
            memcpy(w[i].dims, t->dims, (size_t)w[i].rank * sizeof *w[i].dims);
        w[i].elements = m->tensors[i].elements;
        w[i].bytes = m->tensors[i].bytes;
    }
    const Onnx__GraphProto *g = m->proto->graph;
    onnxq_status st = ONNXQ_OK;
    for (size_t j = 0; j < g->n_node && st == ONNXQ_OK; j++) {
        const Onnx__NodeProto *n = g->node[j];
        for (size_t k = 0; container_is_decode_node(n) && k < n->n_input; k++) {
            size_t i;
            if (!n->input[k] || (i = onnxq_model_find_tensor(m, n->input[k])) == (size_t)-1)
                continue;
            uint8_t *stream;
            codec_info info;
            char label[600];
            const char *original = n->output[k] ? n->output[k] : "";
            st = read_stream(m, i, original, &stream, &info, label, sizeof label, err);
            free(stream);
            if (st != ONNXQ_OK)
                break;
            w[i] = (model_weight){ original, n, info.dtype, info.rank, {0}, info.elements,
                                   info.bytes, (int)info.method, info.quant.kind, 0, 0, 0 };
            memcpy(w[i].dims, info.dims, sizeof w[i].dims);
            describe_quantizer(&info, &w[i]);
        }
    }
    if (st != ONNXQ_OK) {
        free(w);
        return st;
    }
    m->weights = w;
    return ONNXQ_OK;
}

size_t onnxq_model_weight_count(const onnxq_model *m) { return m->n_tensors; }

onnxq_status onnxq_model_weight_info(onnxq_model *m, size_t i, onnxq_weight_info *info,
                                     onnxq_error *err)
{
    memset(info, 0, sizeof *info);
    if (i >= m->n_tensors)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no weight %zu (it has %zu)", m->name, i,
                          m->n_tensors);
    onnxq_status st = build_weights(m, err);
    if (st != ONNXQ_OK)
        return st;
    const model_weight *w = &m->weights[i];
    info->name = w->name;
    info->dtype = w->dtype;
    info->rank = w->rank;
    info->dims = w->dims;
    info->elements = w->elements;
    info->bytes = w->bytes;
    info->compressed = w->node != NULL;
    info->stored_bytes = m->tensors[i].bytes;
    info->method = w->method;
    info->quantizer = w->quantizer;
    info->step = w->step;
    info->bits = w->bits;
    info->per_channel = w->per_channel;
    return onnxq_ok(err);
}

size_t onnxq_model_find_weight(onnxq_model *m, const char *name)
{
    if (build_weights(m, NULL) != ONNXQ_OK)
        return (size_t)-1;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (!strcmp(m->weights[i].name, name))
            return i;
    return (size_t)-1;
}

onnxq_status onnxq_model_weight_read(onnxq_model *m, size_t i, void *out, uint64_t size,
                                     onnxq_error *err)
{
    onnxq_weight_info wi;
    onnxq_status st = onnxq_model_weight_info(m, i, &wi, err);
    if (st != ONNXQ_OK)
        return st;
    if (size != wi.bytes)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: weight '%s' is %llu bytes, not %llu",
                          m->name, wi.name, (unsigned long long)wi.bytes, (unsigned long long)size);
    if (!wi.compressed)
        return onnxq_tensor_read_raw(m, i, out, size, err);
    uint8_t *stream;
    codec_info info;
    char label[600];
    st = read_stream(m, i, wi.name, &stream, &info, label, sizeof label, err);
    void *ws = st == ONNXQ_OK ? malloc(info.workspace + 1) : NULL;
    if (st == ONNXQ_OK && !ws)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    if (st == ONNXQ_OK)
        st = codec_decode_inspected(stream, &info, out, (size_t)size, ws, info.workspace, label, err);
    free(stream);
    free(ws);
    return st == ONNXQ_OK ? onnxq_ok(err) : st;
}

onnxq_status onnxq_decompress_memory(const void *in, size_t in_size, void **out, size_t *out_size,
                                     onnxq_error *err)
{
    *out = NULL;
    *out_size = 0;
    onnxq_model *m;
    onnxq_status st = onnxq_model_from_memory(in, in_size, "model in memory", NULL, &m, err);
    if (st != ONNXQ_OK)
        return st;
    st = onnxq_decompress(m, err);
    if (st == ONNXQ_OK)
        st = onnxq_model_serialize(m, out, out_size, err);
    onnxq_model_free(m);
    return st;
}
