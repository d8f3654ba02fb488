/* freqtable.h: what the index coders share of the encoder's side: scaling
 * counts to frequencies, and sending frequency tables and ascending value
 * lists (decode/symformat.h reads them back). */
#ifndef ONNXQ_FREQTABLE_H
#define ONNXQ_FREQTABLE_H

#include <stdint.h>
#include "common/bytes.h"

/* Scale counts to frequencies summing to 2^prob_bits, every symbol that
 * occurs keeping at least 1, rounding to the cheapest total (n <= 2^prob_bits). */
void symcode_normalize(const uint64_t *counts, uint32_t n, unsigned prob_bits, uint32_t *freq);

/* A frequency table's code, and its length in bits. */
void symcode_write_table(bitwriter *w, const uint32_t *freq, uint32_t n);
unsigned symcode_table_bits(const uint32_t *freq, uint32_t n);

/* count ascending values after the first (which the caller sends): each
 * gap less one; flushed to a byte.  And the length in bits. */
void symcode_write_gaps(bitwriter *w, const int32_t *values, uint32_t count);
unsigned symcode_gaps_bits(const int32_t *values, uint32_t count);

#endif
