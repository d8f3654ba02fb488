/* adaptive_encode.c: the adaptive coder's encoder (decode/adaptive.c
 * describes the binarization and decodes it). */
#include "config.h"
#include "adaptive_encode.h"
#include "decode/adaptive_models.h"

#include <stdlib.h>
#include <string.h>


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

