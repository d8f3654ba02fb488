/* im2col.h: a convolution's input as the matrix its GEMM multiplies.
 *
 * The im2col matrix has a row per (input channel, ky, kx) and a column per
 * output position (oy, ox); row (c, ky, kx), column (oy, ox) holds input
 * (c, oy s0 - pb0 + ky d0, ox s1 - pb1 + kx d1), or zero (the zero point,
 * for 8-bit input) where that lies in the padding.
 *
 * The float convolution never writes it whole: an image_source hands it to
 * gemm_from() a panel at a time, packed straight from the image into the
 * panel the GEMM's tiles then read from L1.  For a 3 x 3 kernel the whole
 * matrix would be nine times the input, written and read back once to be
 * packed.  The 8-bit GEMM and the input statistics still take it in rows
 * (im2col_bytes, im2col_cols). */
#ifndef ONNXQ_IM2COL_H
#define ONNXQ_IM2COL_H
#include "gemm.h"

#include <stdint.h>

/* The spatial geometry of a window (convolution or pooling): input, kernel,
 * strides, dilations, padding before and after, output; 1-D inputs as 2-D
 * ones of height 1. */
typedef struct geom {
    int64_t in[2], k[2], s[2], d[2], pb[2], pe[2], out[2];
} geom;

/* Columns [j0, j0 + cols) of the im2col matrix of `channels` channels of
 * x, in rows `cols` long; padding reads as `zero`. */
void im2col_cols(const float *x, int64_t channels, const geom *g, int64_t j0, int64_t cols,
                 float zero, float *col);
void im2col_bytes(const uint8_t *x, int64_t channels, const geom *g, int64_t j0, int64_t cols,
                  uint8_t zero, uint8_t *col);

/* Row (c, ky, kx) of the matrix: output (oy, ox) reads input
 * (oy s0 + dy, ox s1 + dx) of the channel that starts at element `plane`;
 * the outputs ox in [lo, hi) read inside the input's row. */
typedef struct {
    int64_t plane, dy, dx, lo, hi;
} tap_row;

/* The channels kh kw rows of the matrix into rows: once per convolution,
 * for every image_source of it. */
void tap_rows(const geom *g, int64_t channels, tap_row *rows);

/* The matrix of one group of one image, from output position j0 on, as a
 * gemm_source (pass &source.base to gemm_from). */
typedef struct {
    gemm_source base;
    const float *x;
    const geom *g;
    const tap_row *rows;
    int64_t k, j0;
} image_source;

image_source image_source_of(const float *x, const geom *g, const tap_row *rows, int64_t k,
                             int64_t j0);

#endif
