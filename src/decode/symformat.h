/* symformat.h: what the index coder's encoder (encode/symencode.c) and
 * decoder (symcode.c) must agree on: the stream's marks, its alphabet of
 * direct symbols and escape classes, the table coding's Exp-Golomb orders
 * and the contexts (docs/FORMAT.md). */
#ifndef ONNXQ_SYMFORMAT_H
#define ONNXQ_SYMFORMAT_H

#include <stdint.h>
#include "common/intmath.h"
#include "symcode.h"

#define RANS_L (1u << 16)

typedef struct alphabet {
    uint32_t T;       /* |q| < T are direct symbols */
    uint32_t K;       /* escape classes 0..K-1 */
    uint32_t size;    /* 2T - 1 + 2K */
} alphabet;

#define DICT_MAX 4096
#define LATTICE_MARK (DICT_MAX + 1) /* in place of the dictionary size */
#define ADAPTIVE_MARK 0             /* in place of prob_bits */

/* The Exp-Golomb order of a table entry or dictionary gap, from the
 * previous one: histograms of indices are smooth, so differences are
 * small, and a run of absent symbols costs about one bit each. */
static inline unsigned next_order(uint32_t prev)
{
    unsigned k = 0;
    while (k < 15 && (2u << k) <= prev)
        k++;
    return k;
}

/* The context of each neighbour sum 0 .. 2 NEIGHBOUR_CAP, from the
 * n_ctx - 1 thresholds. */
static inline void symcode_ctx_lut(unsigned n_ctx, const uint8_t *thresholds, uint8_t *lut)
{
    for (unsigned s = 0; s <= 2 * NEIGHBOUR_CAP; s++) {
        unsigned c = 0;
        while (c + 1 < n_ctx && s >= thresholds[c])
            c++;
        lut[s] = (uint8_t)c;
    }
}

struct bitreader;
/* n frequencies summing to total, each sent as its difference from the
 * one before (zigzag mapped) in an Exp-Golomb code whose order follows
 * the previous difference; 0, or -1 when they are malformed. */
int symcode_read_freqs(struct bitreader *br, uint32_t n, uint32_t total, uint32_t *freq);

/* count ascending values from `first`, each gap less one in an Exp-Golomb
 * code whose order follows the previous gap; 0, or -1 when malformed. */
int symcode_read_gaps(struct bitreader *br, int32_t first, uint32_t count, int32_t *values);

#endif
