/* lattice_find.h: finding the stretched integer grid an index set lies on
 * (decode/lattice.h describes the grid and its map). */
#ifndef ONNXQ_LATTICE_FIND_H
#define ONNXQ_LATTICE_FIND_H

#include "decode/lattice.h"

/* Below this ratio k is nearly v again: too little gain to look for. */
#define LATTICE_RATIO_MIN 1.25

/* Find a lattice of ratio LATTICE_RATIO_MIN or more on which the distinct
 * values values[0..count) (ascending) lie, with their k in k_out[0..count).  Returns 0 when one is found (every
 * value checked exactly against lattice_value), -1 when there is none or
 * the search does not find it. */
int lattice_find(const int32_t *values, uint32_t count, lattice *l, int32_t *k_out);

#endif
