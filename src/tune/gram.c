/* gram.c: input Gram matrices of convolutions and matrix products (gram.h). */
#include "config.h"
#include "gram.h"
#include "model/onnx_io.h"

#include <cblas.h>
#include <stdlib.h>
#include <string.h>

void gram_accumulate(double *h, const float *a, int64_t k, int64_t m, int64_t lda, int columns,
                     float *acc)
{
    cblas_ssyrk(CblasRowMajor, CblasUpper, columns ? CblasNoTrans : CblasTrans, (int)k, (int)m,
                1.0f, a, (int)lda, 0.0f, acc, (int)k);
    for (int64_t i = 0; i < k; i++)
        for (int64_t j = i; j < k; j++) {
            h[i * k + j] += acc[i * k + j];
            if (j != i)
                h[j * k + i] += acc[i * k + j];
        }
}

typedef struct conv_shape {
    int64_t in[2], k[2], stride[2], dilation[2], pad[2], out[2];
} conv_shape;

/* The geometry ONNX gives a Conv: explicit pads or auto_pad; 1 when it
 * is one this does not take. */
static int conv_shape_of(const Onnx__NodeProto *node, const onnxq_tensor_view *x,
                         const onnxq_tensor_view *w, conv_shape *s)
{
    size_t ns, nd, np;
    const int64_t *st = onnx_attr_ints(node, "strides", &ns);
    const int64_t *dl = onnx_attr_ints(node, "dilations", &nd);
    const int64_t *pd = onnx_attr_ints(node, "pads", &np);
    char buf[16];
    const char *auto_pad = onnx_attr_string_into(node, "auto_pad", "NOTSET", buf, sizeof buf);
    if ((ns && ns != 2) || (nd && nd != 2) || (np && np != 4))
        return 1;
    for (int a = 0; a < 2; a++) {
        s->in[a] = x->dims[2 + a];
        s->k[a] = w->dims[2 + a];
        s->stride[a] = ns ? st[a] : 1;
        s->dilation[a] = nd ? dl[a] : 1;
        if (s->stride[a] < 1 || s->dilation[a] < 1)
            return 1;
        int64_t span = (s->k[a] - 1) * s->dilation[a] + 1, before, after;
        if (!strcmp(auto_pad, "SAME_UPPER") || !strcmp(auto_pad, "SAME_LOWER")) {
            int64_t out = (s->in[a] + s->stride[a] - 1) / s->stride[a];
            int64_t total = (out - 1) * s->stride[a] + span - s->in[a];
            total = total > 0 ? total : 0;
            before = !strcmp(auto_pad, "SAME_UPPER") ? total / 2 : total - total / 2;
            after = total - before;
        } else if (!strcmp(auto_pad, "VALID")) {
            before = after = 0;
        } else {
            before = np ? pd[a] : 0;
            after = np ? pd[a + 2] : 0;
        }
        s->pad[a] = before;
        s->out[a] = (s->in[a] + before + after - span) / s->stride[a] + 1;
        if (s->out[a] < 1 || before < 0 || after < 0)
            return 1;
    }
    return 0;
}

/* The im2col matrix of one group of one image: kk rows (channel, ky, kx)
 * of p = out h x out w columns, zero where a tap falls in the padding. */
static void im2col(const float *x, int64_t channels, const conv_shape *s, float *col)
{
    int64_t hw = s->in[0] * s->in[1], p = s->out[0] * s->out[1];
    for (int64_t c = 0; c < channels; c++)
        for (int64_t ky = 0; ky < s->k[0]; ky++)
            for (int64_t kx = 0; kx < s->k[1]; kx++, col += p)
                for (int64_t oy = 0; oy < s->out[0]; oy++) {
                    int64_t iy = oy * s->stride[0] - s->pad[0] + ky * s->dilation[0];
                    for (int64_t ox = 0; ox < s->out[1]; ox++) {
                        int64_t ix = ox * s->stride[1] - s->pad[1] + kx * s->dilation[1];
                        int inside = iy >= 0 && iy < s->in[0] && ix >= 0 && ix < s->in[1];
                        col[oy * s->out[1] + ox] = inside ? x[c * hw + iy * s->in[1] + ix] : 0;
                    }
                }
}

int gram_conv(const Onnx__NodeProto *node, const onnxq_tensor_view *x,
              const onnxq_tensor_view *w, double *gram, double *columns)
{
    conv_shape s;
    int64_t group = onnx_attr_int(node, "group", 1);
    if (x->rank != 4 || w->rank != 4 || group < 1 || x->dims[1] % group ||
        w->dims[1] * group != x->dims[1] || conv_shape_of(node, x, w, &s))
        return 1;
    int64_t n = x->dims[0], ch = x->dims[1], cg = ch / group, hw = s.in[0] * s.in[1];
    int64_t p = s.out[0] * s.out[1], kk = cg * s.k[0] * s.k[1];
    float *col = malloc((size_t)(kk * p + 1) * sizeof *col);
    float *acc = malloc((size_t)(kk * kk + 1) * sizeof *acc);
    int rc = col && acc ? 0 : -1;
    for (int64_t in = 0; !rc && in < n; in++)
        for (int64_t gi = 0; gi < group; gi++) {
            im2col((const float *)x->data + (in * ch + gi * cg) * hw, cg, &s, col);
            gram_accumulate(gram + gi * kk * kk, col, kk, p, p, 1, acc);
        }
    free(col);
    free(acc);
    if (!rc)
        *columns += (double)(n * p);
    return rc;
}
