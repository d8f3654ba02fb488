/* rans32_encode.c: coding indices in wide rANS (decode/rans32.h describes
 * the stream).  The symbols are chosen first: a dense run of index values
 * when the indices span at most 256, else their distinct values when
 * there are at most 256 of them, else a run centred on zero with escapes
 * past its ends, its width chosen by estimated size.  The states then
 * code the symbols from the last to the first, each emitting its 16-bit
 * words before it codes, so the decoder, going forward, reads them in
 * the order it needs them. */
#include "config.h"
#include "rans32_encode.h"
#include "freqtable.h"
#include "common/intmath.h"
#include "decode/rans32.h"
#include "decode/symformat.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PROB_BITS 12

typedef struct alphabet32 {
    rans32_form form;
    int32_t lo, hi;          /* the direct values' ends */
    uint32_t direct, classes;
    int32_t *values;         /* RANS32_LIST: the D values, ascending */
} alphabet32;

static void value_range(const int32_t *q, size_t n, int32_t *lo, int32_t *hi)
{
    *lo = *hi = n ? q[0] : 0;
    for (size_t i = 1; i < n; i++) {
        *lo = q[i] < *lo ? q[i] : *lo;
        *hi = q[i] > *hi ? q[i] : *hi;
    }
}

/* The index's symbol, and for an escape its class k and the k extra bits. */
static uint32_t symbol_of(const alphabet32 *a, int32_t q, unsigned *k, uint32_t *extra)
{
    *k = 0;
    if (q >= a->lo && q <= a->hi) {
        if (a->form == RANS32_DENSE)
            return (uint32_t)(q - a->lo);
        uint32_t l = 0, h = a->direct - 1; /* the values hold q: find it */
        while (l < h) {
            uint32_t m = (l + h) / 2;
            if (a->values[m] < q)
                l = m + 1;
            else
                h = m;
        }
        return l;
    }
    uint32_t m = q > a->hi ? (uint32_t)((int64_t)q - a->hi) : (uint32_t)((int64_t)a->lo - q);
    *k = floor_log2_u32(m);
    *extra = m - (1u << *k);
    return a->direct + 2 * *k + (q < a->lo);
}

/* The distinct values of q when there are at most RANS32_MAX_SYMBOLS of
 * them (ascending, malloc'd, in *out), else 0. */
static uint32_t few_distinct(const int32_t *q, size_t n, int32_t **out)
{
    int32_t v[RANS32_MAX_SYMBOLS];
    uint32_t count = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t l = 0, h = count;
        while (l < h) {
            uint32_t m = (l + h) / 2;
            if (v[m] < q[i])
                l = m + 1;
            else
                h = m;
        }
        if (l < count && v[l] == q[i])
            continue;
        if (count == RANS32_MAX_SYMBOLS)
            return 0;
        memmove(v + l + 1, v + l, (count - l) * sizeof *v);
        v[l] = q[i];
        count++;
    }
    *out = malloc((count + 1) * sizeof **out);
    if (!*out)
        return 0;
    memcpy(*out, v, count * sizeof *v);
    return count;
}

/* Each index's symbol, and the sums of its segment's two previous
 * classes (0..6) at a class threshold. */
static void class_sums(const alphabet32 *a, const int32_t *q, const uint8_t *sym, size_t n,
                       unsigned lanes, unsigned threshold, uint8_t *sum)
{
    for (unsigned j = 0; j < lanes; j++) {
        uint64_t from = rans32_segment_start(n, lanes, j), to = rans32_segment_start(n, lanes, j + 1);
        unsigned c1 = 0, c2 = 0;
        for (uint64_t i = from; i < to; i++) {
            sum[i] = (uint8_t)(c1 + c2);
            c2 = c1;
            c1 = sym[i] < a->direct ? rans32_class(q[i], threshold) : 3;
        }
    }
}

/* The bits a table of `symbols` counts codes in at prob_bits, table
 * included; freq receives the frequencies. */
static double table_cost(const uint64_t *counts, uint32_t symbols, unsigned prob_bits,
                         uint32_t *freq)
{
    uint64_t total = 0;
    for (uint32_t s = 0; s < symbols; s++)
        total += counts[s];
    uint64_t one[RANS32_MAX_SYMBOLS];
    if (!total) { /* an empty context still sends a table */
        memset(one, 0, symbols * sizeof *one);
        one[0] = 1;
        counts = one;
    }
    symcode_normalize(counts, symbols, prob_bits, freq);
    double bits = symcode_table_bits(freq, symbols);
    for (uint32_t s = 0; total && s < symbols; s++)
        if (counts[s])
            bits += (double)counts[s] * ((double)prob_bits - log2((double)freq[s]));
    return bits;
}

typedef struct ctx_plan {
    unsigned prob_bits, n_ctx, threshold;
    uint8_t map[RANS32_CLASS_SUMS];
    double bits;
} ctx_plan;

/* The grouping of the class sums into at most RANS32_MAX_CTX contexts
 * (runs of neighbouring sums) and the precision that code smallest, for
 * the counts by sum. */
static void best_grouping(const uint64_t (*by_sum)[RANS32_MAX_SYMBOLS], uint32_t symbols,
                          ctx_plan *best)
{
    uint64_t merged[RANS32_MAX_SYMBOLS];
    uint32_t freq[RANS32_MAX_SYMBOLS];
    /* cuts: a bit per gap between sums k-1 and k (k = 1..6) */
    for (unsigned cuts = 0; cuts < (1u << (RANS32_CLASS_SUMS - 1)); cuts++) {
        if (__builtin_popcount(cuts) > RANS32_MAX_CTX - 1)
            continue;
        uint8_t map[RANS32_CLASS_SUMS];
        unsigned c = 0;
        for (int k = 0; k < RANS32_CLASS_SUMS; k++) {
            if (k && (cuts >> (k - 1) & 1))
                c++;
            map[k] = (uint8_t)c;
        }
        for (unsigned pb = 10; pb <= RANS32_MAX_PROB_BITS; pb++) {
            if (symbols > (1u << pb))
                continue;
            double bits = 8.0 * (c + 1);
            for (unsigned ctx = 0; ctx <= c; ctx++) {
                memset(merged, 0, symbols * sizeof *merged);
                for (int k = 0; k < RANS32_CLASS_SUMS; k++)
                    if (map[k] == ctx)
                        for (uint32_t s = 0; s < symbols; s++)
                            merged[s] += by_sum[k][s];
                bits += table_cost(merged, symbols, pb, freq);
            }
            if (bits < best->bits) {
                best->bits = bits;
                best->prob_bits = pb;
                best->n_ctx = c + 1;
                memcpy(best->map, map, sizeof map);
            }
        }
    }
}

/* Map q to symbols under alphabet a (setting its escape classes); the
 * extra bits escapes need in *extra.  Returns 0, or -1 when the alphabet
 * has too many symbols. */
static int map_symbols(const int32_t *q, size_t n, alphabet32 *a, uint8_t *sym, uint64_t *extra)
{
    unsigned max_k = 0;
    int any_escape = 0;
    *extra = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned k;
        uint32_t e, s = symbol_of(a, q[i], &k, &e);
        sym[i] = (uint8_t)s; /* meaningful only when the alphabet fits, checked below */
        if (s >= a->direct) {
            *extra += k;
            any_escape = 1;
            max_k = k > max_k ? k : max_k;
        }
    }
    a->classes = any_escape ? max_k + 1 : 0;
    return a->direct + 2 * a->classes > RANS32_MAX_SYMBOLS ? -1 : 0;
}

/* Bits under alphabet a with one table at prob_bits 11: enough to choose
 * among alphabets, whose contexts are chosen afterwards. */
static double quick_estimate(const int32_t *q, size_t n, alphabet32 *a, uint8_t *sym)
{
    uint64_t extra, counts[RANS32_MAX_SYMBOLS] = { 0 };
    uint32_t freq[RANS32_MAX_SYMBOLS];
    if (map_symbols(q, n, a, sym, &extra) != 0)
        return INFINITY;
    for (size_t i = 0; i < n; i++)
        counts[sym[i]]++;
    double bits = (double)extra + table_cost(counts, a->direct + 2 * a->classes, 11, freq);
    if (a->form == RANS32_LIST)
        bits += symcode_gaps_bits(a->values, a->direct);
    return bits;
}

/* The contexts, precision and class threshold that code a's symbols
 * smallest. */
static int choose_contexts(const int32_t *q, size_t n, unsigned lanes, const alphabet32 *a,
                           const uint8_t *sym, uint8_t *sum, ctx_plan *plan)
{
    static const unsigned thresholds[] = { 2, 3, 5, 8, 13, 21 };
    uint64_t (*by_sum)[RANS32_MAX_SYMBOLS] = malloc(RANS32_CLASS_SUMS * sizeof *by_sum);
    if (!by_sum)
        return -1;
    uint32_t symbols = a->direct + 2 * a->classes;
    plan->bits = INFINITY;
    for (size_t t = 0; t < sizeof thresholds / sizeof *thresholds; t++) {
        class_sums(a, q, sym, n, lanes, thresholds[t], sum);
        memset(by_sum, 0, RANS32_CLASS_SUMS * sizeof *by_sum);
        for (size_t i = 0; i < n; i++)
            by_sum[sum[i]][sym[i]]++;
        ctx_plan p = { .bits = INFINITY };
        best_grouping((const uint64_t (*)[RANS32_MAX_SYMBOLS])by_sum, symbols, &p);
        p.threshold = thresholds[t];
        if (p.bits < plan->bits)
            *plan = p;
    }
    free(by_sum);
    return 0;
}

/* The alphabet that codes q smallest, its symbols in sym: a dense run
 * of all the values, their list, or a run around zero with escapes. */
static int choose_alphabet(const int32_t *q, size_t n, alphabet32 *a, uint8_t *sym)
{
    int32_t lo, hi;
    value_range(q, n, &lo, &hi);
    double best = INFINITY;
    alphabet32 t = { RANS32_DENSE, 0, 0, 0, 0, NULL };
    memset(a, 0, sizeof *a);
    if ((int64_t)hi - lo < RANS32_MAX_SYMBOLS) {
        t = (alphabet32){ RANS32_DENSE, lo, hi, (uint32_t)(hi - lo + 1), 0, NULL };
        best = quick_estimate(q, n, &t, sym);
        *a = t;
    } else {
        int32_t *values = NULL;
        uint32_t d = few_distinct(q, n, &values);
        if (d) {
            t = (alphabet32){ RANS32_LIST, values[0], values[d - 1], d, 0, values };
            best = quick_estimate(q, n, &t, sym);
            *a = t;
        }
    }
    for (int32_t h = 4; h <= 127; h = h < 64 ? 2 * h : h + 21) {
        int32_t l0 = lo > -h ? lo : -h, h0 = hi < h ? hi : h;
        if (l0 == lo && h0 == hi)
            break; /* no escapes left: the dense run above */
        if (l0 > h0) /* all on one side of zero */
            l0 = h0 = lo > 0 ? lo : hi;
        t = (alphabet32){ RANS32_DENSE, l0, h0, (uint32_t)(h0 - l0 + 1), 0, NULL };
        double b = quick_estimate(q, n, &t, sym);
        if (b < best) {
            best = b;
            if (a->values)
                free(a->values);
            *a = t;
        }
    }
    if (!isfinite(best))
        return -1;
    uint64_t extra;
    return map_symbols(q, n, a, sym, &extra); /* the chosen one's symbols */
}

static void put_bits_block(bytebuf *out, const bytebuf *bits)
{
    bb_varint(out, bits->len);
    bb_put(out, bits->data, bits->len);
    if (bits->failed)
        out->failed = 1;
}

/* The frequencies of each context, and their cumulative sums. */
static void context_tables(const uint8_t *sym, const uint8_t *sum, size_t n, uint32_t symbols,
                           const ctx_plan *plan, uint32_t (*freq)[RANS32_MAX_SYMBOLS],
                           uint32_t (*cum)[RANS32_MAX_SYMBOLS + 1])
{
    uint64_t counts[RANS32_MAX_CTX][RANS32_MAX_SYMBOLS];
    memset(counts, 0, sizeof counts);
    for (size_t i = 0; i < n; i++)
        counts[plan->map[sum[i]]][sym[i]]++;
    for (unsigned c = 0; c < plan->n_ctx; c++) {
        table_cost(counts[c], symbols, plan->prob_bits, freq[c]);
        cum[c][0] = 0;
        for (uint32_t s = 0; s < symbols; s++)
            cum[c][s + 1] = cum[c][s] + freq[c][s];
    }
}

int rans32_encode(const int32_t *q, size_t n, unsigned lanes, bytebuf *out)
{
    if (!n || lanes < 1 || lanes > RANS32_LANES || (lanes & (lanes - 1)))
        return 1;
    uint8_t *sym = malloc(n), *sum = malloc(n);
    uint16_t *words = malloc((n + 1) * sizeof *words);
    alphabet32 a = { 0 };
    ctx_plan plan;
    int rc = sym && sum && words ? choose_alphabet(q, n, &a, sym) : -1;
    if (rc == 0)
        rc = choose_contexts(q, n, lanes, &a, sym, sum, &plan) == 0 ? 0 : -2;
    if (rc != 0) {
        rc = sym && sum && words && rc == -1 ? 1 : -1;
        free(sym), free(sum), free(words), free(a.values);
        return rc;
    }
    class_sums(&a, q, sym, n, lanes, plan.threshold, sum);
    uint32_t symbols = a.direct + 2 * a.classes;
    uint32_t freq[RANS32_MAX_CTX][RANS32_MAX_SYMBOLS], cum[RANS32_MAX_CTX][RANS32_MAX_SYMBOLS + 1];
    context_tables(sym, sum, n, symbols, &plan, freq, cum);

    /* The extra bits, in decoding order (round by round, segment by
     * segment); then the words, from the last symbol decoded backward. */
    uint64_t full = n / lanes, rounds = full + (n % lanes != 0), escapes = 0;
    uint64_t start[RANS32_LANES];
    for (unsigned j = 0; j < lanes; j++)
        start[j] = rans32_segment_start(n, lanes, j);
    bytebuf extra, table, gaps;
    bb_init(&extra);
    bb_init(&table);
    bb_init(&gaps);
    bitwriter ew, tw, gw;
    bw_init(&ew, &extra);
    for (uint64_t t = 0; t < rounds; t++)
        for (unsigned j = 0; j < (t < full ? lanes : n % lanes); j++) {
            uint64_t i = start[j] + t;
            unsigned k;
            uint32_t e;
            if (symbol_of(&a, q[i], &k, &e) >= a.direct) {
                if (k)
                    bw_put(&ew, e, k);
                escapes++;
            }
        }
    bw_flush(&ew);
    size_t wp = n; /* words[wp..n) are written */
    uint32_t x[RANS32_LANES];
    for (unsigned l = 0; l < lanes; l++)
        x[l] = RANS_L;
    const unsigned pb = plan.prob_bits;
    for (uint64_t t = rounds; t-- > 0;)
        for (unsigned j = t < full ? lanes : n % lanes; j-- > 0;) {
            uint64_t i = start[j] + t;
            unsigned c = plan.map[sum[i]];
            uint32_t s = sym[i], f = freq[c][s];
            uint64_t v = x[j];
            if (v >= ((uint64_t)(RANS_L >> pb) << 16) * f) {
                words[--wp] = (uint16_t)v;
                v >>= 16;
            }
            x[j] = (uint32_t)(((v / f) << pb) + v % f + cum[c][s]);
        }
    bb_u8(out, RANS32_MARK);
    bb_u8(out, pb);
    bb_u8(out, lanes);
    bb_varint(out, a.direct);
    bb_u8(out, a.form);
    bb_svarint(out, a.lo);
    if (a.form == RANS32_LIST) {
        bw_init(&gw, &gaps);
        symcode_write_gaps(&gw, a.values, a.direct);
        put_bits_block(out, &gaps);
    }
    bb_u8(out, a.classes);
    bb_u8(out, plan.n_ctx);
    bb_u8(out, plan.threshold);
    bb_put(out, plan.map, RANS32_CLASS_SUMS);
    bw_init(&tw, &table);
    for (unsigned c = 0; c < plan.n_ctx; c++)
        symcode_write_table(&tw, freq[c], symbols);
    bw_flush(&tw);
    put_bits_block(out, &table);
    put_bits_block(out, &extra);
    bb_varint(out, escapes);
    for (unsigned l = 0; l < lanes; l++)
        bb_u32(out, x[l]);
    uint8_t *dst = bb_reserve(out, 2 * (n - wp));
    for (size_t j = wp; dst && j < n; j++) {
        dst[2 * (j - wp)] = (uint8_t)words[j];
        dst[2 * (j - wp) + 1] = (uint8_t)(words[j] >> 8);
    }
    if (dst)
        out->len += 2 * (n - wp);
    rc = out->failed || !dst ? -1 : 0;
    free(sym), free(sum), free(words), free(a.values);
    bb_free(&extra);
    bb_free(&table);
    bb_free(&gaps);
    return rc;
}
