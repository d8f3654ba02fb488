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
#include "intmath.h"
#include "rangecoder.h"

#include <stdlib.h>
#include <string.h>

#define N_CTX 9 /* 0, and 1 + floor(log2 s) for s = 1..2 NEIGHBOUR_CAP */
#define MAX_EXP 29 /* |v| < 2^30 */
#define MAX_DEPTH 8

enum { CONTEXT_NONE, CONTEXT_COARSE, CONTEXT_FULL };

typedef struct models {
    unsigned context_mode, depth;
    rc_model zero[N_CTX];
    rc_model sign[3];
    rc_model expo[N_CTX][MAX_EXP];
    rc_model mant[(MAX_EXP + 1) << MAX_DEPTH]; /* [e][prefix], 2^depth prefixes per e */
} models;

/* The models in use at 1/2, none seen: only as many mantissa models as
 * the depth needs, since small tensors must not pay for a deep tree. */
static void models_init(models *m, unsigned context_mode, unsigned depth)
{
    m->context_mode = context_mode;
    m->depth = depth;
    rc_models_init(m->zero, N_CTX);
    rc_models_init(m->sign, 3);
    rc_models_init(&m->expo[0][0], (size_t)N_CTX * MAX_EXP);
    rc_models_init(m->mant, (size_t)(MAX_EXP + 1) << depth);
}

static rc_model *mant_model(models *m, unsigned ex, unsigned prefix)
{
    return &m->mant[(ex << m->depth) + prefix];
}

static unsigned context_of(const models *m, int32_t v1, int32_t v2)
{
    uint32_t s = neighbour_sum(v1, v2);
    unsigned c = s ? 1 + floor_log2_u32(s) : 0;
    return m->context_mode == CONTEXT_FULL ? c : m->context_mode == CONTEXT_COARSE ? (c + 2) / 3 : 0;
}

static unsigned sign_context(int32_t v1) { return v1 > 0 ? 1 : v1 < 0 ? 2 : 0; }

static void encode_magnitude(rc_encoder *e, models *m, unsigned c, uint32_t a)
{
    unsigned ex = floor_log2_u32(a);
    for (unsigned j = 0; j < MAX_EXP; j++) {
        rc_encode_bit(e, &m->expo[c][j], ex > j);
        if (ex == j)
            break;
    }
    unsigned prefix = 1, j = ex;
    for (unsigned k = 0; k < m->depth && j > 0; k++) {
        unsigned bit = (a >> --j) & 1;
        rc_encode_bit(e, mant_model(m, ex, prefix), bit);
        prefix = 2 * prefix + bit;
    }
    rc_encode_direct(e, a & ((1u << j) - 1), j);
}

static int encode_with(const int32_t *q, size_t n, unsigned context_mode, unsigned depth,
                       bytebuf *out)
{
    models *m = malloc(sizeof *m);
    if (!m)
        return -1;
    models_init(m, context_mode, depth);
    bb_u8(out, context_mode | depth << 2);
    rc_encoder e;
    rc_enc_init(&e, out);
    int32_t v1 = 0, v2 = 0;
    for (size_t i = 0; i < n; i++) {
        int32_t v = q[i];
        unsigned c = context_of(m, v1, v2);
        rc_encode_bit(&e, &m->zero[c], v != 0);
        if (v) {
            rc_encode_bit(&e, &m->sign[sign_context(v1)], v < 0);
            encode_magnitude(&e, m, c, magnitude_u32(v));
        }
        v2 = v1;
        v1 = v;
    }
    rc_enc_finish(&e);
    free(m);
    return out->failed ? -1 : 0;
}

int adaptive_encode(const int32_t *q, size_t n, int search, bytebuf *out)
{
    static const uint8_t tried[][2] = {{CONTEXT_FULL, 2},   {CONTEXT_COARSE, 2}, {CONTEXT_NONE, 2},
                                       {CONTEXT_FULL, 8},   {CONTEXT_COARSE, 8}, {CONTEXT_NONE, 8}};
    bytebuf best;
    bb_init(&best);
    for (size_t t = 0; t < (search ? sizeof tried / sizeof *tried : 1); t++) {
        bytebuf b;
        bb_init(&b);
        if (encode_with(q, n, tried[t][0], tried[t][1], &b) != 0) {
            bb_free(&b);
            bb_free(&best);
            return -1;
        }
        if (t == 0 || b.len < best.len) {
            bb_free(&best);
            best = b;
        } else {
            bb_free(&b);
        }
    }
    bb_put(out, best.data, best.len);
    bb_free(&best);
    return out->failed ? -1 : 0;
}

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
