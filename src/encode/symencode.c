/* symencode.c: coding integer indices (decode/symcode.c decodes them):
 * rANS with escape classes and contexts, or the adaptive coder where
 * tables cost too much.  The stream layout is decode/symcode.c's. */
#include "config.h"
#include "symencode.h"
#include "freqtable.h"
#include "rans32_encode.h"
#include "adaptive_encode.h"
#include "lattice_find.h"
#include "common/intmath.h"
#include "decode/rans32.h"
#include "decode/symformat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROB_BITS 12

/* The symbol of q, and its escape class (or -1 for a direct symbol). */
static uint32_t symbol_of(int32_t q, uint32_t T, int *klass)
{
    uint32_t a = magnitude_u32(q);
    if (a < T) {
        *klass = -1;
        return (uint32_t)(q + (int32_t)(T - 1));
    }
    unsigned k = floor_log2_u32(a - T + 1);
    *klass = (int)k;
    return 2 * T - 1 + 2 * k + (q < 0);
}

/* ---- Frequency tables ----------------------------------------------------- */

/* Scale counts to frequencies summing to 2^prob_bits, every symbol that
 * occurs keeping at least 1, rounding to the cheapest total. */
void symcode_normalize(const uint64_t *counts, uint32_t n, unsigned prob_bits, uint32_t *freq)
{
    uint64_t total = 0;
    for (uint32_t i = 0; i < n; i++)
        total += counts[i];
    const int64_t M = (int64_t)1 << prob_bits;
    int64_t sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!counts[i]) {
            freq[i] = 0;
            continue;
        }
        double f = (double)counts[i] * (double)M / (double)total;
        freq[i] = f < 1 ? 1 : (uint32_t)(f + 0.5);
        sum += freq[i];
    }
    /* Move single units to or from the symbols where it costs least. */
    while (sum != M) {
        int best = -1;
        double best_gain = 0;
        for (uint32_t i = 0; i < n; i++) {
            if (!counts[i] || (sum > M && freq[i] <= 1))
                continue;
            double gain = sum < M ? (double)counts[i] * log2((freq[i] + 1.0) / freq[i])
                                  : -(double)counts[i] * log2(freq[i] / (freq[i] - 1.0));
            if (best < 0 || gain > best_gain) {
                best = (int)i;
                best_gain = gain;
            }
        }
        if (best < 0)
            break; /* more symbols than slots: callers keep the alphabet below M */
        if (sum < M) {
            freq[best]++;
            sum++;
        } else {
            freq[best]--;
            sum--;
        }
    }
}

/* Frequency tables are sent symbol by symbol as Exp-Golomb codes whose
 * each frequency is sent as its difference from the previous one (zigzag
 * mapped), with an Exp-Golomb order that follows the previous difference:
 * histograms of indices are smooth, so differences are small, and a run of
 * absent symbols costs about one bit each. */
static uint32_t delta_code(uint32_t f, uint32_t prev)
{
    int64_t d = (int64_t)f - (int64_t)prev;
    return (uint32_t)(d >= 0 ? 2 * d : -2 * d - 1);
}

unsigned symcode_table_bits(const uint32_t *freq, uint32_t n)
{
    unsigned bits = 0, k = 0;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t z = delta_code(freq[i], prev);
        bits += expgolomb_bits(z, k);
        k = next_order(z);
        prev = freq[i];
    }
    return bits;
}

void symcode_write_table(bitwriter *w, const uint32_t *freq, uint32_t n)
{
    unsigned k = 0;
    uint32_t prev = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t z = delta_code(freq[i], prev);
        bw_expgolomb(w, z, k);
        k = next_order(z);
        prev = freq[i];
    }
}

/* Estimated bits for symbols with these counts under normalized frequencies. */
static double coded_bits(const uint64_t *counts, const uint32_t *freq, uint32_t n,
                         unsigned prob_bits)
{
    double bits = 0;
    for (uint32_t i = 0; i < n; i++)
        if (counts[i])
            bits += (double)counts[i] * (prob_bits - log2((double)freq[i]));
    return bits;
}

/* ---- Parameter choice ------------------------------------------------------- */

typedef struct plan {
    alphabet ab;
    unsigned prob_bits;
    unsigned n_ctx;
    uint8_t thresholds[SYMCODE_MAX_CTX - 1];
    uint8_t ctx_lut[2 * NEIGHBOUR_CAP + 1];
    double bits; /* estimated total */
} plan;

static void build_ctx_lut(plan *p) { symcode_ctx_lut(p->n_ctx, p->thresholds, p->ctx_lut); }
/* Count symbols per context, and the raw bits escapes need. */
static int count_symbols(const int32_t *q, size_t n, const plan *p, uint64_t *counts,
                         uint64_t *extra_bits)
{
    memset(counts, 0, (size_t)p->n_ctx * p->ab.size * sizeof *counts);
    uint64_t extra = 0;
    int32_t q1 = 0, q2 = 0;
    for (size_t i = 0; i < n; i++) {
        int k;
        uint32_t s = symbol_of(q[i], p->ab.T, &k);
        if (k >= 0)
            extra += (unsigned)k;
        unsigned c = p->n_ctx > 1 ? p->ctx_lut[neighbour_sum(q1, q2)] : 0;
        counts[(size_t)c * p->ab.size + s]++;
        q2 = q1;
        q1 = q[i];
    }
    *extra_bits = extra;
    return 0;
}

/* Total estimated size of a plan, in bits; negative when out of memory. */
static double plan_cost(const int32_t *q, size_t n, plan *p)
{
    size_t cells = (size_t)p->n_ctx * p->ab.size;
    uint64_t *counts = malloc(cells * sizeof *counts);
    uint32_t *freq = malloc(cells * sizeof *freq);
    if (!counts || !freq) {
        free(counts);
        free(freq);
        return -1;
    }
    uint64_t extra;
    count_symbols(q, n, p, counts, &extra);
    double bits = (double)extra + 64 + 8 * (4 + p->n_ctx);
    for (unsigned c = 0; c < p->n_ctx; c++) {
        uint64_t *cc = counts + (size_t)c * p->ab.size;
        uint32_t *ff = freq + (size_t)c * p->ab.size;
        uint64_t total = 0;
        for (uint32_t i = 0; i < p->ab.size; i++)
            total += cc[i];
        if (!total) { /* an empty context still sends a table */
            cc[0] = 1;
        }
        symcode_normalize(cc, p->ab.size, p->prob_bits, ff);
        bits += symcode_table_bits(ff, p->ab.size);
        if (total)
            bits += coded_bits(cc, ff, p->ab.size, p->prob_bits);
    }
    free(counts);
    free(freq);
    p->bits = bits;
    return bits;
}

static void set_alphabet(alphabet *ab, uint32_t T, uint32_t max_mag)
{
    ab->T = T;
    ab->K = max_mag >= T ? floor_log2_u32(max_mag - T + 1) + 1 : 0;
    ab->size = 2 * T - 1 + 2 * ab->K;
}

/* Context thresholds at the quantiles of the context values: threshold j is
 * the smallest t with at least j/want of the values below it. */
static void quantile_thresholds(const int32_t *q, size_t n, plan *p, unsigned want)
{
    enum { NV = 2 * NEIGHBOUR_CAP + 1 };
    uint64_t below[NV + 1] = {0}; /* below[t]: values < t */
    int32_t q1 = 0, q2 = 0;
    for (size_t i = 0; i < n; i++) {
        below[neighbour_sum(q1, q2) + 1]++;
        q2 = q1;
        q1 = q[i];
    }
    for (unsigned t = 1; t <= NV; t++)
        below[t] += below[t - 1];
    unsigned count = 0;
    for (unsigned j = 1; j < want; j++) {
        double target = (double)n * j / want;
        unsigned t = 1;
        while (t < NV - 1 && (double)below[t] < target)
            t++;
        if (count == 0 || t > p->thresholds[count - 1])
            p->thresholds[count++] = (uint8_t)t;
    }
    p->n_ctx = count + 1;
    build_ctx_lut(p);
}

static int choose_plan(const int32_t *q, size_t n, plan *best)
{
    uint32_t max_mag = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t a = magnitude_u32(q[i]);
        max_mag = a > max_mag ? a : max_mag;
    }
    memset(best, 0, sizeof *best);
    best->bits = -1;
    /* T: powers of two, and the one that needs no escapes when it is small. */
    for (uint32_t T = 1; T <= SYMCODE_MAX_T; T *= 2) {
        plan p = {0};
        uint32_t t = T;
        if (max_mag + 1 < T)
            t = max_mag + 1;
        set_alphabet(&p.ab, t, max_mag);
        if (p.ab.size > (1u << PROB_BITS))
            break; /* every symbol must be able to have a slot */
        p.prob_bits = PROB_BITS;
        p.n_ctx = 1;
        build_ctx_lut(&p);
        if (plan_cost(q, n, &p) < 0)
            return -1;
        if (best->bits < 0 || p.bits < best->bits)
            *best = p;
        if (t != T)
            break;
    }
    alphabet ab = best->ab;
    /* Contexts make decoding serial (each symbol's table depends on the one
     * before), so they must earn their keep: at least 1 % smaller. */
    double no_context_bits = best->bits;
    for (unsigned want = 2; want <= SYMCODE_MAX_CTX; want++) {
        plan p = {0};
        p.ab = ab;
        p.prob_bits = PROB_BITS;
        quantile_thresholds(q, n, &p, want);
        if (p.n_ctx < 2)
            continue;
        if (plan_cost(q, n, &p) < 0)
            return -1;
        if (p.bits < best->bits && p.bits < 0.99 * no_context_bits)
            *best = p;
    }
    /* Coarser frequencies cost less to send; finer ones code closer. */
    plan chosen = *best;
    for (unsigned pb = 10; pb <= 13; pb++) {
        plan p = chosen;
        if (pb == PROB_BITS || p.ab.size > (1u << pb))
            continue;
        p.prob_bits = pb;
        if (plan_cost(q, n, &p) < 0)
            return -1;
        if (p.bits < best->bits)
            *best = p;
    }
    return 0;
}

/* ---- Encoding -------------------------------------------------------------- */

/* ---- Dictionary mode ---------------------------------------------------------
 *
 * Weights that were already quantized (per channel, on other grids) give
 * index sets shaped like a comb: a few hundred distinct values spread over
 * thousands.  Those code better as ranks among the distinct values, the
 * sorted values sent once: first as a zigzag varint, then each gap less one
 * as Exp-Golomb codes whose order follows the previous gap. */


typedef struct dictionary {
    uint32_t size;      /* 0: not used */
    uint32_t zero_rank; /* rank of the value nearest zero: ranks are coded relative to it */
    int32_t *values;
} dictionary;

static int cmp_i32(const void *a, const void *b)
{
    int32_t x = *(const int32_t *)a, y = *(const int32_t *)b;
    return (x > y) - (x < y);
}

void symcode_write_gaps(bitwriter *w, const int32_t *values, uint32_t count)
{
    unsigned k = 0;
    for (uint32_t i = 1; i < count; i++) {
        uint32_t gap = (uint32_t)((int64_t)values[i] - values[i - 1] - 1);
        bw_expgolomb(w, gap, k);
        k = next_order(gap);
    }
    bw_flush(w);
}

unsigned symcode_gaps_bits(const int32_t *values, uint32_t count)
{
    unsigned bits = 0, k = 0;
    for (uint32_t i = 1; i < count; i++) {
        uint32_t gap = (uint32_t)((int64_t)values[i] - values[i - 1] - 1);
        bits += expgolomb_bits(gap, k);
        k = next_order(gap);
    }
    return bits;
}

static void write_dictionary(bytebuf *out, const dictionary *d)
{
    bb_varint(out, d->size);
    if (!d->size)
        return;
    bb_svarint(out, d->values[0]);
    bb_varint(out, d->zero_rank);
    bytebuf gaps;
    bb_init(&gaps);
    bitwriter w;
    bw_init(&w, &gaps);
    symcode_write_gaps(&w, d->values, d->size);
    bb_varint(out, gaps.len);
    bb_put(out, gaps.data, gaps.len);
    if (gaps.failed)
        out->failed = 1;
    bb_free(&gaps);
}

static double dictionary_bits(const dictionary *d)
{
    return 8 * 12 + (double)symcode_gaps_bits(d->values, d->size);
}

/* The distinct values of q[0..n), ascending, into a malloc'd *values, when
 * there are at most DICT_MAX of them; *count is set either way (DICT_MAX + 1
 * for "more").  Small spans are marked in a bitmap, so the common case
 * needs no copy of q. */
static int distinct_values(const int32_t *q, size_t n, int32_t lo, int32_t hi, int32_t **values,
                           uint32_t *count)
{
    *values = NULL;
    *count = 0;
    uint64_t span = (uint64_t)((int64_t)hi - lo) + 1;
    if (span <= (1u << 24)) {
        uint64_t *seen = calloc((size_t)(span + 63) / 64, sizeof *seen);
        if (!seen)
            return -1;
        for (size_t i = 0; i < n; i++) {
            uint64_t v = (uint64_t)((int64_t)q[i] - lo);
            seen[v / 64] |= 1ull << (v % 64);
        }
        uint32_t d = 0;
        for (uint64_t w = 0; w < (span + 63) / 64; w++)
            d += (uint32_t)__builtin_popcountll(seen[w]);
        *count = d > DICT_MAX ? DICT_MAX + 1 : d;
        if (d <= DICT_MAX && (*values = malloc((d + 1) * sizeof **values))) {
            uint32_t k = 0;
            for (uint64_t v = 0; v < span; v++)
                if (seen[v / 64] >> (v % 64) & 1)
                    (*values)[k++] = (int32_t)((int64_t)lo + (int64_t)v);
        }
        free(seen);
        return d <= DICT_MAX && !*values ? -1 : 0;
    }
    int32_t *sorted = malloc(n * sizeof *sorted);
    if (!sorted)
        return -1;
    memcpy(sorted, q, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, cmp_i32);
    uint32_t d = 0;
    for (size_t i = 0; i < n && d <= DICT_MAX; i++)
        if (i == 0 || sorted[i] != sorted[i - 1])
            sorted[d++] = sorted[i];
    *count = d;
    if (d <= DICT_MAX)
        *values = sorted;
    else
        free(sorted);
    return 0;
}

/* The smallest and largest of q[0..n), n > 0. */
static void value_range(const int32_t *q, size_t n, int32_t *lo_out, int32_t *hi_out)
{
    int32_t lo = q[0], hi = q[0];
    for (size_t i = 1; i < n; i++) {
        lo = q[i] < lo ? q[i] : lo;
        hi = q[i] > hi ? q[i] : hi;
    }
    *lo_out = lo;
    *hi_out = hi;
}

/* distinct_values over q's whole range (n > 0), and the range's size. */
static int distinct_with_span(const int32_t *q, size_t n, int32_t **values, uint32_t *count,
                              uint64_t *span)
{
    int32_t lo, hi;
    value_range(q, n, &lo, &hi);
    *span = (uint64_t)((int64_t)hi - lo) + 1;
    return distinct_values(q, n, lo, hi, values, count);
}

/* The indices of q[0..n) among values[0..count) (ascending), through
 * to[] (a value's rank to what is coded), into a malloc'd array. */
static int32_t *map_values(const int32_t *q, size_t n, const int32_t *values, uint32_t count,
                           const int32_t *to)
{
    int32_t *mapped = malloc((n + 1) * sizeof *mapped);
    if (!mapped)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        const int32_t *at = bsearch(&q[i], values, count, sizeof *values, cmp_i32);
        mapped[i] = to[at - values];
    }
    return mapped;
}

static unsigned varint_bytes(uint64_t v)
{
    unsigned n = 1;
    while (v >>= 7)
        n++;
    return n;
}

/* What a lattice costs to send: the marker, the form, two varints. */
static double lattice_bits(const lattice *l)
{
    return 8.0 * (2 + 1 + varint_bytes(l->mul) + varint_bytes(l->offset));
}

/* When q's distinct values lie on a lattice whose integers code smaller
 * than the plan in *p, switch to them: the integers go to *mapped_out
 * (malloc'd, replacing what was there), their plan to *p, the lattice to
 * *lat. */
static int try_lattice(const int32_t *q, size_t n, const int32_t *values, uint32_t D,
                       int32_t **mapped_out, plan *p, lattice *lat)
{
    int32_t *k = malloc((D + 1) * sizeof *k);
    if (!k)
        return -1;
    lattice cand;
    int32_t *mapped = NULL;
    plan lp;
    int st = 0;
    if (lattice_find(values, D, &cand, k) != 0)
        goto done;
    if (!(mapped = map_values(q, n, values, D, k)) || choose_plan(mapped, n, &lp) != 0) {
        st = -1;
        goto done;
    }
    /* Plan sizes are estimates: a lattice must save a few bytes by them,
     * so that a near tie keeps the map coded before lattices existed. */
    if (lp.bits + lattice_bits(&cand) + 64 < p->bits) {
        free(*mapped_out);
        *mapped_out = mapped;
        mapped = NULL;
        *p = lp;
        p->bits += lattice_bits(&cand);
        *lat = cand;
    }
done:
    free(mapped);
    free(k);
    return st;
}

/* The ranks of q among values[0..D) (ascending), relative to the value
 * nearest zero, into a malloc'd *ranks; *d gets the dictionary, which
 * borrows values. */
static int rank_map(const int32_t *q, size_t n, int32_t *values, uint32_t D, dictionary *d,
                    int32_t **ranks)
{
    *ranks = NULL;
    *d = (dictionary){D, 0, values};
    for (uint32_t i = 1; i < D; i++)
        if (magnitude_u32(values[i]) < magnitude_u32(values[d->zero_rank]))
            d->zero_rank = i;
    int32_t *rank_of = malloc((D + 1) * sizeof *rank_of);
    if (!rank_of)
        return -1;
    for (uint32_t i = 0; i < D; i++)
        rank_of[i] = (int32_t)i - (int32_t)d->zero_rank;
    *ranks = map_values(q, n, values, D, rank_of);
    free(rank_of);
    return *ranks ? 0 : -1;
}

/* When the ranks of q among its distinct values code smaller than the
 * plan in *p, switch to them: the ranks go to *mapped_out (malloc'd,
 * replacing what was there), their plan to *p, and the values to *d,
 * which then owns them. */
static int try_dictionary(const int32_t *q, size_t n, int32_t *values, uint32_t D,
                          int32_t **mapped_out, plan *p, dictionary *d)
{
    dictionary cand;
    int32_t *ranks = NULL;
    plan rp;
    if (rank_map(q, n, values, D, &cand, &ranks) != 0 || choose_plan(ranks, n, &rp) != 0) {
        free(ranks);
        return -1;
    }
    if (rp.bits + dictionary_bits(&cand) < p->bits) {
        free(*mapped_out);
        *mapped_out = ranks;
        *p = rp;
        p->bits += dictionary_bits(&cand);
        *d = cand;
    } else {
        free(ranks);
    }
    return 0;
}

/* Index sets that are not dense (already-quantized weights) may code
 * smaller as the integers of a lattice or as ranks in a dictionary; try
 * both against the plan in *p.  At most one of *d and *lat is set, and
 * *mapped_out then holds what is coded. */
static int try_value_maps(const int32_t *q, size_t n, int32_t **mapped_out, plan *p,
                          dictionary *d, lattice *lat)
{
    memset(d, 0, sizeof *d);
    memset(lat, 0, sizeof *lat);
    *mapped_out = NULL;
    if (n < 64)
        return 0;
    int32_t *values;
    uint32_t D;
    uint64_t span;
    if (distinct_with_span(q, n, &values, &D, &span) != 0)
        return -1;
    if (D > DICT_MAX || 4 * span < 5 * (uint64_t)(D - 1)) { /* dense: no ratio 5/4 fits */
        free(values);
        return 0;
    }
    int st = span >= 4 * (uint64_t)D ? try_dictionary(q, n, values, D, mapped_out, p, d) : 0;
    if (st == 0)
        st = try_lattice(q, n, values, D, mapped_out, p, lat);
    if (st != 0) {
        free(*mapped_out);
        *mapped_out = NULL;
        memset(lat, 0, sizeof *lat);
    }
    if (st != 0 || lat->mul)
        memset(d, 0, sizeof *d); /* the dictionary does not keep values */
    if (!d->size)
        free(values);
    return st;
}

static void write_value_map(bytebuf *out, const dictionary *d, const lattice *lat)
{
    if (!lat->mul) {
        write_dictionary(out, d);
        return;
    }
    bb_varint(out, LATTICE_MARK);
    bb_u8(out, (uint8_t)lat->form);
    bb_varint(out, lat->mul);
    bb_varint(out, lat->offset);
}

/* Indices spread far wider than the table can hold lose to the escape
 * classes' raw bits.  For them, code q >> shift and send the low bits raw:
 * at that spread the low bits are close to uniform, so little is lost.
 * *hi gets the shifted copy (malloc'd), or NULL when no shift pays. */
static int choose_shift(const int32_t *q, size_t n, int32_t **hi_out, unsigned *shift,
                        plan *best)
{
    *hi_out = NULL;
    *shift = 0;
    double mean = 0;
    for (size_t i = 0; i < n; i++)
        mean += magnitude_u32(q[i]);
    mean = n ? mean / (double)n : 0;
    int s0 = mean > 64 ? (int)floor(log2(mean / 32)) : 0;
    if (choose_plan(q, n, best) != 0)
        return -1;
    if (s0 == 0)
        return 0; /* narrow enough: no copy */
    int32_t *hi = malloc((n + 1) * sizeof *hi);
    if (!hi)
        return -1;
    for (int s = s0 - 1 > 1 ? s0 - 1 : 1; s <= s0 + 1 && s <= 24; s++) {
        for (size_t i = 0; i < n; i++)
            hi[i] = q[i] >> s; /* arithmetic: the low bits are q & (2^s - 1) */
        plan p;
        if (choose_plan(hi, n, &p) != 0) {
            free(hi);
            return -1;
        }
        p.bits += (double)n * s;
        if (p.bits < best->bits) {
            *best = p;
            *shift = (unsigned)s;
        }
    }
    if (*shift == 0) {
        free(hi);
        return 0;
    }
    for (size_t i = 0; i < n; i++)
        hi[i] = q[i] >> *shift;
    *hi_out = hi;
    return 0;
}

/* The rANS words come out last first; they are kept in a buffer that grows
 * with the output, not with the number of symbols. */
typedef struct word_stack {
    uint16_t *w;
    size_t n, cap;
} word_stack;

static int push_word(word_stack *s, uint16_t w)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? 2 * s->cap : 4096;
        uint16_t *grown = realloc(s->w, cap * sizeof *grown);
        if (!grown)
            return -1;
        s->w = grown;
        s->cap = cap;
    }
    s->w[s->n++] = w;
    return 0;
}

static unsigned context_at(const plan *p, const int32_t *q, size_t i)
{
    if (p->n_ctx < 2)
        return 0;
    return p->ctx_lut[neighbour_sum(i >= 1 ? q[i - 1] : 0, i >= 2 ? q[i - 2] : 0)];
}

/* The table-coded stream of q (q_in after any shift or value map). */
static symcode_status write_table_stream(const int32_t *q, const int32_t *q_in, size_t n,
                                         const plan *p, unsigned shift, const dictionary *dict,
                                         const lattice *lat, bytebuf *out)
{
    const unsigned pb = p->prob_bits;
    const uint32_t A = p->ab.size;
    size_t cells = (size_t)p->n_ctx * A;
    uint64_t *counts = malloc(cells * sizeof *counts);
    uint32_t *freq = malloc(cells * sizeof *freq);
    uint32_t *cum = malloc(cells * sizeof *cum);
    word_stack words = {0};
    bytebuf tables, extra;
    bb_init(&tables);
    bb_init(&extra);
    symcode_status st = SYMCODE_NOMEM;
    if (!counts || !freq || !cum)
        goto done;

    uint64_t extra_bits;
    count_symbols(q, n, p, counts, &extra_bits);
    bitwriter tw, xw;
    bw_init(&tw, &tables);
    for (unsigned c = 0; c < p->n_ctx; c++) {
        uint64_t *cc = counts + (size_t)c * A;
        uint32_t *ff = freq + (size_t)c * A;
        uint64_t total = 0;
        for (uint32_t i = 0; i < A; i++)
            total += cc[i];
        if (!total)
            cc[0] = 1; /* unused context: any valid table */
        symcode_normalize(cc, A, pb, ff);
        symcode_write_table(&tw, ff, A);
        uint32_t run = 0;
        for (uint32_t i = 0; i < A; i++) {
            cum[(size_t)c * A + i] = run;
            run += ff[i];
        }
    }
    bw_flush(&tw);

    /* Escape bits and shifted-out bits, in order. */
    bw_init(&xw, &extra);
    for (size_t i = 0; i < n; i++) {
        int k;
        symbol_of(q[i], p->ab.T, &k);
        if (k > 0)
            bw_put(&xw, magnitude_u32(q[i]) - p->ab.T + 1 - (1u << k), (unsigned)k);
        if (shift)
            bw_put(&xw, (uint32_t)q_in[i] & ((1u << shift) - 1), shift);
    }
    bw_flush(&xw);

    /* rANS runs backwards so the decoder can run forwards. */
    uint32_t x[2] = {RANS_L, RANS_L};
    for (size_t i = n; i-- > 0;) {
        int k;
        size_t cell = (size_t)context_at(p, q, i) * A + symbol_of(q[i], p->ab.T, &k);
        uint32_t f = freq[cell];
        uint32_t *xs = &x[i & 1];
        uint64_t x_max = ((uint64_t)(RANS_L >> pb) << 16) * f;
        if (*xs >= x_max) {
            if (push_word(&words, (uint16_t)(*xs & 0xffff)) != 0)
                goto done;
            *xs >>= 16;
        }
        *xs = ((*xs / f) << pb) + (*xs % f) + cum[cell];
    }

    bb_u8(out, pb);
    bb_u8(out, shift);
    write_value_map(out, dict, lat);
    bb_varint(out, p->ab.T);
    bb_u8(out, p->ab.K);
    bb_u8(out, p->n_ctx);
    for (unsigned c = 0; c + 1 < p->n_ctx; c++)
        bb_u8(out, p->thresholds[c]);
    bb_varint(out, tables.len);
    bb_put(out, tables.data, tables.len);
    bb_varint(out, extra.len);
    bb_put(out, extra.data, extra.len);
    bb_u32(out, x[0]);
    bb_u32(out, x[1]);
    uint8_t *dst = bb_reserve(out, 2 * words.n);
    if (dst) {
        for (size_t j = 0; j < words.n; j++) {
            uint16_t w = words.w[words.n - 1 - j];
            dst[2 * j] = (uint8_t)w;
            dst[2 * j + 1] = (uint8_t)(w >> 8);
        }
        out->len += 2 * words.n;
    }
    st = out->failed || tables.failed || extra.failed ? SYMCODE_NOMEM : SYMCODE_OK;
done:
    free(counts);
    free(freq);
    free(cum);
    free(words.w);
    bb_free(&tables);
    bb_free(&extra);
    return st;
}

/* ---- Adaptive mode -------------------------------------------------------------
 *
 * The same value maps, then adaptive.c's coder instead of tables: it wins
 * where a table would be large for the tensor (hundreds of distinct
 * indices in a few thousand).  It decodes several times slower than rANS,
 * so tables are kept wherever they code within onnxq's size guarantee,
 * 1 % plus 64 bytes over the entropy of the indices (less a margin for
 * the plan's estimate), and for tensors of fewer than ADAPTIVE_MIN_INDICES
 * indices, which the guarantee leaves out: models have many of those, and
 * their decoding time adds up while their tables cost little in all.  The
 * adaptive coder is tried only beyond that (adaptive_wanted), and used
 * where it codes smaller. */

#define ADAPTIVE_MIN_INDICES 4096

typedef struct adaptive_choice {
    bytebuf coded; /* adaptive.c's bytes */
    double bits;   /* with the header and value map; negative: none yet */
    dictionary dict;
    lattice lat;
} adaptive_choice;

static double value_map_bits(const dictionary *d, const lattice *lat)
{
    return lat->mul ? lattice_bits(lat) : d->size ? dictionary_bits(d) : 8;
}

/* Code q adaptively, searching the coder's parameters (the best ones
 * differ between index maps); keep it in *best when smaller.  0, or -1
 * when out of memory. */
static int adaptive_candidate(const int32_t *q, size_t n, const dictionary *d, const lattice *lat,
                              adaptive_choice *best)
{
    bytebuf b;
    bb_init(&b);
    if (adaptive_encode(q, n, 1, &b) != 0) {
        bb_free(&b);
        return -1;
    }
    double bits = 16 + value_map_bits(d, lat) + 8.0 * (double)b.len;
    if (best->bits < 0 || bits < best->bits) {
        bb_free(&best->coded);
        *best = (adaptive_choice){b, bits, *d, *lat};
    } else {
        bb_free(&b);
    }
    return 0;
}

/* The ranks of q among its distinct values, when they have gaps and are
 * few enough for a dictionary; else *ranks stays NULL. */
static int gap_ranks(const int32_t *q, size_t n, dictionary *d, int32_t **ranks)
{
    *ranks = NULL;
    memset(d, 0, sizeof *d);
    if (n < 64)
        return 0;
    int32_t *values;
    uint32_t D;
    uint64_t span;
    if (distinct_with_span(q, n, &values, &D, &span) != 0)
        return -1;
    if (D > DICT_MAX || span == D) {
        free(values);
        return 0;
    }
    if (rank_map(q, n, values, D, d, ranks) != 0) {
        free(values);
        memset(d, 0, sizeof *d);
        return -1;
    }
    return 0;
}

/* The best adaptive stream among: q_in itself, the table plan's value
 * map, and ranks among q_in's distinct values when they have gaps (whose
 * dictionary *own_dict then keeps: the caller frees its values). */
static int choose_adaptive(const int32_t *q_in, size_t n, const int32_t *mapped,
                           const dictionary *dict, const lattice *lat, adaptive_choice *best,
                           dictionary *own_dict)
{
    static const dictionary no_dict;
    static const lattice no_lattice;
    memset(own_dict, 0, sizeof *own_dict);
    best->bits = -1;
    bb_init(&best->coded);
    if (adaptive_candidate(q_in, n, &no_dict, &no_lattice, best) != 0)
        return -1;
    if (mapped && adaptive_candidate(mapped, n, dict, lat, best) != 0)
        return -1;
    int32_t *ranks = NULL;
    int st = dict->size ? 0 : gap_ranks(q_in, n, own_dict, &ranks);
    if (st == 0 && ranks)
        st = adaptive_candidate(ranks, n, own_dict, &no_lattice, best);
    free(ranks);
    return st;
}

static int adaptive_wanted(const int32_t *q, size_t n, const plan *p)
{
    if (n < ADAPTIVE_MIN_INDICES)
        return 0;
    double entropy_bits = symcode_entropy(q, n) * (double)n;
    return p->bits > 1.01 * entropy_bits + 8 * 64 - 64;
}

static symcode_status write_adaptive_stream(const adaptive_choice *a, bytebuf *out)
{
    bb_u8(out, ADAPTIVE_MARK);
    bb_u8(out, 0); /* no shift */
    write_value_map(out, &a->dict, &a->lat);
    bb_put(out, a->coded.data, a->coded.len);
    return out->failed ? SYMCODE_NOMEM : SYMCODE_OK;
}

/* Encoding needs, besides q_in, only the output and small tables, except
 * for indices that are shifted or coded as ranks (a copy of q). */
/* ---- Wide mode -----------------------------------------------------------------
 *
 * Wide rANS (decode/rans32.h) decodes several times faster than the modes
 * above, but has neither their value maps nor their adaptive models, and
 * each of its 16 or 32 states costs 4 bytes.  It replaces the stream just
 * written where it codes within WIDE_ALLOWANCE of it, the states' bytes
 * aside, and within onnxq's size guarantee. */

#define RANS32_MIN_INDICES 4096
#define WIDE_ALLOWANCE(bytes) ((bytes) / 200 + 16) /* 0.5 % and 16 bytes */

static symcode_status prefer_wide(const int32_t *q, size_t n, bytebuf *out, size_t start)
{
    size_t old = out->len - start;
    /* onnxq's guarantee for tensors this size: within 1 % and 64 bytes of
     * the indices' entropy (a wide stream may take what the narrow one
     * leaves of it). */
    double bound = 1.01 * (double)n * symcode_entropy(q, n) / 8 + 64;
    for (unsigned lanes = RANS32_LANES; lanes >= 16; lanes /= 2) { /* as many as the vector kernel runs */
        bytebuf t;
        bb_init(&t);
        int rc = rans32_encode(q, n, lanes, &t);
        if (rc < 0) {
            bb_free(&t);
            return SYMCODE_NOMEM;
        }
        size_t allowed = old + WIDE_ALLOWANCE(old) + 4 * lanes;
        int take = rc == 0 && (t.len <= old || (t.len <= allowed && (double)t.len <= bound));
        if (take) {
            out->len = start;
            bb_put(out, t.data, t.len);
        }
        bb_free(&t);
        if (take || rc)
            break;
    }
    return out->failed ? SYMCODE_NOMEM : SYMCODE_OK;
}

int symcode_is_wide(const uint8_t *stream, size_t size) { return size && stream[0] == RANS32_MARK; }

symcode_status symcode_encode(const int32_t *q_in, size_t n, int modes, bytebuf *out)
{
    size_t start = out->len;
    for (size_t i = 0; i < n; i++)
        if (q_in[i] >= (1 << 30) || q_in[i] <= -(1 << 30))
            return SYMCODE_RANGE;
    plan p;
    unsigned shift = 0;
    int32_t *shifted, *mapped;
    if (choose_shift(q_in, n, &shifted, &shift, &p) != 0)
        return SYMCODE_NOMEM;
    dictionary dict;
    lattice lat;
    if (try_value_maps(q_in, n, &mapped, &p, &dict, &lat) != 0) {
        free(shifted);
        return SYMCODE_NOMEM;
    }
    if (mapped) {
        shift = 0;
        free(shifted);
        shifted = NULL;
    }
    adaptive_choice ad = {.bits = -1};
    dictionary own_dict = {0};
    symcode_status st = SYMCODE_NOMEM;
    int tried = 0;
    if (adaptive_wanted(q_in, n, &p))
        tried = choose_adaptive(q_in, n, mapped, &dict, &lat, &ad, &own_dict) == 0 ? 1 : -1;
    if (tried >= 0) {
        if (tried && ad.bits < p.bits)
            st = write_adaptive_stream(&ad, out);
        else
            st = write_table_stream(mapped ? mapped : shifted ? shifted : q_in, q_in, n, &p,
                                    shift, &dict, &lat, out);
    }
    if (st == SYMCODE_OK && (modes & SYMCODE_WIDE) && n >= RANS32_MIN_INDICES)
        st = prefer_wide(q_in, n, out, start);
    bb_free(&ad.coded);
    free(own_dict.values);
    free(shifted);
    free(mapped);
    free(dict.values);
    return st;
}

/* ---- Entropy ---------------------------------------------------------------- */

static double entropy_term(uint64_t count, size_t n)
{
    double p = (double)count / (double)n;
    return -p * log2(p);
}

double symcode_entropy(const int32_t *q, size_t n)
{
    if (n == 0)
        return 0;
    int32_t lo, hi;
    value_range(q, n, &lo, &hi);
    /* Count over the range when it is not much wider than the data, else
     * sort a copy; both add the terms in ascending order of value. */
    uint64_t range = (uint64_t)((int64_t)hi - lo) + 1;
    double h = 0;
    if (range <= 4 * (uint64_t)n + 65536 && range <= (1u << 26)) {
        uint32_t *counts = calloc(range, sizeof *counts);
        if (!counts)
            return NAN;
        for (size_t i = 0; i < n; i++)
            counts[q[i] - lo]++;
        for (uint64_t v = 0; v < range; v++)
            if (counts[v])
                h += entropy_term(counts[v], n);
        free(counts);
        return h;
    }
    int32_t *s = malloc(n * sizeof *s);
    if (!s)
        return NAN;
    memcpy(s, q, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_i32);
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && s[j] == s[i])
            j++;
        h += entropy_term(j - i, n);
        i = j;
    }
    free(s);
    return h;
}
