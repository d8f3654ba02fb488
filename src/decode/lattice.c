/* lattice.c: the map of a stretched integer grid (lattice.h); finding one
 * is the encoder's (encode/lattice_find.c). */
#include "config.h"
#include "lattice.h"

#define ONE ((uint64_t)1 << 32)

int lattice_valid(const lattice *l)
{
    return (l->form == LATTICE_AFFINE || l->form == LATTICE_SYMMETRIC) && l->mul > LATTICE_MUL_MIN &&
           l->mul < LATTICE_MUL_MAX && l->offset <= ONE;
}

uint64_t lattice_k_max(const lattice *l) { return ((uint64_t)1 << 62) / l->mul; }

static uint64_t magnitude(int64_t k) { return k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k; }

int64_t lattice_value(const lattice *l, int64_t k)
{
    if (l->form == LATTICE_SYMMETRIC) {
        int64_t t = (int64_t)((magnitude(k) * l->mul + l->offset) >> 32);
        return k < 0 ? -t : t;
    }
    /* floor((k mul + offset) / 2^32), with k mul + 2^62 >= 0 so that only
     * unsigned shifts are used (|k mul| <= 2^62 by lattice_k_max). */
    uint64_t t = (uint64_t)(k * (int64_t)l->mul + ((int64_t)1 << 62)) + l->offset;
    return (int64_t)(t >> 32) - ((int64_t)1 << 30);
}

