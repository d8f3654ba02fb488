/* adaptive_models.h: the bit models of the adaptive coder, which its
 * encoder (encode/adaptive_encode.c) and decoder (adaptive.c) must build
 * and choose alike.  adaptive.c describes the binarization. */
#ifndef ONNXQ_ADAPTIVE_MODELS_H
#define ONNXQ_ADAPTIVE_MODELS_H

#include <stddef.h>
#include <stdint.h>
#include "common/intmath.h"
#include "rangecoder.h"

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
static inline void models_init(models *m, unsigned context_mode, unsigned depth)
{
    m->context_mode = context_mode;
    m->depth = depth;
    rc_models_init(m->zero, N_CTX);
    rc_models_init(m->sign, 3);
    rc_models_init(&m->expo[0][0], (size_t)N_CTX * MAX_EXP);
    rc_models_init(m->mant, (size_t)(MAX_EXP + 1) << depth);
}

static inline rc_model *mant_model(models *m, unsigned ex, unsigned prefix)
{
    return &m->mant[(ex << m->depth) + prefix];
}

static inline unsigned context_of(const models *m, int32_t v1, int32_t v2)
{
    uint32_t s = neighbour_sum(v1, v2);
    unsigned c = s ? 1 + floor_log2_u32(s) : 0;
    return m->context_mode == CONTEXT_FULL ? c : m->context_mode == CONTEXT_COARSE ? (c + 2) / 3 : 0;
}

static inline unsigned sign_context(int32_t v1) { return v1 > 0 ? 1 : v1 < 0 ? 2 : 0; }

#endif
