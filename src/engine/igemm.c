/* igemm.c: the 8-bit GEMM (see igemm.h).
 *
 * B is packed a panel of 32 columns at a time, just before the tiles that
 * read it (all panels first when A is tall and k short, as in gemm.c):
 * four consecutive rows of B interleaved, so that the four bytes
 * of one column form the 32-bit lane vpdpbusd multiplies with four bytes
 * of a row of A.  A is used as it is, rows padded to a multiple of four
 * (the caller's layout, made once per weight).  Tiles are 6 rows of A by
 * the panel's 32 columns, 32-bit sums in registers, requantized to bytes
 * as they are stored. */
#include "igemm.h"
#include "cpu.h"
#include "lanes.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define IGEMM_X86 1
#define VNNI_TARGET "avx512f,avx512bw,avx512vl,avx512vnni"
#endif

enum { MR = 6, NR = 32 };

typedef void pack_fn(int64_t k, const uint8_t *b, int64_t ldb, int nr, int flip, uint8_t *panel);
typedef void tile_fn(int mr, int64_t kq, const int8_t *a, int64_t lda, const uint8_t *panel,
                     uint8_t *c, int64_t ldc, int nr, const igemm_out *o, int64_t row0);
/* C = requantize(A b + offset) for a single column b of k contiguous
 * bytes: a dot product per row. */
typedef void column_fn(int64_t m, int64_t k, const int8_t *a, const uint8_t *b,
                       const igemm_out *o, uint8_t *c, int64_t ldc);

/* ---- Plain C -------------------------------------------------------------------------- */

static void pack_generic(int64_t k, const uint8_t *b, int64_t ldb, int nr, int flip,
                         uint8_t *panel)
{
    uint8_t x = flip ? 0x80 : 0;
    for (int64_t p = 0; p < igemm_depth(k); p++)
        for (int j = 0; j < NR; j++)
            panel[(p / 4 * NR + j) * 4 + p % 4] = p < k && j < nr ? b[p * ldb + j] ^ x : 0;
}

/* Round half to even, for |v| < 2^22 (as ops_quant.c does). */
static inline float round_even(float v)
{
    const float magic = 12582912.0f;
    return (v + magic) - magic;
}

static inline int32_t requantize_one(int32_t sum, float mult, const igemm_out *o)
{
    float v = (float)sum * mult, lo = (float)(o->lo - o->zero), hi = (float)(o->hi - o->zero);
    v = v < lo ? lo : v;
    v = v > hi ? hi : v;
    return (int32_t)round_even(v) + o->zero;
}

static void tile_generic(int mr, int64_t kq, const int8_t *a, int64_t lda, const uint8_t *panel,
                         uint8_t *c, int64_t ldc, int nr, const igemm_out *o, int64_t row0)
{
    for (int r = 0; r < mr; r++)
        for (int j = 0; j < nr; j++) {
            int32_t sum = o->offset[row0 + r];
            for (int64_t p = 0; p < kq; p++)
                sum += (int32_t)a[r * lda + p] * (int32_t)panel[(p / 4 * NR + j) * 4 + p % 4];
            /* The byte pattern of the value, uint8 or int8 alike. */
            c[r * ldc + j] = (uint8_t)requantize_one(sum, o->mult[row0 + r], o);
        }
}

static void column_generic(int64_t m, int64_t k, const int8_t *a, const uint8_t *b,
                           const igemm_out *o, uint8_t *c, int64_t ldc)
{
    uint8_t x = o->flip_b ? 0x80 : 0;
    int64_t kq = igemm_depth(k);
    for (int64_t i = 0; i < m; i++) {
        int32_t sum = o->offset[i];
        for (int64_t p = 0; p < k; p++)
            sum += (int32_t)a[i * kq + p] * (int32_t)(uint8_t)(b[p] ^ x);
        c[i * ldc] = (uint8_t)requantize_one(sum, o->mult[i], o);
    }
}

/* ---- AVX-512 VNNI: 6 x 32 ------------------------------------------------------------- */

#ifdef IGEMM_X86

/* Rows p0 .. p0+3 of B, 16 columns from col, interleaved into 64 bytes:
 * column j's four bytes at 4 j.  Rows past k and columns past nr are 0. */
__attribute__((target(VNNI_TARGET))) static inline void pack_group(const uint8_t *b, int64_t ldb,
                                                                   int rows, __mmask16 cols,
                                                                   __m128i flip, uint8_t *dst)
{
    __m128i r[4];
    for (int q = 0; q < 4; q++)
        r[q] = q < rows ? _mm_xor_si128(_mm_maskz_loadu_epi8(cols, b + q * ldb), flip)
                        : _mm_setzero_si128();
    __m128i t0 = _mm_unpacklo_epi8(r[0], r[1]), t1 = _mm_unpackhi_epi8(r[0], r[1]);
    __m128i t2 = _mm_unpacklo_epi8(r[2], r[3]), t3 = _mm_unpackhi_epi8(r[2], r[3]);
    _mm_store_si128((__m128i *)dst, _mm_unpacklo_epi16(t0, t2));
    _mm_store_si128((__m128i *)(dst + 16), _mm_unpackhi_epi16(t0, t2));
    _mm_store_si128((__m128i *)(dst + 32), _mm_unpacklo_epi16(t1, t3));
    _mm_store_si128((__m128i *)(dst + 48), _mm_unpackhi_epi16(t1, t3));
}

__attribute__((target(VNNI_TARGET))) static void pack_vnni(int64_t k, const uint8_t *b,
                                                           int64_t ldb, int nr, int flip,
                                                           uint8_t *panel)
{
    __m128i x = _mm_set1_epi8(flip ? (char)0x80 : 0);
    __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
    for (int64_t p = 0; p < k; p += 4) {
        int rows = k - p < 4 ? (int)(k - p) : 4;
        uint8_t *dst = panel + p * NR;
        pack_group(b + p * ldb, ldb, rows, m0, x, dst);
        pack_group(b + p * ldb + 16, ldb, rows, m1, x, dst + 64);
    }
}

/* 16 sums to bytes: scaled, clamped, rounded half to even (the default
 * rounding mode of the conversion), the zero point added. */
__attribute__((target(VNNI_TARGET))) static inline void store16(__m512i sum, __m512 mult,
                                                                __m512 lo, __m512 hi,
                                                                __m512i zero, uint8_t *dst,
                                                                __mmask16 m)
{
    __m512 v = _mm512_mul_ps(_mm512_cvtepi32_ps(sum), mult);
    v = _mm512_min_ps(_mm512_max_ps(v, lo), hi);
    __m512i q = _mm512_add_epi32(_mm512_cvtps_epi32(v), zero);
    _mm_mask_storeu_epi8(dst, m, _mm512_cvtepi32_epi8(q));
}

static inline __attribute__((always_inline, target(VNNI_TARGET))) void tile_vnni_rows(
    const int mr, const int vecs, int64_t kq, const int8_t *a, int64_t lda, const uint8_t *panel,
    uint8_t *c, int64_t ldc, int nr, const igemm_out *o, int64_t row0)
{
    __m512i acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        acc0[r] = acc1[r] = _mm512_set1_epi32(o->offset[row0 + r]);
    for (int64_t p = 0; p < kq; p += 4) {
        __m512i b0 = _mm512_load_si512(panel + p * NR);
        __m512i b1 = vecs > 1 ? _mm512_load_si512(panel + p * NR + 64) : b0;
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            int32_t four;
            memcpy(&four, a + r * lda + p, sizeof four);
            __m512i av = _mm512_set1_epi32(four);
            acc0[r] = _mm512_dpbusd_epi32(acc0[r], b0, av);
            if (vecs > 1)
                acc1[r] = _mm512_dpbusd_epi32(acc1[r], b1, av);
        }
    }
    __m512 lo = _mm512_set1_ps((float)(o->lo - o->zero));
    __m512 hi = _mm512_set1_ps((float)(o->hi - o->zero));
    __m512i zero = _mm512_set1_epi32(o->zero);
    __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        __m512 mult = _mm512_set1_ps(o->mult[row0 + r]);
        store16(acc0[r], mult, lo, hi, zero, c + r * ldc, m0);
        if (vecs > 1)
            store16(acc1[r], mult, lo, hi, zero, c + r * ldc + 16, m1);
    }
}

__attribute__((target(VNNI_TARGET))) static void column_vnni(int64_t m, int64_t k,
                                                             const int8_t *a, const uint8_t *b,
                                                             const igemm_out *o, uint8_t *c,
                                                             int64_t ldc)
{
    int64_t kq = igemm_depth(k);
    __m512i flip = _mm512_set1_epi8(o->flip_b ? (char)0x80 : 0);
    for (int64_t i = 0; i < m; i++) {
        __m512i acc = _mm512_setzero_si512();
        for (int64_t p = 0; p < k; p += 64) {
            /* Past k, b reads as 0 (and a is 0 up to kq). */
            __mmask64 mask = k - p >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (k - p)) - 1;
            __m512i bv = _mm512_maskz_loadu_epi8(mask, b + p);
            bv = _mm512_maskz_mov_epi8(mask, _mm512_xor_si512(bv, flip));
            __mmask64 amask = kq - p >= 64 ? ~(__mmask64)0 : ((__mmask64)1 << (kq - p)) - 1;
            acc = _mm512_dpbusd_epi32(acc, bv, _mm512_maskz_loadu_epi8(amask, a + i * kq + p));
        }
        int32_t sum = o->offset[i] + _mm512_reduce_add_epi32(acc);
        c[i * ldc] = (uint8_t)requantize_one(sum, o->mult[i], o);
    }
}

__attribute__((target(VNNI_TARGET))) static void tile_vnni(int mr, int64_t kq, const int8_t *a,
                                                           int64_t lda, const uint8_t *panel,
                                                           uint8_t *c, int64_t ldc, int nr,
                                                           const igemm_out *o, int64_t row0)
{
    switch (mr) {
#define ROWS(R)                                                                        \
    case R:                                                                            \
        if (nr > 16)                                                                   \
            tile_vnni_rows(R, 2, kq, a, lda, panel, c, ldc, nr, o, row0);              \
        else                                                                           \
            tile_vnni_rows(R, 1, kq, a, lda, panel, c, ldc, nr, o, row0);              \
        break;
        ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)
#undef ROWS
    }
}
#endif /* IGEMM_X86 */

/* ---- Choosing a kernel ---------------------------------------------------------------- */

typedef struct kernel {
    const char *name;
    int fast;
    pack_fn *pack;
    tile_fn *tile;
    column_fn *column;
} kernel;

static const kernel kernels[] = {
#ifdef IGEMM_X86
    { "avx512vnni", 1, pack_vnni, tile_vnni, column_vnni },
#endif
    { "generic", 0, pack_generic, tile_generic, column_generic },
};
enum { KERNELS = sizeof kernels / sizeof kernels[0] };

static cpu_choice choice = { .table = kernels, .count = KERNELS, .size = sizeof *kernels };

static const kernel *chosen(void) { return cpu_chosen(&choice); }

int igemm_select(const char *name) { return cpu_select(&choice, name); }

int igemm_fast(void) { return chosen()->fast; }

const char *igemm_kernel_name(void) { return chosen()->name; }

int igemm_panel_width(void) { return NR; }

int igemm_row_tile(void) { return MR; }

size_t igemm_workspace(int64_t k, int64_t n)
{
    int64_t panels = (n + NR - 1) / NR;
    return (size_t)igemm_depth(k > 0 ? k : 1) * NR * (size_t)(panels > 0 ? panels : 1) + 64;
}

void igemm(int64_t m, int64_t n, int64_t k, const int8_t *a, const uint8_t *b, int64_t ldb,
           const igemm_out *o, void *c, int64_t ldc, void *work)
{
    const kernel *kn = chosen();
    int64_t kq = igemm_depth(k);
    uint8_t *panel = (uint8_t *)(((uintptr_t)work + 63) & ~(uintptr_t)63), *out = c;
    if (n == 1 && ldb == 1) {
        /* A matrix-vector product (a classifier at batch 1): one dot
         * product per row, no panel mostly empty. */
        kn->column(m, k, a, b, o, out, ldc);
        return;
    }
    if (m >= 4 * k) {
        /* Many rows, a short k: all of B packed, then each row tile across
         * every panel, writing its rows of C in long runs (as gemm.c). */
        for (int64_t j = 0; j < n; j += NR)
            kn->pack(k, b + j, ldb, n - j < NR ? (int)(n - j) : NR, o->flip_b, panel + j * kq);
        for (int64_t i = 0; i < m; i += MR)
            for (int64_t j = 0; j < n; j += NR)
                kn->tile(m - i < MR ? (int)(m - i) : MR, kq, a + i * kq, kq, panel + j * kq,
                         out + i * ldc + j, ldc, n - j < NR ? (int)(n - j) : NR, o, i);
        return;
    }
    for (int64_t j = 0; j < n; j += NR) {
        int nr = n - j < NR ? (int)(n - j) : NR;
        kn->pack(k, b + j, ldb, nr, o->flip_b, panel);
        for (int64_t i = 0; i < m; i += MR)
            kn->tile(m - i < MR ? (int)(m - i) : MR, kq, a + i * kq, kq, panel,
                     out + i * ldc + j, ldc, nr, o, i);
    }
}
