/* gemm.c: the engine's single-precision matrix product (see gemm.h).
 *
 * The classic register-tile scheme: B is copied, NR columns at a time, into
 * a contiguous panel (k rows of NR floats, zero-padded past n), and a
 * micro-kernel multiplies MR rows of A by the panel with MR x NR sums held
 * in vector registers from the first p to the last, so each element of A
 * and of the panel is loaded once per tile.  MR = 6 rows and NR = two
 * vectors make 12 accumulators: enough independent multiply-adds to keep
 * both FMA units busy, few enough to leave registers for the operands.
 * All of B is packed first; A is then taken in blocks of rows, each run
 * against every panel.  There is no blocking over k: the models' k stays
 * in the low thousands, where a panel still sits in L2. */
#include "config.h"
#include "gemm.h"
#include "cpu.h"
#include "lanes.h"

#include <stdlib.h>
#include <string.h>

#if defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
#define GEMM_X86 1
#include <immintrin.h>
#endif

enum { MR = 6, WIDEST = 32 };

typedef void tile_fn(int mr, int64_t k, const float *a, int64_t lda, const float *panel,
                     float *c, int64_t ldc, int nr, const float *bias, float lo, float hi);
typedef void pack_fn(int64_t k, const float *b, int64_t ldb, int nr, float *panel);
/* C = clamp(A b + bias) for a single column b: rows of C across the
 * vector lanes, each the same chain of multiply-adds as in a tile. */
typedef void column_fn(int64_t m, int64_t k, const float *a, int64_t lda, const float *b,
                       int64_t ldb, float *c, int64_t ldc, const float *bias, float lo, float hi);

/* Copy the first nr columns of B (k rows) into a panel of `width` columns,
 * zero past nr. */
static inline __attribute__((always_inline)) void pack_rows(int64_t k, const float *b,
                                                            int64_t ldb, int nr, int width,
                                                            float *panel)
{
    for (int64_t p = 0; p < k; p++) {
        const float *src = b + p * ldb;
        float *dst = panel + p * width;
        if (nr == width) {
            for (int x = 0; x < width; x++)
                dst[x] = src[x];
        } else {
            for (int x = 0; x < nr; x++)
                dst[x] = src[x];
            for (int x = nr; x < width; x++)
                dst[x] = 0.0f;
        }
    }
}

/* x clamped to [lo, hi]; a NaN stays NaN, as it does in the vector
 * kernels, whose max and min return their second operand when one is NaN
 * and so are given x second. */
static inline float clamp(float x, float lo, float hi) { return x < lo ? lo : x > hi ? hi : x; }

/* Store rows of `width` sums into C, nr columns of each. */
static void store_edge(const float *sums, int mr, int width, float *c, int64_t ldc, int nr)
{
    for (int r = 0; r < mr; r++)
        memcpy(c + r * ldc, sums + r * width, (size_t)nr * sizeof *c);
}

/* ---- Plain C: 6 x 8, for whatever vectors the baseline target has --------------------- */

/* Four floats: SSE on x86-64, NEON on arm64, pairs of scalars elsewhere. */
typedef float vec4 __attribute__((vector_size(16)));

static inline __attribute__((always_inline)) void tile_generic_rows(
    const int mr, int64_t k, const float *a, int64_t lda, const float *panel, float *c,
    int64_t ldc, int nr, const float *bias, float lo, float hi)
{
    vec4 acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        acc0[r] = acc1[r] = (vec4){ 0, 0, 0, 0 } + (bias ? bias[r] : 0.0f);
    for (int64_t p = 0; p < k; p++) {
        vec4 b0, b1;
        memcpy(&b0, panel + p * 8, sizeof b0);
        memcpy(&b1, panel + p * 8 + 4, sizeof b1);
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            float av = a[r * lda + p];
            acc0[r] += av * b0;
            acc1[r] += av * b1;
        }
    }
    float sums[MR * 8];
    for (int r = 0; r < mr; r++)
        for (int x = 0; x < 4; x++) {
            sums[r * 8 + x] = clamp(acc0[r][x], lo, hi);
            sums[r * 8 + 4 + x] = clamp(acc1[r][x], lo, hi);
        }
    store_edge(sums, mr, 8, c, ldc, nr);
}

static void pack_generic(int64_t k, const float *b, int64_t ldb, int nr, float *panel)
{
    pack_rows(k, b, ldb, nr, 8, panel);
}

static void tile_generic(int mr, int64_t k, const float *a, int64_t lda, const float *panel,
                         float *c, int64_t ldc, int nr, const float *bias, float lo, float hi)
{
    switch (mr) {
#define ROWS(R) case R: tile_generic_rows(R, k, a, lda, panel, c, ldc, nr, bias, lo, hi); break;
        ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)
#undef ROWS
    }
}

#ifdef GEMM_X86

/* ---- AVX2 + FMA: 6 x 16 ------------------------------------------------------------- */

static inline __attribute__((always_inline, target("avx2,fma"))) void tile_avx2_rows(
    const int mr, const int vecs, int64_t k, const float *a, int64_t lda, const float *panel, float *c,
    int64_t ldc, int nr, const float *bias, float lo, float hi)
{
    __m256 acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        acc0[r] = acc1[r] = _mm256_set1_ps(bias ? bias[r] : 0.0f);
    for (int64_t p = 0; p < k; p++) {
        __m256 b0 = _mm256_load_ps(panel + p * 16);
        __m256 b1 = vecs > 1 ? _mm256_load_ps(panel + p * 16 + 8) : b0;
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m256 av = _mm256_broadcast_ss(a + r * lda + p);
            acc0[r] = _mm256_fmadd_ps(av, b0, acc0[r]);
            if (vecs > 1)
                acc1[r] = _mm256_fmadd_ps(av, b1, acc1[r]);
        }
    }
    __m256 vlo = _mm256_set1_ps(lo), vhi = _mm256_set1_ps(hi);
    float edge[MR * 16] __attribute__((aligned(32)));
    int full = nr == 16;
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        __m256 y0 = _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc0[r]));
        float *dst = full ? c + r * ldc : edge + r * 16;
        _mm256_storeu_ps(dst, y0);
        if (vecs > 1)
            _mm256_storeu_ps(dst + 8, _mm256_min_ps(vhi, _mm256_max_ps(vlo, acc1[r])));
    }
    if (!full)
        store_edge(edge, mr, 16, c, ldc, nr);
}

__attribute__((target("avx2,fma"))) static void pack_avx2(int64_t k, const float *b,
                                                          int64_t ldb, int nr, float *panel)
{
    pack_rows(k, b, ldb, nr, 16, panel);
}

__attribute__((target("avx2,fma"))) static void tile_avx2(int mr, int64_t k, const float *a,
                                                          int64_t lda, const float *panel,
                                                          float *c, int64_t ldc, int nr,
                                                          const float *bias, float lo, float hi)
{
    switch (mr) {
#define ROWS(R)                                                                      \
    case R:                                                                          \
        if (nr > 8)                                                                  \
            tile_avx2_rows(R, 2, k, a, lda, panel, c, ldc, nr, bias, lo, hi);        \
        else                                                                         \
            tile_avx2_rows(R, 1, k, a, lda, panel, c, ldc, nr, bias, lo, hi);        \
        break;
        ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)
#undef ROWS
    }
}

/* ---- AVX-512: 6 x 32 ----------------------------------------------------------------- */

static inline __attribute__((always_inline, target("avx512f"))) void tile_avx512_rows(
    const int mr, const int vecs, int64_t k, const float *a, int64_t lda, const float *panel, float *c,
    int64_t ldc, int nr, const float *bias, float lo, float hi)
{
    __m512 acc0[MR], acc1[MR];
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++)
        acc0[r] = acc1[r] = _mm512_set1_ps(bias ? bias[r] : 0.0f);
    for (int64_t p = 0; p < k; p++) {
        __m512 b0 = _mm512_load_ps(panel + p * 32);
        __m512 b1 = vecs > 1 ? _mm512_load_ps(panel + p * 32 + 16) : b0;
#pragma GCC unroll 6
        for (int r = 0; r < mr; r++) {
            __m512 av = _mm512_set1_ps(a[r * lda + p]);
            acc0[r] = _mm512_fmadd_ps(av, b0, acc0[r]);
            if (vecs > 1)
                acc1[r] = _mm512_fmadd_ps(av, b1, acc1[r]);
        }
    }
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
#pragma GCC unroll 6
    for (int r = 0; r < mr; r++) {
        __m512 y0 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc0[r]));
        _mm512_mask_storeu_ps(c + r * ldc, m0, y0);
        if (vecs > 1) {
            __m512 y1 = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc1[r]));
            _mm512_mask_storeu_ps(c + r * ldc + 16, m1, y1);
        }
    }
}

__attribute__((target("avx512f"))) static void pack_avx512(int64_t k, const float *b,
                                                           int64_t ldb, int nr, float *panel)
{
    __mmask16 m0 = first_lanes(nr), m1 = first_lanes(nr - 16);
    for (int64_t p = 0; p < k; p++) {
        const float *src = b + p * ldb;
        _mm512_store_ps(panel + p * 32, _mm512_maskz_loadu_ps(m0, src));
        _mm512_store_ps(panel + p * 32 + 16, _mm512_maskz_loadu_ps(m1, src + 16));
    }
}

/* Sixteen rows at a time, A's column p gathered (a single column of B
 * leaves a tile's lanes idle but one). */
__attribute__((target("avx512f"))) static void column_avx512(int64_t m, int64_t k,
                                                             const float *a, int64_t lda,
                                                             const float *b, int64_t ldb,
                                                             float *c, int64_t ldc,
                                                             const float *bias, float lo, float hi)
{
    const __m512i lanes = _mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0);
    __m512i rows = _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)lda));
    __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi);
    for (int64_t i = 0; i < m; i += 16) {
        __mmask16 live = first_lanes((int)(m - i < 16 ? m - i : 16));
        __m512 acc = bias ? _mm512_maskz_loadu_ps(live, bias + i) : _mm512_setzero_ps();
        const float *ai = a + i * lda;
        for (int64_t p = 0; p < k; p++) {
            __m512 av = _mm512_mask_i32gather_ps(_mm512_setzero_ps(), live, rows, ai + p, 4);
            acc = _mm512_fmadd_ps(av, _mm512_set1_ps(b[p * ldb]), acc);
        }
        __m512 y = _mm512_min_ps(vhi, _mm512_max_ps(vlo, acc));
        if (ldc == 1)
            _mm512_mask_storeu_ps(c + i, live, y);
        else
            _mm512_mask_i32scatter_ps(c + i * ldc, live,
                                      _mm512_mullo_epi32(lanes, _mm512_set1_epi32((int)ldc)), y,
                                      4);
    }
}

__attribute__((target("avx512f"))) static void tile_avx512(int mr, int64_t k, const float *a,
                                                           int64_t lda, const float *panel,
                                                           float *c, int64_t ldc, int nr,
                                                           const float *bias, float lo, float hi)
{
    switch (mr) {
#define ROWS(R)                                                                      \
    case R:                                                                          \
        if (nr > 16)                                                                 \
            tile_avx512_rows(R, 2, k, a, lda, panel, c, ldc, nr, bias, lo, hi);      \
        else                                                                         \
            tile_avx512_rows(R, 1, k, a, lda, panel, c, ldc, nr, bias, lo, hi);      \
        break;
        ROWS(1) ROWS(2) ROWS(3) ROWS(4) ROWS(5) ROWS(6)
#undef ROWS
    }
}

#endif /* GEMM_X86 */

/* ---- Choosing a kernel ------------------------------------------------------------- */

typedef struct kernel {
    const char *name;
    int width; /* NR */
    tile_fn *tile;
    pack_fn *pack;
    column_fn *column; /* NULL: a single column runs in tiles too */
} kernel;

static const kernel kernels[] = {
#ifdef GEMM_X86
    { "avx512", 32, tile_avx512, pack_avx512, column_avx512 },
    { "avx2", 16, tile_avx2, pack_avx2, NULL },
#endif
    { "generic", 8, tile_generic, pack_generic, NULL },
};
enum { KERNELS = sizeof kernels / sizeof kernels[0] };

static cpu_choice choice = { .table = kernels, .count = KERNELS, .size = sizeof *kernels,
                             .env = "ONNXQ_GEMM" };

static const kernel *chosen(void) { return cpu_chosen(&choice); }

int gemm_select(const char *name) { return cpu_select(&choice, name); }

size_t gemm_workspace_floats(int64_t k, int64_t n)
{
    /* B's panels, as wide as the widest kernel's, plus room to align them
     * to 64 bytes. */
    int64_t panels = (n + WIDEST - 1) / WIDEST;
    return (size_t)(k > 0 ? k : 1) * (size_t)(panels > 0 ? panels : 1) * WIDEST + 16;
}

int gemm_panel_width(void) { return chosen()->width; }

int gemm_row_tile(void) { return MR; }

const char *gemm_kernel_name(void) { return chosen()->name; }

/* Rows of A in blocks of about 128 KiB, each run against every panel
 * while it stays in L2: a tall A (a classifier's thousand rows) would
 * otherwise stream from memory once per panel. */
static int64_t row_block(int64_t k)
{
    int64_t block = (int64_t)(32 * 1024) / (k > 0 ? k : 1) / MR * MR;
    return block < MR ? MR : block;
}

/* B's panels in the workspace, 64-byte aligned. */
static float *panels_in(float *work)
{
    return (float *)(((uintptr_t)work + 63) & ~(uintptr_t)63);
}

/* B as a matrix, or as a packing function (gemm_source). */
typedef struct {
    const float *b;
    int64_t ldb;
    const gemm_source *source;
} b_operand;

/* Columns [j, j + nr) of B (k rows) into a panel. */
static void pack_panel(const kernel *kn, int64_t k, const b_operand *b, int64_t j, int nr,
                       float *panel)
{
    if (b->source)
        b->source->pack(b->source, j, nr, kn->width, panel);
    else
        kn->pack(k, b->b + j, b->ldb, nr, panel);
}

/* All of B (k x n) into panels, one after another. */
static void pack_panels(const kernel *kn, int64_t k, const b_operand *b, int64_t n,
                        float *panels)
{
    for (int64_t j = 0; j < n; j += kn->width)
        pack_panel(kn, k, b, j, n - j < kn->width ? (int)(n - j) : kn->width,
                   panels + j / kn->width * k * kn->width);
}

/* All of B packed: A's rows in blocks (row_block), each block's tiles run
 * against every panel. */
static void row_blocks(const kernel *kn, int64_t m, int64_t n, int64_t k, const float *a,
                       int64_t lda, const float *panels, float *c, int64_t ldc,
                       const float *bias, float lo, float hi)
{
    int64_t width = kn->width, block = row_block(k);
    for (int64_t i0 = 0; i0 < m; i0 += block) {
        int64_t i1 = m - i0 < block ? m : i0 + block;
        for (int64_t j = 0; j < n; j += width) {
            int nr = n - j < width ? (int)(n - j) : (int)width;
            const float *panel = panels + j / width * k * width;
            for (int64_t i = i0; i < i1; i += MR)
                kn->tile(i1 - i < MR ? (int)(i1 - i) : MR, k, a + i * lda, lda, panel,
                         c + i * ldc + j, ldc, nr, bias ? bias + i : NULL, lo, hi);
        }
    }
}

static void run(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const b_operand *b,
                float *c, int64_t ldc, const float *bias, float lo, float hi, float *work)
{
    const kernel *kn = chosen();
    int64_t width = kn->width, panel_floats = k * width;
    float *panels = panels_in(work);
    if (n == 1 && !b->source && kn->column && lda * 16 <= INT32_MAX && ldc * 16 <= INT32_MAX) {
        /* A matrix-vector product (a classifier's 1 x 1 convolution). */
        kn->column(m, k, a, lda, b->b, b->ldb, c, ldc, bias, lo, hi);
        return;
    }
    int64_t block = row_block(k);
    if (m <= block && m >= 4 * k) {
        /* One block, many rows and a short k (a pointwise convolution that
         * expands its channels): B is small, so all of it is packed once
         * and each row tile runs across every panel, writing its rows of C
         * in long runs (per panel, each tile would write a few lines of
         * each of its rows, far apart in memory): 30 % faster for m = 96,
         * k = 16, where the other order is 25 % faster for m = 24,
         * k = 144. */
        pack_panels(kn, k, b, n, panels);
        for (int64_t i = 0; i < m; i += MR)
            for (int64_t j = 0; j < n; j += width)
                kn->tile(m - i < MR ? (int)(m - i) : MR, k, a + i * lda, lda,
                         panels + j / width * panel_floats, c + i * ldc + j, ldc,
                         n - j < width ? (int)(n - j) : (int)width, bias ? bias + i : NULL, lo,
                         hi);
        return;
    }
    if (m <= block) {
        /* One block (most convolutions): each panel packed just before its
         * tiles, which then read it from L1, rather than all packed first
         * and read back from L2 or beyond. */
        for (int64_t j = 0; j < n; j += width) {
            int nr = n - j < width ? (int)(n - j) : (int)width;
            pack_panel(kn, k, b, j, nr, panels);
            for (int64_t i = 0; i < m; i += MR)
                kn->tile(m - i < MR ? (int)(m - i) : MR, k, a + i * lda, lda, panels,
                         c + i * ldc + j, ldc, nr, bias ? bias + i : NULL, lo, hi);
        }
        return;
    }
    pack_panels(kn, k, b, n, panels);
    row_blocks(kn, m, n, k, a, lda, panels, c, ldc, bias, lo, hi);
}

void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
          int64_t ldb, float *c, int64_t ldc, const float *bias, float lo, float hi, float *work)
{
    b_operand op = { b, ldb, NULL };
    run(m, n, k, a, lda, &op, c, ldc, bias, lo, hi, work);
}

void gemm_from(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const gemm_source *b, float *c, int64_t ldc, const float *bias, float lo, float hi,
               float *work)
{
    b_operand op = { NULL, 0, b };
    run(m, n, k, a, lda, &op, c, ldc, bias, lo, hi, work);
}

void gemm_pack(int64_t n, int64_t k, const float *b, int64_t ldb, float *work)
{
    b_operand op = { b, ldb, NULL };
    pack_panels(chosen(), k, &op, n, panels_in(work));
}

void gemm_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, float *work,
                 float *c, int64_t ldc, const float *bias, float lo, float hi)
{
    row_blocks(chosen(), m, n, k, a, lda, panels_in(work), c, ldc, bias, lo, hi);
}
