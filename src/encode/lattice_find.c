/* lattice_find.c: finding the stretched integer grid an index set lies on.
 *
 * The search works on the distinct values alone, so it needs neither the
 * weights nor the quantizer.  For a guessed offset c it walks the values
 * from the smallest magnitude up.  Each value v = image of k = sign(v) j
 * bounds r to an interval, and the intervals met so far are intersected.
 * Near zero every small k occurs, so r is pinned down quickly; each larger
 * value takes the smallest j its interval allows.  The offset of a
 * dead-zone quantizer (1 - sigma) is not known here, so c is tried on a
 * grid (midtread's 1/2 is on it), and midrise's affine form is tried too.
 * Whatever the search settles on is checked exactly with lattice_value,
 * which is what the decoder runs: the doubles here only propose. */
#include "config.h"
#include "lattice_find.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define ONE ((uint64_t)1 << 32)
#define OFFSET_GRID 1024

static uint64_t magnitude(int64_t k) { return k < 0 ? (uint64_t)0 - (uint64_t)k : (uint64_t)k; }

/* The interval [*a, *b] of r in which k = sign(v) j maps to v (v != 0). */
static void r_bounds(lattice_form form, double c, int32_t v, int64_t j, double *a, double *b)
{
    double m = fabs((double)v);
    if (v > 0 || form == LATTICE_SYMMETRIC) { /* m <= r j + c < m + 1 */
        *a = (m - c) / (double)j;
        *b = (m + 1 - c) / (double)j;
    } else { /* -m <= -r j + c < -m + 1 */
        *a = (m - 1 + c) / (double)j;
        *b = (m + c) / (double)j;
    }
}

/* Assign every value its k for one form and offset, the first nonzero
 * value (in magnitude order) taking j = first_j, for a ratio of at least
 * floor_r; on success *r is a ratio inside every value's interval.  The
 * floor ends hopeless tries after a few values. */
static int assign(const int32_t *values, const uint32_t *order, uint32_t count, lattice_form form,
                  double c, int64_t first_j, double floor_r, int32_t *k_out, double *r)
{
    double lo = floor_r, hi = INFINITY;
    int started = 0;
    int64_t last_j[2] = {0, 0}; /* per sign: k grows with |v| */
    for (uint32_t t = 0; t < count; t++) {
        uint32_t i = order[t];
        int32_t v = values[i];
        if (v == 0) {
            k_out[i] = 0;
            continue;
        }
        /* The smallest j whose interval reaches r's: a larger one fits
         * too when r is still loose, but it would be a lattice of larger
         * ratios that skips integers, which codes worse. */
        int64_t j = first_j;
        if (started) {
            double a, b;
            r_bounds(form, c, v, 1, &a, &b);
            j = (int64_t)ceil(a / hi);
        }
        int64_t *last = &last_j[v < 0];
        int ok = 0;
        for (int64_t d = -1; d <= 1 && !ok; d++) {
            int64_t jj = j + d;
            double a, b;
            if (jj <= *last || jj >= (1 << 30))
                continue;
            r_bounds(form, c, v, jj, &a, &b);
            double nlo = a > lo ? a : lo, nhi = b < hi ? b : hi;
            if (nlo < nhi) {
                lo = nlo;
                hi = nhi;
                k_out[i] = (int32_t)(v < 0 ? -jj : jj);
                *last = jj;
                ok = 1;
            }
        }
        if (!ok)
            return -1;
        started = 1;
    }
    if (!started || !isfinite(hi))
        return -1;
    *r = (lo + hi) / 2;
    return 0;
}

static int check_exact(const int32_t *values, uint32_t count, const lattice *l, const int32_t *k)
{
    if (!lattice_valid(l))
        return -1;
    uint64_t k_max = lattice_k_max(l);
    for (uint32_t i = 0; i < count; i++)
        if (magnitude(k[i]) > k_max || lattice_value(l, k[i]) != values[i])
            return -1;
    return 0;
}

static int try_offset(const int32_t *values, const uint32_t *order, uint32_t count,
                      lattice_form form, double c, double floor_r, lattice *l, int32_t *k_out)
{
    for (int64_t first_j = 1; first_j <= 2; first_j++) {
        double r;
        if (assign(values, order, count, form, c, first_j, floor_r, k_out, &r) != 0)
            continue;
        if (r >= (double)(LATTICE_MUL_MAX / ONE)) /* r >= floor_r > 1 already */
            continue;
        l->form = form;
        l->mul = (uint64_t)llround(r * (double)ONE);
        l->offset = (uint64_t)llround(c * (double)ONE);
        if (check_exact(values, count, l, k_out) == 0)
            return 0;
    }
    return -1;
}

/* The indices of values[] by increasing magnitude: a merge of the
 * negative run (read backwards) and the rest. */
static void magnitude_order(const int32_t *values, uint32_t count, uint32_t *order)
{
    uint32_t split = 0;
    while (split < count && values[split] < 0)
        split++;
    int64_t neg = (int64_t)split - 1;
    uint32_t pos = split, t = 0;
    while (neg >= 0 || pos < count) {
        if (pos < count && (neg < 0 || (int64_t)values[pos] <= -(int64_t)values[neg]))
            order[t++] = pos++;
        else
            order[t++] = (uint32_t)neg--;
    }
}

/* Keep the candidate of the larger ratio: it leaves fewer integers
 * unused, so its k code smaller (any lattice of ratio r also fits with
 * ratio r/2 and every other k left out). */
static void keep_better(const int32_t *values, const uint32_t *order, uint32_t count,
                        lattice_form form, double c, lattice *best, int32_t *best_k, int32_t *k)
{
    lattice cand;
    double floor_r = best->mul ? (double)best->mul / (double)ONE : LATTICE_RATIO_MIN;
    if (try_offset(values, order, count, form, c, floor_r, &cand, k) == 0 && cand.mul > best->mul) {
        *best = cand;
        memcpy(best_k, k, count * sizeof *k);
    }
}

int lattice_find(const int32_t *values, uint32_t count, lattice *l, int32_t *k_out)
{
    if (count < 3)
        return -1;
    uint32_t *order = malloc(count * sizeof *order);
    int32_t *k = malloc(count * sizeof *k);
    if (!order || !k) {
        free(order);
        free(k);
        return -1;
    }
    magnitude_order(values, count, order);
    lattice best = {LATTICE_SYMMETRIC, 0, 0};
    keep_better(values, order, count, LATTICE_AFFINE, 0, &best, k_out, k);
    for (int i = 0; i <= OFFSET_GRID; i++)
        keep_better(values, order, count, LATTICE_SYMMETRIC, (double)i / OFFSET_GRID, &best, k_out,
                    k);
    free(order);
    free(k);
    if (!best.mul)
        return -1;
    *l = best;
    return 0;
}

