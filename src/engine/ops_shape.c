/* ops_shape.c: operators that move elements without arithmetic, for any
 * element type the engine holds, plus Cast. */
#include "config.h"
#include "engine.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t esize(const tensor *t) { return tensor_elem_size(t->dtype); }

/* x's row-major element strides. */
static void dense_strides(const tensor *x, int64_t *stride)
{
    int64_t st = 1;
    for (int d = x->rank - 1; d >= 0; d--) {
        stride[d] = st;
        st *= x->dims[d];
    }
}

/* y[i] = x[base + sum over axes of index * stride], y already shaped:
 * Transpose, Slice and Expand are this copy with their own strides.  The
 * offset is carried from element to element rather than recomputed. */
static void gather_strided(const tensor *x, tensor *y, int64_t base, const int64_t *stride)
{
    size_t es = esize(x);
    /* The innermost axes along which the input is contiguous too are
     * copied as one run (a channel shuffle's transpose moves whole
     * planes). */
    int outer_rank = y->rank;
    int64_t run = 1;
    while (outer_rank > 0 && stride[outer_rank - 1] == run)
        run *= y->dims[--outer_rank];
    int64_t idx[TENSOR_MAX_RANK] = { 0 }, off = base;
    const uint8_t *src = x->data;
    uint8_t *dst = y->data;
    for (int64_t i = 0; i < y->n; i += run) {
        if (run == 1 && es == 4)
            ((uint32_t *)dst)[i] = ((const uint32_t *)src)[off];
        else
            memcpy(dst + i * es, src + off * es, (size_t)run * es);
        for (int d = outer_rank - 1; d >= 0; d--) {
            off += stride[d];
            if (++idx[d] < y->dims[d])
                break;
            off -= stride[d] * y->dims[d];
            idx[d] = 0;
        }
    }
}

/* Axis a of rank r (negative counts from the end), checked. */
static onnxq_status norm_axis(op_ctx *c, int64_t a, int r, int64_t *out)
{
    int64_t v = a < 0 ? a + r : a;
    *out = 0;
    if (v < 0 || v >= (r ? r : 1))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "axis %lld out of range for rank %d", (long long)a, r);
    *out = v;
    return ONNXQ_OK;
}

/* The ints of an attribute (before `opset_input`) or of input i (from it). */
static onnxq_status ints_from(op_ctx *c, const char *attr, size_t input, int64_t opset_input,
                              int64_t *out, size_t max, size_t *n, int *present)
{
    *n = 0;
    *present = 0;
    if (c->node->opset < opset_input) {
        const int64_t *v = op_attr_ints(c, attr, n);
        if (*n > max)
            return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "more than %zu %s", max, attr);
        if (v)
            memcpy(out, v, *n * sizeof *v);
        *present = op_attr(c, attr) != NULL;
        return ONNXQ_OK;
    }
    const tensor *t = op_in(c, input);
    if (!t)
        return ONNXQ_OK;
    *present = 1;
    return op_read_ints(c, t, out, max, n);
}

static onnxq_status op_identity(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    return s == ONNXQ_OK ? tensor_view(c, c->out[0], c->in[0], c->in[0]->rank, c->in[0]->dims)
                         : s;
}

static onnxq_status reshape_to(op_ctx *c, const int64_t *shape, size_t n, int allow_zero)
{
    const tensor *x = c->in[0];
    int64_t dims[TENSOR_MAX_RANK], known = 1;
    int infer = -1;
    if (n > TENSOR_MAX_RANK)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "rank %zu", n);
    for (size_t i = 0; i < n; i++) {
        dims[i] = shape[i];
        if (shape[i] == 0 && !allow_zero) {
            if ((int)i >= x->rank)
                return op_fail(c, ONNXQ_ERR_NOT_ONNX, "0 in the shape beyond the input's rank");
            dims[i] = x->dims[i];
        }
        if (dims[i] == -1) {
            if (infer >= 0)
                return op_fail(c, ONNXQ_ERR_NOT_ONNX, "more than one -1 in the shape");
            infer = (int)i;
        } else if (dims[i] < 0) {
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "negative dimension in the shape");
        } else {
            known *= dims[i];
        }
    }
    if (infer >= 0)
        dims[infer] = known ? x->n / known : 0;
    int64_t total = 1;
    for (size_t i = 0; i < n; i++)
        total *= dims[i];
    if (total != x->n)
        return op_fail(c, ONNXQ_ERR_ARGUMENT, "cannot reshape %lld elements to the shape given",
                       (long long)x->n);
    return tensor_view(c, c->out[0], x, (int)n, dims);
}

static onnxq_status op_reshape(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    int64_t shape[TENSOR_MAX_RANK];
    size_t n;
    int present;
    if ((s = ints_from(c, "shape", 1, 5, shape, TENSOR_MAX_RANK, &n, &present)) != ONNXQ_OK)
        return s;
    if (!present)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "no shape");
    return reshape_to(c, shape, n, (int)op_attr_int(c, "allowzero", 0));
}

static onnxq_status op_flatten(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t axis = op_attr_int(c, "axis", 1);
    if (axis < 0)
        axis += x->rank;
    if (axis < 0 || axis > x->rank)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "axis out of range");
    int64_t shape[2] = { 1, 1 };
    for (int d = 0; d < x->rank; d++)
        shape[d < axis ? 0 : 1] *= x->dims[d];
    return reshape_to(c, shape, 2, 1);
}

static onnxq_status op_transpose(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    size_t np;
    const int64_t *perm_attr = op_attr_ints(c, "perm", &np);
    int64_t perm[TENSOR_MAX_RANK];
    int seen[TENSOR_MAX_RANK] = { 0 };
    if (perm_attr && np != (size_t)x->rank)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "perm of %zu entries for rank %d", np, x->rank);
    for (int d = 0; d < x->rank; d++) {
        perm[d] = perm_attr ? perm_attr[d] : x->rank - 1 - d;
        if (perm[d] < 0 || perm[d] >= x->rank || seen[perm[d]]++)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "perm is not a permutation");
    }
    int64_t dims[TENSOR_MAX_RANK], in_stride[TENSOR_MAX_RANK], stride[TENSOR_MAX_RANK];
    dense_strides(x, in_stride);
    for (int d = 0; d < x->rank; d++) {
        dims[d] = x->dims[perm[d]];
        stride[d] = in_stride[perm[d]];
    }
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, x->dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    gather_strided(x, y, 0, stride);
    return ONNXQ_OK;
}

static onnxq_status op_squeeze(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t axes[TENSOR_MAX_RANK];
    size_t n;
    int present, drop[TENSOR_MAX_RANK] = { 0 };
    if ((s = ints_from(c, "axes", 1, 13, axes, TENSOR_MAX_RANK, &n, &present)) != ONNXQ_OK)
        return s;
    for (size_t i = 0; i < n; i++) {
        int64_t a;
        if ((s = norm_axis(c, axes[i], x->rank, &a)) != ONNXQ_OK)
            return s;
        if (x->dims[a] != 1)
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "axis %lld has size %lld, not 1",
                           (long long)axes[i], (long long)x->dims[a]);
        drop[a] = 1;
    }
    int64_t dims[TENSOR_MAX_RANK];
    size_t r = 0;
    for (int d = 0; d < x->rank; d++)
        if (!(n ? drop[d] : x->dims[d] == 1))
            dims[r++] = x->dims[d];
    return reshape_to(c, dims, r, 1);
}

static onnxq_status op_unsqueeze(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t axes[TENSOR_MAX_RANK];
    size_t n;
    int present, add[TENSOR_MAX_RANK] = { 0 };
    if ((s = ints_from(c, "axes", 1, 13, axes, TENSOR_MAX_RANK, &n, &present)) != ONNXQ_OK)
        return s;
    int r = x->rank + (int)n;
    if (r > TENSOR_MAX_RANK)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "rank %d", r);
    for (size_t i = 0; i < n; i++) {
        int64_t a;
        if ((s = norm_axis(c, axes[i], r, &a)) != ONNXQ_OK)
            return s;
        if (add[a]++)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "axis %lld given twice", (long long)axes[i]);
    }
    int64_t dims[TENSOR_MAX_RANK];
    for (int d = 0, k = 0; d < r; d++)
        dims[d] = add[d] ? 1 : x->dims[k++];
    return reshape_to(c, dims, (size_t)r, 1);
}

static onnxq_status op_shape(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t r = x->rank;
    int64_t start = op_attr_int(c, "start", 0), end = op_attr_int(c, "end", r);
    start = start < 0 ? start + r : start;
    end = end < 0 ? end + r : end;
    start = start < 0 ? 0 : start > r ? r : start;
    end = end < 0 ? 0 : end > r ? r : end;
    int64_t len = end > start ? end - start : 0;
    if ((s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_INT64, 1, &len)) != ONNXQ_OK)
        return s;
    for (int64_t i = 0; i < len; i++)
        ((int64_t *)c->out[0]->data)[i] = x->dims[start + i];
    return ONNXQ_OK;
}

static onnxq_status op_size(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s == ONNXQ_OK)
        s = tensor_prepare(c, c->out[0], ONNXQ_DTYPE_INT64, 0, NULL);
    if (s == ONNXQ_OK)
        *(int64_t *)c->out[0]->data = c->in[0]->n;
    return s;
}

static onnxq_status op_gather(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0], *ind = c->in[1];
    if (ind->dtype != ONNXQ_DTYPE_INT64 && ind->dtype != ONNXQ_DTYPE_INT32)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "%s indices", onnxq_dtype_name(ind->dtype));
    int64_t axis;
    if ((s = norm_axis(c, op_attr_int(c, "axis", 0), x->rank, &axis)) != ONNXQ_OK)
        return s;
    if (x->rank == 0 || x->rank + ind->rank - 1 > TENSOR_MAX_RANK)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "ranks %d and %d", x->rank, ind->rank);
    int64_t dims[TENSOR_MAX_RANK], outer = 1, inner = 1;
    int r = 0;
    for (int d = 0; d < axis; d++) {
        dims[r++] = x->dims[d];
        outer *= x->dims[d];
    }
    for (int d = 0; d < ind->rank; d++)
        dims[r++] = ind->dims[d];
    for (int d = (int)axis + 1; d < x->rank; d++) {
        dims[r++] = x->dims[d];
        inner *= x->dims[d];
    }
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, x->dtype, r, dims)) != ONNXQ_OK)
        return s;
    int64_t len = x->dims[axis];
    size_t block = (size_t)inner * esize(x);
    for (int64_t o = 0; o < outer; o++)
        for (int64_t i = 0; i < ind->n; i++) {
            int64_t k = tensor_int_at(ind, i);
            if (k < 0)
                k += len;
            if (k < 0 || k >= len)
                return op_fail(c, ONNXQ_ERR_ARGUMENT, "index %lld out of range [0,%lld)",
                               (long long)tensor_int_at(ind, i), (long long)len);
            memcpy((uint8_t *)y->data + (o * ind->n + i) * block,
                   (const uint8_t *)x->data + (o * len + k) * block, block);
        }
    return ONNXQ_OK;
}

/* Inputs of a Concat may sit in its output's buffer (see tensor.home).
 * When that buffer is about to move (it must grow) or an input sits there
 * in the wrong place (its neighbours changed size), such inputs move to
 * buffers of their own first, so neither the move nor the copies into the
 * output can clobber them. */
static onnxq_status concat_make_room(op_ctx *c, tensor *y, size_t bytes, int64_t outer)
{
    for (size_t i = 0; i < c->n_in; i++) {
        tensor *x = c->in[i];
        if (!x->borrowed || x->home != y)
            continue;
        size_t nbytes = (size_t)x->n * esize(x), at = 0;
        for (size_t j = 0; j < i; j++)
            at += (size_t)c->in[j]->n * esize(c->in[j]);
        int in_place = outer == 1 && bytes <= y->capacity && x->data == (uint8_t *)y->data + at;
        if (in_place)
            continue;
        void *own = malloc(nbytes ? nbytes : 1);
        if (!own)
            return op_fail(c, ONNXQ_ERR_NOMEM, "out of memory for %zu bytes", nbytes);
        memcpy(own, x->data, nbytes);
        x->data = own;
        x->capacity = nbytes;
        x->borrowed = 0;
    }
    return ONNXQ_OK;
}

static onnxq_status op_concat(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x0 = c->in[0];
    int64_t axis;
    if ((s = norm_axis(c, op_attr_int(c, "axis", c->node->opset < 4 ? 1 : 0), x0->rank, &axis)) != ONNXQ_OK)
        return s;
    int64_t dims[TENSOR_MAX_RANK];
    memcpy(dims, x0->dims, sizeof dims);
    dims[axis] = 0;
    for (size_t i = 0; i < c->n_in; i++) {
        if ((s = op_need(c, i, x0->dtype)) != ONNXQ_OK)
            return s;
        const tensor *x = c->in[i];
        if (x->rank != x0->rank)
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "inputs of different ranks");
        for (int d = 0; d < x->rank; d++)
            if (d != axis && x->dims[d] != x0->dims[d])
                return op_fail(c, ONNXQ_ERR_ARGUMENT, "input %zu differs in dimension %d", i, d);
        dims[axis] += x->dims[axis];
    }
    tensor *y = c->out[0];
    for (size_t i = 0; i < c->n_in; i++)
        if (c->in[i] == y)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "output is also an input");
    int64_t outer = 1, inner = 1, total = 1;
    for (int d = 0; d < axis; d++)
        outer *= dims[d];
    for (int d = (int)axis + 1; d < x0->rank; d++)
        inner *= dims[d];
    for (int d = 0; d < x0->rank; d++)
        total *= dims[d];
    size_t es = esize(x0);
    if ((s = concat_make_room(c, y, (size_t)total * es, outer)) != ONNXQ_OK)
        return s;
    if ((s = tensor_prepare(c, y, x0->dtype, x0->rank, dims)) != ONNXQ_OK)
        return s;
    y->host = 1;
    size_t out_row = (size_t)(dims[axis] * inner) * es, at = 0;
    for (size_t i = 0; i < c->n_in; i++) {
        tensor *x = c->in[i];
        size_t row = (size_t)(x->dims[axis] * inner) * es;
        uint8_t *dst = (uint8_t *)y->data + at;
        /* Placed by its producer (see tensor.home): nothing to copy. */
        if (outer == 1 && x->data == dst) {
            at += row;
            continue;
        }
        for (int64_t o = 0; o < outer; o++)
            memcpy(dst + (size_t)o * out_row, (const uint8_t *)x->data + (size_t)o * row, row);
        int first = 1; /* an input joined twice has its home at its first place */
        for (size_t j = 0; j < i; j++)
            first &= c->in[j] != x;
        if (first && outer == 1 && !x->constant && !x->host) {
            x->home = y;
            x->home_offset = at;
            x->home_bytes = row;
        } else if (first) {
            x->home = NULL;
        }
        at += row;
    }
    return ONNXQ_OK;
}

static onnxq_status op_split(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t axis;
    if ((s = norm_axis(c, op_attr_int(c, "axis", 0), x->rank, &axis)) != ONNXQ_OK)
        return s;
    int64_t parts[64];
    size_t n;
    int present;
    if ((s = ints_from(c, "split", 1, 13, parts, 64, &n, &present)) != ONNXQ_OK)
        return s;
    if (c->n_out > 64)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "more than 64 outputs");
    int64_t len = x->dims[axis];
    if (!n) {
        int64_t k = (int64_t)c->n_out, each = (len + k - 1) / k;
        for (int64_t i = 0; i < k; i++)
            parts[i] = len - i * each < each ? (len - i * each > 0 ? len - i * each : 0) : each;
        n = c->n_out;
    }
    int64_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += parts[i];
    if (n != c->n_out || total != len)
        return op_fail(c, ONNXQ_ERR_ARGUMENT, "split sizes do not add up to %lld over %zu outputs",
                       (long long)len, c->n_out);
    int64_t outer = 1, inner = 1;
    for (int d = 0; d < axis; d++)
        outer *= x->dims[d];
    for (int d = (int)axis + 1; d < x->rank; d++)
        inner *= x->dims[d];
    size_t es = esize(x), in_row = (size_t)(len * inner) * es, at = 0;
    for (size_t i = 0; i < n; i++) {
        int64_t dims[TENSOR_MAX_RANK];
        memcpy(dims, x->dims, sizeof dims);
        dims[axis] = parts[i];
        if ((s = tensor_prepare(c, c->out[i], x->dtype, x->rank, dims)) != ONNXQ_OK)
            return s;
        size_t row = (size_t)(parts[i] * inner) * es;
        for (int64_t o = 0; o < outer; o++)
            memcpy((uint8_t *)c->out[i]->data + (size_t)o * row,
                   (const uint8_t *)x->data + (size_t)o * in_row + at, row);
        at += row;
    }
    return ONNXQ_OK;
}

static onnxq_status op_slice(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t starts[TENSOR_MAX_RANK], ends[TENSOR_MAX_RANK], axes[TENSOR_MAX_RANK],
        steps[TENSOR_MAX_RANK];
    size_t ns, ne, na, nt;
    int p;
    if ((s = ints_from(c, "starts", 1, 10, starts, TENSOR_MAX_RANK, &ns, &p)) != ONNXQ_OK ||
        (s = ints_from(c, "ends", 2, 10, ends, TENSOR_MAX_RANK, &ne, &p)) != ONNXQ_OK ||
        (s = ints_from(c, "axes", 3, 10, axes, TENSOR_MAX_RANK, &na, &p)) != ONNXQ_OK ||
        (s = ints_from(c, "steps", 4, 10, steps, TENSOR_MAX_RANK, &nt, &p)) != ONNXQ_OK)
        return s;
    if (ns != ne || (na && na != ns) || (nt && nt != ns))
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "starts, ends, axes and steps differ in length");
    int64_t start[TENSOR_MAX_RANK], step[TENSOR_MAX_RANK], dims[TENSOR_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        start[d] = 0;
        step[d] = 1;
        dims[d] = x->dims[d];
    }
    for (size_t i = 0; i < ns; i++) {
        int64_t a;
        if ((s = norm_axis(c, na ? axes[i] : (int64_t)i, x->rank, &a)) != ONNXQ_OK)
            return s;
        int64_t len = x->dims[a], st = nt ? steps[i] : 1;
        if (st == 0)
            return op_fail(c, ONNXQ_ERR_NOT_ONNX, "step 0");
        int64_t b = starts[i], e = ends[i];
        b = b < 0 ? b + len : b;
        e = e < 0 ? (e < INT64_MIN / 2 ? -1 : e + len) : e;
        if (st > 0) {
            b = b < 0 ? 0 : b > len ? len : b;
            e = e < 0 ? 0 : e > len ? len : e;
            dims[a] = e > b ? (e - b + st - 1) / st : 0;
        } else {
            b = b < 0 ? -1 : b > len - 1 ? len - 1 : b;
            e = e < -1 ? -1 : e > len - 1 ? len - 1 : e;
            dims[a] = b > e ? (b - e + (-st) - 1) / (-st) : 0;
        }
        start[a] = b;
        step[a] = st;
    }
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, x->dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    int64_t in_stride[TENSOR_MAX_RANK], base = 0;
    dense_strides(x, in_stride);
    for (int d = 0; d < x->rank; d++) {
        base += start[d] * in_stride[d];
        step[d] *= in_stride[d];
    }
    gather_strided(x, y, base, step);
    return ONNXQ_OK;
}

/* Store v (a double holding any supported value) as element i of t. */
static void store_value(tensor *t, int64_t i, double v)
{
    switch (t->dtype) {
    case ONNXQ_DTYPE_FLOAT: ((float *)t->data)[i] = (float)v; break;
    case ONNXQ_DTYPE_INT64: ((int64_t *)t->data)[i] = (int64_t)v; break;
    case ONNXQ_DTYPE_INT32: ((int32_t *)t->data)[i] = (int32_t)v; break;
    case ONNXQ_DTYPE_INT8: ((int8_t *)t->data)[i] = (int8_t)v; break;
    case ONNXQ_DTYPE_BOOL: ((uint8_t *)t->data)[i] = v != 0; break;
    default: ((uint8_t *)t->data)[i] = (uint8_t)v; break;
    }
}

static onnxq_status op_pad(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t pads[2 * TENSOR_MAX_RANK];
    size_t np;
    int present;
    if ((s = ints_from(c, "pads", 1, 11, pads, 2 * TENSOR_MAX_RANK, &np, &present)) != ONNXQ_OK)
        return s;
    if (op_in(c, 3))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "the axes input");
    if (np != 2 * (size_t)x->rank)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "%zu pads for rank %d", np, x->rank);
    double value = 0;
    if (c->node->opset < 11) {
        value = op_attr_float(c, "value", 0);
    } else if (op_in(c, 2) && c->in[2]->n) {
        const tensor *v = c->in[2];
        value = v->dtype == ONNXQ_DTYPE_FLOAT ? *(const float *)v->data : (double)tensor_int_at(v, 0);
    }
    const char *mode_s = op_attr_string(c, "mode", "constant");
    int mode = !strcmp(mode_s, "constant") ? 0 : !strcmp(mode_s, "reflect") ? 1
             : !strcmp(mode_s, "edge") ? 2 : -1;
    if (mode < 0)
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "mode '%s'", mode_s);
    int64_t dims[TENSOR_MAX_RANK];
    for (int d = 0; d < x->rank; d++) {
        dims[d] = x->dims[d] + pads[d] + pads[d + x->rank];
        if (dims[d] < 0)
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "negative output dimension");
        if (mode && (x->dims[d] == 0 || (mode == 1 && (pads[d] >= x->dims[d] ||
                                                       pads[d + x->rank] >= x->dims[d]))))
            return op_fail(c, ONNXQ_ERR_ARGUMENT, "pads too large for mode '%s'", mode_s);
    }
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, x->dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    size_t es = esize(x);
    int64_t idx[TENSOR_MAX_RANK] = { 0 };
    for (int64_t i = 0; i < y->n; i++) {
        int64_t off = 0;
        int outside = 0;
        for (int d = 0; d < x->rank; d++) {
            int64_t k = idx[d] - pads[d], len = x->dims[d];
            if (k < 0 || k >= len) {
                if (mode == 0)
                    outside = 1;
                else if (mode == 2)
                    k = k < 0 ? 0 : len - 1;
                else
                    k = k < 0 ? -k : 2 * (len - 1) - k;
            }
            off = off * len + k;
        }
        if (outside)
            store_value(y, i, value);
        else
            memcpy((uint8_t *)y->data + i * es, (const uint8_t *)x->data + off * es, es);
        index_next(idx, dims, x->rank);
    }
    return ONNXQ_OK;
}

static onnxq_status op_cast(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int to = (int)op_attr_int(c, "to", 0);
    if (!tensor_dtype_supported(to))
        return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "cast to %s", onnxq_dtype_name(to));
    if ((s = tensor_prepare(c, c->out[0], to, x->rank, x->dims)) != ONNXQ_OK)
        return s;
    for (int64_t i = 0; i < x->n; i++) {
        if (x->dtype == ONNXQ_DTYPE_FLOAT) {
            float f = ((const float *)x->data)[i];
            if (to == ONNXQ_DTYPE_FLOAT)
                ((float *)c->out[0]->data)[i] = f;
            else if (to == ONNXQ_DTYPE_BOOL)
                ((uint8_t *)c->out[0]->data)[i] = f != 0;
            else
                store_value(c->out[0], i, isfinite(f) ? trunc(f) : 0);
        } else if (x->dtype == ONNXQ_DTYPE_INT64 && to == ONNXQ_DTYPE_INT64) {
            ((int64_t *)c->out[0]->data)[i] = ((const int64_t *)x->data)[i];
        } else if (to == ONNXQ_DTYPE_INT64) {
            ((int64_t *)c->out[0]->data)[i] = tensor_int_at(x, i);
        } else if (to == ONNXQ_DTYPE_FLOAT || to == ONNXQ_DTYPE_BOOL) {
            store_value(c->out[0], i, (double)tensor_int_at(x, i));
        } else {
            /* Integer narrowing keeps the low bits, as C casts do. */
            uint64_t bits = (uint64_t)tensor_int_at(x, i);
            if (to == ONNXQ_DTYPE_INT32)
                ((uint32_t *)c->out[0]->data)[i] = (uint32_t)bits;
            else
                ((uint8_t *)c->out[0]->data)[i] = (uint8_t)bits;
        }
    }
    return ONNXQ_OK;
}

static onnxq_status op_constant_of_shape(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s != ONNXQ_OK)
        return s;
    int64_t dims[TENSOR_MAX_RANK];
    size_t n;
    if ((s = op_read_ints(c, c->in[0], dims, TENSOR_MAX_RANK, &n)) != ONNXQ_OK)
        return s;
    int dtype = ONNXQ_DTYPE_FLOAT;
    double value = 0;
    const Onnx__AttributeProto *a = op_attr(c, "value");
    if (a && a->t) {
        const Onnx__TensorProto *t = a->t;
        dtype = t->data_type;
        if (!tensor_dtype_supported(dtype))
            return op_fail(c, ONNXQ_ERR_UNSUPPORTED, "%s value", onnxq_dtype_name(dtype));
        if (t->has_raw_data && t->raw_data.len >= tensor_elem_size(dtype)) {
            tensor one = { .dtype = dtype, .data = t->raw_data.data };
            value = dtype == ONNXQ_DTYPE_FLOAT ? *(const float *)(void *)t->raw_data.data
                                               : (double)tensor_int_at(&one, 0);
        } else if (t->n_float_data) {
            value = t->float_data[0];
        } else if (t->n_int64_data) {
            value = (double)t->int64_data[0];
        } else if (t->n_int32_data) {
            value = t->int32_data[0];
        }
    }
    if ((s = tensor_prepare(c, c->out[0], dtype, (int)n, dims)) != ONNXQ_OK)
        return s;
    for (int64_t i = 0; i < c->out[0]->n; i++)
        store_value(c->out[0], i, value);
    return ONNXQ_OK;
}

static onnxq_status op_expand(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t shape[TENSOR_MAX_RANK];
    size_t n;
    if ((s = op_read_ints(c, c->in[1], shape, TENSOR_MAX_RANK, &n)) != ONNXQ_OK)
        return s;
    int r;
    int64_t dims[TENSOR_MAX_RANK], stride[TENSOR_MAX_RANK];
    if ((s = op_broadcast_shape(c, x->rank, x->dims, (int)n, shape, &r, dims)) != ONNXQ_OK)
        return s;
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, x->dtype, r, dims)) != ONNXQ_OK)
        return s;
    tensor_broadcast_strides(x, r, stride);
    gather_strided(x, y, 0, stride);
    return ONNXQ_OK;
}

static onnxq_status op_tile(op_ctx *c)
{
    onnxq_status s = op_need(c, 0, 0);
    if (s == ONNXQ_OK)
        s = op_need(c, 1, 0);
    if (s != ONNXQ_OK)
        return s;
    const tensor *x = c->in[0];
    int64_t reps[TENSOR_MAX_RANK];
    size_t n;
    if ((s = op_read_ints(c, c->in[1], reps, TENSOR_MAX_RANK, &n)) != ONNXQ_OK)
        return s;
    if (n != (size_t)x->rank)
        return op_fail(c, ONNXQ_ERR_NOT_ONNX, "%zu repeats for rank %d", n, x->rank);
    int64_t dims[TENSOR_MAX_RANK];
    for (int d = 0; d < x->rank; d++)
        dims[d] = x->dims[d] * reps[d];
    tensor *y = c->out[0];
    if ((s = tensor_prepare(c, y, x->dtype, x->rank, dims)) != ONNXQ_OK)
        return s;
    size_t es = esize(x);
    int64_t idx[TENSOR_MAX_RANK] = { 0 };
    for (int64_t i = 0; i < y->n; i++) {
        int64_t off = 0;
        for (int d = 0; d < x->rank; d++)
            off = off * x->dims[d] + idx[d] % x->dims[d];
        memcpy((uint8_t *)y->data + i * es, (const uint8_t *)x->data + off * es, es);
        index_next(idx, dims, x->rank);
    }
    return ONNXQ_OK;
}

const op_def ops_shape[] = {
    { "", "Identity", op_identity },
    { "", "Reshape", op_reshape },
    { "", "Flatten", op_flatten },
    { "", "Transpose", op_transpose },
    { "", "Squeeze", op_squeeze },
    { "", "Unsqueeze", op_unsqueeze },
    { "", "Shape", op_shape },
    { "", "Size", op_size },
    { "", "Gather", op_gather },
    { "", "Concat", op_concat },
    { "", "Split", op_split },
    { "", "Slice", op_slice },
    { "", "Pad", op_pad },
    { "", "Cast", op_cast },
    { "", "ConstantOfShape", op_constant_of_shape },
    { "", "Expand", op_expand },
    { "", "Tile", op_tile },
    { NULL, NULL, NULL },
};
