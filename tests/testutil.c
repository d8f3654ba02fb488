/* testutil.c: helpers shared by the unit tests. */
#include "config.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const char *test_shared_dir(void)
{
    static char path[4096];
    const char *env = getenv("ONNXQ_SHARED");
    snprintf(path, sizeof path, "%s", env && *env ? env : "../shared");
    struct stat st;
    char models[4200];
    snprintf(models, sizeof models, "%s/models", path);
    return stat(models, &st) == 0 && S_ISDIR(st.st_mode) ? path : NULL;
}

char *test_shared_path(const char *relative)
{
    const char *dir = test_shared_dir();
    return dir ? test_path(dir, relative) : NULL;
}

char *test_tmpdir(void)
{
    char tmpl[] = "/tmp/onnxq-test-XXXXXX";
    char *dir = mkdtemp(tmpl);
    ck_assert_msg(dir != NULL, "mkdtemp failed");
    return strdup(dir);
}

void test_rmtree(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        char *p = test_path(dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode))
            test_rmtree(p);
        else
            unlink(p);
        free(p);
    }
    closedir(d);
    rmdir(dir);
}

char *test_path(const char *dir, const char *name)
{
    size_t n = strlen(dir) + strlen(name) + 2;
    char *p = malloc(n);
    snprintf(p, n, "%s/%s", dir, name);
    return p;
}

void test_write_file(const char *path, const void *data, size_t size)
{
    FILE *f = fopen(path, "wb");
    ck_assert_msg(f != NULL, "cannot create %s", path);
    ck_assert_uint_eq(fwrite(data, 1, size, f), size);
    ck_assert_int_eq(fclose(f), 0);
}

onnxq_model *test_open_shared_model(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    char *path = test_shared_path(rel);
    if (!path)
        return NULL;
    onnxq_model *m;
    onnxq_error err;
    ck_assert_msg(onnxq_model_open(path, &m, &err) == ONNXQ_OK, "%s", err.message);
    free(path);
    return m;
}

uint8_t *test_read_file(const char *path, size_t *size)
{
    FILE *f = fopen(path, "rb");
    ck_assert_msg(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    uint8_t *buf = malloc((size_t)n + 1);
    ck_assert_uint_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    *size = (size_t)n;
    return buf;
}

static void *grow(void *array, size_t count, size_t elem)
{
    void *p = realloc(array, (count + 1) * elem);
    ck_assert(p != NULL);
    return p;
}

Onnx__ModelProto *tb_model_new(void)
{
    Onnx__ModelProto *m = calloc(1, sizeof *m);
    onnx__model_proto__init(m);
    m->has_ir_version = 1;
    m->ir_version = 8;
    m->producer_name = strdup("onnxq-tests");
    Onnx__OperatorSetIdProto *op = calloc(1, sizeof *op);
    onnx__operator_set_id_proto__init(op);
    op->domain = strdup("");
    op->has_version = 1;
    op->version = 13;
    m->opset_import = calloc(1, sizeof *m->opset_import);
    m->opset_import[0] = op;
    m->n_opset_import = 1;
    Onnx__GraphProto *g = calloc(1, sizeof *g);
    onnx__graph_proto__init(g);
    g->name = strdup("test-graph");
    m->graph = g;
    return m;
}

Onnx__TensorProto *tb_add_tensor(Onnx__ModelProto *m, const char *name, int dtype, int rank,
                                 const int64_t *dims)
{
    Onnx__GraphProto *g = m->graph;
    Onnx__TensorProto *t = calloc(1, sizeof *t);
    onnx__tensor_proto__init(t);
    t->name = strdup(name);
    t->has_data_type = 1;
    t->data_type = dtype;
    t->n_dims = (size_t)rank;
    t->dims = malloc(((size_t)rank + 1) * sizeof *t->dims);
    for (int d = 0; d < rank; d++)
        t->dims[d] = dims[d];
    g->initializer = grow(g->initializer, g->n_initializer, sizeof *g->initializer);
    g->initializer[g->n_initializer++] = t;
    return t;
}

void tb_add_ints(Onnx__ModelProto *m, const char *name, const int64_t *values, size_t n)
{
    Onnx__NodeProto *node = m->graph->node[m->graph->n_node - 1];
    Onnx__AttributeProto *a = calloc(1, sizeof *a);
    onnx__attribute_proto__init(a);
    a->name = strdup(name);
    a->has_type = 1;
    a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INTS;
    a->ints = malloc((n + 1) * sizeof *a->ints);
    memcpy(a->ints, values, n * sizeof *a->ints);
    a->n_ints = n;
    node->attribute = grow(node->attribute, node->n_attribute, sizeof *node->attribute);
    node->attribute[node->n_attribute++] = a;
}

void tb_add_node(Onnx__ModelProto *m, const char *op, const char *const *inputs, size_t n_in,
                 const char *output, const char *int_attr, int64_t value)
{
    Onnx__GraphProto *g = m->graph;
    Onnx__NodeProto *n = calloc(1, sizeof *n);
    onnx__node_proto__init(n);
    n->op_type = strdup(op);
    n->name = strdup(output);
    n->input = calloc(n_in + 1, sizeof *n->input);
    for (size_t i = 0; i < n_in; i++)
        n->input[i] = strdup(inputs[i]);
    n->n_input = n_in;
    n->output = calloc(1, sizeof *n->output);
    n->output[0] = strdup(output);
    n->n_output = 1;
    if (int_attr) {
        Onnx__AttributeProto *a = calloc(1, sizeof *a);
        onnx__attribute_proto__init(a);
        a->name = strdup(int_attr);
        a->has_type = 1;
        a->type = ONNX__ATTRIBUTE_PROTO__ATTRIBUTE_TYPE__INT;
        a->has_i = 1;
        a->i = value;
        n->attribute = calloc(1, sizeof *n->attribute);
        n->attribute[0] = a;
        n->n_attribute = 1;
    }
    g->node = grow(g->node, g->n_node, sizeof *g->node);
    g->node[g->n_node++] = n;
}

void tb_add_value(Onnx__ModelProto *m, int is_output, const char *name, int rank)
{
    Onnx__GraphProto *g = m->graph;
    Onnx__TensorShapeProto *shape = calloc(1, sizeof *shape);
    onnx__tensor_shape_proto__init(shape);
    shape->dim = calloc((size_t)rank + 1, sizeof *shape->dim);
    for (int d = 0; d < rank; d++) {
        Onnx__TensorShapeProto__Dimension *dim = calloc(1, sizeof *dim);
        onnx__tensor_shape_proto__dimension__init(dim);
        char param[16];
        snprintf(param, sizeof param, "d%d", d);
        dim->value_case = ONNX__TENSOR_SHAPE_PROTO__DIMENSION__VALUE_DIM_PARAM;
        dim->dim_param = strdup(param);
        shape->dim[d] = dim;
    }
    shape->n_dim = (size_t)rank;
    Onnx__TypeProto__Tensor *tt = calloc(1, sizeof *tt);
    onnx__type_proto__tensor__init(tt);
    tt->has_elem_type = 1;
    tt->elem_type = ONNX__TENSOR_PROTO__DATA_TYPE__FLOAT;
    tt->shape = shape;
    Onnx__TypeProto *type = calloc(1, sizeof *type);
    onnx__type_proto__init(type);
    type->value_case = ONNX__TYPE_PROTO__VALUE_TENSOR_TYPE;
    type->tensor_type = tt;
    Onnx__ValueInfoProto *v = calloc(1, sizeof *v);
    onnx__value_info_proto__init(v);
    v->name = strdup(name);
    v->type = type;
    if (is_output) {
        g->output = grow(g->output, g->n_output, sizeof *g->output);
        g->output[g->n_output++] = v;
    } else {
        g->input = grow(g->input, g->n_input, sizeof *g->input);
        g->input[g->n_input++] = v;
    }
}

void tb_set_raw(Onnx__TensorProto *t, const void *data, size_t size)
{
    t->has_raw_data = 1;
    t->raw_data.data = malloc(size + 1);
    memcpy(t->raw_data.data, data, size);
    t->raw_data.len = size;
}

void tb_add_external(Onnx__TensorProto *t, const char *key, const char *value)
{
    Onnx__StringStringEntryProto *e = calloc(1, sizeof *e);
    onnx__string_string_entry_proto__init(e);
    e->key = strdup(key);
    e->value = strdup(value);
    t->external_data = grow(t->external_data, t->n_external_data, sizeof *t->external_data);
    t->external_data[t->n_external_data++] = e;
    t->has_data_location = 1;
    t->data_location = ONNX__TENSOR_PROTO__DATA_LOCATION__EXTERNAL;
}

uint8_t *tb_pack(const Onnx__ModelProto *m, size_t *size)
{
    *size = onnx__model_proto__get_packed_size(m);
    uint8_t *buf = malloc(*size + 1);
    onnx__model_proto__pack(m, buf);
    return buf;
}

uint64_t test_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * 0x2545F4914F6CDD1DULL;
}

int test_run_suite(Suite *suite)
{
    SRunner *sr = srunner_create(suite);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}

onnxq_model *tb_load(Onnx__ModelProto *m, const char *name)
{
    size_t size;
    uint8_t *bytes = tb_pack(m, &size);
    onnx__model_proto__free_unpacked(m, NULL);
    onnxq_model *model;
    onnxq_error err;
    ck_assert_msg(onnxq_model_from_memory(bytes, size, name, NULL, &model, &err) == ONNXQ_OK,
                  "%s: %s", name, err.message);
    free(bytes);
    return model;
}
