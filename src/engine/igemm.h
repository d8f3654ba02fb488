/* igemm.h: the 8-bit matrix product of the QLinear operators.
 *
 *   C = requantize(A B + offset)   A: m x k int8, B: k x n uint8, C: m x n,
 *                                  8-bit, all row-major
 *
 * Each element of C is v = (float)(sum_p A(i,p) B(p,j) + offset[i]) *
 * mult[i], clamped to [lo - zero, hi - zero], rounded half to even, plus
 * zero: what the float path (ops_quant.c) computes from the same integers,
 * but with the sums exact in 32-bit integers and the requantization done
 * as the tile is stored, so neither the float copy of B nor the float
 * results ever reach memory.
 *
 * Kernels: AVX-512 VNNI (vpdpbusd: 64 products of a uint8 and an int8 per
 * instruction, four times the float FMA's count) and plain C, which
 * checks it.  The engine takes this path only where a vector kernel runs
 * (igemm_fast); elsewhere the float path is faster.  Results do not depend
 * on the kernel or on how the columns are split. */
#ifndef ONNXQ_IGEMM_H
#define ONNXQ_IGEMM_H
#include <stddef.h>
#include <stdint.h>

/* A's row length: k rounded up to a multiple of 4, the tail zero. */
static inline int64_t igemm_depth(int64_t k) { return (k + 3) & ~(int64_t)3; }

typedef struct igemm_out {
    const int32_t *offset; /* per row of C */
    const float *mult;     /* per row of C */
    int32_t zero, lo, hi;  /* C's zero point and range (0, 255 or -128, 127) */
    int flip_b;            /* B holds int8: 128 is added to each element (the
                              offsets must account for it) */
} igemm_out;

/* Bytes of workspace igemm needs for a k x n B. */
size_t igemm_workspace(int64_t k, int64_t n);
/* Columns per packed panel of B, and rows per register tile of C. */
int igemm_panel_width(void);
int igemm_row_tile(void);
/* Nonzero when the kernel in use is a vector one. */
int igemm_fast(void);
/* "avx512vnni" or "generic": the best the CPU runs. */
const char *igemm_kernel_name(void);
/* Use the named kernel from now on: 0, or -1 when unknown or unsupported.
 * For tests and benchmarks. */
int igemm_select(const char *name);
/* C = requantize(A B + offset).  a: m rows of igemm_depth(k) bytes; b[p*ldb
 * + j] is B(p, j); c[i*ldc + j] is C(i, j), uint8 or int8 as o->lo says.
 * work: igemm_workspace(k, n) bytes. */
void igemm(int64_t m, int64_t n, int64_t k, const int8_t *a, const uint8_t *b, int64_t ldb,
           const igemm_out *o, void *c, int64_t ldc, void *work);

#endif
