/* adaptive.c: the binarization of indices for the adaptive range coder.
 *
 * A stream starts with one byte of parameters: the context mode (bits 0-1)
 * and the mantissa tree depth (bits 2-5).  Then each index v is sent as:
 *   zero flag                  model zero[c]
 *   sign (v != 0)              model sign[sign of the previous index]
 *   e = floor(log2 |v|) unary  models expo[c][j] for the bit "e > j", j < 29
 *   the bits of |v| below its leading one, most significant first: the
 *   first `depth` through a binary tree of models mant[e][prefix], the rest
 *   at probability 1/2
 * where the context c grows with the binary order of magnitude of
 * |v1| + |v2| (the two previous indices, each capped at NEIGHBOUR_CAP): weights
 * along a filter share a scale, so that sum predicts both the zero flag and
 * the exponent.  Smooth histograms (fine steps) want a shallow tree, since
 * low bits are close to uniform and every model costs some bits to learn;
 * lumpy ones (minifloat bit patterns, ranks of already-quantized weights)
 * want a deep one, which gives each index a probability of its own.  The
 * encoder tries both and a coarser context, and keeps the smallest. */
#include "config.h"
#include "adaptive.h"
#include "adaptive_models.h"

#include <stdlib.h>
#include <string.h>

static uint32_t decode_magnitude(rc_decoder *d, models *m, unsigned c)
{
    unsigned ex = 0;
    while (ex < MAX_EXP && rc_decode_bit(d, &m->expo[c][ex]))
        ex++;
    uint32_t a = 1;
    unsigned prefix = 1, j = ex;
    for (unsigned k = 0; k < m->depth && j > 0; k++, j--) {
        unsigned bit = rc_decode_bit(d, mant_model(m, ex, prefix));
        prefix = 2 * prefix + bit;
        a = 2 * a + bit;
    }
    return (a << j) | rc_decode_direct(d, j);
}

size_t adaptive_workspace_size(void)
{
    return (sizeof(models) + 15) & ~(size_t)15;
}

int adaptive_decode(const uint8_t *in, size_t size, int32_t *q, size_t n, void *workspace)
{
    models *m = workspace;
    if (size < 1 || (in[0] & 3) > CONTEXT_FULL || (in[0] >> 2) > MAX_DEPTH)
        return -1;
    models_init(m, in[0] & 3, in[0] >> 2);
    rc_decoder d;
    if (rc_dec_init(&d, in + 1, size - 1) != 0)
        return -1;
    int32_t v1 = 0, v2 = 0;
    for (size_t i = 0; i < n && !d.overrun; i++) {
        unsigned c = context_of(m, v1, v2);
        int32_t v = 0;
        if (rc_decode_bit(&d, &m->zero[c])) {
            unsigned neg = rc_decode_bit(&d, &m->sign[sign_context(v1)]);
            uint32_t a = decode_magnitude(&d, m, c);
            v = neg ? -(int32_t)a : (int32_t)a;
        }
        q[i] = v;
        v2 = v1;
        v1 = v;
    }
    return d.overrun || d.p != d.end ? -1 : 0;
}
