/* check_engine.c: the engine's loader, its refusals and its GEMM.
 *
 * Operator arithmetic is checked by the ONNX node tests (node_tests) and by
 * engine_reference.sh against an independent numpy forward pass; here: the
 * decompressing loader gives exactly what decompress-then-run gives, bad
 * models and inputs are refused with clear messages, every GEMM kernel
 * (float and 8-bit) this CPU runs agrees with a plain reference on awkward
 * shapes, and the
 * engine's threads run every task of a loop exactly once. */
#include "config.h"
#include "engine/engine.h"
#include "engine/window.h"
#include "engine/gemm.h"
#include "engine/igemm.h"
#include "engine/im2col.h"
#include "onnxq/engine.h"
#include "engine/team.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdatomic.h>
#include <time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NODE_DATA "/usr/include/onnx/backend/test/data/node"

/* An engine over m with `threads` threads (the test fails if none starts). */
static onnxq_engine *engine_of(onnxq_model *m, int threads)
{
    onnxq_engine *e;
    onnxq_error err;
    onnxq_engine_options o = { .threads = threads };
    ck_assert_msg(onnxq_engine_create(m, &o, &e, &err) == ONNXQ_OK, "%s", err.message);
    return e;
}

/* Run the model on a fixed pseudo-random image; a malloc'd copy of output 0. */
static float *run_once_threads(onnxq_model *m, int threads, size_t *count)
{
    onnxq_engine *e = engine_of(m, threads);
    onnxq_error err;
    onnxq_tensor_view in = { ONNXQ_DTYPE_FLOAT, 4, { 1, 3, 224, 224 }, NULL };
    float *x = malloc(3 * 224 * 224 * sizeof *x);
    uint64_t seed = 99;
    for (size_t i = 0; i < 3 * 224 * 224; i++)
        x[i] = (float)(test_rand(&seed) % 2000) / 1000.0f - 1.0f;
    in.data = x;
    ck_assert_msg(onnxq_engine_run(e, &in, 1, &err) == ONNXQ_OK, "%s", err.message);
    onnxq_tensor_view out;
    ck_assert_int_eq(onnxq_engine_output(e, 0, &out, &err), ONNXQ_OK);
    size_t n = 1;
    for (int d = 0; d < out.rank; d++)
        n *= (size_t)out.dims[d];
    float *copy = malloc(n * sizeof *copy);
    memcpy(copy, out.data, n * sizeof *copy);
    *count = n;
    onnxq_engine_free(e);
    free(x);
    return copy;
}

static float *run_once(onnxq_model *m, size_t *count) { return run_once_threads(m, 2, count); }

/* The shared model, compressed in memory; NULL when ../shared is absent. */
static onnxq_model *compressed(const char *name, int lossless)
{
    onnxq_model *m = test_open_shared_model(name);
    if (!m)
        return NULL;
    onnxq_compress_options o;
    onnxq_compress_defaults(&o);
    if (lossless)
        o.quantizer = ONNXQ_QUANT_NONE;
    onnxq_error err;
    ck_assert_msg(onnxq_compress(m, &o, NULL, &err) == ONNXQ_OK, "%s", err.message);
    return m;
}

/* The engine decodes Decode nodes at load: its output equals the output on
 * the decompressed model bit for bit, and with lossless compression the
 * output on the original model. */
START_TEST(compressed_model_runs_as_decompressed)
{
    onnxq_model *plain = test_open_shared_model("squeezenet1.1.onnx");
    if (!plain) {
        printf("SKIP: ../shared is absent\n");
        return;
    }
    size_t n0, n1, n2, n3;
    float *ref = run_once(plain, &n0);

    onnxq_model *lossless = compressed("squeezenet1.1.onnx", 1);
    ck_assert(onnxq_model_is_compressed(lossless));
    float *ll = run_once(lossless, &n1);
    ck_assert_uint_eq(n0, n1);
    ck_assert(memcmp(ref, ll, n0 * sizeof *ref) == 0);

    onnxq_model *lossy = compressed("squeezenet1.1.onnx", 0);
    float *direct = run_once(lossy, &n2);
    onnxq_error err;
    ck_assert_int_eq(onnxq_decompress(lossy, &err), ONNXQ_OK);
    ck_assert(!onnxq_model_is_compressed(lossy));
    float *via_file = run_once(lossy, &n3);
    ck_assert_uint_eq(n2, n3);
    ck_assert(memcmp(direct, via_file, n2 * sizeof *direct) == 0);
    /* Lossy weights do change the output, a little. */
    ck_assert(memcmp(ref, direct, n0 * sizeof *ref) != 0);

    free(ref);
    free(ll);
    free(direct);
    free(via_file);
    onnxq_model_free(plain);
    onnxq_model_free(lossless);
    onnxq_model_free(lossy);
}
END_TEST

START_TEST(unsupported_operator_is_named)
{
    onnxq_model *m;
    onnxq_error err;
    if (onnxq_model_open(NODE_DATA "/test_gru_defaults/model.onnx", &m, &err) != ONNXQ_OK) {
        printf("SKIP: libonnx-testdata is absent\n");
        return;
    }
    onnxq_engine *e;
    ck_assert_int_eq(onnxq_engine_create(m, NULL, &e, &err), ONNXQ_ERR_UNSUPPORTED);
    ck_assert_msg(strstr(err.message, "operator GRU") && strstr(err.message, "test_gru_defaults"),
                  "%s", err.message);
    ck_assert(strchr(err.message, '\n') == NULL);
    onnxq_model_free(m);
}
END_TEST

START_TEST(wrong_inputs_are_refused)
{
    onnxq_model *m = test_open_shared_model("squeezenet1.1.onnx");
    if (!m) {
        printf("SKIP: ../shared is absent\n");
        return;
    }
    onnxq_engine *e;
    onnxq_error err;
    ck_assert_int_eq(onnxq_engine_create(m, NULL, &e, &err), ONNXQ_OK);
    ck_assert_uint_eq(onnxq_engine_input_count(e), 1);
    float x[3 * 100 * 100] = { 0 };
    onnxq_tensor_view small = { ONNXQ_DTYPE_FLOAT, 4, { 1, 3, 100, 100 }, x };
    ck_assert_int_eq(onnxq_engine_run(e, &small, 1, &err), ONNXQ_ERR_ARGUMENT);
    ck_assert_msg(strstr(err.message, "dimension 2 is 224, given 100"), "%s", err.message);
    onnxq_tensor_view wrong_type = { ONNXQ_DTYPE_INT64, 4, { 1, 3, 100, 100 }, x };
    ck_assert_int_eq(onnxq_engine_run(e, &wrong_type, 1, &err), ONNXQ_ERR_ARGUMENT);
    ck_assert_int_eq(onnxq_engine_run(e, NULL, 0, &err), ONNXQ_ERR_ARGUMENT);
    onnxq_tensor_view out;
    ck_assert_int_eq(onnxq_engine_output(e, 0, &out, &err), ONNXQ_ERR_ARGUMENT);
    onnxq_engine_free(e);
    onnxq_model_free(m);
}
END_TEST

/* A corrupt bitstream in a compressed model fails at load, not at run. */
START_TEST(corrupt_bitstream_fails_at_load)
{
    onnxq_model *m = compressed("mobilenet_v1_0.25_224.onnx", 0);
    if (!m) {
        printf("SKIP: ../shared is absent\n");
        return;
    }
    void *data;
    size_t size;
    onnxq_error err;
    ck_assert_int_eq(onnxq_model_serialize(m, &data, &size, &err), ONNXQ_OK);
    onnxq_model_free(m);
    /* Flip a byte inside the largest stream: find "ONXQ" magics and hit the
     * middle of the data after the last one. */
    uint8_t *p = data;
    size_t last = 0;
    for (size_t i = 0; i + 4 < size; i++)
        if (!memcmp(p + i, "ONXQ", 4))
            last = i;
    ck_assert_uint_gt(last, 0);
    p[last + 200] ^= 0x10;
    ck_assert_int_eq(onnxq_model_from_memory(data, size, "flipped.onnx", NULL, &m, &err), ONNXQ_OK);
    onnxq_engine *e;
    ck_assert_int_eq(onnxq_engine_create(m, NULL, &e, &err), ONNXQ_ERR_CORRUPT);
    ck_assert_msg(strstr(err.message, "flipped.onnx") && strstr(err.message, "CRC"), "%s",
                  err.message);
    onnxq_model_free(m);
    free(data);
}
END_TEST

/* In-place Concat (tensor.home in engine.h): the inputs' producers write
 * straight into the output from the second run on.  Through batches that
 * break the contiguous layout, inputs that grow or shrink apart from each
 * other (so the output's buffer moves, or an input's place shifts), an
 * input joined twice, a Concat of a Concat, an input read again after it
 * is joined, and views sharing an input's or a Concat's buffer, every output
 * stays right. */
START_TEST(concat_in_place_stays_right)
{
    Onnx__ModelProto *mp = tb_model_new();
    tb_add_value(mp, 0, "x", 4);
    tb_add_value(mp, 0, "v", 4);
    tb_add_node(mp, "Relu", (const char *[]){ "x" }, 1, "a", NULL, 0);
    tb_add_node(mp, "Neg", (const char *[]){ "v" }, 1, "b", NULL, 0);
    tb_add_node(mp, "Concat", (const char *[]){ "a", "b", "a" }, 3, "y", "axis", 1);
    tb_add_node(mp, "Concat", (const char *[]){ "y", "b" }, 2, "z", "axis", 1);
    tb_add_node(mp, "Neg", (const char *[]){ "a" }, 1, "w", NULL, 0);
    /* Views (tensor_view): of a joined input and of a Concat's output. */
    tb_add_node(mp, "Flatten", (const char *[]){ "a" }, 1, "fa", "axis", 1);
    tb_add_node(mp, "Identity", (const char *[]){ "y" }, 1, "iy", NULL, 0);
    tb_add_node(mp, "Flatten", (const char *[]){ "iy" }, 1, "fy", "axis", 1);
    tb_add_value(mp, 1, "z", 4);
    tb_add_value(mp, 1, "w", 4);
    tb_add_value(mp, 1, "a", 4);
    tb_add_value(mp, 1, "fa", 2);
    tb_add_value(mp, 1, "fy", 2);
    onnxq_model *m = tb_load(mp, "concat.onnx");
    onnxq_engine *e = engine_of(m, 2);
    onnxq_error err;
    /* batch, channels of x, channels of v, height, width */
    static const int64_t runs[][5] = { { 1, 2, 1, 3, 3 }, { 1, 2, 1, 3, 3 }, { 1, 2, 1, 3, 3 },
                                       { 2, 2, 1, 3, 3 }, { 1, 2, 1, 3, 3 }, { 1, 2, 1, 3, 3 },
                                       { 1, 2, 3, 3, 3 }, { 1, 2, 3, 3, 3 }, { 1, 4, 3, 3, 3 },
                                       { 1, 4, 3, 3, 3 }, { 1, 1, 3, 3, 3 }, { 1, 1, 1, 3, 3 },
                                       { 1, 1, 1, 3, 3 }, { 1, 3, 2, 5, 4 }, { 1, 3, 2, 5, 4 } };
    uint64_t seed = 3;
    for (size_t run = 0; run < sizeof runs / sizeof *runs; run++) {
        const int64_t *r = runs[run];
        int64_t n = r[0], cx = r[1], cv = r[2], plane = r[3] * r[4];
        float *x = malloc(sizeof(float) * (size_t)(n * cx * plane));
        float *v = malloc(sizeof(float) * (size_t)(n * cv * plane));
        for (int64_t i = 0; i < n * cx * plane; i++)
            x[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
        for (int64_t i = 0; i < n * cv * plane; i++)
            v[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
        onnxq_tensor_view in[2] = { { ONNXQ_DTYPE_FLOAT, 4, { n, cx, r[3], r[4] }, x },
                                    { ONNXQ_DTYPE_FLOAT, 4, { n, cv, r[3], r[4] }, v } };
        ck_assert_msg(onnxq_engine_run(e, in, 2, &err) == ONNXQ_OK, "%s", err.message);
        onnxq_tensor_view z, w, a;
        ck_assert_int_eq(onnxq_engine_output(e, 0, &z, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_engine_output(e, 1, &w, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_engine_output(e, 2, &a, &err), ONNXQ_OK);
        onnxq_tensor_view fa, fy;
        ck_assert_int_eq(onnxq_engine_output(e, 3, &fa, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_engine_output(e, 4, &fy, &err), ONNXQ_OK);
        int64_t cz = 2 * cx + 2 * cv, cy = 2 * cx + cv;
        ck_assert_int_eq(z.dims[1], cz);
        ck_assert_int_eq(fa.rank, 2);
        ck_assert_int_eq(fa.dims[1], cx * plane);
        ck_assert_int_eq(fy.dims[1], cy * plane);
        /* y is z's first 2 cx + cv channels. */
        for (int64_t b = 0; b < n; b++)
            ck_assert(memcmp((const float *)fy.data + b * cy * plane,
                             (const float *)z.data + b * cz * plane,
                             sizeof(float) * (size_t)(cy * plane)) == 0);
        ck_assert(memcmp(fa.data, a.data, sizeof(float) * (size_t)(n * cx * plane)) == 0);
        const float *zd = z.data, *wd = w.data, *ad = a.data;
        for (int64_t b = 0; b < n; b++)
            for (int64_t c = 0; c < cz; c++)
                for (int64_t i = 0; i < plane; i++) {
                    /* z's channels: a, b, a, b */
                    int64_t part = c < cx ? 0 : c < cx + cv ? 1 : c < 2 * cx + cv ? 2 : 3;
                    int64_t at = c - (part > 0) * cx - (part > 1) * cv - (part > 2) * cx;
                    float want = part % 2 ? -v[(b * cv + at) * plane + i]
                                          : fmaxf(x[(b * cx + at) * plane + i], 0.0f);
                    ck_assert_msg(zd[(b * cz + c) * plane + i] == want,
                                  "run %zu: z[%lld,%lld,%lld]", run, (long long)b, (long long)c,
                                  (long long)i);
                    if (part == 0) {
                        ck_assert(ad[(b * cx + at) * plane + i] == want);
                        ck_assert(wd[(b * cx + at) * plane + i] == -want);
                    }
                }
        free(x);
        free(v);
    }
    onnxq_engine_free(e);
    onnxq_model_free(m);
}
END_TEST

/* ---- GEMM ---------------------------------------------------------------------------- */

/* Every kernel the CPU runs, on shapes that leave partial row tiles and
 * partial panels, with strides past the dimensions: within float rounding of
 * a double-precision reference, bias first and clamp last; and splitting
 * the columns in two changes no bit. */
START_TEST(gemm_matches_reference)
{
    static const char *names[] = { "generic", "avx2", "avx512" };
    static const int ms[] = { 1, 5, 6, 7, 13 }, ns[] = { 1, 8, 17, 33, 70 }, ks[] = { 0, 1, 3, 40 };
    uint64_t seed = 5;
    int tried = 0;
    for (size_t kn = 0; kn < sizeof names / sizeof *names; kn++) {
        if (gemm_select(names[kn]) != 0)
            continue;
        tried++;
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ni = 0; ni < 5; ni++)
                for (size_t ki = 0; ki < 4; ki++) {
                    int m = ms[mi], n = ns[ni], k = ks[ki];
                    int lda = k + 3, ldb = n + 5, ldc = n + 2, with_bias = (mi + ni) % 2;
                    float lo = ki == 2 ? -0.5f : -INFINITY, hi = ki == 2 ? 0.25f : INFINITY;
                    float *a = malloc(sizeof(float) * (size_t)(m * lda + 1));
                    float *b = malloc(sizeof(float) * (size_t)(k * ldb + 1));
                    float *c = malloc(sizeof(float) * (size_t)(m * ldc));
                    float *halves = malloc(sizeof(float) * (size_t)(m * ldc));
                    float bias[13], *work = malloc(sizeof(float) * gemm_workspace_floats(k, n));
                    for (int i = 0; i < m * lda; i++)
                        a[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
                    for (int i = 0; i < k * ldb; i++)
                        b[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
                    for (int i = 0; i < m; i++)
                        bias[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
                    for (int i = 0; i < m * ldc; i++)
                        c[i] = halves[i] = 7.0f; /* the gaps between rows must stay 7 */
                    const float *bp = with_bias ? bias : NULL;
                    gemm(m, n, k, a, lda, b, ldb, c, ldc, bp, lo, hi, work);
                    int left = n / 2;
                    gemm(m, left, k, a, lda, b, ldb, halves, ldc, bp, lo, hi, work);
                    gemm(m, n - left, k, a, lda, b + left, ldb, halves + left, ldc, bp, lo, hi,
                         work);
                    /* B packed once, then the rows in two blocks
                     * (gemm_pack, gemm_packed): the same bits as the whole. */
                    float *packed = malloc(sizeof(float) * (size_t)(m * ldc));
                    for (int i = 0; i < m * ldc; i++)
                        packed[i] = 7.0f;
                    gemm_pack(n, k, b, ldb, work);
                    int top = m / 2;
                    gemm_packed(top, n, k, a, lda, work, packed, ldc, bp, lo, hi);
                    gemm_packed(m - top, n, k, a + top * lda, lda, work, packed + top * ldc, ldc,
                                bp ? bp + top : NULL, lo, hi);
                    ck_assert_msg(memcmp(packed, c, sizeof(float) * (size_t)(m * ldc)) == 0,
                                  "%s %dx%dx%d: packed once, rows in two blocks, differs",
                                  names[kn], m, n, k);
                    free(packed);
                    /* The last column alone (a matrix-vector product) is
                     * the same bits as within the whole. */
                    float last[13];
                    gemm(m, 1, k, a, lda, b + n - 1, ldb, last, 1, bp, lo, hi, work);
                    for (int i = 0; i < m; i++)
                        ck_assert_msg(memcmp(&last[i], &c[i * ldc + n - 1], sizeof *last) == 0,
                                      "%s: a single column differs at row %d", names[kn], i);
                    for (int i = 0; i < m; i++)
                        for (int j = 0; j < ldc; j++) {
                            float got = c[i * ldc + j];
                            ck_assert_msg(memcmp(&got, &halves[i * ldc + j], sizeof got) == 0,
                                          "%s: split columns differ at %d,%d", names[kn], i, j);
                            if (j >= n) {
                                ck_assert_msg(got == 7.0f, "%s: wrote past column n", names[kn]);
                                continue;
                            }
                            double want = with_bias ? bias[i] : 0.0, mag = fabs(want);
                            for (int p = 0; p < k; p++) {
                                want += (double)a[i * lda + p] * b[p * ldb + j];
                                mag += fabs((double)a[i * lda + p] * b[p * ldb + j]);
                            }
                            want = want < lo ? lo : want > hi ? hi : want;
                            ck_assert_msg(fabs(got - want) <= 1e-6 * (mag + 1),
                                          "%s %dx%dx%d: C(%d,%d) = %g, want %g", names[kn], m, n,
                                          k, i, j, got, want);
                        }
                    free(a);
                    free(b);
                    free(c);
                    free(halves);
                    free(work);
                }
    }
    ck_assert_int_eq(gemm_select("none such"), -1);
    ck_assert_int_ge(tried, 1);
    printf("gemm: %d kernels checked on this CPU\n", tried);
}
END_TEST

/* The 8-bit GEMM's requantized result for one sum, computed the plain way. */
static int32_t requantized(int64_t sum, float mult, int32_t zero, int32_t lo, int32_t hi)
{
    float v = (float)sum * mult;
    v = fminf(fmaxf(v, (float)(lo - zero)), (float)(hi - zero));
    return (int32_t)nearbyintf(v) + zero;
}

/* Every 8-bit GEMM kernel this CPU runs, on partial tiles, panels and
 * 4-byte groups, int8 and uint8 B and C, a single column, against plain
 * integer sums; and splitting the columns changes no byte. */
START_TEST(igemm_matches_reference)
{
    static const char *names[] = { "generic", "avx512vnni" };
    static const int ms[] = { 1, 5, 6, 7, 13 }, ns[] = { 1, 16, 17, 33, 70 };
    static const int ks[] = { 1, 3, 4, 9, 300 };
    uint64_t seed = 11;
    int tried = 0;
    for (size_t kn = 0; kn < sizeof names / sizeof *names; kn++) {
        if (igemm_select(names[kn]) != 0)
            continue;
        tried++;
        for (size_t mi = 0; mi < 5; mi++)
            for (size_t ni = 0; ni < 5; ni++)
                for (size_t ki = 0; ki < 5; ki++) {
                    int m = ms[mi], n = ns[ni], k = ks[ki], kq = (int)igemm_depth(k);
                    /* A single contiguous column takes the dot-product path. */
                    int ldb = n == 1 && mi % 2 ? 1 : n + 3, ldc = n + 2;
                    int flip = (mi + ki) % 2, is_u8 = (ni + ki) % 2;
                    int8_t *a = calloc((size_t)(m * kq), 1);
                    uint8_t *b = malloc((size_t)(k * ldb));
                    uint8_t *c = malloc((size_t)(m * ldc)), *halves = malloc((size_t)(m * ldc));
                    void *work = malloc(igemm_workspace(k, n));
                    int32_t offset[13];
                    float mult[13];
                    for (int i = 0; i < m; i++)
                        for (int p = 0; p < k; p++)
                            a[i * kq + p] = (int8_t)(test_rand(&seed) % 256 - 128);
                    for (int i = 0; i < k * ldb; i++)
                        b[i] = (uint8_t)(test_rand(&seed) % 256);
                    for (int i = 0; i < m; i++) {
                        offset[i] = (int32_t)(test_rand(&seed) % 20001) - 10000;
                        /* Scaled so that some results saturate at each end. */
                        mult[i] = (float)(test_rand(&seed) % 1000 + 1) / (300.0f * (float)k);
                    }
                    igemm_out o = { offset, mult, is_u8 ? 100 : -3, is_u8 ? 0 : -128,
                                    is_u8 ? 255 : 127, flip };
                    memset(c, 7, (size_t)(m * ldc));
                    memset(halves, 7, (size_t)(m * ldc));
                    igemm(m, n, k, a, b, ldb, &o, c, ldc, work);
                    int left = n / 2;
                    igemm(m, left, k, a, b, ldb, &o, halves, ldc, work);
                    igemm(m, n - left, k, a, b + left, ldb, &o, halves + left, ldc, work);
                    int bad = -1;
                    int32_t got = 0, want = 0;
                    for (int i = 0; i < m && bad < 0; i++)
                        for (int j = 0; j < ldc && bad < 0; j++) {
                            int at = i * ldc + j;
                            got = is_u8 ? c[at] : (int8_t)c[at];
                            want = 7;
                            if (j < n) {
                                int64_t sum = offset[i];
                                for (int p = 0; p < k; p++)
                                    sum += a[i * kq + p] *
                                           (flip ? (int8_t)b[p * ldb + j] + 128 : b[p * ldb + j]);
                                want = requantized(sum, mult[i], o.zero, o.lo, o.hi);
                            }
                            if (got != want || c[at] != halves[at])
                                bad = at;
                        }
                    ck_assert_msg(bad < 0, "%s %dx%dx%d flip %d: C[%d] = %d (halves %d), want %d",
                                  names[kn], m, n, k, flip, bad, got, bad < 0 ? 0 : halves[bad],
                                  want);
                    free(a);
                    free(b);
                    free(c);
                    free(halves);
                    free(work);
                }
    }
    ck_assert_int_eq(igemm_select("none such"), -1);
    ck_assert_int_ge(tried, 1);
    printf("igemm: %d kernels checked on this CPU\n", tried);
}
END_TEST

/* The engine's output does not depend on its thread count. */
START_TEST(threads_change_no_bit)
{
    onnxq_model *m = test_open_shared_model("squeezenet1.1.onnx");
    if (!m)
        return;
    size_t n1, n2, n3;
    float *one = run_once_threads(m, 1, &n1), *two = run_once_threads(m, 2, &n2);
    float *three = run_once_threads(m, 3, &n3); /* more threads than CI's cores */
    ck_assert_uint_eq(n1, n2);
    ck_assert_uint_eq(n1, n3);
    ck_assert_msg(memcmp(one, two, n1 * sizeof *one) == 0, "1 and 2 threads differ");
    ck_assert_msg(memcmp(one, three, n1 * sizeof *one) == 0, "1 and 3 threads differ");
    free(one);
    free(two);
    free(three);
    onnxq_model_free(m);
}
END_TEST

/* The int8 model's 1 x 1 QLinearConvs give the same bytes as an 8-bit
 * GEMM (where the CPU has one) as through the float path. */
START_TEST(qlinear_conv_paths_agree)
{
    if (igemm_select("avx512vnni") != 0) {
        printf("qlinear_conv_paths_agree: skipped, no 8-bit GEMM kernel on this CPU\n");
        return;
    }
    onnxq_model *m = test_open_shared_model("mobilenetv2-12-int8.onnx");
    if (!m)
        return;
    size_t n1, n2;
    float *fast = run_once_threads(m, 2, &n1);
    ck_assert_int_eq(igemm_select("generic"), 0); /* not fast: the float path */
    float *plain = run_once_threads(m, 2, &n2);
    ck_assert_uint_eq(n1, n2);
    ck_assert_msg(memcmp(fast, plain, n1 * sizeof *fast) == 0, "the two paths differ");
    free(fast);
    free(plain);
    onnxq_model_free(m);
}
END_TEST

/* The im2col matrix packed panel by panel (gemm_from's source) holds what
 * the matrix in rows holds, the columns past the last zero, for every
 * GEMM kernel's panel width (the AVX-512 packer and the plain one), strides
 * 1 to 3, padding, dilation, outputs narrower than a panel and blocks
 * starting anywhere. */
START_TEST(im2col_panels_match_rows)
{
    static const char *names[] = { "avx512", "avx2", "generic" };
    /* in h, in w, kernel, stride, pad, dilation */
    static const int64_t shapes[][6] = { { 13, 13, 3, 1, 1, 1 }, { 11, 11, 3, 2, 1, 1 },
                                         { 9, 40, 3, 2, 0, 1 },  { 7, 7, 1, 1, 0, 1 },
                                         { 20, 5, 5, 1, 2, 2 },  { 17, 19, 3, 3, 1, 1 },
                                         { 4, 50, 2, 2, 1, 1 },  { 1, 1, 3, 1, 1, 1 },
                                         { 30, 30, 7, 2, 3, 1 }, { 40, 3, 9, 1, 4, 1 } };
    /* The last: 81 taps times the 11 runs of a 32-column panel, more than
     * the AVX-512 packer works out at once (it then takes the taps in
     * several tables). */
    uint64_t seed = 5;
    int tried = 0;
    for (int kn = 0; kn < 3; kn++) {
        if (gemm_select(names[kn]) != 0)
            continue;
        tried++;
        int width = gemm_panel_width();
        for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++) {
            const int64_t *sh = shapes[si];
            int64_t channels = 3;
            geom g = { { sh[0], sh[1] }, { sh[2], sh[2] }, { sh[3], sh[3] }, { sh[5], sh[5] },
                       { sh[4], sh[4] }, { sh[4], sh[4] }, { 0, 0 } };
            for (int i = 0; i < 2; i++)
                g.out[i] = (g.in[i] + 2 * sh[4] - (sh[2] - 1) * sh[5] - 1) / sh[3] + 1;
            int64_t k = channels * sh[2] * sh[2], p = g.out[0] * g.out[1];
            float *x = malloc((size_t)(channels * sh[0] * sh[1]) * sizeof *x);
            for (int64_t i = 0; i < channels * sh[0] * sh[1]; i++)
                x[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
            tap_row *rows = malloc((size_t)k * sizeof *rows);
            tap_rows(&g, channels, rows);
            float *col = malloc((size_t)(k * p) * sizeof *col);
            /* 64-byte aligned, as gemm's workspace; a whole number of lines. */
            float *panel = aligned_alloc(64, ((size_t)(k * width) * sizeof *panel + 63) / 64 * 64);
            int64_t j0 = p > 7 ? 7 : 0; /* a block that starts mid-row */
            im2col_cols(x, channels, &g, j0, p - j0, 0.0f, col);
            image_source is = image_source_of(x, &g, rows, k, j0);
            int64_t wrong = 0;
            for (int64_t j = 0; j < p - j0; j += width) {
                int nr = p - j0 - j < width ? (int)(p - j0 - j) : width;
                is.base.pack(&is.base, j, nr, width, panel);
                for (int64_t r = 0; r < k; r++)
                    for (int c = 0; c < width; c++) {
                        float want = c < nr ? col[r * (p - j0) + j + c] : 0.0f;
                        wrong += memcmp(&want, &panel[r * width + c], sizeof want) != 0;
                    }
            }
            ck_assert_msg(wrong == 0, "%s, shape %zu: %lld values differ", names[kn], si,
                          (long long)wrong);
            free(x);
            free(rows);
            free(col);
            free(panel);
        }
    }
    ck_assert_int_ge(tried, 1);
}
END_TEST

/* One output of a 3 x 3 depthwise window, summed as depthwise.h says:
 * bias, then each tap's product in turn, padding as zero, then the clamp. */
static float depthwise_window_reference(const plane_in *x, const window *g, const float *w,
                                        float bias, float lo, float hi, int64_t oy, int64_t ox)
{
    float sum = bias;
    for (int ky = 0; ky < g->size; ky++)
        for (int kx = 0; kx < g->size; kx++) {
            int64_t iy = oy * g->stride - g->top + ky, ix = ox * g->stride - g->left + kx;
            float v = 0.0f;
            if (iy >= 0 && iy < g->in_h && ix >= 0 && ix < g->in_w) {
                int64_t at = iy * g->in_w + ix;
                if (x->dtype == ONNXQ_DTYPE_UINT8)
                    v = (float)(((const uint8_t *)x->data)[at] - x->zero);
                else if (x->dtype == ONNXQ_DTYPE_INT8)
                    v = (float)(((const int8_t *)x->data)[at] - x->zero);
                else
                    v = ((const float *)x->data)[at];
            }
            float product = w[g->size * ky + kx] * v;
            sum = sum + product;
        }
    return sum < lo ? lo : sum > hi ? hi : sum;
}

/* The direct kernel, where the CPU has one, gives the reference's bits on
 * planes from 1 x 1 to wider than two vectors, with every padding the
 * models use and more (more at the end than at the start, as TensorFlow
 * pads), for each window size, input type, stride and clamp. */
START_TEST(depthwise_window_matches_reference)
{
    if (window_select("avx512bw") != 0) {
        printf("depthwise_window_matches_reference: skipped, no direct kernel on this CPU\n");
        return;
    }
    static const int64_t sizes[][2] = { { 1, 1 }, { 3, 5 }, { 7, 7 }, { 14, 14 }, { 17, 33 },
                                        { 28, 28 }, { 9, 40 } };
    static const int dtypes[] = { ONNXQ_DTYPE_FLOAT, ONNXQ_DTYPE_UINT8, ONNXQ_DTYPE_INT8 };
    uint64_t seed = 7;
    int64_t checked = 0, wrong = 0;
    char where[160] = "";
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int di = 0; di < 3; di++)
            for (int stride = 1; stride <= 2; stride++)
                for (int pad = 0; pad <= 3; pad++)
                    for (int size = 3; size <= 5; size += 2) {
                        int64_t ih = sizes[si][0], iw = sizes[si][1], n = ih * iw;
                        int64_t end = pad + (pad & 1); /* padding after */
                        window g = { ih, iw, 0, 0, pad, pad, stride, size };
                        g.out_h = (ih + pad + end - size) / stride + 1;
                        g.out_w = (iw + pad + end - size) / stride + 1;
                        if (ih + pad + end < size || iw + pad + end < size)
                            continue;
                        float *xf = malloc((size_t)n * sizeof *xf), w[25];
                        uint8_t *xb = malloc((size_t)n);
                        for (int64_t i = 0; i < n; i++) {
                            xf[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
                            xb[i] = (uint8_t)test_rand(&seed);
                        }
                        for (int i = 0; i < size * size; i++)
                            w[i] = (float)(test_rand(&seed) % 2001) / 500.0f - 2.0f;
                        plane_in x = { dtypes[di] == ONNXQ_DTYPE_FLOAT ? (void *)xf : (void *)xb,
                                       dtypes[di], dtypes[di] == ONNXQ_DTYPE_FLOAT ? 0 : 3 };
                        float lo = pad == 1 ? 0.0f : -INFINITY, hi = pad == 1 ? 6.0f : INFINITY;
                        int64_t outs = g.out_h * g.out_w;
                        float *y = malloc((size_t)(outs + 1) * sizeof *y);
                        y[outs] = 12345.0f; /* past the plane: must stay */
                        ck_assert_int_eq(depthwise_window(&x, &g, w, 0.25f, lo, hi, y), 1);
                        for (int64_t oy = 0; oy < g.out_h; oy++)
                            for (int64_t ox = 0; ox < g.out_w; ox++) {
                                float want =
                                    depthwise_window_reference(&x, &g, w, 0.25f, lo, hi, oy, ox);
                                float got = y[oy * g.out_w + ox];
                                checked++;
                                if (memcmp(&want, &got, sizeof want) && !wrong++)
                                    snprintf(where, sizeof where,
                                             "%lldx%lld size %d type %d stride %d pad %d at "
                                             "(%lld,%lld): %.9g, want %.9g",
                                             (long long)ih, (long long)iw, size, dtypes[di], stride,
                                             pad, (long long)oy, (long long)ox, got, want);
                            }
                        ck_assert_msg(y[outs] == 12345.0f, "wrote past the plane");
                        free(xf);
                        free(xb);
                        free(y);
                    }
    ck_assert_msg(wrong == 0, "%lld of %lld outputs differ, first %s", (long long)wrong,
                  (long long)checked, where);
    ck_assert_int_ge(checked, 1000);
    ck_assert_int_eq(window_select("generic"), 0);
    /* The portable loops. */
    ck_assert_int_eq(depthwise_window(NULL, NULL, NULL, 0, 0, 0, NULL), 0);
    ck_assert_int_eq(window_select("none such"), -1);
}
END_TEST

static float max_of(float a, float b) { return a > b ? a : b; }

/* One output of a 3 x 3 pooling as window.h says: the maximum (count
 * NULL) or sum down each column of the window (rows outside the input left
 * out, columns outside it -inf or 0), then across the three; a sum
 * divided by its count, 0 where that is 0. */
static float pool_window_reference(const float *x, const window *g, const float *count, int64_t oy,
                             int64_t ox)
{
    float none = count ? 0.0f : -INFINITY, col[3];
    for (int kx = 0; kx < 3; kx++) {
        int64_t ix = ox * g->stride - g->left + kx;
        col[kx] = none;
        for (int ky = 0; ky < 3; ky++) {
            int64_t iy = oy * g->stride - g->top + ky;
            if (iy < 0 || iy >= g->in_h)
                continue;
            float v = ix >= 0 && ix < g->in_w ? x[iy * g->in_w + ix] : none;
            col[kx] = count ? col[kx] + v : max_of(col[kx], v);
        }
    }
    if (!count)
        return max_of(max_of(col[0], col[1]), col[2]);
    float sum = col[0] + col[1] + col[2], n = count[oy * g->out_w + ox];
    return n > 0 ? sum / n : 0.0f;
}

/* The direct pooling, where the CPU has it, gives the reference's bits
 * (signed zeros and NaNs included, where the order of comparisons shows;
 * an average's NaN may be another NaN) for every size, stride, padding and
 * band of rows, max and average. */
START_TEST(pool_window_matches_reference)
{
    if (window_select("avx512bw") != 0) {
        printf("pool_window_matches_reference: skipped, no direct kernel on this CPU\n");
        return;
    }
    static const int64_t sizes[][2] = { { 1, 1 }, { 3, 5 }, { 13, 13 }, { 27, 27 }, { 17, 40 } };
    static const float odd_values[] = { 0.0f, -0.0f, NAN, -INFINITY, INFINITY };
    uint64_t seed = 11;
    int64_t checked = 0, wrong = 0;
    char where[160] = "";
    for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++)
        for (int stride = 1; stride <= 2; stride++)
            for (int pad = 0; pad <= 1; pad++)
                for (int average = 0; average <= 1; average++) {
                    int64_t ih = sizes[si][0], iw = sizes[si][1], n = ih * iw;
                    if (ih + 2 * pad < 3 || iw + 2 * pad < 3)
                        continue;
                    window g = { ih, iw, (ih + 2 * pad - 3) / stride + 1,
                                 (iw + 2 * pad - 3) / stride + 1, pad, pad, stride, 3 };
                    float *x = malloc((size_t)n * sizeof *x);
                    for (int64_t i = 0; i < n; i++) {
                        uint64_t r = test_rand(&seed);
                        x[i] = r % 4 ? (float)(r % 2001) / 1000.0f - 1.0f : odd_values[r / 4 % 5];
                    }
                    int64_t outs = g.out_h * g.out_w, half = g.out_h / 2;
                    float *count = malloc((size_t)outs * sizeof *count);
                    for (int64_t i = 0; i < outs; i++)
                        count[i] = (float)(i % 7 == 3 ? 0 : 1 + i % 9); /* a zero among them */
                    const float *cnt = average ? count : NULL;
                    float *y = malloc((size_t)(outs + 1) * sizeof *y);
                    y[outs] = 12345.0f;
                    /* In two bands of rows, as the threads take them. */
                    ck_assert_int_eq(pool_window(x, &g, cnt, 0, half, y), 1);
                    ck_assert_int_eq(pool_window(x, &g, cnt, half, g.out_h, y), 1);
                    for (int64_t oy = 0; oy < g.out_h; oy++)
                        for (int64_t ox = 0; ox < g.out_w; ox++) {
                            float want = pool_window_reference(x, &g, cnt, oy, ox);
                            float got = y[oy * g.out_w + ox];
                            checked++;
                            /* Which NaN a sum gives (inf - inf's or an
                             * input's) is the compiler's choice. */
                            int same = !memcmp(&want, &got, sizeof want) ||
                                       (average && isnan(want) && isnan(got));
                            if (!same && !wrong++)
                                snprintf(where, sizeof where,
                                         "%lldx%lld stride %d pad %d %s at (%lld,%lld): %g, "
                                         "want %g",
                                         (long long)ih, (long long)iw, stride, pad,
                                         average ? "average" : "max", (long long)oy,
                                         (long long)ox, got, want);
                        }
                    ck_assert_msg(y[outs] == 12345.0f, "wrote past the plane");
                    free(x);
                    free(count);
                    free(y);
                }
    ck_assert_msg(wrong == 0, "%lld of %lld outputs differ, first %s", (long long)wrong,
                  (long long)checked, where);
    ck_assert_int_ge(checked, 1000);
    ck_assert_int_eq(window_select("generic"), 0);
    ck_assert_int_eq(pool_window(NULL, NULL, NULL, 0, 0, NULL), 0); /* the portable loops */
}
END_TEST

/* mobilenet_v2 (float 3 x 3 depthwise convolutions at stride 1 and 2,
 * planes from 112 x 112 to 7 x 7), the int8 model (uint8 ones), v3-small
 * (5 x 5 ones, padded more at the end), squeezenet1.1 (max pooling at
 * stride 2, ceil_mode) and shufflenet (average pooling, padded) give the
 * same bits through the direct kernels as through the portable loops. */
START_TEST(window_paths_agree)
{
    if (window_select("avx512bw") != 0) {
        printf("window_paths_agree: skipped, no direct kernel on this CPU\n");
        return;
    }
    static const char *models[] = { "mobilenet_v2_1.0_224_quant-dequant.onnx",
                                    "mobilenetv2-12-int8.onnx", "squeezenet1.1.onnx",
                                    "shufflenet_quant-dequant.onnx",
                                    "v3-small_224_1.0_uint8-dequant.onnx" };
    for (int i = 0; i < 5; i++) {
        onnxq_model *m = test_open_shared_model(models[i]);
        if (!m)
            return;
        size_t n1, n2;
        ck_assert_int_eq(window_select("avx512bw"), 0);
        float *direct = run_once_threads(m, 2, &n1);
        ck_assert_int_eq(window_select("generic"), 0);
        float *portable = run_once_threads(m, 2, &n2);
        ck_assert_uint_eq(n1, n2);
        ck_assert_msg(memcmp(direct, portable, n1 * sizeof *direct) == 0,
                      "%s: the two paths differ", models[i]);
        free(direct);
        free(portable);
        onnxq_model_free(m);
    }
}
END_TEST

enum { TEAM_TASKS = 5000 };

typedef struct {
    _Atomic int runs[TEAM_TASKS];
    _Atomic int bad_worker;
    int size;
} team_tally;

static void count_task(void *arg, int64_t i, int worker)
{
    team_tally *t = arg;
    atomic_fetch_add(&t->runs[i], 1);
    if (worker < 0 || worker >= t->size)
        atomic_store(&t->bad_worker, 1);
}

static void count_range(void *arg, int64_t from, int64_t to, int worker)
{
    for (int64_t i = from; i < to; i++)
        count_task(arg, i, worker);
}

static void check_tally(team_tally *t, int64_t tasks, int round)
{
    /* One assertion per round: Check records every assertion it passes. */
    int64_t wrong = -1;
    for (int64_t i = 0; i < TEAM_TASKS; i++) {
        if (atomic_load(&t->runs[i]) != (i < tasks) && wrong < 0)
            wrong = i;
    }
    ck_assert_msg(wrong < 0, "round %d: task %lld of %lld ran %d times", round, (long long)wrong,
                  (long long)tasks, wrong < 0 ? 0 : atomic_load(&t->runs[wrong]));
    for (int64_t i = 0; i < TEAM_TASKS; i++)
        atomic_store(&t->runs[i], 0);
    ck_assert_msg(!atomic_load(&t->bad_worker), "round %d: a worker index out of range", round);
}

/* Loops of every size, back to back (the workers spinning) and with
 * pauses (the workers asleep, woken for the next): each task runs once. */
START_TEST(team_runs_every_task_once)
{
    static team_tally tally;
    for (int size = 1; size <= 3; size++) {
        team *t = team_create(size);
        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(team_size(t), size);
        tally.size = size;
        for (int round = 0; round < 3000; round++) {
            int64_t tasks = round % 5 == 0 ? round % 3 : (int64_t)(round * 7919) % TEAM_TASKS;
            if (round % 2)
                team_run(t, tasks, count_task, &tally);
            else
                team_run_ranges(t, tasks, round % 4 ? 1 : 1 << 30, count_range, &tally);
            check_tally(&tally, tasks, round);
            if (round % 500 == 499) {
                struct timespec pause = { 0, 2000000 }; /* 2 ms: longer than the spin */
                nanosleep(&pause, NULL);
            }
        }
        team_free(t);
    }
}
END_TEST

/* ---- A Conv and the MaxPool after it -------------------------------------------------- */

typedef struct {
    int64_t k, stride, pad;                  /* the convolution's */
    int64_t pool, pool_stride, pool_pad, ceil_mode;
} conv_pool_case;

/* x -> Conv -> Relu -> MaxPool -> y, 64 output channels; with `split`, the
 * Relu's output is a graph output too, which keeps the MaxPool apart. */
static onnxq_model *conv_pool_model(const conv_pool_case *t, int64_t ch, int split)
{
    Onnx__ModelProto *mp = tb_model_new();
    tb_add_value(mp, 0, "x", 4);
    int64_t m = 64, wd[4] = { m, ch, t->k, t->k };
    size_t nw = (size_t)(m * ch * t->k * t->k);
    float *w = malloc(nw * sizeof *w), b[64];
    uint64_t seed = 5;
    for (size_t i = 0; i < nw; i++)
        w[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
    for (int i = 0; i < 64; i++)
        b[i] = (float)(test_rand(&seed) % 2001) / 2000.0f - 0.5f;
    tb_set_raw(tb_add_tensor(mp, "w", 1, 4, wd), w, nw * sizeof *w);
    tb_set_raw(tb_add_tensor(mp, "b", 1, 1, &m), b, sizeof b);
    free(w);
    tb_add_node(mp, "Conv", (const char *[]){ "x", "w", "b" }, 3, "c", "group", 1);
    tb_add_ints(mp, "strides", (int64_t[]){ t->stride, t->stride }, 2);
    tb_add_ints(mp, "pads", (int64_t[]){ t->pad, t->pad, t->pad, t->pad }, 4);
    tb_add_node(mp, "Relu", (const char *[]){ "c" }, 1, "r", NULL, 0);
    tb_add_node(mp, "MaxPool", (const char *[]){ "r" }, 1, "y", "ceil_mode", t->ceil_mode);
    tb_add_ints(mp, "kernel_shape", (int64_t[]){ t->pool, t->pool }, 2);
    tb_add_ints(mp, "strides", (int64_t[]){ t->pool_stride, t->pool_stride }, 2);
    tb_add_ints(mp, "pads", (int64_t[]){ t->pool_pad, 0, t->pool_pad, t->pool_pad }, 4);
    tb_add_value(mp, 1, "y", 4);
    if (split)
        tb_add_value(mp, 1, "r", 4);
    return tb_load(mp, "convpool.onnx");
}

/* The MaxPool run inside the Conv, band by band (fold_pools), gives the
 * bits of the two run one after the other: pooling windows 3 x 3 (the
 * direct kernel) and 2 x 2, strides 1 and 2, padding on either side of
 * either, ceil_mode, one band and many, a batch of two, two threads. */
START_TEST(conv_pool_matches_separate)
{
    static const conv_pool_case cases[] = {
        { 3, 1, 1, 3, 2, 0, 0 }, { 3, 2, 0, 3, 2, 1, 1 }, { 1, 1, 0, 2, 2, 0, 0 },
        { 3, 1, 0, 3, 1, 1, 0 }, { 5, 1, 2, 3, 2, 0, 1 }, { 3, 2, 1, 2, 2, 1, 1 },
    };
    static const int64_t shapes[][4] = { { 1, 3, 9, 9 }, { 2, 5, 17, 23 }, { 1, 3, 61, 60 },
                                         { 1, 2, 7, 40 } };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++)
        for (size_t sh = 0; sh < sizeof shapes / sizeof *shapes; sh++) {
            const int64_t *d = shapes[sh];
            onnxq_model *fused = conv_pool_model(&cases[k], d[1], 0);
            onnxq_model *apart = conv_pool_model(&cases[k], d[1], 1);
            onnxq_engine *ef = engine_of(fused, 2), *ea = engine_of(apart, 2);
            onnxq_error err;
            /* Relu and MaxPool folded; only the Relu. */
            ck_assert_uint_eq(engine_folded_nodes(ef), 2);
            ck_assert_uint_eq(engine_folded_nodes(ea), 1);
            size_t nx = (size_t)(d[0] * d[1] * d[2] * d[3]);
            float *x = malloc(nx * sizeof *x);
            uint64_t seed = 17 + sh;
            for (size_t i = 0; i < nx; i++)
                x[i] = (float)(test_rand(&seed) % 2001) / 1000.0f - 1.0f;
            onnxq_tensor_view in = { ONNXQ_DTYPE_FLOAT, 4, { d[0], d[1], d[2], d[3] }, x };
            ck_assert_msg(onnxq_engine_run(ef, &in, 1, &err) == ONNXQ_OK, "%s", err.message);
            ck_assert_msg(onnxq_engine_run(ea, &in, 1, &err) == ONNXQ_OK, "%s", err.message);
            onnxq_tensor_view yf, ya;
            ck_assert_int_eq(onnxq_engine_output(ef, 0, &yf, &err), ONNXQ_OK);
            ck_assert_int_eq(onnxq_engine_output(ea, 0, &ya, &err), ONNXQ_OK);
            ck_assert_int_eq(yf.rank, 4);
            size_t ny = 1;
            for (int a = 0; a < 4; a++) {
                ck_assert_int_eq(yf.dims[a], ya.dims[a]);
                ny *= (size_t)yf.dims[a];
            }
            ck_assert_msg(memcmp(yf.data, ya.data, ny * sizeof(float)) == 0,
                          "case %zu, shape %zu: fused and separate differ", k, sh);
            free(x);
            onnxq_engine_free(ef);
            onnxq_engine_free(ea);
            onnxq_model_free(fused);
            onnxq_model_free(apart);
        }
}
END_TEST

/* ---- Global pooling ------------------------------------------------------------------ */

/* GlobalAveragePool and GlobalMaxPool side by side in one model: each
 * plane's sum taken in order, value by value, then divided by its area
 * (the maximum: a value replaces it only when greater), exactly, whatever
 * the planes are grouped by and however the threads split them.  Planes
 * not a multiple of eight, batches of one and three, and inputs large
 * enough to be split over two threads. */
START_TEST(global_pool_sums_in_order)
{
    Onnx__ModelProto *mp = tb_model_new();
    tb_add_value(mp, 0, "x", 4);
    tb_add_node(mp, "GlobalAveragePool", (const char *[]){ "x" }, 1, "avg", NULL, 0);
    tb_add_node(mp, "GlobalMaxPool", (const char *[]){ "x" }, 1, "max", NULL, 0);
    tb_add_value(mp, 1, "avg", 4);
    tb_add_value(mp, 1, "max", 4);
    onnxq_model *m = tb_load(mp, "global.onnx");
    onnxq_engine *e = engine_of(m, 2);
    onnxq_error err;
    /* batch, channels, height, width */
    static const int64_t shapes[][4] = { { 1, 1, 1, 1 },    { 1, 7, 3, 5 },  { 3, 13, 4, 4 },
                                         { 1, 1000, 13, 13 }, { 1, 1283, 7, 7 }, { 3, 345, 9, 11 } };
    uint64_t seed = 11;
    for (size_t k = 0; k < sizeof shapes / sizeof *shapes; k++) {
        const int64_t *d = shapes[k];
        int64_t planes = d[0] * d[1], area = d[2] * d[3];
        float *x = malloc(sizeof(float) * (size_t)(planes * area));
        for (int64_t i = 0; i < planes * area; i++)
            x[i] = (float)(test_rand(&seed) % 200001) / 1000.0f - 100.0f;
        onnxq_tensor_view in = { ONNXQ_DTYPE_FLOAT, 4, { d[0], d[1], d[2], d[3] }, x };
        ck_assert_msg(onnxq_engine_run(e, &in, 1, &err) == ONNXQ_OK, "%s", err.message);
        onnxq_tensor_view avg, max;
        ck_assert_int_eq(onnxq_engine_output(e, 0, &avg, &err), ONNXQ_OK);
        ck_assert_int_eq(onnxq_engine_output(e, 1, &max, &err), ONNXQ_OK);
        ck_assert_int_eq(avg.dims[1], d[1]);
        ck_assert_int_eq(avg.dims[2], 1);
        for (int64_t pl = 0; pl < planes; pl++) {
            float sum = 0.0f, top = -INFINITY;
            for (int64_t i = 0; i < area; i++) {
                float v = x[pl * area + i];
                sum += v;
                top = v > top ? v : top;
            }
            ck_assert_msg(((const float *)avg.data)[pl] == sum / (float)area,
                          "shape %zu plane %lld: average", k, (long long)pl);
            ck_assert_msg(((const float *)max.data)[pl] == top, "shape %zu plane %lld: maximum",
                          k, (long long)pl);
        }
        free(x);
    }
    onnxq_engine_free(e);
    onnxq_model_free(m);
}
END_TEST

static Suite *engine_suite(void)
{
    Suite *s = suite_create("engine");
    TCase *tc = tcase_create("engine");
    tcase_set_timeout(tc, 300);
    tcase_add_test(tc, compressed_model_runs_as_decompressed);
    tcase_add_test(tc, unsupported_operator_is_named);
    tcase_add_test(tc, wrong_inputs_are_refused);
    tcase_add_test(tc, corrupt_bitstream_fails_at_load);
    tcase_add_test(tc, concat_in_place_stays_right);
    tcase_add_test(tc, gemm_matches_reference);
    tcase_add_test(tc, igemm_matches_reference);
    tcase_add_test(tc, threads_change_no_bit);
    tcase_add_test(tc, team_runs_every_task_once);
    tcase_add_test(tc, qlinear_conv_paths_agree);
    tcase_add_test(tc, im2col_panels_match_rows);
    tcase_add_test(tc, depthwise_window_matches_reference);
    tcase_add_test(tc, pool_window_matches_reference);
    tcase_add_test(tc, window_paths_agree);
    tcase_add_test(tc, global_pool_sums_in_order);
    tcase_add_test(tc, conv_pool_matches_separate);
    suite_add_tcase(s, tc);
    return s;
}

int main(void) { return test_run_suite(engine_suite()); }
