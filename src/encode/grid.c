/* grid.c: finding the scale of each channel's integer grid.
 *
 * Only the distinct magnitudes matter.  The grid's scale s is near
 * max / K for the index K of the largest magnitude, and K is found from
 * the finest spacing of the magnitudes (the smallest one, or the
 * smallest gap between two): max / spacing, or a multiple of it when
 * the neighbouring indices are absent, or 127 and 255, where 8-bit
 * quantizers put their largest value.  Each guess is checked exactly,
 * for the float nearest max / K and a few floats either side of it: the
 * check is what the decoder computes, so a grid found is a grid kept. */
#include "config.h"
#include "grid.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static int cmp_float(const void *a, const void *b)
{
    float x = *(const float *)a, y = *(const float *)b;
    return (x > y) - (x < y);
}

/* Does every v[0..n) (distinct, positive, ascending) lie on the grid of s? */
static int on_grid(const float *v, size_t n, float s, int32_t *top)
{
    for (size_t i = 0; i < n; i++) {
        double k = nearbyint((double)v[i] / (double)s);
        if (k < 1 || k > GRID_MAX_INDEX || (float)(k * (double)s) != v[i])
            return 0;
    }
    *top = (int32_t)nearbyint((double)v[n - 1] / (double)s);
    return 1;
}

/* Try s near max / K: the nearest float and three either side. */
static int try_index(const float *v, size_t n, double K, float *s, int32_t *top)
{
    if (!(K >= 1 && K <= GRID_MAX_INDEX))
        return 0;
    float s0 = (float)((double)v[n - 1] / K);
    float up = s0, down = s0;
    for (int k = 0; k < 4; k++) {
        if (up > 0 && on_grid(v, n, up, top)) {
            *s = up;
            return 1;
        }
        if (k && down > 0 && on_grid(v, n, down, top)) {
            *s = down;
            return 1;
        }
        up = nextafterf(up, INFINITY);
        down = nextafterf(down, 0);
    }
    return 0;
}

/* The scale of one channel's magnitudes v[0..n) (sorted, distinct, > 0). */
static int channel_scale(const float *v, size_t n, float *s, int32_t *top)
{
    if (n == 0) {
        *s = 1;
        *top = 0;
        return 1;
    }
    if (n > GRID_MAX_INDEX)
        return 0;
    double spacing = v[0];
    for (size_t i = 1; i < n; i++)
        if ((double)v[i] - v[i - 1] < spacing)
            spacing = (double)v[i] - v[i - 1];
    double K = nearbyint((double)v[n - 1] / spacing);
    static const double eight_bit[] = { 127, 255, 128, 254 };
    for (int m = 1; m <= 4; m++)
        if (try_index(v, n, K * m, s, top))
            return 1;
    for (size_t i = 0; i < sizeof eight_bit / sizeof *eight_bit; i++)
        if (try_index(v, n, eight_bit[i], s, top))
            return 1;
    return 0;
}

/* One channel's distinct nonzero magnitudes into v, sorted; their count,
 * or -1 for a NaN or an infinity. */
static long channel_magnitudes(const float *x, uint64_t outer, uint32_t channels, uint64_t inner,
                               uint32_t c, float *v)
{
    size_t m = 0;
    for (uint64_t o = 0; o < outer; o++) {
        const float *p = x + (o * channels + c) * inner;
        for (uint64_t j = 0; j < inner; j++) {
            float a = fabsf(p[j]);
            if (a != a || isinf(a))
                return -1;
            if (a > 0)
                v[m++] = a;
        }
    }
    qsort(v, m, sizeof *v, cmp_float);
    size_t d = 0;
    for (size_t i = 0; i < m; i++)
        if (d == 0 || v[i] != v[d - 1])
            v[d++] = v[i];
    return (long)d;
}

/* A quick look at the first elements of a whole tensor: weights of a
 * float model fail there already (a channel fails on its own). */
#define PREFIX 2048

int32_t grid_find(const float *x, uint64_t n, uint32_t channels, uint64_t inner, float *scales)
{
    if (channels < 1 || inner < 1 || n == 0 || n % ((uint64_t)channels * inner) != 0)
        return -1;
    uint64_t outer = n / ((uint64_t)channels * inner), per = n / channels;
    float *v = malloc((size_t)(per > PREFIX ? per : PREFIX) * sizeof *v + 1);
    if (!v)
        return -1;
    int32_t top = 0;
    float s;
    if (channels == 1 && n > 2 * PREFIX) {
        long d = channel_magnitudes(x, 1, 1, PREFIX, 0, v);
        if (d < 0 || !channel_scale(v, (size_t)d, &s, &top)) {
            free(v);
            return -1;
        }
    }
    for (uint32_t c = 0; c < channels; c++) {
        long d = channel_magnitudes(x, outer, channels, inner, c, v);
        int32_t t;
        if (d < 0 || !channel_scale(v, (size_t)d, &scales[c], &t)) {
            free(v);
            return -1;
        }
        top = t > top ? t : top;
    }
    free(v);
    return top;
}
