/* codec_encode.c: writing one tensor's bitstream (docs/FORMAT.md);
 * decode/codec.c reads them. */
#include "config.h"
#include "codec_encode.h"
#include "quantize.h"
#include "symencode.h"
#include "common/crc32.h"
#include "common/dtype.h"
#include "common/error.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>

#define ZSTD_LEVEL 15

/* ---- Header ------------------------------------------------------------- */

static void put_header(bytebuf *b, codec_method method, const codec_tensor *t)
{
    bb_put(b, CODEC_MAGIC, 4);
    bb_u8(b, CODEC_VERSION_NARROW); /* raised by finish when a payload needs more */
    bb_u8(b, method);
    bb_u8(b, (unsigned)t->dtype);
    bb_u8(b, (unsigned)t->rank);
    for (int d = 0; d < t->rank; d++)
        bb_varint(b, (uint64_t)t->dims[d]);
}

/* Per-channel step exponents: the count, the layout, the first, then
 * each difference from the one before, zigzag, in Exp-Golomb order 1. */
static void put_channel_steps(bytebuf *b, const quant_params *q)
{
    bb_varint(b, q->channels);
    bb_varint(b, q->inner);
    bb_svarint(b, q->chan_exps[0]);
    bytebuf code;
    bb_init(&code);
    bitwriter w;
    bw_init(&w, &code);
    for (uint32_t c = 1; c < q->channels; c++) {
        int d = q->chan_exps[c] - q->chan_exps[c - 1];
        bw_expgolomb(&w, d >= 0 ? 2u * (uint32_t)d : 2u * (uint32_t)-d - 1, 1);
    }
    bw_flush(&w);
    bb_varint(b, code.len);
    bb_put(b, code.data, code.len);
    if (code.failed)
        b->failed = 1;
    bb_free(&code);
}

static void put_quant_params(bytebuf *b, const quant_params *q)
{
    int per_channel = q->chan_exps && q->channels > 1;
    bb_u8(b, q->kind | (per_channel ? QUANT_CHANNEL_STEPS : 0));
    switch (q->kind) {
    case ONNXQ_QUANT_MIDRISE:
        bb_f64(b, q->step);
        break;
    case ONNXQ_QUANT_MIDTREAD:
    case ONNXQ_QUANT_DEADZONE:
        bb_f64(b, q->step);
        bb_f64(b, q->sigma);
        bb_f64(b, q->recon);
        break;
    case ONNXQ_QUANT_MULAW:
        bb_f64(b, q->step);
        bb_f64(b, q->mu);
        bb_f64(b, q->log1p_mu);
        bb_f64(b, q->peak);
        break;
    case ONNXQ_QUANT_FLOAT:
        bb_u8(b, (unsigned)q->exp_bits);
        bb_u8(b, (unsigned)q->man_bits);
        bb_svarint(b, q->scale_exp);
        break;
    case ONNXQ_QUANT_INT:
        bb_u8(b, (unsigned)q->int_bits);
        bb_u8(b, (unsigned)q->symmetric);
        bb_varint(b, q->channels);
        bb_varint(b, q->inner);
        for (uint32_t c = 0; c < q->channels; c++)
            bb_f32(b, q->scales[c]);
        break;
    case ONNXQ_QUANT_NONE:
        break;
    }
    if (per_channel)
        put_channel_steps(b, q);
}

/* Finish: the format version the stream needs (format 4 when it holds
 * wide rANS or per-channel steps), the payload length and bytes, then the
 * CRC of everything. */
static onnxq_status finish(bytebuf *out, size_t start, const bytebuf *payload, int format4,
                           onnxq_error *err)
{
    if (format4 && !out->failed)
        out->data[start + 4] = CODEC_VERSION;
    bb_varint(out, payload->len);
    bb_put(out, payload->data, payload->len);
    if (out->failed || payload->failed)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory encoding a tensor");
    bb_u32(out, crc32_update(0, out->data + start, out->len - start));
    return out->failed ? onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory encoding a tensor")
                       : ONNXQ_OK;
}

/* ---- Encoding ------------------------------------------------------------ */

static onnxq_status symcode_fail(symcode_status s, onnxq_error *err)
{
    if (s == SYMCODE_RANGE)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "indices too large for the entropy coder");
    return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory in the entropy coder");
}

static onnxq_status encode_integer(const codec_tensor *t, bytebuf *payload, bytebuf *params,
                                   codec_stats *stats, onnxq_error *err)
{
    uint64_t n = t->elements;
    int32_t *q = malloc((n + 1) * sizeof *q);
    if (!q)
        return onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory");
    /* Centre the values on their middle so the common ones are small indices. */
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    for (uint64_t i = 0; i < n; i++) {
        int64_t v = dtype_integer_at(t->dtype, t->raw, i);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    int64_t offset = n ? lo + (hi - lo) / 2 : 0;
    onnxq_status st = ONNXQ_OK;
    for (uint64_t i = 0; i < n && st == ONNXQ_OK; i++) {
        int64_t d = dtype_integer_at(t->dtype, t->raw, i) - offset;
        if (d >= QUANT_MAX_INDEX || d <= -QUANT_MAX_INDEX)
            st = onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "integer values spread too wide");
        q[i] = (int32_t)d;
    }
    bb_svarint(params, offset);
    if (st == ONNXQ_OK) {
        symcode_status s = symcode_encode(q, n, SYMCODE_WIDE, payload);
        if (s != SYMCODE_OK)
            st = symcode_fail(s, err);
        if (stats)
            stats->entropy = symcode_entropy(q, n);
    }
    free(q);
    return st;
}

static onnxq_status encode_planes(const codec_tensor *t, bytebuf *payload, onnxq_error *err)
{
    unsigned width = onnxq_dtype_bits(t->dtype) / 8;
    uint64_t n = t->elements;
    uint8_t *plane = malloc(n + 1);
    int32_t *sym = malloc((n + 1) * sizeof *sym);
    void *zbuf = malloc(ZSTD_compressBound(n) + 1);
    bytebuf coded;
    bb_init(&coded);
    onnxq_status st = ONNXQ_OK;
    if (!plane || !sym || !zbuf)
        st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "out of memory");
    bb_u8(payload, width);
    for (unsigned j = width; j-- > 0 && st == ONNXQ_OK;) {
        for (uint64_t i = 0; i < n; i++) {
            uint8_t w[8];
            memcpy(w, (const uint8_t *)t->raw + i * width, width);
            codec_rotate_word(w, width, 1);
            plane[i] = w[j];
            sym[i] = (int32_t)w[j] - 128;
        }
        /* Whichever of the three is smallest. */
        coded.len = 0;
        symcode_status s = symcode_encode(sym, n, SYMCODE_NARROW, &coded);
        if (s != SYMCODE_OK) {
            st = symcode_fail(s, err);
            break;
        }
        size_t zlen = ZSTD_compress(zbuf, ZSTD_compressBound(n), plane, n, ZSTD_LEVEL);
        if (ZSTD_isError(zlen))
            zlen = SIZE_MAX;
        if (coded.len <= zlen && coded.len < n) {
            bb_u8(payload, PLANE_SYMCODE);
            bb_varint(payload, coded.len);
            bb_put(payload, coded.data, coded.len);
        } else if (zlen < n) {
            bb_u8(payload, PLANE_ZSTD);
            bb_varint(payload, zlen);
            bb_put(payload, zbuf, zlen);
        } else {
            bb_u8(payload, PLANE_RAW);
            bb_varint(payload, n);
            bb_put(payload, plane, n);
        }
    }
    bb_free(&coded);
    free(plane);
    free(sym);
    free(zbuf);
    return st;
}

onnxq_status codec_encode_lossless(const codec_tensor *t, codec_method method, bytebuf *out,
                                   codec_stats *stats, onnxq_error *err)
{
    if (t->rank > CODEC_MAX_RANK)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "tensors of rank over %d", CODEC_MAX_RANK);
    if (method == CODEC_INTEGER && !codec_is_integer_dtype(t->dtype))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "integer coding of %s", onnxq_dtype_name(t->dtype));
    if (method == CODEC_PLANES && !onnxq_dtype_is_float(t->dtype))
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "plane coding of %s", onnxq_dtype_name(t->dtype));
    size_t start = out->len;
    bytebuf payload;
    bb_init(&payload);
    put_header(out, method, t);
    onnxq_status st = ONNXQ_OK;
    if (stats)
        memset(stats, 0, sizeof *stats);
    switch (method) {
    case CODEC_STORED:
        bb_put(&payload, t->raw, t->raw_size);
        break;
    case CODEC_ZSTD: {
        size_t bound = ZSTD_compressBound(t->raw_size);
        uint8_t *z = bb_reserve(&payload, bound);
        size_t zlen = z ? ZSTD_compress(z, bound, t->raw, t->raw_size, ZSTD_LEVEL) : 0;
        if (!z || ZSTD_isError(zlen))
            st = onnxq_fail(err, ONNXQ_ERR_NOMEM, "zstd failed");
        else
            payload.len = zlen;
        break;
    }
    case CODEC_PLANES:
        st = encode_planes(t, &payload, err);
        break;
    case CODEC_INTEGER: {
        bytebuf params;
        bb_init(&params);
        bytebuf coded;
        bb_init(&coded);
        st = encode_integer(t, &coded, &params, stats, err);
        bb_put(out, params.data, params.len);
        bb_put(&payload, coded.data, coded.len);
        bb_free(&params);
        bb_free(&coded);
        break;
    }
    case CODEC_QUANTIZED:
        st = onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "quantized coding is not lossless");
        break;
    }
    if (st == ONNXQ_OK)
        st = finish(out, start, &payload,
                    method == CODEC_INTEGER && symcode_is_wide(payload.data, payload.len), err);
    if (stats)
        stats->payload_bytes = payload.len;
    bb_free(&payload);
    if (st != ONNXQ_OK)
        out->len = start;
    return st;
}

/* Replace values[0..n) by their indices, a slice at a time, summing the
 * squared error of the values the decoder will rebuild: no second copy of
 * the tensor is ever held. */
static int quantize_in_place(const quant_params *q, float *values, uint64_t n, double *sq_error)
{
    enum { SLICE = 4096 };
    int32_t idx[SLICE];
    float back[SLICE];
    double sum = 0;
    for (uint64_t at = 0; at < n; at += SLICE) {
        size_t len = n - at < SLICE ? (size_t)(n - at) : SLICE;
        if (quant_encode_at(q, values + at, at, len, idx) != 0)
            return -1;
        quant_decode_at(q, idx, at, len, back);
        for (size_t i = 0; i < len; i++) {
            double d = (double)values[at + i] - back[i];
            sum += d * d;
        }
        memcpy(values + at, idx, len * sizeof *idx);
    }
    *sq_error = sum;
    return 0;
}

onnxq_status codec_encode_quantized(const codec_tensor *t, float *values, const quant_params *q,
                                    bytebuf *out, codec_stats *stats, double *sq_error,
                                    onnxq_error *err)
{
    if (t->rank > CODEC_MAX_RANK)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED, "tensors of rank over %d", CODEC_MAX_RANK);
    uint64_t n = t->elements;
    double sq = 0;
    if (quantize_in_place(q, values, n, &sq) != 0)
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                          "cannot quantize: non-finite weights, or the step is too small for them");
    const int32_t *idx = (const int32_t *)(void *)values;
    size_t start = out->len;
    bytebuf payload;
    bb_init(&payload);
    put_header(out, CODEC_QUANTIZED, t);
    put_quant_params(out, q);
    symcode_status s = symcode_encode(idx, n, SYMCODE_WIDE, &payload);
    int format4 = symcode_is_wide(payload.data, payload.len) || (q->chan_exps && q->channels > 1);
    onnxq_status st = s == SYMCODE_OK ? finish(out, start, &payload, format4, err) : symcode_fail(s, err);
    if (stats) {
        stats->entropy = symcode_entropy(idx, n);
        stats->payload_bytes = payload.len;
    }
    if (sq_error)
        *sq_error = sq;
    bb_free(&payload);
    if (st != ONNXQ_OK)
        out->len = start;
    return st;
}

