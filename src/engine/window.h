/* window.h: direct kernels for the commonest windows of all, at stride 1
 * or 2 without dilation: 3 x 3 and 5 x 5 depthwise convolution (MobileNets,
 * ShuffleNet) and 3 x 3 max and average pooling (SqueezeNet, ShuffleNet).
 *
 * The portable loops in ops_nn.c first copy each input plane into a
 * zero-padded buffer, so that every window lies inside it, and copy small
 * output planes out of a wider one.  On planes of 14 x 14 and smaller,
 * those copies of short rows cost more than the sums.  This kernel reads
 * the input in place instead: sixteen outputs of a row at a time, each tap
 * a masked load whose lanes outside the plane read as zero, so padding
 * costs nothing and nothing is copied.
 *
 * It computes what the portable loops compute, bit for bit: the same
 * products, summed in the same order (bias first, then the taps row by
 * row), the padding's products included, and the same clamp; for
 * pooling, the maximum or sum down each column of the window, then across,
 * the padding left out, as pool_rows takes them. */
#ifndef ONNXQ_WINDOW_H
#define ONNXQ_WINDOW_H
#include <stdint.h>

/* One plane of a convolution's input: floats, or 8-bit integers less a
 * zero point (a QLinearConv's, centred as they are read). */
typedef struct {
    const void *data;
    int dtype;
    int32_t zero;
} plane_in;

/* A window's geometry: the input and output planes, the padding before
 * the first row and column, the stride (1 or 2, both ways) and the size
 * (3 x 3, or for depthwise convolution 5 x 5). */
typedef struct {
    int64_t in_h, in_w, out_h, out_w, top, left;
    int stride, size;
} window;

/* The kernels in use: "avx512bw", or "generic" when the CPU has none (the
 * portable loops then run). */
const char *window_kernel_name(void);

/* Use the named kernel from now on: 0, or -1 when the name is unknown or
 * the CPU lacks its instructions.  For tests. */
int window_select(const char *name);

/* y[oy out_w + ox] = clamp(bias + the window's taps times w (size x size
 * weights, row by row), lo, hi) over one plane: 1 when done, 0 when no
 * direct kernel is in use. */
int depthwise_window(const plane_in *x, const window *g, const float *w, float bias, float lo,
                     float hi, float *y);

/* Rows [oy0, oy1) of one plane of a 3 x 3 pooling, y[oy out_w + ox] the
 * maximum of the window's cells inside the input (count NULL; a window
 * entirely in the padding gives -inf), or their sum divided by
 * count[oy out_w + ox] (0 where that is 0): 1 when done, 0 when no direct
 * kernel is in use. */
int pool_window(const float *x, const window *g, const float *count, int64_t oy0, int64_t oy1,
                float *y);

#endif
