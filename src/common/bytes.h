/* bytes.h: growable byte buffers, bounded readers, varints and bit I/O.
 *
 * Writers allocate; readers never do, so the decoder can run on a device
 * from a caller's buffers.  Readers latch an error flag instead of reading
 * past the end: callers check it once, after a block of reads. */
#ifndef ONNXQ_BYTES_H
#define ONNXQ_BYTES_H

#include <stddef.h>
#include <stdint.h>

typedef struct bytebuf {
    uint8_t *data;
    size_t len, cap;
    int failed; /* an allocation failed: the contents are incomplete */
} bytebuf;

void bb_init(bytebuf *b);
void bb_free(bytebuf *b);
void bb_put(bytebuf *b, const void *data, size_t size);
void bb_u8(bytebuf *b, unsigned v);
void bb_u32(bytebuf *b, uint32_t v);  /* little-endian */
void bb_f32(bytebuf *b, float v);     /* IEEE bits, little-endian */
void bb_f64(bytebuf *b, double v);
void bb_varint(bytebuf *b, uint64_t v); /* LEB128 */
void bb_svarint(bytebuf *b, int64_t v); /* zigzag, then LEB128 */
/* Make room for `size` more bytes; returns where they go (NULL on failure). */
uint8_t *bb_reserve(bytebuf *b, size_t size);

typedef struct byteread {
    const uint8_t *p, *end;
    int error; /* a read went past the end or a value was malformed */
} byteread;

void br_init(byteread *r, const void *data, size_t size);
unsigned br_u8(byteread *r);
uint32_t br_u32(byteread *r);
float br_f32(byteread *r);
double br_f64(byteread *r);
uint64_t br_varint(byteread *r);
int64_t br_svarint(byteread *r);
/* A pointer to the next `size` bytes, consumed; NULL (and error) past the end. */
const uint8_t *br_bytes(byteread *r, size_t size);
size_t br_left(const byteread *r);

/* Bits, least significant first. */
typedef struct bitwriter {
    bytebuf *out;
    uint64_t acc;
    unsigned n;
} bitwriter;

void bw_init(bitwriter *w, bytebuf *out);
void bw_put(bitwriter *w, uint32_t bits, unsigned count); /* count <= 32 */
void bw_flush(bitwriter *w);                            /* pad to a byte */
/* Exp-Golomb code of order k for x (x + 2^k < 2^32). */
void bw_expgolomb(bitwriter *w, uint32_t x, unsigned k);
/* Its length in bits. */
unsigned expgolomb_bits(uint32_t x, unsigned k);

typedef struct bitreader {
    const uint8_t *p, *end;
    uint64_t acc;
    unsigned n;
    int error;
} bitreader;

void bitr_init(bitreader *r, const uint8_t *data, size_t size);
uint32_t bitr_get(bitreader *r, unsigned count); /* count <= 32 */
uint32_t bitr_expgolomb(bitreader *r, unsigned k);

#endif
