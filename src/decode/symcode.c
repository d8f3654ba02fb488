/* symcode.c: decoding integer indices (encode/symencode.c codes them):
 * rANS with escape classes and contexts, or the adaptive coder.
 *
 * Stream layout (all integers little-endian):
 *   u8 prob_bits | u8 shift | varint D [zigzag first | varint zero_rank |
 *   varint gap_bytes | gaps (bits)] [when D = 4097, a lattice instead:
 *   u8 form | varint mul | varint offset] | varint T | u8 K | u8 n_ctx | (n_ctx-1) x u8 thresholds
 *   varint table_bytes | frequency tables (bits) | varint extra_bytes | raw bits
 *   u32 state0 | u32 state1 | 16-bit rANS words to the end
 * or, when prob_bits is 0 (adaptive mode), after the value map only the
 * adaptive coder's stream (adaptive.h) to the end.
 * See docs/FORMAT.md. */
#include "config.h"
#include "symcode.h"
#include "symformat.h"
#include "rans32.h"
#include "lattice.h"
#include "adaptive.h"
#include "common/bytes.h"

#include <stdlib.h>
#include <string.h>

typedef struct dec_entry {
    uint16_t freq;
    uint16_t bias;  /* slot - cum: the decoder adds it back */
    int16_t value;  /* a direct symbol's index */
    uint16_t klass; /* 0 for a direct symbol; else 1 + 2 * escape class + sign */
} dec_entry;

typedef struct header {
    unsigned prob_bits;
    unsigned shift;
    uint32_t dict_size, zero_rank;
    int32_t dict_first;
    const uint8_t *dict_gaps;
    size_t dict_gaps_len;
    lattice lat;      /* mul 0: none */
    int adaptive;     /* adaptive.c's stream in words; no tables */
    alphabet ab;
    unsigned n_ctx;
    uint8_t thresholds[SYMCODE_MAX_CTX - 1];
    const uint8_t *tables;
    size_t tables_len;
    const uint8_t *extra;
    size_t extra_len;
    uint32_t x0, x1;
    const uint8_t *words;
    size_t words_len;
} header;

static int parse_header(const uint8_t *in, size_t size, header *h)
{
    memset(h, 0, sizeof *h);
    byteread r;
    br_init(&r, in, size);
    h->prob_bits = br_u8(&r);
    h->shift = br_u8(&r);
    uint64_t D = br_varint(&r);
    if (D == LATTICE_MARK) {
        h->lat.form = (lattice_form)br_u8(&r);
        h->lat.mul = br_varint(&r);
        h->lat.offset = br_varint(&r);
        if (!lattice_valid(&h->lat) || h->shift)
            return -1;
        D = 0;
    }
    if (D > DICT_MAX)
        return -1;
    h->dict_size = (uint32_t)D;
    if (D) {
        int64_t first = br_svarint(&r);
        uint64_t z = br_varint(&r), gl = br_varint(&r);
        if (first < INT32_MIN || first > INT32_MAX || z >= D)
            return -1;
        h->dict_first = (int32_t)first;
        h->zero_rank = (uint32_t)z;
        h->dict_gaps = br_bytes(&r, (size_t)(gl > SIZE_MAX ? SIZE_MAX : gl));
        h->dict_gaps_len = (size_t)gl;
    }
    if (h->prob_bits == ADAPTIVE_MARK) {
        if (r.error || h->shift)
            return -1;
        h->adaptive = 1;
        h->words = r.p;
        h->words_len = br_left(&r);
        return 0;
    }
    uint64_t T = br_varint(&r);
    h->ab.K = br_u8(&r);
    h->n_ctx = br_u8(&r);
    if (r.error || h->prob_bits < 8 || h->prob_bits > 15 || h->shift > 24 || T < 1 || T > SYMCODE_MAX_T ||
        h->ab.K > 30 || h->n_ctx < 1 || h->n_ctx > SYMCODE_MAX_CTX)
        return -1;
    h->ab.T = (uint32_t)T;
    h->ab.size = 2 * h->ab.T - 1 + 2 * h->ab.K;
    for (unsigned c = 0; c + 1 < h->n_ctx; c++) {
        h->thresholds[c] = (uint8_t)br_u8(&r);
        if (h->thresholds[c] == 0 || (c && h->thresholds[c] <= h->thresholds[c - 1]))
            return -1;
    }
    uint64_t tl = br_varint(&r);
    h->tables = br_bytes(&r, (size_t)(tl > SIZE_MAX ? SIZE_MAX : tl));
    h->tables_len = (size_t)tl;
    uint64_t el = br_varint(&r);
    h->extra = br_bytes(&r, (size_t)(el > SIZE_MAX ? SIZE_MAX : el));
    h->extra_len = (size_t)el;
    h->x0 = br_u32(&r);
    h->x1 = br_u32(&r);
    if (r.error || (br_left(&r) & 1))
        return -1;
    h->words = r.p;
    h->words_len = br_left(&r);
    return 0;
}

static size_t tables_size(const header *h)
{
    if (h->adaptive)
        return adaptive_workspace_size();
    return (size_t)h->n_ctx * ((size_t)1 << h->prob_bits) * sizeof(dec_entry);
}

/* The tables, then the area the frequencies are read into and, once the
 * symbols are decoded, the dictionary's values. */
static size_t workspace_for(const header *h)
{
    size_t after = h->dict_size > h->ab.size ? h->dict_size : h->ab.size;
    return tables_size(h) + after * sizeof(int32_t);
}

int symcode_read_gaps(bitreader *br, int32_t first, uint32_t count, int32_t *values)
{
    int64_t v = first;
    unsigned k = 0;
    values[0] = first;
    for (uint32_t i = 1; i < count; i++) {
        uint32_t gap = bitr_expgolomb(br, k);
        k = next_order(gap);
        v += (int64_t)gap + 1;
        if (br->error || v >= (1 << 30))
            return -1;
        values[i] = (int32_t)v;
    }
    return 0;
}

/* The dictionary's values, after the tables in the workspace. */
static int build_dictionary(const header *h, int32_t *values)
{
    bitreader br;
    bitr_init(&br, h->dict_gaps, h->dict_gaps_len);
    return symcode_read_gaps(&br, h->dict_first, h->dict_size, values);
}

int symcode_read_freqs(bitreader *br, uint32_t n, uint32_t total, uint32_t *freq)
{
    unsigned k = 0;
    uint32_t cum = 0, prev = 0;
    for (uint32_t s = 0; s < n; s++) {
        uint32_t z = bitr_expgolomb(br, k);
        int64_t fd = (int64_t)prev + ((z & 1) ? -(int64_t)(z >> 1) - 1 : (int64_t)(z >> 1));
        if (br->error || fd < 0 || fd > (int64_t)(total - cum))
            return -1;
        freq[s] = prev = (uint32_t)fd;
        k = next_order(z);
        cum += freq[s];
    }
    return cum == total ? 0 : -1;
}

size_t symcode_workspace_size(const uint8_t *in, size_t size)
{
    rans32_stream w;
    if (size && in[0] == RANS32_MARK)
        return rans32_parse(in, size, &w) == 0 ? rans32_workspace_size(&w) + RANS32_MAX_SYMBOLS * 4 : 0;
    header h;
    return parse_header(in, size, &h) == 0 ? workspace_for(&h) : 0;
}

/* Read the frequency tables into slot-indexed decoding tables. */
static int build_tables(const header *h, dec_entry *tab, uint32_t *freq)
{
    bitreader br;
    bitr_init(&br, h->tables, h->tables_len);
    const uint32_t M = 1u << h->prob_bits;
    for (unsigned c = 0; c < h->n_ctx; c++) {
        uint32_t cum = 0;
        dec_entry *t = tab + (size_t)c * M;
        if (symcode_read_freqs(&br, h->ab.size, M, freq) != 0)
            return -1;
        for (uint32_t s = 0; s < h->ab.size; s++) {
            uint32_t f = freq[s];
            uint32_t direct = 2 * h->ab.T - 1;
            int16_t value = s < direct ? (int16_t)((int32_t)s - (int32_t)(h->ab.T - 1)) : 0;
            uint16_t klass = s < direct ? 0 : (uint16_t)(1 + s - direct);
            for (uint32_t j = 0; j < f; j++) {
                t[cum + j].freq = (uint16_t)f;
                t[cum + j].bias = (uint16_t)j;
                t[cum + j].value = value;
                t[cum + j].klass = klass;
            }
            cum += f;
        }
    }
    return br.error ? -1 : 0;
}

typedef struct decoder {
    unsigned prob_bits;
    uint32_t T;
    uint32_t x[2];
    const uint8_t *w, *wend;
    int bad;
    bitreader extra;
} decoder;

/* One symbol from state *xs: the rANS step, renormalization, and the index. */
static inline __attribute__((always_inline)) int32_t
decode_one(decoder *d, uint32_t *xs, const dec_entry *t)
{
    const uint32_t mask = (1u << d->prob_bits) - 1;
    uint32_t x = *xs;
    const dec_entry *e = &t[x & mask];
    x = e->freq * (x >> d->prob_bits) + e->bias;
    if (x < RANS_L) {
        if (d->w + 2 <= d->wend) {
            x = (x << 16) | (uint32_t)d->w[0] | (uint32_t)d->w[1] << 8;
            d->w += 2;
        } else {
            d->bad = 1;
            x = RANS_L; /* keep going safely; the result is refused */
        }
    }
    *xs = x;
    if (__builtin_expect(e->klass == 0, 1))
        return e->value;
    uint32_t e2 = e->klass - 1u;
    unsigned k = e2 >> 1;
    uint32_t mag = (1u << k) + (k ? bitr_get(&d->extra, k) : 0) + d->T - 1;
    return (e2 & 1) ? -(int32_t)mag : (int32_t)mag;
}

/* The decoding loop, instantiated with and without contexts and shift so
 * the common case runs without their work. */
static inline __attribute__((always_inline)) void
decode_run(decoder *d, const dec_entry *tab, const uint8_t *ctx_lut, int use_ctx,
           unsigned shift, int32_t *q, size_t n)
{
    const size_t M = (size_t)1 << d->prob_bits;
    int32_t q1 = 0, q2 = 0;
    for (size_t i = 0; i < n; i++) {
        const dec_entry *t = use_ctx ? tab + ctx_lut[neighbour_sum(q1, q2)] * M : tab;
        int32_t v = decode_one(d, &d->x[i & 1], t);
        q2 = q1;
        q1 = v;
        if (shift) /* v * 2^shift, written so a negative v is defined behaviour */
            v = (int32_t)(((uint32_t)v << shift) | bitr_get(&d->extra, shift));
        q[i] = v;
    }
}

/* The lattice's integers to the values they stand for, refusing any the
 * encoder could not have written. */
static int apply_lattice(const lattice *lat, int32_t *q, size_t n)
{
    const uint64_t k_max = lattice_k_max(lat);
    for (size_t i = 0; i < n; i++) {
        if (magnitude_u32(q[i]) > k_max)
            return -1;
        int64_t v = lattice_value(lat, q[i]);
        if (v >= (1 << 30) || v <= -(1 << 30))
            return -1;
        q[i] = (int32_t)v;
    }
    return 0;
}

static int decode_tables_stream(const header *h, void *workspace, int32_t *q, size_t n)
{
    dec_entry *tab = workspace;
    uint32_t *freq = (uint32_t *)(void *)((uint8_t *)workspace + tables_size(h));
    if (build_tables(h, tab, freq) != 0)
        return -1;
    uint8_t ctx_lut[2 * NEIGHBOUR_CAP + 1];
    symcode_ctx_lut(h->n_ctx, h->thresholds, ctx_lut);

    decoder d = {h->prob_bits, h->ab.T, {h->x0, h->x1}, h->words, h->words + h->words_len, 0, {0}};
    bitr_init(&d.extra, h->extra, h->extra_len);
    if (h->shift)
        decode_run(&d, tab, ctx_lut, h->n_ctx > 1, h->shift, q, n);
    else if (h->n_ctx > 1)
        decode_run(&d, tab, ctx_lut, 1, 0, q, n);
    else
        decode_run(&d, tab, ctx_lut, 0, 0, q, n);
    return d.bad || d.extra.error || d.w != d.wend || d.x[0] != RANS_L || d.x[1] != RANS_L ? -1 : 0;
}

static void index_itself(void *ctx, const int32_t *q, size_t count, uint32_t *out)
{
    (void)ctx;
    memmove(out, q, count * sizeof *q);
}

/* Wide mode to the indices themselves: the output table is the values. */
static symcode_status decode_wide(const uint8_t *in, size_t size, int32_t *q, size_t n,
                                  void *workspace, size_t workspace_size)
{
    rans32_stream w;
    if (rans32_parse(in, size, &w) != 0)
        return SYMCODE_CORRUPT;
    size_t need = rans32_workspace_size(&w);
    if (workspace_size < need + RANS32_MAX_SYMBOLS * 4)
        return SYMCODE_WORKSPACE;
    uint32_t *lut = (uint32_t *)(void *)((uint8_t *)workspace + need);
    memset(lut, 0, RANS32_MAX_SYMBOLS * 4);
    if (rans32_values(&w, (int32_t *)lut) != 0 ||
        rans32_decode(&w, n, lut, index_itself, NULL, (uint32_t *)q, workspace, need) != 0)
        return SYMCODE_CORRUPT;
    return SYMCODE_OK;
}

symcode_status symcode_decode(const uint8_t *in, size_t size, int32_t *q, size_t n,
                              void *workspace, size_t workspace_size)
{
    if (size && in[0] == RANS32_MARK)
        return decode_wide(in, size, q, n, workspace, workspace_size);
    header h;
    if (parse_header(in, size, &h) != 0)
        return SYMCODE_CORRUPT;
    if (workspace_size < workspace_for(&h))
        return SYMCODE_WORKSPACE;
    if (h.adaptive) {
        if (adaptive_decode(h.words, h.words_len, q, n, workspace) != 0)
            return SYMCODE_CORRUPT;
    } else if (decode_tables_stream(&h, workspace, q, n) != 0) {
        return SYMCODE_CORRUPT;
    }
    if (h.dict_size) {
        int32_t *values = (int32_t *)(void *)((uint8_t *)workspace + tables_size(&h));
        if (build_dictionary(&h, values) != 0)
            return SYMCODE_CORRUPT;
        const int64_t z = h.zero_rank, D = h.dict_size;
        for (size_t i = 0; i < n; i++) {
            int64_t r = (int64_t)q[i] + z;
            if (r < 0 || r >= D)
                return SYMCODE_CORRUPT;
            q[i] = values[r];
        }
    }
    if (h.lat.mul && apply_lattice(&h.lat, q, n) != 0)
        return SYMCODE_CORRUPT;
    return SYMCODE_OK;
}
