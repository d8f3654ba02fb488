/* onnx_io.h: the model object shared by the library's modules.
 *
 * A model is the protobuf-c ModelProto as parsed, plus an index of its
 * initializers with their sizes checked against their shapes at load time,
 * so every later reader can trust `elements` and `bytes`. */
#ifndef ONNXQ_ONNX_IO_H
#define ONNXQ_ONNX_IO_H

#include "fileio.h"
#include "onnx.pb-c.h"
#include "onnxq/onnxq.h"

typedef struct model_tensor {
    Onnx__TensorProto *proto;
    uint64_t elements;
    uint64_t bytes;          /* 0 for STRING and unknown types */
    char *external_path;     /* resolved external data file, or NULL when inline */
    uint64_t external_offset;
} model_tensor;

struct onnxq_model {
    Onnx__ModelProto *proto;
    char *name;        /* the path or name used in messages */
    char *source_path; /* the file it was loaded from, or NULL */
    char *base_dir;    /* where external data is looked up, or NULL */
    uint64_t file_bytes;
    size_t n_tensors;
    model_tensor *tensors;
    size_t n_inputs;   /* graph inputs that are not initializers */
    Onnx__ValueInfoProto **inputs;
    /* Models with external data may not fit in memory: tensors replaced in
     * them (coded by compress, decoded by decompress) are written to the
     * scratch file and referenced from there as external data. */
    int spill;
    scratch_file scratch;
    /* The weights as the graph sees them once decoded (container.c),
     * built at first use and dropped with the index. */
    struct model_weight *weights;
};

/* Re-derive the tensor index after the graph's initializer list changed. */
onnxq_status model_reindex(onnxq_model *model, onnxq_error *err);

/* A standalone TensorProto (a Constant's value, a test's input file), checked
 * and read as little-endian element bytes into a malloc'd buffer. `where`
 * names its source in messages.  External data is refused. */
onnxq_status tensor_proto_read(const char *where, const Onnx__TensorProto *t, uint8_t **data,
                               uint64_t *elements, uint64_t *bytes, onnxq_error *err);

/* A node's attribute by name, or NULL; and its value as an int, float,
 * ints (count in *n; NULL and 0 when absent) or string (into a buffer the
 * caller owns, of `size` bytes), or the fallback when absent. */
const Onnx__AttributeProto *onnx_attr(const Onnx__NodeProto *node, const char *name);
int64_t onnx_attr_int(const Onnx__NodeProto *node, const char *name, int64_t fallback);
float onnx_attr_float(const Onnx__NodeProto *node, const char *name, float fallback);
const int64_t *onnx_attr_ints(const Onnx__NodeProto *node, const char *name, size_t *n);
const char *onnx_attr_string_into(const Onnx__NodeProto *node, const char *name,
                                  const char *fallback, char *buf, size_t size);

#endif
