/* lattice.h: index sets that are a stretched integer grid.
 *
 * Weights that were already quantized with a scale g (an int8 or QDQ
 * model) and are quantized again with a finer step D give indices
 * v = Q(r k), r = g / D > 1, for the original integers k: a comb whose
 * teeth are floor(r) or ceil(r) apart.  Coding k instead of v keeps the
 * entropy (the map is one to one) but lets the entropy coder see a dense,
 * smooth histogram again, and costs three numbers instead of a dictionary.
 *
 * The map is integer-exact, so every machine decodes the same values:
 *   symmetric: v = sign(k) floor((|k| mul + offset) / 2^32)
 *   affine:    v = floor((k mul + offset) / 2^32)
 * with 2^32 < mul < 2^56 (r > 1: one to one) and offset <= 2^32.  The
 * symmetric form fits midtread and dead-zone indices (offset = 1 - sigma),
 * the affine one midrise (offset 0). */
#ifndef ONNXQ_LATTICE_H
#define ONNXQ_LATTICE_H

#include <stdint.h>

typedef enum { LATTICE_AFFINE = 0, LATTICE_SYMMETRIC = 1 } lattice_form;

typedef struct lattice {
    lattice_form form;
    uint64_t mul;    /* r, in units of 2^-32 */
    uint64_t offset; /* in units of 2^-32 */
} lattice;

#define LATTICE_MUL_MIN ((uint64_t)1 << 32) /* exclusive */
#define LATTICE_MUL_MAX ((uint64_t)1 << 56) /* exclusive */

/* Whether the parameters are ones a stream may carry. */
int lattice_valid(const lattice *l);

/* The largest |k| whose value lattice_value computes without overflow. */
uint64_t lattice_k_max(const lattice *l);

/* The value of k, for |k| <= lattice_k_max(l). */
int64_t lattice_value(const lattice *l, int64_t k);

#endif
