/* compress.c: compressing a model's initializers into ai.onnxq tensors:
 * which tensors, how, with what step; the coders do the rest, and the
 * container (model/container.h) writes the Decode nodes. */
#include "config.h"
#include "compress.h"
#include "fold.h"
#include "common/dtype.h"
#include "common/error.h"
#include "encode/codec_encode.h"
#include "encode/fit.h"
#include "encode/grid.h"
#include "encode/quantize.h"
#include "encode/symencode.h"
#include "model/container.h"
#include "model/fileio.h"
#include "model/onnx_io.h"

#include <math.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plain tensor is only worth an ai.onnxq tensor when coding saves more
 * than the extra node, name and header cost, roughly this many bytes. */
#define LOSSLESS_OVERHEAD 128

void onnxq_compress_defaults(onnxq_compress_options *o)
{
    memset(o, 0, sizeof *o);
    o->quantizer = ONNXQ_QUANT_DEADZONE;
    o->step_mode = ONNXQ_STEP_BITS;
    o->bits = 8;
    o->sigma = 0.25;
    o->mu = 255;
    o->symmetric = 1;
    o->min_size = 1024;
    o->fold = 1;
    o->keep_grids = 1;
}

/* ---- Choosing tensors and parameters ------------------------------------ */

typedef enum { ACTION_KEEP, ACTION_QUANTIZE, ACTION_LOSSLESS } action;

/* A per-tensor step from the options, or 0 when there is none. */
static double tensor_step(const onnxq_compress_options *o, size_t i)
{
    return o->tensor_steps && i < o->n_tensor_steps ? o->tensor_steps[i] : 0;
}

static action tensor_action(const model_tensor *mt, size_t i, const onnxq_compress_options *o,
                            const regex_t *exclude)
{
    const Onnx__TensorProto *t = mt->proto;
    int dtype = t->data_type;
    if (mt->bytes == 0 || dtype == ONNXQ_DTYPE_STRING || tensor_step(o, i) < 0)
        return ACTION_KEEP;
    if (tensor_step(o, i) > 0 && onnxq_dtype_is_float(dtype) && o->quantizer != ONNXQ_QUANT_NONE)
        return ACTION_QUANTIZE;
    int excluded = compress_excluded(exclude, t->name);
    if (onnxq_dtype_is_float(dtype) && o->quantizer != ONNXQ_QUANT_NONE && !excluded &&
        mt->elements >= o->min_size && (o->include_1d || t->n_dims >= 2))
        return ACTION_QUANTIZE;
    return mt->bytes > LOSSLESS_OVERHEAD ? ACTION_LOSSLESS : ACTION_KEEP;
}

onnxq_status compress_exclusion(const onnxq_compress_options *o, regex_t *re, int *have,
                                onnxq_error *err)
{
    *have = 0;
    if (!o->exclude || !*o->exclude)
        return ONNXQ_OK;
    if (regcomp(re, o->exclude, REG_EXTENDED | REG_NOSUB) != 0)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "--exclude '%s' is not a valid regular expression",
                          o->exclude);
    *have = 1;
    return ONNXQ_OK;
}

int compress_excluded(const regex_t *re, const char *name)
{
    return re && name && regexec(re, name, 0, NULL, 0) == 0;
}

/* Default minifloat fields for a total width: E4M3 at 8 bits, E5M10 at 16. */
static void float_fields(int bits, int *e, int *m)
{
    static const int exp_for_bits[17] = {0, 0, 0, 1, 2, 2, 3, 3, 4, 4, 4, 5, 5, 5, 5, 5, 5};
    *e = exp_for_bits[bits < 3 ? 3 : bits > 16 ? 16 : bits];
    *m = bits - 1 - *e;
}

/* The output-channel axis of a weight, from the node that uses it. */
static int channel_axis(const onnxq_model *m, const char *name, int rank)
{
    const Onnx__GraphProto *g = m->proto->graph;
    for (size_t i = 0; i < g->n_node; i++) {
        const Onnx__NodeProto *n = g->node[i];
        if (n->n_input < 2 || !n->input[1] || strcmp(n->input[1], name) != 0 || !n->op_type)
            continue;
        if (!strcmp(n->op_type, "ConvTranspose"))
            return rank > 1 ? 1 : 0;
        if (!strcmp(n->op_type, "MatMul"))
            return rank - 1;
        if (!strcmp(n->op_type, "Gemm")) {
            for (size_t a = 0; a < n->n_attribute; a++)
                if (n->attribute[a]->name && !strcmp(n->attribute[a]->name, "transB") &&
                    n->attribute[a]->i)
                    return 0;
            return rank > 1 ? 1 : 0;
        }
        return 0;
    }
    return 0;
}

onnxq_status compress_setup_quant(const onnxq_model *m, size_t i, const onnxq_compress_options *o,
                                  double step, quant_params *q, onnxq_error *err)
{
    const model_tensor *mt = &m->tensors[i];
    memset(q, 0, sizeof *q);
    q->kind = o->quantizer;
    q->step = step;
    q->sigma = o->sigma;
    q->recon = o->laplace_recon ? -1 : 0.5;
    q->mu = o->mu;
    int bits = (int)lround(o->bits);
    if (q->kind == ONNXQ_QUANT_FLOAT) {
        q->exp_bits = o->exp_bits;
        q->man_bits = o->man_bits;
        if (!q->exp_bits)
            float_fields(bits, &q->exp_bits, &q->man_bits);
        if (q->exp_bits < 1 || q->exp_bits > 8 || q->man_bits < 0 || q->man_bits > 23 ||
            1 + q->exp_bits + q->man_bits > 32)
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                              "minifloat with %d exponent and %d mantissa bits is not supported",
                              q->exp_bits, q->man_bits);
    }
    const Onnx__TensorProto *t = mt->proto;
    int stepped = q->kind == ONNXQ_QUANT_MIDRISE || q->kind == ONNXQ_QUANT_MIDTREAD ||
                  q->kind == ONNXQ_QUANT_DEADZONE;
    if (o->per_channel && (q->kind == ONNXQ_QUANT_INT ? t->n_dims >= 1 : stepped && t->n_dims >= 2)) {
        int axis = channel_axis(m, t->name ? t->name : "", (int)t->n_dims);
        uint64_t inner = 1;
        for (size_t d = (size_t)axis + 1; d < t->n_dims; d++)
            inner *= (uint64_t)t->dims[d];
        q->channels = (uint32_t)t->dims[axis];
        q->inner = inner ? inner : 1;
        q->want_channel_steps = stepped;
    }
    if (q->kind == ONNXQ_QUANT_INT) {
        if (bits < 2 || bits > 16)
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "int quantizer with %d bits (2 to 16)", bits);
        q->int_bits = bits;
        q->symmetric = o->symmetric;
        if (!q->channels)
            q->channels = 1;
    }
    return ONNXQ_OK;
}

/* ---- Grids already there ------------------------------------------------ */

/* A quantized tensor keeps the grid it already has when the step asked
 * for is at most this much coarser than the grid's (median) step: coding
 * the grid costs no more and changes nothing. */
#define GRID_KEEP 1.5

static int cmp_float_asc(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* When tensor i's values lie on an integer grid (encode/grid.h), one per
 * tensor or one per output channel, set q to the int quantizer that
 * rebuilds them exactly and *median to the grid's median step; return 0.
 * Return -1 when they do not (or when out of memory). */
static int grid_params(const onnxq_model *m, size_t i, const float *values, quant_params *q,
                       double *median)
{
    const model_tensor *mt = &m->tensors[i];
    const Onnx__TensorProto *t = mt->proto;
    memset(q, 0, sizeof *q);
    if (t->data_type != ONNXQ_DTYPE_FLOAT || mt->elements < 2)
        return -1;
    q->kind = ONNXQ_QUANT_INT;
    q->symmetric = 1;
    q->channels = 1;
    q->inner = mt->elements;
    q->scales = malloc(sizeof *q->scales);
    int32_t top = q->scales ? grid_find(values, mt->elements, 1, mt->elements, q->scales) : -1;
    if (top < 0 && t->n_dims >= 2) {
        int axis = channel_axis(m, t->name ? t->name : "", (int)t->n_dims);
        uint64_t inner = 1;
        for (size_t d = (size_t)axis + 1; d < t->n_dims; d++)
            inner *= (uint64_t)t->dims[d];
        q->channels = (uint32_t)t->dims[axis];
        q->inner = inner ? inner : 1;
        free(q->scales);
        q->scales = malloc((q->channels + 1) * sizeof *q->scales);
        top = q->scales && q->channels > 1
                  ? grid_find(values, mt->elements, q->channels, q->inner, q->scales) : -1;
    }
    q->zero_points = top >= 0 ? calloc(q->channels + 1, sizeof *q->zero_points) : NULL;
    float *sorted = q->zero_points ? malloc((q->channels + 1) * sizeof *sorted) : NULL;
    if (!sorted) {
        quant_free(q);
        return -1;
    }
    memcpy(sorted, q->scales, q->channels * sizeof *sorted);
    qsort(sorted, q->channels, sizeof *sorted, cmp_float_asc);
    *median = sorted[q->channels / 2];
    free(sorted);
    q->int_bits = 2;
    while ((1 << (q->int_bits - 1)) - 1 < top)
        q->int_bits++;
    return 0;
}

double compress_grid_step(const onnxq_model *m, size_t i, const float *values)
{
    quant_params q;
    double median;
    if (grid_params(m, i, values, &q, &median) != 0)
        return 0;
    quant_free(&q);
    return median;
}

/* Whether a tensor on a grid of median step g keeps it, asked for q. */
static int keeps_grid(const quant_params *asked, double g)
{
    switch (asked->kind) {
    case ONNXQ_QUANT_MIDRISE:
    case ONNXQ_QUANT_MIDTREAD:
    case ONNXQ_QUANT_DEADZONE:
        return asked->step <= GRID_KEEP * g;
    default:
        return 0;
    }
}

typedef struct loaded {
    size_t index;
    float *values;
} loaded;

/* The one step for all tensors whose pooled index entropy is `target`. */
static onnxq_status step_for_entropy(onnxq_model *m, const onnxq_compress_options *o,
                                     loaded *ts, size_t nt, double *step_out, onnxq_error *err)
{
    uint64_t total = 0;
    for (size_t k = 0; k < nt; k++)
        total += m->tensors[ts[k].index].elements;
    int32_t *q = malloc((total + 1) * sizeof *q);
    if (!q)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    /* Entropy falls as the step grows: bisect on log2(step). */
    double lo = -24, hi = 8;
    onnxq_status st = ONNXQ_OK;
    for (int iter = 0; iter < 40 && st == ONNXQ_OK; iter++) {
        double mid = (lo + hi) / 2, step = exp2(mid);
        uint64_t at = 0;
        int too_fine = 0;
        for (size_t k = 0; k < nt && !too_fine; k++) {
            model_tensor *mt = &m->tensors[ts[k].index];
            quant_params qp;
            st = compress_setup_quant(m, ts[k].index, o, step, &qp, err);
            if (st != ONNXQ_OK)
                break;
            if (quant_prepare(&qp, ts[k].values, mt->elements) != 0)
                st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
            else if (quant_encode(&qp, ts[k].values, mt->elements, q + at) != 0)
                too_fine = 1;
            quant_free(&qp);
            at += mt->elements;
        }
        if (st != ONNXQ_OK)
            break;
        double h = too_fine ? INFINITY : symcode_entropy(q, at);
        if (h > o->entropy)
            lo = mid;
        else
            hi = mid;
    }
    free(q);
    *step_out = exp2(hi);
    return st;
}

/* ---- Rewriting the graph -------------------------------------------------- */

/* ---- Holding coded tensors --------------------------------------------------
 *
 * The graph is rewritten only once every tensor is coded, so a failure
 * half-way leaves the model as it was.  A model that spills (one with
 * external data, perhaps larger than memory) keeps its coded tensors in a
 * scratch file meanwhile; only their lengths stay in memory. */

static onnxq_status hold_in_scratch(onnxq_model *m, scratch_file *held, bytebuf *stream,
                                    uint64_t *at, onnxq_error *err)
{
    onnxq_error sub;
    if (scratch_append(held, stream->data, stream->len, at, &sub) != ONNXQ_OK)
        return onnxq_fail(err, sub.status, "%s: %s", m->name, sub.message);
    size_t len = stream->len;
    bb_free(stream);
    stream->len = len; /* data NULL: held */
    return ONNXQ_OK;
}

static onnxq_status take_from_scratch(onnxq_model *m, const scratch_file *held, bytebuf *stream,
                                      uint64_t at, onnxq_error *err)
{
    size_t len = stream->len;
    bb_init(stream);
    uint8_t *dst = bb_reserve(stream, len);
    if (!dst)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    onnxq_error sub;
    if (file_read_range(held->path, at, len, dst, &sub) != ONNXQ_OK)
        return onnxq_fail(err, sub.status, "%s: %s", m->name, sub.message);
    stream->len = len;
    return ONNXQ_OK;
}

/* ---- Compressing ---------------------------------------------------------- */

static onnxq_status report_new(onnxq_model *m, onnxq_compress_report **out, onnxq_error *err)
{
    onnxq_compress_report *r = calloc(1, sizeof *r);
    if (r)
        r->tensors = calloc(m->n_tensors + 1, sizeof *r->tensors);
    if (!r || !r->tensors) {
        free(r);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    r->n_tensors = m->n_tensors;
    for (size_t i = 0; i < m->n_tensors; i++) {
        onnxq_tensor_report *tr = &r->tensors[i];
        const model_tensor *mt = &m->tensors[i];
        tr->name = strdup(mt->proto->name ? mt->proto->name : "");
        tr->dtype = mt->proto->data_type;
        tr->elements = mt->elements;
        tr->original_bytes = tr->coded_bytes = mt->bytes;
        tr->method = "plain";
        tr->entropy = NAN;
        r->parameters += mt->elements;
        r->original_bytes += mt->bytes;
    }
    *out = r;
    return ONNXQ_OK;
}

void onnxq_compress_report_free(onnxq_compress_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n_tensors; i++)
        free((char *)r->tensors[i].name);
    free(r->tensors);
    free(r);
}

static onnxq_status read_values(onnxq_model *m, size_t i, float **values, onnxq_error *err)
{
    *values = malloc((m->tensors[i].elements + 1) * sizeof **values);
    if (!*values)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    return onnxq_tensor_read_float(m, i, *values, m->tensors[i].elements, err);
}

/* Quantize and code tensor i; `values` (its float values) are used up:
 * they hold the indices afterwards. */
static onnxq_status compress_one_quantized(onnxq_model *m, size_t i, float *values,
                                           const onnxq_compress_options *o, double step,
                                           bytebuf *stream, onnxq_tensor_report *tr,
                                           onnxq_error *err)
{
    model_tensor *mt = &m->tensors[i];
    if (tensor_step(o, i) > 0) {
        step = tensor_step(o, i);
    } else if (o->step_mode == ONNXQ_STEP_LAPLACE) {
        double loc, b;
        if (fit_laplace(values, mt->elements, &loc, &b) != 0)
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        step = o->step * (b > 0 ? b : 1);
    }
    quant_params qp;
    onnxq_status st = compress_setup_quant(m, i, o, step, &qp, err);
    if (st != ONNXQ_OK)
        return st;
    quant_params grid;
    double grid_step;
    int on_grid = o->keep_grids && grid_params(m, i, values, &grid, &grid_step) == 0;
    if (on_grid && keeps_grid(&qp, grid_step)) {
        quant_free(&qp);
        qp = grid;
    } else if (on_grid) {
        quant_free(&grid);
        on_grid = 0;
    }
    if (!on_grid && quant_prepare(&qp, values, mt->elements) != 0) {
        quant_free(&qp);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    codec_tensor ct = {mt->proto->data_type, (int)mt->proto->n_dims, mt->proto->dims,
                       mt->elements, NULL, 0};
    codec_stats cs;
    double sq_error;
    onnxq_error sub;
    st = codec_encode_quantized(&ct, values, &qp, stream, &cs, &sq_error, &sub);
    if (st != ONNXQ_OK)
        onnxq_fail(err, st, "%s: tensor '%s': %s", m->name, tr->name, sub.message);
    else {
        tr->method = "quantized";
        tr->grid = on_grid;
        tr->quantizer = qp.kind;
        tr->step = qp.kind == ONNXQ_QUANT_FLOAT || qp.kind == ONNXQ_QUANT_INT ? 0 : qp.step;
        tr->entropy = cs.entropy;
        tr->payload_bytes = cs.payload_bytes;
        tr->rms_error = mt->elements ? sqrt(sq_error / (double)mt->elements) : 0;
    }
    quant_free(&qp);
    return st;
}

/* A tensor so small that its coded form, with the Decode node and names
 * it adds, is no smaller than its plain bytes stays as it is: exact and
 * smaller. */
static void keep_plain(bytebuf *stream, onnxq_tensor_report *tr)
{
    stream->len = 0;
    tr->method = "plain";
    tr->grid = 0;
    tr->quantizer = ONNXQ_QUANT_NONE;
    tr->step = 0;
    tr->entropy = NAN;
    tr->payload_bytes = 0;
    tr->rms_error = 0;
}

/* Tensor i coded exactly on the grid it lies on, into *trial (left empty
 * when it lies on none). */
static onnxq_status code_on_grid(onnxq_model *m, size_t i, bytebuf *trial, codec_stats *cs,
                                 onnxq_error *err)
{
    model_tensor *mt = &m->tensors[i];
    float *values;
    trial->len = 0;
    onnxq_status st = read_values(m, i, &values, err);
    quant_params q;
    double median;
    if (st != ONNXQ_OK || grid_params(m, i, values, &q, &median) != 0) {
        free(values);
        return st;
    }
    codec_tensor ct = {mt->proto->data_type, (int)mt->proto->n_dims, mt->proto->dims,
                       mt->elements, NULL, 0};
    double sq_error;
    onnxq_error sub;
    if (codec_encode_quantized(&ct, values, &q, trial, cs, &sq_error, &sub) != ONNXQ_OK ||
        sq_error != 0)
        trial->len = 0;
    quant_free(&q);
    free(values);
    return ONNXQ_OK;
}

static onnxq_status compress_one_lossless(onnxq_model *m, size_t i, const onnxq_compress_options *o,
                                          bytebuf *stream, onnxq_tensor_report *tr,
                                          onnxq_error *err)
{
    model_tensor *mt = &m->tensors[i];
    int dtype = mt->proto->data_type;
    uint8_t *raw = malloc(mt->bytes + 1);
    if (!raw)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    onnxq_status st = onnxq_tensor_read_raw(m, i, raw, mt->bytes, err);
    codec_tensor ct = {dtype, (int)mt->proto->n_dims, mt->proto->dims, mt->elements, raw,
                       mt->bytes};
    /* The best of the methods that apply to this type. */
    codec_method methods[2] = {CODEC_ZSTD, CODEC_ZSTD};
    const char *names[2] = {"zstd", "zstd"};
    int n_methods = 1;
    if (onnxq_dtype_is_float(dtype)) {
        methods[n_methods] = CODEC_PLANES;
        names[n_methods++] = "planes";
    } else if (dtype == ONNXQ_DTYPE_INT8 || dtype == ONNXQ_DTYPE_UINT8 ||
               dtype == ONNXQ_DTYPE_INT16 || dtype == ONNXQ_DTYPE_UINT16 ||
               dtype == ONNXQ_DTYPE_INT32 || dtype == ONNXQ_DTYPE_BOOL) {
        methods[n_methods] = CODEC_INTEGER;
        names[n_methods++] = "integer";
    }
    bytebuf trial;
    bb_init(&trial);
    for (int k = 0; k < n_methods && st == ONNXQ_OK; k++) {
        codec_stats cs;
        trial.len = 0;
        onnxq_error sub;
        if (codec_encode_lossless(&ct, methods[k], &trial, &cs, &sub) != ONNXQ_OK)
            continue; /* e.g. integers spread too wide: another method will do */
        if (trial.len + LOSSLESS_OVERHEAD < mt->bytes &&
            (stream->len == 0 || trial.len < stream->len)) {
            stream->len = 0;
            bb_put(stream, trial.data, trial.len);
            tr->method = names[k];
            tr->entropy = methods[k] == CODEC_INTEGER ? cs.entropy : NAN;
            tr->payload_bytes = cs.payload_bytes;
        }
    }
    if (st == ONNXQ_OK && o->keep_grids && dtype == ONNXQ_DTYPE_FLOAT) {
        codec_stats cs;
        st = code_on_grid(m, i, &trial, &cs, err);
        if (st == ONNXQ_OK && trial.len && trial.len + LOSSLESS_OVERHEAD < mt->bytes &&
            (stream->len == 0 || trial.len < stream->len)) {
            stream->len = 0;
            bb_put(stream, trial.data, trial.len);
            tr->method = "grid";
            tr->quantizer = ONNXQ_QUANT_INT;
            tr->grid = 1;
            tr->entropy = cs.entropy;
            tr->payload_bytes = cs.payload_bytes;
        }
    }
    if (st == ONNXQ_OK && (stream->failed || trial.failed))
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    bb_free(&trial);
    free(raw);
    return st;
}

static onnxq_status check_options(const onnxq_compress_options *o, onnxq_error *err)
{
    if (o->quantizer < ONNXQ_QUANT_NONE || o->quantizer > ONNXQ_QUANT_INT)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "unknown quantizer %d", (int)o->quantizer);
    int stepped = o->quantizer == ONNXQ_QUANT_MIDRISE || o->quantizer == ONNXQ_QUANT_MIDTREAD ||
                  o->quantizer == ONNXQ_QUANT_DEADZONE || o->quantizer == ONNXQ_QUANT_MULAW;
    if (o->step_mode == ONNXQ_STEP_BITS && !(o->bits >= 1 && o->bits <= 24))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "bits must be between 1 and 24");
    if ((o->step_mode == ONNXQ_STEP_FIXED || o->step_mode == ONNXQ_STEP_LAPLACE) &&
        !(o->step > 0 && isfinite(o->step)))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "the step must be positive");
    if (o->step_mode == ONNXQ_STEP_ENTROPY && !(o->entropy > 0 && o->entropy < 24))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "the entropy target must be between 0 and 24 bits");
    if (o->step_mode != ONNXQ_STEP_BITS && !stepped && o->quantizer != ONNXQ_QUANT_NONE)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "the %s quantizer takes --bits, not a step or an entropy target",
                          onnxq_quantizer_name(o->quantizer));
    if (o->quantizer == ONNXQ_QUANT_DEADZONE && !(o->sigma >= 0 && o->sigma < 64))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "sigma must be between 0 and 64");
    if (o->quantizer == ONNXQ_QUANT_MULAW && !(o->mu > 0 && o->mu < 1e12))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "mu must be positive");
    return ONNXQ_OK;
}

/* The settings a file was compressed with, in its metadata_props, so the
 * file says how it was made (onnxq inspect shows them). */
static onnxq_status record_provenance(onnxq_model *m, const onnxq_compress_options *o,
                                      const onnxq_compress_report *r, onnxq_error *err)
{
    char how[512], count[32];
    size_t used = (size_t)snprintf(how, sizeof how, "quantizer=%s",
                                   onnxq_quantizer_name(o->quantizer));
    if (o->tensor_steps)
        used += (size_t)snprintf(how + used, sizeof how - used, " steps=per-tensor");
    else if (o->quantizer == ONNXQ_QUANT_FLOAT || o->quantizer == ONNXQ_QUANT_INT)
        used += (size_t)snprintf(how + used, sizeof how - used, " bits=%g", o->bits);
    else if (o->quantizer != ONNXQ_QUANT_NONE)
        used += (size_t)snprintf(how + used, sizeof how - used, " step=%.6g", r->step);
    if (o->quantizer == ONNXQ_QUANT_DEADZONE && used < sizeof how)
        used += (size_t)snprintf(how + used, sizeof how - used, " sigma=%g", o->sigma);
    if (used < sizeof how)
        snprintf(how + used, sizeof how - used, " per_channel=%d fold=%d folded_nodes=%zu",
                 o->per_channel, o->fold && !o->tensor_steps, r->folded_nodes);
    snprintf(count, sizeof count, "%llu", (unsigned long long)r->original_parameters);
    onnxq_status st = onnxq_model_set_metadata(m, "onnxq.version", onnxq_version(), err);
    if (st == ONNXQ_OK)
        st = onnxq_model_set_metadata(m, "onnxq.settings", how, err);
    if (st == ONNXQ_OK)
        st = onnxq_model_set_metadata(m, "onnxq.original_parameters", count, err);
    return st;
}

onnxq_status onnxq_compress(onnxq_model *m, const onnxq_compress_options *options,
                            onnxq_compress_report **report_out, onnxq_error *err)
{
    onnxq_compress_options defaults;
    onnxq_compress_defaults(&defaults);
    const onnxq_compress_options *o = options ? options : &defaults;
    if (report_out)
        *report_out = NULL;
    onnxq_status st = check_options(o, err);
    if (st != ONNXQ_OK)
        return st;
    if (onnxq_model_is_compressed(m))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: already compressed by onnxq", m->name);
    if (m->proto->ir_version < 4)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                          "%s: IR version %lld models (initializers as graph inputs) are not supported",
                          m->name, (long long)m->proto->ir_version);
    regex_t re;
    int have_re;
    st = compress_exclusion(o, &re, &have_re, err);
    if (st != ONNXQ_OK)
        return st;
    uint64_t parameters = 0;
    for (size_t i = 0; i < m->n_tensors; i++)
        parameters += m->tensors[i].elements;
    size_t folded = 0;
    if (o->fold && !o->tensor_steps)
        st = fold_affine(m, &folded, err);
    onnxq_compress_report *r = NULL;
    if (st == ONNXQ_OK)
        st = report_new(m, &r, err);
    if (st != ONNXQ_OK) {
        if (have_re)
            regfree(&re);
        return st;
    }
    r->original_parameters = parameters;
    r->folded_nodes = folded;
    size_t n = m->n_tensors;
    action *acts = calloc(n + 1, sizeof *acts);
    loaded *ts = calloc(n + 1, sizeof *ts);
    if (st == ONNXQ_OK && (!acts || !ts))
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    size_t nt = 0;
    for (size_t i = 0; i < n && st == ONNXQ_OK; i++) {
        acts[i] = tensor_action(&m->tensors[i], i, o, have_re ? &re : NULL);
        if (acts[i] != ACTION_QUANTIZE)
            continue;
        ts[nt].index = i;
        /* Only the entropy target needs every tensor at once; otherwise
         * each is read just before it is coded, so memory follows the
         * largest tensor rather than the model. */
        if (o->step_mode == ONNXQ_STEP_ENTROPY)
            st = read_values(m, i, &ts[nt].values, err);
        nt++;
    }
    double step = o->step_mode == ONNXQ_STEP_FIXED ? o->step : exp2(1 - o->bits);
    if (st == ONNXQ_OK && o->step_mode == ONNXQ_STEP_ENTROPY)
        st = step_for_entropy(m, o, ts, nt, &step, err);
    r->step = o->quantizer == ONNXQ_QUANT_FLOAT || o->quantizer == ONNXQ_QUANT_INT ||
                      o->quantizer == ONNXQ_QUANT_NONE || o->step_mode == ONNXQ_STEP_LAPLACE ||
                      o->tensor_steps
                  ? 0 : step;

    /* Encode everything first, rewrite the graph after: a failure half-way
     * leaves the model as it was. */
    bytebuf *streams = calloc(n + 1, sizeof *streams);
    uint64_t *held_at = calloc(n + 1, sizeof *held_at);
    scratch_file held = {0};
    if (st == ONNXQ_OK && (!streams || !held_at))
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    size_t k = 0;
    for (size_t i = 0; i < n && st == ONNXQ_OK; i++) {
        if (o->progress)
            o->progress(o->progress_ctx, i, n, r->tensors[i].name);
        if (acts[i] == ACTION_QUANTIZE) {
            if (!ts[k].values)
                st = read_values(m, i, &ts[k].values, err);
            if (st == ONNXQ_OK)
                st = compress_one_quantized(m, i, ts[k].values, o, step, &streams[i],
                                            &r->tensors[i], err);
            if (st == ONNXQ_OK && streams[i].len + LOSSLESS_OVERHEAD >= m->tensors[i].bytes)
                keep_plain(&streams[i], &r->tensors[i]);
            free(ts[k].values);
            ts[k++].values = NULL;
        } else if (acts[i] == ACTION_LOSSLESS) {
            st = compress_one_lossless(m, i, o, &streams[i], &r->tensors[i], err);
        }
        if (st == ONNXQ_OK && m->spill && streams[i].len)
            st = hold_in_scratch(m, &held, &streams[i], &held_at[i], err);
    }
    if (o->progress && st == ONNXQ_OK)
        o->progress(o->progress_ctx, n, n, "");
    /* Tensor indices stay put while packing: tensors are edited in place. */
    Onnx__NodeProto *decode = NULL;
    for (size_t i = 0; i < n && st == ONNXQ_OK; i++) {
        if (!streams || !streams[i].len)
            continue;
        if (!streams[i].data)
            st = take_from_scratch(m, &held, &streams[i], held_at[i], err);
        if (st == ONNXQ_OK)
            st = container_pack(m, i, &streams[i], &decode, err);
        r->tensors[i].coded_bytes = streams[i].len;
        if (m->spill)
            bb_free(&streams[i]); /* packed: in the model's own scratch file now */
    }
    for (size_t i = 0; i < n; i++) {
        const onnxq_tensor_report *tr = &r->tensors[i];
        r->coded_bytes += tr->coded_bytes;
        if (!strcmp(tr->method, "quantized")) {
            r->quantized_parameters += tr->elements;
            r->quantized_payload_bytes += tr->payload_bytes;
            r->quantized_entropy_bits += tr->entropy * (double)tr->elements;
        }
    }
    if (st == ONNXQ_OK)
        st = model_reindex(m, err);
    if (st == ONNXQ_OK)
        st = record_provenance(m, o, r, err);
    for (size_t i = 0; streams && i < n; i++)
        bb_free(&streams[i]);
    for (size_t j = 0; ts && j < nt; j++)
        free(ts[j].values);
    free(streams);
    free(held_at);
    scratch_close(&held);
    free(ts);
    free(acts);
    if (have_re)
        regfree(&re);
    if (st != ONNXQ_OK || !report_out)
        onnxq_compress_report_free(r);
    else
        *report_out = r;
    return st == ONNXQ_OK ? onnxq_ok(err) : st;
}

