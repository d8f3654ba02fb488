/* lanes.h: lane masks and lane orders the AVX-512 kernels share (gemm.c,
 * igemm.c, im2col.c, window.c).  Empty off x86-64. */
#ifndef ONNXQ_LANES_H
#define ONNXQ_LANES_H
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#include <stdint.h>

/* Lanes l of sixteen with lo <= l < hi (none when hi <= lo). */
static inline __mmask16 lane_range(int64_t lo, int64_t hi)
{
    lo = lo < 0 ? 0 : lo;
    hi = hi > 16 ? 16 : hi;
    return hi <= lo ? 0 : (__mmask16)(((1u << (hi - lo)) - 1) << lo);
}

/* The first n lanes of sixteen (none for n <= 0, all for n >= 16): the
 * masks of a partial 32-column panel's halves are first_lanes(nr) and
 * first_lanes(nr - 16). */
static inline __mmask16 first_lanes(int64_t n) { return lane_range(0, n); }

/* For vpermt2ps (_mm512_permutex2var_ps) over two vectors a, b: the even
 * lanes of a then of b (a0 a2 ... a14 b0 ... b14), or the odd ones.  A
 * window at stride 2 reads its taps this way at unit stride. */
static inline __attribute__((always_inline, target("avx512f"))) __m512i even_lanes(void)
{
    return _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
}
static inline __attribute__((always_inline, target("avx512f"))) __m512i odd_lanes(void)
{
    return _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
}
#endif
#endif
