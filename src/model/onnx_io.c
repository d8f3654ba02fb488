/* onnx_io.c: loading, checking, reading and saving ONNX models. */
#include "config.h"
#include "onnx_io.h"
#include "common/dtype.h"
#include "common/error.h"
#include "fileio.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "onnxq reads ONNX raw_data (little-endian) in place: big-endian hosts are not supported yet"
#endif

/* ---- Loading ------------------------------------------------------------ */

static const char *tensor_name(const Onnx__TensorProto *t)
{
    return t->name ? t->name : "";
}

/* How many entries of the typed field that holds dtype's data are expected
 * for n elements, and which field it is. */
typedef enum { FIELD_NONE, FIELD_FLOAT, FIELD_INT32, FIELD_STRING, FIELD_INT64, FIELD_DOUBLE,
               FIELD_UINT64 } typed_field;

static typed_field typed_field_of(int dtype, uint64_t n, uint64_t *count)
{
    *count = n;
    switch (dtype) {
    case ONNXQ_DTYPE_FLOAT: return FIELD_FLOAT;
    case ONNXQ_DTYPE_COMPLEX64: *count = 2 * n; return FIELD_FLOAT;
    case ONNXQ_DTYPE_INT32: case ONNXQ_DTYPE_INT16: case ONNXQ_DTYPE_INT8:
    case ONNXQ_DTYPE_UINT16: case ONNXQ_DTYPE_UINT8: case ONNXQ_DTYPE_BOOL:
    case ONNXQ_DTYPE_FLOAT16: case ONNXQ_DTYPE_BFLOAT16:
    case ONNXQ_DTYPE_FLOAT8E4M3FN: case ONNXQ_DTYPE_FLOAT8E4M3FNUZ:
    case ONNXQ_DTYPE_FLOAT8E5M2: case ONNXQ_DTYPE_FLOAT8E5M2FNUZ:
        return FIELD_INT32;
    case ONNXQ_DTYPE_UINT4: case ONNXQ_DTYPE_INT4:
        *count = n / 2 + (n & 1); /* two nibbles in each entry's low byte */
        return FIELD_INT32;
    case ONNXQ_DTYPE_STRING: return FIELD_STRING;
    case ONNXQ_DTYPE_INT64: return FIELD_INT64;
    case ONNXQ_DTYPE_DOUBLE: return FIELD_DOUBLE;
    case ONNXQ_DTYPE_COMPLEX128: *count = 2 * n; return FIELD_DOUBLE;
    case ONNXQ_DTYPE_UINT32: case ONNXQ_DTYPE_UINT64: return FIELD_UINT64;
    default: return FIELD_NONE;
    }
}

static size_t typed_field_count(const Onnx__TensorProto *t, typed_field f)
{
    switch (f) {
    case FIELD_FLOAT: return t->n_float_data;
    case FIELD_INT32: return t->n_int32_data;
    case FIELD_STRING: return t->n_string_data;
    case FIELD_INT64: return t->n_int64_data;
    case FIELD_DOUBLE: return t->n_double_data;
    case FIELD_UINT64: return t->n_uint64_data;
    case FIELD_NONE: break;
    }
    return 0;
}

static size_t typed_fields_total(const Onnx__TensorProto *t)
{
    return t->n_float_data + t->n_int32_data + t->n_string_data + t->n_int64_data +
           t->n_double_data + t->n_uint64_data;
}

static int is_external(const Onnx__TensorProto *t)
{
    return t->has_data_location &&
           t->data_location == ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

/* Shape as "[a,b,c]" for messages. */
static void format_dims(const Onnx__TensorProto *t, char *buf, size_t size)
{
    size_t used = 0;
    used += (size_t)snprintf(buf, size, "[");
    for (size_t d = 0; d < t->n_dims && used < size; d++)
        used += (size_t)snprintf(buf + used, size - used, "%s%lld", d ? "," : "",
                                 (long long)t->dims[d]);
    if (used < size)
        snprintf(buf + used, size - used, "]");
}

/* An external location must stay inside the model's folder: a hostile model
 * must not make onnxq read (or report on) arbitrary files. */
static int location_is_safe(const char *loc)
{
    if (!loc[0] || loc[0] == '/')
        return 0;
    const char *p = loc;
    while (*p) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        if (len == 2 && p[0] == '.' && p[1] == '.')
            return 0;
        if (!slash)
            break;
        p = slash + 1;
    }
    return 1;
}

static onnxq_status resolve_external(onnxq_model *m, model_tensor *mt, onnxq_error *err)
{
    const Onnx__TensorProto *t = mt->proto;
    const char *location = NULL;
    uint64_t offset = 0, length = UINT64_MAX;
    for (size_t k = 0; k < t->n_external_data; k++) {
        const Onnx__StringStringEntryProto *e = t->external_data[k];
        if (!e->key || !e->value)
            continue;
        char *end;
        if (strcmp(e->key, "location") == 0) {
            location = e->value;
        } else if (strcmp(e->key, "offset") == 0 || strcmp(e->key, "length") == 0) {
            unsigned long long v = strtoull(e->value, &end, 10);
            if (!e->value[0] || *end || e->value[0] == '-')
                return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                                  "%s: tensor '%s': external data %s '%s' is not a number",
                                  m->name, tensor_name(t), e->key, e->value);
            if (e->key[0] == 'o')
                offset = v;
            else
                length = v;
        }
    }
    if (!location)
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                          "%s: tensor '%s': external data without a location", m->name,
                          tensor_name(t));
    if (m->scratch.path && strcmp(location, m->scratch.path) == 0) {
        /* written by this process (onnxq_tensor_replace): trusted, read by path */
        mt->external_path = strdup(location);
        mt->external_offset = offset;
        return mt->external_path ? ONNXQ_OK
                                 : onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    if (!location_is_safe(location))
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                          "%s: tensor '%s': external data location '%s' leaves the model's folder",
                          m->name, tensor_name(t), location);
    if (!m->base_dir)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                          "%s: tensor '%s' has external data but the model was not loaded from a file",
                          m->name, tensor_name(t));
    if (mt->bytes == 0 && t->data_type == ONNXQ_DTYPE_STRING)
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                          "%s: tensor '%s': string tensors cannot use external data", m->name,
                          tensor_name(t));
    if (length != UINT64_MAX && length != mt->bytes)
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                          "%s: tensor '%s': external data length %llu, shape needs %llu bytes",
                          m->name, tensor_name(t), (unsigned long long)length,
                          (unsigned long long)mt->bytes);
    mt->external_path = path_join(m->base_dir, location);
    if (!mt->external_path)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    mt->external_offset = offset;
    uint64_t size;
    onnxq_error sub;
    if (file_size(mt->external_path, &size, &sub) != ONNXQ_OK)
        return onnxq_fail(err, ONNXQ_ERR_IO, "%s: tensor '%s': external data %s", m->name,
                          tensor_name(t), sub.message);
    if (offset > size || size - offset < mt->bytes)
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                          "%s: tensor '%s': external data file %s holds %llu bytes, needs %llu at offset %llu",
                          m->name, tensor_name(t), mt->external_path, (unsigned long long)size,
                          (unsigned long long)mt->bytes, (unsigned long long)offset);
    return ONNXQ_OK;
}

/* Check one initializer's data against its type and shape. */
/* Check a tensor's shape, type and inline data against each other; `where`
 * names the model in messages.  External data is left to the caller. */
static onnxq_status check_proto(const char *where, const Onnx__TensorProto *t, uint64_t *elements,
                                uint64_t *nbytes, onnxq_error *err)
{
    char dims[128];
    uint64_t n = 1;
    for (size_t d = 0; d < t->n_dims; d++) {
        if (t->dims[d] < 0)
            return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR, "%s: tensor '%s': negative dimension %lld",
                              where, tensor_name(t), (long long)t->dims[d]);
        uint64_t dim = (uint64_t)t->dims[d];
        if (dim && n > UINT64_MAX / 16 / dim)
            return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR, "%s: tensor '%s': shape too large",
                              where, tensor_name(t));
        n *= dim;
    }
    *elements = n;
    int dtype = t->data_type;
    if (dtype == ONNXQ_DTYPE_UNDEFINED)
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR, "%s: tensor '%s': no data type", where,
                          tensor_name(t));
    uint64_t bytes = dtype_data_bytes(dtype, n);
    *nbytes = bytes == UINT64_MAX ? 0 : bytes;
    if (t->segment)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': segmented tensors are not supported",
                          where, tensor_name(t));
    if (is_external(t))
        return ONNXQ_OK;
    if (bytes == UINT64_MAX && dtype != ONNXQ_DTYPE_STRING)
        return ONNXQ_OK; /* an element type we do not know: carried along unread */
    format_dims(t, dims, sizeof dims);
    if (t->has_raw_data) {
        if (dtype == ONNXQ_DTYPE_STRING)
            return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR, "%s: tensor '%s': string tensor with raw_data",
                              where, tensor_name(t));
        if (t->raw_data.len != bytes)
            return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                              "%s: tensor '%s': raw_data holds %zu bytes, %s shape %s needs %llu",
                              where, tensor_name(t), t->raw_data.len, onnxq_dtype_name(dtype),
                              dims, (unsigned long long)bytes);
        return ONNXQ_OK;
    }
    uint64_t want;
    typed_field f = typed_field_of(dtype, n, &want);
    size_t have = typed_field_count(t, f);
    if (have != want || typed_fields_total(t) != have)
        return onnxq_fail(err, ONNXQ_ERR_BAD_TENSOR,
                          "%s: tensor '%s': holds %zu values, %s shape %s needs %llu", where,
                          tensor_name(t), typed_fields_total(t), onnxq_dtype_name(dtype), dims,
                          (unsigned long long)want);
    return ONNXQ_OK;
}

static onnxq_status check_tensor(onnxq_model *m, model_tensor *mt, onnxq_error *err)
{
    onnxq_status s = check_proto(m->name, mt->proto, &mt->elements, &mt->bytes, err);
    if (s == ONNXQ_OK && is_external(mt->proto))
        return resolve_external(m, mt, err);
    return s;
}

static void free_index(onnxq_model *m)
{
    free(m->weights);
    m->weights = NULL;
    for (size_t i = 0; i < m->n_tensors; i++)
        free(m->tensors[i].external_path);
    free(m->tensors);
    free(m->inputs);
    m->tensors = NULL;
    m->inputs = NULL;
    m->n_tensors = m->n_inputs = 0;
}

onnxq_status model_reindex(onnxq_model *m, onnxq_error *err)
{
    free_index(m);
    Onnx__GraphProto *g = m->proto->graph;
    m->tensors = calloc(g->n_initializer + 1, sizeof *m->tensors);
    m->inputs = calloc(g->n_input + 1, sizeof *m->inputs);
    if (!m->tensors || !m->inputs)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    for (size_t i = 0; i < g->n_initializer; i++) {
        m->tensors[i].proto = g->initializer[i];
        m->n_tensors = i + 1;
        onnxq_status s = check_tensor(m, &m->tensors[i], err);
        if (s != ONNXQ_OK)
            return s;
    }
    for (size_t i = 0; i < g->n_input; i++) {
        const char *name = g->input[i]->name ? g->input[i]->name : "";
        if (onnxq_model_find_tensor(m, name) == (size_t)-1)
            m->inputs[m->n_inputs++] = g->input[i];
    }
    return ONNXQ_OK;
}

/* Sum of the sizes of the distinct external data files. */
static uint64_t external_file_bytes(const onnxq_model *m)
{
    uint64_t total = 0;
    for (size_t i = 0; i < m->n_tensors; i++) {
        const char *p = m->tensors[i].external_path;
        if (!p)
            continue;
        int seen = 0;
        for (size_t j = 0; j < i && !seen; j++)
            seen = m->tensors[j].external_path && strcmp(m->tensors[j].external_path, p) == 0;
        uint64_t size;
        if (!seen && file_size(p, &size, NULL) == ONNXQ_OK)
            total += size;
    }
    return total;
}

onnxq_status onnxq_model_from_memory(const void *data, size_t size, const char *name,
                                     const char *base_dir, onnxq_model **out,
                                     onnxq_error *err)
{
    *out = NULL;
    if (!name)
        name = "<memory>";
    if (size == 0)
        return onnxq_fail(err, ONNXQ_ERR_NOT_ONNX, "%s: empty file, not an ONNX model", name);
    onnxq_model *m = calloc(1, sizeof *m);
    if (!m)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", name);
    m->name = strdup(name);
    m->base_dir = base_dir ? strdup(base_dir) : NULL;
    if (!m->name || (base_dir && !m->base_dir)) {
        onnxq_model_free(m);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", name);
    }
    m->proto = onnx__model_proto__unpack(NULL, size, data);
    if (!m->proto) {
        onnxq_model_free(m);
        return onnxq_fail(err, ONNXQ_ERR_NOT_ONNX,
                          "%s: not a valid ONNX model (the protobuf does not parse: truncated or not ONNX)",
                          name);
    }
    if (!m->proto->graph || !m->proto->has_ir_version) {
        const char *missing = m->proto->graph ? "ir_version" : "graph";
        onnxq_model_free(m);
        return onnxq_fail(err, ONNXQ_ERR_NOT_ONNX, "%s: not an ONNX model (it has no %s)", name,
                          missing);
    }
    onnxq_status s = model_reindex(m, err);
    if (s != ONNXQ_OK) {
        onnxq_model_free(m);
        return s;
    }
    m->file_bytes = size + external_file_bytes(m);
    for (size_t i = 0; i < m->n_tensors; i++)
        m->spill |= m->tensors[i].external_path != NULL;
    *out = m;
    return onnxq_ok(err);
}

onnxq_status onnxq_model_open(const char *path, onnxq_model **out, onnxq_error *err)
{
    *out = NULL;
    uint8_t *data;
    size_t size;
    onnxq_status s = file_read_all(path, &data, &size, err);
    if (s != ONNXQ_OK)
        return s;
    char *dir = path_dirname(path);
    if (!dir) {
        free(data);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
    }
    s = onnxq_model_from_memory(data, size, path, dir, out, err);
    free(data);
    free(dir);
    if (s == ONNXQ_OK && !((*out)->source_path = strdup(path))) {
        onnxq_model_free(*out);
        *out = NULL;
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
    }
    return s;
}

void onnxq_model_free(onnxq_model *m)
{
    if (!m)
        return;
    free_index(m);
    if (m->proto)
        onnx__model_proto__free_unpacked(m->proto, NULL);
    free(m->name);
    free(m->source_path);
    free(m->base_dir);
    scratch_close(&m->scratch);
    free(m);
}

/* ---- Metadata ----------------------------------------------------------- */

static const char *or_empty(const char *s) { return s ? s : ""; }

void onnxq_model_get_meta(const onnxq_model *m, onnxq_model_meta *meta)
{
    const Onnx__ModelProto *p = m->proto;
    memset(meta, 0, sizeof *meta);
    meta->ir_version = p->ir_version;
    meta->external_data = m->spill;
    meta->producer_name = or_empty(p->producer_name);
    meta->producer_version = or_empty(p->producer_version);
    meta->domain = or_empty(p->domain);
    meta->model_version = p->model_version;
    meta->graph_name = or_empty(p->graph->name);
    meta->file_bytes = m->file_bytes;
    meta->opset_count = p->n_opset_import;
    meta->input_count = m->n_inputs;
    meta->output_count = p->graph->n_output;
    meta->node_count = p->graph->n_node;
}

void onnxq_model_opset(const onnxq_model *m, size_t i, const char **domain, int64_t *version)
{
    const Onnx__OperatorSetIdProto *o = m->proto->opset_import[i];
    *domain = or_empty(o->domain);
    *version = o->version;
}

size_t onnxq_model_metadata_count(const onnxq_model *m) { return m->proto->n_metadata_props; }

void onnxq_model_metadata(const onnxq_model *m, size_t i, const char **key, const char **value)
{
    const Onnx__StringStringEntryProto *e = m->proto->metadata_props[i];
    *key = or_empty(e->key);
    *value = or_empty(e->value);
}

onnxq_status onnxq_model_set_metadata(onnxq_model *m, const char *key, const char *value,
                                      onnxq_error *err)
{
    Onnx__ModelProto *p = m->proto;
    char *v = strdup(value);
    if (!v)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    for (size_t i = 0; i < p->n_metadata_props; i++)
        if (!strcmp(or_empty(p->metadata_props[i]->key), key)) {
            free(p->metadata_props[i]->value);
            p->metadata_props[i]->value = v;
            return onnxq_ok(err);
        }
    /* The unpacked proto is freed with free(), so malloc'd entries belong in it. */
    Onnx__StringStringEntryProto **list =
        realloc(p->metadata_props, (p->n_metadata_props + 1) * sizeof *list);
    Onnx__StringStringEntryProto *e = list ? malloc(sizeof *e) : NULL;
    char *k = e ? strdup(key) : NULL;
    if (list)
        p->metadata_props = list;
    if (!k) {
        free(e), free(v);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    onnx__string_string_entry_proto__init(e);
    e->key = k;
    e->value = v;
    list[p->n_metadata_props++] = e;
    return onnxq_ok(err);
}

static void value_info(const Onnx__ValueInfoProto *v, onnxq_value_info *info)
{
    memset(info, 0, sizeof *info);
    info->name = or_empty(v->name);
    info->rank = -1;
    const Onnx__TypeProto *type = v->type;
    if (!type || type->value_case != ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE || !type->tensor_type)
        return;
    const Onnx__TypeProto__Tensor *tt = type->tensor_type;
    info->dtype = tt->elem_type;
    if (!tt->shape)
        return;
    info->rank = (int)(tt->shape->n_dim > INT_MAX ? INT_MAX : tt->shape->n_dim);
    for (size_t d = 0; d < tt->shape->n_dim && d < ONNXQ_MAX_DIMS; d++) {
        const Onnx__TensorShapeProto__Dimension *dim = tt->shape->dim[d];
        info->dims[d] = -1;
        if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_VALUE)
            info->dims[d] = dim->dim_value;
        else if (dim->value_case == ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM)
            info->dim_names[d] = dim->dim_param;
    }
}

void onnxq_model_input(const onnxq_model *m, size_t i, onnxq_value_info *info)
{
    value_info(m->inputs[i], info);
}

void onnxq_model_output(const onnxq_model *m, size_t i, onnxq_value_info *info)
{
    value_info(m->proto->graph->output[i], info);
}

/* ---- Tensors ------------------------------------------------------------ */

size_t onnxq_model_tensor_count(const onnxq_model *m) { return m->n_tensors; }

void onnxq_model_tensor_info(const onnxq_model *m, size_t i, onnxq_tensor_info *info)
{
    const model_tensor *mt = &m->tensors[i];
    info->name = tensor_name(mt->proto);
    info->dtype = mt->proto->data_type;
    info->rank = (int)mt->proto->n_dims;
    info->dims = mt->proto->dims;
    info->elements = mt->elements;
    info->bytes = mt->bytes;
    info->external = mt->external_path != NULL;
}

size_t onnxq_model_find_tensor(const onnxq_model *m, const char *name)
{
    for (size_t i = 0; i < m->n_tensors; i++)
        if (strcmp(tensor_name(m->tensors[i].proto), name) == 0)
            return i;
    return (size_t)-1;
}

/* Little-endian element bytes from the typed fields (checked at load). */
static void typed_to_raw(const Onnx__TensorProto *t, uint64_t n, uint8_t *out)
{
    uint64_t count;
    typed_field f = typed_field_of(t->data_type, n, &count);
    unsigned bits = onnxq_dtype_bits(t->data_type);
    if (count == 0)
        return; /* the typed field may be NULL then */
    switch (f) {
    case FIELD_FLOAT: memcpy(out, t->float_data, count * sizeof(float)); break;
    case FIELD_DOUBLE: memcpy(out, t->double_data, count * sizeof(double)); break;
    case FIELD_INT64: memcpy(out, t->int64_data, count * sizeof(int64_t)); break;
    case FIELD_UINT64:
        if (bits == 64) {
            memcpy(out, t->uint64_data, count * sizeof(uint64_t));
        } else {
            for (uint64_t k = 0; k < count; k++) {
                uint32_t v = (uint32_t)t->uint64_data[k];
                memcpy(out + 4 * k, &v, 4);
            }
        }
        break;
    case FIELD_INT32:
        /* Each entry holds one element's value or bit pattern (a pair of
         * nibbles for 4-bit types): keep its low bytes. */
        for (uint64_t k = 0; k < count; k++) {
            uint32_t v = (uint32_t)t->int32_data[k];
            if (bits == 32)
                memcpy(out + 4 * k, &v, 4);
            else if (bits == 16) {
                uint16_t h = (uint16_t)v;
                memcpy(out + 2 * k, &h, 2);
            } else
                out[k] = (uint8_t)v;
        }
        break;
    case FIELD_STRING:
    case FIELD_NONE:
        break;
    }
}

onnxq_status onnxq_tensor_read_raw(onnxq_model *m, size_t i, void *out, uint64_t size,
                                   onnxq_error *err)
{
    if (i >= m->n_tensors)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no tensor number %zu", m->name, i);
    const model_tensor *mt = &m->tensors[i];
    const Onnx__TensorProto *t = mt->proto;
    if (mt->bytes == 0 && mt->elements != 0)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': cannot read %s elements",
                          m->name, tensor_name(t), onnxq_dtype_name(t->data_type));
    if (size != mt->bytes)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "%s: tensor '%s': buffer of %llu bytes for %llu bytes of data", m->name,
                          tensor_name(t), (unsigned long long)size, (unsigned long long)mt->bytes);
    if (mt->external_path) {
        onnxq_error sub;
        if (file_read_range(mt->external_path, mt->external_offset, size, out, &sub) != ONNXQ_OK)
            return onnxq_fail(err, sub.status, "%s: tensor '%s': %s", m->name, tensor_name(t),
                              sub.message);
    } else if (t->has_raw_data) {
        if (size)
            memcpy(out, t->raw_data.data, size);
    } else {
        typed_to_raw(t, mt->elements, out);
    }
    return onnxq_ok(err);
}

onnxq_status tensor_proto_read(const char *where, const Onnx__TensorProto *t, uint8_t **data,
                               uint64_t *elements, uint64_t *bytes, onnxq_error *err)
{
    *data = NULL;
    onnxq_status s = check_proto(where, t, elements, bytes, err);
    if (s != ONNXQ_OK)
        return s;
    if (is_external(t))
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': external data here is not supported",
                          where, tensor_name(t));
    if (*bytes == 0 && *elements != 0)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s': cannot read %s elements",
                          where, tensor_name(t), onnxq_dtype_name(t->data_type));
    *data = malloc(*bytes ? *bytes : 1);
    if (!*data)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", where);
    if (t->has_raw_data && *bytes)
        memcpy(*data, t->raw_data.data, *bytes);
    else if (!t->has_raw_data)
        typed_to_raw(t, *elements, *data);
    return onnxq_ok(err);
}

onnxq_status onnxq_tensor_read_float(onnxq_model *m, size_t i, float *out, uint64_t count,
                                     onnxq_error *err)
{
    if (i >= m->n_tensors)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no tensor number %zu", m->name, i);
    const model_tensor *mt = &m->tensors[i];
    int dtype = mt->proto->data_type;
    if (!onnxq_dtype_is_float(dtype))
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "%s: tensor '%s' is %s, not floating point",
                          m->name, tensor_name(mt->proto), onnxq_dtype_name(dtype));
    if (count != mt->elements)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "%s: tensor '%s': buffer of %llu floats for %llu elements", m->name,
                          tensor_name(mt->proto), (unsigned long long)count,
                          (unsigned long long)mt->elements);
    if (dtype == ONNXQ_DTYPE_FLOAT)
        return onnxq_tensor_read_raw(m, i, out, mt->bytes, err);
    void *raw = malloc(mt->bytes ? mt->bytes : 1);
    if (!raw)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    onnxq_status s = onnxq_tensor_read_raw(m, i, raw, mt->bytes, err);
    if (s == ONNXQ_OK) {
        const uint16_t *h = raw;
        const double *d = raw;
        for (uint64_t k = 0; k < count; k++) {
            if (dtype == ONNXQ_DTYPE_FLOAT16)
                out[k] = half_to_float(h[k]);
            else if (dtype == ONNXQ_DTYPE_BFLOAT16)
                out[k] = bfloat16_to_float(h[k]);
            else
                out[k] = (float)d[k];
        }
    }
    free(raw);
    return s;
}

static void clear_tensor_data(Onnx__TensorProto *t)
{
    free(t->float_data); t->float_data = NULL; t->n_float_data = 0;
    free(t->int32_data); t->int32_data = NULL; t->n_int32_data = 0;
    free(t->int64_data); t->int64_data = NULL; t->n_int64_data = 0;
    free(t->double_data); t->double_data = NULL; t->n_double_data = 0;
    free(t->uint64_data); t->uint64_data = NULL; t->n_uint64_data = 0;
    for (size_t k = 0; k < t->n_string_data; k++)
        free(t->string_data[k].data);
    free(t->string_data); t->string_data = NULL; t->n_string_data = 0;
    for (size_t k = 0; k < t->n_external_data; k++)
        onnx__string_string_entry_proto__free_unpacked(t->external_data[k], NULL);
    free(t->external_data); t->external_data = NULL; t->n_external_data = 0;
    t->has_data_location = 0;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    free(t->raw_data.data); t->raw_data.data = NULL; t->raw_data.len = 0;
    t->has_raw_data = 0;
}

static void free_entries(Onnx__StringStringEntryProto **e)
{
    for (size_t k = 0; e && k < 3; k++)
        if (e[k])
            onnx__string_string_entry_proto__free_unpacked(e[k], NULL);
    free(e);
}

/* The location/offset/length entries of external data, malloc'd as
 * protobuf-c frees them. */
static Onnx__StringStringEntryProto **external_entries(const char *location, uint64_t offset,
                                                       uint64_t length)
{
    Onnx__StringStringEntryProto **e = calloc(3, sizeof *e);
    if (!e)
        return NULL;
    char numbers[2][24];
    snprintf(numbers[0], sizeof numbers[0], "%llu", (unsigned long long)offset);
    snprintf(numbers[1], sizeof numbers[1], "%llu", (unsigned long long)length);
    const char *keys[3] = {"location", "offset", "length"};
    const char *values[3] = {location, numbers[0], numbers[1]};
    for (int k = 0; k < 3; k++) {
        if (!(e[k] = malloc(sizeof *e[k]))) {
            free_entries(e);
            return NULL;
        }
        onnx__string_string_entry_proto__init(e[k]);
        e[k]->key = strdup(keys[k]);
        e[k]->value = strdup(values[k]);
        if (!e[k]->key || !e[k]->value) {
            free_entries(e);
            return NULL;
        }
    }
    return e;
}

onnxq_status onnxq_tensor_replace(onnxq_model *m, size_t i, int dtype, int rank,
                                  const int64_t *dims, const void *data, uint64_t size,
                                  onnxq_error *err)
{
    if (i >= m->n_tensors)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: no tensor number %zu", m->name, i);
    model_tensor *mt = &m->tensors[i];
    Onnx__TensorProto *t = mt->proto;
    uint64_t n = 1;
    for (int d = 0; d < rank; d++) {
        if (dims[d] < 0 || (dims[d] && n > UINT64_MAX / 16 / (uint64_t)dims[d]))
            return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: tensor '%s': invalid new shape",
                              m->name, tensor_name(t));
        n *= (uint64_t)dims[d];
    }
    uint64_t need = dtype_data_bytes(dtype, n);
    if (need == UINT64_MAX || need != size || rank < 0)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT,
                          "%s: tensor '%s': %llu bytes do not fit %s with %llu elements", m->name,
                          tensor_name(t), (unsigned long long)size, onnxq_dtype_name(dtype),
                          (unsigned long long)n);
    int64_t *new_dims = malloc(((size_t)rank + 1) * sizeof *new_dims);
    if (!new_dims)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    uint8_t *copy = NULL;
    Onnx__StringStringEntryProto **entries = NULL;
    uint64_t offset = 0;
    onnxq_status st = ONNXQ_OK;
    if (m->spill && size) {
        onnxq_error sub;
        st = scratch_append(&m->scratch, data, size, &offset, &sub);
        if (st != ONNXQ_OK)
            onnxq_fail(err, st, "%s: tensor '%s': %s", m->name, tensor_name(t), sub.message);
        else if (!(entries = external_entries(m->scratch.path, offset, size)))
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    } else if ((copy = malloc(size ? size : 1))) {
        if (size)
            memcpy(copy, data, size);
    } else {
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    char *external_path = entries ? strdup(m->scratch.path) : NULL;
    if (st == ONNXQ_OK && entries && !external_path)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    if (st != ONNXQ_OK) {
        free(new_dims);
        free(copy);
        free_entries(entries);
        free(external_path);
        return st;
    }
    for (int d = 0; d < rank; d++)
        new_dims[d] = dims[d];
    clear_tensor_data(t);
    free(t->dims);
    t->dims = new_dims;
    t->n_dims = (size_t)rank;
    t->data_type = dtype;
    t->has_data_type = 1;
    if (entries) {
        t->has_data_location = 1;
        t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
        t->external_data = entries;
        t->n_external_data = 3;
    } else {
        t->raw_data.data = copy;
        t->raw_data.len = size;
        t->has_raw_data = 1;
    }
    free(mt->external_path);
    mt->external_path = external_path;
    mt->external_offset = offset;
    mt->elements = n;
    mt->bytes = size;
    return onnxq_ok(err);
}

/* ---- Saving ------------------------------------------------------------- */

/* While packing, tensors are given the representation the output needs
 * (inline raw_data, or a reference into the new external data file) by
 * editing their structs in place; the originals are kept here and put
 * back afterwards, so the model in memory is left as it was. */
typedef struct save_state {
    Onnx__TensorProto *saved;  /* shallow copies of the originals */
    uint8_t **buffers;         /* data loaded for the output, per tensor */
    Onnx__StringStringEntryProto ***entries; /* external data entries, per tensor */
    char *data_location;       /* the external file's name, relative */
} save_state;

static void save_state_restore(onnxq_model *m, save_state *st)
{
    for (size_t i = 0; i < m->n_tensors; i++) {
        if (st->saved)
            *m->tensors[i].proto = st->saved[i];
        if (st->buffers)
            free(st->buffers[i]);
        if (st->entries)
            free_entries(st->entries[i]);
    }
    free(st->saved);
    free(st->buffers);
    free(st->entries);
    free(st->data_location);
}

/* Keep shallow copies of every tensor so they can be edited for output and
 * put back by save_state_restore (which also undoes a failed begin). */
static int save_state_begin(onnxq_model *m, save_state *st)
{
    size_t n = m->n_tensors;
    memset(st, 0, sizeof *st);
    st->saved = malloc((n + 1) * sizeof *st->saved);
    st->buffers = calloc(n + 1, sizeof *st->buffers);
    if (!st->saved || !st->buffers) {
        free(st->saved);
        st->saved = NULL; /* nothing to put back */
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        st->saved[i] = *m->tensors[i].proto;
    return 0;
}

static onnxq_status make_inline(onnxq_model *m, size_t i, save_state *st, onnxq_error *err)
{
    model_tensor *mt = &m->tensors[i];
    if (!mt->external_path)
        return ONNXQ_OK;
    st->buffers[i] = malloc(mt->bytes ? mt->bytes : 1);
    if (!st->buffers[i])
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    onnxq_status s = onnxq_tensor_read_raw(m, i, st->buffers[i], mt->bytes, err);
    if (s != ONNXQ_OK)
        return s;
    Onnx__TensorProto *t = mt->proto;
    t->has_data_location = 0;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__DEFAULT;
    t->n_external_data = 0;
    t->external_data = NULL;
    t->has_raw_data = 1;
    t->raw_data.data = st->buffers[i];
    t->raw_data.len = mt->bytes;
    return ONNXQ_OK;
}

static onnxq_status make_external(onnxq_model *m, size_t i, save_state *st, atomic_file *data,
                                  uint64_t *offset, onnxq_error *err)
{
    model_tensor *mt = &m->tensors[i];
    Onnx__TensorProto *t = mt->proto;
    /* Align each tensor so a device can map the file and use it in place. */
    static const uint8_t zeros[64];
    uint64_t pad = (64 - *offset % 64) % 64;
    onnxq_status s = atomic_write(data, zeros, (size_t)pad, err);
    if (s != ONNXQ_OK)
        return s;
    *offset += pad;
    const void *bytes;
    if (t->has_raw_data && !mt->external_path) {
        bytes = t->raw_data.data;
    } else {
        st->buffers[i] = malloc(mt->bytes ? mt->bytes : 1);
        if (!st->buffers[i])
            return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        s = onnxq_tensor_read_raw(m, i, st->buffers[i], mt->bytes, err);
        if (s != ONNXQ_OK)
            return s;
        bytes = st->buffers[i];
    }
    s = atomic_write(data, bytes, (size_t)mt->bytes, err);
    free(st->buffers[i]); /* written: one tensor's data in memory at a time */
    st->buffers[i] = NULL;
    if (s != ONNXQ_OK)
        return s;
    if (!(st->entries[i] = external_entries(st->data_location, *offset, mt->bytes)))
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    *offset += mt->bytes;
    /* Only the data fields change: name, dims, type and unknown fields stay. */
    t->n_float_data = t->n_int32_data = t->n_int64_data = 0;
    t->n_double_data = t->n_uint64_data = 0;
    t->has_raw_data = 0;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
    t->n_external_data = 3;
    t->external_data = st->entries[i];
    return ONNXQ_OK;
}

static int wants_external(const model_tensor *mt, const onnxq_save_options *o)
{
    return o->external_data && mt->bytes > 0 && mt->bytes >= o->external_threshold &&
           mt->proto->data_type != ONNXQ_DTYPE_STRING;
}

/* Is `path` one of the files this model still reads from? */
static int is_model_input(const onnxq_model *m, const char *path)
{
    if (m->source_path && file_same(m->source_path, path))
        return 1;
    for (size_t i = 0; i < m->n_tensors; i++)
        if (m->tensors[i].external_path && file_same(m->tensors[i].external_path, path))
            return 1;
    return 0;
}

static onnxq_status pack_and_write(onnxq_model *m, atomic_file *out, onnxq_error *err)
{
    size_t size = onnx__model_proto__get_packed_size(m->proto);
    if (size > INT32_MAX)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                          "%s: the model would be %zu bytes, over protobuf's 2 GB limit (save with external data)",
                          out->path, size);
    uint8_t *buf = malloc(size ? size : 1);
    if (!buf)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", out->path);
    onnx__model_proto__pack(m->proto, buf);
    onnxq_status s = atomic_write(out, buf, size, err);
    free(buf);
    return s;
}

onnxq_status onnxq_model_save(onnxq_model *m, const char *path,
                              const onnxq_save_options *options, onnxq_error *err)
{
    onnxq_save_options defaults = {0, 0, 0};
    const onnxq_save_options *o = options ? options : &defaults;
    if (is_model_input(m, path))
        return onnxq_fail(err, ONNXQ_ERR_EXISTS,
                          "%s: is an input of the model being saved; choose another output", path);
    size_t n = m->n_tensors;
    save_state st;
    int ok = save_state_begin(m, &st) == 0;
    st.entries = calloc(n + 1, sizeof *st.entries);
    size_t dl_size = strlen(path_basename(path)) + 6;
    st.data_location = malloc(dl_size);
    if (!ok || !st.entries || !st.data_location) {
        save_state_restore(m, &st);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
    }
    snprintf(st.data_location, dl_size, "%s.data", path_basename(path));

    atomic_file model_file = {0}, data_file = {0};
    int any_external = 0;
    for (size_t i = 0; i < n; i++)
        any_external |= wants_external(&m->tensors[i], o);
    onnxq_status s = atomic_open(&model_file, path, o->overwrite, err);
    char *data_path = NULL;
    if (s == ONNXQ_OK && any_external) {
        char *dir = path_dirname(path);
        data_path = dir ? path_join(dir, st.data_location) : NULL;
        free(dir);
        if (!data_path)
            s = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", path);
        else if (is_model_input(m, data_path))
            s = onnxq_fail(err, ONNXQ_ERR_EXISTS,
                           "%s: is an input of the model being saved; choose another output",
                           data_path);
        else
            s = atomic_open(&data_file, data_path, o->overwrite, err);
    }
    uint64_t offset = 0;
    for (size_t i = 0; i < n && s == ONNXQ_OK; i++)
        s = wants_external(&m->tensors[i], o)
                ? make_external(m, i, &st, &data_file, &offset, err)
                : make_inline(m, i, &st, err);
    if (s == ONNXQ_OK)
        s = pack_and_write(m, &model_file, err);
    save_state_restore(m, &st);
    if (s == ONNXQ_OK && any_external)
        s = atomic_commit(&data_file, err);
    if (s == ONNXQ_OK)
        s = atomic_commit(&model_file, err);
    atomic_abort(&data_file);
    atomic_abort(&model_file);
    free(data_path);
    return s == ONNXQ_OK ? onnxq_ok(err) : s;
}

onnxq_status onnxq_model_serialize(onnxq_model *m, void **data, size_t *size, onnxq_error *err)
{
    *data = NULL;
    *size = 0;
    size_t n = m->n_tensors;
    save_state st;
    if (save_state_begin(m, &st) != 0) {
        save_state_restore(m, &st);
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
    }
    onnxq_status s = ONNXQ_OK;
    for (size_t i = 0; i < n && s == ONNXQ_OK; i++)
        s = make_inline(m, i, &st, err);
    if (s == ONNXQ_OK) {
        size_t len = onnx__model_proto__get_packed_size(m->proto);
        uint8_t *buf = malloc(len ? len : 1);
        if (!buf) {
            s = onnxq_fail(err, ONNXQ_ERR_NOMEM, "%s: out of memory", m->name);
        } else {
            onnx__model_proto__pack(m->proto, buf);
            *data = buf;
            *size = len;
        }
    }
    save_state_restore(m, &st);
    return s == ONNXQ_OK ? onnxq_ok(err) : s;
}

/* ---- Node attributes ------------------------------------------------------------- */

const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *node, const char *name)
{
    for (size_t i = 0; i < node->n_attribute; i++)
        if (node->attribute[i]->name && !strcmp(node->attribute[i]->name, name))
            return node->attribute[i];
    return NULL;
}

int64_t onnx_attr_int(const Onnx__NodeProto *node, const char *name, int64_t fallback)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    return a ? a->i : fallback;
}

float onnx_attr_float(const Onnx__NodeProto *node, const char *name, float fallback)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    return a ? a->f : fallback;
}

const int64_t *onnx_attr_ints(const Onnx__NodeProto *node, const char *name, size_t *n)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    *n = a ? a->n_ints : 0;
    return a ? a->ints : NULL;
}

const char *onnx_attr_string_into(const Onnx__NodeProto *node, const char *name,
                                  const char *fallback, char *buf, size_t size)
{
    const Onnx__AttributeProto *a = onnx_attr(node, name);
    if (!a || !a->has_s || !size)
        return fallback;
    size_t len = a->s.len < size - 1 ? a->s.len : size - 1;
    memcpy(buf, a->s.data, len);
    buf[len] = '\0';
    return buf;
}
