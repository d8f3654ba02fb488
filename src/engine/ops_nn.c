/* ops_nn.c: convolution, pooling, normalization, softmax, GEMM and reductions.
 *
 * Convolution is the engine's own GEMM (gemm.c) over the im2col matrix,
 * packed panel by panel straight from the image (im2col.c; for 1x1
 * kernels at stride 1 the input itself), with the bias and a folded
 * activation applied as the GEMM stores its results.  Depthwise
 * convolution runs per plane: window.c's kernel for 3 x 3 and 5 x 5
 * windows, else loops written so the compiler vectorizes the innermost
 * one.  1-D inputs are run as 2-D ones of height 1. */
#include "config.h"
#include "engine.h"
#include "gemm.h"
#include "igemm.h"
#include "im2col.h"
#include "common/intmath.h"
#include "window.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- Spatial geometry ---------------------------------------------------------- */

/* Fill g from the node's attributes for an input of `nd` spatial dims
 * (x's dims after N and C) and the given kernel. */
static onnxq_status geom_setup(op_ctx *c, const tensor *x, const int64_t *kernel, int ceil_mode,
                               geom *g)
{
    int nd = x->rank - 2;
    if (nd < 1 || nd > 2)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%d spatial dimensions (1 or 2 supported)", nd);
    size_t ns, nda, np;
    const int64_t *strides = op_attr_ints(c, "strides", &ns);
    const int64_t *dil = op_attr_ints(c, "dilations", &nda);
    const int64_t *pads = op_attr_ints(c, "pads", &np);
    if ((ns && ns != (size_t)nd) || (nda && nda != (size_t)nd) || (np && np != 2 * (size_t)nd))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "strides, dilations or pads of the wrong length");
    const char *auto_pad = op_attr_string(c, "auto_pad", "NOTSET");
    int off = 2 - nd; /* 1-D runs as 2-D with a leading axis of 1 */
    for (int i = 0; i < 2; i++) {
        g->in[i] = 1, g->k[i] = 1, g->s[i] = 1, g->d[i] = 1, g->pb[i] = 0, g->pe[i] = 0;
        g->out[i] = 1;
    }
    for (int i = 0; i < nd; i++) {
        int j = i + off;
        g->in[j] = x->dims[2 + i];
        g->k[j] = kernel[i];
        g->s[j] = ns ? strides[i] : 1;
        g->d[j] = nda ? dil[i] : 1;
        g->pb[j] = np ? pads[i] : 0;
        g->pe[j] = np ? pads[i + nd] : 0;
        if (g->k[j] < 1 || g->s[j] < 1 || g->d[j] < 1 || g->pb[j] < 0 || g->pe[j] < 0)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "invalid kernel, stride, dilation or pad");
    }
    for (int j = off; j < 2; j++) {
        int64_t span = (g->k[j] - 1) * g->d[j] + 1;
        if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
            g->out[j] = div_ceil(g->in[j], g->s[j]);
            int64_t total = (g->out[j] - 1) * g->s[j] + span - g->in[j];
            if (total < 0)
                total = 0;
            g->pb[j] = !strcmp(auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
            g->pe[j] = total - g->pb[j];
            continue;
        }
        if (!strcmp(auto_pad, "VALID"))
            g->pb[j] = g->pe[j] = 0;
        else if (strcmp(auto_pad, "NOTSET"))
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "unknown auto_pad '%s'", auto_pad);
        int64_t room = g->in[j] + g->pb[j] + g->pe[j] - span;
        if (room < 0)
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "kernel larger than the padded input");
        g->out[j] = (ceil_mode ? div_ceil(room, g->s[j]) : room / g->s[j]) + 1;
        /* A window may not start in the end padding. */
        if (ceil_mode && (g->out[j] - 1) * g->s[j] >= g->in[j] + g->pb[j])
            g->out[j]--;
    }
    return ONNXQ_OK;
}

static void out_dims(const tensor *x, int64_t channels, const geom *g, int64_t *dims)
{
    dims[0] = x->dims[0];
    dims[1] = channels;
    if (x->rank == 3) {
        dims[2] = g->out[1];
    } else {
        dims[2] = g->out[0];
        dims[3] = g->out[1];
    }
}

/* ---- GEMM ------------------------------------------------------------------------------ */

/* The sum of x[i] y[i]: sixteen running sums, so the compiler vectorizes
 * it without reordering any one sum. */
VECTOR_CLONES static float dot(const float *restrict x, const float *restrict y, int64_t k)
{
    float part[16] = { 0 };
    int64_t i = 0;
    for (; i + 16 <= k; i += 16)
        for (int l = 0; l < 16; l++)
            part[l] += x[i + l] * y[i + l];
    for (; i < k; i++)
        part[i % 16] += x[i] * y[i];
    float sum = 0;
    for (int l = 0; l < 16; l++)
        sum += part[l];
    return sum;
}

/* y[j] += v x[j] for j < n. */
VECTOR_CLONES static void axpy(float v, const float *restrict x, float *restrict y, int64_t n)
{
    for (int64_t j = 0; j < n; j++)
        y[j] += v * x[j];
}

/* Columns [j0, j1) of T = op(A) op(B) (m x k times k x n, T's rows n
 * apart), op(A) row-major with rows lda apart.  B is row-major k x n (ldb)
 * or, when trans_b, n x k: each column of op(B) a row of B.  A few rows
 * (a batch of a handful) take dot products or sums of rows, reading B
 * once, rather than packing it for the GEMM. */
static void dense_columns(int trans_b, int64_t m, int64_t n, int64_t k, const float *a,
                          int64_t lda, const float *b, int64_t ldb, int64_t j0, int64_t j1,
                          float *t, float *work)
{
    if (trans_b && m <= 8) {
        for (int64_t j = j0; j < j1; j++)
            for (int64_t i = 0; i < m; i++)
                t[i * n + j] = dot(a + i * lda, b + j * ldb, k);
    } else if (!trans_b && m <= 8) {
        for (int64_t i = 0; i < m; i++)
            memset(t + i * n + j0, 0, (size_t)(j1 - j0) * sizeof *t);
        for (int64_t p = 0; p < k; p++)
            for (int64_t i = 0; i < m; i++)
                axpy(a[i * lda + p], b + p * ldb + j0, t + i * n + j0, j1 - j0);
    } else {
        gemm(m, j1 - j0, k, a, lda, b + j0, ldb, t + j0, n, NULL, -INFINITY, INFINITY, work);
    }
}

typedef struct {
    int trans_b;
    int64_t m, n, k;
    const float *a;
    int64_t lda;
    const float *b;
    int64_t ldb, block; /* columns per task */
    float *t, *work;    /* work: per floats for each task */
    size_t per;
} dense_job;

static void dense_block(void *arg, int64_t i, int worker)
{
    const dense_job *d = arg;
    int64_t j0 = i * d->block, j1 = d->n < j0 + d->block ? d->n : j0 + d->block;
    (void)worker;
    if (j0 < j1)
        dense_columns(d->trans_b, d->m, d->n, d->k, d->a, d->lda, d->b, d->ldb, j0, j1, d->t,
                      d->work + (size_t)i * d->per);
}

/* y = alpha op(A) op(B) + beta y, all row-major, y m x n with rows ldc
 * apart; the columns split over the threads.  A transposed operand is
 * transposed into scratch first (B only on the GEMM path). */
static onnxq_status dense_gemm(op_ctx *c, int trans_a, int trans_b, int64_t m, int64_t n,
                               int64_t k, float alpha, const float *a, int64_t lda,
                               const float *b, int64_t ldb, float beta, float *y, int64_t ldc)
{
    int transpose_b = trans_b && m > 8, direct = alpha == 1 && beta == 0 && ldc == n;
    int parts = m * n * k < (int64_t)1 << 18 || n < 64 * c->threads ? 1 : c->threads;
    int64_t width = gemm_panel_width(), block = (n + parts - 1) / parts;
    block = (block + width - 1) / width * width;
    size_t at = 0, sa = 0, sb = 0, st = 0, sw;
#define CARVE(var, floats) (var = at, at += whole_lines((size_t)(floats)))
    if (trans_a)
        CARVE(sa, m * k);
    if (transpose_b)
        CARVE(sb, k * n);
    if (!direct)
        CARVE(st, m * n);
    size_t per = whole_lines(gemm_workspace_floats(k, block));
    CARVE(sw, (size_t)parts * per);
#undef CARVE
    float *scratch = op_scratch(c, at * sizeof(float));
    if (!scratch)
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory for the matrix product");
    if (trans_a) {
        for (int64_t i = 0; i < m; i++)
            for (int64_t p = 0; p < k; p++)
                scratch[sa + i * k + p] = a[p * lda + i];
        a = scratch + sa;
        lda = k;
    }
    if (transpose_b) {
        for (int64_t p = 0; p < k; p++)
            for (int64_t j = 0; j < n; j++)
                scratch[sb + p * n + j] = b[j * ldb + p];
        b = scratch + sb;
        ldb = n;
        trans_b = 0;
    }
    float *t = direct ? y : scratch + st;
    dense_job job = { trans_b, m, n, k, a, lda, b, ldb, block, t, scratch + sw, per };
    team_run(c->team, parts, dense_block, &job);
    if (!direct)
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                y[i * ldc + j] = alpha * t[i * n + j] + (beta != 0 ? beta * y[i * ldc + j] : 0);
    return ONNXQ_OK;
}

/* ---- Convolution ----------------------------------------------------------------------- */

/* The rows and columns of input a convolution's windows cover, from -pb:
 * the size of its zero-padded copy. */
static void padded_size(const geom *g, int64_t *rows, int64_t *cols)
{
    *rows = (g->out[0] - 1) * g->s[0] + (g->k[0] - 1) * g->d[0] + 1;
    *cols = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
}

/* v clamped to [lo, hi] when `clamp` (a constant, for loops without it). */
static inline __attribute__((always_inline)) float bound(const int clamp, float v, float lo,
                                                         float hi)
{
    return clamp ? clamp_f(v, lo, hi) : v;
}

/* Rows [0, rows) of `width` outputs of a depthwise convolution over the
 * zero-padded copy `pad` (rows pw apart): output (r, x) goes to
 * out[r width + x] and its window starts at pad[r step + x sx].  three: a
 * 3 x 3 window at stride 1, or 2 undilated over rows split into even and
 * odd columns (see depthwise_channel), its taps summed in registers.  Each
 * sum clamped to [lo, hi] when `clamp`. */
static inline __attribute__((always_inline)) void depthwise_rows(
    const int clamp, const float *restrict pad, int64_t pw, const geom *g,
    const float *restrict w, int three, float bias, float lo, float hi, int64_t rows,
    int64_t width, int64_t step, float *restrict out)
{
    int64_t sx = g->s[1], dx = g->d[1], down = g->d[0] * pw;
    float t[9] = { 0 }; /* the nine taps of a 3 x 3 window */
    if (three)
        memcpy(t, w, sizeof t);
    const float w0 = t[0], w1 = t[1], w2 = t[2], w3 = t[3], w4 = t[4], w5 = t[5];
    const float w6 = t[6], w7 = t[7], w8 = t[8];
    for (int64_t r = 0; r < rows; r++) {
        float *dst = out + r * width;
        const float *r0 = pad + r * step, *r1 = r0 + down, *r2 = r1 + down;
        if (three && sx == 1) {
            for (int64_t i = 0; i < width; i++)
                dst[i] = bound(clamp, bias + w0 * r0[i] + w1 * r0[i + dx] + w2 * r0[i + 2 * dx] +
                                     w3 * r1[i] + w4 * r1[i + dx] + w5 * r1[i + 2 * dx] +
                                     w6 * r2[i] + w7 * r2[i + dx] + w8 * r2[i + 2 * dx],
                                 lo, hi);
        } else if (three) {
            /* Stride 2, rows split into even and odd columns. */
            const float *o0 = r0 + (pw + 1) / 2, *o1 = r1 + (pw + 1) / 2, *o2 = r2 + (pw + 1) / 2;
            for (int64_t i = 0; i < width; i++)
                dst[i] = bound(clamp, bias + w0 * r0[i] + w1 * o0[i] + w2 * r0[i + 1] + w3 * r1[i] +
                                     w4 * o1[i] + w5 * r1[i + 1] + w6 * r2[i] + w7 * o2[i] +
                                     w8 * r2[i + 1],
                                 lo, hi);
        } else {
            for (int64_t ox = 0; ox < width; ox++)
                dst[ox] = bias;
            for (int64_t ky = 0; ky < g->k[0]; ky++)
                for (int64_t kx = 0; kx < g->k[1]; kx++) {
                    float wv = w[ky * g->k[1] + kx];
                    const float *src = r0 + ky * down + kx * dx;
                    if (sx == 1)
                        for (int64_t ox = 0; ox < width; ox++)
                            dst[ox] += wv * src[ox];
                    else if (sx == 2)
                        for (int64_t ox = 0; ox < width; ox++)
                            dst[ox] += wv * src[2 * ox];
                    else
                        for (int64_t ox = 0; ox < width; ox++)
                            dst[ox] += wv * src[ox * sx];
                }
            for (int64_t ox = 0; ox < width; ox++)
                dst[ox] = bound(clamp, dst[ox], lo, hi);
        }
    }
}

/* The n values of row as its even columns, then its odd ones, into out:
 * a window at stride 2 then reads each of its taps at unit stride. */
static inline __attribute__((always_inline)) void split_columns(const float *restrict row,
                                                                int64_t n, float *restrict out)
{
    float *odd = out + (n + 1) / 2;
    for (int64_t i = 0; i < (n + 1) / 2; i++)
        out[i] = row[2 * i];
    for (int64_t i = 0; i < n / 2; i++)
        odd[i] = row[2 * i + 1];
}

/* n values from element `at` of x, as floats. */
static inline __attribute__((always_inline)) void load_row(const plane_in *x, int64_t at,
                                                           int64_t n, float *restrict dst)
{
    int32_t zero = x->zero; /* not reread after every store to dst */
    if (x->dtype == ONNXQ_DTYPE_UINT8) {
        const uint8_t *restrict src = (const uint8_t *)x->data + at;
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)((int32_t)src[i] - zero);
    } else if (x->dtype == ONNXQ_DTYPE_INT8) {
        const int8_t *restrict src = (const int8_t *)x->data + at;
        for (int64_t i = 0; i < n; i++)
            dst[i] = (float)((int32_t)src[i] - zero);
    } else {
        const float *restrict src = (const float *)x->data + at;
        for (int64_t i = 0; i < n; i++)
            dst[i] = src[i];
    }
}

/* One output channel of a depthwise convolution (one input channel),
 * clamped to [lo, hi].  The channel is first copied into `pad` with its zero
 * padding made explicit (padded_size floats, then as many again for
 * sums), so every window lies inside and the loops run whole rows without
 * bounds.  A 3 x 3 window at stride 1 or 2, the common case, has its nine
 * taps summed in registers and stored once; other windows are added into
 * the output row tap by tap (the sums are taken in the same order either
 * way). */
INLINE_LOOPS VECTOR_CLONES static void depthwise_channel(const plane_in *x,
                                                         const float *restrict w, float bias,
                                                         const geom *g, float lo, float hi,
                                                         float *restrict pad, float *restrict y)
{
    int64_t ph, pw, oh = g->out[0], ow = g->out[1], sx = g->s[1];
    if (g->k[0] == g->k[1] && g->d[0] == 1 && g->d[1] == 1 && g->s[0] == sx) {
        window win = { g->in[0], g->in[1], oh, ow, g->pb[0], g->pb[1], (int)sx, (int)g->k[0] };
        if (depthwise_window(x, &win, w, bias, lo, hi, y))
            return;
    }
    padded_size(g, &ph, &pw);
    /* Columns [left, right) of a padded row are input columns. */
    int64_t left = g->pb[1] < pw ? g->pb[1] : pw;
    int64_t right = g->pb[1] + g->in[1] < pw ? g->pb[1] + g->in[1] : pw;
    int three = g->k[0] == 3 && g->k[1] == 3 && (sx == 1 || (sx == 2 && g->d[1] == 1));
    /* At stride 2 a 3 x 3 window's taps are columns 2 ox, 2 ox + 1 and
     * 2 ox + 2: with each padded row stored as its even columns then its
     * odd ones, every tap is read at unit stride. */
    int split = three && sx == 2, clamp = lo > -INFINITY || hi < INFINITY;
    float *spare = pad + ph * pw;
    for (int64_t r = 0; r < ph; r++) {
        int64_t iy = r - g->pb[0];
        float *row = split ? spare : pad + r * pw;
        if (iy < 0 || iy >= g->in[0]) {
            for (int64_t i = 0; i < pw; i++)
                pad[r * pw + i] = 0;
            continue;
        }
        for (int64_t i = 0; i < left; i++)
            row[i] = 0;
        load_row(x, iy * g->in[1], right - left, row + left);
        for (int64_t i = right; i < pw; i++)
            row[i] = 0;
        if (split)
            split_columns(spare, pw, pad + r * pw);
    }
    if (sx == 1 && g->s[0] == 1 && ow < 32) {
        /* At stride 1 output (oy, ox) reads the padded copy from oy pw + ox
         * on, so a small plane is one run over `full`, rows pw apart (the
         * pw - ow columns past each row are computed and dropped): long
         * loops however small the feature map. */
        float *full = pad + ph * pw;
        if (clamp)
            depthwise_rows(1, pad, pw, g, w, three, bias, lo, hi, 1, (oh - 1) * pw + ow, 0, full);
        else
            depthwise_rows(0, pad, pw, g, w, three, bias, lo, hi, 1, (oh - 1) * pw + ow, 0, full);
        for (int64_t oy = 0; oy < oh; oy++)
            for (int64_t ox = 0; ox < ow; ox++)
                y[oy * ow + ox] = full[oy * pw + ox];
        return;
    }
    if (clamp)
        depthwise_rows(1, pad, pw, g, w, three, bias, lo, hi, oh, ow, g->s[0] * pw, y);
    else
        depthwise_rows(0, pad, pw, g, w, three, bias, lo, hi, oh, ow, g->s[0] * pw, y);
}

typedef struct {
    plane_in x;
    const float *w, *bias;
    const geom *g;
    float lo, hi;
    /* Per thread, per_thread floats: the padded plane and room for sums,
     * then (with a sink) the output plane. */
    float *scratch;
    size_t per_thread, plane_at;
    float *y;         /* NULL: each output plane goes to sink instead */
    plane_sink *sink;
    void *sink_arg;
    int64_t channels, in_plane, taps, out_plane;
} depthwise_job;

static void depthwise_plane(void *arg, int64_t i, int worker)
{
    const depthwise_job *d = arg;
    int64_t ch = i % d->channels;
    float *mine = d->scratch + (size_t)worker * d->per_thread;
    float *y = d->sink ? mine + d->plane_at : d->y + i * d->out_plane;
    plane_in x = d->x;
    x.data = (const char *)x.data + (size_t)(i * d->in_plane) * tensor_elem_size(x.dtype);
    depthwise_channel(&x, d->w + ch * d->taps, d->bias ? d->bias[ch] : 0, d->g, d->lo, d->hi,
                      mine, y);
    if (d->sink)
        d->sink(d->sink_arg, i, y, worker);
}

/* A depthwise convolution over the threads, output planes stored in y or
 * handed to sink. */
static onnxq_status depthwise_run(op_ctx *c, const plane_in *x, const tensor *w, const float *bias,
                                  const geom *g, int64_t images, float *y, plane_sink *sink,
                                  void *sink_arg)
{
    int64_t m = w->dims[0], ph, pw, p = g->out[0] * g->out[1];
    padded_size(g, &ph, &pw);
    size_t plane_at = whole_lines((size_t)(2 * ph * pw));
    size_t per_thread = plane_at + (sink ? whole_lines((size_t)p) : 0);
    float *scratch = op_scratch(c, (size_t)c->threads * per_thread * sizeof *scratch);
    if (!scratch)
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory");
    float lo, hi;
    folded_clamp(c->node, &lo, &hi);
    depthwise_job job = { *x,   w->data,  bias,    g, lo, hi, scratch, per_thread, plane_at,
                          y,    sink,     sink_arg, m, g->in[0] * g->in[1], w->n / m, p };
    team_run(c->team, images * m, depthwise_plane, &job);
    return ONNXQ_OK;
}

/* Check a convolution's input, weight and bias against each other and the
 * node's attributes; its group count and geometry. */
static onnxq_status conv_setup(op_ctx *c, const tensor *x, const tensor *w, const tensor *b,
                               int64_t *group_out, geom *g)
{
    int64_t group = op_attr_int(c, "group", 1);
    if (w->rank != x->rank || x->rank < 3)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "weight rank %d for input rank %d", w->rank, x->rank);
    int64_t ch = x->dims[1], m = w->dims[0];
    if (group < 1 || ch % group || m % group || w->dims[1] * group != ch)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "%lld input channels, weight [%lld,%lld,...], group %lld",
                       (long long)ch, (long long)m, (long long)w->dims[1], (long long)group);
    if (b && (b->dtype != ONNXQ_DTYPE_FLOAT || b->n != m))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "bias of %lld values for %lld channels",
                       (long long)b->n, (long long)m);
    size_t nk;
    const int64_t *ks = op_attr_ints(c, "kernel_shape", &nk);
    if (nk && (nk != (size_t)x->rank - 2 || memcmp(ks, w->dims + 2, nk * sizeof *ks)))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "kernel_shape disagrees with the weight");
    *group_out = group;
    return geom_setup(c, x, w->dims + 2, 0, g);
}

/* How a convolution's matrix products are cut into jobs: for each unit
 * (an image, or an image and a group), blocks of output columns
 * (positions) and, within those, blocks of output rows (channels). */
typedef struct {
    int64_t blocks, block;         /* column blocks per unit; columns in each */
    int64_t row_blocks, row_block; /* row blocks per column block; rows in each */
} job_plan;

static int64_t plan_jobs_count(const job_plan *pl, int64_t units)
{
    return units * pl->blocks * pl->row_blocks;
}

/* p columns and m rows per unit; about `want` columns per block, a
 * multiple of `width`; row blocks a multiple of `tile`. */
static job_plan plan_jobs(int64_t p, int64_t m, int64_t want, int64_t width, int64_t tile,
                          int64_t units, int threads)
{
    job_plan pl = { 1, p, 1, m };
    if (m >= 4 * p && units < 4 * threads) {
        /* Many output channels for few positions (a classifier's 1 x 1
         * convolution): blocks of channels, so that each thread reads only
         * its share of the weight, rather than all of it for each block of
         * columns. */
        int64_t n = 4 * threads / units;
        pl.row_block = ((m + n - 1) / n + tile - 1) / tile * tile;
        pl.row_blocks = (m + pl.row_block - 1) / pl.row_block;
        return pl;
    }
    /* Whole panels per block; as many blocks as `want` needs and, when the
     * units alone do not keep the threads busy, at least four per thread:
     * handed out as threads come free, they even out to within one small
     * block, also when one core of a shared machine runs slower than the
     * other for a while. */
    int64_t panels = (p + width - 1) / width, n = (p + want - 1) / want;
    if (units < threads)
        n = n < 4 * threads ? 4 * threads : n;
    n = n > panels ? panels : n < 1 ? 1 : n;
    int64_t per = (panels + n - 1) / n;
    pl.blocks = (panels + per - 1) / per;
    pl.block = per * width;
    return pl;
}

/* Job `job` of a plan: its unit, first column and columns, first row and
 * rows. */
static void plan_job(const job_plan *pl, int64_t p, int64_t m, int64_t job, int64_t *unit,
                     int64_t *j0, int64_t *cols, int64_t *r0, int64_t *rows)
{
    *r0 = job % pl->row_blocks * pl->row_block;
    *rows = m - *r0 < pl->row_block ? m - *r0 : pl->row_block;
    job /= pl->row_blocks;
    *unit = job / pl->blocks;
    *j0 = job % pl->blocks * pl->block;
    *cols = p - *j0 < pl->block ? p - *j0 : pl->block;
}

typedef struct {
    const float *x, *w, *bias;
    const geom *g;
    float lo, hi;
    float *y;
    float *scratch; /* per_job floats for each thread: GEMM workspace */
    size_t per_job;
    const tap_row *rows; /* of the im2col matrix, unless direct */
    int direct;     /* 1 x 1, stride 1, no padding: the input is the GEMM's B */
    int64_t ch, m, cg, mg, group, kk, in_plane, out_plane;
    job_plan plan;  /* units: images x groups */
    int64_t *packed; /* per thread: 1 + the column block whose B its workspace holds, or 0 */
} conv_job;

/* One block of output columns of one group of one image. */
static void conv_block(void *arg, int64_t job, int worker)
{
    const conv_job *j = arg;
    int64_t p = j->out_plane, unit, j0, cols, r0, rows;
    plan_job(&j->plan, p, j->mg, job, &unit, &j0, &cols, &r0, &rows);
    int64_t in = unit / j->group, gi = unit % j->group;
    const float *xg = j->x + (in * j->ch + gi * j->cg) * j->in_plane;
    float *mine = j->scratch + (size_t)worker * j->per_job;
    int64_t row = gi * j->mg + r0; /* first output channel */
    const float *w = j->w + row * j->kk, *bias = j->bias ? j->bias + row : NULL;
    float *y = j->y + (in * j->m + row) * p + j0;
    if (j->direct && j->plan.row_blocks > 1) {
        /* A tall weight split by rows: each thread packs B once for all
         * the row blocks of a column block it runs, rather than once per
         * row block (squeezenet1.1's classifier: 8 blocks of 126 rows, B
         * 512 x 169). */
        int64_t block = job / j->plan.row_blocks + 1;
        if (j->packed[worker] != block) {
            gemm_pack(cols, j->kk, xg + j0, p, mine);
            j->packed[worker] = block;
        }
        gemm_packed(rows, cols, j->kk, w, j->kk, mine, y, p, bias, j->lo, j->hi);
        return;
    }
    if (j->direct) {
        gemm(rows, cols, j->kk, w, j->kk, xg + j0, p, y, p, bias, j->lo, j->hi, mine);
        return;
    }
    image_source b = image_source_of(xg, j->g, j->rows, j->kk, j0);
    gemm_from(rows, cols, j->kk, w, j->kk, &b.base, y, p, bias, j->lo, j->hi, mine);
}

/* 1 x 1, stride 1, no padding: the input is the GEMM's B as it is. */
static int is_pointwise(const geom *g)
{
    return g->k[0] == 1 && g->k[1] == 1 && g->s[0] == 1 && g->s[1] == 1 && !g->pb[0] &&
           !g->pb[1] && !g->pe[0] && !g->pe[1];
}

conv_kind conv_kind_of(op_ctx *c, const tensor *x, const tensor *w)
{
    int64_t group = 0;
    geom g;
    if (conv_setup(c, x, w, NULL, &group, &g) != ONNXQ_OK)
        return CONV_OTHER;
    if (group == 1)
        return is_pointwise(&g) ? CONV_POINTWISE : CONV_PLAIN;
    return group == x->dims[1] && w->dims[0] == group ? CONV_DEPTHWISE : CONV_OTHER;
}

typedef struct {
    const uint8_t *x;
    const int8_t *a;
    const igemm_out *o;
    const geom *g;
    uint8_t *y;
    uint8_t *scratch; /* per_job bytes for each thread: im2col columns, then workspace */
    size_t per_job, col_bytes;
    uint8_t pad;
    int direct;
    int64_t ch, m, kk, in_plane, out_plane;
    job_plan plan; /* units: images */
} qconv_job;

static void qconv_block(void *arg, int64_t job, int worker)
{
    const qconv_job *j = arg;
    int64_t p = j->out_plane, in, j0, cols, r0, rows;
    plan_job(&j->plan, p, j->m, job, &in, &j0, &cols, &r0, &rows);
    const uint8_t *xi = j->x + in * j->ch * j->in_plane, *b = xi + j0;
    uint8_t *mine = j->scratch + (size_t)worker * j->per_job;
    int64_t ldb = p;
    if (!j->direct) {
        im2col_bytes(xi, j->ch, j->g, j0, cols, j->pad, mine);
        b = mine;
        ldb = cols;
    }
    igemm_out o = *j->o; /* from row r0 on */
    o.offset += r0;
    o.mult += r0;
    igemm(rows, cols, j->kk, j->a + r0 * igemm_depth(j->kk), b, ldb, &o,
          j->y + (in * j->m + r0) * p + j0, p, mine + j->col_bytes);
}

onnxq_status conv_compute_q8(op_ctx *c, const tensor *x, const tensor *w, uint8_t pad,
                             const int8_t *a, const igemm_out *o, tensor *y, int y_dtype)
{
    int64_t group = 0;
    geom g;
    onnxq_status s = conv_setup(c, x, w, NULL, &group, &g);
    if (s != ONNXQ_OK)
        return s;
    if (group != 1)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "an 8-bit GEMM for %lld groups",
                       (long long)group);
    int64_t n = x->dims[0], ch = x->dims[1], m = w->dims[0], dims[4];
    out_dims(x, m, &g, dims);
    if ((s = tensor_prepare(c, y, y_dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    int64_t p = g.out[0] * g.out[1], kk = ch * g.k[0] * g.k[1];
    int direct = is_pointwise(&g);
    int64_t want = (int64_t)(64 * 1024) / (kk ? kk : 1);
    job_plan plan = plan_jobs(p, m, want < 64 ? 64 : want, igemm_panel_width(), igemm_row_tile(), n,
                              c->threads);
    size_t col_bytes = direct ? 0 : whole_lines((size_t)(kk * plan.block)) * sizeof(float);
    size_t per_job =
        col_bytes + whole_lines((igemm_workspace(kk, plan.block) + 3) / 4) * sizeof(float);
    uint8_t *scratch = op_scratch(c, (size_t)c->threads * per_job);
    if (!scratch)
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory for the convolution's workspace");
    qconv_job job = { x->data, a,  o,  &g, y->data,           scratch, per_job, col_bytes, pad,
                      direct,  ch, m,  kk, g.in[0] * g.in[1], p,       plan };
    team_run(m * p * kk >= (1 << 16) ? c->team : NULL, plan_jobs_count(&plan, n), qconv_block,
             &job);
    return ONNXQ_OK;
}

onnxq_status conv_depthwise_q8(op_ctx *c, const tensor *x, int32_t x_zero, const tensor *w,
                               tensor *y, int y_dtype, plane_sink *sink, void *sink_arg)
{
    int64_t group;
    geom g;
    onnxq_status s = conv_setup(c, x, w, NULL, &group, &g);
    if (s != ONNXQ_OK)
        return s;
    int64_t dims[4];
    out_dims(x, w->dims[0], &g, dims);
    if ((s = tensor_prepare(c, y, y_dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    plane_in in = { x->data, x->dtype, x_zero };
    return depthwise_run(c, &in, w, NULL, &g, x->dims[0], NULL, sink, sink_arg);
}

static onnxq_status conv_pool(op_ctx *c, const tensor *x, const tensor *w, const float *bias,
                              const geom *g, float lo, float hi, tensor *y);

onnxq_status conv_compute(op_ctx *c, const tensor *x, const tensor *w, const tensor *b,
                          tensor *y)
{
    int64_t group = 1;
    geom g;
    onnxq_status s = conv_setup(c, x, w, b, &group, &g);
    if (s != ONNXQ_OK)
        return s;
    if (c->node && c->node->pool) {
        /* fold_pools folds a MaxPool into a Conv of one group only. */
        float lo, hi;
        folded_clamp(c->node, &lo, &hi);
        if (group != 1 || x->rank != 4)
            return op_fail(c, ONNXQ_ERR_UNSUPPORTED,
                           "a MaxPool after a convolution of rank %d in %lld groups", x->rank,
                           (long long)group);
        return conv_pool(c, x, w, b ? b->data : NULL, &g, lo, hi, y);
    }
    int64_t n = x->dims[0], ch = x->dims[1], m = w->dims[0];
    int64_t dims[4];
    out_dims(x, m, &g, dims);
    if ((s = tensor_prepare(c, y, ONNXQ_DTYPE_FLOAT, x->rank, dims)) != ONNXQ_OK)
        return s;
    int64_t cg = ch / group, mg = m / group, hw = g.in[0] * g.in[1], p = g.out[0] * g.out[1];
    int64_t kk = cg * g.k[0] * g.k[1];
    const float *xd = x->data, *wd = w->data, *bd = b ? b->data : NULL;
    float *yd = y->data;
    float lo, hi;
    folded_clamp(c->node, &lo, &hi);
    if (cg == 1 && mg == 1) {
        plane_in in = { xd, ONNXQ_DTYPE_FLOAT, 0 };
        return depthwise_run(c, &in, w, bd, &g, n, yd, NULL, NULL);
    }
    int direct = is_pointwise(&g);
    /* Column blocks of about 256 KiB of the im2col matrix: when the GEMM
     * packs all of a block's panels first (a tall weight), they stay in a
     * core's cache while its tiles read them. */
    int64_t want = (int64_t)(256 * 1024 / sizeof(float)) / (kk ? kk : 1);
    job_plan plan = plan_jobs(p, mg, want < 64 ? 64 : want, gemm_panel_width(), gemm_row_tile(),
                              n * group, c->threads);
    size_t per_job = whole_lines(gemm_workspace_floats(kk, plan.block));
    size_t workspace = (size_t)c->threads * per_job * sizeof(float);
    size_t tags = (size_t)c->threads * sizeof(int64_t);
    char *scratch =
        op_scratch(c, workspace + tags + (direct ? 0 : (size_t)kk * sizeof(tap_row)));
    if (!scratch)
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory for the convolution's workspace");
    int64_t *packed = (int64_t *)(scratch + workspace);
    memset(packed, 0, tags);
    tap_row *rows = direct ? NULL : (tap_row *)(scratch + workspace + tags);
    if (rows)
        tap_rows(&g, cg, rows);
    conv_job job = { xd, wd, bd,     &g, lo, hi, yd, (float *)scratch, per_job, rows, direct,
                     ch, m,  cg, mg, group, kk, hw, p, plan, packed };
    /* A small convolution is not worth waking the threads for. */
    team_run((int64_t)mg * p * kk >= (1 << 16) ? c->team : NULL, plan_jobs_count(&plan, n * group),
             conv_block, &job);
    return ONNXQ_OK;
}

static onnxq_status op_conv(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, ONNXQ_DTYPE_FLOAT);
    return s == ONNXQ_OK ? conv_compute(c, c->in[0], c->in[1], op_in(c, 2), c->out[0]) : s;
}

/* ---- Pooling ------------------------------------------------------------------------- */

/* Output rows [oy0, oy1) of one plane of a pooling, in two passes per row:
 * the maximum (or sum) down the window's rows, once per input column, into
 * `row` (padded on both sides with -inf, or 0), then across it.  That is
 * kh + kw operations per column instead of kh * kw, all but the last pass
 * over contiguous floats.  An average divides by count[oy ow + ox], the
 * cells it covers.  row: room for the (out[1] - 1) s + (k[1] - 1) d + 1
 * columns the windows cover, from column -pb[1]. */
INLINE_LOOPS VECTOR_CLONES static void pool_rows(const float *restrict x, const geom *g,
                                                 int is_max, const float *restrict count,
                                                 int64_t oy0, int64_t oy1, float *restrict row,
                                                 float *restrict y)
{
    int64_t iw = g->in[1], ow = g->out[1], sx = g->s[1], dx = g->d[1], pad = g->pb[1];
    int64_t width = (ow - 1) * sx + (g->k[1] - 1) * dx + 1;
    for (int64_t oy = oy0; oy < oy1; oy++) {
        for (int64_t i = 0; i < width; i++)
            row[i] = is_max ? -INFINITY : 0.0f;
        float *mid = row + pad; /* mid[ix] is input column ix */
        int64_t cols = iw < width - pad ? iw : width - pad;
        for (int64_t ky = 0; ky < g->k[0]; ky++) {
            int64_t iy = oy * g->s[0] - g->pb[0] + ky * g->d[0];
            if (iy < 0 || iy >= g->in[0])
                continue;
            const float *src = x + iy * iw;
            if (is_max)
                for (int64_t ix = 0; ix < cols; ix++)
                    mid[ix] = max_f(mid[ix], src[ix]);
            else
                for (int64_t ix = 0; ix < cols; ix++)
                    mid[ix] += src[ix];
        }
        float *dst = y + oy * ow;
        if (sx == 2 && dx == 1) {
            /* Tap kx of output ox is column 2 ox + kx: split into even
             * and odd columns, every tap is read at unit stride (the same
             * values, taken in the same order). */
            float *even = row + whole_lines((size_t)width), *odd = even + (width + 1) / 2;
            split_columns(row, width, even);
            for (int64_t ox = 0; ox < ow; ox++)
                dst[ox] = even[ox];
            for (int64_t kx = 1; kx < g->k[1]; kx++) {
                const float *tap = (kx % 2 ? odd : even) + kx / 2;
                if (is_max)
                    for (int64_t ox = 0; ox < ow; ox++)
                        dst[ox] = max_f(dst[ox], tap[ox]);
                else
                    for (int64_t ox = 0; ox < ow; ox++)
                        dst[ox] += tap[ox];
            }
        } else {
            for (int64_t ox = 0; ox < ow; ox++)
                dst[ox] = row[ox * sx];
            for (int64_t kx = 1; kx < g->k[1]; kx++) {
                const float *tap = row + kx * dx;
                if (is_max)
                    for (int64_t ox = 0; ox < ow; ox++)
                        dst[ox] = max_f(dst[ox], tap[ox * sx]);
                else
                    for (int64_t ox = 0; ox < ow; ox++)
                        dst[ox] += tap[ox * sx];
            }
        }
        if (!is_max) {
            const float *cnt = count + oy * ow;
            for (int64_t ox = 0; ox < ow; ox++)
                dst[ox] = cnt[ox] > 0 ? dst[ox] / cnt[ox] : 0.0f;
        }
    }
}

typedef struct {
    const float *x;
    const geom *g;
    int is_max;
    const float *count;
    float *rows; /* width floats for each thread */
    int64_t width;
    float *y;
    int64_t planes, band, in_plane, out_plane;
    const window *direct; /* a 3 x 3 pooling for window.h's kernel, or NULL */
} pool_job;

/* g as window.h's kernel takes it: 1 when that runs it (a 3 x 3 pooling
 * without dilation). */
static int pool_window_of(const geom *g, window *win)
{
    *win = (window){ g->in[0],  g->in[1],  g->out[0],     g->out[1],
                     g->pb[0], g->pb[1], (int)g->s[1], 3 };
    return g->k[0] == 3 && g->k[1] == 3 && g->d[0] == 1 && g->d[1] == 1 && g->s[0] == g->s[1];
}

/* Floats pool_rows needs per thread: the row its windows cover, and room
 * to split it into even and odd columns. */
static int64_t pool_row_floats(const geom *g)
{
    int64_t width = (g->out[1] - 1) * g->s[1] + (g->k[1] - 1) * g->d[1] + 1;
    return 2 * (int64_t)whole_lines((size_t)width);
}

/* Output rows [oy0, oy1) of one plane: by window.h's kernel where direct
 * (pool_window_of) is given and a kernel runs, else by pool_rows. */
static void pool_plane(const float *x, const geom *g, const window *direct, int is_max,
                       const float *count, int64_t oy0, int64_t oy1, float *row, float *y)
{
    if (!(direct && pool_window(x, direct, is_max ? NULL : count, oy0, oy1, y)))
        pool_rows(x, g, is_max, count, oy0, oy1, row, y);
}

/* One band of output rows of one plane. */
static void pool_band(void *arg, int64_t job, int worker)
{
    const pool_job *j = arg;
    int64_t pl = job % j->planes, oy0 = job / j->planes * j->band;
    int64_t oy1 = oy0 + j->band < j->g->out[0] ? oy0 + j->band : j->g->out[0];
    if (oy0 < oy1)
        pool_plane(j->x + pl * j->in_plane, j->g, j->direct, j->is_max, j->count, oy0, oy1,
                   j->rows + worker * j->width, j->y + pl * j->out_plane);
}

/* A pooling's geometry over x from c's node (a MaxPool or an AveragePool),
 * refusing what the engine does not compute. */
static onnxq_status pool_setup(op_ctx *c, const tensor *x, int is_max, geom *g)
{
    size_t nk;
    const int64_t *ks = op_attr_ints(c, "kernel_shape", &nk);
    if (nk != (size_t)x->rank - 2)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "kernel_shape has %zu entries for a rank-%d input",
                       nk, x->rank);
    if (c->n_out > 1 && c->node->out[1] >= 0)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "the Indices output");
    if (is_max && op_attr_int(c, "storage_order", 0))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "storage_order 1");
    return geom_setup(c, x, ks, (int)op_attr_int(c, "ceil_mode", 0), g);
}

static onnxq_status pool(op_ctx *c, int is_max)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    geom g;
    if ((s = pool_setup(c, x, is_max, &g)) != ONNXQ_OK)
        return s;
    int include_pad = (int)op_attr_int(c, "count_include_pad", 0);
    int64_t dims[4];
    out_dims(x, x->dims[1], &g, dims);
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, ONNXQ_DTYPE_FLOAT, x->rank, dims)) != ONNXQ_OK)
        return s;
    int64_t planes = x->dims[0] * x->dims[1], hw = g.in[0] * g.in[1], p = g.out[0] * g.out[1];
    const float *xd = x->data;
    float *yd = y->data;
    /* For an average, the cells each output covers: inside the input, or
     * inside input plus explicit padding. */
    float *count = NULL;
    int64_t width = pool_row_floats(&g);
    float *rows = op_scratch(c, (size_t)(c->threads * width + (is_max ? 0 : p)) * sizeof *rows);
    if (!rows)
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory");
    if (!is_max) {
        count = rows + c->threads * width;
        int64_t ylo = include_pad ? -g.pb[0] : 0, yhi = g.in[0] + (include_pad ? g.pe[0] : 0);
        int64_t xlo = include_pad ? -g.pb[1] : 0, xhi = g.in[1] + (include_pad ? g.pe[1] : 0);
        for (int64_t oy = 0; oy < g.out[0]; oy++)
            for (int64_t ox = 0; ox < g.out[1]; ox++) {
                int64_t ny = 0, nx = 0;
                for (int64_t ky = 0; ky < g.k[0]; ky++) {
                    int64_t iy = oy * g.s[0] - g.pb[0] + ky * g.d[0];
                    ny += iy >= ylo && iy < yhi;
                }
                for (int64_t kx = 0; kx < g.k[1]; kx++) {
                    int64_t ix = ox * g.s[1] - g.pb[1] + kx * g.d[1];
                    nx += ix >= xlo && ix < xhi;
                }
                count[oy * g.out[1] + ox] = (float)(ny * nx);
            }
    }
    /* A task per band of output rows of each plane, as many bands as
     * threads, so that even a few planes split over the threads. */
    int64_t bands = c->threads, band = (g.out[0] + bands - 1) / bands;
    window win;
    int three = pool_window_of(&g, &win);
    pool_job job = { xd,   &g,   is_max, count, rows, width, yd,
                     planes, band, hw,   p,     three ? &win : NULL };
    team_run(c->team, bands * planes, pool_band, &job);
    return ONNXQ_OK;
}

/* ---- A Conv and the MaxPool after it ------------------------------------------------ */

typedef struct {
    const float *x, *w, *bias;
    const geom *g, *pg; /* the convolution's; the pooling's, over its output */
    const tap_row *rows;
    float lo, hi;
    float *y;
    float *scratch; /* per_worker floats for each thread */
    size_t per_worker, band_floats, work_floats;
    int64_t ch, m, kk, band, bands;
} conv_pool_job;

/* Pooled rows [py0, py1) of one image, from the convolution's output rows
 * they read, computed into the thread's scratch. */
static void conv_pool_band(void *arg, int64_t job, int worker)
{
    const conv_pool_job *j = arg;
    const geom *g = j->g, *pg = j->pg;
    int64_t in = job / j->bands, py0 = job % j->bands * j->band;
    int64_t py1 = py0 + j->band < pg->out[0] ? py0 + j->band : pg->out[0];
    int64_t top = py0 * pg->s[0] - pg->pb[0]; /* first row the band's windows read */
    int64_t bottom = (py1 - 1) * pg->s[0] - pg->pb[0] + (pg->k[0] - 1) * pg->d[0] + 1;
    int64_t cy0 = top > 0 ? top : 0, cy1 = bottom < g->out[0] ? bottom : g->out[0];
    int64_t ow = g->out[1], cols = (cy1 - cy0) * ow, pplane = pg->out[0] * pg->out[1];
    float *conv = j->scratch + (size_t)worker * j->per_worker;
    float *work = conv + j->band_floats, *row = work + j->work_floats;
    float *y = j->y + in * j->m * pplane + py0 * pg->out[1];
    if (cy1 <= cy0) {
        /* Every window in the padding. */
        for (int64_t o = 0; o < j->m; o++)
            for (int64_t i = 0; i < (py1 - py0) * pg->out[1]; i++)
                y[o * pplane + i] = -INFINITY;
        return;
    }
    image_source b =
        image_source_of(j->x + in * j->ch * g->in[0] * g->in[1], g, j->rows, j->kk, cy0 * ow);
    gemm_from(j->m, cols, j->kk, j->w, j->kk, &b.base, conv, cols, j->bias, j->lo, j->hi, work);
    /* The pooling over the band alone: its rows counted from cy0. */
    geom band = *pg;
    band.in[0] = cy1 - cy0;
    band.pb[0] = cy0 - top;
    band.out[0] = py1 - py0;
    window win;
    const window *direct = pool_window_of(&band, &win) ? &win : NULL;
    for (int64_t o = 0; o < j->m; o++)
        pool_plane(conv + o * cols, &band, direct, 1, NULL, 0, py1 - py0, row, y + o * pplane);
}

/* The Conv's output pooled by the MaxPool folded into it (fold_pools),
 * band by band of pooled rows: each band's convolution rows (the rows its
 * windows share with the next band's computed twice) into the thread's
 * scratch, about 256 KiB, then pooled from there.  The same values as the
 * two operators one after the other. */
static onnxq_status conv_pool(op_ctx *c, const tensor *x, const tensor *w, const float *bias,
                              const geom *g, float lo, float hi, tensor *y)
{
    op_ctx pc = *c; /* the MaxPool's attributes */
    pc.node = c->node->pool;
    int64_t n = x->dims[0], ch = x->dims[1], m = w->dims[0];
    tensor conv_out = { .dtype = ONNXQ_DTYPE_FLOAT, .rank = 4,
                        .dims = { n, m, g->out[0], g->out[1] } };
    geom pg;
    onnxq_status s = pool_setup(&pc, &conv_out, 1, &pg);
    if (s != ONNXQ_OK)
        return s;
    int64_t dims[4];
    out_dims(&conv_out, m, &pg, dims);
    if ((s = tensor_prepare(c, y, ONNXQ_DTYPE_FLOAT, 4, dims)) != ONNXQ_OK)
        return s;
    int64_t kk = ch * g->k[0] * g->k[1], ow = g->out[1];
    /* Pooled rows per band: their convolution rows in about 256 KiB, and
     * at least four bands per thread when there are enough rows. */
    int64_t per_row = m * ow > 0 ? m * ow : 1, fit = 65536 / per_row;
    int64_t band = (fit - (pg.k[0] - 1) * pg.d[0] - 1) / pg.s[0] + 1;
    int64_t spread = (n * pg.out[0] + 4 * c->threads - 1) / (4 * c->threads);
    band = band > spread ? spread : band;
    band = band < 1 ? 1 : band;
    int64_t bands = pg.out[0] > 0 ? (pg.out[0] + band - 1) / band : 0;
    int64_t rows_max = (band - 1) * pg.s[0] + (pg.k[0] - 1) * pg.d[0] + 1;
    rows_max = rows_max < g->out[0] ? rows_max : g->out[0];
    size_t band_floats = whole_lines((size_t)(m * rows_max * ow));
    size_t work_floats = whole_lines(gemm_workspace_floats(kk, rows_max * ow));
    size_t per_worker = band_floats + work_floats + (size_t)pool_row_floats(&pg);
    char *scratch = op_scratch(c, (size_t)c->threads * per_worker * sizeof(float) +
                                      (size_t)kk * sizeof(tap_row));
    if (!scratch)
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory for the convolution's workspace");
    tap_row *rows = (tap_row *)(scratch + (size_t)c->threads * per_worker * sizeof(float));
    tap_rows(g, ch, rows);
    conv_pool_job job = { .x = x->data,          .w = w->data,
                          .bias = bias,          .g = g,
                          .pg = &pg,             .rows = rows,
                          .lo = lo,              .hi = hi,
                          .y = y->data,          .scratch = (float *)scratch,
                          .per_worker = per_worker, .band_floats = band_floats,
                          .work_floats = work_floats, .ch = ch,
                          .m = m,                .kk = kk,
                          .band = band,          .bands = bands };
    team_run(c->team, n * bands, conv_pool_band, &job);
    return ONNXQ_OK;
}

static onnxq_status op_max_pool(op_ctx *c) { return pool(c, 1); }
static onnxq_status op_average_pool(op_ctx *c) { return pool(c, 0); }

typedef struct {
    const float *x;
    float *y;
    int64_t area;
    int is_max;
} global_job;

/* Planes [from, to): each one's sum (or maximum) taken in order, as a
 * chain of dependent additions; eight planes at a time, so that eight
 * chains run side by side (one alone waits out each addition's latency:
 * squeezenet1.1's 1000 planes of 169 took 0.1 ms). */
static void global_planes(void *arg, int64_t from, int64_t to, int worker)
{
    (void)worker;
    enum { LANES = 8 };
    const global_job *j = arg;
    int64_t area = j->area;
    for (int64_t pl = from; pl < to; pl += LANES) {
        int n = to - pl < LANES ? (int)(to - pl) : LANES;
        const float *xp = j->x + pl * area;
        float acc[LANES];
        for (int u = 0; u < n; u++)
            acc[u] = j->is_max ? -INFINITY : 0.0f;
        if (n == LANES && !j->is_max)
            for (int64_t i = 0; i < area; i++)
#pragma GCC unroll 8
                for (int u = 0; u < LANES; u++)
                    acc[u] += xp[u * area + i];
        else
            for (int64_t i = 0; i < area; i++)
                for (int u = 0; u < n; u++) {
                    float v = xp[u * area + i];
                    acc[u] = j->is_max ? (v > acc[u] ? v : acc[u]) : acc[u] + v;
                }
        for (int u = 0; u < n; u++)
            j->y[pl + u] = j->is_max ? acc[u] : acc[u] / (float)area;
    }
}

static onnxq_status global_pool(op_ctx *c, int is_max)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    if (x->rank < 3)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "rank %d input", x->rank);
    int64_t dims[TENSOR_MAX_RANK];
    dims[0] = x->dims[0];
    dims[1] = x->dims[1];
    int64_t area = 1;
    for (int d = 2; d < x->rank; d++) {
        dims[d] = 1;
        area *= x->dims[d];
    }
    if ((s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_FLOAT, x->rank, dims)) != ONNXQ_OK)
        return s;
    global_job job = { x->data, c->out[0]->data, area, is_max };
    int64_t planes = dims[0] * dims[1];
    /* Split only when the planes hold 64K values or more. */
    team_run_ranges(c->team, planes, area > 0 ? (65536 + area - 1) / area : planes + 1,
                    global_planes, &job);
    return ONNXQ_OK;
}

static onnxq_status op_global_average_pool(op_ctx *c) { return global_pool(c, 0); }
static onnxq_status op_global_max_pool(op_ctx *c) { return global_pool(c, 1); }

/* ---- Normalization ---------------------------------------------------------------------------- */

static onnxq_status op_batch_norm(op_ctx *c)
{
    onnxq_status s = ONNXQ_OK;
    for (size_t i = 0; i < 5 && s == ONNXQ_OK; i++)
        s = op_need(c, i, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    if (op_attr_int(c, "training_mode", 0))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "training_mode 1");
    if (c->node->opset < 9 && op_attr_int(c, "spatial", 1) == 0)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "spatial 0");
    const tensor *x = c->in[0];
    int64_t ch = x->rank > 1 ? x->dims[1] : 1;
    for (size_t i = 1; i < 5; i++)
        if (c->in[i]->n != ch)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "input %zu has %lld values for %lld channels", i,
                           (long long)c->in[i]->n, (long long)ch);
    if ((s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_FLOAT, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    float eps = op_attr_float(c, "epsilon", 1e-5f);
    const float *scale = c->in[1]->data, *bias = c->in[2]->data, *mean = c->in[3]->data,
                *var = c->in[4]->data;
    int64_t area = ch ? x->n / (x->dims[0] * ch) : 0;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    for (int64_t n = 0; n < x->dims[0]; n++)
        for (int64_t k = 0; k < ch; k++) {
            float a = scale[k] / sqrtf(var[k] + eps), b = bias[k] - mean[k] * a;
            const float *xp = xd + (n * ch + k) * area;
            float *yp = yd + (n * ch + k) * area;
            for (int64_t i = 0; i < area; i++)
                yp[i] = xp[i] * a + b;
        }
    return ONNXQ_OK;
}

static onnxq_status op_lrn(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t size = op_attr_int(c, "size", 0);
    if (size < 1 || x->rank < 3)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "size %lld, input rank %d", (long long)size, x->rank);
    float alpha = op_attr_float(c, "alpha", 1e-4f), beta = op_attr_float(c, "beta", 0.75f),
          bias = op_attr_float(c, "bias", 1.0f);
    if ((s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_FLOAT, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    int64_t ch = x->dims[1], area = x->n / (x->dims[0] * ch);
    int64_t before = (size - 1) / 2, after = size - 1 - before;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    for (int64_t n = 0; n < x->dims[0]; n++)
        for (int64_t k = 0; k < ch; k++)
            for (int64_t i = 0; i < area; i++) {
                float sum = 0;
                for (int64_t j = k - before; j <= k + after; j++)
                    if (j >= 0 && j < ch) {
                        float v = xd[(n * ch + j) * area + i];
                        sum += v * v;
                    }
                int64_t at = (n * ch + k) * area + i;
                yd[at] = xd[at] / powf(bias + alpha / (float)size * sum, beta);
            }
    return ONNXQ_OK;
}

/* Before opset 13 softmax flattens the input to 2-D at `axis` (default 1);
 * from 13 on it works along the one axis (default -1). */
static onnxq_status softmax(op_ctx *c, int log_out)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int legacy = c->node->opset < 13;
    int64_t axis = op_attr_int(c, "axis", legacy ? 1 : -1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis >= (x->rank ? x->rank : 1))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "axis out of range");
    int64_t outer = 1, len = 1, inner = 1;
    for (int d = 0; d < x->rank; d++) {
        if (d < axis)
            outer *= x->dims[d];
        else if (d == axis || legacy)
            len *= x->dims[d];
        else
            inner *= x->dims[d];
    }
    if ((s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_FLOAT, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    const float *xd = x->data;
    float *yd = c->out[0]->data;
    for (int64_t o = 0; o < outer; o++)
        for (int64_t in = 0; in < inner; in++) {
            const float *xp = xd + o * len * inner + in;
            float *yp = yd + o * len * inner + in;
            float mx = -INFINITY;
            for (int64_t i = 0; i < len; i++)
                mx = xp[i * inner] > mx ? xp[i * inner] : mx;
            double sum = 0;
            for (int64_t i = 0; i < len; i++)
                sum += exp((double)xp[i * inner] - mx);
            for (int64_t i = 0; i < len; i++) {
                double v = (double)xp[i * inner] - mx;
                yp[i * inner] = log_out ? (float)(v - log(sum)) : (float)(exp(v) / sum);
            }
        }
    return ONNXQ_OK;
}

static onnxq_status op_softmax(op_ctx *c) { return softmax(c, 0); }
static onnxq_status op_log_softmax(op_ctx *c) { return softmax(c, 1); }

/* ---- Matrix products ---------------------------------------------------------------------------- */

static onnxq_status op_gemm(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *a = c->in[0], *b = c->in[1], *cc = op_in(c, 2);
    if (a->rank != 2 || b->rank != 2)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "inputs of rank %d and %d (2 expected)", a->rank, b->rank);
    int ta = (int)op_attr_int(c, "transA", 0), tb = (int)op_attr_int(c, "transB", 0);
    float alpha = op_attr_float(c, "alpha", 1.0f), beta = op_attr_float(c, "beta", 1.0f);
    int64_t m = ta ? a->dims[1] : a->dims[0], k = ta ? a->dims[0] : a->dims[1];
    int64_t kb = tb ? b->dims[1] : b->dims[0], n = tb ? b->dims[0] : b->dims[1];
    if (k != kb)
        return op_fail(c, ONNXQ_ERR_ARGUMENT, "inner dimensions %lld and %lld differ", (long long)k,
                       (long long)kb);
    int64_t dims[2] = { m, n };
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, ONNXQ_DTYPE_FLOAT, 2, dims)) != ONNXQ_OK)
        return s;
    float *yd = y->data;
    float bet = 0;
    if (cc && beta != 0) {
        if (cc->dtype != ONNXQ_DTYPE_FLOAT || cc->rank > 2)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "C must be float of rank 2 or less");
        int64_t cm = cc->rank == 2 ? cc->dims[0] : 1;
        int64_t cn = cc->rank >= 1 ? cc->dims[cc->rank - 1] : 1;
        if ((cm != 1 && cm != m) || (cn != 1 && cn != n))
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "C does not broadcast to [%lld,%lld]",
                           (long long)m, (long long)n);
        const float *cd = cc->data;
        for (int64_t i = 0; i < m; i++)
            for (int64_t j = 0; j < n; j++)
                yd[i * n + j] = cd[(cm == 1 ? 0 : i) * cn + (cn == 1 ? 0 : j)];
        bet = beta;
    }
    if (m && n)
        return dense_gemm(c, ta, tb, m, n, k, alpha, a->data, a->dims[1], b->data, b->dims[1],
                          bet, yd, n);
    return ONNXQ_OK;
}

onnxq_status matmul_compute(op_ctx *c, const tensor *a, const tensor *b, tensor *y)
{
    onnxq_status s;
    if (a->rank < 1 || b->rank < 1)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "scalar inputs");
    /* 1-D operands are promoted to matrices and the added axis dropped. */
    int64_t m = a->rank == 1 ? 1 : a->dims[a->rank - 2], k = a->dims[a->rank - 1];
    int64_t kb = b->rank == 1 ? b->dims[0] : b->dims[b->rank - 2];
    int64_t n = b->rank == 1 ? 1 : b->dims[b->rank - 1];
    if (k != kb)
        return op_fail(c, ONNXQ_ERR_ARGUMENT, "inner dimensions %lld and %lld differ", (long long)k,
                       (long long)kb);
    int ba = a->rank > 2 ? a->rank - 2 : 0, bb = b->rank > 2 ? b->rank - 2 : 0;
    int br;
    int64_t bdims[TENSOR_MAX_RANK], batch = 1;
    if ((s = op_broadcast_shape(c, ba, a->dims, bb, b->dims, &br, bdims)) != ONNXQ_OK)
        return s;
    for (int d = 0; d < br; d++)
        batch *= bdims[d];
    int64_t dims[TENSOR_MAX_RANK];
    int r = 0;
    for (int d = 0; d < br; d++)
        dims[r++] = bdims[d];
    if (a->rank > 1)
        dims[r++] = m;
    if (b->rank > 1)
        dims[r++] = n;
    if ((s = tensor_prepare(c, y, ONNXQ_DTYPE_FLOAT, r, dims)) != ONNXQ_OK)
        return s;
    for (int64_t i = 0; i < batch; i++) {
        /* Offsets of batch i in each operand, honouring broadcast axes. */
        int64_t rem = i, oa = 0, ob = 0, sa = m * k, sb = k * n;
        for (int d = br - 1; d >= 0; d--) {
            int64_t idx = rem % bdims[d];
            rem /= bdims[d];
            int da = d - (br - ba), db = d - (br - bb);
            if (da >= 0) {
                oa += (a->dims[da] == 1 ? 0 : idx) * sa;
                sa *= a->dims[da];
            }
            if (db >= 0) {
                ob += (b->dims[db] == 1 ? 0 : idx) * sb;
                sb *= b->dims[db];
            }
        }
        float *yd = (float *)y->data + i * m * n;
        if (!m || !n)
            continue;
        if (!k) {
            memset(yd, 0, (size_t)(m * n) * sizeof *yd);
            continue;
        }
        if ((s = dense_gemm(c, 0, 0, m, n, k, 1.0f, (const float *)a->data + oa, k,
                            (const float *)b->data + ob, n, 0.0f, yd, n)) != ONNXQ_OK)
            return s;
    }
    return ONNXQ_OK;
}

static onnxq_status op_matmul(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, ONNXQ_DTYPE_FLOAT);
    return s == ONNXQ_OK ? matmul_compute(c, c->in[0], c->in[1], c->out[0]) : s;
}

/* ---- Reductions ------------------------------------------------------------------------------------- */

typedef enum { R_MEAN, R_SUM, R_MAX, R_MIN, R_PROD, R_SUMSQUARE, R_L1, R_L2, R_LOGSUMEXP } reduce_kind;

static onnxq_status reduce(op_ctx *c, reduce_kind kind)
{
    onnxq_status s = op_need(c, 0, ONNXQ_DTYPE_FLOAT);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t axes[TENSOR_MAX_RANK];
    size_t na = 0;
    const tensor *axes_in = op_in(c, 1);
    if (axes_in) {
        if ((s = op_read_ints(c, axes_in, axes, TENSOR_MAX_RANK, &na)) != ONNXQ_OK)
            return s;
    } else {
        const int64_t *a = op_attr_ints(c, "axes", &na);
        if (na > TENSOR_MAX_RANK)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "too many axes");
        for (size_t i = 0; i < na; i++)
            axes[i] = a[i];
    }
    int keep = (int)op_attr_int(c, "keepdims", 1);
    int reduced[TENSOR_MAX_RANK] = { 0 };
    if (na == 0 && op_attr_int(c, "noop_with_empty_axes", 0))
        return tensor_copy(c, c->out[0], x);
    for (int d = 0; d < x->rank; d++)
        reduced[d] = na == 0;
    for (size_t i = 0; i < na; i++) {
        int64_t ax = axes[i] < 0 ? axes[i] + x->rank : axes[i];
        if (ax < 0 || ax >= x->rank)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "axis %lld out of range", (long long)axes[i]);
        reduced[ax] = 1;
    }
    int64_t dims[TENSOR_MAX_RANK];
    int r = 0;
    for (int d = 0; d < x->rank; d++) {
        if (!reduced[d])
            dims[r++] = x->dims[d];
        else if (keep)
            dims[r++] = 1;
    }
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, ONNXQ_DTYPE_FLOAT, r, dims)) != ONNXQ_OK)
        return s;
    double *acc = calloc((size_t)y->n + 1, sizeof *acc);
    int64_t *count = calloc((size_t)y->n + 1, sizeof *count);
    if (!acc || !count) {
        free(acc);
        free(count);
        return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory");
    }
    double start = kind == R_MAX ? -INFINITY : kind == R_MIN ? INFINITY : kind == R_PROD ? 1 : 0;
    for (int64_t i = 0; i < y->n; i++)
        acc[i] = start;
    const float *xd = x->data;
    int64_t idx[TENSOR_MAX_RANK] = { 0 };
    for (int64_t i = 0; i < x->n; i++) {
        int64_t o = 0;
        for (int d = 0; d < x->rank; d++)
            if (!reduced[d])
                o = o * x->dims[d] + idx[d];
        double v = xd[i];
        switch (kind) {
        case R_MAX: acc[o] = v > acc[o] ? v : acc[o]; break;
        case R_MIN: acc[o] = v < acc[o] ? v : acc[o]; break;
        case R_PROD: acc[o] *= v; break;
        case R_SUMSQUARE: case R_L2: acc[o] += v * v; break;
        case R_L1: acc[o] += fabs(v); break;
        case R_LOGSUMEXP: acc[o] += exp(v); break;
        default: acc[o] += v; break;
        }
        count[o]++;
        index_next(idx, x->dims, x->rank);
    }
    float *yd = y->data;
    for (int64_t i = 0; i < y->n; i++) {
        double v = acc[i];
        if (kind == R_MEAN)
            v = count[i] ? v / (double)count[i] : NAN;
        else if (kind == R_L2)
            v = sqrt(v);
        else if (kind == R_LOGSUMEXP)
            v = log(v);
        yd[i] = (float)v;
    }
    free(acc);
    free(count);
    return ONNXQ_OK;
}

static onnxq_status op_reduce_mean(op_ctx *c) { return reduce(c, R_MEAN); }
static onnxq_status op_reduce_sum(op_ctx *c) { return reduce(c, R_SUM); }
static onnxq_status op_reduce_max(op_ctx *c) { return reduce(c, R_MAX); }
static onnxq_status op_reduce_min(op_ctx *c) { return reduce(c, R_MIN); }
static onnxq_status op_reduce_prod(op_ctx *c) { return reduce(c, R_PROD); }
static onnxq_status op_reduce_sum_square(op_ctx *c) { return reduce(c, R_SUMSQUARE); }
static onnxq_status op_reduce_l1(op_ctx *c) { return reduce(c, R_L1); }
static onnxq_status op_reduce_l2(op_ctx *c) { return reduce(c, R_L2); }
static onnxq_status op_reduce_log_sum_exp(op_ctx *c) { return reduce(c, R_LOGSUMEXP); }

/* Inference-mode Dropout passes its input through; the mask is all true. */
static onnxq_status op_dropout(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *training = op_in(c, 2);
    if (training && training->n == 1 && tensor_int_at(training, 0))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "training_mode true");
    if ((s = tensor_copy(c, c->out[0], c->in[0])) != ONNXQ_OK)
        return s;
    if (c->n_out > 1 && c->node->out[1] >= 0) {
        const tensor *x = c->in[0];
        int mask_type = c->node->opset >= 10 ? ONNXQ_DTYPE_BOOL : x->dtype;
        if ((s = tensor_prepare(c, c->out[1], mask_type, x->rank, x->dims)) != ONNXQ_OK)
            return s;
        if (mask_type == ONNXQ_DTYPE_BOOL)
            memset(c->out[1]->data, 1, (size_t)x->n);
        else
            return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "a mask output before opset 10");
    }
    return ONNXQ_OK;
}

const op_def ops_nn[] = {
    { "", "Conv", op_conv },
    { "", "MaxPool", op_max_pool },
    { "", "AveragePool", op_average_pool },
    { "", "GlobalAveragePool", op_global_average_pool },
    { "", "GlobalMaxPool", op_global_max_pool },
    { "", "BatchNormalization", op_batch_norm },
    { "", "LRN", op_lrn },
    { "", "Softmax", op_softmax },
    { "", "LogSoftmax", op_log_softmax },
    { "", "Gemm", op_gemm },
    { "", "MatMul", op_matmul },
    { "", "ReduceMean", op_reduce_mean },
    { "", "ReduceSum", op_reduce_sum },
    { "", "ReduceMax", op_reduce_max },
    { "", "ReduceMin", op_reduce_min },
    { "", "ReduceProd", op_reduce_prod },
    { "", "ReduceSumSquare", op_reduce_sum_square },
    { "", "ReduceL1", op_reduce_l1 },
    { "", "ReduceL2", op_reduce_l2 },
    { "", "ReduceLogSumExp", op_reduce_log_sum_exp },
    { "", "Dropout", op_dropout },
    { NULL, NULL, NULL },
};
