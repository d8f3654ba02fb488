/* rans32.h: wide rANS, the index coder's fast mode.
 *
 * The tensor is cut into `lanes` consecutive segments (at most 32; the
 * first n mod lanes one longer), and segment j is coded by rANS state j.
 * Round t decodes the t-th symbol of every segment, state by state, so a
 * decoder keeps up to 32 independent chains in flight: 16 vector lanes
 * twice with AVX-512, or a loop over the states in plain C, both giving
 * the same integers.  States are 32 bits with 16-bit renormalization and
 * 2^prob_bits-slot tables (prob_bits <= 11): each symbol moves a state by
 * one table lookup, one multiply and at most one 16-bit read, a round's
 * reads taken in state order from one word stream.
 *
 * Contexts: within a segment, a symbol's table is chosen by the classes of
 * the two symbols before it (class 0: index 0, 1: magnitude 1, 2: up to
 * the stream's threshold, 3: beyond), through a map of their sum (0..6) to
 * at most four tables; neighbouring weights of a kernel share a scale, so
 * that takes the coded size below the 0th-order entropy.
 *
 * A symbol is a direct one (one of at most 256 index values: a dense run
 * first..first + D - 1, or an explicit ascending list) or an escape: past
 * the list's ends by a magnitude m >= 1, sent as the class k = floor(log2
 * m) with the side, and the k bits below m's leading one raw, in decoding
 * order.  The decoder turns each direct symbol into its output through a
 * table the caller fills (the dequantized value of its index, or the
 * index), so decoding and dequantizing are one pass; escapes are rare and
 * are fixed up after each block of rounds.
 *
 * Stream (integers little-endian), after the mark byte that sets it apart
 * from symcode.h's other modes:
 *   u8 RANS32_MARK | u8 prob_bits | u8 lanes | varint D | u8 form |
 *   svarint first | [form 1: varint gap_bytes | gaps (bits)] | u8 K |
 *   u8 n_ctx | u8 class threshold | 7 x u8 context map |
 *   varint table_bytes | n_ctx frequency tables (bits) |
 *   varint extra_bytes | extra bits | varint escapes |
 *   lanes x u32 state | 16-bit words to the end
 * See docs/FORMAT.md. */
#ifndef ONNXQ_RANS32_H
#define ONNXQ_RANS32_H

#include <stddef.h>
#include <stdint.h>

#define RANS32_MARK 0xF4
#define RANS32_LANES 32
#define RANS32_MAX_SYMBOLS 256
#define RANS32_MAX_PROB_BITS 11
#define RANS32_MAX_CTX 4
#define RANS32_CLASS_SUMS 7 /* two classes of 0..3 */
#define RANS32_BLOCK 256    /* rounds decoded between escape fix-ups */

typedef enum { RANS32_DENSE = 0, RANS32_LIST = 1 } rans32_form;

typedef struct rans32_stream {
    unsigned prob_bits, lanes;
    uint32_t direct;           /* D */
    rans32_form form;
    int32_t first;
    const uint8_t *gaps;
    size_t gaps_len;
    uint32_t classes;          /* K: escape classes on each side */
    unsigned n_ctx, threshold;
    uint8_t ctx_map[RANS32_CLASS_SUMS];
    const uint8_t *table;
    size_t table_len;
    const uint8_t *extra;
    size_t extra_len;
    uint64_t escapes;
    uint32_t states[RANS32_LANES];
    const uint8_t *words;
    size_t words_len;
} rans32_stream;

/* Parse a stream's header (everything but the symbols); 0, or -1 when it
 * is malformed. */
int rans32_parse(const uint8_t *in, size_t size, rans32_stream *h);

/* Workspace bytes rans32_decode needs (the decoding tables, the index
 * values and a block's escape positions). */
size_t rans32_workspace_size(const rans32_stream *h);

/* The index value of each direct symbol, into values[0..D); 0, or -1 when
 * the list is malformed.  Callers build their output table from it. */
int rans32_values(const rans32_stream *h, int32_t *values);

/* A symbol's context class from its index value. */
static inline unsigned rans32_class(int32_t v, unsigned threshold)
{
    uint32_t a = v < 0 ? (uint32_t)0 - (uint32_t)v : (uint32_t)v;
    return a == 0 ? 0 : a == 1 ? 1 : a <= threshold ? 2 : 3;
}

/* Where segment j of n symbols over `lanes` states starts, and its length. */
static inline uint64_t rans32_segment_start(uint64_t n, unsigned lanes, unsigned j)
{
    uint64_t s = n / lanes, r = n % lanes;
    return (uint64_t)j * s + (j < r ? j : r);
}

/* The outputs of escapes, from their index values (count of them; q and
 * out may be the same array). */
typedef void (*rans32_escape_fn)(void *ctx, const int32_t *q, size_t count, uint32_t *out);

/* Decode n symbols into out: symbol s < D gives lut[s] (32-bit patterns:
 * a float's bits, or the index itself; lut has RANS32_MAX_SYMBOLS
 * entries), escapes what escape makes of their indices.  The stream must
 * be used up exactly.  0, or -1 when it is corrupt. */
int rans32_decode(const rans32_stream *h, uint64_t n, const uint32_t *lut,
                  rans32_escape_fn escape, void *ctx, uint32_t *out, void *workspace,
                  size_t workspace_size);

/* For tests and benchmarks: use the plain-C loop (1) or the fastest the
 * CPU runs (0). */
void rans32_force_portable(int portable);

#endif
