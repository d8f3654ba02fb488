/* window.c: the direct window kernels (see window.h).
 *
 * Outputs go sixteen to a vector along a row.  The work runs in strips of
 * sixteen output columns, down the whole plane, so each tap's lane mask
 * (which lanes fall inside the input's columns) is worked out once per
 * strip; a tap row above or below the input gets an empty mask.  At
 * stride 2, output lane l reads input columns 2l + kx from the strip's
 * start: two vectors of sixteen loaded in turn and split into their even
 * and odd lanes (vpermt2ps) give taps 0 and 1, the same split of a load
 * two columns on taps 2 and 3, and so on.  Pooling loads the padding as
 * -inf (max) or 0 (average) and leaves out rows outside the input, as
 * pool_rows does. */
#include "window.h"
#include "cpu.h"
#include "lanes.h"
#include "onnxq/onnxq.h"

#include <math.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define WINDOW_X86 1
#endif

#ifdef WINDOW_X86
#define AVX512BW "avx512f,avx512bw,avx512vl"
#define KERNEL static inline __attribute__((always_inline, target(AVX512BW)))

/* The lanes of a load that starts at input column `col` of a row and
 * reads inside [0, width). */
static inline __mmask16 inside(int64_t col, int64_t width)
{
    return lane_range(-col, width - col);
}

/* Sixteen values from element `at` of x as floats, lanes outside `m` zero
 * (for 8-bit input, zero after the zero point is taken off: the padding
 * of a QLinearConv is its zero point). */
KERNEL __m512 taps(const int dtype, const void *data, int64_t at, __m512i zero, __mmask16 m)
{
    if (dtype == ONNXQ_DTYPE_UINT8 || dtype == ONNXQ_DTYPE_INT8) {
        const char *p = (const char *)data + at;
        __m128i b = _mm_maskz_loadu_epi8(m, p);
        __m512i v = dtype == ONNXQ_DTYPE_UINT8 ? _mm512_cvtepu8_epi32(b) : _mm512_cvtepi8_epi32(b);
        return _mm512_cvtepi32_ps(_mm512_maskz_sub_epi32(m, v, zero));
    }
    return _mm512_maskz_loadu_ps(m, (const float *)data + at);
}

/* acc + w v, rounded twice as the portable loops do (no fused multiply-add). */
KERNEL __m512 add_tap(__m512 acc, __m512 w, __m512 v)
{
    return _mm512_add_ps(acc, _mm512_mul_ps(w, v));
}

/* The portable clamp: v < lo ? lo : v > hi ? hi : v, NaN kept. */
KERNEL __m512 clamp(__m512 v, __m512 lo, __m512 hi)
{
    v = _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, lo, _CMP_LT_OQ), v, lo);
    return _mm512_mask_blend_ps(_mm512_cmp_ps_mask(v, hi, _CMP_GT_OQ), v, hi);
}

/* The masks of a strip's loads, whose first window starts at column c:
 * at stride 1, tap kx loads from column c + kx; at stride 2, the pair i
 * loads from c + 2i and c + 2i + 16 (masks 2i and 2i + 1). */
KERNEL void strip_masks(const int size, const int stride, int64_t c, int64_t width,
                        __mmask16 *m)
{
    if (stride == 1)
        for (int kx = 0; kx < size; kx++)
            m[kx] = inside(c + kx, width);
    else
        for (int i = 0; i < size + 1; i++)
            m[i] = inside(c + (i >> 1) * 2 + (i & 1) * 16, width);
}

/* The `size` taps of input row iy for the strip whose first window starts
 * at column c: t[kx] lane l is input (iy, c + stride l + kx), zero outside
 * the input.  At stride 2 each pair of loads, split into even and odd
 * lanes, gives two taps. */
KERNEL void row_taps(const int dtype, const int size, const int stride, const plane_in *x,
                     const window *g, int64_t iy, int64_t c, const __mmask16 *m, __m512i zero,
                     __m512 *t)
{
    const __m512i even = even_lanes(), odd = odd_lanes();
    __mmask16 row = iy >= 0 && iy < g->in_h ? 0xFFFF : 0;
    int64_t at = iy * g->in_w + c;
    if (stride == 1) {
        for (int kx = 0; kx < size; kx++)
            t[kx] = taps(dtype, x->data, at + kx, zero, m[kx] & row);
        return;
    }
    for (int kx = 0; kx < size; kx += 2) {
        __m512 a = taps(dtype, x->data, at + kx, zero, m[kx] & row);
        __m512 b = taps(dtype, x->data, at + kx + 16, zero, m[kx + 1] & row);
        t[kx] = _mm512_permutex2var_ps(a, even, b);
        if (kx + 1 < size)
            t[kx + 1] = _mm512_permutex2var_ps(a, odd, b);
    }
}

/* 3 x 3: down each strip, the taps of the rows a window shares with the
 * next (two at stride 1, one at stride 2) are kept, not loaded (and, for
 * 8-bit input, converted) again. */
KERNEL void plane3(const int dtype, const int stride, const plane_in *x, const window *g,
                   const float *w, float bias, float lo, float hi, float *y)
{
    const int64_t iw = g->in_w, oh = g->out_h, ow = g->out_w;
    const __m512i zero = _mm512_set1_epi32(x->zero);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vb = _mm512_set1_ps(bias);
    __m512 wv[9];
    for (int i = 0; i < 9; i++)
        wv[i] = _mm512_set1_ps(w[i]);
    for (int64_t x0 = 0; x0 < ow; x0 += 16) {
        __mmask16 out = first_lanes(ow - x0), m[6];
        int64_t c = x0 * stride - g->left;
        strip_masks(3, stride, c, iw, m);
        __m512 t[3][3]; /* the taps of the window's rows */
        for (int ky = 0; ky < 3 - stride; ky++)
            row_taps(dtype, 3, stride, x, g, ky - g->top, c, m, zero, t[ky + stride]);
        for (int64_t oy = 0; oy < oh; oy++) {
            int64_t iy = oy * stride - g->top;
            for (int ky = 0; ky < 3 - stride; ky++)
                for (int kx = 0; kx < 3; kx++)
                    t[ky][kx] = t[ky + stride][kx];
            for (int ky = 3 - stride; ky < 3; ky++)
                row_taps(dtype, 3, stride, x, g, iy + ky, c, m, zero, t[ky]);
            __m512 acc = vb;
            for (int ky = 0; ky < 3; ky++)
                for (int kx = 0; kx < 3; kx++)
                    acc = add_tap(acc, wv[3 * ky + kx], t[ky][kx]);
            _mm512_mask_storeu_ps(y + oy * ow + x0, out, clamp(acc, vlo, vhi));
        }
    }
}

/* 5 x 5: each row's taps loaded as the sums reach it (25 of them and their
 * weights would not fit in the registers). */
KERNEL void plane5(const int dtype, const int stride, const plane_in *x, const window *g,
                   const float *w, float bias, float lo, float hi, float *y)
{
    const int64_t iw = g->in_w, oh = g->out_h, ow = g->out_w;
    const __m512i zero = _mm512_set1_epi32(x->zero);
    const __m512 vlo = _mm512_set1_ps(lo), vhi = _mm512_set1_ps(hi), vb = _mm512_set1_ps(bias);
    for (int64_t x0 = 0; x0 < ow; x0 += 16) {
        __mmask16 out = first_lanes(ow - x0), m[6];
        int64_t c = x0 * stride - g->left;
        strip_masks(5, stride, c, iw, m);
        for (int64_t oy = 0; oy < oh; oy++) {
            __m512 acc = vb, t[5];
            for (int ky = 0; ky < 5; ky++) {
                row_taps(dtype, 5, stride, x, g, oy * stride - g->top + ky, c, m, zero, t);
                for (int kx = 0; kx < 5; kx++)
                    acc = add_tap(acc, _mm512_set1_ps(w[5 * ky + kx]), t[kx]);
            }
            _mm512_mask_storeu_ps(y + oy * ow + x0, out, clamp(acc, vlo, vhi));
        }
    }
}

KERNEL void plane(const int dtype, const int stride, const plane_in *x, const window *g,
                  const float *w, float bias, float lo, float hi, float *y)
{
    if (g->size == 5)
        plane5(dtype, stride, x, g, w, bias, lo, hi, y);
    else
        plane3(dtype, stride, x, g, w, bias, lo, hi, y);
}

/* Max (count NULL) or average pooling: the maximum or sum down each
 * column of the window, then across; an average divides by count. */
KERNEL void pool_plane(const int is_max, const int stride, const float *x, const window *g,
                       const float *count, int64_t oy0, int64_t oy1, float *y)
{
    const int64_t ih = g->in_h, iw = g->in_w, ow = g->out_w;
    const __m512i even = even_lanes(), odd = odd_lanes();
    /* What padding reads as, and where a column starts. */
    const __m512 none = _mm512_set1_ps(is_max ? -INFINITY : 0.0f);
    for (int64_t x0 = 0; x0 < ow; x0 += 16) {
        __mmask16 out = first_lanes(ow - x0);
        /* The columns' maxima or sums at columns c + 0, 1, 2 (stride 1), or
         * at c, c + 16, c + 2, c + 18 (stride 2). */
        int64_t c = x0 * stride - g->left, at[4];
        __mmask16 m[4];
        for (int i = 0; i < 4; i++) {
            at[i] = stride == 1 ? c + i : c + (i & 1) * 16 + (i >> 1) * 2;
            m[i] = inside(at[i], iw);
        }
        for (int64_t oy = oy0; oy < oy1; oy++) {
            __m512 col[4] = { none, none, none, none };
            for (int ky = 0; ky < 3; ky++) {
                int64_t iy = oy * stride - g->top + ky;
                if (iy < 0 || iy >= ih)
                    continue;
                for (int i = 0; i < 4; i++) {
                    if (stride == 1 && i == 3)
                        break;
                    __m512 v = _mm512_mask_loadu_ps(none, m[i], x + iy * iw + at[i]);
                    /* maxps: col > v ? col : v, as max_f */
                    col[i] = is_max ? _mm512_max_ps(col[i], v) : _mm512_add_ps(col[i], v);
                }
            }
            __m512 t0 = col[0], t1 = col[1], t2 = col[2];
            if (stride == 2) {
                t0 = _mm512_permutex2var_ps(col[0], even, col[1]);
                t1 = _mm512_permutex2var_ps(col[0], odd, col[1]);
                t2 = _mm512_permutex2var_ps(col[2], even, col[3]);
            }
            __m512 v;
            if (is_max) {
                v = _mm512_max_ps(_mm512_max_ps(t0, t1), t2);
            } else {
                /* count > 0 ? sum / count : 0, as pool_rows */
                __m512 n = _mm512_maskz_loadu_ps(out, count + oy * ow + x0);
                v = _mm512_add_ps(_mm512_add_ps(t0, t1), t2);
                __mmask16 some = _mm512_cmp_ps_mask(n, _mm512_setzero_ps(), _CMP_GT_OQ);
                v = _mm512_maskz_div_ps(some, v, n);
            }
            _mm512_mask_storeu_ps(y + oy * ow + x0, out, v);
        }
    }
}

__attribute__((target(AVX512BW))) static void pool_avx512bw(const float *x, const window *g,
                                                            const float *count, int64_t oy0,
                                                            int64_t oy1, float *y)
{
    int two = g->stride == 2;
    if (!count)
        two ? pool_plane(1, 2, x, g, NULL, oy0, oy1, y)
            : pool_plane(1, 1, x, g, NULL, oy0, oy1, y);
    else
        two ? pool_plane(0, 2, x, g, count, oy0, oy1, y)
            : pool_plane(0, 1, x, g, count, oy0, oy1, y);
}

/* One instance per input type and stride, each with its loads and
 * shuffles known at compile time. */
__attribute__((target(AVX512BW))) static void direct_avx512bw(const plane_in *x,
                                                              const window *g, const float *w,
                                                              float bias, float lo, float hi,
                                                              float *y)
{
    int two = g->stride == 2;
    switch (x->dtype) {
    case ONNXQ_DTYPE_UINT8:
        two ? plane(ONNXQ_DTYPE_UINT8, 2, x, g, w, bias, lo, hi, y)
            : plane(ONNXQ_DTYPE_UINT8, 1, x, g, w, bias, lo, hi, y);
        break;
    case ONNXQ_DTYPE_INT8:
        two ? plane(ONNXQ_DTYPE_INT8, 2, x, g, w, bias, lo, hi, y)
            : plane(ONNXQ_DTYPE_INT8, 1, x, g, w, bias, lo, hi, y);
        break;
    default:
        two ? plane(ONNXQ_DTYPE_FLOAT, 2, x, g, w, bias, lo, hi, y)
            : plane(ONNXQ_DTYPE_FLOAT, 1, x, g, w, bias, lo, hi, y);
    }
}
#endif

typedef void direct_fn(const plane_in *x, const window *g, const float *w, float bias, float lo,
                       float hi, float *y);

typedef void pool_fn(const float *x, const window *g, const float *count, int64_t oy0,
                     int64_t oy1, float *y);

typedef struct {
    const char *name;
    direct_fn *depthwise; /* NULL: the portable loops */
    pool_fn *pool;
} kernel;

static const kernel kernels[] = {
#ifdef WINDOW_X86
    { "avx512bw", direct_avx512bw, pool_avx512bw },
#endif
    { "generic", NULL, NULL },
};
enum { KERNELS = sizeof kernels / sizeof kernels[0] };

static cpu_choice choice = { .table = kernels, .count = KERNELS, .size = sizeof *kernels };

static const kernel *chosen(void) { return cpu_chosen(&choice); }

const char *window_kernel_name(void) { return chosen()->name; }

int window_select(const char *name) { return cpu_select(&choice, name); }

int depthwise_window(const plane_in *x, const window *g, const float *w, float bias, float lo,
                     float hi, float *y)
{
    direct_fn *depthwise = chosen()->depthwise;
    if (!depthwise || (g->stride != 1 && g->stride != 2) || (g->size != 3 && g->size != 5))
        return 0;
    depthwise(x, g, w, bias, lo, hi, y);
    return 1;
}

int pool_window(const float *x, const window *g, const float *count, int64_t oy0, int64_t oy1,
                float *y)
{
    pool_fn *pool = chosen()->pool;
    if (!pool || (g->stride != 1 && g->stride != 2) || g->size != 3)
        return 0;
    pool(x, g, count, oy0, oy1, y);
    return 1;
}
