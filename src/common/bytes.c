/* bytes.c: byte buffers, bounded readers, varints and bit I/O. */
#include "config.h"
#include "bytes.h"
#include "intmath.h"

#include <stdlib.h>
#include <string.h>

void bb_init(bytebuf *b) { memset(b, 0, sizeof *b); }

void bb_free(bytebuf *b)
{
    free(b->data);
    bb_init(b);
}

uint8_t *bb_reserve(bytebuf *b, size_t size)
{
    if (b->failed)
        return NULL;
    if (size > SIZE_MAX - b->len) {
        b->failed = 1;
        return NULL;
    }
    if (b->len + size > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + size)
            cap = cap > SIZE_MAX / 2 ? b->len + size : cap * 2;
        uint8_t *p = realloc(b->data, cap);
        if (!p) {
            b->failed = 1;
            return NULL;
        }
        b->data = p;
        b->cap = cap;
    }
    return b->data + b->len;
}

void bb_put(bytebuf *b, const void *data, size_t size)
{
    uint8_t *p = bb_reserve(b, size);
    if (!p)
        return;
    if (size)
        memcpy(p, data, size);
    b->len += size;
}

void bb_u8(bytebuf *b, unsigned v)
{
    uint8_t c = (uint8_t)v;
    bb_put(b, &c, 1);
}

void bb_u32(bytebuf *b, uint32_t v)
{
    uint8_t c[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
    bb_put(b, c, 4);
}

void bb_f32(bytebuf *b, float v)
{
    uint32_t u;
    memcpy(&u, &v, 4);
    bb_u32(b, u);
}

void bb_f64(bytebuf *b, double v)
{
    uint64_t u;
    memcpy(&u, &v, 8);
    bb_u32(b, (uint32_t)u);
    bb_u32(b, (uint32_t)(u >> 32));
}

void bb_varint(bytebuf *b, uint64_t v)
{
    uint8_t c[10];
    size_t n = 0;
    do {
        c[n] = (uint8_t)(v & 0x7f);
        v >>= 7;
        c[n++] |= v ? 0x80 : 0;
    } while (v);
    bb_put(b, c, n);
}

void bb_svarint(bytebuf *b, int64_t v)
{
    bb_varint(b, ((uint64_t)v << 1) ^ (uint64_t)(v >> 63));
}

void br_init(byteread *r, const void *data, size_t size)
{
    r->p = data;
    r->end = r->p + size;
    r->error = 0;
}

size_t br_left(const byteread *r) { return (size_t)(r->end - r->p); }

const uint8_t *br_bytes(byteread *r, size_t size)
{
    if (r->error || size > br_left(r)) {
        r->error = 1;
        return NULL;
    }
    const uint8_t *p = r->p;
    r->p += size;
    return p;
}

unsigned br_u8(byteread *r)
{
    const uint8_t *p = br_bytes(r, 1);
    return p ? p[0] : 0;
}

uint32_t br_u32(byteread *r)
{
    const uint8_t *p = br_bytes(r, 4);
    return p ? (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24
             : 0;
}

float br_f32(byteread *r)
{
    uint32_t u = br_u32(r);
    float f;
    memcpy(&f, &u, 4);
    return f;
}

double br_f64(byteread *r)
{
    uint64_t lo = br_u32(r), hi = br_u32(r);
    uint64_t u = lo | hi << 32;
    double d;
    memcpy(&d, &u, 8);
    return d;
}

uint64_t br_varint(byteread *r)
{
    uint64_t v = 0;
    for (unsigned shift = 0; shift < 64; shift += 7) {
        const uint8_t *p = br_bytes(r, 1);
        if (!p)
            return 0;
        v |= (uint64_t)(*p & 0x7f) << shift;
        if (!(*p & 0x80))
            return v;
    }
    r->error = 1; /* more than ten bytes: malformed */
    return 0;
}

void bw_init(bitwriter *w, bytebuf *out)
{
    w->out = out;
    w->acc = 0;
    w->n = 0;
}

void bw_put(bitwriter *w, uint32_t bits, unsigned count)
{
    if (count < 32)
        bits &= (1u << count) - 1;
    w->acc |= (uint64_t)bits << w->n;
    w->n += count;
    while (w->n >= 8) {
        bb_u8(w->out, (unsigned)(w->acc & 0xff));
        w->acc >>= 8;
        w->n -= 8;
    }
}

void bw_flush(bitwriter *w)
{
    if (w->n)
        bb_u8(w->out, (unsigned)(w->acc & 0xff));
    w->acc = 0;
    w->n = 0;
}


unsigned expgolomb_bits(uint32_t x, unsigned k)
{
    uint32_t y = x + (1u << k);
    unsigned nb = floor_log2_u32(y);
    return 2 * nb - k + 1;
}

void bw_expgolomb(bitwriter *w, uint32_t x, unsigned k)
{
    uint32_t y = x + (1u << k);
    unsigned nb = floor_log2_u32(y);
    bw_put(w, 0, nb - k);             /* nb - k zeros, */
    bw_put(w, 1, 1);                  /* a one marking the length, */
    bw_put(w, y & ((1u << nb) - 1), nb); /* then y below its top bit */
}

void bitr_init(bitreader *r, const uint8_t *data, size_t size)
{
    r->p = data;
    r->end = data + size;
    r->acc = 0;
    r->n = 0;
    r->error = 0;
}

uint32_t bitr_get(bitreader *r, unsigned count)
{
    while (r->n < count) {
        if (r->p < r->end)
            r->acc |= (uint64_t)*r->p++ << r->n;
        else
            r->error = 1; /* past the end: zeros, and the flag */
        r->n += 8;
    }
    uint32_t v = (uint32_t)(r->acc & (count < 32 ? (1u << count) - 1 : 0xffffffffu));
    r->acc >>= count;
    r->n -= count;
    return v;
}

uint32_t bitr_expgolomb(bitreader *r, unsigned k)
{
    /* The common case at once: the unary part's end among the next 32
     * bits in the accumulator. */
    while (r->n <= 56 && r->p < r->end) {
        r->acc |= (uint64_t)*r->p++ << r->n;
        r->n += 8;
    }
    if (r->n >= 33 && (uint32_t)r->acc) {
        unsigned z = (unsigned)__builtin_ctzll(r->acc);
        r->acc >>= z + 1;
        r->n -= z + 1;
        unsigned bits = z + k;
        if (bits > 31) {
            r->error = 1;
            return 0;
        }
        return ((1u << bits) | bitr_get(r, bits)) - (1u << k);
    }
    unsigned zeros = 0;
    while (bitr_get(r, 1) == 0) {
        if (++zeros > 31 || r->error) {
            r->error = 1;
            return 0;
        }
    }
    unsigned nb = zeros + k;
    if (nb > 31) {
        r->error = 1;
        return 0;
    }
    uint32_t y = (1u << nb) | bitr_get(r, nb);
    return y - (1u << k);
}

int64_t br_svarint(byteread *r)
{
    uint64_t v = br_varint(r);
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}
