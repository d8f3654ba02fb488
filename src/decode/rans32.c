/* rans32.c: decoding wide rANS (rans32.h): a plain-C loop over the states,
 * and on x86-64 with AVX-512 the same arithmetic sixteen states at a time. */
#include "config.h"
#include "rans32.h"
#include "symformat.h"
#include "common/bytes.h"

#include <stddef.h>
#include <string.h>

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_X86_KERNEL 1
#endif

/* A decoding-table entry: the symbol in bits 24-31, its context class in
 * bits 22-23, its frequency less one in bits 11-21, and the slot's offset
 * from the symbol's first slot below. */
#define ENTRY(sym, cls, freq, bias) \
    ((uint32_t)(sym) << 24 | (uint32_t)(cls) << 22 | (uint32_t)((freq) - 1) << 11 | (uint32_t)(bias))
#define FIELD11 0x7FFu

int rans32_parse(const uint8_t *in, size_t size, rans32_stream *h)
{
    memset(h, 0, sizeof *h);
    byteread r;
    br_init(&r, in, size);
    if (br_u8(&r) != RANS32_MARK)
        return -1;
    h->prob_bits = br_u8(&r);
    h->lanes = br_u8(&r);
    uint64_t d = br_varint(&r);
    h->form = (rans32_form)br_u8(&r);
    int64_t first = br_svarint(&r);
    if (h->form == RANS32_LIST) {
        uint64_t gl = br_varint(&r);
        h->gaps = br_bytes(&r, (size_t)(gl > SIZE_MAX ? SIZE_MAX : gl));
        h->gaps_len = (size_t)gl;
    }
    h->classes = br_u8(&r);
    h->n_ctx = br_u8(&r);
    h->threshold = br_u8(&r);
    int map_ok = 1;
    for (int k = 0; k < RANS32_CLASS_SUMS; k++) {
        h->ctx_map[k] = (uint8_t)br_u8(&r);
        map_ok &= h->ctx_map[k] < h->n_ctx;
    }
    uint64_t tl = br_varint(&r);
    h->table = br_bytes(&r, (size_t)(tl > SIZE_MAX ? SIZE_MAX : tl));
    h->table_len = (size_t)tl;
    uint64_t el = br_varint(&r);
    h->extra = br_bytes(&r, (size_t)(el > SIZE_MAX ? SIZE_MAX : el));
    h->extra_len = (size_t)el;
    h->escapes = br_varint(&r);
    int lanes_ok = h->lanes >= 1 && h->lanes <= RANS32_LANES && !(h->lanes & (h->lanes - 1));
    for (unsigned l = 0; lanes_ok && l < h->lanes; l++)
        h->states[l] = br_u32(&r);
    if (r.error || !lanes_ok || !map_ok || h->prob_bits < 8 || h->prob_bits > RANS32_MAX_PROB_BITS ||
        h->n_ctx < 1 || h->n_ctx > RANS32_MAX_CTX || h->threshold < 1 ||
        d < 1 || d > RANS32_MAX_SYMBOLS || (h->form != RANS32_DENSE && h->form != RANS32_LIST) ||
        h->classes > 30 || d + 2 * (uint64_t)h->classes > RANS32_MAX_SYMBOLS ||
        first <= -(1 << 30) || first >= (1 << 30) ||
        (h->form == RANS32_DENSE && first + (int64_t)d - 1 >= (1 << 30)) || (br_left(&r) & 1))
        return -1;
    for (unsigned l = 0; l < h->lanes; l++)
        if (h->states[l] < RANS_L)
            return -1;
    h->direct = (uint32_t)d;
    h->first = (int32_t)first;
    h->words = r.p;
    h->words_len = br_left(&r);
    return 0;
}

static size_t table_bytes(const rans32_stream *h) { return (size_t)h->n_ctx * ((size_t)4 << h->prob_bits); }

/* The vector kernel reads 16 rounds' words unchecked: the stream's last
 * words are copied, with this much zero padding, into the workspace. */
#define TAIL_PAD (16 * 2 * RANS32_LANES)

size_t rans32_workspace_size(const rans32_stream *h)
{
    return table_bytes(h) + RANS32_MAX_SYMBOLS * 4 + (size_t)RANS32_BLOCK * RANS32_LANES * 8 +
           2 * TAIL_PAD;
}

int rans32_values(const rans32_stream *h, int32_t *values)
{
    if (h->form == RANS32_DENSE) {
        for (uint32_t s = 0; s < h->direct; s++)
            values[s] = h->first + (int32_t)s;
        return 0;
    }
    bitreader br;
    bitr_init(&br, h->gaps, h->gaps_len);
    return symcode_read_gaps(&br, h->first, h->direct, values);
}

/* The decoding tables, one per context, from the frequencies of the
 * D + 2K symbols; escapes are of class 3. */
static int build_tables(const rans32_stream *h, const int32_t *values, uint32_t *tab)
{
    uint32_t symbols = h->direct + 2 * h->classes, freq[RANS32_MAX_SYMBOLS];
    const uint32_t M = 1u << h->prob_bits;
    bitreader br;
    bitr_init(&br, h->table, h->table_len);
    for (unsigned c = 0; c < h->n_ctx; c++, tab += M) {
        if (symcode_read_freqs(&br, symbols, M, freq) != 0)
            return -1;
        uint32_t cum = 0;
        for (uint32_t s = 0; s < symbols; s++) {
            unsigned cls = s < h->direct ? rans32_class(values[s], h->threshold) : 3;
            for (uint32_t j = 0; j < freq[s]; j++)
                tab[cum + j] = ENTRY(s, cls, freq[s], j);
            cum += freq[s];
        }
    }
    return 0;
}

/* The decoder's state between rounds. */
typedef struct dec {
    uint32_t x[RANS32_LANES];
    uint32_t c1[RANS32_LANES], c2[RANS32_LANES]; /* the classes of each segment's last two symbols */
    uint32_t start[RANS32_LANES];                /* where each segment starts */
    const uint8_t *w, *wend;
    const uint8_t *wlimit; /* readable up to here (past wend in the padded tail) */
    unsigned lanes, prob_bits;
    uint32_t direct;
    uint8_t ctx_map[16];
    const uint32_t *tab, *lut;
    int bad;
} dec;

/* Rounds [from, to) of lanes [0, active), one state after another, the
 * word stream checked at each read.  Escapes (their round from `base`,
 * lane and class) go to esc. */
static void decode_plain(dec *d, uint64_t from, uint64_t to, unsigned active, uint64_t base,
                         uint32_t *restrict out, uint32_t *restrict esc, uint32_t *n_esc)
{
    const uint32_t mask = (1u << d->prob_bits) - 1, direct = d->direct;
    const unsigned pb = d->prob_bits;
    const uint32_t *restrict tab = d->tab, *restrict lut = d->lut;
    const uint8_t *w = d->w, *const wend = d->wend;
    uint32_t x[RANS32_LANES], c1[RANS32_LANES], c2[RANS32_LANES], ctxbase[RANS32_CLASS_SUMS];
    memcpy(x, d->x, sizeof x);
    memcpy(c1, d->c1, sizeof c1);
    memcpy(c2, d->c2, sizeof c2);
    for (int k = 0; k < RANS32_CLASS_SUMS; k++)
        ctxbase[k] = (uint32_t)d->ctx_map[k] << pb;
    uint32_t count = *n_esc;
    for (uint64_t t = from; t < to; t++) {
        /* A round reads at most `active` words: when they are there, read
         * without checking, and without branching on the renormalization
         * (a coin toss for the predictor). */
        int checked = wend - w < 2 * (ptrdiff_t)active;
        for (unsigned j = 0; j < active; j++) {
            uint32_t e = tab[ctxbase[c1[j] + c2[j]] | (x[j] & mask)];
            uint32_t v = (((e >> 11) & FIELD11) + 1) * (x[j] >> pb) + (e & FIELD11);
            uint32_t need = v < RANS_L;
            if (!checked) {
                uint32_t word = (uint32_t)w[0] | (uint32_t)w[1] << 8;
                v = need ? v << 16 | word : v;
                w += 2 * need;
            } else if (need) {
                if (wend - w >= 2) {
                    v = v << 16 | (uint32_t)w[0] | (uint32_t)w[1] << 8;
                    w += 2;
                } else {
                    d->bad = 1;
                    v = RANS_L; /* go on safely; the result is refused */
                }
            }
            x[j] = v;
            c2[j] = c1[j];
            c1[j] = (e >> 22) & 3;
            uint32_t sym = e >> 24;
            out[d->start[j] + t] = lut[sym];
            if (sym >= direct)
                esc[count++] = (uint32_t)(t - base) << 13 | j << 8 | (sym - direct);
        }
    }
    *n_esc = count;
    d->w = w;
    memcpy(d->x, x, sizeof x);
    memcpy(d->c1, c1, sizeof c1);
    memcpy(d->c2, c2, sizeof c2);
}

#ifdef HAVE_X86_KERNEL
/* Sixteen rows (rounds) of sixteen lanes to sixteen rows of lanes (each
 * lane's sixteen values), in place. */
__attribute__((target("avx512f"))) static inline void transpose16(__m512i r[16])
{
    __m512i t[16], u[16];
    for (int i = 0; i < 8; i++) {
        t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
        t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
    }
    for (int i = 0; i < 4; i++) {
        u[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
        u[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
        u[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
    }
    for (int i = 0; i < 4; i++) {
        t[i] = _mm512_shuffle_i32x4(u[i], u[4 + i], 0x88);
        t[4 + i] = _mm512_shuffle_i32x4(u[i], u[4 + i], 0xDD);
        t[8 + i] = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0x88);
        t[12 + i] = _mm512_shuffle_i32x4(u[8 + i], u[12 + i], 0xDD);
    }
    for (int i = 0; i < 4; i++) {
        r[i] = _mm512_shuffle_i32x4(t[i], t[8 + i], 0x88);
        r[8 + i] = _mm512_shuffle_i32x4(t[i], t[8 + i], 0xDD);
        r[4 + i] = _mm512_shuffle_i32x4(t[4 + i], t[12 + i], 0x88);
        r[12 + i] = _mm512_shuffle_i32x4(t[4 + i], t[12 + i], 0xDD);
    }
}

/* lut[sym] for sixteen symbols with the table in registers, 32 entries
 * a permute, the permutes' results merged by the symbol's higher bits:
 * on gathers' cost (tens of cycles here) this is several times cheaper. */
__attribute__((target("avx512f"))) static inline __m512i
lookup(const __m512i *lut, __m512i sym, const int groups)
{
    __m512i r[8];
    for (int g = 0; g < groups; g++)
        r[g] = _mm512_permutex2var_epi32(lut[2 * g], sym, lut[2 * g + 1]);
    for (int bit = 32, n = groups; n > 1; bit *= 2, n /= 2) {
        __mmask16 hi = _mm512_test_epi32_mask(sym, _mm512_set1_epi32(bit));
        for (int g = 0; g < n / 2; g++)
            r[g] = _mm512_mask_blend_epi32(hi, r[2 * g], r[2 * g + 1]);
    }
    return r[0];
}

typedef struct half {
    __m512i x, c1, c2;
} half;

/* Sixteen states one round on: decode, renormalize from the word stream
 * (the lanes that need a word take the next ones in lane order); the
 * round's values, and the lanes of its escapes. */
__attribute__((target("avx512f"))) static inline __m512i
round16(half *hv, const uint32_t *tab, const uint8_t **w, __m128i pb, __m512i mask, __m512i map,
        const __m512i *lut, const int groups, __m512i direct, __mmask16 *esc_lanes,
        __m512i *esc_cls)
{
    const __m512i f11 = _mm512_set1_epi32(FIELD11), one = _mm512_set1_epi32(1);
    __m512i ctx = _mm512_permutexvar_epi32(_mm512_add_epi32(hv->c1, hv->c2), map);
    __m512i slot = _mm512_or_si512(_mm512_sll_epi32(ctx, pb), _mm512_and_si512(hv->x, mask));
    __m512i e = _mm512_i32gather_epi32(slot, (const void *)tab, 4);
    __m512i f = _mm512_add_epi32(_mm512_and_si512(_mm512_srli_epi32(e, 11), f11), one);
    __m512i x = _mm512_add_epi32(_mm512_mullo_epi32(f, _mm512_srl_epi32(hv->x, pb)),
                                 _mm512_and_si512(e, f11));
    __mmask16 need = _mm512_cmplt_epu32_mask(x, _mm512_set1_epi32((int)RANS_L));
    __m512i words = _mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i *)(const void *)*w));
    hv->x = _mm512_mask_or_epi32(x, need, _mm512_slli_epi32(x, 16),
                                 _mm512_maskz_expand_epi32(need, words));
    *w += 2 * (unsigned)__builtin_popcount(need);
    hv->c2 = hv->c1;
    hv->c1 = _mm512_and_si512(_mm512_srli_epi32(e, 22), _mm512_set1_epi32(3));
    __m512i sym = _mm512_srli_epi32(e, 24);
    *esc_lanes = _mm512_cmpge_epu32_mask(sym, direct);
    *esc_cls = _mm512_sub_epi32(sym, direct);
    return lookup(lut, sym, groups);
}

/* Groups of sixteen rounds of all 16 or 32 lanes (halves 1 or 2) from
 * `from` while the stream holds their words, each group's values
 * transposed into the segments; returns where it stopped. */
__attribute__((target("avx512f"))) static inline __attribute__((always_inline)) uint64_t
rounds_avx512(dec *d, uint64_t from, uint64_t to, uint64_t base, uint32_t *out, uint32_t *esc,
              uint32_t *n_esc, const int groups, const int halves)
{
    half h[2];
    for (int k = 0; k < halves; k++) {
        h[k].x = _mm512_loadu_si512(d->x + 16 * k);
        h[k].c1 = _mm512_loadu_si512(d->c1 + 16 * k);
        h[k].c2 = _mm512_loadu_si512(d->c2 + 16 * k);
    }
    __m512i lut[16];
    for (int g = 0; g < 2 * groups; g++)
        lut[g] = _mm512_loadu_si512(d->lut + 16 * g);
    const __m128i pb = _mm_cvtsi32_si128((int)d->prob_bits);
    const __m512i mask = _mm512_set1_epi32((1 << d->prob_bits) - 1);
    const __m512i map = _mm512_cvtepu8_epi32(_mm_loadu_si128((const __m128i *)(const void *)d->ctx_map));
    const __m512i direct = _mm512_set1_epi32((int)d->direct);
    const __m512i lane = _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);
    const uint32_t *tab = d->tab;
    const uint8_t *w = d->w;
    uint64_t t = from;
    /* 16 rounds read at most 16 x 32 words */
    for (; t + 16 <= to && d->wlimit - w >= TAIL_PAD; t += 16) {
        __m512i rows[2][16];
        for (int r = 0; r < 16; r++)
            for (int k = 0; k < halves; k++) {
                __mmask16 e;
                __m512i cls;
                rows[k][r] = round16(&h[k], tab, &w, pb, mask, map, lut, groups, direct, &e, &cls);
                if (__builtin_expect(e != 0, 0)) {
                    uint32_t tag = (uint32_t)(t + (uint64_t)r - base) << 13 | (uint32_t)(16 * k) << 8;
                    __m512i p = _mm512_or_si512(_mm512_set1_epi32((int)tag),
                                                _mm512_or_si512(_mm512_slli_epi32(lane, 8), cls));
                    _mm512_mask_compressstoreu_epi32(esc + *n_esc, e, p);
                    *n_esc += (uint32_t)__builtin_popcount(e);
                }
            }
        for (int k = 0; k < halves; k++) {
            transpose16(rows[k]);
            for (int j = 0; j < 16; j++)
                _mm512_storeu_si512(out + d->start[16 * k + j] + t, rows[k][j]);
        }
    }
    d->w = w;
    for (int k = 0; k < halves; k++) {
        _mm512_storeu_si512(d->x + 16 * k, h[k].x);
        _mm512_storeu_si512(d->c1 + 16 * k, h[k].c1);
        _mm512_storeu_si512(d->c2 + 16 * k, h[k].c2);
    }
    return t;
}

#define ROUNDS(groups, halves) rounds_avx512(d, from, to, base, out, esc, n_esc, groups, halves)

__attribute__((target("avx512f"))) static uint64_t
decode_avx512(dec *d, uint64_t from, uint64_t to, uint64_t base, uint32_t *out, uint32_t *esc,
              uint32_t *n_esc, uint32_t symbols)
{
    if (d->lanes == 16)
        return symbols <= 32 ? ROUNDS(1, 1) : symbols <= 64 ? ROUNDS(2, 1)
             : symbols <= 128 ? ROUNDS(4, 1) : ROUNDS(8, 1);
    return symbols <= 32 ? ROUNDS(1, 2) : symbols <= 64 ? ROUNDS(2, 2)
         : symbols <= 128 ? ROUNDS(4, 2) : ROUNDS(8, 2);
}
#undef ROUNDS
#endif

static int force_portable = -1; /* -1: not yet decided */

void rans32_force_portable(int portable) { force_portable = portable; }

static int use_avx512(void)
{
#ifdef HAVE_X86_KERNEL
    if (force_portable < 0)
        force_portable = !__builtin_cpu_supports("avx512f");
    return !force_portable;
#else
    return 0;
#endif
}

/* The index value of an escape: past the list's top (side 0) or bottom. */
static int escape_value(const rans32_stream *h, int32_t lo, int32_t hi, uint32_t klass,
                        bitreader *extra, int32_t *q)
{
    unsigned k = klass >> 1;
    if (k >= h->classes)
        return -1;
    int64_t m = ((int64_t)1 << k) + (k ? bitr_get(extra, k) : 0);
    int64_t v = klass & 1 ? (int64_t)lo - m : (int64_t)hi + m;
    if (extra->error || v <= -(1 << 30) || v >= (1 << 30))
        return -1;
    *q = (int32_t)v;
    return 0;
}

int rans32_decode(const rans32_stream *h, uint64_t n, const uint32_t *lut,
                  rans32_escape_fn escape, void *ctx, uint32_t *out, void *workspace,
                  size_t workspace_size)
{
    if (workspace_size < rans32_workspace_size(h))
        return -1;
    uint32_t *tab = workspace;
    int32_t *values = (int32_t *)(void *)((uint8_t *)workspace + table_bytes(h));
    uint32_t *esc = (uint32_t *)(values + RANS32_MAX_SYMBOLS);
    int32_t *esc_q = (int32_t *)(esc + (size_t)RANS32_BLOCK * RANS32_LANES);
    uint8_t *tail = (uint8_t *)(esc_q + (size_t)RANS32_BLOCK * RANS32_LANES);
    if (rans32_values(h, values) != 0 || build_tables(h, values, tab) != 0)
        return -1;
    const int32_t lo = values[0], hi = values[h->direct - 1];
    dec d = { .w = h->words, .wend = h->words + h->words_len,
              .wlimit = h->words + h->words_len, .lanes = h->lanes,
              .prob_bits = h->prob_bits, .direct = h->direct, .tab = tab, .lut = lut };
    memcpy(d.x, h->states, sizeof d.x);
    memcpy(d.ctx_map, h->ctx_map, RANS32_CLASS_SUMS);
    for (unsigned j = 0; j < h->lanes; j++)
        d.start[j] = (uint32_t)rans32_segment_start(n, h->lanes, j);
    bitreader extra;
    bitr_init(&extra, h->extra, h->extra_len);
    /* Every segment runs `full` rounds; the first n mod lanes one more. */
    uint64_t full = n / h->lanes, rounds = full + (n % h->lanes != 0);
    int simd = h->lanes >= 16 && n < ((uint64_t)1 << 31) && use_avx512();
    uint64_t escapes = 0;
    for (uint64_t base = 0; base < rounds && !d.bad; base += RANS32_BLOCK) {
        uint64_t end = rounds - base < RANS32_BLOCK ? rounds : base + RANS32_BLOCK, t = base;
        uint64_t end_full = end < full ? end : full;
        uint32_t n_esc = 0;
#ifdef HAVE_X86_KERNEL
        if (simd)
            t = decode_avx512(&d, t, end_full, base, out, esc, &n_esc, h->direct + 2 * h->classes);
        if (simd && t + 16 <= end_full && d.wlimit == d.wend) {
            /* Near the stream's end: on from a padded copy of what is left. */
            size_t left = (size_t)(d.wend - d.w);
            memcpy(tail, d.w, left);
            memset(tail + left, 0, 2 * TAIL_PAD - left);
            d.w = tail;
            d.wend = tail + left;
            d.wlimit = tail + 2 * TAIL_PAD;
            t = decode_avx512(&d, t, end_full, base, out, esc, &n_esc, h->direct + 2 * h->classes);
        }
#else
        (void)simd;
#endif
        decode_plain(&d, t, end_full, h->lanes, base, out, esc, &n_esc);
        if (end > full) /* the last, partial round */
            decode_plain(&d, full, full + 1, (unsigned)(n % h->lanes), base, out, esc, &n_esc);
        /* The block's escapes: their indices, their outputs all at once,
         * then each to its place. */
        for (uint32_t k = 0; k < n_esc; k++)
            if (escape_value(h, lo, hi, esc[k] & 0xFF, &extra, &esc_q[k]) != 0)
                return -1;
        if (n_esc)
            escape(ctx, esc_q, n_esc, (uint32_t *)esc_q);
        for (uint32_t k = 0; k < n_esc; k++)
            out[d.start[(esc[k] >> 8) & 31] + base + (esc[k] >> 13)] = (uint32_t)esc_q[k];
        escapes += n_esc;
    }
    if (d.bad || d.w != d.wend || escapes != h->escapes || extra.error)
        return -1;
    for (unsigned l = 0; l < h->lanes; l++)
        if (d.x[l] != RANS_L)
            return -1;
    return 0;
}
