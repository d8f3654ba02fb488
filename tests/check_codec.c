/* check_codec.c: the entropy coder, the quantizers and tensor bitstreams. */
#include "config.h"
#include "common/crc32.h"
#include "decode/rans32.h"
#include "encode/adaptive_encode.h"
#include "encode/codec_encode.h"
#include "encode/grid.h"
#include "encode/lattice_find.h"
#include "encode/quantize.h"
#include "encode/rans32_encode.h"
#include "encode/symencode.h"
#include "model/onnx_io.h"
#include "testutil.h"

#include <check.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double urand(uint64_t *s) { return (double)(test_rand(s) >> 11) * (1.0 / 9007199254740992.0); }

static double laplace(uint64_t *s, double b)
{
    double u = urand(s) - 0.5;
    return -b * copysign(1.0, u) * log(1 - 2 * fabs(u) + 1e-300);
}

/* Encode, decode with an exactly sized workspace, compare. */
static size_t round_trip(const int32_t *q, size_t n)
{
    bytebuf out;
    bb_init(&out);
    ck_assert_int_eq(symcode_encode(q, n, SYMCODE_WIDE, &out), SYMCODE_OK);
    size_t ws_size = symcode_workspace_size(out.data, out.len);
    ck_assert_uint_gt(ws_size, 0);
    void *ws = malloc(ws_size);
    int32_t *back = malloc((n + 1) * sizeof *back);
    ck_assert_int_eq(symcode_decode(out.data, out.len, back, n, ws, ws_size - 1), SYMCODE_WORKSPACE);
    ck_assert_int_eq(symcode_decode(out.data, out.len, back, n, ws, ws_size), SYMCODE_OK);
    ck_assert(n == 0 || memcmp(q, back, n * sizeof *q) == 0);
    size_t len = out.len;
    free(ws);
    free(back);
    bb_free(&out);
    return len;
}

/* Wide rANS directly: encode with `lanes` states, decode with both
 * kernels to the indices, compare.  The stream's length. */
static void wide_escapes(void *ctx, const int32_t *q, size_t count, uint32_t *out)
{
    (void)ctx;
    memmove(out, q, count * sizeof *q);
}

static size_t wide_round_trip(const int32_t *q, size_t n, unsigned lanes)
{
    bytebuf out;
    bb_init(&out);
    int rc = rans32_encode(q, n, lanes, &out);
    ck_assert_int_ge(rc, 0);
    if (rc == 1) { /* more symbols than the mode takes: nothing written */
        ck_assert_uint_eq(out.len, 0);
        bb_free(&out);
        return 0;
    }
    rans32_stream h;
    ck_assert_int_eq(rans32_parse(out.data, out.len, &h), 0);
    ck_assert_uint_eq(h.lanes, lanes);
    size_t ws_size = rans32_workspace_size(&h);
    void *ws = malloc(ws_size);
    uint32_t lut[RANS32_MAX_SYMBOLS] = { 0 };
    ck_assert_int_eq(rans32_values(&h, (int32_t *)lut), 0);
    uint32_t *back = malloc((n + 1) * sizeof *back);
    for (int portable = 0; portable < 2; portable++) {
        rans32_force_portable(portable);
        memset(back, 0xA5, (n + 1) * sizeof *back);
        ck_assert_int_eq(rans32_decode(&h, n, lut, wide_escapes, NULL, back, ws, ws_size), 0);
        ck_assert_msg(memcmp(q, back, n * sizeof *q) == 0, "n %zu lanes %u portable %d", n, lanes, portable);
        ck_assert_uint_eq(back[n], 0xA5A5A5A5u); /* nothing written past the end */
    }
    rans32_force_portable(0);
    size_t len = out.len;
    free(ws);
    free(back);
    bb_free(&out);
    return len;
}

/* Every kind of alphabet (a dense run, a list, a run with escapes on one
 * or both sides), sizes that leave partial rounds and vector groups,
 * every lane count, contexts in use. */
START_TEST(wide_rans_round_trips)
{
    uint64_t seed = 777;
    const size_t sizes[] = { 1, 31, 32, 33, 511, 4096, 4097, 12345, 65536 + 17 };
    int32_t *q = malloc((70000) * sizeof *q);
    for (size_t z = 0; z < sizeof sizes / sizeof *sizes; z++) {
        size_t n = sizes[z];
        for (unsigned lanes = 1; lanes <= RANS32_LANES; lanes *= 2) {
            for (size_t i = 0; i < n; i++) /* dense */
                q[i] = (int32_t)lround(laplace(&seed, 2));
            wide_round_trip(q, n, lanes);
            for (size_t i = 0; i < n; i++) /* heavy tails: escapes both sides */
                q[i] = (int32_t)lround(laplace(&seed, 60));
            wide_round_trip(q, n, lanes);
            for (size_t i = 0; i < n; i++) /* a comb: the list form */
                q[i] = 37 * (int32_t)lround(laplace(&seed, 3));
            wide_round_trip(q, n, lanes);
            for (size_t i = 0; i < n; i++) /* one-sided, far from zero */
                q[i] = 5000 + (int32_t)(test_rand(&seed) % 300);
            wide_round_trip(q, n, lanes);
        }
    }
    /* Neighbours that share a scale: the coder uses contexts, and they pay. */
    size_t n = 65536;
    for (size_t i = 0; i < n; i += 64) {
        double b = (i / 64) % 2 ? 0.3 : 8;
        for (size_t j = 0; j < 64; j++)
            q[i + j] = (int32_t)lround(laplace(&seed, b));
    }
    bytebuf out;
    bb_init(&out);
    ck_assert_int_eq(rans32_encode(q, n, 32, &out), 0);
    rans32_stream h;
    ck_assert_int_eq(rans32_parse(out.data, out.len, &h), 0);
    ck_assert_uint_gt(h.n_ctx, 1);
    ck_assert_msg(out.len < 0.95 * n * symcode_entropy(q, n) / 8, "contexts: %zu bytes for entropy %.0f",
                  out.len, n * symcode_entropy(q, n) / 8);
    bb_free(&out);
    wide_round_trip(q, n, 32);
    free(q);
}
END_TEST

/* A damaged wide stream is refused, never decoded past its buffers. */
START_TEST(wide_rans_damage)
{
    uint64_t seed = 4242;
    const size_t n = 20000;
    int32_t *q = malloc(n * sizeof *q);
    for (size_t i = 0; i < n; i++)
        q[i] = (int32_t)lround(laplace(&seed, 40));
    bytebuf out;
    bb_init(&out);
    ck_assert_int_eq(rans32_encode(q, n, 32, &out), 0);
    uint32_t *back = malloc(n * sizeof *back), lut[RANS32_MAX_SYMBOLS] = { 0 };
    size_t refused = 0, tries = 0;
    for (size_t at = 0; at < out.len; at += 1 + out.len / 300) {
        for (int portable = 0; portable < 2; portable++) {
            rans32_force_portable(portable);
            out.data[at] ^= 0x10;
            rans32_stream h;
            int bad = rans32_parse(out.data, out.len, &h) != 0;
            if (!bad) {
                size_t ws_size = rans32_workspace_size(&h);
                void *ws = malloc(ws_size);
                bad = rans32_values(&h, (int32_t *)lut) != 0 ||
                      rans32_decode(&h, n, lut, wide_escapes, NULL, back, ws, ws_size) != 0 ||
                      memcmp(back, q, n * sizeof *q) != 0;
                free(ws);
            }
            refused += bad;
            tries++;
            out.data[at] ^= 0x10;
        }
        /* A stream cut short never decodes. */
        rans32_stream h;
        if (rans32_parse(out.data, at, &h) == 0) {
            size_t ws_size = rans32_workspace_size(&h);
            void *ws = malloc(ws_size);
            ck_assert_int_ne(rans32_decode(&h, n, lut, wide_escapes, NULL, back, ws, ws_size), 0);
            free(ws);
        }
    }
    rans32_force_portable(0);
    /* Flipped bits in the words change the symbols or the end states:
     * nearly every flip shows (the CRC catches the rest in a codec stream). */
    ck_assert_msg(refused >= tries * 9 / 10, "%zu of %zu damaged streams refused", refused, tries);
    free(back);
    free(q);
    bb_free(&out);
}
END_TEST

START_TEST(symcode_distributions)
{
    uint64_t seed = 12345;
    const size_t n = 50000;
    int32_t *q = malloc(n * sizeof *q);
    const double scales[] = {0.01, 0.3, 1, 4, 30, 700, 40000};
    for (size_t k = 0; k < sizeof scales / sizeof scales[0]; k++) {
        for (size_t i = 0; i < n; i++)
            q[i] = (int32_t)lround(laplace(&seed, scales[k]));
        round_trip(q, n);
    }
    /* A comb: few distinct values spread wide (already-quantized weights),
     * coded through the dictionary: far below the escape-coded size. */
    for (size_t i = 0; i < n; i++)
        q[i] = 37 * (int32_t)lround(laplace(&seed, 3)) + 5;
    double h = symcode_entropy(q, n);
    size_t comb = round_trip(q, n);
    ck_assert_msg(comb <= 1.01 * n * h / 8 + 256, "comb: %zu bytes for entropy %.0f", comb, n * h / 8);
    for (size_t i = 0; i < n; i++) /* one-sided, offset, and the extremes */
        q[i] = 1000 + (int32_t)(test_rand(&seed) % 7);
    round_trip(q, n);
    for (size_t i = 0; i < n; i++)
        q[i] = (i % 3) ? -(int32_t)(test_rand(&seed) % (1u << 29)) : (1 << 30) - 1;
    round_trip(q, n);
    memset(q, 0, n * sizeof *q);
    ck_assert_uint_lt(round_trip(q, n), 64); /* all zeros cost next to nothing */
    round_trip(q, 1);
    round_trip(q, 0);
    q[0] = 1 << 30;
    bytebuf out;
    bb_init(&out);
    ck_assert_int_eq(symcode_encode(q, 1, SYMCODE_WIDE, &out), SYMCODE_RANGE);
    bb_free(&out);
    free(q);
}
END_TEST

/* The coded size stays within 1 % (plus 64 bytes) of the 0th-order entropy. */
START_TEST(symcode_near_entropy)
{
    uint64_t seed = 99;
    const size_t sizes[] = {4096, 20000, 300000};
    const double scales[] = {0.2, 1.5, 6, 25};
    for (size_t a = 0; a < 3; a++) {
        size_t n = sizes[a];
        int32_t *q = malloc(n * sizeof *q);
        for (size_t k = 0; k < 4; k++) {
            for (size_t i = 0; i < n; i++)
                q[i] = (int32_t)lround(laplace(&seed, scales[k]));
            double h = symcode_entropy(q, n);
            size_t len = round_trip(q, n);
            ck_assert_msg(len <= 1.01 * n * h / 8 + 64, "n %zu scale %g: %zu bytes, entropy %.1f",
                          n, scales[k], len, n * h / 8);
        }
        free(q);
    }
}
END_TEST

/* v = Q(r k): the indices of weights quantized before with another scale. */
static int32_t stretched(lattice_form form, double r, double c, int32_t k)
{
    if (form == LATTICE_AFFINE)
        return (int32_t)floor(r * k + c);
    return (int32_t)copysign(floor(r * abs(k) + c), (double)k);
}

/* Such combs code as the lattice's integers: near the entropy, with the
 * lattice found from the values alone. */
START_TEST(symcode_lattices)
{
    static const struct {
        lattice_form form;
        double r, c;
    } cases[] = {
        {LATTICE_SYMMETRIC, 2.156, 0.5}, /* midtread over an int8 grid */
        {LATTICE_AFFINE, 1.869, 0},      /* midrise */
        {LATTICE_SYMMETRIC, 3.71, 0.3},  /* dead zone, sigma 0.7 */
        {LATTICE_SYMMETRIC, 29, 0.5},    /* an integer ratio */
    };
    uint64_t seed = 2024;
    const size_t n = 5000;
    int32_t *q = malloc(n * sizeof *q);
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        for (size_t i = 0; i < n; i++)
            q[i] = stretched(cases[c].form, cases[c].r, cases[c].c,
                             (int32_t)lround(laplace(&seed, 12)));
        double h = symcode_entropy(q, n);
        size_t len = round_trip(q, n);
        ck_assert_msg(len <= 1.01 * n * h / 8 + 64, "ratio %g: %zu bytes, entropy %.1f", cases[c].r,
                      len, n * h / 8);
    }
    /* The search itself: the ratio, and k for every value. */
    int32_t values[101], k[101];
    for (int j = -50; j <= 50; j++)
        values[j + 50] = stretched(LATTICE_SYMMETRIC, 2.156, 0.5, j);
    lattice l;
    ck_assert_int_eq(lattice_find(values, 101, &l, k), 0);
    ck_assert_msg(fabs((double)l.mul / 4294967296.0 - 2.156) < 0.01, "ratio %g",
                  (double)l.mul / 4294967296.0);
    for (int j = 0; j < 101; j++) {
        ck_assert_int_eq(k[j], j - 50);
        ck_assert_int_eq(lattice_value(&l, k[j]), values[j]);
    }
    /* A set on no evident grid: whatever is found must give back every
     * value exactly. */
    const int32_t odd[] = {-97, -13, 0, 2, 3, 50, 51, 400};
    if (lattice_find(odd, 8, &l, k) == 0)
        for (int j = 0; j < 8; j++)
            ck_assert_int_eq(lattice_value(&l, k[j]), odd[j]);
    free(q);
}
END_TEST

/* The stream's first byte: 0 marks the adaptive coder (docs/FORMAT.md). */
static int codes_adaptively(const int32_t *q, size_t n)
{
    bytebuf out;
    bb_init(&out);
    ck_assert_int_eq(symcode_encode(q, n, SYMCODE_WIDE, &out), SYMCODE_OK);
    int adaptive = out.data[0] == 0;
    bb_free(&out);
    return adaptive;
}

/* Small tensors with hundreds of distinct indices: a table can cost more
 * than the bound allows; the adaptive coder sends none. */
START_TEST(symcode_adaptive)
{
    uint64_t seed = 31;
    const size_t n = 4096;
    int32_t *q = malloc(n * sizeof *q);
    for (int shape = 0; shape < 3; shape++) {
        for (size_t i = 0; i < n; i++) {
            double x = laplace(&seed, 40);
            int32_t a = (int32_t)lround(fabs(x));
            if (shape == 1) { /* a minifloat's bit patterns: 3 mantissa bits */
                int e = a ? (int)floor(log2(a)) : 0;
                a = a < 8 ? a : 8 * (e - 2) + (a >> (e - 3)) - 8;
            } else if (shape == 2) { /* ranks with gaps: every third value */
                a *= 3;
            }
            q[i] = x < 0 ? -a : a;
        }
        double h = symcode_entropy(q, n);
        if (shape != 1) /* the minifloat's table fits the bound: rANS decodes faster */
            ck_assert_msg(codes_adaptively(q, n), "shape %d: coded with tables", shape);
        size_t len = round_trip(q, n);
        ck_assert_msg(len <= 1.01 * n * h / 8 + 64, "shape %d: %zu bytes, entropy %.1f", shape, len,
                      n * h / 8);
    }
    free(q);
}
END_TEST

/* The range coder alone: long runs of near-certain bits (carries through
 * runs of 0xFF bytes), the largest magnitudes, and streams that are one
 * byte short or long. */
START_TEST(adaptive_round_trip)
{
    const size_t n = 50000;
    int32_t *q = malloc(n * sizeof *q), *back = malloc(n * sizeof *back);
    void *ws = malloc(adaptive_workspace_size());
    uint64_t seed = 5;
    for (int c = 0; c < 3; c++) {
        for (size_t i = 0; i < n; i++) {
            uint32_t r = (uint32_t)test_rand(&seed);
            q[i] = c == 0 ? 100 : c == 1 ? (int32_t)(r % 2 ? (1 << 30) - 1 : 1 - (1 << 30))
                                          : (int32_t)(r >> 2) - (1 << 29);
        }
        for (int search = 0; search < 2; search++) {
            bytebuf out;
            bb_init(&out);
            ck_assert_int_eq(adaptive_encode(q, n, search, &out), 0);
            ck_assert_int_eq(adaptive_decode(out.data, out.len, back, n, ws), 0);
            ck_assert(memcmp(q, back, n * sizeof *q) == 0);
            ck_assert_int_ne(adaptive_decode(out.data, out.len - 1, back, n, ws), 0);
            bb_u8(&out, 0);
            ck_assert_int_ne(adaptive_decode(out.data, out.len, back, n, ws), 0);
            if (c == 0 && search) /* a certain symbol costs next to nothing */
                ck_assert_uint_lt(out.len, 64);
            bb_free(&out);
        }
    }
    free(ws);
    free(q);
    free(back);
}
END_TEST

/* The decoder's map: exact up to its limits, and its parameters checked. */
START_TEST(lattice_arithmetic)
{
    const uint64_t one = (uint64_t)1 << 32;
    const lattice cases[] = {
        {LATTICE_AFFINE, 3 * one + 12345, 0},
        {LATTICE_AFFINE, one + 1, one - 1},
        {LATTICE_SYMMETRIC, 7 * one / 3, one / 2},
        {LATTICE_SYMMETRIC, ((uint64_t)1 << 56) - 1, one},
    };
    for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
        const lattice *l = &cases[c];
        ck_assert(lattice_valid(l));
        int64_t km = (int64_t)lattice_k_max(l);
        const int64_t ks[] = {0, 1, -1, 7, -7, km / 2, -km / 2, km, -km};
        for (size_t i = 0; i < sizeof ks / sizeof ks[0]; i++) {
            /* A reference in 32-bit pieces: a mul = W 2^32 + f, 0 <= f < 2^32. */
            int64_t k = ks[i];
            uint64_t a = (uint64_t)(k < 0 ? -k : k), low = a * (l->mul & 0xffffffffu);
            uint64_t W = a * (l->mul >> 32) + (low >> 32), f = low & 0xffffffffu, o = l->offset;
            int64_t expect;
            if (k >= 0 || l->form == LATTICE_SYMMETRIC) {
                int64_t m = (int64_t)(W + ((f + o) >> 32));
                expect = k < 0 ? -m : m;
            } else { /* floor(-W + (o - f) / 2^32), with o - f in (-2^32, 2^32] */
                expect = -(int64_t)W + (o < f ? -1 : o - f == ((uint64_t)1 << 32) ? 1 : 0);
            }
            ck_assert_msg(lattice_value(l, k) == expect, "case %zu k %lld: %lld, expected %lld", c,
                          (long long)k, (long long)lattice_value(l, k), (long long)expect);
        }
    }
    const lattice bad[] = {
        {LATTICE_AFFINE, one, 0},             /* r = 1: not one to one past the data */
        {LATTICE_AFFINE, (uint64_t)1 << 56, 0},
        {LATTICE_SYMMETRIC, 2 * one, one + 1},
        {(lattice_form)2, 2 * one, 0},
    };
    for (size_t c = 0; c < sizeof bad / sizeof bad[0]; c++)
        ck_assert(!lattice_valid(&bad[c]));
}
END_TEST

/* Damaged streams never crash and are refused or decode to something. */
START_TEST(symcode_damage)
{
    uint64_t seed = 7;
    const size_t n = _i == 3 ? 5000 : 30000; /* tables cost too much at 5000 and scale 60 */
    int32_t *q = malloc(n * sizeof *q), *back = malloc(n * sizeof *back);
    for (size_t i = 0; i < n; i++) { /* plain; a lattice (r = 29); a dictionary (squares); adaptive */
        int32_t k = (int32_t)lround(laplace(&seed, _i == 3 ? 60 : 3));
        q[i] = _i == 0 || _i == 3 ? k : _i == 1 ? 29 * k : k * abs(k) * 7;
    }
    if (_i != 2) /* the dictionary's ranks may go either way */
        ck_assert_int_eq(codes_adaptively(q, n), _i == 3);
    bytebuf out;
    bb_init(&out);
    ck_assert_int_eq(symcode_encode(q, n, SYMCODE_WIDE, &out), SYMCODE_OK);
    static uint8_t ws[1 << 22];
    int refused = 0;
    for (size_t bit = 0; bit < out.len * 8; bit += 3 + out.len / 1000) {
        out.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        refused += symcode_decode(out.data, out.len, back, n, ws, sizeof ws) != SYMCODE_OK;
        out.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    for (size_t cut = 0; cut < out.len; cut += 17)
        ck_assert_int_ne(symcode_decode(out.data, cut, back, n, ws, sizeof ws), SYMCODE_OK);
    ck_assert_uint_gt(refused, 0);
    bb_free(&out);
    free(q);
    free(back);
}
END_TEST

/* ---- Quantizers ----------------------------------------------------------- */

static void quantize(quant_params *p, const float *w, size_t n, int32_t *q, float *r)
{
    ck_assert_int_eq(quant_prepare(p, w, n), 0);
    ck_assert_int_eq(quant_encode(p, w, n, q), 0);
    quant_decode(p, q, n, r);
}

START_TEST(uniform_quantizers)
{
    enum { N = 10000 };
    static float w[N], r[N];
    static int32_t q[N];
    uint64_t seed = 5;
    for (size_t i = 0; i < N; i++)
        w[i] = (float)laplace(&seed, 0.1);
    const double step = 1.0 / 64;
    quant_params p = {.kind = ONNXQ_QUANT_MIDTREAD, .step = step, .recon = 0.5};
    quantize(&p, w, N, q, r);
    for (size_t i = 0; i < N; i++) {
        ck_assert(fabs((double)w[i] - r[i]) <= step / 2 + 1e-9);
        ck_assert_int_eq(q[i], (int32_t)(copysign(floor(fabs(w[i]) / step + 0.5), w[i])));
    }
    p = (quant_params){.kind = ONNXQ_QUANT_MIDRISE, .step = step};
    quantize(&p, w, N, q, r);
    for (size_t i = 0; i < N; i++) {
        ck_assert(fabs((double)w[i] - r[i]) <= step / 2 + 1e-9);
        ck_assert(r[i] != 0);
    }
    p = (quant_params){.kind = ONNXQ_QUANT_DEADZONE, .step = step, .sigma = 0.7, .recon = 0.5};
    quantize(&p, w, N, q, r);
    for (size_t i = 0; i < N; i++) {
        if (fabs(w[i]) <= 0.7 * step)
            ck_assert(q[i] == 0 && r[i] == 0);
        else
            ck_assert(fabs((double)w[i] - r[i]) <= step / 2 + 1e-9 && q[i] != 0);
    }
    /* Laplacian centroid: between the bin's inner edge and its middle. */
    p = (quant_params){.kind = ONNXQ_QUANT_DEADZONE, .step = 0.05, .sigma = 0.5, .recon = -1};
    quantize(&p, w, N, q, r);
    ck_assert(p.recon > 0.3 && p.recon < 0.5);
    double c = laplace_centroid(1, 1);
    ck_assert_double_eq_tol(c, 1 - 1 / (exp(1) - 1), 1e-12);
    /* A step too small for the weights is refused. */
    p = (quant_params){.kind = ONNXQ_QUANT_MIDTREAD, .step = 1e-12, .recon = 0.5};
    ck_assert_int_eq(quant_encode(&p, w, N, q), -1);
}
END_TEST

START_TEST(nonuniform_quantizers)
{
    enum { N = 5000 };
    static float w[N], r[N];
    static int32_t q[N];
    uint64_t seed = 11;
    for (size_t i = 0; i < N; i++)
        w[i] = (float)laplace(&seed, 0.05);
    /* mu-law: monotone, exact at the peak, finer near zero. */
    quant_params p = {.kind = ONNXQ_QUANT_MULAW, .step = 1.0 / 128, .mu = 255};
    quantize(&p, w, N, q, r);
    for (size_t i = 0; i < N; i++)
        for (size_t j = i + 1; j < i + 5 && j < N; j++)
            if (w[i] < w[j])
                ck_assert(r[i] <= r[j]);
    for (double x = 0; x < 6; x += 0.01)
        ck_assert_double_eq_tol(det_exp(x), exp(x), exp(x) * 4e-16);
    /* Minifloat E5M10: values on the grid come back exactly. */
    const float grid[6] = {1.0f, -0.5f, 0.333251953125f, 65504.0f / 65536, 0.0f, -0.0001220703125f};
    p = (quant_params){.kind = ONNXQ_QUANT_FLOAT, .exp_bits = 5, .man_bits = 10};
    quantize(&p, grid, 6, q, r);
    for (int i = 0; i < 6; i++)
        ck_assert_msg(r[i] == grid[i], "%d: %.9g -> %.9g", i, grid[i], r[i]);
    /* E4M3 at 8 bits: 8 levels per octave, relative error at most 1/16. */
    p = (quant_params){.kind = ONNXQ_QUANT_FLOAT, .exp_bits = 4, .man_bits = 3};
    quantize(&p, w, N, q, r);
    for (size_t i = 0; i < N; i++) {
        ck_assert_int_lt(abs(q[i]), 128);
        if (fabs(w[i]) > ldexp(1.0, p.scale_exp - 6))
            ck_assert(fabs((double)r[i] - w[i]) <= fabs(w[i]) / 16 + 1e-12);
    }
    /* int8 symmetric and asymmetric: within half a scale, in range. */
    for (int sym = 0; sym < 2; sym++) {
        p = (quant_params){.kind = ONNXQ_QUANT_INT, .int_bits = 8, .symmetric = sym, .channels = 1};
        quantize(&p, w, N, q, r);
        for (size_t i = 0; i < N; i++) {
            ck_assert(fabs((double)r[i] - w[i]) <= p.scales[0] / 2 * 1.0001);
            if (sym)
                ck_assert(q[i] >= -127 && q[i] <= 127);
            else /* the stored value q + zero point is a uint8 */
                ck_assert(q[i] + p.zero_points[0] >= 0 && q[i] + p.zero_points[0] <= 255);
        }
        quant_free(&p);
    }
    /* Per channel: 4 channels of different scales. */
    for (size_t i = 0; i < N; i++)
        w[i] *= (float)(1 + (i / 1250) * 10);
    p = (quant_params){.kind = ONNXQ_QUANT_INT, .int_bits = 4, .symmetric = 1, .channels = 4, .inner = 1250};
    quantize(&p, w, N, q, r);
    ck_assert(p.scales[3] > 10 * p.scales[0]);
    for (size_t i = 0; i < N; i++)
        ck_assert(abs(q[i]) <= 7 && fabs((double)r[i] - w[i]) <= p.scales[i / 1250] / 2 * 1.0001);
    quant_free(&p);
}
END_TEST

/* ---- Bitstreams on real models --------------------------------------------- */

typedef struct qsetting {
    onnxq_quantizer kind;
    double sigma;
    int bits, symmetric, per_channel, laplace;
} qsetting;

static const qsetting settings[] = {
    {ONNXQ_QUANT_MIDRISE, 0, 8, 0, 0, 0},   {ONNXQ_QUANT_MIDTREAD, 0, 6, 0, 0, 1},
    {ONNXQ_QUANT_DEADZONE, 0.1, 8, 0, 0, 0}, {ONNXQ_QUANT_DEADZONE, 0.25, 5, 0, 0, 1},
    {ONNXQ_QUANT_DEADZONE, 0.4, 7, 0, 0, 0}, {ONNXQ_QUANT_DEADZONE, 0.7, 4, 0, 0, 0},
    {ONNXQ_QUANT_MULAW, 0, 8, 0, 0, 0},     {ONNXQ_QUANT_FLOAT, 0, 8, 0, 0, 0},
    {ONNXQ_QUANT_FLOAT, 0, 5, 0, 0, 0},     {ONNXQ_QUANT_INT, 0, 8, 1, 1, 0},
    {ONNXQ_QUANT_INT, 0, 4, 0, 0, 0},       {ONNXQ_QUANT_DEADZONE, 0.25, 7, 0, 1, 0},
    {ONNXQ_QUANT_MIDRISE, 0, 6, 0, 1, 0},
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const char *model_names[] = {
    "squeezenet1.1.onnx", "mobilenet_v1_0.25_224.onnx", "mobilenet_v2_1.0_224_quant-dequant.onnx",
    "shufflenet_quant-dequant.onnx", "v3-small_224_1.0_uint8-dequant.onnx", "mobilenetv2-12-int8.onnx",
};
#define N_MODELS (sizeof model_names / sizeof model_names[0])

static uint8_t *tensor_bytes(onnxq_model *m, size_t i, uint64_t *size)
{
    onnxq_tensor_info info;
    onnxq_model_tensor_info(m, i, &info);
    uint8_t *b = malloc(info.bytes + 1);
    onnxq_error err;
    ck_assert_int_eq(onnxq_tensor_read_raw(m, i, b, info.bytes, &err), ONNXQ_OK);
    *size = info.bytes;
    return b;
}

/* For each quantized tensor: the decoder's output equals the quantizer's
 * reconstruction of the original weights, bit for bit; and each lossless
 * tensor comes back byte for byte. */
static void check_model_setting(const char *model_name, const qsetting *s)
{
    onnxq_model *orig = test_open_shared_model(model_name), *m = test_open_shared_model(model_name);
    onnxq_compress_options o;
    onnxq_compress_defaults(&o);
    o.quantizer = s->kind;
    o.sigma = s->sigma;
    o.bits = s->bits;
    o.symmetric = s->symmetric;
    o.per_channel = s->per_channel;
    o.laplace_recon = s->laplace;
    o.fold = 0; /* the weights as they are, to compare with the original's */
    onnxq_error err;
    onnxq_compress_report *r;
    ck_assert_msg(onnxq_compress(m, &o, &r, &err) == ONNXQ_OK, "%s", err.message);
    ck_assert(onnxq_model_is_compressed(m));
    size_t quantized = 0;
    for (size_t i = 0; i < r->n_tensors; i++) {
        const onnxq_tensor_report *tr = &r->tensors[i];
        size_t oi = onnxq_model_find_tensor(orig, tr->name);
        ck_assert(oi != (size_t)-1);
        if (!strcmp(tr->method, "plain"))
            continue;
        char packed[600];
        snprintf(packed, sizeof packed, "%s::onnxq", tr->name);
        size_t pi = onnxq_model_find_tensor(m, packed);
        ck_assert_msg(pi != (size_t)-1, "%s missing", packed);
        uint64_t slen, olen;
        uint8_t *stream = tensor_bytes(m, pi, &slen);
        codec_info info;
        ck_assert_int_eq(codec_inspect(stream, slen, &info, packed, &err), ONNXQ_OK);
        uint8_t *out = malloc(info.bytes + 1);
        void *ws = malloc(info.workspace + 1);
        ck_assert_int_eq(codec_decode(stream, slen, out, info.bytes, ws, info.workspace, packed, &err),
                         ONNXQ_OK);
        uint8_t *original = tensor_bytes(orig, oi, &olen);
        ck_assert_uint_eq(olen, info.bytes);
        if (tr->grid) /* kept on the grid it had: exact */
            ck_assert(memcmp(out, original, olen) == 0);
        else if (!strcmp(tr->method, "quantized")) {
            quantized++;
            /* Rebuild independently with the parameters the stream records. */
            ck_assert_int_eq(info.dtype, 1);
            int32_t *q = malloc(info.elements * 4 + 4);
            float *expect = malloc(info.elements * 4 + 4);
            quant_params qp = info.quant;
            float *scales = NULL;
            if (qp.kind == ONNXQ_QUANT_INT) {
                scales = malloc(qp.channels * 4);
                memcpy(scales, qp.scales, qp.channels * 4);
                qp.scales = scales;
                qp.zero_points = NULL;
                /* The encoder's zero points come from the data again. */
                quant_params fresh = qp;
                fresh.scales = NULL;
                ck_assert_int_eq(quant_prepare(&fresh, (const float *)original, info.elements), 0);
                ck_assert(memcmp(fresh.scales, scales, qp.channels * 4) == 0);
                qp.zero_points = fresh.zero_points;
                free(fresh.scales);
            }
            float *steps = NULL;
            if (qp.chan_code) { /* per-channel steps: as the stream says, and as the encoder chose */
                steps = malloc(qp.channels * sizeof *steps);
                ck_assert_int_eq(quant_read_channel_steps(&qp, steps), 0);
                qp.chan_steps = steps;
                quant_params fresh = qp;
                fresh.chan_steps = NULL;
                fresh.want_channel_steps = 1;
                ck_assert_int_eq(quant_prepare(&fresh, (const float *)original, info.elements), 0);
                ck_assert(memcmp(fresh.chan_steps, steps, qp.channels * sizeof *steps) == 0);
                free(fresh.chan_steps);
                free(fresh.chan_exps);
            }
            ck_assert_int_eq(quant_encode(&qp, (const float *)original, info.elements, q), 0);
            quant_decode(&qp, q, info.elements, expect);
            ck_assert_msg(memcmp(expect, out, info.bytes) == 0, "%s %s: decode differs from the quantizer",
                          model_name, tr->name);
            free(steps);
            /* Coded size against the entropy of the indices.  On the
             * already-quantized models the uniform and int quantizers give
             * combs that code as lattices; mu-law, minifloat and
             * per-channel int indices of tensors of a few thousand weights
             * code adaptively, with no table. */
            /* (Per-channel steps on weights already quantized per
             * channel give a comb of another ratio in every channel,
             * which no one lattice describes: the guarantee does not
             * cover them.) */
            int gridded = strstr(model_name, "dequant") != NULL;
            if (info.elements >= 4096 && !(qp.chan_code && gridded))
                ck_assert_msg(tr->payload_bytes <= 1.01 * info.elements * tr->entropy / 8 + 64,
                              "%s %s: %llu bytes for entropy %.1f", model_name, tr->name,
                              (unsigned long long)tr->payload_bytes, info.elements * tr->entropy / 8);
            free(q);
            free(expect);
            free(scales);
            free(qp.zero_points);
        } else {
            ck_assert_msg(memcmp(original, out, olen) == 0, "%s %s: lossless tensor differs",
                          model_name, tr->name);
        }
        free(out);
        free(ws);
        free(original);
        free(stream);
    }
    /* The int8 model's weights are integers: none is quantized again. */
    if (strcmp(model_name, "mobilenetv2-12-int8.onnx"))
        ck_assert_uint_gt(quantized, 0);
    onnxq_compress_report_free(r);
    onnxq_model_free(m);
    onnxq_model_free(orig);
}

START_TEST(decode_equals_quantizer)
{
    const char *name = model_names[_i / N_SETTINGS];
    const qsetting *s = &settings[_i % N_SETTINGS];
    char *probe = test_shared_path("models");
    if (!probe) {
        fprintf(stderr, "SKIP: ../shared/models is absent (set ONNXQ_SHARED)\n");
        return;
    }
    free(probe);
    check_model_setting(name, s);
}
END_TEST

/* The seed paper's setting: midtread, 8 bits, every float tensor. */
START_TEST(paper_setting_squeezenet)
{
    onnxq_model *m = test_open_shared_model("squeezenet1.1.onnx");
    if (!m) {
        fprintf(stderr, "SKIP: ../shared/models is absent (set ONNXQ_SHARED)\n");
        return;
    }
    onnxq_compress_options o;
    onnxq_compress_defaults(&o);
    o.quantizer = ONNXQ_QUANT_MIDTREAD;
    o.bits = 8;
    o.min_size = 0;
    o.include_1d = 1;
    onnxq_compress_report *r;
    onnxq_error err;
    ck_assert_int_eq(onnxq_compress(m, &o, &r, &err), ONNXQ_OK);
    /* Every tensor, but those too small for a coded form to pay for its
     * Decode node: they stay plain, exact. */
    uint64_t plain = 0;
    for (size_t i = 0; i < r->n_tensors; i++)
        if (strcmp(r->tensors[i].method, "quantized")) {
            ck_assert_str_eq(r->tensors[i].method, "plain");
            ck_assert_uint_le(r->tensors[i].elements, 64);
            plain += r->tensors[i].elements;
        }
    ck_assert_uint_eq(r->quantized_parameters + plain, 1235496);
    ck_assert_uint_lt(plain, 1000);
    ck_assert_msg(r->quantized_payload_bytes <= 4.73 / 32 * r->original_bytes,
                  "payload %llu bytes, limit %.0f", (unsigned long long)r->quantized_payload_bytes,
                  4.73 / 32 * r->original_bytes);
    fprintf(stderr, "squeezenet1.1 midtread 8 bits: %.3f coded b/w, %.3f entropy b/w\n",
            8.0 * r->quantized_payload_bytes / r->quantized_parameters,
            r->quantized_entropy_bits / r->quantized_parameters);
    onnxq_compress_report_free(r);
    onnxq_model_free(m);
}
END_TEST

/* Flipped bits and truncation are caught by the CRC and refused. */
/* The bitstream of 3000 Laplacian weights (shape 30 x 100) under qp. */
static void encode_test_tensor(uint64_t seed, const quant_params *qp, bytebuf *out)
{
    float w[3000];
    for (int i = 0; i < 3000; i++)
        w[i] = (float)laplace(&seed, 0.05);
    int64_t dims[2] = {30, 100};
    codec_tensor t = {ONNXQ_DTYPE_FLOAT, 2, dims, 3000, NULL, 0};
    onnxq_error err;
    bb_init(out);
    ck_assert_int_eq(codec_encode_quantized(&t, w, qp, out, NULL, NULL, &err), ONNXQ_OK);
}

/* Set a stream's format version byte and its CRC to match. */
static void set_version(bytebuf *b, uint8_t version)
{
    b->data[4] = version;
    uint32_t crc = crc32_update(0, b->data, b->len - 4);
    for (int i = 0; i < 4; i++)
        b->data[b->len - 4 + i] = (uint8_t)(crc >> (8 * i));
}

/* Format 2 only added the lattice map: format 1 streams decode the same
 * way, and later formats are refused, not guessed at. */
START_TEST(format_versions)
{
    quant_params qp = {.kind = ONNXQ_QUANT_MIDTREAD, .step = 1.0 / 128, .sigma = 0.5, .recon = 0.5};
    bytebuf out;
    encode_test_tensor(5, &qp, &out);
    onnxq_error err;
    ck_assert_int_eq(out.data[4], CODEC_VERSION_NARROW); /* too few weights for wide rANS */
    static float now[3000], then[3000];
    static uint8_t ws[1 << 20];
    ck_assert_int_eq(codec_decode(out.data, out.len, now, sizeof now, ws, sizeof ws, "t", &err), ONNXQ_OK);
    set_version(&out, 1);
    ck_assert_int_eq(codec_decode(out.data, out.len, then, sizeof then, ws, sizeof ws, "t", &err), ONNXQ_OK);
    ck_assert(memcmp(now, then, sizeof now) == 0);
    set_version(&out, CODEC_VERSION + 1);
    ck_assert_int_eq(codec_decode(out.data, out.len, then, sizeof then, ws, sizeof ws, "t", &err),
                     ONNXQ_ERR_UNSUPPORTED);
    char expected[32];
    snprintf(expected, sizeof expected, "format %d", CODEC_VERSION + 1);
    ck_assert_msg(strstr(err.message, expected), "%s", err.message);
    bb_free(&out);
}
END_TEST

START_TEST(damaged_bitstreams)
{
    quant_params qp = {.kind = ONNXQ_QUANT_DEADZONE, .step = 1.0 / 128, .sigma = 0.25, .recon = 0.5};
    bytebuf out;
    encode_test_tensor(3, &qp, &out);
    onnxq_error err;
    static float back[3000];
    static uint8_t ws[1 << 20];
    ck_assert_int_eq(codec_decode(out.data, out.len, back, sizeof back, ws, sizeof ws, "t", &err), ONNXQ_OK);
    for (size_t bit = 0; bit < out.len * 8; bit++) {
        out.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        onnxq_status s = codec_decode(out.data, out.len, back, sizeof back, ws, sizeof ws, "t", &err);
        ck_assert_msg(s == ONNXQ_ERR_CORRUPT, "bit %zu: %s", bit, onnxq_status_name(s));
        out.data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
    }
    ck_assert(strstr(err.message, "t: corrupt onnxq bitstream"));
    for (size_t cut = 0; cut < out.len; cut++)
        ck_assert_int_eq(codec_decode(out.data, cut, back, sizeof back, ws, sizeof ws, "t", &err),
                         ONNXQ_ERR_CORRUPT);
    bb_free(&out);
}
END_TEST

/* --lossless: float tensors in byte planes come back exactly, and smaller. */
START_TEST(lossless_planes)
{
    onnxq_model *m = test_open_shared_model("squeezenet1.1.onnx");
    if (!m) {
        fprintf(stderr, "SKIP: ../shared/models is absent (set ONNXQ_SHARED)\n");
        return;
    }
    onnxq_model *orig = test_open_shared_model("squeezenet1.1.onnx");
    onnxq_compress_options o;
    onnxq_compress_defaults(&o);
    o.quantizer = ONNXQ_QUANT_NONE;
    onnxq_compress_report *r;
    onnxq_error err;
    ck_assert_int_eq(onnxq_compress(m, &o, &r, &err), ONNXQ_OK);
    ck_assert_uint_lt(r->coded_bytes, r->original_bytes * 3 / 4);
    ck_assert_int_eq(onnxq_decompress(m, &err), ONNXQ_OK);
    ck_assert(!onnxq_model_is_compressed(m));
    ck_assert_uint_eq(onnxq_model_tensor_count(m), onnxq_model_tensor_count(orig));
    for (size_t i = 0; i < onnxq_model_tensor_count(orig); i++) {
        uint64_t a_len, b_len;
        uint8_t *a = tensor_bytes(orig, i, &a_len);
        onnxq_tensor_info info;
        onnxq_model_tensor_info(orig, i, &info);
        size_t j = onnxq_model_find_tensor(m, info.name);
        ck_assert(j != (size_t)-1);
        uint8_t *b = tensor_bytes(m, j, &b_len);
        ck_assert(a_len == b_len && memcmp(a, b, a_len) == 0);
        free(a);
        free(b);
    }
    onnxq_compress_report_free(r);
    onnxq_model_free(m);
    onnxq_model_free(orig);
}
END_TEST

START_TEST(lossless_every_float_type)
{
    uint64_t seed = 21;
    const int types[4] = {ONNXQ_DTYPE_FLOAT, ONNXQ_DTYPE_FLOAT16, ONNXQ_DTYPE_BFLOAT16, ONNXQ_DTYPE_DOUBLE};
    const int ints[3] = {ONNXQ_DTYPE_INT8, ONNXQ_DTYPE_UINT8, ONNXQ_DTYPE_INT32};
    for (int k = 0; k < 7; k++) {
        int dt = k < 4 ? types[k] : ints[k - 4];
        uint64_t n = 2000, width = onnxq_dtype_bits(dt) / 8;
        uint8_t *raw = malloc(n * width), *back = malloc(n * width);
        for (uint64_t i = 0; i < n * width; i++)
            raw[i] = (uint8_t)(test_rand(&seed) >> 60); /* low-entropy bytes */
        int64_t dims[1] = {(int64_t)n};
        codec_tensor t = {dt, 1, dims, n, raw, n * width};
        codec_method method = k < 4 ? CODEC_PLANES : CODEC_INTEGER;
        bytebuf out;
        bb_init(&out);
        onnxq_error err;
        ck_assert_int_eq(codec_encode_lossless(&t, method, &out, NULL, &err), ONNXQ_OK);
        ck_assert_uint_lt(out.len, n * width);
        codec_info info;
        ck_assert_int_eq(codec_inspect(out.data, out.len, &info, "t", &err), ONNXQ_OK);
        void *ws = malloc(info.workspace + 1);
        ck_assert_int_eq(codec_decode(out.data, out.len, back, n * width, ws, info.workspace, "t", &err),
                         ONNXQ_OK);
        ck_assert(memcmp(raw, back, n * width) == 0);
        free(ws);
        bb_free(&out);
        free(raw);
        free(back);
    }
}
END_TEST

/* Values fl32(k s) on a grid of one scale per channel (channel = dim 0). */
static float *grid_values(uint32_t channels, uint64_t per, int top, uint64_t *seed, float *scales)
{
    float *x = malloc(channels * per * sizeof *x);
    for (uint32_t c = 0; c < channels; c++) {
        scales[c] = (float)(1e-3 * (1 + (double)(test_rand(seed) % 1000) / 37.0));
        for (uint64_t j = 0; j < per; j++) {
            int k = (int)(test_rand(seed) % (2 * (uint64_t)top + 1)) - top;
            if (j == 0)
                k = top; /* the largest index occurs, as int8 quantizers make it */
            x[c * per + j] = (float)((double)k * (double)scales[c]);
        }
    }
    return x;
}

START_TEST(grids_found_exactly)
{
    uint64_t seed = 5;
    float scales[64], found[64];
    /* One scale per channel: found per channel, not per tensor. */
    float *x = grid_values(64, 300, 127, &seed, scales);
    ck_assert_int_eq(grid_find(x, 64 * 300, 1, 64 * 300, found), -1);
    ck_assert_int_eq(grid_find(x, 64 * 300, 64, 300, found), 127);
    for (int c = 0; c < 64; c++)
        for (int j = 0; j < 300; j++) {
            float v = x[c * 300 + j];
            double k = nearbyint((double)v / found[c]);
            ck_assert((float)(k * (double)found[c]) == v);
        }
    /* A tensor-wide grid with absent neighbours (only even indices). */
    for (int i = 0; i < 64 * 300; i++)
        x[i] = (float)(2.0 * (double)((int)(test_rand(&seed) % 101) - 50) * (double)0.0123f);
    ck_assert_int_ge(grid_find(x, 64 * 300, 1, 64 * 300, found), 50);
    /* Weights of a float model lie on no grid. */
    for (int i = 0; i < 64 * 300; i++)
        x[i] = (float)((double)(test_rand(&seed) % 1000000) / 1e6 - 0.5) * 0.1f;
    ck_assert_int_eq(grid_find(x, 64 * 300, 1, 64 * 300, found), -1);
    ck_assert_int_eq(grid_find(x, 64 * 300, 64, 300, found), -1);
    x[7] = NAN;
    ck_assert_int_eq(grid_find(x, 64 * 300, 1, 64 * 300, found), -1);
    free(x);
}
END_TEST

/* A model of one Conv weight on a per-channel int8 grid: lossless and
 * quantized at a step near the grid's both keep it bit for bit, and a
 * much coarser step requantizes it. */
START_TEST(grids_kept_by_compression)
{
    uint64_t seed = 9;
    float scales[32];
    float *x = grid_values(32, 16 * 9, 127, &seed, scales);
    double median = 0;
    for (int mode = 0; mode < 3; mode++) {
        Onnx__ModelProto *mp = tb_model_new();
        int64_t dims[4] = {32, 16, 3, 3};
        Onnx__TensorProto *t = tb_add_tensor(mp, "w", ONNXQ_DTYPE_FLOAT, 4, dims);
        tb_set_raw(t, x, 32 * 16 * 9 * sizeof *x);
        const char *in[2] = {"x", "w"};
        tb_add_node(mp, "Conv", in, 2, "y", NULL, 0);
        tb_add_value(mp, 0, "x", 4);
        tb_add_value(mp, 1, "y", 4);
        onnxq_model *m = tb_load(mp, "grid");
        onnxq_compress_options o;
        onnxq_compress_defaults(&o);
        if (mode == 0) {
            o.quantizer = ONNXQ_QUANT_NONE;
        } else {
            float sorted[32];
            memcpy(sorted, scales, sizeof sorted);
            for (int a = 0; a < 32; a++)
                for (int b = a + 1; b < 32; b++)
                    if (sorted[b] < sorted[a]) {
                        float tmp = sorted[a];
                        sorted[a] = sorted[b];
                        sorted[b] = tmp;
                    }
            median = sorted[16];
            o.step_mode = ONNXQ_STEP_FIXED;
            o.step = mode == 1 ? median : 8 * median;
        }
        onnxq_compress_report *r;
        onnxq_error err;
        ck_assert_int_eq(onnxq_compress(m, &o, &r, &err), ONNXQ_OK);
        ck_assert_int_eq(r->tensors[0].grid, mode < 2);
        ck_assert_str_eq(r->tensors[0].method, mode == 0 ? "grid" : "quantized");
        if (mode < 2) /* the integers' entropy, not the floats' 32 bits */
            ck_assert_uint_lt(r->coded_bytes * 8, (uint64_t)(32 * 16 * 9) * 9);
        ck_assert_int_eq(onnxq_decompress(m, &err), ONNXQ_OK);
        float *back = malloc(sizeof *back * 32 * 16 * 9);
        ck_assert_int_eq(onnxq_tensor_read_float(m, 0, back, 32 * 16 * 9, &err), ONNXQ_OK);
        int same = memcmp(back, x, sizeof *back * 32 * 16 * 9) == 0;
        ck_assert_int_eq(same, mode < 2);
        free(back);
        onnxq_compress_report_free(r);
        onnxq_model_free(m);
    }
    free(x);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("codec");
    TCase *tc = tcase_create("entropy coder");
    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, symcode_distributions);
    tcase_add_test(tc, wide_rans_round_trips);
    tcase_add_test(tc, wide_rans_damage);
    tcase_add_test(tc, symcode_near_entropy);
    tcase_add_test(tc, symcode_lattices);
    tcase_add_test(tc, lattice_arithmetic);
    tcase_add_test(tc, symcode_adaptive);
    tcase_add_test(tc, adaptive_round_trip);
    tcase_add_loop_test(tc, symcode_damage, 0, 4);
    suite_add_tcase(s, tc);
    TCase *tq = tcase_create("quantizers");
    tcase_add_test(tq, uniform_quantizers);
    tcase_add_test(tq, nonuniform_quantizers);
    suite_add_tcase(s, tq);
    TCase *tb = tcase_create("bitstreams");
    tcase_set_timeout(tb, 300);
    tcase_add_test(tb, damaged_bitstreams);
    tcase_add_test(tb, format_versions);
    tcase_add_test(tb, lossless_every_float_type);
    tcase_add_test(tb, lossless_planes);
    tcase_add_test(tb, grids_found_exactly);
    tcase_add_test(tb, grids_kept_by_compression);
    tcase_add_test(tb, paper_setting_squeezenet);
    tcase_add_loop_test(tb, decode_equals_quantizer, 0, (int)(N_MODELS * N_SETTINGS));
    suite_add_tcase(s, tb);
    return test_run_suite(s);
}
