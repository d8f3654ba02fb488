/* codec.c: parsing and decoding one tensor's bitstream (docs/FORMAT.md);
 * encode/codec_encode.c writes them. */
#include "config.h"
#include "codec.h"
#include "common/crc32.h"
#include "common/dtype.h"
#include "common/error.h"
#include "rans32.h"
#include "symcode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#ifdef HAVE_ZSTD
#include <zstd.h>
#endif

/* Workspace areas start on 16-byte boundaries: decoding tables hold
 * 16-bit fields, and the caller's buffer is only known to be aligned. */
static size_t align16(uint64_t x) { return (size_t)((x + 15) & ~(uint64_t)15); }

int codec_is_integer_dtype(int dtype)
{
    return dtype == ONNXQ_DTYPE_INT8 || dtype == ONNXQ_DTYPE_UINT8 ||
           dtype == ONNXQ_DTYPE_INT16 || dtype == ONNXQ_DTYPE_UINT16 ||
           dtype == ONNXQ_DTYPE_INT32 || dtype == ONNXQ_DTYPE_BOOL;
}

static void integer_store(int dtype, uint8_t *raw, uint64_t i, int64_t v)
{
    switch (dtype) {
    case ONNXQ_DTYPE_INT8: case ONNXQ_DTYPE_UINT8: case ONNXQ_DTYPE_BOOL:
        raw[i] = (uint8_t)v;
        break;
    case ONNXQ_DTYPE_INT16: case ONNXQ_DTYPE_UINT16: {
        uint16_t u = (uint16_t)v;
        memcpy(raw + 2 * i, &u, 2);
        break;
    }
    default: {
        uint32_t u = (uint32_t)v;
        memcpy(raw + 4 * i, &u, 4);
    }
    }
}

/* Rotate a little-endian word of `width` bytes left by one bit, so the sign
 * moves below the mantissa and the top byte holds the exponent alone. */
void codec_rotate_word(uint8_t *w, unsigned width, int left)
{
    if (left) {
        unsigned carry = w[width - 1] >> 7;
        for (unsigned b = width; b-- > 1;)
            w[b] = (uint8_t)(w[b] << 1 | w[b - 1] >> 7);
        w[0] = (uint8_t)(w[0] << 1 | carry);
    } else {
        unsigned carry = w[0] & 1;
        for (unsigned b = 0; b + 1 < width; b++)
            w[b] = (uint8_t)(w[b] >> 1 | w[b + 1] << 7);
        w[width - 1] = (uint8_t)(w[width - 1] >> 1 | carry << 7);
    }
}

/* ---- Decoding ------------------------------------------------------------ */

static onnxq_status corrupt(onnxq_error *err, const char *name, const char *what)
{
    return onnxq_fail(err, ONNXQ_ERR_CORRUPT, "%s: corrupt onnxq bitstream (%s)", name, what);
}

static onnxq_status over_limit(onnxq_error *err, const char *name, uint64_t bytes, uint64_t limit)
{
    return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                      "%s: decoding needs %llu bytes, over the memory limit of %llu (ONNXQ_MEMORY_LIMIT)",
                      name, (unsigned long long)bytes, (unsigned long long)limit);
}

#ifndef HAVE_ZSTD
static onnxq_status no_zstd(onnxq_error *err, const char *name)
{
    return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                      "%s: a zstd-coded tensor, and this decoder was built without zstd", name);
}
#endif

/* Per-channel steps: the layout and the coded exponents, left in the
 * stream (quant_read_channel_steps decodes them). */
static int read_channel_steps(byteread *r, quant_params *q)
{
    uint64_t C = br_varint(r), inner = br_varint(r);
    int64_t e0 = br_svarint(r);
    uint64_t len = br_varint(r);
    q->chan_code = br_bytes(r, (size_t)(len > SIZE_MAX ? SIZE_MAX : len));
    q->chan_code_len = (size_t)len;
    if (r->error || C < 2 || C > UINT32_MAX || inner < 1 || e0 < -128 || e0 > 127)
        return 1;
    q->channels = (uint32_t)C;
    q->inner = inner;
    q->first_exp = (int)e0;
    return 0;
}

static int read_quant_params(byteread *r, quant_params *q)
{
    memset(q, 0, sizeof *q);
    unsigned kind = br_u8(r);
    q->kind = (onnxq_quantizer)(kind & ~QUANT_CHANNEL_STEPS);
    int per_channel = (kind & QUANT_CHANNEL_STEPS) != 0;
    if (per_channel && q->kind != ONNXQ_QUANT_MIDRISE && q->kind != ONNXQ_QUANT_MIDTREAD &&
        q->kind != ONNXQ_QUANT_DEADZONE)
        return 1;
    switch (q->kind) {
    case ONNXQ_QUANT_MIDRISE:
        q->step = br_f64(r);
        if (!(q->step > 0 && isfinite(q->step)))
            return 1;
        return per_channel ? read_channel_steps(r, q) : 0;
    case ONNXQ_QUANT_MIDTREAD:
    case ONNXQ_QUANT_DEADZONE:
        q->step = br_f64(r);
        q->sigma = br_f64(r);
        q->recon = br_f64(r);
        if (!(q->step > 0 && isfinite(q->step) && isfinite(q->sigma) && isfinite(q->recon)))
            return 1;
        return per_channel ? read_channel_steps(r, q) : 0;
    case ONNXQ_QUANT_MULAW:
        q->step = br_f64(r);
        q->mu = br_f64(r);
        q->log1p_mu = br_f64(r);
        q->peak = br_f64(r);
        return !(q->step > 0 && q->mu > 0 && q->log1p_mu > 0 && q->log1p_mu < 64 &&
                 isfinite(q->peak) && isfinite(q->step));
    case ONNXQ_QUANT_FLOAT: {
        q->exp_bits = (int)br_u8(r);
        q->man_bits = (int)br_u8(r);
        int64_t s = br_svarint(r);
        q->scale_exp = (int)s;
        return !(q->exp_bits >= 1 && q->exp_bits <= 8 && q->man_bits >= 0 &&
                 q->man_bits <= 23 && s > -2000 && s < 2000);
    }
    case ONNXQ_QUANT_INT: {
        q->int_bits = (int)br_u8(r);
        q->symmetric = (int)br_u8(r);
        uint64_t C = br_varint(r), inner = br_varint(r);
        if (q->int_bits < 2 || q->int_bits > 16 || C == 0 || C > br_left(r) / 4 || inner == 0)
            return 1;
        q->channels = (uint32_t)C;
        q->inner = inner;
        /* The scales stay in the stream: the decoder reads them from there. */
        q->scales = (float *)(uintptr_t)r->p;
        br_bytes(r, (size_t)C * 4);
        return 0;
    }
    case ONNXQ_QUANT_NONE:
        break;
    }
    return 1;
}

const char *onnxq_method_name(int method)
{
    switch (method) {
    case CODEC_STORED: return "stored";
    case CODEC_ZSTD: return "zstd";
    case CODEC_PLANES: return "planes";
    case CODEC_QUANTIZED: return "quantized";
    case CODEC_INTEGER: return "integer";
    }
    return "unknown";
}

onnxq_status codec_inspect(const uint8_t *in, size_t size, codec_info *info, const char *name,
                           onnxq_error *err)
{
    memset(info, 0, sizeof *info);
    if (size < 10 || memcmp(in, CODEC_MAGIC, 4) != 0)
        return corrupt(err, name, "no onnxq magic");
    uint32_t stored_crc = (uint32_t)in[size - 4] | (uint32_t)in[size - 3] << 8 |
                          (uint32_t)in[size - 2] << 16 | (uint32_t)in[size - 1] << 24;
    if (crc32_update(0, in, size - 4) != stored_crc)
        return corrupt(err, name, "CRC mismatch: damaged or truncated");
    byteread r;
    br_init(&r, in + 4, size - 8);
    unsigned version = br_u8(&r);
    if (version < 1 || version > CODEC_VERSION) /* each adds a mode to the one before: read alike */
        return onnxq_fail(err, ONNXQ_ERR_UNSUPPORTED,
                          "%s: onnxq bitstream format %u (this reads formats 1 to %d)", name, version,
                          CODEC_VERSION);
    info->method = (codec_method)br_u8(&r);
    info->dtype = (int)br_u8(&r);
    info->rank = (int)br_u8(&r);
    if (info->rank > CODEC_MAX_RANK)
        return corrupt(err, name, "rank");
    uint64_t n = 1;
    for (int d = 0; d < info->rank; d++) {
        uint64_t v = br_varint(&r);
        if (v > INT64_MAX || (v && n > UINT64_MAX / 16 / v))
            return corrupt(err, name, "shape");
        info->dims[d] = (int64_t)v;
        n *= v;
    }
    info->elements = n;
    info->bytes = dtype_data_bytes(info->dtype, n);
    if (info->bytes == UINT64_MAX || info->bytes > SIZE_MAX / 2)
        return corrupt(err, name, "element type");
    switch (info->method) {
    case CODEC_STORED:
    case CODEC_ZSTD:
        break;
    case CODEC_PLANES:
        if (!onnxq_dtype_is_float(info->dtype))
            return corrupt(err, name, "planes of a non-float type");
        info->workspace = align16(n * 5);
        break;
    case CODEC_INTEGER:
        if (!codec_is_integer_dtype(info->dtype))
            return corrupt(err, name, "integer coding of a non-integer type");
        br_varint(&r); /* the offset */
        info->workspace = align16(n * 4);
        break;
    case CODEC_QUANTIZED:
        if (!onnxq_dtype_is_float(info->dtype))
            return corrupt(err, name, "quantized non-float type");
        if (read_quant_params(&r, &info->quant) != 0)
            return corrupt(err, name, "quantizer parameters");
        if ((info->quant.kind == ONNXQ_QUANT_INT || info->quant.chan_code) &&
            info->quant.channels > 1 && info->quant.inner * info->quant.channels > n)
            return corrupt(err, name, "channel layout");
        /* per-channel steps first, then values (non-float types), then tables */
        info->workspace = (info->quant.chan_code ? align16((uint64_t)info->quant.channels * 4) : 0) +
                          (info->dtype == ONNXQ_DTYPE_FLOAT ? 0 : align16(n * 4)) +
                          (info->quant.kind == ONNXQ_QUANT_INT ? info->quant.channels * 4 : 0);
        break;
    default:
        return corrupt(err, name, "unknown method");
    }
    uint64_t plen = br_varint(&r);
    if (r.error || plen != br_left(&r))
        return corrupt(err, name, "payload length");
    uint64_t limit = onnxq_memory_limit();
    if (limit && info->bytes > limit)
        return over_limit(err, name, info->bytes, limit);
    info->payload_offset = (size_t)(r.p - in);
    info->payload_size = (size_t)plen;
    if (info->method == CODEC_QUANTIZED || info->method == CODEC_INTEGER) {
        size_t tables = symcode_workspace_size(r.p, (size_t)plen);
        if (!tables)
            return corrupt(err, name, "entropy coder header");
        info->workspace += tables;
    } else if (info->method == CODEC_PLANES) {
        info->workspace += (size_t)SYMCODE_MAX_CTX * (1u << 15) * 8;
    }
    if (limit && info->bytes + info->workspace > limit)
        return over_limit(err, name, info->bytes + info->workspace, limit);
    return ONNXQ_OK;
}

/* Float32 values to the original floating type. */
static void store_floats(int dtype, const float *v, uint64_t n, void *out)
{
    if (dtype == ONNXQ_DTYPE_FLOAT) {
        if (v != out)
            memmove(out, v, n * 4);
    } else if (dtype == ONNXQ_DTYPE_DOUBLE) {
        double *d = out;
        for (uint64_t i = n; i-- > 0;) /* backwards: out may overlap v's start */
            d[i] = v[i];
    } else {
        uint16_t *h = out;
        for (uint64_t i = 0; i < n; i++)
            h[i] = dtype == ONNXQ_DTYPE_FLOAT16 ? float_to_half(v[i]) : float_to_bfloat16(v[i]);
    }
}

static onnxq_status decode_planes(const codec_info *info, const uint8_t *p, size_t size,
                                  uint8_t *out, uint8_t *ws, size_t ws_size, const char *name,
                                  onnxq_error *err)
{
    uint64_t n = info->elements;
    unsigned width = onnxq_dtype_bits(info->dtype) / 8;
    byteread r;
    br_init(&r, p, size);
    if (br_u8(&r) != width)
        return corrupt(err, name, "plane count");
    int32_t *sym = (int32_t *)(void *)ws;
    uint8_t *plane = ws + n * 4;
    uint8_t *tables = ws + align16(n * 5);
    size_t tables_size = ws_size - align16(n * 5);
    for (unsigned j = width; j-- > 0;) {
        unsigned mode = br_u8(&r);
        uint64_t len = br_varint(&r);
        const uint8_t *data = br_bytes(&r, (size_t)(len > SIZE_MAX ? SIZE_MAX : len));
        if (!data)
            return corrupt(err, name, "plane length");
        if (mode == PLANE_RAW) {
            if (len != n)
                return corrupt(err, name, "raw plane length");
            memcpy(plane, data, n);
        } else if (mode == PLANE_ZSTD) {
#ifdef HAVE_ZSTD
            size_t got = ZSTD_decompress(plane, n, data, (size_t)len);
            if (ZSTD_isError(got) || got != n)
                return corrupt(err, name, "zstd plane");
#else
            return no_zstd(err, name);
#endif
        } else if (mode == PLANE_SYMCODE) {
            if (symcode_decode(data, (size_t)len, sym, n, tables, tables_size) != SYMCODE_OK)
                return corrupt(err, name, "entropy-coded plane");
            for (uint64_t i = 0; i < n; i++) {
                if (sym[i] < -128 || sym[i] > 127)
                    return corrupt(err, name, "plane value");
                sym[i] += 128;
            }
            for (uint64_t i = 0; i < n; i++)
                plane[i] = (uint8_t)sym[i];
        } else {
            return corrupt(err, name, "plane mode");
        }
        for (uint64_t i = 0; i < n; i++)
            out[i * width + j] = plane[i];
    }
    if (br_left(&r))
        return corrupt(err, name, "trailing bytes");
    for (uint64_t i = 0; i < n; i++)
        codec_rotate_word(out + i * width, width, 0);
    return ONNXQ_OK;
}

/* Escapes of wide rANS: their values, computed as quant_decode computes any. */
static void escape_values(void *ctx, const int32_t *q, size_t count, uint32_t *out)
{
    quant_decode(ctx, q, count, (float *)(void *)out);
}

/* Wide rANS with dequantization in the same pass: each symbol's value
 * looked up in a table of the quantizer's values of its index, so the
 * output is the very floats quant_decode gives (int quantizers of one
 * scale included; per-channel ones take the general path). */
static onnxq_status decode_wide_values(const codec_info *info, const uint8_t *p, size_t plen,
                                       void *out, uint8_t *ws, size_t ws_size, const char *name,
                                       onnxq_error *err)
{
    rans32_stream w;
    if (rans32_parse(p, plen, &w) != 0)
        return corrupt(err, name, "wide rANS header");
    uint64_t n = info->elements;
    int in_place = info->dtype == ONNXQ_DTYPE_FLOAT;
    size_t values_at = in_place ? 0 : align16(n * 4), need = rans32_workspace_size(&w);
    if (ws_size < values_at + need + RANS32_MAX_SYMBOLS * 4)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: workspace too small", name);
    uint32_t *lut = (uint32_t *)(void *)(ws + values_at + need);
    int32_t index[RANS32_MAX_SYMBOLS];
    quant_params qp = info->quant;
    float scale;
    if (qp.kind == ONNXQ_QUANT_INT) { /* one scale, unaligned in the stream */
        memcpy(&scale, qp.scales, 4);
        qp.scales = &scale;
    }
    if (qp.chan_steps) { /* the table and the escapes give quant_unit's values */
        qp.chan_steps = NULL;
        qp.step = 1;
    }
    if (rans32_values(&w, index) != 0)
        return corrupt(err, name, "wide rANS values");
    memset(lut, 0, RANS32_MAX_SYMBOLS * 4);
    quant_decode(&qp, index, w.direct, (float *)(void *)lut);
    uint32_t *values = in_place ? out : (uint32_t *)(void *)ws;
    if (rans32_decode(&w, n, lut, escape_values, &qp, values, ws + values_at, need) != 0)
        return corrupt(err, name, "entropy-coded payload");
    if (info->quant.chan_steps)
        quant_scale_channels(&info->quant, (float *)(void *)values, n);
    if (!in_place)
        store_floats(info->dtype, (const float *)(void *)values, n, out);
    return ONNXQ_OK;
}

onnxq_status codec_decode(const uint8_t *in, size_t size, void *out, size_t out_size,
                          void *workspace, size_t workspace_size, const char *name,
                          onnxq_error *err)
{
    codec_info info;
    onnxq_status st = codec_inspect(in, size, &info, name, err);
    if (st != ONNXQ_OK)
        return st;
    return codec_decode_inspected(in, &info, out, out_size, workspace, workspace_size, name, err);
}

onnxq_status codec_decode_inspected(const uint8_t *in, const codec_info *inspected, void *out,
                                    size_t out_size, void *workspace, size_t workspace_size,
                                    const char *name, onnxq_error *err)
{
    codec_info info = *inspected;
    if (out_size != info.bytes)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: output of %zu bytes for %llu", name,
                          out_size, (unsigned long long)info.bytes);
    if (workspace_size < info.workspace)
        return onnxq_fail(err, ONNXQ_ERR_ARGUMENT, "%s: workspace of %zu bytes, needs %zu", name,
                          workspace_size, info.workspace);
    const uint8_t *p = in + info.payload_offset;
    size_t plen = info.payload_size;
    uint64_t n = info.elements;
    uint8_t *ws = workspace;
    switch (info.method) {
    case CODEC_STORED:
        if (plen != info.bytes)
            return corrupt(err, name, "stored length");
        if (plen)
            memcpy(out, p, plen);
        return ONNXQ_OK;
    case CODEC_ZSTD: {
#ifdef HAVE_ZSTD
        size_t got = ZSTD_decompress(out, out_size, p, plen);
        if (ZSTD_isError(got) || got != out_size)
            return corrupt(err, name, "zstd payload");
        return ONNXQ_OK;
#else
        return no_zstd(err, name);
#endif
    }
    case CODEC_PLANES:
        return decode_planes(&info, p, plen, out, ws, workspace_size, name, err);
    case CODEC_INTEGER: {
        byteread r;
        br_init(&r, in + 8, info.payload_offset - 8);
        for (int d = 0; d < info.rank; d++)
            br_varint(&r);
        int64_t offset = br_svarint(&r);
        int32_t *q = (int32_t *)(void *)ws;
        if (symcode_decode(p, plen, q, n, ws + align16(n * 4), workspace_size - align16(n * 4)) !=
            SYMCODE_OK)
            return corrupt(err, name, "entropy-coded payload");
        for (uint64_t i = 0; i < n; i++)
            integer_store(info.dtype, out, i, (int64_t)q[i] + offset);
        return ONNXQ_OK;
    }
    case CODEC_QUANTIZED: {
        if (info.quant.chan_code) { /* the channels' steps first, at the workspace's start */
            size_t steps = align16((uint64_t)info.quant.channels * 4);
            if (quant_read_channel_steps(&info.quant, (float *)(void *)ws) != 0)
                return corrupt(err, name, "channel steps");
            info.quant.chan_steps = (float *)(void *)ws;
            ws += steps;
            workspace_size -= steps;
        }
        if (plen && p[0] == RANS32_MARK && !(info.quant.kind == ONNXQ_QUANT_INT && info.quant.channels > 1))
            return decode_wide_values(&info, p, plen, out, ws, workspace_size, name, err);
        int in_place = info.dtype == ONNXQ_DTYPE_FLOAT;
        int32_t *q = in_place ? out : (int32_t *)(void *)ws;
        uint8_t *tables = in_place ? ws : ws + align16(n * 4);
        size_t tables_size = in_place ? workspace_size : workspace_size - align16(n * 4);
        if (symcode_decode(p, plen, q, n, tables, tables_size) != SYMCODE_OK)
            return corrupt(err, name, "entropy-coded payload");
        quant_params qp = info.quant;
        float *scales = NULL;
        if (qp.kind == ONNXQ_QUANT_INT) {
            /* The scales sit unaligned in the stream: copy them out. */
            scales = (float *)(void *)(ws + (in_place ? 0 : align16(n * 4)));
            memmove(scales, qp.scales, qp.channels * sizeof *scales);
            qp.scales = scales;
        }
        float *values = in_place ? out : (float *)(void *)q;
        quant_decode(&qp, q, n, values);
        if (!in_place)
            store_floats(info.dtype, values, n, out);
        return ONNXQ_OK;
    }
    }
    return corrupt(err, name, "unknown method");
}

/* ---- The public decode-only API (onnxq/decode.h) -------------------------- */

#include "onnxq/decode.h"

onnxq_status onnxq_stream_inspect(const void *stream, size_t size, onnxq_stream_info *out,
                                  onnxq_error *err)
{
    codec_info info;
    memset(out, 0, sizeof *out);
    onnxq_status st = codec_inspect(stream, size, &info, "bitstream", err);
    if (st != ONNXQ_OK)
        return st;
    out->dtype = info.dtype;
    out->rank = info.rank;
    memcpy(out->dims, info.dims, sizeof out->dims);
    out->elements = info.elements;
    out->bytes = info.bytes;
    out->workspace = info.workspace;
    out->method = (int)info.method;
    out->quantizer = info.method == CODEC_QUANTIZED ? info.quant.kind : ONNXQ_QUANT_NONE;
    return onnxq_ok(err);
}

onnxq_status onnxq_stream_decode(const void *stream, size_t size, void *out, size_t out_size,
                                 void *workspace, size_t workspace_size, onnxq_error *err)
{
    onnxq_status st = codec_decode(stream, size, out, out_size, workspace, workspace_size,
                                   "bitstream", err);
    return st == ONNXQ_OK ? onnxq_ok(err) : st;
}

