/* gemm.h: the engine's single-precision matrix product.
 *
 *   C = clamp(A B + bias)     A: m x k, B: k x n, C: m x n, all row-major
 *
 * with a bias per row of C and the result clamped to [lo, hi] as it is
 * stored, so a convolution's bias and a folded Relu or Clip cost no extra
 * pass over memory.
 *
 * Why not CBLAS: a CBLAS picks its kernels from the CPU model it knows, and
 * OpenBLAS 0.3.21 knows no CPU newer than itself; on a Sapphire Rapids
 * Xeon it falls back to its SSE3 (Prescott) kernels, 3x slower than its
 * AVX-512 ones.  Here the kernel is picked from the instruction sets the
 * CPU reports (AVX-512F, AVX2 with FMA, or plain C the compiler vectorizes
 * for the baseline), once, at first use.
 *
 * One call runs on the calling thread; callers split the columns (or rows)
 * among their threads.  Results do not depend on how they are split: each
 * element of C is the sum over k taken in order, with the bias added first. */
#ifndef ONNXQ_GEMM_H
#define ONNXQ_GEMM_H

#include <stddef.h>
#include <stdint.h>

/* Floats of workspace gemm() needs for a k x n B. */
size_t gemm_workspace_floats(int64_t k, int64_t n);

/* Columns per packed panel of B: splitting n at multiples of it wastes no
 * work. */
int gemm_panel_width(void);
/* Rows per register tile of C: splitting m at multiples of it wastes no
 * work. */
int gemm_row_tile(void);

/* The kernel in use: "avx512", "avx2" or "generic".  The best one the CPU
 * runs, unless the environment variable ONNXQ_GEMM names another it runs. */
const char *gemm_kernel_name(void);

/* Use the named kernel from now on (not while another thread is inside
 * gemm): 0, or -1 when the name is unknown or the CPU lacks its
 * instructions.  For tests and benchmarks. */
int gemm_select(const char *name);

/* C = clamp(A B + bias, lo, hi).  a[i*lda + p] is A(i, p), b[p*ldb + j] is
 * B(p, j), c[i*ldc + j] is C(i, j).  bias may be NULL (no bias); pass
 * -INFINITY and INFINITY for no clamp.  work: gemm_workspace_floats(k, n)
 * floats. */
void gemm(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, const float *b,
          int64_t ldb, float *c, int64_t ldc, const float *bias, float lo, float hi, float *work);

/* B given by the function that packs it: pack(source, j, nr, width,
 * panel) writes columns [j, j + nr) of B (nr <= width) as k rows of
 * `width` floats, row p at panel + p width, columns past nr zero.  A
 * convolution packs its im2col matrix this way straight from the image,
 * never writing the matrix whole.  The source is embedded in the caller's
 * own struct. */
typedef struct gemm_source gemm_source;
struct gemm_source {
    void (*pack)(const gemm_source *source, int64_t j, int nr, int width, float *panel);
};

/* gemm() over a B that packs itself. */
void gemm_from(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda,
               const gemm_source *b, float *c, int64_t ldc, const float *bias, float lo, float hi,
               float *work);

/* B packed once (gemm_pack, into work: gemm_workspace_floats(k, n)) for
 * several products by blocks of rows of A (gemm_packed), as a thread
 * running several of a tall weight's row blocks does. */
void gemm_pack(int64_t n, int64_t k, const float *b, int64_t ldb, float *work);
void gemm_packed(int64_t m, int64_t n, int64_t k, const float *a, int64_t lda, float *work,
                 float *c, int64_t ldc, const float *bias, float lo, float hi);

#endif
