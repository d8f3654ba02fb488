/* rangecoder.h: a binary range coder with adaptive bit models.
 *
 * The carry handling is LZMA's (a 64-bit low, one cached byte and a run of
 * pending 0xFF bytes); the range is 32 bits, renormalized a byte at a time
 * below 2^24.  A bit model holds the probability of a zero (31 bits) and
 * how many bits it has seen, n.  Each bit moves the probability toward
 * what was seen by 1/(n + 2): for its first bits a model is exactly the
 * Krichevsky-Trofimov estimate (2 c0 + 1) / (2 (c0 + c1) + 2), which
 * learns a skewed bit within a few dozen uses, far sooner than LZMA's
 * fixed-rate update (it matters for tensors of a few thousand weights);
 * from RC_RATE_STEPS - 1 bits on the rate stays at 1/(RC_RATE_STEPS + 1), so a
 * model follows a drifting distribution.  The rates come from a table of
 * reciprocals (rc_rate), so no bit costs a division.
 *
 * Integer arithmetic only: the same bytes decode to the same bits on every
 * machine.  The encoder writes exactly the bytes the decoder reads. */
#ifndef ONNXQ_RANGECODER_H
#define ONNXQ_RANGECODER_H

#include <stddef.h>
#include <stdint.h>
#include "common/bytes.h"

#define RC_PROB_BITS 15
#define RC_TOP (1u << 24)
#define RC_HALF (1u << 30) /* probability 1/2 in the models' 31-bit scale */
#define RC_RATE_STEPS 1024
#define RC_INIT_BYTES 5 /* the decoder starts on this many; the first is 0 */

typedef struct rc_model {
    uint32_t p; /* probability of a 0, in units of 2^-31 */
    uint32_t n; /* bits seen, up to RC_RATE_STEPS - 1 */
} rc_model;

/* rc_rate[n] = floor(2^32 / (n + 2)): the weight of a model's next bit,
 * computed by the compiler. */
#define RC_R1(n) (uint32_t)((UINT64_C(1) << 32) / ((n) + 2))
#define RC_R4(n) RC_R1(n), RC_R1((n) + 1), RC_R1((n) + 2), RC_R1((n) + 3)
#define RC_R16(n) RC_R4(n), RC_R4((n) + 4), RC_R4((n) + 8), RC_R4((n) + 12)
#define RC_R64(n) RC_R16(n), RC_R16((n) + 16), RC_R16((n) + 32), RC_R16((n) + 48)
#define RC_R256(n) RC_R64(n), RC_R64((n) + 64), RC_R64((n) + 128), RC_R64((n) + 192)
static const uint32_t rc_rate[RC_RATE_STEPS] = {RC_R256(0), RC_R256(256), RC_R256(512),
                                                RC_R256(768)};

static inline void rc_models_init(rc_model *m, size_t count)
{
    for (size_t i = 0; i < count; i++)
        m[i] = (rc_model){RC_HALF, 0};
}

static inline uint32_t rc_p0(const rc_model *m)
{
    uint32_t p = m->p >> (31 - RC_PROB_BITS);
    return p ? p : 1; /* never 0 or 2^15: both bits stay codable */
}

static inline void rc_update(rc_model *m, unsigned bit)
{
    uint64_t rate = rc_rate[m->n];
    if (bit)
        m->p -= (uint32_t)(((uint64_t)m->p * rate) >> 32);
    else
        m->p += (uint32_t)(((uint64_t)(2 * RC_HALF - m->p) * rate) >> 32);
    if (m->n < RC_RATE_STEPS - 1)
        m->n++;
}

typedef struct rc_encoder {
    uint64_t low;
    uint32_t range;
    uint8_t cache;
    uint64_t pending; /* the cached byte and the 0xFF bytes after it */
    bytebuf *out;
} rc_encoder;

static inline void rc_enc_init(rc_encoder *e, bytebuf *out)
{
    e->low = 0;
    e->range = 0xFFFFFFFFu;
    e->cache = 0;
    e->pending = 1;
    e->out = out;
}

/* Move the top byte of low out, once no carry can reach it. */
static inline void rc_shift_low(rc_encoder *e)
{
    if ((uint32_t)e->low < 0xFF000000u || (e->low >> 32) != 0) {
        uint8_t carry = (uint8_t)(e->low >> 32);
        uint8_t b = e->cache;
        do {
            bb_u8(e->out, (uint8_t)(b + carry));
            b = 0xFF;
        } while (--e->pending);
        e->cache = (uint8_t)(e->low >> 24);
    }
    e->pending++;
    e->low = (e->low & 0x00FFFFFFu) << 8;
}

static inline void rc_encode_bit(rc_encoder *e, rc_model *m, unsigned bit)
{
    uint32_t bound = (e->range >> RC_PROB_BITS) * rc_p0(m);
    if (bit) {
        e->low += bound;
        e->range -= bound;
    } else {
        e->range = bound;
    }
    rc_update(m, bit);
    while (e->range < RC_TOP) {
        e->range <<= 8;
        rc_shift_low(e);
    }
}

/* count bits of value, most significant first, each at probability 1/2. */
static inline void rc_encode_direct(rc_encoder *e, uint32_t value, unsigned count)
{
    while (count--) {
        e->range >>= 1;
        if ((value >> count) & 1)
            e->low += e->range;
        while (e->range < RC_TOP) {
            e->range <<= 8;
            rc_shift_low(e);
        }
    }
}

static inline void rc_enc_finish(rc_encoder *e)
{
    for (int i = 0; i < 5; i++)
        rc_shift_low(e);
}

typedef struct rc_decoder {
    uint32_t range, code;
    const uint8_t *p, *end;
    int overrun; /* a read went past the end: the stream is corrupt */
} rc_decoder;

static inline uint8_t rc_next_byte(rc_decoder *d)
{
    if (d->p < d->end)
        return *d->p++;
    d->overrun = 1;
    return 0;
}

/* 0, or -1 when the stream cannot be a range coder's. */
static inline int rc_dec_init(rc_decoder *d, const uint8_t *in, size_t size)
{
    d->range = 0xFFFFFFFFu;
    d->code = 0;
    d->p = in;
    d->end = in + size;
    d->overrun = 0;
    if (rc_next_byte(d) != 0)
        return -1;
    for (int i = 1; i < RC_INIT_BYTES; i++)
        d->code = (d->code << 8) | rc_next_byte(d);
    return d->overrun ? -1 : 0;
}

static inline unsigned rc_decode_bit(rc_decoder *d, rc_model *m)
{
    uint32_t bound = (d->range >> RC_PROB_BITS) * rc_p0(m);
    unsigned bit;
    if (d->code < bound) {
        d->range = bound;
        bit = 0;
    } else {
        d->code -= bound;
        d->range -= bound;
        bit = 1;
    }
    rc_update(m, bit);
    while (d->range < RC_TOP) {
        d->range <<= 8;
        d->code = (d->code << 8) | rc_next_byte(d);
    }
    return bit;
}

static inline uint32_t rc_decode_direct(rc_decoder *d, unsigned count)
{
    uint32_t v = 0;
    while (count--) {
        d->range >>= 1;
        unsigned bit = d->code >= d->range;
        if (bit)
            d->code -= d->range;
        v = (v << 1) | bit;
        while (d->range < RC_TOP) {
            d->range <<= 8;
            d->code = (d->code << 8) | rc_next_byte(d);
        }
    }
    return v;
}

#endif
