/* check_onnx_io.c: loading, reading and saving ONNX models. */
#include "config.h"
#include "onnxq/onnxq.h"
#include "common/dtype.h"
#include "testutil.h"

#include <check.h>
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* Every dtype with a fixed size; each gets a raw_data tensor and a typed one. */
static const int fixed_dtypes[] = {
    ONNXQ_DTYPE_FLOAT, ONNXQ_DTYPE_UINT8, ONNXQ_DTYPE_INT8, ONNXQ_DTYPE_UINT16,
    ONNXQ_DTYPE_INT16, ONNXQ_DTYPE_INT32, ONNXQ_DTYPE_INT64, ONNXQ_DTYPE_BOOL,
    ONNXQ_DTYPE_FLOAT16, ONNXQ_DTYPE_DOUBLE, ONNXQ_DTYPE_UINT32, ONNXQ_DTYPE_UINT64,
    ONNXQ_DTYPE_COMPLEX64, ONNXQ_DTYPE_COMPLEX128, ONNXQ_DTYPE_BFLOAT16,
    ONNXQ_DTYPE_FLOAT8E4M3FN, ONNXQ_DTYPE_FLOAT8E4M3FNUZ, ONNXQ_DTYPE_FLOAT8E5M2,
    ONNXQ_DTYPE_FLOAT8E5M2FNUZ, ONNXQ_DTYPE_UINT4, ONNXQ_DTYPE_INT4,
};
#define N_FIXED (sizeof fixed_dtypes / sizeof fixed_dtypes[0])

static const int64_t shape_2x3x5[3] = {2, 3, 5}; /* 30 elements */

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        p[i] = (uint8_t)(test_rand(&seed) >> 56);
    return p;
}

/* The typed-field form of little-endian element bytes, as ONNX writers make
 * it: written independently of the library's reader on purpose. */
static void set_typed(Onnx__TensorProto *t, const uint8_t *raw, size_t size)
{
    int dt = t->data_type;
    unsigned bits = onnxq_dtype_bits(dt);
    switch (dt) {
    case ONNXQ_DTYPE_FLOAT: case ONNXQ_DTYPE_COMPLEX64:
        t->n_float_data = size / 4;
        t->float_data = malloc(size);
        memcpy(t->float_data, raw, size);
        return;
    case ONNXQ_DTYPE_DOUBLE: case ONNXQ_DTYPE_COMPLEX128:
        t->n_double_data = size / 8;
        t->double_data = malloc(size);
        memcpy(t->double_data, raw, size);
        return;
    case ONNXQ_DTYPE_INT64:
        t->n_int64_data = size / 8;
        t->int64_data = malloc(size);
        memcpy(t->int64_data, raw, size);
        return;
    case ONNXQ_DTYPE_UINT32: case ONNXQ_DTYPE_UINT64:
        t->n_uint64_data = size / (bits / 8);
        t->uint64_data = malloc(t->n_uint64_data * 8);
        for (size_t k = 0; k < t->n_uint64_data; k++) {
            uint64_t v = 0;
            memcpy(&v, raw + k * (bits / 8), bits / 8);
            t->uint64_data[k] = v;
        }
        return;
    }
    size_t width = bits >= 8 ? bits / 8 : 1;
    t->n_int32_data = size / width;
    t->int32_data = malloc(t->n_int32_data * 4 + 4);
    for (size_t k = 0; k < t->n_int32_data; k++) {
        const uint8_t *p = raw + k * width;
        int32_t v;
        if (dt == ONNXQ_DTYPE_INT8)
            v = (int8_t)p[0];
        else if (dt == ONNXQ_DTYPE_INT16) {
            int16_t s;
            memcpy(&s, p, 2);
            v = s;
        } else if (width == 2) {
            uint16_t u;
            memcpy(&u, p, 2);
            v = u;
        } else if (width == 4)
            memcpy(&v, p, 4);
        else
            v = p[0];
        t->int32_data[k] = v;
    }
}

typedef struct expected_tensor {
    char name[64];
    uint8_t *raw;
    size_t size;
} expected_tensor;

/* A model with every fixed-size dtype in both forms, plus a string tensor. */
static Onnx__ModelProto *every_dtype_model(expected_tensor *expect, size_t *n_expect)
{
    Onnx__ModelProto *m = tb_model_new();
    size_t n = 0;
    for (size_t i = 0; i < N_FIXED; i++) {
        int dt = fixed_dtypes[i];
        size_t size = (size_t)dtype_data_bytes(dt, 30);
        for (int typed = 0; typed < 2; typed++) {
            expected_tensor *e = &expect[n++];
            snprintf(e->name, sizeof e->name, "%s_%s", onnxq_dtype_name(dt), typed ? "typed" : "raw");
            e->raw = random_bytes(size, 1000 + 2 * i + (size_t)typed);
            e->size = size;
            Onnx__TensorProto *t = tb_add_tensor(m, e->name, dt, 3, shape_2x3x5);
            if (typed)
                set_typed(t, e->raw, size);
            else
                tb_set_raw(t, e->raw, size);
        }
    }
    int64_t two = 2;
    Onnx__TensorProto *s = tb_add_tensor(m, "labels", ONNXQ_DTYPE_STRING, 1, &two);
    s->n_string_data = 2;
    s->string_data = malloc(2 * sizeof *s->string_data);
    s->string_data[0].data = (uint8_t *)strdup("cat");
    s->string_data[0].len = 3;
    s->string_data[1].data = (uint8_t *)strdup("dog");
    s->string_data[1].len = 3;
    *n_expect = n;
    return m;
}

static void check_tensors(onnxq_model *model, const expected_tensor *expect, size_t n)
{
    onnxq_error err;
    for (size_t i = 0; i < n; i++) {
        size_t idx = onnxq_model_find_tensor(model, expect[i].name);
        ck_assert_msg(idx != (size_t)-1, "tensor %s missing", expect[i].name);
        onnxq_tensor_info info;
        onnxq_model_tensor_info(model, idx, &info);
        ck_assert_uint_eq(info.elements, 30);
        ck_assert_uint_eq(info.bytes, expect[i].size);
        uint8_t *got = malloc(info.bytes + 1);
        ck_assert_int_eq(onnxq_tensor_read_raw(model, idx, got, info.bytes, &err), ONNXQ_OK);
        ck_assert_msg(memcmp(got, expect[i].raw, info.bytes) == 0, "tensor %s bytes differ",
                      expect[i].name);
        free(got);
    }
}

static void free_expected(expected_tensor *expect, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(expect[i].raw);
}

static int dir_has_temporaries(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    while (d && (e = readdir(d)))
        found |= strstr(e->d_name, ".tmp.") != NULL;
    if (d)
        closedir(d);
    return found;
}

START_TEST(every_dtype_round_trip)
{
    expected_tensor expect[2 * N_FIXED];
    size_t n;
    Onnx__ModelProto *proto = every_dtype_model(expect, &n);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    char *dir = test_tmpdir();
    char *in = test_path(dir, "in.onnx"), *out = test_path(dir, "out.onnx");
    test_write_file(in, bytes, size);

    onnxq_error err;
    onnxq_model *m;
    ck_assert_int_eq(onnxq_model_open(in, &m, &err), ONNXQ_OK);
    ck_assert_uint_eq(onnxq_model_tensor_count(m), n + 1);
    check_tensors(m, expect, n);
    ck_assert_int_eq(onnxq_model_save(m, out, NULL, &err), ONNXQ_OK);
    onnxq_model_free(m);

    /* What was read is written back to the byte: typed fields stay typed. */
    size_t out_size;
    uint8_t *out_bytes = test_read_file(out, &out_size);
    ck_assert_uint_eq(out_size, size);
    ck_assert(memcmp(out_bytes, bytes, size) == 0);

    ck_assert_int_eq(onnxq_model_open(out, &m, &err), ONNXQ_OK);
    check_tensors(m, expect, n);
    onnxq_model_free(m);

    free(out_bytes);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
    free_expected(expect, n);
    test_rmtree(dir);
    free(in);
    free(out);
    free(dir);
}
END_TEST

START_TEST(float_reads_are_exact)
{
    Onnx__ModelProto *proto = tb_model_new();
    int64_t four = 4;
    const uint16_t half[4] = {0x3c00, 0xc000, 0x0001, 0x7bff}; /* 1, -2, 2^-24, 65504 */
    const uint16_t bf16[4] = {0x3f80, 0xbf00, 0x0001, 0x7f7f};
    const double dbl[4] = {0.1, -1e300, 1.0 + 1e-12, 3.0};
    tb_set_raw(tb_add_tensor(proto, "h", ONNXQ_DTYPE_FLOAT16, 1, &four), half, sizeof half);
    tb_set_raw(tb_add_tensor(proto, "b", ONNXQ_DTYPE_BFLOAT16, 1, &four), bf16, sizeof bf16);
    tb_set_raw(tb_add_tensor(proto, "d", ONNXQ_DTYPE_DOUBLE, 1, &four), dbl, sizeof dbl);
    tb_set_raw(tb_add_tensor(proto, "i", ONNXQ_DTYPE_INT32, 1, &four), dbl, 16);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    onnxq_model *m;
    onnxq_error err;
    ck_assert_int_eq(onnxq_model_from_memory(bytes, size, "mem", NULL, &m, &err), ONNXQ_OK);
    float f[4];
    ck_assert_int_eq(onnxq_tensor_read_float(m, 0, f, 4, &err), ONNXQ_OK);
    ck_assert(f[0] == 1.0f && f[1] == -2.0f && f[2] == ldexpf(1, -24) && f[3] == 65504.0f);
    ck_assert_int_eq(onnxq_tensor_read_float(m, 1, f, 4, &err), ONNXQ_OK);
    ck_assert(f[0] == 1.0f && f[1] == -0.5f && f[2] == bfloat16_to_float(1));
    ck_assert(f[3] == bfloat16_to_float(0x7f7f));
    ck_assert_int_eq(onnxq_tensor_read_float(m, 2, f, 4, &err), ONNXQ_OK);
    ck_assert(f[0] == 0.1f && isinf(f[1]) && f[1] < 0 && f[2] == 1.0f && f[3] == 3.0f);
    ck_assert_int_eq(onnxq_tensor_read_float(m, 3, f, 4, &err), ONNXQ_ERR_UNSUPPORTED);
    ck_assert_int_eq(onnxq_tensor_read_float(m, 0, f, 3, &err), ONNXQ_ERR_ARGUMENT);
    onnxq_model_free(m);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
}
END_TEST

START_TEST(tensor_statistics)
{
    Onnx__ModelProto *proto = tb_model_new();
    int64_t four = 4;
    const float v[4] = {1, -1, 0, 2};
    const int8_t q[4] = {-128, 0, 0, 127};
    tb_set_raw(tb_add_tensor(proto, "f", ONNXQ_DTYPE_FLOAT, 1, &four), v, sizeof v);
    tb_set_raw(tb_add_tensor(proto, "q", ONNXQ_DTYPE_INT8, 1, &four), q, sizeof q);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    onnxq_model *m;
    onnxq_error err;
    ck_assert_int_eq(onnxq_model_from_memory(bytes, size, "mem", NULL, &m, &err), ONNXQ_OK);
    onnxq_tensor_stats st;
    ck_assert_int_eq(onnxq_tensor_stats_compute(m, 0, &st, &err), ONNXQ_OK);
    ck_assert_double_eq(st.min, -1);
    ck_assert_double_eq(st.max, 2);
    ck_assert_double_eq_tol(st.mean, 0.5, 1e-12);
    ck_assert_double_eq_tol(st.std, sqrt(1.25), 1e-12);
    ck_assert_uint_eq(st.zeros, 1);
    ck_assert_int_eq(onnxq_tensor_stats_compute(m, 1, &st, &err), ONNXQ_OK);
    ck_assert_double_eq(st.min, -128);
    ck_assert_double_eq(st.max, 127);
    ck_assert_uint_eq(st.zeros, 2);
    onnxq_model_free(m);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
}
END_TEST

/* A model whose two tensors live in external files, one in a subfolder. */
static char *write_external_model(const char *dir, const uint8_t *a, const uint8_t *b)
{
    char *sub = test_path(dir, "sub");
    mkdir(sub, 0755);
    uint8_t blob[400];
    memset(blob, 0xee, sizeof blob);
    memcpy(blob + 0, a, 120);
    memcpy(blob + 200, b, 120);
    char *bin = test_path(dir, "weights.bin"), *bin2 = test_path(sub, "more.bin");
    test_write_file(bin, blob, sizeof blob);
    test_write_file(bin2, blob, sizeof blob);
    Onnx__ModelProto *proto = tb_model_new();
    int64_t dims[2] = {5, 6};
    Onnx__TensorProto *ta = tb_add_tensor(proto, "a", ONNXQ_DTYPE_FLOAT, 2, dims);
    tb_add_external(ta, "location", "weights.bin");
    tb_add_external(ta, "offset", "0");
    tb_add_external(ta, "length", "120");
    Onnx__TensorProto *tb = tb_add_tensor(proto, "b", ONNXQ_DTYPE_FLOAT, 2, dims);
    tb_add_external(tb, "location", "sub/more.bin");
    tb_add_external(tb, "offset", "200");
    int64_t one = 1;
    float small = 7;
    tb_set_raw(tb_add_tensor(proto, "c", ONNXQ_DTYPE_FLOAT, 1, &one), &small, 4);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    char *path = test_path(dir, "ext.onnx");
    test_write_file(path, bytes, size);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
    free(bin);
    free(bin2);
    free(sub);
    return path;
}

START_TEST(external_data)
{
    char *dir = test_tmpdir();
    uint8_t *a = random_bytes(120, 1), *b = random_bytes(120, 2);
    char *path = write_external_model(dir, a, b);
    expected_tensor expect[2] = {{"a", a, 120}, {"b", b, 120}};
    for (size_t i = 0; i < 2; i++)
        expect[i].raw = i ? b : a;
    onnxq_error err;
    onnxq_model *m;
    ck_assert_int_eq(onnxq_model_open(path, &m, &err), ONNXQ_OK);
    onnxq_tensor_info info;
    onnxq_model_tensor_info(m, 0, &info);
    ck_assert(info.external);
    ck_assert_uint_eq(info.elements, 30);

    /* Inline: everything lands in the one file. */
    char *in_path = test_path(dir, "inline.onnx");
    ck_assert_int_eq(onnxq_model_save(m, in_path, NULL, &err), ONNXQ_OK);
    /* External: tensors of 64 bytes and more go to inline2.onnx.data. */
    char *ext_path = test_path(dir, "external.onnx"), *data_path = test_path(dir, "external.onnx.data");
    onnxq_save_options opts = {.external_data = 1, .external_threshold = 64};
    ck_assert_int_eq(onnxq_model_save(m, ext_path, &opts, &err), ONNXQ_OK);
    onnxq_model_free(m);

    ck_assert_int_eq(onnxq_model_open(in_path, &m, &err), ONNXQ_OK);
    onnxq_model_tensor_info(m, 0, &info);
    ck_assert(!info.external);
    check_tensors(m, expect, 2);
    onnxq_model_free(m);

    struct stat st;
    ck_assert_int_eq(stat(data_path, &st), 0);
    ck_assert_uint_ge((uint64_t)st.st_size, 240);
    ck_assert_int_eq(onnxq_model_open(ext_path, &m, &err), ONNXQ_OK);
    onnxq_model_tensor_info(m, 1, &info);
    ck_assert(info.external);
    onnxq_model_tensor_info(m, 2, &info);
    ck_assert(!info.external); /* 4 bytes: under the threshold */
    check_tensors(m, expect, 2);
    /* Saving over its own data file is refused: it is still being read. */
    opts.overwrite = 1;
    ck_assert_int_eq(onnxq_model_save(m, ext_path, &opts, &err), ONNXQ_ERR_EXISTS);
    onnxq_model_free(m);
    ck_assert(!dir_has_temporaries(dir));

    free(a);
    free(b);
    free(path);
    free(in_path);
    free(ext_path);
    free(data_path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(unknown_fields_survive)
{
    Onnx__ModelProto *proto = tb_model_new();
    int64_t two = 2;
    float v[2] = {1, 2};
    Onnx__TensorProto *t = tb_add_tensor(proto, "t", ONNXQ_DTYPE_FLOAT, 1, &two);
    tb_set_raw(t, v, sizeof v);
    /* Field 77 of TensorProto, length-delimited: unknown to every schema. */
    t->base.n_unknown_fields = 1;
    t->base.unknown_fields = calloc(1, sizeof *t->base.unknown_fields);
    t->base.unknown_fields[0].tag = 77;
    t->base.unknown_fields[0].wire_type = PROTOBUF_C_WIRE_TYPE_LENGTH_PREFIXED;
    /* protobuf-c keeps an unknown field's bytes after its tag: the length too. */
    t->base.unknown_fields[0].len = 6;
    t->base.unknown_fields[0].data = (uint8_t *)strdup("\x05hello");
    size_t size;
    uint8_t *packed = tb_pack(proto, &size);
    /* And field 99 of ModelProto, a varint, appended at the top level. */
    uint8_t *bytes = malloc(size + 3);
    memcpy(bytes, packed, size);
    memcpy(bytes + size, "\x98\x06\x2a", 3);
    size += 3;

    char *dir = test_tmpdir();
    char *in = test_path(dir, "in.onnx"), *out = test_path(dir, "out.onnx");
    test_write_file(in, bytes, size);
    onnxq_model *m;
    onnxq_error err;
    ck_assert_int_eq(onnxq_model_open(in, &m, &err), ONNXQ_OK);
    ck_assert_int_eq(onnxq_model_save(m, out, NULL, &err), ONNXQ_OK);
    onnxq_model_free(m);
    size_t out_size;
    uint8_t *out_bytes = test_read_file(out, &out_size);
    ck_assert_uint_eq(out_size, size);
    ck_assert(memcmp(out_bytes, bytes, size) == 0);
    free(out_bytes);
    free(bytes);
    free(packed);
    onnx__model_proto__free_unpacked(proto, NULL);
    test_rmtree(dir);
    free(in);
    free(out);
    free(dir);
}
END_TEST

START_TEST(replace_tensor)
{
    Onnx__ModelProto *proto = tb_model_new();
    int64_t two = 2;
    float v[2] = {1, 2};
    tb_set_raw(tb_add_tensor(proto, "t", ONNXQ_DTYPE_FLOAT, 1, &two), v, sizeof v);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    onnxq_model *m;
    onnxq_error err;
    ck_assert_int_eq(onnxq_model_from_memory(bytes, size, "mem", NULL, &m, &err), ONNXQ_OK);
    int64_t dims[2] = {1, 5};
    const uint8_t data[5] = {1, 2, 3, 4, 5};
    ck_assert_int_eq(onnxq_tensor_replace(m, 0, ONNXQ_DTYPE_UINT8, 2, dims, data, 5, &err), ONNXQ_OK);
    ck_assert_int_eq(onnxq_tensor_replace(m, 0, ONNXQ_DTYPE_UINT8, 2, dims, data, 4, &err),
                     ONNXQ_ERR_ARGUMENT);
    void *ser;
    size_t ser_size;
    ck_assert_int_eq(onnxq_model_serialize(m, &ser, &ser_size, &err), ONNXQ_OK);
    onnxq_model_free(m);
    ck_assert_int_eq(onnxq_model_from_memory(ser, ser_size, "mem2", NULL, &m, &err), ONNXQ_OK);
    onnxq_tensor_info info;
    onnxq_model_tensor_info(m, 0, &info);
    ck_assert_int_eq(info.dtype, ONNXQ_DTYPE_UINT8);
    ck_assert_int_eq(info.rank, 2);
    ck_assert_uint_eq(info.elements, 5);
    uint8_t got[5];
    ck_assert_int_eq(onnxq_tensor_read_raw(m, 0, got, 5, &err), ONNXQ_OK);
    ck_assert(memcmp(got, data, 5) == 0);
    onnxq_model_free(m);
    free(ser);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
}
END_TEST

/* ---- Real models ---------------------------------------------------------- */

static const char *shared_models[] = {
    "squeezenet1.1.onnx", "mobilenet_v1_0.25_224.onnx", "mobilenet_v2_1.0_224_quant-dequant.onnx",
    "shufflenet_quant-dequant.onnx", "v3-small_224_1.0_uint8-dequant.onnx", "mobilenetv2-12-int8.onnx",
};
#define N_SHARED (sizeof shared_models / sizeof shared_models[0])

static char *shared_model(const char *name)
{
    char rel[256];
    snprintf(rel, sizeof rel, "models/%s", name);
    return test_shared_path(rel);
}

static void compare_models(onnxq_model *a, onnxq_model *b)
{
    ck_assert_uint_eq(onnxq_model_tensor_count(a), onnxq_model_tensor_count(b));
    onnxq_error err;
    for (size_t i = 0; i < onnxq_model_tensor_count(a); i++) {
        onnxq_tensor_info ia, ib;
        onnxq_model_tensor_info(a, i, &ia);
        onnxq_model_tensor_info(b, i, &ib);
        ck_assert_str_eq(ia.name, ib.name);
        ck_assert_int_eq(ia.dtype, ib.dtype);
        ck_assert_int_eq(ia.rank, ib.rank);
        for (int d = 0; d < ia.rank; d++)
            ck_assert_int_eq(ia.dims[d], ib.dims[d]);
        ck_assert_uint_eq(ia.bytes, ib.bytes);
        uint8_t *da = malloc(ia.bytes + 1), *db = malloc(ib.bytes + 1);
        ck_assert_int_eq(onnxq_tensor_read_raw(a, i, da, ia.bytes, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_tensor_read_raw(b, i, db, ib.bytes, &err), ONNXQ_OK);
        ck_assert_msg(memcmp(da, db, ia.bytes) == 0, "tensor %s differs", ia.name);
        free(da);
        free(db);
    }
}

START_TEST(shared_model_round_trip)
{
    char *path = shared_model(shared_models[_i]);
    if (!path) {
        fprintf(stderr, "SKIP: ../shared/models is absent (set ONNXQ_SHARED)\n");
        return;
    }
    onnxq_error err;
    onnxq_model *orig, *inline_copy, *ext_copy;
    ck_assert_msg(onnxq_model_open(path, &orig, &err) == ONNXQ_OK, "%s", err.message);
    ck_assert_uint_gt(onnxq_model_tensor_count(orig), 0);
    char *dir = test_tmpdir();
    char *out = test_path(dir, "copy.onnx"), *ext = test_path(dir, "ext.onnx");
    ck_assert_int_eq(onnxq_model_save(orig, out, NULL, &err), ONNXQ_OK);
    onnxq_save_options opts = {.external_data = 1, .external_threshold = 1024};
    ck_assert_int_eq(onnxq_model_save(orig, ext, &opts, &err), ONNXQ_OK);

    /* The rewritten file is the original to the byte: graph, fields, data. */
    size_t a_size, b_size;
    uint8_t *a = test_read_file(path, &a_size), *b = test_read_file(out, &b_size);
    ck_assert_uint_eq(a_size, b_size);
    ck_assert_msg(memcmp(a, b, a_size) == 0, "%s: rewritten bytes differ", shared_models[_i]);
    free(a);
    free(b);

    ck_assert_int_eq(onnxq_model_open(out, &inline_copy, &err), ONNXQ_OK);
    ck_assert_int_eq(onnxq_model_open(ext, &ext_copy, &err), ONNXQ_OK);
    compare_models(orig, inline_copy);
    compare_models(orig, ext_copy);
    /* And back from external to inline (typed fields come back as raw_data). */
    char *back = test_path(dir, "back.onnx");
    ck_assert_int_eq(onnxq_model_save(ext_copy, back, NULL, &err), ONNXQ_OK);
    onnxq_model *back_copy;
    ck_assert_int_eq(onnxq_model_open(back, &back_copy, &err), ONNXQ_OK);
    compare_models(orig, back_copy);
    onnxq_model_free(back_copy);
    onnxq_model_free(orig);
    onnxq_model_free(inline_copy);
    onnxq_model_free(ext_copy);
    test_rmtree(dir);
    free(back);
    free(out);
    free(ext);
    free(dir);
    free(path);
}
END_TEST

START_TEST(squeezenet_counts)
{
    char *path = shared_model("squeezenet1.1.onnx");
    if (!path) {
        fprintf(stderr, "SKIP: ../shared/models is absent (set ONNXQ_SHARED)\n");
        return;
    }
    onnxq_error err;
    onnxq_model *m;
    ck_assert_int_eq(onnxq_model_open(path, &m, &err), ONNXQ_OK);
    ck_assert_uint_eq(onnxq_model_tensor_count(m), 52);
    uint64_t params = 0;
    for (size_t i = 0; i < onnxq_model_tensor_count(m); i++) {
        onnxq_tensor_info info;
        onnxq_model_tensor_info(m, i, &info);
        params += info.elements;
    }
    ck_assert_uint_eq(params, 1235496);
    onnxq_model_free(m);
    free(path);
}
END_TEST

/* ---- Bad input ------------------------------------------------------------- */

/* The call failed with `want` (0: any failure) and a one-line message that
 * begins with the file's name. */
static void assert_fails(onnxq_status got, const onnxq_error *err, onnxq_status want,
                         const char *name)
{
    ck_assert_int_ne(got, ONNXQ_OK);
    if (want)
        ck_assert_msg(got == want, "%s: status %s, expected %s (%s)", name,
                      onnxq_status_name(got), onnxq_status_name(want), err->message);
    ck_assert_int_eq(err->status, got);
    ck_assert_msg(strncmp(err->message, name, strlen(name)) == 0, "message '%s' does not name %s",
                  err->message, name);
    ck_assert(strchr(err->message, '\n') == NULL);
}

static onnxq_status open_bytes(const char *dir, const char *name, const void *data, size_t size,
                               onnxq_error *err, char **path_out)
{
    char *path = test_path(dir, name);
    test_write_file(path, data, size);
    onnxq_model *m = (onnxq_model *)1;
    onnxq_status s = onnxq_model_open(path, &m, err);
    ck_assert(s != ONNXQ_OK ? m == NULL : m != NULL);
    onnxq_model_free(m);
    *path_out = path;
    return s;
}

START_TEST(bad_files)
{
    char *dir = test_tmpdir();
    onnxq_error err;
    char *path;
    onnxq_model *m;

    onnxq_status st = open_bytes(dir, "empty.onnx", "", 0, &err, &path);
    assert_fails(st, &err, ONNXQ_ERR_NOT_ONNX, path);
    ck_assert(strstr(err.message, "empty"));
    free(path);

    for (uint64_t seed = 1; seed <= 20; seed++) {
        uint8_t *junk = random_bytes(64 * seed, seed);
        st = open_bytes(dir, "junk.onnx", junk, 64 * seed, &err, &path);
        assert_fails(st, &err, 0, path);
        free(junk);
        free(path);
    }

    ck_assert_int_eq(onnxq_model_open(dir, &m, &err), ONNXQ_ERR_IO);
    assert_fails(ONNXQ_ERR_IO, &err, ONNXQ_ERR_IO, dir);
    ck_assert(strstr(err.message, "directory"));

    path = test_path(dir, "missing.onnx");
    assert_fails(onnxq_model_open(path, &m, &err), &err, ONNXQ_ERR_IO, path);
    free(path);
    test_rmtree(dir);
    free(dir);
}
END_TEST

START_TEST(truncated_real_model)
{
    char *src = shared_model("squeezenet1.1.onnx");
    if (!src) {
        fprintf(stderr, "SKIP: ../shared/models is absent (set ONNXQ_SHARED)\n");
        return;
    }
    size_t size;
    uint8_t *bytes = test_read_file(src, &size);
    char *dir = test_tmpdir();
    const size_t cuts[] = {1, 2, 16, 100, 1000, 4096, 100000, size / 2, size - 1000, size - 1};
    for (size_t i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        onnxq_error err;
        char *path;
        onnxq_status st = open_bytes(dir, "cut.onnx", bytes, cuts[i], &err, &path);
        assert_fails(st, &err, 0, path);
        free(path);
    }
    free(bytes);
    free(src);
    test_rmtree(dir);
    free(dir);
}
END_TEST

/* Build a one-tensor model, let `edit` damage it, and expect `want`. */
static void expect_bad_tensor(void (*edit)(Onnx__TensorProto *), onnxq_status want,
                              const char *needle)
{
    Onnx__ModelProto *proto = tb_model_new();
    int64_t dims[2] = {3, 4};
    float v[12] = {0};
    Onnx__TensorProto *t = tb_add_tensor(proto, "conv1_w", ONNXQ_DTYPE_FLOAT, 2, dims);
    tb_set_raw(t, v, sizeof v);
    edit(t);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    char *dir = test_tmpdir(), *path;
    onnxq_error err;
    onnxq_status st = open_bytes(dir, "bad.onnx", bytes, size, &err, &path);
        assert_fails(st, &err, want, path);
    ck_assert_msg(strstr(err.message, "conv1_w"), "'%s' does not name the tensor", err.message);
    ck_assert_msg(strstr(err.message, needle), "'%s' does not say '%s'", err.message, needle);
    free(path);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
    test_rmtree(dir);
    free(dir);
}

static void short_raw(Onnx__TensorProto *t) { t->raw_data.len = 40; }
static void negative_dim(Onnx__TensorProto *t) { t->dims[0] = -3; }
static void no_data_type(Onnx__TensorProto *t) { t->data_type = 0; }
static void drop_raw(Onnx__TensorProto *t)
{
    free(t->raw_data.data);
    t->raw_data.data = NULL;
    t->raw_data.len = 0;
    t->has_raw_data = 0;
}
static void to_external(Onnx__TensorProto *t, const char *location)
{
    drop_raw(t);
    tb_add_external(t, "location", location);
}
static void missing_external(Onnx__TensorProto *t) { to_external(t, "nowhere.bin"); }
static void escaping_external(Onnx__TensorProto *t) { to_external(t, "../../etc/passwd"); }
static void absolute_external(Onnx__TensorProto *t) { to_external(t, "/etc/passwd"); }
static void short_external(Onnx__TensorProto *t)
{
    to_external(t, "bad.onnx"); /* the model file itself: far too short */
    tb_add_external(t, "offset", "100000");
}
static void external_bad_offset(Onnx__TensorProto *t)
{
    to_external(t, "bad.onnx");
    tb_add_external(t, "offset", "-5");
}

START_TEST(bad_tensors)
{
    expect_bad_tensor(short_raw, ONNXQ_ERR_BAD_TENSOR, "raw_data holds 40 bytes");
    expect_bad_tensor(negative_dim, ONNXQ_ERR_BAD_TENSOR, "negative");
    expect_bad_tensor(no_data_type, ONNXQ_ERR_BAD_TENSOR, "no data type");
    expect_bad_tensor(drop_raw, ONNXQ_ERR_BAD_TENSOR, "holds 0 values");
    expect_bad_tensor(missing_external, ONNXQ_ERR_IO, "nowhere.bin");
    expect_bad_tensor(escaping_external, ONNXQ_ERR_BAD_TENSOR, "leaves the model's folder");
    expect_bad_tensor(absolute_external, ONNXQ_ERR_BAD_TENSOR, "leaves the model's folder");
    expect_bad_tensor(short_external, ONNXQ_ERR_BAD_TENSOR, "needs 48 at offset 100000");
    expect_bad_tensor(external_bad_offset, ONNXQ_ERR_BAD_TENSOR, "not a number");
}
END_TEST

START_TEST(save_refusals)
{
    Onnx__ModelProto *proto = tb_model_new();
    int64_t two = 2;
    float v[2] = {1, 2};
    tb_set_raw(tb_add_tensor(proto, "t", ONNXQ_DTYPE_FLOAT, 1, &two), v, sizeof v);
    size_t size;
    uint8_t *bytes = tb_pack(proto, &size);
    char *dir = test_tmpdir();
    char *in = test_path(dir, "in.onnx"), *out = test_path(dir, "out.onnx");
    char *nodir = test_path(dir, "no/such/dir/out.onnx");
    test_write_file(in, bytes, size);
    test_write_file(out, "keep", 4);
    onnxq_model *m;
    onnxq_error err;
    ck_assert_int_eq(onnxq_model_open(in, &m, &err), ONNXQ_OK);

    assert_fails(onnxq_model_save(m, out, NULL, &err), &err, ONNXQ_ERR_EXISTS, out);
    size_t n;
    uint8_t *kept = test_read_file(out, &n);
    ck_assert(n == 4 && memcmp(kept, "keep", 4) == 0);
    free(kept);

    onnxq_save_options force = {.overwrite = 1};
    assert_fails(onnxq_model_save(m, in, &force, &err), &err, ONNXQ_ERR_EXISTS, in);
    assert_fails(onnxq_model_save(m, nodir, &force, &err), &err, ONNXQ_ERR_IO, nodir);
    assert_fails(onnxq_model_save(m, dir, &force, &err), &err, ONNXQ_ERR_IO, dir);
    ck_assert(!dir_has_temporaries(dir));

    ck_assert_int_eq(onnxq_model_save(m, out, &force, &err), ONNXQ_OK);
    kept = test_read_file(out, &n);
    ck_assert(n == size && memcmp(kept, bytes, size) == 0);
    free(kept);
    ck_assert(!dir_has_temporaries(dir));

    onnxq_model_free(m);
    free(bytes);
    onnx__model_proto__free_unpacked(proto, NULL);
    test_rmtree(dir);
    free(in);
    free(out);
    free(nodir);
    free(dir);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("onnx_io");
    TCase *tc = tcase_create("built");
    tcase_add_test(tc, every_dtype_round_trip);
    tcase_add_test(tc, float_reads_are_exact);
    tcase_add_test(tc, tensor_statistics);
    tcase_add_test(tc, external_data);
    tcase_add_test(tc, unknown_fields_survive);
    tcase_add_test(tc, replace_tensor);
    suite_add_tcase(s, tc);

    TCase *bad = tcase_create("bad input");
    tcase_add_test(bad, bad_files);
    tcase_add_test(bad, truncated_real_model);
    tcase_add_test(bad, bad_tensors);
    tcase_add_test(bad, save_refusals);
    suite_add_tcase(s, bad);

    TCase *real = tcase_create("shared models");
    tcase_set_timeout(real, 120);
    tcase_add_loop_test(real, shared_model_round_trip, 0, (int)N_SHARED);
    tcase_add_test(real, squeezenet_counts);
    suite_add_tcase(s, real);

    return test_run_suite(s);
}
