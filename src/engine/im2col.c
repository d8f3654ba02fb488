/* im2col.c: the im2col matrix, in rows or packed panel by panel (see
 * im2col.h).
 *
 * A panel's columns are consecutive output positions: a few runs along
 * output rows (a 32-column panel of a 13 x 13 output is three or four).
 * For each row of the matrix, each run is one stretch of an input row, with
 * zeros where it reaches into the padding.  The AVX-512 packer loads each
 * stretch with a masked load placed at its lanes (at stride 2, two loads
 * split into their even lanes), so a row of the panel is two stores
 * whatever the runs; the plain C one copies the stretches element by
 * element.  Where a stretch starts and which lanes it fills depend on the
 * tap (ky, kx) and the run, not on the channel: the AVX-512 packer works
 * them out once per panel and then only loads and stores, channel by
 * channel (squeezenet1.1's 3 x 3 convolutions ran 15 % faster than when
 * every row of the panel worked them out again). */
#include "im2col.h"
#include "engine.h"
#include "common/intmath.h"
#include "lanes.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define IM2COL_X86 1
#endif

/* The output positions ox in [lo, hi) whose input column ox s - pb + shift
 * falls inside [0, in). */
static void valid_range(int64_t out, int64_t in, int64_t s, int64_t pb, int64_t shift,
                        int64_t *lo, int64_t *hi)
{
    int64_t base = shift - pb; /* ix = ox*s + base */
    int64_t l = base >= 0 ? 0 : div_ceil(-base, s);
    int64_t h = in - base <= 0 ? 0 : div_ceil(in - base, s);
    *lo = l < out ? l : out;
    *hi = h < out ? h : out;
    if (*hi < *lo)
        *hi = *lo;
}

/* Row r of the matrix. */
static tap_row tap_row_at(const geom *g, int64_t r)
{
    int64_t kh = g->k[0], kw = g->k[1], ky = r / kw % kh, kx = r % kw;
    tap_row t = { r / (kh * kw) * g->in[0] * g->in[1], ky * g->d[0] - g->pb[0],
                  kx * g->d[1] - g->pb[1], 0, 0 };
    valid_range(g->out[1], g->in[1], g->s[1], g->pb[1], kx * g->d[1], &t.lo, &t.hi);
    return t;
}

void tap_rows(const geom *g, int64_t channels, tap_row *rows)
{
    for (int64_t r = 0; r < channels * g->k[0] * g->k[1]; r++)
        rows[r] = tap_row_at(g, r);
}

/* ---- In rows ---------------------------------------------------------------------------- */

/* Each instance is compiled for several instruction sets (its loops
 * vectorized for each) behind a plain exported function: clang makes no
 * symbol of that name for an external function with clones. */
#define IM2COL(name, T)                                                                        \
    INLINE_LOOPS VECTOR_CLONES static void name##_rows(const T *restrict x, int64_t channels,  \
                                                       const geom *g, int64_t j0, int64_t cols, \
                                                       T zero, T *restrict col)                 \
    {                                                                                          \
        int64_t ow = g->out[1], sx = g->s[1];                                                  \
        for (int64_t r = 0; r < channels * g->k[0] * g->k[1]; r++) {                           \
            tap_row t = tap_row_at(g, r);                                                      \
            T *dst = col + r * cols;                                                           \
            /* Column j is output (oy, ox0): counted along, not divided    \
             * out for every run. */                                       \
            int64_t oy = j0 / ow, ox0 = j0 % ow, run;                                          \
            for (int64_t j = j0; j < j0 + cols; j += run) {                                    \
                run = ow - ox0 < j0 + cols - j ? ow - ox0 : j0 + cols - j;                     \
                int64_t iy = oy * g->s[0] + t.dy;                                              \
                T *out = dst + (j - j0) - ox0; /* indexed by ox */                             \
                int64_t a = ox0 > t.lo ? ox0 : t.lo, b = ox0 + run < t.hi ? ox0 + run : t.hi;  \
                if (iy < 0 || iy >= g->in[0] || b <= a) {                                      \
                    for (int64_t ox = ox0; ox < ox0 + run; ox++)                               \
                        out[ox] = zero;                                                        \
                } else {                                                                       \
                    const T *src = x + t.plane + iy * g->in[1] + t.dx;                         \
                    for (int64_t ox = ox0; ox < a; ox++)                                       \
                        out[ox] = zero;                                                        \
                    if (sx == 1)                                                               \
                        for (int64_t ox = a; ox < b; ox++)                                     \
                            out[ox] = src[ox];                                                 \
                    else                                                                       \
                        for (int64_t ox = a; ox < b; ox++)                                     \
                            out[ox] = src[ox * sx];                                            \
                    for (int64_t ox = b; ox < ox0 + run; ox++)                                 \
                        out[ox] = zero;                                                        \
                }                                                                              \
                ox0 += run;                                                                    \
                if (ox0 == ow)                                                                 \
                    oy++, ox0 = 0;                                                             \
            }                                                                                  \
        }                                                                                      \
    }                                                                                          \
    void name(const T *x, int64_t channels, const geom *g, int64_t j0, int64_t cols, T zero,   \
              T *col)                                                                          \
    {                                                                                          \
        name##_rows(x, channels, g, j0, cols, zero, col);                                      \
    }

IM2COL(im2col_cols, float)
IM2COL(im2col_bytes, uint8_t)
#undef IM2COL

/* ---- Panel by panel ---------------------------------------------------------------------- */

/* Runs of a panel's columns along output rows: run u is outputs
 * [ox[u], ox[u] + n[u]) of the output row whose first input row is y[u],
 * into lanes from lane[u]. */
enum { MAX_RUNS = 64 };
typedef struct {
    int count;
    int64_t y[MAX_RUNS], ox[MAX_RUNS], n[MAX_RUNS], lane[MAX_RUNS];
} runs;

static void panel_runs(const geom *g, int64_t j, int nr, runs *r)
{
    int64_t ow = g->out[1];
    r->count = 0;
    for (int64_t at = 0, oy = j / ow, x0 = j % ow; at < nr && r->count < MAX_RUNS;
         oy++, x0 = 0) {
        int64_t len = ow - x0 < nr - at ? ow - x0 : nr - at;
        int u = r->count++;
        r->y[u] = oy * g->s[0], r->ox[u] = x0, r->n[u] = len, r->lane[u] = at;
        at += len;
    }
}

INLINE_LOOPS VECTOR_CLONES static void pack_plain(const gemm_source *source, int64_t j, int nr,
                                                  int width, float *restrict panel)
{
    const image_source *is = (const image_source *)source;
    const geom *g = is->g;
    int64_t sx = g->s[1], ih = g->in[0], iw = g->in[1];
    runs r;
    panel_runs(g, is->j0 + j, nr, &r);
    for (int64_t p = 0; p < is->k; p++) {
        const tap_row *t = &is->rows[p];
        float *dst = panel + p * width;
        for (int u = 0; u < r.count; u++) {
            float *out = dst + r.lane[u] - r.ox[u]; /* indexed by ox */
            int64_t x0 = r.ox[u], x1 = x0 + r.n[u], iy = r.y[u] + t->dy;
            int64_t a = x0 > t->lo ? x0 : t->lo, b = x1 < t->hi ? x1 : t->hi;
            if (iy < 0 || iy >= ih || b <= a) {
                for (int64_t i = x0; i < x1; i++)
                    out[i] = 0.0f;
                continue;
            }
            const float *src = is->x + t->plane + iy * iw + t->dx;
            for (int64_t i = x0; i < a; i++)
                out[i] = 0.0f;
            if (sx == 1)
                for (int64_t i = a; i < b; i++)
                    out[i] = src[i];
            else
                for (int64_t i = a; i < b; i++)
                    out[i] = src[i * sx];
            for (int64_t i = b; i < x1; i++)
                out[i] = 0.0f;
        }
        for (int64_t i = nr; i < width; i++)
            dst[i] = 0.0f;
    }
}

#ifdef IM2COL_X86
/* What one tap (ky, kx) reads for one run of a panel, the same in every
 * channel: the element at `offset` from the channel's plane for lane 0 of
 * the first vector, and the masks of the loads (at stride 2, of each
 * vector's two loads and of the lanes it takes from them). */
typedef struct {
    int64_t offset;
    __mmask16 load[4], keep[2];
} stretch;

enum { MAX_STRETCHES = 256 }; /* at least MAX_RUNS: one tap's */

/* The stretches of taps [t0, t1) for the panel's runs, tap by tap (count[t
 * - t0] each, in order), as many taps as MAX_STRETCHES holds: t1. */
static int64_t panel_stretches(const image_source *is, const runs *r, int stride, int64_t t0,
                               stretch *out, int *count)
{
    const geom *g = is->g;
    int64_t taps = g->k[0] * g->k[1], ih = g->in[0], iw = g->in[1], t = t0;
    int n = 0;
    for (; t < taps && n + r->count <= MAX_STRETCHES; t++) {
        const tap_row *tr = &is->rows[t];
        count[t - t0] = 0;
        for (int u = 0; u < r->count; u++) {
            int64_t x0 = r->ox[u], iy = r->y[u] + tr->dy;
            int64_t a = x0 > tr->lo ? x0 : tr->lo;
            int64_t b = x0 + r->n[u] < tr->hi ? x0 + r->n[u] : tr->hi;
            if (iy < 0 || iy >= ih || b <= a)
                continue;
            /* Lane L holds output ox = L - lane + x0: input element
             * stride ox of the row, for L in [l0, l1). */
            int64_t l0 = r->lane[u] + a - x0, l1 = r->lane[u] + b - x0, shift = x0 - r->lane[u];
            stretch *st = &out[n++];
            count[t - t0]++;
            st->offset = iy * iw + tr->dx + stride * shift;
            if (stride == 1) {
                st->load[0] = lane_range(l0, l1);
                st->load[1] = lane_range(l0 - 16, l1 - 16);
                continue;
            }
            /* At stride 2, each vector's lanes [v0, v1) from two loads split
             * into their even lanes: elements 2 v0 to 2 (v1 - 1), every one
             * inside the input row. */
            for (int v = 0; v < 2; v++) {
                int64_t v0 = l0 - 16 * v < 0 ? 0 : l0 - 16 * v;
                int64_t v1 = l1 - 16 * v > 16 ? 16 : l1 - 16 * v;
                if (v1 <= v0) {
                    st->load[2 * v] = st->load[2 * v + 1] = st->keep[v] = 0;
                    continue;
                }
                st->load[2 * v] = lane_range(2 * v0, 2 * v1 - 1);
                st->load[2 * v + 1] = lane_range(2 * v0 - 16, 2 * v1 - 17);
                st->keep[v] = lane_range(v0, v1);
            }
        }
    }
    return t;
}

/* Rows (c, t) of the panel for taps [t0, t1), channel by channel, each
 * tap's loads worked out once for all channels (panel_stretches): a row of
 * the panel is then its loads and two stores. */
static inline __attribute__((always_inline, target("avx512f"))) void
pack_taps_avx512(const int stride, const image_source *is, int64_t t0, int64_t t1,
                 const stretch *st, const int *count, float *panel)
{
    const __m512i even = even_lanes();
    int64_t taps = is->g->k[0] * is->g->k[1];
    for (int64_t p0 = 0; p0 < is->k; p0 += taps) {
        const float *x = is->x + is->rows[p0].plane;
        const stretch *s = st;
        for (int64_t t = t0; t < t1; t++) {
            __m512 v0 = _mm512_setzero_ps(), v1 = _mm512_setzero_ps();
            for (int e = 0; e < count[t - t0]; e++, s++) {
                const float *q = x + s->offset;
                if (stride == 1) {
                    v0 = _mm512_mask_loadu_ps(v0, s->load[0], q);
                    v1 = _mm512_mask_loadu_ps(v1, s->load[1], q + 16);
                } else {
                    __m512 a = _mm512_maskz_loadu_ps(s->load[0], q);
                    __m512 b = _mm512_maskz_loadu_ps(s->load[1], q + 16);
                    v0 = _mm512_mask_mov_ps(v0, s->keep[0], _mm512_permutex2var_ps(a, even, b));
                    a = _mm512_maskz_loadu_ps(s->load[2], q + 32);
                    b = _mm512_maskz_loadu_ps(s->load[3], q + 48);
                    v1 = _mm512_mask_mov_ps(v1, s->keep[1], _mm512_permutex2var_ps(a, even, b));
                }
            }
            _mm512_store_ps(panel + (p0 + t) * 32, v0);
            _mm512_store_ps(panel + (p0 + t) * 32 + 16, v1);
        }
    }
}

__attribute__((target("avx512f"))) static void pack_avx512(const gemm_source *source, int64_t j,
                                                           int nr, int width, float *panel)
{
    (void)width; /* 32: see image_source_of */
    const image_source *is = (const image_source *)source;
    runs r;
    panel_runs(is->g, is->j0 + j, nr, &r);
    stretch st[MAX_STRETCHES];
    int count[MAX_STRETCHES];
    int stride = (int)is->g->s[1];
    int64_t taps = is->g->k[0] * is->g->k[1];
    /* Taps a table at a time (all of them but for large kernels over
     * narrow outputs, whose panels have many runs). */
    for (int64_t t0 = 0, t1; t0 < taps; t0 = t1) {
        t1 = panel_stretches(is, &r, stride, t0, st, count);
        if (stride == 1)
            pack_taps_avx512(1, is, t0, t1, st, count, panel);
        else
            pack_taps_avx512(2, is, t0, t1, st, count, panel);
    }
}
#endif

image_source image_source_of(const float *x, const geom *g, const tap_row *rows, int64_t k,
                             int64_t j0)
{
    image_source is = { { pack_plain }, x, g, rows, k, j0 };
#ifdef IM2COL_X86
    /* Panels 32 wide: the AVX-512 GEMM is in use, so the CPU has AVX-512F. */
    if ((g->s[1] == 1 || g->s[1] == 2) && gemm_panel_width() == 32)
        is.base.pack = pack_avx512;
#endif
    return is;
}
